//! [`ConfigError`]: what every `build()` and configuration loading returns for a bad value.

use std::borrow::Cow;
use std::fmt;

/// A configuration value that was rejected by a `build()` or by config loading.
///
/// It names the field (a key path once configuration files arrive), the rejected value and
/// what would be accepted.
///
/// ```
/// use palisade::retry::Retry;
/// let err = Retry::builder().max_attempts(0).build().unwrap_err();
/// assert_eq!(err.field(), "max_attempts");
/// assert_eq!(err.value(), "0");
/// assert_eq!(
///     err.to_string(),
///     "invalid retry configuration: max_attempts = 0: must be at least 1"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {policy} configuration: {field} = {value}: {reason}")]
pub struct ConfigError {
    policy: &'static str,
    field: Cow<'static, str>,
    value: String,
    reason: Cow<'static, str>,
}

impl ConfigError {
    /// A rejected `field` of a `policy` with its `value` and the `reason` it was refused.
    ///
    /// ```
    /// let e = palisade::ConfigError::new("retry", "max_attempts", "0", "must be at least 1");
    /// assert_eq!(e.policy(), "retry");
    /// ```
    pub fn new(
        policy: &'static str,
        field: impl Into<Cow<'static, str>>,
        value: impl fmt::Display,
        reason: impl Into<Cow<'static, str>>,
    ) -> Self {
        ConfigError {
            policy,
            field: field.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// The policy kind the field belongs to (`"retry"`, `"circuit_breaker"`, …).
    ///
    /// ```
    /// # let e = palisade::ConfigError::new("retry", "max_delay", "0ns", "must be positive");
    /// assert_eq!(e.policy(), "retry");
    /// ```
    pub fn policy(&self) -> &'static str {
        self.policy
    }

    /// The rejected field's name or key path.
    ///
    /// ```
    /// # let e = palisade::ConfigError::new("retry", "max_delay", "0ns", "must be positive");
    /// assert_eq!(e.field(), "max_delay");
    /// ```
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The rejected value, as written or as it was set.
    ///
    /// ```
    /// # let e = palisade::ConfigError::new("retry", "max_delay", "0ns", "must be positive");
    /// assert_eq!(e.value(), "0ns");
    /// ```
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Why the value was refused and what would be accepted.
    ///
    /// ```
    /// # let e = palisade::ConfigError::new("retry", "max_delay", "0ns", "must be positive");
    /// assert_eq!(e.reason(), "must be positive");
    /// ```
    pub fn reason(&self) -> &str {
        &self.reason
    }
}
