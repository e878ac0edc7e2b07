//! The registry (get-or-create, reset, reload keeping state) and health reports, on virtual
//! time (a `ManualClock` drives every breaker and limiter).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

mod common;

use common::fault::Down;
use palisade::ConfigError;
use palisade::circuit_breaker::{CircuitBreaker, SlidingWindow, State};
use palisade::clock::ManualClock;
use palisade::health::{self, Health, HealthCheck};
use palisade::pipeline::{Classified, Pipeline, PipelineBuilder};
use palisade::rate_limit::{Algorithm, Rate};
use palisade::registry::Registry;

fn fail(p: &Classified) {
    let _ = p.call_blocking(|| Err::<(), _>(Down));
}

#[test]
fn one_pipeline_per_name_even_when_callers_race() {
    let built = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&built);
    let registry = Registry::new(move |name: &str| {
        counter.fetch_add(1, Ordering::SeqCst);
        Some(Ok(Pipeline::builder().name(name).circuit_breaker(|b| b)))
    });
    let pipelines: Vec<Classified> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| registry.pipeline("payments").expect("builds")))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    });
    assert_eq!(built.load(Ordering::SeqCst), 1, "built once");
    assert!(pipelines.iter().all(|p| p.shares_state_with(&pipelines[0])));
    assert_eq!(registry.names(), ["payments"]);
}

#[test]
fn unknown_names_and_invalid_configurations_are_errors_naming_the_policy() {
    let registry = Registry::new(|name: &str| match name {
        "db" => Some(Ok(Pipeline::builder().max_attempts(0))),
        _ => None,
    });
    let unknown = registry.pipeline("dbb").unwrap_err();
    assert_eq!((unknown.field(), unknown.value()), ("policies.dbb", "dbb"));
    let invalid = registry.pipeline("db").unwrap_err();
    assert_eq!(
        (invalid.policy(), invalid.field(), invalid.value()),
        ("retry", "policies.db.retry.max_attempts", "0")
    );
    assert!(registry.names().is_empty(), "nothing half-built is kept");
}

#[test]
fn reset_all_closes_every_breaker_with_fresh_statistics() {
    let registry = Registry::new(|name: &str| {
        Some(Ok(Pipeline::builder()
            .name(name)
            .circuit_breaker(|b| b.failure_threshold(1))))
    });
    let a = registry.pipeline("a").unwrap();
    let b = registry.pipeline("b").unwrap();
    fail(&a);
    b.circuit_breaker().unwrap().force_open();
    registry.reset_all();
    for p in [&a, &b] {
        let breaker = p.circuit_breaker().unwrap();
        assert_eq!(breaker.state(), State::Closed);
        assert_eq!(breaker.stats().total_calls(), 0);
    }
}

fn breaker(
    clock: &ManualClock,
    name: &str,
    build: impl FnOnce(
        palisade::circuit_breaker::CircuitBreakerBuilder,
    ) -> palisade::circuit_breaker::CircuitBreakerBuilder,
) -> CircuitBreaker {
    build(CircuitBreaker::builder().name(name).clock(clock.clone()))
        .build()
        .unwrap()
}

#[test]
fn health_is_the_worst_breaker_verdict_with_the_reasons_listed() {
    let clock = ManualClock::new();
    let healthy = breaker(&clock, "healthy", |b| b.failure_threshold(4));
    let wobbling = breaker(&clock, "wobbling", |b| b.failure_threshold(4));
    let probing = breaker(&clock, "probing", |b| {
        b.failure_threshold(1)
            .recovery_timeout(Duration::from_secs(5))
    });
    let check = HealthCheck::new();
    assert_eq!(
        check.report([&healthy, &wobbling, &probing]).overall,
        Health::Healthy
    );

    // One failure of four: below half. Two: half-way, degraded.
    let _ = wobbling.call_blocking(|| Err::<(), _>("x"));
    assert_eq!(check.breaker(&wobbling).health, Health::Healthy);
    let _ = wobbling.call_blocking(|| Err::<(), _>("x"));
    assert_eq!(check.breaker(&wobbling).health, Health::Degraded);
    assert_eq!(check.breaker(&wobbling).consecutive_failures, 2);
    // A stricter fraction does not call it degraded yet.
    let strict = HealthCheck::new().degraded_fraction(0.75).unwrap();
    assert_eq!(strict.breaker(&wobbling).health, Health::Healthy);

    // Open: unhealthy, with when it will probe.
    let _ = probing.call_blocking(|| Err::<(), _>("x"));
    let report = check.report([&healthy, &wobbling, &probing]);
    assert_eq!(report.overall, Health::Unhealthy);
    assert_eq!(report.open_breakers, ["probing"]);
    assert_eq!(report.degraded_breakers, ["wobbling"]);
    assert_eq!(report.breakers[2].retry_after, Some(Duration::from_secs(5)));

    // Half-open after the recovery timeout: degraded.
    clock.advance(Duration::from_secs(5));
    let report = check.report([&healthy, &wobbling, &probing]);
    assert_eq!(report.overall, Health::Degraded);
    assert_eq!(report.degraded_breakers, ["wobbling", "probing"]);
    assert_eq!(report.breakers[2].state, State::HalfOpen);
}

#[test]
fn a_failure_rate_near_its_threshold_is_degraded() {
    let clock = ManualClock::new();
    let b = breaker(&clock, "rate", |b| {
        b.no_failure_threshold()
            .failure_rate_threshold(50.0)
            .sliding_window(SlidingWindow::Count { size: 10 })
            .minimum_calls(10)
    });
    for i in 0..10 {
        let _ = b.call_blocking(|| if i < 3 { Err::<(), _>("x") } else { Ok(()) });
    }
    // 30 % failures, threshold 50 %: above half of it.
    let health = HealthCheck::new().breaker(&b);
    assert_eq!(
        (health.failure_rate, health.health),
        (Some(30.0), Health::Degraded)
    );
    assert_eq!(health.total_calls, 10);
    let lenient = HealthCheck::new().degraded_fraction(0.8).unwrap();
    assert_eq!(lenient.breaker(&b).health, Health::Healthy);
}

#[test]
fn degraded_fraction_outside_its_range_is_an_error() {
    for bad in [0.0, -0.5, 1.01, f64::NAN] {
        let err = HealthCheck::new().degraded_fraction(bad).unwrap_err();
        assert_eq!((err.policy(), err.field()), ("health", "degraded_fraction"));
    }
}

#[test]
fn the_registry_reports_a_shared_breaker_once() {
    let shared = CircuitBreaker::builder().name("db").build().unwrap();
    let registry = Registry::empty();
    for name in ["read", "write"] {
        registry.insert(
            name,
            Pipeline::builder()
                .shared_circuit_breaker(shared.clone())
                .build()
                .unwrap(),
        );
    }
    registry.insert(
        "cache",
        Pipeline::builder()
            .name("cache")
            .circuit_breaker(|b| b)
            .build()
            .unwrap(),
    );
    let report = registry.health(&HealthCheck::new());
    let names: Vec<&str> = report.breakers.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["cache", "db"]);
}

#[test]
fn health_checks_run_through_a_breaker_and_count() {
    let db = CircuitBreaker::builder()
        .name("database")
        .failure_threshold(2)
        .build()
        .unwrap();
    let ran = AtomicUsize::new(0);
    let down = || {
        ran.fetch_add(1, Ordering::SeqCst);
        Err::<(), _>("connection refused")
    };
    let first = health::check_blocking(&db, down);
    assert_eq!(
        (first.health, first.state),
        (Health::Unhealthy, State::Closed)
    );
    assert_eq!(first.error.as_deref(), Some("connection refused"));
    let second = health::check_blocking(&db, down);
    assert_eq!(second.state, State::Open);
    // Open: the check is not run.
    let third = health::check_blocking(&db, down);
    assert!(!third.is_healthy());
    assert_eq!(ran.load(Ordering::SeqCst), 2);
    assert_eq!(db.stats().not_permitted_calls, 1);
}

fn source(
    max_attempts: u32,
    threshold: u32,
    per_second: u32,
    slots: usize,
) -> impl Fn(&str) -> Option<Result<PipelineBuilder, ConfigError>> + Send + Sync + 'static {
    move |name: &str| {
        Some(Ok(Pipeline::builder()
            .name(name)
            .max_attempts(max_attempts)
            .circuit_breaker(move |b| b.failure_threshold(threshold))
            .rate_limit(Algorithm::Gcra {
                rate: Rate::per_second(per_second),
                burst: per_second,
            })
            .bulkhead(move |b| b.max_concurrent(slots))))
    }
}

#[test]
fn reload_keeps_compatible_state_and_replaces_the_rest() {
    let registry = Registry::new(source(1, 1, 4, 2));
    let old = registry.pipeline("db").unwrap();
    fail(&old); // opens the breaker (threshold 1) and takes one permit
    let held = old.bulkhead().unwrap().try_acquire().unwrap();
    assert_eq!(old.rate_limiter().unwrap().info().remaining(), 3);

    // Same breaker and bulkhead settings, a larger quota, more attempts.
    let report = registry.reload(source(3, 1, 8, 2)).unwrap();
    assert_eq!(
        report.rebuilt,
        [(
            "db".to_string(),
            vec!["circuit_breaker", "rate_limit", "bulkhead"]
        )]
    );
    let new = registry.pipeline("db").unwrap();
    assert!(!new.shares_state_with(&old));
    assert_eq!(new.retry().unwrap().config().max_attempts, 3);
    assert_eq!(
        new.circuit_breaker().unwrap().state(),
        State::Open,
        "breaker kept"
    );
    assert!(
        new.circuit_breaker()
            .unwrap()
            .shares_state_with(old.circuit_breaker().unwrap())
    );
    let limiter = new.rate_limiter().unwrap();
    assert_eq!(limiter.info().limit(), 8);
    assert_eq!(
        limiter.info().remaining(),
        7,
        "the permit taken still counts"
    );
    assert_eq!(
        new.bulkhead().unwrap().in_flight(),
        1,
        "the held slot is still held"
    );
    drop(held);

    // A changed breaker setting: a fresh breaker.
    let report = registry.reload(source(3, 5, 8, 2)).unwrap();
    assert_eq!(report.rebuilt[0].1, ["rate_limit", "bulkhead"]);
    let newer = registry.pipeline("db").unwrap();
    assert_eq!(newer.circuit_breaker().unwrap().state(), State::Closed);
    assert_eq!(
        newer.circuit_breaker().unwrap().config().failure_threshold,
        Some(5)
    );
}

#[test]
fn a_reload_with_an_error_changes_nothing() {
    let registry = Registry::new(source(2, 1, 4, 2));
    let a = registry.pipeline("a").unwrap();
    let _b = registry.pipeline("b").unwrap();
    let err = registry
        .reload(|name: &str| {
            Some(Ok(match name {
                "a" => Pipeline::builder().rate_limit(Algorithm::Gcra {
                    rate: Rate::per_second(100),
                    burst: 100,
                }),
                _ => Pipeline::builder().max_attempts(0),
            }))
        })
        .unwrap_err();
    assert_eq!(err.field(), "policies.b.retry.max_attempts");
    let still = registry.pipeline("a").unwrap();
    assert!(still.shares_state_with(&a));
    assert_eq!(
        still.rate_limiter().unwrap().info().limit(),
        4,
        "quota untouched"
    );
}

#[test]
fn pipelines_the_new_source_drops_are_kept_and_reported() {
    let registry = Registry::new(source(2, 1, 4, 2));
    let old = registry.pipeline("legacy").unwrap();
    let report = registry
        .reload(|_: &str| None::<Result<PipelineBuilder, ConfigError>>)
        .unwrap();
    assert_eq!(report.kept, ["legacy"]);
    assert!(registry.pipeline("legacy").unwrap().shares_state_with(&old));
    // A name never created before is now unknown.
    assert!(registry.pipeline("other").is_err());
}

#[test]
fn status_reports_every_part_and_the_recent_calls_bounded() {
    use palisade::status::History;
    let history = History::new(2);
    let registry = Registry::new(|name: &str| {
        Some(Ok(Pipeline::builder()
            .name(name)
            .circuit_breaker(|b| b.failure_threshold(2))
            .rate_limit(Algorithm::Gcra {
                rate: Rate::per_second(1),
                burst: 3,
            })
            .bulkhead(|b| b.max_concurrent(4))))
    })
    .with_history(history);
    let p = registry.pipeline("orders").unwrap();
    let _ = p.call_blocking(|| Ok::<_, Down>(()));
    let _ = p.call_blocking(|| Err::<(), _>(Down));
    let _ = p.call_blocking(|| Ok::<_, Down>(()));
    let _ = p.call_blocking(|| Ok::<_, Down>(())); // the burst of 3 is spent: rejected
    let status = registry.status();
    let orders = &status.policies[0];
    assert_eq!(orders.name, "orders");
    let c = orders.calls;
    assert_eq!((c.total, c.succeeded, c.failed, c.rejected), (4, 2, 1, 1));
    assert_eq!(c.success_rate, Some(50.0));
    let outcomes: Vec<&str> = orders.recent.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, ["succeeded", "rejected"], "bounded to the last 2");
    let breaker = orders.circuit_breaker.as_ref().unwrap();
    assert_eq!(
        (
            breaker.state,
            breaker.successful_calls,
            breaker.failed_calls
        ),
        ("closed", 2, 1)
    );
    let limit = orders.rate_limit.unwrap();
    assert_eq!((limit.limit, limit.remaining), (3, 0));
    let bulkhead = orders.bulkhead.unwrap();
    assert_eq!(
        (
            bulkhead.max_concurrent,
            bulkhead.in_flight,
            bulkhead.available
        ),
        (4, 0, 4)
    );
}

#[cfg(feature = "serde")]
#[test]
fn status_exports_as_json_to_a_file() {
    let registry =
        Registry::new(|name: &str| Some(Ok(Pipeline::builder().name(name).circuit_breaker(|b| b))))
            .with_history(palisade::status::History::new(5));
    let p = registry.pipeline("search").unwrap();
    let _ = p.call_blocking(|| Ok::<_, Down>(()));
    let path = std::env::temp_dir().join(format!("palisade-status-{}.json", std::process::id()));
    registry.status().write_json(&path).unwrap();
    let json = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    for needle in [
        "\"name\": \"search\"",
        "\"total\": 1",
        "\"success_rate\": 100.0",
        "\"state\": \"closed\"",
        "\"outcome\": \"succeeded\"",
    ] {
        assert!(json.contains(needle), "{needle} missing from {json}");
    }
}
