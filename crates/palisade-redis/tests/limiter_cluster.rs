//! The limiter tests on a Redis Cluster of three primaries: every algorithm, a fleet of three
//! instances, a script flush on every node, and keyed limiters whose keys spread over the
//! nodes.

mod common;
mod limiter_support;

use std::time::Duration;

use common::RedisCluster;
use limiter_support::{capacity, every_algorithm, limiter, manual_clock};
use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate};
use palisade_redis::{RedisBackend, TimeSource};

async fn cluster_backend(cluster: &RedisCluster) -> RedisBackend {
    RedisBackend::builder()
        .cluster(cluster.urls())
        .timeout(Duration::from_millis(500))
        .probe_interval(Duration::from_millis(20))
        .connect_timeout(Duration::from_secs(2))
        .limiter_time_source(TimeSource::PolicyClock)
        .connect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limiter_tests_pass_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    let clock = manual_clock();
    let mut fleet = Vec::new();
    for _ in 0..3 {
        fleet.push(cluster_backend(&cluster).await);
    }

    // Every algorithm, shared by three instances: each window grants exactly the quota
    // (every algorithm's quota is rested again after a second).
    for (i, algorithm) in every_algorithm().into_iter().enumerate() {
        let limiters: Vec<_> = fleet
            .iter()
            .map(|b| limiter(b, &format!("algo-{i}"), algorithm, &clock))
            .collect();
        for round in 0..4 {
            if round == 2 {
                for node in &cluster.nodes {
                    assert_eq!(node.cli(&["SCRIPT", "FLUSH"]), "OK");
                }
            }
            let mut granted = 0;
            for _ in 0..capacity(&algorithm) + 3 {
                for l in &limiters {
                    granted += usize::from(l.try_acquire_async(1).await.is_ok());
                }
            }
            let expected = match algorithm {
                // The token bucket starts with 2 of its 4 tokens.
                Algorithm::TokenBucket { .. } if round == 0 => 2,
                _ => capacity(&algorithm) as usize,
            };
            assert_eq!(granted, expected, "{algorithm:?} round {round}");
            clock.advance(Duration::from_secs(1));
        }
    }
    for backend in &fleet {
        assert_eq!(backend.status().failures, 0, "{:?}", backend.status());
    }

    // A keyed limiter: 60 users, each its own quota, spread over the three primaries.
    let per_user = Algorithm::Gcra {
        rate: Rate::per_second(1),
        burst: 3,
    };
    let keyed: Vec<_> = fleet
        .iter()
        .map(|b| {
            KeyedRateLimiter::builder(per_user)
                .clock(clock.clone())
                .build_with_store(b.keyed_limiter_store::<u32>("users", per_user).unwrap())
                .unwrap()
        })
        .collect();
    for user in 0..60u32 {
        let granted = (0..3)
            .flat_map(|_| keyed.iter())
            .filter(|l| l.try_acquire(&user).is_ok())
            .count();
        assert_eq!(granted, 3, "user {user}");
    }
    let holding = cluster
        .nodes
        .iter()
        .filter(|node| node.cli(&["DBSIZE"]).parse::<u32>().unwrap_or(0) >= 5)
        .count();
    assert_eq!(holding, 3, "keys spread over every primary");
}
