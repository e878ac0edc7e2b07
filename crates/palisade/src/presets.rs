//! Presets: sane defaults per kind of dependency, as pipelines you can override.
//!
//! # Why presets
//!
//! Most calls fall into a handful of kinds — a database query, an HTTP API call, a cache read,
//! an object-store transfer, an ML inference, a Kafka produce, a Vault read, a plain network
//! hop — and each kind has sane numbers: how long an attempt may take, how often to retry,
//! how quickly to back off, when to stop calling a dependency that keeps failing. The presets
//! carry those numbers, so `Preset::Database.pipeline()` is a database call's whole policy
//! in one expression. Each preset is a [`PipelineBuilder`]: override any number with its
//! setters before `build()`.
//!
//! | preset | timeout (per attempt) | attempts | base delay | max delay | breaker: consecutive failures | recovery |
//! |---|---|---|---|---|---|---|
//! | `database` | 30 s | 3 | 0.5 s | 10 s | 3 | 30 s |
//! | `api` | 60 s | 5 | 1 s | 30 s | 5 | 60 s |
//! | `cache` | 5 s | 2 | 0.1 s | 1 s | 3 | 15 s |
//! | `file` (object store) | 10 s | 3 | 0.2 s | 5 s | 3 | 30 s |
//! | `ml` | 300 s | 2 | 5 s | 30 s | 2 | 120 s |
//! | `kafka` | 30 s | 5 | 1 s | 30 s | 10 | 30 s |
//! | `vault` | 10 s | 3 | 2 s | 20 s | 3 | 90 s |
//! | `network` | 10 s | 3 | 0.5 s | 5 s | 3 | 45 s |
//! | `default` (no particular kind) | 5 s | 3 | 1 s | 30 s | 5 | 60 s |
//!
//! Every preset retries with exponential backoff (×2) and full jitter, capped at the max
//! delay. The timeout is per attempt, so each attempt gets its own
//! limit; add [`total_timeout`](PipelineBuilder::total_timeout) to bound all attempts together.
//!
//! Rate limits are separate: a limit belongs to the dependency's capacity, not to the
//! kind of call, so [`Preset::rate_limit`] gives the numbers (api: 10/s, burst 20; database:
//! 50/s, burst 100) and you add them with [`PipelineBuilder::rate_limit`].
//!
//! ```
//! use palisade::presets::Preset;
//! use std::time::Duration;
//!
//! let get_user = Preset::Database
//!     .pipeline()
//!     .name("get_user")
//!     .max_attempts(5) // override one number
//!     .build()?;
//! let payments = Preset::Api
//!     .pipeline()
//!     .name("payments")
//!     .rate_limit(Preset::Api.rate_limit().expect("api has a rate limit"))
//!     .build()?;
//! # let _ = (get_user, payments);
//! # Ok::<(), palisade::ConfigError>(())
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::classify::ByClass;
use crate::error::ConfigError;
use crate::pipeline::{Pipeline, PipelineBuilder};
use crate::rate_limit::{Algorithm, Rate};
use crate::retry::Jitter;

/// A kind of dependency with its defaults; see the [module docs](self).
///
/// ```
/// use palisade::presets::Preset;
/// assert_eq!("kafka".parse::<Preset>().unwrap(), Preset::Kafka);
/// assert_eq!(Preset::Kafka.settings().failure_threshold, 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Preset {
    /// Relational database queries.
    Database,
    /// HTTP APIs.
    Api,
    /// Caches (Redis, memcached).
    Cache,
    /// Files and object stores (S3 and the like).
    File,
    /// ML inference and training jobs.
    Ml,
    /// Kafka producers and consumers.
    Kafka,
    /// Vault and other secret stores.
    Vault,
    /// Any other network hop.
    Network,
    /// Operations of no particular kind: 5 s per attempt, 3 attempts with exponential
    /// backoff from 1 s (capped at 30 s), a breaker that opens after 5 consecutive failures
    /// for 60 s. `#[resilient(operation_type = "custom")]` starts from it.
    Default,
}

/// One of the policies every preset's pipeline has, to leave out with
/// [`Preset::pipeline_without`].
///
/// ```
/// use palisade::presets::{Part, Preset};
/// let p = Preset::Cache.pipeline_without(&[Part::CircuitBreaker]).build()?;
/// assert!(p.circuit_breaker().is_none());
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Part {
    /// The per-attempt timeout.
    Timeout,
    /// Retry with exponential backoff and full jitter.
    Retry,
    /// The circuit breaker.
    CircuitBreaker,
}

/// The numbers behind a preset.
///
/// ```
/// use palisade::presets::Preset;
/// use std::time::Duration;
/// let s = Preset::Ml.settings();
/// assert_eq!((s.timeout, s.max_attempts), (Duration::from_secs(300), 2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settings {
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Attempts, the first included.
    pub max_attempts: u32,
    /// First backoff delay.
    pub base_delay: Duration,
    /// Backoff cap.
    pub max_delay: Duration,
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// Time the breaker stays open before a trial call.
    pub recovery_timeout: Duration,
}

const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

impl Preset {
    /// Every preset, in the table's order.
    ///
    /// ```
    /// assert_eq!(palisade::presets::Preset::ALL.len(), 9);
    /// ```
    pub const ALL: [Preset; 9] = [
        Preset::Database,
        Preset::Api,
        Preset::Cache,
        Preset::File,
        Preset::Ml,
        Preset::Kafka,
        Preset::Vault,
        Preset::Network,
        Preset::Default,
    ];

    /// The preset's name, as configuration files and `#[resilient(preset = "...")]` spell it.
    ///
    /// ```
    /// assert_eq!(palisade::presets::Preset::File.name(), "file");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Preset::Database => "database",
            Preset::Api => "api",
            Preset::Cache => "cache",
            Preset::File => "file",
            Preset::Ml => "ml",
            Preset::Kafka => "kafka",
            Preset::Vault => "vault",
            Preset::Network => "network",
            Preset::Default => "default",
        }
    }

    /// The preset's numbers (the table in the [module docs](self)).
    ///
    /// ```
    /// use std::time::Duration;
    /// let s = palisade::presets::Preset::Vault.settings();
    /// assert_eq!(s.recovery_timeout, Duration::from_secs(90));
    /// ```
    pub const fn settings(self) -> Settings {
        let (timeout, max_attempts, base_delay, max_delay, failure_threshold, recovery) = match self
        {
            Preset::Database => (30_000, 3, 500, 10_000, 3, 30_000),
            Preset::Api => (60_000, 5, 1_000, 30_000, 5, 60_000),
            Preset::Cache => (5_000, 2, 100, 1_000, 3, 15_000),
            Preset::File => (10_000, 3, 200, 5_000, 3, 30_000),
            Preset::Ml => (300_000, 2, 5_000, 30_000, 2, 120_000),
            Preset::Kafka => (30_000, 5, 1_000, 30_000, 10, 30_000),
            Preset::Vault => (10_000, 3, 2_000, 20_000, 3, 90_000),
            Preset::Network => (10_000, 3, 500, 5_000, 3, 45_000),
            Preset::Default => (5_000, 3, 1_000, 30_000, 5, 60_000),
        };
        Settings {
            timeout: ms(timeout),
            max_attempts,
            base_delay: ms(base_delay),
            max_delay: ms(max_delay),
            failure_threshold,
            recovery_timeout: ms(recovery),
        }
    }

    /// The preset's rate limit, for the kinds that have one: api (10/s, burst
    /// 20) and database (50/s, burst 100), as token buckets.
    ///
    /// ```
    /// use palisade::presets::Preset;
    /// assert!(Preset::Api.rate_limit().is_some());
    /// assert!(Preset::Cache.rate_limit().is_none());
    /// ```
    pub fn rate_limit(self) -> Option<Algorithm> {
        let (per_second, capacity) = match self {
            Preset::Api => (10, 20),
            Preset::Database => (50, 100),
            _ => return None,
        };
        Some(Algorithm::TokenBucket {
            rate: Rate::per_second(per_second),
            capacity,
            initial_tokens: None,
        })
    }

    /// A pipeline builder with the preset's timeout, retry (exponential, full jitter) and
    /// circuit breaker (consecutive failures, recovery timeout), named after the preset until
    /// you name it.
    ///
    /// ```
    /// use palisade::presets::Preset;
    /// let p = Preset::Network.pipeline().name("dns").build()?;
    /// assert_eq!(p.retry().map(|r| r.config().max_attempts), Some(3));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn pipeline(self) -> PipelineBuilder<ByClass, ByClass> {
        self.pipeline_without(&[])
    }

    /// The preset's pipeline builder without the policies in `left_out`: the others keep the
    /// preset's numbers. Leaving a policy out is not the same as overriding its numbers — a
    /// pipeline without retry makes one attempt, and one without a breaker never refuses a
    /// call. A setter called afterwards adds the policy back, configured from palisade's
    /// defaults (`max_attempts` adds retry, `failure_threshold` a breaker).
    ///
    /// ```
    /// use palisade::presets::{Part, Preset};
    /// // The database preset's timeout and breaker, but one attempt per call.
    /// let p = Preset::Database.pipeline_without(&[Part::Retry]).name("writes").build()?;
    /// assert!(p.retry().is_none());
    /// assert_eq!(p.circuit_breaker().and_then(|b| b.config().failure_threshold), Some(3));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn pipeline_without(self, left_out: &[Part]) -> PipelineBuilder<ByClass, ByClass> {
        let s = self.settings();
        let keep = |part| !left_out.contains(&part);
        let mut builder = Pipeline::builder().classified().name(self.name());
        if keep(Part::Timeout) {
            builder = builder.timeout(s.timeout);
        }
        if keep(Part::Retry) {
            builder = builder.retry(|r| {
                r.max_attempts(s.max_attempts)
                    .exponential(s.base_delay)
                    .max_delay(s.max_delay)
                    .jitter(Jitter::Full)
            });
        }
        if keep(Part::CircuitBreaker) {
            builder = builder.circuit_breaker(|b| {
                b.failure_threshold(s.failure_threshold)
                    .recovery_timeout(s.recovery_timeout)
            });
        }
        builder
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = ConfigError;

    /// Parses a preset name; an unknown one is an error listing the known names.
    ///
    /// ```
    /// use palisade::presets::Preset;
    /// let err = "databse".parse::<Preset>().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("preset", "databse"));
    /// ```
    fn from_str(name: &str) -> Result<Preset, ConfigError> {
        Preset::ALL
            .into_iter()
            .find(|preset| preset.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
                ConfigError::new(
                    "presets",
                    "preset",
                    name,
                    format!("unknown preset; known: {}", known.join(", ")),
                )
            })
    }
}
