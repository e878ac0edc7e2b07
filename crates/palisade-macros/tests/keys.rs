//! What the keys do at run time: `operation_type = "custom"` is the default preset,
//! `enable_* = false` leaves exactly that policy out, `exponential_base` and `jitter` shape
//! the waits — and the preset table in the attribute's documentation is palisade's.
//!
//! Async tests run on paused tokio time, so waits are exact and instant.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use palisade::presets::Preset;
use palisade::retry::StopReason;
use palisade_macros::resilient;
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq)]
struct Down;

/// Connection refused: never reached the dependency, so retried by every classified pipeline.
impl palisade::classify::Classify for Down {
    fn class(&self) -> palisade::classify::ErrorClass {
        palisade::classify::ErrorClass::Unreached
    }
}

/// `elapsed` is `expected`, give or take tokio's timer granularity (whole milliseconds).
fn about(elapsed: Duration, expected: Duration) -> bool {
    elapsed >= expected && elapsed <= expected + Duration::from_millis(5)
}

async fn forever() {
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

// --- "custom" is the default preset ----------------------------------------------------------

static CUSTOM_CALLS: AtomicU32 = AtomicU32::new(0);

#[resilient(operation_type = "custom")]
async fn custom_failing() -> Result<(), Down> {
    CUSTOM_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(Down)
}

#[tokio::test(start_paused = true)]
async fn custom_retries_three_times_and_opens_after_five_consecutive_failures() {
    let first = custom_failing().await.unwrap_err();
    assert!(
        matches!(first, palisade::Error::RetriesExhausted { attempts: 3, .. }),
        "{first:?}"
    );
    // Failures 4 and 5: the fifth opens the breaker, and retry stops there.
    let second = custom_failing().await.unwrap_err();
    assert!(
        matches!(
            second,
            palisade::Error::RetriesExhausted {
                attempts: 2,
                reason: StopReason::CircuitOpened,
                ..
            }
        ),
        "{second:?}"
    );
    assert_eq!(CUSTOM_CALLS.load(Ordering::SeqCst), 5);
    let third = custom_failing().await.unwrap_err();
    assert!(
        matches!(third, palisade::Error::CircuitOpen { retry_after: Some(after), .. }
            if after <= Duration::from_secs(60) && after > Duration::from_secs(59)),
        "{third:?}"
    );
    assert_eq!(CUSTOM_CALLS.load(Ordering::SeqCst), 5);
}

#[resilient(operation_type = "custom")]
async fn custom_slow() -> Result<(), Down> {
    forever().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn custom_bounds_each_attempt_by_five_seconds() {
    let start = Instant::now();
    let error = custom_slow().await.unwrap_err();
    assert!(
        matches!(error, palisade::Error::Timeout { limit, .. } if limit == Duration::from_secs(5)),
        "{error:?}"
    );
    let elapsed = start.elapsed();
    assert!(about(elapsed, Duration::from_secs(5)), "{elapsed:?}");
}

// --- enable_* = false leaves one policy out, the others stay ---------------------------------

static ONE_SHOT_CALLS: AtomicU32 = AtomicU32::new(0);

#[resilient(preset = "api", enable_retry = false)]
async fn one_shot() -> Result<(), Down> {
    ONE_SHOT_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(Down)
}

#[tokio::test(start_paused = true)]
async fn without_retry_a_failure_is_returned_after_one_attempt() {
    for call in 1..=5 {
        let error = one_shot().await.unwrap_err();
        assert_eq!(error, palisade::Error::Operation(Down), "call {call}");
    }
    assert_eq!(ONE_SHOT_CALLS.load(Ordering::SeqCst), 5);
    // The api preset's breaker is kept: five consecutive failures opened it.
    assert!(matches!(
        one_shot().await,
        Err(palisade::Error::CircuitOpen { .. })
    ));
    assert_eq!(ONE_SHOT_CALLS.load(Ordering::SeqCst), 5);
}

#[resilient(preset = "cache", enable_timeout = false)]
async fn patient() -> Result<&'static str, Down> {
    tokio::time::sleep(Duration::from_secs(600)).await; // the cache preset allows 5 s
    Ok("done")
}

#[tokio::test(start_paused = true)]
async fn without_the_timeout_a_slow_attempt_finishes() {
    assert_eq!(patient().await, Ok("done"));
}

#[resilient(preset = "cache", enable_timeout = false, total_timeout = "30s")]
async fn bounded_as_a_whole() -> Result<(), Down> {
    forever().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_total_timeout_still_bounds_a_call_without_the_per_attempt_one() {
    let start = Instant::now();
    let error = bounded_as_a_whole().await.unwrap_err();
    assert!(
        matches!(error, palisade::Error::Timeout { limit, .. } if limit == Duration::from_secs(30)),
        "{error:?}"
    );
    let elapsed = start.elapsed();
    assert!(about(elapsed, Duration::from_secs(30)), "{elapsed:?}");
}

static UNGUARDED_CALLS: AtomicU32 = AtomicU32::new(0);

#[resilient(preset = "cache", enable_circuit_breaker = false)]
async fn unguarded() -> Result<(), Down> {
    UNGUARDED_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(Down)
}

#[tokio::test(start_paused = true)]
async fn without_the_breaker_every_call_runs() {
    // The cache preset's breaker would open after 3 consecutive failures.
    for call in 1..=5 {
        let error = unguarded().await.unwrap_err();
        assert!(
            matches!(error, palisade::Error::RetriesExhausted { attempts: 2, .. }),
            "call {call}: {error:?}"
        );
    }
    assert_eq!(UNGUARDED_CALLS.load(Ordering::SeqCst), 10);
}

static BLOCKING_CALLS: AtomicU32 = AtomicU32::new(0);

#[resilient(
    operation_type = "custom",
    enable_retry = false,
    enable_circuit_breaker = false
)]
fn blocking_once() -> Result<u8, Down> {
    BLOCKING_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(Down)
}

#[test]
fn a_blocking_function_leaves_policies_out_too() {
    for _ in 0..6 {
        assert_eq!(blocking_once(), Err(palisade::Error::Operation(Down)));
    }
    assert_eq!(BLOCKING_CALLS.load(Ordering::SeqCst), 6);
}

// --- exponential_base and jitter ---------------------------------------------------------------

#[resilient(
    max_attempts = 4,
    base_delay = "100ms",
    exponential_base = 3,
    jitter = false
)]
async fn tripled() -> Result<(), Down> {
    Err(Down)
}

#[tokio::test(start_paused = true)]
async fn exact_waits_grow_by_the_exponential_base() {
    let start = Instant::now();
    assert!(tripled().await.is_err());
    // 100 ms, then 300 ms, then 900 ms.
    let elapsed = start.elapsed();
    assert!(about(elapsed, Duration::from_millis(1300)), "{elapsed:?}");
}

#[resilient(
    preset = "network",
    base_delay = "1s",
    max_delay = "3s",
    exponential_base = 1.5,
    jitter = false,
    max_attempts = 5,
    failure_threshold = 10
)]
async fn capped() -> Result<(), Down> {
    Err(Down)
}

#[tokio::test(start_paused = true)]
async fn waits_stop_growing_at_max_delay() {
    let start = Instant::now();
    assert!(capped().await.is_err());
    // 1 s, 1.5 s, 2.25 s, then 3 s (3.375 s capped).
    let elapsed = start.elapsed();
    assert!(about(elapsed, Duration::from_millis(7750)), "{elapsed:?}");
}

#[resilient(
    max_attempts = 4,
    base_delay = "100ms",
    exponential_base = 3,
    jitter = true
)]
async fn jittered() -> Result<(), Down> {
    Err(Down)
}

#[tokio::test(start_paused = true)]
async fn jittered_waits_never_exceed_the_schedule() {
    let start = Instant::now();
    assert!(jittered().await.is_err());
    assert!(start.elapsed() <= Duration::from_millis(1300));
}

// --- the documentation's preset table --------------------------------------------------------

fn seconds(cell: &str) -> Duration {
    let number = cell.trim().trim_end_matches(" s");
    Duration::from_secs_f64(number.parse().unwrap_or_else(|_| panic!("{cell:?}")))
}

#[test]
fn the_documented_preset_table_is_palisades() {
    let source = include_str!("../src/lib.rs");
    let rows: Vec<Vec<&str>> = source
        .lines()
        .filter_map(|line| line.strip_prefix("/// | `\""))
        .map(|row| row.split('|').map(str::trim).collect())
        .collect();
    assert_eq!(rows.len(), Preset::ALL.len(), "one row per preset");
    for (row, preset) in rows.iter().zip(Preset::ALL) {
        let s = preset.settings();
        let name = row[0].trim_end_matches("\"`");
        assert_eq!(name, preset.name());
        assert_eq!(seconds(row[1]), s.timeout, "{name}: timeout");
        assert_eq!(row[2], s.max_attempts.to_string(), "{name}: max_attempts");
        assert_eq!(seconds(row[3]), s.base_delay, "{name}: base_delay");
        assert_eq!(seconds(row[4]), s.max_delay, "{name}: max_delay");
        assert_eq!(row[5], s.failure_threshold.to_string(), "{name}");
        assert_eq!(seconds(row[6]), s.recovery_timeout, "{name}: recovery");
    }
}
