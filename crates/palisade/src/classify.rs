//! Error classification: what an error says about the dependency, so that a pipeline retries
//! only what is worth retrying and a breaker counts only what is the dependency's fault.
//!
//! # Why classes and not one predicate
//!
//! "Retry every error, count every error" is wrong in a real service twice over. A lookup of
//! a missing row, a unique violation or a bad request is the dependency *answering*: retrying
//! it repeats the same answer, and counting it opens the breaker against a healthy database.
//! And an error after the request was sent (a connection reset mid-call, a timeout) may mean
//! the work was done: repeating a non-idempotent INSERT inserts twice. So an error says one of
//! four things ([`ErrorClass`]):
//!
//! | class | retried | counts for the breaker |
//! |---|---|---|
//! | [`Unreached`](ErrorClass::Unreached): the dependency never acted (connection refused, told to come back later) | always | yes |
//! | [`Transient`](ErrorClass::Transient): worth another try, but the call may have reached the dependency (reset mid-call, timed out) | only when the call is declared idempotent | yes |
//! | [`Failure`](ErrorClass::Failure): the dependency failed and trying again now will not help | never | yes |
//! | [`Answer`](ErrorClass::Answer): the dependency answered (not found, conflict, invalid input) | never | no: it is a success for the breaker |
//!
//! An error type says which by implementing [`Classify`]. Palisade implements it for
//! [`std::io::Error`] (by [`ErrorKind`](std::io::ErrorKind)), for its own [`Error`] (a
//! timeout is `Transient`, a rejection `Unreached`), and for boxed `dyn Error`s (the first
//! `io::Error` in the source chain decides); the integration crates implement it for the
//! errors of their clients.
//!
//! # Who uses it
//!
//! Presets ([`Preset::pipeline`](crate::presets::Preset::pipeline)), pipelines built from
//! configuration (the [`Registry`](crate::registry::Registry)) and `#[resilient]` classify by
//! default: their pipelines are [`Pipeline<ByClass, ByClass>`](crate::pipeline::Classified).
//! A pipeline you build by hand ([`Pipeline::builder`](crate::pipeline::Pipeline::builder))
//! retries and counts what you tell it — every error unless you say otherwise — and
//! [`PipelineBuilder::classified`](crate::pipeline::PipelineBuilder::classified) opts it in.
//!
//! # An error type that is not classified
//!
//! A classified pipeline requires `E: Classify` at compile time: Palisade cannot tell a
//! "not found" from a "connection reset" in a type it does not know, and any default would
//! be wrong for someone — retrying answers and tripping on them (the bug this module exists
//! to prevent), or never retrying and never tripping. So the compiler asks you to decide:
//! implement [`Classify`] (a `match`, a few lines), or give the pipeline your own predicates
//! ([`retry_if`](crate::pipeline::Pipeline::retry_if),
//! [`failure_if`](crate::pipeline::Pipeline::failure_if)), or say explicitly that every error
//! is retried and counted ([`unclassified`](crate::pipeline::Pipeline::unclassified)).
//! Type-erased errors (`Box<dyn Error>`, `anyhow::Error` with the `anyhow` feature) are
//! classified by the first [`std::io::Error`] in their chain; with none, they are a
//! [`Failure`](ErrorClass::Failure) — counted, never retried: Palisade will not repeat a call
//! it knows nothing about.
//!
//! ```
//! use palisade::classify::{Classify, ErrorClass};
//!
//! #[derive(Debug)]
//! enum DbError { NotFound, UniqueViolation, ConnectionReset, PoolTimedOut }
//!
//! impl Classify for DbError {
//!     fn class(&self) -> ErrorClass {
//!         match self {
//!             DbError::NotFound | DbError::UniqueViolation => ErrorClass::Answer,
//!             DbError::ConnectionReset => ErrorClass::Transient,
//!             DbError::PoolTimedOut => ErrorClass::Unreached, // never left the process
//!         }
//!     }
//! }
//! assert!(!DbError::NotFound.class().is_dependency_failure());
//! assert!(DbError::ConnectionReset.class().is_retryable(true));
//! assert!(!DbError::ConnectionReset.class().is_retryable(false)); // not idempotent: once
//! ```

use std::error::Error as StdError;
use std::io;

use crate::error::Error;

/// What an error says about the dependency; see the [module docs](self) for what each class
/// means to retry and to a circuit breaker.
///
/// ```
/// use palisade::classify::ErrorClass;
/// assert!(ErrorClass::Unreached.is_retryable(false));
/// assert!(!ErrorClass::Answer.is_dependency_failure());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The dependency never acted on the call: the connection was refused, no connection was
    /// free, it said "busy, come back later" before doing anything. Retrying is safe for any
    /// call; it counts as a dependency failure.
    Unreached,
    /// Worth another attempt, but the call may have reached the dependency (a connection
    /// reset mid-call, a timeout): retried only when the call is declared idempotent; counts
    /// as a dependency failure.
    Transient,
    /// The dependency failed and another attempt now will not help (an internal error, a
    /// misconfiguration): counts as a dependency failure, never retried.
    Failure,
    /// The dependency answered: not found, conflict, invalid input, permission denied.
    /// Neither retried nor counted — for a breaker, the dependency worked.
    Answer,
}

impl ErrorClass {
    /// Whether an error of this class is worth another attempt of a call that is
    /// (`idempotent = true`) or is not safe to repeat.
    ///
    /// ```
    /// use palisade::classify::ErrorClass;
    /// assert!(ErrorClass::Transient.is_retryable(true));
    /// assert!(!ErrorClass::Transient.is_retryable(false));
    /// assert!(!ErrorClass::Failure.is_retryable(true));
    /// ```
    #[inline]
    pub fn is_retryable(self, idempotent: bool) -> bool {
        match self {
            ErrorClass::Unreached => true,
            ErrorClass::Transient => idempotent,
            ErrorClass::Failure | ErrorClass::Answer => false,
        }
    }

    /// Whether an error of this class counts against the dependency (for a circuit breaker).
    ///
    /// ```
    /// use palisade::classify::ErrorClass;
    /// assert!(ErrorClass::Failure.is_dependency_failure());
    /// assert!(!ErrorClass::Answer.is_dependency_failure());
    /// ```
    #[inline]
    pub fn is_dependency_failure(self) -> bool {
        !matches!(self, ErrorClass::Answer)
    }

    /// The class's name as configuration and messages spell it: `unreached`, `transient`,
    /// `failure`, `answer`.
    ///
    /// ```
    /// assert_eq!(palisade::classify::ErrorClass::Answer.name(), "answer");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Unreached => "unreached",
            ErrorClass::Transient => "transient",
            ErrorClass::Failure => "failure",
            ErrorClass::Answer => "answer",
        }
    }
}

/// A set of [`ErrorClass`]es: which classes a classified pipeline retries
/// ([`PipelineBuilder::retry_on`](crate::pipeline::PipelineBuilder::retry_on)) or counts
/// ([`failure_on`](crate::pipeline::PipelineBuilder::failure_on)) instead of the defaults.
///
/// ```
/// use palisade::classify::{ClassSet, ErrorClass};
/// let set = ClassSet::of(&[ErrorClass::Unreached, ErrorClass::Transient]);
/// assert!(set.contains(ErrorClass::Transient));
/// assert!(!set.contains(ErrorClass::Answer));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ClassSet(u8);

impl ClassSet {
    /// The set of `classes`.
    ///
    /// ```
    /// use palisade::classify::{ClassSet, ErrorClass};
    /// assert!(ClassSet::of(&[ErrorClass::Failure]).contains(ErrorClass::Failure));
    /// ```
    pub fn of(classes: &[ErrorClass]) -> ClassSet {
        ClassSet(
            classes
                .iter()
                .fold(0, |bits, class| bits | Self::bit(*class)),
        )
    }

    /// Whether `class` is in the set.
    ///
    /// ```
    /// use palisade::classify::{ClassSet, ErrorClass};
    /// assert!(!ClassSet::default().contains(ErrorClass::Unreached));
    /// ```
    #[inline]
    pub fn contains(self, class: ErrorClass) -> bool {
        self.0 & Self::bit(class) != 0
    }

    #[inline]
    fn bit(class: ErrorClass) -> u8 {
        1 << class as u8
    }
}

/// An error that says what it is about the dependency: the [`ErrorClass`] classified
/// pipelines, presets, configuration and `#[resilient]` decide by.
///
/// ```
/// use palisade::classify::{Classify, ErrorClass};
/// struct Status(u16);
/// impl Classify for Status {
///     fn class(&self) -> ErrorClass {
///         match self.0 {
///             429 | 503 => ErrorClass::Unreached, // "come back later": nothing was done
///             500..=599 => ErrorClass::Transient,
///             _ => ErrorClass::Answer,             // 4xx: the request was wrong
///         }
///     }
/// }
/// assert_eq!(Status(404).class(), ErrorClass::Answer);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not say whether it is worth retrying: implement `palisade::classify::Classify` for it",
    label = "a classified pipeline (a preset, a configuration, #[resilient]) needs to know what this error means",
    note = "implement `Classify` (a `match` returning `ErrorClass::{{Unreached, Transient, Failure, Answer}}`), or give the pipeline your own `.retry_if(..)` and `.failure_if(..)`, or call `.unclassified()` to retry and count every error"
)]
pub trait Classify {
    /// What this error says about the dependency.
    fn class(&self) -> ErrorClass;
}

impl<T: Classify + ?Sized> Classify for &T {
    #[inline]
    fn class(&self) -> ErrorClass {
        (**self).class()
    }
}

impl<T: Classify + ?Sized> Classify for Box<T> {
    #[inline]
    fn class(&self) -> ErrorClass {
        (**self).class()
    }
}

impl<T: Classify + ?Sized> Classify for std::sync::Arc<T> {
    #[inline]
    fn class(&self) -> ErrorClass {
        (**self).class()
    }
}

/// By kind: a refused or unreachable connection never reached the dependency; a reset, an
/// abort, a broken pipe, a timeout or an early end of stream may have; not found, permission
/// denied, already exists, invalid input and unsupported are answers; anything else (disk
/// full, out of memory, corrupt data, `Other`) is a failure.
impl Classify for io::Error {
    fn class(&self) -> ErrorClass {
        use io::ErrorKind::*;
        match self.kind() {
            ConnectionRefused | AddrNotAvailable | HostUnreachable | NetworkUnreachable
            | NetworkDown => ErrorClass::Unreached,
            ConnectionReset | ConnectionAborted | NotConnected | BrokenPipe | TimedOut
            | Interrupted | WouldBlock | UnexpectedEof => ErrorClass::Transient,
            NotFound | PermissionDenied | AlreadyExists | InvalidInput | Unsupported => {
                ErrorClass::Answer
            }
            _ => ErrorClass::Failure,
        }
    }
}

/// The first [`io::Error`] in the source chain decides; without one, a
/// [`Failure`](ErrorClass::Failure): counted, never retried.
impl Classify for dyn StdError + Send + Sync + 'static {
    fn class(&self) -> ErrorClass {
        chain_class(self)
    }
}

/// As for `dyn Error + Send + Sync`.
impl Classify for dyn StdError + Send + 'static {
    fn class(&self) -> ErrorClass {
        chain_class(self)
    }
}

/// As for `dyn Error + Send + Sync`.
impl Classify for dyn StdError + 'static {
    fn class(&self) -> ErrorClass {
        chain_class(self)
    }
}

/// The class of the first [`io::Error`] in `error`'s source chain, else `Failure`.
fn chain_class(error: &(dyn StdError + 'static)) -> ErrorClass {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(io) = error.downcast_ref::<io::Error>() {
            return io.class();
        }
        next = error.source();
    }
    ErrorClass::Failure
}

/// The first [`io::Error`] in the chain decides; without one, a
/// [`Failure`](ErrorClass::Failure).
#[cfg(feature = "anyhow")]
impl Classify for anyhow::Error {
    fn class(&self) -> ErrorClass {
        self.chain()
            .find_map(|e| e.downcast_ref::<io::Error>().map(Classify::class))
            .unwrap_or(ErrorClass::Failure)
    }
}

/// A policy's own errors: a timeout may have reached the dependency (`Transient`); a
/// rejection ran nothing (`Unreached`), except a request larger than the limiter can ever
/// grant (`Answer`: asking again cannot help, and the dependency is fine); an operation error
/// is classified by its own type; exhausted retries keep an answer an answer and are
/// otherwise a `Failure` — retrying already happened, and retrying it again outside would
/// multiply the attempts.
///
/// ```
/// use palisade::classify::{Classify, ErrorClass};
/// let reset = palisade::Error::Operation(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
/// assert_eq!(reset.class(), ErrorClass::Transient);
/// ```
impl<E: Classify> Classify for Error<E> {
    fn class(&self) -> ErrorClass {
        match self {
            Error::Operation(error) => error.class(),
            Error::Timeout { .. } => ErrorClass::Transient,
            Error::InsufficientCapacity { .. } => ErrorClass::Answer,
            Error::CircuitOpen { .. } | Error::RateLimited { .. } | Error::BulkheadFull { .. } => {
                ErrorClass::Unreached
            }
            Error::RetriesExhausted { last_error, .. } => match last_error.class() {
                ErrorClass::Answer => ErrorClass::Answer,
                _ => ErrorClass::Failure,
            },
        }
    }
}

/// The classified pipeline's hooks: retry what [`Classify`] says is worth retrying (for the
/// call's idempotency), count what it says is the dependency's failure. The default hooks of
/// presets, configuration-built pipelines and `#[resilient]`.
///
/// ```
/// use palisade::classify::ByClass;
/// use palisade::pipeline::Pipeline;
/// let p: Pipeline<ByClass, ByClass> = Pipeline::builder().classified().build()?;
/// let missing = || std::io::Error::from(std::io::ErrorKind::NotFound);
/// assert!(p.call_blocking(|| Err::<(), _>(missing())).is_err());
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ByClass;

/// A [`Predicate`](crate::predicate::Predicate) for a standalone retry: errors worth another
/// attempt of an idempotent call (`Unreached` or `Transient`).
///
/// ```
/// use palisade::classify::Retryable;
/// use palisade::predicate::Predicate;
/// let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
/// assert!(Retryable.test(&reset));
/// assert!(!Retryable.test(&std::io::Error::from(std::io::ErrorKind::NotFound)));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Retryable;

impl<E: Classify + ?Sized> crate::predicate::Predicate<E> for Retryable {
    #[inline]
    fn test(&self, error: &E) -> bool {
        error.class().is_retryable(true)
    }
}

/// A [`Predicate`](crate::predicate::Predicate) for a standalone circuit breaker: errors
/// that count against the dependency (every class but `Answer`).
///
/// ```
/// use palisade::classify::DependencyFailure;
/// use palisade::predicate::Predicate;
/// assert!(!DependencyFailure.test(&std::io::Error::from(std::io::ErrorKind::NotFound)));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DependencyFailure;

impl<E: Classify + ?Sized> crate::predicate::Predicate<E> for DependencyFailure {
    #[inline]
    fn test(&self, error: &E) -> bool {
        error.class().is_dependency_failure()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_classified_by_kind() {
        let class = |kind| io::Error::from(kind).class();
        assert_eq!(
            class(io::ErrorKind::ConnectionRefused),
            ErrorClass::Unreached
        );
        assert_eq!(class(io::ErrorKind::ConnectionReset), ErrorClass::Transient);
        assert_eq!(class(io::ErrorKind::TimedOut), ErrorClass::Transient);
        assert_eq!(class(io::ErrorKind::NotFound), ErrorClass::Answer);
        assert_eq!(class(io::ErrorKind::AlreadyExists), ErrorClass::Answer);
        assert_eq!(class(io::ErrorKind::Other), ErrorClass::Failure);
    }

    #[test]
    fn boxed_errors_are_classified_by_the_first_io_error_in_their_chain() {
        #[derive(Debug)]
        struct Wrapped(io::Error);
        impl std::fmt::Display for Wrapped {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("query failed")
            }
        }
        impl StdError for Wrapped {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        let boxed: Box<dyn StdError + Send + Sync> =
            Box::new(Wrapped(io::ErrorKind::ConnectionRefused.into()));
        assert_eq!(boxed.class(), ErrorClass::Unreached);
        let opaque: Box<dyn StdError + Send + Sync> = "no idea".into();
        assert_eq!(opaque.class(), ErrorClass::Failure);
    }

    #[test]
    fn exhausted_retries_are_not_retried_again_but_an_answer_stays_an_answer() {
        let exhausted = |last: io::ErrorKind| {
            Error::retries_exhausted(
                "db",
                3,
                crate::retry::StopReason::MaxAttempts { max_attempts: 3 },
                Error::Operation(io::Error::from(last)),
            )
        };
        assert_eq!(
            exhausted(io::ErrorKind::ConnectionReset).class(),
            ErrorClass::Failure
        );
        assert_eq!(
            exhausted(io::ErrorKind::NotFound).class(),
            ErrorClass::Answer
        );
    }
}
