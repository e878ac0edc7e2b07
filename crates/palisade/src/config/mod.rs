//! Configuration: policies and pipelines from TOML, YAML and JSON files and environment
//! variables, layered (feature `config`).
//!
//! # Why load configuration
//!
//! The right numbers for a dependency — how long an attempt may take, how often to retry,
//! when to stop calling it — are operational decisions: they change per environment and
//! during incidents, without a rebuild. So each named pipeline can be described in a file
//! and overridden by environment variables
//! (`PALISADE_DATABASE_TIMEOUT=30s`, `PALISADE_API_MAX_ATTEMPTS=5`).
//!
//! ```
//! use palisade::config::{Format, Loader};
//! use std::time::Duration;
//!
//! let config = Loader::new()
//!     .text(Format::Toml, r#"
//!         [policies.payments]                  # a named pipeline
//!         preset = "api"
//!         retry.max_attempts = 5
//!         circuit_breaker.failure_threshold = 5
//!         rate_limit = { algorithm = "gcra", rate = "100/s", burst = 20 }
//!     "#)
//!     .env_from([("PALISADE_PAYMENTS_TIMEOUT", "2s")])  // or .env_prefix("PALISADE")
//!     .load()?;
//! let payments = config.pipeline("payments")?;
//! assert_eq!(payments.retry().unwrap().config().max_attempts, 5);
//! assert_eq!(payments.circuit_breaker().unwrap().config().failure_threshold, Some(5));
//! # Ok::<(), palisade::config::LoadError>(())
//! ```
//!
//! # Layers
//!
//! Each layer overrides the ones below it, key by key — a file that sets only
//! `retry.max_attempts` keeps every other number of the layer below:
//!
//! | layer | set by |
//! |---|---|
//! | code (highest) | [`Loader::set`], or the builder's setters after [`PolicyConfig::to_builder`] / in [`PalisadeConfig::pipeline_with`] |
//! | environment | [`Loader::env_prefix`] (process environment) or [`Loader::env_from`] |
//! | files | [`Loader::file`], [`Loader::optional_file`], [`Loader::text`], later over earlier |
//! | preset (lowest) | a policy's `preset` key |
//!
//! The merging is figment's: one maintained implementation of layered configuration rather
//! than hand-written merging.
//!
//! # File shape
//!
//! ```toml
//! resilience_enabled = true           # false: every pipeline passes calls straight through
//!
//! [policies.payments]                 # one table per named pipeline
//! resilience_enabled = true           # false: this pipeline passes calls straight through
//! preset = "api"                      # database, api, cache, file, ml, kafka, vault, network
//! timeout = "2s"                      # per attempt (or timeout_seconds = 2.0, as every duration)
//! total_timeout = "10s"               # all attempts and sleeps
//! max_attempts = 5                    # shortcuts for retry.* ...
//! base_delay = "200ms"
//! max_delay = "5s"
//! failure_threshold = 5               # ... and circuit_breaker.*
//! recovery_timeout = "30s"
//! retry_rejections = false
//! idempotent = false                  # true: a timed-out attempt may be repeated
//! retry_on = ["unreached"]            # error classes retried (default: unreached, and
//!                                     # transient when idempotent); failure_on: counted
//!
//! [policies.payments.retry]           # RetrySection
//! enabled = true                      # false: calls skip retry (every section takes it)
//! max_attempts = 5
//! strategy = "exponential"            # fixed, linear, exponential
//! jitter = "full"                     # none, full, equal, decorrelated
//! exponential_base = 2.0
//! max_elapsed = "20s"
//! budget = { ratio = 0.2, min_retries_per_sec = 10, ttl = "10s" }
//!
//! [policies.payments.circuit_breaker] # CircuitBreakerSection
//! failure_threshold = 5
//! failure_rate_threshold = 50.0
//! sliding_window = { type = "count", size = 100 }   # or { type = "time", duration = "10s", buckets = 10 }
//! minimum_calls = 20
//! recovery_backoff = { multiplier = 2.0, max = "5m" }
//! half_open_requests = 3
//!
//! [policies.payments.rate_limit]      # RateLimitSection
//! algorithm = "gcra"                  # gcra, token_bucket, fixed_window, sliding_window_counter, sliding_window_log
//! rate = "100/s"
//! burst = 20
//!
//! [policies.payments.bulkhead]        # BulkheadSection
//! max_concurrent = 32
//!
//! [policies.payments.hedge]           # HedgeSection
//! delay = "50ms"
//! ```
//!
//! YAML and JSON files have the same shape (see [Turning resilience off](#turning-resilience-off)
//! for the `resilience_enabled` and `enabled` switches). A shortcut and its section field
//! (`max_attempts`, `retry.max_attempts`) name the same number; when both are set the
//! later layer's wins (see [`Loader::load`]).
//!
//! **Durations** are strings with units — `"250ms"`, `"1.5s"`, `"1m30s"`, `"1m 30s"`, `"2h"`,
//! `"2 hours, 30 minutes"`, `"1d"` — read by [jiff]'s "friendly" format, the same grammar
//! `#[resilient(timeout = "...")]` takes: units ns, us/µs, ms, s, m, h, d, w and their
//! spelled-out forms, largest first, each once, a fraction only on the last; days and weeks
//! are 24 hours and 7 days, months and years are refused. Plain numbers are seconds, as
//! configuration often writes them: `30`, `0.5` and `"30"` all work.
//! Negative, NaN and infinite durations are errors. Saved files use the shortest exact unit
//! (`"1500ms"`).
//!
//! **`_seconds` spellings.** Every duration key also takes a spelling with
//! `_seconds` and a number of seconds: `timeout_seconds = 30.0`, `recovery_timeout_seconds
//! = 45`, `retry.base_delay_seconds = 0.5`, `PALISADE_DATABASE_TIMEOUT_SECONDS=30`. The value
//! must be a number (or text that is only one, as an environment variable's is): a unit
//! string such as `"2m"` under a `_seconds` key is an error, since the key says seconds.
//! Both spellings in one file (or one set of variables) are an error naming both; across
//! layers, the later layer's wins as for any key. Errors name the key as it was written,
//! and saved files use the plain key (`timeout = "30s"`). **Rates** are `"permits/period"`: `"100/s"`, `"600/m"`, `"5/250ms"`,
//! `"1000/d"`.
//!
//! [jiff]: https://docs.rs/jiff/1/jiff/fmt/friendly/index.html
//!
//! # Typo protection
//!
//! Every table rejects keys it does not know (`deny_unknown_fields`), and every name
//! (preset, strategy, jitter, algorithm) must be a known one: a misspelt `max_atempts`
//! would otherwise be silently ignored and the default used — exactly the kind of mistake
//! that is only found during an outage. Errors ([`LoadError`]) name the source (file, with
//! the line for syntax errors; environment variable), the key path, the value and the
//! reason:
//!
//! ```
//! use palisade::config::{Format, Loader};
//! let err = Loader::from_str(Format::Toml, "[policies.x.retry]\nmax_atempts = 3").load().unwrap_err();
//! assert_eq!(err.key(), Some("policies.x.retry.max_atempts"));
//! assert!(err.reason().starts_with("unknown key; expected one of: max_attempts"));
//! ```
//!
//! Values that only a policy's `build()` checks (a zero `max_attempts`, `max_delay` below
//! `base_delay`) are reported by [`PalisadeConfig::pipeline`] with the same key path and
//! source.
//!
//! # Environment variables
//!
//! `<PREFIX>_<POLICY>_<KEY>=value`, the prefix `PALISADE` by default:
//!
//! | variable | key path |
//! |---|---|
//! | `PALISADE_DATABASE_TIMEOUT=30s` | `policies.database.timeout` |
//! | `PALISADE_API_MAX_ATTEMPTS=5` | `policies.api.max_attempts` |
//! | `PALISADE_USER_DB_MAX_ATTEMPTS=5` | `policies.user_db.max_attempts` |
//! | `PALISADE_API_PRESET=api` | `policies.api.preset` |
//! | `PALISADE_API_RETRY__JITTER=full` | `policies.api.retry.jitter` |
//! | `PALISADE_API_RATE_LIMIT__RATE=100/s` | `policies.api.rate_limit.rate` |
//! | `PALISADE_API_CIRCUIT_BREAKER__SLIDING_WINDOW__SIZE=50` | `policies.api.circuit_breaker.sliding_window.size` |
//! | `PALISADE_RESILIENCE_ENABLED=false` | `resilience_enabled` (the one variable without a policy) |
//! | `PALISADE_API_RESILIENCE_ENABLED=false` | `policies.api.resilience_enabled` |
//! | `PALISADE_API_RETRY__ENABLED=false` | `policies.api.retry.enabled` |
//!
//! `KEY` is one of the settings directly under a policy (`PRESET`, `TIMEOUT`,
//! `TOTAL_TIMEOUT`, `MAX_ATTEMPTS`, `BASE_DELAY`, `MAX_DELAY`, `FAILURE_THRESHOLD`,
//! `RECOVERY_TIMEOUT`, `RETRY_REJECTIONS`, `IDEMPOTENT`, `RETRY_ON`, `FAILURE_ON`,
//! `RESILIENCE_ENABLED`), or a section (`RETRY`, `CIRCUIT_BREAKER`,
//! `RATE_LIMIT`, `BULKHEAD`, `HEDGE`) followed by a double underscore and its keys. The
//! policy name may contain underscores: the longest key that ends the name wins
//! (`API_TOTAL_TIMEOUT` is `total_timeout` of `api`). Policy names are lower-cased, so a
//! policy that environment variables should reach is best named in lower snake case.
//! The duration keys also take `_SECONDS` with a number of seconds
//! (`PALISADE_DATABASE_TIMEOUT_SECONDS=30`, `PALISADE_API_RETRY__BASE_DELAY_SECONDS=0.5`).
//! Values are read as booleans, integers or decimal numbers when they look like one, and
//! as strings otherwise.
//!
//! ## A prefix shared with the application
//!
//! Applications usually give all their variables one prefix (`APP_PORT`,
//! `APP_DATABASE_URL`) and want Palisade's under it too (`APP_DATABASE_TIMEOUT=30s`), so by
//! default a variable with the prefix that names no setting is **ignored** — as figment's
//! and config-rs's environment providers, pydantic-settings and Spring's relaxed binding (resilience4j's
//! `RESILIENCE4J_CIRCUITBREAKER_...`) treat variables no setting binds. Ignored is not
//! forgotten: [`PalisadeConfig::ignored_env_vars`] lists them with the reason, and with a
//! [suggestion](IgnoredEnvVar::suggestion) when the name is one slip (a letter missing,
//! added, changed, or two swapped) from a setting — `APP_DATABASE_TIMEOUT_SECODNS` suggests
//! `APP_DATABASE_TIMEOUT_SECONDS` — so a misspelt setting is found at startup, not during
//! an outage. Log them, or refuse to start on a suggestion.
//!
//! [`Loader::strict_env`]`(true)` makes such a variable an error naming it and the other
//! ones: for a prefix Palisade has to itself (the default `PALISADE`, or one you give it).
//!
//! A variable that does name a setting is Palisade's, whatever the application meant by
//! it: under a shared prefix, keep the application's own names from ending in a setting
//! (`APP_CACHE_TIMEOUT` is the timeout of a policy `cache`). A variable whose section and
//! key resolve but are unknown deeper down (`APP_API_RETRY__MAX_ATEMPTS`) is an error, as in
//! a file.
//!
//! ```
//! use palisade::config::Loader;
//! let config = Loader::new()
//!     .env_prefix("APP")
//!     .env_from([
//!         ("APP_PORT", "8080"),
//!         ("APP_DATABASE_URL", "postgres://db"),
//!         ("APP_DATABASE_TIMEOUT_SECONDS", "30"),
//!     ])
//!     .load()?;
//! assert_eq!(config.policies["database"].timeout, Some(std::time::Duration::from_secs(30)));
//! assert_eq!(config.ignored_env_vars().len(), 2);
//! # Ok::<(), palisade::config::LoadError>(())
//! ```
//!
//! # Turning resilience off
//!
//! For incident response — a breaker that keeps a recovered dependency cut off, retries
//! that pile onto an overloaded one — resilience can be turned off without a deploy, then on
//! again:
//!
//! | key | variable | effect |
//! |---|---|---|
//! | `resilience_enabled = false` (top level) | `<PREFIX>_RESILIENCE_ENABLED=false` | every pipeline passes calls straight through |
//! | `policies.<name>.resilience_enabled = false` | `<PREFIX>_<NAME>_RESILIENCE_ENABLED=false` | pipeline `<name>` passes calls straight through |
//! | `policies.<name>.<section>.enabled = false` | `<PREFIX>_<NAME>_<SECTION>__ENABLED=false` | calls skip that policy (`retry`, `circuit_breaker`, `rate_limit`, `bulkhead`, `hedge`) |
//!
//! A pipeline that passes calls straight through runs the operation once — no rate limit,
//! bulkhead, timeout, retry, breaker or hedge — and its error comes back as
//! [`Error::Operation`](crate::Error::Operation). A policy that calls skip keeps its state
//! (an open breaker is open again when it is turned on), and is still built and validated:
//! a section that sets nothing but `enabled = false` adds no policy, it turns off the one the
//! preset brings. Unset means on; the values are `true` and `false` (a variable's case does
//! not matter), anything else is an error naming the key and the value. Which policies
//! calls skip is [`PalisadeConfig::disabled`] and
//! [`Pipeline::disabled`](crate::pipeline::Pipeline::disabled); a
//! [`Registry`](crate::registry::Registry) sets it on its pipelines when it creates them and
//! at every [reload](crate::registry::Registry::reload) — pipelines already handed out
//! included — and its health report, status and the `resilience_enabled` gauge say what is
//! off.
//!
//! ```
//! use palisade::config::{Format, Loader};
//! use palisade::pipeline::Disabled;
//! let config = Loader::from_str(Format::Toml, r#"
//!     [policies.payments]
//!     preset = "api"
//!     retry.enabled = false
//! "#)
//!     .env_from([("PALISADE_RESILIENCE_ENABLED", "false")]) // everything, for now
//!     .load()?;
//! assert_eq!(config.disabled("payments"), Disabled::ALL);
//! let payments = config.pipeline("payments")?;
//! let mut attempts = 0;
//! let result = payments.call_blocking(|| {
//!     attempts += 1;
//!     Err::<(), _>(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
//! });
//! assert!(matches!(result, Err(palisade::Error::Operation(_)))); // as it came, after one attempt
//! assert_eq!(attempts, 1);
//! # Ok::<(), palisade::config::LoadError>(())
//! ```
//!
//! # Saving
//!
//! [`PalisadeConfig::save_to_file`] writes the effective (merged) configuration; loading the saved file gives the same configuration.
//!
//! ```
//! use palisade::config::{Format, Loader};
//! let config = Loader::from_str(Format::Toml, "[policies.db]\npreset = \"database\"\ntimeout = 2.5").load()?;
//! let text = config.to_toml_string()?;
//! assert!(text.contains("timeout = \"2500ms\""));
//! assert_eq!(Loader::from_str(Format::Toml, &text).load()?, config);
//! # Ok::<(), palisade::config::LoadError>(())
//! ```

mod backends;
mod classes;
mod env;
mod error;
mod loader;
mod model;
mod seconds;
mod value;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use backends::BackendSettings;
pub use error::{LoadError, Source};
use loader::Origins;
pub use loader::{DEFAULT_ENV_PREFIX, Format, IgnoredEnvVar, Loader};
pub use model::{
    BulkheadSection, CircuitBreakerSection, HedgeSection, PolicyConfig, RateLimitAlgorithm,
    RateLimitSection, RecoveryBackoffSection, RetryBudgetSection, RetrySection,
    SlidingWindowSection, WindowType,
};

use crate::backend::Backend;
use crate::error::ConfigError;
use crate::pipeline::{Classified, ClassifiedBuilder, Disabled};

/// Every named pipeline's configuration: the whole file (`[policies.<name>]` tables).
///
/// Load one with a [`Loader`]; build pipelines with [`pipeline`](Self::pipeline); write it
/// back with [`save_to_file`](Self::save_to_file). Equality compares the settings, not
/// where they came from.
///
/// ```
/// use palisade::config::{PalisadeConfig, PolicyConfig};
/// use palisade::presets::Preset;
///
/// let mut config = PalisadeConfig::default();
/// config.policies.insert("db".into(), PolicyConfig::from_preset(Preset::Database));
/// let db = config.pipeline("db")?;
/// assert_eq!(db.name(), "db");
/// # Ok::<(), palisade::config::LoadError>(())
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PalisadeConfig {
    /// `false` turns resilience off at runtime for incident response: every pipeline built
    /// from this configuration — by a registry, at a reload too — passes calls straight
    /// through (see [`Disabled::ALL`]). Unset means `true`. Environment:
    /// `<PREFIX>_RESILIENCE_ENABLED=false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resilience_enabled: Option<bool>,
    /// The short spelling of `[backends.redis] url`: a Redis backend named `redis` (built by
    /// `palisade_redis::register`). Environment: `<PREFIX>_REDIS_URL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    /// How to reach the backends pipelines name (`[backends.<name>]`), for the crate that
    /// provides them; see [`BackendSettings`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub backends: BTreeMap<String, BackendSettings>,
    /// The named pipelines.
    #[serde(default)]
    pub policies: BTreeMap<String, PolicyConfig>,
    #[serde(skip)]
    origins: Origins,
    /// Backends the code registered, by the name a pipeline's `backend` gives.
    #[serde(skip)]
    registered: Backends,
    /// Variables with the environment prefix that named no setting.
    #[serde(skip)]
    ignored_env: Vec<IgnoredEnvVar>,
}

/// Registered backends by name.
#[derive(Clone, Default)]
struct Backends(BTreeMap<String, Arc<dyn Backend>>);

impl fmt::Debug for Backends {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// The backend every configuration knows: state in this process.
const IN_PROCESS: &str = "in_process";

impl PartialEq for PalisadeConfig {
    fn eq(&self, other: &Self) -> bool {
        self.resilience_enabled == other.resilience_enabled && self.policies == other.policies
    }
}

/// A shortcut and the section field it stands for.
const SHORTCUTS: [(&str, &str); 5] = [
    ("max_attempts", "retry.max_attempts"),
    ("base_delay", "retry.base_delay"),
    ("max_delay", "retry.max_delay"),
    ("failure_threshold", "circuit_breaker.failure_threshold"),
    ("recovery_timeout", "circuit_breaker.recovery_timeout"),
];

impl PalisadeConfig {
    /// The configuration of the pipeline `name`, if there is one.
    ///
    /// ```
    /// let config = palisade::config::PalisadeConfig::default();
    /// assert!(config.policy("payments").is_none());
    /// ```
    pub fn policy(&self, name: &str) -> Option<&PolicyConfig> {
        self.policies.get(name)
    }

    /// Which policies of pipeline `name` calls skip: [`Disabled::ALL`] when
    /// `resilience_enabled = false` (at the top or in the policy's table), else the sections
    /// with `enabled = false` (see [`PolicyConfig::disabled`]).
    ///
    /// ```
    /// use palisade::config::Loader;
    /// use palisade::pipeline::Disabled;
    /// let config = Loader::new()
    ///     .env_prefix("APP")
    ///     .env_from([("APP_RESILIENCE_ENABLED", "false"), ("APP_DB_MAX_ATTEMPTS", "3")])
    ///     .load()?;
    /// assert_eq!(config.resilience_enabled, Some(false));
    /// assert_eq!(config.disabled("db"), Disabled::ALL);
    /// assert_eq!(config.pipeline("db")?.disabled(), Disabled::ALL);
    /// # Ok::<(), palisade::config::LoadError>(())
    /// ```
    pub fn disabled(&self, name: &str) -> Disabled {
        if self.resilience_enabled == Some(false) {
            return Disabled::ALL;
        }
        self.policies
            .get(name)
            .map_or(Disabled::NONE, PolicyConfig::disabled)
    }

    /// Where the value at `key` (a dotted path such as `policies.api.max_attempts`) came
    /// from, for a loaded configuration.
    ///
    /// ```
    /// use palisade::config::{Format, Loader, Source};
    /// let config = Loader::from_str(Format::Toml, "[policies.api]\nmax_attempts = 3")
    ///     .env_from([("PALISADE_API_TIMEOUT", "5s")])
    ///     .load()?;
    /// assert_eq!(config.source_of("policies.api.max_attempts"), Some(&Source::Text(Format::Toml)));
    /// assert_eq!(
    ///     config.source_of("policies.api.timeout"),
    ///     Some(&Source::Env("PALISADE_API_TIMEOUT".into()))
    /// );
    /// # Ok::<(), palisade::config::LoadError>(())
    /// ```
    pub fn source_of(&self, key: &str) -> Option<&Source> {
        let origin = |key: &str| self.origins.0.get(key).map(|(_, source)| source);
        origin(key).or_else(|| origin(key.strip_suffix(seconds::SUFFIX)?))
    }

    /// The variables with the environment prefix that named no setting and were ignored
    /// (see [`Loader::strict_env`]), sorted by name: the application's own variables, and
    /// any misspelt Palisade variable — [`IgnoredEnvVar::suggestion`] points those out. Log
    /// them at startup, or refuse to start on a suggestion.
    ///
    /// ```
    /// use palisade::config::Loader;
    /// let config = Loader::new()
    ///     .env_prefix("APP")
    ///     .env_from([("APP_DATABASE_TIMEOUT_SECODNS", "30"), ("APP_DATABASE_URL", "postgres://db")])
    ///     .load()?;
    /// let typos: Vec<String> = config
    ///     .ignored_env_vars()
    ///     .iter()
    ///     .filter(|var| var.suggestion().is_some())
    ///     .map(|var| var.to_string())
    ///     .collect();
    /// assert_eq!(typos.len(), 1);
    /// assert!(typos[0].starts_with("APP_DATABASE_TIMEOUT_SECODNS names no setting"));
    /// assert!(typos[0].ends_with("(did you mean APP_DATABASE_TIMEOUT_SECONDS?)"));
    /// # Ok::<(), palisade::config::LoadError>(())
    /// ```
    pub fn ignored_env_vars(&self) -> &[IgnoredEnvVar] {
        &self.ignored_env
    }

    /// The key as the configuration wrote it: `policies.db.timeout_seconds` for a
    /// `policies.db.timeout` given in seconds.
    fn spelled(&self, key: String) -> String {
        self.origins.1.get(&key).cloned().unwrap_or(key)
    }

    /// The builder of pipeline `name` (see [`PolicyConfig::to_builder`]), for code to
    /// override before `build()`; prefer [`pipeline_with`](Self::pipeline_with), which also
    /// maps `build()`'s errors to key paths.
    ///
    /// ```
    /// use palisade::config::{Format, Loader};
    /// let config = Loader::from_str(Format::Toml, "[policies.db]\npreset = \"database\"").load()?;
    /// let db = config.builder("db")?.max_attempts(7).build()?;
    /// assert_eq!(db.retry().map(|r| r.config().max_attempts), Some(7));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(&self, name: &str) -> Result<ClassifiedBuilder, LoadError> {
        let policy = self.policies.get(name).ok_or_else(|| self.unknown(name))?;
        let builder = policy.to_builder(name).map_err(|error| {
            let source = error.key().and_then(|key| self.source_of(key)).cloned();
            let spelled = error.key().and_then(|key| self.origins.1.get(key)).cloned();
            match spelled {
                Some(key) => error.with_key(key),
                None => error,
            }
            .with_source(source)
        })?;
        match policy.backend.as_deref() {
            None | Some(IN_PROCESS) => Ok(builder),
            Some(backend) => match self.registered.0.get(backend) {
                Some(found) => Ok(builder.backend(Arc::clone(found))),
                None => {
                    let key = format!("policies.{name}.backend");
                    let mut known: Vec<&str> = vec![IN_PROCESS];
                    known.extend(self.registered.0.keys().map(String::as_str));
                    let source = self.source_of(&key).cloned();
                    Err(LoadError::invalid(
                        key,
                        backend,
                        format!(
                            "names no backend; known: {} (register one in code with \
                             PalisadeConfig::with_backend)",
                            known.join(", ")
                        ),
                    )
                    .with_source(source))
                }
            },
        }
    }

    /// Registers `backend` under `name`, for the pipelines whose `backend` names it (see
    /// [`crate::backend`]). `"in_process"` is always known.
    ///
    /// ```
    /// use palisade::backend::InProcess;
    /// use palisade::config::{Format, Loader};
    /// let text = "[policies.db]\npreset = \"database\"\nbackend = \"fleet\"";
    /// let config = Loader::from_str(Format::Toml, text).load()?.with_backend("fleet", InProcess);
    /// assert!(config.pipeline("db").is_ok());
    /// let unregistered = Loader::from_str(Format::Toml, text).load()?;
    /// let err = unregistered.pipeline("db").unwrap_err();
    /// assert_eq!((err.key(), err.value()), (Some("policies.db.backend"), Some("fleet")));
    /// # Ok::<(), palisade::config::LoadError>(())
    /// ```
    pub fn with_backend(mut self, name: impl Into<String>, backend: impl Backend) -> Self {
        self.registered.0.insert(name.into(), Arc::new(backend));
        self
    }

    /// Builds pipeline `name`. A value `build()` refuses is reported with its key path
    /// (`policies.<name>.retry.max_attempts`, or the shortcut if that is what was set) and
    /// the file or variable it came from.
    ///
    /// ```
    /// use palisade::config::{Format, Loader};
    /// let config = Loader::from_str(Format::Toml, "[policies.x.retry]\nmax_attempts = 0").load()?;
    /// let err = config.pipeline("x").unwrap_err();
    /// assert_eq!((err.key(), err.value()), (Some("policies.x.retry.max_attempts"), Some("0")));
    /// assert_eq!(
    ///     err.to_string(),
    ///     "invalid configuration in TOML text: policies.x.retry.max_attempts = 0: must be at least 1"
    /// );
    /// # Ok::<(), palisade::config::LoadError>(())
    /// ```
    pub fn pipeline(&self, name: &str) -> Result<Classified, LoadError> {
        self.pipeline_with(name, |builder| builder)
    }

    /// Builds pipeline `name` after `configure` has had the last word (a clock, listeners,
    /// an override in code); errors are mapped as in [`pipeline`](Self::pipeline). The
    /// pipeline skips the policies [`disabled`](Self::disabled) names.
    ///
    /// ```
    /// use palisade::clock::ManualClock;
    /// use palisade::config::{Format, Loader};
    /// let config = Loader::from_str(Format::Toml, "[policies.db]\npreset = \"database\"").load()?;
    /// let db = config.pipeline_with("db", |b| b.clock(ManualClock::new()).max_attempts(2))?;
    /// assert_eq!(db.retry().map(|r| r.config().max_attempts), Some(2));
    /// # Ok::<(), palisade::config::LoadError>(())
    /// ```
    pub fn pipeline_with(
        &self,
        name: &str,
        configure: impl FnOnce(ClassifiedBuilder) -> ClassifiedBuilder,
    ) -> Result<Classified, LoadError> {
        let pipeline = self.build_pipeline(name, configure)?;
        pipeline.set_disabled(self.disabled(name));
        Ok(pipeline)
    }

    /// [`pipeline_with`](Self::pipeline_with) without setting its switch (a registry sets it).
    fn build_pipeline(
        &self,
        name: &str,
        configure: impl FnOnce(ClassifiedBuilder) -> ClassifiedBuilder,
    ) -> Result<Classified, LoadError> {
        let builder = self.builder(name)?;
        configure(builder)
            .build()
            .map_err(|error| self.build_error(name, &error))
    }

    /// A `build()` error as a [`LoadError`] naming the configuration's key path.
    fn build_error(&self, name: &str, error: &ConfigError) -> LoadError {
        let policy = self.policies.get(name);
        let field = error.field();
        let relative = match error.policy() {
            "pipeline" => field.to_owned(),
            "retry_budget" => format!("retry.budget.{field}"),
            section => {
                let nested = format!("{section}.{field}");
                // A shortcut that was set is what the user wrote.
                let shortcut = SHORTCUTS
                    .iter()
                    .find(|(_, long)| *long == nested)
                    .map(|(short, _)| *short)
                    .filter(|short| policy.is_some_and(|p| p.shortcut_is_set(short)));
                shortcut.map_or(nested, str::to_owned)
            }
        };
        let key = format!("policies.{name}.{relative}");
        let source = self.source_of(&key).cloned();
        LoadError::invalid(self.spelled(key), error.value(), error.reason()).with_source(source)
    }

    fn unknown(&self, name: &str) -> LoadError {
        let known: Vec<&str> = self.policies.keys().map(String::as_str).collect();
        let reason = if known.is_empty() {
            "no such policy: none is configured".to_owned()
        } else {
            format!("no such policy; configured: {}", known.join(", "))
        };
        LoadError::at_key(format!("policies.{name}"), reason)
    }

    /// Keeps one of a shortcut and its section field when both are set: the later layer's.
    pub(crate) fn prefer_later_layers(&mut self) {
        let origins = std::sync::Arc::clone(&self.origins.0);
        let layer = |key: String| origins.get(&key).map(|(layer, _)| *layer);
        for (name, policy) in &mut self.policies {
            for (short, long) in SHORTCUTS {
                let short_layer = layer(format!("policies.{name}.{short}"));
                let long_layer = layer(format!("policies.{name}.{long}"));
                if let (Some(short_layer), Some(long_layer)) = (short_layer, long_layer) {
                    policy.drop_setting(if long_layer > short_layer {
                        short
                    } else {
                        long
                    });
                }
            }
        }
    }

    /// The configuration as TOML.
    ///
    /// ```
    /// use palisade::config::{PalisadeConfig, PolicyConfig};
    /// let mut policy = PolicyConfig::default(); // non-exhaustive: set fields one by one
    /// policy.max_attempts = Some(3);
    /// let mut config = PalisadeConfig::default();
    /// config.policies.insert("db".into(), policy);
    /// assert_eq!(config.to_toml_string()?, "[policies.db]\nmax_attempts = 3\n");
    /// # Ok::<(), palisade::config::LoadError>(())
    /// ```
    pub fn to_toml_string(&self) -> Result<String, LoadError> {
        self.to_string_as(Format::Toml)
    }

    /// The configuration as text in `format`.
    ///
    /// ```
    /// use palisade::config::{Format, PalisadeConfig};
    /// let json = PalisadeConfig::default().to_string_as(Format::Json)?;
    /// assert_eq!(json, "{\n  \"policies\": {}\n}");
    /// # Ok::<(), palisade::config::LoadError>(())
    /// ```
    pub fn to_string_as(&self, format: Format) -> Result<String, LoadError> {
        let text = match format {
            Format::Toml => toml::to_string(self).map_err(|e| e.to_string()),
            Format::Yaml => serde_yaml::to_string(self).map_err(|e| e.to_string()),
            Format::Json => serde_json::to_string_pretty(self).map_err(|e| e.to_string()),
        };
        text.map_err(|reason| LoadError::whole(None, format!("cannot write {format}: {reason}")))
    }

    /// Writes the configuration to `path`, in the format its extension names.
    ///
    /// ```
    /// use palisade::config::{Loader, PalisadeConfig, PolicyConfig};
    /// use palisade::presets::Preset;
    /// let mut config = PalisadeConfig::default();
    /// config.policies.insert("db".into(), PolicyConfig::from_preset(Preset::Database));
    /// let path = std::env::temp_dir().join("palisade-doc-save.yaml");
    /// config.save_to_file(&path)?;
    /// assert_eq!(Loader::new().file(&path).load()?, config);
    /// # Ok::<(), palisade::config::LoadError>(())
    /// ```
    pub fn save_to_file(&self, path: impl AsRef<Path>) -> Result<(), LoadError> {
        let path = path.as_ref();
        let source = Some(Source::File(path.to_owned()));
        let text = self
            .to_string_as(Format::for_path(path)?)
            .map_err(|e| e.with_source(source.clone()))?;
        std::fs::write(path, text)
            .map_err(|e| LoadError::whole(source, format!("cannot write the file: {e}")))
    }
}

impl PolicyConfig {
    fn shortcut_is_set(&self, shortcut: &str) -> bool {
        match shortcut {
            "max_attempts" => self.max_attempts.is_some(),
            "base_delay" => self.base_delay.is_some(),
            "max_delay" => self.max_delay.is_some(),
            "failure_threshold" => self.failure_threshold.is_some(),
            "recovery_timeout" => self.recovery_timeout.is_some(),
            _ => false,
        }
    }

    /// Unsets one of the settings in [`SHORTCUTS`].
    fn drop_setting(&mut self, key: &str) {
        match key {
            "max_attempts" => self.max_attempts = None,
            "base_delay" => self.base_delay = None,
            "max_delay" => self.max_delay = None,
            "failure_threshold" => self.failure_threshold = None,
            "recovery_timeout" => self.recovery_timeout = None,
            _ => {}
        }
        if let Some(retry) = &mut self.retry {
            match key {
                "retry.max_attempts" => retry.max_attempts = None,
                "retry.base_delay" => retry.base_delay = None,
                "retry.max_delay" => retry.max_delay = None,
                _ => {}
            }
        }
        if let Some(breaker) = &mut self.circuit_breaker {
            match key {
                "circuit_breaker.failure_threshold" => breaker.failure_threshold = None,
                "circuit_breaker.recovery_timeout" => breaker.recovery_timeout = None,
                _ => {}
            }
        }
    }
}

/// A configuration is where a [`Registry`](crate::registry::Registry) gets its pipelines:
/// `Registry::new(config)` creates `policies.<name>` on first use, and
/// [`Registry::reload`](crate::registry::Registry::reload) takes a newly loaded one.
/// Errors keep the configuration's key path, and name the file or variable in the reason.
/// `resilience_enabled` and the sections' `enabled` reach the registry's pipelines — those
/// already handed out too — at creation and at every reload.
///
/// ```
/// use palisade::config::{Format, Loader};
/// use palisade::registry::Registry;
/// let config = Loader::from_str(Format::Toml, "[policies.payments]\npreset = \"api\"\nmax_attempts = 2").load()?;
/// let registry = Registry::new(config);
/// let payments = registry.pipeline("payments")?;
/// assert_eq!(payments.retry().map(|r| r.config().max_attempts), Some(2));
/// assert!(registry.pipeline("unknown").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl crate::registry::PipelineSource for PalisadeConfig {
    fn builder(&self, name: &str) -> Option<Result<ClassifiedBuilder, crate::ConfigError>> {
        self.policies
            .contains_key(name)
            .then(|| self.builder(name).map_err(config_error))
    }

    fn build(
        &self,
        name: &str,
        decorate: &dyn Fn(ClassifiedBuilder) -> ClassifiedBuilder,
    ) -> Option<Result<Classified, crate::ConfigError>> {
        self.policies
            .contains_key(name)
            .then(|| self.build_pipeline(name, decorate).map_err(config_error))
    }

    fn names(&self) -> Vec<String> {
        self.policies.keys().cloned().collect()
    }

    fn resilience_enabled(&self) -> bool {
        self.resilience_enabled != Some(false)
    }

    fn disabled(&self, name: &str) -> Disabled {
        PalisadeConfig::disabled(self, name)
    }
}

/// A loading error as the registry's [`ConfigError`](crate::ConfigError): the key path as
/// the field, and the whole sentence (file, line, reason) as the reason.
fn config_error(error: LoadError) -> crate::ConfigError {
    crate::ConfigError::new(
        "config",
        error.key().unwrap_or("policies").to_owned(),
        error.value().unwrap_or(""),
        error.to_string(),
    )
}
