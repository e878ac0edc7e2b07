//! What can go wrong with Redis, said without secrets.

use std::time::Duration;

use crate::redact::Redacted;

/// An error of this crate. Every variant names the Redis target with its password hidden;
/// no variant holds the URL itself.
///
/// ```
/// use palisade_redis::{Error, Redacted};
/// let e = Error::Down { target: Redacted::new("redis://:pw@h:6379") };
/// assert_eq!(e.to_string(), "Redis at redis://:***@h:6379 is marked unreachable; policies use their fallback until it answers again");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting was refused (it names the field and the value).
    #[error(transparent)]
    Config(#[from] palisade::ConfigError),
    /// The backend's thread could not start.
    #[error("the palisade-redis thread could not start")]
    Start(#[source] std::io::Error),
    /// The link is down (a recent command failed); nothing was sent.
    #[error(
        "Redis at {target} is marked unreachable; policies use their fallback until it answers again"
    )]
    Down {
        /// Where, password hidden.
        target: Redacted,
    },
    /// Redis could not be reached (connection refused or lost).
    #[error("Redis at {target} is unreachable: {reason}")]
    Unreachable {
        /// Where, password hidden.
        target: Redacted,
        /// What the client said, password hidden.
        reason: String,
    },
    /// Redis did not answer within the Redis timeout.
    #[error("Redis at {target} did not answer within {timeout:?}")]
    Timeout {
        /// Where, password hidden.
        target: Redacted,
        /// The Redis timeout.
        timeout: Duration,
    },
    /// Redis answered with an error (a script error, a wrong type).
    #[error("Redis at {target} refused the command: {message}")]
    Command {
        /// Where, password hidden.
        target: Redacted,
        /// Redis's message.
        message: String,
    },
}

impl Error {
    /// Whether the error means Redis could not be reached in time (rather than a refused
    /// setting or an error answer): the case a policy's fallback is for.
    ///
    /// ```
    /// use palisade_redis::{Error, Redacted};
    /// assert!(Error::Down { target: Redacted::new("redis://h") }.is_unavailable());
    /// ```
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Error::Down { .. } | Error::Unreachable { .. } | Error::Timeout { .. }
        )
    }
}
