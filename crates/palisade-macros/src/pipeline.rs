//! The pipeline the attribute writes: `Preset::X.pipeline()` (or
//! `Preset::X.pipeline_without(&[..])`, or `Pipeline::builder()` without a preset) followed
//! by each setting, and the compile-time check of a lone delay against the preset's.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};

use crate::args::{Args, HookValue, Setting, show};

/// The builder expression, ending before `.build()`.
pub(crate) fn builder(args: &Args, fn_name: &str) -> TokenStream {
    let mut chain = start(args);
    let name = match &args.name {
        Some(name) => syn::LitStr::new(&name.value, name.span),
        None => syn::LitStr::new(fn_name, Span::call_site()),
    };
    chain.extend(quote!(.name(#name)));
    let durations = [
        ("timeout", &args.timeout),
        ("total_timeout", &args.total_timeout),
        ("base_delay", &args.base_delay),
        ("max_delay", &args.max_delay),
        ("recovery_timeout", &args.recovery_timeout),
    ];
    for (method, setting) in durations {
        if let Some(setting) = setting {
            let method = syn::Ident::new(method, setting.span);
            let nanos = proc_macro2::Literal::u64_suffixed(setting.value);
            chain.extend(quote_spanned! {setting.span=>
                .#method(::std::time::Duration::from_nanos(#nanos))
            });
        }
    }
    let counts = [
        ("max_attempts", &args.max_attempts),
        ("failure_threshold", &args.failure_threshold),
    ];
    for (method, setting) in counts {
        if let Some(setting) = setting {
            let method = syn::Ident::new(method, setting.span);
            let count = proc_macro2::Literal::u32_suffixed(setting.value);
            chain.extend(quote_spanned!(setting.span=> .#method(#count)));
        }
    }
    if let Some(base) = &args.exponential_base {
        // Checked finite and greater than 1 when the argument was read.
        let factor = proc_macro2::Literal::f64_suffixed(base.value);
        chain.extend(quote_spanned!(base.span=> .retry(|retry| retry.exponential_base(#factor))));
    }
    if let Some(jitter) = &args.jitter {
        let variant = if jitter.value {
            quote_spanned!(jitter.span=> Full)
        } else {
            quote_spanned!(jitter.span=> None)
        };
        chain.extend(quote_spanned! {jitter.span=>
            .retry(|retry| retry.jitter(::palisade::retry::Jitter::#variant))
        });
    }
    // `retry_exceptions` as a list of classes: the classes the (classified) pipeline retries.
    for hook in &args.hooks {
        if let HookValue::Classes(variants) = &hook.value {
            let variants = variants
                .iter()
                .map(|v| syn::Ident::new(v, hook.setting.span));
            chain.extend(quote_spanned! {hook.setting.span=>
                .retry_on(&[#(::palisade::classify::ErrorClass::#variants),*])
            });
        }
    }
    if let Some(idempotent) = &args.idempotent {
        let flag = idempotent.value;
        chain.extend(quote_spanned!(idempotent.span=> .idempotent(#flag)));
    }
    if let Some(backend) = &args.backend {
        let path = &backend.tokens;
        chain.extend(quote_spanned!(backend.span=> .backend(#path())));
    }
    chain
}

/// Whether the pipeline classifies errors (`E: palisade::classify::Classify`): with a
/// preset, or a retry or breaker setting — whenever errors may be retried or counted. A
/// pipeline of timeouts alone does not ask.
pub(crate) fn classifies(args: &Args) -> bool {
    args.preset.is_some()
        || args.max_attempts.is_some()
        || args.failure_threshold.is_some()
        || args.base_delay.is_some()
        || args.max_delay.is_some()
        || args.recovery_timeout.is_some()
        || args.exponential_base.is_some()
        || args.jitter.is_some()
}

/// Where the chain starts: the preset's pipeline, without the parts an `enable_* = false`
/// leaves out; or an empty builder without a preset (classified if [`classifies`]).
fn start(args: &Args) -> TokenStream {
    let Some(preset) = &args.preset else {
        return if classifies(args) {
            quote!(::palisade::pipeline::Pipeline::builder().classified())
        } else {
            quote!(::palisade::pipeline::Pipeline::builder())
        };
    };
    let variant = syn::Ident::new(preset.variant, preset.span);
    let left_out: Vec<TokenStream> = [
        ("Timeout", &args.enable_timeout),
        ("Retry", &args.enable_retry),
        ("CircuitBreaker", &args.enable_circuit_breaker),
    ]
    .into_iter()
    .filter_map(|(part, enable)| {
        let enable = enable.as_ref().filter(|enable| !enable.value)?;
        let part = syn::Ident::new(part, enable.span);
        Some(quote_spanned!(enable.span=> ::palisade::presets::Part::#part))
    })
    .collect();
    if left_out.is_empty() {
        quote_spanned!(preset.span=> ::palisade::presets::Preset::#variant.pipeline())
    } else {
        quote_spanned! {preset.span=>
            ::palisade::presets::Preset::#variant.pipeline_without(&[#(#left_out),*])
        }
    }
}

/// With a preset and only one of `base_delay` / `max_delay` given, the other comes from the
/// preset: check the pair in a `const` against `Preset::settings()`, so a bad pair is a
/// compile error pointing at the value and palisade's table stays the only copy.
pub(crate) fn delay_checks(args: &Args) -> TokenStream {
    let Some(preset) = &args.preset else {
        return TokenStream::new();
    };
    let variant = syn::Ident::new(preset.variant, Span::call_site());
    let settings = quote!(::palisade::presets::Preset::#variant.settings());
    let check = |setting: &Setting<u64>, relation: &str, other: &str, holds: TokenStream| {
        let message = format!(
            "#[resilient]: `{}` ({}) is {relation} than the {} preset's {other}: set {other} too",
            setting.key,
            show(setting.value),
            preset.shown(),
        );
        quote_spanned! {setting.span=>
            const _: () = {
                if !(#holds) {
                    ::core::panic!(#message);
                }
            };
        }
    };
    match (&args.base_delay, &args.max_delay) {
        (Some(base), None) => {
            let nanos = proc_macro2::Literal::u128_suffixed(u128::from(base.value));
            let holds = quote!(#nanos <= #settings.max_delay.as_nanos());
            check(base, "longer", "max_delay", holds)
        }
        (None, Some(max)) => {
            let nanos = proc_macro2::Literal::u128_suffixed(u128::from(max.value));
            let holds = quote!(#settings.base_delay.as_nanos() <= #nanos);
            check(max, "shorter", "base_delay", holds)
        }
        _ => TokenStream::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn expand_str(attr: TokenStream, item: TokenStream) -> String {
        crate::expand::resilient(attr, item).to_string()
    }

    fn chain(attr: TokenStream) -> String {
        let args = match Args::parse(attr) {
            Ok(args) => args,
            Err(error) => panic!("{error}"),
        };
        builder(&args, "f").to_string()
    }

    #[test]
    fn a_lone_delay_with_a_preset_is_checked_against_the_preset() {
        let out = expand_str(
            quote!(preset = "cache", base_delay = "2s"),
            quote!(
                fn get() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(out.contains("2000000000u128 <= :: palisade :: presets :: Preset :: Cache . settings () . max_delay . as_nanos ()"), "{out}");
        let out = expand_str(
            quote!(preset = "cache", base_delay = "2s", max_delay = "3s"),
            quote!(
                fn get() -> Result<(), E> {
                    Ok(())
                }
            ),
        );
        assert!(!out.contains("settings ()"), "{out}");
    }

    #[test]
    fn custom_starts_from_the_default_preset() {
        assert_eq!(
            chain(quote!(operation_type = "custom")),
            ":: palisade :: presets :: Preset :: Default . pipeline () . name (\"f\")"
        );
        // Without a preset: only the settings, classified since it retries.
        assert_eq!(
            chain(quote!(max_attempts = 2)),
            ":: palisade :: pipeline :: Pipeline :: builder () . classified () . name (\"f\") . max_attempts (2u32)"
        );
        // Timeouts alone: not classified.
        assert!(
            chain(quote!(timeout = "1s"))
                .starts_with(":: palisade :: pipeline :: Pipeline :: builder () . name"),
        );
    }

    #[test]
    fn enable_false_leaves_the_presets_part_out() {
        let out = chain(quote!(
            preset = "api",
            enable_retry = false,
            enable_timeout = true,
            enable_circuit_breaker = false
        ));
        assert!(
            out.starts_with(
                ":: palisade :: presets :: Preset :: Api . pipeline_without (& [\
                 :: palisade :: presets :: Part :: Retry , \
                 :: palisade :: presets :: Part :: CircuitBreaker])"
            ),
            "{out}"
        );
    }

    #[test]
    fn exponential_base_and_jitter_configure_retry() {
        let out = chain(quote!(
            preset = "api",
            exponential_base = 1.5,
            jitter = false
        ));
        assert!(
            out.contains(". retry (| retry | retry . exponential_base (1.5f64))"),
            "{out}"
        );
        assert!(
            out.contains(
                ". retry (| retry | retry . jitter (:: palisade :: retry :: Jitter :: None))"
            ),
            "{out}"
        );
        let out = chain(quote!(exponential_base = 3, jitter = true));
        assert!(out.contains("exponential_base (3f64)"), "{out}");
        assert!(out.contains("Jitter :: Full"), "{out}");
    }
}
