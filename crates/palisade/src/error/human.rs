//! Durations in messages, rounded for a human reader: `30s`, not `29.999941188s`.
//!
//! Measured and computed durations (time until an open circuit lets a trial through, a
//! limiter's `retry_after`, the time retry had used) carry nanoseconds nobody wants to
//! read. Every `Display` of the error and event types writes them through
//! [`HumanDuration`]; the fields keep the exact value.
//!
//! The rule:
//!
//! - below a minute, at most three significant digits in the largest unit that keeps the
//!   number at least 1: `7ns`, `12.3µs`, `250ms`, `1.5ms`, `29.9s`, `30s`;
//! - from a minute on, whole seconds as hours, minutes and seconds: `1m 30s`, `2h 5s`;
//! - zero is `0s`.
//!
//! Rounding is to the nearest value, so `999.7ms` is `1s` and `59.96s` is `1m`. Every output
//! is also a duration string the configuration loader and `#[resilient]` read back.

use std::fmt;
use std::time::Duration;

const NANOS_PER_SEC: u128 = 1_000_000_000;
const NANOS_PER_MINUTE: u128 = 60 * NANOS_PER_SEC;

/// A duration written for people: see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HumanDuration(pub(crate) Duration);

/// `nanos` rounded to three significant digits (half away from zero).
fn three_significant_digits(nanos: u128) -> u128 {
    let digits = nanos.checked_ilog10().map_or(1, |log| log + 1);
    if digits <= 3 {
        return nanos;
    }
    let quantum = 10u128.pow(digits - 3);
    (nanos + quantum / 2) / quantum * quantum
}

/// Writes `nanos / unit` with the decimals it needs (none when whole).
fn decimal(f: &mut fmt::Formatter<'_>, nanos: u128, unit: u128, name: &str) -> fmt::Result {
    let whole = nanos / unit;
    let rest = nanos % unit;
    if rest == 0 {
        return write!(f, "{whole}{name}");
    }
    let width = unit.ilog10() as usize;
    let fraction = format!("{rest:0width$}");
    write!(f, "{whole}.{}{name}", fraction.trim_end_matches('0'))
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        let rounded = three_significant_digits(nanos);
        if rounded < NANOS_PER_MINUTE {
            return match rounded {
                n if n < 1_000 => write!(f, "{n}ns"),
                n if n < 1_000_000 => decimal(f, n, 1_000, "µs"),
                n if n < NANOS_PER_SEC => decimal(f, n, 1_000_000, "ms"),
                n => decimal(f, n, NANOS_PER_SEC, "s"),
            };
        }
        // Whole seconds, rounded to the nearest.
        let secs = (nanos + NANOS_PER_SEC / 2) / NANOS_PER_SEC;
        let (hours, minutes, seconds) = (secs / 3600, secs / 60 % 60, secs % 60);
        let mut sep = "";
        for (count, unit) in [(hours, "h"), (minutes, "m"), (seconds, "s")] {
            if count != 0 {
                write!(f, "{sep}{count}{unit}")?;
                sep = " ";
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn human(duration: Duration) -> String {
        HumanDuration(duration).to_string()
    }

    #[test]
    fn measured_durations_are_rounded_to_three_significant_digits() {
        for (duration, shown) in [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(1), "1ns"),
            (Duration::from_nanos(999), "999ns"),
            (Duration::from_nanos(1_000), "1µs"),
            (Duration::from_nanos(12_345), "12.3µs"),
            (Duration::from_nanos(999_900), "1ms"),
            (Duration::from_micros(1_500), "1.5ms"),
            (Duration::from_nanos(1_234_567), "1.23ms"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_nanos(249_999_999), "250ms"),
            (Duration::from_nanos(999_700_000), "1s"),
            (Duration::from_millis(1_500), "1.5s"),
            (Duration::from_nanos(29_999_941_188), "30s"),
            (Duration::from_nanos(12_345_678_901), "12.3s"),
            (Duration::from_millis(59_940), "59.9s"),
        ] {
            assert_eq!(human(duration), shown, "{duration:?}");
        }
    }

    #[test]
    fn a_minute_and_more_is_whole_hours_minutes_and_seconds() {
        for (duration, shown) in [
            (Duration::from_millis(59_960), "1m"),
            (Duration::from_secs(60), "1m"),
            (Duration::from_millis(90_400), "1m 30s"),
            (Duration::from_millis(90_500), "1m 31s"),
            (Duration::from_secs(3_600), "1h"),
            (Duration::from_secs(3_605), "1h 5s"),
            (Duration::from_secs(7_384), "2h 3m 4s"),
            (Duration::from_secs(30 * 86_400), "720h"),
            (Duration::MAX, "5124095576030431h 16s"),
        ] {
            assert_eq!(human(duration), shown, "{duration:?}");
        }
    }

    #[test]
    fn width_and_padding_of_the_fraction_are_exact() {
        // A fraction with leading zeros keeps them.
        assert_eq!(human(Duration::from_micros(1_050)), "1.05ms");
        assert_eq!(human(Duration::from_nanos(1_005_000_000)), "1.01s");
        assert_eq!(human(Duration::from_nanos(1_004_000_000)), "1s");
    }
}
