//! `TimeoutConfig` (plain data) and `TimeoutBuilder`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{POLICY, Shared, Timeout};
use crate::builder::{Base, builder_base};
use crate::error::ConfigError;
use crate::validate;

/// The default limit: 5 seconds.
const DEFAULT_LIMIT: Duration = Duration::from_secs(5);

/// The settings of a timeout policy, as plain data.
///
/// ```
/// use palisade::timeout::{Timeout, TimeoutConfig};
/// use std::time::Duration;
/// let timeout = Timeout::from_config(TimeoutConfig { limit: Duration::from_secs(30) })?;
/// assert_eq!(timeout.limit(), Duration::from_secs(30));
/// assert_eq!(TimeoutConfig::default().limit, Duration::from_secs(5));
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeoutConfig {
    /// How long a call may take. Greater than zero; 5 seconds by default.
    pub limit: Duration,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        TimeoutConfig {
            limit: DEFAULT_LIMIT,
        }
    }
}

impl TimeoutConfig {
    /// Checks every field; the error names the bad field and its value.
    ///
    /// ```
    /// use palisade::timeout::TimeoutConfig;
    /// let err = TimeoutConfig { limit: std::time::Duration::ZERO }.validate().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("limit", "0ns"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate::positive(POLICY, "limit", self.limit)?;
        Ok(())
    }
}

/// Builds a [`Timeout`]; start with [`Timeout::builder`].
///
/// Every setter accepts any value; [`build`](TimeoutBuilder::build) checks them and names the
/// first bad field and its value.
///
/// ```
/// use palisade::timeout::Timeout;
/// use std::time::Duration;
/// let timeout = Timeout::builder()
///     .name("db")
///     .limit(Duration::from_secs(30)) // the database preset's
///     .build()?;
/// assert_eq!(timeout.name(), "db");
///
/// let err = Timeout::builder().limit(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err.to_string(), "invalid timeout configuration: limit = 0ns: must be greater than zero");
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub struct TimeoutBuilder {
    config: TimeoutConfig,
    base: Base<Timeout>,
    /// The first bad value given to a `*_secs` setter, reported by `build()`.
    error: validate::DeferredError,
}

impl TimeoutBuilder {
    pub(super) fn new(config: TimeoutConfig) -> Self {
        TimeoutBuilder {
            config,
            base: Base::new(),
            error: validate::DeferredError::default(),
        }
    }

    /// How long a call may take. Greater than zero; defaults to 5 seconds.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = palisade::timeout::Timeout::builder().limit(Duration::from_millis(250)).build()?;
    /// assert_eq!(t.limit(), Duration::from_millis(250));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn limit(mut self, limit: Duration) -> Self {
        self.config.limit = limit;
        self.error.clear("limit");
        self
    }

    /// [`limit`](Self::limit) in seconds (`timeout_seconds`); NaN,
    /// negative and zero are reported by `build()`.
    ///
    /// ```
    /// let t = palisade::timeout::Timeout::builder().limit_secs(0.5).build()?;
    /// assert_eq!(t.limit().as_millis(), 500);
    /// let err = palisade::timeout::Timeout::builder().limit_secs(-1.0).build().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("limit", "-1s"));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn limit_secs(mut self, secs: f64) -> Self {
        if let Some(limit) = self.error.secs(POLICY, "limit", secs) {
            self.config.limit = limit;
        }
        self
    }

    /// Validates the settings and builds the policy.
    ///
    /// ```
    /// let err = palisade::timeout::Timeout::builder().limit_secs(f64::NAN).build().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("limit", "NaN"));
    /// ```
    pub fn build(self) -> Result<Timeout, ConfigError> {
        self.error.check()?;
        self.config.validate()?;
        Ok(Timeout {
            shared: Arc::new(Shared {
                name: self.base.name_or(POLICY),
                config: self.config,
                clock: self.base.clock,
                listeners: self.base.listeners,
            }),
        })
    }
}

impl fmt::Debug for TimeoutBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutBuilder")
            .field("config", &self.config)
            .field("base", &self.base)
            .field("error", &self.error)
            .finish()
    }
}

builder_base!(
    TimeoutBuilder,
    kind = Timeout,
    policy = Timeout,
    make = "palisade::timeout::Timeout::builder()",
    build = ".build()"
);
