//! [`ManualClock`]: virtual time that behaves like a scheduler.
//!
//! Time moves only when told to — by [`advance`](ManualClock::advance), or, in auto-advance
//! mode (the default), by the waiters themselves when nothing else can happen. Every wait on
//! the clock is a timer in one queue ordered by deadline (ties by registration order), so
//! sleeps wake in deadline order whatever moves time, and N waiters sleeping one second
//! advance time by one second, not N.
//!
//! # Who advances time
//!
//! - A test, with `advance`, `advance_to` or `set`: every timer whose deadline is passed
//!   fires, in deadline order.
//! - A [`Simulation`](super::Simulation) driving the clock: when none of its tasks can make
//!   progress it jumps to the earliest deadline. This is exact: tokio's paused-time rule, on
//!   a deterministic single-threaded executor.
//! - Outside a simulation, with auto-advance on: a waiting future, once it has let the rest
//!   of its task (and every other ready task of its executor) run, advances time to the
//!   earliest pending deadline — its own or another's — and wakes whoever owns it. A thread
//!   blocked on the clock does the same without yielding: a blocked thread is taken to be
//!   idle. So a test on any executor, or on plain threads, runs on virtual time; what it
//!   cannot see is work on *another* thread that is not waiting on this clock (it may find
//!   time has moved on). For tests where threads hand work to each other, turn auto-advance
//!   off and move time yourself.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::{Instant, sim};

/// A clock that moves only when told to: virtual time for tests and simulations.
///
/// Clones share the same time. Give it to a policy with `.clock(manual.clone())`. Waits on
/// it are timers in one queue, woken in deadline order; see the [clock docs](super) for who
/// moves time. New clocks auto-advance: a policy that backs off for minutes returns at once,
/// having moved time exactly as far as it waited.
///
/// ```
/// use palisade::clock::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let manual = ManualClock::new();
/// let clock = Clock::from(manual.clone());
/// clock.sleep_blocking(Duration::from_secs(90)); // auto-advance: returns at once
/// manual.advance(Duration::from_millis(500));
/// assert_eq!(manual.now().as_nanos(), 90_500_000_000);
/// ```
#[derive(Clone, Default)]
pub struct ManualClock {
    inner: Arc<Inner>,
}

pub(super) struct Inner {
    nanos: AtomicU64,
    /// Whether waiters advance time themselves when idle. Stored inverted so `Default` is on.
    manual_only: AtomicBool,
    timers: Mutex<Timers>,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            nanos: AtomicU64::new(0),
            manual_only: AtomicBool::new(false),
            timers: Mutex::new(Timers::default()),
        }
    }
}

/// Pending timers: a heap of `(deadline, seq)` over slots that hold the wakers. A cancelled
/// timer frees its slot at once; its heap entry is dropped when it reaches the top. A fired
/// timer keeps its slot until its owner has seen it fire (polled it, or dropped it): until
/// then its owner is about to run, and waiters must not move time past it.
#[derive(Default)]
struct Timers {
    heap: BinaryHeap<Reverse<(u64, u64, usize)>>,
    slots: Vec<Slot>,
    free: Vec<usize>,
    next_seq: u64,
    /// Timers fired whose owners have not looked yet.
    unobserved: usize,
}

#[derive(Default)]
struct Slot {
    /// The sequence number of the timer in this slot; 0 when free.
    seq: u64,
    waker: Option<Waker>,
    fired: bool,
}

/// What asking to move time to the next deadline did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Advance {
    /// Time moved (or stayed, if the deadline was due) and the timers due fired.
    Moved,
    /// A fired timer's owner has yet to run: time stays.
    Waiting,
    /// No timer is pending.
    Empty,
}

/// A registered timer: its slot and sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Key {
    slot: usize,
    seq: u64,
}

impl Timers {
    fn insert(&mut self, deadline: u64, waker: Waker) -> Key {
        self.next_seq += 1;
        let seq = self.next_seq;
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot::default());
                self.slots.len() - 1
            }
        };
        if let Some(s) = self.slots.get_mut(slot) {
            *s = Slot {
                seq,
                waker: Some(waker),
                fired: false,
            };
        }
        self.heap.push(Reverse((deadline, seq, slot)));
        Key { slot, seq }
    }

    /// The slot of a timer still waiting to fire.
    fn armed(&mut self, key: Key) -> Option<&mut Slot> {
        self.slots
            .get_mut(key.slot)
            .filter(|s| s.seq == key.seq && !s.fired)
    }

    /// Frees a timer's slot (its owner saw it fire, or gave up waiting).
    fn remove(&mut self, key: Key) -> Option<Waker> {
        let slot = self.slots.get_mut(key.slot).filter(|s| s.seq == key.seq)?;
        slot.seq = 0;
        let waker = slot.waker.take();
        if std::mem::take(&mut slot.fired) {
            self.unobserved -= 1;
        }
        self.free.push(key.slot);
        waker
    }

    /// The earliest deadline of a timer still waiting, dropping stale entries on the way.
    fn earliest(&mut self) -> Option<u64> {
        while let Some(&Reverse((deadline, seq, slot))) = self.heap.peek() {
            if self
                .slots
                .get(slot)
                .is_some_and(|s| s.seq == seq && !s.fired)
            {
                return Some(deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// Fires every waiting timer due at `now`, in deadline order, collecting their wakers.
    fn fire(&mut self, now: u64, woken: &mut Vec<Waker>) {
        while let Some(&Reverse((deadline, seq, slot))) = self.heap.peek() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            if let Some(s) = self.armed(Key { slot, seq }) {
                s.fired = true;
                if let Some(waker) = s.waker.take() {
                    woken.push(waker);
                }
                self.unobserved += 1;
            }
        }
    }
}

impl ManualClock {
    /// Whether `other` is this clock or a clone of it (one time).
    pub(crate) fn is(&self, other: &ManualClock) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// A clock at its origin (time zero), auto-advancing.
    ///
    /// ```
    /// let clock = palisade::clock::ManualClock::new();
    /// assert_eq!(clock.now().as_nanos(), 0);
    /// assert!(clock.is_auto_advancing());
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
        // Acquire pairs with the Release that moves time: a thread that sees the new time
        // also sees what the advancing thread did before.
        Instant(self.inner.nanos.load(Ordering::Acquire))
    }

    /// Turns auto-advance on or off (on for a new clock). Off, time moves only by
    /// [`advance`](Self::advance), [`advance_to`](Self::advance_to) and [`set`](Self::set)
    /// (and by a [`Simulation`](super::Simulation) driving the clock): a waiting policy waits
    /// until the test moves time, as a test that checks intermediate states needs.
    ///
    /// ```
    /// use palisade::clock::ManualClock;
    /// let clock = ManualClock::new();
    /// clock.set_auto_advance(false);
    /// assert!(!clock.is_auto_advancing());
    /// ```
    pub fn set_auto_advance(&self, on: bool) {
        self.inner.manual_only.store(!on, Ordering::Release);
    }

    /// Whether waiters advance time themselves when idle (see [`set_auto_advance`](Self::set_auto_advance)).
    ///
    /// ```
    /// assert!(palisade::clock::ManualClock::new().is_auto_advancing());
    /// ```
    pub fn is_auto_advancing(&self) -> bool {
        !self.inner.manual_only.load(Ordering::Acquire)
    }

    /// Moves time forward by `duration` (saturating at the far future), firing every timer
    /// that comes due, in deadline order.
    ///
    /// ```
    /// let c = palisade::clock::ManualClock::new();
    /// c.advance(std::time::Duration::from_millis(3));
    /// assert_eq!(c.now().as_nanos(), 3_000_000);
    /// ```
    pub fn advance(&self, duration: Duration) {
        let timers = self.timers();
        let target = self.now().saturating_add(duration);
        self.run_until(timers, target);
    }

    /// Moves time forward to `instant` (never backwards: an earlier instant changes nothing),
    /// firing every timer that comes due, in deadline order.
    ///
    /// ```
    /// use palisade::clock::{Instant, ManualClock};
    /// let c = ManualClock::new();
    /// c.advance_to(Instant::from_nanos(50));
    /// c.advance_to(Instant::from_nanos(10));
    /// assert_eq!(c.now().as_nanos(), 50);
    /// ```
    pub fn advance_to(&self, instant: Instant) {
        self.run_until(self.timers(), instant);
    }

    /// Sets the time to `instant`. Time may be set backwards, which lets a test check that a
    /// policy copes with a clock that is not strictly monotonic; timers fire only when time
    /// reaches them again.
    ///
    /// ```
    /// use palisade::clock::{Instant, ManualClock};
    /// let c = ManualClock::new();
    /// c.set(Instant::from_nanos(42));
    /// assert_eq!(c.now().as_nanos(), 42);
    /// ```
    pub fn set(&self, instant: Instant) {
        let timers = self.timers();
        if instant < self.now() {
            self.inner.nanos.store(instant.0, Ordering::Release);
        } else {
            self.run_until(timers, instant);
        }
    }

    /// How many timers are waiting on this clock.
    ///
    /// ```
    /// assert_eq!(palisade::clock::ManualClock::new().pending_timers(), 0);
    /// ```
    pub fn pending_timers(&self) -> usize {
        let timers = self.timers();
        timers.slots.len() - timers.free.len() - timers.unobserved
    }

    /// The earliest deadline any timer waits for, if one does.
    ///
    /// ```
    /// assert_eq!(palisade::clock::ManualClock::new().next_deadline(), None);
    /// ```
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers().earliest().map(Instant)
    }

    /// Jumps to the earliest pending deadline (if it is ahead) and fires what is due there —
    /// unless, with `gated`, a fired timer's owner has yet to run (it is not idle).
    pub(super) fn advance_to_next(&self, gated: bool) -> Advance {
        let mut timers = self.timers();
        if gated && timers.unobserved > 0 {
            return Advance::Waiting;
        }
        match timers.earliest() {
            Some(deadline) => {
                let target = Instant(deadline).max(self.now());
                self.run_until(timers, target);
                Advance::Moved
            }
            None => Advance::Empty,
        }
    }

    /// Fires the timers due by `target` in deadline order, time following each, then sets the
    /// time to `target`; wakers run after the lock is released.
    fn run_until(&self, mut timers: MutexGuard<'_, Timers>, target: Instant) {
        let mut woken = Vec::new();
        while let Some(deadline) = timers.earliest() {
            if deadline > target.0 {
                break;
            }
            let now = deadline.max(self.inner.nanos.load(Ordering::Acquire));
            self.inner.nanos.store(now, Ordering::Release);
            timers.fire(now, &mut woken);
        }
        if target.0 > self.inner.nanos.load(Ordering::Acquire) {
            self.inner.nanos.store(target.0, Ordering::Release);
        }
        drop(timers);
        woken.into_iter().for_each(Waker::wake);
    }

    fn timers(&self) -> MutexGuard<'_, Timers> {
        self.inner
            .timers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn id(&self) -> *const () {
        Arc::as_ptr(&self.inner).cast()
    }

    /// A future that completes once the clock reaches `deadline`.
    pub(super) fn sleep_until(&self, deadline: Instant) -> ManualSleep {
        ManualSleep {
            clock: self.clone(),
            deadline,
            key: None,
            probed: false,
            held_back: 0,
        }
    }

    /// Blocks the thread until the clock reaches `deadline`: with auto-advance, by moving
    /// time there (this thread counts as idle); without, until someone else does.
    pub(super) fn sleep_blocking_until(&self, deadline: Instant) {
        if self.is_auto_advancing() {
            self.advance_to(deadline);
        } else {
            super::block::block_on(&mut self.sleep_until(deadline));
        }
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .field("auto_advance", &self.is_auto_advancing())
            .field("pending_timers", &self.pending_timers())
            .finish()
    }
}

/// A wait on a [`ManualClock`]: registers a timer on first poll, deregisters when dropped.
pub(super) struct ManualSleep {
    clock: ManualClock,
    deadline: Instant,
    key: Option<Key>,
    /// Whether this sleep has already let the rest of its task run once (auto-advance outside
    /// a simulation: the next poll may move time).
    probed: bool,
    /// Polls in a row that found a fired timer's owner yet to run.
    held_back: u32,
}

/// How many times in a row a waiter lets the owner of a fired timer go first before moving
/// time anyway: an owner that never looks at its fired timer must not stall everyone.
const PATIENCE: u32 = 64;

impl Future for ManualSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            if this.clock.now() >= this.deadline {
                if let Some(key) = this.key.take() {
                    this.clock.timers().remove(key);
                }
                return Poll::Ready(());
            }
            {
                let mut timers = this.clock.timers();
                // Time moves only under this lock: checked again here, a step taken since the
                // check above cannot slip between it and the registration (the timer would be
                // queued after that step fired what was due, and never fire).
                if this.clock.now() >= this.deadline {
                    if let Some(key) = this.key.take() {
                        timers.remove(key);
                    }
                    return Poll::Ready(());
                }
                match this.key.and_then(|key| timers.armed(key)) {
                    Some(slot) => {
                        if !slot.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                            slot.waker = Some(cx.waker().clone());
                        }
                    }
                    None => {
                        // Not registered yet, or fired before time was set back: (re)register.
                        if let Some(stale) = this.key.take() {
                            timers.remove(stale);
                        }
                        this.key = Some(timers.insert(this.deadline.0, cx.waker().clone()));
                    }
                }
            }
            if !this.clock.is_auto_advancing() || sim::is_driving(&this.clock) {
                return Poll::Pending;
            }
            if !this.probed {
                // First let everything else that is ready run (the rest of this task may be
                // about to register an earlier deadline, another task may be about to act).
                this.probed = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            // Everything else had its turn: move time to the earliest deadline — once whoever
            // a fired timer woke has run.
            let gated = this.held_back < PATIENCE;
            match this.clock.advance_to_next(gated) {
                Advance::Waiting => this.held_back += 1,
                Advance::Moved | Advance::Empty => this.held_back = 0,
            }
            if this.clock.now() >= this.deadline {
                continue;
            }
            // Someone else's deadline came first: they run, then this sleep looks again.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
    }
}

impl Drop for ManualSleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let waker = self.clock.timers().remove(key);
            drop(waker);
        }
    }
}

impl fmt::Debug for ManualSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualSleep")
            .field("deadline", &self.deadline)
            .field("registered", &self.key.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_fires_timers_in_deadline_order_and_saturates() {
        let c = ManualClock::new();
        c.advance(Duration::MAX);
        c.advance(Duration::MAX);
        assert_eq!(c.now().as_nanos(), u64::MAX);
    }

    #[test]
    fn clones_share_time() {
        let a = ManualClock::new();
        let b = a.clone();
        a.advance(Duration::from_secs(2));
        assert_eq!(b.now(), Instant::from_nanos(2_000_000_000));
    }
}
