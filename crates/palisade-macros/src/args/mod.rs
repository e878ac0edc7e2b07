//! The attribute's arguments: `key = literal` pairs, every one checked at compile time.
//!
//! Each error points at the offending token and says what to write instead; all errors of one
//! attribute are reported together. Values are literals only — a constant or an expression
//! could not be checked here, and the point of the attribute is that a pipeline it accepts
//! always builds.

mod keys;
#[cfg(test)]
mod tests;
mod together;
mod values;

use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Meta, Token};

use keys::{Field, Kind, key_and_value};
use values::{count, duration, factor, flag, hook, name, preset};

/// Retry's defaults when no preset is named (palisade's `RetryConfig::default()`): a
/// `base_delay` or `max_delay` given alone must stay consistent with the other one.
/// `tests/expand.rs` calls functions at both edges, so a change in palisade shows up there.
pub(crate) const DEFAULT_BASE_DELAY_NANOS: u64 = 1_000_000_000;
pub(crate) const DEFAULT_MAX_DELAY_NANOS: u64 = 30_000_000_000;

/// A validated preset.
#[derive(Debug, Clone)]
pub(crate) struct PresetArg {
    /// The preset's name: `"database"` (`"default"` for `"custom"`).
    pub(crate) name: &'static str,
    /// The `Preset` variant: `Database`.
    pub(crate) variant: &'static str,
    /// Written as `"custom"`: the `default` preset.
    pub(crate) custom: bool,
    pub(crate) span: Span,
}

impl PresetArg {
    /// The preset as messages name it: `` `cache` ``, or `` `default` (\"custom\") ``.
    pub(crate) fn shown(&self) -> String {
        if self.custom {
            format!("`{}` (\"custom\")", self.name)
        } else {
            format!("`{}`", self.name)
        }
    }
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
    /// `None`: no preset: a pipeline of just the settings given.
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
    /// Finite and greater than 1.
    pub(crate) exponential_base: Option<Setting<f64>>,
    /// `true`: full jitter (retry's default); `false`: none.
    pub(crate) jitter: Option<Setting<bool>>,
    /// The function that gives the pipeline its backend: a path, in `tokens`.
    pub(crate) backend: Option<Setting<()>>,
    /// The body is safe to run twice: a timed-out attempt may be repeated.
    pub(crate) idempotent: Option<Setting<bool>>,
    /// `false` leaves the preset's policy out.
    pub(crate) enable_timeout: Option<Setting<bool>>,
    pub(crate) enable_retry: Option<Setting<bool>>,
    pub(crate) enable_circuit_breaker: Option<Setting<bool>>,
    /// Classification hooks, in the order written (`retry_if`, `retry_exceptions`,
    /// `failure_if`, `ignore_if`, `retry_on_result`, `failure_on_result`).
    pub(crate) hooks: Vec<Hook>,
}

/// A classification hook: the pipeline method it calls and what it passes.
#[derive(Debug)]
pub(crate) struct Hook {
    /// The pipeline method: `retry_if`, `failure_if`, `ignore_if`, `retry_on_result`,
    /// `failure_on_result`.
    pub(crate) method: &'static str,
    pub(crate) value: HookValue,
    pub(crate) setting: Setting<()>,
}

/// What a hook passes: the user's function, or (for `retry_exceptions`) a list of classes.
#[derive(Debug)]
pub(crate) enum HookValue {
    /// A path to a function; its tokens are the setting's.
    Path,
    /// `palisade::classify::ErrorClass` variant names.
    Classes(Vec<&'static str>),
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
            Kind::Preset => self.preset = Some(preset(key, value)?),
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
            Kind::Factor => self.exponential_base = Some(setting(factor(key, value)?, key, value)),
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
            Kind::Hook | Kind::Classes => {
                let method = match field {
                    Field::FailureIf => "failure_if",
                    Field::IgnoreIf => "ignore_if",
                    Field::RetryOnResult => "retry_on_result",
                    Field::FailureOnResult => "failure_on_result",
                    _ => "retry_if",
                };
                self.hooks.push(Hook {
                    method,
                    value: hook(key, kind, value)?,
                    setting: setting((), key, value),
                });
            }
            Kind::Bool => {
                let flag = Some(setting(flag(key, value)?, key, value));
                match field {
                    Field::Jitter => self.jitter = flag,
                    Field::EnableTimeout => self.enable_timeout = flag,
                    Field::EnableRetry => self.enable_retry = flag,
                    Field::EnableCircuitBreaker => self.enable_circuit_breaker = flag,
                    _ => self.idempotent = flag,
                }
            }
        }
        Ok(())
    }
}

/// A duration in nanoseconds as `Duration`'s `Debug` shows it (`1.5s`, `250ms`), the way
/// palisade's own configuration errors show durations.
pub(crate) fn show(nanos: u64) -> String {
    format!("{:?}", Duration::from_nanos(nanos))
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

    fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}
