//! [`LocalState`]: a limiter's quota state in this process.
//!
//! GCRA and the token bucket keep one `u64` (the theoretical arrival time) and decide with
//! one load and one compare-and-swap; the quota's numbers sit behind a sequence lock so
//! [`set_algorithm`](StateStore::set_algorithm) can change them at runtime and every check
//! sees them whole. Fixed window packs window index and count into one word; the sliding
//! windows take a short mutex. One permit is decided inline in `u64` arithmetic against a
//! precomputed `tau`, denials included (provably the exact answer); overflow and the
//! other algorithms go out of line to the exact `u128` path.

use std::collections::VecDeque;
use std::time::Duration;

use super::config::{Algorithm, Kind};
use super::gcra::{Gcra, NEVER, Wait};
use super::store::{StateStore, throttled};
use super::window::{Counts, FixedWindow, SlidingCounter, SlidingLog};
use super::{Denied, RateLimitInfo, Throttled};
use crate::clock::Instant;
use crate::error::ConfigError;
use crate::sync::seqlock::SeqLock;
use crate::sync::{AtomicU64, Mutex, Ordering, lock};

/// The in-process store: the quota's state in this process's memory, shared by every clone
/// of the limiter; see the [module docs](crate::rate_limit). What [`RateLimiter::builder`](super::RateLimiter::builder)
/// gives a limiter unless told otherwise.
///
/// ```
/// use palisade::rate_limit::{Algorithm, LocalState, Rate, StateStore};
/// use palisade::clock::Instant;
/// let state = LocalState::new(Algorithm::Gcra { rate: Rate::per_second(1), burst: 2 }, Instant::default())?;
/// assert_eq!(state.info(Instant::default()).limit(), 2);
/// assert!(state.check(Instant::default()).is_ok());
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub struct LocalState {
    kind: Kind,
    params: Params,
    state: State,
    /// The configured quota; also serialises `set_algorithm` calls.
    algorithm: Mutex<Algorithm>,
}

/// The two numbers the algorithm needs, plus one derived for GCRA's fast path, behind a
/// sequence lock so a quota change is seen whole: a reader retries if a writer ran while it
/// read.
///
/// The words are `[a, b, tau]`: the algorithm's two numbers (GCRA: interval and burst;
/// windows: window and max) and GCRA's `tau = interval × (burst − 1)`, saturated (exact
/// whenever it fits, and a saturated `tau` admits exactly as the exact one would: see
/// `acquire_one`).
struct Params(SeqLock<3>);

impl Params {
    fn new(words: [u64; 2]) -> Self {
        Params(SeqLock::new(Self::derive(words)))
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
        self.0.read()
    }

    /// Caller serialises writers (the `algorithm` mutex).
    fn write(&self, words: [u64; 2]) {
        self.0.write(Self::derive(words));
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
    /// A full quota of `algorithm` at `now` (on the clock the limiter will use); an invalid
    /// algorithm is an error naming the field.
    ///
    /// ```
    /// use palisade::rate_limit::{Algorithm, LocalState, Rate};
    /// let err = LocalState::new(Algorithm::Gcra { rate: Rate::per_second(0), burst: 1 }, Default::default())
    ///     .unwrap_err();
    /// assert_eq!(err.field(), "rate");
    /// ```
    pub fn new(algorithm: Algorithm, now: Instant) -> Result<LocalState, ConfigError> {
        let (kind, params, initial_tokens) = algorithm.compile()?;
        let now = now.as_nanos();
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
        Ok(LocalState {
            kind,
            params: Params::new(params),
            state,
            algorithm: Mutex::new(algorithm),
        })
    }

    #[inline]
    fn check_at(&self, now: u64) -> Result<(), Throttled> {
        match self.acquire_one(now) {
            One::Admitted(_) => Ok(()),
            One::Rejected { wait, .. } => Err(Throttled::from_nanos(wait)),
            One::Slow => throttled(self.acquire_one_slow(now)),
        }
    }

    #[inline]
    fn try_acquire_at(&self, now: u64) -> Result<RateLimitInfo, Denied> {
        match self.acquire_one(now) {
            One::Admitted(admitted) => Ok(Gcra {
                interval: admitted.interval,
                burst: admitted.burst,
            }
            .info(admitted.tat, admitted.now)),
            One::Rejected { wait, tat, gcra } => Err(Denied::RateLimited {
                retry_after: Duration::from_nanos(wait),
                info: gcra.info(tat, now),
            }),
            One::Slow => self.acquire_one_slow(now),
        }
    }

    /// One permit on GCRA's fast path: `u64` arithmetic, one compare-and-swap, every answer
    /// exactly the general (`u128`) path's. What it cannot decide in `u64` — a `tat` whose
    /// next step overflows, other algorithms — is [`One::Slow`].
    ///
    /// Exactness of a rejection: the fast path rejects when `now < tat − tau` with `tau`
    /// saturated. A saturated `tau` is `u64::MAX`, so `tat − tau` is 0 and nothing is rejected;
    /// a rejection therefore used the exact `tau`, and the wait `tat − tau − now` is the
    /// general path's `earliest − now` (for `tat = NEVER`, "never": `u64::MAX`).
    #[inline(always)]
    fn acquire_one(&self, now: u64) -> One {
        let State::Gcra(word) = &self.state else {
            return One::Slow;
        };
        let [interval, burst, tau] = self.params.read_all();
        let mut tat = word.load(Ordering::Acquire);
        loop {
            let earliest = tat.saturating_sub(tau);
            if now < earliest {
                let wait = if tat == NEVER {
                    u64::MAX
                } else {
                    earliest - now
                };
                let gcra = Gcra { interval, burst };
                return One::Rejected { wait, tat, gcra };
            }
            let Some(next) = tat.max(now).checked_add(interval) else {
                return One::Slow;
            };
            match word.compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    return One::Admitted(Admitted {
                        tat: next,
                        now,
                        interval,
                        burst,
                    });
                }
                Err(actual) => tat = actual,
            }
        }
    }

    /// What [`acquire_one`](Self::acquire_one) leaves to the general path.
    #[cold]
    #[inline(never)]
    fn acquire_one_slow(&self, now: u64) -> Result<RateLimitInfo, Denied> {
        self.try_acquire_n_general(now, 1)
    }

    #[inline]
    fn try_acquire_n_at(&self, now: u64, n: u32) -> Result<RateLimitInfo, Denied> {
        let inner = self;
        // The hot path — GCRA or token bucket, 1 ≤ n ≤ burst — inline; everything else out
        // of line.
        if let State::Gcra(word) = &inner.state {
            let [interval, burst] = inner.params.read();
            let n = u64::from(n);
            if n.wrapping_sub(1) < burst {
                return update(word, |tat| Gcra { interval, burst }.decide(tat, now, n));
            }
        }
        self.try_acquire_n_general(now, n)
    }

    #[inline(never)]
    fn try_acquire_n_general(&self, now: u64, n: u32) -> Result<RateLimitInfo, Denied> {
        let inner = self;
        let n = u64::from(n);
        let [a, b] = inner.params.read();
        if n == 0 {
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
        }
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

    fn set_algorithm_at(&self, now: u64, algorithm: Algorithm) -> Result<(), ConfigError> {
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

    fn current_algorithm(&self) -> Algorithm {
        *lock(&self.algorithm)
    }
}

impl StateStore for LocalState {
    #[inline]
    fn try_acquire_n(&self, now: Instant, n: u32) -> Result<RateLimitInfo, Denied> {
        self.try_acquire_n_at(now.as_nanos(), n)
    }

    #[inline]
    fn try_acquire(&self, now: Instant) -> Result<RateLimitInfo, Denied> {
        self.try_acquire_at(now.as_nanos())
    }

    #[inline]
    fn check(&self, now: Instant) -> Result<(), Throttled> {
        self.check_at(now.as_nanos())
    }

    fn info(&self, now: Instant) -> RateLimitInfo {
        self.info_at(now.as_nanos(), self.params.read())
    }

    fn set_algorithm(&self, now: Instant, algorithm: Algorithm) -> Result<(), ConfigError> {
        self.set_algorithm_at(now.as_nanos(), algorithm)
    }

    fn algorithm(&self) -> Algorithm {
        self.current_algorithm()
    }
}

impl std::fmt::Debug for LocalState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalState")
            .field("algorithm", &self.current_algorithm())
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

/// [`LocalState::acquire_one`]'s answer; inlined away by its callers.
enum One {
    Admitted(Admitted),
    /// Refused: `wait` nanoseconds until a permit, from `tat` under `gcra`.
    Rejected {
        wait: u64,
        tat: u64,
        gcra: Gcra,
    },
    /// Not decided on the fast path.
    Slow,
}

/// Rewrites `word` with `f` of its current value, atomically.
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
