//! Turning resilience off at runtime, for incident response: a pipeline's switch — every
//! policy or some of them skipped, state kept, clones following — what the registry's
//! health and status and the gauge say. Every clock is virtual. (From configuration, and
//! across registry reloads: `resilience_switch_config.rs`.)

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

#[test]
fn a_shared_breaker_counts_as_skipped_only_when_every_pipeline_skips_it() {
    use palisade::ConfigError;
    use palisade::circuit_breaker::CircuitBreaker;
    use palisade::health::{Health, HealthCheck};
    use palisade::pipeline::ClassifiedBuilder;
    use palisade::registry::{PipelineSource, Registry};

    /// Pipelines `a` and `b` over one breaker; `a` skips what `off` says.
    struct Shared {
        breaker: CircuitBreaker,
        off: Disabled,
    }
    impl PipelineSource for Shared {
        fn builder(&self, name: &str) -> Option<Result<ClassifiedBuilder, ConfigError>> {
            let builder = Pipeline::builder().shared_circuit_breaker(self.breaker.clone());
            Some(Ok(builder.name(name).classified()))
        }
        fn disabled(&self, name: &str) -> Disabled {
            if name == "a" {
                self.off
            } else {
                Disabled::NONE
            }
        }
    }

    let breaker = CircuitBreaker::builder().name("db").build().unwrap();
    breaker.force_open();
    let source = |off| Shared {
        breaker: breaker.clone(),
        off,
    };
    let registry = Registry::new(source(Disabled::CIRCUIT_BREAKER));
    let a = registry.pipeline("a").unwrap().unclassified();
    let b = registry.pipeline("b").unwrap().unclassified();
    assert_eq!(a.call_blocking(|| Ok::<_, ()>(1)), Ok(1));
    assert!(
        b.call_blocking(|| Ok::<_, ()>(1)).is_err(),
        "b still uses it"
    );
    let health = registry.health(&HealthCheck::new());
    assert_eq!(health.overall, Health::Unhealthy);
    assert_eq!(
        (health.breakers.len(), health.breakers[0].skipped),
        (1, false)
    );
    assert_eq!(health.disabled, ["a.circuit_breaker"]);
    assert!(health.resilience_enabled);

    registry.reload(source(Disabled::ALL)).unwrap();
    assert_eq!(registry.health(&HealthCheck::new()).disabled, ["a"]);
    assert_eq!(registry.status().policies[0].disabled, ["circuit_breaker"]);
}

#[cfg(feature = "metrics")]
#[test]
fn the_gauge_says_which_policies_calls_skip() {
    use common::metrics::{RESILIENCE, recorded_gauges, zero};
    use palisade::observe::MetricsListener;
    let p = Pipeline::builder()
        .name("db")
        .max_attempts(2)
        .on_event(MetricsListener::new().prefix("palisade"))
        .build()
        .unwrap();
    let gauges = recorded_gauges(RESILIENCE, || p.set_disabled(Disabled::NONE));
    assert_eq!(gauges.len(), 6, "the pipeline and each policy: {gauges:?}");
    assert!(zero(&gauges).is_empty());
    let gauges = recorded_gauges(RESILIENCE, || {
        p.set_disabled(Disabled::RETRY | Disabled::HEDGE)
    });
    assert_eq!(zero(&gauges), ["db/hedge", "db/retry"]);
    let gauges = recorded_gauges(RESILIENCE, || p.set_disabled(Disabled::ALL));
    assert_eq!(zero(&gauges).len(), 6, "{gauges:?}");
    assert_eq!(gauges[0], ("db/bulkhead".to_owned(), 0.0));
}
