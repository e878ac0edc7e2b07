//! The arguments as a user writes them: what is accepted, and what each mistake says.

use super::*;
use quote::quote;

use super::keys::{PRESETS, did_you_mean, edit_distance};

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
fn the_python_decorators_spellings_are_aliases() {
    let args = parse(quote!(
        operation_type = "custom",
        operation_name = "critical_operation",
        timeout_seconds = 15.0,
        max_attempts = 5,
        base_delay = 2.0,
        max_delay = 30.0,
        exponential_base = 1.5,
        jitter = true,
        failure_threshold = 3,
        recovery_timeout = 45.0,
        enable_timeout = true,
        enable_retry = true,
        enable_circuit_breaker = true
    ))
    .unwrap();
    let preset = args.preset.unwrap();
    assert_eq!(
        (preset.name, preset.variant, preset.custom),
        ("default", "Default", true)
    );
    assert_eq!(args.exponential_base.unwrap().value, 1.5);
    assert!(args.jitter.unwrap().value);
    assert!(args.enable_retry.unwrap().value);
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
    assert!(error(quote!(enable_retry = false)).contains("would do nothing"));
    assert!(
        error(quote!(
            preset = "api",
            enable_timeout = false,
            enable_retry = false,
            enable_circuit_breaker = false
        ))
        .contains("leaving out every policy of the preset")
    );
    // A total timeout is something to do.
    assert!(
        parse(quote!(
            preset = "api",
            enable_timeout = false,
            enable_retry = false,
            enable_circuit_breaker = false,
            total_timeout = "1s"
        ))
        .is_ok()
    );
}

#[test]
fn custom_is_the_default_preset() {
    let preset = parse(quote!(operation_type = "custom"))
        .unwrap()
        .preset
        .unwrap();
    assert_eq!((preset.variant, preset.custom), ("Default", true));
    assert_eq!(preset.shown(), "`default` (\"custom\")");
    let preset = parse(quote!(preset = "default")).unwrap().preset.unwrap();
    assert_eq!((preset.variant, preset.custom), ("Default", false));
    assert!(error(quote!(preset = "custon")).contains("did you mean \"custom\"?"));
}

#[test]
fn exponential_base_is_a_number_greater_than_one() {
    let base = |tokens| parse(tokens).unwrap().exponential_base.unwrap().value;
    assert_eq!(base(quote!(exponential_base = 1.5)), 1.5);
    assert_eq!(base(quote!(exponential_base = 3)), 3.0);
    assert_eq!(base(quote!(exponential_base = 2e0)), 2.0);
    assert!(error(quote!(exponential_base = 1.0)).contains("greater than 1.0, not 1.0"));
    assert!(error(quote!(exponential_base = 1)).contains("greater than 1.0, not 1"));
    assert!(error(quote!(exponential_base = 0.5)).contains("greater than 1.0"));
    assert!(error(quote!(exponential_base = -2.0)).contains("greater than 1.0, not -2.0"));
    assert!(error(quote!(exponential_base = 1e999)).contains("finite number"));
    assert!(error(quote!(exponential_base = "2")).contains("not a string"));
    assert!(error(quote!(exponential_base = FACTOR)).contains("compile time"));
}

#[test]
fn flags_take_bool_literals() {
    let args = parse(quote!(
        preset = "api",
        jitter = false,
        enable_timeout = false
    ))
    .unwrap();
    assert!(!args.jitter.unwrap().value);
    assert!(!args.enable_timeout.unwrap().value);
    for key in [
        "jitter",
        "enable_timeout",
        "enable_retry",
        "enable_circuit_breaker",
    ] {
        let key = syn::Ident::new(key, Span::call_site());
        let message = error(quote!(preset = "api", #key = "yes"));
        assert!(
            message.contains(&format!(
                "`{key}` takes `true` or `false`, not the string \"yes\""
            )),
            "{message}"
        );
        assert!(error(quote!(preset = "api", #key = 1)).contains("not 1"));
    }
}

#[test]
fn a_setting_of_a_left_out_policy_is_refused_naming_both_keys() {
    let message = error(quote!(
        preset = "api",
        enable_retry = false,
        max_attempts = 3
    ));
    assert!(
        message
            .contains("`max_attempts` configures retry, which `enable_retry = false` leaves out"),
        "{message}"
    );
    for key in ["base_delay", "max_delay"] {
        let key = syn::Ident::new(key, Span::call_site());
        assert!(
            error(quote!(preset = "api", enable_retry = false, #key = "1s")).contains("leaves out")
        );
    }
    assert!(
        error(quote!(
            preset = "api",
            enable_retry = false,
            exponential_base = 3.0
        ))
        .contains("`exponential_base` configures retry")
    );
    assert!(
        error(quote!(preset = "api", enable_retry = false, jitter = false))
            .contains("`jitter` configures retry")
    );
    assert!(
        error(quote!(
            preset = "api",
            enable_timeout = false,
            timeout_seconds = 3
        ))
        .contains(
            "`timeout_seconds` configures the per-attempt timeout, which `enable_timeout = false`"
        )
    );
    assert!(
        error(quote!(
            preset = "api",
            enable_circuit_breaker = false,
            failure_threshold = 3
        ))
        .contains("`failure_threshold` configures the circuit breaker")
    );
    assert!(
        error(quote!(
            preset = "api",
            enable_circuit_breaker = false,
            recovery_timeout = "1s"
        ))
        .contains("`recovery_timeout` configures the circuit breaker")
    );
    // Without a preset too: the same contradiction.
    assert!(error(quote!(enable_retry = false, max_attempts = 3)).contains("leaves out"));
    // Every conflict is reported at once.
    let message = error(quote!(
        preset = "api",
        enable_retry = false,
        max_attempts = 3,
        base_delay = "1s"
    ));
    assert_eq!(message.matches("leaves out").count(), 2, "{message}");
    // A total timeout is not the per-attempt timeout.
    assert!(
        parse(quote!(
            preset = "api",
            enable_timeout = false,
            total_timeout = "1s"
        ))
        .is_ok()
    );
}

#[test]
fn enabling_a_policy_without_a_preset_needs_its_settings() {
    let message = error(quote!(max_attempts = 3, enable_circuit_breaker = true));
    assert!(
        message.contains("`enable_circuit_breaker = true` has nothing to keep"),
        "{message}"
    );
    assert!(
        message.contains("give a circuit breaker setting (failure_threshold, recovery_timeout)"),
        "{message}"
    );
    assert!(parse(quote!(failure_threshold = 3, enable_circuit_breaker = true)).is_ok());
    // `false` without a preset states what is true anyway.
    assert!(parse(quote!(max_attempts = 3, enable_circuit_breaker = false)).is_ok());
}

#[test]
fn idempotent_needs_retry_and_a_per_attempt_timeout() {
    assert!(
        error(quote!(
            preset = "api",
            enable_retry = false,
            idempotent = true
        ))
        .contains("but this pipeline has no retry (`enable_retry = false`)")
    );
    assert!(
        error(quote!(
            preset = "api",
            enable_timeout = false,
            idempotent = true
        ))
        .contains("has no per-attempt timeout (`enable_timeout = false`)")
    );
    assert!(
        error(quote!(timeout = "1s", idempotent = true))
            .contains("has no retry (no preset and no retry setting)")
    );
    assert!(
        parse(quote!(
            preset = "api",
            enable_retry = false,
            idempotent = false
        ))
        .is_ok()
    );
    assert!(parse(quote!(timeout = "1s", max_attempts = 2, idempotent = true)).is_ok());
}

#[test]
fn a_backend_needs_a_circuit_breaker() {
    assert!(
        error(quote!(preset = "api", enable_circuit_breaker = false, backend = crate::fleet))
            .contains("`backend` keeps the circuit breaker's state, but this pipeline has no circuit breaker (`enable_circuit_breaker = false`)")
    );
    assert!(
        error(quote!(max_attempts = 2, backend = fleet))
            .contains("no preset and no circuit breaker setting")
    );
    assert!(parse(quote!(failure_threshold = 2, backend = fleet)).is_ok());
}

#[test]
fn unknown_keys_suggest_the_closest() {
    assert!(error(quote!(max_attempt = 3)).contains("did you mean `max_attempts`?"));
    assert!(error(quote!(timout = "1s")).contains("did you mean `timeout`?"));
    assert!(error(quote!(recovery_timout = "1s")).contains("did you mean `recovery_timeout`?"));
    assert!(error(quote!(presets = "api")).contains("did you mean `preset`?"));
    assert!(error(quote!(max_retries = 3)).contains("did you mean `max_attempts`?"));
    assert!(error(quote!(colour = 3)).contains("expected one of: preset (or operation_type)"));
    assert!(error(quote!(multiplier = 3)).contains("did you mean `exponential_base`?"));
    assert!(error(quote!(enable_retries = false)).contains("did you mean `enable_retry`?"));
}

#[test]
fn classification_hooks_take_paths_and_retry_exceptions_takes_classes_too() {
    let args = parse(quote!(
        preset = "database",
        retry_if = crate::transient,
        failure_if = is_failure,
        ignore_if = cancelled,
        retry_on_result = busy,
        failure_on_result = server_error
    ))
    .unwrap();
    let methods: Vec<_> = args.hooks.iter().map(|h| h.method).collect();
    assert_eq!(
        methods,
        [
            "retry_if",
            "failure_if",
            "ignore_if",
            "retry_on_result",
            "failure_on_result"
        ]
    );
    let args = parse(quote!(
        max_attempts = 3,
        retry_exceptions = ["unreached", "transient"]
    ))
    .unwrap();
    assert!(matches!(
        &args.hooks[0].value,
        super::HookValue::Classes(classes) if classes == &["Unreached", "Transient"]
    ));
    assert!(
        error(quote!(max_attempts = 3, retry_exceptions = 1)).contains("list of error classes")
    );
    assert!(
        error(quote!(max_attempts = 3, retry_exceptions = ["sometimes"]))
            .contains("one of: unreached")
    );
    assert!(error(quote!(max_attempts = 3, retry_exceptions = [])).contains("at least one class"));
    assert!(
        error(quote!(max_attempts = 3, retry_if = "transient"))
            .contains("takes the path of a function")
    );
    assert!(
        error(quote!(
            max_attempts = 3,
            retry_if = a,
            retry_exceptions = ["transient"]
        ))
        .contains("set the same thing")
    );
    // A hook needs the policy it classifies for.
    assert!(error(quote!(timeout = "1s", retry_if = a)).contains("has no retry"));
    assert!(
        error(quote!(
            preset = "api",
            enable_circuit_breaker = false,
            failure_if = a
        ))
        .contains("has no circuit breaker")
    );
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
    assert!(error(quote!(preset = "api", operation_type = "api")).contains("set the same thing"));
}

#[test]
fn presets_are_checked() {
    let message = error(quote!(preset = "databse"));
    assert!(
        message.contains("unknown preset \"databse\"; did you mean \"database\"? Known presets")
    );
    assert!(message.contains(
        "presets: database, api, cache, file, ml, kafka, vault, network, default (and \"custom\""
    ));
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

#[test]
fn idempotent_takes_a_bool_literal() {
    let args = parse(quote!(preset = "database", idempotent = true)).unwrap();
    assert_eq!(args.idempotent.map(|s| s.value), Some(true));
    assert!(
        error(quote!(preset = "database", idempotent = "yes")).contains("takes `true` or `false`")
    );
}
