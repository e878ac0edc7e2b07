//! [`RedisBreakerStore`]: a breaker's [`StateStore`] whose decisions are the fleet's.
//!
//! Admission and Closed outcomes stay in this process (a [`LocalState`] and a [`Batch`]);
//! the background task of [`sync`](super::sync) sends the batch, and brings back the fleet's
//! state, which the next call adopts with [`LocalState::impose`]. Only half-open trial calls
//! (and every call in strict mode) wait for Redis, at most the Redis timeout.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use palisade::circuit_breaker::{
    CircuitBreakerConfig, CircuitBreakerStats, Core, LocalState, Machine, Rejected, Role, State,
    StateStore, Ticket, Verdict,
};
use palisade::clock::Clock;
use tokio::sync::Notify;

use super::batch::Batch;
use super::scripts::{self, Answer, Fleet, SCRIPTS, Target};
use crate::WhenDown;
use crate::error::Error;
use crate::link::Link;

/// A batch this large is sent without waiting for the flush interval.
const FLUSH_CALLS: u64 = 256;

// Bits of `Inner::flags`.
/// A fleet state waits in the inbox.
const PENDING: u8 = 1;
/// Strict mode.
const STRICT: u8 = 2;
/// The fallback is not `Local`: admission must look at the link.
const GATED: u8 = 4;
/// The local state is not yet bound to its breaker's core (done at the first call).
const UNBOUND: u8 = 8;

/// One breaker's store on one instance: the state a [`RedisBackend`](crate::RedisBackend)
/// shares through Redis (see the [module docs](crate::breaker)). A breaker built by
/// [`RedisBackend::circuit_breaker`](crate::RedisBackend::circuit_breaker) holds it by type,
/// so its Closed path inlines; a pipeline given the backend holds it behind
/// `circuit_breaker::Store::custom`.
///
/// ```no_run
/// use palisade::circuit_breaker::{CircuitBreaker, CircuitBreakerConfig};
/// use palisade_redis::RedisBreakerStore;
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let backend = palisade_redis::RedisBackend::builder().connect().await?;
/// let breaker: CircuitBreaker<_, _, _, RedisBreakerStore> =
///     backend.circuit_breaker("payments", CircuitBreakerConfig::default())?;
/// # let _ = breaker; Ok(()) }
/// ```
pub struct RedisBreakerStore {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisBreakerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("RedisBreakerStore")
            .field("target", inner.link.target())
            .field("state", &inner.local.current())
            .field("when_down", &inner.when_down)
            .finish_non_exhaustive()
    }
}

pub(super) struct Inner {
    pub(super) local: LocalState,
    pub(super) link: Arc<Link>,
    pub(super) target: Target,
    pub(super) config: CircuitBreakerConfig,
    when_down: WhenDown,
    /// A sliding window is kept: calls are counted.
    counted: bool,
    detects_slow: bool,
    failure_threshold: u64,
    half_open_requests: u32,
    successes_to_close: u32,
    lease_ttl: Duration,
    pub(super) batch: Batch,
    /// Wakes the background task (a batch to send now).
    pub(super) kick: Arc<Notify>,
    /// A fleet state waits in the inbox.
    /// `PENDING | STRICT | GATED`: whether admission must leave the fast path (one load).
    flags: AtomicU8,
    /// A success needs nothing but the local state and the batch's run (no window, no
    /// timing, not strict).
    plain_success: bool,
    inbox: Mutex<Inbox>,
    failed: AtomicU64,
    slow: AtomicU64,
    /// Trial leases held by this instance's calls in flight.
    leases: Mutex<Vec<String>>,
    lease_seq: AtomicU64,
    instance: String,
}

#[derive(Default)]
struct Inbox {
    /// The newest state heard and not adopted yet, and when it was heard.
    latest: Option<(Fleet, std::time::Instant)>,
    adopted_epoch: String,
    adopted_generation: u64,
    /// The fleet's run and window at the last answer, for stats.
    run: u64,
    window: (u64, u64, u64),
}

impl RedisBreakerStore {
    pub(crate) fn new(
        backend: &crate::RedisBackend,
        name: &str,
        config: &CircuitBreakerConfig,
        clock: &Clock,
    ) -> RedisBreakerStore {
        let settings = &backend.shared.settings;
        let link = Arc::clone(&backend.shared.link);
        let lease_ttl = config
            .max_wait_in_half_open
            .unwrap_or(config.recovery_timeout)
            .max(Duration::from_secs(1));
        let machine = Machine::new(*config);
        let inner = Arc::new(Inner {
            local: LocalState::new(config, clock.now()),
            target: Target::new(&settings.keys, name, config, settings.state_ttl),
            config: *config,
            when_down: settings.breaker_when_down,
            counted: machine.uses_window(),
            detects_slow: machine.detects_slow_calls(),
            failure_threshold: config.failure_threshold.map_or(0, u64::from),
            half_open_requests: config.half_open_requests,
            successes_to_close: config
                .success_threshold
                .unwrap_or(config.half_open_requests),
            lease_ttl,
            batch: Batch::default(),
            kick: Arc::new(Notify::new()),
            flags: AtomicU8::new(
                UNBOUND
                    | if settings.breaker_strict { STRICT } else { 0 }
                    | if settings.breaker_when_down == WhenDown::Local {
                        0
                    } else {
                        GATED
                    },
            ),
            plain_success: !settings.breaker_strict
                && !machine.uses_window()
                && !machine.detects_slow_calls(),
            inbox: Mutex::new(Inbox::default()),
            failed: AtomicU64::new(0),
            slow: AtomicU64::new(0),
            leases: Mutex::new(Vec::new()),
            lease_seq: AtomicU64::new(0),
            instance: super::unique_id(),
            link,
        });
        // Join: adopt the shared state before the first call (never write it).
        if inner.link.is_up() {
            let invocation = inner.read_invocation();
            if let Ok(answer) = inner
                .link
                .run_blocking(move |conn| scripts::invoke(invocation, conn))
            {
                inner.offer(&answer, true);
            }
        }
        super::sync::start(&inner, settings.flush_interval, settings.poll_interval);
        RedisBreakerStore { inner }
    }
}

impl Inner {
    fn inbox(&self) -> std::sync::MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A script's answer: keep its counts, and queue its state if it is newer than the one
    /// adopted (or in any case: `force`, after joining or an outage).
    pub(super) fn offer(&self, answer: &Answer, force: bool) {
        let mut inbox = self.inbox();
        inbox.run = answer.run;
        inbox.window = answer.window;
        self.queue(&mut inbox, &answer.fleet, force);
    }

    /// A published state.
    pub(super) fn heard(&self, fleet: &Fleet) {
        let mut inbox = self.inbox();
        self.queue(&mut inbox, fleet, false);
    }

    fn queue(&self, inbox: &mut Inbox, fleet: &Fleet, force: bool) {
        let newer = match &inbox.latest {
            Some((queued, _)) => fleet.is_newer_than(&queued.epoch, queued.generation),
            None => fleet.is_newer_than(&inbox.adopted_epoch, inbox.adopted_generation),
        };
        // A state created by nobody yet (epoch '') is nothing to adopt.
        if (newer || force) && !fleet.epoch.is_empty() {
            inbox.latest = Some((fleet.clone(), std::time::Instant::now()));
            self.flags.fetch_or(PENDING, Ordering::Release);
        }
    }

    /// Adopts a queued fleet state, on the caller's thread (the breaker's `core` publishes
    /// the transition to its listeners).
    #[cold]
    fn adopt(&self, core: &Core) {
        let queued = {
            let mut inbox = self.inbox();
            self.flags.fetch_and(!PENDING, Ordering::Release);
            let Some((fleet, heard)) = inbox.latest.take() else {
                return;
            };
            inbox.adopted_epoch.clone_from(&fleet.epoch);
            inbox.adopted_generation = fleet.generation;
            (fleet, heard)
        };
        let (fleet, heard) = queued;
        let open_until = (fleet.state == State::Open).then(|| {
            // Count the rest down on this instance's clock, less the time since it was heard.
            let left = fleet.remaining.saturating_sub(heard.elapsed());
            core.now().saturating_add(left)
        });
        self.local.impose(core, fleet.state, open_until);
    }

    #[inline]
    fn sync(&self, core: &Core) {
        if self.flags.load(Ordering::Acquire) & PENDING != 0 {
            self.adopt(core);
        }
    }

    fn adopted(&self) -> (String, u64) {
        let inbox = self.inbox();
        (inbox.adopted_epoch.clone(), inbox.adopted_generation)
    }

    fn read_invocation(&self) -> redis::ScriptInvocation<'static> {
        let mut invocation = self.target.invocation(&SCRIPTS.read);
        self.target.window_args(&mut invocation);
        invocation
    }

    /// Whether Redis is out of reach and the fallback is not `Local`: admission decides
    /// without the fleet.
    #[inline]
    fn bypassed(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & GATED != 0 && !self.link.is_up()
    }

    /// Admission while Redis is unreachable under `Allow` or `Reject`.
    #[cold]
    fn when_down(&self, core: &Core) -> Result<Ticket, Rejected> {
        match self.when_down {
            WhenDown::Reject => Err(core.rejected(State::Open, None)),
            // Admitted in a role that records nothing: nothing trips while Redis is away.
            _ => Ok(Ticket::new(self.local.current().1, Role::Disabled, None)),
        }
    }

    fn lease_invocation(&self, id: &str) -> redis::ScriptInvocation<'static> {
        let (epoch, generation) = self.adopted();
        let mut invocation = self.target.invocation(&SCRIPTS.lease);
        invocation
            .arg(generation)
            .arg(epoch)
            .arg(id)
            .arg(self.half_open_requests)
            .arg(u64::try_from(self.lease_ttl.as_millis()).unwrap_or(u64::MAX));
        invocation
    }

    fn next_lease(&self) -> String {
        let n = self.lease_seq.fetch_add(1, Ordering::Relaxed);
        format!("{}:{n}", self.instance)
    }

    /// What the lease script said about a trial call admitted here.
    fn leased(
        &self,
        core: &Core,
        ticket: Ticket,
        id: String,
        answer: Result<Answer, Error>,
    ) -> Result<Ticket, Rejected> {
        let answer = match answer {
            Ok(answer) => answer,
            Err(_) => return self.trial_without_lease(core, ticket),
        };
        match answer.status {
            1 => {
                self.leases
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(id);
                Ok(ticket)
            }
            0 => {
                self.local.release(core, ticket);
                Err(core.rejected(State::HalfOpen, None))
            }
            _ => {
                // The fleet moved on (closed, re-opened): adopt, and decide once more on it.
                self.local.release(core, ticket);
                self.offer(&answer, true);
                self.adopt(core);
                let again = self.local.acquire(core)?;
                if again.role() == Role::TrialCall {
                    self.local.release(core, again);
                    return Err(core.rejected(State::HalfOpen, None));
                }
                Ok(again)
            }
        }
    }

    /// A trial call when no lease could be asked for: the fallback decides.
    fn trial_without_lease(&self, core: &Core, ticket: Ticket) -> Result<Ticket, Rejected> {
        match self.when_down {
            WhenDown::Reject => {
                self.local.release(core, ticket);
                Err(core.rejected(State::HalfOpen, None))
            }
            // Local trial slots only (Local), or admitted (Allow): the local state counts them.
            _ => Ok(ticket),
        }
    }

    /// Strict mode, blocking caller: reads the shared state (out of line: the Closed path
    /// of the default mode stays small).
    #[cold]
    #[inline(never)]
    fn read_blocking(&self) {
        let invocation = self.read_invocation();
        if let Ok(answer) = self
            .link
            .run_blocking(move |conn| scripts::invoke(invocation, conn))
        {
            self.offer(&answer, false);
        }
    }

    /// A trial call admitted locally asks for a lease, from a blocking caller.
    #[cold]
    #[inline(never)]
    fn lease_blocking(&self, core: &Core, ticket: Ticket) -> Result<Ticket, Rejected> {
        if !self.link.is_up() {
            return self.trial_without_lease(core, ticket);
        }
        let id = self.next_lease();
        let invocation = self.lease_invocation(&id);
        let answer = self
            .link
            .run_blocking(move |conn| scripts::invoke(invocation, conn));
        self.leased(core, ticket, id, answer)
    }

    fn is_slow(&self, core: &Core, ticket: &Ticket, verdict: Verdict) -> bool {
        self.detects_slow
            && core
                .machine()
                .is_slow(ticket.started(), core.now(), verdict)
    }

    /// A plain Closed success that ends a run of failures (or is the batch's first).
    #[inline(never)]
    fn success_after_failure(&self, core: &Core, ticket: Ticket) {
        self.batch.success(false, false);
        self.local.complete(core, ticket, Verdict::Success);
    }

    /// Every outcome but a plain Closed success.
    #[inline(never)]
    fn complete_other(self: &Arc<Self>, core: &Core, ticket: Ticket, verdict: Verdict) {
        match ticket.role() {
            Role::Closed => self.complete_closed(core, ticket, verdict),
            Role::TrialCall => self.complete_trial(core, ticket, verdict),
            _ => self.local.complete(core, ticket, verdict),
        }
    }

    fn strict(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & STRICT != 0
    }

    /// Admission off the fast path: strict mode, a fleet state to adopt, or a fallback that
    /// looks at the link.
    #[cold]
    #[inline(never)]
    fn acquire_slow(&self, core: &Core) -> Result<Ticket, Rejected> {
        self.bind(core);
        if self.strict() {
            self.read_blocking();
        }
        self.sync(core);
        if self.bypassed() {
            return self.when_down(core);
        }
        let ticket = self.local.acquire(core)?;
        if ticket.role() != Role::TrialCall {
            return Ok(ticket);
        }
        self.lease_blocking(core, ticket)
    }

    /// At the first call: binds the local state to this breaker's core, so that a Closed
    /// success nobody listens to is recorded inline (`LocalState::bind`). This store serves
    /// one breaker.
    fn bind(&self, core: &Core) {
        if self.flags.load(Ordering::Relaxed) & UNBOUND != 0 {
            self.local.bind(core);
            self.flags.fetch_and(!UNBOUND, Ordering::Release);
        }
    }

    /// A Closed outcome: to the batch while Redis is reachable; to the local state (which may
    /// trip on it) when it is not and the fallback is `Local`.
    fn complete_closed(&self, core: &Core, ticket: Ticket, verdict: Verdict) {
        if !self.link.is_up() && self.when_down == WhenDown::Local {
            return self.local.complete(core, ticket, verdict);
        }
        if verdict == Verdict::Success && !self.detects_slow {
            // The local state counts it (stats, events) and cannot trip on a success it
            // alone sees: no failure reaches it while Redis is reachable.
            self.local.complete(core, ticket, verdict);
            let calls = self.batch.success(self.counted, false);
            if calls == FLUSH_CALLS || self.strict() {
                self.kick.notify_one();
            }
            return;
        }
        self.complete_counted(core, ticket, verdict);
    }

    /// A failure, or any outcome with slow-call detection on: counted here, not locally.
    #[inline(never)]
    fn complete_counted(&self, core: &Core, ticket: Ticket, verdict: Verdict) {
        let slow = self.is_slow(core, &ticket, verdict);
        let (run, calls) = match verdict {
            Verdict::Ignored => return self.local.complete(core, ticket, verdict),
            Verdict::Success if !slow => {
                self.local.complete(core, ticket, verdict);
                (0, self.batch.success(self.counted, false))
            }
            Verdict::Success => (0, self.batch.success(self.counted, true)),
            Verdict::Failure => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.batch.failure(self.counted, slow)
            }
        };
        if slow {
            self.slow.fetch_add(1, Ordering::Relaxed);
        }
        if (verdict == Verdict::Failure || slow) && core.has_listeners() {
            core.publish_outcome(verdict, slow, State::Closed);
        }
        // This instance alone saw the threshold in a row: the fleet's run is at least that
        // long unless another instance's success came in between. Send it now.
        let threshold = self.failure_threshold > 0 && run == self.failure_threshold;
        if threshold || calls == FLUSH_CALLS || self.strict() {
            self.kick.notify_one();
        }
    }

    /// A trial call's outcome: to the local state, and to the fleet with its lease.
    #[cold]
    #[inline(never)]
    fn complete_trial(self: &Arc<Self>, core: &Core, ticket: Ticket, verdict: Verdict) {
        let slow = self.is_slow(core, &ticket, verdict);
        self.local.complete(core, ticket, verdict);
        let outcome = match verdict {
            Verdict::Failure => 2,
            Verdict::Success if slow => 2,
            Verdict::Success => 1,
            Verdict::Ignored => 0,
        };
        self.send_trial(outcome);
    }

    /// Sends a trial outcome (0: the lease given back) in the background: the caller has
    /// its answer already and must not wait.
    fn send_trial(self: &Arc<Self>, outcome: u8) {
        let Some(id) = self
            .leases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
        else {
            return; // admitted without a lease (Redis was unreachable)
        };
        let (epoch, generation) = self.adopted();
        let mut invocation = self.target.invocation(&SCRIPTS.trial);
        invocation
            .arg(generation)
            .arg(epoch)
            .arg(id)
            .arg(outcome)
            .arg(self.successes_to_close);
        let weak: Weak<Inner> = Arc::downgrade(self);
        let link = Arc::clone(&self.link);
        self.link.runtime().spawn(async move {
            if let Ok(answer) = link
                .run(move |conn| scripts::invoke(invocation, conn))
                .await
                && let Some(inner) = weak.upgrade()
            {
                inner.offer(&answer, false);
            }
        });
    }

    /// An operator's action, for the whole fleet (bounded by the Redis timeout; if Redis is
    /// unreachable, it stays local until the fleet's state is adopted again).
    fn set(&self, target: State, reset: bool) {
        let mut invocation = self.target.invocation(&SCRIPTS.set);
        invocation.arg(scripts::code(target)).arg(u8::from(reset));
        if let Ok(answer) = self
            .link
            .run_blocking(move |conn| scripts::invoke(invocation, conn))
        {
            self.offer(&answer, false);
        }
    }
}

impl StateStore for RedisBreakerStore {
    #[inline]
    fn acquire(&self, core: &Core) -> Result<Ticket, Rejected> {
        let inner = &*self.inner;
        if inner.flags.load(Ordering::Acquire) != 0 {
            return inner.acquire_slow(core);
        }
        let ticket = inner.local.acquire(core)?;
        if ticket.role() != Role::TrialCall {
            return Ok(ticket);
        }
        inner.lease_blocking(core, ticket)
    }

    async fn acquire_async(&self, core: &Core) -> Result<Ticket, Rejected> {
        let inner = &*self.inner;
        inner.bind(core);
        if inner.strict() {
            let invocation = inner.read_invocation();
            if let Ok(answer) = inner
                .link
                .run(move |conn| scripts::invoke(invocation, conn))
                .await
            {
                inner.offer(&answer, false);
            }
        }
        inner.sync(core);
        if inner.bypassed() {
            return inner.when_down(core);
        }
        let ticket = inner.local.acquire(core)?;
        if ticket.role() != Role::TrialCall {
            return Ok(ticket);
        }
        if !inner.link.is_up() {
            return inner.trial_without_lease(core, ticket);
        }
        let id = inner.next_lease();
        let invocation = inner.lease_invocation(&id);
        let answer = inner
            .link
            .run(move |conn| scripts::invoke(invocation, conn))
            .await;
        inner.leased(core, ticket, id, answer)
    }

    #[inline]
    fn complete(&self, core: &Core, ticket: Ticket, verdict: Verdict) {
        let inner = &self.inner;
        if verdict == Verdict::Success && inner.plain_success && ticket.role() == Role::Closed {
            // The local state counts it (stats, events) and cannot trip on a success; a
            // quiet batch has nothing for it to change, whether Redis is reachable or not
            // (the `Local` fallback records it locally too).
            if inner.batch.is_quiet() {
                return inner.local.complete(core, ticket, verdict);
            }
            if !inner.link.is_up() {
                return inner.complete_other(core, ticket, verdict);
            }
            // The batch notes that a run of failures ended (out of line: both paths end
            // in a jump, and the common one saves no register).
            return inner.success_after_failure(core, ticket);
        }
        inner.complete_other(core, ticket, verdict);
    }

    fn release(&self, core: &Core, ticket: Ticket) {
        self.inner.local.release(core, ticket);
        if ticket.role() == Role::TrialCall {
            self.inner.send_trial(0);
        }
    }

    fn state(&self, core: &Core) -> State {
        self.inner.sync(core);
        self.inner.local.state(core)
    }

    fn transition_to(&self, core: &Core, target: State) {
        self.inner.sync(core);
        self.inner.local.transition_to(core, target);
        self.inner.set(target, false);
    }

    fn reset(&self, core: &Core) {
        self.inner.sync(core);
        self.inner.local.reset(core);
        self.inner.set(State::Closed, true);
    }

    fn stats(&self, core: &Core) -> CircuitBreakerStats {
        let inner = &*self.inner;
        inner.sync(core);
        let mut stats = inner.local.stats(core);
        stats.failed_calls += inner.failed.load(Ordering::Relaxed);
        stats.slow_calls += inner.slow.load(Ordering::Relaxed);
        if inner.link.is_up() {
            // The fleet's counts as of the last answer from Redis.
            let (run, (calls, failures, slow)) = {
                let inbox = inner.inbox();
                (inbox.run, inbox.window)
            };
            let config = core.config();
            let evaluable = inner.counted && calls > 0 && calls >= u64::from(config.minimum_calls);
            let rate = |n: u64| evaluable.then(|| n as f64 * 100.0 / calls as f64);
            stats.consecutive_failures = u32::try_from(run).unwrap_or(u32::MAX);
            stats.calls_in_window = calls;
            stats.failures_in_window = failures;
            stats.slow_calls_in_window = slow;
            stats.failure_rate = rate(failures);
            stats.slow_call_rate = rate(slow);
        }
        stats
    }
}
