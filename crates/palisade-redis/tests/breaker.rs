//! The fleet-wide breaker on one real Redis: instances are breakers on backends of their own
//! (their own connections and threads), each on a `ManualClock` of its own.

mod breaker_support;
mod common;

use std::time::Duration;

use breaker_support::{Redis, breaker, consecutive, fail, succeed};
use common::{RedisServer, eventually};
use palisade::circuit_breaker::{CircuitBreakerConfig, SlidingWindow, State};
use palisade::clock::ManualClock;

fn server() -> (RedisServer, Redis) {
    let server = RedisServer::start();
    let redis = Redis::Server(server.url());
    (server, redis)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trip_on_instance_a_rejects_on_b_and_c_within_the_propagation_bound() {
    let (_server, redis) = server();
    let took = breaker_support::a_trip_on_one_instance_rejects_on_the_others(&redis).await;
    println!("propagation A -> B: {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_admits_exactly_the_configured_trials_across_instances() {
    let (_server, redis) = server();
    breaker_support::half_open_admits_exactly_the_configured_trials(&redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_instance_joining_an_open_breaker_stays_open() {
    let (_server, redis) = server();
    breaker_support::a_new_instance_joining_an_open_breaker_stays_open(&redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_on_three_instances_add_up_to_the_fleet_run_of_consecutive_failures() {
    let (server, redis) = server();
    let clocks = [ManualClock::new(), ManualClock::new(), ManualClock::new()];
    let mut breakers = Vec::new();
    for clock in &clocks {
        let backend = redis.instance("run").await;
        breakers.push(breaker(&backend, "db", consecutive(5), clock));
    }
    let state_of = || server.cli(&["HGET", "{run:db}:breaker:state", "state"]);
    // 2 + 2 + 1: no instance saw 5 in a row, the fleet did.
    fail(&breakers[0]).await;
    fail(&breakers[0]).await;
    fail(&breakers[1]).await;
    fail(&breakers[1]).await;
    // Not tripped yet: 4 in a row so far.
    eventually(Duration::from_secs(2), "the fleet run is 4", || {
        server.cli(&["HGET", "{run:db}:breaker:state", "run"]) == "4"
    })
    .await;
    assert_eq!(state_of(), "0");
    fail(&breakers[2]).await;
    for b in &breakers {
        eventually(Duration::from_secs(2), "every instance open", || {
            b.state() == State::Open
        })
        .await;
    }
    assert_eq!(state_of(), "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_on_any_instance_ends_the_fleet_run() {
    let (server, redis) = server();
    let (ca, cb) = (ManualClock::new(), ManualClock::new());
    let a = breaker(&redis.instance("ends").await, "db", consecutive(3), &ca);
    let b = breaker(&redis.instance("ends").await, "db", consecutive(3), &cb);
    let run = || server.cli(&["HGET", "{ends:db}:breaker:state", "run"]);
    fail(&a).await;
    fail(&a).await;
    eventually(Duration::from_secs(2), "run 2", || run() == "2").await;
    succeed(&b).await;
    eventually(Duration::from_secs(2), "run ended", || run() == "0").await;
    fail(&a).await;
    fail(&a).await;
    eventually(Duration::from_secs(2), "run 2 again", || run() == "2").await;
    assert_eq!(a.state(), State::Closed);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        a.stats().consecutive_failures,
        2,
        "stats show the fleet's run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_failure_rate_over_the_fleet_window_trips_it() {
    let (_server, redis) = server();
    let config = CircuitBreakerConfig {
        failure_threshold: None,
        failure_rate_threshold: Some(50.0),
        sliding_window: SlidingWindow::Count { size: 20 },
        minimum_calls: 10,
        ..CircuitBreakerConfig::default()
    };
    let (ca, cb) = (ManualClock::new(), ManualClock::new());
    let a = breaker(&redis.instance("rate").await, "api", config, &ca);
    let b = breaker(&redis.instance("rate").await, "api", config, &cb);
    // A: 4 ok, 1 failure (20%); B: 1 ok, 4 failures (80%, but 5 calls < minimum_calls).
    for _ in 0..4 {
        succeed(&a).await;
    }
    fail(&a).await;
    succeed(&b).await;
    for _ in 0..3 {
        fail(&b).await;
    }
    tokio::time::sleep(Duration::from_millis(250)).await; // two flush intervals
    assert_eq!(a.state(), State::Closed, "9 calls: below minimum_calls");
    fail(&b).await; // 10 calls, 5 failures: 50%
    for x in [&a, &b] {
        eventually(Duration::from_secs(2), "fleet rate trips", || {
            x.state() == State::Open
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slow_call_rate_over_the_fleet_window_trips_it() {
    let (_server, redis) = server();
    let config = CircuitBreakerConfig {
        failure_threshold: None,
        slow_call_rate_threshold: Some(50.0),
        slow_call_duration: Duration::from_secs(1),
        sliding_window: SlidingWindow::Time {
            duration: Duration::from_secs(60),
            buckets: 6,
        },
        minimum_calls: 6,
        ..CircuitBreakerConfig::default()
    };
    let (ca, cb) = (ManualClock::new(), ManualClock::new());
    let a = breaker(&redis.instance("slow").await, "ml", config, &ca);
    let b = breaker(&redis.instance("slow").await, "ml", config, &cb);
    let slow = |b: &palisade::circuit_breaker::CircuitBreaker, clock: &ManualClock| {
        let (b, clock) = (b.clone(), clock.clone());
        async move {
            let out = b
                .call(|| async {
                    clock.advance(Duration::from_secs(2));
                    Ok::<_, &str>(())
                })
                .await;
            assert!(out.is_ok());
        }
    };
    // 3 slow of 6 calls, split over the two instances.
    slow(&a, &ca).await;
    slow(&b, &cb).await;
    succeed(&a).await;
    succeed(&b).await;
    succeed(&a).await;
    slow(&b, &cb).await;
    for x in [&a, &b] {
        eventually(Duration::from_secs(2), "fleet slow-call rate trips", || {
            x.state() == State::Open
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_action_on_one_instance_reaches_the_fleet() {
    let (_server, redis) = server();
    let (ca, cb) = (ManualClock::new(), ManualClock::new());
    let a = breaker(&redis.instance("ops").await, "db", consecutive(3), &ca);
    let b = breaker(&redis.instance("ops").await, "db", consecutive(3), &cb);
    a.force_open();
    eventually(Duration::from_secs(2), "B forced open", || {
        b.state() == State::ForcedOpen
    })
    .await;
    b.reset();
    eventually(Duration::from_secs(2), "A reset", || {
        a.state() == State::Closed
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_follow_the_prefix_and_expire_after_the_state_ttl() {
    let server = RedisServer::start();
    let redis = Redis::Server(server.url());
    let backend = redis
        .builder("obskit:cb:")
        .state_ttl(Duration::from_secs(3600))
        .connect()
        .await
        .unwrap();
    let clock = ManualClock::new();
    let b = breaker(&backend, "payment_api", consecutive(3), &clock);
    fail(&b).await;
    let key = "{obskit:cb:payment_api}:breaker:state";
    eventually(Duration::from_secs(2), "state written", || {
        server.cli(&["EXISTS", key]) == "1"
    })
    .await;
    let ttl: u64 = server.cli(&["TTL", key]).parse().unwrap();
    assert!((3590..=3600).contains(&ttl), "TTL {ttl}");
}
