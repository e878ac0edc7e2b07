//! Fleet-wide rate limiters on a real Redis: every algorithm decides as the in-process one
//! does, quotas change without losing taken permits, keys expire once rested, the deny cache
//! saves round trips, and a `SCRIPT FLUSH` loses no decision. All timing on a `ManualClock`.

mod common;
mod limiter_support;

use std::time::Duration;

use common::RedisServer;
use limiter_support::{Lcg, backend, capacity, every_algorithm, limiter, manual_clock};
use palisade::clock::ManualClock;
use palisade::rate_limit::{Algorithm, Denied, LocalState, Rate, StateStore};
use palisade_redis::TimeSource;

const MS: Duration = Duration::from_millis(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_algorithm_decides_exactly_as_the_in_process_limiter() {
    let server = RedisServer::start();
    let redis = backend(&server.url()).connect().await.unwrap();
    for (i, algorithm) in every_algorithm().into_iter().enumerate() {
        let clock = manual_clock();
        let shared = limiter(&redis, &format!("same-{i}"), algorithm, &clock);
        let local = LocalState::new(algorithm, clock.now()).unwrap();
        let mut random = Lcg(i as u64 + 7);
        let (mut granted, mut refused) = (0, 0);
        for step in 0..400 {
            // The first decision at the local state's creation: a fresh Redis key starts at
            // its first decision (a token bucket's initial tokens count from there).
            if step > 0 {
                clock.advance(Duration::from_micros(random.below(15_000)));
            }
            let n = if random.below(4) == 0 {
                1 + random.below(u64::from(capacity(&algorithm)) + 1) as u32
            } else {
                1
            };
            let now = clock.now();
            let expected = local.try_acquire_n(now, n);
            // Half the decisions on the async path, half on the blocking one.
            let got = if step % 2 == 0 {
                shared.store().try_acquire_n_async(now, n).await
            } else {
                let store = shared.clone();
                tokio::task::spawn_blocking(move || store.store().try_acquire_n(now, n))
                    .await
                    .unwrap()
            };
            let context = format!("{algorithm:?} step {step} n {n}: {expected:?} vs {got:?}");
            match (expected, got) {
                (Ok(e), Ok(g)) => {
                    granted += 1;
                    assert_eq!(e.limit(), g.limit(), "{context}");
                    assert_eq!(e.remaining(), g.remaining(), "{context}");
                    let diff = e.reset_after().abs_diff(g.reset_after());
                    assert!(diff <= Duration::from_micros(1), "{context}");
                }
                (
                    Err(Denied::RateLimited { retry_after: e, .. }),
                    Err(Denied::RateLimited { retry_after: g, .. }),
                ) => {
                    refused += 1;
                    // Lua's windows count in µs, the core's in ns: one µs of rounding.
                    assert!(e.abs_diff(g) <= Duration::from_micros(1), "{context}");
                }
                (Err(Denied::ExceedsCapacity { .. }), Err(Denied::ExceedsCapacity { .. })) => {}
                _ => panic!("decisions differ: {context}"),
            }
        }
        assert!(
            granted > 50 && refused > 50,
            "{algorithm:?}: {granted} granted, {refused} refused"
        );
    }
}

#[tokio::test]
async fn gcra_grants_a_burst_then_one_permit_per_interval() {
    let server = RedisServer::start();
    let redis = backend(&server.url()).connect().await.unwrap();
    let clock = manual_clock();
    let algorithm = Algorithm::Gcra {
        rate: Rate::per_second(10),
        burst: 3,
    };
    let l = limiter(&redis, "api", algorithm, &clock);
    for remaining in [2, 1, 0] {
        let info = l.try_acquire_async(1).await.unwrap();
        assert_eq!((info.limit(), info.remaining()), (3, remaining));
    }
    let denied = l.try_acquire_async(1).await.unwrap_err();
    assert_eq!(denied.retry_after(), Some(100 * MS));
    assert_eq!(l.info().remaining(), 0);
    assert_eq!(l.info().reset_after(), 300 * MS);
    clock.advance(100 * MS);
    assert!(l.try_acquire_async(1).await.is_ok());
    assert!(matches!(
        l.try_acquire_n(4),
        Err(Denied::ExceedsCapacity {
            requested: 4,
            capacity: 3
        })
    ));
}

#[tokio::test]
async fn fixed_window_counts_per_window_and_resets_at_the_boundary() {
    let server = RedisServer::start();
    let redis = backend(&server.url()).connect().await.unwrap();
    let clock = manual_clock();
    let algorithm = Algorithm::FixedWindow {
        max_requests: 3,
        window: Duration::from_secs(1),
    };
    let l = limiter(&redis, "reports", algorithm, &clock);
    clock.advance(100 * MS);
    for remaining in [2, 1, 0] {
        assert_eq!(l.try_acquire().unwrap().remaining(), remaining);
    }
    let denied = l.try_acquire().unwrap_err();
    assert_eq!(denied.retry_after(), Some(900 * MS));
    clock.advance(900 * MS);
    assert_eq!(l.try_acquire_n(3).unwrap().remaining(), 0);
}

#[tokio::test]
async fn sliding_windows_weigh_or_remember_the_last_window() {
    let server = RedisServer::start();
    let redis = backend(&server.url()).connect().await.unwrap();
    let clock = manual_clock();
    let counter = limiter(
        &redis,
        "counter",
        Algorithm::SlidingWindowCounter {
            max_requests: 10,
            window: Duration::from_secs(1),
        },
        &clock,
    );
    let log = limiter(
        &redis,
        "log",
        Algorithm::SlidingWindowLog {
            max_requests: 2,
            window: Duration::from_secs(1),
        },
        &clock,
    );
    assert!(counter.try_acquire_n(10).is_ok());
    assert!(log.try_acquire().is_ok());
    clock.advance(400 * MS);
    assert!(log.try_acquire().is_ok());
    clock.advance(100 * MS);
    assert_eq!(log.try_acquire().unwrap_err().retry_after(), Some(500 * MS));
    clock.advance(500 * MS);
    assert!(log.try_acquire().is_ok(), "the first permit slid out");
    assert!(log.try_acquire().is_err());
    // Half-way into the next window, half of the previous 10 still count: 5 fit.
    clock.advance(500 * MS);
    assert!(counter.try_acquire_n(5).is_ok());
    assert_eq!(
        counter.try_acquire().unwrap_err().retry_after(),
        Some(100 * MS)
    );
    clock.advance(99 * MS);
    assert!(counter.try_acquire().is_err());
    clock.advance(MS);
    assert!(counter.try_acquire().is_ok());
}

#[tokio::test]
async fn a_token_bucket_starts_with_its_initial_tokens() {
    let server = RedisServer::start();
    let redis = backend(&server.url()).connect().await.unwrap();
    let clock = manual_clock();
    let algorithm = Algorithm::TokenBucket {
        rate: Rate::per_second(10),
        capacity: 5,
        initial_tokens: Some(1),
    };
    let l = limiter(&redis, "bucket", algorithm, &clock);
    assert_eq!(l.try_acquire().unwrap().remaining(), 0);
    assert_eq!(l.try_acquire().unwrap_err().retry_after(), Some(100 * MS));
}

#[tokio::test]
async fn a_changed_quota_keeps_the_permits_taken_for_every_instance() {
    let server = RedisServer::start();
    let clock = manual_clock();
    let fast = Algorithm::Gcra {
        rate: Rate::per_second(10),
        burst: 10,
    };
    let slow = Algorithm::Gcra {
        rate: Rate::per_second(1),
        burst: 10,
    };
    let (a, b) = (
        backend(&server.url()).connect().await.unwrap(),
        backend(&server.url()).connect().await.unwrap(),
    );
    let (la, lb) = (
        limiter(&a, "api", fast, &clock),
        limiter(&b, "api", fast, &clock),
    );
    assert!(la.try_acquire_n(10).is_ok());
    // Both instances move to 1/s: 10 permits taken now take 10 s to earn back, not 1 s —
    // converted once, however many instances change.
    la.set_algorithm(slow).unwrap();
    lb.set_algorithm(slow).unwrap();
    assert_eq!(la.algorithm(), slow);
    assert_eq!(
        lb.try_acquire().unwrap_err().retry_after(),
        Some(Duration::from_secs(1))
    );
    clock.advance(Duration::from_secs(5));
    assert_eq!(la.info().remaining(), 5);
    assert_eq!(lb.info().remaining(), 5);

    let err = la
        .set_algorithm(Algorithm::FixedWindow {
            max_requests: 1,
            window: Duration::from_secs(1),
        })
        .unwrap_err();
    assert_eq!(err.field(), "algorithm");
}

#[tokio::test]
async fn keys_expire_once_rested_on_redis_time() {
    let server = RedisServer::start();
    let redis = backend(&server.url())
        .limiter_time_source(TimeSource::RedisTime)
        .connect()
        .await
        .unwrap();
    let clock = ManualClock::new();
    let l = limiter(
        &redis,
        "brief",
        Algorithm::Gcra {
            rate: Rate::per_second(100),
            burst: 2,
        },
        &clock,
    );
    assert!(l.try_acquire_n(2).is_ok());
    let ttl: i64 = server
        .cli(&["PTTL", "{palisade:brief}:gcra"])
        .parse()
        .unwrap();
    assert!(
        (1..=20).contains(&ttl),
        "expires once rested (20 ms): {ttl}"
    );
    common::eventually(Duration::from_secs(2), "the rested key is gone", || {
        server.cli(&["EXISTS", "{palisade:brief}:gcra"]) == "0"
    })
    .await;

    // On the policy's clock the key also outlives rest by the state TTL (Redis expires on
    // real time, which a policy's clock need not follow).
    let policy = backend(&server.url())
        .state_ttl(Duration::from_secs(60))
        .connect()
        .await
        .unwrap();
    let l = limiter(
        &policy,
        "window",
        Algorithm::FixedWindow {
            max_requests: 2,
            window: Duration::from_secs(1),
        },
        &manual_clock(),
    );
    assert!(l.try_acquire().is_ok());
    let ttl: i64 = server
        .cli(&["PTTL", "{palisade:window}:fw"])
        .parse()
        .unwrap();
    assert!((60_000..=61_000).contains(&ttl), "{ttl}");
}

fn evalsha_calls(server: &RedisServer) -> u64 {
    let stats = server.cli(&["INFO", "commandstats"]);
    stats
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_refused_limiter_is_refused_in_process_until_retry_after() {
    let server = RedisServer::start();
    let redis = backend(&server.url()).connect().await.unwrap();
    let clock = manual_clock();
    let l = limiter(
        &redis,
        "hot",
        Algorithm::Gcra {
            rate: Rate::per_second(10),
            burst: 1,
        },
        &clock,
    );
    assert!(l.try_acquire().is_ok());
    assert_eq!(l.try_acquire().unwrap_err().retry_after(), Some(100 * MS));
    let before = evalsha_calls(&server);
    clock.advance(40 * MS);
    for _ in 0..100 {
        assert_eq!(l.try_acquire().unwrap_err().retry_after(), Some(60 * MS));
    }
    assert_eq!(
        evalsha_calls(&server),
        before,
        "refused without a round trip"
    );
    clock.advance(60 * MS);
    assert!(l.try_acquire().is_ok(), "asks Redis again at retry_after");
    assert_eq!(evalsha_calls(&server), before + 1);
}

#[tokio::test]
async fn script_flush_mid_run_loses_no_decision() {
    let server = RedisServer::start();
    let redis = backend(&server.url()).connect().await.unwrap();
    let clock = manual_clock();
    let every: Vec<_> = every_algorithm()
        .into_iter()
        .enumerate()
        .map(|(i, a)| (a, limiter(&redis, &format!("flush-{i}"), a, &clock)))
        .collect();
    for round in 0..6 {
        if round % 2 == 1 {
            assert_eq!(server.cli(&["SCRIPT", "FLUSH"]), "OK");
        }
        for (algorithm, l) in &every {
            // A fresh window each round; every algorithm's full quota is granted, and the
            // next permit refused, by Redis itself.
            let quota = capacity(algorithm);
            let granted = (0..quota + 2).filter(|_| l.try_acquire().is_ok()).count();
            assert!(
                granted >= 1 && granted <= quota as usize,
                "{algorithm:?} round {round}: {granted}"
            );
        }
        clock.advance(Duration::from_secs(1));
    }
    assert_eq!(redis.status().failures, 0, "{:?}", redis.status());
}
