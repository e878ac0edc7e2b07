//! The retry budget — its arithmetic, its window, what it does to a retry storm — and the
//! delay floor of `DelayFn::min_delay`.
//!
//! Everything runs on a `ManualClock` (retry advances it instead of sleeping); nothing here
//! sleeps for real or measures time.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::time::{ms, secs};
use palisade::clock::{Instant, ManualClock};
use palisade::event::Event;
use palisade::retry::{
    DelayFn, Jitter, Outcome, Retry, RetryBudget, RetryBudgetConfig, RetryEvent, StopReason,
};
use palisade::{ConfigError, Error};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn budget(ratio: f64, min_retries_per_sec: u32, clock: &ManualClock) -> RetryBudget {
    RetryBudget::builder()
        .ratio(ratio)
        .min_retries_per_sec(min_retries_per_sec)
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// Withdraws until refused; returns how many were granted.
fn drain(budget: &RetryBudget) -> u64 {
    let mut granted = 0;
    while budget.try_withdraw() {
        granted += 1;
    }
    granted
}

fn deposit(budget: &RetryBudget, calls: u64) {
    for _ in 0..calls {
        budget.deposit();
    }
}

/// A policy on `clock` sharing `budget`: 5 attempts, a fixed 1 ms delay, no jitter.
fn storm_policy(clock: &ManualClock, budget: &RetryBudget, gave_up: &GaveUpLog) -> Retry {
    Retry::builder()
        .name("storm")
        .max_attempts(5)
        .fixed(ms(1))
        .jitter(Jitter::None)
        .clock(clock.clone())
        .budget(budget.clone())
        .on_event(gave_up.listener())
        .build()
        .unwrap()
}

/// The reasons of every `GaveUp` event a policy published.
#[derive(Clone, Default)]
struct GaveUpLog(Arc<Mutex<Vec<(u32, StopReason)>>>);

impl GaveUpLog {
    fn listener(&self) -> impl Fn(&Event<'_>) + Send + Sync + 'static {
        let log = self.0.clone();
        move |event: &Event<'_>| {
            if let Event::Retry(RetryEvent::GaveUp {
                attempts, reason, ..
            }) = event
            {
                log.lock().unwrap().push((*attempts, *reason));
            }
        }
    }

    fn get(&self) -> Vec<(u32, StopReason)> {
        self.0.lock().unwrap().clone()
    }
}

/// How one call through the storm ended: attempts made and why retry stopped.
fn ending<T: std::fmt::Debug>(result: Result<T, Error<&'static str>>) -> (u32, StopReason) {
    match result {
        Err(Error::RetriesExhausted {
            attempts,
            reason,
            last_error,
            ..
        }) => {
            assert_eq!(
                *last_error,
                Error::Operation("down"),
                "the last error is kept"
            );
            (attempts, reason)
        }
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Arithmetic
// ---------------------------------------------------------------------------------------------

#[test]
fn a_fifth_of_the_calls_may_be_retried_on_top_of_the_floor() {
    let clock = ManualClock::new();
    let b = budget(0.2, 10, &clock); // floor: 10 per second × 10 s = 100
    deposit(&b, 100);
    assert_eq!(b.available(), 20 + 100);
    assert_eq!(drain(&b), 120);
    let stats = b.stats();
    assert_eq!((stats.calls, stats.retries, stats.available), (100, 120, 0));

    // Every fifth call earns one more retry.
    deposit(&b, 4);
    assert!(!b.try_withdraw());
    deposit(&b, 1);
    assert!(b.try_withdraw());
    assert!(!b.try_withdraw());
}

#[test]
fn without_a_floor_only_the_ratio_counts() {
    let clock = ManualClock::new();
    let b = budget(0.2, 0, &clock);
    assert_eq!(b.available(), 0);
    assert!(!b.try_withdraw(), "no call yet, no floor: no retry");
    deposit(&b, 100);
    assert_eq!(drain(&b), 20);
}

#[test]
fn a_ratio_above_one_allows_several_retries_per_call() {
    let clock = ManualClock::new();
    let b = budget(2.0, 0, &clock);
    deposit(&b, 5);
    assert_eq!(drain(&b), 10);
    let b = budget(1000.0, 0, &clock);
    deposit(&b, 3);
    assert_eq!(b.available(), 3000);
}

#[test]
fn an_inexact_ratio_rounds_towards_fewer_retries() {
    let clock = ManualClock::new();
    // 0.3 is kept as a cost of ⌈1e6 / 0.3⌉ units: 10 calls earn 2.9999994, so 2 retries.
    let b = budget(0.3, 0, &clock);
    deposit(&b, 10);
    assert_eq!(b.available(), 2);
    deposit(&b, 90);
    assert_eq!(b.available(), 29); // 29.999994, never 30
}

#[test]
fn the_floor_allows_min_retries_per_sec_times_ttl_with_no_traffic() {
    let clock = ManualClock::new();
    let defaults = RetryBudget::builder().clock(clock.clone()).build().unwrap();
    assert_eq!(drain(&defaults), 10 * 10);

    let b = RetryBudget::builder()
        .ratio(0.0)
        .min_retries_per_sec(3)
        .ttl(secs(2))
        .clock(clock.clone())
        .build()
        .unwrap();
    deposit(&b, 1000); // a ratio of 0: calls earn nothing
    assert_eq!(drain(&b), 6);

    let never = budget(0.0, 0, &clock);
    deposit(&never, 1000);
    assert_eq!(drain(&never), 0);
}

// ---------------------------------------------------------------------------------------------
// 2. The window
// ---------------------------------------------------------------------------------------------

#[test]
fn calls_and_retries_leave_the_window_after_ttl() {
    let clock = ManualClock::new();
    let b = budget(0.2, 0, &clock); // ttl 10 s, in buckets of 1 s
    deposit(&b, 50); // t = 0: earns 10
    for _ in 0..4 {
        assert!(b.try_withdraw());
    }
    clock.advance(secs(5));
    deposit(&b, 50); // t = 5 s: earns 10 more
    assert_eq!(b.available(), 20 - 4);
    clock.advance(Duration::from_nanos(4_999_999_999)); // t just under 10 s
    assert_eq!(b.available(), 16);

    clock.advance(Duration::from_nanos(1)); // t = 10 s: the first bucket expires
    let stats = b.stats();
    assert_eq!((stats.calls, stats.retries, stats.available), (50, 0, 10));

    clock.advance(secs(5)); // t = 15 s: everything has expired
    let stats = b.stats();
    assert_eq!((stats.calls, stats.retries, stats.available), (0, 0, 0));
}

#[test]
fn the_floor_is_per_window_and_comes_back_when_its_retries_expire() {
    let clock = ManualClock::new();
    let b = budget(0.2, 1, &clock); // floor: 1 per second × 10 s = 10
    assert_eq!(drain(&b), 10);
    clock.advance(ms(9_999));
    assert!(!b.try_withdraw(), "the retries of t = 0 still count");
    clock.advance(ms(1));
    assert_eq!(drain(&b), 10, "they expired at t = 10 s");
}

#[test]
fn retries_outliving_their_calls_leave_nothing_available() {
    let clock = ManualClock::new();
    let b = budget(1.0, 0, &clock);
    deposit(&b, 10);
    clock.advance(secs(5));
    assert_eq!(drain(&b), 10);
    clock.advance(secs(5)); // the calls expire, the retries (made at 5 s) do not
    let stats = b.stats();
    assert_eq!((stats.calls, stats.retries, stats.available), (0, 10, 0));
    deposit(&b, 10);
    assert_eq!(
        b.available(),
        0,
        "new calls first pay for the retries still counted"
    );
    deposit(&b, 1);
    assert_eq!(b.available(), 1);
}

#[test]
fn an_idle_budget_starts_afresh_after_any_gap() {
    let clock = ManualClock::new();
    clock.set(Instant::from_nanos(123_456_789));
    let b = budget(0.5, 0, &clock);
    deposit(&b, 10);
    assert_eq!(drain(&b), 5);
    clock.advance(Duration::from_secs(86_400));
    assert_eq!(b.stats().calls, 0);
    deposit(&b, 4);
    assert_eq!(drain(&b), 2);
}

#[test]
fn a_clock_that_goes_backwards_never_loosens_the_budget() {
    let clock = ManualClock::new();
    clock.advance(secs(100));
    let b = budget(0.2, 0, &clock);
    deposit(&b, 10);
    assert_eq!(drain(&b), 2);
    clock.set(Instant::from_nanos(0));
    deposit(&b, 5);
    assert_eq!(
        drain(&b),
        1,
        "counted in the newest bucket, as if no time had passed"
    );
    assert_eq!(b.stats().calls, 15);
}

/// A plain model of the documented rule: at a withdrawal at time `t`, with `e = t / (ttl/10)`,
/// grant iff retries in buckets `e-9..=e` < ⌊calls there × 1e6 / ⌈1e6 / ratio⌉⌋ + floor.
struct Model {
    bucket: u64,
    cost: u128,
    earned: u128,
    floor: u128,
    /// (bucket, is_retry)
    log: Vec<(u64, bool)>,
}

impl Model {
    fn new(config: &RetryBudgetConfig) -> Self {
        let cost = (1e6 / config.ratio).ceil();
        let (earned, cost) = if config.ratio > 0.0 {
            (1_000_000, cost as u128)
        } else {
            (0, 1)
        };
        Model {
            bucket: config.ttl.as_nanos() as u64 / 10,
            cost,
            earned,
            floor: u128::from(config.min_retries_per_sec) * config.ttl.as_nanos() / 1_000_000_000,
            log: Vec::new(),
        }
    }

    fn window(&self, now: u64) -> (u128, u128) {
        let e = now / self.bucket;
        let live = |b: u64| b + 9 >= e && b <= e;
        let calls = self.log.iter().filter(|(b, r)| !r && live(*b)).count();
        let retries = self.log.iter().filter(|(b, r)| *r && live(*b)).count();
        (calls as u128, retries as u128)
    }

    fn allowed(&self, calls: u128) -> u128 {
        calls * self.earned / self.cost + self.floor
    }

    fn deposit(&mut self, now: u64) {
        self.log.push((now / self.bucket, false));
    }

    fn try_withdraw(&mut self, now: u64) -> bool {
        let (calls, retries) = self.window(now);
        let granted = retries < self.allowed(calls);
        if granted {
            self.log.push((now / self.bucket, true));
        }
        granted
    }
}

#[derive(Debug, Clone)]
enum Op {
    Deposit(u32),
    Withdraw(u32),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1u32..40).prop_map(Op::Deposit),
        3 => (1u32..40).prop_map(Op::Withdraw),
        2 => (0u64..4_000).prop_map(Op::Advance), // milliseconds
        1 => (0u64..30_000).prop_map(Op::Advance),
    ]
}

fn config() -> impl Strategy<Value = RetryBudgetConfig> {
    (
        prop_oneof![
            Just(0.0),
            Just(0.1),
            Just(0.2),
            Just(0.3),
            Just(1.0),
            Just(2.5),
            0.0f64..=5.0
        ],
        0u32..5,
        1_000u64..=60_000,
    )
        .prop_map(|(ratio, min, ttl_ms)| RetryBudgetConfig {
            ratio,
            min_retries_per_sec: min,
            ttl: ms(ttl_ms),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// One caller at a time, the budget decides exactly as the documented rule says.
    #[test]
    fn every_decision_matches_the_documented_rule(
        config in config(),
        start in 0u64..100_000,
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let clock = ManualClock::new();
        clock.advance(ms(start));
        let b = RetryBudget::builder()
            .ratio(config.ratio)
            .min_retries_per_sec(config.min_retries_per_sec)
            .ttl(config.ttl)
            .clock(clock.clone())
            .build()
            .unwrap();
        let mut model = Model::new(&config);
        let now = || clock.now().as_nanos();
        for op in ops {
            match op {
                Op::Deposit(n) => for _ in 0..n {
                    b.deposit();
                    model.deposit(now());
                },
                Op::Withdraw(n) => for _ in 0..n {
                    prop_assert_eq!(b.try_withdraw(), model.try_withdraw(now()));
                },
                Op::Advance(n) => clock.advance(ms(n)),
            }
            let (calls, retries) = model.window(now());
            let stats = b.stats();
            prop_assert_eq!((u128::from(stats.calls), u128::from(stats.retries)), (calls, retries));
            prop_assert_eq!(
                u128::from(stats.available),
                model.allowed(calls).saturating_sub(retries)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Retry storms
// ---------------------------------------------------------------------------------------------

#[test]
fn a_retry_storm_is_cut_to_the_budget() {
    let clock = ManualClock::new();
    let b = budget(0.2, 10, &clock); // 20 % of calls + 100 per 10 s
    let gave_up = GaveUpLog::default();
    let retry = storm_policy(&clock, &b, &gave_up);
    let attempts = AtomicU64::new(0);

    // An outage: 1000 calls, every attempt fails. Without a budget: 5000 attempts.
    let endings: Vec<_> = (0..1000)
        .map(|_| {
            ending(retry.call_blocking(|| {
                attempts.fetch_add(1, Ordering::Relaxed);
                Err::<(), _>("down")
            }))
        })
        .collect();

    // Every call deposited; retries stopped at 0.2 × 1000 + 100. (All within 300 ms of
    // virtual time, so within one window.)
    assert_eq!(attempts.load(Ordering::Relaxed), 1000 + 300);
    assert_eq!(clock.now().as_nanos(), 300 * 1_000_000);
    let stats = b.stats();
    assert_eq!(
        (stats.calls, stats.retries, stats.available),
        (1000, 300, 0)
    );

    // The first calls retried fully on the floor; once it was spent, calls stopped at their
    // first failure except one in five, which the ratio paid for.
    let full = endings
        .iter()
        .filter(|e| **e == (5, StopReason::MaxAttempts { max_attempts: 5 }))
        .count();
    let cut: Vec<_> = endings
        .iter()
        .filter(|(_, reason)| *reason == StopReason::BudgetExhausted)
        .collect();
    assert_eq!(
        full + cut.len(),
        1000,
        "every call ended one way or the other"
    );
    assert!(cut.len() >= 1000 - 300 / 4, "{} calls cut", cut.len());
    assert!(cut.iter().all(|(attempts, _)| *attempts <= 4));
    assert_eq!(endings[0], (5, StopReason::MaxAttempts { max_attempts: 5 }));
    assert_eq!(endings[999], (2, StopReason::BudgetExhausted));
    assert_eq!(
        gave_up.get(),
        endings,
        "one GaveUp event per call, same reason"
    );
}

#[test]
fn one_budget_bounds_every_policy_that_shares_it() {
    let clock = ManualClock::new();
    let b = budget(0.2, 1, &clock); // floor 10
    let gave_up = GaveUpLog::default();
    let noisy = storm_policy(&clock, &b, &gave_up);
    let quiet = Retry::builder()
        .name("quiet")
        .max_attempts(3)
        .clock(clock.clone())
        .budget(b.clone())
        .on_event(gave_up.listener())
        .build()
        .unwrap();

    // The noisy policy spends the floor (and what its own calls earn).
    for _ in 0..5 {
        let _ = noisy.call_blocking(|| Err::<(), _>("down"));
    }
    assert_eq!(b.available(), 0);

    // The quiet policy's failing call may not retry: the budget is the service's.
    let result = quiet.call_blocking(|| Err::<(), _>("down"));
    assert_eq!(ending(result), (1, StopReason::BudgetExhausted));
    // Successes are untouched, and their deposits pay for later retries.
    for _ in 0..4 {
        assert_eq!(quiet.call_blocking(|| Ok::<_, ()>(1)), Ok(1));
    }
    assert_eq!(b.available(), 1);
    let mut n = 0;
    assert_eq!(
        quiet.call_blocking(|| {
            n += 1;
            if n == 1 { Err("blip") } else { Ok(n) }
        }),
        Ok(2)
    );
    assert_eq!(b.available(), 0);

    // The budget shows in the policy's Debug, with its numbers.
    let debug = format!("{quiet:?}");
    assert!(
        debug.contains("budget: Some(RetryBudget { ratio: 0.2"),
        "{debug}"
    );
    assert!(debug.contains("available: 0"), "{debug}");
    assert!(quiet.budget().is_some());
}

#[test]
fn a_policy_without_listeners_deposits_each_call_before_its_first_attempt() {
    // No listener, no `max_elapsed`, no seed: the call start that is otherwise free still
    // deposits, and before the operation runs.
    let clock = ManualClock::new();
    let b = budget(0.2, 0, &clock);
    let retry = Retry::builder()
        .clock(clock.clone())
        .budget(b.clone())
        .build()
        .unwrap();
    for call in 1..=3 {
        let seen = retry.call_blocking(|| Ok::<_, ()>(b.stats().calls));
        assert_eq!(
            seen,
            Ok(call),
            "call {call} was deposited when its attempt ran"
        );
    }
    assert_eq!(b.stats().calls, 3);
}

#[test]
fn no_retry_is_spent_on_a_retry_that_would_not_happen() {
    let clock = ManualClock::new();
    let b = budget(0.2, 1, &clock);
    let once = Retry::builder()
        .max_attempts(1)
        .clock(clock.clone())
        .budget(b.clone())
        .build()
        .unwrap();
    let _ = once.call_blocking(|| Err::<(), _>("down"));
    let permanent = Retry::builder()
        .clock(clock.clone())
        .budget(b.clone())
        .build()
        .unwrap()
        .retry_if(|_: &&str| false);
    let _ = permanent.call_blocking(|| Err::<(), _>("fatal"));
    let short = Retry::builder()
        .fixed(secs(5))
        .jitter(Jitter::None)
        .max_elapsed(secs(1))
        .clock(clock.clone())
        .budget(b.clone())
        .build()
        .unwrap();
    let result = short.call_blocking(|| Err::<(), _>("down"));
    assert!(matches!(
        result,
        Err(Error::RetriesExhausted {
            reason: StopReason::MaxElapsed { .. },
            ..
        })
    ));
    let stats = b.stats();
    assert_eq!((stats.calls, stats.retries), (3, 0));
}

/// How each call ended, the GaveUp events, and the virtual time the storm took.
type Storm = (Vec<(u32, StopReason)>, Vec<(u32, StopReason)>, u64);

fn storm_endings_blocking() -> Storm {
    let clock = ManualClock::new();
    let b = budget(0.2, 1, &clock);
    let gave_up = GaveUpLog::default();
    let retry = storm_policy(&clock, &b, &gave_up);
    let endings = (0..200)
        .map(|_| ending(retry.call_blocking(|| Err::<(), _>("down"))))
        .collect();
    (endings, gave_up.get(), clock.now().as_nanos())
}

async fn storm_endings_async() -> Storm {
    let clock = ManualClock::new();
    let b = budget(0.2, 1, &clock);
    let gave_up = GaveUpLog::default();
    let retry = storm_policy(&clock, &b, &gave_up);
    let mut endings = Vec::new();
    for _ in 0..200 {
        endings.push(ending(retry.call(|| async { Err::<(), _>("down") }).await));
    }
    (endings, gave_up.get(), clock.now().as_nanos())
}

#[tokio::test]
async fn async_and_blocking_calls_spend_the_budget_alike() {
    let blocking = storm_endings_blocking();
    let asynchronous = storm_endings_async().await;
    assert_eq!(blocking, asynchronous);
    // 200 calls earn 40 retries, the floor adds 10.
    let retries: u32 = blocking.0.iter().map(|(attempts, _)| attempts - 1).sum();
    assert_eq!(retries, 50);
    assert!(blocking.0.contains(&(1, StopReason::BudgetExhausted)));
}

// ---------------------------------------------------------------------------------------------
// 4. Concurrency
// ---------------------------------------------------------------------------------------------

#[test]
fn concurrent_callers_never_overdraw() {
    let clock = ManualClock::new();
    let b = budget(0.2, 1, &clock); // floor 10; time stands still: one window
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let b = b.clone();
            std::thread::spawn(move || {
                let mut granted = 0u64;
                for _ in 0..10_000 {
                    b.deposit();
                    // Every caller wants two retries per call: ten times what the ratio allows.
                    granted += u64::from(b.try_withdraw()) + u64::from(b.try_withdraw());
                }
                granted
            })
        })
        .collect();
    let granted: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let bound = 80_000 / 5 + 10;
    assert!(granted <= bound, "{granted} granted, bound {bound}");
    // Nothing lost either way: what is left is exactly the rest of the bound.
    assert_eq!(granted + drain(&b), bound);
    let stats = b.stats();
    assert_eq!((stats.calls, stats.retries), (80_000, bound));
}

#[test]
fn concurrent_callers_stay_within_the_bound_while_the_window_slides() {
    let clock = ManualClock::new();
    let b = budget(0.2, 1, &clock); // floor 10 per 10 s window, buckets of 1 s
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (b, clock) = (b.clone(), clock.clone());
            std::thread::spawn(move || {
                let (mut calls, mut granted) = (0u64, 0u64);
                for i in 0..20_000 {
                    // 4 × 2000 steps of 5 ms: 40 s, so buckets open under the callers' feet.
                    if i % 10 == 0 {
                        clock.advance(ms(5));
                    }
                    b.deposit();
                    calls += 1;
                    granted += u64::from(b.try_withdraw()) + u64::from(b.try_withdraw());
                }
                (calls, granted)
            })
        })
        .collect();
    let (calls, granted) = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .fold((0, 0), |(c, g), (c2, g2)| (c + c2, g + g2));
    assert_eq!(clock.now().as_nanos(), 40 * 1_000_000_000);
    // Each aligned 10 s window's retries are bounded by 0.2 × the calls of that window and
    // the one before it (a check looks back one ttl) plus the floor. Summed over the five
    // windows that [0, 40 s] touches:
    let bound = 2 * calls / 5 + 5 * 10;
    assert!(
        granted <= bound,
        "{granted} granted of {calls} calls, bound {bound}"
    );
    assert!(
        granted >= calls / 10,
        "the ratio was granted: {granted} of {calls}"
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Configuration
// ---------------------------------------------------------------------------------------------

fn build_error(
    f: impl FnOnce(palisade::retry::RetryBudgetBuilder) -> palisade::retry::RetryBudgetBuilder,
) -> ConfigError {
    f(RetryBudget::builder()).build().unwrap_err()
}

#[test]
fn build_errors_name_the_field_and_the_value() {
    let ratio = "must be a number from 0 to 1000 (retries allowed per call)";
    for (bad, value) in [
        (f64::NAN, "NaN"),
        (-0.1, "-0.1"),
        (1000.5, "1000.5"),
        (f64::INFINITY, "inf"),
    ] {
        let err = build_error(|b| b.ratio(bad));
        assert_eq!(
            (err.policy(), err.field(), err.value(), err.reason()),
            ("retry_budget", "ratio", value, ratio)
        );
    }
    let err = build_error(|b| b.ttl(Duration::ZERO));
    assert_eq!(
        err.to_string(),
        "invalid retry_budget configuration: ttl = 0ns: must be greater than zero"
    );
    for (bad, value) in [(ms(500), "500ms"), (secs(61), "61s")] {
        let err = build_error(|b| b.ttl(bad));
        assert_eq!(
            (err.field(), err.value(), err.reason()),
            ("ttl", value, "must be from 1s to 60s")
        );
    }
    // The edges are accepted.
    for (r, ttl) in [(0.0, secs(1)), (1000.0, secs(60))] {
        assert!(RetryBudget::builder().ratio(r).ttl(ttl).build().is_ok());
    }
    let err = RetryBudget::from_config(RetryBudgetConfig {
        ratio: -1.0,
        ..RetryBudgetConfig::default()
    })
    .unwrap_err();
    assert_eq!((err.field(), err.value()), ("ratio", "-1"));
}

#[test]
fn the_defaults_are_finagles() {
    let config = RetryBudgetConfig::default();
    assert_eq!(
        (config.ratio, config.min_retries_per_sec, config.ttl),
        (0.2, 10, secs(10))
    );
    let b = RetryBudget::default();
    assert_eq!(b.config(), &config);
    assert!(
        format!("{b:?}").starts_with("RetryBudget { ratio: 0.2, min_retries_per_sec: 10, ttl: 10s")
    );
}

// ---------------------------------------------------------------------------------------------
// 6. DelayFn::min_delay
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum CallError {
    Rejected { retry_after: Duration },
    Failed,
}

/// The configured backoff, raised to a rejection's `retry_after`.
#[derive(Clone, Copy)]
struct AtLeastRetryAfter;

impl<T> DelayFn<T, CallError> for AtLeastRetryAfter {
    fn delay(&self, _: u32, _: Outcome<'_, T, CallError>) -> Option<Duration> {
        None
    }
    fn min_delay(&self, _: u32, outcome: Outcome<'_, T, CallError>) -> Option<Duration> {
        match outcome {
            Outcome::Err(CallError::Rejected { retry_after }) => Some(*retry_after),
            _ => None,
        }
    }
}

/// Always chooses `chosen`, with a floor of `floor`.
struct ChosenWithFloor {
    chosen: Duration,
    floor: Duration,
}

impl DelayFn<(), CallError> for ChosenWithFloor {
    fn delay(&self, _: u32, _: Outcome<'_, (), CallError>) -> Option<Duration> {
        Some(self.chosen)
    }
    fn min_delay(&self, _: u32, _: Outcome<'_, (), CallError>) -> Option<Duration> {
        Some(self.floor)
    }
}

/// The delays of every `RetryScheduled` event.
fn delays_log() -> (
    Arc<Mutex<Vec<Duration>>>,
    impl Fn(&Event<'_>) + Send + Sync + 'static,
) {
    let delays = Arc::new(Mutex::new(Vec::new()));
    let log = delays.clone();
    (delays, move |event: &Event<'_>| {
        if let Event::Retry(RetryEvent::RetryScheduled { delay, .. }) = event {
            log.lock().unwrap().push(*delay);
        }
    })
}

#[test]
fn min_delay_raises_a_shorter_backoff_and_leaves_a_longer_one() {
    let clock = ManualClock::new();
    let (delays, listener) = delays_log();
    let retry = Retry::builder()
        .fixed(ms(100))
        .jitter(Jitter::None)
        .max_attempts(4)
        .clock(clock.clone())
        .on_event(listener)
        .build()
        .unwrap()
        .delay_fn(AtLeastRetryAfter);
    let mut script = vec![
        Err(CallError::Rejected {
            retry_after: ms(50),
        }),
        Err(CallError::Failed),
        Err(CallError::Rejected {
            retry_after: secs(3),
        }),
    ];
    let result = retry.call_blocking(|| script.pop().unwrap_or(Ok(())));
    assert_eq!(result, Ok(()));
    // 3 s (the rejection's floor), 100 ms (no floor), 100 ms (the floor of 50 ms is lower).
    assert_eq!(*delays.lock().unwrap(), [secs(3), ms(100), ms(100)]);
    assert_eq!(clock.now().as_nanos(), 3_200_000_000);
}

#[test]
fn min_delay_raises_a_chosen_delay_too() {
    let clock = ManualClock::new();
    let (delays, listener) = delays_log();
    let retry = Retry::builder()
        .max_attempts(3)
        .clock(clock.clone())
        .on_event(listener)
        .build()
        .unwrap()
        .delay_fn(ChosenWithFloor {
            chosen: ms(200),
            floor: ms(500),
        });
    let _ = retry.call_blocking(|| Err::<(), _>(CallError::Failed));
    assert_eq!(*delays.lock().unwrap(), [ms(500), ms(500)]);
}

#[test]
fn max_elapsed_sees_the_raised_delay() {
    let clock = ManualClock::new();
    let log = GaveUpLog::default();
    let retry = Retry::builder()
        .fixed(ms(100))
        .jitter(Jitter::None)
        .max_attempts(5)
        .max_elapsed(secs(1))
        .clock(clock.clone())
        .on_event(log.listener())
        .build()
        .unwrap()
        .delay_fn(AtLeastRetryAfter);
    let mut calls = 0;
    let result = retry.call_blocking(|| {
        calls += 1;
        Err::<(), _>(CallError::Rejected {
            retry_after: secs(2),
        })
    });
    let expected = StopReason::MaxElapsed {
        budget: secs(1),
        elapsed: Duration::ZERO,
        next_delay: secs(2),
    };
    assert!(
        matches!(result, Err(Error::RetriesExhausted { attempts: 1, reason, .. }) if reason == expected),
    );
    assert_eq!(calls, 1);
    assert_eq!(clock.now().as_nanos(), 0, "did not sleep past the budget");
    assert_eq!(log.get(), [(1, expected)]);
}

#[test]
fn closures_still_implement_delay_fn_without_a_floor() {
    let closure = |_: u32, _: Outcome<'_, (), CallError>| Some(ms(7));
    let failed = CallError::Failed;
    assert_eq!(closure.delay(1, Outcome::Err(&failed)), Some(ms(7)));
    assert_eq!(closure.min_delay(1, Outcome::Err(&failed)), None);
}
