//! What `#[resilient]` guarantees, stated as tests: the expansion compiles for the function
//! shapes people write, runs the body once per attempt, keeps `?` and `return` in the body's
//! own error type, and gives callers `palisade::Error<E>`.
//!
//! Needs palisade's `pipeline` and `presets` modules.

use std::cell::Cell;
use std::fmt::Debug;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use palisade_macros::resilient;

#[derive(Debug, Clone, PartialEq)]
enum DbError {
    Unavailable,
    NotFound(u64),
    Io(std::io::ErrorKind),
}

/// Unavailable: the database was not reached (retried); not found: an answer; an I/O error by
/// its kind.
impl palisade::classify::Classify for DbError {
    fn class(&self) -> palisade::classify::ErrorClass {
        use palisade::classify::ErrorClass;
        match self {
            DbError::Unavailable => ErrorClass::Unreached,
            DbError::NotFound(_) => ErrorClass::Answer,
            DbError::Io(kind) => std::io::Error::from(*kind).class(),
        }
    }
}

impl From<std::io::Error> for DbError {
    fn from(error: std::io::Error) -> Self {
        DbError::Io(error.kind())
    }
}

// --- async functions ---------------------------------------------------------------------

static GET_USER_CALLS: AtomicU32 = AtomicU32::new(0);

#[resilient(
    preset = "database",
    name = "get_user",
    max_attempts = 5,
    timeout = "250ms"
)]
async fn get_user(id: u64) -> Result<String, DbError> {
    GET_USER_CALLS.fetch_add(1, Ordering::SeqCst);
    Ok(format!("user {id}"))
}

#[tokio::test(start_paused = true)]
async fn an_async_fn_returns_its_value_through_the_pipeline() {
    let user: Result<String, palisade::Error<DbError>> = get_user(7).await;
    assert_eq!(user, Ok("user 7".to_string()));
    assert_eq!(GET_USER_CALLS.load(Ordering::SeqCst), 1);
}

static ALWAYS_DOWN_CALLS: AtomicU32 = AtomicU32::new(0);

// failure_threshold above max_attempts: the breaker stays closed, so every attempt runs.
#[resilient(preset = "api", max_attempts = 4, failure_threshold = 10)]
async fn always_down() -> Result<(), DbError> {
    ALWAYS_DOWN_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(DbError::Unavailable)
}

#[tokio::test(start_paused = true)]
async fn a_persistent_failure_runs_the_body_max_attempts_times() {
    let error = always_down().await.unwrap_err();
    assert_eq!(ALWAYS_DOWN_CALLS.load(Ordering::SeqCst), 4);
    match error {
        palisade::Error::RetriesExhausted {
            attempts,
            last_error,
            ..
        } => {
            assert_eq!(attempts, 4);
            assert_eq!(
                last_error.into_operation_error(),
                Some(DbError::Unavailable)
            );
        }
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
}

static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

#[resilient(preset = "database")]
async fn flaky(id: u64) -> Result<u64, DbError> {
    if FLAKY_CALLS.fetch_add(1, Ordering::SeqCst) < 2 {
        return Err(DbError::Unavailable); // early return: ends this attempt
    }
    Ok(id * 2)
}

#[tokio::test(start_paused = true)]
async fn a_flaky_call_succeeds_on_a_later_attempt() {
    assert_eq!(flaky(21).await, Ok(42));
    assert_eq!(FLAKY_CALLS.load(Ordering::SeqCst), 3);
}

fn read_config(path: &str) -> Result<String, std::io::Error> {
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        path.to_string(),
    ))
}

#[resilient(preset = "file", max_attempts = 1)]
async fn load(path: &str) -> Result<String, DbError> {
    let text = read_config(path)?; // io::Error into DbError, as in the plain function
    Ok(text)
}

#[tokio::test(start_paused = true)]
async fn question_mark_converts_into_the_body_error_type() {
    let error = load("app.toml").await.unwrap_err();
    let operation = match error {
        palisade::Error::RetriesExhausted { last_error, .. } => *last_error,
        other => other,
    };
    assert_eq!(
        operation.into_operation_error(),
        Some(DbError::Io(std::io::ErrorKind::NotFound))
    );
}

static SLOW_CALLS: AtomicU32 = AtomicU32::new(0);

#[resilient(
    timeout = "50ms",
    max_attempts = 2,
    base_delay = "10ms",
    idempotent = true
)]
async fn slow() -> Result<(), DbError> {
    SLOW_CALLS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(())
}

static SLOW_WRITE_CALLS: AtomicU32 = AtomicU32::new(0);

#[resilient(timeout = "50ms", max_attempts = 2, base_delay = "10ms")]
async fn slow_write() -> Result<(), DbError> {
    SLOW_WRITE_CALLS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_attempt_runs_once_unless_the_function_is_idempotent() {
    let error = slow_write().await.unwrap_err();
    assert_eq!(SLOW_WRITE_CALLS.load(Ordering::SeqCst), 1);
    assert!(
        matches!(error, palisade::Error::Timeout { limit, .. } if limit == Duration::from_millis(50)),
        "{error:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn each_attempt_is_bounded_by_the_timeout() {
    let error = slow().await.unwrap_err();
    assert_eq!(SLOW_CALLS.load(Ordering::SeqCst), 2);
    let palisade::Error::RetriesExhausted { last_error, .. } = error else {
        panic!("expected RetriesExhausted, got {error:?}");
    };
    assert!(
        matches!(*last_error, palisade::Error::Timeout { limit, .. } if limit == Duration::from_millis(50)),
        "{last_error:?}"
    );
}

// Duration strings as files and environment variables take them (one grammar: jiff's
// "friendly" format): each sets exactly that per-attempt timeout.
macro_rules! timeouts {
    ($($name:ident = $text:literal => $expected:expr),* $(,)?) => {
        $(
            #[resilient(timeout = $text)]
            async fn $name() -> Result<(), DbError> {
                tokio::time::sleep(Duration::from_secs(30 * 86_400)).await;
                Ok(())
            }
        )*

        #[tokio::test(start_paused = true)]
        async fn duration_strings_set_that_timeout() {
            $(
                let start = tokio::time::Instant::now();
                let error = $name().await.unwrap_err();
                let expected: Duration = $expected;
                assert!(
                    matches!(error, palisade::Error::Timeout { limit, .. } if limit == expected),
                    "{}: {error:?}",
                    $text
                );
                // tokio's timer counts whole milliseconds.
                let elapsed = start.elapsed();
                assert!(
                    elapsed >= expected && elapsed <= expected + Duration::from_millis(1),
                    "{}: {elapsed:?}",
                    $text
                );
            )*
        }
    };
}

timeouts!(
    minute_and_a_half_spaced = "1m 30s" => Duration::from_secs(90),
    minute_and_a_half = "1m30s" => Duration::from_secs(90),
    one_and_a_half_seconds = "1.5s" => Duration::from_millis(1500),
    spelled_out = "1 minute, 30 seconds" => Duration::from_secs(90),
    hours_with_a_fraction = "1.5 hours" => Duration::from_secs(5400),
    a_day = "1d" => Duration::from_secs(86_400),
    microseconds = "250µs" => Duration::from_micros(250),
);

static BREAKER_CALLS: AtomicU32 = AtomicU32::new(0);

#[resilient(failure_threshold = 2, recovery_timeout = "1h")]
async fn tripping() -> Result<(), DbError> {
    BREAKER_CALLS.fetch_add(1, Ordering::SeqCst);
    Err(DbError::Unavailable)
}

#[tokio::test(start_paused = true)]
async fn calls_share_one_breaker_per_function() {
    assert!(matches!(
        tripping().await,
        Err(palisade::Error::Operation(_))
    ));
    assert!(matches!(
        tripping().await,
        Err(palisade::Error::Operation(_))
    ));
    // Two consecutive failures opened the breaker: the body no longer runs.
    assert!(matches!(
        tripping().await,
        Err(palisade::Error::CircuitOpen { .. })
    ));
    assert_eq!(BREAKER_CALLS.load(Ordering::SeqCst), 2);
}

#[resilient(preset = "database")]
async fn spawned(id: &u64) -> Result<u64, DbError> {
    Ok(*id)
}

#[tokio::test(start_paused = true)]
async fn an_async_fn_future_is_send() {
    let handle = tokio::spawn(async { spawned(&1).await });
    assert_eq!(handle.await.unwrap(), Ok(1));
}

// --- blocking functions ------------------------------------------------------------------

static SYNC_CALLS: AtomicU32 = AtomicU32::new(0);

#[resilient(preset = "cache", base_delay = "1ms", max_delay = "2ms")]
fn cached(key: &str) -> Result<String, DbError> {
    if SYNC_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(DbError::Unavailable);
    }
    Ok(key.to_uppercase())
}

#[test]
fn a_blocking_fn_runs_through_call_blocking() {
    assert_eq!(cached("k"), Ok("K".to_string()));
    assert_eq!(SYNC_CALLS.load(Ordering::SeqCst), 2);
}

#[resilient(max_attempts = 3, base_delay = "1ms")]
fn countdown(mut left: u32) -> Result<u32, DbError> {
    // A blocking body may mutate its arguments; the change carries into the next attempt.
    left -= 1;
    if left > 0 {
        return Err(DbError::Unavailable);
    }
    Ok(left)
}

#[test]
fn a_blocking_body_keeps_its_mutations_across_attempts() {
    assert_eq!(countdown(3), Ok(0));
}

// A Python `@resilient(...)` decorator's keys, every one, written as Python writes them.
#[resilient(
    operation_type = "custom",
    operation_name = "critical_operation",
    timeout_seconds = 15.0,
    max_attempts = 5,
    base_delay = 0.001,
    max_delay = 0.002,
    exponential_base = 1.5,
    jitter = true,
    failure_threshold = 3,
    recovery_timeout = 45.0,
    enable_timeout = true,
    enable_retry = true,
    enable_circuit_breaker = true
)]
fn critical_operation(data: &[u8]) -> Result<usize, DbError> {
    Ok(data.len())
}

#[test]
fn the_python_decorators_spellings_work() {
    assert_eq!(critical_operation(b"abc"), Ok(3));
}

#[resilient(
    preset = "kafka",
    total_timeout = "1m30s",
    max_delay = 2.5,
    base_delay = "1ms"
)]
fn every_override() -> std::result::Result<u8, DbError> {
    Ok(1)
}

#[resilient(operation_type = "ml", timeout_seconds = 600)]
fn integer_seconds() -> ::core::result::Result<u8, DbError> {
    Ok(2)
}

#[test]
fn overrides_and_result_spellings_build() {
    assert_eq!(every_override(), Ok(1));
    assert_eq!(integer_seconds(), Ok(2));
}

// Without a preset, a lone delay is checked against retry's defaults (base 1 s, cap 30 s)
// at compile time; these sit exactly on the edges, so a change of palisade's defaults makes
// the pipeline fail to build here instead of going unnoticed.
#[resilient(base_delay = "30s")]
fn default_cap_edge() -> Result<(), DbError> {
    Ok(())
}

#[resilient(max_delay = "1s")]
fn default_base_edge() -> Result<(), DbError> {
    Ok(())
}

#[test]
fn lone_delays_at_retrys_default_edges_build() {
    assert_eq!(default_cap_edge(), Ok(()));
    assert_eq!(default_base_edge(), Ok(()));
}

macro_rules! every_preset {
    ($($name:ident = $preset:literal),* $(,)?) => {$(
        #[resilient(preset = $preset)]
        fn $name() -> Result<&'static str, DbError> {
            Ok($preset)
        }
    )*
        #[test]
        fn every_preset_builds() {
            $(assert_eq!($name(), Ok($preset));)*
        }
    };
}

every_preset!(
    database = "database",
    api = "api",
    cache = "cache",
    file = "file",
    ml = "ml",
    kafka = "kafka",
    vault = "vault",
    network = "network",
    default = "default",
    custom = "custom",
);

// --- methods, generics, lifetimes --------------------------------------------------------

struct Repository {
    name: String,
    calls: AtomicU32,
}

impl Repository {
    /// Attributes and docs on the method are kept.
    #[resilient(
        preset = "database",
        max_attempts = 2,
        base_delay = "1ms",
        max_delay = "1ms"
    )]
    #[inline]
    pub fn find(&self, id: u64) -> Result<&str, DbError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            let _ = id;
            return Err(DbError::Unavailable);
        }
        Ok(&self.name)
    }

    #[resilient(preset = "database", max_attempts = 2)]
    pub(crate) async fn find_async(&self, id: u64) -> Result<String, DbError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if id == 0 {
            return Err(DbError::Unavailable);
        }
        Ok(format!("{}:{id}", self.name))
    }

    #[resilient(preset = "cache", max_attempts = 1)]
    fn rename(&mut self, name: &str) -> Result<(), DbError> {
        self.name = name.to_string();
        Ok(())
    }
}

#[test]
fn a_method_with_self_borrows_the_receiver() {
    let repo = Repository {
        name: "users".into(),
        calls: AtomicU32::new(0),
    };
    assert_eq!(repo.find(1), Ok("users"));
    assert_eq!(repo.calls.load(Ordering::SeqCst), 2);
}

#[test]
fn a_method_with_mut_self_can_change_it() {
    let mut repo = Repository {
        name: "users".into(),
        calls: AtomicU32::new(0),
    };
    assert_eq!(repo.rename("accounts"), Ok(()));
    assert_eq!(repo.name, "accounts");
}

#[tokio::test(start_paused = true)]
async fn an_async_method_with_self_works() {
    let repo = Repository {
        name: "users".into(),
        calls: AtomicU32::new(0),
    };
    assert_eq!(repo.find_async(5).await, Ok("users:5".to_string()));
    assert!(repo.find_async(0).await.is_err());
    assert_eq!(repo.calls.load(Ordering::SeqCst), 3);
}

// Timeouts alone: the error type need not be classified (a parse error is not).
#[resilient(timeout = "1s")]
fn parse<T>(text: &str) -> Result<T, T::Err>
where
    T: FromStr,
    T::Err: Debug + 'static,
{
    let value = text.trim().parse::<T>()?;
    Ok(value)
}

#[test]
fn a_generic_fn_with_a_where_clause_works() {
    assert_eq!(parse::<u8>(" 7 "), Ok(7));
    assert!(parse::<u8>("x").is_err());
    assert_eq!(parse::<i64>("-3"), Ok(-3));
}

#[resilient(preset = "network", max_attempts = 1)]
async fn first_word<'a, S>(text: &'a S) -> Result<&'a str, DbError>
where
    S: AsRef<str> + ?Sized,
{
    text.as_ref()
        .split_whitespace()
        .next()
        .ok_or(DbError::NotFound(0))
}

#[tokio::test(start_paused = true)]
async fn lifetimes_and_borrowed_results_work() {
    let text = String::from("hello world");
    assert_eq!(first_word(&text).await, Ok("hello"));
}

#[resilient(preset = "file", max_attempts = 1)]
fn digits(text: impl AsRef<str>) -> Result<impl Iterator<Item = u32>, DbError> {
    let digits: Vec<u32> = text
        .as_ref()
        .chars()
        .filter_map(|c| c.to_digit(10))
        .collect();
    Ok(digits.into_iter())
}

#[test]
fn impl_trait_arguments_and_results_work() {
    assert_eq!(digits("a1b2").unwrap().sum::<u32>(), 3);
}

#[resilient(
    preset = "cache",
    max_attempts = 2,
    base_delay = "1ms",
    max_delay = "1ms"
)]
fn clone_inside(owned: String, tries: &Cell<u32>) -> Result<Vec<String>, DbError> {
    tries.set(tries.get() + 1);
    // `owned` is borrowed by every attempt: clone what must be moved.
    let moved = vec![owned.clone()];
    if tries.get() < 2 {
        return Err(DbError::Unavailable);
    }
    Ok(moved)
}

#[test]
fn an_owned_argument_is_cloned_inside_the_body() {
    let tries = Cell::new(0);
    assert_eq!(clone_inside("a".into(), &tries), Ok(vec!["a".to_string()]));
    assert_eq!(tries.get(), 2);
}

// --- traits and hygiene -------------------------------------------------------------------

trait Store {
    async fn load(&self, id: u64) -> Result<u64, palisade::Error<DbError>>;

    // A default method with a body takes the attribute too.
    #[resilient(preset = "cache", max_attempts = 1)]
    fn ping(&self) -> Result<&'static str, DbError> {
        Ok("pong")
    }
}

struct MemoryStore;

impl Store for MemoryStore {
    // The trait declares what the expansion returns: `Result<T, palisade::Error<E>>`.
    #[resilient(preset = "database", max_attempts = 1)]
    async fn load(&self, id: u64) -> Result<u64, DbError> {
        Ok(id + 1)
    }
}

#[tokio::test(start_paused = true)]
async fn trait_methods_take_the_attribute() {
    assert_eq!(MemoryStore.load(1).await, Ok(2));
    assert_eq!(MemoryStore.ping(), Ok("pong"));
}

// The expansion's own locals (`pipeline`, `attempt`, `error`) cannot clash with the body's.
#[resilient(preset = "network", max_attempts = 1)]
fn hygiene(pipeline: u8, attempt: u8) -> Result<u8, DbError> {
    let error = pipeline + attempt;
    Ok(error)
}

#[test]
fn the_expansion_does_not_capture_the_bodys_names() {
    assert_eq!(hygiene(1, 2), Ok(3));
}

// An imported two-parameter `Result` alias is kept in the expansion, so its import stays used.
#[deny(unused_imports)]
mod aliased {
    use super::{DbError, resilient};

    mod errors {
        pub(super) type Result<T, E = super::DbError> = std::result::Result<T, E>;
    }
    use errors::Result;

    #[resilient(preset = "vault", max_attempts = 1)]
    pub(super) fn secret() -> Result<&'static str, DbError> {
        Ok("s3cr3t")
    }
}

#[test]
fn an_imported_result_alias_is_kept() {
    assert_eq!(aliased::secret(), Ok("s3cr3t"));
}

// --- compile errors that need palisade's presets -----------------------------------------

#[test]
fn delays_that_do_not_fit_the_preset_are_compile_errors() {
    trybuild::TestCases::new().compile_fail("tests/ui-palisade/*.rs");
}
