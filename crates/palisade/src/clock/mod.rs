//! Time for every policy: one [`Clock`] that every reading and every wait goes through.
//!
//! # Why one clock
//!
//! Every policy reads time and most of them wait: retry sleeps between attempts, a timeout
//! races its limit, a bulkhead bounds a queued call's wait, a rate limiter waits for a
//! permit, hedging waits before its next attempt, a breaker times its recovery. If each
//! picked its own timer, tests would need a different trick per policy and nothing could run
//! on virtual time end to end. So every policy takes a [`Clock`], reads [`now`](Clock::now)
//! from it and waits through [`sleep`](Clock::sleep) / [`sleep_until`](Clock::sleep_until)
//! (async) or [`sleep_blocking`](Clock::sleep_blocking) (on a thread) — nothing else. A
//! `Clock` is one of these sources:
//!
//! | source | reads | async waits | use it for |
//! |---|---|---|---|
//! | [`Clock::monotonic`] (default) | a TSC read and a multiply (`quanta`) | tokio's timer (or Palisade's timer thread outside a runtime) | everything, unless told otherwise |
//! | [`Clock::coarse`] | one atomic load, ±1 refresh | as `monotonic` | the hottest paths, once [`start_coarse_clock`] runs |
//! | [`Clock::with_timer`] | as `monotonic` | your runtime's timer | async-std, smol, embassy… |
//! | [`ManualClock`] | one atomic load | a timer queue on virtual time | tests and simulations |
//! | [`Clock::tokio`] | tokio's clock | tokio's timer | tests under `#[tokio::test(start_paused = true)]` |
//!
//! A `Clock` is a small enum rather than a type parameter: policies stay easy to name and
//! store (`Retry`, not `Retry<QuantaClock>`), and the one predictable branch costs far less
//! than the clock read itself. Time is an [`Instant`]: nanoseconds since an origin private to
//! the clock's source, in a `u64`, so lock-free policies can keep timestamps in atomics.
//!
//! # Virtual time
//!
//! A [`ManualClock`] is a scheduler, not a counter: every wait is a timer in one queue, woken
//! in deadline order, and time jumps to the earliest deadline when everything is waiting
//! (tokio's paused-time rule) — for async code on any executor, and for blocking code on
//! threads. A [`Simulation`] runs many tasks on one thread over a `ManualClock`
//! deterministically, which is how an hour of traffic through a pipeline runs in well under a
//! second.
//!
//! ```
//! use palisade::clock::{Clock, ManualClock, Simulation};
//! use std::time::Duration;
//!
//! let manual = ManualClock::new();
//! let clock = Clock::from(manual.clone());
//! let sim = Simulation::new(&manual);
//! let (a, b) = (clock.clone(), clock.clone());
//! let first = sim.spawn(async move { a.sleep(Duration::from_secs(1)).await; a.now() });
//! let second = sim.spawn(async move { b.sleep(Duration::from_secs(1)).await; b.now() });
//! let (t1, t2) = sim.block_on(async { (first.await, second.await) })?;
//! // Two tasks each slept one second: virtual time moved one second, not two.
//! assert_eq!((t1.as_nanos(), t2.as_nanos()), (1_000_000_000, 1_000_000_000));
//! # Ok::<(), palisade::clock::Stalled>(())
//! ```
//!
//! # No thread you did not ask for
//!
//! Palisade starts a thread only when you ask for what needs one: [`start_coarse_clock`]
//! (the coarse clock's refresher), a blocking timeout that runs work on a helper thread, and
//! — only if an async wait happens on a real clock with neither a tokio runtime nor
//! [`Clock::with_timer`] — one timer thread that serves such waits.

mod block;
mod coarse;
mod manual;
mod sim;
mod sleep;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub(crate) use block::wait_until;
pub use coarse::{CoarseClockError, start_coarse_clock};
pub use manual::ManualClock;
pub use sim::{JoinHandle, Simulation, Stalled};
pub use sleep::Sleep;

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

/// An async runtime's timer, for [`Clock::with_timer`]: implemented for every
/// `Fn(Duration) -> impl Future<Output = ()> + Send + 'static` (such as
/// `async_io::Timer::after` wrapped to return `()`, or `tokio::time::sleep`).
///
/// ```
/// use palisade::clock::Timer;
/// use std::time::Duration;
/// fn takes_timer(_: impl Timer) {}
/// takes_timer(|d: Duration| async move { let _ = d; });
/// ```
pub trait Timer: Send + Sync + 'static {
    /// A future that completes once `duration` has passed.
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
}

impl<F, Fut> Timer for F
where
    F: Fn(Duration) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(self(duration))
    }
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
    /// quanta's recent time, counted from the process-wide coarse origin (held here so a
    /// read does not touch the `OnceLock`).
    Coarse(quanta::Instant),
    Manual(ManualClock),
    Timer(quanta::Clock, Arc<dyn Timer>),
    #[cfg(feature = "tokio")]
    Tokio(Arc<TokioTime>),
}

/// Tokio's clock, plus the time blocking waits spent while tokio's clock stood still.
#[cfg(feature = "tokio")]
struct TokioTime {
    origin: tokio::time::Instant,
    /// Nanoseconds that blocking waits slept while tokio's (paused) clock did not move.
    blocked: std::sync::atomic::AtomicU64,
}

#[cfg(feature = "tokio")]
impl TokioTime {
    fn elapsed(&self) -> u64 {
        duration_to_nanos(tokio::time::Instant::now().saturating_duration_since(self.origin))
    }

    fn now(&self) -> Instant {
        let blocked = self.blocked.load(std::sync::atomic::Ordering::Acquire);
        Instant(self.elapsed().saturating_add(blocked))
    }

    /// Blocks the thread for `duration` of real time; if tokio's clock did not move meanwhile
    /// (paused), counts the time as blocked so this clock still moves by it.
    fn block_for(&self, duration: Duration, park: bool) {
        let before = self.elapsed();
        let start = std::time::Instant::now();
        if park {
            std::thread::park_timeout(duration);
        } else {
            std::thread::sleep(duration);
        }
        if self.elapsed() == before {
            let slept = duration_to_nanos(start.elapsed());
            self.blocked
                .fetch_add(slept, std::sync::atomic::Ordering::AcqRel);
        }
    }

    fn tokio_instant(&self, at: Instant) -> tokio::time::Instant {
        let blocked = self.blocked.load(std::sync::atomic::Ordering::Acquire);
        self.origin + Duration::from_nanos(at.0.saturating_sub(blocked))
    }
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

    /// A cached clock: one atomic load per read, refreshed by a background thread that
    /// [`start_coarse_clock`] starts (opt-in; until it runs, each read is a precise read).
    /// For hot paths where ±1 refresh interval is fine (rate limiting, breaker windows).
    ///
    /// ```
    /// let coarse = palisade::clock::Clock::coarse();
    /// let a = coarse.now();
    /// assert!(coarse.now() >= a);
    /// ```
    pub fn coarse() -> Clock {
        Clock {
            source: Source::Coarse(coarse::origin()),
        }
    }

    /// The precise monotonic clock for readings, waiting on your runtime's `timer` (see
    /// [`Timer`]): what async waits need on a runtime other than tokio. Each wait boxes the
    /// timer's future.
    ///
    /// ```
    /// use palisade::clock::Clock;
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let clock = Clock::with_timer(tokio::time::sleep); // any runtime's sleep
    /// let start = clock.now();
    /// clock.sleep(Duration::from_millis(1)).await;
    /// assert!(clock.now() >= start);
    /// # }
    /// ```
    pub fn with_timer(timer: impl Timer) -> Clock {
        Clock {
            source: Source::Timer(precise_clock().clone(), Arc::new(timer)),
        }
    }

    /// A clock that follows tokio's time, so tests under `#[tokio::test(start_paused = true)]`
    /// (or `tokio::time::pause()`) run on virtual time.
    ///
    /// Instants count from this clock's creation; do not compare instants of two tokio clocks.
    /// Must be called within a tokio runtime when time is paused, like `tokio::time::Instant::now`.
    /// Tokio's clock cannot be moved from blocking code: a blocking wait on this clock sleeps
    /// the thread for real, and if tokio's clock stood still meanwhile (paused) the clock still
    /// counts the wait, so blocking budgets hold. For blocking code on virtual time, use a
    /// [`ManualClock`].
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
            source: Source::Tokio(Arc::new(TokioTime {
                origin: tokio::time::Instant::now(),
                blocked: std::sync::atomic::AtomicU64::new(0),
            })),
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
        // The production sources inline; the others out of line.
        match &self.source {
            Source::Monotonic(clock) => Instant(clock.delta_as_nanos(0, clock.raw())),
            Source::Coarse(origin) => coarse::now(*origin),
            _ => self.now_other(),
        }
    }

    #[inline(never)]
    fn now_other(&self) -> Instant {
        match &self.source {
            Source::Monotonic(clock) | Source::Timer(clock, _) => {
                Instant(clock.delta_as_nanos(0, clock.raw()))
            }
            Source::Coarse(origin) => coarse::now(*origin),
            Source::Manual(manual) => manual.now(),
            #[cfg(feature = "tokio")]
            Source::Tokio(tokio) => tokio.now(),
        }
    }

    /// Whether a reading of `self` is a reading of `other`: the same source of time (a
    /// pipeline reuses one reading for the policies whose clocks read alike).
    pub(crate) fn reads_like(&self, other: &Clock) -> bool {
        match (&self.source, &other.source) {
            // Every precise source is a clone of the one calibrated `quanta::Clock`.
            (
                Source::Monotonic(_) | Source::Timer(..),
                Source::Monotonic(_) | Source::Timer(..),
            ) => true,
            (Source::Coarse(a), Source::Coarse(b)) => a == b,
            (Source::Manual(a), Source::Manual(b)) => a.is(b),
            #[cfg(feature = "tokio")]
            (Source::Tokio(a), Source::Tokio(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Whether this is a [`ManualClock`] (virtual time).
    ///
    /// ```
    /// use palisade::clock::{Clock, ManualClock};
    /// assert!(Clock::from(ManualClock::new()).is_manual());
    /// ```
    #[inline]
    pub fn is_manual(&self) -> bool {
        matches!(self.source, Source::Manual(_))
    }

    /// The [`ManualClock`] behind this clock, if it is one.
    ///
    /// ```
    /// use palisade::clock::{Clock, ManualClock};
    /// let manual = ManualClock::new();
    /// assert!(Clock::from(manual.clone()).as_manual().is_some());
    /// assert!(Clock::monotonic().as_manual().is_none());
    /// ```
    pub fn as_manual(&self) -> Option<&ManualClock> {
        match &self.source {
            Source::Manual(manual) => Some(manual),
            _ => None,
        }
    }

    /// A future that completes after `duration` on this clock (see [`sleep_until`](Self::sleep_until)).
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
    pub fn sleep(&self, duration: Duration) -> Sleep {
        match &self.source {
            // Real-time timers take the duration itself: no second clock read, no drift.
            Source::Timer(_, timer) => Sleep::boxed(timer.sleep(duration)),
            Source::Monotonic(_) | Source::Coarse(_) => Sleep::real(duration),
            _ => self.sleep_until(self.now().saturating_add(duration)),
        }
    }

    /// A future that completes once this clock reaches `deadline` (at once if it has): on a
    /// [`ManualClock`], a timer on virtual time; on tokio's clock, tokio's timer; on a clock
    /// [`with_timer`](Self::with_timer), your runtime's; otherwise tokio's timer when called
    /// within a tokio runtime, else Palisade's timer thread. Dropping it cancels the wait.
    ///
    /// ```
    /// use palisade::clock::{Clock, ManualClock, Simulation};
    /// use std::time::Duration;
    /// let manual = ManualClock::new();
    /// let clock = Clock::from(manual.clone());
    /// let deadline = clock.now().saturating_add(Duration::from_secs(5));
    /// Simulation::new(&manual).block_on(clock.sleep_until(deadline))?;
    /// assert_eq!(clock.now(), deadline);
    /// # Ok::<(), palisade::clock::Stalled>(())
    /// ```
    pub fn sleep_until(&self, deadline: Instant) -> Sleep {
        match &self.source {
            Source::Manual(manual) => Sleep::manual(manual.sleep_until(deadline)),
            #[cfg(feature = "tokio")]
            Source::Tokio(tokio) => Sleep::tokio_until(tokio.tokio_instant(deadline)),
            Source::Timer(_, timer) => {
                Sleep::boxed(timer.sleep(deadline.saturating_duration_since(self.now())))
            }
            Source::Monotonic(_) | Source::Coarse(_) => {
                Sleep::real(deadline.saturating_duration_since(self.now()))
            }
        }
    }

    /// Blocks the thread for `duration` on this clock (see [`sleep_blocking_until`](Self::sleep_blocking_until)).
    ///
    /// ```
    /// use palisade::clock::{Clock, ManualClock};
    /// use std::time::Duration;
    /// let manual = ManualClock::new();
    /// Clock::from(manual.clone()).sleep_blocking(Duration::from_secs(3600));
    /// assert_eq!(manual.now().as_nanos(), 3_600_000_000_000);
    /// ```
    pub fn sleep_blocking(&self, duration: Duration) {
        self.sleep_blocking_until(self.now().saturating_add(duration));
    }

    /// Blocks the thread until this clock reaches `deadline`. On an auto-advancing
    /// [`ManualClock`] the thread counts as idle and moves time there at once (firing every
    /// earlier timer on the way); without auto-advance it waits for the test to move time.
    ///
    /// ```
    /// use palisade::clock::{Clock, Instant, ManualClock};
    /// let manual = ManualClock::new();
    /// Clock::from(manual.clone()).sleep_blocking_until(Instant::from_nanos(42));
    /// assert_eq!(manual.now().as_nanos(), 42);
    /// ```
    pub fn sleep_blocking_until(&self, deadline: Instant) {
        match &self.source {
            Source::Manual(manual) => manual.sleep_blocking_until(deadline),
            _ => loop {
                let now = self.now();
                if now >= deadline {
                    return;
                }
                self.block_for(deadline.saturating_duration_since(now), false);
            },
        }
    }

    /// Blocks the thread for up to `duration` of real time (`park`: until unparked, too).
    /// Never called on a manual clock.
    fn block_for(&self, duration: Duration, park: bool) {
        match &self.source {
            #[cfg(feature = "tokio")]
            Source::Tokio(tokio) => tokio.block_for(duration, park),
            _ if park => std::thread::park_timeout(duration),
            _ => std::thread::sleep(duration),
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
            Source::Timer(..) => "with_timer",
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

fn precise_clock() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
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
    fn coarse_clock_reads_without_its_thread() {
        let coarse = Clock::coarse();
        let a = coarse.now();
        std::thread::sleep(Duration::from_millis(2));
        assert!(
            coarse.now() > a,
            "without the upkeep, a read is a precise read"
        );
    }

    #[test]
    fn sleeping_on_a_real_clock_blocks_for_the_duration() {
        let clock = Clock::monotonic();
        let start = clock.now();
        clock.sleep_blocking(Duration::from_millis(2));
        assert!(clock.now().saturating_duration_since(start) >= Duration::from_millis(2));
    }
}
