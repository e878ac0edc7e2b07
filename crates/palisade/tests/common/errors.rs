//! Assertions that a call failed with a given `palisade::Error`.

use std::fmt::Debug;
use std::time::Duration;

use palisade::Error;
use palisade::retry::StopReason;
use palisade::timeout::TimeoutScope;

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

/// Asserts `err` is `Timeout`, returning which fired: `(name, scope, limit)`.
#[track_caller]
pub fn timeout_fired<E: Debug>(err: &Error<E>) -> (&str, TimeoutScope, Duration) {
    match err {
        Error::Timeout {
            name, scope, limit, ..
        } => (name, *scope, *limit),
        other => panic!("expected Timeout, got {other:?}"),
    }
}
