//! A fair counting semaphore for async and blocking callers: the bulkhead's slots, the rate
//! limiter's waiting turn.
//!
//! # The hot path
//!
//! Free permits and a WAITERS bit share one `AtomicU64`. With a free permit and nobody
//! waiting, acquiring is one compare-and-swap and releasing another: no lock, no allocation.
//! Only a caller that has to wait takes the queue's lock and allocates its entry; while anyone
//! waits, released permits are handed to the first waiter under that lock (FIFO), so
//! newcomers cannot overtake the queue.
//!
//! # Cancellation
//!
//! A waiter is a future ([`Waiting`]); a blocking caller polls it on its thread. Dropping it
//! leaves the queue holding nothing: if a releaser granted it a permit in the meantime, the
//! drop passes that permit on to the next waiter (or back to the free count).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::{AtomicU64, Mutex, Ordering, lock};

/// The WAITERS bit of [`Semaphore::state`]: set exactly while the queue is non-empty. Changed
/// only under the queue's lock; while it is set, the free count stays zero and released
/// permits go to the queue instead.
const WAITERS: u64 = 1 << 63;

/// The largest number of permits a semaphore can hold (the bit above is the WAITERS flag).
pub(crate) const MAX_PERMITS: usize = u32::MAX as usize;

pub(crate) struct Semaphore {
    /// Free permits, plus the WAITERS bit. One word, so the lock-free paths (take a free
    /// permit when nobody waits, give one back when nobody waits) and a waiter announcing
    /// itself are ordered by compare-and-swap: a release either sees the bit and hands its
    /// permit to the queue, or lands before the bit is set, and the waiter then sees it.
    state: AtomicU64,
    /// Waiting callers in arrival order.
    queue: Mutex<VecDeque<Arc<Waiter>>>,
    /// The queue's length, for `queued()` without the lock.
    queued: AtomicU64,
}

struct Waiter {
    state: Mutex<WaiterState>,
}

struct WaiterState {
    granted: bool,
    waker: Option<Waker>,
}

impl Waiter {
    fn grant(&self) -> Option<Waker> {
        let mut state = lock(&self.state);
        state.granted = true;
        state.waker.take()
    }
}

/// What [`Semaphore::enqueue`] found.
pub(crate) enum Entry<'a> {
    /// A permit was free after all: it is the caller's.
    Acquired,
    /// The caller is queued: await (or block on) the future for its permit.
    Queued(Waiting<'a>),
}

/// The queue already holds `max_queue` waiters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueFull;

impl Semaphore {
    /// A semaphore with `permits` free permits (at most [`MAX_PERMITS`]).
    pub(crate) fn new(permits: usize) -> Self {
        Semaphore {
            state: AtomicU64::new(permits.min(MAX_PERMITS) as u64),
            queue: Mutex::new(VecDeque::new()),
            queued: AtomicU64::new(0),
        }
    }

    /// Takes a free permit if there is one and nobody waits for it.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        // Ordering: the count guards no memory of its own (RMWs on one atomic are totally
        // ordered whatever the ordering); Acquire/Release make a permit passed from one caller
        // to the next order their memory like a lock would, which costs nothing extra on x86.
        let mut current = self.state.load(Ordering::Relaxed);
        while current & WAITERS == 0 && current > 0 {
            match self.state.compare_exchange_weak(
                current,
                current - 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
        false
    }

    /// Gives a permit back: to the first waiter, or to the free count.
    #[inline]
    pub(crate) fn release(&self) {
        let mut current = self.state.load(Ordering::Relaxed);
        while current & WAITERS == 0 {
            match self.state.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
        self.release_to_queue();
    }

    #[cold]
    fn release_to_queue(&self) {
        let mut queue = lock(&self.queue);
        let waker = self.release_locked(&mut queue);
        drop(queue);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Hands a permit to the first waiter, or back to the free count if none waits.
    fn release_locked(&self, queue: &mut VecDeque<Arc<Waiter>>) -> Option<Waker> {
        match queue.pop_front() {
            Some(next) => {
                self.queue_changed(queue);
                next.grant()
            }
            None => {
                self.state.fetch_add(1, Ordering::Release);
                None
            }
        }
    }

    fn queue_changed(&self, queue: &VecDeque<Arc<Waiter>>) {
        if queue.is_empty() {
            self.state.fetch_and(!WAITERS, Ordering::Release);
        }
        self.queued.store(queue.len() as u64, Ordering::Relaxed);
    }

    /// Takes a free permit, or joins the queue unless `max_queue` callers already wait.
    pub(crate) fn enqueue(&self, max_queue: usize) -> Result<Entry<'_>, QueueFull> {
        let mut queue = lock(&self.queue);
        let mut current = self.state.load(Ordering::Relaxed);
        // Without the bit the queue is empty: take a free permit, or set the bit (free is 0).
        // A release racing with this changes the word, so the compare-and-swap fails and the
        // loop sees its permit.
        while current & WAITERS == 0 {
            let (next, acquired) = if current > 0 {
                (current - 1, true)
            } else {
                (WAITERS, false)
            };
            match self.state.compare_exchange_weak(
                current,
                next,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) if acquired => return Ok(Entry::Acquired),
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        // The bit was set before this call, so the queue is non-empty, or this call just set
        // it on an empty queue.
        if queue.len() >= max_queue {
            if queue.is_empty() {
                self.queue_changed(&queue);
            }
            return Err(QueueFull);
        }
        let waiter = Arc::new(Waiter {
            state: Mutex::new(WaiterState {
                granted: false,
                waker: None,
            }),
        });
        queue.push_back(Arc::clone(&waiter));
        self.queue_changed(&queue);
        Ok(Entry::Queued(Waiting {
            semaphore: self,
            waiter,
            done: false,
        }))
    }

    fn cancel(&self, waiter: &Arc<Waiter>) {
        let mut queue = lock(&self.queue);
        if let Some(at) = queue.iter().position(|w| Arc::ptr_eq(w, waiter)) {
            queue.remove(at);
            self.queue_changed(&queue);
            return;
        }
        // Not in the queue: a releaser popped it and granted it a permit, under this lock.
        let waker = self.release_locked(&mut queue);
        drop(queue);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Free permits (zero while anyone waits).
    pub(crate) fn available(&self) -> usize {
        usize::try_from(self.state.load(Ordering::Relaxed) & !WAITERS).unwrap_or(usize::MAX)
    }

    /// Callers waiting for a permit.
    pub(crate) fn queued(&self) -> usize {
        usize::try_from(self.queued.load(Ordering::Relaxed)).unwrap_or(usize::MAX)
    }
}

/// A queued caller's wait for its permit. Ready once granted; dropped before that, it leaves
/// the queue (passing on a permit granted meanwhile).
pub(crate) struct Waiting<'a> {
    semaphore: &'a Semaphore,
    waiter: Arc<Waiter>,
    done: bool,
}

impl Future for Waiting<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut state = lock(&this.waiter.state);
        if state.granted {
            this.done = true;
            return Poll::Ready(());
        }
        if !state
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            state.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.semaphore.cancel(&self.waiter);
        }
    }
}

#[cfg(all(test, palisade_loom))]
mod loom_tests {
    //! The waiter handoff under loom: a release handing its permit to a queued waiter, and a
    //! waiter cancelled (dropped) while a release races it. A lost permit leaves a waiter
    //! parked forever (loom reports the deadlock); a doubled one shows up as two holders at
    //! once or as one permit too many at the end.
    //!
    //! Run with `RUSTFLAGS="--cfg palisade_loom" cargo test -p palisade --release --lib loom`.
    use super::*;
    use crate::sync::AtomicU64;
    use loom::future::block_on;
    use loom::sync::Arc;
    use loom::thread;

    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(f);
    }

    /// A semaphore of one permit, already taken, and a count of current holders.
    fn taken() -> Arc<(Semaphore, AtomicU64)> {
        let shared = Arc::new((Semaphore::new(1), AtomicU64::new(1)));
        assert!(shared.0.try_acquire());
        shared
    }

    /// Holds the permit just obtained for a moment: nobody else may hold it meanwhile.
    fn hold_and_release(shared: &(Semaphore, AtomicU64)) {
        let (semaphore, holders) = shared;
        assert_eq!(
            holders.fetch_add(1, Ordering::AcqRel),
            0,
            "permit double-granted"
        );
        holders.fetch_sub(1, Ordering::AcqRel);
        semaphore.release();
    }

    /// The holder gives its permit back.
    fn release_held(shared: &(Semaphore, AtomicU64)) {
        shared.1.fetch_sub(1, Ordering::AcqRel);
        shared.0.release();
    }

    /// Waits for a permit (queueing if none is free), holds it, gives it back.
    fn wait_hold_release(shared: &(Semaphore, AtomicU64)) {
        match shared.0.enqueue(4).expect("the queue has room") {
            Entry::Acquired => {}
            Entry::Queued(waiting) => block_on(waiting),
        }
        hold_and_release(shared);
    }

    /// Joins the queue, polls once, then gives up (drops the wait), unless the permit came
    /// in time: then it is held and given back.
    fn wait_once_then_cancel(shared: &(Semaphore, AtomicU64)) {
        let mut waiting = match shared.0.enqueue(4).expect("the queue has room") {
            Entry::Acquired => return hold_and_release(shared),
            Entry::Queued(waiting) => waiting,
        };
        let polled = block_on(std::future::poll_fn(|cx| {
            Poll::Ready(Pin::new(&mut waiting).poll(cx))
        }));
        if polled.is_ready() {
            drop(waiting);
            hold_and_release(shared);
        }
        // Otherwise `waiting` drops here: a cancellation, racing the release.
    }

    fn assert_idle(shared: &(Semaphore, AtomicU64)) {
        assert_eq!(shared.0.queued(), 0);
        assert_eq!(shared.0.available(), 1, "the one permit is free again");
        assert_eq!(
            shared.0.state.load(Ordering::Relaxed),
            1,
            "no WAITERS bit left"
        );
    }

    #[test]
    fn loom_a_release_hands_its_permit_to_a_waiter() {
        model(|| {
            let shared = taken();
            let waiter = {
                let shared = shared.clone();
                thread::spawn(move || wait_hold_release(&shared))
            };
            release_held(&shared);
            waiter.join().unwrap();
            assert_idle(&shared);
        });
    }

    #[test]
    fn loom_a_cancelled_waiter_neither_loses_nor_keeps_the_permit() {
        model(|| {
            let shared = taken();
            let waiter = {
                let shared = shared.clone();
                thread::spawn(move || wait_once_then_cancel(&shared))
            };
            release_held(&shared);
            waiter.join().unwrap();
            assert_idle(&shared);
        });
    }

    /// Two waiters, one of which gives up, while the holder releases: the permit reaches the
    /// patient one exactly once, whoever the release picked first.
    #[test]
    fn loom_a_cancellation_racing_a_release_passes_the_permit_on() {
        model(|| {
            let shared = taken();
            let patient = {
                let shared = shared.clone();
                thread::spawn(move || wait_hold_release(&shared))
            };
            let quitter = {
                let shared = shared.clone();
                thread::spawn(move || wait_once_then_cancel(&shared))
            };
            release_held(&shared);
            patient.join().unwrap();
            quitter.join().unwrap();
            assert_idle(&shared);
        });
    }
}
