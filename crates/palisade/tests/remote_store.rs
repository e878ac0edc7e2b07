//! The store seams, proven with a store that lives elsewhere: a test-only "fleet server" that
//! answers asynchronously, with injected latency and failures, shared by several instances
//! (pipelines standing for processes). Through a pipeline, a registry built from
//! configuration, a tower layer and `#[resilient]`, two instances agree on an open breaker
//! and share one rate-limit quota — while each instance's Closed hot path stays local.

mod common;

use common::fault::Down;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use common::time::ms;
use palisade::Error;
use palisade::backend::Backend;
use palisade::circuit_breaker::{
    self, CircuitBreakerConfig, CircuitBreakerStats, Core, LocalState, Rejected, State, StateStore,
    Ticket, TransitionReason, Verdict,
};
use palisade::clock::{Clock, Instant};
#[cfg(feature = "config")]
use palisade::config::{Format, Loader};
use palisade::event::Event;
use palisade::pipeline::Pipeline;
use palisade::rate_limit::{self, Algorithm, Denied, Rate, RateLimitInfo};
#[cfg(feature = "config")]
use palisade::registry::Registry;

// ---------------------------------------------------------------------------------------------
// The fleet server: shared state, reached only asynchronously, slowly, and not always
// ---------------------------------------------------------------------------------------------

/// A breaker's shared state on the server: decided by proposals, ordered by generation.
#[derive(Debug, Clone, Copy)]
struct FleetBreaker {
    state: State,
    generation: u64,
    open_until: Instant,
    trial_leases: u32,
}

#[derive(Debug)]
struct Server {
    clock: Clock,
    latency: Duration,
    /// While set, every request fails (the server is unreachable).
    down: AtomicBool,
    breakers: Mutex<HashMap<String, FleetBreaker>>,
    limiters: Mutex<HashMap<String, Arc<rate_limit::LocalState>>>,
    /// Requests served, for asserting the hot path never comes here.
    requests: AtomicUsize,
}

#[derive(Debug, PartialEq)]
struct Unreachable;

impl Server {
    fn new(clock: Clock, latency: Duration) -> Arc<Server> {
        Arc::new(Server {
            clock,
            latency,
            down: AtomicBool::new(false),
            breakers: Mutex::new(HashMap::new()),
            limiters: Mutex::new(HashMap::new()),
            requests: AtomicUsize::new(0),
        })
    }

    /// One round trip.
    async fn round_trip(&self) -> Result<(), Unreachable> {
        self.clock.sleep(self.latency).await;
        self.requests.fetch_add(1, Ordering::Relaxed);
        if self.down.load(Ordering::Acquire) {
            return Err(Unreachable);
        }
        Ok(())
    }

    /// An instance saw its breaker change: the fleet adopts a change to a newer period.
    async fn propose(
        &self,
        name: &str,
        state: State,
        open_until: Instant,
    ) -> Result<FleetBreaker, Unreachable> {
        self.round_trip().await?;
        let mut breakers = self.breakers.lock().unwrap();
        let fleet = breakers.entry(name.to_owned()).or_insert(FleetBreaker {
            state: State::Closed,
            generation: 0,
            open_until: Instant::default(),
            trial_leases: 0,
        });
        if fleet.state != state {
            fleet.state = state;
            fleet.generation += 1;
            fleet.open_until = open_until;
            fleet.trial_leases = 0;
        }
        Ok(*fleet)
    }

    async fn breaker(&self, name: &str) -> Result<Option<FleetBreaker>, Unreachable> {
        self.round_trip().await?;
        Ok(self.breakers.lock().unwrap().get(name).copied())
    }

    /// A lease for one half-open trial call, fleet-wide.
    async fn lease_trial(&self, name: &str, max: u32) -> Result<bool, Unreachable> {
        self.round_trip().await?;
        let mut breakers = self.breakers.lock().unwrap();
        let Some(fleet) = breakers.get_mut(name) else {
            return Ok(true); // the fleet never tripped: nothing to coordinate
        };
        if fleet.trial_leases < max {
            fleet.trial_leases += 1;
            return Ok(true);
        }
        Ok(false)
    }

    fn limiter(&self, name: &str, algorithm: Algorithm) -> Arc<rate_limit::LocalState> {
        let mut limiters = self.limiters.lock().unwrap();
        Arc::clone(limiters.entry(name.to_owned()).or_insert_with(|| {
            Arc::new(rate_limit::LocalState::new(algorithm, self.clock.now()).unwrap())
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// The breaker store: a local view, synced in the background
// ---------------------------------------------------------------------------------------------

/// One instance's store for one breaker: admissions and outcomes on a local `LocalState`
/// (no round trip on the Closed path); changes pushed to the server and the fleet's state
/// pulled from it by a background task; half-open trial calls leased from the server.
struct FleetBreakerStore {
    name: String,
    server: Arc<Server>,
    local: LocalState,
    /// The local generation last seen, to notice local transitions.
    seen_local: AtomicU64,
    /// The fleet generation last adopted.
    adopted: AtomicU64,
    /// The fleet's latest state, fetched by the background task.
    latest: Arc<Mutex<Option<FleetBreaker>>>,
    /// A local change waiting to be pushed: (state, open until).
    outbox: Arc<Mutex<Option<(State, Instant)>>>,
    half_open_requests: u32,
}

impl FleetBreakerStore {
    fn new(server: Arc<Server>, name: &str, config: &CircuitBreakerConfig, clock: &Clock) -> Self {
        let latest = Arc::new(Mutex::new(None));
        let outbox: Arc<Mutex<Option<(State, Instant)>>> = Arc::new(Mutex::new(None));
        // The sync loop: every 50 ms, push a local change, pull the fleet's state. Failures
        // (the server down) leave the change in the outbox for the next round.
        tokio::spawn({
            let (server, name, latest, outbox, clock) = (
                Arc::clone(&server),
                name.to_owned(),
                Arc::clone(&latest),
                Arc::clone(&outbox),
                clock.clone(),
            );
            async move {
                loop {
                    clock.sleep(ms(50)).await;
                    let pending = *outbox.lock().unwrap();
                    if let Some((state, until)) = pending
                        && server.propose(&name, state, until).await.is_ok()
                    {
                        let mut outbox = outbox.lock().unwrap();
                        if *outbox == Some((state, until)) {
                            *outbox = None;
                        }
                    }
                    if let Ok(fleet) = server.breaker(&name).await {
                        *latest.lock().unwrap() = fleet;
                    }
                }
            }
        });
        FleetBreakerStore {
            name: name.to_owned(),
            server,
            local: LocalState::new(config, clock.now()),
            seen_local: AtomicU64::new(0),
            adopted: AtomicU64::new(0),
            latest,
            outbox,
            half_open_requests: config.half_open_requests,
        }
    }

    /// Adopts a newer fleet state, then queues a local change for the fleet.
    fn sync(&self, core: &Core) {
        let fleet = *self.latest.lock().unwrap();
        if let Some(fleet) = fleet
            && fleet.generation > self.adopted.swap(fleet.generation, Ordering::AcqRel)
        {
            let open_until = (fleet.state == State::Open).then_some(fleet.open_until);
            self.local.impose(core, fleet.state, open_until);
            self.seen_local
                .store(self.local.current().1, Ordering::Release);
        }
        let (state, generation) = self.local.current();
        if self.seen_local.swap(generation, Ordering::AcqRel) != generation
            && matches!(state, State::Open | State::Closed)
        {
            let until = core.now().saturating_add(core.config().recovery_timeout);
            *self.outbox.lock().unwrap() = Some((state, until));
        }
    }
}

impl StateStore for FleetBreakerStore {
    fn acquire(&self, core: &Core) -> Result<Ticket, Rejected> {
        self.sync(core);
        self.local.acquire(core)
    }

    async fn acquire_async(&self, core: &Core) -> Result<Ticket, Rejected> {
        self.sync(core);
        let ticket = self.local.acquire(core)?;
        if ticket.role() == circuit_breaker::Role::TrialCall {
            // A trial call runs only with one of the fleet's leases.
            match self
                .server
                .lease_trial(&self.name, self.half_open_requests)
                .await
            {
                Ok(true) => {}
                _ => {
                    self.local.release(core, ticket);
                    return Err(core.rejected(State::HalfOpen, None));
                }
            }
        }
        Ok(ticket)
    }

    fn complete(&self, core: &Core, ticket: Ticket, verdict: Verdict) {
        self.local.complete(core, ticket, verdict);
        self.sync(core);
    }

    fn release(&self, core: &Core, ticket: Ticket) {
        self.local.release(core, ticket)
    }

    fn state(&self, core: &Core) -> State {
        self.sync(core);
        self.local.state(core)
    }

    fn transition_to(&self, core: &Core, target: State) {
        self.local.transition_to(core, target);
        self.sync(core);
    }

    fn reset(&self, core: &Core) {
        self.local.reset(core);
        self.sync(core);
    }

    fn stats(&self, core: &Core) -> CircuitBreakerStats {
        self.local.stats(core)
    }
}

// ---------------------------------------------------------------------------------------------
// The rate-limit store: every decision on the server
// ---------------------------------------------------------------------------------------------

/// One quota for the whole fleet: the async path makes a round trip; when the server is
/// unreachable, it refuses (fail closed) for a second.
struct FleetLimiterStore {
    server: Arc<Server>,
    shared: Arc<rate_limit::LocalState>,
    remote_decisions: Arc<AtomicUsize>,
}

impl rate_limit::StateStore for FleetLimiterStore {
    fn try_acquire_n(&self, now: Instant, n: u32) -> Result<RateLimitInfo, Denied> {
        self.shared.try_acquire_n(now, n)
    }

    async fn try_acquire_n_async(&self, now: Instant, n: u32) -> Result<RateLimitInfo, Denied> {
        self.remote_decisions.fetch_add(1, Ordering::Relaxed);
        match self.server.round_trip().await {
            Ok(()) => self.shared.try_acquire_n(now, n),
            Err(Unreachable) => Err(Denied::RateLimited {
                retry_after: Duration::from_secs(1),
                info: RateLimitInfo::new(0, 0, Duration::from_secs(1)),
            }),
        }
    }

    fn info(&self, now: Instant) -> RateLimitInfo {
        self.shared.info(now)
    }

    fn set_algorithm(
        &self,
        now: Instant,
        algorithm: Algorithm,
    ) -> Result<(), palisade::ConfigError> {
        self.shared.set_algorithm(now, algorithm)
    }

    fn algorithm(&self) -> Algorithm {
        self.shared.algorithm()
    }
}

// ---------------------------------------------------------------------------------------------
// The backend that hands these stores out
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Fleet {
    server: Arc<Server>,
    remote_decisions: Arc<AtomicUsize>,
}

impl Fleet {
    fn new(server: &Arc<Server>) -> Fleet {
        Fleet {
            server: Arc::clone(server),
            remote_decisions: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl Backend for Fleet {
    fn circuit_breaker_store(
        &self,
        name: &str,
        config: &CircuitBreakerConfig,
        clock: &Clock,
    ) -> Option<circuit_breaker::Store> {
        Some(circuit_breaker::Store::custom(FleetBreakerStore::new(
            Arc::clone(&self.server),
            name,
            config,
            clock,
        )))
    }

    fn rate_limiter_store(
        &self,
        name: &str,
        algorithm: Algorithm,
        _clock: &Clock,
    ) -> Option<rate_limit::Store> {
        Some(rate_limit::Store::custom(FleetLimiterStore {
            server: Arc::clone(&self.server),
            shared: self.server.limiter(name, algorithm),
            remote_decisions: Arc::clone(&self.remote_decisions),
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// Through a pipeline
// ---------------------------------------------------------------------------------------------

/// One instance's pipeline for "payments".
fn instance(fleet: &Fleet, clock: &Clock, log: &Arc<Mutex<Vec<String>>>) -> Pipeline {
    let log = Arc::clone(log);
    Pipeline::builder()
        .name("payments")
        .clock(clock.clone())
        .circuit_breaker(|b| {
            b.failure_threshold(3)
                .recovery_timeout(Duration::from_secs(10))
        })
        .backend(fleet.clone())
        .on_event(move |e: &Event<'_>| {
            if let Event::CircuitBreaker(circuit_breaker::CircuitBreakerEvent::StateTransition {
                to,
                reason,
                ..
            }) = e
            {
                log.lock().unwrap().push(format!("{to} ({reason})"));
            }
        })
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn two_instances_agree_on_an_open_breaker_through_a_pipeline() {
    let clock = Clock::tokio();
    let server = Server::new(clock.clone(), ms(5));
    let fleet = Fleet::new(&server);
    let (log_a, log_b) = (Arc::default(), Arc::default());
    let a = instance(&fleet, &clock, &log_a);
    let b = instance(&fleet, &clock, &log_b);

    // Closed: calls never wait on the server (only the sync loops talk to it).
    let before = server.requests.load(Ordering::Relaxed);
    for _ in 0..100 {
        assert_eq!(b.call(|| async { Ok::<_, &str>(1) }).await, Ok(1));
    }
    assert_eq!(
        server.requests.load(Ordering::Relaxed),
        before,
        "no round trip per call"
    );

    // The server goes down just as instance A trips its breaker.
    server.down.store(true, Ordering::Release);
    for _ in 0..3 {
        let _ = a.call(|| async { Err::<(), _>("connection reset") }).await;
    }
    assert_eq!(a.circuit_breaker().unwrap().state(), State::Open);
    tokio::time::sleep(ms(500)).await;
    // B has not heard: the change waits in A's outbox while the server is unreachable.
    assert_eq!(b.circuit_breaker().unwrap().state(), State::Closed);

    // The server is back: A's change reaches it, B adopts it.
    server.down.store(false, Ordering::Release);
    tokio::time::sleep(ms(300)).await;
    let calls = AtomicUsize::new(0);
    let out = b
        .call(|| {
            calls.fetch_add(1, Ordering::Relaxed);
            async { Ok::<_, &str>(1) }
        })
        .await;
    assert!(matches!(out, Err(Error::CircuitOpen { .. })), "{out:?}");
    assert_eq!(
        calls.load(Ordering::Relaxed),
        0,
        "B never called the dependency A saw fail"
    );
    assert_eq!(
        *log_b.lock().unwrap(),
        ["open (decided elsewhere (shared state))"]
    );
    assert_eq!(
        log_a.lock().unwrap().first().map(String::as_str),
        Some("open (3 consecutive failures)")
    );
    let reason = TransitionReason::Imposed;
    assert_eq!(reason.to_string(), "decided elsewhere (shared state)");
}

#[tokio::test(start_paused = true)]
async fn half_open_trial_calls_are_leased_fleet_wide() {
    let clock = Clock::tokio();
    let server = Server::new(clock.clone(), ms(5));
    let fleet = Fleet::new(&server);
    let build = || {
        Pipeline::builder()
            .name("search")
            .clock(clock.clone())
            .circuit_breaker(|b| {
                b.failure_threshold(1)
                    .recovery_timeout(Duration::from_secs(1))
                    .half_open_requests(1)
            })
            .backend(fleet.clone())
            .build()
            .unwrap()
    };
    let (a, b) = (build(), build());
    let _ = a.call(|| async { Err::<(), _>("down") }).await;
    tokio::time::sleep(ms(300)).await; // the trip reaches the fleet and B
    assert_eq!(b.circuit_breaker().unwrap().state(), State::Open);
    tokio::time::sleep(Duration::from_secs(2)).await; // both are half-open now
    // Both instances try a trial call at once: the fleet grants one lease.
    let slow = || async {
        tokio::time::sleep(ms(100)).await;
        Ok::<_, &str>("ok")
    };
    let (ra, rb) = tokio::join!(a.call(slow), b.call(slow));
    let admitted = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
    assert_eq!(admitted, 1, "one trial call fleet-wide: {ra:?} {rb:?}");
}

#[tokio::test(start_paused = true)]
async fn two_instances_share_one_quota_and_decide_through_the_server() {
    let clock = Clock::tokio();
    let server = Server::new(clock.clone(), ms(2));
    let fleet = Fleet::new(&server);
    let build = || {
        Pipeline::builder()
            .name("api")
            .clock(clock.clone())
            .rate_limit(Algorithm::Gcra {
                rate: Rate::per_second(1),
                burst: 10,
            })
            .backend(fleet.clone())
            .build()
            .unwrap()
    };
    let (a, b) = (build(), build());
    let mut admitted = 0;
    for i in 0..20 {
        let instance = if i % 2 == 0 { &a } else { &b };
        if instance.call(|| async { Ok::<_, ()>(()) }).await.is_ok() {
            admitted += 1;
        }
    }
    assert_eq!(
        admitted, 10,
        "one burst of 10 for the fleet, not 10 per instance"
    );
    assert_eq!(
        fleet.remote_decisions.load(Ordering::Relaxed),
        20,
        "every async decision went to the server"
    );
    // Unreachable: the store's documented choice is to refuse.
    server.down.store(true, Ordering::Release);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(matches!(
        a.call(|| async { Ok::<_, ()>(()) }).await,
        Err(Error::RateLimited { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// A registry built from configuration
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "config")]
const CONFIG: &str = r#"
[policies.payments]
backend = "fleet"
circuit_breaker = { failure_threshold = 2, recovery_timeout = "30s" }
"#;

#[cfg(feature = "config")]
#[tokio::test(start_paused = true)]
async fn registries_built_from_configuration_share_the_fleet_state() {
    let clock = Clock::tokio();
    let server = Server::new(clock.clone(), ms(5));
    // Two processes: each loads the file and registers its client for the backend. (The
    // pipelines read the real clock; under paused time every wait is a tokio timer.)
    let process = || {
        let config = Loader::from_str(Format::Toml, CONFIG)
            .load()
            .unwrap()
            .with_backend("fleet", Fleet::new(&server));
        Registry::new(config)
    };
    let (one, two) = (process(), process());
    let payments_one = one.pipeline("payments").unwrap();
    let payments_two = two.pipeline("payments").unwrap();
    for _ in 0..2 {
        let _ = payments_one.call(|| async { Err::<(), _>(Down) }).await;
    }
    tokio::time::sleep(ms(300)).await;
    let out = payments_two.call(|| async { Ok::<_, Down>(()) }).await;
    assert!(matches!(out, Err(Error::CircuitOpen { .. })), "{out:?}");
    // Health and status see the shared state too.
    let health = two.health(&palisade::health::HealthCheck::new());
    assert_eq!(health.overall, palisade::health::Health::Unhealthy);
}

// ---------------------------------------------------------------------------------------------
// The tower layer
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "tower")]
#[tokio::test(start_paused = true)]
async fn a_tower_service_over_a_fleet_pipeline_sees_another_instance_trip() {
    use palisade::tower::PipelineLayer;
    use tower::{Layer, Service, ServiceExt};

    let clock = Clock::tokio();
    let server = Server::new(clock.clone(), ms(5));
    let fleet = Fleet::new(&server);
    let log = Arc::default();
    let a = instance(&fleet, &clock, &log);
    let b = instance(&fleet, &clock, &log);
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    let mut service = PipelineLayer::new(b).layer(tower::service_fn(move |request: u32| {
        counted.fetch_add(1, Ordering::Relaxed);
        async move { Ok::<_, std::io::Error>(request * 2) }
    }));
    assert_eq!(service.ready().await.unwrap().call(21).await.unwrap(), 42);
    for _ in 0..3 {
        let _ = a.call(|| async { Err::<(), _>("reset") }).await;
    }
    tokio::time::sleep(ms(300)).await;
    let out = service.ready().await.unwrap().call(1).await;
    assert!(matches!(out, Err(Error::CircuitOpen { .. })));
    assert_eq!(
        hits.load(Ordering::Relaxed),
        1,
        "the rejected request never reached the service"
    );
}

// ---------------------------------------------------------------------------------------------
// #[resilient]
// ---------------------------------------------------------------------------------------------

static SERVER: LazyLock<Arc<Server>> = LazyLock::new(|| Server::new(Clock::monotonic(), ms(1)));

fn fleet_backend() -> Fleet {
    Fleet::new(&SERVER)
}

#[palisade::resilient(name = "inventory", failure_threshold = 2, backend = fleet_backend)]
async fn reserve(fail: bool) -> Result<u32, Down> {
    if fail { Err(Down) } else { Ok(7) }
}

#[palisade::resilient(name = "inventory", failure_threshold = 2, backend = fleet_backend)]
async fn release(fail: bool) -> Result<u32, Down> {
    if fail { Err(Down) } else { Ok(8) }
}

// Paused time: the functions' pipelines read the real clock, but every wait — the server's
// latency, the stores' sync loops, this test's polling — is a tokio timer, so nothing sleeps.
#[tokio::test(start_paused = true)]
async fn resilient_functions_naming_one_breaker_share_it_through_their_backend() {
    assert_eq!(reserve(false).await, Ok(7));
    assert_eq!(release(false).await, Ok(8));
    let _ = reserve(true).await;
    let _ = reserve(true).await;
    let mut rejected = false;
    for _ in 0..100 {
        tokio::time::sleep(ms(10)).await;
        if matches!(release(false).await, Err(Error::CircuitOpen { .. })) {
            rejected = true;
            break;
        }
    }
    assert!(rejected, "release() adopted the breaker reserve() tripped");
}
