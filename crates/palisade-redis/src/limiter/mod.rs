//! Fleet-wide rate limiters. NOT BUILT YET: limiters stay in process.

use palisade::clock::Clock;
use palisade::rate_limit::{self, Algorithm};

use crate::RedisBackend;

/// The Redis store of limiter `name` (not built yet: `None` keeps it in process).
pub(crate) fn store(
    _backend: &RedisBackend,
    _name: &str,
    _algorithm: Algorithm,
    _clock: &Clock,
) -> Option<rate_limit::Store> {
    None
}
