//! Small checks shared by every policy's `build()`, so each one words its errors the same way.

use std::time::Duration;

use crate::error::ConfigError;

/// Accepts a strictly positive duration.
pub(crate) fn positive(
    policy: &'static str,
    field: &'static str,
    value: Duration,
) -> Result<Duration, ConfigError> {
    if value.is_zero() {
        return Err(ConfigError::new(
            policy,
            field,
            format_args!("{value:?}"),
            "must be greater than zero",
        ));
    }
    Ok(value)
}

/// Converts a number of seconds (as configuration often writes delays) into a duration,
/// refusing NaN, infinities, zero, negatives and values too large to represent.
pub(crate) fn positive_secs(
    policy: &'static str,
    field: &'static str,
    secs: f64,
) -> Result<Duration, ConfigError> {
    let shown = if secs.is_nan() {
        "NaN".to_string()
    } else {
        format!("{secs}s")
    };
    if !secs.is_finite() {
        return Err(ConfigError::new(
            policy,
            field,
            shown,
            "must be a finite number of seconds",
        ));
    }
    if secs <= 0.0 {
        return Err(ConfigError::new(
            policy,
            field,
            shown,
            "must be greater than zero seconds",
        ));
    }
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(ConfigError::new(
            policy,
            field,
            shown,
            "must be at least one nanosecond",
        )),
        Err(_) => Err(ConfigError::new(
            policy,
            field,
            shown,
            "is too large to represent as a duration",
        )),
    }
}

/// The first bad value given to a builder's `*_secs` setter, held until `build()` reports it.
///
/// Setters accept anything and `build()` validates, so a setter that cannot even convert its
/// input (NaN seconds) parks the error here. The last setting of a field wins: a later valid
/// value for the same field — in seconds or as a `Duration` — discards the parked error.
#[derive(Debug, Default)]
pub(crate) struct DeferredError(Option<ConfigError>);

impl DeferredError {
    /// Converts `secs` for `field`, parking the error if it is not a positive duration.
    pub(crate) fn secs(
        &mut self,
        policy: &'static str,
        field: &'static str,
        secs: f64,
    ) -> Option<Duration> {
        match positive_secs(policy, field, secs) {
            Ok(d) => {
                self.clear(field);
                Some(d)
            }
            Err(e) => {
                self.0.get_or_insert(e);
                None
            }
        }
    }

    /// `field` was set to a valid value: a parked error for it no longer applies.
    pub(crate) fn clear(&mut self, field: &str) {
        if self.0.as_ref().is_some_and(|e| e.field() == field) {
            self.0 = None;
        }
    }

    /// The parked error, if any.
    pub(crate) fn check(self) -> Result<(), ConfigError> {
        self.0.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_checked_for_every_kind_of_bad_number() {
        for (secs, value, reason) in [
            (f64::NAN, "NaN", "must be a finite number of seconds"),
            (f64::INFINITY, "infs", "must be a finite number of seconds"),
            (-1.5, "-1.5s", "must be greater than zero seconds"),
            (0.0, "0s", "must be greater than zero seconds"),
            (1e-12, "0.000000000001s", "must be at least one nanosecond"),
            (
                1e30,
                "1000000000000000000000000000000s",
                "is too large to represent as a duration",
            ),
        ] {
            let err = positive_secs("retry", "base_delay", secs).unwrap_err();
            assert_eq!(
                (err.field(), err.value(), err.reason()),
                ("base_delay", value, reason)
            );
        }
        assert_eq!(
            positive_secs("retry", "base_delay", 0.25).unwrap(),
            Duration::from_millis(250)
        );
    }

    #[test]
    fn zero_durations_are_refused() {
        let err = positive("retry", "max_delay", Duration::ZERO).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid retry configuration: max_delay = 0ns: must be greater than zero"
        );
    }
}
