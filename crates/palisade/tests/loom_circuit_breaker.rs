//! Loom model of the circuit breaker's concurrent paths: every interleaving (within a
//! preemption bound) of the atomics and the mutex is explored.
//!
//! Run with:
//! `RUSTFLAGS="--cfg palisade_loom" cargo test -p palisade --release --test loom_circuit_breaker`
//! (`.ci/run` does, in its own target directory).
#![cfg(palisade_loom)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use loom::thread;
use palisade::circuit_breaker::{
    CircuitBreaker, CircuitBreakerEvent, SlidingWindow, State, Verdict,
};
use palisade::clock::ManualClock;
use palisade::event::Event;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

/// A breaker that one failure trips, already past its recovery timeout: the next
/// `try_acquire` moves it to HalfOpen.
fn tripped(half_open_requests: u32, success_threshold: u32) -> (CircuitBreaker, ManualClock) {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder()
        .failure_threshold(1)
        .recovery_timeout(Duration::from_secs(1))
        .half_open_requests(half_open_requests)
        .success_threshold(success_threshold)
        .max_wait_in_half_open(None)
        .clock(clock.clone())
        .build()
        .unwrap();
    let _ = breaker.call_blocking(|| Err::<(), _>("down"));
    assert_eq!(breaker.state(), State::Open);
    clock.advance(Duration::from_secs(2));
    (breaker, clock)
}

#[test]
fn half_open_never_admits_more_than_permitted() {
    model(|| {
        let (breaker, _clock) = tripped(1, 1);
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let b = breaker.clone();
                thread::spawn(move || b.try_acquire_owned().ok())
            })
            .collect();
        let mine = breaker.try_acquire_owned().ok();
        let mut permits: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        permits.push(mine);
        let admitted = permits.iter().filter(|p| p.is_some()).count();
        assert_eq!(
            admitted, 1,
            "exactly one trial call for half_open_requests = 1"
        );
        assert_eq!(breaker.stats().trial_calls_in_flight, 1);
        assert_eq!(breaker.stats().not_permitted_calls, 2);
    });
}

#[test]
fn concurrent_trial_successes_are_all_counted_and_close_the_breaker() {
    model(|| {
        let (breaker, _clock) = tripped(2, 2);
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let b = breaker.clone();
                thread::spawn(move || match b.try_acquire() {
                    Ok(permit) => {
                        permit.record_success();
                        true
                    }
                    Err(_) => false,
                })
            })
            .collect();
        let admitted = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|ok| *ok)
            .count();
        assert_eq!(admitted, 2);
        assert_eq!(breaker.state(), State::Closed);
        assert_eq!(breaker.stats().successful_calls, 2);
    });
}

#[test]
fn a_failed_trial_reopens_and_a_late_trial_outcome_is_ignored() {
    model(|| {
        let (breaker, _clock) = tripped(2, 2);
        let first = breaker.try_acquire_owned().unwrap();
        let b = breaker.clone();
        let other = thread::spawn(move || {
            // Either a second trial call (then completing after the re-open is stale) or a
            // rejection by the re-opened breaker.
            if let Ok(permit) = b.try_acquire() {
                permit.record_success();
            }
        });
        first.record(Verdict::Failure);
        other.join().unwrap();
        let stats = breaker.stats();
        assert_eq!(stats.state, State::Open);
        assert_eq!(stats.trial_calls_in_flight, 0);
        // Every admitted call's outcome was counted, stale or not.
        assert_eq!(
            stats.successful_calls + stats.failed_calls + stats.not_permitted_calls,
            1 + 1 + 1,
            "first trip + failed trial + (late success or rejection)"
        );
    });
}

#[test]
fn a_dropped_trial_permit_gives_its_slot_back() {
    model(|| {
        let (breaker, _clock) = tripped(1, 1);
        let b = breaker.clone();
        let dropper = thread::spawn(move || {
            drop(b.try_acquire());
        });
        let mine = breaker.try_acquire_owned().ok();
        dropper.join().unwrap();
        let in_flight = breaker.stats().trial_calls_in_flight;
        assert_eq!(in_flight, u32::from(mine.is_some()));
        drop(mine);
        assert_eq!(breaker.stats().trial_calls_in_flight, 0);
        // The slot is free again: a new trial call is admitted.
        assert!(breaker.try_acquire().is_ok());
    });
}

#[test]
fn concurrent_failures_trip_a_count_window_breaker_exactly_once() {
    model(|| {
        let transitions = Arc::new(AtomicUsize::new(0));
        let seen = transitions.clone();
        let breaker = CircuitBreaker::builder()
            .no_failure_threshold()
            .failure_rate_threshold(100.0)
            .sliding_window(SlidingWindow::Count { size: 2 })
            .minimum_calls(2)
            .clock(ManualClock::new())
            .on_event(move |e: &Event<'_>| {
                if let Event::CircuitBreaker(CircuitBreakerEvent::StateTransition {
                    to: State::Open,
                    ..
                }) = e
                {
                    seen.fetch_add(1, Ordering::SeqCst);
                }
            })
            .build()
            .unwrap();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let b = breaker.clone();
                thread::spawn(move || {
                    let _ = b.call_blocking(|| Err::<(), _>("down"));
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let stats = breaker.stats();
        assert_eq!(stats.state, State::Open);
        assert_eq!(stats.failed_calls, 2);
        assert_eq!(stats.failures_in_window, 2);
        assert_eq!(transitions.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn consecutive_failures_from_two_threads_are_both_counted() {
    model(|| {
        let breaker = CircuitBreaker::builder()
            .failure_threshold(2)
            .clock(ManualClock::new())
            .build()
            .unwrap();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let b = breaker.clone();
                thread::spawn(move || {
                    let _ = b.call_blocking(|| Err::<(), _>("down"));
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(breaker.state(), State::Open);
        assert_eq!(breaker.stats().failed_calls, 2);
    });
}

#[test]
fn a_failure_racing_the_success_that_reaches_minimum_calls_still_trips() {
    // 50% over 2 calls: one failure and one success must trip, whichever records first.
    model(|| {
        let breaker = CircuitBreaker::builder()
            .no_failure_threshold()
            .failure_rate_threshold(50.0)
            .sliding_window(SlidingWindow::Count { size: 2 })
            .minimum_calls(2)
            .clock(ManualClock::new())
            .build()
            .unwrap();
        let b = breaker.clone();
        let failing = thread::spawn(move || {
            let _ = b.call_blocking(|| Err::<(), _>("down"));
        });
        let _ = breaker.call_blocking(|| Ok::<_, &str>(()));
        failing.join().unwrap();
        assert_eq!(breaker.state(), State::Open);
    });
}

#[test]
fn concurrent_failures_trip_a_time_window_breaker() {
    model(|| {
        let breaker = CircuitBreaker::builder()
            .no_failure_threshold()
            .failure_rate_threshold(100.0)
            .sliding_window(SlidingWindow::Time {
                duration: Duration::from_secs(10),
                buckets: 2,
            })
            .minimum_calls(2)
            .clock(ManualClock::new())
            .build()
            .unwrap();
        let b = breaker.clone();
        let failing = thread::spawn(move || {
            let _ = b.call_blocking(|| Err::<(), _>("down"));
        });
        let _ = breaker.call_blocking(|| Err::<(), _>("down"));
        failing.join().unwrap();
        let stats = breaker.stats();
        assert_eq!(stats.state, State::Open);
        assert_eq!(stats.failures_in_window, 2);
    });
}
