//! Durations written in the attribute, turned into whole nanoseconds at compile time.
//!
//! Two spellings: a string with units (`"250ms"`, `"30s"`, `"2m"`, `"1.5s"`, `"1m30s"`) and,
//! as the reference docs write them, a number of seconds (`15.0`, `0.5`). Both are parsed
//! as exact decimals — never through `f64` — so `"0.1s"` and `0.1` are exactly 100 ms. The
//! result is a `u64` of nanoseconds, what `Duration::from_nanos` takes; zero is refused by the
//! caller, which knows the field's name.

/// The units a duration string may use, longest spelling first so `ms` is not read as `m`.
const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

const UNIT_LIST: &str = "ns, us, ms, s, m or h";

/// Parses a duration string such as `"250ms"`, `"1.5s"` or `"1m30s"` into nanoseconds.
/// Segments must go from larger units to smaller ones, each unit at most once.
pub(crate) fn parse_duration(text: &str) -> Result<u64, String> {
    if text.trim().is_empty() {
        return Err(format!(
            "empty duration: write a number and a unit ({UNIT_LIST}), like \"250ms\", \"30s\" or \"1.5s\""
        ));
    }
    if text.chars().any(char::is_whitespace) {
        return Err(format!(
            "\"{text}\" contains a space: write the number and its unit together, like \"250ms\" or \"1m30s\""
        ));
    }
    let mut rest = text;
    let mut total: u128 = 0;
    let mut previous_unit: Option<(&str, u128)> = None;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits_end);
        if number.is_empty() {
            return Err(format!(
                "\"{text}\" is not a duration: write a number and a unit ({UNIT_LIST}), like \"250ms\" or \"1.5s\""
            ));
        }
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        if unit.is_empty() {
            return Err(format!(
                "\"{text}\" has no unit: write \"{number}ms\" or \"{number}s\" (units: {UNIT_LIST})"
            ));
        }
        let Some(&(unit, unit_nanos)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(format!(
                "unknown unit `{unit}` in \"{text}\": use {UNIT_LIST}"
            ));
        };
        if let Some((previous, previous_nanos)) = previous_unit
            && unit_nanos >= previous_nanos
        {
            return Err(format!(
                "\"{text}\" has `{unit}` after `{previous}`: write larger units first, each once, like \"1m30s\""
            ));
        }
        let segment = decimal_times(number, 0, unit_nanos).map_err(|why| match why {
            Inexact => format!("\"{text}\" is not a whole number of nanoseconds"),
            Malformed => format!("`{number}` in \"{text}\" is not a number"),
            TooLarge => too_large(text),
        })?;
        total = total
            .checked_add(segment)
            .filter(|&t| t <= u128::from(u64::MAX))
            .ok_or_else(|| too_large(text))?;
        previous_unit = Some((unit, unit_nanos));
        rest = next;
    }
    u64::try_from(total).map_err(|_| too_large(text))
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
        assert_eq!(parse_duration("2m"), Ok(120 * S));
        assert_eq!(parse_duration("1h"), Ok(3_600 * S));
    }

    #[test]
    fn fractions_are_exact() {
        assert_eq!(parse_duration("1.5s"), Ok(1_500 * MS));
        assert_eq!(parse_duration("0.1s"), Ok(100 * MS));
        assert_eq!(parse_duration(".5s"), Ok(500 * MS));
        assert_eq!(parse_duration("2.s"), Ok(2 * S));
        assert_eq!(parse_duration("0.000000001s"), Ok(1));
        assert_eq!(parse_duration("1.25m"), Ok(75 * S));
    }

    #[test]
    fn compound_durations_add_up_largest_unit_first() {
        assert_eq!(parse_duration("1m30s"), Ok(90 * S));
        assert_eq!(parse_duration("1h2m3s4ms"), Ok(3_723 * S + 4 * MS));
        assert!(
            parse_duration("30s1m")
                .unwrap_err()
                .contains("larger units first")
        );
        assert!(
            parse_duration("1s1s")
                .unwrap_err()
                .contains("larger units first")
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
        assert!(parse_duration("250").unwrap_err().contains("has no unit"));
        assert!(
            parse_duration("5sec")
                .unwrap_err()
                .contains("unknown unit `sec`")
        );
        assert!(
            parse_duration("ms")
                .unwrap_err()
                .contains("is not a duration")
        );
        assert!(
            parse_duration("-5s")
                .unwrap_err()
                .contains("is not a duration")
        );
        assert!(
            parse_duration("250 ms")
                .unwrap_err()
                .contains("contains a space")
        );
        assert!(
            parse_duration("1.2.3s")
                .unwrap_err()
                .contains("is not a number")
        );
        assert!(
            parse_duration(".s")
                .unwrap_err()
                .contains("is not a number")
        );
        assert!(
            parse_duration("1.5ns")
                .unwrap_err()
                .contains("whole number of nanoseconds")
        );
    }

    #[test]
    fn durations_past_u64_nanoseconds_are_refused() {
        assert_eq!(parse_duration("18446744073709551615ns"), Ok(u64::MAX));
        assert!(
            parse_duration("18446744073709551616ns")
                .unwrap_err()
                .contains("too long")
        );
        assert!(parse_duration("6000000h").unwrap_err().contains("too long"));
        assert!(
            parse_duration("5124095h34m33s709551616ns")
                .unwrap_err()
                .contains("too long")
        );
        assert!(
            parse_duration("99999999999999999999999999999999999999999h")
                .unwrap_err()
                .contains("too long")
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
