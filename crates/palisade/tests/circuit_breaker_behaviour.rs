//! Behaviour of the circuit breaker, on virtual time only.
//!
//! Every timing test drives a `ManualClock` (advanced by the test, or inside an operation to
//! make a call slow) or, for one cancellation test, tokio's paused clock. Nothing here sleeps
//! for real, so no assertion depends on how fast the machine is.

mod common;

use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Waker};
use std::time::Duration;

use common::events::{Record, Recorder};
use common::threads::finish_within;
use common::time::{ms, secs};
use palisade::circuit_breaker::{
    CircuitBreaker, CircuitBreakerBuilder, CircuitBreakerEvent, Role, SlidingWindow, State,
    TransitionReason, Verdict,
};
use palisade::clock::ManualClock;
use palisade::event::Event;
use palisade::{ConfigError, Error};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// An owned copy of a `CircuitBreakerEvent`.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Transition(State, State, TransitionReason),
    Rejected(State, Option<Duration>),
    /// verdict, slow, state the call was admitted in
    Outcome(Verdict, bool, State),
}

impl Record for Seen {
    fn record(event: &Event<'_>) -> Option<Self> {
        let Event::CircuitBreaker(e) = event else {
            return None;
        };
        match *e {
            CircuitBreakerEvent::StateTransition {
                from, to, reason, ..
            } => Some(Seen::Transition(from, to, reason)),
            CircuitBreakerEvent::CallRejected {
                state, retry_after, ..
            } => Some(Seen::Rejected(state, retry_after)),
            CircuitBreakerEvent::OutcomeRecorded {
                verdict,
                slow,
                state,
                ..
            } => Some(Seen::Outcome(verdict, slow, state)),
            _ => None,
        }
    }
}

/// Records every circuit breaker event, in order (`take` clears it).
type Log = Recorder<Seen>;

impl Log {
    /// The state transitions so far (the log is kept).
    fn transitions(&self) -> Vec<Seen> {
        self.events()
            .into_iter()
            .filter(|s| matches!(s, Seen::Transition(..)))
            .collect()
    }
}

struct Rig {
    breaker: CircuitBreaker,
    clock: ManualClock,
    log: Log,
}

/// A breaker named "test" on a manual clock at time zero, with an event log.
fn rig(configure: impl FnOnce(CircuitBreakerBuilder) -> CircuitBreakerBuilder) -> Rig {
    let clock = ManualClock::new();
    let log = Log::default();
    let builder = CircuitBreaker::builder()
        .name("test")
        .clock(clock.clone())
        .on_event(log.listener());
    let breaker = configure(builder).build().expect("a valid configuration");
    Rig {
        breaker,
        clock,
        log,
    }
}

/// A breaker (one failure trips it, 10 s recovery unless `configure` says otherwise) that has
/// tripped and is now HalfOpen; the log is cleared.
fn half_open(configure: impl FnOnce(CircuitBreakerBuilder) -> CircuitBreakerBuilder) -> Rig {
    let r = rig(|b| configure(b.failure_threshold(1).recovery_timeout(secs(10))));
    fail(&r.breaker);
    assert_eq!(r.breaker.state(), State::Open);
    r.clock.advance(r.breaker.config().recovery_timeout);
    assert_eq!(r.breaker.state(), State::HalfOpen);
    r.log.take();
    r
}

fn transition(from: State, to: State, reason: TransitionReason) -> Seen {
    Seen::Transition(from, to, reason)
}

/// Runs a failing call that must be admitted.
#[track_caller]
fn fail(b: &CircuitBreaker) {
    assert_eq!(
        b.call_blocking(|| Err::<(), _>("down")),
        Err(Error::Operation("down")),
        "the failing call should have been admitted and run"
    );
}

/// Runs a successful call that must be admitted.
#[track_caller]
fn succeed(b: &CircuitBreaker) {
    assert_eq!(
        b.call_blocking(|| Ok::<_, &str>(())),
        Ok(()),
        "the successful call should have been admitted and run"
    );
}

/// Runs an admitted call that takes `took` of virtual time and then succeeds or fails.
#[track_caller]
fn timed(b: &CircuitBreaker, clock: &ManualClock, took: Duration, ok: bool) {
    let outcome = b.call_blocking(|| {
        clock.advance(took);
        if ok { Ok(()) } else { Err("down") }
    });
    let expected = if ok {
        Ok(())
    } else {
        Err(Error::Operation("down"))
    };
    assert_eq!(
        outcome, expected,
        "the timed call should have been admitted"
    );
}

/// The name, state and retry_after of a `CircuitOpen` rejection.
#[track_caller]
fn rejection<T: Debug, E: Debug>(result: Result<T, Error<E>>) -> (String, State, Option<Duration>) {
    match result {
        Err(Error::CircuitOpen {
            name,
            state,
            retry_after,
            ..
        }) => (name.to_string(), state, retry_after),
        other => panic!("expected Error::CircuitOpen, got {other:?}"),
    }
}

/// Runs a call that must be rejected, checking the operation did not run.
#[track_caller]
fn rejected(b: &CircuitBreaker) -> (String, State, Option<Duration>) {
    let ran = AtomicBool::new(false);
    let outcome = b.call_blocking(|| {
        ran.store(true, Ordering::Relaxed);
        Ok::<_, &str>(())
    });
    let rejection = rejection(outcome);
    assert!(
        !ran.load(Ordering::Relaxed),
        "a rejected operation must not run"
    );
    rejection
}

// ---------------------------------------------------------------------------------------------
// Closed → Open: consecutive failures
// ---------------------------------------------------------------------------------------------

#[test]
fn failure_threshold_consecutive_failures_open_the_breaker() {
    let r = rig(|b| b.failure_threshold(3));
    fail(&r.breaker);
    fail(&r.breaker);
    assert_eq!(r.breaker.state(), State::Closed);
    assert_eq!(r.breaker.stats().consecutive_failures, 2);
    fail(&r.breaker);
    assert_eq!(r.breaker.state(), State::Open);
    assert_eq!(
        r.log.transitions(),
        [transition(
            State::Closed,
            State::Open,
            TransitionReason::ConsecutiveFailures { failures: 3 }
        )]
    );
}

#[test]
fn a_success_between_failures_restarts_the_consecutive_run() {
    let r = rig(|b| b.failure_threshold(3));
    fail(&r.breaker);
    fail(&r.breaker);
    succeed(&r.breaker);
    assert_eq!(r.breaker.stats().consecutive_failures, 0);
    fail(&r.breaker);
    fail(&r.breaker);
    assert_eq!(r.breaker.state(), State::Closed, "only two in a row so far");
    assert_eq!(r.breaker.stats().consecutive_failures, 2);
    fail(&r.breaker);
    assert_eq!(r.breaker.state(), State::Open);
}

// ---------------------------------------------------------------------------------------------
// Closed → Open: failure rate over a count window
// ---------------------------------------------------------------------------------------------

fn rate_over_last_10_calls(b: CircuitBreakerBuilder) -> CircuitBreakerBuilder {
    b.no_failure_threshold()
        .failure_rate_threshold(50.0)
        .sliding_window(SlidingWindow::Count { size: 10 })
        .minimum_calls(4)
}

#[test]
fn failure_rate_over_a_count_window_trips_once_minimum_calls_are_in_it() {
    let r = rig(rate_over_last_10_calls);
    succeed(&r.breaker);
    fail(&r.breaker);
    fail(&r.breaker);
    let stats = r.breaker.stats();
    assert_eq!(
        stats.state,
        State::Closed,
        "67% of 3 calls, but 4 are needed"
    );
    assert_eq!((stats.calls_in_window, stats.failures_in_window), (3, 2));
    assert_eq!(stats.failure_rate, None);
    fail(&r.breaker);
    assert_eq!(r.breaker.state(), State::Open);
    assert_eq!(
        r.log.transitions(),
        [transition(
            State::Closed,
            State::Open,
            TransitionReason::FailureRate {
                rate: 75.0,
                calls: 4
            }
        )]
    );
}

#[test]
fn a_failure_rate_trips_when_it_reaches_the_threshold_and_not_before() {
    let r = rig(rate_over_last_10_calls);
    for _ in 0..3 {
        succeed(&r.breaker);
    }
    fail(&r.breaker);
    assert_eq!(r.breaker.stats().failure_rate, Some(25.0));
    succeed(&r.breaker);
    fail(&r.breaker);
    fail(&r.breaker); // 3 of 7
    let stats = r.breaker.stats();
    assert_eq!(stats.state, State::Closed);
    assert_eq!((stats.calls_in_window, stats.failures_in_window), (7, 3));
    fail(&r.breaker); // 4 of 8: exactly 50%
    assert_eq!(r.breaker.state(), State::Open);
    assert_eq!(
        r.log.transitions(),
        [transition(
            State::Closed,
            State::Open,
            TransitionReason::FailureRate {
                rate: 50.0,
                calls: 8
            }
        )]
    );
}

#[test]
fn the_success_that_first_brings_the_window_to_minimum_calls_trips_an_already_high_rate() {
    let r = rig(rate_over_last_10_calls);
    for _ in 0..3 {
        fail(&r.breaker);
    }
    assert_eq!(r.breaker.state(), State::Closed);
    succeed(&r.breaker); // 3 failures of 4 calls: 75%
    assert_eq!(r.breaker.state(), State::Open);
    assert_eq!(
        r.log.transitions(),
        [transition(
            State::Closed,
            State::Open,
            TransitionReason::FailureRate {
                rate: 75.0,
                calls: 4
            }
        )]
    );
}

#[test]
fn the_success_that_fills_a_window_of_exactly_minimum_calls_trips_an_already_high_rate() {
    // `sliding_window` lowers the default minimum (100) to the window's size.
    let r = rig(|b| {
        b.no_failure_threshold()
            .failure_rate_threshold(50.0)
            .sliding_window(SlidingWindow::Count { size: 4 })
    });
    assert_eq!(r.breaker.config().minimum_calls, 4);
    fail(&r.breaker);
    fail(&r.breaker);
    succeed(&r.breaker);
    assert_eq!(r.breaker.state(), State::Closed);
    succeed(&r.breaker); // 2 of 4: 50%
    assert_eq!(r.breaker.state(), State::Open);
    assert_eq!(
        r.log.transitions(),
        [transition(
            State::Closed,
            State::Open,
            TransitionReason::FailureRate {
                rate: 50.0,
                calls: 4
            }
        )]
    );
}

#[test]
fn a_count_window_holds_only_the_last_size_calls() {
    let r = rig(|b| {
        b.no_failure_threshold()
            .failure_rate_threshold(75.0)
            .sliding_window(SlidingWindow::Count { size: 4 })
    });
    fail(&r.breaker);
    fail(&r.breaker);
    succeed(&r.breaker);
    succeed(&r.breaker); // [F F S S]: 50%
    succeed(&r.breaker);
    succeed(&r.breaker); // [S S S S]: both failures have left the window
    let stats = r.breaker.stats();
    assert_eq!((stats.calls_in_window, stats.failures_in_window), (4, 0));
    assert_eq!(stats.failure_rate, Some(0.0));
    assert_eq!(stats.failed_calls, 2, "totals keep what the window forgot");
    fail(&r.breaker);
    fail(&r.breaker); // [S S F F]
    assert_eq!(r.breaker.state(), State::Closed);
    fail(&r.breaker); // [S F F F]: 75%
    assert_eq!(r.breaker.state(), State::Open);
    assert_eq!(
        r.log.transitions(),
        [transition(
            State::Closed,
            State::Open,
            TransitionReason::FailureRate {
                rate: 75.0,
                calls: 4
            }
        )]
    );
}

// ---------------------------------------------------------------------------------------------
// Closed → Open: failure rate over a time window
// ---------------------------------------------------------------------------------------------

/// A 10 s window in ten 1 s buckets.
fn rate_over_last_10_seconds(
    minimum_calls: u32,
) -> impl FnOnce(CircuitBreakerBuilder) -> CircuitBreakerBuilder {
    move |b| {
        b.no_failure_threshold()
            .failure_rate_threshold(50.0)
            .sliding_window(SlidingWindow::Time {
                duration: secs(10),
                buckets: 10,
            })
            .minimum_calls(minimum_calls)
    }
}

#[test]
fn failures_in_an_expired_time_bucket_no_longer_count() {
    let r = rig(rate_over_last_10_seconds(4));
    r.clock.advance(ms(500));
    for _ in 0..3 {
        fail(&r.breaker);
    }
    let stats = r.breaker.stats();
    assert_eq!((stats.calls_in_window, stats.failures_in_window), (3, 3));
    assert_eq!(stats.failure_rate, None, "3 calls, 4 needed");

    // The bucket [0 s, 1 s) is still inside the window until 10 s ...
    r.clock.advance(ms(9_499));
    assert_eq!(r.breaker.stats().calls_in_window, 3);
    // ... and expires as a whole at 10 s, though its calls were made at 0.5 s.
    r.clock.advance(ms(1));
    let stats = r.breaker.stats();
    assert_eq!((stats.calls_in_window, stats.failures_in_window), (0, 0));

    // 1 failure of 4 calls: had the three old failures counted, 4 of 7 (57%) would trip.
    succeed(&r.breaker);
    succeed(&r.breaker);
    succeed(&r.breaker);
    fail(&r.breaker);
    let stats = r.breaker.stats();
    assert_eq!(stats.state, State::Closed);
    assert_eq!((stats.calls_in_window, stats.failures_in_window), (4, 1));
    assert_eq!(stats.failure_rate, Some(25.0));
    assert!(r.log.transitions().is_empty());
}

#[test]
fn expiring_old_successes_raises_the_failure_rate_and_the_next_record_trips() {
    let r = rig(rate_over_last_10_seconds(2));
    for _ in 0..3 {
        succeed(&r.breaker);
    }
    r.clock.advance(secs(5));
    fail(&r.breaker); // 1 of 4: 25%
    assert_eq!(r.breaker.state(), State::Closed);

    r.clock.advance(secs(5)); // t = 10 s: the three successes expire
    let stats = r.breaker.stats();
    assert_eq!((stats.calls_in_window, stats.failures_in_window), (1, 1));
    assert_eq!(stats.failure_rate, None, "1 call, 2 needed");
    assert_eq!(
        stats.state,
        State::Closed,
        "nothing is recorded, nothing trips"
    );

    succeed(&r.breaker); // even a success now makes 1 failure of 2: 50%
    assert_eq!(r.breaker.state(), State::Open);
    assert_eq!(
        r.log.transitions(),
        [transition(
            State::Closed,
            State::Open,
            TransitionReason::FailureRate {
                rate: 50.0,
                calls: 2
            }
        )]
    );
}

#[test]
fn closing_empties_a_time_window_even_within_the_current_bucket() {
    let r = rig(rate_over_last_10_seconds(4));
    r.clock.advance(ms(200));
    for _ in 0..3 {
        fail(&r.breaker);
    }
    r.clock.advance(ms(200)); // same 1 s bucket
    // Closing an already-Closed breaker changes nothing; closing from another state starts a
    // fresh Closed period.
    r.breaker.close();
    assert_eq!(r.breaker.stats().calls_in_window, 3);
    r.breaker.force_open();
    r.breaker.close();
    assert_eq!(r.breaker.stats().calls_in_window, 0);
    fail(&r.breaker);
    succeed(&r.breaker);
    succeed(&r.breaker);
    succeed(&r.breaker);
    let stats = r.breaker.stats();
    assert_eq!((stats.calls_in_window, stats.failures_in_window), (4, 1));
    assert_eq!(
        stats.state,
        State::Closed,
        "25%: the three earlier failures are gone"
    );
}

#[test]
fn the_slow_call_rate_over_a_time_window_trips_and_its_slow_calls_expire() {
    let r = rig(|b| {
        b.no_failure_threshold()
            .slow_call_rate_threshold(50.0)
            .slow_call_duration(secs(1))
            .sliding_window(SlidingWindow::Time {
                duration: secs(10),
                buckets: 10,
            })
            .minimum_calls(2)
    });
    timed(&r.breaker, &r.clock, secs(1), true); // recorded at t = 1 s, slow
    r.clock.advance(secs(10)); // t = 11 s: its bucket [1 s, 2 s) has expired
    let stats = r.breaker.stats();
    assert_eq!((stats.calls_in_window, stats.slow_calls_in_window), (0, 0));
    succeed(&r.breaker);
    timed(&r.breaker, &r.clock, secs(2), true); // 1 slow of 2
    assert_eq!(r.breaker.state(), State::Open);
    assert_eq!(
        r.log.transitions(),
        [transition(
            State::Closed,
            State::Open,
            TransitionReason::SlowCallRate {
                rate: 50.0,
                calls: 2
            }
        )]
    );
}

// ---------------------------------------------------------------------------------------------
// Closed → Open: slow calls, and combined conditions
// ---------------------------------------------------------------------------------------------

#[test]
fn calls_lasting_at_least_slow_call_duration_are_slow_and_trip_the_slow_call_rate() {
    let r = rig(|b| {
        b.no_failure_threshold()
            .slow_call_rate_threshold(50.0)
            .slow_call_duration(secs(1))
            .sliding_window(SlidingWindow::Count { size: 4 })
    });
    timed(&r.breaker, &r.clock, ms(999), true);
    timed(&r.breaker, &r.clock, ms(1_000), true);
    timed(&r.breaker, &r.clock, secs(2), true);
    let stats = r.breaker.stats();
    assert_eq!(stats.state, State::Closed);
    assert_eq!((stats.calls_in_window, stats.slow_calls_in_window), (3, 2));
    assert_eq!(stats.slow_call_rate, None);
    timed(&r.breaker, &r.clock, Duration::ZERO, true); // 2 slow of 4
    assert_eq!(r.breaker.state(), State::Open);
    let events = r.log.take();
    let slow_flags: Vec<bool> = events
        .iter()
        .filter_map(|e| match e {
            Seen::Outcome(Verdict::Success, slow, State::Closed) => Some(*slow),
            _ => None,
        })
        .collect();
    assert_eq!(slow_flags, [false, true, true, false]);
    assert_eq!(
        events.last(),
        Some(&transition(
            State::Closed,
            State::Open,
            TransitionReason::SlowCallRate {
                rate: 50.0,
                calls: 4
            }
        ))
    );
    assert_eq!(r.breaker.stats().slow_calls, 2);
}

fn every_condition(b: CircuitBreakerBuilder) -> CircuitBreakerBuilder {
    b.failure_threshold(3)
        .failure_rate_threshold(50.0)
        .slow_call_rate_threshold(50.0)
        .slow_call_duration(secs(1))
        .sliding_window(SlidingWindow::Count { size: 10 })
        .minimum_calls(6)
}

#[test]
fn consecutive_failures_alone_trip_a_breaker_with_every_condition() {
    let r = rig(every_condition);
    for _ in 0..3 {
        fail(&r.breaker);
    }
    assert_eq!(
        r.log.transitions(),
        [transition(
            State::Closed,
            State::Open,
            TransitionReason::ConsecutiveFailures { failures: 3 }
        )]
    );
}

#[test]
fn the_failure_rate_alone_trips_a_breaker_with_every_condition() {
    let r = rig(every_condition);
    for _ in 0..3 {
        fail(&r.breaker);
        succeed(&r.breaker);
    }
    assert_eq!(
        r.log.transitions(),
        [transition(
            State::Closed,
            State::Open,
            TransitionReason::FailureRate {
                rate: 50.0,
                calls: 6
            }
        )]
    );
}

#[test]
fn the_slow_call_rate_alone_trips_a_breaker_with_every_condition() {
    let r = rig(every_condition);
    for _ in 0..3 {
        timed(&r.breaker, &r.clock, secs(1), true);
    }
    for _ in 0..3 {
        succeed(&r.breaker);
    }
    assert_eq!(
        r.log.transitions(),
        [transition(
            State::Closed,
            State::Open,
            TransitionReason::SlowCallRate {
                rate: 50.0,
                calls: 6
            }
        )]
    );
}

// ---------------------------------------------------------------------------------------------
// Open: rejection
// ---------------------------------------------------------------------------------------------

#[test]
fn an_open_breaker_rejects_calls_without_running_them_and_says_how_long_to_wait() {
    let r = rig(|b| b.failure_threshold(1).recovery_timeout(secs(30)));
    fail(&r.breaker);
    r.log.take();
    r.clock.advance(secs(10));
    assert_eq!(
        rejected(&r.breaker),
        ("test".to_string(), State::Open, Some(secs(20)))
    );
    let err = r.breaker.call_blocking(|| Ok::<_, &str>(())).unwrap_err();
    assert_eq!(err.retry_after(), Some(secs(20)));
    assert!(err.is_rejection());
    let shown = err.to_string();
    assert!(
        shown.contains("'test' is open") && shown.contains("20s"),
        "{shown}"
    );
    assert_eq!(
        r.log.take(),
        [
            Seen::Rejected(State::Open, Some(secs(20))),
            Seen::Rejected(State::Open, Some(secs(20)))
        ]
    );
    let stats = r.breaker.stats();
    assert_eq!(stats.not_permitted_calls, 2);
    assert_eq!(stats.total_calls(), 1, "rejected calls are not recorded");
}

#[tokio::test]
async fn an_open_breaker_drops_a_rejected_future_unpolled() {
    let r = rig(|b| b.failure_threshold(1));
    fail(&r.breaker);
    let polled = AtomicBool::new(false);
    let outcome = r
        .breaker
        .call(|| async {
            polled.store(true, Ordering::Relaxed);
            Ok::<_, &str>(())
        })
        .await;
    assert_eq!(rejection(outcome).1, State::Open);
    assert!(!polled.load(Ordering::Relaxed));
}

#[test]
fn retry_after_counts_down_the_rest_of_the_recovery_timeout() {
    let r = rig(|b| b.failure_threshold(1).recovery_timeout(secs(30)));
    fail(&r.breaker);
    for (advance, left) in [
        (Duration::ZERO, secs(30)),
        (secs(10), secs(20)),
        (ms(19_999), ms(1)),
    ] {
        r.clock.advance(advance);
        assert_eq!(rejected(&r.breaker).2, Some(left));
        assert_eq!(r.breaker.stats().retry_after, Some(left));
    }
    r.clock.advance(ms(1));
    succeed(&r.breaker);
}

// ---------------------------------------------------------------------------------------------
// Open → HalfOpen, recovery backoff
// ---------------------------------------------------------------------------------------------

#[test]
fn state_reports_half_open_only_once_recovery_timeout_has_elapsed() {
    let r = rig(|b| b.failure_threshold(1).recovery_timeout(secs(30)));
    fail(&r.breaker);
    r.clock.advance(ms(29_999));
    assert_eq!(r.breaker.state(), State::Open);
    r.clock.advance(ms(1));
    assert_eq!(r.breaker.state(), State::HalfOpen);
    assert_eq!(r.breaker.state(), State::HalfOpen);
    assert_eq!(
        r.log.transitions(),
        [
            transition(
                State::Closed,
                State::Open,
                TransitionReason::ConsecutiveFailures { failures: 1 }
            ),
            transition(
                State::Open,
                State::HalfOpen,
                TransitionReason::RecoveryTimeoutElapsed
            ),
        ],
        "the lazy transition is published exactly once"
    );
}

#[test]
fn the_first_call_after_recovery_timeout_is_admitted_as_a_trial_call() {
    let r = rig(|b| b.failure_threshold(1).recovery_timeout(secs(30)));
    fail(&r.breaker);
    r.log.take();
    r.clock.advance(secs(30));
    // No one has looked at the state: the call itself observes the elapsed timeout.
    let permit = r.breaker.try_acquire().expect("a trial call");
    assert_eq!(permit.ticket().map(|t| t.role()), Some(Role::TrialCall));
    assert_eq!(
        r.log.take(),
        [transition(
            State::Open,
            State::HalfOpen,
            TransitionReason::RecoveryTimeoutElapsed
        )]
    );
    let stats = r.breaker.stats();
    assert_eq!(stats.state, State::HalfOpen);
    assert_eq!(stats.trial_calls_in_flight, 1);
    drop(permit);
}

#[test]
fn recovery_backoff_multiplies_the_wait_on_each_trip_without_closing_up_to_its_max() {
    let r = rig(|b| {
        b.failure_threshold(1)
            .recovery_timeout(secs(10))
            .recovery_backoff(2.0, secs(35))
            .half_open_requests(1)
            .max_wait_in_half_open(None)
    });
    fail(&r.breaker);
    assert_eq!(r.breaker.stats().retry_after, Some(secs(10)));
    for expected in [secs(20), secs(35), secs(35)] {
        let wait = r.breaker.stats().retry_after.unwrap();
        r.clock.advance(wait);
        fail(&r.breaker); // the trial call fails: trips again
        assert_eq!(r.breaker.stats().retry_after, Some(expected));
        assert_eq!(rejected(&r.breaker).2, Some(expected));
    }
    r.clock.advance(secs(35));
    succeed(&r.breaker);
    assert_eq!(r.breaker.state(), State::Closed);
    fail(&r.breaker);
    assert_eq!(
        r.breaker.stats().retry_after,
        Some(secs(10)),
        "closing resets the backoff"
    );
}

#[test]
fn reset_forgets_the_recovery_backoff() {
    let r = rig(|b| {
        b.failure_threshold(1)
            .recovery_timeout(secs(10))
            .recovery_backoff(3.0, secs(100))
            .half_open_requests(1)
    });
    fail(&r.breaker);
    r.clock.advance(secs(10));
    fail(&r.breaker);
    assert_eq!(r.breaker.stats().retry_after, Some(secs(30)));
    r.breaker.reset();
    fail(&r.breaker);
    assert_eq!(r.breaker.stats().retry_after, Some(secs(10)));
}

// ---------------------------------------------------------------------------------------------
// HalfOpen
// ---------------------------------------------------------------------------------------------

#[test]
fn half_open_admits_exactly_half_open_requests_trial_calls() {
    let r = half_open(|b| b.half_open_requests(3));
    let permits: Vec<_> = (0..3)
        .map(|_| r.breaker.try_acquire().expect("a free trial slot"))
        .collect();
    assert!(
        permits
            .iter()
            .all(|p| p.ticket().map(|t| t.role()) == Some(Role::TrialCall))
    );
    assert_eq!(r.breaker.stats().trial_calls_in_flight, 3);

    let refused = r.breaker.try_acquire().unwrap_err();
    assert_eq!(
        (refused.state(), refused.retry_after()),
        (State::HalfOpen, None)
    );
    assert_eq!(
        rejected(&r.breaker),
        ("test".to_string(), State::HalfOpen, None)
    );
    let err = r.breaker.call_blocking(|| Ok::<_, &str>(())).unwrap_err();
    assert!(err.to_string().contains("half-open"), "{err}");
    assert_eq!(
        r.log.take(),
        [
            Seen::Rejected(State::HalfOpen, None),
            Seen::Rejected(State::HalfOpen, None),
            Seen::Rejected(State::HalfOpen, None),
        ]
    );
    let stats = r.breaker.stats();
    assert_eq!(stats.trial_calls_in_flight, 3);
    assert_eq!(stats.not_permitted_calls, 3);
    assert_eq!(stats.state, State::HalfOpen);
    drop(permits);
}

#[test]
fn a_completed_trial_call_frees_its_slot() {
    let r = half_open(|b| b.half_open_requests(2).success_threshold(3));
    let first = r.breaker.try_acquire().unwrap();
    let _second = r.breaker.try_acquire().unwrap();
    assert!(r.breaker.try_acquire().is_err());
    first.record_success();
    assert_eq!(r.breaker.stats().trial_calls_in_flight, 1);
    let third = r.breaker.try_acquire().expect("the finished call's slot");
    assert_eq!(r.breaker.state(), State::HalfOpen, "1 success of 3");
    drop(third);
}

#[test]
fn half_open_requests_successful_trials_close_the_breaker_by_default() {
    let r = half_open(|b| b.half_open_requests(3));
    succeed(&r.breaker);
    succeed(&r.breaker);
    assert_eq!(r.breaker.state(), State::HalfOpen);
    succeed(&r.breaker);
    assert_eq!(r.breaker.state(), State::Closed);
    assert_eq!(
        r.log.transitions(),
        [transition(
            State::HalfOpen,
            State::Closed,
            TransitionReason::TrialCallsSucceeded { successes: 3 }
        )]
    );
    let stats = r.breaker.stats();
    assert_eq!((stats.calls_in_window, stats.consecutive_failures), (0, 0));
}

#[test]
fn success_threshold_sets_how_many_trial_successes_close_the_breaker() {
    // More successes than slots: they must come one after another.
    let r = half_open(|b| b.half_open_requests(1).success_threshold(3));
    for _ in 0..2 {
        succeed(&r.breaker);
        assert_eq!(r.breaker.state(), State::HalfOpen);
    }
    succeed(&r.breaker);
    assert_eq!(r.breaker.state(), State::Closed);
    assert_eq!(
        r.log.transitions(),
        [transition(
            State::HalfOpen,
            State::Closed,
            TransitionReason::TrialCallsSucceeded { successes: 3 }
        )]
    );

    // Fewer successes than slots: the first success closes it.
    let r = half_open(|b| b.half_open_requests(3).success_threshold(1));
    let late = r.breaker.try_acquire().unwrap();
    succeed(&r.breaker);
    assert_eq!(r.breaker.state(), State::Closed);
    late.record_failure(); // a trial of the period that just ended
    assert_eq!(
        r.breaker.state(),
        State::Closed,
        "a late trial failure must not re-open a closed breaker"
    );
    assert_eq!(r.breaker.stats().consecutive_failures, 0);
}

#[test]
fn any_failed_trial_call_reopens_the_breaker_for_a_full_recovery_timeout() {
    let r = half_open(|b| b.half_open_requests(3));
    succeed(&r.breaker);
    succeed(&r.breaker);
    fail(&r.breaker);
    assert_eq!(r.breaker.state(), State::Open);
    assert_eq!(r.breaker.stats().retry_after, Some(secs(10)));
    assert_eq!(
        r.log.transitions(),
        [transition(
            State::HalfOpen,
            State::Open,
            TransitionReason::TrialCallFailed
        )]
    );
}

#[test]
fn an_ignored_trial_call_frees_its_slot_and_counts_neither_way() {
    let r = half_open(|b| b.half_open_requests(1).success_threshold(2));
    r.breaker.try_acquire().unwrap().record_ignored();
    let stats = r.breaker.stats();
    assert_eq!(
        stats.state,
        State::HalfOpen,
        "an ignored trial is no failure"
    );
    assert_eq!(stats.trial_calls_in_flight, 0);
    assert_eq!(stats.ignored_calls, 1);
    succeed(&r.breaker);
    assert_eq!(
        r.breaker.state(),
        State::HalfOpen,
        "an ignored trial is no success either: 1 of 2"
    );
    succeed(&r.breaker);
    assert_eq!(r.breaker.state(), State::Closed);
}

#[test]
fn a_dropped_trial_permit_gives_its_slot_back_and_records_nothing() {
    let r = half_open(|b| b.half_open_requests(1));
    let permit = r.breaker.try_acquire().unwrap();
    assert!(r.breaker.try_acquire().is_err());
    drop(permit);
    assert_eq!(r.breaker.stats().trial_calls_in_flight, 0);

    let owned = r.breaker.try_acquire_owned().unwrap();
    assert!(r.breaker.try_acquire().is_err());
    drop(owned);
    let stats = r.breaker.stats();
    assert_eq!(stats.trial_calls_in_flight, 0);
    assert_eq!(stats.state, State::HalfOpen);
    assert_eq!(stats.total_calls(), 1, "only the failure that tripped it");
    succeed(&r.breaker);
    assert_eq!(r.breaker.state(), State::Closed);
}

#[test]
fn a_call_future_dropped_mid_trial_gives_its_slot_back() {
    let r = half_open(|b| b.half_open_requests(1));
    let mut call = Box::pin(
        r.breaker
            .call(std::future::pending::<Result<(), &'static str>>),
    );
    let mut cx = Context::from_waker(Waker::noop());
    assert!(call.as_mut().poll(&mut cx).is_pending());
    assert_eq!(r.breaker.stats().trial_calls_in_flight, 1);
    assert_eq!(rejected(&r.breaker).1, State::HalfOpen);
    drop(call);
    let stats = r.breaker.stats();
    assert_eq!(stats.trial_calls_in_flight, 0);
    assert_eq!(stats.state, State::HalfOpen);
    assert_eq!(stats.total_calls(), 1, "a cancelled call records nothing");
    succeed(&r.breaker);
    assert_eq!(r.breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_call_cancelled_by_a_timeout_gives_its_trial_slot_back() {
    let r = half_open(|b| b.half_open_requests(1));
    let outcome = tokio::time::timeout(
        secs(5),
        r.breaker
            .call(std::future::pending::<Result<(), &'static str>>),
    )
    .await;
    assert!(outcome.is_err(), "the call never finishes");
    assert_eq!(r.breaker.stats().trial_calls_in_flight, 0);
    assert_eq!(r.breaker.call(|| async { Ok::<_, &str>(1) }).await, Ok(1));
    assert_eq!(r.breaker.state(), State::Closed);
}

#[test]
fn a_panicking_trial_operation_gives_its_slot_back() {
    let r = half_open(|b| b.half_open_requests(1));
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        r.breaker
            .call_blocking(|| -> Result<(), &'static str> { resume_unwind(Box::new("boom")) })
    }));
    assert!(outcome.is_err(), "the panic propagates");
    let stats = r.breaker.stats();
    assert_eq!(stats.trial_calls_in_flight, 0);
    assert_eq!(stats.state, State::HalfOpen);
    assert_eq!(stats.total_calls(), 1, "a panicked call records nothing");
    succeed(&r.breaker);
    assert_eq!(r.breaker.state(), State::Closed);
}

#[test]
fn max_wait_in_half_open_reopens_a_breaker_whose_trial_calls_never_complete() {
    let r = half_open(|b| {
        b.half_open_requests(1)
            .max_wait_in_half_open(Some(secs(60)))
    });
    let stuck = r.breaker.try_acquire().unwrap();
    r.clock.advance(ms(59_999));
    assert_eq!(r.breaker.state(), State::HalfOpen);
    r.clock.advance(ms(1));
    assert_eq!(r.breaker.state(), State::Open);
    assert_eq!(
        r.log.transitions(),
        [transition(
            State::HalfOpen,
            State::Open,
            TransitionReason::HalfOpenTimedOut { waited: secs(60) }
        )]
    );
    assert_eq!(
        rejected(&r.breaker),
        ("test".into(), State::Open, Some(secs(10)))
    );
    stuck.record_success(); // far too late: its HalfOpen period is over
    assert_eq!(r.breaker.state(), State::Open);
    r.clock.advance(secs(10));
    assert_eq!(r.breaker.state(), State::HalfOpen);
    assert_eq!(r.breaker.stats().trial_calls_in_flight, 0);
}

#[test]
fn max_wait_in_half_open_is_seen_by_the_next_caller() {
    let r = half_open(|b| {
        b.half_open_requests(1)
            .max_wait_in_half_open(Some(secs(60)))
    });
    let _stuck = r.breaker.try_acquire().unwrap();
    r.clock.advance(secs(60));
    let refused = r.breaker.try_acquire().unwrap_err();
    assert_eq!(
        (refused.state(), refused.retry_after()),
        (State::Open, Some(secs(10)))
    );
    assert_eq!(
        r.log.take(),
        [
            transition(
                State::HalfOpen,
                State::Open,
                TransitionReason::HalfOpenTimedOut { waited: secs(60) }
            ),
            Seen::Rejected(State::Open, Some(secs(10))),
        ]
    );
}

#[test]
fn a_slow_trial_call_reopens_the_breaker() {
    let slow_detection = |b: CircuitBreakerBuilder| {
        b.half_open_requests(1)
            .slow_call_rate_threshold(100.0)
            .slow_call_duration(secs(2))
    };
    let r = half_open(slow_detection);
    timed(&r.breaker, &r.clock, secs(2), true);
    assert_eq!(r.breaker.state(), State::Open);
    assert_eq!(
        r.log.take(),
        [
            Seen::Outcome(Verdict::Success, true, State::HalfOpen),
            transition(
                State::HalfOpen,
                State::Open,
                TransitionReason::TrialCallFailed
            ),
        ]
    );

    let r = half_open(slow_detection);
    timed(&r.breaker, &r.clock, ms(1_999), true);
    assert_eq!(
        r.breaker.state(),
        State::Closed,
        "a fast enough trial closes it"
    );
}

// ---------------------------------------------------------------------------------------------
// Stale outcomes
// ---------------------------------------------------------------------------------------------

#[test]
fn outcomes_of_calls_admitted_before_a_trip_do_not_count_after_closing() {
    let r = rig(|b| b.failure_threshold(3));
    let late_success = r.breaker.try_acquire().unwrap();
    let late_failure = r.breaker.try_acquire().unwrap();
    for _ in 0..3 {
        fail(&r.breaker);
    }
    assert_eq!(r.breaker.state(), State::Open);
    r.breaker.close();
    fail(&r.breaker);
    fail(&r.breaker);
    assert_eq!(r.breaker.stats().consecutive_failures, 2);
    late_success.record_success();
    assert_eq!(
        r.breaker.stats().consecutive_failures,
        2,
        "a success from the previous period must not end this period's run"
    );
    late_failure.record_failure();
    assert_eq!(
        r.breaker.stats().consecutive_failures,
        2,
        "a failure from the previous period must not extend this period's run"
    );
    assert_eq!(r.breaker.state(), State::Closed);
    fail(&r.breaker);
    assert_eq!(r.breaker.state(), State::Open);
}

#[test]
fn outcomes_of_calls_admitted_before_a_reset_stay_out_of_the_new_window() {
    let r = rig(rate_over_last_10_calls);
    let late = r.breaker.try_acquire().unwrap();
    for _ in 0..4 {
        fail(&r.breaker);
    }
    assert_eq!(r.breaker.state(), State::Open);
    r.breaker.reset();
    late.record_failure();
    let stats = r.breaker.stats();
    assert_eq!((stats.calls_in_window, stats.failures_in_window), (0, 0));
    assert_eq!(stats.state, State::Closed);
}

#[test]
fn a_trial_permit_from_an_earlier_half_open_period_frees_no_slot_of_a_later_one() {
    let r = half_open(|b| b.half_open_requests(3).max_wait_in_half_open(None));
    let old_dropped = r.breaker.try_acquire().unwrap();
    let old_success = r.breaker.try_acquire().unwrap();
    fail(&r.breaker); // the third trial fails: Open again
    assert_eq!(r.breaker.state(), State::Open);
    r.clock.advance(secs(10));
    let new: Vec<_> = (0..3)
        .map(|_| {
            r.breaker
                .try_acquire()
                .expect("a trial slot of the new period")
        })
        .collect();
    assert!(r.breaker.try_acquire().is_err());

    drop(old_dropped);
    assert_eq!(r.breaker.stats().trial_calls_in_flight, 3);
    assert!(
        r.breaker.try_acquire().is_err(),
        "an old permit must not free a slot of this period"
    );
    old_success.record_success();
    assert_eq!(r.breaker.stats().trial_calls_in_flight, 3);
    assert!(r.breaker.try_acquire().is_err());

    let mut new = new.into_iter();
    new.next().unwrap().record_success();
    new.next().unwrap().record_success();
    assert_eq!(
        r.breaker.state(),
        State::HalfOpen,
        "the old success must not count: 2 of 3 so far"
    );
    new.next().unwrap().record_success();
    assert_eq!(r.breaker.state(), State::Closed);
}

// ---------------------------------------------------------------------------------------------
// Operator states
// ---------------------------------------------------------------------------------------------

#[test]
fn force_open_rejects_every_call_with_no_retry_after_until_closed() {
    let r = rig(|b| b);
    r.breaker.force_open();
    assert_eq!(
        rejected(&r.breaker),
        ("test".to_string(), State::ForcedOpen, None)
    );
    let err = r.breaker.call_blocking(|| Ok::<_, &str>(())).unwrap_err();
    assert!(err.to_string().contains("forced open"), "{err}");
    r.clock.advance(secs(86_400));
    assert_eq!(r.breaker.state(), State::ForcedOpen);
    assert_eq!(rejected(&r.breaker).1, State::ForcedOpen);
    let stats = r.breaker.stats();
    assert_eq!(stats.retry_after, None);
    assert_eq!(stats.not_permitted_calls, 3);
    r.breaker.close();
    succeed(&r.breaker);
    assert_eq!(
        r.log.transitions(),
        [
            transition(State::Closed, State::ForcedOpen, TransitionReason::Manual),
            transition(State::ForcedOpen, State::Closed, TransitionReason::Manual),
        ]
    );
}

#[test]
fn a_disabled_breaker_admits_every_call_and_records_nothing() {
    let r = rig(|b| {
        b.failure_threshold(1)
            .failure_rate_threshold(10.0)
            .sliding_window(SlidingWindow::Count { size: 2 })
    });
    fail(&r.breaker); // Open
    r.breaker.disable();
    for _ in 0..10 {
        fail(&r.breaker);
    }
    succeed(&r.breaker);
    let stats = r.breaker.stats();
    assert_eq!(stats.state, State::Disabled);
    assert_eq!(
        (
            stats.successful_calls,
            stats.failed_calls,
            stats.ignored_calls
        ),
        (0, 1, 0),
        "only the failure before disabling is counted"
    );
    assert_eq!(stats.not_permitted_calls, 0);
    assert_eq!(
        r.log.take(),
        [
            Seen::Outcome(Verdict::Failure, false, State::Closed),
            transition(
                State::Closed,
                State::Open,
                TransitionReason::ConsecutiveFailures { failures: 1 }
            ),
            transition(State::Open, State::Disabled, TransitionReason::Manual),
        ],
        "no outcome is published while disabled"
    );
}

#[test]
fn metrics_only_records_and_publishes_outcomes_but_never_trips() {
    let r = rig(|b| {
        b.failure_threshold(2)
            .failure_rate_threshold(50.0)
            .sliding_window(SlidingWindow::Count { size: 4 })
    });
    r.breaker.metrics_only();
    for _ in 0..6 {
        fail(&r.breaker);
    }
    let stats = r.breaker.stats();
    assert_eq!(stats.state, State::MetricsOnly);
    assert_eq!(stats.failed_calls, 6);
    assert_eq!(stats.consecutive_failures, 6);
    assert_eq!((stats.calls_in_window, stats.failures_in_window), (4, 4));
    assert_eq!(stats.failure_rate, Some(100.0));
    let mut expected = vec![transition(
        State::Closed,
        State::MetricsOnly,
        TransitionReason::Manual,
    )];
    expected.extend(std::iter::repeat_n(
        Seen::Outcome(Verdict::Failure, false, State::MetricsOnly),
        6,
    ));
    assert_eq!(r.log.take(), expected);
}

#[test]
fn close_returns_to_closed_with_an_empty_window_and_keeps_totals() {
    let r = rig(|b| {
        b.failure_threshold(3)
            .failure_rate_threshold(90.0)
            .sliding_window(SlidingWindow::Count { size: 10 })
            .minimum_calls(5)
    });
    for _ in 0..3 {
        fail(&r.breaker);
    }
    assert_eq!(r.breaker.state(), State::Open);
    r.breaker.close();
    let stats = r.breaker.stats();
    assert_eq!(stats.state, State::Closed);
    assert_eq!((stats.calls_in_window, stats.failures_in_window), (0, 0));
    assert_eq!(stats.consecutive_failures, 0);
    assert_eq!(stats.failed_calls, 3, "close keeps the totals");
    // Two more failures: had the window kept the old three, 5 of 5 would trip.
    fail(&r.breaker);
    fail(&r.breaker);
    assert_eq!(r.breaker.state(), State::Closed);
    assert_eq!(
        r.log.transitions().last(),
        Some(&transition(
            State::Open,
            State::Closed,
            TransitionReason::Manual
        ))
    );
}

#[test]
fn reset_returns_to_a_fresh_closed_breaker() {
    let r = rig(|b| {
        b.failure_threshold(2)
            .failure_rate_threshold(50.0)
            .sliding_window(SlidingWindow::Count { size: 10 })
    });
    succeed(&r.breaker);
    r.breaker.try_acquire().unwrap().record_ignored();
    fail(&r.breaker);
    fail(&r.breaker);
    rejected(&r.breaker);
    assert_eq!(r.breaker.state(), State::Open);
    r.breaker.reset();
    let stats = r.breaker.stats();
    assert_eq!(stats.state, State::Closed);
    assert_eq!(
        (
            stats.successful_calls,
            stats.failed_calls,
            stats.ignored_calls,
            stats.slow_calls,
            stats.not_permitted_calls
        ),
        (0, 0, 0, 0, 0)
    );
    assert_eq!((stats.calls_in_window, stats.consecutive_failures), (0, 0));
    assert_eq!(stats.retry_after, None);
    assert_eq!(
        r.log.transitions().last(),
        Some(&transition(
            State::Open,
            State::Closed,
            TransitionReason::Manual
        ))
    );
    succeed(&r.breaker);
    assert_eq!(r.breaker.stats().successful_calls, 1);
}

#[test]
fn manual_transitions_publish_one_event_per_actual_change() {
    let r = rig(|b| b);
    r.breaker.force_open();
    r.breaker.force_open();
    r.breaker.disable();
    r.breaker.disable();
    r.breaker.metrics_only();
    r.breaker.metrics_only();
    r.breaker.close();
    r.breaker.close();
    r.breaker.reset();
    r.breaker.force_open();
    r.breaker.reset();
    assert_eq!(
        r.log.take(),
        [
            transition(State::Closed, State::ForcedOpen, TransitionReason::Manual),
            transition(State::ForcedOpen, State::Disabled, TransitionReason::Manual),
            transition(
                State::Disabled,
                State::MetricsOnly,
                TransitionReason::Manual
            ),
            transition(State::MetricsOnly, State::Closed, TransitionReason::Manual),
            transition(State::Closed, State::ForcedOpen, TransitionReason::Manual),
            transition(State::ForcedOpen, State::Closed, TransitionReason::Manual),
        ]
    );
}

#[test]
fn a_manual_transition_to_the_current_state_keeps_time_in_state() {
    let r = rig(|b| b);
    r.breaker.force_open();
    r.clock.advance(secs(30));
    r.breaker.force_open(); // already forced open: no event, no change
    assert_eq!(r.log.transitions().len(), 1);
    assert_eq!(r.breaker.stats().time_in_state, secs(30));
}

// ---------------------------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------------------------

#[test]
fn errors_not_matching_failure_if_count_as_successes() {
    let breaker = CircuitBreaker::builder()
        .clock(ManualClock::new())
        .failure_threshold(2)
        .build()
        .unwrap()
        .failure_if(|status: &u16| *status >= 500);
    let call = |status: u16| breaker.call_blocking(|| Err::<(), _>(status));
    assert_eq!(call(503), Err(Error::Operation(503)));
    assert_eq!(
        call(404),
        Err(Error::Operation(404)),
        "still returned as an error"
    );
    let stats = breaker.stats();
    assert_eq!((stats.successful_calls, stats.failed_calls), (1, 1));
    assert_eq!(stats.consecutive_failures, 0, "the 404 ended the run");
    let _ = call(500);
    assert_eq!(breaker.state(), State::Closed);
    let _ = call(502);
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn ignore_if_is_checked_before_failure_if_and_counts_neither_way() {
    let breaker = CircuitBreaker::builder()
        .clock(ManualClock::new())
        .failure_threshold(2)
        .build()
        .unwrap()
        .failure_if(|_: &u16| true)
        .ignore_if(|status: &u16| *status == 404);
    assert_eq!(breaker.classify(&Err::<(), _>(404)), Verdict::Ignored);
    assert_eq!(breaker.classify(&Err::<(), _>(500)), Verdict::Failure);
    let call = |status: u16| breaker.call_blocking(|| Err::<(), _>(status));
    let _ = call(500);
    assert_eq!(call(404), Err(Error::Operation(404)));
    let stats = breaker.stats();
    assert_eq!(
        (
            stats.successful_calls,
            stats.failed_calls,
            stats.ignored_calls
        ),
        (0, 1, 1)
    );
    assert_eq!(
        stats.consecutive_failures, 1,
        "an ignored error does not end the run"
    );
    let _ = call(500);
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn failure_on_result_counts_an_ok_value_as_a_failure_and_still_returns_it() {
    let breaker = CircuitBreaker::builder()
        .clock(ManualClock::new())
        .failure_threshold(2)
        .build()
        .unwrap()
        .failure_on_result(|status: &u16| *status == 503);
    let call = |status: u16| breaker.call_blocking(|| Ok::<_, &str>(status));
    assert_eq!(call(503), Ok(503));
    assert_eq!(call(200), Ok(200));
    assert_eq!(breaker.stats().consecutive_failures, 0);
    assert_eq!(call(503), Ok(503));
    assert_eq!(
        call(503),
        Ok(503),
        "the tripping call still returns its value"
    );
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(rejection(call(200)).1, State::Open);
    let stats = breaker.stats();
    assert_eq!((stats.successful_calls, stats.failed_calls), (1, 3));
}

#[tokio::test]
async fn async_calls_are_classified_like_blocking_ones() {
    let breaker = CircuitBreaker::builder()
        .clock(ManualClock::new())
        .failure_threshold(1)
        .build()
        .unwrap()
        .failure_on_result(|status: &u16| *status == 503);
    assert_eq!(breaker.call(|| async { Ok::<u16, ()>(200) }).await, Ok(200));
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.call(|| async { Ok::<u16, ()>(503) }).await, Ok(503));
    assert_eq!(breaker.state(), State::Open);
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

#[test]
fn events_of_a_full_cycle_are_published_in_order() {
    let r = rig(|b| {
        b.failure_threshold(2)
            .recovery_timeout(secs(10))
            .half_open_requests(1)
    });
    fail(&r.breaker);
    fail(&r.breaker);
    rejected(&r.breaker);
    r.clock.advance(secs(10));
    succeed(&r.breaker);
    assert_eq!(
        r.log.take(),
        [
            Seen::Outcome(Verdict::Failure, false, State::Closed),
            Seen::Outcome(Verdict::Failure, false, State::Closed),
            transition(
                State::Closed,
                State::Open,
                TransitionReason::ConsecutiveFailures { failures: 2 }
            ),
            Seen::Rejected(State::Open, Some(secs(10))),
            transition(
                State::Open,
                State::HalfOpen,
                TransitionReason::RecoveryTimeoutElapsed
            ),
            Seen::Outcome(Verdict::Success, false, State::HalfOpen),
            transition(
                State::HalfOpen,
                State::Closed,
                TransitionReason::TrialCallsSucceeded { successes: 1 }
            ),
        ]
    );
}

#[test]
fn events_name_the_breaker_and_its_policy_kind() {
    let names = Arc::new(Mutex::new(Vec::new()));
    let log = names.clone();
    let breaker = CircuitBreaker::builder()
        .name("payments")
        .clock(ManualClock::new())
        .failure_threshold(1)
        .on_event(move |e: &Event<'_>| {
            let cb = match e {
                Event::CircuitBreaker(cb) => cb.name().to_string(),
                _ => String::new(),
            };
            log.lock()
                .unwrap()
                .push((e.policy_name().to_string(), e.policy_kind(), cb));
        })
        .build()
        .unwrap();
    fail(&breaker);
    let _ = breaker.try_acquire();
    let names = names.lock().unwrap();
    assert_eq!(names.len(), 3, "outcome, transition, rejection");
    assert!(
        names.iter().all(|n| *n
            == (
                "payments".to_string(),
                "circuit_breaker",
                "payments".to_string()
            )),
        "{names:?}"
    );
}

#[test]
fn a_listener_may_call_back_into_the_breaker_without_deadlocking() {
    finish_within(secs(10), || {
        let clock = ManualClock::new();
        let cell: Arc<OnceLock<CircuitBreaker>> = Arc::default();
        // For each transition: the state it entered, then state() and stats().state as seen
        // from inside the listener.
        let seen: Arc<Mutex<Vec<(State, State, State)>>> = Arc::default();
        let callbacks = Arc::new(AtomicU32::new(0));
        let (me, log, count) = (cell.clone(), seen.clone(), callbacks.clone());
        let breaker = CircuitBreaker::builder()
            .failure_threshold(1)
            .recovery_timeout(secs(10))
            .half_open_requests(1)
            .clock(clock.clone())
            .on_event(move |e: &Event<'_>| {
                let Some(breaker) = me.get() else {
                    return;
                };
                let state = breaker.state();
                let stats = breaker.stats();
                count.fetch_add(1, Ordering::Relaxed);
                if let Event::CircuitBreaker(CircuitBreakerEvent::StateTransition { to, .. }) = e {
                    log.lock().unwrap().push((*to, state, stats.state));
                }
            })
            .build()
            .unwrap();
        cell.set(breaker.clone()).unwrap();

        fail(&breaker); // outcome + Closed → Open
        rejected(&breaker); // rejection
        clock.advance(secs(10));
        assert_eq!(breaker.state(), State::HalfOpen); // Open → HalfOpen from state()
        succeed(&breaker); // outcome + HalfOpen → Closed
        fail(&breaker); // outcome + Closed → Open
        clock.advance(secs(10));
        let _ = breaker.stats(); // Open → HalfOpen from stats()
        breaker.force_open();
        breaker.reset();

        assert_eq!(
            *seen.lock().unwrap(),
            [
                (State::Open, State::Open, State::Open),
                (State::HalfOpen, State::HalfOpen, State::HalfOpen),
                (State::Closed, State::Closed, State::Closed),
                (State::Open, State::Open, State::Open),
                (State::HalfOpen, State::HalfOpen, State::HalfOpen),
                (State::ForcedOpen, State::ForcedOpen, State::ForcedOpen),
                (State::Closed, State::Closed, State::Closed),
            ]
        );
        assert_eq!(callbacks.load(Ordering::Relaxed), 11);
    });
}

// ---------------------------------------------------------------------------------------------
// Stats
// ---------------------------------------------------------------------------------------------

#[test]
fn rates_are_none_until_minimum_calls_are_in_the_window_and_without_a_rate_condition() {
    let r = rig(|b| {
        b.failure_rate_threshold(50.0)
            .slow_call_rate_threshold(50.0)
            .slow_call_duration(secs(1))
            .sliding_window(SlidingWindow::Count { size: 10 })
            .minimum_calls(3)
    });
    timed(&r.breaker, &r.clock, secs(1), true);
    succeed(&r.breaker);
    let stats = r.breaker.stats();
    assert_eq!((stats.failure_rate, stats.slow_call_rate), (None, None));
    fail(&r.breaker);
    let stats = r.breaker.stats();
    let rate = 100.0 / 3.0;
    assert_eq!(
        (stats.failure_rate, stats.slow_call_rate),
        (Some(rate), Some(rate))
    );

    let plain = rig(|b| b.failure_threshold(5));
    for _ in 0..4 {
        fail(&plain.breaker);
    }
    let stats = plain.breaker.stats();
    assert_eq!((stats.failure_rate, stats.slow_call_rate), (None, None));
    assert_eq!(
        stats.calls_in_window, 0,
        "no window without a rate condition"
    );
    assert_eq!(stats.consecutive_failures, 4);
}

#[test]
fn time_in_state_advances_with_the_clock_and_restarts_on_every_transition() {
    let r = rig(|b| {
        b.failure_threshold(1)
            .recovery_timeout(secs(10))
            .half_open_requests(1)
    });
    r.clock.advance(secs(5));
    assert_eq!(r.breaker.stats().time_in_state, secs(5));
    fail(&r.breaker);
    assert_eq!(r.breaker.stats().time_in_state, Duration::ZERO);
    r.clock.advance(secs(3));
    assert_eq!(r.breaker.stats().time_in_state, secs(3));
    r.clock.advance(secs(7));
    let stats = r.breaker.stats();
    assert_eq!(stats.state, State::HalfOpen);
    assert_eq!(stats.time_in_state, Duration::ZERO);
    r.clock.advance(secs(2));
    assert_eq!(r.breaker.stats().time_in_state, secs(2));
    succeed(&r.breaker);
    let stats = r.breaker.stats();
    assert_eq!(stats.state, State::Closed);
    assert_eq!(stats.time_in_state, Duration::ZERO);
}

#[test]
fn retry_after_is_reported_only_while_open() {
    let r = rig(|b| b.failure_threshold(1).recovery_timeout(secs(10)));
    assert_eq!(r.breaker.stats().retry_after, None);
    fail(&r.breaker);
    assert_eq!(r.breaker.stats().retry_after, Some(secs(10)));
    r.clock.advance(secs(4));
    assert_eq!(r.breaker.stats().retry_after, Some(secs(6)));
    r.clock.advance(secs(6));
    let stats = r.breaker.stats();
    assert_eq!((stats.state, stats.retry_after), (State::HalfOpen, None));
    r.breaker.force_open();
    assert_eq!(r.breaker.stats().retry_after, None);
}

#[test]
fn trial_calls_in_flight_are_reported_only_in_half_open() {
    let r = half_open(|b| b.half_open_requests(2));
    let a = r.breaker.try_acquire().unwrap();
    let b = r.breaker.try_acquire().unwrap();
    assert_eq!(r.breaker.stats().trial_calls_in_flight, 2);
    a.record_ignored();
    assert_eq!(r.breaker.stats().trial_calls_in_flight, 1);
    r.breaker.force_open();
    assert_eq!(r.breaker.stats().trial_calls_in_flight, 0);
    drop(b);
    let closed = rig(|b| b);
    let _held = closed.breaker.try_acquire().unwrap();
    assert_eq!(closed.breaker.stats().trial_calls_in_flight, 0);
}

#[test]
fn not_permitted_calls_count_every_rejection() {
    let r = half_open(|b| b.half_open_requests(1));
    let _trial = r.breaker.try_acquire().unwrap();
    assert!(r.breaker.try_acquire().is_err()); // HalfOpen, full
    assert!(r.breaker.try_acquire_owned().is_err());
    r.breaker.force_open();
    rejected(&r.breaker); // ForcedOpen
    r.breaker.close();
    fail(&r.breaker); // Open
    rejected(&r.breaker);
    assert_eq!(r.breaker.stats().not_permitted_calls, 4);
}

#[test]
fn totals_count_each_recorded_outcome_by_kind() {
    let r = rig(|b| {
        b.slow_call_rate_threshold(100.0)
            .slow_call_duration(secs(1))
            .sliding_window(SlidingWindow::Count { size: 10 })
    });
    succeed(&r.breaker);
    fail(&r.breaker);
    r.breaker.try_acquire().unwrap().record_ignored();
    timed(&r.breaker, &r.clock, secs(1), true);
    timed(&r.breaker, &r.clock, secs(3), false);
    let ignored_slowly = r.breaker.try_acquire().unwrap();
    r.clock.advance(secs(5));
    ignored_slowly.record_ignored();
    let stats = r.breaker.stats();
    assert_eq!(
        (
            stats.successful_calls,
            stats.failed_calls,
            stats.ignored_calls,
            stats.slow_calls
        ),
        (2, 2, 2, 2),
        "a slow failure is slow; an ignored call is never slow"
    );
    assert_eq!(stats.total_calls(), 6);
    assert_eq!(
        (
            stats.calls_in_window,
            stats.failures_in_window,
            stats.slow_calls_in_window
        ),
        (4, 2, 2)
    );
}

// ---------------------------------------------------------------------------------------------
// APIs
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn async_call_returns_the_value_or_the_operation_error_and_trips() {
    let r = rig(|b| b.failure_threshold(2));
    assert_eq!(r.breaker.call(|| async { Ok::<_, &str>(7) }).await, Ok(7));
    assert_eq!(
        r.breaker.call(|| async { Err::<u8, _>("no") }).await,
        Err(Error::Operation("no"))
    );
    let _ = r.breaker.call(|| async { Err::<u8, _>("no") }).await;
    assert_eq!(r.breaker.state(), State::Open);
    assert_eq!(
        rejection(r.breaker.call(|| async { Ok::<_, &str>(7) }).await),
        ("test".to_string(), State::Open, Some(secs(30)))
    );
    let stats = r.breaker.stats();
    assert_eq!((stats.successful_calls, stats.failed_calls), (1, 2));
}

#[test]
fn a_permit_records_the_verdict_it_is_given() {
    let r = rig(|b| b.failure_threshold(2));
    r.breaker.try_acquire().unwrap().record(Verdict::Success);
    r.breaker.try_acquire().unwrap().record(Verdict::Ignored);
    r.breaker.try_acquire().unwrap().record(Verdict::Failure);
    let stats = r.breaker.stats();
    assert_eq!(
        (
            stats.successful_calls,
            stats.failed_calls,
            stats.ignored_calls
        ),
        (1, 1, 1)
    );
    r.breaker.try_acquire().unwrap().record_failure();
    assert_eq!(r.breaker.state(), State::Open);
    let closed_permit_dropped = rig(|b| b);
    drop(closed_permit_dropped.breaker.try_acquire().unwrap());
    assert_eq!(closed_permit_dropped.breaker.stats().total_calls(), 0);
}

#[test]
fn an_owned_trial_permit_can_complete_on_another_thread() {
    let r = half_open(|b| b.half_open_requests(1));
    let permit = r.breaker.try_acquire_owned().unwrap();
    std::thread::spawn(move || permit.record_success())
        .join()
        .unwrap();
    assert_eq!(r.breaker.state(), State::Closed);
    assert_eq!(r.breaker.stats().successful_calls, 1);

    let permit = r.breaker.try_acquire_owned().unwrap();
    std::thread::spawn(move || drop(permit)).join().unwrap();
    assert_eq!(r.breaker.stats().total_calls(), 2, "trip + trial only");
}

#[test]
fn clones_share_one_state() {
    let r = rig(|b| b.failure_threshold(2));
    let other = r.breaker.clone();
    fail(&r.breaker);
    fail(&other);
    assert_eq!(r.breaker.state(), State::Open);
    assert_eq!(rejected(&other).1, State::Open);
    assert_eq!(r.breaker.stats().not_permitted_calls, 1);
    other.reset();
    assert_eq!(r.breaker.state(), State::Closed);
}

#[test]
fn clones_on_other_threads_share_one_state() {
    let r = rig(|b| b.failure_threshold(4));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let b = r.breaker.clone();
            std::thread::spawn(move || {
                let _ = b.call_blocking(|| Err::<(), _>("down"));
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(r.breaker.state(), State::Open);
    assert_eq!(r.breaker.stats().failed_calls, 4);
}

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

#[track_caller]
fn assert_refused(builder: CircuitBreakerBuilder, field: &str, value: &str) {
    let err: ConfigError = builder
        .build()
        .expect_err("the configuration must be refused");
    assert_eq!((err.field(), err.value()), (field, value), "{err}");
    assert_eq!(err.policy(), "circuit_breaker");
    let shown = err.to_string();
    assert!(
        shown.contains(field) && shown.contains(value),
        "the message should name field and value: {shown}"
    );
    assert!(
        shown.starts_with(&format!(
            "invalid circuit_breaker configuration: {field} = {value}: "
        )),
        "{shown}"
    );
}

fn cb() -> CircuitBreakerBuilder {
    CircuitBreaker::builder()
}

#[test]
fn build_refuses_a_zero_failure_threshold() {
    assert_refused(cb().failure_threshold(0), "failure_threshold", "0");
}

#[test]
fn build_refuses_failure_rate_thresholds_outside_0_to_100() {
    for (rate, shown) in [
        (0.0, "0"),
        (-1.0, "-1"),
        (100.5, "100.5"),
        (f64::NAN, "NaN"),
    ] {
        assert_refused(
            cb().failure_rate_threshold(rate),
            "failure_rate_threshold",
            shown,
        );
    }
    assert!(cb().failure_rate_threshold(100.0).build().is_ok());
}

#[test]
fn build_refuses_slow_call_rate_thresholds_outside_0_to_100() {
    for (rate, shown) in [(0.0, "0"), (101.0, "101")] {
        assert_refused(
            cb().slow_call_rate_threshold(rate),
            "slow_call_rate_threshold",
            shown,
        );
    }
    assert!(cb().slow_call_rate_threshold(100.0).build().is_ok());
}

#[test]
fn build_refuses_a_breaker_with_no_trip_condition() {
    assert_refused(cb().no_failure_threshold(), "failure_threshold", "none");
    assert!(
        cb().no_failure_threshold()
            .slow_call_rate_threshold(50.0)
            .build()
            .is_ok()
    );
}

#[test]
fn build_refuses_an_empty_count_window() {
    assert_refused(
        cb().failure_rate_threshold(50.0)
            .sliding_window(SlidingWindow::Count { size: 0 }),
        "sliding_window.size",
        "0",
    );
}

#[test]
fn build_refuses_zero_minimum_calls() {
    assert_refused(cb().minimum_calls(0), "minimum_calls", "0");
}

#[test]
fn build_refuses_minimum_calls_larger_than_the_count_window() {
    assert_refused(
        cb().failure_rate_threshold(50.0)
            .sliding_window(SlidingWindow::Count { size: 10 })
            .minimum_calls(11),
        "minimum_calls",
        "11",
    );
    assert!(
        cb().sliding_window(SlidingWindow::Count { size: 10 })
            .minimum_calls(10)
            .build()
            .is_ok()
    );
}

#[test]
fn build_refuses_degenerate_time_windows() {
    let time = |duration: Duration, buckets: u32| {
        cb().failure_rate_threshold(50.0)
            .sliding_window(SlidingWindow::Time { duration, buckets })
    };
    assert_refused(time(Duration::ZERO, 10), "sliding_window.duration", "0ns");
    assert_refused(time(secs(10), 0), "sliding_window.buckets", "0");
    assert_refused(time(secs(10), 1001), "sliding_window.buckets", "1001");
    assert_refused(
        time(Duration::from_nanos(999), 1000),
        "sliding_window.buckets",
        "1000",
    );
    assert!(time(secs(10), 1000).build().is_ok());
    assert!(time(secs(10), 1).build().is_ok());
}

#[test]
fn build_refuses_a_recovery_timeout_that_is_not_positive() {
    assert_refused(
        cb().recovery_timeout(Duration::ZERO),
        "recovery_timeout",
        "0ns",
    );
    assert_refused(cb().recovery_timeout_secs(-1.0), "recovery_timeout", "-1s");
    assert_refused(
        cb().recovery_timeout_secs(f64::NAN),
        "recovery_timeout",
        "NaN",
    );
    assert_eq!(
        cb().recovery_timeout_secs(1.5)
            .build()
            .unwrap()
            .config()
            .recovery_timeout,
        ms(1_500)
    );
}

#[test]
fn a_later_valid_recovery_timeout_replaces_a_bad_seconds_value() {
    let breaker = cb()
        .recovery_timeout_secs(-1.0)
        .recovery_timeout(secs(5))
        .build()
        .expect("the later valid recovery_timeout wins");
    assert_eq!(breaker.config().recovery_timeout, secs(5));
    let breaker = cb()
        .recovery_timeout_secs(f64::NAN)
        .recovery_timeout_secs(2.0)
        .build()
        .expect("the later valid recovery_timeout_secs wins");
    assert_eq!(breaker.config().recovery_timeout, secs(2));
}

#[test]
fn a_bad_recovery_timeout_secs_is_not_cleared_by_setting_another_field() {
    assert_refused(
        cb().recovery_timeout_secs(-1.0).half_open_requests(2),
        "recovery_timeout",
        "-1s",
    );
}

#[test]
fn build_refuses_a_recovery_backoff_that_shrinks_is_nan_or_caps_below_recovery_timeout() {
    assert_refused(
        cb().recovery_backoff(0.5, secs(300)),
        "recovery_backoff.multiplier",
        "0.5",
    );
    assert_refused(
        cb().recovery_backoff(f64::NAN, secs(300)),
        "recovery_backoff.multiplier",
        "NaN",
    );
    assert_refused(
        cb().recovery_timeout(secs(30))
            .recovery_backoff(2.0, secs(10)),
        "recovery_backoff.max",
        "10s",
    );
    assert!(
        cb().recovery_timeout(secs(30))
            .recovery_backoff(1.0, secs(30))
            .build()
            .is_ok()
    );
}

#[test]
fn build_refuses_zero_half_open_requests_and_zero_success_threshold() {
    assert_refused(cb().half_open_requests(0), "half_open_requests", "0");
    assert_refused(cb().success_threshold(0), "success_threshold", "0");
}

#[test]
fn build_refuses_a_zero_max_wait_in_half_open() {
    assert_refused(
        cb().max_wait_in_half_open(Some(Duration::ZERO)),
        "max_wait_in_half_open",
        "0ns",
    );
    assert!(cb().max_wait_in_half_open(None).build().is_ok());
}

#[test]
fn build_refuses_a_zero_slow_call_duration_when_slow_calls_are_detected() {
    assert_refused(
        cb().slow_call_rate_threshold(50.0)
            .slow_call_duration(Duration::ZERO),
        "slow_call_duration",
        "0ns",
    );
    assert!(
        cb().slow_call_duration(Duration::ZERO).build().is_ok(),
        "the duration is unused without slow-call detection"
    );
}

// ---------------------------------------------------------------------------------------------
// The default trip condition applies only when none is chosen
// ---------------------------------------------------------------------------------------------

fn fail_once(b: &CircuitBreaker) -> Result<(), Error<&'static str>> {
    b.call_blocking(|| Err::<(), _>("down"))
}

#[test]
fn a_rate_condition_chosen_alone_replaces_the_default_consecutive_failures() {
    let breaker = CircuitBreaker::builder()
        .failure_rate_threshold(40.0)
        .sliding_window(SlidingWindow::Count { size: 100 })
        .minimum_calls(100)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    assert_eq!(breaker.config().failure_threshold, None);
    // Ten failures in a row, fewer than minimum_calls: no condition the user chose holds.
    for _ in 0..10 {
        assert!(matches!(fail_once(&breaker), Err(Error::Operation("down"))));
    }
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn a_chosen_failure_threshold_stays_next_to_a_rate_whatever_the_order() {
    for breaker in [
        CircuitBreaker::builder()
            .failure_threshold(5)
            .failure_rate_threshold(40.0),
        CircuitBreaker::builder()
            .failure_rate_threshold(40.0)
            .failure_threshold(5),
    ] {
        let breaker = breaker.clock(ManualClock::new()).build().unwrap();
        assert_eq!(breaker.config().failure_threshold, Some(5));
        for _ in 0..5 {
            let _ = fail_once(&breaker);
        }
        assert_eq!(breaker.state(), State::Open);
    }
}

#[test]
fn with_no_condition_chosen_five_consecutive_failures_open_the_breaker() {
    let breaker = CircuitBreaker::builder()
        .clock(ManualClock::new())
        .build()
        .unwrap();
    for _ in 0..4 {
        let _ = fail_once(&breaker);
    }
    assert_eq!(breaker.state(), State::Closed);
    let _ = fail_once(&breaker);
    assert_eq!(breaker.state(), State::Open);
}
