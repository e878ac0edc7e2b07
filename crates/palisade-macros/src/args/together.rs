//! Checks between arguments: the pipeline they describe does something, no argument
//! configures a policy another one leaves out or that the pipeline does not have, and the
//! delays are ones retry accepts.

use proc_macro2::{Span, TokenStream};

use super::{Args, DEFAULT_BASE_DELAY_NANOS, DEFAULT_MAX_DELAY_NANOS, Errors, Setting, show};

/// One of the policies a preset brings, with the arguments that configure it.
struct Policy<'a> {
    /// As messages name it: `"the circuit breaker"`.
    what: &'static str,
    /// Before "setting": `"circuit breaker"`.
    noun: &'static str,
    /// The keys that configure it, for messages.
    keys: &'static str,
    enable: &'a Option<Setting<bool>>,
    enable_key: &'static str,
    /// The arguments given that configure it: (key as written, value).
    settings: Vec<(&'static str, &'a TokenStream)>,
}

fn given<T>(setting: &Option<Setting<T>>) -> Option<(&'static str, &TokenStream)> {
    setting.as_ref().map(|s| (s.key, &s.tokens))
}

impl Policy<'_> {
    /// Whether the pipeline has it: a preset's policy unless left out; without a preset,
    /// when a setting of it is given.
    fn present(&self, preset: bool) -> bool {
        if preset {
            self.enable.as_ref().is_none_or(|e| e.value)
        } else {
            !self.settings.is_empty()
        }
    }

    /// Why the pipeline lacks it, for messages.
    fn absent_because(&self) -> String {
        match self.enable {
            Some(enable) if !enable.value => format!("`{} = false`", enable.key),
            _ => format!("no preset and no {} setting", self.noun),
        }
    }

    fn check(&self, preset: bool, errors: &mut Errors) {
        let Some(enable) = self.enable else { return };
        if !enable.value {
            for (key, tokens) in &self.settings {
                errors.push(syn::Error::new_spanned(
                    tokens,
                    format!(
                        "`{key}` configures {}, which `{} = false` leaves out: remove one of \
                         the two",
                        self.what, enable.key
                    ),
                ));
            }
        } else if !preset && self.settings.is_empty() {
            errors.push(syn::Error::new_spanned(
                &enable.tokens,
                format!(
                    "`{} = true` has nothing to keep: without a preset the pipeline has only \
                     the policies whose settings are given; name a preset (operation_type = \
                     \"custom\" is the default one) or give a {} setting ({})",
                    self.enable_key, self.noun, self.keys
                ),
            ));
        }
    }
}

impl Args {
    fn policies(&self) -> [Policy<'_>; 3] {
        fn settings<'a>(
            all: &[Option<(&'static str, &'a TokenStream)>],
        ) -> Vec<(&'static str, &'a TokenStream)> {
            all.iter().flatten().copied().collect()
        }
        [
            Policy {
                what: "the per-attempt timeout",
                noun: "per-attempt timeout",
                keys: "timeout",
                enable: &self.enable_timeout,
                enable_key: "enable_timeout",
                settings: settings(&[given(&self.timeout)]),
            },
            Policy {
                what: "retry",
                noun: "retry",
                keys: "max_attempts, base_delay, max_delay, exponential_base, jitter",
                enable: &self.enable_retry,
                enable_key: "enable_retry",
                settings: settings(&[
                    given(&self.max_attempts),
                    given(&self.base_delay),
                    given(&self.max_delay),
                    given(&self.exponential_base),
                    given(&self.jitter),
                ]),
            },
            Policy {
                what: "the circuit breaker",
                noun: "circuit breaker",
                keys: "failure_threshold, recovery_timeout",
                enable: &self.enable_circuit_breaker,
                enable_key: "enable_circuit_breaker",
                settings: settings(&[
                    given(&self.failure_threshold),
                    given(&self.recovery_timeout),
                ]),
            },
        ]
    }

    /// Checks between arguments; every problem is reported at once.
    pub(super) fn check_together(&self) -> syn::Result<()> {
        let preset = self.preset.is_some();
        let [timeout, retry, breaker] = self.policies();
        let mut errors = Errors::default();
        for policy in [&timeout, &retry, &breaker] {
            policy.check(preset, &mut errors);
        }
        if let Some(idempotent) = self.idempotent.as_ref().filter(|i| i.value) {
            for needed in [&retry, &timeout] {
                if !needed.present(preset) {
                    errors.push(syn::Error::new_spanned(
                        &idempotent.tokens,
                        format!(
                            "`idempotent = true` lets retry repeat an attempt that timed out, \
                             but this pipeline has no {} ({})",
                            needed.noun,
                            needed.absent_because()
                        ),
                    ));
                }
            }
        }
        if let Some(backend) = &self.backend
            && !breaker.present(preset)
        {
            errors.push(syn::Error::new_spanned(
                &backend.tokens,
                format!(
                    "`{}` keeps the circuit breaker's state, but this pipeline has no circuit \
                     breaker ({})",
                    backend.key,
                    breaker.absent_because()
                ),
            ));
        }
        for hook in &self.hooks {
            let (needed, acts) = match hook.method {
                "failure_if" | "ignore_if" | "failure_on_result" => {
                    (&breaker, "decides what the circuit breaker counts")
                }
                _ => (&retry, "decides what retry repeats"),
            };
            if !needed.present(preset) {
                errors.push(syn::Error::new_spanned(
                    &hook.setting.tokens,
                    format!(
                        "`{}` {acts}, but this pipeline has no {} ({})",
                        hook.setting.key,
                        needed.noun,
                        needed.absent_because()
                    ),
                ));
            }
        }
        let any_policy = [&timeout, &retry, &breaker]
            .iter()
            .any(|p| p.present(preset))
            || self.total_timeout.is_some();
        if !any_policy && errors.is_empty() {
            let message = if preset {
                "#[resilient] leaving out every policy of the preset (enable_timeout, \
                 enable_retry and enable_circuit_breaker all false) would do nothing: keep one, \
                 or add a total_timeout"
            } else {
                "#[resilient] without a preset or a setting would do nothing: name a preset, \
                 like #[resilient(preset = \"database\")], or give settings, like \
                 #[resilient(max_attempts = 3, timeout = \"2s\")]"
            };
            errors.push(syn::Error::new(Span::call_site(), message));
        }
        if let Err(error) = self.check_delays() {
            errors.push(error);
        }
        errors.finish()
    }

    /// `max_delay` is at least `base_delay`: both given, or one given without a preset (the
    /// other is retry's default). With a preset, the expansion checks a lone delay against
    /// the preset's in a `const`, so palisade's table is the only copy.
    fn check_delays(&self) -> syn::Result<()> {
        let no_preset = self.preset.is_none();
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
            (Some(base), None) if no_preset && base.value > DEFAULT_MAX_DELAY_NANOS => {
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
            (None, Some(max)) if no_preset && max.value < DEFAULT_BASE_DELAY_NANOS => {
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
