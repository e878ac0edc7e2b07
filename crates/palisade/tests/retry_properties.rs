//! Properties of the Retry policy that must hold for every valid configuration.
//!
//! Everything runs on a `ManualClock`: retry advances it instead of sleeping.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade::Error;
use palisade::clock::ManualClock;
use palisade::retry::{Jitter, Retry, RetryConfig, RetryEvent, StopReason, Strategy as Backoff};
use proptest::prelude::*;

const CASES: u32 = 512;

fn backoff() -> impl Strategy<Value = Backoff> {
    prop_oneof![
        Just(Backoff::Fixed),
        Just(Backoff::Linear),
        Just(Backoff::Exponential),
    ]
}

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated),
    ]
}

/// Multipliers across [1, 10], with extra weight on the edges (exactly 1, just above 1).
fn multiplier() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => 1.0f64..=10.0,
        1 => Just(1.0f64),
        1 => 1.0f64..1.000_001,
        1 => Just(10.0f64),
    ]
}

/// A valid configuration: base in 1ns..=10s, max >= base, multiplier in [1, 10].
fn config() -> impl Strategy<Value = RetryConfig> {
    (
        backoff(),
        jitter(),
        1u64..=10_000_000_000,
        prop_oneof![Just(0u64), 0u64..=1_000, 0u64..=60_000_000_000],
        multiplier(),
        1u32..=20,
    )
        .prop_map(
            |(strategy, jitter, base, extra, exponential_base, max_attempts)| RetryConfig {
                max_attempts,
                base_delay: Duration::from_nanos(base),
                max_delay: Duration::from_nanos(base + extra),
                exponential_base,
                strategy,
                jitter,
                max_elapsed: None,
            },
        )
}

/// An owned record of one event.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    /// Attempt `attempt` failed; sleeping `delay`, published at virtual time `at`.
    Scheduled {
        attempt: u32,
        delay: Duration,
        at: Duration,
    },
    Succeeded {
        attempts: u32,
    },
    GaveUp {
        attempts: u32,
        reason: StopReason,
    },
}

type Events = Arc<Mutex<Vec<Seen>>>;

/// Builds a seeded policy from `config` on `clock`, recording its events.
fn policy(config: RetryConfig, clock: &ManualClock, seed: u64) -> (Retry, Events) {
    let events: Events = Arc::new(Mutex::new(Vec::new()));
    let log = events.clone();
    let at_clock = clock.clone();
    let retry = Retry::builder_from(config)
        .clock(clock.clone())
        .seed(seed)
        .on_event(move |event: &palisade::event::Event<'_>| {
            let palisade::event::Event::Retry(e) = event else {
                return;
            };
            let seen = match *e {
                RetryEvent::RetryScheduled { attempt, delay, .. } => Seen::Scheduled {
                    attempt,
                    delay,
                    at: Duration::from_nanos(at_clock.now().as_nanos()),
                },
                RetryEvent::Succeeded { attempts, .. } => Seen::Succeeded { attempts },
                RetryEvent::GaveUp {
                    attempts, reason, ..
                } => Seen::GaveUp { attempts, reason },
                _ => return,
            };
            log.lock().unwrap().push(seen);
        })
        .build()
        .expect("generated configs are valid");
    (retry, events)
}

fn delays(events: &Events) -> Vec<(u32, Duration)> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Seen::Scheduled { attempt, delay, .. } => Some((*attempt, *delay)),
            _ => None,
        })
        .collect()
}

#[derive(Debug, Clone, Copy)]
enum Budget {
    Nanos(u64),
    BaseDelays(u32),
}

fn nanos(d: Duration) -> u128 {
    d.as_nanos()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Every jittered delay stays within the bounds documented on `Jitter`.
    #[test]
    fn jittered_delays_stay_within_documented_bounds(config in config(), seed in any::<u64>()) {
        let clock = ManualClock::new();
        let (retry, events) = policy(config, &clock, seed);
        let report = retry.call_blocking_with_report(|| Err::<(), _>("down"));

        let delays = delays(&events);
        prop_assert_eq!(report.attempts, config.max_attempts);
        prop_assert_eq!(delays.len() as u32, config.max_attempts - 1);
        let mut previous = config.base_delay;
        for (i, &(attempt, d)) in delays.iter().enumerate() {
            prop_assert_eq!(attempt, i as u32 + 1);
            let scheduled = config.scheduled_delay(attempt);
            prop_assert!(d <= config.max_delay, "{:?} above max_delay {:?}", d, config.max_delay);
            match config.jitter {
                Jitter::None => prop_assert_eq!(d, scheduled),
                Jitter::Full => prop_assert!(d <= scheduled, "full: {:?} > {:?}", d, scheduled),
                Jitter::Equal => {
                    prop_assert!(d <= scheduled, "equal: {:?} > {:?}", d, scheduled);
                    prop_assert!(
                        nanos(d) >= nanos(scheduled) / 2,
                        "equal: {:?} < half of {:?}", d, scheduled
                    );
                }
                Jitter::Decorrelated => {
                    let upper = config.max_delay.min(previous.saturating_mul(3));
                    prop_assert!(d >= config.base_delay, "decorrelated: {:?} < base", d);
                    prop_assert!(d <= upper, "decorrelated: {:?} > {:?}", d, upper);
                }
                _ => prop_assert!(false, "unknown jitter"),
            }
            previous = d;
        }
        let total: Duration = delays.iter().map(|&(_, d)| d).sum();
        prop_assert_eq!(report.total_delay, total);
        prop_assert_eq!(Duration::from_nanos(clock.now().as_nanos()), total);
    }

    /// The un-jittered schedule never shrinks, starts at base_delay and never exceeds max_delay.
    #[test]
    fn unjittered_delays_are_non_decreasing_and_capped(config in config()) {
        let config = RetryConfig { jitter: Jitter::None, ..config };
        let schedule: Vec<Duration> = (1..=config.max_attempts.max(2) + 40)
            .map(|n| config.scheduled_delay(n))
            .collect();
        prop_assert_eq!(schedule[0], config.base_delay);
        for pair in schedule.windows(2) {
            prop_assert!(pair[0] <= pair[1], "schedule shrinks: {:?} then {:?}", pair[0], pair[1]);
        }
        for d in &schedule {
            prop_assert!(*d <= config.max_delay);
        }

        // And the policy sleeps exactly that schedule.
        let clock = ManualClock::new();
        let (retry, events) = policy(config, &clock, 0);
        let _ = retry.call_blocking(|| Err::<(), _>("down"));
        let slept: Vec<Duration> = delays(&events).into_iter().map(|(_, d)| d).collect();
        prop_assert_eq!(&slept[..], &schedule[..config.max_attempts as usize - 1]);
    }

    /// Attempts made == min(max_attempts, index of the first success), and the call is Ok iff
    /// a success happens within max_attempts.
    #[test]
    fn attempts_stop_at_the_first_success_or_max_attempts(
        config in config(),
        script in prop::collection::vec(any::<bool>(), 0..=25),
        seed in any::<u64>(),
    ) {
        let clock = ManualClock::new();
        let (retry, events) = policy(config, &clock, seed);
        let mut calls = 0usize;
        let report = retry.call_blocking_with_report(|| {
            let ok = script.get(calls).copied().unwrap_or(false);
            calls += 1;
            if ok { Ok(calls) } else { Err(calls) }
        });

        let first_success = script.iter().position(|&ok| ok).map(|i| i + 1);
        let max = config.max_attempts as usize;
        let expected = first_success.map_or(max, |s| s.min(max));
        prop_assert_eq!(calls, expected);
        prop_assert_eq!(report.attempts as usize, expected);
        let succeeds = first_success.is_some_and(|s| s <= max);
        prop_assert_eq!(report.result.is_ok(), succeeds);
        match &report.result {
            Ok(n) => prop_assert_eq!(Some(*n), first_success),
            Err(Error::RetriesExhausted { attempts, reason, .. }) => {
                prop_assert_eq!(*attempts as usize, max);
                prop_assert_eq!(*reason, StopReason::MaxAttempts { max_attempts: config.max_attempts });
                prop_assert_eq!(report.result.as_ref().err().and_then(|e| e.operation_error()), Some(&max));
            }
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
        let events = events.lock().unwrap().clone();
        prop_assert_eq!(events.len(), expected);
        let last = events.last().cloned();
        if succeeds {
            prop_assert_eq!(last, Some(Seen::Succeeded { attempts: expected as u32 }));
        } else {
            prop_assert_eq!(
                last,
                Some(Seen::GaveUp {
                    attempts: expected as u32,
                    reason: StopReason::MaxAttempts { max_attempts: config.max_attempts },
                })
            );
        }
    }

    /// With a budget, no sleep ends at or after start + budget, even when attempts themselves
    /// take (virtual) time; and a MaxElapsed stop is justified.
    #[test]
    fn no_sleep_reaches_the_elapsed_budget(
        config in config(),
        budget in prop_oneof![
            // Any budget, or a whole number of base delays so that a sleep could end exactly
            // at the budget (the boundary retry must refuse).
            (1u64..=20_000_000_000).prop_map(Budget::Nanos),
            (1u32..=20).prop_map(Budget::BaseDelays),
        ],
        offset in 0u64..=1_000_000_000_000,
        costs in prop::collection::vec(
            prop_oneof![3 => Just(0u64), 1 => 0u64..=1_000, 2 => 0u64..=3_000_000_000],
            20,
        ),
        seed in any::<u64>(),
    ) {
        let budget = match budget {
            Budget::Nanos(n) => Duration::from_nanos(n),
            Budget::BaseDelays(k) => config.base_delay * k,
        };
        let config = RetryConfig { max_elapsed: Some(budget), ..config };
        let clock = ManualClock::new();
        clock.advance(Duration::from_nanos(offset));
        let start = Duration::from_nanos(offset);
        let (retry, events) = policy(config, &clock, seed);

        let slow = clock.clone();
        let mut calls = 0usize;
        let report = retry.call_blocking_with_report(|| {
            slow.advance(Duration::from_nanos(costs[calls % costs.len()]));
            calls += 1;
            Err::<(), _>(calls)
        });

        let events = events.lock().unwrap().clone();
        for event in &events {
            if let Seen::Scheduled { delay, at, .. } = event {
                prop_assert!(
                    *at + *delay < start + budget,
                    "sleep from {:?} for {:?} ends at or after start {:?} + budget {:?}",
                    at, delay, start, budget
                );
            }
        }
        let total_delay: Duration = events
            .iter()
            .filter_map(|e| match e { Seen::Scheduled { delay, .. } => Some(*delay), _ => None })
            .sum();
        let total_cost: Duration = (0..calls)
            .map(|i| Duration::from_nanos(costs[i % costs.len()]))
            .sum();
        let end = Duration::from_nanos(clock.now().as_nanos());
        prop_assert_eq!(end, start + total_cost + total_delay);
        prop_assert_eq!(report.total_delay, total_delay);
        prop_assert_eq!(report.elapsed, end - start);
        prop_assert!(calls as u32 <= config.max_attempts);

        match report.result {
            Err(Error::RetriesExhausted { attempts, reason, .. }) => {
                prop_assert_eq!(attempts as usize, calls);
                match reason {
                    StopReason::MaxElapsed { budget: b, elapsed, next_delay } => {
                        prop_assert_eq!(b, budget);
                        prop_assert_eq!(elapsed, end - start);
                        prop_assert!(elapsed + next_delay >= budget);
                        prop_assert!(calls < config.max_attempts as usize);
                    }
                    StopReason::MaxAttempts { max_attempts } => {
                        prop_assert_eq!(max_attempts, config.max_attempts);
                        prop_assert_eq!(calls, config.max_attempts as usize);
                    }
                    other => prop_assert!(false, "unexpected reason {:?}", other),
                }
            }
            other => prop_assert!(false, "an always-failing call returned {:?}", other),
        }
    }

    /// Two policies with the same seed and config draw the same delays for the same script,
    /// whether called blocking or async.
    #[test]
    fn async_and_blocking_draw_the_same_delays_for_any_seeded_config(
        config in config(),
        fails in 0u32..=25,
        seed in any::<u64>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let (blocking_clock, async_clock) = (ManualClock::new(), ManualClock::new());
        let (blocking, blocking_events) = policy(config, &blocking_clock, seed);
        let (asynchronous, async_events) = policy(config, &async_clock, seed);

        let mut n = 0u32;
        let b = blocking.call_blocking_with_report(|| {
            n += 1;
            if n <= fails { Err(n) } else { Ok(n) }
        });
        let mut m = 0u32;
        let a = runtime.block_on(asynchronous.call_with_report(|| {
            m += 1;
            let attempt = m;
            async move { if attempt <= fails { Err(attempt) } else { Ok(attempt) } }
        }));

        prop_assert_eq!(&b, &a);
        prop_assert_eq!(n, m);
        prop_assert_eq!(
            blocking_events.lock().unwrap().clone(),
            async_events.lock().unwrap().clone()
        );
        prop_assert_eq!(blocking_clock.now(), async_clock.now());
    }
}
