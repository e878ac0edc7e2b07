//! The human spellings of configuration values — durations (`"250ms"`, `30.0`), rates
//! (`"100/s"`) and named choices (`"exponential"`) — and their serde forms.
//!
//! Everything here is written back the way it is read, so a saved file loads to the same
//! configuration.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Unexpected, Visitor};
use serde::{Deserializer, Serializer};

use crate::presets::Preset;
use crate::rate_limit::Rate;
use crate::retry::{Jitter, Strategy};

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// The units a duration string may use, longest spelling first so `ms` wins over `m`.
const UNITS: [(&str, u128); 17] = [
    ("nanos", 1),
    ("micros", 1_000),
    ("millis", 1_000_000),
    ("secs", NANOS_PER_SEC),
    ("sec", NANOS_PER_SEC),
    ("mins", 60 * NANOS_PER_SEC),
    ("min", 60 * NANOS_PER_SEC),
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("hrs", 3_600 * NANOS_PER_SEC),
    ("hr", 3_600 * NANOS_PER_SEC),
    ("s", NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("h", 3_600 * NANOS_PER_SEC),
    ("d", 86_400 * NANOS_PER_SEC),
];

/// What a duration looks like, for error messages.
pub(crate) const DURATION_EXPECTED: &str =
    "a duration such as \"250ms\", \"30s\", \"1m30s\" or a number of seconds";

/// Parses `"250ms"`, `"1.5s"`, `"1m30s"`, `"2h"` or a bare number of seconds (`"30"`,
/// `"0.5"`). Units: ns, us (µs), ms, s, m (min), h, d. Whitespace between parts is allowed.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Err("is empty");
    }
    if text.starts_with('-') {
        return Err("must not be negative");
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err("is not a duration");
        }
        let after = after.trim_start();
        let (unit, after) = match UNITS.iter().find(|(name, _)| after.starts_with(name)) {
            Some(&(name, nanos)) => (nanos, &after[name.len()..]),
            // A bare number is seconds, and only on its own.
            None if after.is_empty() && total == 0 => (NANOS_PER_SEC, after),
            None => return Err("has an unknown unit (use ns, us, ms, s, m, h or d)"),
        };
        total = total
            .checked_add(scaled(number, unit).ok_or("is too large")?)
            .ok_or("is too large")?;
        rest = after.trim_start();
    }
    let secs = u64::try_from(total / NANOS_PER_SEC).map_err(|_| "is too large")?;
    // The remainder is below one second, so it fits.
    let nanos = u32::try_from(total % NANOS_PER_SEC).map_err(|_| "is too large")?;
    Ok(Duration::new(secs, nanos))
}

/// `number` (digits with an optional fraction) times `unit` nanoseconds, exactly, with any
/// part below a nanosecond dropped.
fn scaled(number: &str, unit: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut nanos = whole.checked_mul(unit)?;
    // At most 18 fraction digits matter below a nanosecond of a day.
    let fraction = &fraction[..fraction.len().min(18)];
    if !fraction.is_empty() {
        let digits: u128 = fraction.parse().ok()?;
        let scale = 10u128.checked_pow(u32::try_from(fraction.len()).ok()?)?;
        nanos = nanos.checked_add(digits.checked_mul(unit)? / scale)?;
    }
    Some(nanos)
}

/// A duration from a number of seconds (the reference docs' `30.0`).
pub(crate) fn duration_from_secs(secs: f64) -> Result<Duration, &'static str> {
    if secs.is_nan() || secs.is_infinite() {
        return Err("must be a finite number of seconds");
    }
    if secs < 0.0 {
        return Err("must not be negative");
    }
    Duration::try_from_secs_f64(secs).map_err(|_| "is too large")
}

/// The shortest exact spelling: the largest unit that divides the duration (`"250ms"`,
/// `"30s"`, `"2m"`, `"1500ms"`), so parsing it back gives the same duration.
pub(crate) fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    let units: [(&str, u128); 6] = [
        ("h", 3_600 * NANOS_PER_SEC),
        ("m", 60 * NANOS_PER_SEC),
        ("s", NANOS_PER_SEC),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ];
    let (name, size) = units
        .into_iter()
        .find(|(_, size)| nanos.is_multiple_of(*size))
        .unwrap_or(("ns", 1));
    format!("{}{name}", nanos / size)
}

/// Parses `"100/s"`, `"10/1s"`, `"5/250ms"`, `"600/m"`: permits per period.
pub(crate) fn parse_rate(text: &str) -> Result<Rate, &'static str> {
    let (permits, period) = text
        .split_once('/')
        .ok_or("has no `/` between permits and period")?;
    let permits: u32 = permits
        .trim()
        .parse()
        .map_err(|_| "has permits that are not a whole number from 0 to 4294967295")?;
    let period = period.trim();
    // "s" alone means one second.
    let period = if period.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        parse_duration(period)?
    } else {
        parse_duration(&format!("1{period}"))?
    };
    Ok(Rate::new(permits, period))
}

/// `"100/s"` for one second, `"5/250ms"` otherwise.
pub(crate) fn format_rate(rate: &Rate) -> String {
    let period = format_duration(rate.period);
    let period = match period.strip_prefix('1') {
        Some(unit) if unit.starts_with(|c: char| c.is_ascii_alphabetic()) => unit.to_owned(),
        _ => period,
    };
    format!("{}/{period}", rate.permits)
}

/// Accepts a duration as a string or a number of seconds.
struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(DURATION_EXPECTED)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        parse_duration(text).map_err(|reason| {
            E::invalid_value(Unexpected::Str(text), &Expected(reason, DURATION_EXPECTED))
        })
    }

    fn visit_u64<E: de::Error>(self, secs: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(secs))
    }

    fn visit_i64<E: de::Error>(self, secs: i64) -> Result<Duration, E> {
        u64::try_from(secs).map(Duration::from_secs).map_err(|_| {
            E::invalid_value(
                Unexpected::Signed(secs),
                &Expected("must not be negative", DURATION_EXPECTED),
            )
        })
    }

    fn visit_f64<E: de::Error>(self, secs: f64) -> Result<Duration, E> {
        duration_from_secs(secs).map_err(|reason| {
            E::invalid_value(
                Unexpected::Float(secs),
                &Expected(reason, DURATION_EXPECTED),
            )
        })
    }
}

/// An `expected` text that also says what is wrong with this value: "a duration such as …;
/// this one must not be negative".
struct Expected(&'static str, &'static str);

impl de::Expected for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; this one {}", self.1, self.0)
    }
}

/// `#[serde(with = "duration")]` for `Option<Duration>` fields.
pub(crate) mod duration {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => serializer.serialize_str(&format_duration(*duration)),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        deserializer.deserialize_any(DurationVisitor).map(Some)
    }
}

/// `#[serde(with = "rate")]` for `Option<Rate>` fields.
pub(crate) mod rate {
    use super::*;

    struct RateVisitor;

    impl Visitor<'_> for RateVisitor {
        type Value = Rate;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a rate such as \"100/s\", \"600/m\" or \"5/250ms\"")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Rate, E> {
            parse_rate(text).map_err(|reason| {
                E::invalid_value(
                    Unexpected::Str(text),
                    &Expected(reason, "a rate such as \"100/s\", \"600/m\" or \"5/250ms\""),
                )
            })
        }
    }

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Rate>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(rate) => serializer.serialize_str(&format_rate(rate)),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Rate>, D::Error> {
        deserializer.deserialize_str(RateVisitor).map(Some)
    }
}

/// A choice spelled by name in configuration files.
pub(crate) trait Named: Sized + Copy + 'static {
    /// Every value with its name.
    const NAMES: &'static [(&'static str, Self)];
    /// What the field is, for error messages ("a preset").
    const WHAT: &'static str;

    fn name_of(self) -> &'static str;
}

impl Named for Preset {
    const NAMES: &'static [(&'static str, Preset)] = &[
        ("database", Preset::Database),
        ("api", Preset::Api),
        ("cache", Preset::Cache),
        ("file", Preset::File),
        ("ml", Preset::Ml),
        ("kafka", Preset::Kafka),
        ("vault", Preset::Vault),
        ("network", Preset::Network),
    ];
    const WHAT: &'static str = "a preset";

    fn name_of(self) -> &'static str {
        self.name()
    }
}

impl Named for Strategy {
    const NAMES: &'static [(&'static str, Strategy)] = &[
        ("fixed", Strategy::Fixed),
        ("linear", Strategy::Linear),
        ("exponential", Strategy::Exponential),
    ];
    const WHAT: &'static str = "a backoff strategy";

    fn name_of(self) -> &'static str {
        match self {
            Strategy::Fixed => "fixed",
            Strategy::Linear => "linear",
            Strategy::Exponential => "exponential",
        }
    }
}

impl Named for Jitter {
    const NAMES: &'static [(&'static str, Jitter)] = &[
        ("none", Jitter::None),
        ("full", Jitter::Full),
        ("equal", Jitter::Equal),
        ("decorrelated", Jitter::Decorrelated),
    ];
    const WHAT: &'static str = "a jitter";

    fn name_of(self) -> &'static str {
        match self {
            Jitter::None => "none",
            Jitter::Full => "full",
            Jitter::Equal => "equal",
            Jitter::Decorrelated => "decorrelated",
        }
    }
}

/// `#[serde(with = "named")]` for `Option<T: Named>` fields.
pub(crate) mod named {
    use std::marker::PhantomData;

    use super::*;

    struct NamedVisitor<T>(PhantomData<T>);

    impl<T: Named> Visitor<'_> for NamedVisitor<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}: one of ", T::WHAT)?;
            for (i, (name, _)) in T::NAMES.iter().enumerate() {
                write!(f, "{}{name}", if i == 0 { "" } else { ", " })?;
            }
            Ok(())
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
            T::NAMES
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(text.trim()))
                .map(|&(_, value)| value)
                .ok_or_else(|| E::invalid_value(Unexpected::Str(text), &self))
        }
    }

    pub(crate) fn serialize<T: Named, S: Serializer>(
        value: &Option<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.serialize_str(value.name_of()),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, T: Named, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<T>, D::Error> {
        deserializer
            .deserialize_str(NamedVisitor(PhantomData))
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit_and_format_back_exactly() {
        let ok = [
            ("250ms", Duration::from_millis(250)),
            ("30s", Duration::from_secs(30)),
            ("30", Duration::from_secs(30)),
            ("0.5", Duration::from_millis(500)),
            ("1.5s", Duration::from_millis(1500)),
            ("1m30s", Duration::from_secs(90)),
            ("1m 30s", Duration::from_secs(90)),
            ("2h", Duration::from_secs(7200)),
            ("10us", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
            ("1d", Duration::from_secs(86_400)),
            ("0s", Duration::ZERO),
        ];
        for (text, expected) in ok {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
            let formatted = format_duration(expected);
            assert_eq!(parse_duration(&formatted), Ok(expected), "{formatted}");
        }
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
        for bad in ["", "-1s", "s", "1x", "1.2.3s", "30 s s", "5 10", "1e3s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_duration("99999999999999999999999999h").is_err());
    }

    #[test]
    fn rates_parse_and_format_back() {
        assert_eq!(parse_rate("100/s"), Ok(Rate::per_second(100)));
        assert_eq!(parse_rate("600/m"), Ok(Rate::per_minute(600)));
        assert_eq!(
            parse_rate("5/250ms"),
            Ok(Rate::new(5, Duration::from_millis(250)))
        );
        assert_eq!(format_rate(&Rate::per_second(100)), "100/s");
        assert_eq!(format_rate(&Rate::new(5, Duration::from_secs(10))), "5/10s");
        assert!(parse_rate("100").is_err());
        assert!(parse_rate("x/s").is_err());
    }
}
