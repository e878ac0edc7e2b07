//! Behaviour of the Retry policy, on virtual time only.
//!
//! Every timing test runs on a `ManualClock` (retry advances it instead of sleeping) or on
//! tokio's paused clock; nothing here sleeps for real.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::time::{ms, now};
use palisade::clock::{Clock, ManualClock};
use palisade::event::Event;
use palisade::retry::{
    Cause, Jitter, Outcome, Retry, RetryBuilder, RetryConfig, RetryEvent, RetryReport, StopReason,
    Strategy,
};
use palisade::{ConfigError, Error};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// An owned copy of a `RetryEvent`, with the clock time at which it was published.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Scheduled {
        attempt: u32,
        delay: Duration,
        cause: String,
    },
    Succeeded {
        attempts: u32,
        total_duration: Duration,
    },
    GaveUp {
        attempts: u32,
        reason: StopReason,
        cause: String,
    },
}

/// The policy name, policy kind and `RetryEvent::name()` an event carried.
type Names = (String, &'static str, String);

/// Records every event of a policy, the policy name/kind each carried and, when a manual clock
/// is attached, the virtual time at which each was published.
#[derive(Clone, Default)]
struct Log {
    events: Arc<Mutex<Vec<Seen>>>,
    names: Arc<Mutex<Vec<Names>>>,
    times: Arc<Mutex<Vec<Duration>>>,
    clock: Option<ManualClock>,
}

impl Log {
    fn new() -> Self {
        Self::default()
    }

    fn with_clock(clock: &ManualClock) -> Self {
        Log {
            clock: Some(clock.clone()),
            ..Self::default()
        }
    }

    fn listener(&self) -> impl Fn(&Event<'_>) + Send + Sync + 'static {
        let log = self.clone();
        move |event: &Event<'_>| {
            let Event::Retry(retry_event) = event else {
                return;
            };
            let seen = match *retry_event {
                RetryEvent::RetryScheduled {
                    attempt,
                    delay,
                    cause,
                    ..
                } => Seen::Scheduled {
                    attempt,
                    delay,
                    cause: format!("{cause:?}"),
                },
                RetryEvent::Succeeded {
                    attempts,
                    total_duration,
                    ..
                } => Seen::Succeeded {
                    attempts,
                    total_duration,
                },
                RetryEvent::GaveUp {
                    attempts,
                    reason,
                    cause,
                    ..
                } => Seen::GaveUp {
                    attempts,
                    reason,
                    cause: format!("{cause:?}"),
                },
                _ => return,
            };
            log.events.lock().unwrap().push(seen);
            log.names.lock().unwrap().push((
                event.policy_name().to_string(),
                event.policy_kind(),
                retry_event.name().to_string(),
            ));
            if let Some(clock) = &log.clock {
                log.times
                    .lock()
                    .unwrap()
                    .push(Duration::from_nanos(clock.now().as_nanos()));
            }
        }
    }

    fn events(&self) -> Vec<Seen> {
        self.events.lock().unwrap().clone()
    }

    fn delays(&self) -> Vec<Duration> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Seen::Scheduled { delay, .. } => Some(delay),
                _ => None,
            })
            .collect()
    }

    fn names(&self) -> Vec<Names> {
        self.names.lock().unwrap().clone()
    }

    fn times(&self) -> Vec<Duration> {
        self.times.lock().unwrap().clone()
    }
}

/// A policy on `clock`, without jitter, recording into `log`.
fn exact(clock: &ManualClock, log: &Log) -> RetryBuilder {
    Retry::builder()
        .clock(clock.clone())
        .jitter(Jitter::None)
        .on_event(log.listener())
}

/// Runs an always-failing operation through `retry` and returns the report.
fn always_failing(retry: &Retry) -> RetryReport<(), String> {
    let mut calls = 0u32;
    retry.call_blocking_with_report(|| {
        calls += 1;
        Err::<(), _>(format!("failure {calls}"))
    })
}

/// Runs an always-failing operation on a fresh manual clock and checks that the delays of the
/// `RetryScheduled` events, the clock's final time and the report's `total_delay` all equal
/// `expected`.
fn assert_exact_delays(builder: impl FnOnce(RetryBuilder) -> RetryBuilder, expected: &[u64]) {
    let clock = ManualClock::new();
    let log = Log::with_clock(&clock);
    let retry = builder(exact(&clock, &log)).build().unwrap();
    let expected: Vec<Duration> = expected.iter().map(|&n| Duration::from_nanos(n)).collect();
    let total: Duration = expected.iter().sum();

    let report = always_failing(&retry);

    assert_eq!(log.delays(), expected, "RetryScheduled delays");
    assert_eq!(now(&clock), total, "ManualClock final time");
    assert_eq!(report.total_delay, total, "RetryReport.total_delay");
    assert_eq!(report.elapsed, total, "RetryReport.elapsed");
    assert_eq!(report.attempts, expected.len() as u32 + 1);
    // The un-jittered schedule the config documents is what was slept.
    let scheduled: Vec<Duration> = (1..=expected.len() as u32)
        .map(|n| retry.config().scheduled_delay(n))
        .collect();
    assert_eq!(scheduled, expected, "RetryConfig::scheduled_delay");
    // Each retry was published at the time the previous sleeps add up to.
    let mut at = Duration::ZERO;
    let times = log.times();
    for (i, delay) in expected.iter().enumerate() {
        assert_eq!(times[i], at, "time of RetryScheduled #{}", i + 1);
        at += *delay;
    }
}

const MS: u64 = 1_000_000;

// ---------------------------------------------------------------------------------------------
// 1. Exact delay sequences
// ---------------------------------------------------------------------------------------------

#[test]
fn fixed_delays_repeat_base_delay_every_time() {
    assert_exact_delays(
        |b| b.fixed(ms(100)).max_delay(ms(100)).max_attempts(5),
        &[100 * MS, 100 * MS, 100 * MS, 100 * MS],
    );
}

#[test]
fn fixed_delays_ignore_a_larger_max_delay() {
    assert_exact_delays(
        |b| b.fixed(ms(250)).max_delay(ms(10_000)).max_attempts(4),
        &[250 * MS, 250 * MS, 250 * MS],
    );
}

#[test]
fn linear_delays_grow_by_base_until_capped_by_max_delay() {
    assert_exact_delays(
        |b| b.linear(ms(100)).max_delay(ms(350)).max_attempts(7),
        &[100 * MS, 200 * MS, 300 * MS, 350 * MS, 350 * MS, 350 * MS],
    );
}

#[test]
fn exponential_delays_double_until_capped_by_max_delay() {
    assert_exact_delays(
        |b| {
            b.exponential(ms(100))
                .exponential_base(2.0)
                .max_delay(ms(1_000))
                .max_attempts(7)
        },
        &[
            100 * MS,
            200 * MS,
            400 * MS,
            800 * MS,
            1_000 * MS,
            1_000 * MS,
        ],
    );
}

#[test]
fn exponential_delays_grow_by_one_and_a_half_until_capped_by_max_delay() {
    assert_exact_delays(
        |b| {
            b.exponential(ms(100))
                .exponential_base(1.5)
                .max_delay(ms(1_000))
                .max_attempts(9)
        },
        &[
            100_000_000,
            150_000_000,
            225_000_000,
            337_500_000,
            506_250_000,
            759_375_000,
            1_000_000_000,
            1_000_000_000,
        ],
    );
}

#[test]
fn exponential_with_base_one_is_a_fixed_delay() {
    assert_exact_delays(
        |b| {
            b.exponential(ms(40))
                .exponential_base(1.0)
                .max_delay(ms(1_000))
                .max_attempts(4)
        },
        &[40 * MS, 40 * MS, 40 * MS],
    );
}

#[test]
fn the_default_policy_schedules_one_two_four_seconds_before_jitter() {
    let config = RetryConfig::default();
    assert_eq!(config.max_attempts, 3);
    assert_eq!(config.jitter, Jitter::Full);
    assert_eq!(config.strategy, Strategy::Exponential);
    assert_eq!(config.max_elapsed, None);
    let delays: Vec<u64> = (1..=7)
        .map(|n| config.scheduled_delay(n).as_secs())
        .collect();
    assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
    assert_eq!(config.scheduled_delay(0), config.scheduled_delay(1));
}

// ---------------------------------------------------------------------------------------------
// 2. Stop conditions
// ---------------------------------------------------------------------------------------------

#[test]
fn max_attempts_bounds_the_attempts_and_keeps_the_last_error() {
    let clock = ManualClock::new();
    let log = Log::new();
    let retry = exact(&clock, &log)
        .name("sync")
        .fixed(ms(10))
        .max_attempts(4)
        .build()
        .unwrap();
    let mut calls = 0u32;
    let err = retry
        .call_blocking(|| {
            calls += 1;
            Err::<(), _>(format!("failure {calls}"))
        })
        .unwrap_err();

    assert_eq!(calls, 4);
    match &err {
        Error::RetriesExhausted {
            name,
            attempts,
            reason,
            last_error,
            ..
        } => {
            assert_eq!(&**name, "sync");
            assert_eq!(*attempts, 4);
            assert_eq!(*reason, StopReason::MaxAttempts { max_attempts: 4 });
            assert_eq!(**last_error, Error::Operation("failure 4".to_string()));
        }
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
    assert_eq!(err.operation_error().map(String::as_str), Some("failure 4"));
    assert_eq!(
        err.to_string(),
        "retry 'sync' gave up after 4 attempts (max_attempts = 4 reached)"
    );
    assert!(!err.is_transient());
    assert_eq!(now(&clock), ms(30));
    assert_eq!(
        err.into_operation_error().as_deref(),
        Some("failure 4"),
        "into_operation_error unwraps the last attempt's error"
    );
}

#[test]
fn max_attempts_one_never_retries_and_never_sleeps() {
    let clock = ManualClock::new();
    let log = Log::new();
    let retry = exact(&clock, &log).max_attempts(1).build().unwrap();
    let report = always_failing(&retry);
    assert_eq!(report.attempts, 1);
    assert_eq!(report.total_delay, Duration::ZERO);
    assert_eq!(now(&clock), Duration::ZERO);
    assert!(matches!(
        report.result,
        Err(Error::RetriesExhausted {
            attempts: 1,
            reason: StopReason::MaxAttempts { max_attempts: 1 },
            ..
        })
    ));
    assert_eq!(
        log.events(),
        [Seen::GaveUp {
            attempts: 1,
            reason: StopReason::MaxAttempts { max_attempts: 1 },
            cause: "Error(\"failure 1\")".into(),
        }]
    );
}

#[test]
fn max_elapsed_gives_up_before_a_sleep_that_would_reach_the_budget() {
    let clock = ManualClock::new();
    let log = Log::with_clock(&clock);
    let retry = exact(&clock, &log)
        .fixed(ms(300))
        .max_attempts(100)
        .max_elapsed(ms(1_000))
        .build()
        .unwrap();

    let report = always_failing(&retry);

    // Attempts start at 0, 300, 600, 900 ms; 900 + 300 >= 1000, so retry stops there.
    assert_eq!(report.attempts, 4);
    assert_eq!(log.delays(), [ms(300); 3]);
    assert_eq!(report.total_delay, ms(900));
    assert_eq!(now(&clock), ms(900));
    let expected_reason = StopReason::MaxElapsed {
        budget: ms(1_000),
        elapsed: ms(900),
        next_delay: ms(300),
    };
    match &report.result {
        Err(Error::RetriesExhausted {
            attempts, reason, ..
        }) => {
            assert_eq!(*attempts, 4);
            assert_eq!(*reason, expected_reason);
        }
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
    assert_eq!(
        report.last_error().and_then(|e| e.operation_error()),
        Some(&"failure 4".to_string())
    );
    assert_eq!(
        log.events().last(),
        Some(&Seen::GaveUp {
            attempts: 4,
            reason: expected_reason,
            cause: "Error(\"failure 4\")".into(),
        })
    );
    assert_eq!(
        expected_reason.to_string(),
        "max_elapsed = 1s would be exceeded: 900ms used, next delay 300ms"
    );
}

#[test]
fn max_elapsed_gives_up_when_the_next_attempt_would_start_exactly_at_the_budget() {
    let clock = ManualClock::new();
    let log = Log::new();
    let retry = exact(&clock, &log)
        .fixed(ms(250))
        .max_attempts(100)
        .max_elapsed(ms(1_000))
        .build()
        .unwrap();

    let report = always_failing(&retry);

    // 750 + 250 == 1000: the next attempt would start at the budget, not strictly before it.
    assert_eq!(report.attempts, 4);
    assert_eq!(now(&clock), ms(750));
    assert!(matches!(
        report.result,
        Err(Error::RetriesExhausted {
            attempts: 4,
            reason: StopReason::MaxElapsed { budget, elapsed, next_delay },
            ..
        }) if budget == ms(1_000) && elapsed == ms(750) && next_delay == ms(250)
    ));
}

#[test]
fn max_elapsed_counts_slow_attempts_and_no_sleep_reaches_the_budget() {
    let clock = ManualClock::new();
    let log = Log::with_clock(&clock);
    let budget = ms(1_000);
    let retry = exact(&clock, &log)
        .fixed(ms(100))
        .max_attempts(100)
        .max_elapsed(budget)
        .build()
        .unwrap();

    let mut calls = 0u32;
    let slow = clock.clone();
    let report = retry.call_blocking_with_report(|| {
        calls += 1;
        slow.advance(ms(200)); // each attempt takes 200 ms of virtual time
        Err::<(), _>(format!("failure {calls}"))
    });

    // Attempts run 0-200, 300-500, 600-800, 900-1100 ms; after the 4th, 1100 + 100 >= 1000.
    assert_eq!(calls, 4);
    assert_eq!(report.attempts, 4);
    assert_eq!(log.delays(), [ms(100); 3]);
    assert_eq!(report.total_delay, ms(300));
    assert_eq!(
        now(&clock),
        ms(1_100),
        "only the attempt itself ran past the budget"
    );
    assert_eq!(report.elapsed, ms(1_100));
    assert!(matches!(
        report.result,
        Err(Error::RetriesExhausted {
            reason: StopReason::MaxElapsed { budget: b, elapsed, next_delay },
            ..
        }) if b == budget && elapsed == ms(1_100) && next_delay == ms(100)
    ));
    // Every sleep ended strictly before the budget.
    let times = log.times();
    let delays = log.delays();
    assert_eq!(times.len(), 4);
    for (at, delay) in times.iter().zip(&delays) {
        assert!(
            *at + *delay < budget,
            "sleep {at:?} + {delay:?} reaches the budget"
        );
    }
}

#[test]
fn max_attempts_stops_first_when_it_comes_before_the_budget() {
    let clock = ManualClock::new();
    let log = Log::new();
    let retry = exact(&clock, &log)
        .fixed(ms(100))
        .max_attempts(3)
        .max_elapsed(Duration::from_secs(60))
        .build()
        .unwrap();
    let report = always_failing(&retry);
    assert_eq!(report.attempts, 3);
    assert_eq!(now(&clock), ms(200));
    assert!(matches!(
        report.result,
        Err(Error::RetriesExhausted {
            attempts: 3,
            reason: StopReason::MaxAttempts { max_attempts: 3 },
            ..
        })
    ));
}

#[test]
fn max_elapsed_stops_first_when_it_comes_before_max_attempts() {
    let clock = ManualClock::new();
    let log = Log::new();
    let retry = exact(&clock, &log)
        .exponential(ms(100))
        .max_delay(Duration::from_secs(10))
        .max_attempts(10)
        .max_elapsed(ms(500))
        .build()
        .unwrap();
    let report = always_failing(&retry);
    // Sleeps 100 (t=100), 200 (t=300); then 300 + 400 >= 500.
    assert_eq!(report.attempts, 3);
    assert_eq!(now(&clock), ms(300));
    assert!(matches!(
        report.result,
        Err(Error::RetriesExhausted {
            attempts: 3,
            reason: StopReason::MaxElapsed { budget, elapsed, next_delay },
            ..
        }) if budget == ms(500) && elapsed == ms(300) && next_delay == ms(400)
    ));
}

#[test]
fn max_elapsed_is_measured_from_the_call_start_not_the_clock_origin() {
    let clock = ManualClock::new();
    clock.advance(Duration::from_secs(3_600));
    let log = Log::new();
    let retry = exact(&clock, &log)
        .fixed(ms(300))
        .max_attempts(100)
        .max_elapsed(ms(1_000))
        .build()
        .unwrap();
    let report = always_failing(&retry);
    assert_eq!(report.attempts, 4);
    assert_eq!(report.elapsed, ms(900));
    assert_eq!(now(&clock), Duration::from_secs(3_600) + ms(900));
}

// ---------------------------------------------------------------------------------------------
// 3. Predicates
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
struct Failure {
    transient: bool,
    n: u32,
}

#[test]
fn a_permanent_error_is_returned_as_is_after_one_attempt() {
    let clock = ManualClock::new();
    let log = Log::new();
    let retry = exact(&clock, &log)
        .max_attempts(5)
        .build()
        .unwrap()
        .retry_if(|e: &Failure| e.transient);
    let mut calls = 0u32;
    let result = retry.call_blocking(|| {
        calls += 1;
        Err::<(), _>(Failure {
            transient: false,
            n: calls,
        })
    });
    assert_eq!(calls, 1);
    assert_eq!(
        result,
        Err(Error::Operation(Failure {
            transient: false,
            n: 1
        }))
    );
    assert_eq!(now(&clock), Duration::ZERO);
    assert_eq!(
        log.events(),
        [Seen::GaveUp {
            attempts: 1,
            reason: StopReason::NotRetryable,
            cause: "Error(Failure { transient: false, n: 1 })".into(),
        }]
    );
}

#[test]
fn transient_errors_are_retried_until_success() {
    let clock = ManualClock::new();
    let log = Log::new();
    let retry = exact(&clock, &log)
        .fixed(ms(10))
        .max_attempts(5)
        .build()
        .unwrap()
        .retry_if(|e: &Failure| e.transient);
    let mut calls = 0u32;
    let result = retry.call_blocking(|| {
        calls += 1;
        if calls < 3 {
            Err(Failure {
                transient: true,
                n: calls,
            })
        } else {
            Ok(calls)
        }
    });
    assert_eq!(result, Ok(3));
    assert_eq!(calls, 3);
    assert_eq!(now(&clock), ms(20));
    assert_eq!(log.delays(), [ms(10), ms(10)]);
}

#[test]
fn a_permanent_error_after_retries_stops_at_once_without_wrapping() {
    let clock = ManualClock::new();
    let log = Log::new();
    let retry = exact(&clock, &log)
        .fixed(ms(10))
        .max_attempts(5)
        .build()
        .unwrap()
        .retry_if(|e: &Failure| e.transient);
    let mut calls = 0u32;
    let result = retry.call_blocking(|| {
        calls += 1;
        Err::<(), _>(Failure {
            transient: calls < 3,
            n: calls,
        })
    });
    assert_eq!(calls, 3);
    assert_eq!(
        result,
        Err(Error::Operation(Failure {
            transient: false,
            n: 3
        }))
    );
    assert!(matches!(
        log.events().last(),
        Some(Seen::GaveUp {
            attempts: 3,
            reason: StopReason::NotRetryable,
            ..
        })
    ));
}

// ---------------------------------------------------------------------------------------------
// 4. retry_on_result
// ---------------------------------------------------------------------------------------------

#[test]
fn unavailable_results_are_retried_until_a_good_one() {
    let clock = ManualClock::new();
    let log = Log::new();
    let retry = exact(&clock, &log)
        .fixed(ms(50))
        .max_attempts(5)
        .build()
        .unwrap()
        .retry_on_result(|status: &u16| *status == 503);
    let mut statuses = [503u16, 503, 200].into_iter();
    let mut calls = 0u32;
    let result = retry.call_blocking(|| {
        calls += 1;
        Ok::<_, String>(statuses.next().unwrap())
    });
    assert_eq!(result, Ok(200));
    assert_eq!(calls, 3);
    assert_eq!(now(&clock), ms(100));
    assert_eq!(
        log.events(),
        [
            Seen::Scheduled {
                attempt: 1,
                delay: ms(50),
                cause: "Result".into()
            },
            Seen::Scheduled {
                attempt: 2,
                delay: ms(50),
                cause: "Result".into()
            },
            Seen::Succeeded {
                attempts: 3,
                total_duration: ms(100)
            },
        ]
    );
}

#[test]
fn when_attempts_run_out_on_a_retried_result_the_last_result_is_returned() {
    let clock = ManualClock::new();
    let log = Log::new();
    let retry = exact(&clock, &log)
        .fixed(ms(50))
        .max_attempts(3)
        .build()
        .unwrap()
        .retry_on_result(|status: &u16| *status >= 500);
    let mut statuses = [503u16, 502, 504, 200].into_iter();
    let report = retry.call_blocking_with_report(|| Ok::<_, String>(statuses.next().unwrap()));
    assert_eq!(
        report.result,
        Ok(504),
        "the last Ok is returned, not an error"
    );
    assert_eq!(report.attempts, 3);
    assert_eq!(report.total_delay, ms(100));
    assert_eq!(now(&clock), ms(100));
    let events = log.events();
    assert_eq!(events.len(), 3);
    assert_eq!(
        events[2],
        Seen::GaveUp {
            attempts: 3,
            reason: StopReason::MaxAttempts { max_attempts: 3 },
            cause: "Result".into(),
        }
    );
}

#[test]
fn errors_and_rejected_results_are_both_retried() {
    let clock = ManualClock::new();
    let log = Log::new();
    let retry = exact(&clock, &log)
        .fixed(ms(1))
        .max_attempts(5)
        .build()
        .unwrap()
        .retry_on_result(|status: &u16| *status == 503);
    let mut script = [Err("reset"), Ok(503u16), Ok(201)].into_iter();
    let result = retry.call_blocking(|| script.next().unwrap());
    assert_eq!(result, Ok(201));
    let causes: Vec<String> = log
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Seen::Scheduled { cause, .. } => Some(cause),
            _ => None,
        })
        .collect();
    assert_eq!(causes, ["Error(\"reset\")", "Result"]);
}

// ---------------------------------------------------------------------------------------------
// 5. delay_fn
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
struct Throttled {
    retry_after: Option<Duration>,
}

fn honour_retry_after(_attempt: u32, outcome: Outcome<'_, u32, Throttled>) -> Option<Duration> {
    match outcome {
        Outcome::Err(t) => t.retry_after,
        Outcome::Ok(_) => None,
    }
}

#[test]
fn a_retry_after_sets_the_exact_next_delay_even_above_max_delay() {
    let clock = ManualClock::new();
    let log = Log::new();
    let seen_attempts = Arc::new(Mutex::new(Vec::new()));
    let seen = seen_attempts.clone();
    let retry = exact(&clock, &log)
        .exponential(ms(100))
        .max_delay(ms(1_000))
        .max_attempts(5)
        .build()
        .unwrap()
        .delay_fn(move |attempt: u32, outcome: Outcome<'_, u32, Throttled>| {
            seen.lock().unwrap().push(attempt);
            honour_retry_after(attempt, outcome)
        });
    let mut script = [
        Err(Throttled {
            retry_after: Some(Duration::from_secs(5)),
        }),
        Err(Throttled { retry_after: None }),
        Ok(7u32),
    ]
    .into_iter();

    let report = retry.call_blocking_with_report(|| script.next().unwrap());

    assert_eq!(report.result, Ok(7));
    // 5 s as asked (not capped to 1 s), then the backoff's 200 ms for attempt 2.
    assert_eq!(log.delays(), [Duration::from_secs(5), ms(200)]);
    assert_eq!(now(&clock), ms(5_200));
    assert_eq!(report.total_delay, ms(5_200));
    assert_eq!(*seen_attempts.lock().unwrap(), [1, 2]);
}

#[test]
fn a_delay_fn_returning_none_falls_back_to_the_configured_backoff() {
    let clock = ManualClock::new();
    let log = Log::new();
    let retry = exact(&clock, &log)
        .linear(ms(100))
        .max_delay(ms(1_000))
        .max_attempts(4)
        .build()
        .unwrap()
        .delay_fn(|_: u32, _: Outcome<'_, (), &str>| None);
    let report = retry.call_blocking_with_report(|| Err::<(), _>("down"));
    assert_eq!(log.delays(), [ms(100), ms(200), ms(300)]);
    assert_eq!(report.total_delay, ms(600));
    assert_eq!(now(&clock), ms(600));
}

#[test]
fn a_huge_retry_after_gives_up_with_max_elapsed_instead_of_sleeping() {
    let clock = ManualClock::new();
    let log = Log::new();
    let retry = exact(&clock, &log)
        .fixed(ms(100))
        .max_attempts(5)
        .max_elapsed(Duration::from_secs(10))
        .build()
        .unwrap()
        .delay_fn(honour_retry_after);
    let mut calls = 0u32;
    let result = retry.call_blocking(|| {
        calls += 1;
        Err::<u32, _>(Throttled {
            retry_after: Some(Duration::from_secs(3_600)),
        })
    });
    assert_eq!(calls, 1);
    assert_eq!(now(&clock), Duration::ZERO, "did not sleep the Retry-After");
    assert!(log.delays().is_empty());
    let expected = StopReason::MaxElapsed {
        budget: Duration::from_secs(10),
        elapsed: Duration::ZERO,
        next_delay: Duration::from_secs(3_600),
    };
    match result {
        Err(Error::RetriesExhausted {
            attempts, reason, ..
        }) => {
            assert_eq!(attempts, 1);
            assert_eq!(reason, expected);
        }
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
    assert!(matches!(
        log.events().as_slice(),
        [Seen::GaveUp { attempts: 1, reason, .. }] if *reason == expected
    ));
}

// ---------------------------------------------------------------------------------------------
// 6. Events
// ---------------------------------------------------------------------------------------------

#[test]
fn events_report_each_retry_then_success_with_attempt_numbers_and_duration() {
    let clock = ManualClock::new();
    let log = Log::with_clock(&clock);
    let retry = exact(&clock, &log)
        .name("payments")
        .exponential(ms(100))
        .max_attempts(5)
        .build()
        .unwrap();
    let mut calls = 0u32;
    let result = retry.call_blocking(|| {
        calls += 1;
        if calls <= 2 {
            Err(format!("failure {calls}"))
        } else {
            Ok(calls)
        }
    });
    assert_eq!(result, Ok(3));
    assert_eq!(
        log.events(),
        [
            Seen::Scheduled {
                attempt: 1,
                delay: ms(100),
                cause: "Error(\"failure 1\")".into()
            },
            Seen::Scheduled {
                attempt: 2,
                delay: ms(200),
                cause: "Error(\"failure 2\")".into()
            },
            Seen::Succeeded {
                attempts: 3,
                total_duration: ms(300)
            },
        ]
    );
    // total_duration == the sum of the delays == the virtual time that passed.
    assert_eq!(log.delays().iter().sum::<Duration>(), ms(300));
    assert_eq!(now(&clock), ms(300));
    // Events are published before the sleep they announce.
    assert_eq!(log.times(), [ms(0), ms(100), ms(300)]);
    assert_eq!(
        log.names(),
        vec![("payments".to_string(), "retry", "payments".to_string()); 3]
    );
}

#[test]
fn succeeded_total_duration_includes_the_time_attempts_take() {
    let clock = ManualClock::new();
    let log = Log::new();
    let took = Arc::new(Mutex::new(Vec::new()));
    let sink = took.clone();
    let retry = exact(&clock, &log)
        .fixed(ms(100))
        .max_attempts(5)
        .on_success(move |attempts, duration| sink.lock().unwrap().push((attempts, duration)))
        .build()
        .unwrap();
    let slow = clock.clone();
    let mut calls = 0u32;
    let report = retry.call_blocking_with_report(|| {
        calls += 1;
        slow.advance(ms(50)); // each attempt takes 50 ms of virtual time
        if calls < 3 { Err("busy") } else { Ok(calls) }
    });
    // 3 attempts x 50 ms + 2 delays x 100 ms.
    assert_eq!(report.result, Ok(3));
    assert_eq!(report.total_delay, ms(200));
    assert_eq!(report.elapsed, ms(350));
    assert_eq!(now(&clock), ms(350));
    assert_eq!(*took.lock().unwrap(), [(3, ms(350))]);
    assert_eq!(
        log.events().last(),
        Some(&Seen::Succeeded {
            attempts: 3,
            total_duration: ms(350)
        })
    );
}

#[test]
fn events_on_exhaustion_are_retries_then_one_gave_up() {
    let clock = ManualClock::new();
    let log = Log::new();
    let n = 4;
    let retry = exact(&clock, &log)
        .fixed(ms(10))
        .max_attempts(n)
        .build()
        .unwrap();
    always_failing(&retry);
    let events = log.events();
    assert_eq!(events.len(), n as usize);
    for (i, event) in events[..n as usize - 1].iter().enumerate() {
        assert_eq!(
            *event,
            Seen::Scheduled {
                attempt: i as u32 + 1,
                delay: ms(10),
                cause: format!("Error(\"failure {}\")", i + 1),
            }
        );
    }
    assert_eq!(
        events[n as usize - 1],
        Seen::GaveUp {
            attempts: n,
            reason: StopReason::MaxAttempts { max_attempts: n },
            cause: format!("Error(\"failure {n}\")"),
        }
    );
}

#[test]
fn a_first_time_success_publishes_only_succeeded() {
    let clock = ManualClock::new();
    let log = Log::new();
    let retry = exact(&clock, &log).build().unwrap();
    assert_eq!(retry.call_blocking(|| Ok::<_, String>("hi")), Ok("hi"));
    assert_eq!(
        log.events(),
        [Seen::Succeeded {
            attempts: 1,
            total_duration: Duration::ZERO
        }]
    );
    assert_eq!(log.names()[0].0, "retry", "the default name is \"retry\"");
}

type RetryCall = (u32, Duration, String);
type FailureCall = (u32, StopReason, String);
type Shared<T> = Arc<Mutex<Vec<T>>>;

/// A policy with all three convenience callbacks, and what each received.
struct Callbacks {
    retry: Retry,
    retries: Shared<RetryCall>,
    successes: Shared<(u32, Duration)>,
    failures: Shared<FailureCall>,
}

fn callback_policy(clock: &ManualClock, log: &Log) -> Callbacks {
    let retries = Arc::new(Mutex::new(Vec::new()));
    let successes = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let (r, s, f) = (retries.clone(), successes.clone(), failures.clone());
    let retry = exact(clock, log)
        .name("inventory")
        .exponential(ms(100))
        .max_attempts(4)
        .on_retry(move |attempt, delay, cause: Cause<'_>| {
            r.lock()
                .unwrap()
                .push((attempt, delay, format!("{cause:?}")));
        })
        .on_success(move |attempts, took| s.lock().unwrap().push((attempts, took)))
        .on_failure(move |attempts, reason, cause: Cause<'_>| {
            f.lock()
                .unwrap()
                .push((attempts, reason, format!("{cause:?}")));
        })
        .build()
        .unwrap();
    Callbacks {
        retry,
        retries,
        successes,
        failures,
    }
}

#[test]
fn convenience_callbacks_receive_the_same_data_as_events() {
    // Success after two failures.
    let clock = ManualClock::new();
    let log = Log::new();
    let Callbacks {
        retry,
        retries,
        successes,
        failures,
    } = callback_policy(&clock, &log);
    let mut calls = 0u32;
    retry
        .call_blocking(|| {
            calls += 1;
            if calls <= 2 {
                Err(format!("failure {calls}"))
            } else {
                Ok(())
            }
        })
        .unwrap();
    let from_events: Vec<RetryCall> = log
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Seen::Scheduled {
                attempt,
                delay,
                cause,
            } => Some((attempt, delay, cause)),
            _ => None,
        })
        .collect();
    assert_eq!(from_events.len(), 2);
    assert_eq!(*retries.lock().unwrap(), from_events);
    assert_eq!(*successes.lock().unwrap(), [(3, ms(300))]);
    assert!(failures.lock().unwrap().is_empty());

    // Exhaustion.
    let clock = ManualClock::new();
    let log = Log::new();
    let Callbacks {
        retry,
        retries,
        successes,
        failures,
    } = callback_policy(&clock, &log);
    always_failing(&retry);
    assert_eq!(
        *retries.lock().unwrap(),
        [
            (1, ms(100), "Error(\"failure 1\")".to_string()),
            (2, ms(200), "Error(\"failure 2\")".to_string()),
            (3, ms(400), "Error(\"failure 3\")".to_string()),
        ]
    );
    assert!(successes.lock().unwrap().is_empty());
    assert_eq!(
        *failures.lock().unwrap(),
        [(
            4,
            StopReason::MaxAttempts { max_attempts: 4 },
            "Error(\"failure 4\")".to_string()
        )]
    );
    assert!(
        log.names()
            .iter()
            .all(|(name, kind, inner)| name == "inventory"
                && *kind == "retry"
                && inner == "inventory")
    );
}

#[test]
fn every_listener_sees_every_event() {
    let clock = ManualClock::new();
    let first = Log::new();
    let second = Log::new();
    let retry = exact(&clock, &first)
        .on_event(second.listener())
        .fixed(ms(5))
        .max_attempts(3)
        .build()
        .unwrap();
    always_failing(&retry);
    assert_eq!(first.events().len(), 3);
    assert_eq!(first.events(), second.events());
}

// ---------------------------------------------------------------------------------------------
// 7. Async and blocking behave the same
// ---------------------------------------------------------------------------------------------

/// The failure script shared by both forms: attempt `n` fails while `n <= fails`.
fn scripted(n: u32, fails: u32) -> Result<u32, String> {
    if n <= fails {
        Err(format!("failure {n}"))
    } else {
        Ok(n * 10)
    }
}

fn seeded(clock: &ManualClock, log: &Log, jitter: Jitter) -> Retry {
    Retry::builder()
        .name("twin")
        .clock(clock.clone())
        .on_event(log.listener())
        .exponential(ms(100))
        .max_delay(Duration::from_secs(5))
        .max_attempts(6)
        .jitter(jitter)
        .seed(42)
        .build()
        .unwrap()
}

const JITTERS: [Jitter; 4] = [
    Jitter::None,
    Jitter::Full,
    Jitter::Equal,
    Jitter::Decorrelated,
];

#[tokio::test]
async fn async_and_blocking_calls_make_identical_decisions_with_the_same_seed() {
    for jitter in JITTERS {
        for fails in [0, 3, 10] {
            let (bc, bl) = (ManualClock::new(), Log::new());
            let (ac, al) = (ManualClock::new(), Log::new());
            let blocking = seeded(&bc, &bl, jitter);
            let asynchronous = seeded(&ac, &al, jitter);

            let mut n = 0u32;
            let blocking_result = blocking.call_blocking(|| {
                n += 1;
                scripted(n, fails)
            });
            let mut m = 0u32;
            let async_result = asynchronous
                .call(|| {
                    m += 1;
                    let attempt = m;
                    async move { scripted(attempt, fails) }
                })
                .await;

            let ctx = format!("{jitter:?}, {fails} failures");
            assert_eq!(blocking_result, async_result, "{ctx}");
            assert_eq!(bl.events(), al.events(), "{ctx}");
            assert_eq!(n, m, "{ctx}");
            assert_eq!(bc.now(), ac.now(), "{ctx}");
            assert_eq!(
                now(&bc),
                bl.delays().iter().sum::<Duration>(),
                "clock moved by exactly the delays ({ctx})"
            );
            assert_eq!(n, (fails + 1).min(6), "{ctx}");
        }
    }
}

#[tokio::test]
async fn async_and_blocking_reports_are_identical_with_the_same_seed() {
    for jitter in JITTERS {
        for fails in [2, 10] {
            let (bc, bl) = (ManualClock::new(), Log::new());
            let (ac, al) = (ManualClock::new(), Log::new());
            let blocking = seeded(&bc, &bl, jitter);
            let asynchronous = seeded(&ac, &al, jitter);

            let mut n = 0u32;
            let b = blocking.call_blocking_with_report(|| {
                n += 1;
                scripted(n, fails)
            });
            let mut m = 0u32;
            let a = asynchronous
                .call_with_report(|| {
                    m += 1;
                    let attempt = m;
                    async move { scripted(attempt, fails) }
                })
                .await;

            let ctx = format!("{jitter:?}, {fails} failures");
            assert_eq!(b, a, "{ctx}");
            assert_eq!(b.attempts, a.attempts, "{ctx}");
            assert_eq!(b.total_delay, a.total_delay, "{ctx}");
            assert_eq!(b.elapsed, a.elapsed, "{ctx}");
            assert_eq!(b.total_delay, bl.delays().iter().sum::<Duration>(), "{ctx}");
            assert_eq!(b.elapsed, now(&bc), "{ctx}");
            assert_eq!(bl.events(), al.events(), "{ctx}");
        }
    }
}

#[test]
fn seeded_full_jitter_actually_randomises_the_schedule() {
    let clock = ManualClock::new();
    let log = Log::new();
    let retry = seeded(&clock, &log, Jitter::Full);
    always_failing(&retry);
    let schedule: Vec<Duration> = (1..=5).map(|n| retry.config().scheduled_delay(n)).collect();
    let delays = log.delays();
    assert_eq!(delays.len(), 5);
    assert_ne!(delays, schedule, "full jitter left every delay untouched");
    for (d, s) in delays.iter().zip(&schedule) {
        assert!(d <= s);
    }
}

#[test]
fn decorrelated_jitter_grows_from_the_previous_actual_delay() {
    let clock = ManualClock::new();
    let log = Log::new();
    let retry = Retry::builder()
        .clock(clock.clone())
        .on_event(log.listener())
        .jitter(Jitter::Decorrelated)
        .seed(42)
        .base_delay(ms(100))
        .max_delay(Duration::from_secs(100))
        .max_attempts(20)
        .build()
        .unwrap();
    always_failing(&retry);
    let delays = log.delays();
    assert_eq!(delays.len(), 19);
    let mut previous = ms(100);
    for d in &delays {
        assert!(
            *d >= ms(100) && *d <= previous * 3,
            "{d:?} outside [100ms, 3 x {previous:?}]"
        );
        previous = *d;
    }
    // Drawn from [base, 3 x previous], the delays climb well beyond 3 x base_delay.
    assert!(
        delays.iter().any(|d| *d > ms(900)),
        "decorrelated delays never grew past 3 x base: {delays:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Seeded jitter is reproducible
// ---------------------------------------------------------------------------------------------

fn jittered_delays(seed: u64, jitter: Jitter, calls: usize) -> Vec<Vec<Duration>> {
    let delays = Arc::new(Mutex::new(Vec::new()));
    let recorded = delays.clone();
    let retry = Retry::builder()
        .clock(ManualClock::new())
        .exponential(ms(100))
        .max_delay(Duration::from_secs(60))
        .max_attempts(8)
        .jitter(jitter)
        .seed(seed)
        .on_retry(move |_, delay, _| recorded.lock().unwrap().push(delay))
        .build()
        .unwrap();
    (0..calls)
        .map(|_| {
            delays.lock().unwrap().clear();
            let _ = retry.call_blocking(|| Err::<(), _>("down"));
            delays.lock().unwrap().clone()
        })
        .collect()
}

#[test]
fn policies_with_the_same_seed_draw_identical_delays() {
    for jitter in [Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
        let a = jittered_delays(7, jitter, 3);
        let b = jittered_delays(7, jitter, 3);
        assert_eq!(a, b, "{jitter:?}");
        assert_eq!(a[0].len(), 7);
    }
}

#[test]
fn policies_with_different_seeds_draw_different_delays() {
    for jitter in [Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
        let a = jittered_delays(7, jitter, 1);
        let b = jittered_delays(8, jitter, 1);
        assert_ne!(a, b, "{jitter:?}");
    }
}

#[test]
fn successive_calls_of_one_seeded_policy_draw_different_streams() {
    for jitter in [Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
        let calls = jittered_delays(7, jitter, 3);
        assert_ne!(calls[0], calls[1], "{jitter:?}");
        assert_ne!(calls[1], calls[2], "{jitter:?}");
    }
}

#[test]
fn a_seeded_call_draws_its_own_stream_whether_or_not_earlier_calls_retried() {
    // Call 1 of a seeded policy draws stream 1 even when call 0 succeeded at once.
    let build = || {
        let clock = ManualClock::new();
        let log = Log::with_clock(&clock);
        let retry = Retry::builder()
            .clock(clock)
            .seed(42)
            .max_attempts(5)
            .on_event(log.listener())
            .build()
            .unwrap();
        (retry, log)
    };
    let (fresh, fresh_log) = build();
    always_failing(&fresh);
    always_failing(&fresh);
    let stream_1 = fresh_log.delays()[4..].to_vec();

    let (other, other_log) = build();
    other.call_blocking(|| Ok::<_, String>(())).unwrap();
    always_failing(&other);
    assert_eq!(other_log.delays(), stream_1);
}

#[test]
fn decorrelated_jitter_grows_from_a_delay_chosen_by_delay_fn() {
    let clock = ManualClock::new();
    let log = Log::with_clock(&clock);
    let retry = Retry::builder()
        .clock(clock)
        .jitter(Jitter::Decorrelated)
        .base_delay(ms(100))
        .max_delay(Duration::from_secs(100))
        .max_attempts(3)
        .seed(1)
        .on_event(log.listener())
        .build()
        .unwrap()
        .delay_fn(|attempt, _: Outcome<'_, (), String>| {
            (attempt == 1).then(|| Duration::from_secs(10))
        });
    for _ in 0..50 {
        always_failing_with(&retry);
    }
    let delays = log.delays();
    let seconds: Vec<Duration> = delays.chunks(2).map(|pair| pair[1]).collect();
    assert!(
        seconds
            .iter()
            .all(|d| *d >= ms(100) && *d <= Duration::from_secs(30))
    );
    // Drawn from [100ms, 30s], most seconds delays exceed the 300ms a 100ms "previous" allows.
    assert!(
        seconds.iter().filter(|d| **d > ms(300)).count() > 40,
        "{seconds:?}"
    );
}

fn always_failing_with<R, D>(retry: &Retry<palisade::predicate::Always, R, D>)
where
    R: palisade::predicate::Predicate<()>,
    D: palisade::retry::DelayFn<(), String>,
{
    let _ = retry.call_blocking(|| Err::<(), _>("down".to_string()));
}

#[test]
fn a_later_valid_setting_replaces_a_bad_seconds_value() {
    let retry = Retry::builder()
        .base_delay_secs(-1.0)
        .base_delay(ms(5))
        .max_elapsed_secs(f64::NAN)
        .max_elapsed_secs(2.0)
        .build()
        .unwrap();
    assert_eq!(retry.config().base_delay, ms(5));
    assert_eq!(retry.config().max_elapsed, Some(Duration::from_secs(2)));
    // A bad value for one field is not cleared by setting another.
    let err = Retry::builder()
        .base_delay_secs(-1.0)
        .max_delay(Duration::from_secs(9))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "base_delay");
}

// ---------------------------------------------------------------------------------------------
// 9. Async on tokio paused time
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn async_call_sleeps_exactly_the_scheduled_delays_on_tokio_time() {
    let log = Log::new();
    let retry = Retry::builder()
        .clock(Clock::tokio())
        .jitter(Jitter::None)
        .exponential(ms(100))
        .max_attempts(5)
        .on_event(log.listener())
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let mut calls = 0u32;
    let result = retry
        .call(|| {
            calls += 1;
            let n = calls;
            async move { scripted(n, 3) }
        })
        .await;
    assert_eq!(result, Ok(40));
    assert_eq!(log.delays(), [ms(100), ms(200), ms(400)]);
    assert_eq!(started.elapsed(), ms(700));
    assert_eq!(
        log.events().last(),
        Some(&Seen::Succeeded {
            attempts: 4,
            total_duration: ms(700)
        })
    );
}

#[tokio::test(start_paused = true)]
async fn async_report_on_tokio_time_measures_delays_and_elapsed() {
    let retry = Retry::builder()
        .clock(Clock::tokio())
        .jitter(Jitter::None)
        .linear(ms(250))
        .max_attempts(3)
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let report = retry
        .call_with_report(|| async {
            tokio::time::sleep(ms(10)).await; // each attempt takes 10 ms
            Err::<(), _>("down")
        })
        .await;
    assert_eq!(report.attempts, 3);
    assert_eq!(report.total_delay, ms(750));
    assert_eq!(report.elapsed, ms(780));
    assert_eq!(started.elapsed(), ms(780));
}

#[tokio::test(start_paused = true)]
async fn async_max_elapsed_on_tokio_time_never_sleeps_into_the_budget() {
    let retry = Retry::builder()
        .clock(Clock::tokio())
        .jitter(Jitter::None)
        .fixed(ms(300))
        .max_attempts(100)
        .max_elapsed(ms(1_000))
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let result = retry.call(|| async { Err::<(), _>("down") }).await;
    assert_eq!(started.elapsed(), ms(900));
    assert!(matches!(
        result,
        Err(Error::RetriesExhausted {
            attempts: 4,
            reason: StopReason::MaxElapsed { elapsed, .. },
            ..
        }) if elapsed == ms(900)
    ));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_call_mid_backoff_stops_further_attempts() {
    let log = Log::new();
    let retry = Retry::builder()
        .clock(Clock::tokio())
        .jitter(Jitter::None)
        .fixed(Duration::from_secs(1))
        .max_attempts(10)
        .on_event(log.listener())
        .build()
        .unwrap();
    let attempts = Arc::new(AtomicU32::new(0));
    let counter = attempts.clone();
    let call = retry.call(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Err::<(), _>("down") }
    });

    let outcome = tokio::time::timeout(ms(1_500), call).await;

    assert!(outcome.is_err(), "the timeout fired first");
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        2,
        "no attempt ran after the call future was dropped"
    );
    // Two retries were announced; the call neither succeeded nor gave up.
    assert_eq!(log.events().len(), 2);
    assert!(
        log.events()
            .iter()
            .all(|e| matches!(e, Seen::Scheduled { .. }))
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_the_call_during_the_first_backoff_leaves_one_attempt() {
    let retry = Retry::builder()
        .clock(Clock::tokio())
        .jitter(Jitter::None)
        .fixed(ms(100))
        .max_attempts(10)
        .build()
        .unwrap();
    let attempts = Arc::new(AtomicU32::new(0));
    let counter = attempts.clone();
    let outcome = tokio::time::timeout(
        ms(50),
        retry.call(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>("down") }
        }),
    )
    .await;
    assert!(outcome.is_err());
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    tokio::time::advance(Duration::from_secs(10)).await;
    tokio::task::yield_now().await;
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------------------------
// 10. Bad input
// ---------------------------------------------------------------------------------------------

fn assert_rejected(builder: RetryBuilder, field: &str, value: &str) -> ConfigError {
    let err = builder.build().unwrap_err();
    assert_eq!(err.policy(), "retry");
    assert_eq!(err.field(), field);
    assert_eq!(err.value(), value);
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("invalid retry configuration: {field} = {value}: ")),
        "{shown}"
    );
    assert!(shown.contains(field) && shown.contains(value), "{shown}");
    assert!(!err.reason().is_empty());
    err
}

#[test]
fn zero_max_attempts_is_rejected() {
    let err = assert_rejected(Retry::builder().max_attempts(0), "max_attempts", "0");
    assert_eq!(err.reason(), "must be at least 1");
}

#[test]
fn a_zero_base_delay_is_rejected() {
    assert_rejected(
        Retry::builder().base_delay(Duration::ZERO),
        "base_delay",
        "0ns",
    );
}

#[test]
fn negative_and_nan_base_delay_seconds_are_rejected() {
    assert_rejected(Retry::builder().base_delay_secs(-1.0), "base_delay", "-1s");
    assert_rejected(
        Retry::builder().base_delay_secs(f64::NAN),
        "base_delay",
        "NaN",
    );
}

#[test]
fn a_max_delay_below_base_delay_is_rejected() {
    let err = assert_rejected(
        Retry::builder()
            .base_delay(Duration::from_secs(2))
            .max_delay(Duration::from_secs(1)),
        "max_delay",
        "1s",
    );
    assert!(err.reason().contains("2s"), "names the base delay: {err}");
}

#[test]
fn a_zero_max_delay_in_seconds_is_rejected() {
    assert_rejected(Retry::builder().max_delay_secs(0.0), "max_delay", "0s");
}

#[test]
fn exponential_bases_below_one_or_not_finite_are_rejected() {
    assert_rejected(
        Retry::builder().exponential_base(0.5),
        "exponential_base",
        "0.5",
    );
    assert_rejected(
        Retry::builder().exponential_base(f64::NAN),
        "exponential_base",
        "NaN",
    );
    assert_rejected(
        Retry::builder().exponential_base(f64::INFINITY),
        "exponential_base",
        "inf",
    );
}

#[test]
fn a_zero_or_nan_max_elapsed_is_rejected() {
    assert_rejected(
        Retry::builder().max_elapsed(Duration::ZERO),
        "max_elapsed",
        "0ns",
    );
    assert_rejected(
        Retry::builder().max_elapsed_secs(f64::NAN),
        "max_elapsed",
        "NaN",
    );
}

#[test]
fn from_config_rejects_the_same_values_as_the_builder() {
    for (config, field, value) in [
        (
            RetryConfig {
                max_attempts: 0,
                ..RetryConfig::default()
            },
            "max_attempts",
            "0",
        ),
        (
            RetryConfig {
                base_delay: Duration::ZERO,
                ..RetryConfig::default()
            },
            "base_delay",
            "0ns",
        ),
        (
            RetryConfig {
                max_delay: ms(500),
                ..RetryConfig::default()
            },
            "max_delay",
            "500ms",
        ),
        (
            RetryConfig {
                exponential_base: 0.5,
                ..RetryConfig::default()
            },
            "exponential_base",
            "0.5",
        ),
        (
            RetryConfig {
                max_elapsed: Some(Duration::ZERO),
                ..RetryConfig::default()
            },
            "max_elapsed",
            "0ns",
        ),
    ] {
        let err = Retry::from_config(config).unwrap_err();
        assert_eq!((err.field(), err.value()), (field, value));
        assert_eq!(config.validate().unwrap_err(), err);
    }
}

#[test]
fn valid_second_values_are_accepted() {
    let retry = Retry::builder()
        .base_delay_secs(0.25)
        .max_delay_secs(2.5)
        .max_elapsed_secs(10.0)
        .build()
        .unwrap();
    assert_eq!(retry.config().base_delay, ms(250));
    assert_eq!(retry.config().max_delay, ms(2_500));
    assert_eq!(retry.config().max_elapsed, Some(Duration::from_secs(10)));
}

// ---------------------------------------------------------------------------------------------
// 11. Extreme but valid configurations
// ---------------------------------------------------------------------------------------------

#[test]
fn u32_max_attempts_with_a_tiny_delay_runs_until_success() {
    let clock = ManualClock::new();
    let log = Log::new();
    let retry = exact(&clock, &log)
        .fixed(Duration::from_nanos(1))
        .max_attempts(u32::MAX)
        .build()
        .unwrap();
    let mut calls = 0u32;
    let report = retry.call_blocking_with_report(|| {
        calls += 1;
        if calls < 10 {
            Err("not yet")
        } else {
            Ok(calls)
        }
    });
    assert_eq!(report.result, Ok(10));
    assert_eq!(report.attempts, 10);
    assert_eq!(report.total_delay, Duration::from_nanos(9));
    assert_eq!(now(&clock), Duration::from_nanos(9));
}

#[test]
fn a_huge_exponential_base_caps_every_delay_at_max_delay() {
    for jitter in JITTERS {
        let clock = ManualClock::new();
        let log = Log::new();
        let retry = Retry::builder()
            .clock(clock.clone())
            .on_event(log.listener())
            .jitter(jitter)
            .seed(1)
            .exponential(ms(1))
            .exponential_base(1e300)
            .max_delay(Duration::from_secs(1))
            .max_attempts(200)
            .build()
            .unwrap();
        let report = always_failing(&retry);
        assert_eq!(report.attempts, 200, "{jitter:?}");
        let delays = log.delays();
        assert_eq!(delays.len(), 199);
        assert!(
            delays.iter().all(|d| *d <= Duration::from_secs(1)),
            "{jitter:?}"
        );
        assert_eq!(report.total_delay, delays.iter().sum::<Duration>());
        if jitter == Jitter::None {
            assert_eq!(delays[0], ms(1));
            assert!(delays[1..].iter().all(|d| *d == Duration::from_secs(1)));
        }
    }
}

#[test]
fn base_delay_equal_to_max_delay_keeps_every_delay_at_that_value() {
    for strategy in [Strategy::Fixed, Strategy::Linear, Strategy::Exponential] {
        let clock = ManualClock::new();
        let log = Log::new();
        let retry = exact(&clock, &log)
            .strategy(strategy)
            .base_delay(ms(500))
            .max_delay(ms(500))
            .max_attempts(20)
            .build()
            .unwrap();
        let report = always_failing(&retry);
        assert_eq!(log.delays(), vec![ms(500); 19], "{strategy:?}");
        assert_eq!(now(&clock), ms(500) * 19);
        assert_eq!(report.total_delay, ms(500) * 19);
    }
    for jitter in [Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
        let clock = ManualClock::new();
        let log = Log::new();
        let retry = Retry::builder()
            .clock(clock.clone())
            .on_event(log.listener())
            .jitter(jitter)
            .base_delay(ms(500))
            .max_delay(ms(500))
            .max_attempts(20)
            .build()
            .unwrap();
        always_failing(&retry);
        for d in log.delays() {
            assert!(d <= ms(500), "{jitter:?}: {d:?}");
            if jitter != Jitter::Full {
                assert!(d >= ms(250), "{jitter:?}: {d:?}");
            }
        }
        if jitter == Jitter::Decorrelated {
            assert_eq!(log.delays(), vec![ms(500); 19]);
        }
    }
}

#[test]
fn durations_near_the_limits_saturate_instead_of_panicking() {
    for strategy in [Strategy::Fixed, Strategy::Linear, Strategy::Exponential] {
        for jitter in JITTERS {
            let clock = ManualClock::new();
            let log = Log::new();
            let retry = Retry::builder()
                .clock(clock.clone())
                .on_event(log.listener())
                .strategy(strategy)
                .jitter(jitter)
                .seed(3)
                .base_delay(Duration::from_secs(u64::MAX / 4))
                .max_delay(Duration::MAX)
                .exponential_base(10.0)
                .max_attempts(12)
                .build()
                .unwrap();
            let report = always_failing(&retry);
            assert_eq!(report.attempts, 12, "{strategy:?} {jitter:?}");
            assert_eq!(log.delays().len(), 11);
        }
    }
    // And with a budget: a delay this long can never fit, so retry stops at once.
    let clock = ManualClock::new();
    let log = Log::new();
    let retry = exact(&clock, &log)
        .fixed(Duration::MAX)
        .max_delay(Duration::MAX)
        .max_elapsed(Duration::from_secs(1))
        .max_attempts(u32::MAX)
        .build()
        .unwrap();
    let report = always_failing(&retry);
    assert_eq!(report.attempts, 1);
    assert_eq!(now(&clock), Duration::ZERO);
}

#[test]
fn max_elapsed_counts_from_the_call_start_without_listeners_too() {
    // No listener: the start time is read for `max_elapsed` alone, and still at the call's
    // start, not at its first failure.
    let clock = ManualClock::new();
    let retry = Retry::builder()
        .clock(clock.clone())
        .jitter(Jitter::None)
        .max_attempts(5)
        .fixed(Duration::from_secs(1))
        .max_elapsed(Duration::from_secs(5))
        .build()
        .unwrap();
    let err = retry
        .call_blocking(|| {
            clock.advance(Duration::from_secs(3));
            Err::<(), _>("slow failure")
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::RetriesExhausted {
                attempts: 2,
                reason: StopReason::MaxElapsed { elapsed, .. },
                ..
            } if elapsed == Duration::from_secs(7)
        ),
        "{err:?}"
    );
}
