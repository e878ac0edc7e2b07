//! The vocabulary the error type speaks: a circuit breaker's state, why retry stopped, which
//! time limit fired and why a bulkhead turned a call away.
//!
//! They are defined here, below the policies, because [`Error`](super::Error) carries them;
//! the policies re-export them as [`circuit_breaker::State`](crate::circuit_breaker::State),
//! [`retry::StopReason`](crate::retry::StopReason),
//! [`timeout::TimeoutScope`](crate::timeout::TimeoutScope) and
//! [`bulkhead::RejectReason`](crate::bulkhead::RejectReason).

use std::fmt;
use std::time::Duration;

use crate::error::human::HumanDuration;

/// The state of a circuit breaker.
///
/// `Closed`, `Open` and `HalfOpen` are the automatic states; `Disabled`, `ForcedOpen` and
/// `MetricsOnly` are set by an operator and left only by another manual transition.
///
/// ```
/// use palisade::circuit_breaker::State;
/// assert_eq!(State::HalfOpen.to_string(), "half_open");
/// assert!(State::ForcedOpen.rejects_calls());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Calls pass; outcomes are recorded and may trip the breaker.
    Closed,
    /// Calls are rejected until the recovery timeout has elapsed.
    Open,
    /// A limited number of trial calls pass; their outcomes close or re-open the breaker.
    HalfOpen,
    /// Every call passes and nothing is recorded.
    Disabled,
    /// Every call is rejected.
    ForcedOpen,
    /// Calls pass, outcomes are recorded and published, but the breaker never trips.
    MetricsOnly,
}

impl State {
    /// Whether the state rejects calls outright (Open, ForcedOpen). HalfOpen admits some.
    ///
    /// ```
    /// use palisade::circuit_breaker::State;
    /// assert!(State::Open.rejects_calls() && !State::HalfOpen.rejects_calls());
    /// ```
    pub fn rejects_calls(self) -> bool {
        matches!(self, State::Open | State::ForcedOpen)
    }

    /// The state's name in snake case, as used in metrics and configuration.
    ///
    /// ```
    /// assert_eq!(palisade::circuit_breaker::State::MetricsOnly.as_str(), "metrics_only");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::Disabled => "disabled",
            State::ForcedOpen => "forced_open",
            State::MetricsOnly => "metrics_only",
        }
    }

    pub(crate) fn code(self) -> u64 {
        match self {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
            State::Disabled => 3,
            State::ForcedOpen => 4,
            State::MetricsOnly => 5,
        }
    }

    pub(crate) fn from_code(code: u64) -> State {
        match code {
            1 => State::Open,
            2 => State::HalfOpen,
            3 => State::Disabled,
            4 => State::ForcedOpen,
            5 => State::MetricsOnly,
            _ => State::Closed,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why retry stopped without success.
///
/// ```
/// use palisade::retry::StopReason;
/// assert_eq!(StopReason::MaxAttempts { max_attempts: 3 }.to_string(), "max_attempts = 3 reached");
/// assert!(StopReason::Rejected.to_string().starts_with("an inner policy rejected the attempt"));
/// assert_eq!(
///     StopReason::BudgetExhausted.to_string(),
///     "the retry budget is exhausted: retries already reached their share of recent calls"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StopReason {
    /// The error predicate classed the error as permanent. The call returns
    /// [`Error::Operation`](crate::Error::Operation), never `RetriesExhausted`, for this.
    NotRetryable,
    /// `max_attempts` attempts were made.
    MaxAttempts {
        /// The configured maximum.
        max_attempts: u32,
    },
    /// The next attempt would not start before `max_elapsed` ran out.
    MaxElapsed {
        /// The configured `max_elapsed`.
        budget: Duration,
        /// Time used since the first attempt started.
        elapsed: Duration,
        /// The delay that would have been slept.
        next_delay: Duration,
    },
    /// The shared [`RetryBudget`](crate::retry::RetryBudget) refused the retry: retries in its
    /// window already reached `ratio × calls + floor`. Other calls are failing too; retrying
    /// now would add load where it hurts most.
    BudgetExhausted,
    /// The attempt's failure opened the circuit breaker retry runs against (in a pipeline),
    /// so another attempt could only be refused; retry stopped instead of sleeping into it.
    CircuitOpened,
    /// An inner policy of the pipeline (circuit breaker, bulkhead, rate limiter) refused to
    /// run the attempt, and the pipeline does not retry rejections: the operation did not
    /// run, so this is not a failure of the dependency. Like
    /// [`NotRetryable`](Self::NotRetryable), the call returns the rejection itself (e.g.
    /// [`Error::CircuitOpen`](crate::Error::CircuitOpen)), never `RetriesExhausted`.
    Rejected,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::NotRetryable => f.write_str("the error is not retryable"),
            StopReason::MaxAttempts { max_attempts } => {
                write!(f, "max_attempts = {max_attempts} reached")
            }
            StopReason::MaxElapsed {
                budget,
                elapsed,
                next_delay,
            } => write!(
                f,
                "max_elapsed = {} would be exceeded: {} used, next delay {}",
                HumanDuration(*budget),
                HumanDuration(*elapsed),
                HumanDuration(*next_delay)
            ),
            StopReason::BudgetExhausted => f.write_str(
                "the retry budget is exhausted: retries already reached their share of recent calls",
            ),
            StopReason::CircuitOpened => {
                f.write_str("the circuit breaker opened: further attempts would be refused")
            }
            StopReason::Rejected => f.write_str(
                "an inner policy rejected the attempt without running it (rejections are not retried)",
            ),
        }
    }
}

/// Which time limit fired: a [`Timeout`](crate::timeout::Timeout) policy's own, or one of the
/// two a [`Pipeline`](crate::pipeline::Pipeline) sets. A pipeline gives both of its timeouts
/// its own name, so the name alone cannot tell them apart; the scope does, and says what to
/// tune: a slow attempt (`Attempt`), or attempts and backoff adding up (`Total`).
///
/// ```
/// use palisade::timeout::TimeoutScope;
/// assert_eq!(TimeoutScope::Attempt.as_str(), "attempt");
/// assert_eq!(TimeoutScope::Total.to_string(), "total");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutScope {
    /// A standalone [`Timeout`](crate::timeout::Timeout) bounding the call it wraps
    /// ([`call`](crate::timeout::Timeout::call), [`call_blocking`](crate::timeout::Timeout::call_blocking),
    /// [`call_blocking_on_thread`](crate::timeout::Timeout::call_blocking_on_thread)).
    Call,
    /// A pipeline's per-attempt timeout
    /// ([`PipelineBuilder::timeout`](crate::pipeline::PipelineBuilder::timeout)): one attempt
    /// took too long. It fires once per slow attempt; with retry (and an idempotent call) the
    /// next attempt may follow, and the caller sees it as the last error of
    /// [`RetriesExhausted`](crate::Error::RetriesExhausted). A
    /// [`Timeout`](crate::timeout::Timeout) used as a tower layer is one too: it bounds the
    /// one attempt of its layer.
    Attempt,
    /// A pipeline's total timeout
    /// ([`PipelineBuilder::total_timeout`](crate::pipeline::PipelineBuilder::total_timeout)):
    /// every attempt and every backoff sleep between them, together, took too long. It may
    /// fire while an attempt runs or during a backoff sleep; a blocking call does not sleep
    /// into it and gives up as soon as the next backoff would end past the limit (so before
    /// the limit has quite elapsed).
    Total,
}

impl TimeoutScope {
    /// The scope's name, as used in metrics (`scope` label) and tracing.
    ///
    /// ```
    /// use palisade::timeout::TimeoutScope;
    /// assert_eq!(TimeoutScope::Call.as_str(), "call");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            TimeoutScope::Call => "call",
            TimeoutScope::Attempt => "attempt",
            TimeoutScope::Total => "total",
        }
    }
}

impl fmt::Display for TimeoutScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a bulkhead turned a call away, carried by
/// [`Error::BulkheadFull`](crate::Error::BulkheadFull) and
/// [`bulkhead::Rejected`](crate::bulkhead::Rejected): no wait configured, the wait queue
/// full, or the wait too long.
///
/// ```
/// use palisade::bulkhead::RejectReason;
/// let reason = RejectReason::QueueFull { max_queue: 8 };
/// assert_ne!(reason, RejectReason::Full);
/// assert_eq!(reason.as_str(), "queue_full");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectReason {
    /// Every slot was busy and the call could not wait: the bulkhead has no queue
    /// (`max_queue = 0`), or the caller asked not to wait ([`Bulkhead::try_acquire`](crate::bulkhead::Bulkhead::try_acquire)).
    Full,
    /// Every slot was busy and `max_queue` calls were already waiting.
    QueueFull {
        /// The queue's bound.
        max_queue: usize,
    },
    /// The call waited `max_wait` in the queue and no slot came free.
    WaitedTooLong {
        /// The bound on waiting.
        max_wait: Duration,
    },
}

impl RejectReason {
    /// The reason's name in snake case, as used in metrics (`reason` label).
    ///
    /// ```
    /// use palisade::bulkhead::RejectReason;
    /// assert_eq!(RejectReason::Full.as_str(), "full");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Full => "full",
            RejectReason::QueueFull { .. } => "queue_full",
            RejectReason::WaitedTooLong { .. } => "waited_too_long",
        }
    }
}
