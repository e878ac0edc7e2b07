//! Redis backends from configuration files: `redis_url`, `[backends.<name>]`, bad values.

mod common;

use std::time::Duration;

use common::{RedisServer, eventually};
use palisade::config::{Format, Loader};
use palisade_redis::Error;

#[tokio::test]
async fn redis_url_and_backend_tables_register_backends_pipelines_can_name() {
    let server = RedisServer::start();
    let text = format!(
        r#"
        redis_url = "{url}"

        [backends.fleet]
        kind = "redis"
        url = "{url}"
        key_prefix = "myapp:"
        timeout = "20ms"
        ttl_seconds = 600
        limiter_when_down = "reject"

        [policies.a]
        preset = "api"
        backend = "redis"

        [policies.b]
        preset = "database"
        backend = "fleet"
        "#,
        url = server.url()
    );
    let config = Loader::from_str(Format::Toml, &text).load().unwrap();
    assert_eq!(
        config.backends["fleet"].state_ttl,
        Some(Duration::from_secs(600))
    );
    let config = palisade_redis::register(config).unwrap();
    assert!(config.pipeline("a").is_ok());
    assert!(config.pipeline("b").is_ok());
    // The backend named `redis` came from redis_url and connects.
    eventually(
        Duration::from_secs(2),
        "redis_url backend connected",
        || server.cli(&["client", "list"]).lines().count() >= 2,
    )
    .await;
}

#[tokio::test]
async fn a_bad_backend_value_names_its_key_and_value() {
    let text = r#"
        [backends.fleet]
        kind = "redis"
        url = "redis://:pw-in-url@127.0.0.1:1"
        breaker_when_down = "sometimes"
    "#;
    let config = Loader::from_str(Format::Toml, text).load().unwrap();
    let err = palisade_redis::register(config).unwrap_err();
    assert!(matches!(err, Error::Config(_)));
    assert_eq!(
        err.to_string(),
        "invalid redis configuration: backends.fleet.breaker_when_down = sometimes: must be allow, reject or local"
    );
    let text = r#"
        redis_url = "http://:pw-in-url@host"
    "#;
    let config = Loader::from_str(Format::Toml, text).load().unwrap();
    let err = palisade_redis::register(config).unwrap_err().to_string();
    assert!(
        err.contains("url = http://:***@host") && !err.contains("pw-in-url"),
        "{err}"
    );
}

#[test]
fn the_environment_sets_redis_url() {
    let config = Loader::from_str(Format::Toml, "")
        .env_prefix("PALREDISTEST")
        .env_from([("PALREDISTEST_REDIS_URL", "redis://127.0.0.1:6379")])
        .load();
    match config {
        Ok(config) => assert_eq!(config.redis_url.as_deref(), Some("redis://127.0.0.1:6379")),
        Err(e) => panic!("{e}"),
    }
}
