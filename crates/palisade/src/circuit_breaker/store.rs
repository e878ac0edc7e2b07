//! Where a breaker's state lives: the [`StateStore`] seam and the in-process [`LocalState`].
//!
//! # The hot path
//!
//! A breaker's state and generation share one `AtomicU64`. Admitting a call in Closed is one
//! acquire load; recording a success is a second load of that word plus the window's own work
//! (nothing for consecutive-only breakers but a load of the failure counter; one
//! read-modify-write on the ring position for count windows). Totals are per-thread counters
//! (per-thread counters), so recording does not bounce a shared cache line between cores.
//!
//! # Transitions
//!
//! Every state change happens under one mutex, so HalfOpen admission is exact: at most
//! `half_open_requests` trial calls hold a slot at any time, however many callers race. The
//! mutex is never taken in Closed, and in Open only once the recovery timeout has elapsed.
//! Each transition bumps the generation, and an outcome is applied only if the breaker is
//! still in the generation that admitted the call — a slow call admitted before a trip cannot
//! count towards the next Closed period or steal a trial slot.
//!
//! Events are published after the mutex is released, so a listener may call back into the
//! breaker.

use std::sync::Arc;
use std::time::Duration;

use super::State;
use super::config::CircuitBreakerConfig;
use super::event::{CircuitBreakerEvent, TransitionReason, Verdict};
use super::stats::CircuitBreakerStats;
use super::window::{CountWindow, TimeWindow, Window, WindowCounts};
use super::{CircuitBreaker, SlidingWindow};
use crate::clock::{Clock, Instant, duration_to_nanos};
use crate::counter::Counters;
use crate::listener::Listeners;
use crate::sync::{AtomicU32, AtomicU64, Mutex, MutexGuard, Ordering};

/// Storage and decision logic of a breaker's state. [`LocalState`] keeps it in this process;
/// a fleet-wide implementation (Redis) plugs in behind the same breaker API.
///
/// This seam is public so that integration crates can implement it; its shape may still
/// change before 1.0.
pub trait StateStore: Send + Sync + 'static {
    /// Admits a call or rejects it.
    fn acquire(&self) -> Result<Ticket, Rejected>;
    /// Records the outcome of an admitted call.
    fn complete(&self, ticket: Ticket, verdict: Verdict);
    /// Gives back an admitted call's slot without an outcome (the call was dropped).
    fn release(&self, ticket: Ticket);
    /// The current state, applying any time-driven transition that is due.
    fn state(&self) -> State;
    /// Moves to `target` by operator action (`Closed` also clears the window); does nothing
    /// if the breaker is already in `target`.
    fn transition_to(&self, target: State);
    /// Clears all state and statistics: Closed, as if just built.
    fn reset(&self);
    /// A snapshot of state and statistics.
    fn stats(&self) -> CircuitBreakerStats;
    /// The breaker's name.
    fn name(&self) -> &Arc<str>;
    /// The breaker's configuration.
    fn config(&self) -> &CircuitBreakerConfig;
    /// The breaker's clock.
    fn clock(&self) -> &Clock;
}

/// Why a call was admitted: it decides what its outcome does.
///
/// ```
/// use palisade::circuit_breaker::Role;
/// assert_ne!(Role::Closed, Role::TrialCall);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// Admitted in Closed: recorded in the window, may trip the breaker.
    Closed,
    /// A HalfOpen trial call holding one of the `half_open_requests` slots.
    TrialCall,
    /// Admitted in Disabled: nothing is recorded.
    Disabled,
    /// Admitted in MetricsOnly: recorded, never trips.
    MetricsOnly,
}

/// Proof that a call was admitted, handed back with its outcome.
///
/// It carries the breaker's state word at admission (state and generation), so completing a
/// call checks "is this still the period that admitted it?" with one comparison.
///
/// ```
/// use palisade::circuit_breaker::{Role, Ticket};
/// let t = Ticket::new(7, Role::Closed, None);
/// assert_eq!((t.generation(), t.role(), t.started()), (7, Role::Closed, None));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    word: u64,
    /// Start time in clock nanoseconds, or `NOT_TIMED`: two plain words keep a ticket in
    /// registers on the hot path.
    started: u64,
}

/// `Ticket::started` of a call that is not being timed.
const NOT_TIMED: u64 = u64::MAX;

impl Ticket {
    /// A ticket for a call admitted in `generation` with `role`, started at `started` (only
    /// needed for slow-call detection).
    ///
    /// ```
    /// # use palisade::circuit_breaker::{Role, Ticket};
    /// let t = Ticket::new(1, Role::TrialCall, None);
    /// assert_eq!(t.role(), Role::TrialCall);
    /// ```
    pub fn new(generation: u64, role: Role, started: Option<Instant>) -> Self {
        let state = match role {
            Role::Closed => State::Closed,
            Role::TrialCall => State::HalfOpen,
            Role::Disabled => State::Disabled,
            Role::MetricsOnly => State::MetricsOnly,
        };
        Ticket::from_word(pack(generation, state), started)
    }

    #[inline]
    fn from_word(word: u64, started: Option<Instant>) -> Self {
        Ticket {
            word,
            started: started.map_or(NOT_TIMED, Instant::as_nanos),
        }
    }

    /// The generation the call was admitted in.
    ///
    /// ```
    /// # use palisade::circuit_breaker::{Role, Ticket};
    /// assert_eq!(Ticket::new(3, Role::Closed, None).generation(), 3);
    /// ```
    pub fn generation(&self) -> u64 {
        self.word >> STATE_BITS
    }

    /// Why the call was admitted.
    ///
    /// ```
    /// # use palisade::circuit_breaker::{Role, Ticket};
    /// assert_eq!(Ticket::new(3, Role::Disabled, None).role(), Role::Disabled);
    /// ```
    pub fn role(&self) -> Role {
        match unpack(self.word).0 {
            State::HalfOpen => Role::TrialCall,
            State::Disabled => Role::Disabled,
            State::MetricsOnly => Role::MetricsOnly,
            _ => Role::Closed,
        }
    }

    /// When the call started, if it is being timed.
    ///
    /// ```
    /// # use palisade::circuit_breaker::{Role, Ticket};
    /// assert_eq!(Ticket::new(3, Role::Closed, None).started(), None);
    /// ```
    pub fn started(&self) -> Option<Instant> {
        (self.started != NOT_TIMED).then_some(Instant::from_nanos(self.started))
    }

    #[inline]
    fn is_closed(&self) -> bool {
        self.word & STATE_MASK == CLOSED
    }
}

/// A call a breaker refused to run. Converts into [`Error::CircuitOpen`](crate::Error::CircuitOpen).
///
/// ```
/// use palisade::circuit_breaker::{Rejected, State};
/// use std::time::Duration;
/// let r = Rejected::new("db".into(), State::Open, Some(Duration::from_secs(3)));
/// let err: palisade::Error<std::io::Error> = r.into();
/// assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    name: Arc<str>,
    state: State,
    retry_after: Option<Duration>,
}

impl Rejected {
    /// A rejection by breaker `name` in `state`, with the time until it may admit calls.
    ///
    /// ```
    /// # use palisade::circuit_breaker::{Rejected, State};
    /// let r = Rejected::new("x".into(), State::ForcedOpen, None);
    /// assert_eq!(r.state(), State::ForcedOpen);
    /// ```
    pub fn new(name: Arc<str>, state: State, retry_after: Option<Duration>) -> Self {
        Rejected {
            name,
            state,
            retry_after,
        }
    }

    /// The breaker's name.
    ///
    /// ```
    /// # use palisade::circuit_breaker::{Rejected, State};
    /// assert_eq!(Rejected::new("x".into(), State::Open, None).name(), "x");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The state that rejected the call.
    ///
    /// ```
    /// # use palisade::circuit_breaker::{Rejected, State};
    /// assert_eq!(Rejected::new("x".into(), State::Open, None).state(), State::Open);
    /// ```
    pub fn state(&self) -> State {
        self.state
    }

    /// Time until the breaker may admit calls: the rest of the recovery timeout when Open;
    /// `None` when unknown (HalfOpen with every trial slot busy, ForcedOpen).
    ///
    /// ```
    /// # use palisade::circuit_breaker::{Rejected, State};
    /// assert_eq!(Rejected::new("x".into(), State::HalfOpen, None).retry_after(), None);
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::error::fmt_circuit_open(f, &self.name, self.state, self.retry_after)
    }
}

impl std::error::Error for Rejected {}

impl<E> From<Rejected> for crate::Error<E> {
    fn from(r: Rejected) -> Self {
        crate::Error::CircuitOpen {
            name: r.name,
            state: r.state,
            retry_after: r.retry_after,
        }
    }
}

// Indices into the per-thread counters.
const SUCCESSES: usize = 0;
const FAILURES: usize = 1;
const IGNORED: usize = 2;
const SLOW: usize = 3;
const REJECTED: usize = 4;

const STATE_BITS: u32 = 3;
/// `State::Closed.code()`, for the one-comparison fast path.
const CLOSED: u64 = 0;
const STATE_MASK: u64 = (1 << STATE_BITS) - 1;

fn pack(generation: u64, state: State) -> u64 {
    (generation << STATE_BITS) | state.code()
}

fn unpack(word: u64) -> (State, u64) {
    (State::from_code(word & STATE_MASK), word >> STATE_BITS)
}

/// The in-process state of a breaker. See the [module docs](self).
pub struct LocalState {
    name: Arc<str>,
    config: CircuitBreakerConfig,
    clock: Clock,
    listeners: Listeners<CircuitBreaker>,
    /// State and generation; written only under `transitions`.
    word: AtomicU64,
    /// While Open: when the recovery timeout ends (clock nanoseconds). Written before `word`.
    open_until: AtomicU64,
    consecutive_failures: AtomicU32,
    window: Window,
    counters: Counters<5>,
    detects_slow: bool,
    /// Whether a sliding window is kept (a rate condition is configured).
    uses_window: bool,
    /// Consecutive failures only, no slow-call timing, nobody listening: recording a Closed
    /// outcome is counting it plus, at most, the failure run. One flag for the common case.
    plain: bool,
    /// Whether recording a Closed outcome needs the time (slow-call timing, time window).
    needs_time: bool,
    transitions: Mutex<Transitions>,
}

/// Bookkeeping changed only under the mutex.
struct Transitions {
    entered_at: Instant,
    /// Trips since the breaker last closed; drives `recovery_backoff`.
    trips: u32,
    trial_calls_in_flight: u32,
    trial_successes: u32,
}

/// A transition to publish once the mutex is released.
type Transition = (State, State, TransitionReason);

impl LocalState {
    pub(crate) fn new(
        name: Arc<str>,
        config: CircuitBreakerConfig,
        clock: Clock,
        listeners: Listeners<CircuitBreaker>,
    ) -> Self {
        let now = clock.now();
        let detects_slow = config.detects_slow_calls();
        let window = if !config.uses_window() {
            Window::None
        } else {
            match config.sliding_window {
                SlidingWindow::Count { size } => {
                    Window::Count(CountWindow::new(size, detects_slow))
                }
                SlidingWindow::Time { duration, buckets } => Window::Time(TimeWindow::new(
                    duration_to_nanos(duration / buckets.max(1)),
                    buckets,
                    now,
                    detects_slow,
                )),
            }
        };
        LocalState {
            needs_time: detects_slow || window.needs_time(),
            uses_window: !matches!(window, Window::None),
            plain: !detects_slow && matches!(window, Window::None) && listeners.is_empty(),
            name,
            config,
            clock,
            listeners,
            word: AtomicU64::new(pack(0, State::Closed)),
            open_until: AtomicU64::new(0),
            consecutive_failures: AtomicU32::new(0),
            window,
            counters: Counters::new(),
            detects_slow,
            transitions: Mutex::new(Transitions {
                entered_at: now,
                trips: 0,
                trial_calls_in_flight: 0,
                trial_successes: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Transitions> {
        crate::sync::lock(&self.transitions)
    }

    #[inline]
    fn started(&self) -> Option<Instant> {
        self.detects_slow.then(|| self.now())
    }

    /// The breaker's clock reads, out of line: only slow-call timing, time windows and
    /// transitions read time, so the inlined Closed path stays small (keeping `Clock::now`'s
    /// body out of it measurably helps the consecutive-failures path).
    #[inline(never)]
    fn now(&self) -> Instant {
        self.clock.now()
    }

    fn reject(&self, state: State, retry_after: Option<Duration>) -> Rejected {
        self.counters.incr(REJECTED);
        self.listeners.emit(|| CircuitBreakerEvent::CallRejected {
            name: &self.name,
            state,
            retry_after,
        });
        Rejected::new(self.name.clone(), state, retry_after)
    }

    fn publish(&self, transitions: &[Transition]) {
        for &(from, to, reason) in transitions {
            self.listeners
                .emit(|| CircuitBreakerEvent::StateTransition {
                    name: &self.name,
                    from,
                    to,
                    reason,
                });
        }
    }

    /// Enters `to` from the current word. Caller holds the mutex.
    fn enter(
        &self,
        t: &mut Transitions,
        to: State,
        now: Instant,
        reason: TransitionReason,
    ) -> Transition {
        let (from, generation) = unpack(self.word.load(Ordering::Acquire));
        match to {
            State::Open => {
                t.trips = t.trips.saturating_add(1);
                let recovery = self.config.recovery_timeout_after(t.trips);
                // Release via the `word` store below: a reader that sees Open sees this.
                self.open_until
                    .store(now.saturating_add(recovery).as_nanos(), Ordering::Relaxed);
            }
            State::HalfOpen => {
                t.trial_calls_in_flight = 0;
                t.trial_successes = 0;
            }
            State::Closed => {
                t.trips = 0;
                self.consecutive_failures.store(0, Ordering::Relaxed);
                self.window.reset(now);
            }
            State::Disabled | State::ForcedOpen | State::MetricsOnly => {}
        }
        t.entered_at = now;
        self.word
            .store(pack(generation.wrapping_add(1), to), Ordering::Release);
        (from, to, reason)
    }

    /// Applies a due time-driven transition (Open → HalfOpen, HalfOpen → Open on
    /// `max_wait_in_half_open`). Caller holds the mutex.
    fn catch_up(&self, t: &mut Transitions, now: Instant, out: &mut Vec<Transition>) {
        let (state, _) = unpack(self.word.load(Ordering::Acquire));
        match state {
            State::Open if now.as_nanos() >= self.open_until.load(Ordering::Relaxed) => {
                out.push(self.enter(
                    t,
                    State::HalfOpen,
                    now,
                    TransitionReason::RecoveryTimeoutElapsed,
                ));
            }
            State::HalfOpen => {
                if let Some(waited) = self.config.max_wait_in_half_open
                    && now.saturating_duration_since(t.entered_at) >= waited
                {
                    out.push(self.enter(
                        t,
                        State::Open,
                        now,
                        TransitionReason::HalfOpenTimedOut { waited },
                    ));
                }
            }
            _ => {}
        }
    }

    /// Admission outside Closed: under the mutex, so trial slots are exact.
    #[cold]
    fn acquire_slow(&self) -> Result<Ticket, Rejected> {
        let now = self.now();
        let mut published = Vec::new();
        let decision = {
            let mut t = self.lock();
            self.catch_up(&mut t, now, &mut published);
            let (state, generation) = unpack(self.word.load(Ordering::Acquire));
            match state {
                State::Closed => Ok(Ticket::new(generation, Role::Closed, self.started())),
                State::MetricsOnly => {
                    Ok(Ticket::new(generation, Role::MetricsOnly, self.started()))
                }
                State::Disabled => Ok(Ticket::new(generation, Role::Disabled, None)),
                State::ForcedOpen => Err((State::ForcedOpen, None)),
                State::Open => {
                    let until = self.open_until.load(Ordering::Relaxed);
                    Err((
                        State::Open,
                        Some(Duration::from_nanos(until.saturating_sub(now.as_nanos()))),
                    ))
                }
                State::HalfOpen => {
                    if t.trial_calls_in_flight < self.config.half_open_requests {
                        t.trial_calls_in_flight += 1;
                        Ok(Ticket::new(generation, Role::TrialCall, self.started()))
                    } else {
                        Err((State::HalfOpen, None))
                    }
                }
            }
        };
        self.publish(&published);
        decision.map_err(|(state, retry_after)| self.reject(state, retry_after))
    }

    /// Whether the outcome was slow, and the time of recording if it was needed.
    #[inline]
    fn timing(&self, ticket: &Ticket, verdict: Verdict) -> (Option<Instant>, bool) {
        if !self.needs_time {
            return (None, false);
        }
        let now = self.now();
        let slow = verdict != Verdict::Ignored
            && ticket.started().is_some_and(|started| {
                now.saturating_duration_since(started) >= self.config.slow_call_duration
            });
        (Some(now), slow)
    }

    #[inline]
    fn count(&self, verdict: Verdict, slow: bool, state: State) {
        self.counters.incr(match verdict {
            Verdict::Success => SUCCESSES,
            Verdict::Failure => FAILURES,
            Verdict::Ignored => IGNORED,
        });
        if slow {
            self.counters.incr(SLOW);
        }
        if !self.listeners.is_empty() {
            self.publish_outcome(verdict, slow, state);
        }
    }

    #[cold]
    fn publish_outcome(&self, verdict: Verdict, slow: bool, state: State) {
        self.listeners
            .emit(|| CircuitBreakerEvent::OutcomeRecorded {
                name: &self.name,
                verdict,
                slow,
                state,
            });
    }

    #[inline]
    fn complete_closed(&self, ticket: Ticket, verdict: Verdict, state: State) {
        if self.plain && verdict == Verdict::Success {
            self.counters.incr(SUCCESSES);
            // A success just ends a run of consecutive failures — of this period only.
            if self.consecutive_failures.load(Ordering::Relaxed) != 0
                && self.word.load(Ordering::Acquire) == ticket.word
            {
                self.consecutive_failures.store(0, Ordering::Relaxed);
            }
            return;
        }
        let (now, slow) = self.timing(&ticket, verdict);
        self.count(verdict, slow, state);
        if verdict == Verdict::Ignored {
            return;
        }
        let failure = verdict == Verdict::Failure;
        if !failure && !self.uses_window {
            // Without a window only a failure can trip the breaker; a success just ends a
            // run of consecutive failures — of this period, not of one that is over.
            if self.consecutive_failures.load(Ordering::Relaxed) != 0
                && self.word.load(Ordering::Acquire) == ticket.word
            {
                self.consecutive_failures.store(0, Ordering::Relaxed);
            }
            return;
        }
        let word = self.word.load(Ordering::Acquire);
        if word != ticket.word {
            return; // admitted before a transition: it belongs to a period that is over
        }
        let consecutive = if failure {
            self.consecutive_failures
                .fetch_add(1, Ordering::Relaxed)
                .saturating_add(1)
        } else {
            // Load first: a success after a success writes nothing.
            if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
                self.consecutive_failures.store(0, Ordering::Relaxed);
            }
            0
        };
        let minimum_calls = u64::from(self.config.minimum_calls);
        let counts = self.window.record(now, failure, slow, minimum_calls);
        if state == State::MetricsOnly {
            return;
        }
        let Some(counts) = counts else {
            return;
        };
        if let Some(reason) = self.trip_reason(failure, consecutive, counts) {
            self.trip(word, reason, now);
        }
    }

    #[inline]
    fn trip_reason(
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

    #[cold]
    fn trip(&self, expected: u64, reason: TransitionReason, now: Option<Instant>) {
        let transition = {
            let mut t = self.lock();
            if self.word.load(Ordering::Acquire) != expected {
                return; // another call tripped it first, or an operator acted
            }
            let now = now.unwrap_or_else(|| self.now());
            self.enter(&mut t, State::Open, now, reason)
        };
        self.publish(&[transition]);
    }

    #[cold]
    fn complete_trial(&self, ticket: Ticket, verdict: Verdict) {
        let (_, slow) = self.timing(&ticket, verdict);
        let now = self.now();
        self.count(verdict, slow, State::HalfOpen);
        let transition = {
            let mut t = self.lock();
            if self.word.load(Ordering::Acquire) != ticket.word {
                return; // HalfOpen ended while this call ran; its slot went with it
            }
            t.trial_calls_in_flight = t.trial_calls_in_flight.saturating_sub(1);
            // With slow-call detection on, a slow trial call is as bad as a failed one.
            let failed = verdict == Verdict::Failure || (slow && verdict == Verdict::Success);
            if failed {
                Some(self.enter(&mut t, State::Open, now, TransitionReason::TrialCallFailed))
            } else if verdict == Verdict::Success {
                t.trial_successes += 1;
                let needed = self.config.successes_to_close();
                (t.trial_successes >= needed).then(|| {
                    self.enter(
                        &mut t,
                        State::Closed,
                        now,
                        TransitionReason::TrialCallsSucceeded { successes: needed },
                    )
                })
            } else {
                None
            }
        };
        if let Some(transition) = transition {
            self.publish(&[transition]);
        }
    }

    /// Admission when the word is not Closed.
    #[inline(never)]
    fn acquire_not_closed(&self, word: u64) -> Result<Ticket, Rejected> {
        let (state, _) = unpack(word);
        match state {
            // Like Closed, these admit without the lock.
            State::MetricsOnly => Ok(Ticket::from_word(word, self.started())),
            State::Disabled => Ok(Ticket::from_word(word, None)),
            State::Open => {
                let now = self.now().as_nanos();
                let until = self.open_until.load(Ordering::Relaxed);
                if now < until {
                    Err(self.reject(State::Open, Some(Duration::from_nanos(until - now))))
                } else {
                    self.acquire_slow()
                }
            }
            State::ForcedOpen => Err(self.reject(State::ForcedOpen, None)),
            _ => self.acquire_slow(),
        }
    }

    #[inline(never)]
    fn complete_not_closed(&self, ticket: Ticket, verdict: Verdict) {
        match ticket.role() {
            Role::MetricsOnly => self.complete_closed(ticket, verdict, State::MetricsOnly),
            Role::TrialCall => self.complete_trial(ticket, verdict),
            Role::Closed | Role::Disabled => {}
        }
    }

    #[cold]
    fn release_trial(&self, ticket: Ticket) {
        let mut t = self.lock();
        if self.word.load(Ordering::Acquire) == ticket.word {
            t.trial_calls_in_flight = t.trial_calls_in_flight.saturating_sub(1);
        }
    }

    fn window_counts(&self, now: Instant) -> WindowCounts {
        self.window.counts(now)
    }
}

impl StateStore for LocalState {
    #[inline]
    fn acquire(&self) -> Result<Ticket, Rejected> {
        let word = self.word.load(Ordering::Acquire);
        if word & STATE_MASK == CLOSED {
            return Ok(Ticket::from_word(word, self.started()));
        }
        self.acquire_not_closed(word)
    }

    #[inline]
    fn complete(&self, ticket: Ticket, verdict: Verdict) {
        if ticket.is_closed() {
            self.complete_closed(ticket, verdict, State::Closed)
        } else {
            self.complete_not_closed(ticket, verdict)
        }
    }

    #[inline]
    fn release(&self, ticket: Ticket) {
        if unpack(ticket.word).0 == State::HalfOpen {
            self.release_trial(ticket);
        }
    }

    fn state(&self) -> State {
        let (state, _) = unpack(self.word.load(Ordering::Acquire));
        if !matches!(state, State::Open | State::HalfOpen) {
            return state;
        }
        let now = self.now();
        let mut published = Vec::new();
        let state = {
            let mut t = self.lock();
            self.catch_up(&mut t, now, &mut published);
            unpack(self.word.load(Ordering::Acquire)).0
        };
        self.publish(&published);
        state
    }

    fn transition_to(&self, target: State) {
        let now = self.now();
        let transition = {
            let mut t = self.lock();
            // Already there: nothing changes — not the time in state, not the period that
            // admitted the calls in flight. (`reset` is the way to start over.)
            if unpack(self.word.load(Ordering::Acquire)).0 == target {
                return;
            }
            self.enter(&mut t, target, now, TransitionReason::Manual)
        };
        self.publish(&[transition]);
    }

    fn reset(&self) {
        let now = self.now();
        let transition = {
            let mut t = self.lock();
            let transition = self.enter(&mut t, State::Closed, now, TransitionReason::Manual);
            self.counters.reset();
            transition
        };
        if transition.0 != transition.1 {
            self.publish(&[transition]);
        }
    }

    fn stats(&self) -> CircuitBreakerStats {
        let state = self.state();
        let now = self.now();
        let t = self.lock();
        let counts = self.window_counts(now);
        let evaluable = self.config.uses_window()
            && counts.calls > 0
            && counts.calls >= u64::from(self.config.minimum_calls);
        let rate = |n: u64| evaluable.then(|| n as f64 * 100.0 / counts.calls as f64);
        let retry_after = (state == State::Open).then(|| {
            Duration::from_nanos(
                self.open_until
                    .load(Ordering::Relaxed)
                    .saturating_sub(now.as_nanos()),
            )
        });
        CircuitBreakerStats {
            state,
            failure_rate: rate(counts.failures),
            slow_call_rate: rate(counts.slow),
            calls_in_window: counts.calls,
            failures_in_window: counts.failures,
            slow_calls_in_window: counts.slow,
            consecutive_failures: self.consecutive_failures.load(Ordering::Relaxed),
            not_permitted_calls: self.counters.get(REJECTED),
            time_in_state: now.saturating_duration_since(t.entered_at),
            retry_after,
            trial_calls_in_flight: if state == State::HalfOpen {
                t.trial_calls_in_flight
            } else {
                0
            },
            successful_calls: self.counters.get(SUCCESSES),
            failed_calls: self.counters.get(FAILURES),
            ignored_calls: self.counters.get(IGNORED),
            slow_calls: self.counters.get(SLOW),
        }
    }

    fn name(&self) -> &Arc<str> {
        &self.name
    }

    fn config(&self) -> &CircuitBreakerConfig {
        &self.config
    }

    fn clock(&self) -> &Clock {
        &self.clock
    }
}

impl std::fmt::Debug for LocalState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (state, generation) = unpack(self.word.load(Ordering::Acquire));
        f.debug_struct("LocalState")
            .field("name", &self.name)
            .field("state", &state)
            .field("generation", &generation)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
