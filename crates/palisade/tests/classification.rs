//! Classification, safe by default: with an error enum where `NotFound` and `UniqueViolation`
//! are answers and `ConnectionReset` is transient, the database preset and `#[resilient]`
//! never retry or trip on an answer, retry a reset only when the call is idempotent, and trip
//! on resets. On virtual time (a `ManualClock`, tokio's paused clock).

use std::sync::atomic::{AtomicU32, Ordering};

use palisade::Error;
use palisade::circuit_breaker::State;
use palisade::classify::{Classify, ErrorClass};
use palisade::clock::ManualClock;
use palisade::pipeline::{Classified, Pipeline};
use palisade::presets::Preset;
use palisade::registry::Registry;
use palisade::resilient;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DbError {
    NotFound,
    UniqueViolation,
    ConnectionReset,
}

impl Classify for DbError {
    fn class(&self) -> ErrorClass {
        match self {
            DbError::NotFound | DbError::UniqueViolation => ErrorClass::Answer,
            DbError::ConnectionReset => ErrorClass::Transient,
        }
    }
}

/// The database preset on a manual clock (its breaker opens after 3 consecutive failures).
fn database(idempotent: bool) -> Classified {
    Preset::Database
        .pipeline()
        .clock(ManualClock::new())
        .idempotent(idempotent)
        .build()
        .expect("builds")
}

fn breaker_state(p: &Classified) -> State {
    p.circuit_breaker()
        .expect("the preset has a breaker")
        .state()
}

#[test]
fn a_unique_violation_is_attempted_once() {
    let p = database(true);
    let mut calls = 0;
    let err = p
        .call_blocking(|| {
            calls += 1;
            Err::<(), _>(DbError::UniqueViolation)
        })
        .unwrap_err();
    assert_eq!(calls, 1);
    assert_eq!(err.operation_error(), Some(&DbError::UniqueViolation));
    assert!(
        matches!(err, Error::Operation(_)),
        "no retry wrapper: {err:?}"
    );
}

#[test]
fn ten_lookups_of_a_missing_row_leave_the_breaker_closed() {
    let p = database(true);
    for _ in 0..10 {
        let err = p
            .call_blocking(|| Err::<(), _>(DbError::NotFound))
            .unwrap_err();
        assert!(matches!(err, Error::Operation(DbError::NotFound)));
    }
    assert_eq!(breaker_state(&p), State::Closed);
    assert_eq!(p.call_blocking(|| Ok::<_, DbError>(7)), Ok(7));
}

#[test]
fn connection_resets_of_an_idempotent_call_are_retried_and_trip_the_breaker() {
    let p = database(true);
    let mut calls = 0;
    let err = p
        .call_blocking(|| {
            calls += 1;
            Err::<(), _>(DbError::ConnectionReset)
        })
        .unwrap_err();
    // 3 attempts, each a failure: the breaker (3 consecutive) opens on the last one.
    assert_eq!(calls, 3);
    assert!(matches!(err, Error::RetriesExhausted { .. }), "{err:?}");
    assert_eq!(breaker_state(&p), State::Open);
    let mut ran = false;
    let rejected = p.call_blocking(|| {
        ran = true;
        Ok::<_, DbError>(())
    });
    assert!(matches!(rejected, Err(Error::CircuitOpen { .. })));
    assert!(!ran);
}

#[test]
fn a_connection_reset_of_a_call_not_declared_idempotent_is_not_repeated_but_counts() {
    let p = database(false);
    for expected_state in [State::Closed, State::Closed, State::Open] {
        let mut calls = 0;
        let err = p
            .call_blocking(|| {
                calls += 1;
                Err::<(), _>(DbError::ConnectionReset)
            })
            .unwrap_err();
        assert_eq!(calls, 1, "the reset INSERT may have committed");
        assert!(matches!(err, Error::Operation(DbError::ConnectionReset)));
        assert_eq!(breaker_state(&p), expected_state);
    }
}

#[test]
fn an_unreached_dependency_is_retried_even_for_a_call_not_declared_idempotent() {
    let p = database(false);
    let mut calls = 0;
    let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    let _ = p.call_blocking(|| {
        calls += 1;
        Err::<(), _>(std::io::Error::from(refused.kind()))
    });
    assert_eq!(calls, 3);
}

#[test]
fn a_registry_hands_out_classified_pipelines() {
    let registry = Registry::new(|name: &str| {
        Some(Ok(Pipeline::builder()
            .name(name)
            .clock(ManualClock::new())
            .max_attempts(3)
            .failure_threshold(2)))
    });
    let p: Classified = registry.pipeline("users").expect("builds");
    let mut calls = 0;
    for _ in 0..5 {
        let _ = p.call_blocking(|| {
            calls += 1;
            Err::<(), _>(DbError::NotFound)
        });
    }
    assert_eq!(calls, 5, "answers are not retried");
    assert_eq!(p.circuit_breaker().map(|b| b.state()), Some(State::Closed));
}

#[test]
fn a_pipeline_built_by_hand_retries_what_it_is_told() {
    let p = Pipeline::builder()
        .clock(ManualClock::new())
        .max_attempts(3)
        .build()
        .expect("builds");
    let mut calls = 0;
    let _ = p.call_blocking(|| {
        calls += 1;
        Err::<(), _>(DbError::NotFound)
    });
    assert_eq!(calls, 3, "hand-built: every error, until told otherwise");
    let p = p.classified();
    let mut calls = 0;
    let _ = p.call_blocking(|| {
        calls += 1;
        Err::<(), _>(DbError::NotFound)
    });
    assert_eq!(calls, 1);
}

#[test]
fn result_hooks_retry_and_count_values() {
    let p = Pipeline::builder()
        .clock(ManualClock::new())
        .max_attempts(3)
        .failure_threshold(2)
        .build()
        .expect("builds")
        .classified()
        .retry_on_result(|status: &u16| *status == 503)
        .failure_on_result(|status: &u16| *status >= 500)
        .ignore_if(|e: &DbError| *e == DbError::ConnectionReset);
    let mut calls = 0;
    let status = p.call_blocking(|| {
        calls += 1;
        Ok::<u16, DbError>(503)
    });
    assert_eq!(status, Ok(503), "retry gave up: the last value is returned");
    assert_eq!(
        calls, 2,
        "the second failure opened the breaker: retry stopped"
    );
    assert_eq!(p.circuit_breaker().map(|b| b.state()), Some(State::Open));
}

// --- #[resilient] -------------------------------------------------------------------------

static INSERTS: AtomicU32 = AtomicU32::new(0);

#[resilient(preset = "database", name = "insert_user")]
async fn insert_user(outcome: DbError) -> Result<(), DbError> {
    INSERTS.fetch_add(1, Ordering::SeqCst);
    Err(outcome)
}

static LOOKUPS: AtomicU32 = AtomicU32::new(0);

#[resilient(preset = "database", name = "find_user", idempotent = true)]
async fn find_user(outcome: DbError) -> Result<u64, DbError> {
    LOOKUPS.fetch_add(1, Ordering::SeqCst);
    Err(outcome)
}

#[tokio::test(start_paused = true)]
async fn the_macro_never_retries_or_trips_on_an_answer_and_retries_resets_of_reads() {
    // A unique violation: attempted once.
    let err = insert_user(DbError::UniqueViolation).await.unwrap_err();
    assert!(matches!(err, Error::Operation(DbError::UniqueViolation)));
    assert_eq!(INSERTS.load(Ordering::SeqCst), 1);
    // A reset INSERT: not repeated (not declared idempotent).
    let _ = insert_user(DbError::ConnectionReset).await;
    assert_eq!(INSERTS.load(Ordering::SeqCst), 2);

    // Ten missing rows: never retried, the breaker stays closed.
    for _ in 0..10 {
        let err = find_user(DbError::NotFound).await.unwrap_err();
        assert!(matches!(err, Error::Operation(DbError::NotFound)));
    }
    assert_eq!(LOOKUPS.load(Ordering::SeqCst), 10);
    // A reset read: retried (3 attempts), and the 3 failures open the breaker.
    let err = find_user(DbError::ConnectionReset).await.unwrap_err();
    assert!(matches!(err, Error::RetriesExhausted { .. }), "{err:?}");
    assert_eq!(LOOKUPS.load(Ordering::SeqCst), 13);
    let rejected = find_user(DbError::NotFound).await.unwrap_err();
    assert!(
        matches!(rejected, Error::CircuitOpen { .. }),
        "{rejected:?}"
    );
    assert_eq!(LOOKUPS.load(Ordering::SeqCst), 13);
}

// --- #[resilient] with classification hooks ------------------------------------------------

static RESETS: AtomicU32 = AtomicU32::new(0);

// The caller says which classes to retry: a reset is retried although not declared idempotent.
#[resilient(max_attempts = 3, base_delay = "1ms", retry_exceptions = ["unreached", "transient"])]
async fn reset_twice() -> Result<&'static str, DbError> {
    if RESETS.fetch_add(1, Ordering::SeqCst) < 2 {
        return Err(DbError::ConnectionReset);
    }
    Ok("done")
}

#[tokio::test(start_paused = true)]
async fn retry_exceptions_lists_the_classes_to_retry() {
    assert_eq!(reset_twice().await.ok(), Some("done"));
    assert_eq!(RESETS.load(Ordering::SeqCst), 3);
}

/// An error type with no class: hooks given as paths replace classification entirely.
#[derive(Debug, PartialEq)]
struct Plain(&'static str);

fn busy(error: &Plain) -> bool {
    error.0 == "busy"
}

fn never(_: &Plain) -> bool {
    false
}

fn slow_answer(status: &u16) -> bool {
    *status == 503
}

static PLAIN_CALLS: AtomicU32 = AtomicU32::new(0);

#[resilient(
    preset = "database",
    base_delay = "1ms",
    max_delay = "1ms",
    retry_if = busy,
    failure_if = never,
    retry_on_result = slow_answer
)]
async fn plain(error: &'static str) -> Result<u16, Plain> {
    let n = PLAIN_CALLS.fetch_add(1, Ordering::SeqCst);
    match error {
        "" if n % 3 == 2 => Ok(200),
        "" => Ok(503),
        other => Err(Plain(other)),
    }
}

#[tokio::test(start_paused = true)]
async fn hook_paths_classify_an_error_type_without_a_class() {
    assert_eq!(plain("").await, Ok(200)); // two 503s retried by retry_on_result
    assert_eq!(PLAIN_CALLS.load(Ordering::SeqCst), 3);
    let err = plain("bad request").await.unwrap_err();
    assert_eq!(err.into_operation_error(), Some(Plain("bad request")));
    assert_eq!(PLAIN_CALLS.load(Ordering::SeqCst), 4, "retry_if said no");
    let _ = plain("busy").await;
    assert_eq!(PLAIN_CALLS.load(Ordering::SeqCst), 7, "busy: 3 attempts");
    // failure_if = never: five failing calls leave the database preset's breaker closed.
    for _ in 0..5 {
        let _ = plain("busy").await;
    }
    let after = plain("").await;
    assert!(after.is_ok(), "the breaker stayed closed: {after:?}");
}
