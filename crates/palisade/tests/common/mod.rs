//! Helpers shared by the integration tests, one module per theme:
//!
//! - [`time`]: durations (`ms`, `secs`, `ns`), instants and readings of a `ManualClock`;
//! - [`events`]: listeners that record what a policy published;
//! - [`errors`]: assertions that a call failed in a given way;
//! - [`retry`]: retry configurations and stop reasons;
//! - [`rate_limit`]: rate-limit algorithms by kind;
//! - [`threads`]: running a test body under a deadlock guard;
//! - `metrics` (feature `metrics`): the gauges a recorder holds after some code ran.
//!
//! Each test file that needs them declares `mod common;` and imports from the themes it uses;
//! no test binary uses every helper, hence `allow(dead_code)`.
#![allow(dead_code)]

pub mod errors;
pub mod events;
pub mod fault;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod rate_limit;
pub mod retry;
pub mod threads;
pub mod time;

use std::cell::Cell;

/// Adds one to `counter` and returns the new count (call it from an operation to number its
/// attempts).
pub fn bump(counter: &Cell<u32>) -> u32 {
    counter.set(counter.get() + 1);
    counter.get()
}
