//! Behaviour of the Hedge policy, on tokio's paused clock only: nothing here sleeps for real,
//! and every time asserted is exact virtual time.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::time::ms;
use palisade::clock::Clock;
use palisade::event::Event;
use palisade::hedge::{Hedge, HedgeConfig, HedgeEvent, HedgeTrigger};
use palisade::{ConfigError, Error};
use tokio::time::{Instant, sleep};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Counts the allocations made by the current thread, so a test can assert a call made none.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every method forwards to the system allocator unchanged; the counter is a
// const-initialised thread-local `Cell`, which never allocates.
unsafe impl std::alloc::GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// An owned copy of a `HedgeEvent`, stamped with the virtual time it was published at.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Started {
        attempt: u32,
        trigger: HedgeTrigger,
        at: Duration,
    },
    Settled {
        winner: Option<u32>,
        attempts: u32,
        at: Duration,
    },
}

/// Records every hedge event with the time since `origin`.
#[derive(Clone)]
struct Log {
    events: Arc<Mutex<Vec<Seen>>>,
    names: Arc<Mutex<Vec<(String, &'static str)>>>,
    origin: Instant,
}

impl Log {
    fn new() -> Self {
        Log {
            events: Arc::default(),
            names: Arc::default(),
            origin: Instant::now(),
        }
    }

    fn listener(&self) -> impl Fn(&Event<'_>) + Send + Sync + 'static {
        let log = self.clone();
        move |event: &Event<'_>| {
            let Event::Hedge(hedge_event) = event else {
                return;
            };
            let at = log.origin.elapsed();
            let seen = match *hedge_event {
                HedgeEvent::HedgeStarted {
                    attempt, trigger, ..
                } => Seen::Started {
                    attempt,
                    trigger,
                    at,
                },
                HedgeEvent::Settled {
                    winner, attempts, ..
                } => Seen::Settled {
                    winner,
                    attempts,
                    at,
                },
                _ => return,
            };
            log.events.lock().unwrap().push(seen);
            log.names
                .lock()
                .unwrap()
                .push((event.policy_name().to_string(), event.policy_kind()));
        }
    }

    fn events(&self) -> Vec<Seen> {
        self.events.lock().unwrap().clone()
    }
}

/// What each attempt of a scripted call did, in virtual time since `origin`.
#[derive(Clone)]
struct Attempts {
    origin: Instant,
    /// Start time of each attempt, in order.
    started: Arc<Mutex<Vec<Duration>>>,
    /// `(attempt, time)` of each attempt that was dropped before it finished.
    cancelled: Arc<Mutex<Vec<(u32, Duration)>>>,
}

impl Attempts {
    fn new() -> Self {
        Attempts {
            origin: Instant::now(),
            started: Arc::default(),
            cancelled: Arc::default(),
        }
    }

    /// The future of the next attempt: runs `latency`, then returns its number or its error.
    /// A drop guard records the attempt if it is dropped before it finishes.
    fn attempt(
        &self,
        script: &[(u64, Result<(), &'static str>)],
    ) -> impl Future<Output = Result<u32, &'static str>> + Send + 'static {
        let mut started = self.started.lock().unwrap();
        started.push(self.origin.elapsed());
        let number = started.len() as u32;
        let (latency, outcome) = script
            .get(number as usize - 1)
            .copied()
            .unwrap_or((10_000, Err("unscripted attempt")));
        let guard = DropGuard {
            number,
            origin: self.origin,
            cancelled: self.cancelled.clone(),
            finished: false,
        };
        async move {
            let mut guard = guard; // the whole guard, not just the field assigned below
            sleep(ms(latency)).await;
            guard.finished = true;
            outcome.map(|()| number)
        }
    }

    fn started(&self) -> Vec<Duration> {
        self.started.lock().unwrap().clone()
    }

    fn cancelled(&self) -> Vec<(u32, Duration)> {
        self.cancelled.lock().unwrap().clone()
    }

    fn elapsed(&self) -> Duration {
        self.origin.elapsed()
    }
}

struct DropGuard {
    number: u32,
    origin: Instant,
    cancelled: Arc<Mutex<Vec<(u32, Duration)>>>,
    finished: bool,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.cancelled
                .lock()
                .unwrap()
                .push((self.number, self.origin.elapsed()));
        }
    }
}

fn fixed(delay: Duration, max_hedged_attempts: u32, log: &Log) -> Hedge {
    Hedge::builder()
        .name("replicas")
        .delay(delay)
        .max_hedged_attempts(max_hedged_attempts)
        .on_event(log.listener())
        .build()
        .unwrap()
}

/// One call of a percentile policy whose first attempt takes `latency` and succeeds.
async fn call_taking(hedge: &Hedge, latency: Duration) {
    let out = hedge
        .call(|| async move {
            sleep(latency).await;
            Ok::<_, ()>(())
        })
        .await;
    assert_eq!(out, Ok(()));
}

// ---------------------------------------------------------------------------------------------
// Fixed delay
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_first_attempt_faster_than_the_delay_starts_no_hedge() {
    let log = Log::new();
    let hedge = fixed(ms(100), 1, &log);
    let attempts = Attempts::new();

    let out = hedge.call(|| attempts.attempt(&[(99, Ok(()))])).await;

    assert_eq!(out, Ok(1));
    assert_eq!(attempts.started(), [ms(0)]);
    assert_eq!(attempts.elapsed(), ms(99));
    assert_eq!(
        log.events(),
        [Seen::Settled {
            winner: Some(1),
            attempts: 1,
            at: ms(99)
        }]
    );
    // Nothing starts later either.
    sleep(ms(1_000)).await;
    assert_eq!(attempts.started().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_slow_first_attempt_is_hedged_exactly_at_the_delay_and_dropped_when_the_hedge_wins() {
    let log = Log::new();
    let hedge = fixed(ms(50), 1, &log);
    let attempts = Attempts::new();

    let out = hedge
        .call(|| attempts.attempt(&[(1_000, Ok(())), (10, Ok(()))]))
        .await;

    assert_eq!(out, Ok(2), "the hedge's success is returned");
    assert_eq!(attempts.started(), [ms(0), ms(50)]);
    assert_eq!(attempts.elapsed(), ms(60), "the call ends with the hedge");
    assert_eq!(
        attempts.cancelled(),
        [(1, ms(60))],
        "the slow attempt is dropped the moment the hedge wins, before the call returns"
    );
    assert_eq!(
        log.events(),
        [
            Seen::Started {
                attempt: 2,
                trigger: HedgeTrigger::Delay { delay: ms(50) },
                at: ms(50)
            },
            Seen::Settled {
                winner: Some(2),
                attempts: 2,
                at: ms(60)
            },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_first_attempt_still_wins_if_it_finishes_before_the_hedge() {
    let log = Log::new();
    let hedge = fixed(ms(50), 1, &log);
    let attempts = Attempts::new();

    let out = hedge
        .call(|| attempts.attempt(&[(70, Ok(())), (100, Ok(()))]))
        .await;

    assert_eq!(out, Ok(1));
    assert_eq!(attempts.started(), [ms(0), ms(50)]);
    assert_eq!(attempts.cancelled(), [(2, ms(70))]);
}

#[tokio::test(start_paused = true)]
async fn max_hedged_attempts_bounds_the_attempts_and_each_hedge_waits_the_delay_after_the_last() {
    let log = Log::new();
    let hedge = fixed(ms(10), 2, &log);
    let attempts = Attempts::new();

    let out = hedge
        .call(|| attempts.attempt(&[(1_000, Ok(())), (1_000, Ok(())), (1_000, Ok(()))]))
        .await;

    assert_eq!(
        out,
        Ok(1),
        "the first to succeed wins: attempt 1 at 1000 ms"
    );
    assert_eq!(attempts.started(), [ms(0), ms(10), ms(20)]);
    assert_eq!(attempts.elapsed(), ms(1_000));
    assert_eq!(attempts.cancelled(), [(2, ms(1_000)), (3, ms(1_000))]);
    assert_eq!(
        log.events().last(),
        Some(&Seen::Settled {
            winner: Some(1),
            attempts: 3,
            at: ms(1_000)
        })
    );
}

#[tokio::test(start_paused = true)]
async fn many_hedges_run_concurrently_and_every_loser_is_dropped() {
    let log = Log::new();
    let hedge = fixed(ms(10), 5, &log);
    let attempts = Attempts::new();
    // Attempts 1..=5 are stuck; attempt 6 (started at 50 ms) answers in 5 ms.
    let script = [
        (1_000, Ok(())),
        (1_000, Ok(())),
        (1_000, Ok(())),
        (1_000, Ok(())),
        (1_000, Ok(())),
        (5, Ok(())),
    ];

    let out = hedge.call(|| attempts.attempt(&script)).await;

    assert_eq!(out, Ok(6));
    assert_eq!(
        attempts.started(),
        [ms(0), ms(10), ms(20), ms(30), ms(40), ms(50)]
    );
    let mut cancelled = attempts.cancelled();
    cancelled.sort();
    assert_eq!(
        cancelled,
        [
            (1, ms(55)),
            (2, ms(55)),
            (3, ms(55)),
            (4, ms(55)),
            (5, ms(55))
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_attempt_starts_the_next_one_at_once() {
    let log = Log::new();
    let hedge = fixed(ms(100), 1, &log);
    let attempts = Attempts::new();

    let out = hedge
        .call(|| attempts.attempt(&[(5, Err("refused")), (10, Ok(()))]))
        .await;

    assert_eq!(out, Ok(2));
    assert_eq!(
        attempts.started(),
        [ms(0), ms(5)],
        "not at the 100 ms delay"
    );
    assert_eq!(attempts.elapsed(), ms(15));
    assert_eq!(
        log.events(),
        [
            Seen::Started {
                attempt: 2,
                trigger: HedgeTrigger::Failure,
                at: ms(5)
            },
            Seen::Settled {
                winner: Some(2),
                attempts: 2,
                at: ms(15)
            },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn after_a_failure_the_next_hedge_waits_the_delay_from_the_replacement() {
    let log = Log::new();
    let hedge = fixed(ms(50), 2, &log);
    let attempts = Attempts::new();

    // Attempt 1 fails at 20 ms: attempt 2 starts then; attempt 3 at 20 + 50 ms.
    let out = hedge
        .call(|| attempts.attempt(&[(20, Err("reset")), (1_000, Ok(())), (10, Ok(()))]))
        .await;

    assert_eq!(out, Ok(3));
    assert_eq!(attempts.started(), [ms(0), ms(20), ms(70)]);
    assert_eq!(attempts.cancelled(), [(2, ms(80))]);
}

#[tokio::test(start_paused = true)]
async fn a_failure_does_not_end_the_call_while_another_attempt_runs() {
    let log = Log::new();
    let hedge = fixed(ms(10), 1, &log);
    let attempts = Attempts::new();

    // The hedge (the last allowed attempt) fails first; the slow original still succeeds.
    let out = hedge
        .call(|| attempts.attempt(&[(100, Ok(())), (5, Err("timeout"))]))
        .await;

    assert_eq!(out, Ok(1));
    assert_eq!(attempts.started(), [ms(0), ms(10)]);
    assert_eq!(attempts.elapsed(), ms(100));
    assert_eq!(attempts.cancelled(), []);
}

#[tokio::test(start_paused = true)]
async fn when_every_attempt_fails_the_last_error_is_returned() {
    let log = Log::new();
    let hedge = fixed(ms(10), 2, &log);
    let attempts = Attempts::new();

    // Attempt 2 (10 ms) fails at 12 ms, so attempt 3 starts at once and fails at 20 ms;
    // attempt 1 fails last, at 30 ms.
    let out = hedge
        .call(|| {
            attempts.attempt(&[
                (30, Err("first, failed last")),
                (2, Err("second")),
                (8, Err("third")),
            ])
        })
        .await;

    assert_eq!(out, Err(Error::Operation("first, failed last")));
    assert_eq!(attempts.started(), [ms(0), ms(10), ms(12)]);
    assert_eq!(attempts.elapsed(), ms(30));
    assert_eq!(
        log.events(),
        [
            Seen::Started {
                attempt: 2,
                trigger: HedgeTrigger::Delay { delay: ms(10) },
                at: ms(10)
            },
            Seen::Started {
                attempt: 3,
                trigger: HedgeTrigger::Failure,
                at: ms(12)
            },
            Seen::Settled {
                winner: None,
                attempts: 3,
                at: ms(30)
            },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_zero_delay_starts_every_attempt_at_once() {
    let log = Log::new();
    let hedge = fixed(Duration::ZERO, 3, &log);
    let attempts = Attempts::new();

    let out = hedge
        .call(|| attempts.attempt(&[(40, Ok(())), (30, Ok(())), (10, Ok(())), (20, Ok(()))]))
        .await;

    assert_eq!(out, Ok(3), "the fastest replica wins");
    assert_eq!(attempts.started(), [ms(0); 4]);
    assert_eq!(attempts.elapsed(), ms(10));
}

#[tokio::test(start_paused = true)]
async fn a_max_delay_hedges_only_after_a_failure() {
    let log = Log::new();
    let hedge = fixed(Duration::MAX, 1, &log);
    let attempts = Attempts::new();
    let out = hedge.call(|| attempts.attempt(&[(60_000, Ok(()))])).await;
    assert_eq!(out, Ok(1));
    assert_eq!(attempts.started(), [ms(0)], "a minute, and no hedge");

    let attempts = Attempts::new();
    let out = hedge
        .call(|| attempts.attempt(&[(5, Err("refused")), (5, Ok(()))]))
        .await;
    assert_eq!(out, Ok(2));
    assert_eq!(attempts.started(), [ms(0), ms(5)]);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_call_cancels_every_running_attempt() {
    let log = Log::new();
    let hedge = fixed(ms(10), 2, &log);
    let attempts = Attempts::new();

    let out = tokio::time::timeout(
        ms(25),
        hedge.call(|| attempts.attempt(&[(1_000, Ok(())), (1_000, Ok(())), (1_000, Ok(()))])),
    )
    .await;

    assert!(out.is_err(), "the outer timeout fired");
    let mut cancelled = attempts.cancelled();
    cancelled.sort();
    assert_eq!(cancelled, [(1, ms(25)), (2, ms(25)), (3, ms(25))]);
    assert_eq!(
        log.events().len(),
        2,
        "two hedges started, and no Settled: the call never settled"
    );
}

#[tokio::test(start_paused = true)]
async fn attempts_may_borrow_and_need_not_be_send() {
    // Nothing is spawned: the attempts are polled in the calling task.
    let hedge = Hedge::builder().delay(ms(10)).build().unwrap();
    let replicas = vec![String::from("slow"), String::from("fast")];
    let next = Rc::new(Cell::new(0_usize)); // Rc: the attempts are !Send

    let out = hedge
        .call(|| {
            let next = next.clone();
            let replicas = &replicas;
            async move {
                let i = next.get();
                next.set(i + 1);
                let replica: &str = &replicas[i];
                if replica == "slow" {
                    sleep(ms(1_000)).await;
                }
                Ok::<_, ()>(replica)
            }
        })
        .await;

    assert_eq!(out, Ok("fast"));
}

#[tokio::test(start_paused = true)]
async fn a_call_that_does_not_hedge_allocates_nothing() {
    let hedge = Hedge::builder().delay(ms(50)).build().unwrap();
    let op = || async {
        sleep(ms(10)).await;
        Ok::<_, ()>(1)
    };
    hedge.call(op).await.unwrap(); // warm tokio's timer
    let control = allocations();
    drop(std::hint::black_box(Box::new(0_u8)));
    assert_eq!(allocations() - control, 1, "the counter counts");
    let before = allocations();
    let out = hedge.call(op).await;
    assert_eq!(out, Ok(1));
    assert_eq!(allocations() - before, 0);
}

#[tokio::test(start_paused = true)]
async fn a_call_that_hedges_once_allocates_nothing() {
    let hedge = Hedge::builder().delay(ms(50)).build().unwrap();
    let attempt = Cell::new(0);
    let op = || {
        attempt.set(attempt.get() + 1);
        let latency = if attempt.get() % 2 == 1 { 1_000 } else { 10 };
        async move {
            sleep(ms(latency)).await;
            Ok::<_, ()>(latency)
        }
    };
    hedge.call(op).await.unwrap(); // warm tokio's timer
    let before = allocations();
    let out = hedge.call(op).await;
    assert_eq!(out, Ok(10), "the hedge won");
    assert_eq!(allocations() - before, 0);
}

#[test]
fn the_call_future_is_send_when_the_attempts_are() {
    fn assert_send<T: Send>(_: T) {}
    let hedge = Hedge::builder().build().unwrap();
    assert_send(hedge.call(|| async { Ok::<_, std::io::Error>(1) }));
}

#[tokio::test(start_paused = true)]
async fn a_clock_with_a_runtime_timer_serves_the_hedge_delay() {
    let sleeps = Arc::new(AtomicU32::new(0));
    let counted = sleeps.clone();
    let timer = move |d: Duration| {
        counted.fetch_add(1, Ordering::Relaxed);
        sleep(d)
    };
    let hedge = Hedge::builder()
        .delay(ms(50))
        .clock(Clock::with_timer(timer))
        .build()
        .unwrap();
    let attempts = Attempts::new();

    let out = hedge
        .call(|| attempts.attempt(&[(1_000, Ok(())), (1, Ok(()))]))
        .await;

    assert_eq!(out, Ok(2));
    assert_eq!(attempts.started(), [ms(0), ms(50)]);
    assert_eq!(
        sleeps.load(Ordering::Relaxed),
        1,
        "one timer: no more hedges after the second attempt"
    );
}

// ---------------------------------------------------------------------------------------------
// Percentile delay
// ---------------------------------------------------------------------------------------------

fn percentile(p: f64, min_samples: u32) -> Hedge {
    Hedge::builder()
        .delay_percentile(p)
        .delay(ms(1_000))
        .min_samples(min_samples)
        .clock(Clock::tokio())
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_percentile_replaces_the_fixed_delay_once_warmed_up() {
    let hedge = percentile(90.0, 10);
    // Latencies 10, 20, ..., 100 ms, out of order.
    for n in [3, 7, 1, 10, 5, 2, 9, 4, 8] {
        call_taking(&hedge, ms(n * 10)).await;
        assert_eq!(
            hedge.current_delay(),
            ms(1_000),
            "the fallback until 10 samples"
        );
    }
    call_taking(&hedge, ms(60)).await;
    // Nearest rank: the ceil(0.9 × 10) = 9th smallest of the ten.
    assert_eq!(hedge.current_delay(), ms(90));

    // A slow call now hedges at exactly 90 ms.
    let attempts = Attempts::new();
    let out = hedge
        .call(|| attempts.attempt(&[(5_000, Ok(())), (10, Ok(()))]))
        .await;
    assert_eq!(out, Ok(2));
    assert_eq!(attempts.started(), [ms(0), ms(90)]);
}

#[tokio::test(start_paused = true)]
async fn percentile_of_latencies_10_to_100_ms_by_nearest_rank() {
    // 91 latencies, 10..=100 ms: p90 is the ceil(0.9 × 91) = 82nd smallest, 91 ms.
    let hedge = percentile(90.0, 91);
    for latency in 10..=100 {
        call_taking(&hedge, ms(latency)).await;
    }
    assert_eq!(hedge.current_delay(), ms(91));
}

#[tokio::test(start_paused = true)]
async fn the_sample_is_bounded_and_old_latencies_age_out() {
    let hedge = Hedge::builder()
        .delay_percentile(50.0)
        .sample_size(4)
        .min_samples(4)
        .clock(Clock::tokio())
        .build()
        .unwrap();
    for _ in 0..4 {
        call_taking(&hedge, ms(100)).await;
    }
    assert_eq!(hedge.current_delay(), ms(100));
    for _ in 0..4 {
        call_taking(&hedge, ms(10)).await;
    }
    assert_eq!(hedge.current_delay(), ms(10));
}

#[tokio::test(start_paused = true)]
async fn failed_first_attempts_and_hedges_are_not_sampled() {
    let hedge = percentile(50.0, 3);
    for _ in 0..3 {
        // The first attempt fails fast; its replacement succeeds.
        let attempts = Attempts::new();
        let out = hedge
            .call(|| attempts.attempt(&[(1, Err("refused")), (40, Ok(()))]))
            .await;
        assert_eq!(out, Ok(2));
    }
    assert_eq!(hedge.current_delay(), ms(1_000), "nothing was sampled");
}

#[tokio::test(start_paused = true)]
async fn a_first_attempt_cancelled_by_a_winning_hedge_counts_as_slow() {
    let hedge = percentile(50.0, 3);
    // Three first attempts stuck until the 1 s fallback delay, each beaten by a 5 ms hedge:
    // each is sampled at its cancellation, 1005 ms.
    for _ in 0..3 {
        let attempts = Attempts::new();
        let out = hedge
            .call(|| attempts.attempt(&[(60_000, Ok(())), (5, Ok(()))]))
            .await;
        assert_eq!(out, Ok(2));
        assert_eq!(attempts.cancelled(), [(1, ms(1_005))]);
    }
    assert_eq!(hedge.current_delay(), ms(1_005));
}

#[tokio::test(start_paused = true)]
async fn a_first_attempt_cancelled_with_the_whole_call_is_sampled_at_its_cancellation() {
    let hedge = percentile(50.0, 1);
    let out = tokio::time::timeout(
        ms(25),
        hedge.call(|| async {
            sleep(ms(60_000)).await;
            Ok::<_, ()>(())
        }),
    )
    .await;
    assert!(out.is_err(), "the outer timeout fired before any hedge");
    assert_eq!(hedge.current_delay(), ms(25));
}

#[tokio::test(start_paused = true)]
async fn clones_share_the_latency_sample() {
    let hedge = percentile(50.0, 2);
    let clone = hedge.clone();
    call_taking(&clone, ms(30)).await;
    call_taking(&hedge, ms(30)).await;
    assert_eq!(hedge.current_delay(), ms(30));
    assert_eq!(clone.current_delay(), ms(30));
}

#[test]
fn a_fixed_delay_is_waited_on_the_policy_clock_and_samples_nothing() {
    // One time base: the hedge delay is a timer on the policy's clock, like the attempts'
    // own waits here; only the percentile mode measures latencies.
    let manual = palisade::clock::ManualClock::new();
    let clock = Clock::from(&manual);
    let hedge = Hedge::builder()
        .delay(ms(10))
        .clock(clock.clone())
        .build()
        .unwrap();
    let started = Rc::new(std::cell::RefCell::new(Vec::new()));
    let sim = palisade::clock::Simulation::new(&manual);
    let out = sim
        .block_on(hedge.call(|| {
            let (clock, started) = (clock.clone(), started.clone());
            async move {
                let attempt = {
                    let mut started = started.borrow_mut();
                    started.push(clock.now());
                    started.len()
                };
                clock
                    .sleep(if attempt == 1 { ms(100) } else { ms(1) })
                    .await;
                Ok::<_, ()>(attempt)
            }
        }))
        .unwrap();
    assert_eq!(out, Ok(2));
    let at = |d: Duration| palisade::clock::Instant::from_nanos(d.as_nanos() as u64);
    assert_eq!(*started.borrow(), [at(ms(0)), at(ms(10))]);
    assert_eq!(
        manual.now(),
        at(ms(11)),
        "the second attempt won at 10 ms + 1 ms"
    );
    assert_eq!(hedge.current_delay(), ms(10));
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

#[test]
fn build_errors_name_the_field_and_the_value() {
    type Setter = fn(palisade::hedge::HedgeBuilder) -> palisade::hedge::HedgeBuilder;
    let cases: [(Setter, &str, &str); 11] = [
        (|b| b.max_hedged_attempts(0), "max_hedged_attempts", "0"),
        (|b| b.max_hedged_attempts(11), "max_hedged_attempts", "11"),
        (|b| b.delay_percentile(0.0), "percentile", "0"),
        (|b| b.delay_percentile(100.0), "percentile", "100"),
        (|b| b.delay_percentile(-5.0), "percentile", "-5"),
        (|b| b.delay_percentile(f64::NAN), "percentile", "NaN"),
        (|b| b.delay_percentile(f64::INFINITY), "percentile", "inf"),
        (|b| b.sample_size(0), "sample_size", "0"),
        (|b| b.sample_size(65_537), "sample_size", "65537"),
        (|b| b.min_samples(0), "min_samples", "0"),
        (|b| b.sample_size(10).min_samples(11), "min_samples", "11"),
    ];
    for (set, field, value) in cases {
        let err: ConfigError = set(Hedge::builder()).build().unwrap_err();
        assert_eq!(
            (err.policy(), err.field(), err.value()),
            ("hedge", field, value)
        );
    }

    let err = Hedge::builder().max_hedged_attempts(0).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid hedge configuration: max_hedged_attempts = 0: must be between 1 and 10 \
         (attempts started in addition to the first)"
    );
    let err = Hedge::builder()
        .sample_size(10)
        .min_samples(11)
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid hedge configuration: min_samples = 11: must be between 1 and sample_size (10)"
    );
}

#[test]
fn valid_edges_are_accepted() {
    for build in [
        Hedge::builder().delay(Duration::ZERO).build(),
        Hedge::builder().delay(Duration::MAX).build(),
        Hedge::builder().max_hedged_attempts(10).build(),
        Hedge::builder().delay_percentile(0.001).build(),
        Hedge::builder().delay_percentile(99.999).build(),
        Hedge::builder().sample_size(1).min_samples(1).build(),
        Hedge::builder().sample_size(65_536).build(),
    ] {
        build.unwrap();
    }
    assert_eq!(
        Hedge::builder().build().unwrap().config(),
        &HedgeConfig::default()
    );
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn events_carry_the_policy_name_and_kind_and_on_hedge_sees_each_hedge() {
    let log = Log::new();
    let hedged = Arc::new(Mutex::new(Vec::new()));
    let seen = hedged.clone();
    let hedge = Hedge::builder()
        .name("replicas")
        .delay(ms(10))
        .max_hedged_attempts(2)
        .on_event(log.listener())
        .on_hedge(move |attempt, trigger| seen.lock().unwrap().push((attempt, trigger)))
        .build()
        .unwrap();
    let attempts = Attempts::new();

    let out = hedge
        .call(|| attempts.attempt(&[(1_000, Ok(())), (1, Err("refused")), (100, Ok(()))]))
        .await;

    assert_eq!(out, Ok(3));
    assert_eq!(
        *hedged.lock().unwrap(),
        [
            (2, HedgeTrigger::Delay { delay: ms(10) }),
            (3, HedgeTrigger::Failure)
        ]
    );
    let names = log.names.lock().unwrap().clone();
    assert_eq!(names.len(), 3);
    assert!(
        names
            .iter()
            .all(|(name, kind)| name == "replicas" && *kind == "hedge")
    );
}

#[tokio::test(start_paused = true)]
async fn listeners_are_optional_and_a_policy_serves_many_calls() {
    let hedge = Hedge::builder().delay(ms(5)).build().unwrap();
    let calls = AtomicU64::new(0);
    for _ in 0..100 {
        let out = hedge
            .call(|| {
                calls.fetch_add(1, Ordering::Relaxed);
                async { Ok::<_, ()>(()) }
            })
            .await;
        assert_eq!(out, Ok(()));
    }
    assert_eq!(calls.load(Ordering::Relaxed), 100);
}
