//! # `#[resilient]`: a function whose body runs through a Palisade pipeline
//!
//! Put `#[resilient(...)]` on a function that returns `Result<T, E>`, and every call runs its
//! body through a pipeline: a time limit on each attempt, retry with exponential backoff and
//! jitter, and a circuit breaker that stops calling a dependency that keeps failing. The
//! arguments name a preset — the numbers for one kind of dependency — and override any of
//! them; every argument is a literal, checked when the function compiles. Use the attribute
//! through palisade's re-export, `palisade::resilient` (feature `macros`, on by default).
//!
//! ```
//! use palisade::resilient;
//!
//! #[derive(Debug)]
//! enum DbError {
//!     Unavailable,
//! }
//!
//! // What the error says about the database: retried? counted by the breaker?
//! impl palisade::classify::Classify for DbError {
//!     fn class(&self) -> palisade::classify::ErrorClass {
//!         match self {
//!             DbError::Unavailable => palisade::classify::ErrorClass::Unreached,
//!         }
//!     }
//! }
//!
//! #[resilient(preset = "database", max_attempts = 5, timeout = "250ms")]
//! async fn get_user(id: u64) -> Result<String, DbError> {
//!     if id == 0 {
//!         return Err(DbError::Unavailable); // ends this attempt; retry decides what next
//!     }
//!     Ok(format!("user {id}")) // your query here; `?` converts into DbError as before
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! // Callers see the policies' decisions as well as your error:
//! match get_user(7).await {
//!     Ok(user) => assert_eq!(user, "user 7"),
//!     Err(palisade::Error::Operation(e)) => println!("the query failed: {e:?}"),
//!     Err(palisade::Error::CircuitOpen { retry_after, .. }) => {
//!         println!("the database is down; try again in {retry_after:?}")
//!     }
//!     Err(e) => println!("gave up: {e:?}"), // RetriesExhausted, Timeout, ...
//! }
//! # }
//! ```
//!
//! Every key, its values and its default are listed on [`resilient`], with an example for
//! each common case. This page covers what the attribute does to the function.
//!
//! # Which errors are retried and counted
//!
//! With a preset, or a retry or breaker setting, the pipeline asks the error type what each
//! error means, through `palisade::classify::Classify`: *unreached* (the dependency never
//! acted: always retried), *transient* (may have reached it: retried only with
//! `idempotent = true`), *failure* (counted by the breaker, not retried) or *answer* (not
//! found, conflict: neither retried nor counted). The error type must implement it — a
//! compile error says so otherwise — because no default is right for every error: retrying a
//! unique violation, or opening the breaker on a missing row, is what this prevents.
//! `std::io::Error` implements it by kind. A function with timeouts only does not ask.
//!
//! # The return type changes
//!
//! The function is declared returning `Result<T, E>`; the attribute makes it return
//! `Result<T, palisade::Error<E>>`, so callers can tell *your* error
//! (`Error::Operation(e)`) from a policy's decision (circuit open, timeout, retries
//! exhausted). Inside, the body keeps its own type: it still produces `Result<T, E>`, `?`
//! still converts into `E`, and `return Err(e)` still type-checks — it ends the attempt (and
//! retry decides whether to make another), just as it ended the function before.
//!
//! ```
//! # use palisade::resilient;
//! #[derive(Debug, PartialEq)]
//! enum ApiError {
//!     Invalid,
//!     Parse(std::num::ParseIntError),
//! }
//! # impl palisade::classify::Classify for ApiError { fn class(&self) -> palisade::classify::ErrorClass { palisade::classify::ErrorClass::Answer } }
//! impl From<std::num::ParseIntError> for ApiError {
//!     fn from(e: std::num::ParseIntError) -> Self {
//!         ApiError::Parse(e)
//!     }
//! }
//!
//! #[resilient(preset = "api", max_attempts = 1)]
//! fn charge(cents: &str) -> Result<u64, ApiError> {      // as written
//!     let cents: u64 = cents.parse()?;                    // `?` into ApiError
//!     if cents == 0 {
//!         return Err(ApiError::Invalid);                  // ends this attempt with ApiError
//!     }
//!     Ok(cents)
//! }
//!
//! // What callers see: fn charge(cents: &str) -> Result<u64, palisade::Error<ApiError>>
//! assert_eq!(charge("250"), Ok(250));
//! assert_eq!(charge("0").unwrap_err().into_operation_error(), Some(ApiError::Invalid));
//! ```
//!
//! The return type must be written `Result<T, E>` (also `std::result::Result<T, E>` or
//! `core::result::Result<T, E>`): a one-parameter alias such as `anyhow::Result<T>` or
//! `io::Result<T>` hides the `E` the attribute wraps, so write `Result<T, anyhow::Error>`.
//! `T` may contain `impl Trait`; `E` must be named. `E` must implement `Debug` (events carry
//! it).
//!
//! # The body is an attempt: it runs again on retry
//!
//! The body becomes a closure the pipeline calls once per attempt (`FnMut`). It *borrows* the
//! function's arguments, so it can use them on every attempt:
//!
//! - use arguments by reference (`&name`, `name.as_str()`, `id` for `Copy` types); a body that
//!   moves an argument out (passes a `String` by value, calls `into_*`) does not compile,
//!   because the second attempt would have nothing left: clone it inside the body instead;
//! - in an `async fn`, the body cannot mutate an argument across attempts (each attempt's
//!   future borrows it); use a `Cell`, an atomic or a mutex. A blocking body may mutate them,
//!   and the changes persist from one attempt to the next;
//! - `&self`, `&mut self` (blocking), generics, lifetimes, `where` clauses, `impl Trait`
//!   arguments, visibility and the function's other attributes are kept as written; `async
//!   fn` in impl blocks and traits' default methods work.
//!
//! Everything in the body is retried, side effects included: put only the call that may
//! fail (and is safe to repeat) inside a `#[resilient]` function.
//!
//! # What it expands to
//!
//! ```text
//! #[resilient(preset = "database", max_attempts = 5, timeout = "250ms")]
//! async fn get_user(id: u64) -> Result<User, DbError> { query(id).await }
//!
//! // becomes
//! async fn get_user(id: u64) -> Result<User, ::palisade::Error<DbError>> {
//!     static __PALISADE_PIPELINE: ::std::sync::OnceLock<::palisade::pipeline::Pipeline> =
//!         ::std::sync::OnceLock::new();
//!     let pipeline = __PALISADE_PIPELINE.get_or_init(|| match ::palisade::presets::Preset::Database
//!         .pipeline()
//!         .name("get_user")
//!         .timeout(::std::time::Duration::from_nanos(250000000u64))
//!         .max_attempts(5u32)
//!         .build()
//!     {
//!         Ok(pipeline) => pipeline,
//!         Err(error) => unreachable!("palisade: the pipeline of #[resilient] fn `get_user` did not build ..."),
//!     });
//!     pipeline
//!         .call(|| async {
//!             let attempt: Result<User, DbError> = async { query(id).await }.await;
//!             attempt
//!         })
//!         .await
//! }
//! ```
//!
//! A blocking function calls `pipeline.call_blocking(|| -> Result<T, E> { body })` instead.
//! Both types keep the `Result` path as written (an imported alias stays in use).
//! `Pipeline::call` uses tokio's timer, so an `async fn` needs palisade's `tokio` feature (on
//! by default). The locals `pipeline` and `attempt` are hygienic: the body cannot see them,
//! and its own variables of the same names are untouched.
//!
//! The other arguments add to the chain: `exponential_base = 1.5` becomes
//! `.retry(|retry| retry.exponential_base(1.5f64))`, `jitter = false` becomes
//! `.retry(|retry| retry.jitter(::palisade::retry::Jitter::None))`, and a policy left out
//! starts the chain from `Preset::Api.pipeline_without(&[::palisade::presets::Part::Retry])`
//! instead of `Preset::Api.pipeline()`. Without a preset the chain starts from
//! `Pipeline::builder()`, which has no policy until a setting adds one.
//!
//! The pipeline is built on the first call and shared by every later one (and by every
//! instantiation of a generic function, and every receiver of a method): one circuit
//! breaker per decorated function, so its failures are counted together whichever caller
//! saw them.
//!
//! # Why `build()` cannot fail, and the one `unreachable!`
//!
//! Palisade's `build()` validates a pipeline and returns a `ConfigError`; the function's error
//! type is yours, so there is nowhere to put that error at run time. Instead every rule that
//! the attribute's values can break is checked when the function compiles: durations are
//! greater than zero and fit `Duration::from_nanos`, counts are at least 1 and fit a `u32`,
//! `exponential_base` is a finite number greater than 1, and `max_delay` is at least
//! `base_delay` — in the attribute when both are given (or against retry's defaults without
//! a preset), and in a `const` evaluated against `Preset::settings()` when one is given with
//! a preset, so `#[resilient(preset = "cache", base_delay = "2s")]` (the cache preset caps
//! delays at 1 s) is a compile error at `"2s"`. The `Err` arm is therefore unreachable for
//! every input the attribute accepts; it is an `unreachable!` naming the function and the
//! `ConfigError`, and would only fire if palisade added a validation rule this crate does not
//! mirror — a bug its tests catch.
//!
//! # Errors the attribute reports
//!
//! Each error points at the token to change and says what to write instead; all the
//! mistakes of one attribute are reported in one compile:
//!
//! - an unknown argument, with the closest known one (`max_attempt` → `max_attempts`,
//!   `max_retries` → `max_attempts`), an argument given twice (or with its alias, such as
//!   `retry_if` with `retry_exceptions`);
//! - an unknown preset, listing the known ones;
//! - a value of the wrong form, zero, negative, too large, unparseable, or out of range
//!   (`exponential_base = 1.0`), and a constant or expression where a literal is needed;
//! - arguments that contradict each other or would do nothing: a setting of a policy that
//!   `enable_* = false` leaves out (naming both keys), `idempotent = true` without retry or
//!   a per-attempt timeout, `backend` without a circuit breaker, `enable_* = true` without a
//!   preset and without a setting of that policy, delays out of order, and an attribute
//!   whose pipeline would have no policy at all;
//! - a return type that is not a spelled-out `Result<T, E>`, and use on something other
//!   than a function with a body — a struct, an impl block, a trait's method declaration, a
//!   `const fn` or an `extern` function.
//!
//! On an error the function is left as written, so its callers still resolve and only the
//! attribute's mistake is reported.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod args;
mod duration;
mod expand;
mod pipeline;

use proc_macro::TokenStream;

/// Runs the function's body through a Palisade pipeline: a preset's timeout, retry and
/// circuit breaker, with the settings you give. The function must return `Result<T, E>`;
/// callers get `Result<T, palisade::Error<E>>` (see the [crate documentation](crate) for
/// the return type, the body and the expansion).
///
/// ```
/// use palisade::resilient;
/// # #[derive(Debug)] struct DbError;
/// # impl palisade::classify::Classify for DbError { fn class(&self) -> palisade::classify::ErrorClass { palisade::classify::ErrorClass::Transient } }
///
/// #[resilient(preset = "database", max_attempts = 5, timeout = "250ms")]
/// async fn get_user(id: u64) -> Result<String, DbError> {
///     Ok(format!("user {id}"))
/// }
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() { assert_eq!(get_user(7).await.unwrap(), "user 7"); }
/// ```
///
/// # Presets
///
/// A preset is a pipeline with sane numbers for one kind of dependency:
///
/// - a **timeout on each attempt**: an attempt that runs longer ends with
///   `Error::Timeout` and counts as a failure;
/// - **retry** of failed attempts, up to `max_attempts` in all (the first included), waiting
///   between them with **exponential backoff** — the first wait is `base_delay`, each next one
///   twice the previous, none longer than `max_delay` — and **full jitter**: each wait is
///   drawn uniformly between zero and its scheduled length, so callers that failed together
///   do not retry together;
/// - a **circuit breaker**: after `failure_threshold` consecutive failed attempts it opens
///   and refuses calls at once (`Error::CircuitOpen`, without running the body) for
///   `recovery_timeout`, then lets trial calls through and closes again if they succeed.
///
/// | preset | timeout per attempt | max attempts | base delay | max delay | failure threshold | recovery timeout |
/// |---|---|---|---|---|---|---|
/// | `"database"` | 30 s | 3 | 0.5 s | 10 s | 3 | 30 s |
/// | `"api"` | 60 s | 5 | 1 s | 30 s | 5 | 60 s |
/// | `"cache"` | 5 s | 2 | 0.1 s | 1 s | 3 | 15 s |
/// | `"file"` | 10 s | 3 | 0.2 s | 5 s | 3 | 30 s |
/// | `"ml"` | 300 s | 2 | 5 s | 30 s | 2 | 120 s |
/// | `"kafka"` | 30 s | 5 | 1 s | 30 s | 10 | 30 s |
/// | `"vault"` | 10 s | 3 | 2 s | 20 s | 3 | 90 s |
/// | `"network"` | 10 s | 3 | 0.5 s | 5 s | 3 | 45 s |
/// | `"default"` | 5 s | 3 | 1 s | 30 s | 5 | 60 s |
///
/// These are palisade's [`Preset`](https://docs.rs/palisade/latest/palisade/presets/enum.Preset.html)s:
/// `preset = "database"` starts from `Preset::Database.pipeline()`. `operation_type =
/// "custom"` is the `default` preset: you write the numbers you care about, and the
/// others are the default preset's.
///
/// Without `preset` (or `operation_type`), nothing is assumed: the pipeline has only the
/// policies your settings configure. `timeout` adds a per-attempt timeout; any retry setting
/// (`max_attempts`, `base_delay`, `max_delay`, `exponential_base`, `jitter`) adds retry,
/// whose other numbers are palisade's retry defaults (3 attempts, exponential backoff from
/// 1 s, doubling, capped at 30 s, full jitter); `failure_threshold` or `recovery_timeout`
/// adds a circuit breaker (palisade's defaults: 5 consecutive failures, 30 s open).
///
/// # Keys
///
/// Every value is a literal. A key that is not given keeps the preset's value (or, without a
/// preset, leaves its policy out); the aliases in parentheses spell the keys the way Python
/// resilience decorators do, so such a decorator ports by changing its syntax.
///
/// | key | value | default | what it sets |
/// |---|---|---|---|
/// | `preset` (`operation_type`) | a preset's name from the table, or `"custom"` (the `default` preset) | none | the policies and numbers to start from |
/// | `name` (`operation_name`) | a non-empty string | the function's name | the name events, errors and the breaker carry |
/// | `timeout` (`timeout_seconds`) | a duration (`timeout_seconds`: a number of seconds) | the preset's | how long one attempt may take |
/// | `total_timeout` | a duration | none | how long the whole call may take, every attempt and wait included |
/// | `max_attempts` | an integer ≥ 1 | the preset's | attempts per call, the first included: `1` means no retry |
/// | `base_delay` | a duration | the preset's | the wait before the first retry |
/// | `max_delay` | a duration, at least `base_delay` | the preset's | the longest wait |
/// | `exponential_base` | a number > 1: `1.5`, `3` | `2.0` | how much each wait grows: the n-th retry waits `base_delay × exponential_base^(n-1)`, capped at `max_delay` |
/// | `jitter` | `true` or `false` | `true` | `true`: each wait is uniform in [0, its scheduled length]; `false`: exactly the schedule |
/// | `failure_threshold` | an integer ≥ 1 | the preset's | consecutive failed attempts that open the breaker |
/// | `recovery_timeout` | a duration | the preset's | how long the breaker stays open before a trial call |
/// | `enable_timeout` | `true` or `false` | `true` | `false` leaves the preset's per-attempt timeout out |
/// | `enable_retry` | `true` or `false` | `true` | `false` leaves the preset's retry out: one attempt per call |
/// | `enable_circuit_breaker` | `true` or `false` | `true` | `false` leaves the preset's breaker out |
/// | `idempotent` | `true` or `false` | `false` | `true` lets retry repeat an attempt that timed out, or failed with a *transient* error (it may have done its work: say `true` only when running it twice is safe); *unreached* errors are retried either way |
/// | `retry_if` | the path of a `fn(&E) -> bool` | by class | which errors retry repeats (replaces the classification; ignores `idempotent`) |
/// | `retry_exceptions` | a path, as `retry_if`, or a list of classes: `["unreached", "transient"]` | by class | which errors retry repeats, by class (whatever `idempotent` says) |
/// | `failure_if` | the path of a `fn(&E) -> bool` | by class | which errors the breaker counts as failures (the others count as successes) |
/// | `ignore_if` | the path of a `fn(&E) -> bool` | none | errors the breaker counts as nothing at all |
/// | `retry_on_result` | the path of a `fn(&T) -> bool` | none | `Ok` values retry repeats too (a 503 returned as `Ok`) |
/// | `failure_on_result` | the path of a `fn(&T) -> bool` | none | `Ok` values the breaker counts as failures |
/// | `backend` | the path of a function returning a `palisade::backend::Backend` | in-process | where the breaker keeps its state (fleet-wide, say); the function is called once |
///
/// **Durations** are strings with units — `"250ms"`, `"30s"`, `"1.5s"`, `"1m30s"`,
/// `"1m 30s"`, `"2 hours"`, `"1d"` — or a number of seconds with a decimal point: `15.0`,
/// `0.5`. Units are `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`, `d` (24 h), `w` (7 d) and their
/// spelled-out forms, largest first, each once, a fraction only on the last; months and
/// years are refused. This is [jiff]'s "friendly" format, the grammar palisade's
/// configuration files and environment variables use too. A bare integer (`base_delay = 2`)
/// or a string without a unit (`"2"`) is refused as ambiguous — write `"2s"` or `2.0` —
/// except for `timeout_seconds`, whose name says the unit: `timeout_seconds = 30` is 30 s.
/// A duration is greater than zero and at most `u64::MAX` nanoseconds (about 584 years).
///
/// [jiff]: https://docs.rs/jiff/1/jiff/fmt/friendly/index.html
///
/// **Leaving a policy out.** `enable_timeout`, `enable_retry` and `enable_circuit_breaker`
/// keep (`true`, the default) or leave out (`false`) one of the preset's policies; the others
/// keep the preset's numbers. A policy left out cannot also be configured: `enable_retry =
/// false` with `max_attempts` (or `base_delay`, `max_delay`, `exponential_base`, `jitter`,
/// or `idempotent = true`), `enable_timeout = false` with `timeout`, and
/// `enable_circuit_breaker = false` with `failure_threshold`, `recovery_timeout` or
/// `backend` are compile errors naming both keys. `total_timeout` is not the per-attempt
/// timeout and stays available with `enable_timeout = false`. Without a preset, `enable_* =
/// false` states what is already so, and `enable_* = true` needs a setting of that policy
/// (there is nothing else to keep). A pipeline left with no policy at all is refused.
///
/// **Classification.** With a preset, or any retry or breaker setting, errors are retried
/// and counted by their class (`E: palisade::classify::Classify`; see the crate docs): an
/// *unreached* error is always retried, a *transient* one only with `idempotent = true`, a
/// *failure* is counted but not retried, an *answer* is neither. The hooks replace or refine
/// that: `retry_if` and `failure_if` replace it (give both, and `E` need not implement
/// `Classify`), `ignore_if`, `retry_on_result` and `failure_on_result` add to it. A retry hook
/// without retry, or a breaker hook without a breaker, is a compile error.
///
/// ```
/// # use palisade::resilient;
/// #[derive(Debug)]
/// struct HttpError { status: u16 }
///
/// fn server_side(e: &HttpError) -> bool { e.status >= 500 }
/// fn throttled(status: &u16) -> bool { *status == 429 }
///
/// #[resilient(preset = "api", retry_if = server_side, failure_if = server_side, retry_on_result = throttled)]
/// async fn get_status() -> Result<u16, HttpError> {
///     Ok(200)
/// }
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() { assert_eq!(get_status().await.unwrap(), 200); }
/// ```
///
/// # Examples
///
/// A preset as it is, on a blocking function:
///
/// ```
/// # use palisade::resilient;
/// # #[derive(Debug)] struct CacheError;
/// # impl palisade::classify::Classify for CacheError { fn class(&self) -> palisade::classify::ErrorClass { palisade::classify::ErrorClass::Transient } }
/// #[resilient(preset = "cache")]
/// fn cached(key: &str) -> Result<usize, CacheError> {
///     Ok(key.len())
/// }
///
/// assert_eq!(cached("abc").unwrap(), 3);
/// ```
///
/// Your own numbers on top of the default preset, with every key a Python `@resilient`
/// decorator takes (here all of them, each at a non-default value or spelled out):
///
/// ```
/// # use palisade::resilient;
/// # #[derive(Debug)] struct CriticalError;
/// # impl palisade::classify::Classify for CriticalError { fn class(&self) -> palisade::classify::ErrorClass { palisade::classify::ErrorClass::Transient } }
/// # fn perform_critical_operation(data: &[u8]) -> Result<usize, CriticalError> { Ok(data.len()) }
/// #[resilient(
///     operation_type = "custom",
///     operation_name = "critical_operation",
///     timeout_seconds = 15.0,
///     max_attempts = 5,
///     base_delay = 2.0,
///     max_delay = 30.0,
///     exponential_base = 1.5,
///     jitter = true,
///     failure_threshold = 3,
///     recovery_timeout = 45.0,
///     enable_timeout = true,
///     enable_retry = true,
///     enable_circuit_breaker = true,
/// )]
/// fn critical_operation(data: &[u8]) -> Result<usize, CriticalError> {
///     perform_critical_operation(data)
/// }
///
/// assert_eq!(critical_operation(b"abc").unwrap(), 3);
/// ```
///
/// A call that must not be repeated — a payment — keeps the preset's timeout and breaker
/// but not its retry:
///
/// ```
/// # use palisade::resilient;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// #[derive(Debug, PartialEq)]
/// struct Declined;
/// # impl palisade::classify::Classify for Declined { fn class(&self) -> palisade::classify::ErrorClass { palisade::classify::ErrorClass::Answer } }
/// static ATTEMPTS: AtomicU32 = AtomicU32::new(0);
///
/// #[resilient(preset = "api", enable_retry = false)]
/// async fn charge(cents: u64) -> Result<u64, Declined> {
///     ATTEMPTS.fetch_add(1, Ordering::SeqCst);
///     Err(Declined)
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let error = charge(250).await.unwrap_err();
/// assert!(matches!(error, palisade::Error::Operation(Declined))); // not RetriesExhausted
/// assert_eq!(ATTEMPTS.load(Ordering::SeqCst), 1);
/// # }
/// ```
///
/// Retry only, with exact delays, and no preset:
///
/// ```
/// # use palisade::resilient;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// #[derive(Debug)]
/// struct Busy;
/// # impl palisade::classify::Classify for Busy { fn class(&self) -> palisade::classify::ErrorClass { palisade::classify::ErrorClass::Unreached } }
/// static ATTEMPTS: AtomicU32 = AtomicU32::new(0);
///
/// #[resilient(max_attempts = 3, base_delay = "100ms", jitter = false)]
/// async fn reserve() -> Result<&'static str, Busy> {
///     if ATTEMPTS.fetch_add(1, Ordering::SeqCst) < 2 {
///         return Err(Busy); // the first two attempts fail; waits: 100 ms, then 200 ms
///     }
///     Ok("reserved")
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let start = tokio::time::Instant::now();
/// assert_eq!(reserve().await.unwrap(), "reserved");
/// assert_eq!(start.elapsed(), std::time::Duration::from_millis(300));
/// # }
/// ```
///
/// A read that is safe to repeat, whose attempts may time out, bounded as a whole:
///
/// ```
/// # use palisade::resilient;
/// # #[derive(Debug)] struct NetError;
/// # impl palisade::classify::Classify for NetError { fn class(&self) -> palisade::classify::ErrorClass { palisade::classify::ErrorClass::Transient } }
/// #[resilient(preset = "network", timeout = "2s", idempotent = true, total_timeout = "10s")]
/// async fn resolve(host: &str) -> Result<String, NetError> {
///     Ok(format!("{host} is 192.0.2.7"))
/// }
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() { assert!(resolve("db").await.is_ok()); }
/// ```
#[proc_macro_attribute]
pub fn resilient(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::resilient(attr.into(), item.into()).into()
}
