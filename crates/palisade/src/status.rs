//! Status export: a snapshot of every registered policy, and a bounded history of recent calls.
//!
//! # Why
//!
//! Metrics answer "how is it trending"; an operator debugging an incident also asks "what is
//! the state of each breaker, limiter and bulkhead right now, and what happened to the last
//! few calls?"[`Registry::status`](crate::registry::Registry::status) takes that snapshot
//! (serializable to JSON with the `serde` feature, see [`StatusReport::to_json`]), and
//! [`History`] keeps, per pipeline, counters and the last N calls, fed by each pipeline's
//! [`PipelineEvent`]s (so nothing is recorded unless a registry was given a history).
//!
//! ```
//! use palisade::pipeline::Pipeline;
//! use palisade::registry::Registry;
//! use palisade::status::History;
//!
//! let history = History::new(100);
//! let registry = Registry::new(|name: &str| Some(Ok(Pipeline::builder().name(name).circuit_breaker(|b| b))))
//!     .with_history(history.clone());
//! let orders = registry.pipeline("orders")?;
//! let _ = orders.call_blocking(|| Ok::<_, std::io::Error>(1));
//! let _ = orders.call_blocking(|| Err::<u8, _>(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)));
//! let status = registry.status();
//! let calls = &status.policies[0].calls;
//! assert_eq!((calls.total, calls.succeeded, calls.failed), (2, 1, 1));
//! assert_eq!(calls.success_rate, Some(50.0));
//! # Ok::<(), palisade::ConfigError>(())
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::circuit_breaker::State;
use crate::clock::{Clock, Instant};
use crate::event::{Event, Listener};
use crate::pipeline::{CallOutcome, PipelineEvent};

/// Counters and the most recent calls of every pipeline it listens to, bounded to
/// `capacity` calls per pipeline. Register it with [`Registry::with_history`](crate::registry::Registry::with_history) (or as any
/// pipeline's listener). Cheap to clone: clones share the records.
///
/// ```
/// let history = palisade::status::History::new(10);
/// assert!(history.snapshot("orders").is_none());
/// ```
#[derive(Clone)]
pub struct History {
    inner: Arc<HistoryInner>,
}

struct HistoryInner {
    capacity: usize,
    policies: Mutex<HashMap<String, Record>>,
    wall: WallTime,
}

/// Wall-clock milliseconds read through a [`Clock`]: the epoch time at which the clock read
/// `origin`, plus what the clock has moved since. The system's wall clock is read once, when
/// this is made — and not at all for a [`ManualClock`](crate::clock::ManualClock), whose
/// times count from its own origin, so a simulation's timestamps are as repeatable as its
/// decisions.
#[derive(Debug, Clone)]
pub(crate) struct WallTime {
    clock: Clock,
    origin: Instant,
    epoch_ms: u64,
}

impl WallTime {
    pub(crate) fn new(clock: Clock) -> Self {
        let origin = clock.now();
        let epoch_ms = if clock.is_manual() {
            origin.as_nanos() / 1_000_000
        } else {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        };
        WallTime {
            clock,
            origin,
            epoch_ms,
        }
    }

    pub(crate) fn now_ms(&self) -> u64 {
        let since = self.clock.now().saturating_duration_since(self.origin);
        self.epoch_ms
            .saturating_add(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }
}

#[derive(Default)]
struct Record {
    calls: CallCounts,
    recent: VecDeque<RecentCall>,
}

/// A pipeline's call counters.
///
/// ```
/// let c = palisade::status::CallCounts::default();
/// assert_eq!((c.total, c.success_rate), (0, None));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct CallCounts {
    /// Calls that finished.
    pub total: u64,
    /// Calls that returned a value.
    pub succeeded: u64,
    /// Calls that ran and failed.
    pub failed: u64,
    /// Calls a policy refused without running.
    pub rejected: u64,
    /// `succeeded / total` in percent, once there is a call.
    pub success_rate: Option<f64>,
}

/// One recent call.
///
/// ```
/// use palisade::status::RecentCall;
/// # let _: Option<RecentCall> = None;
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct RecentCall {
    /// When it finished, in milliseconds since the Unix epoch, read through the history's
    /// clock (on a [`ManualClock`](crate::clock::ManualClock): since the clock's origin).
    pub finished_at_ms: u64,
    /// `"succeeded"`, `"failed"` or `"rejected"`.
    pub outcome: &'static str,
    /// How long it took, in milliseconds (the pipeline's clock).
    pub duration_ms: f64,
}

impl History {
    /// A history keeping the last `capacity` calls per pipeline (at least 1).
    ///
    /// ```
    /// let history = palisade::status::History::new(50);
    /// # let _ = history;
    /// ```
    pub fn new(capacity: usize) -> Self {
        History::with_wall(capacity, WallTime::new(Clock::default()))
    }

    /// The same history, timestamping calls on `clock`: give it the pipelines' clock (a
    /// [`ManualClock`](crate::clock::ManualClock) stamps virtual milliseconds since its
    /// origin). Records made so far are kept.
    ///
    /// ```
    /// use palisade::clock::ManualClock;
    /// use palisade::pipeline::Pipeline;
    /// use std::time::Duration;
    /// let clock = ManualClock::new();
    /// let history = palisade::status::History::new(5).with_clock(clock.clone());
    /// let p = Pipeline::builder().name("x").clock(clock.clone()).on_event(history.clone()).build()?;
    /// clock.advance(Duration::from_secs(2));
    /// let _ = p.call_blocking(|| Ok::<_, ()>(()));
    /// assert_eq!(history.snapshot("x").unwrap().1[0].finished_at_ms, 2_000);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn with_clock(self, clock: impl Into<Clock>) -> Self {
        let policies = std::mem::take(
            &mut *self
                .inner
                .policies
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let history = History::with_wall(self.inner.capacity, WallTime::new(clock.into()));
        *history
            .inner
            .policies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = policies;
        history
    }

    fn with_wall(capacity: usize, wall: WallTime) -> Self {
        History {
            inner: Arc::new(HistoryInner {
                capacity: capacity.max(1),
                policies: Mutex::new(HashMap::new()),
                wall,
            }),
        }
    }

    /// The history's wall time, for reports made alongside it.
    pub(crate) fn wall(&self) -> &WallTime {
        &self.inner.wall
    }

    /// The counters and recent calls (oldest first) of pipeline `name`, if it had a call.
    ///
    /// ```
    /// use palisade::pipeline::Pipeline;
    /// let history = palisade::status::History::new(2);
    /// let p = Pipeline::builder().name("x").on_event(history.clone()).build()?;
    /// for _ in 0..3 { let _ = p.call_blocking(|| Ok::<_, ()>(())); }
    /// let (calls, recent) = history.snapshot("x").unwrap();
    /// assert_eq!((calls.total, recent.len()), (3, 2)); // bounded to 2
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn snapshot(&self, name: &str) -> Option<(CallCounts, Vec<RecentCall>)> {
        let policies = self
            .inner
            .policies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        policies
            .get(name)
            .map(|record| (record.calls, record.recent.iter().cloned().collect()))
    }

    fn record(&self, name: &str, outcome: CallOutcome, elapsed: Duration) {
        let finished_at_ms = self.inner.wall.now_ms();
        let mut policies = self
            .inner
            .policies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let record = match policies.get_mut(name) {
            Some(record) => record,
            None => policies.entry(name.to_owned()).or_default(),
        };
        let calls = &mut record.calls;
        calls.total += 1;
        let outcome = match outcome {
            CallOutcome::Succeeded => {
                calls.succeeded += 1;
                "succeeded"
            }
            CallOutcome::Rejected => {
                calls.rejected += 1;
                "rejected"
            }
            _ => {
                calls.failed += 1;
                "failed"
            }
        };
        calls.success_rate = Some(calls.succeeded as f64 * 100.0 / calls.total as f64);
        if record.recent.len() == self.inner.capacity {
            record.recent.pop_front();
        }
        record.recent.push_back(RecentCall {
            finished_at_ms,
            outcome,
            duration_ms: elapsed.as_secs_f64() * 1000.0,
        });
    }
}

impl Listener for History {
    fn on_event(&self, event: &Event<'_>) {
        if let Event::Pipeline(PipelineEvent::Completed {
            name,
            outcome,
            elapsed,
        }) = event
        {
            self.record(name, *outcome, *elapsed);
        }
    }
}

impl fmt::Debug for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("History")
            .field("capacity", &self.inner.capacity)
            .finish_non_exhaustive()
    }
}

/// A snapshot of every registered pipeline: [`Registry::status`](crate::registry::Registry::status).
///
/// ```
/// let status = palisade::registry::Registry::empty().status();
/// assert!(status.policies.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct StatusReport {
    /// When the snapshot was taken, in milliseconds since the Unix epoch.
    pub generated_at_ms: u64,
    /// `false` when the registry's source turned resilience off (`resilience_enabled =
    /// false`): every pipeline passes calls straight through.
    pub resilience_enabled: bool,
    /// One entry per pipeline, sorted by name.
    pub policies: Vec<PolicyStatus>,
}

/// One pipeline's part of a [`StatusReport`].
///
/// ```
/// use palisade::pipeline::Pipeline;
/// let registry = palisade::registry::Registry::empty();
/// registry.insert("db", Pipeline::builder().bulkhead(|b| b.max_concurrent(3)).build()?);
/// let status = registry.status();
/// assert_eq!(status.policies[0].bulkhead.as_ref().map(|b| b.available), Some(3));
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct PolicyStatus {
    /// The registry name.
    pub name: String,
    /// Call counters (zero without a [`History`]).
    pub calls: CallCounts,
    /// The breaker, if the pipeline has one.
    pub circuit_breaker: Option<BreakerStatus>,
    /// The rate limiter, if any.
    pub rate_limit: Option<RateLimitStatus>,
    /// The bulkhead, if any.
    pub bulkhead: Option<BulkheadStatus>,
    /// `false` while the pipeline passes every call straight through (resilience off for
    /// it, or for the whole registry).
    pub resilience_enabled: bool,
    /// The pipeline's policies that calls skip now (`"retry"`, `"circuit_breaker"`, …; all
    /// of them while resilience is off), as [`Disabled::policies`](crate::pipeline::Disabled::policies) names them.
    pub disabled: Vec<&'static str>,
    /// The most recent calls, oldest first (empty without a [`History`]).
    pub recent: Vec<RecentCall>,
}

/// A breaker's state and counters.
///
/// ```
/// # let _: Option<palisade::status::BreakerStatus> = None;
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct BreakerStatus {
    /// `"closed"`, `"open"`, `"half_open"`, …
    pub state: &'static str,
    /// Successful calls recorded.
    pub successful_calls: u64,
    /// Failed calls recorded.
    pub failed_calls: u64,
    /// Calls refused.
    pub not_permitted_calls: u64,
    /// Failure rate over the window, percent, once it has its minimum calls.
    pub failure_rate: Option<f64>,
}

/// A rate limiter's quota right now.
///
/// ```
/// # let _: Option<palisade::status::RateLimitStatus> = None;
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct RateLimitStatus {
    /// Permits available at once when rested.
    pub limit: u64,
    /// Permits available now.
    pub remaining: u64,
}

/// A bulkhead's occupancy.
///
/// ```
/// # let _: Option<palisade::status::BulkheadStatus> = None;
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct BulkheadStatus {
    /// Maximum concurrent calls.
    pub max_concurrent: usize,
    /// Calls running now.
    pub in_flight: usize,
    /// Free slots.
    pub available: usize,
    /// Callers waiting.
    pub queued: usize,
}

pub(crate) fn state_name(state: State) -> &'static str {
    match state {
        State::Closed => "closed",
        State::Open => "open",
        State::HalfOpen => "half_open",
        State::ForcedOpen => "forced_open",
        State::Disabled => "disabled",
        State::MetricsOnly => "metrics_only",
    }
}

#[cfg(feature = "serde")]
impl StatusReport {
    /// The snapshot as pretty-printed JSON (feature `serde`).
    ///
    /// ```
    /// let json = palisade::registry::Registry::empty().status().to_json();
    /// assert!(json.contains("\"policies\": []"));
    /// ```
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"))
    }

    /// Writes the JSON snapshot to `path`.
    ///
    /// ```
    /// let path = std::env::temp_dir().join("palisade-status-doc.json");
    /// palisade::registry::Registry::empty().status().write_json(&path)?;
    /// assert!(std::fs::read_to_string(&path)?.contains("generated_at_ms"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_json(&self, path: impl AsRef<std::path::Path>) -> std::io::Result<()> {
        std::fs::write(path, self.to_json())
    }
}
