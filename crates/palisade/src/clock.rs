//! Monotonic time for every policy: precise, coarse, manual (virtual) and tokio-driven.
//!
//! # Why one clock type
//!
//! Every policy reads time: retry measures its elapsed budget, a breaker times its recovery, a
//! limiter refills tokens. If each picked its own source, tests would need a different trick per
//! policy and nothing could run on virtual time end to end. So every policy takes a [`Clock`],
//! and a [`Clock`] is one of four sources:
//!
//! | source | read cost | use it for |
//! |---|---|---|
//! | [`Clock::monotonic`] (default) | a TSC read and a multiply (`quanta`) | everything, unless told otherwise |
//! | [`Clock::coarse`] | one relaxed atomic load | the hottest paths, where ±1 ms is fine |
//! | [`ManualClock`] | one atomic load | tests: time moves only when the test says so |
//! | [`Clock::tokio`] | tokio's clock | tests under `#[tokio::test(start_paused = true)]` |
//!
//! A `Clock` is a small enum rather than a type parameter: policies stay easy to name and
//! store (`Retry`, not `Retry<QuantaClock>`), and the one predictable branch costs far less than
//! the clock read itself.
//!
//! Time is an [`Instant`]: nanoseconds since an origin private to the clock's source. It fits in
//! a `u64`, so lock-free policies can keep timestamps in atomics.
//!
//! # Sleeping on virtual time
//!
//! Policies that wait (retry's backoff) sleep through the clock. A [`ManualClock`] does not
//! sleep: it advances itself by the requested amount and returns at once, so a test of a retry
//! that backs off for minutes runs in microseconds and sees exact timestamps.
//!
//! ```
//! use palisade::clock::{Clock, ManualClock};
//! use std::time::Duration;
//!
//! let manual = ManualClock::new();
//! let clock = Clock::from(manual.clone());
//! let start = clock.now();
//! clock.sleep_blocking(Duration::from_secs(90)); // returns at once, time moves 90 s
//! manual.advance(Duration::from_millis(500));
//! assert_eq!(clock.now().saturating_duration_since(start), Duration::from_millis(90_500));
//! ```

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// A point in time on a [`Clock`]: nanoseconds since that clock's origin.
///
/// Instants from different clock sources are not comparable; a policy only ever compares
/// instants from its own clock.
///
/// ```
/// use palisade::clock::Instant;
/// use std::time::Duration;
///
/// let a = Instant::from_nanos(1_000);
/// let b = a.saturating_add(Duration::from_micros(2));
/// assert_eq!(b.as_nanos(), 3_000);
/// assert_eq!(b.saturating_duration_since(a), Duration::from_micros(2));
/// assert_eq!(a.saturating_duration_since(b), Duration::ZERO);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The instant `nanos` nanoseconds after the clock's origin.
    ///
    /// ```
    /// assert_eq!(palisade::clock::Instant::from_nanos(7).as_nanos(), 7);
    /// ```
    #[inline]
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant(nanos)
    }

    /// Nanoseconds since the clock's origin.
    ///
    /// ```
    /// assert_eq!(palisade::clock::Instant::default().as_nanos(), 0);
    /// ```
    #[inline]
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time from `earlier` to `self`, or zero if `earlier` is later.
    ///
    /// ```
    /// use palisade::clock::Instant;
    /// use std::time::Duration;
    /// let t = Instant::from_nanos(5);
    /// assert_eq!(t.saturating_duration_since(Instant::from_nanos(2)), Duration::from_nanos(3));
    /// ```
    #[inline]
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// `self + duration`, saturating at the far future instead of overflowing.
    ///
    /// ```
    /// use palisade::clock::Instant;
    /// use std::time::Duration;
    /// assert_eq!(Instant::from_nanos(u64::MAX).saturating_add(Duration::from_secs(1)).as_nanos(), u64::MAX);
    /// ```
    #[inline]
    pub fn saturating_add(self, duration: Duration) -> Instant {
        Instant(self.0.saturating_add(duration_to_nanos(duration)))
    }
}

/// Converts a duration to whole nanoseconds, saturating at `u64::MAX` (about 584 years).
#[inline]
pub(crate) fn duration_to_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// The source of time for a policy. Cheap to clone; see the [module docs](self).
///
/// ```
/// use palisade::clock::Clock;
/// let clock = Clock::default(); // precise monotonic clock
/// let a = clock.now();
/// let b = clock.now();
/// assert!(b >= a);
/// ```
#[derive(Clone)]
pub struct Clock {
    source: Source,
}

// `repr(u8)`: an explicit tag byte, so telling sources apart is one byte compare instead of
// decoding a niche inside `quanta::Clock`.
#[derive(Clone)]
#[repr(u8)]
enum Source {
    Monotonic(quanta::Clock),
    Coarse(&'static AtomicU64),
    Manual(ManualClock),
    #[cfg(feature = "tokio")]
    Tokio(tokio::time::Instant),
}

impl Clock {
    /// The precise monotonic clock (TSC-based where the CPU allows, via `quanta`). The default.
    ///
    /// ```
    /// let clock = palisade::clock::Clock::monotonic();
    /// assert!(!clock.is_manual());
    /// ```
    pub fn monotonic() -> Clock {
        Clock {
            source: Source::Monotonic(precise_clock().clone()),
        }
    }

    /// A cached clock that a background thread refreshes every millisecond.
    ///
    /// Reading it is one relaxed atomic load, so it suits hot paths that only need
    /// millisecond accuracy (rate limiting, breaker windows). It shares its origin with
    /// [`Clock::monotonic`], so instants from the two can be compared (the coarse one lags
    /// by up to one refresh interval). The refresh thread is started once per process on
    /// first use; if the thread cannot be spawned this falls back to the precise clock.
    ///
    /// ```
    /// let coarse = palisade::clock::Clock::coarse();
    /// let precise = palisade::clock::Clock::monotonic();
    /// // The coarse reading never runs ahead of the precise one.
    /// assert!(coarse.now() <= precise.now());
    /// ```
    pub fn coarse() -> Clock {
        match coarse_time() {
            Some(cell) => Clock {
                source: Source::Coarse(cell),
            },
            None => Clock::monotonic(),
        }
    }

    /// A clock that follows tokio's time, so tests under `#[tokio::test(start_paused = true)]`
    /// (or `tokio::time::pause()`) run on virtual time.
    ///
    /// Instants count from this clock's creation; do not compare instants of two tokio clocks.
    /// Must be called within a tokio runtime when time is paused, like `tokio::time::Instant::now`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use palisade::clock::Clock;
    /// use std::time::Duration;
    /// let clock = Clock::tokio();
    /// let start = clock.now();
    /// tokio::time::sleep(Duration::from_secs(60)).await; // paused: returns at once
    /// assert_eq!(clock.now().saturating_duration_since(start), Duration::from_secs(60));
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub fn tokio() -> Clock {
        Clock {
            source: Source::Tokio(tokio::time::Instant::now()),
        }
    }

    /// The current time on this clock.
    ///
    /// ```
    /// let clock = palisade::clock::Clock::monotonic();
    /// assert!(clock.now().as_nanos() > 0);
    /// ```
    #[inline]
    pub fn now(&self) -> Instant {
        // The two production sources inline; test sources out of line.
        match &self.source {
            Source::Monotonic(clock) => Instant(clock.delta_as_nanos(0, clock.raw())),
            // Relaxed: the value is a timestamp, not a guard for other memory.
            Source::Coarse(cell) => Instant(cell.load(Ordering::Relaxed)),
            _ => self.now_other(),
        }
    }

    #[inline(never)]
    fn now_other(&self) -> Instant {
        match &self.source {
            Source::Monotonic(clock) => Instant(clock.delta_as_nanos(0, clock.raw())),
            // Relaxed: the value is a timestamp, not a guard for other memory.
            Source::Coarse(cell) => Instant(cell.load(Ordering::Relaxed)),
            Source::Manual(manual) => manual.now(),
            #[cfg(feature = "tokio")]
            Source::Tokio(origin) => Instant(duration_to_nanos(
                tokio::time::Instant::now().saturating_duration_since(*origin),
            )),
        }
    }

    /// Whether this is a [`ManualClock`]: sleeping on it advances it instead of waiting.
    ///
    /// ```
    /// use palisade::clock::{Clock, ManualClock};
    /// assert!(Clock::from(ManualClock::new()).is_manual());
    /// ```
    #[inline]
    pub fn is_manual(&self) -> bool {
        matches!(self.source, Source::Manual(_))
    }

    /// Blocks the thread for `duration`; on a [`ManualClock`], advances it instead.
    ///
    /// ```
    /// use palisade::clock::{Clock, ManualClock};
    /// use std::time::Duration;
    /// let manual = ManualClock::new();
    /// Clock::from(manual.clone()).sleep_blocking(Duration::from_secs(3600));
    /// assert_eq!(manual.now().as_nanos(), 3_600_000_000_000);
    /// ```
    pub fn sleep_blocking(&self, duration: Duration) {
        match &self.source {
            Source::Manual(manual) => manual.advance(duration),
            _ => std::thread::sleep(duration),
        }
    }

    /// Waits for `duration` on tokio's timer; on a [`ManualClock`], advances it and returns.
    ///
    /// Requires a tokio runtime with the time driver enabled (unless the clock is manual).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use palisade::clock::Clock;
    /// use std::time::Duration;
    /// let clock = Clock::tokio();
    /// clock.sleep(Duration::from_millis(250)).await;
    /// assert_eq!(clock.now().as_nanos(), 250_000_000);
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn sleep(&self, duration: Duration) {
        match &self.source {
            Source::Manual(manual) => manual.advance(duration),
            _ => tokio::time::sleep(duration).await,
        }
    }

    /// Advances the clock if it is manual; returns whether it was.
    ///
    /// Policies call this instead of sleeping so virtual time needs no runtime.
    #[inline]
    pub(crate) fn advance_if_manual(&self, duration: Duration) -> bool {
        match &self.source {
            Source::Manual(manual) => {
                manual.advance(duration);
                true
            }
            _ => false,
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::monotonic()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.source {
            Source::Monotonic(_) => "monotonic",
            Source::Coarse(_) => "coarse",
            Source::Manual(_) => "manual",
            #[cfg(feature = "tokio")]
            Source::Tokio(_) => "tokio",
        };
        f.debug_struct("Clock")
            .field("source", &kind)
            .field("now", &self.now())
            .finish()
    }
}

impl From<ManualClock> for Clock {
    fn from(manual: ManualClock) -> Self {
        Clock {
            source: Source::Manual(manual),
        }
    }
}

impl From<&ManualClock> for Clock {
    fn from(manual: &ManualClock) -> Self {
        Clock::from(manual.clone())
    }
}

/// A clock that moves only when told to: virtual time for tests.
///
/// Clones share the same time. Pass it to a policy with `.clock(manual.clone())` and drive it
/// with [`advance`](ManualClock::advance). Policies that sleep on a manual clock advance it
/// instead of waiting.
///
/// ```
/// use palisade::clock::ManualClock;
/// use std::time::Duration;
/// let clock = ManualClock::new();
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(clock.now().as_nanos(), 1_000_000_000);
/// ```
#[derive(Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A manual clock at its origin (time zero).
    ///
    /// ```
    /// assert_eq!(palisade::clock::ManualClock::new().now().as_nanos(), 0);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The current virtual time.
    ///
    /// ```
    /// let c = palisade::clock::ManualClock::new();
    /// assert_eq!(c.now(), palisade::clock::Instant::from_nanos(0));
    /// ```
    #[inline]
    pub fn now(&self) -> Instant {
        // Acquire pairs with the Release in `advance`: a thread that sees the new time also
        // sees what the advancing thread did before advancing.
        Instant(self.nanos.load(Ordering::Acquire))
    }

    /// Moves time forward by `duration` (saturating at the far future).
    ///
    /// ```
    /// let c = palisade::clock::ManualClock::new();
    /// c.advance(std::time::Duration::from_millis(3));
    /// assert_eq!(c.now().as_nanos(), 3_000_000);
    /// ```
    pub fn advance(&self, duration: Duration) {
        let step = duration_to_nanos(duration);
        // fetch_update never fails here: the closure always returns Some.
        let _ = self
            .nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(step))
            });
    }

    /// Sets the time to `instant`. Time may be set backwards, which lets a test check that a
    /// policy copes with a clock that is not strictly monotonic.
    ///
    /// ```
    /// use palisade::clock::{Instant, ManualClock};
    /// let c = ManualClock::new();
    /// c.set(Instant::from_nanos(42));
    /// assert_eq!(c.now().as_nanos(), 42);
    /// ```
    pub fn set(&self, instant: Instant) {
        self.nanos.store(instant.0, Ordering::Release);
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}

fn precise_clock() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// How often the coarse clock's background thread refreshes the cached time.
const COARSE_RESOLUTION: Duration = Duration::from_millis(1);

/// The cached time behind [`Clock::coarse`], or `None` if its thread could not start.
fn coarse_time() -> Option<&'static AtomicU64> {
    static CELL: OnceLock<Option<&'static AtomicU64>> = OnceLock::new();
    *CELL.get_or_init(|| {
        let clock = precise_clock().clone();
        let cell: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(
            clock.delta_as_nanos(0, clock.raw()),
        )));
        let spawned = std::thread::Builder::new()
            .name("palisade-coarse-clock".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(COARSE_RESOLUTION);
                    cell.store(clock.delta_as_nanos(0, clock.raw()), Ordering::Relaxed);
                }
            });
        spawned.ok().map(|_| cell)
    })
}

/// Waits between async attempts: implemented for every `Fn(Duration) -> impl Future<Output = ()>`,
/// such as `tokio::time::sleep`.
///
/// ```
/// use palisade::clock::Sleeper;
/// use std::time::Duration;
/// fn takes_sleeper(_: impl Sleeper) {}
/// takes_sleeper(|_: Duration| std::future::ready(()));
/// ```
pub trait Sleeper {
    /// The future returned by [`sleep`](Sleeper::sleep).
    type Sleep: Future<Output = ()>;
    /// Returns a future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> Self::Sleep;
}

impl<F, Fut> Sleeper for F
where
    F: Fn(Duration) -> Fut,
    Fut: Future<Output = ()>,
{
    type Sleep = Fut;
    fn sleep(&self, duration: Duration) -> Fut {
        self(duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_clock_never_goes_backwards() {
        let clock = Clock::monotonic();
        let mut last = clock.now();
        for _ in 0..10_000 {
            let now = clock.now();
            assert!(now >= last);
            last = now;
        }
    }

    #[test]
    fn coarse_clock_lags_precise_clock_by_at_most_a_few_refreshes() {
        let coarse = Clock::coarse();
        let precise = Clock::monotonic();
        let c = coarse.now();
        let p = precise.now();
        assert!(c <= p);
        // Generous bound: the refresh thread may be descheduled on a loaded machine.
        assert!(p.saturating_duration_since(c) < Duration::from_secs(1));
    }

    #[test]
    fn manual_clock_clones_share_time() {
        let a = ManualClock::new();
        let b = a.clone();
        a.advance(Duration::from_secs(2));
        assert_eq!(b.now(), Instant::from_nanos(2_000_000_000));
        let clock = Clock::from(&b);
        assert!(clock.advance_if_manual(Duration::from_secs(1)));
        assert_eq!(a.now(), Instant::from_nanos(3_000_000_000));
        assert!(!Clock::monotonic().advance_if_manual(Duration::from_secs(1)));
    }

    #[test]
    fn advance_saturates_instead_of_overflowing() {
        let c = ManualClock::new();
        c.advance(Duration::MAX);
        c.advance(Duration::MAX);
        assert_eq!(c.now().as_nanos(), u64::MAX);
    }
}
