//! The events a circuit breaker publishes ([`State`] itself is error vocabulary: see
//! `crate::error::reason`).

use std::fmt;
use std::time::Duration;

use crate::error::human::HumanDuration;

use crate::error::reason::State;

/// How a finished call was classified.
///
/// ```
/// use palisade::circuit_breaker::Verdict;
/// assert_ne!(Verdict::Success, Verdict::Ignored);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Counts as a success.
    Success,
    /// Counts as a failure.
    Failure,
    /// Counts as neither (for example a client error the dependency is not to blame for).
    Ignored,
}

/// Why a breaker changed state.
///
/// ```
/// use palisade::circuit_breaker::TransitionReason;
/// let r = TransitionReason::ConsecutiveFailures { failures: 5 };
/// assert_eq!(r.to_string(), "5 consecutive failures");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum TransitionReason {
    /// Closed → Open: `failure_threshold` consecutive failures.
    ConsecutiveFailures {
        /// Consecutive failures counted.
        failures: u32,
    },
    /// Closed → Open: the window's failure rate reached `failure_rate_threshold`.
    FailureRate {
        /// The rate, in percent.
        rate: f64,
        /// Calls in the window.
        calls: u64,
    },
    /// Closed → Open: the window's slow-call rate reached `slow_call_rate_threshold`.
    SlowCallRate {
        /// The rate, in percent.
        rate: f64,
        /// Calls in the window.
        calls: u64,
    },
    /// Open → HalfOpen: the recovery timeout elapsed.
    RecoveryTimeoutElapsed,
    /// HalfOpen → Open: a trial call failed (or was slow, with slow-call detection on).
    TrialCallFailed,
    /// HalfOpen → Closed: enough trial calls succeeded.
    TrialCallsSucceeded {
        /// Successful trial calls.
        successes: u32,
    },
    /// HalfOpen → Open: HalfOpen lasted `max_wait_in_half_open` without deciding.
    HalfOpenTimedOut {
        /// The configured maximum.
        waited: Duration,
    },
    /// An operator called `force_open`, `close`, `disable`, `metrics_only` or `reset`.
    Manual,
    /// The state was decided elsewhere and adopted here: another instance sharing the
    /// breaker's state (a fleet-wide store) tripped or recovered it.
    Imposed,
}

impl fmt::Display for TransitionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransitionReason::ConsecutiveFailures { failures } => {
                write!(f, "{failures} consecutive failures")
            }
            TransitionReason::FailureRate { rate, calls } => {
                write!(f, "failure rate {rate:.1}% over the last {calls} calls")
            }
            TransitionReason::SlowCallRate { rate, calls } => {
                write!(f, "slow-call rate {rate:.1}% over the last {calls} calls")
            }
            TransitionReason::RecoveryTimeoutElapsed => f.write_str("recovery timeout elapsed"),
            TransitionReason::TrialCallFailed => f.write_str("a trial call failed"),
            TransitionReason::TrialCallsSucceeded { successes } => write!(
                f,
                "{successes} trial call{s} succeeded",
                s = if *successes == 1 { "" } else { "s" }
            ),
            TransitionReason::HalfOpenTimedOut { waited } => {
                write!(
                    f,
                    "half-open for {} without a decision",
                    HumanDuration(*waited)
                )
            }
            TransitionReason::Manual => f.write_str("manual transition"),
            TransitionReason::Imposed => f.write_str("decided elsewhere (shared state)"),
        }
    }
}

/// What a circuit breaker did, published through [`crate::event`] as
/// [`Event::CircuitBreaker`](crate::event::Event::CircuitBreaker).
///
/// ```
/// use palisade::circuit_breaker::{CircuitBreakerEvent, State, TransitionReason};
/// let e = CircuitBreakerEvent::StateTransition {
///     name: "db", from: State::Closed, to: State::Open,
///     reason: TransitionReason::ConsecutiveFailures { failures: 5 },
/// };
/// assert_eq!(e.name(), "db");
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum CircuitBreakerEvent<'a> {
    /// The breaker changed state.
    StateTransition {
        /// The breaker's name.
        name: &'a str,
        /// The state left.
        from: State,
        /// The state entered.
        to: State,
        /// Why.
        reason: TransitionReason,
    },
    /// A call was rejected without running.
    CallRejected {
        /// The breaker's name.
        name: &'a str,
        /// The state that rejected it.
        state: State,
        /// Time until a call may be admitted, when known.
        retry_after: Option<Duration>,
    },
    /// A call's outcome was recorded.
    OutcomeRecorded {
        /// The breaker's name.
        name: &'a str,
        /// How the outcome was classified.
        verdict: Verdict,
        /// Whether the call was slow (always `false` without slow-call detection).
        slow: bool,
        /// The state the call was admitted in.
        state: State,
    },
}

impl<'a> CircuitBreakerEvent<'a> {
    /// The breaker that published the event.
    ///
    /// ```
    /// # use palisade::circuit_breaker::{CircuitBreakerEvent, State};
    /// let e = CircuitBreakerEvent::CallRejected { name: "api", state: State::Open, retry_after: None };
    /// assert_eq!(e.name(), "api");
    /// ```
    pub fn name(&self) -> &'a str {
        match self {
            CircuitBreakerEvent::StateTransition { name, .. }
            | CircuitBreakerEvent::CallRejected { name, .. }
            | CircuitBreakerEvent::OutcomeRecorded { name, .. } => name,
        }
    }
}
