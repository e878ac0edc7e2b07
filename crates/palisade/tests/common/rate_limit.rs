//! Rate-limit algorithms by kind, from their numbers.

use std::time::Duration;

use palisade::rate_limit::{Algorithm, Rate};

/// GCRA: `permits` per `period`, up to `burst` at once.
pub fn gcra(permits: u32, period: Duration, burst: u32) -> Algorithm {
    Algorithm::Gcra {
        rate: Rate::new(permits, period),
        burst,
    }
}

/// Token bucket: refilled at `permits` per `period`, holding up to `capacity` tokens, starting
/// with `initial_tokens` (full when `None`).
pub fn token_bucket(
    permits: u32,
    period: Duration,
    capacity: u32,
    initial_tokens: Option<u32>,
) -> Algorithm {
    Algorithm::TokenBucket {
        rate: Rate::new(permits, period),
        capacity,
        initial_tokens,
    }
}

/// Fixed window: `max_requests` per `window`.
pub fn fixed(max_requests: u32, window: Duration) -> Algorithm {
    Algorithm::FixedWindow {
        max_requests,
        window,
    }
}

/// Sliding window counter: `max_requests` per `window`.
pub fn counter(max_requests: u32, window: Duration) -> Algorithm {
    Algorithm::SlidingWindowCounter {
        max_requests,
        window,
    }
}

/// Sliding window log: `max_requests` per `window`.
pub fn log(max_requests: u32, window: Duration) -> Algorithm {
    Algorithm::SlidingWindowLog {
        max_requests,
        window,
    }
}
