//! # Palisade: calls that survive failure
//!
//! Your service calls things that fail — databases, HTTP APIs, caches, object stores, brokers.
//! Palisade wraps those calls in policies that make failure survivable: [`retry`] with backoff
//! and jitter, a [`circuit_breaker`], [`rate_limit`]ers (direct and keyed); timeouts,
//! bulkheads, fallbacks and hedging as they land. Every policy shares the same foundations:
//!
//! - [`clock`] — one time source (precise, coarse, manual, tokio), so every timing behaviour
//!   runs on virtual time in tests;
//! - [`Error`] — one error type that keeps your operation's error apart from a policy's
//!   rejection;
//! - [`event`] — one listener mechanism for logs, metrics and callbacks, free when unused;
//! - [`predicate`] — one way to say which outcomes count (retryable, failure, ignored).
//!
//! The common case is one expression:
//!
//! ```
//! use palisade::retry::Retry;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let retry = Retry::builder()
//!     .max_attempts(3)
//!     .exponential(Duration::from_millis(200))
//!     .build()?;
//! let body = retry.call(|| async { Ok::<_, std::io::Error>("hello") }).await?;
//! assert_eq!(body, "hello");
//! # Ok(()) }
//! ```
//!
//! ## Features
//!
//! - `tokio` (default): async sleeping on tokio's timer ([`retry::Retry::call`]) and
//!   [`clock::Clock::tokio`]. Without it, async retry takes a sleeper of your runtime
//!   ([`retry::Retry::call_with_sleeper`]).
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod backoff;
pub mod bulkhead;
pub mod circuit_breaker;
pub mod clock;
mod counter;
pub mod error;
pub mod event;
pub mod fallback;
pub mod hedge;
pub mod pipeline;
pub mod predicate;
pub mod presets;
pub mod rate_limit;
pub mod retry;
mod sync;
pub mod timeout;
#[cfg(feature = "tower")]
pub mod tower;
mod validate;

pub use error::{ConfigError, Error};

/// The README's examples, compiled and run as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
