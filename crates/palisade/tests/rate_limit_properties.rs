//! Properties of the direct rate limiter that must hold for every valid quota and every
//! arrival schedule.
//!
//! Everything runs on a `ManualClock` that only the test moves, so the schedules are exact
//! and nothing depends on the machine's speed. Each run drives a limiter through a random
//! schedule (1..300 requests, random sizes, gaps from 0 to several windows, bursts at one
//! instant) and checks every decision against a reference model written from the documented
//! semantics; at the end it checks the documented bound over every window of the admitted
//! history by brute force. The per-algorithm properties add destructive probes: retrying at
//! `now + retry_after − 1ns` and `now + retry_after`, and taking exactly `remaining` permits.
//!
//! What the sliding window counter guarantees to a steady stream is weaker than "spacing
//! ≥ window / max": at a window boundary its estimate still counts the whole previous window.
//! The guarantee proven (and tested) here is for single permits spaced at least
//! `ceil(2 × window / max)` apart: the permits counted at an arrival lie in the last
//! `window + elapsed < 2 × window`, which holds at most `max − 1` earlier arrivals of such a
//! stream. For `max ≤ 2` that spacing is also necessary.

mod common;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use common::time::nanos;
use palisade::clock::ManualClock;
use palisade::rate_limit::{Algorithm, Denied, Rate, RateLimitInfo, RateLimiter};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const CASES: u32 = 256;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Quotas
// ---------------------------------------------------------------------------------------------

/// A quota in clock nanoseconds, as the documentation defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// GCRA and token bucket: `interval = ceil(period / permits)`; the bucket starts
    /// `missing` permits short of `burst`.
    Gcra {
        interval: u64,
        burst: u64,
        missing: u64,
    },
    Fixed {
        window: u64,
        max: u64,
    },
    Counter {
        window: u64,
        max: u64,
    },
    Log {
        window: u64,
        max: u64,
    },
}

impl Spec {
    fn of(algorithm: Algorithm) -> Spec {
        let interval = |rate: Rate| nanos(rate.period).div_ceil(u64::from(rate.permits));
        match algorithm {
            Algorithm::Gcra { rate, burst } => Spec::Gcra {
                interval: interval(rate),
                burst: burst.into(),
                missing: 0,
            },
            Algorithm::TokenBucket {
                rate,
                capacity,
                initial_tokens,
            } => Spec::Gcra {
                interval: interval(rate),
                burst: capacity.into(),
                missing: u64::from(capacity - initial_tokens.unwrap_or(capacity)),
            },
            Algorithm::FixedWindow {
                max_requests,
                window,
            } => Spec::Fixed {
                window: nanos(window),
                max: max_requests.into(),
            },
            Algorithm::SlidingWindowCounter {
                max_requests,
                window,
            } => Spec::Counter {
                window: nanos(window),
                max: max_requests.into(),
            },
            Algorithm::SlidingWindowLog {
                max_requests,
                window,
            } => Spec::Log {
                window: nanos(window),
                max: max_requests.into(),
            },
            other => panic!("no model for {other:?}"),
        }
    }

    /// Burst, capacity or max: the most granted at once.
    fn capacity(self) -> u64 {
        match self {
            Spec::Gcra { burst, .. } => burst,
            Spec::Fixed { max, .. } | Spec::Counter { max, .. } | Spec::Log { max, .. } => max,
        }
    }

    /// The time scales of the quota: per permit, and for the whole capacity.
    fn scales(self) -> (u64, u64) {
        match self {
            Spec::Gcra {
                interval, burst, ..
            } => (interval, interval.saturating_mul(burst)),
            Spec::Fixed { window, max }
            | Spec::Counter { window, max }
            | Spec::Log { window, max } => ((window / max).max(1), window),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The reference model
// ---------------------------------------------------------------------------------------------

/// The documented decision rules, kept in the simplest form: GCRA as its inequality, the
/// windows as counts per aligned window or the list of permits of the last window.
struct Model {
    spec: Spec,
    /// GCRA: the theoretical arrival time.
    tat: u128,
    /// Fixed window and sliding counter: permits per aligned window index.
    per_window: HashMap<u64, u64>,
    /// Sliding log: (time, permits) of the permits that may still count, oldest first.
    log: VecDeque<(u64, u64)>,
}

impl Model {
    fn new(spec: Spec, start: u64) -> Model {
        let tat = match spec {
            Spec::Gcra {
                interval, missing, ..
            } => u128::from(start) + u128::from(missing) * u128::from(interval),
            _ => 0,
        };
        Model {
            spec,
            tat,
            per_window: HashMap::new(),
            log: VecDeque::new(),
        }
    }

    fn count(&self, index: Option<u64>) -> u64 {
        index.map_or(0, |i| self.per_window.get(&i).copied().unwrap_or(0))
    }

    /// Whether `n` permits (1 ≤ n ≤ capacity) are granted at `now`.
    fn admits(&self, now: u64, n: u64) -> bool {
        let (now, n) = (u128::from(now), u128::from(n));
        match self.spec {
            Spec::Gcra {
                interval, burst, ..
            } => {
                let (i, b) = (u128::from(interval), u128::from(burst));
                // now ≥ tat + (n − 1)·interval − (burst − 1)·interval
                now + (b - 1) * i >= self.tat + (n - 1) * i
            }
            Spec::Fixed { window, max } => {
                let index = (now / u128::from(window)) as u64;
                u128::from(self.count(Some(index))) + n <= u128::from(max)
            }
            Spec::Counter { window, max } => {
                let w = u128::from(window);
                let index = (now / w) as u64;
                let elapsed = now - u128::from(index) * w;
                let previous = u128::from(self.count(index.checked_sub(1)));
                let current = u128::from(self.count(Some(index)));
                // previous × (window − elapsed) / window + current + n ≤ max, exactly.
                previous * (w - elapsed) + (current + n) * w <= u128::from(max) * w
            }
            Spec::Log { window, max } => {
                let held: u128 = self
                    .log
                    .iter()
                    .filter(|&&(t, _)| u128::from(t) + u128::from(window) > now)
                    .map(|&(_, k)| u128::from(k))
                    .sum();
                held + n <= u128::from(max)
            }
        }
    }

    fn take(&mut self, now: u64, n: u64) {
        match self.spec {
            Spec::Gcra { interval, .. } => {
                self.tat = self.tat.max(u128::from(now)) + u128::from(n) * u128::from(interval);
            }
            Spec::Fixed { window, .. } | Spec::Counter { window, .. } => {
                *self.per_window.entry(now / window).or_insert(0) += n;
            }
            Spec::Log { window, .. } => {
                while self
                    .log
                    .front()
                    .is_some_and(|&(t, _)| u128::from(t) + u128::from(window) <= u128::from(now))
                {
                    self.log.pop_front();
                }
                match self.log.back_mut() {
                    Some((t, k)) if *t == now => *k += n,
                    _ => self.log.push_back((now, n)),
                }
            }
        }
    }

    /// The smallest wait after which `n` refused permits are granted, nothing else happening.
    fn retry_after(&self, now: u64, n: u64) -> u64 {
        if let Spec::Log { window, max } = self.spec {
            // The oldest permits must expire until n fit.
            let held: u64 = self
                .log
                .iter()
                .filter(|&&(t, _)| u128::from(t) + u128::from(window) > u128::from(now))
                .map(|&(_, k)| k)
                .sum();
            let mut excess = held + n - max;
            for &(t, k) in &self.log {
                if u128::from(t) + u128::from(window) <= u128::from(now) {
                    continue;
                }
                if k >= excess {
                    return t + window - now;
                }
                excess -= k;
            }
            unreachable!("a refused request always fits once the log has expired");
        }
        // Every other rule only gets easier as time passes: search for the first instant.
        let mut hi = 1u64;
        while !self.admits(now + hi, n) {
            hi = hi.checked_mul(2).expect("the wait fits in u64");
        }
        let mut lo = hi / 2; // refused at now + lo (lo = 0: refused now)
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.admits(now + mid, n) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    }
}

// ---------------------------------------------------------------------------------------------
// Schedules
// ---------------------------------------------------------------------------------------------

/// The gap before a request, resolved against the quota's time scales.
#[derive(Debug, Clone, Copy)]
enum Gap {
    Zero,
    One,
    /// Up to half a per-permit time.
    Small(u64),
    /// k per-permit times, plus −1, 0 or +1 ns.
    Unit(u8, i8),
    /// Up to two per-permit times.
    Around(u64),
    /// Up to two windows (or two full bursts).
    Long(u64),
}

impl Gap {
    fn nanos(self, (small, big): (u64, u64)) -> u64 {
        match self {
            Gap::Zero => 0,
            Gap::One => 1,
            Gap::Small(r) => r % (small / 2 + 1),
            Gap::Unit(k, d) => (u64::from(k) * small).saturating_add_signed(i64::from(d)),
            Gap::Around(r) => r % (small.saturating_mul(2) + 1),
            Gap::Long(r) => r % (big.saturating_mul(2).saturating_add(1)),
        }
    }
}

/// How many permits a request asks for, resolved against the capacity.
#[derive(Debug, Clone, Copy)]
enum Want {
    One,
    /// 1 to capacity.
    Some(u32),
    Zero,
    /// More than the capacity.
    TooMany(u8),
}

impl Want {
    fn permits(self, capacity: u64) -> u32 {
        let n = match self {
            Want::One => 1,
            Want::Some(r) => 1 + u64::from(r) % capacity,
            Want::Zero => 0,
            Want::TooMany(r) => capacity + 1 + u64::from(r % 3),
        };
        u32::try_from(n).expect("the test quotas are small")
    }
}

#[derive(Debug, Clone, Copy)]
struct Step {
    gap: Gap,
    want: Want,
    /// After a grant: take the reported `remaining` permits, then one more.
    drain: bool,
    /// After a grant: wait the reported `reset_after`.
    rest: bool,
    /// After a refusal: probe at `retry_after − 1ns`, then retry at `retry_after`.
    retry: bool,
}

impl Step {
    /// Decodes two random words into a step. Generating plain words and decoding them is
    /// much cheaper than composing strategies per field, and zero words decode to the
    /// simplest step (no gap, one permit, no probes), so shrinking still heads somewhere
    /// useful. Weights: gaps zero 4, one 1, small 2, unit 3, around 2, long 2 (of 14);
    /// requests of one permit 6, some 3, zero 1, too many 1 (of 11); drain 1/4, rest 1/10,
    /// retry 1/2.
    fn decode((a, b): (u64, u64)) -> Step {
        let r = a >> 8;
        let gap = match a % 14 {
            0..=3 => Gap::Zero,
            4 => Gap::One,
            5 | 6 => Gap::Small(r),
            7..=9 => Gap::Unit(1 + (r % 3) as u8, ((r / 3) % 3) as i8 - 1),
            10 | 11 => Gap::Around(r),
            _ => Gap::Long(r),
        };
        let r = (b >> 8) as u32;
        let want = match b % 11 {
            0..=5 => Want::One,
            6..=8 => Want::Some(r),
            9 => Want::Zero,
            _ => Want::TooMany(r as u8),
        };
        Step {
            gap,
            want,
            drain: (b >> 40) % 4 == 1,
            rest: (b >> 44) % 10 == 1,
            retry: (b >> 52) % 2 == 1,
        }
    }
}

fn schedule() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(any::<(u64, u64)>(), 1..300)
        .prop_map(|raw| raw.into_iter().map(Step::decode).collect())
}

// ---------------------------------------------------------------------------------------------
// Quota strategies
// ---------------------------------------------------------------------------------------------

fn rate() -> impl Strategy<Value = Rate> {
    (
        1u32..=8,
        prop_oneof![
            2 => 1u64..=50,
            3 => 1u64..=20_000,
            1 => Just(1_000_000_000u64),
        ],
    )
        .prop_map(|(permits, period)| Rate::new(permits, Duration::from_nanos(period)))
}

fn size() -> impl Strategy<Value = u32> {
    prop_oneof![3 => 1u32..=4, 2 => 1u32..=20, 1 => 1u32..=60]
}

fn gcra() -> impl Strategy<Value = Algorithm> {
    (rate(), size()).prop_map(|(rate, burst)| Algorithm::Gcra { rate, burst })
}

fn token_bucket() -> impl Strategy<Value = Algorithm> {
    (rate(), size())
        .prop_flat_map(|(rate, capacity)| {
            (Just(rate), Just(capacity), prop::option::of(0..=capacity))
        })
        .prop_map(|(rate, capacity, initial_tokens)| Algorithm::TokenBucket {
            rate,
            capacity,
            initial_tokens,
        })
}

fn fixed_window() -> impl Strategy<Value = Algorithm> {
    let window = prop_oneof![
        Just(1_000_000u64),
        1_000_000u64..=3_000_000,
        Just(1_000_000_000),
    ];
    (window, size()).prop_map(|(window, max_requests)| Algorithm::FixedWindow {
        max_requests,
        window: Duration::from_nanos(window),
    })
}

fn sliding_window() -> impl Strategy<Value = (u64, u32)> {
    let window = prop_oneof![
        1 => Just(1u64),
        2 => 1u64..=100,
        3 => 1u64..=100_000,
        1 => Just(1_000_000_000),
    ];
    (window, size())
}

fn sliding_counter() -> impl Strategy<Value = Algorithm> {
    sliding_window().prop_map(|(window, max_requests)| Algorithm::SlidingWindowCounter {
        max_requests,
        window: Duration::from_nanos(window),
    })
}

fn sliding_log() -> impl Strategy<Value = Algorithm> {
    sliding_window().prop_map(|(window, max_requests)| Algorithm::SlidingWindowLog {
        max_requests,
        window: Duration::from_nanos(window),
    })
}

// ---------------------------------------------------------------------------------------------
// Running a schedule
// ---------------------------------------------------------------------------------------------

/// Which destructive probes a run makes (each also gated per step).
#[derive(Debug, Clone, Copy, Default)]
struct Probes {
    retry: bool,
    drain: bool,
    rest: bool,
}

struct Run {
    limiter: RateLimiter,
    clock: ManualClock,
    model: Model,
    spec: Spec,
    start: u64,
    /// Every grant: (time, permits), in time order.
    granted: Vec<(u64, u64)>,
    /// Requests so far: one permit is asked for in turn through each of the three entry
    /// points (`try_acquire_n(1)`, `try_acquire`, `check`), which take different paths.
    asked: u64,
}

impl Run {
    /// A limiter built at `start` on a fresh manual clock.
    fn new(algorithm: Algorithm, start: u64) -> Run {
        let spec = Spec::of(algorithm);
        let clock = ManualClock::new();
        clock.advance(Duration::from_nanos(start));
        let limiter = RateLimiter::builder(algorithm)
            .clock(clock.clone())
            .build()
            .expect("the strategies build valid quotas");
        Run {
            limiter,
            clock,
            model: Model::new(spec, start),
            spec,
            start,
            granted: Vec::new(),
            asked: 0,
        }
    }

    fn now(&self) -> u64 {
        self.clock.now().as_nanos()
    }

    fn advance(&self, nanos: u64) {
        self.clock.advance(Duration::from_nanos(nanos));
    }

    /// Asks for `n` permits; one permit through each entry point in turn. `check` answers
    /// without info, so its answer is completed with `info()` read right after (the same
    /// virtual instant), which [`ask`](Self::ask) then holds to the model like any other.
    fn take(&mut self, n: u32) -> Result<RateLimitInfo, Denied> {
        self.asked += 1;
        if n != 1 {
            return self.limiter.try_acquire_n(n);
        }
        match self.asked % 3 {
            0 => self.limiter.try_acquire_n(1),
            1 => self.limiter.try_acquire(),
            _ => match self.limiter.check() {
                Ok(()) => Ok(self.limiter.info()),
                Err(throttled) => Err(Denied::RateLimited {
                    retry_after: throttled.retry_after(),
                    info: self.limiter.info(),
                }),
            },
        }
    }

    /// Asks for `n` permits and checks the answer: against the model (decision and exact
    /// `retry_after`), against `info()` just before (granted iff `n ≤ remaining`) and after,
    /// and the capacity and zero-permit rules.
    fn ask(&mut self, n: u32) -> Result<Result<RateLimitInfo, Denied>, TestCaseError> {
        let now = self.now();
        let capacity = self.spec.capacity();
        let n64 = u64::from(n);
        let before = self.limiter.info();
        prop_assert_eq!(before.limit(), capacity);
        let answer = self.take(n);
        if n == 0 {
            prop_assert_eq!(
                answer,
                Ok(before),
                "zero permits must report and take nothing"
            );
            prop_assert_eq!(self.limiter.info(), before);
            return Ok(answer);
        }
        if n64 > capacity {
            prop_assert_eq!(
                answer,
                Err(Denied::ExceedsCapacity {
                    requested: n64,
                    capacity
                })
            );
            prop_assert_eq!(self.limiter.info(), before, "a refusal changed the state");
            return Ok(answer);
        }
        let expected = self.model.admits(now, n64);
        match answer {
            Ok(info) => {
                prop_assert!(
                    expected,
                    "{} permit(s) granted at {} ns but the documented rule refuses them",
                    n,
                    now
                );
                prop_assert!(
                    before.remaining() >= n64,
                    "granted {} > remaining {:?}",
                    n,
                    before
                );
                prop_assert_eq!(info.limit(), capacity);
                prop_assert_eq!(self.limiter.info(), info);
                self.model.take(now, n64);
                self.granted.push((now, n64));
            }
            Err(Denied::RateLimited { retry_after, info }) => {
                prop_assert!(
                    !expected,
                    "{} permit(s) refused at {} ns but the documented rule grants them",
                    n,
                    now
                );
                prop_assert!(
                    before.remaining() < n64,
                    "refused {} ≤ remaining {:?}",
                    n,
                    before
                );
                prop_assert_eq!(info, before);
                prop_assert!(retry_after > Duration::ZERO);
                prop_assert_eq!(
                    nanos(retry_after),
                    self.model.retry_after(now, n64),
                    "retry_after of {} permit(s) at {} ns",
                    n,
                    now
                );
            }
            Err(other) => {
                return Err(TestCaseError::fail(format!(
                    "{n} ≤ capacity {capacity} permits answered {other:?}"
                )));
            }
        }
        Ok(answer)
    }

    fn step(&mut self, step: Step, probes: Probes) -> Result<(), TestCaseError> {
        self.advance(step.gap.nanos(self.spec.scales()));
        let capacity = self.spec.capacity();
        let n = step.want.permits(capacity);
        match self.ask(n)? {
            Ok(info) if n > 0 => {
                if probes.drain && step.drain {
                    // `remaining` more single permits are granted right now, and no more.
                    for k in 0..info.remaining() {
                        let more = self.ask(1)?;
                        prop_assert!(
                            more.is_ok(),
                            "permit {} of remaining {} refused: {:?}",
                            k + 1,
                            info.remaining(),
                            more
                        );
                    }
                    let one_more = self.ask(1)?;
                    prop_assert!(
                        matches!(one_more, Err(Denied::RateLimited { .. })),
                        "remaining + 1 permits granted: {:?}",
                        one_more
                    );
                }
                if probes.rest && step.rest {
                    self.rest()?;
                }
            }
            Err(Denied::RateLimited { retry_after, .. }) if probes.retry && step.retry => {
                // Not a nanosecond sooner ...
                self.advance(nanos(retry_after) - 1);
                let early = self.ask(n)?;
                prop_assert!(
                    matches!(early, Err(Denied::RateLimited { retry_after, .. }) if retry_after == Duration::from_nanos(1)),
                    "at retry_after − 1ns: {:?}",
                    early
                );
                // ... and granted at now + retry_after.
                self.advance(1);
                let retried = self.ask(n)?;
                prop_assert!(retried.is_ok(), "at retry_after: {:?}", retried);
            }
            _ => {}
        }
        Ok(())
    }

    /// After `reset_after` the limiter is fully rested; a nanosecond earlier it is not, if it
    /// was not already.
    fn rest(&mut self) -> Result<(), TestCaseError> {
        let capacity = self.spec.capacity();
        let info = self.limiter.info();
        let wait = nanos(info.reset_after());
        if info.remaining() < capacity {
            prop_assert!(wait > 0, "not rested but reset_after is zero: {:?}", info);
            self.advance(wait - 1);
            prop_assert!(
                self.limiter.info().remaining() < capacity,
                "rested before reset_after"
            );
            self.advance(1);
        } else {
            if !matches!(self.spec, Spec::Fixed { .. }) {
                // A fixed window reports the time to its boundary even when empty.
                prop_assert_eq!(wait, 0, "rested but reset_after is not zero");
            }
            self.advance(wait);
        }
        prop_assert_eq!(
            self.limiter.info().remaining(),
            capacity,
            "not rested after reset_after"
        );
        Ok(())
    }

    /// The permits granted per distinct instant, in time order.
    fn grants_per_instant(&self) -> Vec<(u64, u64)> {
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for &(t, n) in &self.granted {
            match merged.last_mut() {
                Some((last, k)) if *last == t => *k += n,
                _ => merged.push((t, n)),
            }
        }
        merged
    }

    /// The documented bound, over every window of the history.
    fn check_bound(&self) -> Result<(), TestCaseError> {
        let grants = self.grants_per_instant();
        match self.spec {
            Spec::Gcra {
                interval,
                burst,
                missing,
            } => {
                // Over any closed interval [t0, t0 + t]: ≤ floor(t / interval) + burst.
                for i in 0..grants.len() {
                    let mut sum = 0;
                    for &(t, n) in &grants[i..] {
                        sum += n;
                        let bound = (t - grants[i].0) / interval + burst;
                        prop_assert!(
                            sum <= bound,
                            "{} permits in [{}, {}] ns > {}",
                            sum,
                            grants[i].0,
                            t,
                            bound
                        );
                    }
                }
                // From creation: ≤ initial tokens + floor(t / interval).
                let mut sum = 0;
                for &(t, n) in &grants {
                    sum += n;
                    let bound = (t - self.start) / interval + (burst - missing);
                    prop_assert!(sum <= bound, "{} permits by {} ns > {}", sum, t, bound);
                }
            }
            Spec::Fixed { window, max } | Spec::Counter { window, max } => {
                // ≤ max per aligned window ...
                let mut per_window = HashMap::new();
                for &(t, n) in &grants {
                    *per_window.entry(t / window).or_insert(0) += n;
                }
                for (index, sum) in per_window {
                    prop_assert!(sum <= max, "{} permits in window {} > {}", sum, index, max);
                }
                // ... hence ≤ 2 × max over any closed interval of one window's length.
                check_sliding(
                    &grants,
                    |t0, t| t - t0 <= window,
                    2 * max,
                    "[t0, t0 + window]",
                )?;
            }
            Spec::Log { window, max } => {
                // ≤ max over any half-open (t − window, t].
                check_sliding(&grants, |t0, t| t - t0 < window, max, "(t − window, t]")?;
            }
        }
        Ok(())
    }
}

/// For every grant instant `t0`, the permits granted at instants `t ≥ t0` with
/// `within(t0, t)` sum to at most `bound`. The window only moves forward, so two pointers.
fn check_sliding(
    grants: &[(u64, u64)],
    within: impl Fn(u64, u64) -> bool,
    bound: u64,
    shape: &str,
) -> Result<(), TestCaseError> {
    let (mut end, mut sum) = (0, 0);
    for &(t0, n0) in grants {
        while end < grants.len() && within(t0, grants[end].0) {
            sum += grants[end].1;
            end += 1;
        }
        prop_assert!(
            sum <= bound,
            "{} permits in {} from t0 = {} ns > {}",
            sum,
            shape,
            t0,
            bound
        );
        sum -= n0;
    }
    Ok(())
}

/// Builds the limiter at a random offset, runs the schedule with `probes`, checks the bound.
fn run(
    algorithm: Algorithm,
    start: u64,
    steps: &[Step],
    probes: Probes,
) -> Result<Run, TestCaseError> {
    let (_, big) = Spec::of(algorithm).scales();
    let mut run = Run::new(algorithm, start % big.saturating_mul(3).saturating_add(1));
    for &step in steps {
        run.step(step, probes)?;
    }
    run.check_bound()?;
    Ok(run)
}

const PLAIN: Probes = Probes {
    retry: false,
    drain: false,
    rest: false,
};
const RETRY: Probes = Probes {
    retry: true,
    drain: false,
    rest: false,
};
const REMAINING: Probes = Probes {
    retry: false,
    drain: true,
    rest: true,
};

// ---------------------------------------------------------------------------------------------
// Per-algorithm properties
// ---------------------------------------------------------------------------------------------

/// The three schedule properties of one algorithm, in a module named after it.
macro_rules! schedule_properties {
    ($algorithm:ident, $strategy:expr, $bound:ident) => {
        mod $algorithm {
            use super::*;

            proptest! {
                #![proptest_config(config())]

                /// Every decision follows the documented rule, and the documented bound holds
                /// over every window of the history.
                #[test]
                fn $bound(algorithm in $strategy, start in any::<u64>(), steps in schedule()) {
                    run(algorithm, start, &steps, PLAIN)?;
                }

                /// A refused request is refused again at `now + retry_after − 1ns` (with
                /// `retry_after` = 1ns) and granted at `now + retry_after`.
                #[test]
                fn grants_a_refused_request_at_retry_after_and_not_a_nanosecond_sooner(
                    algorithm in $strategy,
                    start in any::<u64>(),
                    steps in schedule(),
                ) {
                    run(algorithm, start, &steps, RETRY)?;
                }

                /// After a grant, `remaining` more single permits are granted at once and the
                /// next is refused; after `reset_after` the limiter is fully rested.
                #[test]
                fn grants_exactly_the_remaining_permits_and_rests_after_reset_after(
                    algorithm in $strategy,
                    start in any::<u64>(),
                    steps in schedule(),
                ) {
                    run(algorithm, start, &steps, REMAINING)?;
                }
            }
        }
    };
}

schedule_properties!(gcra, gcra(), never_exceeds_rate_plus_burst);
schedule_properties!(
    token_bucket,
    token_bucket(),
    never_exceeds_initial_tokens_plus_rate_nor_rate_plus_capacity
);
schedule_properties!(
    fixed_window,
    fixed_window(),
    never_exceeds_max_per_aligned_window_nor_twice_max_per_window_length
);
schedule_properties!(
    sliding_window_counter,
    sliding_counter(),
    never_exceeds_max_per_aligned_window_nor_twice_max_per_window_length
);
schedule_properties!(
    sliding_window_log,
    sliding_log(),
    never_exceeds_max_in_any_window
);

// ---------------------------------------------------------------------------------------------
// Streams at or below the rate are never refused
// ---------------------------------------------------------------------------------------------

/// Requests of 1..=capacity permits with a random extra gap: `(permits selector, extra ns)`.
fn stream() -> impl Strategy<Value = Vec<(u32, u64)>> {
    // Extra gaps: 0 half of the time, else anything (each test reduces it to its own scale).
    prop::collection::vec(any::<(u32, u64)>(), 1..300).prop_map(|raw| {
        raw.into_iter()
            .map(|(r, e)| (r, if e % 2 == 0 { 0 } else { e >> 1 }))
            .collect()
    })
}

/// `limiter.try_acquire_n(n)` must be granted.
fn must_grant(limiter: &RateLimiter, n: u32, at: u64) -> Result<(), TestCaseError> {
    let answer = limiter.try_acquire_n(n);
    prop_assert!(
        answer.is_ok(),
        "{} permit(s) at {} ns refused: {:?}",
        n,
        at,
        answer
    );
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// GCRA and token bucket: once the bucket is full (at creation for GCRA), a request of
    /// `n` permits is always granted if it comes at least `n_prev × interval` after the
    /// previous one (single permits: gaps ≥ interval).
    #[test]
    fn gcra_and_token_bucket_never_refuse_a_stream_spaced_by_its_intervals(
        algorithm in prop_oneof![gcra(), token_bucket()],
        start in 0u64..1_000_000,
        requests in stream(),
    ) {
        let Spec::Gcra { interval, burst, missing } = Spec::of(algorithm) else {
            unreachable!()
        };
        let run = Run::new(algorithm, start);
        run.advance(missing * interval);
        let mut owed = 0;
        for (r, extra) in requests {
            let extra = extra % (3 * interval + 1);
            run.advance(owed + extra);
            let n = 1 + r % u32::try_from(burst).unwrap();
            must_grant(&run.limiter, n, run.now())?;
            owed = u64::from(n) * interval;
        }
    }

    /// Fixed window: a client that never puts more than `max` permits in one aligned window
    /// is never refused.
    #[test]
    fn fixed_window_never_refuses_at_most_max_per_aligned_window(
        algorithm in fixed_window(),
        start in 0u64..10_000_000,
        requests in stream(),
    ) {
        let Spec::Fixed { window, max } = Spec::of(algorithm) else { unreachable!() };
        let run = Run::new(algorithm, start);
        let mut per_window: HashMap<u64, u64> = HashMap::new();
        let mut sent = 0;
        for (r, extra) in requests {
            run.advance(extra % (window / max + 1));
            let now = run.now();
            let n = 1 + r % u32::try_from(max).unwrap();
            let used = per_window.entry(now / window).or_insert(0);
            if *used + u64::from(n) > max {
                continue; // the client holds back
            }
            *used += u64::from(n);
            must_grant(&run.limiter, n, now)?;
            sent += 1;
        }
        prop_assert!(sent > 0);
    }

    /// Sliding log: a client that never puts more than `max` permits in any half-open
    /// `(t − window, t]` is never refused.
    #[test]
    fn sliding_log_never_refuses_at_most_max_in_every_window(
        algorithm in sliding_log(),
        start in 0u64..1_000_000,
        requests in stream(),
    ) {
        let Spec::Log { window, max } = Spec::of(algorithm) else { unreachable!() };
        let run = Run::new(algorithm, start);
        let mut sent: Vec<(u64, u64)> = Vec::new();
        for (r, extra) in requests {
            run.advance(extra % (window / max + 1));
            let now = run.now();
            let n = 1 + r % u32::try_from(max).unwrap();
            let held: u64 = sent
                .iter()
                .filter(|&&(t, _)| t + window > now)
                .map(|&(_, k)| k)
                .sum();
            if held + u64::from(n) > max {
                continue; // the client holds back
            }
            must_grant(&run.limiter, n, now)?;
            sent.push((now, u64::from(n)));
        }
        prop_assert!(!sent.is_empty());
    }

    /// Sliding window counter: single permits spaced at least `ceil(2 × window / max)` apart
    /// are never refused (see the module docs for why, and why `window / max` is not enough).
    #[test]
    fn sliding_counter_never_refuses_single_permits_spaced_two_windows_over_max(
        algorithm in sliding_counter(),
        start in 0u64..1_000_000,
        requests in stream(),
    ) {
        let Spec::Counter { window, max } = Spec::of(algorithm) else { unreachable!() };
        let spacing = (2 * window).div_ceil(max);
        let run = Run::new(algorithm, start);
        for (i, (_, extra)) in requests.into_iter().enumerate() {
            if i > 0 {
                run.advance(spacing + extra % (spacing + 1));
            }
            must_grant(&run.limiter, 1, run.now())?;
        }
    }

    /// A token bucket that starts full decides exactly as GCRA with `burst = capacity`:
    /// same grants, same refusals, same `retry_after` and info.
    #[test]
    fn a_full_token_bucket_decides_exactly_like_gcra(
        rate in rate(),
        capacity in size(),
        start in 0u64..1_000_000,
        steps in schedule(),
    ) {
        let bucket = Run::new(
            Algorithm::TokenBucket { rate, capacity, initial_tokens: None },
            start,
        );
        let gcra = Run::new(Algorithm::Gcra { rate, burst: capacity }, start);
        let scales = bucket.spec.scales();
        for step in steps {
            let gap = step.gap.nanos(scales);
            bucket.advance(gap);
            gcra.advance(gap);
            let n = step.want.permits(u64::from(capacity));
            prop_assert_eq!(bucket.limiter.try_acquire_n(n), gcra.limiter.try_acquire_n(n));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One permit: `check`, `try_acquire` and the general path decide alike
// ---------------------------------------------------------------------------------------------

/// Quotas for the one-permit equivalence: the ordinary ones plus extremes that push GCRA's
/// fast path to its edges — `tau = interval × (burst − 1)` beyond `u64` (saturated), and an
/// interval so long that the theoretical arrival time overflows into "never".
fn any_quota() -> impl Strategy<Value = Algorithm> {
    let extreme_gcra = (
        prop_oneof![
            Just(Duration::from_secs(u64::MAX / 4)),
            Just(Duration::from_secs(1 << 40)),
            Just(Duration::from_secs(3_600)),
        ],
        prop_oneof![Just(u32::MAX), 1u32..=4],
    )
        .prop_map(|(period, burst)| Algorithm::Gcra {
            rate: Rate::new(1, period),
            burst,
        });
    prop_oneof![
        gcra(),
        token_bucket(),
        fixed_window(),
        sliding_counter(),
        sliding_log(),
        extreme_gcra,
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Four limiters with the same quota on the same clock, asked for one permit at the same
    /// instants: `check()` (GCRA's inline `u64` fast path), `try_acquire()` (the same fast
    /// path, with info), `try_acquire_n(1)` (the `u128` path) and `check()` with a listener
    /// attached (the general out-of-line path) must grant and refuse alike, with the same
    /// `retry_after` and the same info.
    #[test]
    fn one_permit_decides_alike_on_every_path(
        algorithm in any_quota(),
        start in prop_oneof![0u64..1_000_000, Just(u64::MAX / 2), Just(u64::MAX - (1 << 40))],
        gaps in prop::collection::vec(prop_oneof![Just(0u64), 0u64..2_000, any::<u64>()], 1..200),
    ) {
        let clock = ManualClock::new();
        clock.advance(Duration::from_nanos(start));
        let build = |listen: bool| {
            let builder = RateLimiter::builder(algorithm).clock(clock.clone());
            let builder = if listen { builder.on_event(|_: &palisade::event::Event<'_>| {}) } else { builder };
            builder.build().expect("the strategies build valid quotas")
        };
        let [checked, acquired, general, listened] = [build(false), build(false), build(false), build(true)];
        for gap in gaps {
            // Stay within the clock's range.
            let now = clock.now().as_nanos();
            clock.advance(Duration::from_nanos(gap.min(u64::MAX - now)));
            let a = checked.check();
            let b = acquired.try_acquire();
            let c = general.try_acquire_n(1);
            let d = listened.check();
            prop_assert_eq!(b, c, "try_acquire vs try_acquire_n(1) at {}", clock.now().as_nanos());
            prop_assert_eq!(a, d, "check vs check with a listener");
            match (a, b) {
                (Ok(()), Ok(_)) => {}
                (Err(throttled), Err(Denied::RateLimited { retry_after, .. })) => {
                    prop_assert_eq!(throttled.retry_after(), retry_after);
                }
                (a, b) => prop_assert!(false, "check {:?} but try_acquire {:?}", a, b),
            }
            prop_assert_eq!(checked.info(), acquired.info());
        }
    }
}
