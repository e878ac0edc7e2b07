//! The report form of a retried call: the result with attempts, total delay and elapsed time.

use std::time::Duration;

use crate::error::Error;

/// Everything about a retried call: its result, how many attempts it took, how long it
/// backed off and how long it took overall. Returned by
/// [`Retry::call_blocking_with_report`](super::Retry::call_blocking_with_report) and
/// [`Retry::call_with_report`](super::Retry::call_with_report).
///
/// ```
/// use palisade::clock::ManualClock;
/// use palisade::retry::{Jitter, Retry};
/// use std::time::Duration;
///
/// let retry = Retry::builder()
///     .fixed(Duration::from_millis(100))
///     .jitter(Jitter::None)
///     .clock(ManualClock::new())
///     .build()?;
/// let mut calls = 0;
/// let report = retry.call_blocking_with_report(|| {
///     calls += 1;
///     if calls < 3 { Err("flaky") } else { Ok(calls) }
/// });
/// assert!(report.is_success());
/// assert_eq!(report.attempts, 3);
/// assert_eq!(report.total_delay, Duration::from_millis(200));
/// assert_eq!(report.elapsed, Duration::from_millis(200));
/// assert_eq!(report.result, Ok(3));
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RetryReport<T, E> {
    /// What the call returned.
    pub result: Result<T, Error<E>>,
    /// Attempts made, the first included.
    pub attempts: u32,
    /// Total time spent in backoff delays.
    pub total_delay: Duration,
    /// From the start of the first attempt to the end of the last.
    pub elapsed: Duration,
}

impl<T, E> RetryReport<T, E> {
    /// Whether the call returned `Ok`.
    ///
    /// ```
    /// # let r = palisade::retry::Retry::builder().build()?;
    /// assert!(r.call_blocking_with_report(|| Ok::<_, ()>(1)).is_success());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn is_success(&self) -> bool {
        self.result.is_ok()
    }

    /// The last attempt's error, if the call failed.
    ///
    /// ```
    /// # let r = palisade::retry::Retry::builder().max_attempts(1).build()?;
    /// let report = r.call_blocking_with_report(|| Err::<(), _>("nope"));
    /// assert_eq!(report.last_error().and_then(|e| e.operation_error()), Some(&"nope"));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn last_error(&self) -> Option<&Error<E>> {
        self.result.as_ref().err()
    }

    /// The result, dropping the statistics.
    ///
    /// ```
    /// # let r = palisade::retry::Retry::builder().build()?;
    /// assert_eq!(r.call_blocking_with_report(|| Ok::<_, ()>(1)).into_result(), Ok(1));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn into_result(self) -> Result<T, Error<E>> {
        self.result
    }
}
