//! Redis backends from Palisade configuration: [`register`].
//!
//! A configuration file names a pipeline's backend (`backend = "redis"`) and says how to
//! reach it — `redis_url = "redis://…"` at the top (environment: `PALISADE_REDIS_URL`), or a
//! `[backends.<name>]` table with `kind = "redis"` and the settings of
//! [`BackendSettings`]. `register` builds each such backend and registers it under its name,
//! so the registry, `PalisadeConfig::pipeline` and everything built from the file share
//! state through Redis.

use palisade::ConfigError;
use palisade::config::{BackendSettings, PalisadeConfig};

use crate::{Error, RedisBackend, RedisBackendBuilder, WhenDown};

const POLICY: &str = "redis";

/// Builds every Redis backend `config` describes and registers it under its name: each
/// `[backends.<name>]` whose `kind` is `"redis"` (or, without a `kind`, whose name is
/// `redis`), and `redis_url` as the backend `redis` (unless `[backends.redis]` gives its own
/// URL). Connections are made in the background; pipelines use their fallback until Redis
/// answers.
///
/// # Errors
///
/// [`Error::Config`] naming the key (`backends.<name>.<field>`) and value for a refused
/// setting, passwords hidden.
///
/// ```no_run
/// use palisade::config::{Format, Loader};
/// let config = Loader::from_str(Format::Toml, r#"
///     redis_url = "redis://127.0.0.1:6379"
///     [policies.payments]
///     preset = "api"
///     backend = "redis"
/// "#).load()?;
/// let config = palisade_redis::register(config)?;
/// let payments = config.pipeline("payments")?; // breaker and limiter state in Redis
/// # let _ = payments;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn register(config: PalisadeConfig) -> Result<PalisadeConfig, Error> {
    let mut wanted: Vec<(String, BackendSettings)> = config
        .backends
        .iter()
        .filter(|(name, s)| s.kind.as_deref().unwrap_or(name.as_str()) == "redis")
        .map(|(name, s)| (name.clone(), s.clone()))
        .collect();
    if let Some(url) = &config.redis_url {
        match wanted.iter_mut().find(|(name, _)| name == "redis") {
            Some((_, settings)) if settings.url.is_none() && settings.cluster.is_empty() => {
                settings.url = Some(url.clone());
            }
            Some(_) => {}
            None => {
                let mut settings = BackendSettings::default();
                settings.url = Some(url.clone());
                wanted.push(("redis".into(), settings));
            }
        }
    }
    let mut config = config;
    for (name, settings) in wanted {
        let backend = builder(&name, &settings)?.build()?;
        config = config.with_backend(name, backend);
    }
    Ok(config)
}

/// A builder with `settings` applied; `name` is the backend's, for error keys.
fn builder(name: &str, settings: &BackendSettings) -> Result<RedisBackendBuilder, Error> {
    let mut builder = RedisBackend::builder();
    if let Some(url) = &settings.url {
        builder = builder.url(url.clone());
    }
    if !settings.cluster.is_empty() {
        builder = builder.cluster(settings.cluster.clone());
    }
    if let Some(prefix) = &settings.key_prefix {
        builder = builder.key_prefix(prefix.clone());
    }
    if let Some(timeout) = settings.timeout {
        builder = builder.timeout(timeout);
    }
    if let Some(ttl) = settings.state_ttl {
        builder = builder.state_ttl(ttl);
    }
    if let Some(n) = settings.fleet_size {
        builder = builder.fleet_size(n);
    }
    if let Some(when) = &settings.limiter_when_down {
        builder = builder.limiter_when_down(when_down(name, "limiter_when_down", when)?);
    }
    if let Some(when) = &settings.breaker_when_down {
        builder = builder.breaker_when_down(when_down(name, "breaker_when_down", when)?);
    }
    Ok(builder)
}

fn when_down(backend: &str, field: &str, value: &str) -> Result<WhenDown, Error> {
    match value.to_ascii_lowercase().as_str() {
        "allow" => Ok(WhenDown::Allow),
        "reject" => Ok(WhenDown::Reject),
        "local" => Ok(WhenDown::Local),
        _ => Err(Error::Config(ConfigError::new(
            POLICY,
            format!("backends.{backend}.{field}"),
            value,
            "must be allow, reject or local",
        ))),
    }
}
