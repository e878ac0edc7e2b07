//! Turning resilience off from configuration: `resilience_enabled` and `enabled` in every
//! format and in environment variables, their errors, and a registry reload turning
//! resilience off and on again for pipelines already handed out — with what health, status
//! and metrics say. Breakers run on virtual time. (The switch itself: `resilience_switch.rs`.)
#![cfg(feature = "config")]

mod common;

use std::cell::Cell;

use common::bump;
use common::time::secs;
use palisade::circuit_breaker::State;
use palisade::clock::ManualClock;
use palisade::config::{Format, Loader, PalisadeConfig, Source};
use palisade::health::{Health, HealthCheck};
use palisade::pipeline::{ClassifiedBuilder, Disabled, Pipeline};
use palisade::registry::{PipelineSource, Registry};
use palisade::{ConfigError, Error};

#[test]
fn resilience_enabled_is_read_from_every_format_and_the_environment() {
    for (format, text) in [
        (
            Format::Toml,
            "resilience_enabled = false\n[policies.db]\nmax_attempts = 3",
        ),
        (
            Format::Yaml,
            "resilience_enabled: false\npolicies: { db: { max_attempts: 3 } }",
        ),
        (
            Format::Json,
            r#"{"resilience_enabled": false, "policies": {"db": {"max_attempts": 3}}}"#,
        ),
    ] {
        let config = Loader::from_str(format, text).load().unwrap();
        assert_eq!(config.resilience_enabled, Some(false), "{format}");
        assert_eq!(config.disabled("db"), Disabled::ALL, "{format}");
        let db = config.pipeline("db").unwrap().unclassified();
        let attempts = Cell::new(0);
        let result = db.call_blocking(|| {
            bump(&attempts);
            Err::<(), _>("down")
        });
        assert_eq!((result, attempts.get()), (Err(Error::Operation("down")), 1));
    }

    // The environment, under the application's prefix, over a file that says true.
    let config = Loader::from_str(Format::Toml, "resilience_enabled = true")
        .env_prefix("APP")
        .env_from([("APP_RESILIENCE_ENABLED", "false"), ("APP_PORT", "8080")])
        .load()
        .unwrap();
    assert_eq!(config.resilience_enabled, Some(false));
    assert_eq!(
        config.source_of("resilience_enabled"),
        Some(&Source::Env("APP_RESILIENCE_ENABLED".into()))
    );
    let ignored: Vec<&str> = config.ignored_env_vars().iter().map(|v| v.name()).collect();
    assert_eq!(ignored, ["APP_PORT"]);

    // Unset means on; saving keeps the switch.
    let on = Loader::new().load().unwrap();
    assert_eq!(
        (on.resilience_enabled, on.disabled("db")),
        (None, Disabled::NONE)
    );
    let text = config.to_toml_string().unwrap();
    assert!(text.starts_with("resilience_enabled = false\n"), "{text}");
    assert_eq!(
        Loader::from_str(Format::Toml, &text).load().unwrap(),
        config
    );
}

#[test]
fn a_policy_turns_off_one_pipeline_or_one_of_its_policies() {
    let config = Loader::from_str(
        Format::Toml,
        r#"
        [policies.search]
        resilience_enabled = false
        preset = "api"

        [policies.payments]
        preset = "api"
        retry.enabled = false
        circuit_breaker = { enabled = false, failure_threshold = 2 }
        rate_limit = { enabled = false }       # nothing else: adds no limiter
        "#,
    )
    .env_prefix("APP")
    .env_from([
        ("APP_PAYMENTS_BULKHEAD__ENABLED", "false"),
        ("APP_SEARCH_RESILIENCE_ENABLED", "TRUE"),
    ])
    .load()
    .unwrap();
    assert_eq!(
        config.disabled("search"),
        Disabled::NONE,
        "the variable wins"
    );
    assert_eq!(
        config.disabled("payments"),
        Disabled::RETRY | Disabled::CIRCUIT_BREAKER | Disabled::RATE_LIMIT | Disabled::BULKHEAD
    );
    let payments = config.pipeline("payments").unwrap().unclassified();
    assert!(payments.rate_limiter().is_none());
    let breaker = payments.circuit_breaker().unwrap();
    assert_eq!(
        breaker.config().failure_threshold,
        Some(2),
        "built, and skipped"
    );
    let attempts = Cell::new(0);
    for _ in 0..3 {
        let result = payments.call_blocking(|| {
            bump(&attempts);
            Err::<(), _>("down")
        });
        assert_eq!(result, Err(Error::Operation("down")));
    }
    assert_eq!(attempts.get(), 3, "no retry");
    assert_eq!(
        breaker.state(),
        State::Closed,
        "the skipped breaker saw nothing"
    );
}

#[test]
fn bad_switch_values_are_errors_naming_the_key_and_the_value() {
    let err = Loader::from_str(Format::Toml, r#"resilience_enabled = "maybe""#)
        .load()
        .unwrap_err();
    assert_eq!(
        (err.key(), err.value()),
        (Some("resilience_enabled"), Some("maybe"))
    );
    assert_eq!(
        err.to_string(),
        "invalid configuration in TOML text: resilience_enabled = maybe: expected true or false"
    );

    let err = Loader::new()
        .env_prefix("APP")
        .env_from([("APP_RESILIENCE_ENABLED", "maybe")])
        .load()
        .unwrap_err();
    assert_eq!(err.env_var(), Some("APP_RESILIENCE_ENABLED"));
    assert_eq!(
        (err.key(), err.value()),
        (Some("resilience_enabled"), Some("maybe"))
    );

    let err = Loader::from_str(Format::Yaml, "policies: { x: { retry: { enabled: 1 } } }")
        .load()
        .unwrap_err();
    assert_eq!(
        (err.key(), err.value(), err.reason()),
        (
            Some("policies.x.retry.enabled"),
            Some("1"),
            "expected true or false"
        )
    );

    // A misspelt switch is pointed out.
    let config = Loader::new()
        .env_prefix("APP")
        .env_from([("APP_RESILIENCE_ENABLD", "false")])
        .load()
        .unwrap();
    assert_eq!(
        config.ignored_env_vars()[0].suggestion(),
        Some("APP_RESILIENCE_ENABLED")
    );
}
/// A configuration with every pipeline on `clock`, as a registry's source.
struct OnClock {
    config: PalisadeConfig,
    clock: ManualClock,
}

impl PipelineSource for OnClock {
    fn builder(&self, name: &str) -> Option<Result<ClassifiedBuilder, ConfigError>> {
        PipelineSource::builder(&self.config, name).map(|b| b.map(|b| b.clock(self.clock.clone())))
    }

    fn names(&self) -> Vec<String> {
        PipelineSource::names(&self.config)
    }

    fn resilience_enabled(&self) -> bool {
        PipelineSource::resilience_enabled(&self.config)
    }

    fn disabled(&self, name: &str) -> Disabled {
        self.config.disabled(name)
    }
}

const DB: &str = r#"
    [policies.db]
    circuit_breaker = { failure_threshold = 1, recovery_timeout = "60s" }
    [policies.cache]
    max_attempts = 2
"#;

fn on_clock(clock: &ManualClock, text: &str) -> OnClock {
    OnClock {
        config: Loader::from_str(Format::Toml, text).load().unwrap(),
        clock: clock.clone(),
    }
}

#[test]
fn a_reload_turns_resilience_off_and_on_for_pipelines_already_handed_out() {
    let clock = ManualClock::new();
    let registry = Registry::new(on_clock(&clock, DB));
    let db = registry.pipeline("db").unwrap().unclassified(); // handed out before the reloads
    registry.pipeline("cache").unwrap();
    let _ = db.call_blocking(|| Err::<(), _>("down"));
    let breaker = db.circuit_breaker().unwrap().clone();
    assert_eq!(breaker.state(), State::Open);
    assert!(matches!(
        db.call_blocking(|| Ok::<_, &str>(1)),
        Err(Error::CircuitOpen { .. })
    ));
    assert_eq!(
        registry.health(&HealthCheck::new()).overall,
        Health::Unhealthy
    );

    // Incident response: resilience off, by the variable.
    let off = Loader::from_str(Format::Toml, DB)
        .env_from([("PALISADE_RESILIENCE_ENABLED", "false")])
        .load()
        .unwrap();
    registry
        .reload(OnClock {
            config: off,
            clock: clock.clone(),
        })
        .unwrap();
    for p in [&db, &registry.pipeline("db").unwrap().unclassified()] {
        assert_eq!(p.disabled(), Disabled::ALL);
        assert_eq!(
            p.call_blocking(|| Ok::<_, &str>(1)),
            Ok(1),
            "passes through"
        );
        assert_eq!(
            p.call_blocking(|| Err::<(), _>("down")),
            Err(Error::Operation("down"))
        );
    }
    assert_eq!(breaker.state(), State::Open, "state kept while skipped");

    let health = registry.health(&HealthCheck::new());
    assert_eq!(
        health.overall,
        Health::Healthy,
        "a skipped breaker refuses nothing"
    );
    assert!(!health.resilience_enabled);
    assert_eq!(health.disabled, ["cache", "db"]);
    assert!(health.open_breakers.is_empty());
    assert_eq!(
        (health.breakers[0].state, health.breakers[0].skipped),
        (State::Open, true)
    );
    let status = registry.status();
    assert!(!status.resilience_enabled);
    let db_status = &status.policies[1];
    assert_eq!(db_status.name, "db");
    assert!(!db_status.resilience_enabled);
    assert_eq!(db_status.disabled, ["circuit_breaker"]);
    assert_eq!(status.policies[0].disabled, ["retry"]);

    // One policy off, then everything on again: the breaker is still open.
    registry
        .reload(on_clock(&clock, &format!("{DB}\nretry.enabled = false")))
        .unwrap();
    assert_eq!(
        registry.pipeline("cache").unwrap().disabled(),
        Disabled::RETRY
    );
    assert_eq!(db.disabled(), Disabled::NONE);
    let health = registry.health(&HealthCheck::new());
    assert!(health.resilience_enabled);
    assert_eq!(health.disabled, ["cache.retry"]);
    assert_eq!(health.overall, Health::Unhealthy);
    registry.reload(on_clock(&clock, DB)).unwrap();
    assert!(matches!(
        db.call_blocking(|| Ok::<_, &str>(1)),
        Err(Error::CircuitOpen { .. })
    ));
    clock.advance(secs(60));
    assert_eq!(db.call_blocking(|| Ok::<_, &str>(1)), Ok(1), "recovered");
    assert!(registry.health(&HealthCheck::new()).disabled.is_empty());
}

#[test]
fn pipelines_the_source_does_not_define_follow_the_global_switch() {
    let registry = Registry::new(on_clock(&ManualClock::new(), DB));
    registry.insert(
        "extra",
        Pipeline::builder().max_attempts(3).build().unwrap(),
    );
    let extra = registry.get("extra").unwrap();
    assert_eq!(extra.disabled(), Disabled::NONE);
    let off = Loader::from_str(Format::Toml, "resilience_enabled = false")
        .load()
        .unwrap();
    let report = registry.reload(off).unwrap();
    assert_eq!(report.kept, ["extra"]);
    assert_eq!(extra.disabled(), Disabled::ALL);
    registry.reload(Loader::new().load().unwrap()).unwrap();
    assert_eq!(extra.disabled(), Disabled::NONE);
}

#[cfg(feature = "serde")]
#[test]
fn health_and_status_json_say_resilience_is_off() {
    let text = format!("resilience_enabled = false\n{DB}");
    let registry = Registry::new(on_clock(&ManualClock::new(), &text));
    registry.create_all().unwrap();
    let health = registry.health(&HealthCheck::new()).to_json();
    assert!(health.contains(r#""resilience_enabled":false"#), "{health}");
    assert!(health.contains(r#""disabled":["cache","db"]"#), "{health}");
    assert!(health.contains(r#""skipped":true"#), "{health}");
    let status = registry.status().to_json();
    assert!(
        status.contains(r#""resilience_enabled": false"#),
        "{status}"
    );
    assert!(status.contains(r#""circuit_breaker""#), "{status}");
}

#[cfg(feature = "metrics")]
#[test]
fn the_gauge_follows_every_reload() {
    use common::metrics::{RESILIENCE, recorded_gauges, zero};
    use palisade::observe::MetricsListener;

    /// [`OnClock`] reporting to a metrics listener.
    struct Observed(OnClock, MetricsListener);
    impl PipelineSource for Observed {
        fn builder(&self, name: &str) -> Option<Result<ClassifiedBuilder, ConfigError>> {
            let listener = self.1.clone();
            self.0
                .builder(name)
                .map(|b| b.map(|b| b.on_event(listener)))
        }
        fn names(&self) -> Vec<String> {
            self.0.names()
        }
        fn resilience_enabled(&self) -> bool {
            self.0.resilience_enabled()
        }
        fn disabled(&self, name: &str) -> Disabled {
            self.0.disabled(name)
        }
    }

    let clock = ManualClock::new();
    let metrics = MetricsListener::new().prefix("palisade");
    let observed = |text: &str| Observed(on_clock(&clock, text), metrics.clone());
    let registry = Registry::new(observed(DB));
    let gauges = recorded_gauges(RESILIENCE, || registry.create_all().unwrap());
    assert_eq!(
        gauges.len(),
        12,
        "two pipelines, six series each: {gauges:?}"
    );
    assert!(zero(&gauges).is_empty(), "{gauges:?}");

    let text = format!("resilience_enabled = false\n{DB}");
    let gauges = recorded_gauges(RESILIENCE, || {
        registry.reload(observed(&text)).unwrap();
    });
    assert_eq!(zero(&gauges).len(), 12, "everything off: {gauges:?}");

    let text = format!("{DB}\nretry.enabled = false");
    let gauges = recorded_gauges(RESILIENCE, || {
        registry.reload(observed(&text)).unwrap();
    });
    assert_eq!(zero(&gauges), ["cache/retry"]);
}
