//! The pipeline's async behaviour: each policy alone through the pipeline, the documented
//! order (fallback → rate limit → bulkhead → total timeout → retry → circuit breaker →
//! hedging → per-attempt timeout → operation), rejections and retry, cancellation, events and
//! build errors.
//!
//! Everything runs on tokio's paused clock (`start_paused = true`) with `Clock::tokio()` given
//! to the pipeline, so every policy reads the same virtual time: nothing sleeps for real and
//! every elapsed time asserted is exact.

mod common;

use std::cell::Cell;
use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use common::bump;
use common::errors::{exhausted, timeout_fired};
use common::events::{Record, Recorder};
use common::retry::{fixed, max_attempts};
use common::time::{ms, secs};
use palisade::bulkhead::{BulkheadEvent, RejectReason};
use palisade::circuit_breaker::{CircuitBreaker, CircuitBreakerEvent, State};
use palisade::clock::Clock;
use palisade::event::Event;
use palisade::fallback::Fallback;
use palisade::hedge::HedgeEvent;
use palisade::pipeline::{Pipeline, PipelineBuilder, PipelineEvent};
use palisade::rate_limit::{Algorithm, Rate, RateLimitEvent, RateLimiter};
use palisade::retry::{RetryBudget, RetryEvent, StopReason};
use palisade::timeout::{Timeout, TimeoutEvent, TimeoutScope};
use palisade::{ConfigError, Error};
use tokio::time::{Instant, sleep};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Longer than any test runs: an attempt that never finishes on its own.
const HANG: Duration = Duration::from_secs(3600);

/// A pipeline builder on tokio's (paused) clock.
fn builder() -> PipelineBuilder {
    Pipeline::builder().name("orders").clock(Clock::tokio())
}

/// Runs `future` for at most `limit` of virtual time: `Some(output)` if it finished, `None`
/// if it is still pending (it is kept, so the test can go on polling or drop it).
async fn run_for<F: Future + Unpin>(future: &mut F, limit: Duration) -> Option<F::Output> {
    tokio::select! {
        biased;
        out = future => Some(out),
        () = sleep(limit) => None,
    }
}

/// Counts how many times it was dropped: put one in an attempt to see it cancelled.
struct DropGuard<'a>(&'a Cell<u32>);

impl Drop for DropGuard<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Every event a listener heard, as `(kind, policy name, short description)`.
type EventLog = Recorder<Seen>;

/// One event: `(kind, policy name, short description)`.
type Seen = (&'static str, String, String);

impl Record for Seen {
    fn record(event: &Event<'_>) -> Option<Self> {
        let what = match event {
            Event::Retry(RetryEvent::RetryScheduled { attempt, delay, .. }) => {
                format!("retry scheduled after attempt {attempt} in {delay:?}")
            }
            Event::Retry(RetryEvent::Succeeded { attempts, .. }) => {
                format!("retry succeeded after {attempts}")
            }
            Event::Retry(RetryEvent::GaveUp {
                attempts, reason, ..
            }) => format!("retry gave up after {attempts}: {reason}"),
            Event::Timeout(TimeoutEvent::TimedOut { scope, limit, .. }) => {
                format!("timed out ({scope}) after {limit:?}")
            }
            Event::Timeout(TimeoutEvent::FinishedLate { scope, limit, .. }) => {
                format!("finished late ({scope}), limit {limit:?}")
            }
            Event::CircuitBreaker(CircuitBreakerEvent::OutcomeRecorded { verdict, .. }) => {
                format!("outcome {verdict:?}")
            }
            Event::CircuitBreaker(CircuitBreakerEvent::StateTransition { from, to, .. }) => {
                format!("transition {from:?} -> {to:?}")
            }
            Event::CircuitBreaker(CircuitBreakerEvent::CallRejected { state, .. }) => {
                format!("rejected in {state:?}")
            }
            Event::Bulkhead(BulkheadEvent::Permitted { .. }) => "slot taken".to_string(),
            Event::Bulkhead(BulkheadEvent::Released { .. }) => "slot released".to_string(),
            Event::Bulkhead(BulkheadEvent::Rejected { .. }) => "bulkhead full".to_string(),
            Event::RateLimit(RateLimitEvent::Permitted { .. }) => "permit".to_string(),
            Event::RateLimit(RateLimitEvent::Rejected { .. }) => "rate limited".to_string(),
            Event::Hedge(HedgeEvent::HedgeStarted { attempt, .. }) => {
                format!("hedge attempt {attempt} started")
            }
            Event::Hedge(HedgeEvent::Settled {
                winner, attempts, ..
            }) => {
                format!("hedge settled: winner {winner:?} of {attempts}")
            }
            Event::Pipeline(PipelineEvent::Completed {
                outcome, elapsed, ..
            }) => format!("call {outcome:?} in {elapsed:?}"),
            other => format!("{other:?}"),
        };
        Some((event.policy_kind(), event.policy_name().to_string(), what))
    }
}

/// Asserts `err` is `CircuitOpen` from `name` in `state`, returning its `retry_after`.
#[track_caller]
fn circuit_open<E: std::fmt::Debug>(err: &Error<E>, name: &str, state: State) -> Option<Duration> {
    match err {
        Error::CircuitOpen {
            name: n,
            state: s,
            retry_after,
            ..
        } if &**n == name && *s == state => *retry_after,
        other => panic!("expected CircuitOpen from '{name}' in {state:?}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// No policy
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn an_empty_pipeline_passes_values_and_errors_through_unchanged() {
    let p = builder().build().unwrap();
    let calls = Cell::new(0);
    let ok = p.call(|| async { Ok::<_, &str>(bump(&calls)) }).await;
    assert_eq!(ok, Ok(1));
    let err = p
        .call(|| {
            bump(&calls);
            async { Err::<(), _>("boom") }
        })
        .await;
    // Not wrapped in RetriesExhausted or anything else: there is no retry.
    assert_eq!(err, Err(Error::Operation("boom")));
    assert_eq!(calls.get(), 2);
    assert!(
        p.circuit_breaker().is_none()
            && p.retry().is_none()
            && p.bulkhead().is_none()
            && p.rate_limiter().is_none()
    );
}

// ---------------------------------------------------------------------------------------------
// Rate limit
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn rate_limit_rejects_beyond_the_quota_without_running_the_operation() {
    let p = builder()
        .rate_limit(Algorithm::Gcra {
            rate: Rate::per_second(2),
            burst: 1,
        })
        .build()
        .unwrap();
    let calls = Cell::new(0);
    let op = || {
        bump(&calls);
        async { Ok::<_, &str>("done") }
    };
    assert_eq!(p.call(op).await, Ok("done"));
    let start = Instant::now();
    match p.call(op).await {
        Err(Error::RateLimited {
            name, retry_after, ..
        }) => {
            assert_eq!(&*name, "orders");
            assert_eq!(retry_after, ms(500));
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert_eq!(start.elapsed(), Duration::ZERO, "a rejection does not wait");
    assert_eq!(calls.get(), 1, "a rejected call never runs the operation");
    sleep(ms(500)).await;
    assert_eq!(p.call(op).await, Ok("done"));
    assert_eq!(calls.get(), 2);
}

#[tokio::test(start_paused = true)]
async fn rate_limit_max_wait_waits_for_a_permit_in_virtual_time() {
    let limiter = RateLimiter::builder(Algorithm::Gcra {
        rate: Rate::per_second(10),
        burst: 1,
    })
    .name("api")
    .clock(Clock::tokio())
    .build()
    .unwrap();
    let patient = builder()
        .shared_rate_limiter(limiter.clone())
        .rate_limit_max_wait(ms(150))
        .build()
        .unwrap();
    let hasty = builder()
        .shared_rate_limiter(limiter)
        .rate_limit_max_wait(ms(50))
        .build()
        .unwrap();
    let start = Instant::now();
    let op = || async { Ok::<_, &str>(Instant::now()) };
    assert_eq!(patient.call(op).await.unwrap(), start);
    // The second permit is 100 ms away: within 150 ms, so the call waits for it.
    assert_eq!(patient.call(op).await.unwrap(), start + ms(100));
    // The next is another 100 ms away: more than 50 ms, so this one is rejected at once.
    match hasty.call(op).await {
        Err(Error::RateLimited {
            name, retry_after, ..
        }) => {
            assert_eq!(&*name, "api", "a shared limiter keeps its own name");
            assert_eq!(retry_after, ms(100));
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert_eq!(start.elapsed(), ms(100), "the rejection did not wait");
}

#[tokio::test(start_paused = true)]
async fn rate_limit_is_checked_once_per_call_not_per_attempt() {
    // One permit per second; the call below makes three attempts 10 ms apart.
    let p = builder()
        .rate_limit(Algorithm::Gcra {
            rate: Rate::per_second(1),
            burst: 1,
        })
        .retry(fixed(3, ms(10)))
        .build()
        .unwrap();
    let calls = Cell::new(0);
    let flaky = || {
        let n = bump(&calls);
        async move { if n < 3 { Err("flaky") } else { Ok(n) } }
    };
    let start = Instant::now();
    assert_eq!(p.call(flaky).await, Ok(3));
    assert_eq!(start.elapsed(), ms(20));
    // The quota was spent once, by the call: the next call is the one rejected.
    let next = p.call(|| async { Ok::<_, &str>(0) }).await;
    assert!(
        matches!(next, Err(Error::RateLimited { retry_after, .. }) if retry_after == ms(980)),
        "{next:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_rejection_is_not_retried() {
    let p = builder()
        .rate_limit(Algorithm::Gcra {
            rate: Rate::per_second(1),
            burst: 1,
        })
        .retry(fixed(3, ms(10)))
        .build()
        .unwrap();
    assert_eq!(p.call(|| async { Ok::<_, &str>(1) }).await, Ok(1));
    let calls = Cell::new(0);
    let start = Instant::now();
    let out = p
        .call(|| {
            bump(&calls);
            async { Ok::<_, &str>(2) }
        })
        .await;
    // The rejection itself, not RetriesExhausted: the limit sits outside retry.
    assert!(
        matches!(out, Err(Error::RateLimited { .. })),
        "expected RateLimited, got {out:?}"
    );
    assert_eq!((calls.get(), start.elapsed()), (0, Duration::ZERO));
}

// ---------------------------------------------------------------------------------------------
// Bulkhead
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_rejects_at_once_without_running_the_operation() {
    let p = builder()
        .bulkhead(|b| b.max_concurrent(1))
        .retry(fixed(3, ms(10)))
        .build()
        .unwrap();
    let bulkhead = p.bulkhead().unwrap();
    let held = bulkhead.try_acquire().unwrap();
    let calls = Cell::new(0);
    let start = Instant::now();
    let out = p
        .call(|| {
            bump(&calls);
            async { Ok::<_, &str>(1) }
        })
        .await;
    match out {
        Err(Error::BulkheadFull {
            name,
            max_concurrent,
            reason,
            ..
        }) => assert_eq!(
            (&*name, max_concurrent, reason),
            ("orders", 1, RejectReason::Full)
        ),
        other => panic!("expected BulkheadFull (not RetriesExhausted), got {other:?}"),
    }
    assert_eq!((calls.get(), start.elapsed()), (0, Duration::ZERO));
    drop(held);
    assert_eq!(p.call(|| async { Ok::<_, &str>(2) }).await, Ok(2));
}

#[tokio::test(start_paused = true)]
async fn the_bulkhead_slot_is_held_across_retries_and_backoff() {
    let p = builder()
        .bulkhead(|b| b.max_concurrent(1))
        .retry(fixed(3, secs(1)))
        .build()
        .unwrap();
    let bulkhead = p.bulkhead().unwrap().clone();
    let calls = Cell::new(0);
    let mut first = Box::pin(p.call(|| {
        let n = bump(&calls);
        async move { if n < 3 { Err("flaky") } else { Ok(n) } }
    }));
    // 500 ms in, the first call is sleeping its backoff after one failed attempt.
    assert_eq!(run_for(&mut first, ms(500)).await, None);
    assert_eq!(calls.get(), 1);
    assert_eq!(
        bulkhead.in_flight(),
        1,
        "the slot is held while backing off"
    );
    let second = p.call(|| async { Ok::<_, &str>(99) }).await;
    assert!(
        matches!(second, Err(Error::BulkheadFull { .. })),
        "a second call is turned away while the first backs off: {second:?}"
    );
    assert_eq!(first.await, Ok(3));
    assert_eq!(bulkhead.available(), 1);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_call_mid_backoff_releases_the_bulkhead_slot() {
    let p = builder()
        .bulkhead(|b| b.max_concurrent(1))
        .retry(fixed(3, secs(1)))
        .build()
        .unwrap();
    let bulkhead = p.bulkhead().unwrap().clone();
    let calls = Cell::new(0);
    let mut call = Box::pin(p.call(|| {
        bump(&calls);
        async { Err::<(), _>("down") }
    }));
    assert_eq!(run_for(&mut call, ms(500)).await, None);
    assert_eq!(bulkhead.in_flight(), 1);
    drop(call);
    assert_eq!(
        bulkhead.available(),
        1,
        "dropping the call gave the slot back"
    );
    sleep(secs(5)).await;
    assert_eq!(calls.get(), 1, "no attempt ran after the call was dropped");
    assert_eq!(p.call(|| async { Ok::<_, &str>(7) }).await, Ok(7));
}

// ---------------------------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_total_timeout_bounds_every_attempt_and_backoff_sleep_together() {
    // Attempts at 0, 1, 2 and 3 s, each failing at once; the total limit fires at 3.5 s, in
    // the fourth backoff sleep.
    let p = builder()
        .total_timeout(ms(3500))
        .retry(fixed(10, secs(1)))
        .build()
        .unwrap();
    let calls = Cell::new(0);
    let start = Instant::now();
    let out = p
        .call(|| {
            bump(&calls);
            async { Err::<(), _>("down") }
        })
        .await;
    assert_eq!(
        timeout_fired(&out.unwrap_err()),
        ("orders", TimeoutScope::Total, ms(3500))
    );
    assert_eq!(start.elapsed(), ms(3500));
    assert_eq!(calls.get(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_per_attempt_timeout_is_retried_and_counted_as_a_breaker_failure() {
    let p = builder()
        .timeout(secs(1))
        .retry(fixed(3, ms(100)))
        .circuit_breaker(|b| b.failure_threshold(5))
        .idempotent(true)
        .build()
        .unwrap();
    let calls = Cell::new(0);
    let start = Instant::now();
    let out = p
        .call(|| {
            let n = bump(&calls);
            async move {
                if n < 3 {
                    sleep(secs(10)).await; // hangs past the attempt's limit
                }
                Ok::<_, &str>(n)
            }
        })
        .await;
    assert_eq!(out, Ok(3));
    assert_eq!(start.elapsed(), ms(2200), "1 s + 0.1 s + 1 s + 0.1 s");
    let stats = p.circuit_breaker().unwrap().stats();
    assert_eq!((stats.failed_calls, stats.successful_calls), (2, 1));
    assert_eq!(stats.consecutive_failures, 0);
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_carry_the_last_timeout() {
    let p = builder()
        .timeout(secs(1))
        .retry(fixed(3, ms(100)))
        .idempotent(true)
        .build()
        .unwrap();
    let start = Instant::now();
    let err = p
        .call(|| async {
            sleep(HANG).await;
            Ok::<(), &str>(())
        })
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), ms(3200));
    assert_eq!(err.retry_after(), None);
    assert_eq!(err.operation_error(), None);
    // What an operator reads: the pipeline's retry gave up, its per-attempt limit fired.
    assert_eq!(
        err.to_string(),
        "retry 'orders' gave up after 3 attempts (max_attempts = 3 reached)"
    );
    assert!(matches!(&err, Error::RetriesExhausted { name, .. } if &**name == "orders"));
    let last = exhausted(err, 3, max_attempts(3));
    assert_eq!(
        timeout_fired(&last),
        ("orders", TimeoutScope::Attempt, secs(1))
    );
    assert_eq!(
        last.to_string(),
        "timeout 'orders' (per attempt) fired after 1s"
    );
}

#[tokio::test(start_paused = true)]
async fn a_shared_timeout_keeps_its_name_and_takes_the_scope_of_its_place() {
    let shared = Timeout::builder()
        .name("search-deadline")
        .limit(secs(1))
        .clock(Clock::tokio())
        .build()
        .unwrap();
    for (p, scope) in [
        (
            builder().shared_timeout(shared.clone()),
            TimeoutScope::Attempt,
        ),
        (
            builder().shared_total_timeout(shared.clone()),
            TimeoutScope::Total,
        ),
    ] {
        let out = p
            .build()
            .unwrap()
            .call(|| async {
                sleep(HANG).await;
                Ok::<(), &str>(())
            })
            .await;
        assert_eq!(
            timeout_fired(&out.unwrap_err()),
            ("search-deadline", scope, secs(1))
        );
    }
    // Called on its own, the same policy bounds the call.
    let out = shared.call(std::future::pending::<Result<(), &str>>).await;
    assert_eq!(
        timeout_fired(&out.unwrap_err()),
        ("search-deadline", TimeoutScope::Call, secs(1))
    );
}

#[tokio::test(start_paused = true)]
async fn the_per_attempt_timeout_fires_per_attempt_and_the_total_timeout_ends_the_call() {
    // Attempts time out after 2 s each, 0.5 s apart: [0, 2], [2.5, 4.5], and the total limit
    // of 4.8 s falls in the second backoff.
    let p = builder()
        .timeout(secs(2))
        .total_timeout(ms(4800))
        .retry(fixed(10, ms(500)))
        .circuit_breaker(|b| b.failure_threshold(10))
        .idempotent(true)
        .build()
        .unwrap();
    let calls = Cell::new(0);
    let start = Instant::now();
    let out = p
        .call(|| {
            bump(&calls);
            async {
                sleep(HANG).await;
                Ok::<(), &str>(())
            }
        })
        .await;
    // The total limit answers, not the 2 s one.
    assert_eq!(
        timeout_fired(&out.unwrap_err()),
        ("orders", TimeoutScope::Total, ms(4800))
    );
    assert_eq!(start.elapsed(), ms(4800));
    assert_eq!(calls.get(), 2);
    assert_eq!(p.circuit_breaker().unwrap().stats().failed_calls, 2);
}

#[tokio::test(start_paused = true)]
async fn an_attempt_cut_short_by_the_total_timeout_is_not_recorded_by_the_breaker() {
    // Attempts [0, 2] (timed out) and [2.5, 3]: the second is cut by the total limit.
    let p = builder()
        .timeout(secs(2))
        .total_timeout(secs(3))
        .retry(fixed(10, ms(500)))
        .circuit_breaker(|b| b.failure_threshold(10).half_open_requests(1))
        .idempotent(true)
        .build()
        .unwrap();
    let dropped = Cell::new(0);
    let out = p
        .call(|| {
            let guard = DropGuard(&dropped);
            async move {
                let _guard = guard;
                sleep(HANG).await;
                Ok::<(), &str>(())
            }
        })
        .await;
    assert_eq!(
        timeout_fired(&out.unwrap_err()),
        ("orders", TimeoutScope::Total, secs(3))
    );
    assert_eq!(dropped.get(), 2, "both attempts were cancelled");
    let stats = p.circuit_breaker().unwrap().stats();
    assert_eq!(
        (stats.failed_calls, stats.total_calls()),
        (1, 1),
        "the attempt the total timeout cut short left the breaker without an outcome"
    );
}

// ---------------------------------------------------------------------------------------------
// Retry
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn retry_makes_max_attempts_and_gives_up_with_the_last_operation_error() {
    let p = builder().retry(fixed(4, ms(100))).build().unwrap();
    let calls = Cell::new(0);
    let start = Instant::now();
    let err = p
        .call(|| {
            let n = bump(&calls);
            async move { Err::<(), _>(n) }
        })
        .await
        .unwrap_err();
    assert_eq!(calls.get(), 4);
    assert_eq!(start.elapsed(), ms(300));
    assert_eq!(err.operation_error(), Some(&4), "the last attempt's error");
    assert_eq!(exhausted(err, 4, max_attempts(4)), Error::Operation(4));
}

#[tokio::test(start_paused = true)]
async fn retry_returns_the_first_success() {
    let p = builder().retry(fixed(5, ms(100))).build().unwrap();
    let calls = Cell::new(0);
    let start = Instant::now();
    let out = p
        .call(|| {
            let n = bump(&calls);
            async move { if n < 3 { Err("flaky") } else { Ok(n) } }
        })
        .await;
    assert_eq!(out, Ok(3));
    assert_eq!((calls.get(), start.elapsed()), (3, ms(200)));
}

#[tokio::test(start_paused = true)]
async fn retry_if_leaves_errors_it_rejects_unretried() {
    let p = builder()
        .retry(fixed(3, ms(100)))
        .build()
        .unwrap()
        .retry_if(|status: &u16| *status >= 500);
    let calls = Cell::new(0);
    let start = Instant::now();
    let client_error = p
        .call(|| {
            bump(&calls);
            async { Err::<(), u16>(404) }
        })
        .await;
    assert_eq!(client_error, Err(Error::Operation(404)), "returned as is");
    assert_eq!((calls.get(), start.elapsed()), (1, Duration::ZERO));

    calls.set(0);
    let server_error = p
        .call(|| {
            bump(&calls);
            async { Err::<(), u16>(503) }
        })
        .await
        .unwrap_err();
    assert_eq!(calls.get(), 3);
    assert_eq!(
        exhausted(server_error, 3, max_attempts(3)),
        Error::Operation(503)
    );
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_attempt_is_not_repeated_unless_the_call_is_idempotent() {
    // An INSERT that committed but answered late must not run again: a pipeline that was not
    // declared idempotent starts a timed-out operation exactly once, whatever retry_if says.
    for refuse_all in [false, true] {
        let p = builder()
            .timeout(secs(1))
            .retry(fixed(3, ms(100)))
            .build()
            .unwrap()
            .retry_if(move |_: &u16| !refuse_all);
        let calls = Cell::new(0);
        let err = p
            .call(|| {
                bump(&calls);
                async {
                    sleep(HANG).await;
                    Ok::<(), u16>(())
                }
            })
            .await
            .unwrap_err();
        assert_eq!(calls.get(), 1, "retry_if refusing all: {refuse_all}");
        assert_eq!(
            timeout_fired(&err),
            ("orders", TimeoutScope::Attempt, secs(1))
        );
    }
    // Declared idempotent — for the pipeline or for one call — it is attempted again.
    let idempotent = builder()
        .timeout(secs(1))
        .retry(fixed(3, ms(100)))
        .idempotent(true)
        .build()
        .unwrap();
    let per_call = builder()
        .timeout(secs(1))
        .retry(fixed(3, ms(100)))
        .build()
        .unwrap();
    for (p, one_call) in [(&idempotent, false), (&per_call, true)] {
        let calls = Cell::new(0);
        let op = || {
            bump(&calls);
            async {
                sleep(HANG).await;
                Ok::<(), u16>(())
            }
        };
        let err = if one_call {
            p.call_idempotent(op).await
        } else {
            p.call(op).await
        }
        .unwrap_err();
        assert_eq!(calls.get(), 3);
        assert_eq!(
            timeout_fired(&exhausted(err, 3, max_attempts(3))),
            ("orders", TimeoutScope::Attempt, secs(1))
        );
    }
}

#[tokio::test(start_paused = true)]
async fn failure_if_keeps_client_errors_out_of_the_breaker() {
    let p = builder()
        .circuit_breaker(|b| b.failure_threshold(2))
        .build()
        .unwrap()
        .failure_if(|status: &u16| *status >= 500);
    let breaker = p.circuit_breaker().unwrap().clone();
    for _ in 0..5 {
        assert_eq!(
            p.call(|| async { Err::<(), u16>(404) }).await,
            Err(Error::Operation(404))
        );
    }
    let stats = breaker.stats();
    assert_eq!(stats.state, State::Closed);
    assert_eq!((stats.failed_calls, stats.successful_calls), (0, 5));
    for _ in 0..2 {
        let _ = p.call(|| async { Err::<(), u16>(500) }).await;
    }
    assert_eq!(breaker.state(), State::Open);
}

#[derive(Debug)]
struct Busy(Option<Duration>);

#[tokio::test(start_paused = true)]
async fn a_retry_after_hint_raises_the_delay_to_at_least_the_hint() {
    let p = builder()
        .retry(fixed(4, secs(1)))
        .build()
        .unwrap()
        .retry_after(|e: &Busy| e.0);
    let hints = [Some(secs(3)), Some(ms(200)), None];
    let calls = Cell::new(0);
    let start = Instant::now();
    let out = p
        .call(|| {
            let n = bump(&calls) as usize;
            async move {
                match hints.get(n - 1) {
                    Some(hint) => Err(Busy(*hint)),
                    None => Ok(n),
                }
            }
        })
        .await;
    assert_eq!(out.unwrap(), 4);
    // max(1 s, 3 s) + max(1 s, 0.2 s) + max(1 s, none)
    assert_eq!(start.elapsed(), secs(5));
}

#[tokio::test(start_paused = true)]
async fn the_retry_budget_cuts_a_retry_storm_to_its_bound() {
    // 10 % of calls, no floor: 100 calls may retry 10 times between them.
    let budget = RetryBudget::builder()
        .ratio(0.1)
        .min_retries_per_sec(0)
        .clock(Clock::tokio())
        .build()
        .unwrap();
    let p = builder()
        .retry(|r| fixed(3, ms(1))(r).budget(budget.clone()))
        .build()
        .unwrap();
    let runs = Cell::new(0);
    let mut attempts_reported = 0;
    for _ in 0..100 {
        let err = p
            .call(|| {
                bump(&runs);
                async { Err::<(), _>("outage") }
            })
            .await
            .unwrap_err();
        match err {
            Error::RetriesExhausted {
                attempts,
                reason: StopReason::BudgetExhausted,
                last_error,
                ..
            } => {
                assert_eq!(*last_error, Error::Operation("outage"));
                attempts_reported += attempts;
            }
            other => panic!("expected the budget to stop retry, got {other:?}"),
        }
    }
    // Without the budget: 300 runs. With it: 100 calls + 10 retries.
    assert_eq!(runs.get(), 110);
    assert_eq!(attempts_reported, 110);
    let stats = budget.stats();
    assert_eq!((stats.calls, stats.retries), (100, 10));
}

// ---------------------------------------------------------------------------------------------
// Circuit breaker, and retry facing its rejections
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_breaker_trips_after_n_consecutive_attempt_failures_then_rejects_without_running() {
    let p = builder()
        .retry(fixed(3, ms(100)))
        .circuit_breaker(|b| b.failure_threshold(3).recovery_timeout(secs(30)))
        .build()
        .unwrap();
    let breaker = p.circuit_breaker().unwrap().clone();
    let calls = Cell::new(0);
    let op = || {
        bump(&calls);
        async { Err::<(), _>("down") }
    };
    // One call, three attempts: the breaker counts each attempt.
    let err = p.call(op).await.unwrap_err();
    assert_eq!(exhausted(err, 3, max_attempts(3)), Error::Operation("down"));
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.stats().failed_calls, 3);

    let start = Instant::now();
    let err = p.call(op).await.unwrap_err();
    assert_eq!(
        circuit_open(&err, "orders", State::Open),
        Some(secs(30)),
        "tripped just now: 30 s to go"
    );
    assert_eq!(err.retry_after(), Some(secs(30)));
    assert_eq!(calls.get(), 3, "the open breaker did not run the operation");
    assert_eq!(start.elapsed(), Duration::ZERO, "nor did retry wait on it");
}

#[tokio::test(start_paused = true)]
async fn retry_does_not_retry_an_open_circuit_by_default() {
    let p = builder()
        .retry(fixed(3, ms(100)))
        .circuit_breaker(|b| b.failure_threshold(1).recovery_timeout(secs(30)))
        .build()
        .unwrap();
    let calls = Cell::new(0);
    let start = Instant::now();
    // Attempt 1 fails and trips the breaker: another attempt could only be refused, so retry
    // stops at once — no backoff sleep — and keeps the attempt's own error, saying why.
    let err = p
        .call(|| {
            bump(&calls);
            async { Err::<(), _>("down") }
        })
        .await
        .unwrap_err();
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
    assert_eq!(calls.get(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);

    // A call that meets the open circuit first: rejected at once, operation never run.
    let start = Instant::now();
    let err = p
        .call(|| {
            bump(&calls);
            async { Ok::<_, &str>(()) }
        })
        .await
        .unwrap_err();
    circuit_open(&err, "orders", State::Open);
    assert_eq!((calls.get(), start.elapsed()), (1, Duration::ZERO));
}

#[tokio::test(start_paused = true)]
async fn retry_rejections_waits_at_least_the_breakers_retry_after() {
    let p = builder()
        .retry(fixed(5, ms(100)))
        .retry_rejections(true)
        .circuit_breaker(|b| {
            b.failure_threshold(2)
                .recovery_timeout(secs(30))
                .half_open_requests(1)
        })
        .build()
        .unwrap();
    let calls = Cell::new(0);
    let start = Instant::now();
    // 0 s: fails. 0.1 s: fails, trips (open until 30.1 s). 0.2 s: rejected, 29.9 s to go:
    // retry waits that, not 100 ms. 30.1 s: the trial call runs and succeeds.
    let out = p
        .call(|| {
            let n = bump(&calls);
            async move { if n < 3 { Err("down") } else { Ok(n) } }
        })
        .await;
    assert_eq!(out, Ok(3));
    assert_eq!(start.elapsed(), ms(30_100));
    assert_eq!(p.circuit_breaker().unwrap().state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn retry_rejections_against_a_forced_open_breaker_exhausts_attempts_on_backoff() {
    let p = builder()
        .retry(fixed(3, ms(100)))
        .retry_rejections(true)
        .circuit_breaker(|b| b)
        .build()
        .unwrap();
    p.circuit_breaker().unwrap().force_open();
    let calls = Cell::new(0);
    let start = Instant::now();
    let err = p
        .call(|| {
            bump(&calls);
            async { Ok::<_, &str>(()) }
        })
        .await
        .unwrap_err();
    assert_eq!((calls.get(), start.elapsed()), (0, ms(200)));
    assert_eq!(err.retry_after(), None, "forced open: no known time");
    let last = exhausted(err, 3, max_attempts(3));
    assert_eq!(circuit_open(&last, "orders", State::ForcedOpen), None);
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_forward_the_retry_after_of_the_last_rejection() {
    // The breaker asks for 30 s; retry may only use 10 s, so it stops at once and says why.
    let p = builder()
        .retry(|r| fixed(5, ms(100))(r).max_elapsed(secs(10)))
        .retry_rejections(true)
        .circuit_breaker(|b| b.failure_threshold(1).recovery_timeout(secs(30)))
        .build()
        .unwrap();
    let breaker = p.circuit_breaker().unwrap();
    breaker.try_acquire().unwrap().record_failure(); // trips it: open for 30 s from now
    let start = Instant::now();
    let err = p.call(|| async { Ok::<_, &str>(()) }).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(
        err.retry_after(),
        Some(secs(30)),
        "forwarded from CircuitOpen"
    );
    match &err {
        Error::RetriesExhausted {
            attempts: 1,
            reason: StopReason::MaxElapsed { next_delay, .. },
            last_error,
            ..
        } => {
            assert_eq!(*next_delay, secs(30));
            assert_eq!(
                circuit_open(last_error, "orders", State::Open),
                Some(secs(30))
            );
        }
        other => panic!("expected RetriesExhausted (max_elapsed), got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_shared_breaker_is_tripped_by_one_pipeline_for_all() {
    let breaker = CircuitBreaker::builder()
        .name("db")
        .failure_threshold(2)
        .clock(Clock::tokio())
        .build()
        .unwrap();
    let reads = builder()
        .shared_circuit_breaker(breaker.clone())
        .build()
        .unwrap();
    let writes = builder()
        .shared_circuit_breaker(breaker.clone())
        .build()
        .unwrap();
    let _ = reads.call(|| async { Err::<(), _>("down") }).await;
    let _ = writes.call(|| async { Err::<(), _>("down") }).await;
    let err = reads
        .call(|| async { Ok::<_, &str>(()) })
        .await
        .unwrap_err();
    circuit_open(&err, "db", State::Open);
}

// ---------------------------------------------------------------------------------------------
// Hedging
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn call_idempotent_hedges_a_slow_attempt_and_drops_the_loser() {
    let p = builder().hedge(|h| h.delay(ms(50))).build().unwrap();
    let calls = Cell::new(0);
    let dropped = Cell::new(0);
    let start = Instant::now();
    let out = p
        .call_idempotent(|| {
            let n = bump(&calls);
            let guard = DropGuard(&dropped);
            async move {
                let _guard = guard;
                sleep(if n == 1 { HANG } else { ms(5) }).await;
                Ok::<_, &str>(n)
            }
        })
        .await;
    assert_eq!(out, Ok(2), "the hedge won");
    assert_eq!(start.elapsed(), ms(55), "started at 50 ms, done 5 ms later");
    assert_eq!(calls.get(), 2);
    assert_eq!(
        dropped.get(),
        2,
        "the winner finished and the slow loser was dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn plain_call_never_hedges() {
    let p = builder().hedge(|h| h.delay(ms(50))).build().unwrap();
    let calls = Cell::new(0);
    let start = Instant::now();
    let out = p
        .call(|| {
            let n = bump(&calls);
            async move {
                sleep(secs(1)).await;
                Ok::<_, &str>(n)
            }
        })
        .await;
    assert_eq!(out, Ok(1));
    assert_eq!((calls.get(), start.elapsed()), (1, secs(1)));
}

#[tokio::test(start_paused = true)]
async fn hedged_attempts_share_one_breaker_outcome_per_retry_attempt() {
    // Under call_idempotent, one retry attempt is one hedged race: a failed first attempt
    // starts the hedge at once (hedging's rule), and the breaker records the race's outcome.
    let p = builder()
        .hedge(|h| h.delay(secs(10)))
        .retry(fixed(2, ms(100)))
        .circuit_breaker(|b| b.failure_threshold(10))
        .build()
        .unwrap();
    let calls = Cell::new(0);
    let err = p
        .call_idempotent(|| {
            bump(&calls);
            async { Err::<(), _>("down") }
        })
        .await
        .unwrap_err();
    assert_eq!(exhausted(err, 2, max_attempts(2)), Error::Operation("down"));
    assert_eq!(calls.get(), 4, "2 retry attempts x (first + hedge)");
    assert_eq!(p.circuit_breaker().unwrap().stats().failed_calls, 2);
}

// ---------------------------------------------------------------------------------------------
// Fallback
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_fallback_on_rejections_catches_an_open_circuit() {
    let p = builder()
        .retry(fixed(3, ms(100)))
        .circuit_breaker(|b| b.failure_threshold(1))
        .build()
        .unwrap();
    let _ = p.call(|| async { Err::<&str, _>("down") }).await; // trips
    let cached = Fallback::on_rejections().value("cached");
    let calls = Cell::new(0);
    let out = p
        .call_with_fallback(
            || {
                bump(&calls);
                async { Ok::<_, &str>("live") }
            },
            &cached,
        )
        .await;
    assert_eq!(out, Ok("cached"));
    assert_eq!(calls.get(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_fallback_on_rejections_lets_exhausted_retries_through_and_on_errors_catches_them() {
    let p = builder().retry(fixed(2, ms(100))).build().unwrap();
    let failing = || async { Err::<String, _>("down") };
    let out = p
        .call_with_fallback(
            failing,
            &Fallback::on_rejections().value("cached".to_string()),
        )
        .await;
    assert_eq!(
        exhausted(out.unwrap_err(), 2, max_attempts(2)),
        Error::Operation("down"),
        "an operation error is not a rejection"
    );
    let seen = p
        .call_with_fallback(
            failing,
            &Fallback::on_errors().with(|e: Error<&str>| match e {
                Error::RetriesExhausted { attempts, .. } => format!("gave up after {attempts}"),
                other => format!("{other:?}"),
            }),
        )
        .await;
    assert_eq!(seen, Ok("gave up after 2".to_string()));
}

#[tokio::test(start_paused = true)]
async fn a_fallback_is_outermost_it_also_catches_rate_limit_bulkhead_and_total_timeout() {
    let p = builder()
        .rate_limit(Algorithm::Gcra {
            rate: Rate::per_minute(1),
            burst: 2,
        })
        .bulkhead(|b| b.max_concurrent(1))
        .total_timeout(secs(1))
        .build()
        .unwrap();
    let describe = Fallback::on_errors().with(|e: Error<&str>| match e {
        Error::RateLimited { .. } => "rate limited",
        Error::BulkheadFull { .. } => "bulkhead full",
        Error::Timeout { .. } => "timed out",
        _ => "other",
    });
    let hang = || async {
        sleep(HANG).await;
        Ok::<_, &str>("never")
    };
    assert_eq!(p.call_with_fallback(hang, &describe).await, Ok("timed out"));
    let held = p.bulkhead().unwrap().try_acquire().unwrap();
    assert_eq!(
        p.call_with_fallback(hang, &describe).await,
        Ok("bulkhead full")
    );
    drop(held);
    assert_eq!(
        p.call_with_fallback(hang, &describe).await,
        Ok("rate limited")
    );
}

#[tokio::test(start_paused = true)]
async fn a_fallback_on_rejections_catches_an_open_circuit_even_when_retry_retried_it() {
    // With retry_rejections, retry gives up on an open circuit with RetriesExhausted whose
    // every attempt was a rejection: the operation never ran, the circuit is open — exactly
    // what a fallback on rejections is for ("a fallback catches an open circuit").
    let p = builder()
        .retry(fixed(3, ms(100)))
        .retry_rejections(true)
        .circuit_breaker(|b| b)
        .build()
        .unwrap();
    p.circuit_breaker().unwrap().force_open();
    let calls = Cell::new(0);
    let out = p
        .call_with_fallback(
            || {
                bump(&calls);
                async { Ok::<_, &str>("live") }
            },
            &Fallback::on_rejections().value("cached"),
        )
        .await;
    assert_eq!(calls.get(), 0);
    assert_eq!(out, Ok("cached"));
}

#[tokio::test(start_paused = true)]
async fn retry_rejections_waiting_past_the_total_timeout_ends_in_the_total_timeout() {
    // The breaker asks for 30 s, the whole call may take 2 s: the async call sleeps until the
    // total limit fires (the blocking form gives up at once; see pipeline_blocking.rs).
    let p = builder()
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
    let start = Instant::now();
    let out = p.call(|| async { Ok::<_, &str>(()) }).await;
    assert_eq!(
        timeout_fired(&out.unwrap_err()),
        ("orders", TimeoutScope::Total, secs(2))
    );
    assert_eq!(start.elapsed(), secs(2));
}

// ---------------------------------------------------------------------------------------------
// Cancellation of a half-open trial call
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn dropping_the_call_during_a_half_open_trial_releases_the_trial_slot() {
    let p = builder()
        .circuit_breaker(|b| {
            b.failure_threshold(1)
                .recovery_timeout(secs(10))
                .half_open_requests(1)
        })
        .build()
        .unwrap();
    let breaker = p.circuit_breaker().unwrap().clone();
    let _ = p.call(|| async { Err::<(), _>("down") }).await;
    assert_eq!(breaker.state(), State::Open);
    sleep(secs(10)).await;

    let started = Cell::new(false);
    let mut trial = Box::pin(p.call(|| {
        started.set(true);
        async {
            sleep(HANG).await;
            Ok::<_, &str>("late")
        }
    }));
    assert_eq!(run_for(&mut trial, ms(10)).await, None);
    assert!(started.get(), "the trial call is running");
    let stats = breaker.stats();
    assert_eq!(
        (stats.state, stats.trial_calls_in_flight),
        (State::HalfOpen, 1)
    );
    let busy = p
        .call(|| async { Ok::<_, &str>("second") })
        .await
        .unwrap_err();
    assert_eq!(circuit_open(&busy, "orders", State::HalfOpen), None);

    drop(trial);
    assert_eq!(
        breaker.stats().trial_calls_in_flight,
        0,
        "dropping the call gave the trial slot back"
    );
    assert_eq!(p.call(|| async { Ok::<_, &str>("back") }).await, Ok("back"));
    assert_eq!(breaker.state(), State::Closed);
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_pipelines_listener_hears_every_policy_under_the_pipelines_name() {
    let log = EventLog::default();
    let p = Pipeline::builder()
        .name("checkout")
        .clock(Clock::tokio())
        .on_event(log.listener())
        .rate_limit(Algorithm::Gcra {
            rate: Rate::per_second(10),
            burst: 10,
        })
        .bulkhead(|b| b.max_concurrent(2))
        .total_timeout(secs(10))
        .retry(fixed(3, ms(100)))
        .circuit_breaker(|b| b.failure_threshold(5))
        .hedge(|h| h.delay(secs(5)))
        .timeout(secs(1))
        .idempotent(true)
        .build()
        .unwrap();
    let calls = Cell::new(0);
    // Attempt 1 times out, attempt 2 succeeds.
    let out = p
        .call(|| {
            let n = bump(&calls);
            async move {
                if n == 1 {
                    sleep(HANG).await;
                }
                Ok::<_, &str>(n)
            }
        })
        .await;
    assert_eq!(out, Ok(2));
    let events = log.take();
    let names: BTreeSet<&str> = events.iter().map(|(_, name, _)| name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["checkout"]), "{events:#?}");
    let described: Vec<String> = events
        .iter()
        .map(|(kind, _, what)| format!("{kind}: {what}"))
        .collect();
    assert_eq!(
        described,
        [
            "rate_limit: permit",
            "bulkhead: slot taken",
            "timeout: timed out (attempt) after 1s",
            "circuit_breaker: outcome Failure",
            "retry: retry scheduled after attempt 1 in 100ms",
            "circuit_breaker: outcome Success",
            "retry: retry succeeded after 2",
            "bulkhead: slot released",
            "pipeline: call Succeeded in 1.1s",
        ]
    );

    // Hedging speaks only for call_idempotent.
    assert_eq!(
        p.call_idempotent(|| async { Ok::<_, &str>(0) }).await,
        Ok(0)
    );
    let hedge: Vec<String> = log
        .take()
        .into_iter()
        .filter(|(kind, _, _)| *kind == "hedge" || *kind == "pipeline")
        .map(|(_, name, what)| format!("{name}: {what}"))
        .collect();
    assert_eq!(
        hedge,
        [
            "checkout: hedge settled: winner Some(1) of 1",
            "checkout: call Succeeded in 0ns"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_total_timeout_publishes_its_own_timed_out_event() {
    let log = EventLog::default();
    let p = builder()
        .on_event(log.listener())
        .total_timeout(ms(250))
        .build()
        .unwrap();
    let out = p
        .call(|| async {
            sleep(HANG).await;
            Ok::<(), &str>(())
        })
        .await;
    assert_eq!(
        timeout_fired(&out.unwrap_err()),
        ("orders", TimeoutScope::Total, ms(250))
    );
    let events = log.take();
    assert_eq!(
        events,
        [
            (
                "timeout",
                "orders".to_string(),
                "timed out (total) after 250ms".to_string()
            ),
            (
                "pipeline",
                "orders".to_string(),
                "call Failed in 250ms".to_string()
            )
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_breaker_rejection_inside_retry_is_published_by_both_policies() {
    let log = EventLog::default();
    let p = builder()
        .on_event(log.listener())
        .retry(fixed(3, ms(100)))
        .circuit_breaker(|b| b.failure_threshold(1))
        .build()
        .unwrap();
    p.circuit_breaker().unwrap().force_open();
    let _ = p.call(|| async { Ok::<_, &str>(()) }).await;
    let described: Vec<String> = log
        .take()
        .into_iter()
        .map(|(kind, _, what)| format!("{kind}: {what}"))
        .collect();
    assert_eq!(
        described,
        [
            "circuit_breaker: transition Closed -> ForcedOpen",
            "circuit_breaker: rejected in ForcedOpen",
            "retry: retry gave up after 1: an inner policy rejected the attempt without running it (rejections are not retried)",
            "pipeline: call Rejected in 0ns",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Cost: the size of a call's future
// ---------------------------------------------------------------------------------------------

/// An operation whose future is about 8 KiB: a buffer held across an await, as an HTTP
/// client's or a database driver's request future holds its buffers.
async fn big_operation() -> Result<u8, &'static str> {
    let buffer = [7u8; 8192];
    sleep(ms(1)).await;
    Ok(buffer[0])
}

#[test]
fn a_call_future_holds_the_operation_future_a_small_constant_number_of_times() {
    // Every call of a pipeline has one future type, whatever the configuration, so its size
    // is paid by every pipeline. Hedging keeps two attempts inline (by design); anything
    // beyond a few copies of the operation's future is waste, paid per call in flight, and on
    // the stack wherever the future is built or moved (a pipeline nested in another's
    // operation overflowed the 2 MiB test thread's stack). The futures are only built and
    // measured, on a thread with a large stack, so a regression cannot abort this binary.
    let (op, empty, full) = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(|| {
            let op = std::mem::size_of_val(&big_operation());
            let empty = Pipeline::builder().build().unwrap();
            let empty = std::mem::size_of_val(&empty.call(big_operation));
            let full = Pipeline::builder()
                .rate_limit(Algorithm::Gcra {
                    rate: Rate::per_second(100),
                    burst: 100,
                })
                .bulkhead(|b| b)
                .total_timeout(secs(10))
                .retry(fixed(3, ms(10)))
                .circuit_breaker(|b| b)
                .hedge(|h| h)
                .timeout(secs(1))
                .build()
                .unwrap();
            let full = std::mem::size_of_val(&full.call_idempotent(big_operation));
            (op, empty, full)
        })
        .unwrap()
        .join()
        .unwrap();
    let bound = 4 * op + 16 * 1024;
    for (what, size) in [("an empty", empty), ("a full", full)] {
        assert!(
            size <= bound,
            "{what} pipeline's call future is {size} bytes, {:.1}x the operation's {op}",
            size as f64 / op as f64
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Build errors
// ---------------------------------------------------------------------------------------------

#[track_caller]
fn build_error(builder: PipelineBuilder) -> ConfigError {
    builder.build().expect_err("the builder should be rejected")
}

#[test]
fn build_errors_name_the_policy_the_field_and_the_value() {
    let cases: Vec<(PipelineBuilder, (&str, &str, &str))> = vec![
        (
            Pipeline::builder().timeout(Duration::ZERO),
            ("pipeline", "timeout", "0ns"),
        ),
        (
            Pipeline::builder().total_timeout(Duration::ZERO),
            ("pipeline", "total_timeout", "0ns"),
        ),
        (
            Pipeline::builder().retry(|r| r.max_attempts(0)),
            ("retry", "max_attempts", "0"),
        ),
        (
            Pipeline::builder().max_attempts(0),
            ("retry", "max_attempts", "0"),
        ),
        (
            Pipeline::builder().retry(|r| r.base_delay(secs(2)).max_delay(secs(1))),
            ("retry", "max_delay", "1s"),
        ),
        (
            Pipeline::builder().rate_limit(Algorithm::Gcra {
                rate: Rate::per_second(0),
                burst: 1,
            }),
            ("rate_limit", "rate", "0/1s"),
        ),
        (
            Pipeline::builder().rate_limit(Algorithm::Gcra {
                rate: Rate::per_second(5),
                burst: 0,
            }),
            ("rate_limit", "burst", "0"),
        ),
        (
            Pipeline::builder().bulkhead(|b| b.max_concurrent(0)),
            ("bulkhead", "max_concurrent", "0"),
        ),
        (
            Pipeline::builder().failure_threshold(0),
            ("circuit_breaker", "failure_threshold", "0"),
        ),
        (
            Pipeline::builder().hedge(|h| h.max_hedged_attempts(0)),
            ("hedge", "max_hedged_attempts", "0"),
        ),
    ];
    for (builder, (policy, field, value)) in cases {
        let err = build_error(builder);
        assert_eq!(
            (err.policy(), err.field(), err.value()),
            (policy, field, value),
            "{err}"
        );
    }
}

#[test]
fn a_build_error_message_reads_as_a_sentence() {
    let err = build_error(Pipeline::builder().retry(|r| r.max_attempts(0)));
    assert_eq!(
        err.to_string(),
        "invalid retry configuration: max_attempts = 0: must be at least 1"
    );
}

#[test]
fn the_pipelines_name_reaches_the_policies_it_builds() {
    let p = Pipeline::builder()
        .name("inventory")
        .retry(|r| r)
        .circuit_breaker(|b| b)
        .bulkhead(|b| b)
        .rate_limit(Algorithm::Gcra {
            rate: Rate::per_second(1),
            burst: 1,
        })
        .build()
        .unwrap();
    assert_eq!(p.name(), "inventory");
    assert_eq!(p.retry().unwrap().name(), "inventory");
    assert_eq!(p.circuit_breaker().unwrap().name(), "inventory");
    assert_eq!(p.bulkhead().unwrap().name(), "inventory");
    assert_eq!(p.rate_limiter().unwrap().name(), "inventory");
    assert_eq!(Pipeline::builder().build().unwrap().name(), "pipeline");
}
