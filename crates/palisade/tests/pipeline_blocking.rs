//! The pipeline's blocking form, `call_blocking`, on a `ManualClock`: retry sleeps by
//! advancing the clock, an operation "takes time" by advancing it itself, so every timestamp
//! asserted is exact and nothing sleeps for real.
//!
//! What blocking code allows (see the pipeline's module docs): the per-attempt timeout marks
//! an attempt that returned after its limit as timed out; the total timeout stops retrying —
//! no attempt starts and no backoff sleep runs past it; hedging is skipped.

mod common;

use std::cell::{Cell, RefCell};
use std::sync::mpsc;
use std::time::Duration;

use common::bump;
use common::errors::{exhausted, timeout_fired};
use common::events::{Record, Recorder};
use common::retry::{fixed, max_attempts};
use common::time::{ms, now, secs};
use palisade::clock::ManualClock;
use palisade::event::Event;
use palisade::fallback::Fallback;
use palisade::pipeline::{Pipeline, PipelineBuilder};
use palisade::rate_limit::{Algorithm, Rate};
use palisade::retry::{RetryBudget, StopReason};
use palisade::timeout::{TimeoutEvent, TimeoutScope};
use palisade::{Error, circuit_breaker::State};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A pipeline builder on `clock`.
fn builder(clock: &ManualClock) -> PipelineBuilder {
    Pipeline::builder().name("ledger").clock(clock.clone())
}

#[track_caller]
fn circuit_open<E: std::fmt::Debug>(err: &Error<E>, state: State) -> Option<Duration> {
    match err {
        Error::CircuitOpen {
            state: s,
            retry_after,
            ..
        } if *s == state => *retry_after,
        other => panic!("expected CircuitOpen in {state:?}, got {other:?}"),
    }
}

/// One timeout event: `(variant, policy name, scope, limit)`.
type TimeoutSeen = (&'static str, String, TimeoutScope, Duration);

/// The timeout events a listener heard.
type TimeoutLog = Recorder<TimeoutSeen>;

impl Record for TimeoutSeen {
    fn record(event: &Event<'_>) -> Option<Self> {
        match event {
            Event::Timeout(TimeoutEvent::TimedOut { name, scope, limit }) => {
                Some(("timed_out", name.to_string(), *scope, *limit))
            }
            Event::Timeout(TimeoutEvent::FinishedLate {
                name, scope, limit, ..
            }) => Some(("finished_late", name.to_string(), *scope, *limit)),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Retry
// ---------------------------------------------------------------------------------------------

#[test]
fn retries_sleep_by_advancing_the_manual_clock() {
    let clock = ManualClock::new();
    let p = builder(&clock).retry(fixed(3, secs(2))).build().unwrap();
    let started = RefCell::new(Vec::new());
    let err = p
        .call_blocking(|| {
            started.borrow_mut().push(now(&clock));
            Err::<(), _>("down")
        })
        .unwrap_err();
    assert_eq!(*started.borrow(), [secs(0), secs(2), secs(4)]);
    assert_eq!(now(&clock), secs(4), "no sleep after the last attempt");
    assert_eq!(exhausted(err, 3, max_attempts(3)), Error::Operation("down"));
}

#[test]
fn blocking_retry_returns_the_first_success() {
    let clock = ManualClock::new();
    let p = builder(&clock).retry(fixed(5, ms(250))).build().unwrap();
    let calls = Cell::new(0);
    let out = p.call_blocking(|| {
        let n = bump(&calls);
        if n < 3 { Err("flaky") } else { Ok(n) }
    });
    assert_eq!((out, now(&clock)), (Ok(3), ms(500)));
}

#[test]
fn blocking_retry_if_and_retry_after_hint() {
    let clock = ManualClock::new();
    let p = builder(&clock)
        .retry(fixed(3, secs(1)))
        .build()
        .unwrap()
        .retry_if(|status: &u16| *status >= 500)
        .retry_after(|status: &u16| (*status == 503).then_some(secs(7)));
    let calls = Cell::new(0);
    assert_eq!(
        p.call_blocking(|| {
            bump(&calls);
            Err::<(), u16>(400)
        }),
        Err(Error::Operation(400))
    );
    assert_eq!((calls.get(), now(&clock)), (1, Duration::ZERO));

    let statuses = [503, 500];
    calls.set(0);
    let out = p.call_blocking(|| {
        let n = bump(&calls) as usize;
        statuses.get(n - 1).map_or(Ok(n), |s| Err(*s))
    });
    assert_eq!(out, Ok(3));
    assert_eq!(now(&clock), secs(8), "max(1 s, 7 s) + max(1 s, none)");
}

#[test]
fn the_retry_budget_cuts_a_blocking_retry_storm() {
    let clock = ManualClock::new();
    let budget = RetryBudget::builder()
        .ratio(0.2)
        .min_retries_per_sec(0)
        .clock(clock.clone())
        .build()
        .unwrap();
    let p = builder(&clock)
        .retry(|r| fixed(4, ms(1))(r).budget(budget.clone()))
        .build()
        .unwrap();
    let runs = Cell::new(0);
    for _ in 0..50 {
        let err = p
            .call_blocking(|| {
                bump(&runs);
                Err::<(), _>("outage")
            })
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::RetriesExhausted {
                    reason: StopReason::BudgetExhausted,
                    ..
                }
            ),
            "{err:?}"
        );
    }
    // 50 calls earn 10 retries (20 %), instead of 150.
    assert_eq!(runs.get(), 60);
}

// ---------------------------------------------------------------------------------------------
// Per-attempt timeout
// ---------------------------------------------------------------------------------------------

#[test]
fn a_late_attempt_is_a_timeout_retried_and_counted_as_a_breaker_failure() {
    let clock = ManualClock::new();
    let p = builder(&clock)
        .timeout(secs(1))
        .retry(fixed(3, ms(100)))
        .circuit_breaker(|b| b.failure_threshold(5))
        .idempotent(true)
        .build()
        .unwrap();
    let calls = Cell::new(0);
    let out = p.call_blocking(|| {
        let n = bump(&calls);
        // The first attempt takes 1.5 s: its value is discarded.
        clock.advance(if n == 1 { ms(1500) } else { ms(500) });
        Ok::<_, &str>(n)
    });
    assert_eq!(out, Ok(2));
    assert_eq!(now(&clock), ms(2100));
    let stats = p.circuit_breaker().unwrap().stats();
    assert_eq!((stats.failed_calls, stats.successful_calls), (1, 1));
}

#[test]
fn an_attempt_returning_exactly_at_its_limit_is_in_time() {
    let clock = ManualClock::new();
    let p = builder(&clock).timeout(secs(1)).build().unwrap();
    let out = p.call_blocking(|| {
        clock.advance(secs(1));
        Ok::<_, &str>("just in time")
    });
    assert_eq!(out, Ok("just in time"));
    let late = p.call_blocking(|| {
        clock.advance(secs(1) + Duration::from_nanos(1));
        Ok::<_, &str>("late")
    });
    assert_eq!(
        timeout_fired(&late.unwrap_err()),
        ("ledger", TimeoutScope::Attempt, secs(1))
    );
}

#[test]
fn exhausted_blocking_retries_carry_the_last_timeout() {
    let clock = ManualClock::new();
    let p = builder(&clock)
        .timeout(secs(1))
        .retry(fixed(3, ms(100)))
        .idempotent(true)
        .build()
        .unwrap();
    let err = p
        .call_blocking(|| {
            clock.advance(secs(2));
            Err::<(), _>("slow and failing")
        })
        .unwrap_err();
    assert_eq!(now(&clock), ms(6200));
    let last = exhausted(err, 3, max_attempts(3));
    assert_eq!(
        timeout_fired(&last),
        ("ledger", TimeoutScope::Attempt, secs(1)),
        "the timeout, not the late error"
    );
}

#[test]
fn a_late_attempt_publishes_finished_late() {
    let clock = ManualClock::new();
    let log = TimeoutLog::default();
    let p = builder(&clock)
        .on_event(log.listener())
        .timeout(secs(1))
        .build()
        .unwrap();
    let _ = p.call_blocking(|| {
        clock.advance(secs(3));
        Ok::<_, &str>(())
    });
    // The timeout policy the pipeline built says what happened, as Timeout::call_blocking
    // does for the same late return.
    assert_eq!(
        log.events(),
        [(
            "finished_late",
            "ledger".to_string(),
            TimeoutScope::Attempt,
            secs(1)
        )]
    );
}

// ---------------------------------------------------------------------------------------------
// Total timeout
// ---------------------------------------------------------------------------------------------

#[test]
fn the_total_timeout_stops_retrying_before_a_sleep_would_cross_it() {
    // Attempts take 1 s and fail; 2 s apart: [0, 1], [3, 4]; at 4 s the next sleep would end
    // at 6 s, past the 5 s limit: the call ends there, without sleeping.
    let clock = ManualClock::new();
    let p = builder(&clock)
        .total_timeout(secs(5))
        .retry(fixed(10, secs(2)))
        .build()
        .unwrap();
    let started = RefCell::new(Vec::new());
    let out = p.call_blocking(|| {
        started.borrow_mut().push(now(&clock));
        clock.advance(secs(1));
        Err::<(), _>("down")
    });
    assert_eq!(
        timeout_fired(&out.unwrap_err()),
        ("ledger", TimeoutScope::Total, secs(5))
    );
    assert_eq!(*started.borrow(), [secs(0), secs(3)]);
    assert_eq!(now(&clock), secs(4), "no sleep ran past the limit");
}

#[test]
fn no_attempt_starts_at_or_after_the_total_limit() {
    // Instant failures 1 s apart: attempts at 0..=4 s; one at 5 s would start at the limit.
    let clock = ManualClock::new();
    let p = builder(&clock)
        .total_timeout(secs(5))
        .retry(fixed(10, secs(1)))
        .build()
        .unwrap();
    let started = RefCell::new(Vec::new());
    let out = p.call_blocking(|| {
        started.borrow_mut().push(now(&clock));
        Err::<(), _>("down")
    });
    assert_eq!(
        timeout_fired(&out.unwrap_err()),
        ("ledger", TimeoutScope::Total, secs(5))
    );
    assert_eq!(
        *started.borrow(),
        [secs(0), secs(1), secs(2), secs(3), secs(4)]
    );
    assert_eq!(now(&clock), secs(4));
}

#[test]
fn an_attempt_that_overruns_the_total_timeout_ends_the_call_with_it() {
    let clock = ManualClock::new();
    for retry in [false, true] {
        let mut b = builder(&clock).total_timeout(secs(5));
        if retry {
            b = b.retry(fixed(3, ms(100)));
        }
        let p = b.build().unwrap();
        let calls = Cell::new(0);
        let start = now(&clock);
        let out = p.call_blocking(|| {
            bump(&calls);
            clock.advance(secs(6));
            Ok::<_, &str>("too late")
        });
        assert_eq!(
            timeout_fired(&out.unwrap_err()),
            ("ledger", TimeoutScope::Total, secs(5)),
            "retry: {retry}"
        );
        assert_eq!(calls.get(), 1, "retry: {retry}");
        assert_eq!(now(&clock) - start, secs(6));
    }
}

#[test]
fn an_attempt_overrunning_the_total_timeout_publishes_a_timeout_event() {
    let clock = ManualClock::new();
    let log = TimeoutLog::default();
    let p = builder(&clock)
        .on_event(log.listener())
        .total_timeout(secs(5))
        .build()
        .unwrap();
    let _ = p.call_blocking(|| {
        clock.advance(secs(6));
        Ok::<_, &str>(())
    });
    assert_eq!(
        log.events(),
        [(
            "finished_late",
            "ledger".to_string(),
            TimeoutScope::Total,
            secs(5)
        )],
        "the total timeout fired: one event"
    );
}

#[test]
fn retry_rejections_waiting_past_the_total_timeout_gives_up_at_once() {
    let clock = ManualClock::new();
    let p = builder(&clock)
        .total_timeout(secs(2))
        .retry(fixed(5, ms(100)))
        .retry_rejections(true)
        .circuit_breaker(|b| b.failure_threshold(1).recovery_timeout(secs(30)))
        .build()
        .unwrap();
    p.circuit_breaker()
        .unwrap()
        .try_acquire()
        .unwrap()
        .record_failure();
    let out = p.call_blocking(|| Ok::<_, &str>(()));
    assert_eq!(
        timeout_fired(&out.unwrap_err()),
        ("ledger", TimeoutScope::Total, secs(2))
    );
    assert_eq!(now(&clock), Duration::ZERO);
}

// ---------------------------------------------------------------------------------------------
// Rate limit, bulkhead, breaker, hedging
// ---------------------------------------------------------------------------------------------

#[test]
fn blocking_rate_limit_rejects_or_waits_on_the_manual_clock() {
    let clock = ManualClock::new();
    let gcra = Algorithm::Gcra {
        rate: Rate::per_second(10),
        burst: 1,
    };
    let strict = builder(&clock).rate_limit(gcra).build().unwrap();
    assert_eq!(strict.call_blocking(|| Ok::<_, &str>(1)), Ok(1));
    match strict.call_blocking(|| Ok::<_, &str>(2)) {
        Err(Error::RateLimited {
            name, retry_after, ..
        }) => assert_eq!((&*name, retry_after), ("ledger", ms(100))),
        other => panic!("expected RateLimited, got {other:?}"),
    }

    let patient = builder(&clock)
        .rate_limit(gcra)
        .rate_limit_max_wait(ms(150))
        .build()
        .unwrap();
    let start = now(&clock);
    assert_eq!(patient.call_blocking(|| Ok::<_, &str>(1)), Ok(1));
    assert_eq!(patient.call_blocking(|| Ok::<_, &str>(2)), Ok(2));
    assert_eq!(now(&clock) - start, ms(100), "waited one interval");
}

#[test]
fn a_blocking_call_is_turned_away_by_a_bulkhead_held_through_another_calls_retries() {
    let clock = ManualClock::new();
    let p = builder(&clock)
        .bulkhead(|b| b.max_concurrent(1))
        .retry(fixed(3, secs(1)))
        .build()
        .unwrap();
    let (in_second_attempt, wait_for_second) = mpsc::channel::<()>();
    let (release, released) = mpsc::channel::<()>();
    let worker = {
        let p = p.clone();
        std::thread::spawn(move || {
            let mut n = 0;
            p.call_blocking(|| {
                n += 1;
                if n == 1 {
                    return Err("flaky");
                }
                in_second_attempt.send(()).unwrap();
                released.recv().unwrap();
                Ok(n)
            })
        })
    };
    wait_for_second.recv().unwrap();
    let calls = Cell::new(0);
    let out = p.call_blocking(|| {
        bump(&calls);
        Ok::<_, &str>(0)
    });
    assert!(matches!(out, Err(Error::BulkheadFull { .. })), "{out:?}");
    assert_eq!(calls.get(), 0);
    release.send(()).unwrap();
    assert_eq!(worker.join().unwrap(), Ok(2));
    assert_eq!(p.bulkhead().unwrap().available(), 1);
}

#[test]
fn a_blocking_open_circuit_is_not_retried_by_default() {
    let clock = ManualClock::new();
    let p = builder(&clock)
        .retry(fixed(3, secs(1)))
        .circuit_breaker(|b| b.failure_threshold(1).recovery_timeout(secs(10)))
        .build()
        .unwrap();
    let calls = Cell::new(0);
    let err = p
        .call_blocking(|| {
            bump(&calls);
            Err::<(), _>("down")
        })
        .unwrap_err();
    // Attempt 1 tripped the breaker: retry stops at once (no sleep into the open circuit)
    // with the attempt's own error.
    match err {
        Error::RetriesExhausted {
            attempts,
            reason,
            last_error,
            ..
        } => {
            assert_eq!((attempts, reason), (1, StopReason::CircuitOpened));
            assert_eq!(*last_error, Error::Operation("down"));
        }
        other => panic!("expected retry to stop on the opened circuit, got {other:?}"),
    }
    assert_eq!((calls.get(), now(&clock)), (1, Duration::ZERO));
    // The next call meets the open circuit: refused without running.
    let err = p.call_blocking(|| Ok::<_, &str>(bump(&calls))).unwrap_err();
    assert_eq!(circuit_open(&err, State::Open), Some(secs(10)));
    assert_eq!(calls.get(), 1);
}

#[test]
fn blocking_retry_rejections_waits_the_breakers_retry_after_on_the_manual_clock() {
    let clock = ManualClock::new();
    let p = builder(&clock)
        .retry(fixed(3, secs(1)))
        .retry_rejections(true)
        .circuit_breaker(|b| {
            b.failure_threshold(1)
                .recovery_timeout(secs(10))
                .half_open_requests(1)
        })
        .build()
        .unwrap();
    let calls = Cell::new(0);
    // 0 s: fails, trips. 1 s: rejected, 9 s to go. 10 s: the trial call succeeds.
    let out = p.call_blocking(|| {
        let n = bump(&calls);
        if n == 1 { Err("down") } else { Ok(n) }
    });
    assert_eq!(out, Ok(2));
    assert_eq!(now(&clock), secs(10));
    assert_eq!(p.circuit_breaker().unwrap().state(), State::Closed);
}

#[test]
fn hedging_is_skipped_by_blocking_calls() {
    let clock = ManualClock::new();
    // A zero delay would start every hedge at once, if hedging ran.
    let p = builder(&clock)
        .hedge(|h| h.delay(Duration::ZERO).max_hedged_attempts(3))
        .build()
        .unwrap();
    let calls = Cell::new(0);
    assert_eq!(
        p.call_blocking(|| {
            bump(&calls);
            Err::<(), _>("down")
        }),
        Err(Error::Operation("down"))
    );
    assert_eq!(calls.get(), 1);
}

// ---------------------------------------------------------------------------------------------
// Fallback
// ---------------------------------------------------------------------------------------------

#[test]
fn call_blocking_with_fallback_answers_the_errors_it_handles() {
    let clock = ManualClock::new();
    let p = builder(&clock)
        .retry(fixed(2, secs(1)))
        .circuit_breaker(|b| b.failure_threshold(5))
        .build()
        .unwrap();
    let cached = Fallback::on_rejections().value("cached");
    // An operation error is not a rejection: it goes through.
    let err = p
        .call_blocking_with_fallback(|| Err::<&str, _>("down"), &cached)
        .unwrap_err();
    assert_eq!(exhausted(err, 2, max_attempts(2)), Error::Operation("down"));
    // On every error, the fallback answers exhausted retries.
    assert_eq!(
        p.call_blocking_with_fallback(
            || Err::<&str, _>("down"),
            &Fallback::on_errors().value("default")
        ),
        Ok("default")
    );
    // An open circuit is a rejection.
    p.circuit_breaker().unwrap().force_open();
    let calls = Cell::new(0);
    assert_eq!(
        p.call_blocking_with_fallback(
            || {
                bump(&calls);
                Ok::<_, &str>("live")
            },
            &cached
        ),
        Ok("cached")
    );
    assert_eq!(calls.get(), 0);
}
