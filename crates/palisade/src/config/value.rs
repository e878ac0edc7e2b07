//! The human spellings of configuration values — durations (`"250ms"`, `30.0`), rates
//! (`"100/s"`) and named choices (`"exponential"`) — and their serde forms.
//!
//! Duration strings are read by [jiff]'s "friendly" format, the same call `#[resilient]`
//! makes at compile time, so a duration string that loads from a file or an environment
//! variable is accepted by the attribute too: `"250ms"`, `"1.5s"`, `"1m30s"`, `"1m 30s"`,
//! `"2h"`, `"2 hours, 30 minutes"`, `"1d"`. Units: ns, us/µs, ms, s, m, h, d, w and their
//! spelled-out forms (`nanos`, `micros`, `millis`, `secs`, `mins`, `hrs`, `days`, …), from
//! largest to smallest, each once, a fraction only on the last (`"1.5s"`, `"0.25h"`, not
//! `".5s"`). Days and weeks are 24 hours and 7 days; months and years are refused. A number
//! is seconds — `30`, `0.5`, and text that is only a number, such as an environment
//! variable's `"30"` (where the attribute, which has float literals for that, asks for a
//! unit).
//!
//! Everything here is written back the way it is read, so a saved file loads to the same
//! configuration.
//!
//! [jiff]: https://docs.rs/jiff/1/jiff/fmt/friendly/index.html

use std::fmt;
use std::time::Duration;

use jiff::SpanRelativeTo;
use jiff::fmt::friendly::SpanParser;
use serde::de::{self, Unexpected, Visitor};
use serde::{Deserializer, Serializer};

use crate::presets::Preset;
use crate::rate_limit::Rate;
use crate::retry::{Jitter, Strategy};

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// What a duration looks like, for error messages.
pub(crate) const DURATION_EXPECTED: &str =
    "a duration such as \"250ms\", \"1.5s\", \"1m 30s\" or a number of seconds";

/// Why a duration was refused; reads after "this one ".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    Empty,
    Negative,
    NotFinite,
    TooLarge,
    /// Months or years: no fixed length.
    NoFixedLength,
    /// jiff's reason, without its "failed to parse…" preamble.
    Invalid(String),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Empty => f.write_str("is empty"),
            Refused::Negative => f.write_str("must not be negative"),
            Refused::NotFinite => f.write_str("must be a finite number of seconds"),
            Refused::TooLarge => f.write_str("is too large"),
            Refused::NoFixedLength => f.write_str(
                "counts months or years, which have no fixed length: write days, hours or less",
            ),
            Refused::Invalid(reason) => write!(f, "is not a duration: {reason}"),
        }
    }
}

/// jiff's "friendly" duration parser: the one grammar for duration strings in files,
/// environment variables and `#[resilient]` (palisade-macros calls it the same way).
static PARSER: SpanParser = SpanParser::new();

/// Parses a duration string with jiff's "friendly" format: `"250ms"`, `"1.5s"`, `"1m30s"`,
/// `"1m 30s"`, `"2h"`, `"2 hours, 30 minutes"`, `"1d"`. Units from largest to smallest,
/// each once; a fraction only on the last. Days and weeks are 24 hours and 7 days; months
/// and years, which have no fixed length, are refused. Surrounding whitespace is ignored.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, Refused> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Refused::Empty);
    }
    if let Ok(duration) = PARSER.parse_unsigned_duration(text) {
        return Ok(duration);
    }
    // jiff reads days and weeks, and a sign, only into a `Span`: read it that way to take
    // days as 24 hours and to tell a negative duration from a malformed one.
    let span = PARSER
        .parse_span(text)
        .map_err(|error| Refused::Invalid(jiff_reason(&error)))?;
    if span.is_negative() {
        return Err(Refused::Negative);
    }
    if span.get_years() != 0 || span.get_months() != 0 {
        return Err(Refused::NoFixedLength);
    }
    span.to_duration(SpanRelativeTo::days_are_24_hours())
        .and_then(Duration::try_from)
        .map_err(|error| Refused::Invalid(jiff_reason(&error)))
}

/// jiff's message without the preamble every parse error starts with.
fn jiff_reason(error: &jiff::Error) -> String {
    let message = error.to_string();
    match message.strip_prefix("failed to parse input in the \"friendly\" duration format: ") {
        Some(reason) => reason.to_owned(),
        None => message,
    }
}

/// A string that is just a number (`"30"`, `"0.5"`, `"-1"`, `"1e3"`), as an environment
/// variable's value often is: that number, for reading as seconds or a count.
pub(crate) fn plain_number(text: &str) -> Option<f64> {
    let text = text.trim();
    let numeric = text.bytes().any(|b| b.is_ascii_digit())
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    if numeric { text.parse().ok() } else { None }
}

/// A duration from a number of seconds (`30.0`).
pub(crate) fn duration_from_secs(secs: f64) -> Result<Duration, Refused> {
    if secs.is_nan() || secs.is_infinite() {
        return Err(Refused::NotFinite);
    }
    if secs < 0.0 {
        return Err(Refused::Negative);
    }
    Duration::try_from_secs_f64(secs).map_err(|_| Refused::TooLarge)
}

/// A duration written as text in a file or an environment variable: a plain number is
/// seconds (`"30"`, `"0.5"`, as `30` and `0.5` are), anything else a duration string.
pub(crate) fn duration_from_text(text: &str) -> Result<Duration, Refused> {
    if let Ok(secs) = text.trim().parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    match plain_number(text) {
        Some(secs) => duration_from_secs(secs),
        None => parse_duration(text),
    }
}

/// The shortest exact spelling: the largest unit that divides the duration (`"250ms"`,
/// `"30s"`, `"2m"`, `"1500ms"`), so parsing it back gives the same duration. Past what one
/// 64-bit count of a unit holds (over 584 years with a part below a second), seconds and the
/// rest: `"18446744073709551615s 999999999ns"`.
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
    let single = units
        .into_iter()
        .find(|(_, size)| nanos.is_multiple_of(*size) && nanos / size <= u128::from(u64::MAX));
    match single {
        Some((name, size)) => format!("{}{name}", nanos / size),
        None => format!(
            "{}s {}",
            duration.as_secs(),
            format_duration(Duration::from_nanos(u64::from(duration.subsec_nanos())))
        ),
    }
}

/// Parses `"100/s"`, `"10/1s"`, `"5/250ms"`, `"600/m"`, `"1000/d"`: permits per period.
pub(crate) fn parse_rate(text: &str) -> Result<Rate, String> {
    let (permits, period) = text
        .split_once('/')
        .ok_or("has no `/` between permits and period")?;
    let permits: u32 = permits
        .trim()
        .parse()
        .map_err(|_| "has permits that are not a whole number from 1 to 4294967295")?;
    let period = period.trim();
    // "s" alone means one second.
    let period = if period.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        duration_from_text(period)
    } else {
        duration_from_text(&format!("1{period}"))
    };
    let period = period.map_err(|why| format!("has a period that {why}"))?;
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
        duration_from_text(text).map_err(|why| {
            E::invalid_value(Unexpected::Str(text), &Expected(&why, DURATION_EXPECTED))
        })
    }

    fn visit_u64<E: de::Error>(self, secs: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(secs))
    }

    fn visit_i64<E: de::Error>(self, secs: i64) -> Result<Duration, E> {
        u64::try_from(secs).map(Duration::from_secs).map_err(|_| {
            E::invalid_value(
                Unexpected::Signed(secs),
                &Expected(&Refused::Negative, DURATION_EXPECTED),
            )
        })
    }

    fn visit_f64<E: de::Error>(self, secs: f64) -> Result<Duration, E> {
        duration_from_secs(secs).map_err(|why| {
            E::invalid_value(Unexpected::Float(secs), &Expected(&why, DURATION_EXPECTED))
        })
    }
}

/// An `expected` text that also says what is wrong with this value: "a duration such as …;
/// this one must not be negative".
struct Expected<'a>(&'a dyn fmt::Display, &'static str);

impl de::Expected for Expected<'_> {
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
            parse_rate(text).map_err(|why| {
                E::invalid_value(
                    Unexpected::Str(text),
                    &Expected(&why, "a rate such as \"100/s\", \"600/m\" or \"5/250ms\""),
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
        ("default", Preset::Default),
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
            ("1.5s", Duration::from_millis(1500)),
            ("0.1s", Duration::from_millis(100)),
            ("1.25m", Duration::from_secs(75)),
            ("1m30s", Duration::from_secs(90)),
            ("1m 30s", Duration::from_secs(90)),
            (" 1m 30s ", Duration::from_secs(90)),
            ("2 hours, 30 minutes", Duration::from_secs(9000)),
            ("2h", Duration::from_secs(7200)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("5micros", Duration::from_micros(5)),
            ("100millis", Duration::from_millis(100)),
            ("7ns", Duration::from_nanos(7)),
            ("5sec", Duration::from_secs(5)),
            ("3hrs", Duration::from_secs(3 * 3600)),
            ("1d", Duration::from_secs(86_400)),
            ("1d 12h", Duration::from_secs(129_600)),
            ("2w", Duration::from_secs(14 * 86_400)),
            ("0s", Duration::ZERO),
            ("18446744073709551615s", Duration::from_secs(u64::MAX)),
        ];
        for (text, expected) in ok {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
            let formatted = format_duration(expected);
            assert_eq!(parse_duration(&formatted), Ok(expected), "{formatted}");
        }
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
    }

    #[test]
    fn bad_duration_strings_say_why() {
        assert_eq!(parse_duration(""), Err(Refused::Empty));
        assert_eq!(parse_duration("  "), Err(Refused::Empty));
        for negative in ["-1s", "-1d", "1s ago"] {
            assert_eq!(
                parse_duration(negative),
                Err(Refused::Negative),
                "{negative}"
            );
        }
        for calendar in ["1y", "2 months", "1y 2d"] {
            assert_eq!(
                parse_duration(calendar),
                Err(Refused::NoFixedLength),
                "{calendar}"
            );
        }
        for bad in [
            "s", "1x", "1.2.3s", "30 s s", "5 10", "1e3s", "30s1m", "1s1s", "1.5ns", "1M", "30",
            ".5s", "fast", "1m+30s",
        ] {
            let why = parse_duration(bad).unwrap_err();
            assert!(matches!(why, Refused::Invalid(_)), "{bad}: {why:?}");
            assert!(!why.to_string().contains("failed to parse"), "{why}");
        }
        let why = parse_duration("99999999999999999999999999h").unwrap_err();
        assert!(why.to_string().starts_with("is not a duration: "), "{why}");
    }

    #[test]
    fn text_that_is_a_number_is_seconds() {
        assert_eq!(duration_from_text("30"), Ok(Duration::from_secs(30)));
        assert_eq!(duration_from_text(" 0.5 "), Ok(Duration::from_millis(500)));
        assert_eq!(duration_from_text("-1"), Err(Refused::Negative));
        assert_eq!(duration_from_text("1e400"), Err(Refused::NotFinite));
        assert_eq!(duration_from_text("1e30"), Err(Refused::TooLarge));
        assert_eq!(duration_from_text("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(plain_number("1.5s"), None);
        assert_eq!(plain_number("e"), None);
    }

    #[test]
    fn durations_past_one_count_of_a_unit_are_written_as_seconds_and_the_rest() {
        for duration in [
            Duration::MAX,
            Duration::new(u64::MAX, 1),
            Duration::new(u64::MAX, 500_000_000),
            Duration::new(100_000_000_000, 500_000_000),
            Duration::from_nanos(u64::MAX),
        ] {
            let text = format_duration(duration);
            assert_eq!(parse_duration(&text), Ok(duration), "{text}");
        }
        assert_eq!(
            format_duration(Duration::MAX),
            "18446744073709551615s 999999999ns"
        );
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
        assert_eq!(
            parse_rate("1000/d"),
            Ok(Rate::new(1000, Duration::from_secs(86_400)))
        );
        assert_eq!(
            parse_rate("5/1m 30s"),
            Ok(Rate::new(5, Duration::from_secs(90)))
        );
        assert_eq!(
            parse_rate("5/30"),
            Ok(Rate::new(5, Duration::from_secs(30)))
        );
        assert!(parse_rate("100").is_err());
        assert!(parse_rate("x/s").is_err());
        assert!(parse_rate("5/1y").unwrap_err().contains("no fixed length"));
    }
}
