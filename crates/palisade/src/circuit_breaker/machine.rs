//! The breaker's state machine: every decision, made on a `now` and counts, with no storage.
//!
//! Like retry's per-call engine, [`Machine`] decides and never waits or touches shared
//! memory: when a window's counts trip the breaker, when a recovery timeout is over, whether a
//! call is admitted and in which role, what a trial call's outcome does. A store — the
//! in-process [`LocalState`](super::LocalState), or a fleet-wide one — keeps the numbers and
//! applies the decisions, so every store trips, recovers and admits trial calls by the same
//! rules.
//!
//! ```
//! use palisade::circuit_breaker::{Admission, CircuitBreakerConfig, Machine, Role, State, WindowCounts};
//! use palisade::clock::Instant;
//!
//! let machine = Machine::new(CircuitBreakerConfig { failure_threshold: Some(3), ..Default::default() });
//! let counts = WindowCounts::default();
//! assert!(machine.trip_reason(true, 2, counts).is_none());
//! assert!(machine.trip_reason(true, 3, counts).is_some());
//! let now = Instant::from_nanos(0);
//! assert_eq!(machine.admit(State::Closed, now, now, 0), Admission::Admit(Role::Closed));
//! ```

use std::time::Duration;

use super::config::CircuitBreakerConfig;
use super::event::{TransitionReason, Verdict};
use super::store::Role;
use crate::clock::Instant;
use crate::error::reason::State;

/// The calls, failures and slow calls in a breaker's sliding window.
///
/// ```
/// use palisade::circuit_breaker::WindowCounts;
/// let counts = WindowCounts { calls: 10, failures: 6, slow: 0 };
/// assert_eq!(counts.failures, 6);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowCounts {
    /// Calls recorded (successes and failures; ignored calls are not counted).
    pub calls: u64,
    /// Failed calls.
    pub failures: u64,
    /// Slow calls (only counted with slow-call detection on).
    pub slow: u64,
}

/// What [`Machine::admit`] decides for a call.
///
/// ```
/// use palisade::circuit_breaker::{Admission, Role};
/// assert_ne!(Admission::Admit(Role::Closed), Admission::TrialSlot);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Admission {
    /// Admit it in this role.
    Admit(Role),
    /// Admit it as a half-open trial call, taking one of the `half_open_requests` slots.
    TrialSlot,
    /// Reject it.
    Reject {
        /// The state that rejects it.
        state: State,
        /// Time until a call may be admitted, when known.
        retry_after: Option<Duration>,
    },
}

/// What a trial call's outcome does to a half-open breaker.
///
/// ```
/// use palisade::circuit_breaker::TrialStep;
/// assert_ne!(TrialStep::Reopen, TrialStep::Continue { successes: 1 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrialStep {
    /// It failed (or was slow): back to Open.
    Reopen,
    /// Enough trial calls succeeded: Closed.
    Close {
        /// Successful trial calls, this one included.
        successes: u32,
    },
    /// It counts (a success, now `successes` of them) but does not decide yet.
    Continue {
        /// Successful trial calls, this one included.
        successes: u32,
    },
    /// It was ignored: neither success nor failure.
    Ignored,
}

/// The decisions of a breaker; see the [module docs](self).
///
/// ```
/// use palisade::circuit_breaker::{CircuitBreakerConfig, Machine};
/// let machine = Machine::new(CircuitBreakerConfig::default());
/// assert_eq!(machine.config().failure_threshold, Some(5));
/// ```
#[derive(Debug, Clone)]
pub struct Machine {
    config: CircuitBreakerConfig,
    detects_slow: bool,
    uses_window: bool,
}

impl Machine {
    /// The state machine of a breaker with `config` (validated by the builder).
    ///
    /// ```
    /// let m = palisade::circuit_breaker::Machine::new(Default::default());
    /// assert!(!m.detects_slow_calls());
    /// ```
    pub fn new(config: CircuitBreakerConfig) -> Self {
        Machine {
            detects_slow: config.detects_slow_calls(),
            uses_window: config.uses_window(),
            config,
        }
    }

    /// The configuration it decides by.
    ///
    /// ```
    /// let m = palisade::circuit_breaker::Machine::new(Default::default());
    /// assert_eq!(m.config().half_open_requests, 3);
    /// ```
    pub fn config(&self) -> &CircuitBreakerConfig {
        &self.config
    }

    /// Whether calls must be timed (slow-call detection is on).
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreakerConfig, Machine};
    /// let config = CircuitBreakerConfig { slow_call_rate_threshold: Some(50.0), ..Default::default() };
    /// assert!(Machine::new(config).detects_slow_calls());
    /// ```
    #[inline]
    pub fn detects_slow_calls(&self) -> bool {
        self.detects_slow
    }

    /// Whether a sliding window is kept (a rate condition is configured).
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreakerConfig, Machine};
    /// assert!(!Machine::new(CircuitBreakerConfig::default()).uses_window());
    /// ```
    #[inline]
    pub fn uses_window(&self) -> bool {
        self.uses_window
    }

    /// Whether an outcome that took from `started` to `now` was slow (never for an ignored
    /// one, or when calls are not timed).
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreakerConfig, Machine, Verdict};
    /// use palisade::clock::Instant;
    /// use std::time::Duration;
    /// let config = CircuitBreakerConfig {
    ///     slow_call_rate_threshold: Some(50.0),
    ///     slow_call_duration: Duration::from_secs(1),
    ///     ..Default::default()
    /// };
    /// let m = Machine::new(config);
    /// let start = Instant::from_nanos(0);
    /// assert!(m.is_slow(Some(start), Instant::from_nanos(1_000_000_000), Verdict::Success));
    /// assert!(!m.is_slow(Some(start), Instant::from_nanos(1), Verdict::Success));
    /// ```
    #[inline]
    pub fn is_slow(&self, started: Option<Instant>, now: Instant, verdict: Verdict) -> bool {
        verdict != Verdict::Ignored
            && started.is_some_and(|started| {
                now.saturating_duration_since(started) >= self.config.slow_call_duration
            })
    }

    /// Why a Closed breaker trips after recording an outcome (`failure`, making
    /// `consecutive` failures in a row, with the window now at `counts`), if it does. The
    /// configured conditions are checked in order: consecutive failures, failure rate,
    /// slow-call rate; rates only once the window holds `minimum_calls`.
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreakerConfig, Machine, TransitionReason, WindowCounts};
    /// let m = Machine::new(CircuitBreakerConfig {
    ///     failure_threshold: None,
    ///     failure_rate_threshold: Some(50.0),
    ///     minimum_calls: 10,
    ///     ..Default::default()
    /// });
    /// let half = WindowCounts { calls: 10, failures: 5, slow: 0 };
    /// assert!(matches!(m.trip_reason(true, 1, half), Some(TransitionReason::FailureRate { .. })));
    /// let few = WindowCounts { calls: 9, failures: 9, slow: 0 };
    /// assert_eq!(m.trip_reason(true, 9, few), None); // below minimum_calls
    /// ```
    #[inline]
    pub fn trip_reason(
        &self,
        failure: bool,
        consecutive: u32,
        counts: WindowCounts,
    ) -> Option<TransitionReason> {
        let config = &self.config;
        if failure && config.failure_threshold.is_some_and(|n| consecutive >= n) {
            return Some(TransitionReason::ConsecutiveFailures {
                failures: consecutive,
            });
        }
        if counts.calls == 0 || counts.calls < u64::from(config.minimum_calls) {
            return None;
        }
        // `n / calls ≥ threshold%` as `n × 100 ≥ threshold × calls`: no division on the hot
        // path; the rate itself is computed only when the breaker trips.
        let calls = counts.calls as f64;
        let rate = |n: u64| n as f64 * 100.0 / calls;
        if let Some(threshold) = config.failure_rate_threshold
            && counts.failures as f64 * 100.0 >= threshold * calls
        {
            return Some(TransitionReason::FailureRate {
                rate: rate(counts.failures),
                calls: counts.calls,
            });
        }
        if let Some(threshold) = config.slow_call_rate_threshold
            && counts.slow as f64 * 100.0 >= threshold * calls
        {
            return Some(TransitionReason::SlowCallRate {
                rate: rate(counts.slow),
                calls: counts.calls,
            });
        }
        None
    }

    /// When a breaker that opens at `now` for the `trips`-th time in a row (1 for the first)
    /// may let a trial call through: `recovery_timeout`, grown by `recovery_backoff`.
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreakerConfig, Machine};
    /// use palisade::clock::Instant;
    /// let m = Machine::new(CircuitBreakerConfig::default());
    /// assert_eq!(m.open_until(Instant::from_nanos(0), 1).as_nanos(), 30_000_000_000);
    /// ```
    pub fn open_until(&self, now: Instant, trips: u32) -> Instant {
        now.saturating_add(self.config.recovery_timeout_after(trips))
    }

    /// The time-driven transition due in `state` at `now`, if any: Open → HalfOpen once
    /// `open_until` has come; HalfOpen → Open after `max_wait_in_half_open` since
    /// `entered_at`.
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreakerConfig, Machine, State, TransitionReason};
    /// use palisade::clock::Instant;
    /// let m = Machine::new(CircuitBreakerConfig::default());
    /// let (t0, t1) = (Instant::from_nanos(0), Instant::from_nanos(30_000_000_000));
    /// assert_eq!(m.due(State::Open, t0, t1, t0), None);
    /// assert_eq!(
    ///     m.due(State::Open, t1, t1, t0),
    ///     Some((State::HalfOpen, TransitionReason::RecoveryTimeoutElapsed))
    /// );
    /// ```
    pub fn due(
        &self,
        state: State,
        now: Instant,
        open_until: Instant,
        entered_at: Instant,
    ) -> Option<(State, TransitionReason)> {
        match state {
            State::Open if now >= open_until => {
                Some((State::HalfOpen, TransitionReason::RecoveryTimeoutElapsed))
            }
            State::HalfOpen => self.config.max_wait_in_half_open.and_then(|waited| {
                (now.saturating_duration_since(entered_at) >= waited)
                    .then_some((State::Open, TransitionReason::HalfOpenTimedOut { waited }))
            }),
            _ => None,
        }
    }

    /// Whether a call is admitted in `state` at `now` (after any due transition was applied),
    /// with the breaker open until `open_until` and `trials_in_flight` trial calls running.
    ///
    /// ```
    /// use palisade::circuit_breaker::{Admission, CircuitBreakerConfig, Machine, State};
    /// use palisade::clock::Instant;
    /// let m = Machine::new(CircuitBreakerConfig::default()); // 3 trial calls
    /// let now = Instant::from_nanos(0);
    /// assert_eq!(m.admit(State::HalfOpen, now, now, 2), Admission::TrialSlot);
    /// assert!(matches!(m.admit(State::HalfOpen, now, now, 3), Admission::Reject { .. }));
    /// ```
    pub fn admit(
        &self,
        state: State,
        now: Instant,
        open_until: Instant,
        trials_in_flight: u32,
    ) -> Admission {
        match state {
            State::Closed => Admission::Admit(Role::Closed),
            State::MetricsOnly => Admission::Admit(Role::MetricsOnly),
            State::Disabled => Admission::Admit(Role::Disabled),
            State::ForcedOpen => Admission::Reject {
                state,
                retry_after: None,
            },
            State::Open => Admission::Reject {
                state,
                retry_after: Some(open_until.saturating_duration_since(now)),
            },
            State::HalfOpen if trials_in_flight < self.config.half_open_requests => {
                Admission::TrialSlot
            }
            State::HalfOpen => Admission::Reject {
                state,
                retry_after: None,
            },
        }
    }

    /// What a trial call's outcome does, `successes` trial calls having succeeded before it.
    /// With slow-call detection on, a slow trial call is as bad as a failed one.
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreakerConfig, Machine, TrialStep, Verdict};
    /// let m = Machine::new(CircuitBreakerConfig::default()); // 3 successes close
    /// assert_eq!(m.trial_outcome(Verdict::Success, false, 1), TrialStep::Continue { successes: 2 });
    /// assert_eq!(m.trial_outcome(Verdict::Success, false, 2), TrialStep::Close { successes: 3 });
    /// assert_eq!(m.trial_outcome(Verdict::Failure, false, 2), TrialStep::Reopen);
    /// ```
    pub fn trial_outcome(&self, verdict: Verdict, slow: bool, successes: u32) -> TrialStep {
        match verdict {
            Verdict::Failure => TrialStep::Reopen,
            Verdict::Success if slow => TrialStep::Reopen,
            Verdict::Success => {
                let successes = successes.saturating_add(1);
                if successes >= self.config.successes_to_close() {
                    TrialStep::Close { successes }
                } else {
                    TrialStep::Continue { successes }
                }
            }
            Verdict::Ignored => TrialStep::Ignored,
        }
    }
}
