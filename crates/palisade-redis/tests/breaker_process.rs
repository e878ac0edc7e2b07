//! Two OS processes share one breaker: this test binary runs itself again as the other
//! process (`--exact child_process_half_trips_the_breaker`, told the Redis URL by an
//! environment variable), which trips the breaker; this process then rejects.

mod breaker_support;
mod common;

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use breaker_support::{PROPAGATION_BOUND, Redis, breaker, consecutive, fail, wait_subscribed};
use common::{RedisServer, eventually};
use palisade::Error;
use palisade::circuit_breaker::State;
use palisade::clock::ManualClock;

const CHILD: &str = "PALISADE_BREAKER_CHILD_REDIS_URL";

fn unix_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros()
}

/// The other process's half: does nothing unless run by the test below.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_process_half_trips_the_breaker() {
    let Ok(url) = std::env::var(CHILD) else {
        return;
    };
    let redis = Redis::Server(url);
    let clock = ManualClock::new();
    let b = breaker(
        &redis.instance("procs").await,
        "billing",
        consecutive(3),
        &clock,
    );
    for _ in 0..3 {
        fail(&b).await;
    }
    let tripped = unix_micros();
    eventually(Duration::from_secs(2), "the fleet state is Open", || {
        b.state() == State::Open
    })
    .await;
    println!("TRIPPED_AT {tripped}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breaker_tripped_in_another_process_rejects_here() {
    let server = RedisServer::start();
    let redis = Redis::Server(server.url());
    let clock = ManualClock::new();
    let here = breaker(
        &redis.instance("procs").await,
        "billing",
        consecutive(3),
        &clock,
    );
    assert!(here.call(|| async { Ok::<_, &str>(()) }).await.is_ok());
    wait_subscribed(&redis, "{procs:billing}:breaker:events", 1).await;

    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_half_trips_the_breaker",
            "--nocapture",
        ])
        .env(CHILD, server.url())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    eventually(
        Duration::from_secs(10),
        "this process adopts the trip",
        || here.state() == State::Open,
    )
    .await;
    let seen = unix_micros();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output());
    let output = output.await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "child failed: {stdout}");
    let tripped: u128 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("TRIPPED_AT "))
        .unwrap_or_else(|| panic!("the child did not trip: {stdout}"))
        .trim()
        .parse()
        .unwrap();
    let took = Duration::from_micros(u64::try_from(seen.saturating_sub(tripped)).unwrap());
    println!("propagation across processes: {took:?}");
    assert!(took <= PROPAGATION_BOUND, "{took:?}");
    let out = here.call(|| async { Ok::<_, &str>(()) }).await;
    assert!(matches!(out, Err(Error::CircuitOpen { .. })), "{out:?}");
}
