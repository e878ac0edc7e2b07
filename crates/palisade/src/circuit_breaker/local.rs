//! [`LocalState`]: a breaker's state in this process, lock-free in Closed.
//!
//! # The hot path
//!
//! A breaker's state and generation share one `AtomicU64`. Admitting a call in Closed is one
//! acquire load; recording a success is a second load of that word plus the window's own work
//! (nothing for consecutive-only breakers but a load of the failure counter; one
//! read-modify-write on the ring position for count windows). Totals are per-thread counters,
//! so recording does not bounce a shared cache line between cores.
//!
//! # Transitions
//!
//! Every state change happens under one mutex, so HalfOpen admission is exact: at most
//! `half_open_requests` trial calls hold a slot at any time, however many callers race. The
//! mutex is never taken in Closed, and in Open only once the recovery timeout has elapsed.
//! Each transition bumps the generation, and an outcome is applied only if the breaker is
//! still in the generation that admitted the call — a slow call admitted before a trip cannot
//! count towards the next Closed period or steal a trial slot. What each transition is, and
//! when, the breaker's [`Machine`](super::Machine) decides.
//!
//! Events are published after the mutex is released, so a listener may call back into the
//! breaker.

use std::time::Duration;

use super::SlidingWindow;
use super::config::CircuitBreakerConfig;
use super::core::Core;
use super::event::{TransitionReason, Verdict};
use super::machine::{Admission, TrialStep, WindowCounts};
use super::stats::CircuitBreakerStats;
use super::store::{Rejected, Role, StateStore, Ticket};
use super::window::{CountWindow, TimeWindow, Window};
use crate::clock::{Instant, duration_to_nanos};
use crate::counter::Counters;
use crate::error::reason::State;
use crate::sync::{AtomicU32, AtomicU64, Mutex, MutexGuard, Ordering};

// Indices into the per-thread counters.
const SUCCESSES: usize = 0;
const FAILURES: usize = 1;
const IGNORED: usize = 2;
const SLOW: usize = 3;
const REJECTED: usize = 4;

pub(super) const STATE_BITS: u32 = 3;
/// `State::Closed.code()`, for the one-comparison fast path.
pub(super) const CLOSED: u64 = 0;
pub(super) const STATE_MASK: u64 = (1 << STATE_BITS) - 1;

pub(super) fn pack(generation: u64, state: State) -> u64 {
    (generation << STATE_BITS) | state.code()
}

pub(super) fn unpack(word: u64) -> (State, u64) {
    (State::from_code(word & STATE_MASK), word >> STATE_BITS)
}

/// A breaker's state in this process; see the [module docs](crate::circuit_breaker). The default store; a
/// fleet-wide store can keep one for the local view of the shared state (see
/// [`impose`](Self::impose)).
///
/// ```
/// use palisade::circuit_breaker::{CircuitBreakerConfig, Core, LocalState, State, StateStore};
/// use palisade::clock::Clock;
/// let config = CircuitBreakerConfig::default();
/// let core = Core::new("db".into(), config, Clock::default());
/// let state = LocalState::new(&config, core.now());
/// assert_eq!(state.state(&core), State::Closed);
/// ```
pub struct LocalState {
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
    /// Consecutive failures only, no slow-call timing, and owned by a breaker nobody listens
    /// to (see [`bind`](Self::bind)): recording a Closed success is counting it plus, at
    /// most, ending the failure run. One flag for the common case; a state not bound to one
    /// breaker takes the general path, which asks each call's core about listeners. Set once
    /// by `bind`, before calls or by a store wrapping this state at its first call; relaxed
    /// loads suffice (a stale `false` only takes the general path).
    plain: std::sync::atomic::AtomicBool,
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
    /// Closed, with an empty window sized for `config`, entered at `now` (on the clock the
    /// breaker will use).
    ///
    /// ```
    /// use palisade::circuit_breaker::LocalState;
    /// let state = LocalState::new(&Default::default(), palisade::clock::Instant::default());
    /// assert_eq!(state.current().1, 0); // generation 0
    /// ```
    pub fn new(config: &CircuitBreakerConfig, now: Instant) -> Self {
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
            plain: std::sync::atomic::AtomicBool::new(false),
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

    /// The state and its generation as they are now, without applying a due transition: one
    /// atomic load. A store layered on this one compares generations to see what changed.
    ///
    /// ```
    /// use palisade::circuit_breaker::{LocalState, State};
    /// let state = LocalState::new(&Default::default(), Default::default());
    /// assert_eq!(state.current(), (State::Closed, 0));
    /// ```
    #[inline]
    pub fn current(&self) -> (State, u64) {
        unpack(self.word.load(Ordering::Acquire))
    }

    /// Adopts `target`, a state decided elsewhere (another instance of a fleet tripped or
    /// recovered the breaker): enters it unless already there, Open until `open_until` (or for
    /// the recovery timeout from now). Publishes the transition with
    /// [`TransitionReason::Imposed`]. Returns whether the state changed.
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreakerConfig, Core, LocalState, State, StateStore};
    /// use palisade::clock::Clock;
    /// let config = CircuitBreakerConfig::default();
    /// let core = Core::new("db".into(), config, Clock::default());
    /// let state = LocalState::new(&config, core.now());
    /// assert!(state.impose(&core, State::Open, None));
    /// assert!(state.acquire(&core).is_err());
    /// assert!(!state.impose(&core, State::Open, None)); // already there
    /// ```
    pub fn impose(&self, core: &Core, target: State, open_until: Option<Instant>) -> bool {
        let now = core.now();
        let transition = {
            let mut t = self.lock();
            if unpack(self.word.load(Ordering::Acquire)).0 == target {
                return false;
            }
            let transition = self.enter(core, &mut t, target, now, TransitionReason::Imposed);
            if let (State::Open, Some(until)) = (target, open_until) {
                self.open_until.store(until.as_nanos(), Ordering::Relaxed);
            }
            transition
        };
        Self::publish(core, &[transition]);
        true
    }

    /// Binds this state to the one breaker that owns it, whose `core` every call brings: if
    /// nobody listens to that breaker, no call needs to ask, and a Closed success is recorded
    /// inline. A breaker binds the state it owns; a store that wraps a `LocalState` for one
    /// breaker (a fleet-wide store keeping its Closed path local) may bind it with the core of
    /// its first call. Never bind a state shared by several breakers.
    ///
    /// ```
    /// use palisade::circuit_breaker::{CircuitBreakerConfig, Core, LocalState, StateStore, Verdict};
    /// use palisade::clock::Clock;
    /// let config = CircuitBreakerConfig::default();
    /// let core = Core::new("db".into(), config, Clock::default());
    /// let state = LocalState::new(&config, core.now());
    /// state.bind(&core);
    /// let ticket = state.acquire(&core)?;
    /// state.complete(&core, ticket, Verdict::Success);
    /// assert_eq!(state.stats(&core).successful_calls, 1);
    /// # Ok::<(), palisade::circuit_breaker::Rejected>(())
    /// ```
    pub fn bind(&self, core: &Core) {
        let plain = !self.detects_slow && !self.uses_window && !core.has_listeners();
        self.plain
            .store(plain, std::sync::atomic::Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, Transitions> {
        crate::sync::lock(&self.transitions)
    }

    #[inline]
    fn started(&self, core: &Core) -> Option<Instant> {
        self.detects_slow.then(|| core.now())
    }

    fn reject(&self, core: &Core, state: State, retry_after: Option<Duration>) -> Rejected {
        self.counters.incr(REJECTED);
        core.rejected(state, retry_after)
    }

    fn publish(core: &Core, transitions: &[Transition]) {
        for &(from, to, reason) in transitions {
            core.publish_transition(from, to, reason);
        }
    }

    /// Enters `to` from the current word. Caller holds the mutex.
    fn enter(
        &self,
        core: &Core,
        t: &mut Transitions,
        to: State,
        now: Instant,
        reason: TransitionReason,
    ) -> Transition {
        let (from, generation) = unpack(self.word.load(Ordering::Acquire));
        match to {
            State::Open => {
                t.trips = t.trips.saturating_add(1);
                // Release via the `word` store below: a reader that sees Open sees this.
                self.open_until.store(
                    core.machine().open_until(now, t.trips).as_nanos(),
                    Ordering::Relaxed,
                );
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

    /// Applies a due time-driven transition. Caller holds the mutex.
    fn catch_up(&self, core: &Core, t: &mut Transitions, now: Instant, out: &mut Vec<Transition>) {
        let (state, _) = unpack(self.word.load(Ordering::Acquire));
        let open_until = Instant::from_nanos(self.open_until.load(Ordering::Relaxed));
        if let Some((to, reason)) = core.machine().due(state, now, open_until, t.entered_at) {
            out.push(self.enter(core, t, to, now, reason));
        }
    }

    /// Admission outside Closed: under the mutex, so trial slots are exact.
    #[cold]
    fn acquire_slow(&self, core: &Core) -> Result<Ticket, Rejected> {
        let now = core.now();
        let mut published = Vec::new();
        let decision = {
            let mut t = self.lock();
            self.catch_up(core, &mut t, now, &mut published);
            let (state, generation) = unpack(self.word.load(Ordering::Acquire));
            let open_until = Instant::from_nanos(self.open_until.load(Ordering::Relaxed));
            match core
                .machine()
                .admit(state, now, open_until, t.trial_calls_in_flight)
            {
                Admission::Admit(Role::Disabled) => {
                    Ok(Ticket::new(generation, Role::Disabled, None))
                }
                Admission::Admit(role) => Ok(Ticket::new(generation, role, self.started(core))),
                Admission::TrialSlot => {
                    t.trial_calls_in_flight += 1;
                    Ok(Ticket::new(generation, Role::TrialCall, self.started(core)))
                }
                Admission::Reject { state, retry_after } => Err((state, retry_after)),
            }
        };
        Self::publish(core, &published);
        decision.map_err(|(state, retry_after)| self.reject(core, state, retry_after))
    }

    /// Whether the outcome was slow, and the time of recording if it was needed.
    #[inline]
    fn timing(&self, core: &Core, ticket: &Ticket, verdict: Verdict) -> (Option<Instant>, bool) {
        if !self.needs_time {
            return (None, false);
        }
        let now = core.now();
        (
            Some(now),
            core.machine().is_slow(ticket.started(), now, verdict),
        )
    }

    #[inline]
    fn count(&self, core: &Core, verdict: Verdict, slow: bool, state: State) {
        self.counters.incr(match verdict {
            Verdict::Success => SUCCESSES,
            Verdict::Failure => FAILURES,
            Verdict::Ignored => IGNORED,
        });
        if slow {
            self.counters.incr(SLOW);
        }
        if core.has_listeners() {
            core.publish_outcome(verdict, slow, state);
        }
    }

    /// A success ends a run of consecutive failures — of this period, not of one that is over.
    #[inline(always)]
    fn end_failure_run(&self, ticket: Ticket) {
        // Load first: a success after a success writes nothing.
        if self.consecutive_failures.load(Ordering::Relaxed) != 0
            && self.word.load(Ordering::Acquire) == ticket.word
        {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
    }

    /// Records a Closed success (window, timing, events): out of line, so that what
    /// [`complete`](StateStore::complete) inlines into each call stays small.
    #[inline(never)]
    fn record_success(&self, core: &Core, ticket: Ticket) {
        self.complete_closed(core, ticket, Verdict::Success, State::Closed)
    }

    /// Records a Closed failure (and trips the breaker if it should).
    #[inline(never)]
    fn record_failure(&self, core: &Core, ticket: Ticket) {
        self.complete_closed(core, ticket, Verdict::Failure, State::Closed)
    }

    /// Records a Closed outcome that counts as neither success nor failure.
    #[cold]
    fn record_ignored(&self, core: &Core, ticket: Ticket) {
        self.complete_closed(core, ticket, Verdict::Ignored, State::Closed)
    }

    /// Records a Closed (or MetricsOnly) outcome: the general path.
    #[inline(always)]
    fn complete_closed(&self, core: &Core, ticket: Ticket, verdict: Verdict, state: State) {
        let (now, slow) = self.timing(core, &ticket, verdict);
        self.count(core, verdict, slow, state);
        if verdict == Verdict::Ignored {
            return;
        }
        let failure = verdict == Verdict::Failure;
        if !failure && !self.uses_window {
            // Without a window only a failure can trip the breaker.
            self.end_failure_run(ticket);
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
        let minimum_calls = u64::from(core.config().minimum_calls);
        let counts = self.window.record(now, failure, slow, minimum_calls);
        if state == State::MetricsOnly {
            return;
        }
        let Some(counts) = counts else {
            return;
        };
        if let Some(reason) = core.machine().trip_reason(failure, consecutive, counts) {
            self.trip(core, word, reason, now);
        }
    }

    #[cold]
    fn trip(&self, core: &Core, expected: u64, reason: TransitionReason, now: Option<Instant>) {
        let transition = {
            let mut t = self.lock();
            if self.word.load(Ordering::Acquire) != expected {
                return; // another call tripped it first, or an operator acted
            }
            let now = now.unwrap_or_else(|| core.now());
            self.enter(core, &mut t, State::Open, now, reason)
        };
        Self::publish(core, &[transition]);
    }

    #[cold]
    fn complete_trial(&self, core: &Core, ticket: Ticket, verdict: Verdict) {
        let (_, slow) = self.timing(core, &ticket, verdict);
        let now = core.now();
        self.count(core, verdict, slow, State::HalfOpen);
        let transition = {
            let mut t = self.lock();
            if self.word.load(Ordering::Acquire) != ticket.word {
                return; // HalfOpen ended while this call ran; its slot went with it
            }
            t.trial_calls_in_flight = t.trial_calls_in_flight.saturating_sub(1);
            match core
                .machine()
                .trial_outcome(verdict, slow, t.trial_successes)
            {
                TrialStep::Reopen => Some(self.enter(
                    core,
                    &mut t,
                    State::Open,
                    now,
                    TransitionReason::TrialCallFailed,
                )),
                TrialStep::Close { successes } => {
                    t.trial_successes = successes;
                    Some(self.enter(
                        core,
                        &mut t,
                        State::Closed,
                        now,
                        TransitionReason::TrialCallsSucceeded { successes },
                    ))
                }
                TrialStep::Continue { successes } => {
                    t.trial_successes = successes;
                    None
                }
                TrialStep::Ignored => None,
            }
        };
        if let Some(transition) = transition {
            Self::publish(core, &[transition]);
        }
    }

    /// Admission when the word is not Closed.
    #[inline(never)]
    fn acquire_not_closed(&self, core: &Core, word: u64) -> Result<Ticket, Rejected> {
        let (state, _) = unpack(word);
        match state {
            // Like Closed, these admit without the lock.
            State::MetricsOnly => Ok(Ticket::from_word(word, self.started(core))),
            State::Disabled => Ok(Ticket::from_word(word, None)),
            State::Open => {
                let now = core.now().as_nanos();
                let until = self.open_until.load(Ordering::Relaxed);
                if now < until {
                    Err(self.reject(core, State::Open, Some(Duration::from_nanos(until - now))))
                } else {
                    self.acquire_slow(core)
                }
            }
            State::ForcedOpen => Err(self.reject(core, State::ForcedOpen, None)),
            _ => self.acquire_slow(core),
        }
    }

    #[inline(never)]
    fn complete_not_closed(&self, core: &Core, ticket: Ticket, verdict: Verdict) {
        match ticket.role() {
            Role::MetricsOnly => self.complete_closed(core, ticket, verdict, State::MetricsOnly),
            Role::TrialCall => self.complete_trial(core, ticket, verdict),
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
    fn acquire(&self, core: &Core) -> Result<Ticket, Rejected> {
        let word = self.word.load(Ordering::Acquire);
        // `?` before the paths meet: the ticket stays in registers.
        let ticket = if word & STATE_MASK == CLOSED {
            Ticket::from_word(word, self.started(core))
        } else {
            self.acquire_not_closed(core, word)?
        };
        Ok(ticket)
    }

    #[inline]
    fn complete(&self, core: &Core, ticket: Ticket, verdict: Verdict) {
        if !ticket.is_closed() {
            return self.complete_not_closed(core, ticket, verdict);
        }
        // Inline only the common case; each verdict's record path is out of line, made for
        // that verdict.
        match verdict {
            Verdict::Success if self.plain.load(std::sync::atomic::Ordering::Relaxed) => {
                self.counters.incr(SUCCESSES);
                self.end_failure_run(ticket);
            }
            Verdict::Success => self.record_success(core, ticket),
            Verdict::Failure => self.record_failure(core, ticket),
            Verdict::Ignored => self.record_ignored(core, ticket),
        }
    }

    #[inline]
    fn release(&self, _core: &Core, ticket: Ticket) {
        if unpack(ticket.word).0 == State::HalfOpen {
            self.release_trial(ticket);
        }
    }

    fn state(&self, core: &Core) -> State {
        let (state, _) = unpack(self.word.load(Ordering::Acquire));
        if !matches!(state, State::Open | State::HalfOpen) {
            return state;
        }
        let now = core.now();
        let mut published = Vec::new();
        let state = {
            let mut t = self.lock();
            self.catch_up(core, &mut t, now, &mut published);
            unpack(self.word.load(Ordering::Acquire)).0
        };
        Self::publish(core, &published);
        state
    }

    fn transition_to(&self, core: &Core, target: State) {
        let now = core.now();
        let transition = {
            let mut t = self.lock();
            // Already there: nothing changes — not the time in state, not the period that
            // admitted the calls in flight. (`reset` is the way to start over.)
            if unpack(self.word.load(Ordering::Acquire)).0 == target {
                return;
            }
            self.enter(core, &mut t, target, now, TransitionReason::Manual)
        };
        Self::publish(core, &[transition]);
    }

    fn reset(&self, core: &Core) {
        let now = core.now();
        let transition = {
            let mut t = self.lock();
            let transition = self.enter(core, &mut t, State::Closed, now, TransitionReason::Manual);
            self.counters.reset();
            transition
        };
        if transition.0 != transition.1 {
            Self::publish(core, &[transition]);
        }
    }

    fn stats(&self, core: &Core) -> CircuitBreakerStats {
        let state = self.state(core);
        let now = core.now();
        let t = self.lock();
        let counts = self.window_counts(now);
        let config = core.config();
        let evaluable = config.uses_window()
            && counts.calls > 0
            && counts.calls >= u64::from(config.minimum_calls);
        let rate = |n: u64| evaluable.then(|| n as f64 * 100.0 / counts.calls as f64);
        let mut stats = CircuitBreakerStats::new(state);
        stats.failure_rate = rate(counts.failures);
        stats.slow_call_rate = rate(counts.slow);
        stats.calls_in_window = counts.calls;
        stats.failures_in_window = counts.failures;
        stats.slow_calls_in_window = counts.slow;
        stats.consecutive_failures = self.consecutive_failures.load(Ordering::Relaxed);
        stats.not_permitted_calls = self.counters.get(REJECTED);
        stats.time_in_state = now.saturating_duration_since(t.entered_at);
        stats.retry_after = (state == State::Open).then(|| {
            Duration::from_nanos(
                self.open_until
                    .load(Ordering::Relaxed)
                    .saturating_sub(now.as_nanos()),
            )
        });
        stats.trial_calls_in_flight = if state == State::HalfOpen {
            t.trial_calls_in_flight
        } else {
            0
        };
        stats.successful_calls = self.counters.get(SUCCESSES);
        stats.failed_calls = self.counters.get(FAILURES);
        stats.ignored_calls = self.counters.get(IGNORED);
        stats.slow_calls = self.counters.get(SLOW);
        stats
    }
}

impl std::fmt::Debug for LocalState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (state, generation) = unpack(self.word.load(Ordering::Acquire));
        f.debug_struct("LocalState")
            .field("state", &state)
            .field("generation", &generation)
            .finish_non_exhaustive()
    }
}
