//! Behaviour of the direct rate limiter, on virtual time only.
//!
//! Every limiter here runs on a `ManualClock` that the test moves (`advance`, or `set` to an
//! exact instant — backwards only where a test models a caller whose clock reading is older
//! than another caller's). Nothing sleeps for real. The multi-thread tests use real threads
//! but freeze the clock while they run, so their expected totals are exact and do not depend
//! on how fast the machine is or how the threads interleave.
//!
//! Tests marked `#[ignore = "bug: ..."]` are regression tests for defects found in `src/`:
//! they assert the documented behaviour and fail today.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use common::rate_limit::{counter, fixed, gcra, log, token_bucket};
use common::threads::finish_within;
use common::time::{ms, ns, secs};
use palisade::clock::{Instant, ManualClock};
use palisade::event::Event;
use palisade::rate_limit::{Algorithm, Denied, RateLimitEvent, RateLimitInfo, RateLimiter};
use palisade::{ConfigError, Error};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

/// A limiter running `algorithm` on a manual clock at time zero.
fn limiter(algorithm: Algorithm) -> (RateLimiter, ManualClock) {
    let clock = ManualClock::new();
    let limiter = RateLimiter::builder(algorithm)
        .name("test")
        .clock(clock.clone())
        .build()
        .expect("a valid quota");
    (limiter, clock)
}

/// A limiter built when the manual clock reads `start_ns`.
fn limiter_at(algorithm: Algorithm, start_ns: u64) -> (RateLimiter, ManualClock) {
    let clock = ManualClock::new();
    clock.set(Instant::from_nanos(start_ns));
    let limiter = RateLimiter::builder(algorithm)
        .clock(clock.clone())
        .build()
        .expect("a valid quota");
    (limiter, clock)
}

fn set(clock: &ManualClock, t_ns: u64) {
    clock.set(Instant::from_nanos(t_ns));
}

/// One limiter of every kind, each with a capacity (burst, capacity or max) of 3.
fn one_of_each() -> Vec<Algorithm> {
    vec![
        gcra(1, ms(100), 3),
        token_bucket(1, ms(100), 3, None),
        fixed(3, secs(1)),
        counter(3, secs(1)),
        log(3, secs(1)),
    ]
}

/// Takes `n` permits, which must be granted.
#[track_caller]
fn admit(l: &RateLimiter, n: u32) -> RateLimitInfo {
    match l.try_acquire_n(n) {
        Ok(info) => info,
        Err(denied) => panic!("{n} permit(s) should have been granted, got {denied:?}"),
    }
}

/// Asks for `n` permits, which must be refused for now; returns `retry_after`.
#[track_caller]
fn limited(l: &RateLimiter, n: u32) -> Duration {
    match l.try_acquire_n(n) {
        Err(Denied::RateLimited { retry_after, .. }) => retry_after,
        other => panic!("{n} permit(s) should have been rate limited, got {other:?}"),
    }
}

/// Takes single permits until one is refused; returns how many were granted.
fn drain(l: &RateLimiter) -> u64 {
    let mut taken = 0;
    while l.try_acquire().is_ok() {
        taken += 1;
        assert!(taken <= 100_000, "the limiter never ran out");
    }
    taken
}

#[track_caller]
fn config_error(algorithm: Algorithm) -> ConfigError {
    match RateLimiter::builder(algorithm).build() {
        Ok(l) => panic!("{algorithm:?} should have been refused, built {l:?}"),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration errors
// ---------------------------------------------------------------------------------------------

#[test]
fn a_rate_of_zero_permits_is_refused_naming_the_rate() {
    for algorithm in [gcra(0, secs(1), 1), token_bucket(0, secs(1), 1, None)] {
        let err = config_error(algorithm);
        assert_eq!(
            (err.policy(), err.field(), err.value()),
            ("rate_limit", "rate", "0/1s"),
            "{algorithm:?}"
        );
        assert_eq!(
            err.to_string(),
            "invalid rate_limit configuration: rate = 0/1s: \
             must admit at least one permit per non-zero period"
        );
    }
}

#[test]
fn a_rate_over_a_zero_period_is_refused_naming_the_rate() {
    for algorithm in [
        gcra(5, Duration::ZERO, 1),
        token_bucket(5, Duration::ZERO, 1, None),
    ] {
        let err = config_error(algorithm);
        assert_eq!(
            (err.field(), err.value()),
            ("rate", "5/0ns"),
            "{algorithm:?}"
        );
    }
}

#[test]
fn a_zero_burst_is_refused() {
    let err = config_error(gcra(1, secs(1), 0));
    assert_eq!((err.field(), err.value()), ("burst", "0"));
}

#[test]
fn a_zero_capacity_is_refused() {
    let err = config_error(token_bucket(1, secs(1), 0, None));
    assert_eq!((err.field(), err.value()), ("capacity", "0"));
}

#[test]
fn initial_tokens_above_capacity_are_refused_and_up_to_capacity_accepted() {
    let err = config_error(token_bucket(1, secs(1), 5, Some(6)));
    assert_eq!((err.field(), err.value()), ("initial_tokens", "6"));
    assert!(
        err.reason().contains('5'),
        "the reason names the capacity: {err}"
    );
    for initial in [0, 1, 5] {
        assert!(
            RateLimiter::builder(token_bucket(1, secs(1), 5, Some(initial)))
                .build()
                .is_ok()
        );
    }
}

#[test]
fn a_zero_window_is_refused_by_every_window_algorithm() {
    for algorithm in [
        fixed(1, Duration::ZERO),
        counter(1, Duration::ZERO),
        log(1, Duration::ZERO),
    ] {
        let err = config_error(algorithm);
        assert_eq!(
            (err.field(), err.value()),
            ("window", "0ns"),
            "{algorithm:?}"
        );
    }
}

#[test]
fn a_fixed_window_shorter_than_a_millisecond_is_refused() {
    let err = config_error(fixed(1, ms(1) - ns(1)));
    assert_eq!((err.field(), err.value()), ("window", "999.999µs"));
    assert!(RateLimiter::builder(fixed(1, ms(1))).build().is_ok());
    // The sliding windows have no such floor.
    assert!(RateLimiter::builder(counter(1, ns(1))).build().is_ok());
    assert!(RateLimiter::builder(log(1, ns(1))).build().is_ok());
}

#[test]
fn zero_max_requests_is_refused_by_every_window_algorithm() {
    for algorithm in [fixed(0, secs(1)), counter(0, secs(1)), log(0, secs(1))] {
        let err = config_error(algorithm);
        assert_eq!(
            (err.field(), err.value()),
            ("max_requests", "0"),
            "{algorithm:?}"
        );
    }
}

#[test]
fn a_fixed_window_counts_at_most_16_777_215_requests() {
    let err = config_error(fixed(16_777_216, secs(1)));
    assert_eq!((err.field(), err.value()), ("max_requests", "16777216"));
    assert!(err.reason().contains("16777215"), "{err}");

    // The largest accepted maximum is fully usable: all of it at once, then nothing.
    let (l, clock) = limiter(fixed(16_777_215, secs(1)));
    assert_eq!(admit(&l, 16_777_215).remaining(), 0);
    assert_eq!(limited(&l, 1), secs(1));
    clock.advance(secs(1));
    assert_eq!(admit(&l, 16_777_215).remaining(), 0);
    // The sliding windows accept any u32.
    assert!(
        RateLimiter::builder(counter(u32::MAX, secs(1)))
            .build()
            .is_ok()
    );
    assert!(RateLimiter::builder(log(u32::MAX, secs(1))).build().is_ok());
}

// ---------------------------------------------------------------------------------------------
// Every algorithm: capacity, zero permits, info, names, clones
// ---------------------------------------------------------------------------------------------

#[test]
fn more_permits_than_the_capacity_are_refused_for_ever_and_change_nothing() {
    for algorithm in one_of_each() {
        let (l, _clock) = limiter(algorithm);
        admit(&l, 1);
        let before = l.info();
        let denied = l.try_acquire_n(4).unwrap_err();
        assert_eq!(
            denied,
            Denied::ExceedsCapacity {
                requested: 4,
                capacity: 3
            },
            "{algorithm:?}"
        );
        assert_eq!(denied.retry_after(), None);
        assert_eq!(
            l.info(),
            before,
            "{algorithm:?}: the refusal took something"
        );
        assert_eq!(drain(&l), 2, "{algorithm:?}");
    }
}

#[test]
fn asking_for_zero_permits_reports_and_takes_nothing() {
    for algorithm in one_of_each() {
        let (l, _clock) = limiter(algorithm);
        admit(&l, 2);
        let before = l.info();
        assert_eq!(l.try_acquire_n(0), Ok(before), "{algorithm:?}");
        assert_eq!(l.info(), before, "{algorithm:?}");
        admit(&l, 1);
        // Even when nothing is left, zero permits are granted.
        assert_eq!(
            l.try_acquire_n(0).map(|i| i.remaining()),
            Ok(0),
            "{algorithm:?}"
        );
        limited(&l, 1);
    }
}

#[test]
fn info_reports_the_limit_and_what_remains_without_taking_anything() {
    for algorithm in one_of_each() {
        let (l, _clock) = limiter(algorithm);
        let fresh = l.info();
        assert_eq!((fresh.limit(), fresh.remaining()), (3, 3), "{algorithm:?}");
        assert_eq!(l.info(), fresh);
        let after_one = admit(&l, 1);
        assert_eq!(
            (after_one.limit(), after_one.remaining()),
            (3, 2),
            "{algorithm:?}"
        );
        assert_eq!(l.info(), after_one, "{algorithm:?}");
    }
}

#[test]
fn a_rejection_reports_the_remaining_permits_and_they_are_still_there() {
    for algorithm in one_of_each() {
        let (l, _clock) = limiter(algorithm);
        admit(&l, 2);
        match l.try_acquire_n(2) {
            Err(Denied::RateLimited { info, .. }) => {
                assert_eq!((info.limit(), info.remaining()), (3, 1), "{algorithm:?}")
            }
            other => panic!("{algorithm:?}: expected a rejection, got {other:?}"),
        }
        // All or none: the refused request for 2 took nothing.
        assert_eq!(admit(&l, 1).remaining(), 0, "{algorithm:?}");
    }
}

#[test]
fn clones_share_one_quota() {
    for algorithm in one_of_each() {
        let (l, _clock) = limiter(algorithm);
        let other = l.clone();
        admit(&l, 2);
        admit(&other, 1);
        limited(&l, 1);
        limited(&other, 1);
    }
}

#[test]
fn a_limiter_is_named_rate_limit_unless_named() {
    let unnamed = RateLimiter::builder(gcra(1, secs(1), 1)).build().unwrap();
    assert_eq!(unnamed.name(), "rate_limit");
    let (named, _clock) = limiter(gcra(1, secs(1), 1));
    assert_eq!(named.name(), "test");
    let shown = format!("{named:?}");
    assert!(
        shown.contains("\"test\"") && shown.contains("Gcra"),
        "{shown}"
    );
}

#[test]
fn algorithm_reports_the_configured_quota() {
    for algorithm in one_of_each() {
        let (l, _clock) = limiter(algorithm);
        assert_eq!(l.algorithm(), algorithm);
    }
}

#[test]
fn denied_explains_itself() {
    let (l, _clock) = limiter(gcra(1, ms(100), 1));
    admit(&l, 1);
    let denied = l.try_acquire().unwrap_err();
    assert_eq!(denied.retry_after(), Some(ms(100)));
    assert_eq!(denied.to_string(), "rate limited: retry after 100ms");
    let never = l.try_acquire_n(2).unwrap_err();
    assert_eq!(
        never.to_string(),
        "2 permits requested but at most 1 can ever be granted at once"
    );
}

// ---------------------------------------------------------------------------------------------
// GCRA
// ---------------------------------------------------------------------------------------------

#[test]
fn gcra_grants_a_full_burst_at_creation_then_one_permit_per_interval() {
    let (l, clock) = limiter(gcra(10, secs(1), 3));
    for remaining in [2, 1, 0] {
        assert_eq!(admit(&l, 1).remaining(), remaining);
    }
    assert_eq!(limited(&l, 1), ms(100));
    for _ in 0..5 {
        clock.advance(ms(100));
        assert_eq!(admit(&l, 1).remaining(), 0);
        limited(&l, 1);
    }
}

#[test]
fn gcra_interval_is_the_period_over_the_permits_rounded_up() {
    // 3 permits per 10 ns: one every ceil(10 / 3) = 4 ns, never one every 3 ns.
    let (l, clock) = limiter(gcra(3, ns(10), 1));
    admit(&l, 1);
    assert_eq!(limited(&l, 1), ns(4));
    clock.advance(ns(3));
    assert_eq!(limited(&l, 1), ns(1));
    clock.advance(ns(1));
    admit(&l, 1);
}

#[test]
fn gcra_retry_after_is_exact() {
    let (l, clock) = limiter(gcra(1, ns(10), 4));
    admit(&l, 4);
    // Three permits need three intervals of room.
    let wait = limited(&l, 3);
    assert_eq!(wait, ns(30));
    clock.advance(wait - ns(1));
    assert_eq!(limited(&l, 3), ns(1));
    clock.advance(ns(1));
    assert_eq!(admit(&l, 3).remaining(), 0);
}

#[test]
fn gcra_rests_to_a_full_burst_and_no_further() {
    let (l, clock) = limiter(gcra(1, ms(10), 5));
    admit(&l, 5);
    clock.advance(secs(3600));
    assert_eq!(l.info().remaining(), 5);
    assert_eq!(drain(&l), 5);
}

#[test]
fn gcra_reset_after_is_the_time_until_a_full_burst_is_back() {
    let (l, clock) = limiter(gcra(1, ns(10), 4));
    assert_eq!(l.info().reset_after(), Duration::ZERO);
    let info = admit(&l, 3);
    assert_eq!((info.remaining(), info.reset_after()), (1, ns(30)));
    clock.advance(ns(29));
    assert_eq!(l.info().remaining(), 3);
    clock.advance(ns(1));
    assert_eq!(
        (l.info().remaining(), l.info().reset_after()),
        (4, Duration::ZERO)
    );
}

#[test]
fn gcra_admits_a_stream_spaced_one_interval_apart_for_ever() {
    let (l, clock) = limiter(gcra(7, ms(100), 1));
    // ceil(100 ms / 7) = 14_285_715 ns.
    let interval = ns(14_285_715);
    for _ in 0..1000 {
        admit(&l, 1);
        clock.advance(interval);
    }
    admit(&l, 1);
    clock.advance(interval - ns(1));
    limited(&l, 1);
}

#[test]
fn gcra_counts_from_the_instant_it_was_built() {
    let (l, clock) = limiter_at(gcra(1, ns(100), 2), 5_000);
    admit(&l, 2);
    assert_eq!(limited(&l, 1), ns(100));
    clock.advance(ns(100));
    admit(&l, 1);
}

#[test]
fn gcra_never_over_admits_to_a_caller_whose_clock_reading_is_older() {
    // Two callers read the clock at 999 and 1000 ns; the one that read 1000 decides first.
    // GCRA's state only moves forward, so the late one cannot free permits.
    let (l, clock) = limiter(gcra(1, ns(100), 2));
    set(&clock, 1000);
    admit(&l, 2);
    set(&clock, 999);
    limited(&l, 1);
    set(&clock, 1000);
    assert_eq!(limited(&l, 1), ns(100));
}

#[test]
fn gcra_survives_extreme_quotas() {
    // A billion-odd permits a nanosecond, and a burst of u32::MAX.
    let (fast, clock) = limiter(gcra(u32::MAX, ns(1), u32::MAX));
    admit(&fast, u32::MAX);
    assert_eq!(limited(&fast, 1), ns(1));
    clock.advance(ns(1));
    admit(&fast, 1);
    // One permit per (saturated) 584 years with a burst of 1.
    let (slow, clock) = limiter(gcra(1, Duration::MAX, 1));
    admit(&slow, 1);
    assert!(limited(&slow, 1) > secs(1_000_000_000));
    clock.advance(secs(3600));
    limited(&slow, 1);
}

#[test]
fn a_gcra_quota_that_never_refills_grants_no_more_than_its_burst() {
    // "5 tokens, never refilled": Rate::new(1, Duration::MAX). Also any quota with
    // (burst − 1) × period / permits ≥ ~584 years.
    for algorithm in [
        gcra(1, Duration::MAX, 2),
        token_bucket(1, Duration::MAX, 5, None),
        gcra(1, secs(300 * 365 * 24 * 3600), 3),
    ] {
        let (l, clock) = limiter(algorithm);
        drain(&l);
        clock.advance(secs(3600));
        let granted = drain(&l);
        assert_eq!(
            granted, 0,
            "{algorithm:?}: {granted} more permits after the burst"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Token bucket
// ---------------------------------------------------------------------------------------------

#[test]
fn a_token_bucket_starts_full_by_default() {
    let (l, _clock) = limiter(token_bucket(1, secs(1), 4, None));
    assert_eq!(l.info().remaining(), 4);
    assert_eq!(drain(&l), 4);
}

#[test]
fn a_token_bucket_starts_with_its_initial_tokens_and_fills_to_capacity() {
    let (l, clock) = limiter(token_bucket(1, ms(10), 5, Some(2)));
    assert_eq!(l.info().remaining(), 2);
    assert_eq!(l.info().reset_after(), ms(30));
    limited(&l, 3);
    assert_eq!(admit(&l, 2).remaining(), 0);
    assert_eq!(limited(&l, 1), ms(10));
    clock.advance(ms(10));
    assert_eq!(admit(&l, 1).remaining(), 0);
    // Long idle: full, and no fuller.
    clock.advance(secs(60));
    assert_eq!(l.info().remaining(), 5);
    assert_eq!(drain(&l), 5);
}

#[test]
fn an_empty_token_bucket_gives_its_first_token_after_one_interval() {
    let (l, clock) = limiter(token_bucket(1, ms(10), 3, Some(0)));
    assert_eq!(l.info().remaining(), 0);
    assert_eq!(limited(&l, 1), ms(10));
    assert_eq!(limited(&l, 3), ms(30));
    clock.advance(ms(30));
    assert_eq!(admit(&l, 3).remaining(), 0);
}

#[test]
fn a_full_token_bucket_decides_exactly_like_gcra_with_burst_capacity() {
    let (tb, tb_clock) = limiter(token_bucket(3, ns(100), 4, None));
    let (g, g_clock) = limiter(gcra(3, ns(100), 4));
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..2000 {
        // xorshift: a fixed pseudo-random schedule of gaps and sizes.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let gap = ns(state % 80);
        let n = (state >> 32) as u32 % 5;
        tb_clock.advance(gap);
        g_clock.advance(gap);
        assert_eq!(tb.try_acquire_n(n), g.try_acquire_n(n));
    }
}

// ---------------------------------------------------------------------------------------------
// Fixed window
// ---------------------------------------------------------------------------------------------

#[test]
fn a_fixed_window_grants_max_per_window_and_says_when_the_next_one_starts() {
    let (l, clock) = limiter(fixed(3, secs(1)));
    clock.advance(ms(100));
    for remaining in [2, 1, 0] {
        assert_eq!(admit(&l, 1).remaining(), remaining);
    }
    assert_eq!(limited(&l, 1), ms(900));
    clock.advance(ms(900) - ns(1));
    assert_eq!(limited(&l, 1), ns(1));
    clock.advance(ns(1));
    assert_eq!(admit(&l, 3).remaining(), 0);
}

#[test]
fn fixed_windows_are_aligned_to_the_clock_origin_not_to_the_limiter() {
    // Built at 700 ms: the first window still ends at 1 s.
    let (l, clock) = limiter_at(fixed(2, secs(1)), 700 * MS);
    let info = admit(&l, 2);
    assert_eq!(info.reset_after(), ms(300));
    assert_eq!(limited(&l, 1), ms(300));
    set(&clock, SEC);
    assert_eq!(admit(&l, 2).reset_after(), secs(1));
}

#[test]
fn a_fixed_window_admits_up_to_twice_max_across_a_boundary() {
    // The documented weakness: max at the end of one window, max at the start of the next.
    let (l, clock) = limiter(fixed(5, secs(1)));
    set(&clock, SEC - 1);
    admit(&l, 5);
    set(&clock, SEC);
    admit(&l, 5);
    limited(&l, 1);
}

#[test]
fn a_fixed_window_forgets_everything_after_idle_windows() {
    let (l, clock) = limiter(fixed(2, ms(10)));
    admit(&l, 2);
    clock.advance(ms(35));
    assert_eq!(l.info().remaining(), 2);
    assert_eq!(drain(&l), 2);
}

#[test]
fn a_fixed_window_survives_extreme_windows() {
    let (l, clock) = limiter(fixed(1, Duration::MAX));
    admit(&l, 1);
    limited(&l, 1);
    clock.advance(secs(3600));
    limited(&l, 1);
}

// ---------------------------------------------------------------------------------------------
// Sliding window counter
// ---------------------------------------------------------------------------------------------

#[test]
fn a_sliding_counter_weights_the_previous_window_by_how_much_of_it_still_overlaps() {
    let (l, clock) = limiter(counter(10, secs(1)));
    admit(&l, 10);
    // Half-way into the next window: 10 × 1/2 + 0 = 5 count, 5 fit.
    set(&clock, 1500 * MS);
    assert_eq!(l.info().remaining(), 5);
    assert_eq!(admit(&l, 5).remaining(), 0);
    // 10 × (1000 − e)/1000 + 5 + 1 ≤ 10 needs e ≥ 600 ms.
    assert_eq!(limited(&l, 1), ms(100));
    set(&clock, 1600 * MS - 1);
    assert_eq!(limited(&l, 1), ns(1));
    set(&clock, 1600 * MS);
    admit(&l, 1);
}

#[test]
fn a_sliding_counter_retry_after_can_reach_into_the_next_window() {
    let (l, clock) = limiter(counter(4, ns(100)));
    set(&clock, 50);
    admit(&l, 3);
    // 3 + 2 > 4 in this window; in the next one 3 × (100 − e)/100 + 2 ≤ 4 needs e ≥ 34
    // (3 × 66 = 198 ≤ 200, 3 × 67 = 201 > 200): 50 + 34 = 84 ns from now.
    assert_eq!(limited(&l, 2), ns(84));
    set(&clock, 133);
    limited(&l, 2);
    set(&clock, 134);
    admit(&l, 2);
}

#[test]
fn a_sliding_counter_forgets_everything_two_windows_later() {
    let (l, clock) = limiter(counter(3, ms(10)));
    clock.advance(ms(9));
    let info = admit(&l, 3);
    // Everything has slid out at the end of the following window.
    assert_eq!(info.reset_after(), ms(11));
    clock.advance(ms(11) - ns(1));
    assert_eq!(l.info().remaining(), 2);
    clock.advance(ns(1));
    assert_eq!(l.info().remaining(), 3);
    assert_eq!(drain(&l), 3);
}

#[test]
fn a_sliding_counter_can_refuse_a_stream_exactly_at_its_rate() {
    // What the counter does NOT guarantee, documented: 2 per 10 s at one request every 5 s is
    // exactly the rate, but at a window boundary the estimate still counts all of the previous
    // window (2 × 10/10 + 0 + 1 > 2). What it does guarantee (see the property tests) is a
    // single-permit stream spaced at least 2 × window / max apart.
    let (l, clock) = limiter(counter(2, secs(10)));
    admit(&l, 1);
    clock.advance(secs(5));
    admit(&l, 1);
    clock.advance(secs(5));
    assert_eq!(limited(&l, 1), secs(5));
    // Spaced 2 × window / max = 10 s apart, it is never refused.
    let (l, clock) = limiter(counter(2, secs(10)));
    clock.advance(ms(3));
    for _ in 0..100 {
        admit(&l, 1);
        clock.advance(secs(10));
    }
}

#[test]
fn a_sliding_counter_remembers_its_own_window_index_from_creation() {
    let (l, clock) = limiter_at(counter(2, ns(100)), 250);
    admit(&l, 2);
    // At 300 the two permits of window 2 count fully (e = 0).
    set(&clock, 300);
    assert_eq!(limited(&l, 1), ns(50));
    set(&clock, 350);
    admit(&l, 1);
}

#[test]
fn a_sliding_counter_survives_a_caller_whose_clock_reading_is_older() {
    // Models two callers under contention: one read the clock at 999_999_999 ns, then another
    // read 1 s and took the lock first, rolling the state into window 1. `roll` keeps such a
    // state ("a clock that went backwards"), but `decide` then computes `now - index × window`
    // with now < index × window.
    let (l, clock) = limiter(counter(10, secs(1)));
    set(&clock, SEC);
    admit(&l, 1);
    set(&clock, SEC - 1);
    let late = l.try_acquire();
    assert!(late.is_ok(), "{late:?}");
    set(&clock, SEC);
    assert_eq!(l.info().remaining(), 8);
}

#[test]
fn a_sliding_counter_survives_extreme_windows() {
    let (l, clock) = limiter(counter(1, Duration::MAX));
    admit(&l, 1);
    limited(&l, 1);
    clock.advance(secs(3600));
    limited(&l, 1);
}

// ---------------------------------------------------------------------------------------------
// Sliding window log
// ---------------------------------------------------------------------------------------------

#[test]
fn a_sliding_log_counts_a_permit_for_exactly_one_window() {
    let (l, clock) = limiter(log(2, ms(1000)));
    admit(&l, 1);
    set(&clock, 400 * MS);
    admit(&l, 1);
    set(&clock, 500 * MS);
    assert_eq!(limited(&l, 1), ms(500));
    // The permit taken at 0 counts during [0, 1000 ms).
    set(&clock, 1000 * MS - 1);
    assert_eq!(limited(&l, 1), ns(1));
    set(&clock, 1000 * MS);
    admit(&l, 1);
    assert_eq!(limited(&l, 1), ms(400));
}

#[test]
fn a_sliding_log_waits_for_as_many_old_permits_as_the_request_needs() {
    let (l, clock) = limiter(log(4, ns(100)));
    for t in [0, 10, 20, 30] {
        set(&clock, t);
        admit(&l, 1);
    }
    set(&clock, 50);
    // Three permits need the three oldest (0, 10, 20) to expire: at 120.
    assert_eq!(limited(&l, 3), ns(70));
    set(&clock, 119);
    limited(&l, 3);
    set(&clock, 120);
    assert_eq!(admit(&l, 3).remaining(), 0);
}

#[test]
fn a_sliding_log_reset_after_is_when_its_newest_permit_expires() {
    let (l, clock) = limiter(log(3, ns(100)));
    admit(&l, 1);
    set(&clock, 30);
    let info = admit(&l, 2);
    assert_eq!((info.remaining(), info.reset_after()), (0, ns(100)));
    set(&clock, 130);
    assert_eq!(l.info().remaining(), 3);
}

#[test]
fn a_sliding_log_never_over_admits_to_a_caller_whose_clock_reading_is_older() {
    let (l, clock) = limiter(log(2, ns(1000)));
    set(&clock, 1000);
    admit(&l, 1);
    set(&clock, 999);
    admit(&l, 1);
    set(&clock, 1000);
    limited(&l, 1);
    // Both expire by 2000 at the latest.
    set(&clock, 2000);
    assert_eq!(drain(&l), 2);
}

#[test]
fn a_sliding_log_survives_extreme_windows() {
    let (l, clock) = limiter(log(1, Duration::MAX));
    admit(&l, 1);
    limited(&l, 1);
    clock.advance(secs(3600));
    limited(&l, 1);
}

// ---------------------------------------------------------------------------------------------
// Changing the quota
// ---------------------------------------------------------------------------------------------

#[test]
fn a_larger_gcra_burst_applies_to_the_existing_state() {
    let (l, _clock) = limiter(gcra(10, secs(1), 1));
    admit(&l, 1);
    limited(&l, 1);
    let bigger = gcra(10, secs(1), 2);
    l.set_algorithm(bigger).unwrap();
    assert_eq!(l.algorithm(), bigger);
    admit(&l, 1);
    limited(&l, 1);
}

#[test]
fn a_smaller_gcra_burst_still_counts_the_permits_taken() {
    let (l, clock) = limiter(gcra(1, ms(10), 10));
    admit(&l, 6);
    l.set_algorithm(gcra(1, ms(10), 4)).unwrap();
    assert_eq!(l.info().remaining(), 0);
    assert_eq!(limited(&l, 1), ms(30));
    clock.advance(ms(30));
    assert_eq!(admit(&l, 1).remaining(), 0);
}

#[test]
fn gcra_and_token_bucket_may_be_exchanged_keeping_their_state() {
    let (l, clock) = limiter(gcra(1, ms(10), 4));
    admit(&l, 3);
    l.set_algorithm(token_bucket(1, ms(10), 4, Some(4)))
        .unwrap();
    // The permits taken still count; initial_tokens only applies when building.
    assert_eq!(l.info().remaining(), 1);
    admit(&l, 1);
    limited(&l, 1);
    clock.advance(ms(20));
    l.set_algorithm(gcra(1, ms(10), 4)).unwrap();
    assert_eq!(drain(&l), 2);
}

#[test]
fn a_fixed_window_keeps_its_count_when_max_changes() {
    let (l, _clock) = limiter(fixed(3, secs(1)));
    admit(&l, 3);
    l.set_algorithm(fixed(5, secs(1))).unwrap();
    assert_eq!(drain(&l), 2);
    l.set_algorithm(fixed(2, secs(1))).unwrap();
    assert_eq!(l.info().remaining(), 0);
    limited(&l, 1);
}

#[test]
fn a_sliding_counter_keeps_its_counts_when_max_changes() {
    let (l, clock) = limiter(counter(4, ns(100)));
    admit(&l, 4);
    l.set_algorithm(counter(6, ns(100))).unwrap();
    assert_eq!(drain(&l), 2);
    set(&clock, 150);
    // 6 × 50/100 = 3 still count under the new max of 6.
    assert_eq!(l.info().remaining(), 3);
}

#[test]
fn a_sliding_log_keeps_its_log_across_any_quota_change() {
    let (l, clock) = limiter(log(3, ns(100)));
    admit(&l, 3);
    l.set_algorithm(log(4, ns(300))).unwrap();
    set(&clock, 299);
    assert_eq!(admit(&l, 1).remaining(), 0);
    set(&clock, 300);
    assert_eq!(drain(&l), 3);
}

#[test]
fn gcra_permits_taken_still_count_after_the_rate_slows() {
    // 10 permits taken at 10/s; the quota becomes 1/s with the same burst of 10. The burst
    // is spent, so nothing may be taken until one new interval (1 s) has passed.
    let (l, clock) = limiter(gcra(10, secs(1), 10));
    admit(&l, 10);
    l.set_algorithm(gcra(1, secs(1), 10)).unwrap();
    assert_eq!(
        l.info().remaining(),
        0,
        "9 more permits were granted at t = 0"
    );
    assert_eq!(limited(&l, 1), secs(1));
    clock.advance(secs(1));
    admit(&l, 1);
}

#[test]
fn gcra_permits_taken_still_count_after_the_rate_quickens() {
    // 10 permits taken at 1/s; the quota becomes 10/s with the same burst of 10: one permit
    // is back after 100 ms, not after 9.1 s.
    let (l, _clock) = limiter(gcra(1, secs(1), 10));
    admit(&l, 10);
    l.set_algorithm(gcra(10, secs(1), 10)).unwrap();
    assert_eq!(limited(&l, 1), ms(100));
}

#[test]
fn a_fixed_window_keeps_the_permits_taken_when_its_window_changes() {
    // At 25 s, 2 permits are taken in the 10 s window [20 s, 30 s). With 5 s windows the
    // current window is [25 s, 30 s) and holds those 2 permits: nothing more fits.
    let (l, clock) = limiter(fixed(2, secs(10)));
    clock.advance(secs(25));
    admit(&l, 2);
    l.set_algorithm(fixed(2, secs(5))).unwrap();
    assert_eq!(l.info().remaining(), 0);
    assert_eq!(limited(&l, 1), secs(5));
}

#[test]
fn a_sliding_counter_keeps_the_permits_taken_when_its_window_shrinks() {
    let (l, clock) = limiter(counter(2, secs(10)));
    clock.advance(secs(25));
    admit(&l, 2);
    l.set_algorithm(counter(2, secs(5))).unwrap();
    assert_eq!(l.info().remaining(), 0);
    limited(&l, 1);
}

#[test]
fn a_sliding_counter_keeps_counting_after_its_window_grows() {
    // At 5 s, 1 of 2 permits is taken in the 1 s window [5 s, 6 s); the window becomes 2 s,
    // [4 s, 6 s), which still holds that permit: exactly one more fits.
    let (l, clock) = limiter(counter(2, secs(1)));
    clock.advance(secs(5));
    admit(&l, 1);
    l.set_algorithm(counter(2, secs(2))).unwrap();
    admit(&l, 1);
    limited(&l, 1);
}

#[test]
fn changing_to_another_kind_of_algorithm_is_refused_and_changes_nothing() {
    let kinds = one_of_each();
    for (i, &running) in kinds.iter().enumerate() {
        for (j, &other) in kinds.iter().enumerate() {
            let exchangeable = i == j || matches!((i, j), (0 | 1, 0 | 1));
            let (l, _clock) = limiter(running);
            admit(&l, 1);
            let before = l.info();
            let result = l.set_algorithm(other);
            if exchangeable {
                assert_eq!(result, Ok(()), "{running:?} -> {other:?}");
                continue;
            }
            let err = result.expect_err("a different kind must be refused");
            assert_eq!(
                (err.policy(), err.field()),
                ("rate_limit", "algorithm"),
                "{running:?} -> {other:?}"
            );
            assert!(err.value().contains(&format!("{other:?}")), "{err}");
            assert_eq!(l.algorithm(), running);
            assert_eq!(l.info(), before);
        }
    }
}

#[test]
fn an_invalid_new_quota_is_refused_naming_its_field_and_changes_nothing() {
    let cases = [
        (gcra(1, secs(1), 3), gcra(1, secs(1), 0), "burst"),
        (gcra(1, secs(1), 3), gcra(0, secs(1), 3), "rate"),
        (
            token_bucket(1, secs(1), 3, None),
            token_bucket(1, secs(1), 0, None),
            "capacity",
        ),
        (
            token_bucket(1, secs(1), 3, None),
            token_bucket(1, secs(1), 3, Some(4)),
            "initial_tokens",
        ),
        (fixed(3, secs(1)), fixed(3, ns(999_999)), "window"),
        (fixed(3, secs(1)), fixed(0, secs(1)), "max_requests"),
        (
            fixed(3, secs(1)),
            fixed(16_777_216, secs(1)),
            "max_requests",
        ),
        (counter(3, secs(1)), counter(3, Duration::ZERO), "window"),
        (counter(3, secs(1)), counter(0, secs(1)), "max_requests"),
        (log(3, secs(1)), log(3, Duration::ZERO), "window"),
        (log(3, secs(1)), log(0, secs(1)), "max_requests"),
    ];
    for (running, bad, field) in cases {
        let (l, _clock) = limiter(running);
        admit(&l, 1);
        let before = l.info();
        let err = l.set_algorithm(bad).expect_err("an invalid quota");
        assert_eq!(err.field(), field, "{bad:?}");
        assert_eq!(l.algorithm(), running);
        assert_eq!(l.info(), before);
    }
}

// ---------------------------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------------------------

#[test]
fn call_blocking_runs_the_operation_only_when_a_permit_is_granted() {
    let (l, clock) = limiter(gcra(1, ms(100), 2));
    assert_eq!(l.call_blocking(|| Ok::<_, &str>(1)), Ok(1));
    // An operation error passes through untouched; its permit was still taken.
    assert_eq!(
        l.call_blocking(|| Err::<(), _>("down")),
        Err(Error::Operation("down"))
    );
    let ran = AtomicBool::new(false);
    let outcome = l.call_blocking(|| {
        ran.store(true, Ordering::Relaxed);
        Ok::<_, &str>(())
    });
    assert!(
        !ran.load(Ordering::Relaxed),
        "a rejected operation must not run"
    );
    match outcome {
        Err(
            ref e @ Error::RateLimited {
                ref name,
                retry_after,
                ..
            },
        ) => {
            assert_eq!(&**name, "test");
            assert_eq!(retry_after, ms(100));
            assert!(e.is_rejection() && e.is_transient());
            assert_eq!(e.retry_after(), Some(ms(100)));
        }
        other => panic!("expected Error::RateLimited, got {other:?}"),
    }
    clock.advance(ms(100));
    assert_eq!(l.call_blocking(|| Ok::<_, &str>(3)), Ok(3));
}

#[test]
fn call_blocking_rejections_carry_every_algorithms_retry_after() {
    for algorithm in one_of_each() {
        let (l, _clock) = limiter(algorithm);
        admit(&l, 3);
        let expected = l.try_acquire().unwrap_err().retry_after();
        match l.call_blocking(|| Ok::<_, ()>(())) {
            Err(Error::RateLimited { retry_after, .. }) => {
                assert_eq!(Some(retry_after), expected, "{algorithm:?}")
            }
            other => panic!("{algorithm:?}: expected Error::RateLimited, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn call_awaits_the_future_only_when_a_permit_is_granted() {
    let (l, clock) = limiter(fixed(1, secs(1)));
    assert_eq!(
        l.call(|| async { Ok::<_, &str>("first") }).await,
        Ok("first")
    );
    let polled = Arc::new(AtomicBool::new(false));
    let flag = polled.clone();
    let outcome = l
        .call(|| async move {
            flag.store(true, Ordering::Relaxed);
            Ok::<_, &str>("second")
        })
        .await;
    assert!(
        !polled.load(Ordering::Relaxed),
        "a rejected future must not be polled"
    );
    match outcome {
        Err(Error::RateLimited {
            name, retry_after, ..
        }) => assert_eq!((&*name, retry_after), ("test", secs(1))),
        other => panic!("expected Error::RateLimited, got {other:?}"),
    }
    clock.advance(secs(1));
    assert_eq!(
        l.call(|| async { Err::<(), _>("boom") }).await,
        Err(Error::Operation("boom"))
    );
    assert!(
        l.try_acquire().is_err(),
        "the failed call still took its permit"
    );
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

/// An owned copy of a `RateLimitEvent`: (name, permits, remaining or retry_after).
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Permitted(String, u64, u64),
    Rejected(String, u64, Option<Duration>),
}

fn recorder() -> (
    Arc<Mutex<Vec<Seen>>>,
    impl Fn(&Event<'_>) + Send + Sync + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let listener = move |event: &Event<'_>| {
        assert_eq!(event.policy_kind(), "rate_limit");
        let Event::RateLimit(e) = event else {
            panic!("a rate limiter published {event:?}");
        };
        let entry = match *e {
            RateLimitEvent::Permitted {
                name,
                permits,
                remaining,
            } => Seen::Permitted(name.to_owned(), permits, remaining),
            RateLimitEvent::Rejected {
                name,
                permits,
                retry_after,
            } => Seen::Rejected(name.to_owned(), permits, retry_after),
            _ => return,
        };
        assert_eq!(event.policy_name(), e.name());
        log.lock().unwrap().push(entry);
    };
    (seen, listener)
}

#[test]
fn every_decision_is_published_with_name_permits_and_remaining_or_retry_after() {
    let (seen, listener) = recorder();
    let clock = ManualClock::new();
    let l = RateLimiter::builder(gcra(1, ns(100), 3))
        .name("api")
        .clock(clock.clone())
        .on_event(listener)
        .build()
        .unwrap();
    admit(&l, 2);
    admit(&l, 1);
    limited(&l, 1);
    l.try_acquire_n(4).unwrap_err();
    assert_eq!(l.call_blocking(|| Ok::<_, ()>(())).ok(), None);
    clock.advance(ns(100));
    assert_eq!(l.call_blocking(|| Ok::<_, ()>(())), Ok(()));
    let p = |permits, remaining| Seen::Permitted("api".into(), permits, remaining);
    let r = |permits, retry| Seen::Rejected("api".into(), permits, retry);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            p(2, 1),
            p(1, 0),
            r(1, Some(ns(100))),
            r(4, None),
            r(1, Some(ns(100))),
            p(1, 0),
        ]
    );
}

#[test]
fn every_algorithm_publishes_its_decisions() {
    for algorithm in one_of_each() {
        let (seen, listener) = recorder();
        let l = RateLimiter::builder(algorithm)
            .clock(ManualClock::new())
            .on_event(listener)
            .build()
            .unwrap();
        admit(&l, 3);
        let retry = limited(&l, 2);
        let name = "rate_limit".to_string();
        assert_eq!(
            *seen.lock().unwrap(),
            [
                Seen::Permitted(name.clone(), 3, 0),
                Seen::Rejected(name, 2, Some(retry))
            ],
            "{algorithm:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Callers whose clock reading is older than another's (fixed window)
// ---------------------------------------------------------------------------------------------

#[test]
fn a_fixed_window_never_exceeds_max_when_a_caller_read_the_clock_before_the_boundary() {
    // Under contention the clock is read before the compare-and-swap: a caller that read
    // 999_999_999 ns may commit after callers that read 1 s. Setting the manual clock back
    // reproduces that interleaving deterministically on one thread.
    let (l, clock) = limiter(fixed(2, secs(1)));
    set(&clock, SEC);
    admit(&l, 2); // window 1 is full
    set(&clock, SEC - 1);
    let _ = l.try_acquire(); // the late caller (window 0 had room: granting it is fine)
    set(&clock, SEC);
    assert_eq!(l.info().remaining(), 0, "window 1's permits were forgotten");
    limited(&l, 1);
}

// ---------------------------------------------------------------------------------------------
// Many threads, frozen clock
// ---------------------------------------------------------------------------------------------

/// `threads` threads, released together, each asking `attempts` times for one permit. Returns
/// the permits granted in total.
fn hammer(l: &RateLimiter, threads: usize, attempts: usize) -> u64 {
    let start = Barrier::new(threads);
    thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    (0..attempts).filter(|_| l.try_acquire().is_ok()).count() as u64
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    })
}

/// Like `hammer`, but thread `i` asks for 1 + (i + attempt) % 4 permits at a time. Returns
/// the permits granted in total.
fn hammer_mixed(l: &RateLimiter, threads: usize, attempts: usize) -> u64 {
    let start = Barrier::new(threads);
    thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|i| {
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    let mut granted = 0;
                    for attempt in 0..attempts {
                        let n = 1 + ((i + attempt) % 4) as u32;
                        if l.try_acquire_n(n).is_ok() {
                            granted += u64::from(n);
                        }
                    }
                    granted
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    })
}

const THREADS: usize = 8;

#[test]
fn gcra_grants_exactly_the_burst_to_concurrent_callers_then_exactly_k_after_k_intervals() {
    finish_within(secs(60), || {
        let interval = ms(1);
        let (l, clock) = limiter(gcra(1, interval, 2_000));
        assert_eq!(hammer(&l, THREADS, 500), 2_000);
        for k in [1, 7, 300, 2_000] {
            clock.advance(interval * k);
            assert_eq!(
                hammer(&l, THREADS, 400),
                u64::from(k),
                "after {k} intervals"
            );
        }
        // Rested for longer than the burst: exactly the burst again.
        clock.advance(interval * 10_000);
        assert_eq!(hammer(&l, THREADS, 500), 2_000);
    });
}

#[test]
fn gcra_never_loses_or_duplicates_permits_under_concurrent_mixed_requests() {
    finish_within(secs(60), || {
        let (l, clock) = limiter(gcra(1, ms(1), 64));
        for round in 0..50 {
            let granted = hammer_mixed(&l, THREADS, 20);
            assert!(granted <= 64, "round {round}: {granted} > burst");
            assert_eq!(granted + drain(&l), 64, "round {round}");
            clock.advance(ms(64));
        }
    });
}

#[test]
fn a_token_bucket_grants_exactly_its_initial_tokens_to_concurrent_callers() {
    finish_within(secs(60), || {
        let (l, clock) = limiter(token_bucket(1, ms(1), 3_000, Some(1_234)));
        assert_eq!(hammer(&l, THREADS, 300), 1_234);
        clock.advance(ms(777));
        assert_eq!(hammer(&l, THREADS, 300), 777);
        clock.advance(secs(60));
        assert_eq!(hammer(&l, THREADS, 500), 3_000);
    });
}

#[test]
fn a_fixed_window_grants_exactly_max_per_window_to_concurrent_callers() {
    finish_within(secs(60), || {
        let (l, clock) = limiter(fixed(2_500, secs(1)));
        clock.advance(ms(10));
        assert_eq!(hammer(&l, THREADS, 400), 2_500);
        clock.advance(ms(989));
        assert_eq!(hammer(&l, THREADS, 100), 0);
        clock.advance(ms(1));
        assert_eq!(hammer(&l, THREADS, 400), 2_500);
        for round in 0..50 {
            clock.advance(secs(1));
            let granted = hammer_mixed(&l, THREADS, 10);
            assert_eq!(granted + drain(&l), 2_500, "round {round}");
        }
    });
}

#[test]
fn a_sliding_counter_grants_exactly_its_estimate_to_concurrent_callers() {
    finish_within(secs(60), || {
        let (l, clock) = limiter(counter(2_000, secs(1)));
        assert_eq!(hammer(&l, THREADS, 300), 2_000);
        // Half-way into the next window half of the previous 2000 still count.
        clock.advance(ms(1500));
        assert_eq!(hammer(&l, THREADS, 200), 1_000);
        clock.advance(secs(2));
        assert_eq!(hammer(&l, THREADS, 300), 2_000);
        for round in 0..50 {
            clock.advance(secs(2));
            let granted = hammer_mixed(&l, THREADS, 10);
            assert_eq!(granted + drain(&l), 2_000, "round {round}");
        }
    });
}

#[test]
fn a_sliding_log_grants_exactly_max_per_window_to_concurrent_callers() {
    finish_within(secs(60), || {
        let (l, clock) = limiter(log(2_000, secs(1)));
        assert_eq!(hammer(&l, THREADS, 300), 2_000);
        clock.advance(secs(1) - ns(1));
        assert_eq!(hammer(&l, THREADS, 100), 0);
        clock.advance(ns(1));
        assert_eq!(hammer(&l, THREADS, 300), 2_000);
        for round in 0..50 {
            clock.advance(secs(1));
            let granted = hammer_mixed(&l, THREADS, 10);
            assert_eq!(granted + drain(&l), 2_000, "round {round}");
        }
    });
}
