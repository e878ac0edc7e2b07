//! Retry configurations and stop reasons.

use std::time::Duration;

use palisade::retry::{Jitter, RetryBuilder, StopReason};

/// `attempts` attempts, a fixed `delay` between them, no jitter: exact timings.
pub fn fixed(attempts: u32, delay: Duration) -> impl FnOnce(RetryBuilder) -> RetryBuilder {
    move |r| r.max_attempts(attempts).fixed(delay).jitter(Jitter::None)
}

/// Retry stopped because it made its `n` attempts.
pub fn max_attempts(n: u32) -> StopReason {
    StopReason::MaxAttempts { max_attempts: n }
}
