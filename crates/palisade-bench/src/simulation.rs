//! `simulation/hour_at_100rps`: one simulated hour of traffic through a full pipeline on
//! virtual time — what `palisade simulate` stands on.
//!
//! 360,000 calls, one every 10 ms, each through rate limit → bulkhead → total timeout → retry
//! → circuit breaker → hedging → per-attempt timeout → an operation that waits a drawn
//! latency (5–40 ms, one call in fifty 300 ms: past the attempt timeout) on the clock and
//! fails 5 % of the time, and always during one 10-minute outage. Everything runs in a
//! [`Simulation`]: one thread, no real waiting, the same result for the same seed.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use palisade::Error;
use palisade::clock::{Clock, ManualClock, Simulation};
use palisade::pipeline::Pipeline;
use palisade::rate_limit::{Algorithm, Rate};

/// How many calls of each kind a run saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Calls that returned a value.
    pub succeeded: u64,
    /// Calls that ran and failed (their error, a timeout, retries exhausted).
    pub failed: u64,
    /// Calls a policy refused without running (rate limit, bulkhead, open breaker).
    pub rejected: u64,
    /// Attempts that reached the operation (retries and hedges included).
    pub attempts: u64,
    /// Virtual time at the end, in seconds.
    pub virtual_secs: u64,
}

/// The outage: from minute 20 to minute 30.
const OUTAGE: (Duration, Duration) = (Duration::from_secs(20 * 60), Duration::from_secs(30 * 60));

/// Runs `calls` calls, one every 10 ms, with `seed` for jitter and the workload.
pub fn run(calls: u64, seed: u64) -> Tally {
    let manual = ManualClock::new();
    let clock = Clock::from(&manual);
    let pipeline = Pipeline::builder()
        .name("simulated")
        .clock(clock.clone())
        .seed(seed)
        .rate_limit(Algorithm::Gcra {
            rate: Rate::per_second(150),
            burst: 20,
        })
        .rate_limit_max_wait(Duration::from_millis(50))
        .bulkhead(|b| {
            b.max_concurrent(16)
                .max_queue(16)
                .max_wait(Duration::from_millis(100))
        })
        .total_timeout(Duration::from_secs(2))
        .timeout(Duration::from_millis(200))
        .retry(|r| {
            r.max_attempts(3)
                .exponential(Duration::from_millis(50))
                .max_delay(Duration::from_millis(500))
        })
        .circuit_breaker(|b| {
            b.failure_threshold(20)
                .recovery_timeout(Duration::from_secs(10))
                .half_open_requests(2)
        })
        .hedge(|h| h.delay(Duration::from_millis(60)).max_hedged_attempts(1))
        .build()
        .unwrap_or_else(|e| panic!("the simulated pipeline must build: {e}"));
    let sim = Simulation::new(&manual);
    let tally = Rc::new(Cell::new(Tally::default()));
    let attempts = Rc::new(Cell::new(0u64));
    let mut rng = fastrand::Rng::with_seed(seed);
    let generator = {
        let (sim, clock, tally, attempts) =
            (sim.clone(), clock.clone(), tally.clone(), attempts.clone());
        async move {
            for _ in 0..calls {
                let latency = if rng.u8(0..50) == 0 {
                    300
                } else {
                    rng.u64(5..=40)
                };
                let fails = rng.u8(0..100) < 5;
                let (pipeline, op_clock, tally, attempts) = (
                    pipeline.clone(),
                    clock.clone(),
                    tally.clone(),
                    attempts.clone(),
                );
                sim.spawn(async move {
                    let out = pipeline
                        .call_idempotent(|| {
                            attempts.set(attempts.get() + 1);
                            let clock = op_clock.clone();
                            async move {
                                clock.sleep(Duration::from_millis(latency)).await;
                                let now = Duration::from_nanos(clock.now().as_nanos());
                                if fails || (OUTAGE.0..OUTAGE.1).contains(&now) {
                                    Err("unavailable")
                                } else {
                                    Ok(latency)
                                }
                            }
                        })
                        .await;
                    let mut t = tally.get();
                    match out {
                        Ok(_) => t.succeeded += 1,
                        Err(e) if e.is_rejection() => t.rejected += 1,
                        Err(Error::Operation(_) | _) => t.failed += 1,
                    }
                    tally.set(t);
                });
                clock.sleep(Duration::from_millis(10)).await;
            }
        }
    };
    sim.spawn(generator);
    sim.run()
        .unwrap_or_else(|stalled| panic!("the simulation must finish: {stalled}"));
    let mut t = tally.get();
    t.attempts = attempts.get();
    t.virtual_secs = manual.now().as_nanos() / 1_000_000_000;
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hour_of_traffic_finishes_and_is_repeatable() {
        let a = run(360_000, 7);
        assert_eq!(a.succeeded + a.failed + a.rejected, 360_000);
        assert!(a.virtual_secs >= 3_600);
        // The outage (a sixth of the hour) is mostly rejected by the open breaker.
        assert!(a.rejected > 50_000, "{a:?}");
        assert!(a.succeeded > 250_000, "{a:?}");
        assert_eq!(a, run(360_000, 7));
    }
}
