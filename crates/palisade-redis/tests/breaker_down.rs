//! The fleet-wide breaker while Redis is stopped or paused, under each `WhenDown`: what it
//! decides, that no call waits longer than the Redis timeout (5 ms, the default) plus a
//! small margin — every call is timed and the worst printed — and that the shared state
//! resumes within a second of Redis answering again.

mod breaker_support;
mod common;

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use breaker_support::{Redis, breaker, consecutive};
use common::{RedisServer, eventually};
use palisade::Error;
use palisade::circuit_breaker::{CircuitBreaker, State};
use palisade::clock::ManualClock;
use palisade_redis::{RedisBackend, WhenDown};

/// The Redis timeout these tests keep (the default).
const TIMEOUT: Duration = Duration::from_millis(5);
/// What a call may take beyond it: scheduling on a loaded 2-core machine, a debug build.
const MARGIN: Duration = Duration::from_millis(15);

/// The slowest call seen.
static WORST: Mutex<Duration> = Mutex::new(Duration::ZERO);

async fn timed<T>(what: &str, call: impl Future<Output = T>) -> T {
    let start = Instant::now();
    let out = call.await;
    let took = start.elapsed();
    {
        let mut worst = WORST.lock().unwrap();
        *worst = (*worst).max(took);
    }
    assert!(took <= TIMEOUT + MARGIN, "{what} took {took:?}");
    out
}

async fn instance(server: &RedisServer, prefix: &str, when: WhenDown) -> RedisBackend {
    Redis::Server(server.url())
        .builder(prefix)
        .timeout(TIMEOUT)
        .breaker_when_down(when)
        .connect()
        .await
        .unwrap()
}

async fn call(b: &CircuitBreaker, fail: bool) -> Result<(), Error<&'static str>> {
    timed(
        "a call",
        b.call(|| async move { if fail { Err("reset") } else { Ok(()) } }),
    )
    .await
}

async fn wait_down(backend: &RedisBackend, b: &CircuitBreaker) {
    // A paused Redis is noticed when a command times out (the breaker's flush does).
    let _ = call(b, false).await;
    eventually(Duration::from_secs(3), "link marked down", || {
        !backend.status().up
    })
    .await;
}

fn report() {
    println!("worst call time so far: {:?}", *WORST.lock().unwrap());
}

/// Local (default): with Redis stopped, then paused, an instance trips on its own counts;
/// when Redis answers again, the fleet's state (Closed) is adopted within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_decides_on_local_counts_and_adopts_the_fleet_state_again() {
    let _serial = common::one_at_a_time().await;
    let mut server = RedisServer::start();
    let backend = instance(&server, "local", WhenDown::Local).await;
    let clock = ManualClock::new();
    let b = breaker(&backend, "db", consecutive(3), &clock);
    for outage in ["stopped", "paused"] {
        if outage == "stopped" {
            server.stop();
        } else {
            server.pause();
        }
        wait_down(&backend, &b).await;
        for _ in 0..3 {
            assert!(matches!(call(&b, true).await, Err(Error::Operation(_))));
        }
        assert_eq!(b.state(), State::Open, "{outage}: tripped on local counts");
        assert!(matches!(
            call(&b, false).await,
            Err(Error::CircuitOpen { .. })
        ));
        if outage == "stopped" {
            server.restart();
            // An empty Redis: nothing shared to adopt until someone writes it; the local
            // view stays as it decided. Close it by hand for the next round.
            eventually(Duration::from_secs(2), "link up", || backend.status().up).await;
            b.reset();
        } else {
            server.resume();
            let back = Instant::now();
            eventually(Duration::from_secs(2), "the fleet's Closed adopted", || {
                b.state() == State::Closed
            })
            .await;
            let took = back.elapsed();
            println!("shared state resumed {took:?} after Redis did");
            assert!(took < Duration::from_secs(1), "{took:?}");
        }
    }
    report();
}

/// Allow: while Redis is unreachable every call is admitted, even on a breaker the fleet
/// had opened, and no outcome counts; once Redis answers, the shared Open state is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_admits_every_call_while_redis_is_unreachable() {
    let _serial = common::one_at_a_time().await;
    let mut server = RedisServer::start();
    let backend = instance(&server, "allow", WhenDown::Allow).await;
    let clock = ManualClock::new();
    let b = breaker(&backend, "db", consecutive(3), &clock);
    for _ in 0..3 {
        let _ = call(&b, true).await;
    }
    eventually(Duration::from_secs(2), "fleet open", || {
        b.state() == State::Open
    })
    .await;
    for outage in ["paused", "stopped"] {
        if outage == "stopped" {
            server.stop();
        } else {
            server.pause();
        }
        let _ = timed("a call", b.call(|| async { Ok::<_, &str>(()) })).await;
        eventually(Duration::from_secs(3), "link down", || !backend.status().up).await;
        for _ in 0..20 {
            assert!(
                matches!(call(&b, true).await, Err(Error::Operation(_))),
                "{outage}"
            );
        }
        assert_eq!(call(&b, false).await, Ok(()), "{outage}: admitted");
        if outage == "paused" {
            server.resume();
            let back = Instant::now();
            eventually(
                Duration::from_secs(2),
                "the shared Open state is back",
                || b.call_blocking(|| Ok::<_, &str>(())).is_err(),
            )
            .await;
            let took = back.elapsed();
            println!("shared state resumed {took:?} after Redis did");
            assert!(took < Duration::from_secs(1), "{took:?}");
        }
    }
    report();
}

/// Reject: while Redis is unreachable every call is refused; calls are admitted again
/// within a second of Redis answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_refuses_every_call_while_redis_is_unreachable() {
    let _serial = common::one_at_a_time().await;
    let mut server = RedisServer::start();
    let backend = instance(&server, "reject", WhenDown::Reject).await;
    let clock = ManualClock::new();
    let b = breaker(&backend, "db", consecutive(3), &clock);
    assert_eq!(call(&b, false).await, Ok(()));
    for outage in ["stopped", "paused"] {
        if outage == "stopped" {
            server.stop();
        } else {
            server.pause();
        }
        wait_down(&backend, &b).await;
        for _ in 0..20 {
            let out = call(&b, false).await;
            assert!(
                matches!(out, Err(Error::CircuitOpen { .. })),
                "{outage}: {out:?}"
            );
            let blocking = timed("a blocking call", async {
                b.call_blocking(|| Ok::<_, &str>(()))
            })
            .await;
            assert!(blocking.is_err());
        }
        if outage == "stopped" {
            server.restart();
        } else {
            server.resume();
        }
        let back = Instant::now();
        eventually(Duration::from_secs(2), "admitted again", || {
            b.call_blocking(|| Ok::<_, &str>(())).is_ok()
        })
        .await;
        let took = back.elapsed();
        println!("{outage}: calls admitted again {took:?} after Redis returned");
        assert!(took < Duration::from_secs(1), "{took:?}");
    }
    report();
}

/// The calls that do ask Redis — a half-open trial's lease, sync and async, and every call
/// in strict mode — while Redis is paused and the link does not know it yet: each waits at
/// most the Redis timeout, then takes the fallback (Local: the local trial slot).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_that_ask_a_paused_redis_wait_at_most_the_redis_timeout() {
    let _serial = common::one_at_a_time().await;
    let server = RedisServer::start();
    for when in [WhenDown::Local, WhenDown::Allow, WhenDown::Reject] {
        let backend = instance(&server, "lease", when).await;
        let clock = ManualClock::new();
        let b = breaker(&backend, &format!("db-{when:?}"), consecutive(1), &clock);
        let _ = call(&b, true).await;
        eventually(Duration::from_secs(2), "open", || b.state() == State::Open).await;
        clock.advance(Duration::from_secs(31));
        server.pause();
        // Async: the lease is asked for with the caller's timer.
        let out = call(&b, false).await;
        assert_eq!(out.is_ok(), when != WhenDown::Reject, "{when:?}: {out:?}");
        server.resume();
        eventually(Duration::from_secs(2), "link up", || backend.status().up).await;
    }
    for when in [WhenDown::Local, WhenDown::Reject] {
        let backend = instance(&server, "lease-sync", when).await;
        let clock = ManualClock::new();
        let b = breaker(&backend, "db", consecutive(1), &clock);
        let _ = b.call_blocking(|| Err::<(), _>("reset"));
        eventually(Duration::from_secs(2), "open", || b.state() == State::Open).await;
        clock.advance(Duration::from_secs(31));
        server.pause();
        let out = timed("a blocking trial call", async {
            b.call_blocking(|| Ok::<_, &str>(()))
        })
        .await;
        assert_eq!(out.is_ok(), when == WhenDown::Local, "{when:?}: {out:?}");
        server.resume();
        eventually(Duration::from_secs(2), "link up", || backend.status().up).await;
    }
    // Strict mode: every call reads the shared state first.
    let backend = Redis::Server(server.url())
        .builder("strict")
        .timeout(TIMEOUT)
        .strict_breaker(true)
        .connect()
        .await
        .unwrap();
    let clock = ManualClock::new();
    let b = breaker(&backend, "db", consecutive(3), &clock);
    assert_eq!(call(&b, false).await, Ok(()));
    server.pause();
    for _ in 0..10 {
        assert_eq!(call(&b, false).await, Ok(()), "Local: decided locally");
        let blocking = timed("a strict blocking call", async {
            b.call_blocking(|| Ok::<_, &str>(()))
        })
        .await;
        assert_eq!(blocking, Ok(()));
    }
    server.resume();
    report();
}
