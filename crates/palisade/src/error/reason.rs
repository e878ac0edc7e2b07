//! The vocabulary the error type speaks: a circuit breaker's state and why retry stopped.
//!
//! They are defined here, below the policies, because [`Error`](super::Error) carries them;
//! the policies re-export them as [`circuit_breaker::State`](crate::circuit_breaker::State)
//! and [`retry::StopReason`](crate::retry::StopReason).

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
