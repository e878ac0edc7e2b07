//! One time base: every wait of every policy and of the pipeline goes through the policy's
//! clock, so a `ManualClock` runs all of it on virtual time — async and blocking, in a
//! `Simulation`, on tokio's executor and on plain threads.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::events::EventLog;
use common::time::{at, ms, secs};
use palisade::Error;
use palisade::bulkhead::{Bulkhead, RejectReason};
use palisade::clock::{Clock, ManualClock, Simulation};
use palisade::pipeline::Pipeline;
use palisade::rate_limit::{Algorithm, Rate};
use palisade::retry::{Jitter, Retry, StopReason};
use palisade::timeout::Timeout;

// ---------------------------------------------------------------------------------------------
// What the issue measured
// ---------------------------------------------------------------------------------------------

fn total_timeout_pipeline(clock: &ManualClock) -> Pipeline {
    // Retries would sleep 4 + 8 + 16 s: far past the 10 s total timeout.
    Pipeline::builder()
        .clock(clock.clone())
        .total_timeout(secs(10))
        .retry(|r| {
            r.max_attempts(10)
                .exponential(secs(4))
                .max_delay(secs(60))
                .jitter(Jitter::None)
        })
        .build()
        .unwrap()
}

#[test]
fn a_total_timeout_bounds_virtual_retries_in_a_simulation() {
    let manual = ManualClock::new();
    let pipeline = total_timeout_pipeline(&manual);
    let attempts = AtomicU32::new(0);
    let out = Simulation::new(&manual)
        .block_on(pipeline.call(|| {
            attempts.fetch_add(1, Ordering::Relaxed);
            async { Err::<(), _>("down") }
        }))
        .unwrap();
    assert!(matches!(out, Err(Error::Timeout { limit, .. }) if limit == secs(10)));
    assert_eq!(
        manual.now(),
        at(secs(10)),
        "stopped at the limit, not after 20 s of retries"
    );
    assert_eq!(
        attempts.load(Ordering::Relaxed),
        2,
        "attempts at 0 s and 4 s; the next is at 12 s"
    );
}

#[tokio::test]
async fn a_total_timeout_bounds_virtual_retries_on_tokios_executor() {
    let manual = ManualClock::new();
    let pipeline = total_timeout_pipeline(&manual);
    let out = pipeline.call(|| async { Err::<(), _>("down") }).await;
    assert!(matches!(out, Err(Error::Timeout { .. })));
    assert_eq!(manual.now(), at(secs(10)));
}

#[test]
fn a_total_timeout_bounds_blocking_virtual_retries() {
    let manual = ManualClock::new();
    let pipeline = total_timeout_pipeline(&manual);
    let out = pipeline.call_blocking(|| Err::<(), _>("down"));
    assert!(matches!(out, Err(Error::Timeout { .. })));
    // Blocking: no sleep runs into the limit, so the call gives up before the 8 s sleep.
    assert!(manual.now() <= at(secs(10)));
}

#[tokio::test(start_paused = true)]
async fn a_blocking_retry_on_a_paused_tokio_clock_honours_max_elapsed() {
    // Tokio's paused clock cannot move while a thread blocks; the tokio clock still counts
    // the blocked time, so the elapsed budget fires. (Real sleeps of a few milliseconds.)
    let retry = Retry::builder()
        .clock(Clock::tokio())
        .max_attempts(100)
        .fixed(ms(2))
        .jitter(Jitter::None)
        .max_elapsed(ms(5))
        .build()
        .unwrap();
    let mut attempts = 0;
    let out = retry.call_blocking(|| {
        attempts += 1;
        Err::<(), _>("down")
    });
    assert!(matches!(
        out,
        Err(Error::RetriesExhausted {
            reason: StopReason::MaxElapsed { .. },
            ..
        })
    ));
    assert!(
        attempts <= 3,
        "stopped by max_elapsed after {attempts} attempts"
    );
}

// ---------------------------------------------------------------------------------------------
// A scheduler, not a counter
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn n_tasks_each_sleeping_one_second_advance_time_by_one_second() {
    let manual = ManualClock::new();
    let clock = Clock::from(&manual);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let clock = clock.clone();
            tokio::spawn(async move { clock.sleep(secs(1)).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(manual.now(), at(secs(1)));
}

#[test]
fn n_threads_each_sleeping_one_second_from_the_same_instant_advance_time_by_one_second() {
    // A blocked thread counts as idle and moves time to its own deadline at once, so the
    // threads fix their deadlines before any of them waits.
    let manual = ManualClock::new();
    let ready = std::sync::Barrier::new(8);
    std::thread::scope(|s| {
        for _ in 0..8 {
            let (clock, ready) = (Clock::from(&manual), &ready);
            s.spawn(move || {
                let deadline = clock.now().saturating_add(secs(1));
                ready.wait();
                clock.sleep_blocking_until(deadline);
            });
        }
    });
    assert_eq!(manual.now(), at(secs(1)));
}

#[tokio::test]
async fn sleeps_wake_in_deadline_order_on_tokios_executor() {
    let manual = ManualClock::new();
    let clock = Clock::from(&manual);
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let tasks: Vec<_> = [5, 1, 3, 2, 4]
        .into_iter()
        .map(|n| {
            let (clock, order) = (clock.clone(), order.clone());
            tokio::spawn(async move {
                clock.sleep(secs(n)).await;
                order.lock().unwrap().push((n, clock.now()));
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let order = order.lock().unwrap().clone();
    assert_eq!(
        order,
        (1..=5).map(|n| (n, at(secs(n)))).collect::<Vec<_>>(),
        "each woke at its own deadline, in deadline order"
    );
}

#[test]
fn without_auto_advance_a_wait_lasts_until_the_test_moves_time() {
    let manual = ManualClock::new();
    manual.set_auto_advance(false);
    let clock = Clock::from(&manual);
    let sleeper = std::thread::spawn(move || clock.sleep_blocking(secs(5)));
    while manual.pending_timers() == 0 {
        std::thread::yield_now();
    }
    assert_eq!(manual.next_deadline(), Some(at(secs(5))));
    manual.advance(secs(4));
    assert!(!sleeper.is_finished() || manual.now() >= at(secs(5)));
    manual.advance(secs(1));
    sleeper.join().unwrap();
    assert_eq!(manual.pending_timers(), 0);
}

#[test]
fn a_simulation_with_nothing_to_wake_reports_a_stall() {
    let manual = ManualClock::new();
    let sim = Simulation::new(&manual);
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let stalled = sim
        .block_on(std::future::poll_fn(|_| {
            let _ = &rx;
            std::task::Poll::<()>::Pending
        }))
        .unwrap_err();
    assert_eq!((stalled.at(), stalled.waiting()), (at(Duration::ZERO), 1));
    drop(tx);
}

// ---------------------------------------------------------------------------------------------
// Deadlines
// ---------------------------------------------------------------------------------------------

#[test]
fn a_timeouts_deadline_is_fixed_when_the_call_starts() {
    let manual = ManualClock::new();
    let clock = Clock::from(&manual);
    let timeout = Timeout::builder()
        .limit(secs(5))
        .clock(clock.clone())
        .build()
        .unwrap();
    let out = Simulation::new(&manual)
        .block_on(timeout.call(|| {
            let (manual, clock) = (manual.clone(), clock.clone());
            async move {
                manual.advance(secs(3)); // synchronous work before the first wait
                clock.sleep(secs(4)).await;
                Ok::<_, ()>("late")
            }
        }))
        .unwrap();
    assert!(matches!(out, Err(Error::Timeout { .. })));
    assert_eq!(
        manual.now(),
        at(secs(5)),
        "5 s after the call started, not after it first waited"
    );
}

/// A pipeline reads its clock once for the decisions made before anything waited; a wait for
/// a permit is something, so the attempt's deadline counts from after it.
fn waiting_rate_limited_pipeline(clock: &ManualClock) -> Pipeline {
    Pipeline::builder()
        .clock(clock.clone())
        .rate_limit(Algorithm::Gcra {
            rate: Rate::per_second(1),
            burst: 1,
        })
        .rate_limit_max_wait(secs(2))
        .timeout(secs(5))
        .build()
        .unwrap()
}

#[test]
fn an_attempts_deadline_counts_from_after_the_wait_for_a_permit() {
    let manual = ManualClock::new();
    let clock = Clock::from(&manual);
    let pipeline = waiting_rate_limited_pipeline(&manual);
    let sim = Simulation::new(&manual);
    let first = sim.block_on(pipeline.call(|| async { Ok::<_, ()>(1) }));
    assert_eq!(first.unwrap(), Ok(1));
    // The second call waits 1 s for its permit, then its attempt takes 4.5 s: 4.5 s of a 5 s
    // limit, so in time (not 5.5 s counted from before the wait).
    let second = sim.block_on(pipeline.call(|| {
        let clock = clock.clone();
        async move {
            clock.sleep(ms(4_500)).await;
            Ok::<_, ()>(2)
        }
    }));
    assert_eq!(second.unwrap(), Ok(2));
    assert_eq!(manual.now(), at(ms(5_500)));
}

#[test]
fn a_blocking_attempts_deadline_counts_from_after_the_wait_for_a_permit() {
    let manual = ManualClock::new();
    let pipeline = waiting_rate_limited_pipeline(&manual);
    assert_eq!(pipeline.call_blocking(|| Ok::<_, ()>(1)), Ok(1));
    let second = pipeline.call_blocking(|| {
        manual.advance(ms(4_500));
        Ok::<_, ()>(2)
    });
    assert_eq!(second, Ok(2));
    assert_eq!(manual.now(), at(ms(5_500)));
}

#[test]
fn an_attempts_deadline_counts_from_after_the_wait_for_a_bulkhead_slot() {
    // The rate limiter decides at once (the call's one clock reading), then the call queues
    // 3 s for the bulkhead's one slot: its attempt's 5 s count from then.
    let manual = ManualClock::new();
    let clock = Clock::from(&manual);
    let pipeline = Pipeline::builder()
        .clock(manual.clone())
        .rate_limit(Algorithm::Gcra {
            rate: Rate::per_second(1000),
            burst: 10,
        })
        .bulkhead(|b| b.max_concurrent(1).max_queue(1))
        .timeout(secs(5))
        .build()
        .unwrap();
    let sim = Simulation::new(&manual);
    let call = |work: Duration| {
        let (pipeline, clock) = (pipeline.clone(), clock.clone());
        async move {
            pipeline
                .call(|| {
                    let clock = clock.clone();
                    async move {
                        clock.sleep(work).await;
                        Ok::<_, ()>(work)
                    }
                })
                .await
        }
    };
    let holder = sim.spawn(call(secs(3)));
    let queued = sim.spawn(call(ms(4_500)));
    let (held, waited) = sim
        .block_on(async { (holder.await, queued.await) })
        .unwrap();
    assert_eq!(held, Ok(secs(3)));
    assert_eq!(
        waited,
        Ok(ms(4_500)),
        "4.5 s of its 5 s, counted from its slot"
    );
    assert_eq!(manual.now(), at(ms(7_500)));
}

#[test]
fn a_shared_timeout_on_its_own_clock_reads_that_clock() {
    // The pipeline's clock stands at 0, the shared timeout's at 100 s: the attempt's deadline
    // is 105 s on the timeout's clock, not a reading of the pipeline's.
    let (pipeline_clock, own) = (ManualClock::new(), ManualClock::new());
    own.advance(secs(100));
    let timeout = Timeout::builder()
        .limit(secs(5))
        .clock(own.clone())
        .build()
        .unwrap();
    let pipeline = Pipeline::builder()
        .clock(pipeline_clock.clone())
        .rate_limit(Algorithm::Gcra {
            rate: Rate::per_second(1),
            burst: 1,
        })
        .shared_timeout(timeout.clone())
        .build()
        .unwrap();
    let out = pipeline.call_blocking(|| {
        own.advance(secs(4));
        Ok::<_, ()>("in time")
    });
    assert_eq!(out, Ok("in time"));
    let late = Pipeline::builder()
        .clock(pipeline_clock)
        .shared_timeout(timeout)
        .build()
        .unwrap()
        .call_blocking(|| {
            own.advance(secs(6));
            Ok::<_, ()>("late")
        });
    assert!(matches!(late, Err(Error::Timeout { .. })));
}

#[test]
fn a_blocking_bulkhead_wait_gives_up_at_max_wait_on_virtual_time() {
    let manual = ManualClock::new();
    let bulkhead = Bulkhead::builder()
        .max_concurrent(1)
        .max_queue(1)
        .max_wait(ms(300))
        .clock(manual.clone())
        .build()
        .unwrap();
    let _held = bulkhead.try_acquire().unwrap();
    let rejected = bulkhead.acquire_blocking().unwrap_err();
    assert_eq!(
        rejected.reason(),
        RejectReason::WaitedTooLong { max_wait: ms(300) }
    );
    assert_eq!(manual.now(), at(ms(300)));
}

// ---------------------------------------------------------------------------------------------
// A full pipeline in a simulation
// ---------------------------------------------------------------------------------------------

/// What one simulated call saw.
#[derive(Debug, Clone)]
struct CallRecord {
    started: Duration,
    finished: Duration,
    outcome: String,
}

/// What the operation saw.
#[derive(Default)]
struct Dependency {
    /// Calls the operation is running right now (attempts of one call count once).
    inside: RefCell<Vec<usize>>,
    max_inside: RefCell<usize>,
    /// (virtual time, call) of every attempt that started.
    attempts: RefCell<Vec<(Duration, usize)>>,
}

struct Run {
    calls: Vec<CallRecord>,
    events: Vec<String>,
    dependency: Rc<Dependency>,
}

const CALLS: usize = 400;
const OUTAGE: (Duration, Duration) = (Duration::from_secs(3), Duration::from_secs(6));

fn simulate(seed: u64) -> Run {
    let manual = ManualClock::new();
    let clock = Clock::from(&manual);
    let log = EventLog::new(clock.clone());
    let pipeline = Pipeline::builder()
        .name("sim")
        .clock(clock.clone())
        .seed(seed)
        .on_event(log.clone())
        .rate_limit(palisade::rate_limit::Algorithm::Gcra {
            rate: palisade::rate_limit::Rate::per_second(50),
            burst: 5,
        })
        .rate_limit_max_wait(ms(200))
        .bulkhead(|b| b.max_concurrent(4).max_queue(8).max_wait(ms(300)))
        .total_timeout(secs(2))
        .timeout(ms(250))
        .retry(|r| r.max_attempts(3).exponential(ms(50)).max_delay(ms(400)))
        .circuit_breaker(|b| {
            b.failure_threshold(5)
                .recovery_timeout(secs(1))
                .half_open_requests(1)
        })
        .hedge(|h| h.delay(ms(100)).max_hedged_attempts(1))
        .build()
        .unwrap();
    let sim = Simulation::new(&manual);
    let dependency = Rc::new(Dependency::default());
    let calls = Rc::new(RefCell::new(Vec::new()));
    let mut rng = fastrand::Rng::with_seed(99); // the workload is the same for every seed
    let since = |clock: &Clock| Duration::from_nanos(clock.now().as_nanos());
    let generator = {
        let (sim, clock) = (sim.clone(), clock.clone());
        let (dependency, calls) = (dependency.clone(), calls.clone());
        async move {
            for call in 0..CALLS {
                // Each call's dependency behaviour, drawn up front: latency and failure.
                let plan: Vec<(u64, bool)> = (0..4)
                    .map(|_| (rng.u64(5..400), rng.u8(0..100) < 10))
                    .collect();
                let (pipeline, task_clock, dependency, calls) = (
                    pipeline.clone(),
                    clock.clone(),
                    dependency.clone(),
                    calls.clone(),
                );
                sim.spawn(async move {
                    let clock = task_clock;
                    let started = since(&clock);
                    let attempt = RefCell::new(0usize);
                    let out = pipeline
                        .call_idempotent(|| {
                            let n = {
                                let mut a = attempt.borrow_mut();
                                *a += 1;
                                *a - 1
                            };
                            let (latency, fails) = plan[n.min(plan.len() - 1)];
                            let (clock, dependency) = (clock.clone(), dependency.clone());
                            async move {
                                let now = since(&clock);
                                dependency.attempts.borrow_mut().push((now, call));
                                {
                                    let mut inside = dependency.inside.borrow_mut();
                                    inside.push(call);
                                    let mut distinct = inside.clone();
                                    distinct.sort_unstable();
                                    distinct.dedup();
                                    let mut max = dependency.max_inside.borrow_mut();
                                    *max = (*max).max(distinct.len());
                                }
                                let _leave = Leave(&dependency.inside, call);
                                clock.sleep(ms(latency)).await;
                                let down = (OUTAGE.0..OUTAGE.1).contains(&since(&clock));
                                if fails || down {
                                    Err("unavailable")
                                } else {
                                    Ok(latency)
                                }
                            }
                        })
                        .await;
                    let outcome = match &out {
                        Ok(_) => "ok".to_owned(),
                        Err(Error::Operation(e)) => format!("error {e}"),
                        Err(e) if e.is_rejection() => format!("rejected {e}"),
                        Err(Error::Timeout { .. }) => "timeout".to_owned(),
                        Err(Error::RetriesExhausted { reason, .. }) => format!("gave up: {reason}"),
                        Err(other) => format!("other {other}"),
                    };
                    calls.borrow_mut().push(CallRecord {
                        started,
                        finished: since(&clock),
                        outcome,
                    });
                });
                clock.sleep(ms(20)).await;
            }
        }
    };
    sim.spawn(generator);
    sim.run().unwrap();
    let calls = calls.borrow().clone();
    Run {
        calls,
        events: log.lines(),
        dependency,
    }
}

/// Takes a call out of the dependency's in-flight list when its attempt ends or is dropped.
struct Leave<'a>(&'a RefCell<Vec<usize>>, usize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let mut inside = self.0.borrow_mut();
        if let Some(at) = inside.iter().position(|c| *c == self.1) {
            inside.remove(at);
        }
    }
}

#[test]
fn a_full_pipeline_on_virtual_time_honours_every_limit() {
    let run = simulate(7);
    assert_eq!(run.calls.len(), CALLS, "every call finished");

    // Rate limit, bulkhead and total timeout bound every call: ≤ 200 ms waiting for a permit,
    // ≤ 300 ms queued for a slot, ≤ 2 s in retry.
    for call in &run.calls {
        let took = call.finished - call.started;
        assert!(took <= ms(2_500), "a call took {took:?}: {call:?}");
    }
    // The bulkhead: never more than 4 calls inside at once (a hedged call counts once).
    assert!(*run.dependency.max_inside.borrow() <= 4);
    // Per-attempt timeout: no success took longer than 250 ms.
    assert!(run.events.iter().any(|e| e.contains("TimedOut")));
    // The rate limit: no more than rate + burst admissions in any second.
    let admitted: Vec<Duration> = run
        .events
        .iter()
        .filter(|e| e.contains("Permitted") && e.contains("RateLimit"))
        .map(|e| parse_time(e))
        .collect();
    for (i, start) in admitted.iter().enumerate() {
        let in_window = admitted[i..]
            .iter()
            .take_while(|t| **t < *start + secs(1))
            .count();
        assert!(
            in_window <= 55,
            "{in_window} admissions in the second from {start:?}"
        );
    }
    // The breaker opened in the outage and kept the dependency's load down while open.
    let opened: Vec<Duration> = run
        .events
        .iter()
        .filter(|e| e.contains("StateTransition") && e.contains("to: Open"))
        .map(|e| parse_time(e))
        .collect();
    assert!(!opened.is_empty(), "the outage opened the breaker");
    let attempts = run.dependency.attempts.borrow();
    for open in &opened {
        // While open, no call gets a breaker permit: the only attempts that start are hedges
        // of attempts admitted before the trip (within the 100 ms hedge delay of one).
        for (t, call) in attempts
            .iter()
            .filter(|(t, _)| *t > *open && *t < *open + ms(999))
        {
            let hedge = attempts
                .iter()
                .any(|(u, c)| c == call && *u < *t && *t - *u <= ms(100));
            assert!(
                hedge,
                "call {call} reached the dependency at {t:?}, open from {open:?}"
            );
        }
    }
    drop(attempts);
    // Retry: at most 3 attempts per call, each possibly hedged once.
    let mut per_call = std::collections::HashMap::new();
    for (_, call) in run.dependency.attempts.borrow().iter() {
        *per_call.entry(*call).or_insert(0) += 1;
    }
    assert!(per_call.values().all(|n| *n <= 6));
    // Hedging happened, the bulkhead turned calls away under this load, and once the
    // outage is over and the breaker has recovered, calls succeed again.
    assert!(run.events.iter().any(|e| e.contains("HedgeStarted")));
    assert!(
        run.calls
            .iter()
            .any(|c| c.outcome.starts_with("rejected bulkhead"))
    );
    let after: Vec<_> = run
        .calls
        .iter()
        .filter(|c| c.started > OUTAGE.1 + secs(1))
        .collect();
    assert!(after.iter().filter(|c| c.outcome == "ok").count() * 4 > after.len());
}

#[test]
fn two_runs_with_the_same_seed_publish_identical_events() {
    let (a, b) = (simulate(7), simulate(7));
    assert!(a.events.len() > 1_000);
    assert_eq!(a.events, b.events);
    let c = simulate(8);
    assert_ne!(a.events, c.events, "another seed draws other jitter");
}

/// The virtual time an event line starts with (`EventLog` writes `Duration`'s Debug).
fn parse_time(line: &str) -> Duration {
    let text = line.split_whitespace().next().unwrap();
    let (number, unit) = text
        .find(|c: char| c.is_ascii_alphabetic() || c == 'µ')
        .map(|i| text.split_at(i))
        .unwrap();
    let value: f64 = number.parse().unwrap();
    let nanos = match unit {
        "ns" => value,
        "µs" => value * 1e3,
        "ms" => value * 1e6,
        "s" => value * 1e9,
        other => panic!("unit {other}"),
    };
    Duration::from_nanos(nanos.round() as u64)
}
