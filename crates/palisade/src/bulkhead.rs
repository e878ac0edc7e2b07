//! Bulkhead: at most so many calls to a dependency at once.
//!
//! # Why
//!
//! A ship's bulkheads keep one flooded compartment from sinking the ship. In a service, the
//! flood is a slow dependency: every call to it waits, each waiting call holds a task, a
//! thread, a connection, and soon the calls to the slow dependency hold *everything* — the
//! healthy endpoints starve too. A bulkhead caps the calls in flight to one dependency
//! (`max_concurrent`); a call beyond the cap is rejected at once with [`Error::BulkheadFull`],
//! or waits in a short, bounded queue (`max_queue`, for at most `max_wait`). The rest of the
//! service keeps its resources whatever the dependency does.
//!
//! A rate limiter bounds calls *per unit of time*; a bulkhead bounds calls *at the same time*.
//! When a dependency slows down, a rate limiter keeps admitting calls that pile up; a
//! bulkhead admits new calls only as old ones finish.
//!
//! ```
//! use palisade::bulkhead::Bulkhead;
//! use palisade::Error;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let bulkhead = Bulkhead::builder().name("reports").max_concurrent(2).build()?;
//!
//! let report = bulkhead.call(async { Ok::<_, std::io::Error>("quarterly") }).await?;
//! assert_eq!(report, "quarterly");
//!
//! // Two calls in flight (held here as permits): a third is turned away at once.
//! let (a, b) = (bulkhead.try_acquire()?, bulkhead.try_acquire()?);
//! let third = bulkhead.call(async { Ok::<_, std::io::Error>("annual") }).await;
//! assert!(matches!(third, Err(Error::BulkheadFull { max_concurrent: 2, .. })));
//! drop((a, b));
//! # Ok(()) }
//! ```
//!
//! # Waiting
//!
//! By default a full bulkhead rejects at once (`max_queue = 0`): under overload, failing fast
//! is what keeps latency bounded. With `max_queue = n`, up to `n` calls wait for a slot, served
//! in arrival order (FIFO), each for at most `max_wait` if set; a call that finds the queue
//! full is rejected at once. A waiting call that is dropped (a cancelled request, an outer
//! timeout) leaves the queue and holds nothing. Async and blocking callers share the same
//! slots and the same queue.
//!
//! # Permits
//!
//! [`call`](Bulkhead::call) and [`call_blocking`](Bulkhead::call_blocking) hold a slot while the
//! operation runs. For code that cannot be wrapped, [`try_acquire`](Bulkhead::try_acquire),
//! [`acquire`](Bulkhead::acquire) and [`acquire_blocking`](Bulkhead::acquire_blocking) return a
//! [`BulkheadPermit`]: owned, `'static`, `Send`, so it can move into a spawned task or a
//! response body. The slot is given back when the permit (or the call's future) is dropped —
//! when the call completes, panics, or is cancelled.
//!
//! # Compared with resilience4j and Polly
//!
//! resilience4j's `SemaphoreBulkhead` has `maxConcurrentCalls` (default 25) and
//! `maxWaitDuration` (default 0: reject at once); its waiting threads are bounded in time but
//! not in number. Polly's Bulkhead has `maxParallelization` and `maxQueuingActions` (default 0),
//! a bounded queue without a time limit. Palisade has both bounds: `max_queue` caps how many
//! wait, `max_wait` how long. The reference docs describe no bulkhead, so the defaults are
//! resilience4j's and Polly's: 25 concurrent calls, no queue.
//!
//! # Cost
//!
//! With a free slot and nobody waiting, acquiring is one compare-and-swap on an atomic word,
//! and releasing another: no lock, no allocation, no clock read. Only a call that has to wait
//! takes a lock and allocates its queue entry; while anyone waits, released slots are handed
//! to the first waiter under that lock, so newcomers cannot overtake the queue.
//!
//! # Time
//!
//! Async waits give up after `max_wait` on tokio's timer (tests use
//! `#[tokio::test(start_paused = true)]`); blocking waits on the policy's [`Clock`], which also
//! measures the waiting time reported in events (use [`Clock::tokio`] to see paused time
//! there). Without the `tokio` feature, [`acquire_with_sleeper`](Bulkhead::acquire_with_sleeper)
//! and [`call_with_sleeper`](Bulkhead::call_with_sleeper) take your runtime's sleep.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::builder::{Base, builder_base};
use crate::clock::Sleeper;
use crate::clock::{Clock, Instant};
use crate::error::{ConfigError, Error};
use crate::future::first;
use crate::listener::{Kind, Listeners};
use crate::sync::{AtomicU64, Mutex, Ordering, lock};
use crate::validate;

const POLICY: &str = "bulkhead";

/// resilience4j's `maxConcurrentCalls` default (the reference docs describe no bulkhead).
const DEFAULT_MAX_CONCURRENT: usize = 25;

/// The most slots a bulkhead may have: the count lives in the low bits of one `u64`.
const MAX_CONCURRENT: usize = u32::MAX as usize;

/// How often a blocking wait re-reads a [`ManualClock`](crate::clock::ManualClock), which
/// moves without notifying anyone.
const MANUAL_CLOCK_POLL: Duration = Duration::from_millis(1);

/// Why a bulkhead turned a call away.
///
/// ```
/// use palisade::bulkhead::RejectReason;
/// let reason = RejectReason::QueueFull { max_queue: 8 };
/// assert_ne!(reason, RejectReason::Full);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectReason {
    /// Every slot was busy and the call could not wait: the bulkhead has no queue
    /// (`max_queue = 0`), or the caller asked not to wait ([`Bulkhead::try_acquire`]).
    Full,
    /// Every slot was busy and `max_queue` calls were already waiting.
    QueueFull {
        /// The queue's bound.
        max_queue: usize,
    },
    /// The call waited `max_wait` in the queue and no slot came free.
    WaitedTooLong {
        /// The bound on waiting.
        max_wait: Duration,
    },
}

/// A call a bulkhead turned away without running it. Converts into
/// [`Error::BulkheadFull`].
///
/// ```
/// use palisade::bulkhead::{Bulkhead, RejectReason};
/// let bulkhead = Bulkhead::builder().name("db").max_concurrent(1).build()?;
/// let _held = bulkhead.try_acquire()?;
/// let rejected = bulkhead.try_acquire().unwrap_err();
/// assert_eq!((rejected.name(), rejected.max_concurrent()), ("db", 1));
/// assert_eq!(rejected.reason(), RejectReason::Full);
/// let err: palisade::Error<std::io::Error> = rejected.into();
/// assert!(err.is_rejection());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    name: Arc<str>,
    max_concurrent: usize,
    reason: RejectReason,
}

impl Rejected {
    /// The bulkhead's name.
    ///
    /// ```
    /// # let b = palisade::bulkhead::Bulkhead::builder().name("x").max_concurrent(1).build()?;
    /// # let _held = b.try_acquire()?;
    /// assert_eq!(b.try_acquire().unwrap_err().name(), "x");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bulkhead's maximum number of concurrent calls.
    ///
    /// ```
    /// # let b = palisade::bulkhead::Bulkhead::builder().max_concurrent(1).build()?;
    /// # let _held = b.try_acquire()?;
    /// assert_eq!(b.try_acquire().unwrap_err().max_concurrent(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// Why the call was turned away.
    ///
    /// ```
    /// # use palisade::bulkhead::RejectReason;
    /// # let b = palisade::bulkhead::Bulkhead::builder().max_concurrent(1).build()?;
    /// # let _held = b.try_acquire()?;
    /// assert_eq!(b.try_acquire().unwrap_err().reason(), RejectReason::Full);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reason(&self) -> RejectReason {
        self.reason
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, max) = (&self.name, self.max_concurrent);
        match self.reason {
            RejectReason::Full => write!(
                f,
                "bulkhead '{name}' is full: all {max} concurrent slots are busy"
            ),
            RejectReason::QueueFull { max_queue } => write!(
                f,
                "bulkhead '{name}' is full: all {max} concurrent slots are busy and \
                 {max_queue} calls are already waiting"
            ),
            RejectReason::WaitedTooLong { max_wait } => write!(
                f,
                "bulkhead '{name}' is full: none of its {max} concurrent slots came free \
                 within {max_wait:?}"
            ),
        }
    }
}

impl std::error::Error for Rejected {}

impl<E> From<Rejected> for Error<E> {
    fn from(rejected: Rejected) -> Self {
        Error::BulkheadFull {
            name: rejected.name,
            max_concurrent: rejected.max_concurrent,
        }
    }
}

/// What a bulkhead did, published as [`Event::Bulkhead`](crate::event::Event::Bulkhead).
///
/// ```
/// use palisade::bulkhead::BulkheadEvent;
/// let e = BulkheadEvent::Released { name: "db" };
/// assert_eq!(e.name(), "db");
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum BulkheadEvent<'a> {
    /// A call got a slot, at once (`waited` zero) or after waiting in the queue.
    Permitted {
        /// The bulkhead's name.
        name: &'a str,
        /// Time spent in the queue, on the policy's clock.
        waited: Duration,
    },
    /// A call was turned away.
    Rejected {
        /// The bulkhead's name.
        name: &'a str,
        /// Why.
        reason: RejectReason,
    },
    /// A call gave its slot back (it finished, panicked or was dropped).
    Released {
        /// The bulkhead's name.
        name: &'a str,
    },
}

impl<'a> BulkheadEvent<'a> {
    /// The name of the policy that published the event.
    ///
    /// ```
    /// # use palisade::bulkhead::{BulkheadEvent, RejectReason};
    /// let e = BulkheadEvent::Rejected { name: "x", reason: RejectReason::Full };
    /// assert_eq!(e.name(), "x");
    /// ```
    pub fn name(&self) -> &'a str {
        match self {
            BulkheadEvent::Permitted { name, .. }
            | BulkheadEvent::Rejected { name, .. }
            | BulkheadEvent::Released { name } => name,
        }
    }
}

/// The settings of a bulkhead, as plain data.
///
/// ```
/// use palisade::bulkhead::{Bulkhead, BulkheadConfig};
/// use std::time::Duration;
/// let config = BulkheadConfig {
///     max_concurrent: 50,
///     max_queue: 100,
///     max_wait: Some(Duration::from_millis(200)),
/// };
/// let bulkhead = Bulkhead::from_config(config)?;
/// assert_eq!(bulkhead.config(), &config);
/// assert_eq!(BulkheadConfig::default().max_concurrent, 25);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BulkheadConfig {
    /// Calls allowed in flight at once. 1 to 4,294,967,295; 25 by default (resilience4j's
    /// `maxConcurrentCalls`).
    pub max_concurrent: usize,
    /// Calls allowed to wait for a slot when all are busy. 0 by default: a full bulkhead
    /// rejects at once (Polly's `maxQueuingActions`). `usize::MAX` for no bound.
    pub max_queue: usize,
    /// How long a queued call waits before it is rejected; `None` (the default) waits until
    /// a slot comes free. Only meaningful with a queue; greater than zero.
    pub max_wait: Option<Duration>,
}

impl Default for BulkheadConfig {
    fn default() -> Self {
        BulkheadConfig {
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            max_queue: 0,
            max_wait: None,
        }
    }
}

impl BulkheadConfig {
    /// Checks every field; the error names the first bad field and its value.
    ///
    /// ```
    /// use palisade::bulkhead::BulkheadConfig;
    /// let err = BulkheadConfig { max_concurrent: 0, ..BulkheadConfig::default() }.validate().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("max_concurrent", "0"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_concurrent == 0 || self.max_concurrent > MAX_CONCURRENT {
            return Err(ConfigError::new(
                POLICY,
                "max_concurrent",
                self.max_concurrent,
                format!("must be between 1 and {MAX_CONCURRENT}"),
            ));
        }
        if let Some(max_wait) = self.max_wait {
            validate::positive(POLICY, "max_wait", max_wait)?;
            if self.max_queue == 0 {
                return Err(ConfigError::new(
                    POLICY,
                    "max_wait",
                    format_args!("{max_wait:?}"),
                    "has no effect while max_queue is 0 (a full bulkhead rejects at once); \
                     set max_queue to let calls wait",
                ));
            }
        }
        Ok(())
    }
}

/// A bulkhead; see the [module docs](self). Cheap to clone (one `Arc`), shareable across
/// threads and tasks: clones share the same slots and queue.
///
/// ```
/// use palisade::bulkhead::Bulkhead;
/// let bulkhead = Bulkhead::builder().max_concurrent(3).build()?;
/// let permit = bulkhead.try_acquire()?;
/// assert_eq!((bulkhead.in_flight(), bulkhead.available()), (1, 2));
/// drop(permit);
/// assert_eq!(bulkhead.available(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Bulkhead {
    shared: Arc<Shared>,
}

/// The WAITERS bit of [`Shared::state`]: set exactly while the queue is non-empty. Changed
/// only under the queue's lock; while it is set, the free count stays zero and released slots
/// go to the queue instead.
const WAITERS: u64 = 1 << 63;

struct Shared {
    name: Arc<str>,
    config: BulkheadConfig,
    clock: Clock,
    listeners: Listeners<Bulkhead>,
    /// Free slots, plus the WAITERS bit. One word, so the lock-free paths (take a free slot
    /// when nobody waits, give one back when nobody waits) and a waiter announcing itself are
    /// ordered by compare-and-swap: a release either sees the bit and hands its slot to the
    /// queue, or lands before the bit is set, and the waiter then sees the free slot.
    state: AtomicU64,
    /// Waiting calls in arrival order.
    queue: Mutex<VecDeque<Arc<Waiter>>>,
    /// The queue's length, for `queued()` without the lock.
    queued: AtomicU64,
}

/// One queued call: granted a slot by a releaser, or still waiting with the waker to call.
struct Waiter {
    state: Mutex<WaiterState>,
}

struct WaiterState {
    granted: bool,
    waker: Option<Waker>,
}

impl Waiter {
    /// Marks the slot as this waiter's; returns the waker to call once locks are released.
    fn grant(&self) -> Option<Waker> {
        let mut state = lock(&self.state);
        state.granted = true;
        state.waker.take()
    }
}

impl Shared {
    /// Takes a free slot if nobody waits. Lock-free.
    #[inline]
    fn try_take(&self) -> bool {
        // Ordering: the slot count guards no memory of its own (RMWs on one atomic are totally
        // ordered whatever the ordering); Acquire/Release make a slot passed from one call to
        // the next order their memory like a lock would, which costs nothing extra on x86.
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

    /// Gives a slot back: to the free count if nobody waits (lock-free), else to the first
    /// waiter.
    #[inline]
    fn release(&self) {
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

    /// Under the queue lock (where the WAITERS bit means "queue non-empty"): hands the slot to
    /// the first waiter, or frees it if the queue emptied meanwhile.
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

    /// Keeps the WAITERS bit and the length mirror in step with the queue (under its lock).
    fn queue_changed(&self, queue: &VecDeque<Arc<Waiter>>) {
        if queue.is_empty() {
            self.state.fetch_and(!WAITERS, Ordering::Release);
        }
        self.queued.store(queue.len() as u64, Ordering::Relaxed);
    }

    /// Joins the queue, unless a slot came free since the fast path failed (then takes it) or
    /// the queue is full.
    fn enqueue(&self) -> Result<Entry<'_>, RejectReason> {
        let max_queue = self.config.max_queue;
        if max_queue == 0 {
            return Err(RejectReason::Full);
        }
        let mut queue = lock(&self.queue);
        let mut current = self.state.load(Ordering::Relaxed);
        // Without the bit the queue is empty: take a free slot, or set the bit (free is 0).
        // A release racing with this changes the word, so the compare-and-swap fails and the
        // loop sees its slot.
        while current & WAITERS == 0 {
            let (next, admitted) = if current > 0 {
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
                Ok(_) if admitted => return Ok(Entry::Admitted),
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        // The bit was set before this call, so the queue is non-empty, or this call just set
        // it on an empty queue (and `max_queue >= 1`).
        if queue.len() >= max_queue {
            return Err(RejectReason::QueueFull { max_queue });
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
            shared: self,
            waiter,
            done: false,
        }))
    }

    /// A waiting call gives up: it leaves the queue, or — if it was granted a slot it never
    /// saw — passes the slot on.
    fn cancel(&self, waiter: &Arc<Waiter>) {
        let mut queue = lock(&self.queue);
        if let Some(at) = queue.iter().position(|w| Arc::ptr_eq(w, waiter)) {
            queue.remove(at);
            self.queue_changed(&queue);
            return;
        }
        // Not in the queue: a releaser popped it and granted it a slot, under this lock.
        let waker = self.release_locked(&mut queue);
        drop(queue);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn free(&self) -> usize {
        usize::try_from(self.state.load(Ordering::Relaxed) & !WAITERS).unwrap_or(usize::MAX)
    }

    fn reject(&self, reason: RejectReason) -> Rejected {
        self.listeners.emit(|| BulkheadEvent::Rejected {
            name: &self.name,
            reason,
        });
        Rejected {
            name: Arc::clone(&self.name),
            max_concurrent: self.config.max_concurrent,
            reason,
        }
    }

    fn permitted(&self, waited: Duration) {
        self.listeners.emit(|| BulkheadEvent::Permitted {
            name: &self.name,
            waited,
        });
    }

    fn released(&self) {
        self.release();
        self.listeners
            .emit(|| BulkheadEvent::Released { name: &self.name });
    }
}

enum Entry<'a> {
    /// A slot came free on the way into the queue: it is the caller's.
    Admitted,
    Queued(Waiting<'a>),
}

/// A place in the queue: ready once a releaser grants it a slot. Dropped before that, it
/// leaves the queue (or passes on a slot granted too late to be seen).
struct Waiting<'a> {
    shared: &'a Shared,
    waiter: Arc<Waiter>,
    /// The grant was seen: the slot belongs to the caller now.
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
            self.shared.cancel(&self.waiter);
        }
    }
}

/// Wakes a thread blocked in [`Bulkhead::acquire_blocking`].
struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// A slot borrowed for the length of a [`call`](Bulkhead::call): no reference count to touch.
struct Slot<'a>(&'a Shared);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.released();
    }
}

impl Kind for Bulkhead {
    type Event<'a> = BulkheadEvent<'a>;
}

impl Bulkhead {
    /// Starts building a bulkhead from the defaults of [`BulkheadConfig`]: 25 concurrent
    /// calls, no queue.
    ///
    /// ```
    /// use palisade::bulkhead::Bulkhead;
    /// let b = Bulkhead::builder().build()?;
    /// assert_eq!((b.max_concurrent(), b.max_queue()), (25, 0));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn builder() -> BulkheadBuilder {
        BulkheadBuilder::new(BulkheadConfig::default())
    }

    /// A bulkhead from plain settings, with the default name, clock and no listeners.
    ///
    /// ```
    /// use palisade::bulkhead::{Bulkhead, BulkheadConfig};
    /// let b = Bulkhead::from_config(BulkheadConfig { max_concurrent: 4, ..BulkheadConfig::default() })?;
    /// assert_eq!(b.available(), 4);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn from_config(config: BulkheadConfig) -> Result<Bulkhead, ConfigError> {
        BulkheadBuilder::new(config).build()
    }

    /// Takes a slot if one is free now; never waits (a full bulkhead rejects with
    /// [`RejectReason::Full`], queue or not). The slot is given back when the permit drops.
    ///
    /// ```
    /// use palisade::bulkhead::Bulkhead;
    /// let b = Bulkhead::builder().max_concurrent(1).build()?;
    /// let permit = b.try_acquire()?;
    /// assert!(b.try_acquire().is_err());
    /// drop(permit);
    /// assert!(b.try_acquire().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<BulkheadPermit, Rejected> {
        if self.shared.try_take() {
            Ok(self.permit(Duration::ZERO))
        } else {
            Err(self.shared.reject(RejectReason::Full))
        }
    }

    /// Takes a slot, waiting in the queue if the bulkhead is full and has one (see the
    /// [module docs](self)): rejected at once if there is no queue or it is full, after
    /// `max_wait` if no slot comes free by then. Cancel-safe: dropping the future leaves the
    /// queue and holds nothing. Needs a tokio runtime only when `max_wait` is set (its timer);
    /// elsewhere use [`acquire_with_sleeper`](Self::acquire_with_sleeper).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use palisade::bulkhead::{Bulkhead, RejectReason};
    /// use std::time::Duration;
    /// let b = Bulkhead::builder()
    ///     .max_concurrent(1)
    ///     .max_queue(10)
    ///     .max_wait(Duration::from_millis(100))
    ///     .build()?;
    /// let held = b.acquire().await?;
    /// let waited = b.acquire().await.unwrap_err(); // nobody releases within 100 ms
    /// assert_eq!(waited.reason(), RejectReason::WaitedTooLong { max_wait: Duration::from_millis(100) });
    /// drop(held);
    /// assert!(b.acquire().await.is_ok());
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn acquire(&self) -> Result<BulkheadPermit, Rejected> {
        let waited = self.wait_for_slot(tokio::time::sleep).await?;
        Ok(self.permit(waited))
    }

    /// [`acquire`](Self::acquire) for any runtime: `max_wait` is measured by `sleeper` (your
    /// runtime's sleep, see [`Sleeper`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use palisade::bulkhead::Bulkhead;
    /// let b = Bulkhead::builder().max_concurrent(1).build()?;
    /// let permit = b.acquire_with_sleeper(tokio::time::sleep).await?;
    /// assert_eq!(b.in_flight(), 1);
    /// # drop(permit);
    /// # Ok(()) }
    /// ```
    pub async fn acquire_with_sleeper<S: Sleeper>(
        &self,
        sleeper: S,
    ) -> Result<BulkheadPermit, Rejected> {
        let waited = self.wait_for_slot(|d| sleeper.sleep(d)).await?;
        Ok(self.permit(waited))
    }

    /// [`acquire`](Self::acquire) for blocking code: the thread sleeps in the queue (the same
    /// queue as async callers) until a slot is handed to it or `max_wait` passes on the
    /// policy's clock. Do not call it on an async runtime's thread.
    ///
    /// ```
    /// use palisade::bulkhead::Bulkhead;
    /// let b = Bulkhead::builder().max_concurrent(1).max_queue(1).build()?;
    /// let held = b.acquire_blocking()?;
    /// let waiter = std::thread::spawn({
    ///     let b = b.clone();
    ///     move || b.acquire_blocking().map(|_permit| "got the slot")
    /// });
    /// while b.queued() == 0 { std::thread::yield_now(); }
    /// drop(held); // handed to the waiting thread
    /// assert_eq!(waiter.join().unwrap()?, "got the slot");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn acquire_blocking(&self) -> Result<BulkheadPermit, Rejected> {
        let waited = self.wait_for_slot_blocking()?;
        Ok(self.permit(waited))
    }

    /// Awaits `future` holding a slot (acquired as [`acquire`](Self::acquire) does); its value
    /// or error is returned unchanged (the error as [`Error::Operation`]), a rejection as
    /// [`Error::BulkheadFull`] without polling `future`. The slot is given back when the call
    /// finishes, panics, or its future is dropped.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use palisade::bulkhead::Bulkhead;
    /// let b = Bulkhead::builder().max_concurrent(8).build()?;
    /// let rows = b.call(async { Ok::<_, std::io::Error>(42) }).await?;
    /// assert_eq!(rows, 42);
    /// assert_eq!(b.in_flight(), 0);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn call<T, E, Fut>(&self, future: Fut) -> Result<T, Error<E>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        self.run(async { future.await.map_err(Error::Operation) })
            .await
    }

    /// [`call`](Self::call) for any runtime: `max_wait` is measured by `sleeper`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use palisade::bulkhead::Bulkhead;
    /// let b = Bulkhead::builder().build()?;
    /// let v = b.call_with_sleeper(async { Ok::<_, std::io::Error>(1) }, tokio::time::sleep).await?;
    /// assert_eq!(v, 1);
    /// # Ok(()) }
    /// ```
    pub async fn call_with_sleeper<T, E, Fut, S>(
        &self,
        future: Fut,
        sleeper: S,
    ) -> Result<T, Error<E>>
    where
        Fut: Future<Output = Result<T, E>>,
        S: Sleeper,
    {
        let waited = self.wait_for_slot(|d| sleeper.sleep(d)).await?;
        let _slot = self.slot(waited);
        future.await.map_err(Error::Operation)
    }

    /// The bulkhead for a pipeline, whose inner steps already speak [`Error`] (an inner
    /// policy's rejection passes through unchanged). Holds a borrowed slot: no allocation, no
    /// reference count.
    #[cfg(feature = "tokio")]
    pub(crate) async fn run<T, E, Fut>(&self, future: Fut) -> Result<T, Error<E>>
    where
        Fut: Future<Output = Result<T, Error<E>>>,
    {
        let waited = self.wait_for_slot(tokio::time::sleep).await?;
        let _slot = self.slot(waited);
        future.await
    }

    /// Runs `operation` holding a slot (acquired as
    /// [`acquire_blocking`](Self::acquire_blocking) does); a rejection is
    /// [`Error::BulkheadFull`] without running it. The slot is given back when `operation`
    /// returns or panics.
    ///
    /// ```
    /// use palisade::{Error, bulkhead::Bulkhead};
    /// let b = Bulkhead::builder().max_concurrent(1).build()?;
    /// assert_eq!(b.call_blocking(|| Ok::<_, &str>(7)), Ok(7));
    /// let _held = b.try_acquire()?;
    /// let full = b.call_blocking(|| Ok::<_, &str>(8));
    /// assert!(matches!(full, Err(Error::BulkheadFull { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn call_blocking<T, E, F>(&self, operation: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        self.run_blocking(|| operation().map_err(Error::Operation))
    }

    /// [`call_blocking`](Self::call_blocking) for a pipeline's inner steps, which already
    /// speak [`Error`].
    pub(crate) fn run_blocking<T, E, F>(&self, operation: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, Error<E>>,
    {
        let waited = self.wait_for_slot_blocking()?;
        let _slot = self.slot(waited);
        operation()
    }

    /// Takes a slot for the caller (who must wrap it in a guard before anything can panic or
    /// be cancelled); returns how long it waited.
    async fn wait_for_slot<S, T>(&self, timer: T) -> Result<Duration, Rejected>
    where
        S: Future<Output = ()>,
        T: FnOnce(Duration) -> S,
    {
        let shared = &*self.shared;
        if shared.try_take() {
            return Ok(Duration::ZERO);
        }
        let start = shared.clock.now();
        let waiting = match shared.enqueue() {
            Ok(Entry::Admitted) => return Ok(Duration::ZERO),
            Ok(Entry::Queued(waiting)) => waiting,
            Err(reason) => return Err(shared.reject(reason)),
        };
        // A grant seen in the same poll as the timer wins; a later one is passed on by
        // `Waiting`'s drop.
        let granted = match shared.config.max_wait {
            None => {
                waiting.await;
                true
            }
            Some(max_wait) => first(waiting, timer(max_wait)).await.is_some(),
        };
        self.after_wait(granted, start)
    }

    fn wait_for_slot_blocking(&self) -> Result<Duration, Rejected> {
        let shared = &*self.shared;
        if shared.try_take() {
            return Ok(Duration::ZERO);
        }
        let start = shared.clock.now();
        let mut waiting = match shared.enqueue() {
            Ok(Entry::Admitted) => return Ok(Duration::ZERO),
            Ok(Entry::Queued(waiting)) => waiting,
            Err(reason) => return Err(shared.reject(reason)),
        };
        let give_up_at = shared.config.max_wait.map(|w| start.saturating_add(w));
        let granted = park_until_granted(&mut waiting, &shared.clock, give_up_at);
        drop(waiting);
        self.after_wait(granted, start)
    }

    fn after_wait(&self, granted: bool, start: Instant) -> Result<Duration, Rejected> {
        let shared = &*self.shared;
        match (granted, shared.config.max_wait) {
            (true, _) => Ok(shared.clock.now().saturating_duration_since(start)),
            (false, Some(max_wait)) => Err(shared.reject(RejectReason::WaitedTooLong { max_wait })),
            // Without `max_wait` a wait only ends granted.
            (false, None) => Err(shared.reject(RejectReason::Full)),
        }
    }

    /// Wraps a slot just taken in an owned permit, then reports it.
    fn permit(&self, waited: Duration) -> BulkheadPermit {
        let permit = BulkheadPermit {
            shared: Arc::clone(&self.shared),
        };
        self.shared.permitted(waited);
        permit
    }

    /// Wraps a slot just taken in a borrowed guard, then reports it.
    fn slot(&self, waited: Duration) -> Slot<'_> {
        let slot = Slot(&self.shared);
        self.shared.permitted(waited);
        slot
    }

    /// Slots free right now.
    ///
    /// ```
    /// let b = palisade::bulkhead::Bulkhead::builder().max_concurrent(2).build()?;
    /// let _p = b.try_acquire()?;
    /// assert_eq!(b.available(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn available(&self) -> usize {
        self.shared.free()
    }

    /// Calls holding a slot right now (including slots just handed to a waiter that has not
    /// woken yet).
    ///
    /// ```
    /// let b = palisade::bulkhead::Bulkhead::builder().max_concurrent(2).build()?;
    /// let _p = b.try_acquire()?;
    /// assert_eq!(b.in_flight(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn in_flight(&self) -> usize {
        self.max_concurrent().saturating_sub(self.available())
    }

    /// Calls waiting in the queue right now.
    ///
    /// ```
    /// let b = palisade::bulkhead::Bulkhead::builder().max_queue(5).build()?;
    /// assert_eq!(b.queued(), 0);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn queued(&self) -> usize {
        usize::try_from(self.shared.queued.load(Ordering::Relaxed)).unwrap_or(usize::MAX)
    }

    /// The most calls in flight at once.
    ///
    /// ```
    /// # use palisade::bulkhead::Bulkhead;
    /// assert_eq!(Bulkhead::builder().max_concurrent(7).build()?.max_concurrent(), 7);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn max_concurrent(&self) -> usize {
        self.shared.config.max_concurrent
    }

    /// The most calls waiting at once (0: no queue).
    ///
    /// ```
    /// # use palisade::bulkhead::Bulkhead;
    /// assert_eq!(Bulkhead::builder().max_queue(3).build()?.max_queue(), 3);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn max_queue(&self) -> usize {
        self.shared.config.max_queue
    }

    /// How long a queued call waits at most (`None`: until a slot comes free).
    ///
    /// ```
    /// # use palisade::bulkhead::Bulkhead;
    /// assert_eq!(Bulkhead::builder().build()?.max_wait(), None);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn max_wait(&self) -> Option<Duration> {
        self.shared.config.max_wait
    }

    /// The bulkhead's settings.
    ///
    /// ```
    /// # use palisade::bulkhead::Bulkhead;
    /// assert_eq!(Bulkhead::builder().build()?.config().max_queue, 0);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn config(&self) -> &BulkheadConfig {
        &self.shared.config
    }

    /// The bulkhead's name (`"bulkhead"` unless set).
    ///
    /// ```
    /// # use palisade::bulkhead::Bulkhead;
    /// assert_eq!(Bulkhead::builder().name("db").build()?.name(), "db");
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The clock that times waits for a slot.
    ///
    /// ```
    /// use palisade::clock::ManualClock;
    /// let b = palisade::bulkhead::Bulkhead::builder().clock(ManualClock::new()).build()?;
    /// assert!(b.clock().is_manual());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }
}

/// Polls `waiting` on this thread, parking between polls, until granted (`true`) or
/// `give_up_at` passes on `clock` (`false`). A grant seen at the same moment wins.
fn park_until_granted(
    waiting: &mut Waiting<'_>,
    clock: &Clock,
    give_up_at: Option<Instant>,
) -> bool {
    // One allocation per blocking wait: the waker that unparks this thread.
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if Pin::new(&mut *waiting).poll(&mut cx).is_ready() {
            return true;
        }
        match give_up_at {
            None => std::thread::park(),
            Some(at) => {
                let now = clock.now();
                if now >= at {
                    return false;
                }
                std::thread::park_timeout(if clock.is_manual() {
                    MANUAL_CLOCK_POLL
                } else {
                    at.saturating_duration_since(now)
                });
            }
        }
    }
}

impl fmt::Debug for Bulkhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("name", &self.shared.name)
            .field("config", &self.shared.config)
            .field("available", &self.available())
            .field("queued", &self.queued())
            .finish_non_exhaustive()
    }
}

/// One slot of a [`Bulkhead`], held until dropped: owned, `'static` and `Send`, so it can move
/// into a spawned task, a thread or a response body. Dropping it — normally, by a panic's
/// unwinding or with a cancelled future — gives the slot back (to the first waiter, if any).
///
/// ```
/// use palisade::bulkhead::Bulkhead;
/// let b = Bulkhead::builder().max_concurrent(1).build()?;
/// let permit = b.try_acquire()?;
/// std::thread::spawn(move || drop(permit)).join().unwrap();
/// assert_eq!(b.available(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "the slot is given back as soon as the permit is dropped"]
pub struct BulkheadPermit {
    shared: Arc<Shared>,
}

impl BulkheadPermit {
    /// The name of the bulkhead this permit belongs to.
    ///
    /// ```
    /// let b = palisade::bulkhead::Bulkhead::builder().name("db").build()?;
    /// assert_eq!(b.try_acquire()?.bulkhead_name(), "db");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bulkhead_name(&self) -> &str {
        &self.shared.name
    }
}

impl Drop for BulkheadPermit {
    fn drop(&mut self) {
        self.shared.released();
    }
}

impl fmt::Debug for BulkheadPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadPermit")
            .field("bulkhead", &self.shared.name)
            .finish()
    }
}

/// Builds a [`Bulkhead`]; start with [`Bulkhead::builder`].
///
/// Every setter accepts any value; [`build`](BulkheadBuilder::build) checks them and names the
/// first bad field and its value.
///
/// ```
/// use palisade::bulkhead::Bulkhead;
/// use std::time::Duration;
/// let bulkhead = Bulkhead::builder()
///     .name("pdf-render")
///     .max_concurrent(4)
///     .max_queue(16)
///     .max_wait(Duration::from_secs(2))
///     .build()?;
/// assert_eq!(bulkhead.max_wait(), Some(Duration::from_secs(2)));
///
/// let err = Bulkhead::builder().max_concurrent(0).build().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid bulkhead configuration: max_concurrent = 0: must be between 1 and 4294967295"
/// );
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub struct BulkheadBuilder {
    config: BulkheadConfig,
    base: Base<Bulkhead>,
    /// The first bad value given to a `*_secs` setter, reported by `build()`.
    error: validate::DeferredError,
}

impl BulkheadBuilder {
    fn new(config: BulkheadConfig) -> Self {
        BulkheadBuilder {
            config,
            base: Base::new(),
            error: validate::DeferredError::default(),
        }
    }

    /// Calls allowed in flight at once; at least 1, default 25.
    ///
    /// ```
    /// let b = palisade::bulkhead::Bulkhead::builder().max_concurrent(100).build()?;
    /// assert_eq!(b.available(), 100);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn max_concurrent(mut self, max: usize) -> Self {
        self.config.max_concurrent = max;
        self
    }

    /// Calls allowed to wait when every slot is busy; default 0 (reject at once).
    ///
    /// ```
    /// let b = palisade::bulkhead::Bulkhead::builder().max_queue(50).build()?;
    /// assert_eq!(b.max_queue(), 50);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn max_queue(mut self, max: usize) -> Self {
        self.config.max_queue = max;
        self
    }

    /// How long a queued call waits before it is rejected; by default it waits until a slot
    /// comes free. Needs a queue ([`max_queue`](Self::max_queue) above 0): without one,
    /// `build()` reports this setting as having no effect.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = palisade::bulkhead::Bulkhead::builder()
    ///     .max_queue(10)
    ///     .max_wait(Duration::from_millis(500))
    ///     .build()?;
    /// assert_eq!(b.max_wait(), Some(Duration::from_millis(500)));
    /// let err = palisade::bulkhead::Bulkhead::builder().max_wait(Duration::from_millis(500)).build().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("max_wait", "500ms"));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.config.max_wait = Some(max_wait);
        self.error.clear("max_wait");
        self
    }

    /// [`max_wait`](Self::max_wait) in seconds; NaN, negative and zero are reported by
    /// `build()`.
    ///
    /// ```
    /// let err = palisade::bulkhead::Bulkhead::builder().max_queue(1).max_wait_secs(-2.0).build().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("max_wait", "-2s"));
    /// ```
    pub fn max_wait_secs(mut self, secs: f64) -> Self {
        if let Some(max_wait) = self.error.secs(POLICY, "max_wait", secs) {
            self.config.max_wait = Some(max_wait);
        }
        self
    }

    /// Validates the settings and builds the bulkhead.
    ///
    /// ```
    /// let err = palisade::bulkhead::Bulkhead::builder().max_concurrent(0).build().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("max_concurrent", "0"));
    /// ```
    pub fn build(self) -> Result<Bulkhead, ConfigError> {
        self.error.check()?;
        self.config.validate()?;
        Ok(Bulkhead {
            shared: Arc::new(Shared {
                name: self.base.name_or(POLICY),
                state: AtomicU64::new(self.config.max_concurrent as u64),
                config: self.config,
                clock: self.base.clock,
                listeners: self.base.listeners,
                queue: Mutex::new(VecDeque::new()),
                queued: AtomicU64::new(0),
            }),
        })
    }
}

impl fmt::Debug for BulkheadBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadBuilder")
            .field("config", &self.config)
            .field("base", &self.base)
            .field("error", &self.error)
            .finish()
    }
}

builder_base!(
    BulkheadBuilder,
    kind = Bulkhead,
    policy = Bulkhead,
    make = "palisade::bulkhead::Bulkhead::builder()",
    build = ".build()"
);
