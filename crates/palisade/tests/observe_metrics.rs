//! `MetricsListener` against a real recorder (`metrics-util`'s `DebuggingRecorder`, scoped to
//! the test's thread), with every policy on virtual time: the exact counter, gauge and
//! histogram values a known sequence of calls must produce.
#![cfg(feature = "metrics")]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::time::ms;
use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use palisade::Error;
use palisade::bulkhead::Bulkhead;
use palisade::circuit_breaker::{CircuitBreaker, State};
use palisade::clock::ManualClock;
use palisade::observe::{METRICS, MetricsListener};
use palisade::pipeline::Pipeline;
use palisade::rate_limit::{Algorithm, RateLimiter};
use palisade::retry::{Jitter, Retry};
use palisade::timeout::TimeoutScope;

/// A metric's identity: kind, name, sorted labels.
type Id = (MetricKind, String, Vec<(String, String)>);

/// What the recorder holds.
#[derive(Debug)]
struct Recorded(BTreeMap<Id, DebugValue>);

impl Recorded {
    /// Runs `f` with a fresh recorder as this thread's recorder and returns what it recorded.
    fn during(f: impl FnOnce()) -> Recorded {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, f);
        let mut all = BTreeMap::new();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let (kind, key) = key.into_parts();
            let (name, labels) = key.into_parts();
            let mut labels: Vec<(String, String)> = labels
                .into_iter()
                .map(|l| {
                    let (k, v) = l.into_parts();
                    (k.to_string(), v.to_string())
                })
                .collect();
            labels.sort();
            all.insert((kind, name.as_str().to_string(), labels), value);
        }
        Recorded(all)
    }

    fn get(&self, kind: MetricKind, name: &str, labels: &[(&str, &str)]) -> Option<&DebugValue> {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        labels.sort();
        self.0.get(&(kind, name.to_string(), labels))
    }

    #[track_caller]
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        match self.get(MetricKind::Counter, name, labels) {
            Some(DebugValue::Counter(n)) => *n,
            other => panic!("counter {name}{labels:?}: {other:?}\nall: {:#?}", self.0),
        }
    }

    #[track_caller]
    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.get(MetricKind::Gauge, name, labels) {
            Some(DebugValue::Gauge(v)) => v.into_inner(),
            other => panic!("gauge {name}{labels:?}: {other:?}\nall: {:#?}", self.0),
        }
    }

    #[track_caller]
    fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        match self.get(MetricKind::Histogram, name, labels) {
            Some(DebugValue::Histogram(v)) => v.iter().map(|x| x.into_inner()).collect(),
            other => panic!("histogram {name}{labels:?}: {other:?}\nall: {:#?}", self.0),
        }
    }

    fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.0.keys().map(|(_, n, _)| n.as_str()).collect();
        names.dedup();
        names
    }
}

const DB: &[(&str, &str)] = &[("name", "db")];

#[test]
fn a_breaker_trip_and_recovery_is_counted_exactly() {
    let clock = ManualClock::new();
    let metrics = MetricsListener::new();
    let breaker = CircuitBreaker::builder()
        .name("db")
        .clock(clock.clone())
        .failure_threshold(2)
        .recovery_timeout(Duration::from_secs(10))
        .half_open_requests(1)
        .on_event(metrics.clone())
        .build()
        .unwrap();

    let recorded = Recorded::during(|| {
        metrics.record_breaker_state(breaker.name(), breaker.state());
        assert!(breaker.call_blocking(|| Ok::<_, &str>(())).is_ok());
        assert!(breaker.call_blocking(|| Err::<(), _>("down")).is_err());
        assert!(breaker.call_blocking(|| Err::<(), _>("down")).is_err());
        assert_eq!(breaker.state(), State::Open);
        // Refused without running.
        assert!(breaker.call_blocking(|| Ok::<_, &str>(())).is_err());
        clock.advance(Duration::from_secs(10));
        // The trial call closes it.
        assert!(breaker.call_blocking(|| Ok::<_, &str>(())).is_ok());
        assert_eq!(breaker.state(), State::Closed);
    });

    assert_eq!(recorded.counter("circuit_breaker_successes_total", DB), 2);
    assert_eq!(recorded.counter("circuit_breaker_failures_total", DB), 2);
    assert_eq!(
        recorded.counter(
            "circuit_breaker_not_permitted_total",
            &[("name", "db"), ("state", "open")]
        ),
        1
    );
    let changes = |from, to| {
        recorded.counter(
            "circuit_breaker_state_changes_total",
            &[("name", "db"), ("from", from), ("to", to)],
        )
    };
    assert_eq!(changes("closed", "open"), 1);
    assert_eq!(changes("open", "half_open"), 1);
    assert_eq!(changes("half_open", "closed"), 1);
    for (state, value) in [
        ("closed", 1.0),
        ("open", 0.0),
        ("half_open", 0.0),
        ("forced_open", 0.0),
        ("disabled", 0.0),
        ("metrics_only", 0.0),
    ] {
        assert_eq!(
            recorded.gauge("circuit_breaker_state", &[("name", "db"), ("state", state)]),
            value,
            "state {state}"
        );
    }
}

#[test]
fn the_state_gauge_is_one_hot_while_open() {
    let clock = ManualClock::new();
    let metrics = MetricsListener::new();
    let breaker = CircuitBreaker::builder()
        .name("db")
        .clock(clock)
        .failure_threshold(1)
        .on_event(metrics)
        .build()
        .unwrap();
    let recorded = Recorded::during(|| {
        let _ = breaker.call_blocking(|| Err::<(), _>("down"));
    });
    let state = |s| recorded.gauge("circuit_breaker_state", &[("name", "db"), ("state", s)]);
    assert_eq!(
        (state("open"), state("closed"), state("half_open")),
        (1.0, 0.0, 0.0)
    );
}

#[test]
fn retry_outcomes_fall_into_the_four_kinds() {
    let clock = ManualClock::new();
    let retry = Retry::builder()
        .name("fetch")
        .clock(clock.clone())
        .max_attempts(3)
        .fixed(ms(100))
        .jitter(Jitter::None)
        .on_event(MetricsListener::new())
        .build()
        .unwrap()
        .retry_if(|e: &&str| *e != "permanent");

    let recorded = Recorded::during(|| {
        // First try.
        assert!(retry.call_blocking(|| Ok::<_, &str>(())).is_ok());
        // Second try: one retry, 100 ms of backoff.
        let mut calls = 0;
        let out = retry.call_blocking(|| {
            calls += 1;
            if calls < 2 { Err("flaky") } else { Ok(calls) }
        });
        assert_eq!(out, Ok(2));
        // Never: three attempts, two retries.
        assert!(retry.call_blocking(|| Err::<(), _>("down")).is_err());
        // Permanent at once.
        assert!(retry.call_blocking(|| Err::<(), _>("permanent")).is_err());
    });

    let f = &[("name", "fetch")];
    let kind = |k| recorded.counter("retry_calls_total", &[("name", "fetch"), ("kind", k)]);
    assert_eq!(kind("successful_without_retry"), 1);
    assert_eq!(kind("successful_with_retry"), 1);
    assert_eq!(kind("failed_with_retry"), 1);
    assert_eq!(kind("failed_without_retry"), 1);
    // Every attempt: 1 + 2 + 3 + 1; retries: the attempts after the first.
    assert_eq!(recorded.counter("retry_attempts_total", f), 7);
    assert_eq!(recorded.counter("retry_retries_total", f), 3);
    let reason = |r| recorded.counter("retry_gave_up_total", &[("name", "fetch"), ("reason", r)]);
    assert_eq!(reason("max_attempts"), 1);
    assert_eq!(reason("not_retryable"), 1);
    // Only the calls that retried are sampled; the two that ended at their first attempt are
    // the calls minus the samples.
    let attempts = recorded.histogram("retry_attempts", f);
    assert_eq!(attempts, [2.0, 3.0]);
    let calls: u64 = [
        "successful_without_retry",
        "successful_with_retry",
        "failed_without_retry",
        "failed_with_retry",
    ]
    .into_iter()
    .map(kind)
    .sum();
    assert_eq!(calls - attempts.len() as u64, 2);
    assert_eq!(
        recorded.histogram("retry_success_duration_seconds", f),
        [0.0, 0.1]
    );
}

#[test]
fn retry_measures_from_its_own_start_when_the_call_waited_before_it() {
    // One reading of the clock serves the call's start, the rate limiter and retry's start
    // while nothing has waited; a call that waits for its turn reads the clock again before
    // retry starts, so retry's duration leaves the wait out and the pipeline's includes it.
    let clock = ManualClock::new();
    let pipeline = Pipeline::builder()
        .name("paced")
        .clock(clock.clone())
        .rate_limit(Algorithm::Gcra {
            rate: palisade::rate_limit::Rate::new(1, Duration::from_secs(1)),
            burst: 1,
        })
        .rate_limit_max_wait(Duration::from_secs(5))
        .retry(|r| r.max_attempts(2))
        .on_event(MetricsListener::new())
        .build()
        .unwrap();
    let recorded = Recorded::during(|| {
        for _ in 0..2 {
            let out = pipeline.call_blocking(|| {
                clock.advance(ms(250));
                Ok::<_, &str>(())
            });
            assert_eq!(out, Ok(()));
        }
    });
    let paced = &[("name", "paced")];
    // The second call waited 750 ms for its turn (the first took 250 ms of its second).
    assert_eq!(
        recorded.histogram("pipeline_call_duration_seconds", paced),
        [0.25, 1.0]
    );
    assert_eq!(
        recorded.histogram("retry_success_duration_seconds", paced),
        [0.25, 0.25]
    );
}

#[test]
fn rate_limit_decisions_are_counted() {
    let clock = ManualClock::new();
    let limiter = RateLimiter::builder(Algorithm::FixedWindow {
        max_requests: 2,
        window: Duration::from_secs(1),
    })
    .name("api")
    .clock(clock.clone())
    .on_event(MetricsListener::new())
    .build()
    .unwrap();

    let recorded = Recorded::during(|| {
        assert!(limiter.try_acquire().is_ok());
        assert!(limiter.try_acquire().is_ok());
        assert!(limiter.try_acquire().is_err());
        clock.advance(Duration::from_secs(1));
        assert!(limiter.try_acquire().is_ok());
    });

    let api = &[("name", "api")];
    assert_eq!(recorded.counter("rate_limit_permitted_total", api), 3);
    assert_eq!(recorded.counter("rate_limit_rejected_total", api), 1);
}

#[test]
fn bulkhead_slots_are_counted_and_the_active_gauge_follows_them() {
    let bulkhead = Bulkhead::builder()
        .name("pool")
        .max_concurrent(1)
        .on_event(MetricsListener::new())
        .build()
        .unwrap();
    let pool = &[("name", "pool")];

    let held = Recorded::during(|| {
        let permit = bulkhead.try_acquire().unwrap();
        assert!(bulkhead.try_acquire().is_err());
        std::mem::forget(permit); // still held when the snapshot is taken
    });
    assert_eq!(held.counter("bulkhead_permitted_total", pool), 1);
    assert_eq!(
        held.counter(
            "bulkhead_rejected_total",
            &[("name", "pool"), ("reason", "full")]
        ),
        1
    );
    assert_eq!(held.gauge("bulkhead_active_calls", pool), 1.0);
    // Admitted at once: no wait sample (only calls that queued are sampled).
    assert_eq!(
        held.get(
            MetricKind::Histogram,
            "bulkhead_wait_duration_seconds",
            pool
        ),
        None
    );

    let released = Recorded::during(|| {
        let bulkhead = Bulkhead::builder()
            .name("pool")
            .max_concurrent(1)
            .on_event(MetricsListener::new())
            .build()
            .unwrap();
        drop(bulkhead.try_acquire().unwrap());
    });
    assert_eq!(released.gauge("bulkhead_active_calls", pool), 0.0);
}

#[test]
fn a_prefixed_pipeline_reports_every_policy_under_the_prefix() {
    let clock = ManualClock::new();
    let pipeline = Pipeline::builder()
        .name("ledger")
        .clock(clock.clone())
        .timeout(Duration::from_secs(1))
        .retry(|r| r.max_attempts(2).fixed(ms(10)).jitter(Jitter::None))
        .circuit_breaker(|b| b.failure_threshold(5))
        .on_event(MetricsListener::new().prefix("myapp"))
        .idempotent(true) // the late first attempt is retried
        .build()
        .unwrap();

    let recorded = Recorded::during(|| {
        let mut calls = 0;
        let out = pipeline.call_blocking(|| {
            calls += 1;
            if calls == 1 {
                clock.advance(Duration::from_millis(1_500)); // late: a timeout, retried
            }
            Ok::<_, &str>(calls)
        });
        assert_eq!(out, Ok(2));
    });

    let ledger = &[("name", "ledger")];
    // The per-attempt limit, told apart from a total one by its scope.
    assert_eq!(
        recorded.counter(
            "myapp_timeout_finished_late_total",
            &[("name", "ledger"), ("scope", "attempt")]
        ),
        1
    );
    assert_eq!(
        recorded.histogram("myapp_timeout_late_call_duration_seconds", ledger),
        [1.5]
    );
    assert_eq!(
        recorded.counter("myapp_circuit_breaker_failures_total", ledger),
        1
    );
    assert_eq!(
        recorded.counter("myapp_circuit_breaker_successes_total", ledger),
        1
    );
    assert_eq!(recorded.counter("myapp_retry_attempts_total", ledger), 2);
    assert_eq!(recorded.counter("myapp_retry_retries_total", ledger), 1);
    assert_eq!(
        recorded.counter(
            "myapp_retry_calls_total",
            &[("name", "ledger"), ("kind", "successful_with_retry")]
        ),
        1
    );
    assert!(
        recorded.names().iter().all(|n| n.starts_with("myapp_")),
        "{:?}",
        recorded.names()
    );
}

#[test]
fn timeout_counters_say_which_limit_fired() {
    // Attempts of 1.5 s against a 1 s per-attempt limit, 2 s apart, within a 5 s total:
    // [0, 1.5] and [3.5, 5] finish late; at 5 s no sleep fits, and the total limit ends the call.
    let clock = ManualClock::new();
    let pipeline = Pipeline::builder()
        .name("ledger")
        .clock(clock.clone())
        .timeout(Duration::from_secs(1))
        .total_timeout(Duration::from_secs(5))
        .retry(|r| {
            r.max_attempts(10)
                .fixed(Duration::from_secs(2))
                .jitter(Jitter::None)
        })
        .idempotent(true)
        .on_event(MetricsListener::new())
        .build()
        .unwrap();

    let recorded = Recorded::during(|| {
        let out = pipeline.call_blocking(|| {
            clock.advance(ms(1_500));
            Ok::<_, &str>(())
        });
        assert!(
            matches!(
                out,
                Err(Error::Timeout {
                    scope: TimeoutScope::Total,
                    ..
                })
            ),
            "{out:?}"
        );
    });

    let scoped = |scope| [("name", "ledger"), ("scope", scope)];
    assert_eq!(
        recorded.counter("timeout_finished_late_total", &scoped("attempt")),
        2
    );
    assert_eq!(
        recorded.counter("timeout_timed_out_total", &scoped("total")),
        1
    );
    for scope in ["call", "attempt"] {
        assert_eq!(
            recorded.get(
                MetricKind::Counter,
                "timeout_timed_out_total",
                &scoped(scope)
            ),
            None,
            "{scope}"
        );
    }
}

#[test]
fn an_attempt_an_open_breaker_rejects_is_counted_as_rejected_not_as_failed() {
    let pipeline = Pipeline::builder()
        .name("orders")
        .retry(|r| r.max_attempts(3).fixed(ms(10)).jitter(Jitter::None))
        .circuit_breaker(|b| b)
        .on_event(MetricsListener::new())
        .build()
        .unwrap();
    let breaker = pipeline.circuit_breaker().unwrap();
    breaker.force_open();

    let recorded = Recorded::during(|| {
        let out = pipeline.call_blocking(|| Ok::<_, &str>(()));
        assert!(
            matches!(out, Err(palisade::Error::CircuitOpen { .. })),
            "{out:?}"
        );
    });

    let orders = &[("name", "orders")];
    let kind = |k| {
        recorded.get(
            MetricKind::Counter,
            "retry_calls_total",
            &[("name", "orders"), ("kind", k)],
        )
    };
    assert_eq!(kind("rejected"), Some(&DebugValue::Counter(1)));
    assert_eq!(kind("failed_without_retry"), None);
    let reason = |r| {
        recorded.get(
            MetricKind::Counter,
            "retry_gave_up_total",
            &[("name", "orders"), ("reason", r)],
        )
    };
    assert_eq!(reason("rejected"), Some(&DebugValue::Counter(1)));
    assert_eq!(reason("not_retryable"), None);
    assert_eq!(recorded.counter("retry_attempts_total", orders), 1);
    assert_eq!(
        recorded.counter(
            "circuit_breaker_not_permitted_total",
            &[("name", "orders"), ("state", "forced_open")]
        ),
        1
    );
    assert_eq!(
        recorded.counter(
            "pipeline_calls_total",
            &[("name", "orders"), ("outcome", "rejected")]
        ),
        1
    );
}

#[test]
fn a_listener_feeds_each_recorder_it_meets_not_the_first_one() {
    let breaker = CircuitBreaker::builder()
        .name("db")
        .on_event(MetricsListener::new())
        .build()
        .unwrap();
    let db = &[("name", "db")];
    // Before any recorder: the no-op one.
    breaker.call_blocking(|| Ok::<_, &str>(())).unwrap();
    // Recorders made one after the other in the same stack slot: each gets its own calls.
    for calls in 1..=3 {
        let recorded = Recorded::during(|| {
            for _ in 0..calls {
                breaker.call_blocking(|| Ok::<_, &str>(())).unwrap();
            }
        });
        assert_eq!(
            recorded.counter("circuit_breaker_successes_total", db),
            calls
        );
    }
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_hedge_that_wins_is_counted_with_its_trigger() {
    use palisade::hedge::Hedge;
    use std::sync::atomic::{AtomicU32, Ordering};

    let hedge = Hedge::builder()
        .name("replicas")
        .delay(ms(50))
        .max_hedged_attempts(1)
        .on_event(MetricsListener::new())
        .build()
        .unwrap();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    {
        // The runtime is current-thread: every poll happens on this thread.
        let _scope = metrics::set_default_local_recorder(&recorder);
        let started = AtomicU32::new(0);
        let out = hedge
            .call(|| {
                let n = started.fetch_add(1, Ordering::Relaxed) + 1;
                async move {
                    let latency = if n == 1 { ms(1_000) } else { ms(10) };
                    tokio::time::sleep(latency).await;
                    Ok::<_, ()>(n)
                }
            })
            .await;
        assert_eq!(out, Ok(2));
    }
    let values: BTreeMap<String, DebugValue> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| (format!("{:?}", key.key()), value))
        .collect();
    let find = |name: &str, label: &str| {
        values
            .iter()
            .find(|(k, _)| k.contains(name) && k.contains(label))
            .map(|(_, v)| v)
    };
    assert_eq!(
        find("hedge_started_total", "\"delay\""),
        Some(&DebugValue::Counter(1))
    );
    assert_eq!(
        find("hedge_calls_total", "\"won_by_hedge\""),
        Some(&DebugValue::Counter(1))
    );
}

#[test]
fn an_unobserved_policy_records_nothing() {
    let breaker = CircuitBreaker::builder().name("quiet").build().unwrap();
    let recorded = Recorded::during(|| {
        for _ in 0..10 {
            let _ = breaker.call_blocking(|| Err::<(), _>("down"));
        }
    });
    assert!(recorded.0.is_empty(), "{:?}", recorded.0);
}

#[test]
fn every_recorded_name_is_listed_in_metrics() {
    let clock = ManualClock::new();
    let pipeline = Pipeline::builder()
        .name("all")
        .clock(clock.clone())
        .rate_limit(Algorithm::FixedWindow {
            max_requests: 1,
            window: Duration::from_secs(1),
        })
        .bulkhead(|b| b.max_concurrent(1))
        .timeout(Duration::from_secs(1))
        .retry(|r| r.max_attempts(3).fixed(ms(10)).jitter(Jitter::None))
        .circuit_breaker(|b| b.failure_threshold(1))
        .on_event(MetricsListener::new())
        .build()
        .unwrap();
    let recorded = Recorded::during(|| {
        let _ = pipeline.call_blocking(|| Err::<(), _>("down"));
        let _ = pipeline.call_blocking(|| Ok::<_, ()>(()));
    });
    let known: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
    assert!(recorded.names().len() >= 8, "{:?}", recorded.names());
    for name in recorded.names() {
        assert!(known.contains(&name), "{name} is not in METRICS");
    }
}
