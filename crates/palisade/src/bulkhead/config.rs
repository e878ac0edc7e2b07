//! `BulkheadConfig` (plain data) and `BulkheadBuilder`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{Bulkhead, POLICY, Shared};
use crate::builder::{Base, builder_base};
use crate::error::ConfigError;
use crate::sync::semaphore::{MAX_PERMITS, Semaphore};
use crate::validate;

/// resilience4j's `maxConcurrentCalls` default.
const DEFAULT_MAX_CONCURRENT: usize = 25;

/// The settings of a bulkhead, as plain data.
///
/// ```
/// use palisade::bulkhead::{Bulkhead, BulkheadConfig};
/// use std::time::Duration;
/// let config = BulkheadConfig {
///     max_concurrent: 50,
///     max_queue: 100,
///     max_wait: Some(Duration::from_millis(200)),
/// };
/// let bulkhead = Bulkhead::from_config(config)?;
/// assert_eq!(bulkhead.config(), &config);
/// assert_eq!(BulkheadConfig::default().max_concurrent, 25);
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BulkheadConfig {
    /// Calls allowed in flight at once. 1 to 4,294,967,295; 25 by default (resilience4j's
    /// `maxConcurrentCalls`).
    pub max_concurrent: usize,
    /// Calls allowed to wait for a slot when all are busy. 0 by default: a full bulkhead
    /// rejects at once (Polly's `maxQueuingActions`). `usize::MAX` for no bound.
    pub max_queue: usize,
    /// How long a queued call waits before it is rejected; `None` (the default) waits until
    /// a slot comes free. Only meaningful with a queue; greater than zero.
    pub max_wait: Option<Duration>,
}

impl Default for BulkheadConfig {
    fn default() -> Self {
        BulkheadConfig {
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            max_queue: 0,
            max_wait: None,
        }
    }
}

impl BulkheadConfig {
    /// Checks every field; the error names the first bad field and its value.
    ///
    /// ```
    /// use palisade::bulkhead::BulkheadConfig;
    /// let err = BulkheadConfig { max_concurrent: 0, ..BulkheadConfig::default() }.validate().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("max_concurrent", "0"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_concurrent == 0 || self.max_concurrent > MAX_PERMITS {
            return Err(ConfigError::new(
                POLICY,
                "max_concurrent",
                self.max_concurrent,
                format!("must be between 1 and {MAX_PERMITS}"),
            ));
        }
        if let Some(max_wait) = self.max_wait {
            validate::positive(POLICY, "max_wait", max_wait)?;
            if self.max_queue == 0 {
                return Err(ConfigError::new(
                    POLICY,
                    "max_wait",
                    format_args!("{max_wait:?}"),
                    "has no effect while max_queue is 0 (a full bulkhead rejects at once); \
                     set max_queue to let calls wait",
                ));
            }
        }
        Ok(())
    }
}

/// Builds a [`Bulkhead`]; start with [`Bulkhead::builder`].
///
/// Every setter accepts any value; [`build`](BulkheadBuilder::build) checks them and names the
/// first bad field and its value.
///
/// ```
/// use palisade::bulkhead::Bulkhead;
/// use std::time::Duration;
/// let bulkhead = Bulkhead::builder()
///     .name("pdf-render")
///     .max_concurrent(4)
///     .max_queue(16)
///     .max_wait(Duration::from_secs(2))
///     .build()?;
/// assert_eq!(bulkhead.max_wait(), Some(Duration::from_secs(2)));
///
/// let err = Bulkhead::builder().max_concurrent(0).build().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid bulkhead configuration: max_concurrent = 0: must be between 1 and 4294967295"
/// );
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub struct BulkheadBuilder {
    config: BulkheadConfig,
    base: Base<Bulkhead>,
    /// The first bad value given to a `*_secs` setter, reported by `build()`.
    error: validate::DeferredError,
}

impl BulkheadBuilder {
    pub(super) fn new(config: BulkheadConfig) -> Self {
        BulkheadBuilder {
            config,
            base: Base::new(),
            error: validate::DeferredError::default(),
        }
    }

    /// Calls allowed in flight at once; at least 1, default 25.
    ///
    /// ```
    /// let b = palisade::bulkhead::Bulkhead::builder().max_concurrent(100).build()?;
    /// assert_eq!(b.available(), 100);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn max_concurrent(mut self, max: usize) -> Self {
        self.config.max_concurrent = max;
        self
    }

    /// Calls allowed to wait when every slot is busy; default 0 (reject at once).
    ///
    /// ```
    /// let b = palisade::bulkhead::Bulkhead::builder().max_queue(50).build()?;
    /// assert_eq!(b.max_queue(), 50);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn max_queue(mut self, max: usize) -> Self {
        self.config.max_queue = max;
        self
    }

    /// How long a queued call waits before it is rejected; by default it waits until a slot
    /// comes free. Needs a queue ([`max_queue`](Self::max_queue) above 0): without one,
    /// `build()` reports this setting as having no effect.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = palisade::bulkhead::Bulkhead::builder()
    ///     .max_queue(10)
    ///     .max_wait(Duration::from_millis(500))
    ///     .build()?;
    /// assert_eq!(b.max_wait(), Some(Duration::from_millis(500)));
    /// let err = palisade::bulkhead::Bulkhead::builder().max_wait(Duration::from_millis(500)).build().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("max_wait", "500ms"));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.config.max_wait = Some(max_wait);
        self.error.clear("max_wait");
        self
    }

    /// [`max_wait`](Self::max_wait) in seconds; NaN, negative and zero are reported by
    /// `build()`.
    ///
    /// ```
    /// let err = palisade::bulkhead::Bulkhead::builder().max_queue(1).max_wait_secs(-2.0).build().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("max_wait", "-2s"));
    /// ```
    pub fn max_wait_secs(mut self, secs: f64) -> Self {
        if let Some(max_wait) = self.error.secs(POLICY, "max_wait", secs) {
            self.config.max_wait = Some(max_wait);
        }
        self
    }

    /// Validates the settings and builds the bulkhead.
    ///
    /// ```
    /// let err = palisade::bulkhead::Bulkhead::builder().max_concurrent(0).build().unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("max_concurrent", "0"));
    /// ```
    pub fn build(self) -> Result<Bulkhead, ConfigError> {
        self.error.check()?;
        self.config.validate()?;
        Ok(Bulkhead {
            shared: Arc::new(Shared {
                name: self.base.name_or(POLICY),
                slots: Semaphore::new(self.config.max_concurrent),
                config: self.config,
                clock: self.base.clock,
                listeners: self.base.listeners,
            }),
        })
    }
}

impl fmt::Debug for BulkheadBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadBuilder")
            .field("config", &self.config)
            .field("base", &self.base)
            .field("error", &self.error)
            .finish()
    }
}

builder_base!(
    BulkheadBuilder,
    kind = Bulkhead,
    policy = Bulkhead,
    make = "palisade::bulkhead::Bulkhead::builder()",
    build = ".build()"
);
