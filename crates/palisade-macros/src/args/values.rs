//! Each value checked on its own: presets, names, counts, durations, factors and flags,
//! literals only.

use quote::ToTokens;
use syn::{Expr, Lit, UnOp};

use super::keys::{CLASSES, CUSTOM, Kind, PRESETS, did_you_mean};
use super::{HookValue, PresetArg};
use crate::duration::{parse_duration, parse_seconds};

/// `value` without the invisible group a `macro_rules!` expansion may wrap it in.
pub(super) fn unwrap_group(value: &Expr) -> &Expr {
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

/// A preset name; `"custom"` is the `default` preset.
pub(super) fn preset(key: &str, value: &Expr) -> syn::Result<PresetArg> {
    let known = || {
        let names: Vec<&str> = PRESETS.iter().map(|(name, _)| *name).collect();
        format!(
            "known presets: {} (and \"{CUSTOM}\", the same as \"default\")",
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
    let custom = written == CUSTOM;
    let wanted = if custom { "default" } else { written.as_str() };
    if let Some(&(name, variant)) = PRESETS.iter().find(|(name, _)| *name == wanted) {
        return Ok(PresetArg {
            name,
            variant,
            custom,
            span: text.span(),
        });
    }
    let names = PRESETS.iter().map(|(name, _)| *name).chain([CUSTOM]);
    let message = match did_you_mean(&written, names) {
        Some(meant) => format!(
            "unknown preset \"{written}\"; did you mean \"{meant}\"? K{}",
            &known()[1..]
        ),
        None => format!("unknown preset \"{written}\"; {}", known()),
    };
    Err(syn::Error::new_spanned(text, message))
}

pub(super) fn name(key: &str, value: &Expr) -> syn::Result<String> {
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

pub(super) fn count(key: &str, value: &Expr) -> syn::Result<u32> {
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
pub(super) fn duration(key: &str, kind: Kind, value: &Expr) -> syn::Result<u64> {
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

/// `exponential_base`: a finite number greater than 1, integer or float.
pub(super) fn factor(key: &str, value: &Expr) -> syn::Result<f64> {
    const WHAT: &str = "each retry's delay is the previous one times this factor";
    if let Some(inner) = negated(value) {
        return Err(syn::Error::new_spanned(
            value,
            format!("`{key}` must be greater than 1.0, not -{inner} ({WHAT})"),
        ));
    }
    let (digits, spanned): (&str, &dyn ToTokens) = match literal(value) {
        Some(Lit::Float(float)) => (float.base10_digits(), float),
        Some(Lit::Int(int)) => (int.base10_digits(), int),
        Some(Lit::Str(text)) => {
            return Err(syn::Error::new_spanned(
                text,
                format!(
                    "`{key}` takes a number, not a string: {key} = {}",
                    text.value()
                ),
            ));
        }
        _ => {
            return Err(syn::Error::new_spanned(
                value,
                format!("`{key}` takes a number, like {key} = 1.5; {LITERALS_ONLY}"),
            ));
        }
    };
    match digits.parse::<f64>() {
        Ok(factor) if factor.is_finite() && factor > 1.0 => Ok(factor),
        Ok(factor) if factor.is_finite() => Err(syn::Error::new_spanned(
            spanned,
            format!(
                "`{key}` must be greater than 1.0, not {digits} ({WHAT}; for equal delays set \
                 max_delay to base_delay)"
            ),
        )),
        _ => Err(syn::Error::new_spanned(
            spanned,
            format!("`{key}` must be a finite number, like {key} = 2.0"),
        )),
    }
}

/// A `true` or `false` literal; `means` says what `true` does.
pub(super) fn flag(key: &str, value: &Expr) -> syn::Result<bool> {
    if let Expr::Lit(syn::ExprLit {
        lit: Lit::Bool(flag),
        ..
    }) = value
    {
        return Ok(flag.value);
    }
    let means = match key {
        "idempotent" => {
            "`idempotent = true`: the body is safe to run twice, so an attempt that timed out \
             may be repeated"
        }
        "jitter" => "`jitter = false`: wait exactly the scheduled delays, without randomness",
        "enable_timeout" => "`enable_timeout = false`: no per-attempt timeout",
        "enable_retry" => "`enable_retry = false`: one attempt per call",
        _ => "`enable_circuit_breaker = false`: no circuit breaker",
    };
    let written = match literal(value) {
        Some(Lit::Str(text)) => format!(", not the string \"{}\"", text.value()),
        Some(Lit::Int(int)) => format!(", not {int}"),
        _ => String::new(),
    };
    Err(syn::Error::new_spanned(
        value,
        format!("`{key}` takes `true` or `false`{written} ({means})"),
    ))
}

/// A classification hook: a path to a function (every hook key), or for `retry_exceptions` a
/// list of error classes by name.
pub(super) fn hook(key: &str, kind: Kind, value: &Expr) -> syn::Result<HookValue> {
    if let Expr::Path(_) = value {
        return Ok(HookValue::Path);
    }
    let classes: Vec<&str> = CLASSES.iter().map(|(name, _)| *name).collect();
    if kind == Kind::Classes
        && let Expr::Array(array) = value
    {
        if array.elems.is_empty() {
            return Err(syn::Error::new_spanned(
                value,
                format!("`{key}` needs at least one class: {}", classes.join(", ")),
            ));
        }
        let mut variants = Vec::new();
        for element in &array.elems {
            let named = match literal(element) {
                Some(Lit::Str(text)) => CLASSES
                    .iter()
                    .find(|(name, _)| *name == text.value())
                    .map(|(_, variant)| *variant),
                _ => None,
            };
            match named {
                Some(variant) => variants.push(variant),
                None => {
                    return Err(syn::Error::new_spanned(
                        element,
                        format!(
                            "`{key}` lists error classes as strings, one of: {} (see \
                             palisade::classify::ErrorClass)",
                            classes.join(", ")
                        ),
                    ));
                }
            }
        }
        return Ok(HookValue::Classes(variants));
    }
    let what = if key.ends_with("_on_result") {
        "`fn(&T) -> bool` over the function's `Ok` type"
    } else {
        "`fn(&E) -> bool` over the function's error type"
    };
    let classes_too = if kind == Kind::Classes {
        format!(
            ", or a list of error classes like `[\"{}\", \"{}\"]`",
            classes[0], classes[1]
        )
    } else {
        String::new()
    };
    Err(syn::Error::new_spanned(
        value,
        format!(
            "`{key}` takes the path of a function {what}, like `{key} = crate::is_retryable`{classes_too}"
        ),
    ))
}
