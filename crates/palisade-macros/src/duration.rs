//! Durations written in the attribute, turned into whole nanoseconds at compile time.
//!
//! Two spellings. A string is read by [jiff]'s "friendly" duration format — the same call
//! palisade's configuration makes for files and environment variables, so a string that
//! loads from a file is accepted here too: `"250ms"`, `"1.5s"`, `"1m30s"`, `"1m 30s"`,
//! `"2 hours"`, `"1d"` (units largest first, each once, a fraction only on the last; days
//! and weeks are 24 hours and 7 days, months and years are refused). And, as Python code
//! writes them, a number of seconds (`15.0`, `0.5`), read as an exact decimal — never
//! through `f64` — so `0.1` is exactly 100 ms. The result is a `u64` of nanoseconds, what
//! `Duration::from_nanos` takes; zero is refused by the caller, which knows the field's name.

use std::time::Duration;

use jiff::SpanRelativeTo;
use jiff::fmt::friendly::SpanParser;

static PARSER: SpanParser = SpanParser::new();

const LIKE: &str =
    "write a number and a unit (ns, us, ms, s, m, h, d), like \"250ms\", \"1.5s\" or \"1m 30s\"";

/// Parses a duration string such as `"250ms"`, `"1.5s"` or `"1m 30s"` into nanoseconds.
pub(crate) fn parse_duration(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(format!("empty duration: {LIKE}"));
    }
    let duration = match PARSER.parse_unsigned_duration(trimmed) {
        Ok(duration) => duration,
        Err(_) => read_span(text, trimmed)?,
    };
    u64::try_from(duration.as_nanos()).map_err(|_| too_large(&format!("\"{text}\"")))
}

/// What `parse_unsigned_duration` refused: jiff reads days, weeks and a sign only into a
/// `Span`, so read it that way to take days as 24 hours and to tell a negative duration
/// from a malformed one.
fn read_span(text: &str, trimmed: &str) -> Result<Duration, String> {
    let span = PARSER.parse_span(trimmed).map_err(|error| {
        if is_plain_decimal(trimmed) {
            format!(
                "\"{text}\" has no unit: write \"{trimmed}s\" or \"{trimmed}ms\", or seconds as a \
                 number ({})",
                as_float(trimmed)
            )
        } else {
            format!(
                "\"{text}\" is not a duration: {}; {LIKE}",
                jiff_reason(&error)
            )
        }
    })?;
    if span.is_negative() {
        return Err(format!(
            "\"{text}\" is negative: a duration here must be greater than zero"
        ));
    }
    if span.get_years() != 0 || span.get_months() != 0 {
        return Err(format!(
            "\"{text}\" counts months or years, which have no fixed length: write days, hours \
             or less, like \"30d\""
        ));
    }
    span.to_duration(SpanRelativeTo::days_are_24_hours())
        .and_then(Duration::try_from)
        .map_err(|error| format!("\"{text}\" is not a duration: {}", jiff_reason(&error)))
}

/// jiff's message without the preamble every parse error starts with.
fn jiff_reason(error: &jiff::Error) -> String {
    let message = error.to_string();
    match message.strip_prefix("failed to parse input in the \"friendly\" duration format: ") {
        Some(reason) => reason.to_owned(),
        None => message,
    }
}

/// `30` or `0.5`: digits, with digits on both sides of a decimal point.
fn is_plain_decimal(text: &str) -> bool {
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    match text.split_once('.') {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(text),
    }
}

/// `30` as `30.0`, `0.5` as it is: the float literal the attribute takes for seconds.
fn as_float(number: &str) -> String {
    if number.contains('.') {
        number.to_owned()
    } else {
        format!("{number}.0")
    }
}

/// Parses the base-10 digits of a numeric literal (as `syn` gives them: no sign, suffix or
/// underscores, possibly with a fraction and an exponent: `15.0`, `1e3`, `2.5E-1`) as a
/// number of seconds, into nanoseconds.
pub(crate) fn parse_seconds(digits: &str) -> Result<u64, String> {
    let (mantissa, exponent) = match digits.find(['e', 'E']) {
        Some(at) => {
            let exponent = &digits[at + 1..];
            let exponent: i32 = exponent
                .strip_prefix('+')
                .unwrap_or(exponent)
                .parse()
                .map_err(|_| format!("`{digits}` is not a number of seconds"))?;
            (&digits[..at], exponent)
        }
        None => (digits, 0),
    };
    decimal_times(mantissa, exponent, 1_000_000_000)
        .and_then(|nanos| u64::try_from(nanos).map_err(|_| TooLarge))
        .map_err(|why| match why {
            Inexact => format!("{digits} seconds is not a whole number of nanoseconds"),
            Malformed => format!("`{digits}` is not a number of seconds"),
            TooLarge => too_large(&format!("{digits} seconds")),
        })
}

fn too_large(shown: &str) -> String {
    format!(
        "{shown} is too long: a duration here is at most u64::MAX nanoseconds (about 584 years)"
    )
}

#[derive(Debug, PartialEq)]
enum Why {
    Malformed,
    Inexact,
    TooLarge,
}
use Why::{Inexact, Malformed, TooLarge};

/// `number × 10^exponent × unit`, exactly, for a decimal `number` such as `1.5` or `250`;
/// an error when the result has a fraction or does not fit.
fn decimal_times(number: &str, exponent: i32, unit: u128) -> Result<u128, Why> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err(Malformed);
    }
    if !(whole.bytes().all(|b| b.is_ascii_digit()) && fraction.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(Malformed);
    }
    // All the digits as one integer, and the power of ten that scales it back.
    let digits = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    let scale = i32::try_from(fraction.len())
        .ok()
        .and_then(|decimals| exponent.checked_sub(decimals))
        .ok_or(Inexact)?;
    if digits.is_empty() {
        return Ok(0);
    }
    if digits.len() > 38 {
        return Err(TooLarge);
    }
    let mut value: u128 = digits.parse().map_err(|_| TooLarge)?;
    value = value.checked_mul(unit).ok_or(TooLarge)?;
    if scale >= 0 {
        let factor = 10u128.checked_pow(scale.unsigned_abs()).ok_or(TooLarge)?;
        value.checked_mul(factor).ok_or(TooLarge)
    } else {
        let divisor = match 10u128.checked_pow(scale.unsigned_abs()) {
            Some(divisor) => divisor,
            // More than 38 decimals below the unit: only zero divides evenly, and zero was
            // handled above.
            None => return Err(Inexact),
        };
        if value.is_multiple_of(divisor) {
            Ok(value / divisor)
        } else {
            Err(Inexact)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;

    #[test]
    fn every_unit_is_read() {
        assert_eq!(parse_duration("7ns"), Ok(7));
        assert_eq!(parse_duration("7us"), Ok(7_000));
        assert_eq!(parse_duration("7µs"), Ok(7_000));
        assert_eq!(parse_duration("250ms"), Ok(250 * MS));
        assert_eq!(parse_duration("30s"), Ok(30 * S));
        assert_eq!(parse_duration("5sec"), Ok(5 * S));
        assert_eq!(parse_duration("2m"), Ok(120 * S));
        assert_eq!(parse_duration("2 mins"), Ok(120 * S));
        assert_eq!(parse_duration("1h"), Ok(3_600 * S));
        assert_eq!(parse_duration("1d"), Ok(86_400 * S));
        assert_eq!(parse_duration("1w"), Ok(7 * 86_400 * S));
    }

    #[test]
    fn fractions_are_exact() {
        assert_eq!(parse_duration("1.5s"), Ok(1_500 * MS));
        assert_eq!(parse_duration("0.1s"), Ok(100 * MS));
        assert_eq!(parse_duration("0.000000001s"), Ok(1));
        assert_eq!(parse_duration("1.25m"), Ok(75 * S));
        assert_eq!(parse_duration("1m 0.5s"), Ok(60_500 * MS));
    }

    #[test]
    fn compound_durations_add_up_largest_unit_first_with_or_without_spaces() {
        assert_eq!(parse_duration("1m30s"), Ok(90 * S));
        assert_eq!(parse_duration("1m 30s"), Ok(90 * S));
        assert_eq!(parse_duration(" 1m 30s "), Ok(90 * S));
        assert_eq!(parse_duration("1 hour, 30 minutes"), Ok(5_400 * S));
        assert_eq!(parse_duration("1h2m3s4ms"), Ok(3_723 * S + 4 * MS));
        assert_eq!(parse_duration("1d 12h"), Ok(129_600 * S));
        assert!(
            parse_duration("30s1m")
                .unwrap_err()
                .contains("largest to smallest")
        );
        assert!(
            parse_duration("1s1s")
                .unwrap_err()
                .contains("largest to smallest")
        );
    }

    #[test]
    fn zero_parses_so_the_caller_can_name_the_field() {
        assert_eq!(parse_duration("0s"), Ok(0));
        assert_eq!(parse_duration("0.0ms"), Ok(0));
    }

    #[test]
    fn malformed_strings_say_what_is_wrong() {
        assert!(parse_duration("").unwrap_err().contains("empty duration"));
        assert!(parse_duration(" ").unwrap_err().contains("empty duration"));
        let no_unit = parse_duration("250").unwrap_err();
        assert!(no_unit.contains("has no unit"), "{no_unit}");
        assert!(no_unit.contains("\"250s\" or \"250ms\""), "{no_unit}");
        assert!(no_unit.contains("(250.0)"), "{no_unit}");
        assert!(parse_duration("0.5").unwrap_err().contains("(0.5)"));
        for bad in ["ms", "fast", "5 parsecs", "1.2.3s", "1e3s", ".5s", "1M"] {
            let message = parse_duration(bad).unwrap_err();
            assert!(
                message.starts_with(&format!("\"{bad}\" is not a duration: ")),
                "{message}"
            );
            assert!(message.contains("like \"250ms\""), "{message}");
            assert!(!message.contains("failed to parse"), "{message}");
        }
        for negative in ["-5s", "-1d", "5s ago"] {
            assert!(
                parse_duration(negative)
                    .unwrap_err()
                    .contains("is negative: a duration here must be greater than zero")
            );
        }
        assert!(
            parse_duration("1y")
                .unwrap_err()
                .contains("months or years, which have no fixed length")
        );
        assert!(
            parse_duration("1.5ns")
                .unwrap_err()
                .contains("fractional nanoseconds")
        );
    }

    #[test]
    fn durations_past_u64_nanoseconds_are_refused() {
        assert_eq!(parse_duration("18446744073709551615ns"), Ok(u64::MAX));
        assert_eq!(
            parse_duration("5124095h 34m 33s 709ms 551us 615ns"),
            Ok(u64::MAX)
        );
        assert!(
            parse_duration("18446744073709551616ns")
                .unwrap_err()
                .contains("is not a duration")
        );
        assert!(parse_duration("6000000h").unwrap_err().contains("too long"));
        assert!(parse_duration("300000d").unwrap_err().contains("too long"));
        assert!(
            parse_duration("5124095h34m33s709ms551us616ns")
                .unwrap_err()
                .contains("too long")
        );
        assert!(
            parse_duration("99999999999999999999999999999999999999999h")
                .unwrap_err()
                .contains("is not a duration")
        );
    }

    #[test]
    fn seconds_are_exact_decimals() {
        assert_eq!(parse_seconds("15.0"), Ok(15 * S));
        assert_eq!(parse_seconds("0.1"), Ok(100 * MS));
        assert_eq!(parse_seconds("2"), Ok(2 * S));
        assert_eq!(parse_seconds("1e3"), Ok(1_000 * S));
        assert_eq!(parse_seconds("2.5E-1"), Ok(250 * MS));
        assert_eq!(parse_seconds("1e+1"), Ok(10 * S));
        assert_eq!(parse_seconds("1e-9"), Ok(1));
        assert_eq!(parse_seconds("0.0"), Ok(0));
    }

    #[test]
    fn seconds_out_of_range_or_too_fine_are_refused() {
        assert!(
            parse_seconds("1e-10")
                .unwrap_err()
                .contains("whole number of nanoseconds")
        );
        assert!(
            parse_seconds("1e-60")
                .unwrap_err()
                .contains("whole number of nanoseconds")
        );
        assert!(parse_seconds("1e30").unwrap_err().contains("too long"));
        assert!(parse_seconds("1e999999").unwrap_err().contains("too long"));
        assert!(parse_seconds("1ex").unwrap_err().contains("not a number"));
        assert!(
            parse_seconds("1.5e-2147483648")
                .unwrap_err()
                .contains("whole number")
        );
    }
}
