//! The link to a real Redis: connecting, noticing an outage and a pause, coming back, TLS,
//! and passwords that never show.

mod common;

use std::time::{Duration, Instant};

use common::{RedisServer, eventually};
use palisade::health::Health;
use palisade_redis::{Error, RedisBackend};

fn backend(url: &str) -> palisade_redis::RedisBackendBuilder {
    RedisBackend::builder()
        .url(url)
        .probe_interval(Duration::from_millis(20))
        .connect_timeout(Duration::from_millis(500))
}

#[tokio::test]
async fn health_follows_redis_down_and_back_within_the_probe_interval() {
    let mut server = RedisServer::start();
    let redis = backend(&server.url()).connect().await.unwrap();
    assert!(redis.status().up);
    assert_eq!(redis.health(), Health::Healthy);

    server.stop();
    eventually(Duration::from_secs(2), "link marked down", || {
        !redis.status().up
    })
    .await;
    // Degraded, never unhealthy: one Redis outage must not fail every instance's check.
    assert_eq!(redis.health(), Health::Degraded);
    assert!(redis.status().last_error.is_some());

    server.restart();
    let back = Instant::now();
    eventually(Duration::from_secs(2), "link up again", || {
        redis.status().up
    })
    .await;
    assert!(
        back.elapsed() < Duration::from_secs(1),
        "{:?}",
        back.elapsed()
    );
    assert_eq!(redis.health(), Health::Healthy);
}

#[tokio::test]
async fn a_paused_redis_is_noticed_and_its_return_too() {
    let server = RedisServer::start();
    let redis = backend(&server.url()).connect().await.unwrap();
    server.pause();
    eventually(Duration::from_secs(2), "paused Redis noticed", || {
        !redis.status().up
    })
    .await;
    server.resume();
    eventually(Duration::from_secs(2), "resumed Redis noticed", || {
        redis.status().up
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_redis_fails_connect_with_a_message_and_no_password() {
    let port = common::free_port();
    let url = format!("redis://app:hunter2@127.0.0.1:{port}");
    let err = backend(&url)
        .connect_timeout(Duration::from_millis(100))
        .connect()
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    let text = format!("{err} {err:?}");
    assert!(
        text.contains(&format!("redis://app:***@127.0.0.1:{port}")),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
async fn passwords_never_show_in_debug_status_or_errors() {
    let server = RedisServer::start_with(&["--requirepass", "s3cr3t-pw"]);
    let good = format!("redis://:s3cr3t-pw@127.0.0.1:{}", server.port);
    let redis = backend(&good).connect().await.unwrap();
    let shown = format!("{redis:?} {:?}", redis.status());
    assert!(!shown.contains("s3cr3t-pw"), "{shown}");
    assert!(shown.contains(":***@"), "{shown}");

    // A wrong password: the error and the status say why, without either password.
    let bad = format!("redis://:wr0ng-pw@127.0.0.1:{}", server.port);
    let err = backend(&bad)
        .connect_timeout(Duration::from_millis(200))
        .connect()
        .await
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains("wr0ng-pw") && !text.contains("s3cr3t-pw"),
        "{text}"
    );

    // Bad settings name the field and the value, password hidden.
    let err = RedisBackend::builder()
        .url("htp://:s3cr3t-pw@host")
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)));
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("url = ") && !text.contains("s3cr3t-pw"),
        "{text}"
    );
}

#[tokio::test]
async fn rediss_connects_to_a_tls_server_trusting_the_test_ca() {
    let (server, ca) = RedisServer::start_tls();
    let url = format!("rediss://localhost:{}", server.port);
    let redis = backend(&url)
        .tls_root_certificate(ca.into_bytes())
        .connect()
        .await
        .unwrap_or_else(|e| panic!("TLS connect: {e}"));
    assert!(redis.status().up);
    // Without the CA, the server's certificate is refused.
    let err = backend(&url)
        .connect_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
}
