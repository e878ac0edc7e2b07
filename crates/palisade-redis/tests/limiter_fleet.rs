//! A fleet sharing limits: instances on separate `RedisBackend`s (and separate OS
//! processes) never exceed the fleet's quota, pipelines built with the Redis backend use it,
//! and keyed limiters keep one quota per key, each under its own hash tag.

mod common;
mod limiter_support;

use std::time::Duration;

use common::RedisServer;
use limiter_support::{backend, limiter, manual_clock};
use palisade::clock::Clock;
use palisade::pipeline::Pipeline;
use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate, RateLimiter};
use palisade_redis::{RedisBackend, TimeSource};

const MS: Duration = Duration::from_millis(1);

/// Three instances, each on its own backend, take `calls` permits each at once, concurrently;
/// returns the permits granted.
async fn burst(limiters: &[RateLimiter<palisade_redis::RedisLimiterStore>], calls: usize) -> usize {
    let tasks: Vec<_> = limiters
        .iter()
        .flat_map(|l| (0..calls).map(move |_| l.clone()))
        .map(|l| tokio::spawn(async move { l.try_acquire_async(1).await.is_ok() }))
        .collect();
    let mut granted = 0;
    for task in tasks {
        granted += usize::from(task.await.unwrap());
    }
    granted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_never_exceed_the_fleet_limit_over_any_window() {
    let server = RedisServer::start();
    let clock = manual_clock();
    let mut backends = Vec::new();
    for _ in 0..3 {
        backends.push(
            backend(&server.url())
                .fleet_size(3)
                .connect()
                .await
                .unwrap(),
        );
    }
    let fleet = |name: &str, algorithm: Algorithm| -> Vec<_> {
        backends
            .iter()
            .map(|b| limiter(b, name, algorithm, &clock))
            .collect()
    };

    // Fixed window: exactly 20 per window, whatever the demand (3 × 12 at each step).
    let window = fleet(
        "window",
        Algorithm::FixedWindow {
            max_requests: 20,
            window: Duration::from_millis(100),
        },
    );
    // GCRA, 100/s and a burst of 10: over any span of k steps of 10 ms, at most k + 10.
    let gcra = fleet(
        "gcra",
        Algorithm::Gcra {
            rate: Rate::per_second(100),
            burst: 10,
        },
    );
    // Sliding log: at most 15 in any 100 ms.
    let log = fleet(
        "log",
        Algorithm::SlidingWindowLog {
            max_requests: 15,
            window: Duration::from_millis(100),
        },
    );
    let (mut per_window, mut gcra_steps, mut log_steps) = (Vec::new(), Vec::new(), Vec::new());
    for step in 0..60 {
        if step % 10 == 0 {
            per_window.push(0);
        }
        *per_window.last_mut().unwrap() += burst(&window, 4).await;
        gcra_steps.push(burst(&gcra, 2).await);
        log_steps.push(burst(&log, 2).await);
        clock.advance(10 * MS);
    }
    assert!(per_window.iter().all(|&n| n == 20), "{per_window:?}");
    for i in 0..gcra_steps.len() {
        for j in i..gcra_steps.len() {
            let granted: usize = gcra_steps[i..=j].iter().sum();
            assert!(granted <= (j - i) + 10, "steps {i}..={j}: {granted}");
            // Steps 10 ms apart: any 10 consecutive steps lie within one 100 ms window.
            if j - i < 10 {
                let logged: usize = log_steps[i..=j].iter().sum();
                assert!(logged <= 15, "log steps {i}..={j}: {logged}");
            }
        }
    }
    // Demand exceeded supply throughout: the fleet got its whole quota, not less.
    assert_eq!(gcra_steps.iter().sum::<usize>(), 59 + 10, "{gcra_steps:?}");
}

/// The child half of `two_os_processes_share_one_quota`: does nothing unless started by it.
#[tokio::test]
async fn child_process_takes_permits() {
    let Ok(url) = std::env::var("PALISADE_LIMITER_CHILD_URL") else {
        return;
    };
    let granted = take_shared_permits(&url, 25).await;
    println!("granted={granted}");
}

async fn take_shared_permits(url: &str, calls: usize) -> usize {
    let redis = RedisBackend::builder()
        .url(url)
        .timeout(Duration::from_millis(500))
        .limiter_time_source(TimeSource::RedisTime)
        .connect()
        .await
        .unwrap();
    // One permit an hour, a burst of 30: nothing refills during the test.
    let algorithm = Algorithm::Gcra {
        rate: Rate::new(1, Duration::from_secs(3600)),
        burst: 30,
    };
    let store = redis
        .limiter_store("across", algorithm, &Clock::default())
        .unwrap();
    let l = RateLimiter::builder(algorithm)
        .build_with_store(store)
        .unwrap();
    let mut granted = 0;
    for _ in 0..calls {
        granted += usize::from(l.try_acquire_async(1).await.is_ok());
    }
    granted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_os_processes_share_one_quota() {
    let server = RedisServer::start();
    let child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_process_takes_permits", "--nocapture"])
        .env("PALISADE_LIMITER_CHILD_URL", server.url())
        .output();
    let url = server.url();
    let (child, here) = tokio::join!(child, take_shared_permits(&url, 25));
    let child = child.unwrap();
    let out = String::from_utf8_lossy(&child.stdout);
    assert!(
        child.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&child.stderr)
    );
    let there: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("granted="))
        .unwrap_or_else(|| panic!("no count from the child: {out}"))
        .trim()
        .parse()
        .unwrap();
    assert_eq!(here + there, 30, "this process {here}, the other {there}");
}

#[tokio::test]
async fn pipelines_built_with_the_redis_backend_share_its_limiter() {
    let server = RedisServer::start();
    let build = |backend: RedisBackend| {
        Pipeline::builder()
            .name("checkout")
            .rate_limit(Algorithm::Gcra {
                rate: Rate::new(1, Duration::from_secs(3600)),
                burst: 2,
            })
            .backend(backend)
            .build()
            .unwrap()
    };
    let first = build(
        backend(&server.url())
            .limiter_time_source(TimeSource::RedisTime)
            .connect()
            .await
            .unwrap(),
    );
    let second = build(
        backend(&server.url())
            .limiter_time_source(TimeSource::RedisTime)
            .connect()
            .await
            .unwrap(),
    );
    assert!(first.call(|| async { Ok::<_, ()>(()) }).await.is_ok());
    assert!(second.call_blocking(|| Ok::<_, ()>(())).is_ok());
    let refused = first.call(|| async { Ok::<_, ()>(()) }).await.unwrap_err();
    assert!(
        matches!(refused, palisade::Error::RateLimited { .. }),
        "{refused:?}"
    );
    assert_eq!(server.cli(&["EXISTS", "{palisade:checkout}:gcra"]), "1");
}

#[tokio::test]
async fn keyed_limiters_keep_one_quota_per_key_under_its_own_hash_tag() {
    let server = RedisServer::start();
    let clock = manual_clock();
    let per_user = Algorithm::Gcra {
        rate: Rate::per_second(10),
        burst: 2,
    };
    let keyed = |backend: &RedisBackend| {
        let store = backend
            .keyed_limiter_store::<String>("api", per_user)
            .unwrap();
        KeyedRateLimiter::builder(per_user)
            .name("api")
            .clock(clock.clone())
            .build_with_store(store)
            .unwrap()
    };
    let (a, b) = (
        keyed(&backend(&server.url()).connect().await.unwrap()),
        keyed(&backend(&server.url()).connect().await.unwrap()),
    );
    let (alice, bob) = ("alice".to_string(), "bob".to_string());
    assert!(a.try_acquire(&alice).is_ok());
    assert!(b.try_acquire_n_async(&alice, 1).await.is_ok());
    // Alice's burst is spent fleet-wide; Bob has his own.
    assert_eq!(
        a.try_acquire(&alice).unwrap_err().retry_after(),
        Some(100 * MS)
    );
    assert!(b.try_acquire_n_async(&bob, 2).await.is_ok());
    assert_eq!(server.cli(&["EXISTS", "{palisade:api:alice}:gcra"]), "1");
    assert_eq!(server.cli(&["EXISTS", "{palisade:api:bob}:gcra"]), "1");
    assert_eq!(a.info(&bob).remaining(), 0);

    // A key's own quota: this instance grants Carol 5 at once.
    let carol = "carol".to_string();
    a.set_quota_for(
        carol.clone(),
        Algorithm::Gcra {
            rate: Rate::per_second(10),
            burst: 5,
        },
    )
    .unwrap();
    assert!(a.try_acquire_n(&carol, 5).is_ok());
    assert!(a.try_acquire(&carol).is_err());
    a.clear_quota_for(&carol);
    assert!(matches!(
        a.try_acquire_n(&carol, 5),
        Err(palisade::rate_limit::Denied::ExceedsCapacity { .. })
    ));
    clock.advance(Duration::from_secs(1));
    assert!(a.try_acquire(&alice).is_ok());
}
