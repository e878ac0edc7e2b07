//! Turning resilience off at runtime, for incident response: a pipeline's switch, the
//! configuration keys and variables that set it, a registry reload turning it off and on
//! again for pipelines already handed out, and what health, status and metrics say. Every
//! clock is virtual.

mod common;

use std::cell::Cell;
use std::time::Duration;

use common::bump;
use common::time::secs;
use palisade::Error;
use palisade::circuit_breaker::State;
use palisade::clock::{Clock, ManualClock};
use palisade::pipeline::{Disabled, Pipeline};
use palisade::rate_limit::{Algorithm, Rate};

/// Every policy: one permit a second, one slot, a timeout per attempt and in total, three
/// attempts a second apart, a breaker that opens at the first failure for a minute.
fn everything(clock: &ManualClock) -> Pipeline {
    Pipeline::builder()
        .name("db")
        .clock(clock.clone())
        .rate_limit(Algorithm::Gcra {
            rate: Rate::per_second(1),
            burst: 1,
        })
        .bulkhead(|b| b.max_concurrent(1))
        .total_timeout(secs(30))
        .timeout(secs(5))
        .retry(|r| r.max_attempts(3).fixed(secs(1)))
        .circuit_breaker(|b| b.failure_threshold(1).recovery_timeout(secs(60)))
        .build()
        .unwrap()
}

#[test]
fn with_everything_off_the_operation_runs_once_and_its_error_is_the_callers() {
    let clock = ManualClock::new();
    let p = everything(&clock);
    p.set_disabled(Disabled::ALL);
    let attempts = Cell::new(0);
    for _ in 0..3 {
        // Neither the spent quota, nor retry, nor the breaker the first failure would open.
        let result = p.call_blocking(|| {
            bump(&attempts);
            Err::<(), _>("down")
        });
        assert_eq!(result, Err(Error::Operation("down")));
    }
    assert_eq!(attempts.get(), 3, "one attempt per call");
    assert_eq!(clock.now().as_nanos(), 0, "no backoff sleep");
    let breaker = p.circuit_breaker().unwrap();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.stats().total_calls(), 0, "nothing recorded");
    assert_eq!(
        p.rate_limiter().unwrap().info().remaining(),
        1,
        "no permit taken"
    );

    p.set_disabled(Disabled::NONE);
    assert!(p.call_blocking(|| Err::<(), _>("down")).is_err());
    assert_eq!(breaker.state(), State::Open, "every policy applies again");
}

#[tokio::test(flavor = "current_thread")]
async fn an_async_call_through_a_pipeline_that_is_off_runs_the_operation_once() {
    let clock = ManualClock::new();
    let p = everything(&clock);
    p.circuit_breaker().unwrap().force_open();
    p.clone().set_disabled(Disabled::ALL); // clones share the switch
    let attempts = Cell::new(0);
    let result = p
        .call(|| {
            bump(&attempts);
            async { Err::<(), _>("down") }
        })
        .await;
    assert_eq!(result, Err(Error::Operation("down")));
    assert_eq!(attempts.get(), 1);
    let ok = p.call(|| async { Ok::<_, &str>(7) }).await;
    assert_eq!(ok, Ok(7), "the forced-open breaker is skipped");
}

#[test]
fn each_policy_turned_off_is_skipped_and_keeps_its_state() {
    let clock = ManualClock::new();

    // Retry: one attempt while it is off.
    let p = Pipeline::builder()
        .clock(clock.clone())
        .retry(|r| r.max_attempts(3).fixed(secs(1)))
        .build()
        .unwrap();
    let attempts = Cell::new(0);
    let mut failing = || {
        bump(&attempts);
        Err::<(), _>("down")
    };
    p.set_disabled(Disabled::RETRY);
    assert_eq!(p.call_blocking(&mut failing), Err(Error::Operation("down")));
    assert_eq!(attempts.replace(0), 1);
    p.set_disabled(Disabled::NONE);
    assert!(p.call_blocking(&mut failing).is_err());
    assert_eq!(attempts.get(), 3);

    // The breaker: an open one neither refuses nor records while it is off, and is still
    // open when it is on again.
    let p = Pipeline::builder()
        .clock(clock.clone())
        .circuit_breaker(|b| b.failure_threshold(1).recovery_timeout(secs(60)))
        .build()
        .unwrap();
    let _ = p.call_blocking(|| Err::<(), _>("down"));
    let breaker = p.circuit_breaker().unwrap();
    assert_eq!(breaker.state(), State::Open);
    let before = breaker.stats();
    p.set_disabled(Disabled::CIRCUIT_BREAKER);
    assert_eq!(p.call_blocking(|| Ok::<_, &str>(1)), Ok(1));
    assert_eq!(
        p.call_blocking(|| Err::<(), _>("down")),
        Err(Error::Operation("down"))
    );
    let after = breaker.stats();
    assert_eq!(
        (after.state, after.total_calls(), after.not_permitted_calls),
        (
            State::Open,
            before.total_calls(),
            before.not_permitted_calls
        )
    );
    p.set_disabled(Disabled::NONE);
    assert!(matches!(
        p.call_blocking(|| Ok::<_, &str>(1)),
        Err(Error::CircuitOpen { .. })
    ));

    // The rate limiter: the quota spent before stays spent.
    let p = Pipeline::builder()
        .clock(clock.clone())
        .rate_limit(Algorithm::Gcra {
            rate: Rate::per_second(1),
            burst: 1,
        })
        .build()
        .unwrap();
    assert!(p.call_blocking(|| Ok::<_, ()>(())).is_ok());
    assert!(p.call_blocking(|| Ok::<_, ()>(())).is_err());
    p.set_disabled(Disabled::RATE_LIMIT | Disabled::BULKHEAD);
    assert!(p.call_blocking(|| Ok::<_, ()>(())).is_ok());
    p.set_disabled(Disabled::NONE);
    assert!(matches!(
        p.call_blocking(|| Ok::<_, ()>(())),
        Err(Error::RateLimited { .. })
    ));

    // The bulkhead: a full one admits while it is off.
    let p = Pipeline::builder()
        .bulkhead(|b| b.max_concurrent(1))
        .build()
        .unwrap();
    let _held = p.bulkhead().unwrap().try_acquire().unwrap();
    assert!(p.call_blocking(|| Ok::<_, ()>(())).is_err());
    p.set_disabled(Disabled::BULKHEAD);
    assert!(p.call_blocking(|| Ok::<_, ()>(())).is_ok());
    assert_eq!(p.bulkhead().unwrap().in_flight(), 1, "only the held slot");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn hedging_turned_off_starts_one_attempt() {
    let p = Pipeline::builder()
        .clock(Clock::tokio())
        .hedge(|h| h.delay(Duration::from_millis(10)))
        .build()
        .unwrap();
    let started = Cell::new(0);
    let slow = || {
        bump(&started);
        async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok::<_, &str>(())
        }
    };
    p.call_idempotent(slow).await.unwrap();
    assert_eq!(started.replace(0), 2, "hedged after 10 ms");
    p.set_disabled(Disabled::HEDGE);
    p.call_idempotent(slow).await.unwrap();
    assert_eq!(started.get(), 1);
}

#[cfg(feature = "config")]
mod config {
    use super::*;
    use palisade::config::{Format, Loader, Source};

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
}

/// The `palisade_resilience_enabled` series `record` leaves in a fresh recorder, as
/// (`name/policy`, value), sorted.
#[cfg(feature = "metrics")]
fn resilience_gauges(record: impl FnOnce()) -> Vec<(String, f64)> {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, record);
    let mut gauges: Vec<(String, f64)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "palisade_resilience_enabled")
        .filter_map(|(key, _, _, value)| {
            let labels: Vec<&str> = key.key().labels().map(|l| l.value()).collect();
            match value {
                DebugValue::Gauge(v) => Some((labels.join("/"), v.into_inner())),
                _ => None,
            }
        })
        .collect();
    gauges.sort_by(|a, b| a.0.cmp(&b.0));
    gauges
}

/// The series at 0 (`name/policy`).
#[cfg(feature = "metrics")]
fn off(gauges: &[(String, f64)]) -> Vec<&str> {
    gauges
        .iter()
        .filter(|(_, v)| *v == 0.0)
        .map(|(series, _)| series.as_str())
        .collect()
}

#[cfg(feature = "metrics")]
#[test]
fn the_gauge_says_which_policies_calls_skip() {
    use palisade::observe::MetricsListener;
    let p = Pipeline::builder()
        .name("db")
        .max_attempts(2)
        .on_event(MetricsListener::new().prefix("palisade"))
        .build()
        .unwrap();
    let gauges = resilience_gauges(|| p.set_disabled(Disabled::NONE));
    assert_eq!(gauges.len(), 6, "the pipeline and each policy: {gauges:?}");
    assert!(off(&gauges).is_empty());
    let gauges = resilience_gauges(|| p.set_disabled(Disabled::RETRY | Disabled::HEDGE));
    assert_eq!(off(&gauges), ["db/hedge", "db/retry"]);
    let gauges = resilience_gauges(|| p.set_disabled(Disabled::ALL));
    assert_eq!(off(&gauges).len(), 6, "{gauges:?}");
    assert_eq!(gauges[0], ("db/bulkhead".to_owned(), 0.0));
}
