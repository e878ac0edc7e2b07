//! Redis trouble shows in metrics: `palisade_redis_up` and the failed-command counter, through
//! the global recorder (here Palisade's Prometheus exporter), password hidden.

mod common;

use std::time::Duration;

use common::{RedisServer, eventually};
use palisade::observe::Prometheus;
use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
use palisade_redis::RedisBackend;

#[tokio::test]
async fn the_link_state_and_failed_commands_reach_the_scrape() {
    let prometheus = Prometheus::new().install().unwrap();
    let mut server = RedisServer::start_with(&["--requirepass", "m3tr1cs-pw"]);
    let url = format!("redis://:m3tr1cs-pw@127.0.0.1:{}", server.port);
    let redis = RedisBackend::builder()
        .url(&url)
        .probe_interval(Duration::from_millis(20))
        .connect()
        .await
        .unwrap();
    let target = format!("redis://:***@127.0.0.1:{}", server.port);
    let up = format!(r#"palisade_redis_up{{target="{target}"}} 1"#);
    eventually(Duration::from_secs(2), "up = 1", || {
        prometheus.render().contains(&up)
    })
    .await;

    // A limiter's command fails once Redis is gone: counted, and the link shows down.
    let store = redis
        .limiter_store(
            "api",
            Algorithm::Gcra {
                rate: Rate::per_second(10),
                burst: 5,
            },
            &palisade::clock::Clock::default(),
        )
        .unwrap();
    let limiter = RateLimiter::builder(Algorithm::Gcra {
        rate: Rate::per_second(10),
        burst: 5,
    })
    .store(palisade::rate_limit::Store::custom(store))
    .build()
    .unwrap();
    server.stop();
    let _ = limiter.try_acquire_async(1).await;
    let down = format!(r#"palisade_redis_up{{target="{target}"}} 0"#);
    eventually(Duration::from_secs(2), "up = 0", || {
        prometheus.render().contains(&down)
    })
    .await;
    let text = prometheus.render();
    assert!(
        text.contains(&format!(
            r#"palisade_redis_command_failures_total{{target="{target}"}}"#
        )),
        "{text}"
    );
    assert!(text.contains("# HELP palisade_redis_up"), "{text}");
    assert!(!text.contains("m3tr1cs-pw"), "{text}");

    server.restart();
    eventually(Duration::from_secs(2), "up = 1 again", || {
        prometheus.render().contains(&up)
    })
    .await;
}
