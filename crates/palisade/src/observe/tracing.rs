//! [`TracingListener`]: policy events as `tracing` events, and the pipeline's call span.
//!
//! The levels, and why, are in [`TracingListener`]'s docs.

use ::tracing::{debug, info, trace, warn};

use crate::bulkhead::BulkheadEvent;
use crate::circuit_breaker::{CircuitBreakerEvent, State};
use crate::event::{Event, Listener};
use crate::hedge::HedgeEvent;
use crate::pipeline::PipelineEvent;
use crate::rate_limit::RateLimitEvent;
use crate::retry::{RetryEvent, StopReason};
use crate::timeout::TimeoutEvent;

/// A [`Listener`] that emits every policy event as a [`tracing`](::tracing) event.
/// Stateless and zero-sized: register one per policy or share it.
///
/// # Levels
///
/// Levels follow what an operator should hear about, not how often things happen:
///
/// | event | level |
/// |---|---|
/// | breaker opened (`open`, `forced_open`), retry gave up on a retryable error, a pipeline's policies turned off (`PipelineEvent::Switched`) | `WARN` |
/// | breaker closed / half-open / other transitions, retry scheduled, success after retries, timeout fired, late finish, every policy of a pipeline on (set at creation and reload) | `INFO` |
/// | rejections (breaker, rate limiter, bulkhead), a permanent error retry did not retry, hedge started, a call that waited for a bulkhead slot | `DEBUG` |
/// | per-call bookkeeping: outcomes recorded, permits granted, first-try successes, slots released, hedges settled | `TRACE` |
///
/// Rejections stay at `DEBUG` because they come in floods exactly when something is already
/// wrong; the transition that caused them is the `WARN`, and their rate belongs in metrics.
/// Each event's target is `palisade::<policy>` (`palisade::circuit_breaker`,
/// `palisade::retry`, …), so `RUST_LOG=palisade::retry=debug` selects one policy kind.
///
/// ```
/// use palisade::clock::ManualClock;
/// use palisade::observe::TracingListener;
/// use palisade::retry::Retry;
///
/// let retry = Retry::builder()
///     .name("fetch")
///     .max_attempts(2)
///     .clock(ManualClock::new()) // backoff advances virtual time: this example never sleeps
///     .on_event(TracingListener::new()) // INFO "retry scheduled" name="fetch" attempt=1 …
///     .build()?;
/// let mut calls = 0;
/// let v = retry.call_blocking(|| {
///     calls += 1;
///     if calls == 1 { Err(std::io::Error::other("flaky")) } else { Ok(calls) }
/// })?;
/// assert_eq!(v, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingListener {
    _private: (),
}

impl TracingListener {
    /// A listener.
    ///
    /// ```
    /// let _ = palisade::observe::TracingListener::new();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }
}

impl Listener for TracingListener {
    fn on_event(&self, event: &Event<'_>) {
        match event {
            Event::CircuitBreaker(e) => circuit_breaker(e),
            Event::Retry(e) => retry(e),
            Event::RateLimit(e) => rate_limit(e),
            Event::Timeout(e) => timeout(e),
            Event::Bulkhead(e) => bulkhead(e),
            Event::Hedge(e) => hedge(e),
            Event::Pipeline(e) => pipeline(e),
        }
    }
}

fn circuit_breaker(event: &CircuitBreakerEvent<'_>) {
    const TARGET: &str = "palisade::circuit_breaker";
    match *event {
        CircuitBreakerEvent::StateTransition {
            name,
            from,
            to,
            reason,
        } => {
            let (from, to_str) = (from.as_str(), to.as_str());
            match to {
                State::Open | State::ForcedOpen => warn!(
                    target: TARGET, name, from, to = to_str, %reason, "circuit breaker opened"
                ),
                State::Closed => info!(
                    target: TARGET, name, from, to = to_str, %reason, "circuit breaker closed"
                ),
                _ => info!(
                    target: TARGET, name, from, to = to_str, %reason, "circuit breaker changed state"
                ),
            }
        }
        CircuitBreakerEvent::CallRejected {
            name,
            state,
            retry_after,
        } => debug!(
            target: TARGET, name, state = state.as_str(), ?retry_after,
            "circuit breaker rejected a call"
        ),
        CircuitBreakerEvent::OutcomeRecorded {
            name,
            verdict,
            slow,
            state,
        } => trace!(
            target: TARGET, name, ?verdict, slow, state = state.as_str(),
            "circuit breaker recorded an outcome"
        ),
    }
}

fn retry(event: &RetryEvent<'_>) {
    const TARGET: &str = "palisade::retry";
    match *event {
        RetryEvent::RetryScheduled {
            name,
            attempt,
            delay,
            cause,
        } => info!(target: TARGET, name, attempt, ?delay, ?cause, "retry scheduled"),
        RetryEvent::Succeeded {
            name,
            attempts,
            total_duration,
        } if attempts > 1 => info!(
            target: TARGET, name, attempts, ?total_duration, "call succeeded after retries"
        ),
        RetryEvent::Succeeded {
            name,
            attempts,
            total_duration,
        } => trace!(target: TARGET, name, attempts, ?total_duration, "call succeeded"),
        // A permanent error is the caller's to report; retry only declined to repeat it.
        RetryEvent::GaveUp {
            name,
            attempts,
            reason: reason @ StopReason::NotRetryable,
            cause,
        } => debug!(
            target: TARGET, name, attempts, %reason, ?cause, "retry stopped: error not retryable"
        ),
        // The rejecting policy publishes (and logs) its own rejection.
        RetryEvent::GaveUp {
            name,
            attempts,
            reason: reason @ StopReason::Rejected,
            cause,
        } => debug!(
            target: TARGET, name, attempts, %reason, ?cause, "retry stopped: attempt rejected"
        ),
        RetryEvent::GaveUp {
            name,
            attempts,
            reason,
            cause,
        } => warn!(target: TARGET, name, attempts, %reason, ?cause, "retry gave up"),
    }
}

fn rate_limit(event: &RateLimitEvent<'_>) {
    const TARGET: &str = "palisade::rate_limit";
    match *event {
        RateLimitEvent::Permitted {
            name,
            permits,
            remaining,
        } => trace!(target: TARGET, name, permits, remaining, "rate limiter granted permits"),
        RateLimitEvent::Rejected {
            name,
            permits,
            retry_after,
        } => debug!(
            target: TARGET, name, permits, ?retry_after, "rate limiter refused permits"
        ),
    }
}

fn timeout(event: &TimeoutEvent<'_>) {
    const TARGET: &str = "palisade::timeout";
    match *event {
        TimeoutEvent::TimedOut { name, scope, limit } => {
            info!(target: TARGET, name, scope = scope.as_str(), ?limit, "call timed out")
        }
        TimeoutEvent::FinishedLate {
            name,
            scope,
            limit,
            elapsed,
        } => info!(
            target: TARGET, name, scope = scope.as_str(), ?limit, ?elapsed,
            "call finished after its time limit; result discarded"
        ),
    }
}

fn bulkhead(event: &BulkheadEvent<'_>) {
    const TARGET: &str = "palisade::bulkhead";
    match *event {
        BulkheadEvent::Permitted { name, waited } if !waited.is_zero() => {
            debug!(target: TARGET, name, ?waited, "bulkhead admitted a call after waiting")
        }
        BulkheadEvent::Permitted { name, waited } => {
            trace!(target: TARGET, name, ?waited, "bulkhead admitted a call")
        }
        BulkheadEvent::Rejected { name, reason } => {
            debug!(target: TARGET, name, ?reason, "bulkhead rejected a call")
        }
        BulkheadEvent::Released { name } => {
            trace!(target: TARGET, name, "bulkhead slot released")
        }
    }
}

fn pipeline(event: &PipelineEvent<'_>) {
    const TARGET: &str = "palisade::pipeline";
    match *event {
        PipelineEvent::Completed {
            name,
            outcome,
            elapsed,
        } => debug!(target: TARGET, name, ?outcome, ?elapsed, "call completed"),
        PipelineEvent::Switched { name, disabled } if disabled.passes_through() => {
            warn!(target: TARGET, name, "resilience is off: calls pass straight through")
        }
        PipelineEvent::Switched { name, disabled } if !disabled.is_empty() => {
            warn!(target: TARGET, name, ?disabled, "policies turned off")
        }
        PipelineEvent::Switched { name, .. } => {
            info!(target: TARGET, name, "every policy applies")
        }
    }
}

fn hedge(event: &HedgeEvent<'_>) {
    const TARGET: &str = "palisade::hedge";
    match *event {
        HedgeEvent::HedgeStarted {
            name,
            attempt,
            trigger,
        } => debug!(target: TARGET, name, attempt, ?trigger, "hedged attempt started"),
        HedgeEvent::Settled {
            name,
            winner,
            attempts,
        } => trace!(target: TARGET, name, ?winner, attempts, "hedged call settled"),
    }
}
