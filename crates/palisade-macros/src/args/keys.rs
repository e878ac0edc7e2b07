//! Which keys the attribute takes — their spellings, aliases and value kinds — and the
//! messages for a key it does not: a typo or a synonym.

use syn::{Expr, Meta};

use super::values::unwrap_group;

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
    ("default", "Default"),
];

/// The `operation_type` that means "the `default` preset" (the Python decorator's spelling
/// for "my own numbers, on top of the defaults").
pub(super) const CUSTOM: &str = "custom";

/// What a key sets. Aliases (the Python decorators' spellings) set the same field.
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
    ExponentialBase,
    Jitter,
    RecoveryTimeout,
    Backend,
    Idempotent,
    EnableTimeout,
    EnableRetry,
    EnableCircuitBreaker,
    RetryIf,
    FailureIf,
    IgnoreIf,
    RetryOnResult,
    FailureOnResult,
}

/// How a key's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
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
    /// A finite number greater than 1, integer or float (`exponential_base = 1.5`).
    Factor,
    /// A path to a function (`backend = crate::fleet`).
    Path,
    /// `true` or `false`.
    Bool,
    /// A path to a predicate function (`retry_if = crate::is_transient`).
    Hook,
    /// A hook path, or a list of error classes (`["unreached", "transient"]`).
    Classes,
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
    ("exponential_base", Field::ExponentialBase, Kind::Factor),
    ("jitter", Field::Jitter, Kind::Bool),
    ("recovery_timeout", Field::RecoveryTimeout, Kind::Duration),
    ("backend", Field::Backend, Kind::Path),
    ("idempotent", Field::Idempotent, Kind::Bool),
    ("enable_timeout", Field::EnableTimeout, Kind::Bool),
    ("enable_retry", Field::EnableRetry, Kind::Bool),
    (
        "enable_circuit_breaker",
        Field::EnableCircuitBreaker,
        Kind::Bool,
    ),
    ("retry_if", Field::RetryIf, Kind::Hook),
    ("retry_exceptions", Field::RetryIf, Kind::Classes),
    ("failure_if", Field::FailureIf, Kind::Hook),
    ("ignore_if", Field::IgnoreIf, Kind::Hook),
    ("retry_on_result", Field::RetryOnResult, Kind::Hook),
    ("failure_on_result", Field::FailureOnResult, Kind::Hook),
];

/// The class names `retry_exceptions` takes, as `palisade::classify::ErrorClass` variants.
pub(crate) const CLASSES: &[(&str, &str)] = &[
    ("unreached", "Unreached"),
    ("transient", "Transient"),
    ("failure", "Failure"),
    ("answer", "Answer"),
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
    ("multiplier", "exponential_base"),
    ("backoff_multiplier", "exponential_base"),
    ("factor", "exponential_base"),
];

/// Splits `key = value` and finds the key, or says why not.
pub(super) fn key_and_value(meta: &Meta) -> syn::Result<(&'static str, Field, Kind, &Expr)> {
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
            "unknown argument `{written}`; expected one of: preset (or operation_type), name \
             (or operation_name), max_attempts, base_delay, max_delay, exponential_base, \
             jitter, timeout (or timeout_seconds), total_timeout, failure_threshold, \
             recovery_timeout, enable_timeout, enable_retry, enable_circuit_breaker, \
             idempotent, backend"
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
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
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
