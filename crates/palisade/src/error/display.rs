//! What an [`Error`] says: its `Display` messages, written for the operator reading a log
//! line (which policy, which limit, why), and its `source()` chain.
//!
//! The contract: an error either displays its cause or returns it from `source()`, never
//! both, so an error report (anyhow's `{:#}`, tracing's error chains) prints each cause once.

use std::fmt;
use std::time::Duration;

use super::Error;
use super::human::HumanDuration;
use super::reason::{RejectReason, State as CircuitState, TimeoutScope};

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Operation(e) => e.fmt(f),
            Error::CircuitOpen {
                name,
                state,
                retry_after,
            } => fmt_circuit_open(f, name, *state, *retry_after),
            Error::RateLimited { name, retry_after } => write!(
                f,
                "rate limiter '{name}' rejected the call: retry after {}",
                HumanDuration(*retry_after)
            ),
            Error::InsufficientCapacity {
                name,
                requested,
                capacity,
            } => write!(
                f,
                "rate limiter '{name}' can grant at most {capacity} permits at once, \
                 {requested} were requested: split the request or raise the limit"
            ),
            Error::Timeout { name, scope, limit } => {
                let scope = match scope {
                    TimeoutScope::Call => "",
                    TimeoutScope::Attempt => " (per attempt)",
                    TimeoutScope::Total => " (total)",
                };
                write!(
                    f,
                    "timeout '{name}'{scope} fired after {}",
                    HumanDuration(*limit)
                )
            }
            Error::BulkheadFull {
                name,
                max_concurrent,
                reason,
            } => fmt_bulkhead_full(f, name, *max_concurrent, *reason),
            Error::RetriesExhausted {
                name,
                attempts,
                reason,
                // The last error is the `source()`, not part of this message.
                last_error: _,
            } => write!(
                f,
                "retry '{name}' gave up after {attempts} attempt{s} ({reason})",
                s = if *attempts == 1 { "" } else { "s" }
            ),
        }
    }
}

/// The message of a circuit breaker's rejection, shared by [`Error::CircuitOpen`] and
/// [`Rejected`](crate::circuit_breaker::Rejected).
pub(crate) fn fmt_circuit_open(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    state: CircuitState,
    retry_after: Option<Duration>,
) -> fmt::Result {
    match (state, retry_after) {
        (CircuitState::ForcedOpen, _) => write!(
            f,
            "circuit breaker '{name}' is forced open by an operator: calls are rejected \
             until it is closed; serve a fallback"
        ),
        (CircuitState::HalfOpen, _) => write!(
            f,
            "circuit breaker '{name}' is half-open and all its trial calls are in flight: \
             retry shortly or serve a fallback"
        ),
        (_, Some(wait)) => write!(
            f,
            "circuit breaker '{name}' is open: calls are rejected for another {}; \
             retry after that or serve a fallback",
            HumanDuration(wait)
        ),
        (_, None) => write!(
            f,
            "circuit breaker '{name}' is open: calls are rejected; serve a fallback"
        ),
    }
}

/// The message of a bulkhead's rejection, shared by [`Error::BulkheadFull`] and
/// [`Rejected`](crate::bulkhead::Rejected).
pub(crate) fn fmt_bulkhead_full(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    max_concurrent: usize,
    reason: RejectReason,
) -> fmt::Result {
    match reason {
        RejectReason::Full => write!(
            f,
            "bulkhead '{name}' is full: all {max_concurrent} concurrent slots are busy"
        ),
        RejectReason::QueueFull { max_queue } => write!(
            f,
            "bulkhead '{name}' is full: all {max_concurrent} concurrent slots are busy and \
             {max_queue} calls are already waiting"
        ),
        RejectReason::WaitedTooLong { max_wait } => write!(
            f,
            "bulkhead '{name}' is full: none of its {max_concurrent} concurrent slots came \
             free within {}",
            HumanDuration(max_wait)
        ),
    }
}

impl<E> std::error::Error for Error<E>
where
    E: std::error::Error + 'static,
{
    /// Each cause once: [`Error::Operation`] is transparent (its message is the operation
    /// error's, its source that error's source); [`Error::RetriesExhausted`] names why retry
    /// stopped and has the last attempt's error as its source; the other variants are the
    /// policies' own and have none.
    ///
    /// ```
    /// use palisade::{clock::ManualClock, retry::Retry};
    /// let retry = Retry::builder().name("profile").max_attempts(3).clock(ManualClock::new()).build()?;
    /// let err = retry
    ///     .call_blocking(|| Err::<(), _>(std::io::Error::other("connection reset")))
    ///     .unwrap_err();
    /// let mut chain = vec![err.to_string()];
    /// let mut cause = std::error::Error::source(&err);
    /// while let Some(c) = cause {
    ///     chain.push(c.to_string());
    ///     cause = c.source();
    /// }
    /// assert_eq!(chain, [
    ///     "retry 'profile' gave up after 3 attempts (max_attempts = 3 reached)",
    ///     "connection reset",
    /// ]);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Operation(e) => e.source(),
            Error::RetriesExhausted { last_error, .. } => Some(last_error.as_ref()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::reason::StopReason;
    use super::*;

    #[test]
    fn rejections_say_which_policy_and_how_long() {
        let err: Error<std::io::Error> = Error::CircuitOpen {
            name: "payments".into(),
            state: CircuitState::Open,
            retry_after: Some(Duration::from_secs(12)),
        };
        assert_eq!(
            err.to_string(),
            "circuit breaker 'payments' is open: calls are rejected for another 12s; \
             retry after that or serve a fallback"
        );
        assert_eq!(err.retry_after(), Some(Duration::from_secs(12)));
        assert!(err.is_rejection() && err.is_transient());
        let forced: Error<String> = Error::CircuitOpen {
            name: "payments".into(),
            state: CircuitState::ForcedOpen,
            retry_after: None,
        };
        assert_eq!(forced.retry_after(), None);
        assert!(forced.to_string().contains("forced open by an operator"));

        let limited: Error<()> = Error::RateLimited {
            name: "api".into(),
            retry_after: Duration::from_millis(250),
        };
        assert_eq!(limited.retry_after(), Some(Duration::from_millis(250)));
        let timeout: Error<()> = Error::timeout("db", TimeoutScope::Call, Duration::from_secs(5));
        assert!(timeout.is_transient() && !timeout.is_rejection());
        let full: Error<()> = Error::bulkhead_full("db", 10, RejectReason::Full);
        assert!(full.is_rejection() && full.is_transient());
    }

    #[test]
    fn a_timeout_says_which_one_fired_and_its_limit() {
        let limit = Duration::from_secs(2);
        let message = |scope| Error::<&str>::timeout("payments", scope, limit).to_string();
        assert_eq!(
            message(TimeoutScope::Call),
            "timeout 'payments' fired after 2s"
        );
        assert_eq!(
            message(TimeoutScope::Attempt),
            "timeout 'payments' (per attempt) fired after 2s"
        );
        assert_eq!(
            message(TimeoutScope::Total),
            "timeout 'payments' (total) fired after 2s"
        );
    }

    #[test]
    fn a_full_bulkhead_says_why() {
        let message = |reason| Error::<&str>::bulkhead_full("db", 10, reason).to_string();
        assert_eq!(
            message(RejectReason::Full),
            "bulkhead 'db' is full: all 10 concurrent slots are busy"
        );
        assert_eq!(
            message(RejectReason::QueueFull { max_queue: 4 }),
            "bulkhead 'db' is full: all 10 concurrent slots are busy and 4 calls are already \
             waiting"
        );
        assert_eq!(
            message(RejectReason::WaitedTooLong {
                max_wait: Duration::from_millis(250)
            }),
            "bulkhead 'db' is full: none of its 10 concurrent slots came free within 250ms"
        );
    }

    #[test]
    fn policy_errors_other_than_exhausted_retries_have_no_source() {
        use std::error::Error as _;
        let errors: [Error<std::io::Error>; 2] = [
            Error::timeout("t", TimeoutScope::Total, Duration::from_secs(1)),
            Error::bulkhead_full("b", 1, RejectReason::Full),
        ];
        for err in errors {
            assert!(err.source().is_none(), "{err}");
        }
    }

    #[test]
    fn measured_durations_are_rounded_in_messages_but_exact_in_fields() {
        let wait = Duration::from_nanos(29_999_941_188);
        let err: Error<&str> = Error::CircuitOpen {
            name: "db".into(),
            state: CircuitState::Open,
            retry_after: Some(wait),
        };
        assert!(
            err.to_string()
                .contains("calls are rejected for another 30s;"),
            "{err}"
        );
        assert_eq!(err.retry_after(), Some(wait));
        let limited: Error<&str> = Error::RateLimited {
            name: "api".into(),
            retry_after: Duration::from_nanos(1_234_567),
        };
        assert_eq!(
            limited.to_string(),
            "rate limiter 'api' rejected the call: retry after 1.23ms"
        );
        let timeout: Error<&str> =
            Error::timeout("db", TimeoutScope::Total, Duration::from_millis(90_000));
        assert_eq!(
            timeout.to_string(),
            "timeout 'db' (total) fired after 1m 30s"
        );
        let exhausted: Error<&str> = Error::retries_exhausted(
            "db",
            2,
            StopReason::MaxElapsed {
                budget: Duration::from_secs(10),
                elapsed: Duration::from_nanos(9_876_543_210),
                next_delay: Duration::from_nanos(400_123_456),
            },
            Error::Operation("x"),
        );
        let Error::RetriesExhausted { reason, .. } = exhausted else {
            unreachable!()
        };
        assert_eq!(
            reason.to_string(),
            "max_elapsed = 10s would be exceeded: 9.88s used, next delay 400ms"
        );
    }

    #[test]
    fn exhausted_retries_expose_the_last_error_and_chain_sources() {
        let err: Error<std::io::Error> = Error::retries_exhausted(
            "profile",
            3,
            StopReason::MaxAttempts { max_attempts: 3 },
            Error::Operation(std::io::Error::other("connection refused")),
        );
        assert_eq!(
            err.to_string(),
            "retry 'profile' gave up after 3 attempts (max_attempts = 3 reached)"
        );
        assert_eq!(
            err.operation_error().map(|e| e.to_string()),
            Some("connection refused".into())
        );
        let source = std::error::Error::source(&err).map(|s| s.to_string());
        assert_eq!(source.as_deref(), Some("connection refused"));
        assert!(!err.is_transient());
        let mapped = err.map_operation(|e| e.kind());
        assert!(matches!(&mapped, Error::RetriesExhausted { name, .. } if &**name == "profile"));
        assert_eq!(
            mapped.into_operation_error(),
            Some(std::io::ErrorKind::Other)
        );
    }
}
