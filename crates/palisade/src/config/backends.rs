//! `[backends.<name>]`: the settings of a backend that keeps state elsewhere, as plain data.
//!
//! The core knows no Redis; a pipeline's `backend = "<name>"` names a backend the code
//! registered ([`PalisadeConfig::with_backend`](super::PalisadeConfig::with_backend)). These
//! settings let the file say *how* to reach it, and the crate that provides the backend
//! reads them (`palisade_redis::register` builds every `kind = "redis"` entry and registers
//! it under its name). `redis_url` at the top of the file (environment:
//! `<PREFIX>_REDIS_URL`) is the short spelling of `[backends.redis] url`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::value::duration;

/// How to reach one backend; every field optional. The provider validates the values (and
/// names the key and value it refuses).
///
/// ```
/// use palisade::config::{Format, Loader};
/// let config = Loader::from_str(Format::Toml, r#"
///     [backends.fleet]
///     kind = "redis"
///     url = "redis://cache.internal:6379"
///     key_prefix = "myapp"
///     timeout = "5ms"
///
///     [policies.payments]
///     preset = "api"
///     backend = "fleet"
/// "#).load()?;
/// let fleet = &config.backends["fleet"];
/// assert_eq!(fleet.kind.as_deref(), Some("redis"));
/// assert_eq!(fleet.timeout, Some(std::time::Duration::from_millis(5)));
/// # Ok::<(), palisade::config::LoadError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BackendSettings {
    /// What provides the backend (`"redis"`). Unset: the backend's own name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The server's URL (`redis://user:password@host:6379/0`, `rediss://` for TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A cluster's seed nodes, instead of `url`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster: Vec<String>,
    /// The first part of every key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
    /// The longest a call waits for the backend.
    #[serde(default, with = "duration", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// How long shared state outlives its last use (also spelled `ttl_seconds`).
    #[serde(
        default,
        alias = "ttl_seconds",
        with = "duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub state_ttl: Option<Duration>,
    /// What rate limiters do while the backend is unreachable (`allow`, `reject`, `local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limiter_when_down: Option<String>,
    /// What circuit breakers do while the backend is unreachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker_when_down: Option<String>,
    /// How many instances share the limits (a limiter falling back to local state grants
    /// 1/`fleet_size` of its limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet_size: Option<u32>,
}
