//! Predicates: how policies classify outcomes, shared by every policy.
//!
//! Retry asks "is this error worth another attempt?", a circuit breaker "does this error count
//! as a failure?", both "is this `Ok` actually bad (an HTTP 503)?". Each question is a
//! [`Predicate`] over the error or result type, given as a closure. The defaults are the
//! zero-sized [`Always`] and [`Never`], so a policy that keeps them pays nothing: the answer
//! is a constant the compiler folds away.
//!
//! ```
//! use palisade::predicate::{Always, Never, Predicate};
//! let is_timeout = |e: &std::io::Error| e.kind() == std::io::ErrorKind::TimedOut;
//! let err = std::io::Error::from(std::io::ErrorKind::TimedOut);
//! assert!(is_timeout.test(&err));
//! assert!(Always.test(&err));
//! assert!(!Never.test(&err));
//! ```

/// A yes/no question about a value. Implemented for every `Fn(&A) -> bool`.
///
/// ```
/// use palisade::predicate::Predicate;
/// let server_error = |status: &u16| *status >= 500;
/// assert!(server_error.test(&503));
/// assert!(!server_error.test(&404));
/// ```
pub trait Predicate<A: ?Sized> {
    /// The answer for `value`.
    fn test(&self, value: &A) -> bool;
}

impl<A: ?Sized, F> Predicate<A> for F
where
    F: Fn(&A) -> bool,
{
    #[inline]
    fn test(&self, value: &A) -> bool {
        self(value)
    }
}

/// The predicate that is true for every value.
///
/// ```
/// use palisade::predicate::{Always, Predicate};
/// assert!(Predicate::<str>::test(&Always, "anything"));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Always;

impl<A: ?Sized> Predicate<A> for Always {
    #[inline(always)]
    fn test(&self, _: &A) -> bool {
        true
    }
}

/// The predicate that is false for every value.
///
/// ```
/// use palisade::predicate::{Never, Predicate};
/// assert!(!Predicate::<u16>::test(&Never, &503));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Never;

impl<A: ?Sized> Predicate<A> for Never {
    #[inline(always)]
    fn test(&self, _: &A) -> bool {
        false
    }
}
