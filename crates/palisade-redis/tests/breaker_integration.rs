//! The fleet-wide breaker through every way Palisade builds one: a pipeline given the Redis
//! backend, a registry built from configuration (`with_backend("redis", …)`), a tower layer,
//! and `#[resilient]` — two instances each, on a real redis-server.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use common::{RedisServer, eventually};
use palisade::Error;
use palisade::circuit_breaker::State;
use palisade::classify::{Classify, ErrorClass};
use palisade::clock::{Clock, ManualClock};
use palisade::config::{Format, Loader};
use palisade::health::{Health, HealthCheck};
use palisade::pipeline::Pipeline;
use palisade::registry::Registry;
use palisade_redis::RedisBackend;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Down;

impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("down")
    }
}

impl std::error::Error for Down {}

impl Classify for Down {
    fn class(&self) -> ErrorClass {
        ErrorClass::Unreached
    }
}

async fn backend(server: &RedisServer, prefix: &str) -> RedisBackend {
    RedisBackend::builder()
        .url(server.url())
        .key_prefix(prefix)
        .timeout(Duration::from_millis(100))
        .connect()
        .await
        .unwrap()
}

fn pipeline(backend: &RedisBackend, clock: &ManualClock) -> Pipeline {
    Pipeline::builder()
        .name("payments")
        .clock(Clock::from(clock))
        .circuit_breaker(|b| {
            b.failure_threshold(3)
                .recovery_timeout(Duration::from_secs(10))
        })
        .backend(backend.clone())
        .build()
        .unwrap()
}

/// Script runs on the server so far.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelines_given_the_redis_backend_share_one_breaker() {
    let server = RedisServer::start();
    let (ca, cb) = (ManualClock::new(), ManualClock::new());
    let a = pipeline(&backend(&server, "pipe").await, &ca);
    let b = pipeline(&backend(&server, "pipe").await, &cb);
    // Closed: no round trip per call (outcomes go in batches).
    let before = script_runs(&server);
    for _ in 0..200 {
        assert_eq!(b.call(|| async { Ok::<_, &str>(1) }).await, Ok(1));
    }
    let runs = script_runs(&server) - before;
    assert!(runs < 20, "{runs} script runs for 200 calls");
    for _ in 0..3 {
        let _ = a.call(|| async { Err::<(), _>("reset") }).await;
    }
    let breaker = b.circuit_breaker().unwrap();
    eventually(Duration::from_secs(2), "B open", || {
        breaker.state() == State::Open
    })
    .await;
    let calls = AtomicUsize::new(0);
    let out = b
        .call(|| {
            calls.fetch_add(1, Ordering::Relaxed);
            async { Ok::<_, &str>(1) }
        })
        .await;
    assert!(matches!(out, Err(Error::CircuitOpen { .. })), "{out:?}");
    assert_eq!(calls.load(Ordering::Relaxed), 0);
    // And blocking calls through the same pipeline.
    assert!(matches!(
        b.call_blocking(|| Ok::<_, &str>(1)),
        Err(Error::CircuitOpen { .. })
    ));
}

const CONFIG: &str = r#"
[policies.payments]
backend = "redis"
circuit_breaker = { failure_threshold = 2, recovery_timeout = "30s" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registries_built_from_configuration_share_the_breaker_through_redis() {
    let server = RedisServer::start();
    let mut registries = Vec::new();
    for _ in 0..2 {
        let config = Loader::from_str(Format::Toml, CONFIG)
            .load()
            .unwrap()
            .with_backend("redis", backend(&server, "conf").await);
        registries.push(Registry::new(config));
    }
    let one = registries[0].pipeline("payments").unwrap();
    let two = registries[1].pipeline("payments").unwrap();
    for _ in 0..2 {
        let _ = one.call(|| async { Err::<(), _>(Down) }).await;
    }
    eventually(
        Duration::from_secs(2),
        "the other registry's breaker open",
        || {
            two.circuit_breaker()
                .is_some_and(|b| b.state() == State::Open)
        },
    )
    .await;
    let out = two.call(|| async { Ok::<_, Down>(()) }).await;
    assert!(matches!(out, Err(Error::CircuitOpen { .. })), "{out:?}");
    let health = registries[1].health(&HealthCheck::new());
    assert_eq!(health.overall, Health::Unhealthy);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tower_service_sees_another_instance_trip_the_breaker() {
    use palisade::tower::PipelineLayer;
    use tower::{Layer, Service, ServiceExt};

    let server = RedisServer::start();
    let (ca, cb) = (ManualClock::new(), ManualClock::new());
    let a = pipeline(&backend(&server, "tower").await, &ca);
    let b = pipeline(&backend(&server, "tower").await, &cb);
    let breaker = b.circuit_breaker().unwrap().clone();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    let mut service = PipelineLayer::new(b).layer(tower::service_fn(move |request: u32| {
        counted.fetch_add(1, Ordering::Relaxed);
        async move { Ok::<_, std::io::Error>(request * 2) }
    }));
    assert_eq!(service.ready().await.unwrap().call(21).await.unwrap(), 42);
    for _ in 0..3 {
        let _ = a.call(|| async { Err::<(), _>("reset") }).await;
    }
    eventually(Duration::from_secs(2), "B open", || {
        breaker.state() == State::Open
    })
    .await;
    let out = service.ready().await.unwrap().call(1).await;
    assert!(matches!(out, Err(Error::CircuitOpen { .. })), "{out:?}");
    assert_eq!(
        hits.load(Ordering::Relaxed),
        1,
        "the rejected request never ran"
    );
}

static BACKEND: OnceLock<RedisBackend> = OnceLock::new();

fn redis_backend() -> RedisBackend {
    BACKEND.get().cloned().unwrap()
}

#[palisade::resilient(name = "inventory", failure_threshold = 2, backend = redis_backend)]
async fn reserve(fail: bool) -> Result<u32, Down> {
    if fail { Err(Down) } else { Ok(7) }
}

#[palisade::resilient(name = "inventory", failure_threshold = 2, backend = redis_backend)]
async fn release(fail: bool) -> Result<u32, Down> {
    if fail { Err(Down) } else { Ok(8) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resilient_functions_share_their_breaker_through_the_redis_backend() {
    let server = RedisServer::start();
    let _ = BACKEND.set(backend(&server, "macro").await);
    assert_eq!(reserve(false).await, Ok(7));
    assert_eq!(release(false).await, Ok(8));
    let _ = reserve(true).await;
    let _ = reserve(true).await;
    let mut rejected = false;
    for _ in 0..200 {
        if matches!(release(false).await, Err(Error::CircuitOpen { .. })) {
            rejected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(rejected, "release() adopted the breaker reserve() tripped");
}
