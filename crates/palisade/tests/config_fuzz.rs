//! Configuration loading never panics: arbitrary text as TOML, YAML and JSON, arbitrary
//! environment names and values, and well-formed files with arbitrary values all end in a
//! configuration or a `LoadError` — and a loaded configuration builds, saves and reloads
//! without panicking either.
#![cfg(feature = "config")]

use palisade::config::{Format, Loader, PalisadeConfig};
use proptest::prelude::*;

const FORMATS: [Format; 3] = [Format::Toml, Format::Yaml, Format::Json];

/// Every path a loaded configuration can take after loading: build each pipeline, save in
/// each format and load the saved text again.
fn exercise(config: &PalisadeConfig) {
    for name in config.policies.keys() {
        let _ = config.pipeline(name);
    }
    for format in FORMATS {
        if let Ok(text) = config.to_string_as(format) {
            let again = Loader::from_str(format, &text).load();
            assert_eq!(again.as_ref().ok(), Some(config), "{format}: {text}");
        }
    }
}

fn load_and_exercise(loader: Loader) {
    match loader.load() {
        Ok(config) => exercise(&config),
        Err(error) => {
            // Errors read as one sentence.
            let shown = error.to_string();
            assert!(!shown.contains('\n'), "{shown}");
        }
    }
}

/// Keys a policy may hold, with the prefixes the environment spells them with.
const KEYS: [&str; 30] = [
    "preset",
    "timeout",
    "total_timeout",
    "max_attempts",
    "base_delay",
    "max_delay",
    "failure_threshold",
    "recovery_timeout",
    "retry_rejections",
    "retry.max_attempts",
    "retry.base_delay",
    "retry.max_delay",
    "retry.exponential_base",
    "retry.strategy",
    "retry.jitter",
    "retry.budget.ratio",
    "circuit_breaker.failure_rate_threshold",
    "circuit_breaker.sliding_window.type",
    "circuit_breaker.sliding_window.size",
    "circuit_breaker.sliding_window.duration",
    "circuit_breaker.recovery_backoff.max",
    "rate_limit.algorithm",
    "rate_limit.rate",
    "rate_limit.burst",
    "rate_limit.capacity",
    "rate_limit.window",
    "rate_limit.max_requests",
    "bulkhead.max_concurrent",
    "hedge.percentile",
    "hedge.delay",
];

/// Values that reach past the parser: numbers of every sign and size, durations, rates,
/// names, and arbitrary strings.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| format!("{n:?}")),
        any::<u32>().prop_map(|n| format!("\"{n}ms\"")),
        (any::<u32>(), 0u32..5).prop_map(|(n, u)| {
            let unit = ["ns", "s", "m", "h", "d"][u as usize];
            format!("\"{n}/{unit}\"")
        }),
        prop::sample::select(vec![
            "\"api\"",
            "\"gcra\"",
            "\"token_bucket\"",
            "\"fixed_window\"",
            "\"time\"",
            "\"count\"",
            "\"full\"",
            "\"linear\"",
            "true",
            "false",
            "\"0s\"",
            "\"1.5s\"",
            "\"1m 30s\"",
            "\"1d 12h\"",
            "\"-1s\"",
            "\"1y\"",
            "\"18446744073709551615s 999999999ns\"",
            "\"99999999999999999999h\"",
        ])
        .prop_map(str::to_owned),
        "[^\"\\\\\n]{0,12}".prop_map(|s| format!("\"{s}\"")),
    ]
}

proptest! {
    // 256 cases by default; PROPTEST_CASES=10000 for a longer run.
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn arbitrary_text_in_every_format_never_panics(text in any::<String>()) {
        for format in FORMATS {
            load_and_exercise(Loader::from_str(format, &text));
        }
    }

    #[test]
    fn text_shaped_like_configuration_never_panics(text in "[\\[\\]{}a-z_.=:\"0-9 ,\n-]{0,80}") {
        for format in FORMATS {
            load_and_exercise(Loader::from_str(format, &text));
        }
    }

    #[test]
    fn arbitrary_environment_values_never_panic(
        key in prop::sample::select(KEYS.to_vec()),
        value in any::<String>(),
    ) {
        let (head, tail) = key.split_once('.').unwrap_or((key, ""));
        let mut name = format!("PALISADE_USER_DB_{}", head.to_uppercase());
        if !tail.is_empty() {
            name.push_str("__");
            name.push_str(&tail.replace('.', "__").to_uppercase());
        }
        load_and_exercise(Loader::new().env_from([(name, value)]));
    }

    #[test]
    fn arbitrary_environment_names_never_panic(
        name in "PALISADE_[A-Z_]{0,40}",
        value in "[a-z0-9./-]{0,10}",
    ) {
        load_and_exercise(Loader::new().env_from([(name, value)]));
    }

    #[test]
    fn well_formed_files_with_arbitrary_values_never_panic(
        settings in prop::collection::vec((prop::sample::select(KEYS.to_vec()), value()), 0..8),
    ) {
        let mut text = String::from("[policies.p]\n");
        for (key, value) in &settings {
            text.push_str(&format!("{key} = {value}\n"));
        }
        load_and_exercise(Loader::from_str(Format::Toml, &text));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::default())]

    /// Every duration a configuration can hold — set in code, up to `Duration::MAX` — is
    /// written in a spelling the duration parser reads back exactly.
    #[test]
    fn every_duration_is_written_back_exactly(
        secs in prop_oneof![any::<u64>(), 0u64..100_000],
        nanos in prop_oneof![0u32..1_000_000_000, Just(0u32), (0u32..1_000).prop_map(|n| n * 1_000_000)],
    ) {
        let mut config = Loader::from_str(Format::Toml, "[policies.p]").load().expect("loads");
        if let Some(policy) = config.policies.get_mut("p") {
            policy.timeout = Some(std::time::Duration::new(secs, nanos));
        }
        exercise(&config);
    }
}

#[test]
fn deeply_nested_text_is_an_error_not_a_stack_overflow() {
    for open in ["[", "{\"a\":", "a = [", "- ", "{a: "] {
        // Far past every parser's recursion limit (libyaml is slow on deep flow nesting,
        // so not further).
        let text = open.repeat(10_000);
        for format in FORMATS {
            load_and_exercise(Loader::from_str(format, &text));
        }
        load_and_exercise(Loader::new().env_from([("PALISADE_API_TIMEOUT", text)]));
    }
}

#[test]
fn a_huge_value_is_shortened_in_the_error() {
    let text = format!("[policies.x]\ntimeout = \"{}\"", "9".repeat(10_000));
    let err = Loader::from_str(Format::Toml, &text).load().unwrap_err();
    assert!(err.to_string().len() < 600, "{err}");
    assert!(err.value().is_some_and(|v| v.ends_with('…')));
}
