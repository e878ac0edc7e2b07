//! # `#[resilient]`: a function whose body runs through a Palisade pipeline
//!
//! The attribute is the Rust form of the reference docs' `@database_resilient(...)` and
//! `@resilient(...)` decorators: name a [preset] (per-attempt timeout, retry with exponential
//! backoff and full jitter, circuit breaker), override any of its numbers, and every call of
//! the function runs its body through that pipeline. Use it through palisade's re-export,
//! `palisade::resilient` (feature `macros`, on by default), whose documentation carries the
//! compiled examples; this crate's examples are `text` because a procedural-macro crate
//! cannot run its own expansion against palisade.
//!
//! [preset]: https://docs.rs/palisade/latest/palisade/presets/
//!
//! ```text
//! use palisade::resilient;
//!
//! #[resilient(preset = "database", max_attempts = 5, timeout = "250ms")]
//! async fn get_user(pool: &Pool, id: u64) -> Result<User, sqlx::Error> {
//!     let user = sqlx::query_as("SELECT * FROM users WHERE id = $1")
//!         .bind(id as i64)
//!         .fetch_one(pool)
//!         .await?;                 // `?` converts into sqlx::Error, as before
//!     Ok(user)
//! }
//!
//! // Callers see the policies' errors too:
//! match get_user(&pool, 7).await {
//!     Ok(user) => println!("{user:?}"),
//!     Err(palisade::Error::Operation(e)) => println!("the query failed: {e}"),
//!     Err(palisade::Error::CircuitOpen { retry_after, .. }) => println!("database down, retry in {retry_after:?}"),
//!     Err(e) => println!("gave up: {e}"),    // RetriesExhausted, Timeout, ...
//! }
//! ```
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
//! ```text
//! #[resilient(preset = "api")]
//! fn charge(client: &Client, cents: u64) -> Result<Receipt, ApiError> {   // as written
//!     if cents == 0 {
//!         return Err(ApiError::Invalid);    // ends this attempt with ApiError
//!     }
//!     let receipt = client.post(cents)?;    // `?` into ApiError
//!     Ok(receipt)
//! }
//! // what callers see:
//! // fn charge(client: &Client, cents: u64) -> Result<Receipt, palisade::Error<ApiError>>
//! ```
//!
//! The return type must be written `Result<T, E>` (also `std::result::Result<T, E>` or
//! `core::result::Result<T, E>`): a one-parameter alias such as `anyhow::Result<T>` or
//! `io::Result<T>` hides the `E` the attribute wraps, so write `Result<T, anyhow::Error>`.
//! `T` may contain `impl Trait`; `E` must be named. `E` must implement `Debug` (events carry
//! it).
//!
//! # Arguments
//!
//! Every value is a literal, checked at compile time; a mistake is a compile error pointing
//! at it, with what to write instead.
//!
//! | argument | value | sets |
//! |---|---|---|
//! | `preset` (or `operation_type`) | `"database"`, `"api"`, `"cache"`, `"file"`, `"ml"`, `"kafka"`, `"vault"`, `"network"`, `"default"`; `"custom"` = none | the starting pipeline: `Preset::Database.pipeline()` |
//! | `name` (or `operation_name`) | a non-empty string; default: the function's name (not its type's: name methods explicitly when two types share a method name) | the name events and errors carry |
//! | `max_attempts` | integer ≥ 1, the first attempt included | retry |
//! | `failure_threshold` | integer ≥ 1 consecutive failures | circuit breaker |
//! | `timeout` (or `timeout_seconds`) | duration | each attempt's time limit |
//! | `total_timeout` | duration | all attempts and backoff sleeps together |
//! | `base_delay`, `max_delay` | duration | retry's first delay and its cap |
//! | `recovery_timeout` | duration | how long the breaker stays open |
//! | `idempotent` | `true` or `false` (default) | whether an attempt that timed out may be repeated: only a body that is safe to run twice should say `true` |
//!
//! A duration is a string with units — `"250ms"`, `"30s"`, `"2m"`, `"1.5s"`, `"1m30s"`,
//! `"1m 30s"`, `"2 hours"`, `"1d"` — or, as the reference docs write it, a float number of
//! seconds: `timeout = 15.0`, `base_delay = 0.5`. Strings are read by [jiff]'s "friendly"
//! format, the same grammar palisade's configuration files and environment variables use:
//! units `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`, `d`, `w` and their spelled-out forms
//! (`secs`, `mins`, `hours`, …), largest first, each once, a fraction only on the last; days
//! and weeks are 24 hours and 7 days, months and years are refused. `timeout_seconds` also
//! takes an integer. A bare integer for a duration (`base_delay = 2`, or the string `"2"`)
//! is refused as ambiguous. Both forms become exact whole nanoseconds (at most `u64::MAX`,
//! about 584 years); zero and negative values are refused.
//!
//! [jiff]: https://docs.rs/jiff/1/jiff/fmt/friendly/index.html
//!
//! Without a preset (omitted, or `operation_type = "custom"` as the reference docs write it)
//! the pipeline starts empty, from `Pipeline::builder()`, and has exactly the policies the
//! settings imply: `max_attempts`, `base_delay`, `max_delay` add retry (palisade's retry
//! defaults for the rest), `failure_threshold` and `recovery_timeout` add a circuit breaker,
//! `timeout` and `total_timeout` add timeouts. An attribute with neither a preset nor a
//! setting would do nothing and is refused.
//!
//! ```text
//! // The reference docs' custom example, as written there:
//! #[resilient(
//!     operation_type = "custom",
//!     operation_name = "critical_operation",
//!     timeout_seconds = 15.0,
//!     max_attempts = 5,
//!     base_delay = 2.0,
//!     failure_threshold = 3,
//!     recovery_timeout = 45.0,
//! )]
//! fn critical_operation(data: &Data) -> Result<Outcome, CriticalError> { perform(data) }
//! ```
//!
//! The reference docs' `exponential_base`, `jitter`, `retry_exceptions` and `enable_*`
//! settings are refused with a pointer to the pipeline builder: they need code (a predicate
//! over your error type) or leave a preset's policy out, which a pipeline built by hand does
//! plainly.
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
//! The pipeline is built on the first call and shared by every later one (and by every
//! instantiation of a generic function, and every receiver of a method): one circuit
//! breaker per decorated function, as the reference docs' decorators keep one per
//! operation.
//!
//! # Why `build()` cannot fail, and the one `unreachable!`
//!
//! Palisade's `build()` validates a pipeline and returns a `ConfigError`; the function's error
//! type is yours, so there is nowhere to put that error at run time. Instead every rule that
//! the attribute's values can break is checked when the function compiles: durations are
//! greater than zero and fit `Duration::from_nanos`, counts are at least 1 and fit a `u32`,
//! and `max_delay` is at least `base_delay` — in the attribute when both are given (or
//! against retry's defaults without a preset), and in a `const` evaluated against
//! `Preset::settings()` when one is given with a preset, so `#[resilient(preset = "cache",
//! base_delay = "2s")]` (the cache preset caps delays at 1 s) is a compile error at `"2s"`.
//! The `Err` arm is therefore unreachable for every input the attribute accepts; it is an
//! `unreachable!` naming the function and the `ConfigError`, and would only fire if palisade
//! added a validation rule this crate does not mirror — a bug its tests catch.
//!
//! # Errors the attribute reports
//!
//! Unknown arguments (with the closest known one: `max_attempt` → `max_attempts`), an
//! argument given twice (or with its alias), an unknown preset (listing the known ones),
//! zero, negative, unparseable or too large values, a return type that is not a spelled-out
//! `Result<T, E>`, and use on something other than a function with a body — a struct, an
//! impl block, a trait's method declaration, a `const fn` or an `extern` function. On an
//! error the function is left as written, so its callers still resolve and only the
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

/// Runs the function's body through a Palisade pipeline built from a preset and overrides;
/// see the [crate documentation](crate) for the arguments, the return type and the
/// expansion.
///
/// ```text
/// #[palisade::resilient(preset = "database", name = "get_user", max_attempts = 5, timeout = "250ms")]
/// async fn get_user(id: u64) -> Result<User, DbError> { query(id).await }
/// // get_user(7).await: Result<User, palisade::Error<DbError>>
/// ```
#[proc_macro_attribute]
pub fn resilient(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::resilient(attr.into(), item.into()).into()
}
