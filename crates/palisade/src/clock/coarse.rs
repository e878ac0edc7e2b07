//! The coarse clock: quanta's "recent" time, refreshed by an upkeep thread you start.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::Instant;

/// The instant every coarse clock counts from.
pub(super) fn origin() -> quanta::Instant {
    static ORIGIN: OnceLock<quanta::Instant> = OnceLock::new();
    *ORIGIN.get_or_init(quanta::Instant::now)
}

/// The coarse time since `origin` (from [`origin()`]): the upkeep thread's last refresh, or a
/// precise read before it runs.
#[inline]
pub(super) fn now(origin: quanta::Instant) -> Instant {
    let since = quanta::Instant::recent().saturating_duration_since(origin);
    // quanta's instants are `u64` nanoseconds and the duration is their difference, so this
    // cannot overflow, and it undoes `Duration::from_nanos` exactly: the compiler folds the
    // division and the multiplication away (a `u128` round trip would keep both).
    Instant(
        since
            .as_secs()
            .wrapping_mul(1_000_000_000)
            .wrapping_add(u64::from(since.subsec_nanos())),
    )
}

/// Starts the thread that refreshes [`Clock::coarse`](super::Clock::coarse) every
/// `interval` (quanta's upkeep), for the rest of the process. Until it runs, reading a coarse
/// clock costs a precise read; after, one atomic load. Calling it again does nothing.
///
/// Palisade never starts it on its own: a coarse clock is a choice for hot paths that can
/// live with readings up to `interval` old, and a thread is its price.
///
/// ```
/// use std::time::Duration;
/// palisade::clock::start_coarse_clock(Duration::from_millis(1))?;
/// let clock = palisade::clock::Clock::coarse();
/// let a = clock.now();
/// assert!(clock.now() >= a);
/// # Ok::<(), palisade::clock::CoarseClockError>(())
/// ```
pub fn start_coarse_clock(interval: Duration) -> Result<(), CoarseClockError> {
    static STARTED: AtomicBool = AtomicBool::new(false);
    if interval.is_zero() {
        return Err(CoarseClockError::ZeroInterval);
    }
    if STARTED.swap(true, Ordering::AcqRel) {
        return Ok(());
    }
    origin();
    match quanta::Upkeep::new(interval).start() {
        Ok(handle) => {
            // Runs for the rest of the process: a stopped upkeep would leave coarse clocks
            // frozen at its last refresh.
            std::mem::forget(handle);
            Ok(())
        }
        Err(quanta::Error::UpkeepRunning) => Ok(()),
        Err(quanta::Error::FailedToSpawnUpkeepThread(error)) => {
            STARTED.store(false, Ordering::Release);
            Err(CoarseClockError::Spawn(error))
        }
    }
}

/// Why the coarse clock's thread did not start.
///
/// ```
/// use palisade::clock::{CoarseClockError, start_coarse_clock};
/// let err = start_coarse_clock(std::time::Duration::ZERO).unwrap_err();
/// assert!(matches!(err, CoarseClockError::ZeroInterval));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum CoarseClockError {
    /// The refresh interval was zero.
    ZeroInterval,
    /// The thread could not be spawned.
    Spawn(std::io::Error),
}

impl fmt::Display for CoarseClockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoarseClockError::ZeroInterval => {
                f.write_str("the coarse clock's refresh interval must be greater than zero")
            }
            CoarseClockError::Spawn(error) => {
                write!(f, "could not start the coarse clock's thread: {error}")
            }
        }
    }
}

impl std::error::Error for CoarseClockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CoarseClockError::Spawn(error) => Some(error),
            CoarseClockError::ZeroInterval => None,
        }
    }
}
