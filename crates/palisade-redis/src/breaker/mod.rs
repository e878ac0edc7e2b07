//! Fleet-wide circuit breakers. NOT BUILT YET: breakers stay in process.

use palisade::circuit_breaker::{self, CircuitBreakerConfig};
use palisade::clock::Clock;

use crate::RedisBackend;

/// The Redis store of breaker `name` (not built yet: `None` keeps it in process).
pub(crate) fn store(
    _backend: &RedisBackend,
    _name: &str,
    _config: &CircuitBreakerConfig,
    _clock: &Clock,
) -> Option<circuit_breaker::Store> {
    None
}
