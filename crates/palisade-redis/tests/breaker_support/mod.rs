//! Fleet-wide breaker scenarios, run on one Redis server (`tests/breaker.rs`) and on a Redis
//! Cluster (`tests/breaker_cluster.rs`): each instance is a breaker on a `RedisBackend` of
//! its own (its own connections, its own background thread) and a `ManualClock` of its own.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use palisade::Error;
use palisade::backend::Backend;
use palisade::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, State};
use palisade::clock::{Clock, ManualClock};
use palisade_redis::{RedisBackend, RedisBackendBuilder};

use crate::common::eventually;

/// A breaker with the stated bound: a trip seen alone by one instance reaches the others
/// within this (one flush, a round trip and a pub/sub delivery; generous for a loaded CI).
pub const PROPAGATION_BOUND: Duration = Duration::from_millis(150);

/// Where the instances connect.
#[derive(Clone)]
pub enum Redis {
    Server(String),
    Cluster(Vec<String>),
}

impl Redis {
    /// A backend builder. The Redis timeout is 100 ms rather than 5: these tests check what
    /// the fleet decides, on a loaded 2-core machine in a debug build, where a 5 ms answer is
    /// not a given (a late answer takes the fallback: `tests/breaker_down.rs` checks those).
    pub fn builder(&self, prefix: &str) -> RedisBackendBuilder {
        let builder = RedisBackend::builder()
            .timeout(Duration::from_millis(100))
            .key_prefix(prefix)
            .probe_interval(Duration::from_millis(20))
            .connect_timeout(Duration::from_millis(1000));
        match self {
            Redis::Server(url) => builder.url(url),
            Redis::Cluster(urls) => builder.cluster(urls.clone()),
        }
    }

    /// A backend of its own: one instance of the fleet.
    pub async fn instance(&self, prefix: &str) -> RedisBackend {
        self.builder(prefix).connect().await.unwrap()
    }
}

/// One instance's breaker `name` on `backend`, on `clock`.
pub fn breaker(
    backend: &RedisBackend,
    name: &str,
    config: CircuitBreakerConfig,
    clock: &ManualClock,
) -> CircuitBreaker {
    let clock = Clock::from(clock);
    let store = backend
        .circuit_breaker_store(name, &config, &clock)
        .expect("a Redis backend keeps breakers in Redis");
    CircuitBreaker::builder_from(config)
        .name(name)
        .clock(clock)
        .store(store)
        .build()
        .unwrap()
}

pub fn consecutive(threshold: u32) -> CircuitBreakerConfig {
    CircuitBreakerConfig {
        failure_threshold: Some(threshold),
        recovery_timeout: Duration::from_secs(30),
        half_open_requests: 2,
        ..CircuitBreakerConfig::default()
    }
}

pub async fn fail(breaker: &CircuitBreaker) {
    let out = breaker.call(|| async { Err::<(), _>("reset") }).await;
    assert!(matches!(out, Err(Error::Operation(_))), "{out:?}");
}

pub async fn succeed(breaker: &CircuitBreaker) {
    let out = breaker.call(|| async { Ok::<_, &str>(()) }).await;
    assert!(out.is_ok(), "{out:?}");
}

/// Three instances; A sees the failures, B and C reject within the propagation bound
/// without calling the dependency. Returns the time B took to reject.
pub async fn a_trip_on_one_instance_rejects_on_the_others(redis: &Redis) -> Duration {
    let name = "payments";
    let instances = [
        redis.instance("fleet").await,
        redis.instance("fleet").await,
        redis.instance("fleet").await,
    ];
    let clocks = [ManualClock::new(), ManualClock::new(), ManualClock::new()];
    let [a, b, c] = [0, 1, 2].map(|i| breaker(&instances[i], name, consecutive(3), &clocks[i]));
    succeed(&b).await;
    succeed(&c).await;
    wait_subscribed(redis, "{fleet:payments}:breaker:events", 3).await;

    for _ in 0..3 {
        fail(&a).await;
    }
    let tripped = Instant::now();
    eventually(Duration::from_secs(2), "B adopts the trip", || {
        b.state() == State::Open
    })
    .await;
    let propagation = tripped.elapsed();
    eventually(Duration::from_secs(2), "C adopts the trip", || {
        c.state() == State::Open
    })
    .await;
    assert!(
        propagation <= PROPAGATION_BOUND,
        "propagation took {propagation:?}"
    );
    let calls = AtomicUsize::new(0);
    for breaker in [&b, &c] {
        let out = breaker
            .call(|| {
                calls.fetch_add(1, Ordering::Relaxed);
                async { Ok::<_, &str>(()) }
            })
            .await;
        match out {
            Err(Error::CircuitOpen { retry_after, .. }) => {
                // Counted down on the instance's own clock: about the recovery timeout.
                let left = retry_after.unwrap();
                assert!(left > Duration::from_secs(25) && left <= Duration::from_secs(30));
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }
    assert_eq!(
        calls.load(Ordering::Relaxed),
        0,
        "the dependency was spared"
    );
    propagation
}

/// Half-open: however many instances try at once, exactly `half_open_requests` trial calls
/// run fleet-wide; their successes close the breaker on every instance.
pub async fn half_open_admits_exactly_the_configured_trials(redis: &Redis) {
    let name = "search";
    let instances = [
        redis.instance("trials").await,
        redis.instance("trials").await,
        redis.instance("trials").await,
    ];
    let clocks = [ManualClock::new(), ManualClock::new(), ManualClock::new()];
    let breakers = [0, 1, 2].map(|i| breaker(&instances[i], name, consecutive(2), &clocks[i]));
    fail(&breakers[0]).await;
    fail(&breakers[0]).await;
    for b in &breakers {
        eventually(Duration::from_secs(2), "every instance open", || {
            b.state() == State::Open
        })
        .await;
    }
    for clock in &clocks {
        clock.advance(Duration::from_secs(31));
    }
    // Two calls per instance at once, each holding its slot until released.
    let release = Arc::new(tokio::sync::Notify::new());
    let running = Arc::new(AtomicUsize::new(0));
    let attempts = breakers
        .iter()
        .flat_map(|b| [b.clone(), b.clone()])
        .map(|b| {
            let (release, running) = (Arc::clone(&release), Arc::clone(&running));
            tokio::spawn(async move {
                b.call(|| async move {
                    running.fetch_add(1, Ordering::SeqCst);
                    release.notified().await;
                    Ok::<_, &str>(())
                })
                .await
            })
        });
    let attempts: Vec<_> = attempts.collect();
    // The rejected ones finish; the admitted ones wait.
    eventually(
        Duration::from_secs(2),
        "2 trial calls running, 4 rejected",
        || {
            running.load(Ordering::SeqCst) == 2
                && attempts.iter().filter(|a| a.is_finished()).count() == 4
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        running.load(Ordering::SeqCst),
        2,
        "two trial calls fleet-wide"
    );
    // Every instance is still half-open: a new attempt anywhere is refused.
    for b in &breakers {
        let out = b.call(|| async { Ok::<_, &str>(()) }).await;
        assert!(
            matches!(
                out,
                Err(Error::CircuitOpen {
                    state: State::HalfOpen,
                    ..
                })
            ),
            "{out:?}"
        );
    }
    release.notify_waiters();
    let mut admitted = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(()) => admitted += 1,
            Err(Error::CircuitOpen { .. }) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(admitted, 2);
    for b in &breakers {
        eventually(Duration::from_secs(2), "the fleet closed", || {
            b.state() == State::Closed
        })
        .await;
    }
}

/// A new instance joining an open breaker stays open, and does not reset the shared state.
pub async fn a_new_instance_joining_an_open_breaker_stays_open(redis: &Redis) {
    let name = "inventory";
    let a = redis.instance("join").await;
    let clock_a = ManualClock::new();
    let first = breaker(&a, name, consecutive(2), &clock_a);
    fail(&first).await;
    fail(&first).await;
    eventually(Duration::from_secs(2), "A open", || {
        first.state() == State::Open
    })
    .await;
    let stats_before = first.stats();
    // Twenty seconds later (on A's clock), a new process starts.
    clock_a.advance(Duration::from_secs(20));
    let joiner = redis.instance("join").await;
    let clock_d = ManualClock::new();
    let late = breaker(&joiner, name, consecutive(2), &clock_d);
    let calls = AtomicUsize::new(0);
    let out = late
        .call(|| {
            calls.fetch_add(1, Ordering::Relaxed);
            async { Ok::<_, &str>(()) }
        })
        .await;
    assert!(matches!(out, Err(Error::CircuitOpen { .. })), "{out:?}");
    assert_eq!(calls.load(Ordering::Relaxed), 0);
    clock_d.advance(Duration::from_secs(20));
    assert_eq!(
        late.state(),
        State::Open,
        "still open on the joiner's clock"
    );
    // The first instance was not disturbed: still Open, and goes half-open on its own clock.
    assert_eq!(first.state(), State::Open);
    clock_a.advance(Duration::from_secs(11));
    assert_eq!(first.state(), State::HalfOpen);
    assert_eq!(stats_before.state, State::Open);
}

/// Waits until `n` subscribers listen on `channel` (the instances' listeners connect in the
/// background).
pub async fn wait_subscribed(redis: &Redis, channel: &str, n: usize) {
    let url = match redis {
        Redis::Server(url) => url.clone(),
        Redis::Cluster(urls) => urls[0].clone(),
    };
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let start = Instant::now();
    loop {
        let (_, count): (String, usize) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(channel)
            .query_async(&mut conn)
            .await
            .unwrap();
        if count >= n {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{count} subscribers on {channel}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
