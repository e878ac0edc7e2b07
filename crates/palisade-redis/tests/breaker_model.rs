//! The flush script decides as the in-process breaker does (`Machine::trip_reason`): one
//! instance in strict mode sends each outcome on its own, so the fleet sees the same
//! sequence, one outcome per batch, as an in-process breaker fed the same outcomes; over
//! seeded random sequences, both trip at the same call.

mod breaker_support;
mod common;

use std::time::{Duration, Instant};

use breaker_support::{Redis, breaker};
use common::RedisServer;
use palisade::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig, SlidingWindow};
use palisade::clock::{Clock, ManualClock};

/// Script runs so far (reads and flushes).
fn script_runs(server: &RedisServer) -> u64 {
    server
        .cli(&["INFO", "commandstats"])
        .lines()
        .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

fn wait_runs(server: &RedisServer, at_least: u64) {
    let start = Instant::now();
    while script_runs(server) < at_least {
        assert!(start.elapsed() < Duration::from_secs(3), "no flush");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A small deterministic generator (xorshift).
fn outcomes(seed: u64, n: usize) -> Vec<bool> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % 100 < 45 // a failure, 45% of the time
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_trips_at_the_same_call_as_an_in_process_breaker() {
    let server = RedisServer::start();
    let backend = Redis::Server(server.url())
        .builder("model")
        .strict_breaker(true)
        .flush_interval(Duration::from_secs(3600))
        .poll_interval(Duration::from_secs(3600))
        .connect()
        .await
        .unwrap();
    let config = CircuitBreakerConfig {
        failure_threshold: Some(4),
        failure_rate_threshold: Some(50.0),
        sliding_window: SlidingWindow::Count { size: 10 },
        minimum_calls: 6,
        ..CircuitBreakerConfig::default()
    };
    let mut trips = 0;
    tokio::task::block_in_place(|| {
        for seed in 0..30u64 {
            let clock = ManualClock::new();
            let before = script_runs(&server);
            let fleet = breaker(&backend, &format!("seq-{seed}"), config, &clock);
            // The join read and the flusher's first read.
            wait_runs(&server, before + 2);
            let local = CircuitBreaker::builder_from(config)
                .clock(Clock::from(&clock))
                .build()
                .unwrap();
            for (i, fail) in outcomes(seed, 16).into_iter().enumerate() {
                let op = || if fail { Err("reset") } else { Ok(()) };
                let before = script_runs(&server);
                let (f, l) = (fleet.call_blocking(op), local.call_blocking(op));
                let rejected = |out: &Result<(), palisade::Error<&str>>| {
                    matches!(out, Err(palisade::Error::CircuitOpen { .. }))
                };
                assert_eq!(
                    rejected(&f),
                    rejected(&l),
                    "seed {seed}, call {i}: fleet {f:?}, in process {l:?}"
                );
                if rejected(&f) {
                    trips += 1;
                    break;
                }
                // The strict read, then this outcome's flush.
                wait_runs(&server, before + 2);
            }
        }
    });
    println!("{trips} of 30 sequences tripped, each at the same call on both");
    assert!(trips >= 10, "the sequences exercise trips: {trips}");
}
