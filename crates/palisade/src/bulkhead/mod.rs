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
//! let report = bulkhead.call(|| async { Ok::<_, std::io::Error>("quarterly") }).await?;
//! assert_eq!(report, "quarterly");
//!
//! // Two calls in flight (held here as permits): a third is turned away at once.
//! let (a, b) = (bulkhead.try_acquire()?, bulkhead.try_acquire()?);
//! let third = bulkhead.call(|| async { Ok::<_, std::io::Error>("annual") }).await;
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
//! wait, `max_wait` how long. The defaults are resilience4j's and Polly's: 25 concurrent calls, no queue.
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
//! Async and blocking waits give up after `max_wait` on the policy's [`Clock`], which also
//! measures the waiting time reported in events: on a
//! [`ManualClock`](crate::clock::ManualClock) every wait runs on virtual time.

mod config;
mod event;
mod permit;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use config::{BulkheadBuilder, BulkheadConfig};
pub use event::{BulkheadEvent, RejectReason, Rejected};
pub use permit::BulkheadPermit;

use crate::clock::{self, Clock, Instant};
use crate::error::{ConfigError, Error};
use crate::future::first;
use crate::listener::{Kind, Listeners};
use crate::sync::semaphore::{Entry, Semaphore};
use permit::Slot;

const POLICY: &str = "bulkhead";

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

struct Shared {
    name: Arc<str>,
    config: BulkheadConfig,
    clock: Clock,
    listeners: Listeners<Bulkhead>,
    /// The slots and the FIFO queue of calls waiting for one.
    slots: Semaphore,
}

impl Shared {
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
        self.slots.release();
        self.listeners
            .emit(|| BulkheadEvent::Released { name: &self.name });
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
        if self.shared.slots.try_acquire() {
            Ok(self.permit(Duration::ZERO))
        } else {
            Err(self.shared.reject(RejectReason::Full))
        }
    }

    /// A free slot if one is free now, as [`acquire`](Self::acquire) would take it without
    /// waiting; `None` (nothing published) otherwise.
    #[inline]
    pub(crate) fn acquire_free(&self) -> Option<BulkheadPermit> {
        self.shared
            .slots
            .try_acquire()
            .then(|| self.permit(Duration::ZERO))
    }

    /// Takes a slot, waiting in the queue if the bulkhead is full and has one (see the
    /// [module docs](self)): rejected at once if there is no queue or it is full, after
    /// `max_wait` if no slot comes free by then. Cancel-safe: dropping the future leaves the
    /// queue and holds nothing. `max_wait` is measured on the bulkhead's clock.
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
    pub async fn acquire(&self) -> Result<BulkheadPermit, Rejected> {
        let waited = self.wait_for_slot().await?;
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
    /// let rows = b.call(|| async { Ok::<_, std::io::Error>(42) }).await?;
    /// assert_eq!(rows, 42);
    /// assert_eq!(b.in_flight(), 0);
    /// # Ok(()) }
    /// ```
    pub async fn call<T, E, F, Fut>(&self, operation: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let waited = self.wait_for_slot().await?;
        let _slot = self.slot(waited);
        operation().await.map_err(Error::Operation)
    }

    /// The bulkhead for a pipeline, whose inner steps already speak [`Error`] (an inner
    /// policy's rejection passes through unchanged). Holds a borrowed slot: no allocation, no
    /// reference count.
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
    /// Waits for a slot (up to `max_wait`), measured on the bulkhead's clock; the time
    /// waited.
    async fn wait_for_slot(&self) -> Result<Duration, Rejected> {
        let shared = &*self.shared;
        if shared.slots.try_acquire() {
            return Ok(Duration::ZERO);
        }
        let start = shared.clock.now();
        let waiting = match self.enqueue()? {
            Entry::Acquired => return Ok(Duration::ZERO),
            Entry::Queued(waiting) => waiting,
        };
        // A grant seen in the same poll as the timer wins; a later one is passed on by
        // `Waiting`'s drop.
        let granted = match shared.config.max_wait {
            None => {
                waiting.await;
                true
            }
            Some(max_wait) => {
                let give_up = shared.clock.sleep_until(start.saturating_add(max_wait));
                first(waiting, give_up).await.is_some()
            }
        };
        self.after_wait(granted, start)
    }

    /// [`wait_for_slot`](Self::wait_for_slot) on this thread.
    fn wait_for_slot_blocking(&self) -> Result<Duration, Rejected> {
        let shared = &*self.shared;
        if shared.slots.try_acquire() {
            return Ok(Duration::ZERO);
        }
        let start = shared.clock.now();
        let waiting = match self.enqueue()? {
            Entry::Acquired => return Ok(Duration::ZERO),
            Entry::Queued(waiting) => waiting,
        };
        let give_up = shared.config.max_wait.map(|w| start.saturating_add(w));
        let granted = clock::wait_until(&shared.clock, waiting, give_up).is_some();
        self.after_wait(granted, start)
    }

    /// Joins the queue, unless it is full (or the bulkhead keeps no queue).
    fn enqueue(&self) -> Result<Entry<'_>, Rejected> {
        let shared = &*self.shared;
        let max_queue = shared.config.max_queue;
        if max_queue == 0 {
            return Err(shared.reject(RejectReason::Full));
        }
        shared
            .slots
            .enqueue(max_queue)
            .map_err(|_| shared.reject(RejectReason::QueueFull { max_queue }))
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
        self.shared.slots.available()
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
        self.shared.slots.queued()
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
