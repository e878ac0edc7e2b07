//! Assertions that a call failed with a given `palisade::Error`.

use std::fmt::Debug;
use std::time::Duration;

use palisade::Error;
use palisade::retry::StopReason;

/// Asserts `err` is `RetriesExhausted` after `attempts` for `reason`; returns the last error.
#[track_caller]
pub fn exhausted<E: Debug>(err: Error<E>, attempts: u32, reason: StopReason) -> Error<E> {
    match err {
        Error::RetriesExhausted {
            attempts: a,
            reason: r,
            last_error,
            ..
        } if a == attempts && r == reason => *last_error,
        other => panic!("expected RetriesExhausted after {attempts} ({reason:?}), got {other:?}"),
    }
}

/// Asserts `err` is `Timeout`, returning the limit that fired.
#[track_caller]
pub fn timeout_limit<E: Debug>(err: &Error<E>) -> Duration {
    match err {
        Error::Timeout { limit, .. } => *limit,
        other => panic!("expected Timeout, got {other:?}"),
    }
}
