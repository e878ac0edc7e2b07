//! # Palisade: calls that survive failure
//!
//! Your service calls things that fail — databases, HTTP APIs, caches, object stores, brokers.
//! Palisade wraps those calls in policies that make failure survivable: a per-attempt
//! [`timeout`], [`retry`] with backoff and jitter, a [`circuit_breaker`], [`rate_limit`]ers
//! (direct and keyed), a [`bulkhead`], a [`fallback`] and [`hedge`]d requests — composed in
//! one [`pipeline`], with [`presets`] for the usual kinds of dependency.
//!
//! The common case is one preset pipeline, built once and shared:
//!
//! ```
//! use palisade::presets::Preset;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // 30 s per attempt, 3 attempts with exponential backoff from 0.5 s and full jitter,
//! // a breaker that opens after 3 consecutive failures and tries again after 30 s.
//! let users = Preset::Database.pipeline().name("users").build()?;
//! let user = users.call(|| async { Ok::<_, std::io::Error>("user 7") }).await?;
//! assert_eq!(user, "user 7");
//! # Ok(()) }
//! ```
//!
//! What is retried and what trips the breaker is the error's to say: a preset asks your
//! error type through [`classify::Classify`] whether the dependency was never reached
//! (retried), may have been reached (retried only for calls declared
//! [`idempotent`](pipeline::PipelineBuilder::idempotent)), failed (counted, not retried), or
//! answered — not found, conflict — (neither). `std::io::Error` says it by kind; your own
//! error type says it in a `match`, and an error type that does not say it does not compile
//! with a preset: see [`classify`] for why, and the ways to choose otherwise.
//!
//! A call returns `Result<T, Error<E>>`: [`Error::Operation`] is your error, untouched; the
//! other variants say which policy stepped in (an open circuit, a timeout, exhausted retries,
//! a full bulkhead, a rate limit) and when to try again. [`resilient`] does the same as an
//! attribute on a function.
//!
//! Every policy shares the same foundations:
//!
//! - [`clock`] — one time base for reading and waiting (precise, coarse, tokio, your runtime's
//!   timer, or virtual time: a [`ManualClock`](clock::ManualClock) runs every policy without
//!   real waits, and a [`Simulation`](clock::Simulation) replays a scenario exactly);
//! - [`Error`] — one error type that keeps your operation's error apart from a policy's
//!   rejection, each cause reported once;
//! - [`event`] — one listener mechanism for logs, metrics and callbacks, free when unused;
//! - [`backend`] — where breakers and limiters keep their state: in this process, or shared
//!   by a fleet.
//!
//! ## Features
//!
//! - `tokio` (default): async waits on tokio's timer within a tokio runtime, and
//!   [`clock::Clock::tokio`]. On another runtime, give policies
//!   [`clock::Clock::with_timer`]; without either, async waits are served by one timer
//!   thread (see [`clock`]).
//! - `macros` (default): [`resilient`].
//! - `tower`: [`tower`] layers for every policy and the pipeline.
//! - `http` (implies `tower`): the layers over `http::Request<B>` with any body; retry
//!   replays bodies kept up to a cap ([`tower::BufferBodies`]).
//! - `config`: [`config`] — pipelines from TOML, YAML, JSON and environment variables.
//! - `anyhow`: `anyhow::Error` implements [`classify::Classify`] (by the first
//!   `std::io::Error` in its chain).
//! - `serde`: status and health as JSON ([`status::StatusReport::to_json`],
//!   [`health::HealthReport::to_json`]).
//! - `metrics`, `tracing`, `prometheus`: [`observe`] — policy events as `metrics` counters,
//!   gauges and histograms, as `tracing` events (and a span per pipeline call), and as
//!   Prometheus text.
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod backend;
mod backoff;
mod builder;
pub mod bulkhead;
pub mod circuit_breaker;
pub mod classify;
pub mod clock;
#[cfg(feature = "config")]
pub mod config;
mod counter;
pub mod error;
pub mod event;
pub mod fallback;
mod future;
pub mod health;
pub mod hedge;
pub mod listener;
#[cfg(any(feature = "metrics", feature = "tracing"))]
pub mod observe;
pub mod pipeline;
pub mod predicate;
pub mod presets;
pub mod rate_limit;
pub mod registry;
pub mod retry;
pub mod status;
mod sync;
pub mod timeout;
#[cfg(feature = "tower")]
pub mod tower;
mod validate;

pub use error::{ConfigError, Error};

/// A [preset](presets) pipeline as an attribute (feature `macros`, on by default). First,
/// what callers see when the body keeps failing — retries, then an open circuit; every key,
/// its values and its default follow.
///
/// ```
/// use palisade::resilient;
///
/// #[derive(Debug)]
/// struct DbError;
///
/// // What the error says about the database: "unreached" is retried by every call.
/// impl palisade::classify::Classify for DbError {
///     fn class(&self) -> palisade::classify::ErrorClass {
///         palisade::classify::ErrorClass::Unreached
///     }
/// }
///
/// #[resilient(preset = "database", name = "get_user", max_attempts = 3, timeout = "250ms")]
/// async fn get_user(id: u64) -> Result<String, DbError> {
///     if id == 0 { return Err(DbError); }
///     Ok(format!("user {id}"))
/// }
///
/// #[resilient(preset = "cache")]
/// fn cached(key: &str) -> Result<usize, DbError> {
///     Ok(key.len())
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// assert_eq!(get_user(7).await.unwrap(), "user 7");
/// // Three attempts, then the last error, wrapped with why retry stopped...
/// assert!(matches!(get_user(0).await, Err(palisade::Error::RetriesExhausted { attempts: 3, .. })));
/// // ...and three consecutive failures opened the preset's breaker: calls are now refused.
/// assert!(matches!(get_user(7).await, Err(palisade::Error::CircuitOpen { .. })));
/// assert_eq!(cached("abc").unwrap(), 3);
/// # }
/// ```
#[cfg(feature = "macros")]
pub use palisade_macros::resilient;

/// The README's examples, compiled and run as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
