//! The attribute's arguments: `key = literal` pairs, every one checked at compile time.
//!
//! Each error points at the offending token and says what to write instead; all errors of one
//! attribute are reported together. Values are literals only — a constant or an expression
//! could not be checked here, and the point of the attribute is that a pipeline it accepts
//! always builds.

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Lit, Meta, Token, UnOp};

use crate::duration::{parse_duration, parse_seconds};

/// The presets `palisade::presets::Preset` defines: (name in the attribute, enum variant).
pub(crate) const PRESETS: &[(&str, &str)] = &[
    ("database", "Database"),
    ("api", "Api"),
    ("cache", "Cache"),
    ("file", "File"),
    ("ml", "Ml"),
    ("kafka", "Kafka"),
    ("vault", "Vault"),
    ("network", "Network"),
];

/// The reference docs' `operation_type` for "no preset": only the settings written apply.
const CUSTOM: &str = "custom";

/// Retry's defaults when no preset is named (palisade's `RetryConfig::default()`): a
/// `base_delay` or `max_delay` given alone must stay consistent with the other one.
/// `tests/expand.rs` calls functions at both edges, so a change in palisade shows up there.
pub(crate) const DEFAULT_BASE_DELAY_NANOS: u64 = 1_000_000_000;
pub(crate) const DEFAULT_MAX_DELAY_NANOS: u64 = 30_000_000_000;

/// What a key sets. Aliases (the reference docs' spellings) set the same field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Preset,
    Name,
    MaxAttempts,
    FailureThreshold,
    Timeout,
    TotalTimeout,
    BaseDelay,
    MaxDelay,
    RecoveryTimeout,
    Backend,
}

/// How a key's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A preset name, as a string.
    Preset,
    /// A non-empty string.
    Name,
    /// An integer of at least 1 that fits a `u32`.
    Count,
    /// A duration string (`"250ms"`) or a float number of seconds (`2.0`).
    Duration,
    /// A number of seconds, integer or float (`timeout_seconds = 15.0`).
    Seconds,
    /// A path to a function (`backend = crate::fleet`).
    Path,
}

/// Every accepted key: its spelling, the field it sets and how its value is written.
const KEYS: &[(&str, Field, Kind)] = &[
    ("preset", Field::Preset, Kind::Preset),
    ("operation_type", Field::Preset, Kind::Preset),
    ("name", Field::Name, Kind::Name),
    ("operation_name", Field::Name, Kind::Name),
    ("max_attempts", Field::MaxAttempts, Kind::Count),
    ("failure_threshold", Field::FailureThreshold, Kind::Count),
    ("timeout", Field::Timeout, Kind::Duration),
    ("timeout_seconds", Field::Timeout, Kind::Seconds),
    ("total_timeout", Field::TotalTimeout, Kind::Duration),
    ("base_delay", Field::BaseDelay, Kind::Duration),
    ("max_delay", Field::MaxDelay, Kind::Duration),
    ("recovery_timeout", Field::RecoveryTimeout, Kind::Duration),
    ("backend", Field::Backend, Kind::Path),
];

/// Settings of the reference docs' decorator that the attribute deliberately does not take,
/// with what to do instead.
const NOT_TAKEN: &[(&str, &str)] = &[
    (
        "exponential_base",
        "the presets back off exponentially (x2) with full jitter; to change the curve, build \
         the pipeline in code: `Preset::Api.pipeline().retry(|r| r.exponential_base(1.5)).build()`",
    ),
    (
        "jitter",
        "the presets back off exponentially (x2) with full jitter; to change the jitter, build \
         the pipeline in code: `Preset::Api.pipeline().retry(|r| r.jitter(Jitter::Equal)).build()`",
    ),
    (
        "retry_exceptions",
        "which errors are retried is a predicate over your error type: build the pipeline in \
         code and add `.retry_if(|e| ...)`",
    ),
    (
        "enable_timeout",
        "every setting given adds its policy; to leave one of a preset's policies out, build the \
         pipeline in code from `Pipeline::builder()`",
    ),
    (
        "enable_retry",
        "every setting given adds its policy; to leave one of a preset's policies out, build the \
         pipeline in code from `Pipeline::builder()`",
    ),
    (
        "enable_circuit_breaker",
        "every setting given adds its policy; to leave one of a preset's policies out, build the \
         pipeline in code from `Pipeline::builder()`",
    ),
];

/// Words people reach for, and the key that means it.
const SYNONYMS: &[(&str, &str)] = &[
    ("retries", "max_attempts"),
    ("max_retries", "max_attempts"),
    ("attempts", "max_attempts"),
    ("delay", "base_delay"),
    ("initial_delay", "base_delay"),
    ("backoff", "base_delay"),
    ("threshold", "failure_threshold"),
    ("reset_timeout", "recovery_timeout"),
    ("deadline", "total_timeout"),
    ("kind", "preset"),
];

/// A validated preset.
#[derive(Debug, Clone)]
pub(crate) struct PresetArg {
    /// As written: `"database"`.
    pub(crate) name: &'static str,
    /// The `Preset` variant: `Database`.
    pub(crate) variant: &'static str,
    pub(crate) span: Span,
}

/// A validated value with where it was written.
#[derive(Debug, Clone)]
pub(crate) struct Setting<T> {
    pub(crate) value: T,
    /// The key as written (an alias stays an alias in messages).
    pub(crate) key: &'static str,
    /// The value's tokens, for errors that point at it.
    pub(crate) tokens: TokenStream,
    pub(crate) span: Span,
}

/// The attribute's arguments, each checked on its own and against the others.
#[derive(Debug, Default)]
pub(crate) struct Args {
    /// `None`: no preset (omitted, or `"custom"`): a pipeline of just the settings given.
    pub(crate) preset: Option<PresetArg>,
    pub(crate) name: Option<Setting<String>>,
    pub(crate) max_attempts: Option<Setting<u32>>,
    pub(crate) failure_threshold: Option<Setting<u32>>,
    /// Durations in nanoseconds, never zero.
    pub(crate) timeout: Option<Setting<u64>>,
    pub(crate) total_timeout: Option<Setting<u64>>,
    pub(crate) base_delay: Option<Setting<u64>>,
    pub(crate) max_delay: Option<Setting<u64>>,
    pub(crate) recovery_timeout: Option<Setting<u64>>,
    /// The function that gives the pipeline its backend: a path, in `tokens`.
    pub(crate) backend: Option<Setting<()>>,
    /// A preset was given, even `"custom"` (then `preset` is `None`).
    preset_given: bool,
}

impl Args {
    /// Parses and checks the attribute's arguments.
    pub(crate) fn parse(tokens: TokenStream) -> syn::Result<Args> {
        let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(tokens)?;
        let mut args = Args::default();
        let mut errors = Errors::default();
        let mut seen: Vec<(Field, &'static str)> = Vec::new();
        for meta in metas {
            let (key, field, kind, value) = match key_and_value(&meta) {
                Ok(parts) => parts,
                Err(error) => {
                    errors.push(error);
                    continue;
                }
            };
            if let Some(&(_, first)) = seen.iter().find(|(f, _)| *f == field) {
                let message = if first == key {
                    format!("`{key}` is given twice")
                } else {
                    format!("`{key}` and `{first}` set the same thing: give only one of them")
                };
                errors.push(syn::Error::new_spanned(meta.path(), message));
                continue;
            }
            seen.push((field, key));
            if let Err(error) = args.set(key, field, kind, value) {
                errors.push(error);
            }
        }
        errors.finish()?;
        args.check_together()?;
        Ok(args)
    }

    fn set(
        &mut self,
        key: &'static str,
        field: Field,
        kind: Kind,
        value: &Expr,
    ) -> syn::Result<()> {
        fn setting<T>(value: T, key: &'static str, written: &Expr) -> Setting<T> {
            Setting {
                value,
                key,
                tokens: written.to_token_stream(),
                span: written.span(),
            }
        }
        match kind {
            Kind::Preset => {
                self.preset_given = true;
                self.preset = preset(key, value)?;
            }
            Kind::Name => self.name = Some(setting(name(key, value)?, key, value)),
            Kind::Count => {
                let count = Some(setting(count(key, value)?, key, value));
                match field {
                    Field::MaxAttempts => self.max_attempts = count,
                    _ => self.failure_threshold = count,
                }
            }
            Kind::Duration | Kind::Seconds => {
                let nanos = Some(setting(duration(key, kind, value)?, key, value));
                match field {
                    Field::Timeout => self.timeout = nanos,
                    Field::TotalTimeout => self.total_timeout = nanos,
                    Field::BaseDelay => self.base_delay = nanos,
                    Field::MaxDelay => self.max_delay = nanos,
                    _ => self.recovery_timeout = nanos,
                }
            }
            Kind::Path => {
                if !matches!(value, Expr::Path(_)) {
                    return Err(syn::Error::new_spanned(
                        value,
                        format!(
                            "`{key}` takes the path of a function that returns the backend, \
                             like `{key} = crate::fleet_backend` (called once, when the \
                             pipeline is built)"
                        ),
                    ));
                }
                self.backend = Some(setting((), key, value));
            }
        }
        Ok(())
    }

    /// Checks between arguments: something to do, and delays that retry will accept.
    fn check_together(&self) -> syn::Result<()> {
        let has_policy = self.max_attempts.is_some()
            || self.failure_threshold.is_some()
            || self.timeout.is_some()
            || self.total_timeout.is_some()
            || self.base_delay.is_some()
            || self.max_delay.is_some()
            || self.recovery_timeout.is_some();
        if self.preset.is_none() && !has_policy {
            let what = if self.preset_given {
                "with no preset (\"custom\") and no setting"
            } else {
                "without a preset or a setting"
            };
            return Err(syn::Error::new(
                Span::call_site(),
                format!(
                    "#[resilient] {what} would do nothing: name a preset, like \
                     #[resilient(preset = \"database\")], or give settings, like \
                     #[resilient(max_attempts = 3, timeout = \"2s\")]"
                ),
            ));
        }
        match (&self.base_delay, &self.max_delay) {
            (Some(base), Some(max)) if max.value < base.value => Err(syn::Error::new_spanned(
                &max.tokens,
                format!(
                    "`{}` ({}) is shorter than `{}` ({}): the cap must be at least the first delay",
                    max.key,
                    show(max.value),
                    base.key,
                    show(base.value)
                ),
            )),
            // With a preset, the other delay is the preset's: the expansion checks it in a
            // `const` against `Preset::settings()`, so palisade's table is the only copy.
            (Some(base), None) if self.preset.is_none() && base.value > DEFAULT_MAX_DELAY_NANOS => {
                Err(syn::Error::new_spanned(
                    &base.tokens,
                    format!(
                        "`{}` ({}) is longer than retry's default max_delay ({}): set max_delay too",
                        base.key,
                        show(base.value),
                        show(DEFAULT_MAX_DELAY_NANOS)
                    ),
                ))
            }
            (None, Some(max)) if self.preset.is_none() && max.value < DEFAULT_BASE_DELAY_NANOS => {
                Err(syn::Error::new_spanned(
                    &max.tokens,
                    format!(
                        "`{}` ({}) is shorter than retry's default base_delay ({}): set base_delay too",
                        max.key,
                        show(max.value),
                        show(DEFAULT_BASE_DELAY_NANOS)
                    ),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// A duration in nanoseconds as `Duration`'s `Debug` shows it (`1.5s`, `250ms`), the way
/// palisade's own configuration errors show durations.
pub(crate) fn show(nanos: u64) -> String {
    format!("{:?}", Duration::from_nanos(nanos))
}

/// Splits `key = value` and finds the key, or says why not.
fn key_and_value(meta: &Meta) -> syn::Result<(&'static str, Field, Kind, &Expr)> {
    let Meta::NameValue(pair) = meta else {
        let mut message = "#[resilient] takes `key = value` arguments".to_string();
        if let Some(word) = meta.path().get_ident().map(ToString::to_string)
            && PRESETS.iter().any(|(name, _)| *name == word)
        {
            message = format!("{message}: write `preset = \"{word}\"`");
        } else {
            message.push_str(", like preset = \"database\" or max_attempts = 5");
        }
        return Err(syn::Error::new_spanned(meta, message));
    };
    let Some(ident) = pair.path.get_ident() else {
        return Err(syn::Error::new_spanned(
            &pair.path,
            "expected an argument name, like `max_attempts`",
        ));
    };
    let written = ident.to_string();
    if let Some(&(key, field, kind)) = KEYS.iter().find(|(key, _, _)| *key == written) {
        return Ok((key, field, kind, unwrap_group(&pair.value)));
    }
    if let Some((_, help)) = NOT_TAKEN.iter().find(|(key, _)| *key == written) {
        return Err(syn::Error::new_spanned(
            ident,
            format!("#[resilient] does not take `{written}`: {help}"),
        ));
    }
    Err(syn::Error::new_spanned(ident, unknown_key(&written)))
}

/// The message for an unknown key: the closest known key, or the list of them.
fn unknown_key(written: &str) -> String {
    let keys = KEYS.iter().map(|(key, _, _)| *key);
    if let Some(&(_, meant)) = SYNONYMS.iter().find(|(word, _)| *word == written) {
        let note = if meant == "max_attempts" {
            " (attempts count the first call: max_attempts = retries + 1)"
        } else {
            ""
        };
        return format!("unknown argument `{written}`; did you mean `{meant}`?{note}");
    }
    match did_you_mean(written, keys) {
        Some(meant) => format!("unknown argument `{written}`; did you mean `{meant}`?"),
        None => format!(
            "unknown argument `{written}`; expected one of: preset, name, max_attempts, \
             failure_threshold, timeout, total_timeout, base_delay, max_delay, recovery_timeout, \
             backend (or the reference docs' operation_type, operation_name, timeout_seconds)"
        ),
    }
}

/// The candidate closest to `written`, if it is close enough to be a typo: at most one edit
/// per three characters (at least one).
pub(crate) fn did_you_mean<'a>(
    written: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let written = written.to_lowercase();
    let limit = (written.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(&written, candidate), candidate))
        .filter(|&(distance, _)| distance <= limit)
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, candidate)| candidate)
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of two
/// neighbouring characters each cost one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j]: distance between a[..i] and b[..j]; three rows are all the swap needs.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let substitution = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + substitution);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// `value` without the invisible group a `macro_rules!` expansion may wrap it in.
fn unwrap_group(value: &Expr) -> &Expr {
    match value {
        Expr::Group(group) => unwrap_group(&group.expr),
        other => other,
    }
}

fn literal(value: &Expr) -> Option<&Lit> {
    match value {
        Expr::Lit(lit) => Some(&lit.lit),
        _ => None,
    }
}

/// `-x` written as the value: what follows the minus. `syn` reads `-2` either as a negative
/// literal or as a negation, depending on how the tokens were made; both are caught here.
fn negated(value: &Expr) -> Option<String> {
    match value {
        Expr::Unary(unary) if matches!(unary.op, UnOp::Neg(_)) => {
            Some(unwrap_group(&unary.expr).to_token_stream().to_string())
        }
        Expr::Lit(lit) => {
            let digits = match &lit.lit {
                Lit::Int(int) => int.base10_digits(),
                Lit::Float(float) => float.base10_digits(),
                _ => return None,
            };
            digits.strip_prefix('-').map(str::to_string)
        }
        _ => None,
    }
}

const LITERALS_ONLY: &str = "arguments are checked at compile time, so constants and \
                             expressions are not accepted";

fn preset(key: &str, value: &Expr) -> syn::Result<Option<PresetArg>> {
    let known = || {
        let names: Vec<&str> = PRESETS.iter().map(|(name, _)| *name).collect();
        format!(
            "known presets: {} (or \"{CUSTOM}\" for none)",
            names.join(", ")
        )
    };
    let Some(Lit::Str(text)) = literal(value) else {
        let hint = match value {
            Expr::Path(path) => path
                .path
                .get_ident()
                .map(|word| format!(": write {key} = \"{word}\""))
                .unwrap_or_default(),
            _ => String::new(),
        };
        return Err(syn::Error::new_spanned(
            value,
            format!("`{key}` takes a preset name as a string{hint}; {}", known()),
        ));
    };
    let written = text.value();
    if written == CUSTOM {
        return Ok(None);
    }
    if let Some(&(name, variant)) = PRESETS.iter().find(|(name, _)| *name == written) {
        return Ok(Some(PresetArg {
            name,
            variant,
            span: text.span(),
        }));
    }
    let names = PRESETS.iter().map(|(name, _)| *name);
    let message = match did_you_mean(&written, names) {
        Some(meant) => format!(
            "unknown preset \"{written}\"; did you mean \"{meant}\"? K{}",
            &known()[1..]
        ),
        None => format!("unknown preset \"{written}\"; {}", known()),
    };
    Err(syn::Error::new_spanned(text, message))
}

fn name(key: &str, value: &Expr) -> syn::Result<String> {
    match literal(value) {
        Some(Lit::Str(text)) if text.value().trim().is_empty() => Err(syn::Error::new_spanned(
            text,
            format!("`{key}` must not be empty: events and errors carry it"),
        )),
        Some(Lit::Str(text)) => Ok(text.value()),
        _ => Err(syn::Error::new_spanned(
            value,
            format!("`{key}` takes a string literal, like {key} = \"get_user\"; {LITERALS_ONLY}"),
        )),
    }
}

fn count(key: &str, value: &Expr) -> syn::Result<u32> {
    let what = match key {
        "max_attempts" => "it counts attempts, the first one included: 1 means no retries",
        _ => "it counts the consecutive failures that open the circuit",
    };
    if let Some(inner) = negated(value) {
        return Err(syn::Error::new_spanned(
            value,
            format!("`{key}` must be at least 1, not -{inner} ({what})"),
        ));
    }
    match literal(value) {
        Some(Lit::Int(int)) => {
            let n: u64 = int.base10_parse().map_err(|_| {
                syn::Error::new_spanned(int, format!("`{key}` must be at most {}", u32::MAX))
            })?;
            match u32::try_from(n) {
                Ok(0) => Err(syn::Error::new_spanned(
                    int,
                    format!("`{key}` must be at least 1 ({what})"),
                )),
                Ok(n) => Ok(n),
                Err(_) => Err(syn::Error::new_spanned(
                    int,
                    format!("`{key}` must be at most {}", u32::MAX),
                )),
            }
        }
        Some(Lit::Float(float)) => Err(syn::Error::new_spanned(
            float,
            format!("`{key}` must be a whole number, not {float}"),
        )),
        Some(Lit::Str(text)) => Err(syn::Error::new_spanned(
            text,
            format!(
                "`{key}` takes a number, not a string: {key} = {}",
                text.value()
            ),
        )),
        _ => Err(syn::Error::new_spanned(
            value,
            format!("`{key}` takes an integer literal; {LITERALS_ONLY}"),
        )),
    }
}

/// A duration field's value in nanoseconds: a string with units, or seconds as a number.
fn duration(key: &str, kind: Kind, value: &Expr) -> syn::Result<u64> {
    let forms = match kind {
        Kind::Seconds => "a number of seconds, like 15.0".to_string(),
        _ => "a duration string (\"250ms\", \"1.5s\", \"1m 30s\") or seconds as a float (2.0)"
            .to_string(),
    };
    if let Some(inner) = negated(value) {
        return Err(syn::Error::new_spanned(
            value,
            format!("`{key}` must be greater than zero, not -{inner}"),
        ));
    }
    let nanos = match (kind, literal(value)) {
        (Kind::Seconds, Some(Lit::Str(text))) => {
            let instead = key.strip_suffix("_seconds").unwrap_or(key);
            return Err(syn::Error::new_spanned(
                text,
                format!(
                    "`{key}` takes a number of seconds, like {key} = 15.0; for a duration \
                     string write {instead} = \"{}\"",
                    text.value()
                ),
            ));
        }
        (_, Some(Lit::Str(text))) => parse_duration(&text.value())
            .map_err(|why| syn::Error::new_spanned(text, format!("`{key}`: {why}")))?,
        (_, Some(Lit::Float(float))) => parse_seconds(float.base10_digits())
            .map_err(|why| syn::Error::new_spanned(float, format!("`{key}`: {why}")))?,
        (Kind::Seconds, Some(Lit::Int(int))) => parse_seconds(int.base10_digits())
            .map_err(|why| syn::Error::new_spanned(int, format!("`{key}`: {why}")))?,
        (_, Some(Lit::Int(int))) => {
            let n = int.base10_digits();
            return Err(syn::Error::new_spanned(
                int,
                format!(
                    "`{key} = {n}` has no unit: write a duration string (\"{n}s\", \"{n}ms\") \
                     or seconds as a float ({n}.0)"
                ),
            ));
        }
        _ => {
            return Err(syn::Error::new_spanned(
                value,
                format!("`{key}` takes {forms}; {LITERALS_ONLY}"),
            ));
        }
    };
    if nanos == 0 {
        return Err(syn::Error::new_spanned(
            value,
            format!("`{key}` must be greater than zero"),
        ));
    }
    Ok(nanos)
}

/// Collects errors so one compile shows every bad argument.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(tokens: TokenStream) -> Result<Args, String> {
        Args::parse(tokens).map_err(|e| {
            e.into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(" | ")
        })
    }

    fn error(tokens: TokenStream) -> String {
        match parse(tokens) {
            Ok(args) => panic!("expected an error, got {args:?}"),
            Err(message) => message,
        }
    }

    const S: u64 = 1_000_000_000;

    #[test]
    fn a_preset_with_overrides_is_read() {
        let args = parse(quote!(
            preset = "database",
            name = "get_user",
            max_attempts = 5,
            timeout = "250ms",
            failure_threshold = 2,
            recovery_timeout = 45.0
        ))
        .unwrap();
        let preset = args.preset.unwrap();
        assert_eq!((preset.name, preset.variant), ("database", "Database"));
        assert_eq!(args.name.unwrap().value, "get_user");
        assert_eq!(args.max_attempts.unwrap().value, 5);
        assert_eq!(args.failure_threshold.unwrap().value, 2);
        assert_eq!(args.timeout.unwrap().value, 250_000_000);
        assert_eq!(args.recovery_timeout.unwrap().value, 45 * S);
    }

    #[test]
    fn every_preset_maps_to_its_variant() {
        for (name, variant) in PRESETS {
            let lit = syn::LitStr::new(name, Span::call_site());
            let preset = parse(quote!(preset = #lit)).unwrap().preset.unwrap();
            assert_eq!(preset.variant, *variant);
        }
    }

    #[test]
    fn the_reference_docs_spellings_are_aliases() {
        let args = parse(quote!(
            operation_type = "custom",
            operation_name = "critical_operation",
            timeout_seconds = 15.0,
            max_attempts = 5,
            base_delay = 2.0,
            failure_threshold = 3,
            recovery_timeout = 45.0
        ))
        .unwrap();
        assert!(args.preset.is_none());
        assert_eq!(args.name.as_ref().unwrap().value, "critical_operation");
        assert_eq!(args.name.unwrap().key, "operation_name");
        assert_eq!(args.timeout.unwrap().value, 15 * S);
        assert_eq!(args.base_delay.unwrap().value, 2 * S);
        let args = parse(quote!(operation_type = "api", timeout_seconds = 30)).unwrap();
        assert_eq!(args.preset.unwrap().variant, "Api");
        assert_eq!(args.timeout.unwrap().value, 30 * S);
    }

    #[test]
    fn settings_without_a_preset_are_accepted() {
        let args = parse(quote!(max_attempts = 3, total_timeout = "1m30s")).unwrap();
        assert!(args.preset.is_none());
        assert_eq!(args.total_timeout.unwrap().value, 90 * S);
        let args = parse(quote!(timeout = "1m 30s", recovery_timeout = "2 hours")).unwrap();
        assert_eq!(args.timeout.unwrap().value, 90 * S);
        assert_eq!(args.recovery_timeout.unwrap().value, 7_200 * S);
    }

    #[test]
    fn an_attribute_that_does_nothing_is_refused() {
        assert!(error(quote!()).contains("would do nothing"));
        assert!(error(quote!(name = "x")).contains("would do nothing"));
        assert!(error(quote!(preset = "custom")).contains("would do nothing"));
    }

    #[test]
    fn unknown_keys_suggest_the_closest() {
        assert!(error(quote!(max_attempt = 3)).contains("did you mean `max_attempts`?"));
        assert!(error(quote!(timout = "1s")).contains("did you mean `timeout`?"));
        assert!(error(quote!(recovery_timout = "1s")).contains("did you mean `recovery_timeout`?"));
        assert!(error(quote!(presets = "api")).contains("did you mean `preset`?"));
        assert!(error(quote!(max_retries = 3)).contains("did you mean `max_attempts`?"));
        assert!(error(quote!(colour = 3)).contains("expected one of: preset, name"));
    }

    #[test]
    fn reference_settings_not_taken_say_what_to_do() {
        assert!(error(quote!(jitter = true)).contains("does not take `jitter`"));
        assert!(error(quote!(retry_exceptions = 1)).contains("retry_if"));
        assert!(error(quote!(enable_retry = false)).contains("Pipeline::builder()"));
    }

    #[test]
    fn duplicates_and_aliases_of_one_field_are_refused() {
        assert!(error(quote!(max_attempts = 3, max_attempts = 4)).contains("given twice"));
        assert!(
            error(quote!(name = "a", operation_name = "b"))
                .contains("`operation_name` and `name` set the same thing")
        );
        assert!(
            error(quote!(timeout = "1s", timeout_seconds = 1.0))
                .contains("`timeout_seconds` and `timeout` set the same thing")
        );
        assert!(
            error(quote!(preset = "api", operation_type = "api")).contains("set the same thing")
        );
    }

    #[test]
    fn presets_are_checked() {
        let message = error(quote!(preset = "databse"));
        assert!(
            message
                .contains("unknown preset \"databse\"; did you mean \"database\"? Known presets")
        );
        assert!(message.contains("presets: database, api, cache, file, ml, kafka, vault, network"));
        assert!(error(quote!(preset = "Database")).contains("did you mean \"database\"?"));
        assert!(error(quote!(preset = database)).contains("write preset = \"database\""));
        assert!(error(quote!(database)).contains("write `preset = \"database\"`"));
    }

    #[test]
    fn counts_are_checked() {
        assert!(error(quote!(max_attempts = 0)).contains("must be at least 1"));
        assert!(error(quote!(failure_threshold = 0)).contains("must be at least 1"));
        assert!(error(quote!(max_attempts = -2)).contains("must be at least 1, not -2"));
        assert!(error(quote!(max_attempts = 4294967296)).contains("at most 4294967295"));
        assert!(error(quote!(max_attempts = 99999999999999999999999)).contains("at most"));
        assert!(error(quote!(max_attempts = 2.5)).contains("whole number"));
        assert!(error(quote!(max_attempts = "3")).contains("not a string"));
        assert!(error(quote!(max_attempts = ATTEMPTS)).contains("compile time"));
        assert_eq!(
            parse(quote!(max_attempts = 4294967295))
                .unwrap()
                .max_attempts
                .unwrap()
                .value,
            u32::MAX
        );
    }

    #[test]
    fn durations_are_checked() {
        assert!(error(quote!(timeout = "0s")).contains("must be greater than zero"));
        assert!(error(quote!(timeout = 0.0)).contains("must be greater than zero"));
        assert!(error(quote!(timeout_seconds = 0)).contains("must be greater than zero"));
        assert!(error(quote!(timeout = -1.0)).contains("greater than zero, not -1.0"));
        assert!(error(quote!(timeout = "fast")).contains("`timeout`: \"fast\" is not a duration"));
        assert!(error(quote!(timeout = "-5s")).contains("`timeout`: \"-5s\" is negative"));
        assert!(error(quote!(timeout = "30")).contains("has no unit"));
        assert!(error(quote!(base_delay = 2)).contains("has no unit"));
        assert!(error(quote!(timeout_seconds = "15s")).contains("write timeout = \"15s\""));
        assert!(error(quote!(timeout = Duration::from_secs(1))).contains("compile time"));
        assert_eq!(
            parse(quote!(max_delay = 1.5e1))
                .unwrap()
                .max_delay
                .unwrap()
                .value,
            15 * S
        );
    }

    #[test]
    fn delays_are_checked_against_each_other() {
        assert!(
            error(quote!(base_delay = "2s", max_delay = "1s"))
                .contains("`max_delay` (1s) is shorter than `base_delay` (2s)")
        );
        assert!(parse(quote!(base_delay = "2s", max_delay = "2s")).is_ok());
        // Without a preset, against retry's defaults (1 s, 30 s).
        assert!(error(quote!(base_delay = "31s")).contains("retry's default max_delay (30s)"));
        assert!(error(quote!(max_delay = "999ms")).contains("retry's default base_delay (1s)"));
        assert!(parse(quote!(base_delay = "30s")).is_ok());
        assert!(parse(quote!(max_delay = "1s")).is_ok());
        // With a preset, left to the expansion's const check.
        assert!(parse(quote!(preset = "cache", base_delay = "31s")).is_ok());
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let message = error(quote!(max_attempts = 0, timeout = "x", colour = 1));
        assert_eq!(message.matches(" | ").count(), 2, "{message}");
    }

    #[test]
    fn malformed_arguments_are_refused() {
        assert!(error(quote!(retry(max = 3))).contains("`key = value`"));
        assert!(error(quote!(a::b = 3)).contains("expected an argument name"));
        assert!(error(quote!(name = "  ")).contains("must not be empty"));
        assert!(error(quote!(name = get_user)).contains("string literal"));
    }

    #[test]
    fn edit_distance_counts_typos() {
        assert_eq!(edit_distance("timeout", "timeout"), 0);
        assert_eq!(edit_distance("timout", "timeout"), 1);
        assert_eq!(edit_distance("tiemout", "timeout"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(did_you_mean("nme", ["name", "preset"]), Some("name"));
        assert_eq!(did_you_mean("xyz", ["name", "preset"]), None);
    }
}
