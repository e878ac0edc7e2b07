//! A retry budget: retries as a share of recent calls, shared by every policy of a service.
//!
//! # Why a budget, and not only `max_attempts`
//!
//! `max_attempts` limits one call. It cannot see the others. When a dependency goes down,
//! *every* call fails and *every* call retries `max_attempts − 1` times, so the load on the
//! dependency is multiplied by `max_attempts` exactly when it is least able to take it. Stack
//! two layers that each retry three times and one request becomes nine; three layers make
//! twenty-seven. The extra load keeps the dependency down after the original fault has
//! cleared. That is a **retry storm**: the retries, not the fault, cause the outage.
//!
//! A [`RetryBudget`] is shared by many [`Retry`](super::Retry) policies — typically every
//! policy that calls one dependency. It counts the calls made through them and the retries
//! they make, and grants a retry only while retries stay a small share of recent calls. With
//! few failures it never binds (with the defaults, one call in five may be retried); in an
//! outage it caps the extra load at that share instead of multiplying it, and retry stops
//! with [`StopReason::BudgetExhausted`](super::StopReason::BudgetExhausted).
//!
//! # Why a ratio plus a floor
//!
//! A ratio alone starves quiet clients: a process making one call a second would earn a retry
//! every five seconds, and a process that has just started has earned nothing. So the budget
//! also grants a fixed **floor**, `min_retries_per_sec × ttl` retries per window, whatever the
//! traffic. The floor is small next to a busy service's traffic — harmless to the dependency
//! — and large enough for a quiet client to retry its occasional failure.
//!
//! # The rule (Finagle's `RetryBudget`)
//!
//! - every call through a policy holding the budget **deposits** one call, at its start
//!   (retries deposit nothing);
//! - every retry **withdraws** one retry, and is granted only if, counting it,
//!
//!   ```text
//!   retries in the window ≤ ratio × calls in the window + ⌊min_retries_per_sec × ttl⌋
//!   ```
//!
//! - the **window** is the last `ttl`, kept in 10 buckets of `ttl / 10`: calls and retries
//!   leave it together when their bucket expires, so the window slides in steps of `ttl / 10`
//!   and covers between 0.9 × `ttl` and `ttl` of history.
//!
//! The check is one atomic compare-and-swap, so the bound holds exactly under any number of
//! concurrent callers. The defaults are Finagle's: ratio 0.2, 10 retries per second, a
//! ten-second window — 20 % of calls plus 100 retries per 10 s.
//!
//! A ratio is kept as integer arithmetic: a call earns 1 000 000 units and a retry costs
//! `⌈1 000 000 / ratio⌉`, so the effective ratio is never above the one configured (0.2 is
//! exact; 0.3 becomes 0.29999994). Up to 2³² − 1 retries and 2³² − 1 calls count per window;
//! beyond that the budget only gets stricter.
//!
//! Under concurrency, a call that lands while a bucket rolls over may be counted in the
//! bucket that is closing (so it leaves the window up to `ttl / 10` early: the budget is
//! stricter, never looser); a retry is never counted in a bucket older than the moment it
//! was granted.
//!
//! # Related designs
//!
//! Envoy's retry budget limits *concurrent* retries to `budget_percent` of active requests
//! (default 20 %), with `min_retry_concurrency` (default 3) as the floor. gRPC's retry
//! throttling keeps one token bucket per server: a failure takes a token, a success adds
//! `token_ratio`, and retries stop while fewer than half of `max_tokens` remain. Palisade
//! follows Finagle (and tower): it counts calls over time, needs neither the outcome of a
//! call nor a measure of concurrency, and so works the same for async and blocking calls.
//!
//! # Example
//!
//! ```
//! use palisade::clock::ManualClock;
//! use palisade::retry::{Retry, RetryBudget, StopReason};
//! use palisade::Error;
//! use std::time::Duration;
//!
//! let clock = ManualClock::new();
//! // 10 % of calls, no floor: easy to follow.
//! let budget = RetryBudget::builder()
//!     .ratio(0.1)
//!     .min_retries_per_sec(0)
//!     .clock(clock.clone())
//!     .build()?;
//! // Two policies for one dependency share one budget.
//! let reads = Retry::builder().name("reads").max_attempts(3).clock(clock.clone())
//!     .budget(budget.clone()).build()?;
//! let writes = Retry::builder().name("writes").max_attempts(3).clock(clock.clone())
//!     .budget(budget.clone()).build()?;
//!
//! // Twenty healthy calls earn two retries.
//! for _ in 0..10 {
//!     reads.call_blocking(|| Ok::<_, std::io::Error>(()))?;
//!     writes.call_blocking(|| Ok::<_, std::io::Error>(()))?;
//! }
//! assert_eq!(budget.available(), 2);
//!
//! // The dependency fails: this call (which deposits too) spends both retries...
//! let err = reads.call_blocking(|| Err::<(), _>("down")).unwrap_err();
//! assert!(matches!(err, Error::RetriesExhausted { attempts: 3, .. }));
//! // ...and the next call may not retry at all: the storm is cut.
//! let err = writes.call_blocking(|| Err::<(), _>("down")).unwrap_err();
//! assert!(matches!(
//!     err,
//!     Error::RetriesExhausted { attempts: 1, reason: StopReason::BudgetExhausted, .. }
//! ));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, duration_to_nanos};
use crate::error::ConfigError;
use crate::sync::seqlock::SeqLock;
use crate::sync::{AtomicU64, Mutex, Ordering, lock};
use crate::validate;

use super::peers::BudgetPeers;

const POLICY: &str = "retry_budget";

/// Buckets per window: the window slides in steps of `ttl / BUCKETS`.
const BUCKETS: u64 = 10;
/// Units one call earns (with a ratio above zero); a retry costs `⌈SCALE / ratio⌉`.
const SCALE: u64 = 1_000_000;
/// The largest ratio: a retry then costs 1 000 units, so rounding stays below 0.1 %.
const MAX_RATIO: f64 = 1000.0;
const MIN_TTL: Duration = Duration::from_secs(1);
const MAX_TTL: Duration = Duration::from_secs(60);

/// The ledger word holds calls in its low 32 bits and retries in its high 32.
const RETRY_UNIT: u64 = 1 << 32;
const CALLS_MASK: u64 = RETRY_UNIT - 1;
/// Most retries one window can count (their 32-bit field must not wrap).
const MAX_RETRIES_PER_WINDOW: u64 = CALLS_MASK;

/// The settings of a [`RetryBudget`], as plain data. The defaults are Finagle's: ratio 0.2,
/// 10 retries per second, a ten-second window.
///
/// ```
/// use palisade::retry::{RetryBudget, RetryBudgetConfig};
/// use std::time::Duration;
/// let config = RetryBudgetConfig { ratio: 0.1, ..RetryBudgetConfig::default() };
/// assert_eq!(config.ttl, Duration::from_secs(10));
/// let budget = RetryBudget::from_config(config)?;
/// assert_eq!(budget.config().ratio, 0.1);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryBudgetConfig {
    /// Retries allowed per call in the window, on top of the floor: 0.2 lets one call in
    /// five be retried, 2.0 lets every call be retried twice. From 0 to 1000.
    pub ratio: f64,
    /// The floor: `⌊min_retries_per_sec × ttl⌋` retries are allowed per window even without
    /// traffic. 0 means no floor.
    pub min_retries_per_sec: u32,
    /// How long a call or a retry counts (the window). From 1 s to 60 s, as in Finagle.
    pub ttl: Duration,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        RetryBudgetConfig {
            ratio: 0.2,
            min_retries_per_sec: 10,
            ttl: Duration::from_secs(10),
        }
    }
}

impl RetryBudgetConfig {
    /// Checks every field; the error names the first bad field and its value.
    ///
    /// ```
    /// use palisade::retry::RetryBudgetConfig;
    /// let bad = RetryBudgetConfig { ratio: f64::NAN, ..RetryBudgetConfig::default() };
    /// let err = bad.validate().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("ratio", "NaN"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(0.0..=MAX_RATIO).contains(&self.ratio) {
            return Err(ConfigError::new(
                POLICY,
                "ratio",
                self.ratio,
                "must be a number from 0 to 1000 (retries allowed per call)",
            ));
        }
        validate::positive(POLICY, "ttl", self.ttl)?;
        if !(MIN_TTL..=MAX_TTL).contains(&self.ttl) {
            return Err(ConfigError::new(
                POLICY,
                "ttl",
                format_args!("{:?}", self.ttl),
                "must be from 1s to 60s",
            ));
        }
        Ok(())
    }
}

/// A retry budget shared by many [`Retry`](super::Retry) policies; see the
/// [module docs](self) for why and for the exact rule. Cheap to clone (one `Arc`): clones
/// share one ledger.
///
/// Attach it with [`RetryBuilder::budget`](super::RetryBuilder::budget); the policies
/// deposit and withdraw on their own. [`deposit`](Self::deposit) and
/// [`try_withdraw`](Self::try_withdraw) are public for code that retries by hand.
///
/// ```
/// use palisade::clock::ManualClock;
/// use palisade::retry::RetryBudget;
///
/// let budget = RetryBudget::builder()
///     .ratio(0.2)
///     .min_retries_per_sec(0)
///     .clock(ManualClock::new())
///     .build()?;
/// for _ in 0..10 {
///     budget.deposit();
/// }
/// assert!(budget.try_withdraw()); // 10 calls × 0.2 = 2 retries
/// assert!(budget.try_withdraw());
/// assert!(!budget.try_withdraw());
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct RetryBudget {
    inner: Arc<Inner>,
}

struct Inner {
    config: RetryBudgetConfig,
    clock: Clock,
    /// Units one call earns: `SCALE`, or 0 when the ratio is 0 (or too small to represent).
    earned_per_call: u128,
    /// Units one retry costs: `⌈SCALE / ratio⌉` (1 when calls earn nothing).
    retry_cost: u128,
    /// Retries the floor allows per window: `⌊min_retries_per_sec × ttl⌋`.
    floor: u128,
    ledger: Ledger,
    /// For a budget shared by a fleet: what the other instances counted.
    peers: Option<Arc<BudgetPeers>>,
}

impl RetryBudget {
    /// Starts building a budget from the defaults of [`RetryBudgetConfig`].
    ///
    /// ```
    /// let budget = palisade::retry::RetryBudget::builder().build()?;
    /// assert_eq!(budget.config().min_retries_per_sec, 10);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn builder() -> RetryBudgetBuilder {
        RetryBudgetBuilder {
            config: RetryBudgetConfig::default(),
            clock: None,
            peers: None,
        }
    }

    /// Validates `config` and builds a budget on the default clock.
    ///
    /// ```
    /// use palisade::retry::{RetryBudget, RetryBudgetConfig};
    /// let err = RetryBudget::from_config(RetryBudgetConfig { ratio: -1.0, ..Default::default() })
    ///     .unwrap_err();
    /// assert_eq!(err.field(), "ratio");
    /// ```
    pub fn from_config(config: RetryBudgetConfig) -> Result<RetryBudget, ConfigError> {
        RetryBudgetBuilder {
            config,
            clock: None,
            peers: None,
        }
        .build()
    }

    /// Validates `config` and builds a budget on `clock` (a policy's own budget).
    pub(crate) fn with_clock(
        config: RetryBudgetConfig,
        clock: Clock,
    ) -> Result<RetryBudget, ConfigError> {
        config.validate()?;
        Ok(RetryBudget::assemble(config, clock, None))
    }

    /// Builds a budget from a validated configuration.
    fn assemble(
        config: RetryBudgetConfig,
        clock: Clock,
        peers: Option<Arc<BudgetPeers>>,
    ) -> RetryBudget {
        // ⌈SCALE / ratio⌉, rounded up so the effective ratio is never above the configured
        // one. A ratio so small that one retry would cost more than 2^63 units earns nothing:
        // stricter, never looser.
        let cost = (SCALE as f64 / config.ratio).ceil();
        let (earned_per_call, retry_cost) = if config.ratio > 0.0 && cost < 9.2e18 {
            (u128::from(SCALE), (cost as u128).max(1))
        } else {
            (0, 1)
        };
        let floor = u128::from(config.min_retries_per_sec) * config.ttl.as_nanos() / 1_000_000_000;
        let bucket_nanos = (duration_to_nanos(config.ttl) / BUCKETS).max(1);
        let ledger = Ledger::new(bucket_nanos, clock.now().as_nanos());
        RetryBudget {
            inner: Arc::new(Inner {
                config,
                clock,
                earned_per_call,
                retry_cost,
                floor,
                ledger,
                peers,
            }),
        }
    }

    /// Records one call. A [`Retry`](super::Retry) holding this budget calls it at the start
    /// of every call; call it yourself only for calls that do not go through a policy.
    ///
    /// Costs a clock read (one atomic load on a coarse clock), one load and one
    /// atomic add; once per bucket (`ttl / 10`) one call also writes the bucket's snapshot.
    /// Never blocks, never allocates.
    ///
    /// ```
    /// use palisade::clock::ManualClock;
    /// let budget = palisade::retry::RetryBudget::builder().clock(ManualClock::new()).build()?;
    /// budget.deposit();
    /// assert_eq!(budget.stats().calls, 1);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    #[inline]
    pub fn deposit(&self) {
        let inner = &*self.inner;
        inner.ledger.deposit(inner.clock.now().as_nanos());
    }

    /// Asks for one retry: `true` (and the retry is counted) if it keeps the window within
    /// `ratio × calls + floor`, `false` (and nothing changes) otherwise.
    ///
    /// ```
    /// use palisade::clock::ManualClock;
    /// let budget = palisade::retry::RetryBudget::builder()
    ///     .min_retries_per_sec(1)
    ///     .clock(ManualClock::new())
    ///     .build()?;
    /// // No traffic yet: the floor allows 1 per second × 10 s = 10 retries.
    /// assert_eq!((0..20).filter(|_| budget.try_withdraw()).count(), 10);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn try_withdraw(&self) -> bool {
        let inner = &*self.inner;
        let ledger = &inner.ledger;
        loop {
            // Time and window are read afresh on every pass, so a caller that lost a race
            // (or was descheduled) never decides against a window that has since moved.
            let Some(base) = ledger.window_base(inner.clock.now().as_nanos()) else {
                return false;
            };
            // Acquire, after the base was read: this load sees every count the base
            // includes, so the difference below never runs backwards.
            let current = ledger.cumulative.load(Ordering::Acquire);
            let (calls, retries) = counts(base, current);
            let (peer_calls, peer_retries) = inner.peers();
            if retries.saturating_add(peer_retries)
                >= inner.allowed(calls.saturating_add(peer_calls))
            {
                return false;
            }
            // The check and the count are one compare-and-swap on the word that holds both
            // calls and retries: nothing can change the counts between them.
            if ledger
                .cumulative
                .compare_exchange_weak(
                    current,
                    current.wrapping_add(RETRY_UNIT),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                return true;
            }
        }
    }

    /// Retries that would be granted right now.
    ///
    /// ```
    /// use palisade::clock::ManualClock;
    /// let budget = palisade::retry::RetryBudget::builder().clock(ManualClock::new()).build()?;
    /// assert_eq!(budget.available(), 100); // the default floor: 10 per second × 10 s
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn available(&self) -> u64 {
        self.stats().available
    }

    /// Calls and retries in the window, and retries available now.
    ///
    /// ```
    /// use palisade::clock::ManualClock;
    /// use palisade::retry::{RetryBudget, RetryBudgetStats};
    /// let budget = RetryBudget::builder()
    ///     .ratio(0.5)
    ///     .min_retries_per_sec(0)
    ///     .clock(ManualClock::new())
    ///     .build()?;
    /// budget.deposit();
    /// budget.deposit();
    /// assert!(budget.try_withdraw());
    /// let stats = budget.stats();
    /// assert_eq!((stats.calls, stats.retries, stats.available), (2, 1, 0));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn stats(&self) -> RetryBudgetStats {
        let inner = &*self.inner;
        let ledger = &inner.ledger;
        let Some(base) = ledger.window_base(inner.clock.now().as_nanos()) else {
            return RetryBudgetStats::default();
        };
        let (calls, retries) = counts(base, ledger.cumulative.load(Ordering::Acquire));
        let (peer_calls, peer_retries) = inner.peers();
        RetryBudgetStats {
            calls,
            retries,
            available: inner
                .allowed(calls.saturating_add(peer_calls))
                .saturating_sub(retries.saturating_add(peer_retries)),
            peer_calls,
            peer_retries,
        }
    }

    /// The validated settings.
    ///
    /// ```
    /// let budget = palisade::retry::RetryBudget::builder().ratio(0.1).build()?;
    /// assert_eq!(budget.config().ratio, 0.1);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn config(&self) -> &RetryBudgetConfig {
        &self.inner.config
    }

    /// The clock that ages the window.
    ///
    /// ```
    /// use palisade::clock::ManualClock;
    /// let budget = palisade::retry::RetryBudget::builder().clock(ManualClock::new()).build()?;
    /// assert!(budget.clock().is_manual());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }
}

impl Default for RetryBudget {
    /// Finagle's default budget (see [`RetryBudgetConfig`]) on the default clock.
    fn default() -> Self {
        RetryBudget::assemble(RetryBudgetConfig::default(), Clock::default(), None)
    }
}

impl Inner {
    /// The other instances' calls and retries, for a budget shared by a fleet.
    #[inline]
    fn peers(&self) -> (u64, u64) {
        self.peers.as_ref().map_or((0, 0), |peers| peers.get())
    }

    /// Retries the window may hold with `calls` calls in it.
    #[inline]
    fn allowed(&self, calls: u64) -> u64 {
        let earned = u128::from(calls) * self.earned_per_call / self.retry_cost;
        let allowed = earned.saturating_add(self.floor);
        u64::try_from(allowed)
            .unwrap_or(u64::MAX)
            .min(MAX_RETRIES_PER_WINDOW)
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats = self.stats();
        f.debug_struct("RetryBudget")
            .field("ratio", &self.inner.config.ratio)
            .field(
                "min_retries_per_sec",
                &self.inner.config.min_retries_per_sec,
            )
            .field("ttl", &self.inner.config.ttl)
            .field("calls", &stats.calls)
            .field("retries", &stats.retries)
            .field("available", &stats.available)
            .finish()
    }
}

/// What a [`RetryBudget`] holds right now; see [`RetryBudget::stats`].
///
/// ```
/// use palisade::retry::RetryBudgetStats;
/// let empty = RetryBudgetStats::default();
/// assert_eq!((empty.calls, empty.retries, empty.available), (0, 0, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RetryBudgetStats {
    /// Calls deposited in the window.
    pub calls: u64,
    /// Retries granted in the window.
    pub retries: u64,
    /// Retries that would be granted now: `ratio × calls + floor − retries`, at least 0
    /// (with [peers](RetryBudgetBuilder::peers), their calls and retries count too).
    pub available: u64,
    /// For a budget shared by a fleet: the other instances' calls in their windows, as last
    /// heard (see [`BudgetPeers`]).
    pub peer_calls: u64,
    /// For a budget shared by a fleet: the other instances' retries, as last heard.
    pub peer_retries: u64,
}

/// Builds a [`RetryBudget`]; start with [`RetryBudget::builder`].
///
/// Every setter accepts any value; [`build`](Self::build) checks them and names the first
/// bad field and value.
///
/// ```
/// use palisade::retry::RetryBudget;
/// use std::time::Duration;
///
/// let budget = RetryBudget::builder()
///     .ratio(0.1)
///     .min_retries_per_sec(5)
///     .ttl(Duration::from_secs(30))
///     .build()?;
/// assert_eq!(budget.available(), 150); // 5 per second × 30 s
///
/// let err = RetryBudget::builder().ttl(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err.to_string(), "invalid retry_budget configuration: ttl = 0ns: must be greater than zero");
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RetryBudgetBuilder {
    config: RetryBudgetConfig,
    clock: Option<Clock>,
    peers: Option<Arc<BudgetPeers>>,
}

impl RetryBudgetBuilder {
    /// Retries allowed per call in the window, on top of the floor (default 0.2). From 0 to
    /// 1000; 0 leaves only the floor.
    ///
    /// ```
    /// let err = palisade::retry::RetryBudget::builder().ratio(1001.0).build().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("ratio", "1001"));
    /// ```
    pub fn ratio(mut self, ratio: f64) -> Self {
        self.config.ratio = ratio;
        self
    }

    /// The floor's rate (default 10): `⌊min_retries_per_sec × ttl⌋` retries per window are
    /// allowed even without traffic. 0 means no floor.
    ///
    /// ```
    /// use palisade::clock::ManualClock;
    /// let budget = palisade::retry::RetryBudget::builder()
    ///     .min_retries_per_sec(2)
    ///     .clock(ManualClock::new())
    ///     .build()?;
    /// assert_eq!(budget.available(), 20);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn min_retries_per_sec(mut self, retries: u32) -> Self {
        self.config.min_retries_per_sec = retries;
        self
    }

    /// How long a call or a retry counts (default 10 s); from 1 s to 60 s.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let err = palisade::retry::RetryBudget::builder().ttl(Duration::from_secs(90)).build().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("ttl", "90s"));
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.config.ttl = ttl;
        self
    }

    /// The clock that ages the window. Defaults to [`Clock::default`], like every policy;
    /// [`Clock::coarse`] suits it well (the window moves in steps of `ttl / 10`) once
    /// [`start_coarse_clock`](crate::clock::start_coarse_clock) runs. A
    /// [`ManualClock`](crate::clock::ManualClock) makes it virtual; give the policies the
    /// same one.
    ///
    /// ```
    /// use palisade::clock::ManualClock;
    /// let budget = palisade::retry::RetryBudget::builder().clock(ManualClock::new()).build()?;
    /// assert!(budget.clock().is_manual());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn clock(mut self, clock: impl Into<Clock>) -> Self {
        self.clock = Some(clock.into());
        self
    }

    /// Shares the budget with a fleet: `peers` holds what the other instances counted (a
    /// fleet-wide store such as `palisade-redis` keeps it up to date), and retries are
    /// granted against the fleet's calls and retries (see [`BudgetPeers`]).
    ///
    /// ```
    /// use palisade::retry::{BudgetPeers, RetryBudget};
    /// use std::sync::Arc;
    /// let budget = RetryBudget::builder().peers(Arc::new(BudgetPeers::new())).build()?;
    /// assert_eq!(budget.stats().peer_calls, 0);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn peers(mut self, peers: Arc<BudgetPeers>) -> Self {
        self.peers = Some(peers);
        self
    }

    /// Validates the settings and builds the budget.
    ///
    /// ```
    /// let err = palisade::retry::RetryBudget::builder().ratio(f64::NAN).build().unwrap_err();
    /// assert_eq!(err.to_string(), "invalid retry_budget configuration: ratio = NaN: \
    ///     must be a number from 0 to 1000 (retries allowed per call)");
    /// ```
    pub fn build(self) -> Result<RetryBudget, ConfigError> {
        self.config.validate()?;
        Ok(RetryBudget::assemble(
            self.config,
            self.clock.unwrap_or_default(),
            self.peers,
        ))
    }
}

/// Calls and retries between two readings of the ledger word.
#[inline]
fn counts(base: u64, current: u64) -> (u64, u64) {
    // The word is `calls + retries × 2^32`, wrapping: the difference is exact while a window
    // holds fewer than 2^32 of each. (More calls carry into the retries, which only makes
    // the budget stricter; retries are capped below 2^32 by `allowed`.)
    let delta = current.wrapping_sub(base);
    (delta & CALLS_MASK, delta >> 32)
}

/// The window: one cumulative word of calls and retries, plus a snapshot of it at the start
/// of each bucket (an epoch of `bucket_nanos`). The window's counts are "now minus the
/// snapshot that opens its oldest live bucket".
///
/// Nothing is ever reset on the deposit path, so a rollover can neither lose a call nor
/// count one twice, and an idle budget needs no sweeping: buckets without calls have no
/// snapshot and are skipped. (The same scheme as the circuit breaker's time window.)
struct Ledger {
    bucket_nanos: u64,
    /// Calls in the low 32 bits, retries in the high 32; wrapping.
    cumulative: AtomicU64,
    /// The newest epoch with a snapshot; stored after the snapshot is written.
    last_epoch: AtomicU64,
    /// Slot `epoch % BUCKETS`: the ledger word at the start of `epoch`, tagged with it, so a
    /// reader never pairs an epoch with another epoch's word.
    snapshots: [SeqLock<1>; BUCKETS as usize],
    /// Serialises snapshot writers. Deposits only `try_lock` it (the loser counts on
    /// without waiting); withdrawals wait, so a retry is never counted before the snapshot
    /// that opens its bucket.
    writer: Mutex<()>,
}

impl Ledger {
    fn new(bucket_nanos: u64, now: u64) -> Self {
        let ledger = Ledger {
            bucket_nanos,
            cumulative: AtomicU64::new(0),
            last_epoch: AtomicU64::new(0),
            snapshots: std::array::from_fn(|_| SeqLock::new([0])),
            writer: Mutex::new(()),
        };
        let epoch = ledger.epoch(now);
        ledger.write_snapshot(epoch);
        ledger.last_epoch.store(epoch, Ordering::Release);
        ledger
    }

    #[inline]
    fn epoch(&self, now: u64) -> u64 {
        now / self.bucket_nanos
    }

    /// Whether `now` falls in the newest bucket that has its snapshot (or before it, if the
    /// clock went backwards). One load and a multiply: no division on the hot path.
    #[inline]
    fn is_current(&self, now: u64) -> bool {
        // Acquire pairs with the Release that publishes `last_epoch` after its snapshot.
        let last = self.last_epoch.load(Ordering::Acquire);
        now < last.saturating_add(1).saturating_mul(self.bucket_nanos)
    }

    #[inline]
    fn deposit(&self, now: u64) {
        if !self.is_current(now) {
            self.try_open(now);
        }
        // Relaxed: a count. Every change to the word is a read-modify-write of this one
        // atomic, so no count is lost, and readers order themselves through the snapshots.
        self.cumulative.fetch_add(1, Ordering::Relaxed);
    }

    /// Opens `now`'s bucket unless another caller is already doing so.
    #[cold]
    fn try_open(&self, now: u64) {
        if let Ok(_guard) = self.writer.try_lock() {
            self.open_locked(self.epoch(now));
        }
    }

    fn open_locked(&self, epoch: u64) {
        if epoch > self.last_epoch.load(Ordering::Acquire) {
            self.write_snapshot(epoch);
            self.last_epoch.store(epoch, Ordering::Release);
        }
    }

    /// The ledger word at the start of the window that ends with the newer of `now`'s bucket
    /// and the newest bucket any caller has opened; `None` only if a stalled caller found
    /// every snapshot of its window overwritten.
    fn window_base(&self, now: u64) -> Option<u64> {
        if !self.is_current(now) {
            // A rare, short wait: for the caller writing this bucket's snapshot.
            let _guard = lock(&self.writer);
            self.open_locked(self.epoch(now));
        }
        let newest = self.last_epoch.load(Ordering::Acquire);
        let oldest = newest.saturating_sub(BUCKETS - 1);
        // The first snapshot at or after the oldest live bucket marks where the window's
        // counts start; buckets without one saw no call. `newest` always has one.
        (oldest..=newest).find_map(|epoch| self.snapshot(epoch))
    }

    fn write_snapshot(&self, epoch: u64) {
        let Some(slot) = self.snapshots.get((epoch % BUCKETS) as usize) else {
            return;
        };
        slot.write_tagged(epoch, [self.cumulative.load(Ordering::Acquire)]);
    }

    /// The snapshot of `epoch`, if its slot holds that epoch's.
    fn snapshot(&self, epoch: u64) -> Option<u64> {
        let slot = self.snapshots.get((epoch % BUCKETS) as usize)?;
        let [cumulative] = slot.read_tagged(epoch)?;
        Some(cumulative)
    }
}

#[cfg(all(test, not(palisade_loom)))]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn budget(ratio: f64, min: u32, clock: &ManualClock) -> RetryBudget {
        RetryBudget::builder()
            .ratio(ratio)
            .min_retries_per_sec(min)
            .clock(clock.clone())
            .build()
            .unwrap()
    }

    #[test]
    fn a_retry_costs_at_least_scale_over_ratio() {
        let clock = ManualClock::new();
        for (ratio, cost) in [
            (0.2, 5_000_000),
            (0.3, 3_333_334),
            (1000.0, 1000),
            (2.0, 500_000),
        ] {
            let b = budget(ratio, 0, &clock);
            assert_eq!(b.inner.retry_cost, cost, "ratio {ratio}");
            assert!(SCALE as f64 / b.inner.retry_cost as f64 <= ratio);
        }
        let zero = budget(0.0, 3, &clock);
        assert_eq!((zero.inner.earned_per_call, zero.inner.floor), (0, 30));
        let tiny = budget(1e-300, 0, &clock);
        assert_eq!(tiny.inner.earned_per_call, 0);
    }

    #[test]
    fn the_floor_is_rate_times_ttl_rounded_down() {
        let clock = ManualClock::new();
        let b = RetryBudget::builder()
            .min_retries_per_sec(3)
            .ttl(Duration::from_millis(1_500))
            .clock(clock)
            .build()
            .unwrap();
        assert_eq!(b.inner.floor, 4);
    }

    #[test]
    fn counts_survive_the_word_wrapping() {
        let base = u64::MAX - 5; // 2^32 − 6 calls and 2^32 − 1 retries before the window
        let current = base.wrapping_add(7).wrapping_add(3 * RETRY_UNIT);
        assert_eq!(counts(base, current), (7, 3));
    }

    #[test]
    fn rollovers_lose_no_call_under_concurrency() {
        let clock = ManualClock::new();
        // Ten 1 s buckets; the calls below span 40 ms, so every one stays in the window
        // while buckets are opened under the callers' feet (time starts 5 ms before one).
        clock.advance(Duration::from_millis(995));
        let b = budget(0.2, 0, &clock);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (b, clock) = (b.clone(), clock.clone());
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        clock.advance(Duration::from_nanos(1_000));
                        b.deposit();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(b.stats().calls, 40_000);
    }
}
