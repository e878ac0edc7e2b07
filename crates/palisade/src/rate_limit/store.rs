//! Where a limiter's state lives: the [`StateStore`] seam and the in-process [`LocalState`].
//!
//! # Why a seam
//!
//! A fleet that must share one quota (an API key's limit across every replica) keeps the
//! state somewhere all replicas reach — Redis, in `palisade-redis`. [`RateLimiter`] is generic
//! over its store, `RateLimiter<S = LocalState>`, so such a store plugs in behind the same API
//! (`check`, `try_acquire`, waiting, `call`) while the in-process limiter pays nothing for
//! the seam: the store is a type parameter, not a trait object, and [`LocalState`]'s methods
//! inline into the caller.
//!
//! A remote store answers over the network, so the seam has an async decision,
//! [`StateStore::try_acquire_n_async`], which [`RateLimiter::call`](super::RateLimiter::call) and
//! [`RateLimiter::acquire_n`](super::RateLimiter::acquire_n) use; the in-process store answers it without waiting. How a
//! remote store answers when its backend is unreachable (admit, refuse, or fall back to a
//! local limiter) is that store's documented choice; the limiter's API stays the same.
//!
//! # The in-process hot path
//!
//! GCRA and the token bucket keep one `u64` (the theoretical arrival time) and decide with
//! one clock read, one load and one compare-and-swap; the quota's numbers sit behind a
//! sequence lock so [`set_algorithm`](StateStore::set_algorithm) can change them at runtime
//! and every check sees them whole. Fixed window packs window index and count into one word;
//! the sliding windows take a short mutex.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::config::{Algorithm, Kind};
use super::gcra::{Gcra, Wait};
use super::window::{Counts, FixedWindow, SlidingCounter, SlidingLog};
use super::{Denied, RateLimitEvent, RateLimitInfo, RateLimiter, Throttled};
use crate::clock::Clock;
use crate::error::ConfigError;
use crate::listener::Listeners;
use crate::sync::{AtomicU64, Mutex, Ordering, fence, lock};

/// Storage and decision logic of a limiter's quota. [`LocalState`] keeps it in this process;
/// a fleet-wide implementation (Redis) plugs in behind the same [`RateLimiter`] API with
/// [`RateLimiter::with_store`](super::RateLimiter::with_store).
///
/// This seam is public so that integration crates can implement it; its shape may still
/// change before 1.0.
///
/// ```
/// use palisade::rate_limit::{Algorithm, LocalState, Rate, RateLimiter, StateStore};
/// // Any store works behind the same limiter API; here, the in-process one.
/// fn remaining<S: StateStore>(limiter: &RateLimiter<S>) -> u64 {
///     limiter.info().remaining()
/// }
/// let limiter: RateLimiter<LocalState> =
///     RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(5), burst: 5 }).build()?;
/// assert_eq!(remaining(&limiter), 5);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub trait StateStore: Send + Sync + 'static {
    /// Takes `n` permits if available now — all or none. More than can ever be granted at
    /// once is [`Denied::ExceedsCapacity`]; `n = 0` takes nothing and reports.
    fn try_acquire_n(&self, n: u32) -> Result<RateLimitInfo, Denied>;

    /// Takes one permit if available now.
    #[inline]
    fn try_acquire(&self) -> Result<RateLimitInfo, Denied> {
        self.try_acquire_n(1)
    }

    /// Takes one permit if available now, reporting only whether it was granted.
    #[inline]
    fn check(&self) -> Result<(), Throttled> {
        throttled(self.try_acquire_n(1))
    }

    /// [`try_acquire_n`](Self::try_acquire_n) for async callers: a remote store makes its
    /// round trip here. The default answers at once with the synchronous decision.
    fn try_acquire_n_async(
        &self,
        n: u32,
    ) -> impl Future<Output = Result<RateLimitInfo, Denied>> + Send {
        std::future::ready(self.try_acquire_n(n))
    }

    /// What could be taken right now, without taking anything.
    fn info(&self) -> RateLimitInfo;

    /// Changes the quota, keeping the state (permits already taken still count).
    fn set_algorithm(&self, algorithm: Algorithm) -> Result<(), ConfigError>;

    /// The current quota.
    fn algorithm(&self) -> Algorithm;

    /// The limiter's name.
    fn name(&self) -> &Arc<str>;

    /// The clock the limiter keeps time with (waiting sleeps on it).
    fn clock(&self) -> &Clock;
}

/// The in-process store: the quota's state in this process's memory, shared by every clone
/// of the limiter. Built by [`RateLimiter::builder`](super::RateLimiter::builder).
///
/// ```
/// use palisade::rate_limit::{Algorithm, LocalState, Rate, RateLimiter, StateStore};
/// let limiter: RateLimiter<LocalState> =
///     RateLimiter::builder(Algorithm::Gcra { rate: Rate::per_second(1), burst: 2 }).build()?;
/// assert_eq!(limiter.store().info().limit(), 2);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub struct LocalState {
    name: Arc<str>,
    kind: Kind,
    params: Params,
    state: State,
    clock: Clock,
    listeners: Listeners<RateLimiter>,
    /// The configured quota; also serialises `set_algorithm` calls.
    algorithm: Mutex<Algorithm>,
}

/// The two numbers the algorithm needs, plus one derived for GCRA's fast path, behind a
/// sequence lock so a quota change is seen whole: a reader retries if a writer ran while it
/// read.
struct Params {
    version: AtomicU64,
    /// `[a, b, tau]`: the algorithm's two numbers (GCRA: interval and burst; windows: window
    /// and max) and GCRA's `tau = interval × (burst − 1)`, saturated (exact whenever it fits,
    /// and a saturated `tau` admits exactly as the exact one would: see `acquire_one`).
    words: [AtomicU64; 3],
}

impl Params {
    fn new(words: [u64; 2]) -> Self {
        Params {
            version: AtomicU64::new(0),
            words: Self::derive(words).map(AtomicU64::new),
        }
    }

    fn derive([a, b]: [u64; 2]) -> [u64; 3] {
        [a, b, a.saturating_mul(b.saturating_sub(1))]
    }

    /// The algorithm's two numbers.
    #[inline]
    fn read(&self) -> [u64; 2] {
        let [a, b, _] = self.read_all();
        [a, b]
    }

    #[inline]
    fn read_all(&self) -> [u64; 3] {
        loop {
            let before = self.version.load(Ordering::Acquire);
            let words = [
                self.words[0].load(Ordering::Relaxed),
                self.words[1].load(Ordering::Relaxed),
                self.words[2].load(Ordering::Relaxed),
            ];
            fence(Ordering::Acquire);
            if before.is_multiple_of(2) && self.version.load(Ordering::Relaxed) == before {
                return words;
            }
            std::hint::spin_loop();
        }
    }

    /// Caller serialises writers (the `algorithm` mutex).
    fn write(&self, words: [u64; 2]) {
        self.version.fetch_add(1, Ordering::AcqRel);
        fence(Ordering::Release);
        for (cell, word) in self.words.iter().zip(Self::derive(words)) {
            cell.store(word, Ordering::Relaxed);
        }
        self.version.fetch_add(1, Ordering::Release);
    }
}

/// Where an algorithm keeps its state; the variant is the algorithm, so a check dispatches
/// with one match.
enum State {
    /// GCRA and token bucket: the theoretical arrival time, updated by compare-and-swap.
    Gcra(AtomicU64),
    /// Fixed window: window index and count in one word, updated by compare-and-swap.
    FixedWindow(AtomicU64),
    Counter(Mutex<Counts>),
    Log(Mutex<VecDeque<u64>>),
}

impl LocalState {
    pub(crate) fn new(
        name: Arc<str>,
        algorithm: Algorithm,
        kind: Kind,
        params: [u64; 2],
        initial_tokens: Option<u64>,
        clock: Clock,
        listeners: Listeners<RateLimiter>,
    ) -> LocalState {
        let now = clock.now().as_nanos();
        let state = match kind {
            Kind::Gcra => {
                let gcra = Gcra {
                    interval: params[0],
                    burst: params[1],
                };
                // A token bucket that starts with fewer tokens is one whose "full again"
                // time lies ahead by the missing tokens.
                let missing = params[1] - initial_tokens.unwrap_or(params[1]);
                State::Gcra(AtomicU64::new(
                    gcra.initial(now)
                        .saturating_add(missing.saturating_mul(params[0])),
                ))
            }
            Kind::FixedWindow => State::FixedWindow(AtomicU64::new(0)),
            Kind::SlidingCounter => State::Counter(Mutex::new(
                SlidingCounter {
                    window: params[0],
                    max: params[1],
                }
                .initial(now),
            )),
            Kind::SlidingLog => State::Log(Mutex::new(VecDeque::new())),
        };
        LocalState {
            name,
            kind,
            params: Params::new(params),
            state,
            clock,
            listeners,
            algorithm: Mutex::new(algorithm),
        }
    }

    #[inline]
    fn check(&self) -> Result<(), Throttled> {
        self.acquire_one(|_| Ok(()), throttled)
    }

    #[inline]
    fn try_acquire(&self) -> Result<RateLimitInfo, Denied> {
        self.acquire_one(
            |admitted| {
                Ok(Gcra {
                    interval: admitted.interval,
                    burst: admitted.burst,
                }
                .info(admitted.tat, admitted.now))
            },
            |outcome| outcome,
        )
    }

    #[inline(always)]
    fn acquire_one<T>(
        &self,
        admitted: impl FnOnce(Admitted) -> T,
        general: impl FnOnce(Result<RateLimitInfo, Denied>) -> T,
    ) -> T {
        let inner = self;
        if let State::Gcra(word) = &inner.state
            && inner.listeners.is_empty()
        {
            let now = inner.clock.now().as_nanos();
            let [interval, burst, tau] = inner.params.read_all();
            let mut tat = word.load(Ordering::Acquire);
            loop {
                if now < tat.saturating_sub(tau) {
                    break;
                }
                let Some(next) = tat.max(now).checked_add(interval) else {
                    break;
                };
                match word.compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => {
                        return admitted(Admitted {
                            tat: next,
                            now,
                            interval,
                            burst,
                        });
                    }
                    Err(actual) => tat = actual,
                }
            }
            return general(gcra_from(word, tat, Gcra { interval, burst }, now));
        }
        general(self.try_acquire_n_general(1))
    }

    #[inline]
    fn try_acquire_n(&self, n: u32) -> Result<RateLimitInfo, Denied> {
        let inner = self;
        // The hot path — GCRA or token bucket, nobody listening, 1 ≤ n ≤ burst — inline;
        // everything else out of line.
        if let State::Gcra(word) = &inner.state
            && inner.listeners.is_empty()
        {
            let now = inner.clock.now().as_nanos();
            let [interval, burst] = inner.params.read();
            let n = u64::from(n);
            if n.wrapping_sub(1) < burst {
                return update(word, |tat| Gcra { interval, burst }.decide(tat, now, n));
            }
        }
        self.try_acquire_n_general(n)
    }

    #[inline(never)]
    fn try_acquire_n_general(&self, n: u32) -> Result<RateLimitInfo, Denied> {
        let inner = self;
        let n = u64::from(n);
        let now = inner.clock.now().as_nanos();
        let [a, b] = inner.params.read();
        let outcome = if n == 0 {
            Ok(self.info_at(now, [a, b]))
        } else if n > b {
            Err(Denied::ExceedsCapacity {
                requested: n,
                capacity: b,
            })
        } else {
            match &inner.state {
                State::Gcra(word) => update(word, |tat| {
                    Gcra {
                        interval: a,
                        burst: b,
                    }
                    .decide(tat, now, n)
                }),
                State::FixedWindow(word) => update(word, |state| {
                    FixedWindow { window: a, max: b }.decide(state, now, n)
                }),
                State::Counter(counts) => {
                    let mut counts = lock(counts);
                    SlidingCounter { window: a, max: b }
                        .decide(&mut counts, now, n)
                        .map_err(denied)
                }
                State::Log(log) => {
                    let mut log = lock(log);
                    SlidingLog { window: a, max: b }
                        .decide(&mut log, now, n)
                        .map_err(denied)
                }
            }
        };
        // Asking for nothing takes nothing: no event.
        if n > 0 && !inner.listeners.is_empty() {
            publish(&inner.listeners, &inner.name, n, &outcome);
        }
        outcome
    }

    fn info(&self) -> RateLimitInfo {
        self.info_at(self.clock.now().as_nanos(), self.params.read())
    }

    fn info_at(&self, now: u64, [a, b]: [u64; 2]) -> RateLimitInfo {
        match &self.state {
            State::Gcra(word) => Gcra {
                interval: a,
                burst: b,
            }
            .info(word.load(Ordering::Acquire), now),
            State::FixedWindow(word) => {
                FixedWindow { window: a, max: b }.info(word.load(Ordering::Acquire), now)
            }
            State::Counter(counts) => SlidingCounter { window: a, max: b }.info(&lock(counts), now),
            State::Log(log) => SlidingLog { window: a, max: b }.info(&mut lock(log), now),
        }
    }

    fn set_algorithm(&self, algorithm: Algorithm) -> Result<(), ConfigError> {
        let (kind, params, _) = algorithm.compile()?;
        if kind != self.kind {
            return Err(ConfigError::new(
                "rate_limit",
                "algorithm",
                format_args!("{algorithm:?}"),
                "a running limiter keeps its kind of algorithm; build a new limiter to change it",
            ));
        }
        let mut current = lock(&self.algorithm);
        let old = self.params.read();
        let now = self.clock.now().as_nanos();
        // Re-express the state in the new units, so permits already taken still count.
        match &self.state {
            State::Gcra(word) if old[0] != params[0] => {
                convert(word, |tat| Gcra::rescale(tat, now, old[0], params[0]));
            }
            State::FixedWindow(word) if old[0] != params[0] => {
                let from = FixedWindow {
                    window: old[0],
                    max: old[1],
                };
                let to = FixedWindow {
                    window: params[0],
                    max: params[1],
                };
                convert(word, |state| to.carry(from.taken(state, now), now));
            }
            State::Counter(counts) if old[0] != params[0] => {
                let mut counts = lock(counts);
                let from = SlidingCounter {
                    window: old[0],
                    max: old[1],
                };
                let to = SlidingCounter {
                    window: params[0],
                    max: params[1],
                };
                *counts = to.carry(from.estimate(*counts, now), now);
            }
            _ => {}
        }
        self.params.write(params);
        *current = algorithm;
        Ok(())
    }

    fn algorithm(&self) -> Algorithm {
        *lock(&self.algorithm)
    }
}

impl StateStore for LocalState {
    #[inline]
    fn try_acquire_n(&self, n: u32) -> Result<RateLimitInfo, Denied> {
        LocalState::try_acquire_n(self, n)
    }

    #[inline]
    fn try_acquire(&self) -> Result<RateLimitInfo, Denied> {
        LocalState::try_acquire(self)
    }

    #[inline]
    fn check(&self) -> Result<(), Throttled> {
        LocalState::check(self)
    }

    fn info(&self) -> RateLimitInfo {
        LocalState::info(self)
    }

    fn set_algorithm(&self, algorithm: Algorithm) -> Result<(), ConfigError> {
        LocalState::set_algorithm(self, algorithm)
    }

    fn algorithm(&self) -> Algorithm {
        LocalState::algorithm(self)
    }

    fn name(&self) -> &Arc<str> {
        &self.name
    }

    fn clock(&self) -> &Clock {
        &self.clock
    }
}

impl std::fmt::Debug for LocalState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalState")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm())
            .field("info", &self.info())
            .finish_non_exhaustive()
    }
}

/// Applies `decide` to `word` with a compare-and-swap loop; the decision is made on the value
/// the swap succeeds against, so concurrent callers never over-admit.
#[inline]
fn update(
    word: &AtomicU64,
    decide: impl Fn(u64) -> Result<(u64, RateLimitInfo), Wait>,
) -> Result<RateLimitInfo, Denied> {
    update_from(word, word.load(Ordering::Acquire), decide)
}

/// [`update`] starting from `current`, a value already read from `word`.
#[inline]
fn update_from(
    word: &AtomicU64,
    mut current: u64,
    decide: impl Fn(u64) -> Result<(u64, RateLimitInfo), Wait>,
) -> Result<RateLimitInfo, Denied> {
    loop {
        match decide(current) {
            Ok((next, info)) => {
                match word.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => return Ok(info),
                    Err(actual) => current = actual,
                }
            }
            Err(wait) => return Err(denied(wait)),
        }
    }
}

/// A permit admitted on the fast path: what [`RateLimitInfo`] is computed from, if asked.
struct Admitted {
    tat: u64,
    now: u64,
    interval: u64,
    burst: u64,
}

/// One GCRA permit decided by the general (`u128`) path from `tat`, a value already read:
/// the fast path's denials and overflows.
#[cold]
#[inline(never)]
fn gcra_from(word: &AtomicU64, tat: u64, gcra: Gcra, now: u64) -> Result<RateLimitInfo, Denied> {
    update_from(word, tat, |tat| gcra.decide(tat, now, 1))
}

/// A slow-path decision for [`RateLimiter::check`](super::RateLimiter::check), reduced to its small error.
#[cold]
#[inline(never)]
pub(super) fn throttled(outcome: Result<RateLimitInfo, Denied>) -> Result<(), Throttled> {
    match outcome {
        Ok(_) => Ok(()),
        Err(Denied::RateLimited { retry_after, .. }) => Err(Throttled { retry_after }),
        // One permit always fits (burst and max are at least 1); should that ever change,
        // "never" is the honest answer.
        Err(Denied::ExceedsCapacity { .. }) => Err(Throttled {
            retry_after: Duration::MAX,
        }),
    }
}

/// Publishes a decision to `listeners`: shared by the direct and the keyed limiter.
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

/// Replaces `word` with `f(word)` atomically.
fn convert(word: &AtomicU64, f: impl Fn(u64) -> u64) {
    let mut current = word.load(Ordering::Acquire);
    while let Err(actual) =
        word.compare_exchange_weak(current, f(current), Ordering::AcqRel, Ordering::Acquire)
    {
        current = actual;
    }
}

pub(super) fn denied(wait: Wait) -> Denied {
    Denied::RateLimited {
        retry_after: wait.retry_after,
        info: wait.info,
    }
}

#[cfg(all(test, not(palisade_loom)))]
mod tests {
    use super::*;

    #[test]
    fn quota_parameters_are_never_read_torn() {
        // A writer flips between two parameter pairs; readers must only ever see one of them.
        let params = Params::new([1, 100]);
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..200_000u64 {
                    params.write(if i % 2 == 0 { [100, 1] } else { [1, 100] });
                }
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            });
            for _ in 0..3 {
                s.spawn(|| {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let seen = params.read();
                        assert!(seen == [1, 100] || seen == [100, 1], "torn read {seen:?}");
                    }
                });
            }
        });
    }
}
