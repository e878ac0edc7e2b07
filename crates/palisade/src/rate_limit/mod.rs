//! Rate limiting: admit at most so many calls per unit of time.
//!
//! # Why
//!
//! A dependency has a capacity — a database handles so many queries a second, an API allows
//! so many requests a minute — and calls beyond it fail slowly or get you banned. A rate
//! limiter admits calls up to a quota and rejects the rest at once, saying when to come back
//! ([`Denied::RateLimited`] carries `retry_after`), with enough detail (limit, remaining, reset)
//! to answer with `RateLimit-*` and `Retry-After` headers.
//!
//! # Algorithms
//!
//! Five, chosen by [`Algorithm`]: GCRA (the default choice: one `u64` of state, smooth, with
//! a burst), token bucket (the same mathematics with a starting fill), fixed window
//! (`max_requests` per `window`), sliding window counter and
//! sliding window log (exact). GCRA, token bucket and fixed window decide with one
//! compare-and-swap and take no lock.
//!
//! ```
//! use palisade::rate_limit::{Algorithm, Denied, Rate, RateLimiter};
//!
//! let limiter = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(10), burst: 2 })
//!     .name("api")
//!     .build()?;
//! assert!(limiter.try_acquire().is_ok());
//! assert!(limiter.try_acquire().is_ok());
//! match limiter.try_acquire() {
//!     Err(Denied::RateLimited { retry_after, info, .. }) => {
//!         assert_eq!(info.remaining(), 0);
//!         assert!(retry_after <= std::time::Duration::from_millis(100));
//!     }
//!     other => panic!("expected a rejection, got {other:?}"),
//! }
//! // Asking for more than the burst can never succeed: rejected at once, not "later".
//! assert!(matches!(limiter.try_acquire_n(3), Err(Denied::ExceedsCapacity { requested: 3, capacity: 2, .. })));
//! # Ok::<(), palisade::ConfigError>(())
//! ```
//!
//! # Changing the quota
//!
//! [`set_algorithm`](RateLimiter::set_algorithm) changes the quota of a running limiter
//! without losing its state (permits already taken still count), as long as the algorithm
//! stays the same kind.
//!
//! # Keyed limits
//!
//! [`KeyedRateLimiter`] gives every key (user, IP, tenant) its own quota, with memory bounded
//! out of the box: a hard cap on keys, eviction of rested keys only, per-key overrides. See
//! its module for the memory rules.
//!
//! # Waiting
//!
//! [`acquire_n`](RateLimiter::acquire_n) waits until permits are granted — waiters served in
//! arrival order, a dropped waiter leaving the queue holding nothing, an optional maximum
//! wait — and [`acquire_n_blocking`](RateLimiter::acquire_n_blocking) does the same on a
//! thread.

mod config;
mod gcra;
mod info;
mod keyed;
mod local;
pub mod store;
mod window;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use config::{Algorithm, Rate, RateLimiterBuilder};
pub use info::{Denied, RateLimitEvent, RateLimitInfo, Throttled};
pub use keyed::{
    DynKeyedStateStore, KeyedDecision, KeyedRateLimiter, KeyedRateLimiterBuilder, KeyedStateStore,
    KeyedStore, LocalKeyedState,
};
pub use local::LocalState;
pub use store::{DynStateStore, StateStore, Store};

use crate::clock::{self, Clock};
use crate::error::{ConfigError, Error};
use crate::future::first;
use crate::listener::Listeners;
use crate::sync::semaphore::{Entry, QueueFull, Semaphore};
use store::throttled;

/// A rate limiter over one shared quota; see the [module docs](self). Cheap to clone (one
/// `Arc`); clones share the quota.
///
/// The quota's state lives in a store — by default a [`Store`]: in this process
/// ([`LocalState`]) unless the builder is given another with
/// [`store`](RateLimiterBuilder::store). The limiter keeps its name, clock, listeners and
/// queue of waiters itself, whatever the store.
///
/// ```
/// use palisade::rate_limit::{Algorithm, RateLimiter};
/// use std::time::Duration;
/// let limiter = RateLimiter::builder(Algorithm::FixedWindow { max_requests: 2, window: Duration::from_secs(1) }).build()?;
/// assert!(limiter.try_acquire().is_ok());
/// assert!(limiter.try_acquire().is_ok());
/// assert!(limiter.try_acquire().is_err());
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub struct RateLimiter<S = Store> {
    shared: Arc<Shared<S>>,
}

struct Shared<S> {
    name: Arc<str>,
    clock: Clock,
    listeners: Listeners<RateLimiter>,
    store: S,
    /// Whose turn it is to wait for permits: one waiter at a time, in arrival order.
    turn: Semaphore,
}

/// A refusal by [`RateLimiter::admit_in_process`]: the short form when nobody listens.
pub(crate) enum Admission {
    Throttled(Throttled),
    Denied(Denied),
}

/// A store that may be the in-process one.
pub(crate) trait AsInProcess {
    /// The in-process state, if that is where this store keeps it.
    fn in_process(&self) -> Option<&LocalState>;
}

impl AsInProcess for Store {
    #[inline]
    fn in_process(&self) -> Option<&LocalState> {
        match self {
            Store::InProcess(local) => Some(local),
            Store::Custom(_) => None,
        }
    }
}

/// The waiting turn, given to the next waiter when dropped.
struct Turn<'a>(&'a Semaphore);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl<S> Clone for RateLimiter<S> {
    fn clone(&self) -> Self {
        RateLimiter {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl crate::listener::Kind for RateLimiter {
    type Event<'a> = RateLimitEvent<'a>;
}

impl RateLimiter {
    /// Starts building a limiter running `algorithm`.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// let l = RateLimiter::builder(Algorithm::TokenBucket { rate: Rate::per_second(100), capacity: 1000, initial_tokens: None }).build()?;
    /// # let _ = l;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn builder(algorithm: Algorithm) -> RateLimiterBuilder {
        RateLimiterBuilder::new(algorithm)
    }
}

impl<S: StateStore> RateLimiter<S> {
    pub(crate) fn assemble(
        name: Arc<str>,
        clock: Clock,
        listeners: Listeners<RateLimiter>,
        store: S,
    ) -> Self {
        RateLimiter {
            shared: Arc::new(Shared {
                name,
                clock,
                listeners,
                store,
                turn: Semaphore::new(1),
            }),
        }
    }

    /// The store that keeps this limiter's state.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, Rate, RateLimiter, StateStore};
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 3 }).build()?;
    /// assert_eq!(l.store().info(l.clock().now()).remaining(), 3);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    #[inline]
    pub fn store(&self) -> &S {
        &self.shared.store
    }

    /// The store, if this is the last handle to the limiter (`None` while clones exist).
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 3 }).build()?;
    /// let clone = l.clone();
    /// assert!(l.into_store().is_none());
    /// assert!(clone.into_store().is_some());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn into_store(self) -> Option<S> {
        Arc::into_inner(self.shared).map(|shared| shared.store)
    }

    /// Takes one permit if available now, reporting only whether it was granted and, if
    /// not, when to come back — the cheapest check (like governor's `check`). Its error,
    /// [`Throttled`], is 16 bytes, so the result comes back in registers. Use
    /// [`try_acquire`](Self::try_acquire) for the limit, remaining and reset numbers behind
    /// `RateLimit-*` headers.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// use std::time::Duration;
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).build()?;
    /// assert!(l.check().is_ok());
    /// let throttled = l.check().unwrap_err();
    /// assert!(throttled.retry_after() <= Duration::from_secs(1));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    #[inline(always)]
    pub fn check(&self) -> Result<(), Throttled> {
        let shared = &*self.shared;
        let now = shared.clock.now();
        if shared.listeners.is_empty() {
            return shared.store.check(now);
        }
        throttled(self.observed(shared.store.try_acquire_n(now, 1), 1))
    }

    /// Takes one permit if available now.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).build()?;
    /// assert!(l.try_acquire().is_ok());
    /// assert!(l.try_acquire().is_err());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    #[inline(always)]
    pub fn try_acquire(&self) -> Result<RateLimitInfo, Denied> {
        let shared = &*self.shared;
        let now = shared.clock.now();
        // Nobody listening: the decision is the answer, built where the caller wants it (a
        // decision first stored, then moved, costs a store-forwarding stall on its copy).
        if shared.listeners.is_empty() {
            return shared.store.try_acquire(now);
        }
        self.observed(shared.store.try_acquire(now), 1)
    }

    /// Takes `n` permits at once if available now — all or none. More than the limiter can
    /// ever grant at once is [`Denied::ExceedsCapacity`]. `n = 0` takes nothing and reports.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, Rate, RateLimiter, Denied};
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(10), burst: 10 }).build()?;
    /// assert_eq!(l.try_acquire_n(4).map(|i| i.remaining()), Ok(6));
    /// assert!(matches!(l.try_acquire_n(11), Err(Denied::ExceedsCapacity { .. })));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    #[inline]
    pub fn try_acquire_n(&self, n: u32) -> Result<RateLimitInfo, Denied> {
        let shared = &*self.shared;
        let now = shared.clock.now();
        if shared.listeners.is_empty() {
            return shared.store.try_acquire_n(now, n);
        }
        self.observed(shared.store.try_acquire_n(now, n), n)
    }

    /// [`try_acquire_n`](Self::try_acquire_n) for async callers: a store elsewhere makes its
    /// round trip here (the in-process store answers at once).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(10), burst: 10 }).build()?;
    /// assert_eq!(l.try_acquire_async(3).await?.remaining(), 7);
    /// # Ok(()) }
    /// ```
    pub async fn try_acquire_async(&self, n: u32) -> Result<RateLimitInfo, Denied> {
        let shared = &*self.shared;
        let outcome = shared
            .store
            .try_acquire_n_async(shared.clock.now(), n)
            .await;
        if shared.listeners.is_empty() {
            return outcome;
        }
        self.observed(outcome, n)
    }

    /// One permit at `now` (a reading of this limiter's clock) decided in process, as
    /// [`try_acquire_async`](Self::try_acquire_async) would decide it — without a future, and
    /// computing no [`RateLimitInfo`] nobody reads; `None` for a store elsewhere.
    #[inline(always)]
    pub(crate) fn admit_in_process(&self, now: clock::Instant) -> Option<Result<(), Admission>>
    where
        S: AsInProcess,
    {
        let shared = &*self.shared;
        let local = shared.store.in_process()?;
        if shared.listeners.is_empty() {
            return Some(local.check(now).map_err(Admission::Throttled));
        }
        Some(
            self.observed(local.try_acquire(now), 1)
                .map(drop)
                .map_err(Admission::Denied),
        )
    }

    /// Publishes a decision about `n` permits (asking for nothing takes nothing: no event).
    #[cold]
    fn observed(
        &self,
        outcome: Result<RateLimitInfo, Denied>,
        n: u32,
    ) -> Result<RateLimitInfo, Denied> {
        if n > 0 {
            publish(
                &self.shared.listeners,
                &self.shared.name,
                u64::from(n),
                &outcome,
            );
        }
        outcome
    }

    /// Waits until `n` permits are granted, then takes them.
    ///
    /// Waiters are served in arrival order, async and blocking alike: each takes its turn,
    /// and while it is the turn holder it sleeps exactly the `retry_after` it was told.
    /// Nothing is reserved before the permits are granted, so dropping the future (a
    /// cancelled request, a timeout) gives nothing back because it holds nothing — and it
    /// leaves the queue at once. `max_wait` bounds the whole wait, the time queued behind
    /// other waiters included: a request that would have to wait past it fails as soon as
    /// that is known, with the rejection (and its `retry_after`). More than the limiter can
    /// ever grant fails at once with [`Denied::ExceedsCapacity`] — it never waits forever.
    /// Calls to [`try_acquire`](Self::try_acquire) do not queue.
    ///
    /// Every wait is on the limiter's clock (virtual time on a
    /// [`ManualClock`](crate::clock::ManualClock)).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use palisade::clock::Clock;
    /// use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// use std::time::Duration;
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(10), burst: 1 })
    ///     .clock(Clock::tokio())
    ///     .build()?;
    /// let start = tokio::time::Instant::now();
    /// l.acquire_n(1, None).await?;
    /// l.acquire_n(1, None).await?; // waits one interval
    /// assert_eq!(start.elapsed(), Duration::from_millis(100));
    /// // Too long a wait fails at once.
    /// assert!(l.acquire_n(1, Some(Duration::from_millis(10))).await.is_err());
    /// # Ok(()) }
    /// ```
    pub async fn acquire_n(
        &self,
        n: u32,
        max_wait: Option<Duration>,
    ) -> Result<RateLimitInfo, Denied> {
        let clock = self.clock();
        let deadline = max_wait.map(|wait| clock.now().saturating_add(wait));
        let _turn = match self.shared.turn.enqueue(usize::MAX) {
            Ok(Entry::Acquired) => Turn(&self.shared.turn),
            Ok(Entry::Queued(waiting)) => {
                let turn = match deadline {
                    None => {
                        waiting.await;
                        Some(())
                    }
                    Some(deadline) => first(waiting, clock.sleep_until(deadline)).await,
                };
                match turn {
                    Some(()) => Turn(&self.shared.turn),
                    None => return Err(self.gave_up_queued()),
                }
            }
            Err(QueueFull) => return Err(self.gave_up_queued()),
        };
        loop {
            let outcome = self.try_acquire_async(n).await;
            match self.wait_for(outcome, deadline)? {
                Ok(info) => return Ok(info),
                Err(wait) => clock.sleep(wait).await,
            }
        }
    }

    /// [`acquire_n`](Self::acquire_n) for blocking code: the same queue, the same bound, the
    /// thread parked while it waits.
    ///
    /// ```
    /// use palisade::clock::ManualClock;
    /// use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// use std::time::Duration;
    /// let clock = ManualClock::new();
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(10), burst: 1 })
    ///     .clock(clock.clone())
    ///     .build()?;
    /// l.acquire_n_blocking(1, None)?;
    /// l.acquire_n_blocking(1, None)?; // waits one interval of virtual time
    /// assert_eq!(clock.now().as_nanos(), 100_000_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn acquire_n_blocking(
        &self,
        n: u32,
        max_wait: Option<Duration>,
    ) -> Result<RateLimitInfo, Denied> {
        let clock = self.clock();
        let deadline = max_wait.map(|wait| clock.now().saturating_add(wait));
        let _turn = match self.shared.turn.enqueue(usize::MAX) {
            Ok(Entry::Acquired) => Turn(&self.shared.turn),
            Ok(Entry::Queued(waiting)) => match clock::wait_until(clock, waiting, deadline) {
                Some(()) => Turn(&self.shared.turn),
                None => return Err(self.gave_up_queued()),
            },
            Err(QueueFull) => return Err(self.gave_up_queued()),
        };
        loop {
            match self.wait_for(self.try_acquire_n(n), deadline)? {
                Ok(info) => return Ok(info),
                Err(wait) => clock.sleep_blocking(wait),
            }
        }
    }

    /// One step of a waiting acquisition: granted (`Ok(Ok)`), sleep this long (`Ok(Err)`), or
    /// give up (`Err`: never satisfiable, or the wait would pass the deadline).
    fn wait_for(
        &self,
        outcome: Result<RateLimitInfo, Denied>,
        deadline: Option<crate::clock::Instant>,
    ) -> Result<Result<RateLimitInfo, Duration>, Denied> {
        match outcome {
            Ok(info) => Ok(Ok(info)),
            Err(Denied::RateLimited { retry_after, info }) => {
                if deadline.is_some_and(|d| self.clock().now().saturating_add(retry_after) > d) {
                    return Err(Denied::RateLimited { retry_after, info });
                }
                Ok(Err(retry_after))
            }
            Err(never) => Err(never),
        }
    }

    /// The rejection of a waiter whose `max_wait` ran out in the queue, before its turn: come
    /// back once the limiter has refilled (waiters ahead may take what refills before).
    #[cold]
    fn gave_up_queued(&self) -> Denied {
        let info = self.info();
        Denied::RateLimited {
            retry_after: info.reset_after(),
            info,
        }
    }

    /// What could be taken right now, without taking anything.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(10), burst: 3 }).build()?;
    /// assert_eq!(l.info().remaining(), 3);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn info(&self) -> RateLimitInfo {
        self.store().info(self.clock().now())
    }

    /// Runs `operation` if a permit is available now; otherwise returns
    /// [`Error::RateLimited`] (or [`Error::InsufficientCapacity`]) without running it.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// use palisade::Error;
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).build()?;
    /// assert_eq!(l.call_blocking(|| Ok::<_, ()>(1)), Ok(1));
    /// assert!(matches!(l.call_blocking(|| Ok::<_, ()>(2)), Err(Error::RateLimited { .. })));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn call_blocking<T, E, F>(&self, operation: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        self.try_acquire().map_err(|d| self.rejection(d))?;
        operation().map_err(Error::Operation)
    }

    /// Awaits `future` if a permit is available now; otherwise returns
    /// [`Error::RateLimited`] without polling it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 }).build()?;
    /// assert_eq!(l.call(|| async { Ok::<_, std::io::Error>(1) }).await?, 1);
    /// # Ok(()) }
    /// ```
    pub async fn call<T, E, F, Fut>(&self, operation: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        self.try_acquire_async(1)
            .await
            .map_err(|d| self.rejection(d))?;
        operation().await.map_err(Error::Operation)
    }

    /// The [`Error`] a call gets for `denied`: [`Error::RateLimited`] or
    /// [`Error::InsufficientCapacity`], named after this limiter.
    /// The pipeline's error for a refusal by [`admit_in_process`](Self::admit_in_process).
    #[cold]
    pub(crate) fn refusal<E>(&self, refusal: Admission) -> Error<E> {
        match refusal {
            Admission::Throttled(throttled) => Error::RateLimited {
                name: Arc::clone(&self.shared.name),
                retry_after: throttled.retry_after(),
            },
            Admission::Denied(denied) => self.rejection(denied),
        }
    }

    pub(crate) fn rejection<E>(&self, denied: Denied) -> Error<E> {
        match denied {
            Denied::RateLimited { retry_after, .. } => Error::RateLimited {
                name: Arc::clone(&self.shared.name),
                retry_after,
            },
            Denied::ExceedsCapacity {
                requested,
                capacity,
            } => Error::InsufficientCapacity {
                name: Arc::clone(&self.shared.name),
                requested,
                capacity,
            },
        }
    }

    /// Changes the quota of the running limiter, keeping its state: permits already taken
    /// still count against the new quota. The algorithm must stay the same kind (GCRA and
    /// token bucket may be exchanged, since they share their state); the error names the
    /// offending field otherwise.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(10), burst: 1 }).build()?;
    /// l.try_acquire().unwrap();
    /// assert!(l.try_acquire().is_err());
    /// l.set_algorithm(Algorithm::Gcra { rate: Rate::per_second(10), burst: 2 })?;
    /// assert!(l.try_acquire().is_ok()); // the larger burst applies to the existing state
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn set_algorithm(&self, algorithm: Algorithm) -> Result<(), ConfigError> {
        self.store().set_algorithm(self.clock().now(), algorithm)
    }

    /// The current quota.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// let a = Algorithm::Gcra { rate: Rate::per_second(5), burst: 5 };
    /// assert_eq!(RateLimiter::builder(a).build()?.algorithm(), a);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn algorithm(&self) -> Algorithm {
        self.store().algorithm()
    }

    /// The limiter's name.
    ///
    /// ```
    /// # use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(5), burst: 5 }).build()?;
    /// assert_eq!(l.name(), "rate_limit");
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The limiter's clock.
    ///
    /// ```
    /// use palisade::clock::ManualClock;
    /// use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
    /// let l = RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 1 })
    ///     .clock(ManualClock::new())
    ///     .build()?;
    /// assert!(l.clock().is_manual());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }
}

impl<S: StateStore> fmt::Debug for RateLimiter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("name", &self.shared.name)
            .field("algorithm", &self.algorithm())
            .field("info", &self.info())
            .finish_non_exhaustive()
    }
}

/// Publishes a decision about `permits` permits to `listeners`.
#[cold]
pub(super) fn publish(
    listeners: &Listeners<RateLimiter>,
    name: &str,
    permits: u64,
    outcome: &Result<RateLimitInfo, Denied>,
) {
    listeners.emit(|| match outcome {
        Ok(info) => RateLimitEvent::Permitted {
            name,
            permits,
            remaining: info.remaining(),
        },
        Err(denied) => RateLimitEvent::Rejected {
            name,
            permits,
            retry_after: denied.retry_after(),
        },
    });
}
