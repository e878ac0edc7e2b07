//! Configuration loading: every format, the layering order, the environment scheme, every
//! error case with its exact key path / value / source, saving and building pipelines.
#![cfg(feature = "config")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use palisade::Error;
use palisade::circuit_breaker::SlidingWindow;
use palisade::clock::ManualClock;
use palisade::config::{Format, LoadError, Loader, PalisadeConfig, Source};
use palisade::presets::Preset;
use palisade::rate_limit::{Algorithm, Rate};
use palisade::retry::{Jitter, Strategy};

/// A fresh directory for one test's files.
fn dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("config_loading")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create test dir");
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write test file");
    path
}

fn toml(text: &str) -> Result<PalisadeConfig, LoadError> {
    Loader::from_str(Format::Toml, text).load()
}

const ISSUE_EXAMPLE: &str = r#"
[policies.payments]          # a named pipeline
preset = "api"
retry.max_attempts = 5
circuit_breaker.failure_threshold = 5
rate_limit = { algorithm = "gcra", rate = "100/s", burst = 20 }
"#;

#[test]
fn the_issue_example_builds_a_pipeline_with_those_numbers() {
    let config = toml(ISSUE_EXAMPLE).expect("loads");
    let payments = config.pipeline("payments").expect("builds");
    assert_eq!(payments.name(), "payments");
    let retry = payments.retry().expect("retry").config();
    assert_eq!(retry.max_attempts, 5);
    // The rest of retry is the api preset's.
    assert_eq!(retry.base_delay, Duration::from_secs(1));
    assert_eq!(retry.max_delay, Duration::from_secs(30));
    assert_eq!(retry.jitter, Jitter::Full);
    let breaker = payments.circuit_breaker().expect("breaker").config();
    assert_eq!(breaker.failure_threshold, Some(5));
    assert_eq!(breaker.recovery_timeout, Duration::from_secs(60));
    assert_eq!(
        payments.rate_limiter().expect("limiter").algorithm(),
        Algorithm::Gcra {
            rate: Rate::per_second(100),
            burst: 20
        }
    );
}

#[test]
fn toml_yaml_and_json_files_load_the_same_configuration() {
    let dir = dir("formats");
    let toml_path = write(
        &dir,
        "palisade.toml",
        r#"
        [policies.user_db]
        preset = "database"
        timeout = "2s"
        total_timeout = 10.0
        [policies.user_db.retry]
        max_attempts = 4
        strategy = "linear"
        jitter = "none"
        base_delay = "250ms"
        [policies.user_db.bulkhead]
        max_concurrent = 8
        "#,
    );
    let yaml_path = write(
        &dir,
        "palisade.yml",
        "
policies:
  user_db:
    preset: database
    timeout: 2s
    total_timeout: 10.0
    retry:
      max_attempts: 4
      strategy: linear
      jitter: none
      base_delay: 250ms
    bulkhead: { max_concurrent: 8 }
",
    );
    let json_path = write(
        &dir,
        "palisade.json",
        r#"{"policies": {"user_db": {
            "preset": "database", "timeout": "2s", "total_timeout": 10.0,
            "retry": {"max_attempts": 4, "strategy": "linear", "jitter": "none", "base_delay": "250ms"},
            "bulkhead": {"max_concurrent": 8}
        }}}"#,
    );
    let from_toml = Loader::new().file(&toml_path).load().expect("toml");
    let from_yaml = Loader::new().file(&yaml_path).load().expect("yaml");
    let from_json = Loader::new().file(&json_path).load().expect("json");
    assert_eq!(from_toml, from_yaml);
    assert_eq!(from_toml, from_json);

    let policy = &from_toml.policies["user_db"];
    assert_eq!(policy.preset, Some(Preset::Database));
    assert_eq!(policy.timeout, Some(Duration::from_secs(2)));
    assert_eq!(policy.total_timeout, Some(Duration::from_secs(10)));
    assert_eq!(
        from_toml.source_of("policies.user_db.timeout"),
        Some(&Source::File(toml_path))
    );

    let db = from_yaml.pipeline("user_db").expect("builds");
    let retry = db.retry().expect("retry").config();
    assert_eq!(
        (retry.max_attempts, retry.strategy, retry.jitter),
        (4, Strategy::Linear, Jitter::None)
    );
    assert_eq!(retry.base_delay, Duration::from_millis(250));
    assert_eq!(retry.max_delay, Duration::from_secs(10)); // the database preset's
    assert_eq!(db.bulkhead().map(|b| b.max_concurrent()), Some(8));
    assert_eq!(
        db.circuit_breaker()
            .expect("preset breaker")
            .config()
            .failure_threshold,
        Some(3)
    );
}

#[test]
fn each_layer_overrides_the_one_below_key_by_key() {
    let dir = dir("layers");
    let base = write(
        &dir,
        "base.toml",
        "[policies.api]\npreset = \"api\"\nmax_attempts = 4\nbase_delay = \"100ms\"\nmax_delay = \"3s\"",
    );
    let local = write(&dir, "local.yaml", "policies: { api: { max_delay: 2s } }");

    // Preset alone: the api preset's 5 attempts.
    let preset_only = toml("[policies.api]\npreset = \"api\"").expect("loads");
    let attempts = |c: &PalisadeConfig| {
        c.pipeline("api")
            .expect("builds")
            .retry()
            .expect("retry")
            .config()
            .max_attempts
    };
    assert_eq!(attempts(&preset_only), 5);

    // File over preset, later file over earlier file (only the keys it sets).
    let files = Loader::new()
        .file(&base)
        .file(&local)
        .load()
        .expect("loads");
    assert_eq!(attempts(&files), 4);
    let retry = files.pipeline("api").expect("builds");
    let retry = retry.retry().expect("retry").config();
    assert_eq!(retry.base_delay, Duration::from_millis(100));
    assert_eq!(retry.max_delay, Duration::from_secs(2));

    // Environment over files, whatever order the loader was told.
    let env = Loader::new()
        .env_from([("PALISADE_API_MAX_ATTEMPTS", "3")])
        .file(&base)
        .load()
        .expect("loads");
    assert_eq!(attempts(&env), 3);
    assert_eq!(
        env.source_of("policies.api.max_attempts"),
        Some(&Source::Env("PALISADE_API_MAX_ATTEMPTS".into()))
    );
    assert_eq!(
        env.source_of("policies.api.base_delay"),
        Some(&Source::File(base.clone()))
    );

    // Code over environment: Loader::set, then the builder itself.
    let code = Loader::new()
        .set("policies.api.max_attempts", 2)
        .expect("serializable")
        .file(&base)
        .env_from([("PALISADE_API_MAX_ATTEMPTS", "3")])
        .load()
        .expect("loads");
    assert_eq!(attempts(&code), 2);
    assert_eq!(
        code.source_of("policies.api.max_attempts"),
        Some(&Source::Code)
    );
    let overridden = code
        .pipeline_with("api", |b| b.max_attempts(1))
        .expect("builds");
    assert_eq!(overridden.retry().map(|r| r.config().max_attempts), Some(1));
}

#[test]
fn a_shortcut_and_its_section_field_resolve_to_the_later_layer() {
    // File sets the section, environment the shortcut: the environment wins.
    let config = Loader::from_str(Format::Toml, "[policies.api.retry]\nmax_attempts = 4")
        .env_from([("PALISADE_API_MAX_ATTEMPTS", "6")])
        .load()
        .expect("loads");
    let policy = &config.policies["api"];
    assert_eq!(policy.max_attempts, Some(6));
    assert_eq!(policy.retry.as_ref().and_then(|r| r.max_attempts), None);

    // File sets the shortcut, environment the section: the environment still wins.
    let config = Loader::from_str(Format::Toml, "[policies.api]\nfailure_threshold = 4")
        .env_from([("PALISADE_API_CIRCUIT_BREAKER__FAILURE_THRESHOLD", "9")])
        .load()
        .expect("loads");
    let breaker = config.pipeline("api").expect("builds");
    assert_eq!(
        breaker
            .circuit_breaker()
            .expect("breaker")
            .config()
            .failure_threshold,
        Some(9)
    );
    assert_eq!(config.policies["api"].failure_threshold, None);

    // One layer with both: the shortcut.
    let config = toml("[policies.api]\nmax_attempts = 2\nretry.max_attempts = 7").expect("loads");
    let p = config.pipeline("api").expect("builds");
    assert_eq!(p.retry().map(|r| r.config().max_attempts), Some(2));
}

#[test]
fn environment_variables_map_to_policies_whose_names_hold_underscores() {
    let config = Loader::new()
        .env_from([
            ("PALISADE_USER_DB_MAX_ATTEMPTS", "5"),
            ("PALISADE_USER_DB_PRESET", "database"),
            ("PALISADE_DATABASE_TIMEOUT", "30.0"), // the reference docs' spelling
            ("PALISADE_API_TOTAL_TIMEOUT", "45s"),
            ("PALISADE_API_RETRY__JITTER", "equal"),
            ("PALISADE_API_RETRY__EXPONENTIAL_BASE", "1.5"),
            ("PALISADE_API_RETRY_REJECTIONS", "true"),
            ("PALISADE_API_RATE_LIMIT__ALGORITHM", "token_bucket"),
            ("PALISADE_API_RATE_LIMIT__RATE", "600/m"),
            ("PALISADE_API_RATE_LIMIT__CAPACITY", "50"),
            ("PALISADE_API_CIRCUIT_BREAKER__SLIDING_WINDOW__TYPE", "time"),
            (
                "PALISADE_API_CIRCUIT_BREAKER__SLIDING_WINDOW__DURATION",
                "10s",
            ),
            ("PALISADE_API_CIRCUIT_BREAKER__FAILURE_RATE_THRESHOLD", "50"),
            ("palisade_cache_max_attempts", "1"), // case does not matter
            ("OTHER_API_MAX_ATTEMPTS", "99"),     // not ours
            ("PATH", "/usr/bin"),
        ])
        .load()
        .expect("loads");
    let names: Vec<&str> = config.policies.keys().map(String::as_str).collect();
    assert_eq!(names, ["api", "cache", "database", "user_db"]);
    let user_db = &config.policies["user_db"];
    assert_eq!(
        (user_db.preset, user_db.max_attempts),
        (Some(Preset::Database), Some(5))
    );
    assert_eq!(
        config.policies["database"].timeout,
        Some(Duration::from_secs(30))
    );
    assert_eq!(config.policies["cache"].max_attempts, Some(1));
    let api = &config.policies["api"];
    assert_eq!(api.total_timeout, Some(Duration::from_secs(45)));
    assert_eq!(api.timeout, None);
    assert_eq!(api.retry_rejections, Some(true));

    let p = config.pipeline("api").expect("builds");
    let retry = p.retry().expect("retry").config();
    assert_eq!((retry.jitter, retry.exponential_base), (Jitter::Equal, 1.5));
    assert_eq!(
        p.rate_limiter().expect("limiter").algorithm(),
        Algorithm::TokenBucket {
            rate: Rate::per_minute(600),
            capacity: 50,
            initial_tokens: None
        }
    );
    let breaker = p.circuit_breaker().expect("breaker").config();
    assert_eq!(
        breaker.sliding_window,
        SlidingWindow::Time {
            duration: Duration::from_secs(10),
            buckets: 10
        }
    );
    assert_eq!(breaker.failure_rate_threshold, Some(50.0));
}

#[test]
fn a_custom_prefix_reads_only_its_own_variables() {
    let config = Loader::new()
        .env_prefix("MYAPP_")
        .env_from([
            ("MYAPP_API_MAX_ATTEMPTS", "2"),
            ("PALISADE_API_MAX_ATTEMPTS", "9"),
        ])
        .load()
        .expect("loads");
    assert_eq!(config.policies["api"].max_attempts, Some(2));
}

#[test]
fn the_process_environment_is_read_with_env_prefix() {
    // A prefix no other test uses, so this test does not race the others.
    let name = "PALISADE_CONFIG_LOADING_TEST_ONLY_PROC_MAX_ATTEMPTS";
    // SAFETY: no other test reads or writes variables with this prefix.
    unsafe { std::env::set_var(name, "4") };
    let config = Loader::new()
        .env_prefix("PALISADE_CONFIG_LOADING_TEST_ONLY")
        .load();
    // SAFETY: as above.
    unsafe { std::env::remove_var(name) };
    assert_eq!(
        config.expect("loads").policies["proc"].max_attempts,
        Some(4)
    );
}

#[test]
fn a_negative_count_names_the_key_path_the_value_and_the_file() {
    let dir = dir("negative");
    let path = write(
        &dir,
        "palisade.toml",
        "[policies.x.retry]\nmax_attempts = -3\n",
    );
    let err = Loader::new().file(&path).load().unwrap_err();
    assert_eq!(err.key(), Some("policies.x.retry.max_attempts"));
    assert_eq!(err.value(), Some("-3"));
    assert_eq!(err.file(), Some(path.as_path()));
    assert_eq!(
        err.to_string(),
        format!(
            "invalid configuration in file {}: policies.x.retry.max_attempts = -3: \
             expected a whole number from 1 to 4294967295",
            path.display()
        )
    );
}

#[test]
fn unknown_keys_are_rejected_at_every_level() {
    for (text, key) in [
        ("[policies.x]\nmax_atempts = 3", "policies.x.max_atempts"),
        (
            "[policies.x.retry]\nmax_atempts = 3",
            "policies.x.retry.max_atempts",
        ),
        (
            "[policies.x.circuit_breaker.sliding_window]\nsize = 1\nlength = 2",
            "policies.x.circuit_breaker.sliding_window.length",
        ),
        ("[policy.x]\npreset = \"api\"", "policy"),
        (
            "[policies.x.rate_limit]\nrate = \"1/s\"\nbrust = 2",
            "policies.x.rate_limit.brust",
        ),
    ] {
        let err = toml(text).unwrap_err();
        assert_eq!(err.key(), Some(key), "{text}: {err}");
        assert!(err.reason().starts_with("unknown key"), "{err}");
        assert_eq!(err.source(), Some(&Source::Text(Format::Toml)));
    }
}

#[test]
fn unknown_names_say_which_are_known() {
    let err = toml("[policies.x]\npreset = \"databse\"").unwrap_err();
    assert_eq!(
        (err.key(), err.value()),
        (Some("policies.x.preset"), Some("databse"))
    );
    assert!(err.reason().contains("database, api, cache"), "{err}");

    let err = toml("[policies.x.retry]\njitter = \"ful\"").unwrap_err();
    assert_eq!(
        (err.key(), err.value()),
        (Some("policies.x.retry.jitter"), Some("ful"))
    );
    let err = toml("[policies.x.rate_limit]\nalgorithm = \"leaky\"").unwrap_err();
    assert_eq!(
        (err.key(), err.value()),
        (Some("policies.x.rate_limit.algorithm"), Some("leaky"))
    );
    assert!(err.reason().contains("gcra"), "{err}");

    let config = toml("[policies.a]\n[policies.b]").expect("loads");
    let err = config.pipeline("c").unwrap_err();
    assert_eq!(err.key(), Some("policies.c"));
    assert_eq!(err.reason(), "no such policy; configured: a, b");
}

#[test]
fn bad_durations_and_rates_name_key_and_value() {
    for (text, key, value) in [
        ("timeout = \"soon\"", "policies.x.timeout", "soon"),
        ("timeout = \"-5s\"", "policies.x.timeout", "-5s"),
        ("timeout = -5", "policies.x.timeout", "-5"),
        ("timeout = -0.5", "policies.x.timeout", "-0.5"),
        ("timeout = nan", "policies.x.timeout", "NaN"),
        ("timeout = \"5 parsecs\"", "policies.x.timeout", "5 parsecs"),
        (
            "rate_limit = { rate = \"100\", burst = 1 }",
            "policies.x.rate_limit.rate",
            "100",
        ),
        ("max_attempts = \"five\"", "policies.x.max_attempts", "five"),
        ("retry_rejections = 1", "policies.x.retry_rejections", "1"),
    ] {
        let err = toml(&format!("[policies.x]\n{text}")).unwrap_err();
        assert_eq!(
            (err.key(), err.value()),
            (Some(key), Some(value)),
            "{text}: {err}"
        );
    }
}

// One grammar for duration strings (jiff's "friendly" format) in a file, an environment
// variable and `#[resilient(timeout = "...")]`: each string below means the same in all three.
macro_rules! same_everywhere {
    ($($name:ident = $text:literal => $expected:expr),* $(,)?) => {
        const SAME_EVERYWHERE: &[(&str, Duration)] = &[$(($text, $expected)),*];

        #[cfg(feature = "macros")]
        mod in_the_attribute {
            use super::*;

            $(
                #[palisade::resilient(timeout = $text)]
                async fn $name() -> Result<(), std::io::Error> {
                    tokio::time::sleep(Duration::from_secs(30 * 86_400)).await;
                    Ok(())
                }
            )*

            #[tokio::test(start_paused = true)]
            async fn the_same_duration_strings_set_that_timeout_in_resilient() {
                $(
                    match $name().await {
                        Err(Error::Timeout { limit, .. }) => {
                            assert_eq!(limit, $expected, "{}", $text)
                        }
                        other => panic!("{}: expected a timeout, got {other:?}", $text),
                    }
                )*
            }
        }
    };
}

same_everywhere!(
    minute_and_a_half_spaced = "1m 30s" => Duration::from_secs(90),
    minute_and_a_half = "1m30s" => Duration::from_secs(90),
    spelled_out = "1 minute, 30 seconds" => Duration::from_secs(90),
    seconds = "90s" => Duration::from_secs(90),
    seconds_spelled = "5sec" => Duration::from_secs(5),
    fraction = "1.5s" => Duration::from_millis(1500),
    fraction_of_an_hour = "1.5h" => Duration::from_secs(5400),
    millis = "250ms" => Duration::from_millis(250),
    millis_spelled = "100millis" => Duration::from_millis(100),
    micros = "250µs" => Duration::from_micros(250),
    micros_ascii = "250us" => Duration::from_micros(250),
    hours = "2 hours" => Duration::from_secs(7200),
    a_day = "1d" => Duration::from_secs(86_400),
    a_day_and_a_half = "1d 12h" => Duration::from_secs(129_600),
);

#[test]
fn the_same_duration_strings_load_from_a_file_and_an_environment_variable() {
    let dir = dir("duration_strings");
    for &(text, expected) in SAME_EVERYWHERE {
        let toml_file = write(
            &dir,
            "palisade.toml",
            &format!("[policies.x]\ntimeout = \"{text}\"\n"),
        );
        let yaml_file = write(
            &dir,
            "palisade.yaml",
            &format!("policies:\n  x:\n    timeout: \"{text}\"\n"),
        );
        for path in [toml_file, yaml_file] {
            let config = Loader::new().file(&path).load().expect(text);
            assert_eq!(config.policies["x"].timeout, Some(expected), "{text}");
            // Written back, it loads to the same configuration.
            let again = toml(&config.to_toml_string().expect("writes")).expect("loads again");
            assert_eq!(again, config, "{text}");
        }
        let config = Loader::new()
            .env_from([("PALISADE_X_TIMEOUT", text)])
            .load()
            .expect(text);
        assert_eq!(config.policies["x"].timeout, Some(expected), "{text}");
    }
}

#[test]
fn a_plain_number_is_seconds_in_a_file_and_an_environment_variable() {
    for text in ["timeout = 30", "timeout = 30.0", "timeout = \"30\""] {
        let config = toml(&format!("[policies.x]\n{text}")).expect(text);
        assert_eq!(config.policies["x"].timeout, Some(Duration::from_secs(30)));
    }
    for value in ["30", "30.0", " 30 "] {
        let config = Loader::new()
            .env_from([("PALISADE_X_TIMEOUT", value)])
            .load()
            .expect(value);
        assert_eq!(config.policies["x"].timeout, Some(Duration::from_secs(30)));
    }
}

#[test]
fn bad_duration_strings_say_why_with_key_and_value() {
    for (text, why) in [
        ("soon", "is not a duration: "),
        ("5 parsecs", "is not a duration: "),
        ("30s1m", "units must be written from largest to smallest"),
        ("-5s", "this one must not be negative"),
        (
            "1y",
            "this one counts months or years, which have no fixed length",
        ),
        ("", "this one is empty"),
    ] {
        let err = toml(&format!("[policies.x]\ntimeout = \"{text}\"")).unwrap_err();
        assert_eq!(
            (err.key(), err.value()),
            (Some("policies.x.timeout"), Some(text)),
            "{err}"
        );
        assert!(err.reason().starts_with("expected a duration such as \"250ms\", \"1.5s\", \"1m 30s\" or a number of seconds; "), "{err}");
        assert!(err.reason().contains(why), "{text}: {err}");
        assert!(!err.reason().contains("failed to parse"), "{err}");

        let err = Loader::new()
            .env_from([("PALISADE_X_TIMEOUT", text)])
            .load()
            .unwrap_err();
        assert_eq!(
            (err.env_var(), err.key(), err.value()),
            (
                Some("PALISADE_X_TIMEOUT"),
                Some("policies.x.timeout"),
                Some(text)
            ),
            "{err}"
        );
        assert!(err.reason().contains(why), "{text}: {err}");
    }
    let err = toml("[policies.x]\ntimeout = \"-5s\"").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid configuration in TOML text: policies.x.timeout = -5s: expected a duration \
         such as \"250ms\", \"1.5s\", \"1m 30s\" or a number of seconds; this one must not be \
         negative"
    );
}

#[test]
fn malformed_files_name_the_file_and_line() {
    let dir = dir("malformed");
    let cases = [
        (
            "bad.toml",
            "[policies.x]\nmax_attempts = 3\ntimeout = \n",
            3,
        ),
        (
            "bad.yaml",
            "policies:\n  x:\n    max_attempts: 3\n   timeout: [\n",
            4,
        ),
        (
            "bad.json",
            "{\"policies\": {\n  \"x\": {\"max_attempts\": 3,}\n}}",
            2,
        ),
    ];
    for (name, text, line) in cases {
        let path = write(&dir, name, text);
        let err = Loader::new().file(&path).load().unwrap_err();
        assert_eq!(err.file(), Some(path.as_path()), "{err}");
        assert_eq!(err.line(), Some(line), "{name}: {err}");
        assert_eq!(err.key(), None);
        assert!(err.reason().starts_with("malformed "), "{err}");
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!(
                "invalid configuration in file {} at line {line}: malformed",
                path.display()
            )),
            "{shown}"
        );
        assert!(!shown.contains('\n'), "one sentence: {shown}");
    }
    // A YAML document that is not a table.
    let err = Loader::from_str(Format::Yaml, "- a\n- b")
        .load()
        .unwrap_err();
    assert_eq!(err.source(), Some(&Source::Text(Format::Yaml)));
}

#[test]
fn missing_files_and_unknown_extensions_are_errors_but_optional_files_are_not() {
    let dir = dir("missing");
    let missing = dir.join("nope.toml");
    let err = Loader::new().file(&missing).load().unwrap_err();
    assert_eq!(err.file(), Some(missing.as_path()));
    assert!(err.reason().starts_with("cannot read the file"), "{err}");
    assert!(Loader::new().optional_file(&missing).load().is_ok());

    let ini = write(&dir, "palisade.ini", "[policies]");
    let err = Loader::new().file(&ini).load().unwrap_err();
    assert_eq!(err.file(), Some(ini.as_path()));
    assert!(err.reason().contains(".toml"), "{err}");
}

#[test]
fn environment_errors_name_the_variable_key_and_value() {
    let err = Loader::new()
        .env_from([("PALISADE_API_MAX_ATTEMPTS", "many")])
        .load()
        .unwrap_err();
    assert_eq!(err.env_var(), Some("PALISADE_API_MAX_ATTEMPTS"));
    assert_eq!(
        (err.key(), err.value()),
        (Some("policies.api.max_attempts"), Some("many"))
    );
    assert_eq!(
        err.to_string(),
        "invalid configuration in environment variable PALISADE_API_MAX_ATTEMPTS: \
         policies.api.max_attempts = many: expected a whole number from 1 to 4294967295"
    );

    let err = Loader::new()
        .env_from([("PALISADE_USER_DB_RETRY__JITER", "full")])
        .load()
        .unwrap_err();
    assert_eq!(err.env_var(), Some("PALISADE_USER_DB_RETRY__JITER"));
    assert_eq!(err.key(), Some("policies.user_db.retry.jiter"));

    let err = Loader::new()
        .env_from([("PALISADE_API_TIMEOUT", "-1s")])
        .load()
        .unwrap_err();
    assert_eq!(
        (err.env_var(), err.key(), err.value()),
        (
            Some("PALISADE_API_TIMEOUT"),
            Some("policies.api.timeout"),
            Some("-1s")
        )
    );

    // A variable with the prefix that names no setting: ignored and listed, or with
    // strict_env an error naming it.
    for name in [
        "PALISADE_API_MAX_ATEMPTS",
        "PALISADE_TIMEOUT",
        "PALISADE_API_RETRY",
    ] {
        let config = Loader::new().env_from([(name, "1")]).load().expect("loads");
        assert!(config.policies.is_empty());
        let ignored: Vec<&str> = config.ignored_env_vars().iter().map(|v| v.name()).collect();
        assert_eq!(ignored, [name]);
        let err = Loader::new()
            .env_from([(name, "1")])
            .strict_env(true)
            .load()
            .unwrap_err();
        assert_eq!(err.env_var(), Some(name), "{err}");
        assert_eq!(err.key(), None);
    }
}

#[test]
fn values_only_build_checks_are_reported_with_their_key_path_and_source() {
    // In a section, from a file.
    let dir = dir("build_errors");
    let path = write(
        &dir,
        "palisade.toml",
        "[policies.x.retry]\nmax_attempts = 0\n",
    );
    let config = Loader::new().file(&path).load().expect("loads");
    let err = config.pipeline("x").unwrap_err();
    assert_eq!(
        (err.key(), err.value(), err.file()),
        (
            Some("policies.x.retry.max_attempts"),
            Some("0"),
            Some(path.as_path())
        )
    );
    assert_eq!(err.reason(), "must be at least 1");

    // A shortcut, from the environment.
    let config = Loader::new()
        .env_from([("PALISADE_X_MAX_ATTEMPTS", "0")])
        .load()
        .expect("loads");
    let err = config.pipeline("x").unwrap_err();
    assert_eq!(
        (err.key(), err.env_var()),
        (
            Some("policies.x.max_attempts"),
            Some("PALISADE_X_MAX_ATTEMPTS")
        )
    );

    for (text, key, value) in [
        ("timeout = \"0s\"", "policies.x.timeout", "0ns"),
        ("total_timeout = 0", "policies.x.total_timeout", "0ns"),
        ("failure_threshold = 0", "policies.x.failure_threshold", "0"),
        (
            "bulkhead.max_concurrent = 0",
            "policies.x.bulkhead.max_concurrent",
            "0",
        ),
        (
            "circuit_breaker.sliding_window = { size = 0 }",
            "policies.x.circuit_breaker.sliding_window.size",
            "0",
        ),
        (
            "rate_limit = { rate = \"0/s\", burst = 1 }",
            "policies.x.rate_limit.rate",
            "0/1s",
        ),
        (
            "hedge.percentile = 100.0",
            "policies.x.hedge.percentile",
            "100",
        ),
        (
            "retry.budget.ratio = -1.0",
            "policies.x.retry.budget.ratio",
            "-1",
        ),
    ] {
        let config = toml(&format!("[policies.x]\n{text}")).expect("loads");
        let err = config.pipeline("x").unwrap_err();
        assert_eq!(
            (err.key(), err.value()),
            (Some(key), Some(value)),
            "{text}: {err}"
        );
        assert_eq!(err.source(), Some(&Source::Text(Format::Toml)), "{err}");
    }

    // A default contradicted by a setting: named, with no source.
    let config = toml("[policies.x.retry]\nbase_delay = \"1m\"").expect("loads");
    let err = config.pipeline("x").unwrap_err();
    assert_eq!(err.key(), Some("policies.x.retry.max_delay"));
    assert_eq!(err.source(), None);
}

#[test]
fn a_rate_limit_needs_the_fields_of_its_algorithm_and_only_those() {
    let err = toml("[policies.x.rate_limit]\nrate = \"10/s\"")
        .expect("loads")
        .pipeline("x")
        .unwrap_err();
    assert_eq!(err.key(), Some("policies.x.rate_limit.burst"));
    assert_eq!(err.reason(), "is required by the gcra algorithm");

    let err = toml("[policies.x.rate_limit]\nalgorithm = \"fixed_window\"\nmax_requests = 5\nwindow = \"1m\"\nburst = 3")
        .expect("loads")
        .pipeline("x")
        .unwrap_err();
    assert_eq!(err.key(), Some("policies.x.rate_limit.burst"));
    assert_eq!(err.source(), Some(&Source::Text(Format::Toml)));

    let config = toml(
        "[policies.x.rate_limit]\nalgorithm = \"sliding_window_log\"\nmax_requests = 5\nwindow = \"1m\"\nmax_wait = \"100ms\"",
    )
    .expect("loads");
    let p = config.pipeline("x").expect("builds");
    assert_eq!(
        p.rate_limiter().expect("limiter").algorithm(),
        Algorithm::SlidingWindowLog {
            max_requests: 5,
            window: Duration::from_secs(60)
        }
    );
}

#[test]
fn the_per_attempt_timeout_from_configuration_is_the_one_that_fires() {
    let config = toml("[policies.slow]\ntimeout = \"250ms\"\nmax_attempts = 1").expect("loads");
    let clock = ManualClock::new();
    let p = config
        .pipeline_with("slow", |b| b.clock(clock.clone()))
        .expect("builds");
    let result = p.call_blocking(|| {
        clock.advance(Duration::from_secs(1));
        Ok::<_, std::io::Error>(())
    });
    let limit = match result {
        Err(Error::Timeout { limit, .. }) => limit,
        Err(Error::RetriesExhausted { last_error, .. }) => match *last_error {
            Error::Timeout { limit, .. } => limit,
            other => panic!("unexpected {other:?}"),
        },
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(limit, Duration::from_millis(250));
}

const RICH: &str = r#"
[policies.payments]
preset = "api"
timeout = "1500ms"
total_timeout = 12.5
retry_rejections = true
[policies.payments.retry]
max_attempts = 4
base_delay = "200ms"
max_delay = "1m30s"
exponential_base = 1.5
strategy = "exponential"
jitter = "decorrelated"
max_elapsed = "20s"
budget = { ratio = 0.25, min_retries_per_sec = 5, ttl = "10s" }
[policies.payments.circuit_breaker]
failure_threshold = 7
failure_rate_threshold = 50.0
slow_call_rate_threshold = 80.0
slow_call_duration = "2s"
sliding_window = { type = "time", duration = "30s", buckets = 30 }
minimum_calls = 10
recovery_timeout = "45s"
recovery_backoff = { multiplier = 2.0, max = "5m" }
half_open_requests = 2
success_threshold = 2
max_wait_in_half_open = "1m"
[policies.payments.rate_limit]
algorithm = "token_bucket"
rate = "5/250ms"
capacity = 40
initial_tokens = 10
max_wait = "50ms"
[policies.payments.bulkhead]
max_concurrent = 16
max_queue = 4
max_wait = "300ms"
[policies.payments.hedge]
delay = "75ms"
percentile = 95.0
min_samples = 20
sample_size = 200
max_hedged_attempts = 2
[policies.cache]
preset = "cache"
max_attempts = 1
"#;

#[test]
fn saving_and_loading_again_gives_the_same_configuration_in_every_format() {
    let dir = dir("round_trip");
    let config = toml(RICH).expect("loads");
    config.pipeline("payments").expect("a valid configuration");
    for name in ["saved.toml", "saved.yaml", "saved.json"] {
        let path = dir.join(name);
        config.save_to_file(&path).expect("saves");
        let again = Loader::new().file(&path).load().expect("loads again");
        assert_eq!(again, config, "{name}");
        // And the saved text of the reloaded configuration is the same text.
        let text = std::fs::read_to_string(&path).expect("read");
        let format = Format::from_path(&path).expect("known");
        assert_eq!(again.to_string_as(format).expect("writes"), text);
    }
    let text = config.to_toml_string().expect("writes");
    assert!(text.contains("timeout = \"1500ms\""), "{text}");
    assert!(text.contains("total_timeout = \"12500ms\""), "{text}");
    assert!(text.contains("rate = \"5/250ms\""), "{text}");
    assert!(text.contains("max_delay = \"90s\""), "{text}");

    let err = config.save_to_file(dir.join("saved.txt")).unwrap_err();
    assert!(err.file().is_some());
}

#[test]
fn every_section_reaches_its_policy() {
    let config = toml(RICH).expect("loads");
    let p = config.pipeline("payments").expect("builds");
    let retry = p.retry().expect("retry").config();
    assert_eq!(retry.max_attempts, 4);
    assert_eq!(retry.max_delay, Duration::from_secs(90));
    assert_eq!(retry.max_elapsed, Some(Duration::from_secs(20)));
    assert_eq!(retry.jitter, Jitter::Decorrelated);
    let breaker = p.circuit_breaker().expect("breaker").config();
    assert_eq!(breaker.failure_threshold, Some(7));
    assert_eq!(breaker.slow_call_rate_threshold, Some(80.0));
    assert_eq!(breaker.minimum_calls, 10);
    assert_eq!(breaker.recovery_timeout, Duration::from_secs(45));
    assert_eq!(breaker.half_open_requests, 2);
    assert_eq!(breaker.success_threshold, Some(2));
    assert_eq!(
        breaker.recovery_backoff.map(|b| (b.multiplier, b.max)),
        Some((2.0, Duration::from_secs(300)))
    );
    assert_eq!(breaker.max_wait_in_half_open, Some(Duration::from_secs(60)));
    assert_eq!(
        p.rate_limiter().expect("limiter").algorithm(),
        Algorithm::TokenBucket {
            rate: Rate::new(5, Duration::from_millis(250)),
            capacity: 40,
            initial_tokens: Some(10)
        }
    );
    let bulkhead = p.bulkhead().expect("bulkhead");
    assert_eq!(
        (
            bulkhead.max_concurrent(),
            bulkhead.max_queue(),
            bulkhead.max_wait()
        ),
        (16, 4, Some(Duration::from_millis(300)))
    );
    let hedge = config.policies["payments"].hedge.as_ref().expect("hedge");
    assert_eq!(hedge.percentile, Some(95.0));
    let cache = config.pipeline("cache").expect("builds");
    assert_eq!(cache.retry().map(|r| r.config().max_attempts), Some(1));
}

#[test]
fn an_empty_configuration_loads_and_has_no_policies() {
    for (format, text) in [
        (Format::Toml, ""),
        (Format::Yaml, "{}"),
        (Format::Json, "{}"),
    ] {
        let config = Loader::from_str(format, text).load().expect("loads");
        assert!(config.policies.is_empty());
    }
    let err = Loader::new()
        .env_prefix("")
        .env_from([("X", "1")])
        .load()
        .unwrap_err();
    assert!(err.reason().contains("prefix is empty"), "{err}");
}

/// An application's own variables under the prefix it shares with Palisade.
const SHARED_PREFIX_VARS: [(&str, &str); 5] = [
    ("APP_PORT", "8080"),
    ("APP_DATABASE_URL", "postgres://db.internal/app"),
    ("APP_DATABASE_TIMEOUT_SECONDS", "30.0"), // the reference docs' spelling
    ("APP_DATABASE_MAX_ATTEMPTS", "3"),
    ("APP_DATABASE_TIMEOUT_SECODNS", "5"), // a typo
];

#[test]
fn an_applications_own_variables_under_a_shared_prefix_are_ignored_and_listed() {
    let config = Loader::new()
        .env_prefix("APP")
        .env_from(SHARED_PREFIX_VARS)
        .load()
        .expect("the application's variables do not break loading");
    let names: Vec<&str> = config.policies.keys().map(String::as_str).collect();
    assert_eq!(names, ["database"]);
    let database = &config.policies["database"];
    assert_eq!(database.timeout, Some(Duration::from_secs(30)));
    assert_eq!(database.max_attempts, Some(3));
    assert_eq!(
        config.source_of("policies.database.timeout"),
        Some(&Source::Env("APP_DATABASE_TIMEOUT_SECONDS".into()))
    );

    // Ignored, sorted by name, and the typo is pointed out.
    let ignored: Vec<(&str, Option<&str>)> = config
        .ignored_env_vars()
        .iter()
        .map(|var| (var.name(), var.suggestion()))
        .collect();
    assert_eq!(
        ignored,
        [
            (
                "APP_DATABASE_TIMEOUT_SECODNS",
                Some("APP_DATABASE_TIMEOUT_SECONDS")
            ),
            ("APP_DATABASE_URL", None),
            ("APP_PORT", None),
        ]
    );
    let typo = config.ignored_env_vars()[0].to_string();
    assert!(
        typo.starts_with(
            "APP_DATABASE_TIMEOUT_SECODNS names no setting: expected APP_<POLICY>_<KEY>"
        ),
        "{typo}"
    );
    assert!(
        typo.ends_with("(did you mean APP_DATABASE_TIMEOUT_SECONDS?)"),
        "{typo}"
    );
}

#[test]
fn strict_env_makes_variables_that_name_no_setting_errors_naming_them() {
    let err = Loader::new()
        .env_prefix("APP")
        .env_from([
            ("APP_PORT", "8080"),
            ("APP_DATABASE_URL", "postgres://db"),
            ("APP_DATABASE_MAX_ATTEMPTS", "3"),
        ])
        .strict_env(true)
        .load()
        .unwrap_err();
    assert_eq!(err.env_var(), Some("APP_DATABASE_URL"));
    assert_eq!(err.key(), None);
    let text = err.to_string();
    assert!(
        text.starts_with(
            "invalid configuration in environment variable APP_DATABASE_URL: names no \
             setting (strict_env is on); other variables that name no setting: APP_PORT; \
             expected APP_<POLICY>_<KEY> with KEY one of PRESET, SEED, BACKEND, TIMEOUT"
        ),
        "{text}"
    );

    let err = Loader::new()
        .env_prefix("APP")
        .env_from(SHARED_PREFIX_VARS)
        .strict_env(true)
        .load()
        .unwrap_err();
    assert_eq!(err.env_var(), Some("APP_DATABASE_TIMEOUT_SECODNS"));
    assert!(
        err.reason().contains(
            "did you mean APP_DATABASE_TIMEOUT_SECONDS?; other variables that name no \
             setting: APP_DATABASE_URL, APP_PORT"
        ),
        "{err}"
    );

    // strict_env(false) is the default.
    assert!(
        Loader::new()
            .env_prefix("APP")
            .env_from(SHARED_PREFIX_VARS)
            .strict_env(false)
            .load()
            .is_ok()
    );
}

#[test]
fn the_process_environment_under_a_shared_prefix_is_read_the_same_way() {
    // A prefix no other test uses, so this test does not race the others.
    let prefix = "CONFIG_LOADING_SHARED_PREFIX_TEST_ONLY";
    let vars = [
        (format!("{prefix}_PORT"), "8080"),
        (format!("{prefix}_DATABASE_URL"), "postgres://db"),
        (format!("{prefix}_DATABASE_TIMEOUT_SECONDS"), "2.5"),
    ];
    for (name, value) in &vars {
        // SAFETY: no other test reads or writes variables with this prefix.
        unsafe { std::env::set_var(name, value) };
    }
    let config = Loader::new().env_prefix(prefix).load();
    let strict = Loader::new().env_prefix(prefix).strict_env(true).load();
    for (name, _) in &vars {
        // SAFETY: as above.
        unsafe { std::env::remove_var(name) };
    }
    let config = config.expect("loads");
    assert_eq!(
        config.policies["database"].timeout,
        Some(Duration::from_millis(2500))
    );
    assert_eq!(config.ignored_env_vars().len(), 2);
    let err = strict.unwrap_err();
    assert_eq!(
        err.env_var(),
        Some("CONFIG_LOADING_SHARED_PREFIX_TEST_ONLY_DATABASE_URL")
    );
}

#[test]
fn the_reference_seconds_spellings_are_the_duration_keys_in_every_format() {
    let toml_text = r#"
        [policies.db]
        timeout_seconds = 30.0
        total_timeout_seconds = 90
        base_delay_seconds = 0.5
        max_delay_seconds = "10"
        recovery_timeout_seconds = 45
        retry.max_elapsed_seconds = 60
        circuit_breaker.slow_call_duration_seconds = 2
        rate_limit = { algorithm = "fixed_window", max_requests = 10, window_seconds = 1 }
        bulkhead = { max_concurrent = 4, max_queue = 2, max_wait_seconds = 0.25 }
        hedge.delay_seconds = 0.05
    "#;
    let yaml_text = "
policies:
  db:
    timeout_seconds: 30.0
    total_timeout_seconds: 90
    base_delay_seconds: 0.5
    max_delay_seconds: '10'
    recovery_timeout_seconds: 45
    retry: { max_elapsed_seconds: 60 }
    circuit_breaker: { slow_call_duration_seconds: 2 }
    rate_limit: { algorithm: fixed_window, max_requests: 10, window_seconds: 1 }
    bulkhead: { max_concurrent: 4, max_queue: 2, max_wait_seconds: 0.25 }
    hedge: { delay_seconds: 0.05 }
";
    let json_text = r#"{"policies": {"db": {
        "timeout_seconds": 30.0, "total_timeout_seconds": 90, "base_delay_seconds": 0.5,
        "max_delay_seconds": "10", "recovery_timeout_seconds": 45,
        "retry": {"max_elapsed_seconds": 60},
        "circuit_breaker": {"slow_call_duration_seconds": 2},
        "rate_limit": {"algorithm": "fixed_window", "max_requests": 10, "window_seconds": 1},
        "bulkhead": {"max_concurrent": 4, "max_queue": 2, "max_wait_seconds": 0.25},
        "hedge": {"delay_seconds": 0.05}
    }}}"#;
    let plain = toml(
        r#"
        [policies.db]
        timeout = "30s"
        total_timeout = "90s"
        base_delay = "500ms"
        max_delay = "10s"
        recovery_timeout = "45s"
        retry.max_elapsed = "1m"
        circuit_breaker.slow_call_duration = "2s"
        rate_limit = { algorithm = "fixed_window", max_requests = 10, window = "1s" }
        bulkhead = { max_concurrent = 4, max_queue = 2, max_wait = "250ms" }
        hedge.delay = "50ms"
    "#,
    )
    .expect("plain spelling loads");
    for (format, text) in [
        (Format::Toml, toml_text),
        (Format::Yaml, yaml_text),
        (Format::Json, json_text),
    ] {
        let config = Loader::from_str(format, text)
            .load()
            .unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(config, plain, "{format}");
        assert!(config.pipeline("db").is_ok(), "{format}");
        // Saved with the plain keys; loading the saved text gives the same configuration.
        let saved = config.to_toml_string().expect("saves");
        assert!(saved.contains("timeout = \"30s\"") && !saved.contains("_seconds"));
        assert_eq!(
            Loader::from_str(Format::Toml, &saved)
                .load()
                .expect("reloads"),
            plain
        );
    }
}

#[test]
fn the_seconds_spelling_and_the_plain_one_override_each_other_across_layers() {
    // A later layer's plain key overrides an earlier layer's _seconds key, and the other way.
    let config = Loader::from_str(Format::Toml, "[policies.db]\ntimeout_seconds = 5")
        .env_from([("PALISADE_DB_TIMEOUT", "2s")])
        .load()
        .expect("loads");
    assert_eq!(config.policies["db"].timeout, Some(Duration::from_secs(2)));
    let config = Loader::from_str(Format::Toml, "[policies.db]\ntimeout = \"2s\"")
        .env_from([("PALISADE_DB_TIMEOUT_SECONDS", "5")])
        .set("policies.db.retry.base_delay_seconds", 0.25)
        .expect("sets")
        .load()
        .expect("loads");
    let db = &config.policies["db"];
    assert_eq!(db.timeout, Some(Duration::from_secs(5)));
    assert_eq!(
        db.retry.as_ref().and_then(|r| r.base_delay),
        Some(Duration::from_millis(250))
    );
    assert_eq!(
        config.source_of("policies.db.timeout_seconds"),
        Some(&Source::Env("PALISADE_DB_TIMEOUT_SECONDS".into()))
    );
    assert_eq!(
        config.source_of("policies.db.retry.base_delay"),
        Some(&Source::Code)
    );
}

#[test]
fn both_spellings_in_one_layer_are_an_error_naming_both() {
    let err = toml("[policies.db]\ntimeout = \"2s\"\ntimeout_seconds = 30").unwrap_err();
    assert_eq!(err.key(), Some("policies.db.timeout_seconds"));
    assert_eq!(err.source(), Some(&Source::Text(Format::Toml)));
    assert_eq!(
        err.to_string(),
        "invalid configuration in TOML text: policies.db.timeout_seconds: and \
         policies.db.timeout are the same setting, and both are set: keep one \
         (timeout_seconds is timeout as a number of seconds)"
    );

    let err = Loader::new()
        .env_from([
            ("PALISADE_DB_RETRY__BASE_DELAY", "1s"),
            ("PALISADE_DB_RETRY__BASE_DELAY_SECONDS", "1"),
        ])
        .load()
        .unwrap_err();
    assert_eq!(err.env_var(), Some("PALISADE_DB_RETRY__BASE_DELAY_SECONDS"));
    assert_eq!(err.key(), Some("policies.db.retry.base_delay_seconds"));
    assert!(
        err.reason().contains("policies.db.retry.base_delay")
            && err
                .reason()
                .ends_with("(environment variable PALISADE_DB_RETRY__BASE_DELAY)"),
        "{err}"
    );
}

#[test]
fn a_seconds_key_takes_only_a_number_of_seconds() {
    let err = toml("[policies.db]\nrecovery_timeout_seconds = \"2m\"").unwrap_err();
    assert_eq!(
        (err.key(), err.value()),
        (Some("policies.db.recovery_timeout_seconds"), Some("2m"))
    );
    assert!(
        err.reason().starts_with("expected a number of seconds"),
        "{err}"
    );
    let err = Loader::new()
        .env_from([("PALISADE_DB_TIMEOUT_SECONDS", "-1")])
        .load()
        .unwrap_err();
    assert_eq!(
        (err.env_var(), err.key(), err.value()),
        (
            Some("PALISADE_DB_TIMEOUT_SECONDS"),
            Some("policies.db.timeout_seconds"),
            Some("-1")
        )
    );
    assert_eq!(
        err.reason(),
        "expected a number of seconds; this one must not be negative"
    );
    // A key that is not a duration has no seconds spelling.
    let err = toml("[policies.db]\nmax_attempts_seconds = 3").unwrap_err();
    assert_eq!(err.key(), Some("policies.db.max_attempts_seconds"));
}

#[test]
fn build_errors_name_the_seconds_key_the_configuration_used() {
    let config =
        toml("[policies.db.retry]\nbase_delay_seconds = 2\nmax_delay_seconds = 1").expect("loads");
    let err = config.pipeline("db").unwrap_err();
    assert_eq!(err.key(), Some("policies.db.retry.max_delay_seconds"));
    assert_eq!(err.source(), Some(&Source::Text(Format::Toml)));
}

#[test]
fn whole_number_messages_give_the_range_the_build_accepts() {
    for (text, key, range) in [
        (
            "max_attempts = -3",
            "policies.x.max_attempts",
            "from 1 to 4294967295",
        ),
        (
            "retry.max_attempts = -3",
            "policies.x.retry.max_attempts",
            "from 1 to 4294967295",
        ),
        (
            "circuit_breaker.failure_threshold = -1",
            "policies.x.circuit_breaker.failure_threshold",
            "from 1 to 4294967295",
        ),
        (
            "circuit_breaker.sliding_window.buckets = -1",
            "policies.x.circuit_breaker.sliding_window.buckets",
            "from 1 to 1000",
        ),
        (
            "hedge.max_hedged_attempts = -1",
            "policies.x.hedge.max_hedged_attempts",
            "from 1 to 10",
        ),
        (
            "hedge.sample_size = -1",
            "policies.x.hedge.sample_size",
            "from 1 to 65536",
        ),
        (
            "bulkhead.max_concurrent = -1",
            "policies.x.bulkhead.max_concurrent",
            "from 1 to 4294967295",
        ),
        // Zero is fine for these.
        (
            "bulkhead.max_queue = -1",
            "policies.x.bulkhead.max_queue",
            "from 0 to 18446744073709551615",
        ),
        (
            "seed = -1",
            "policies.x.seed",
            "from 0 to 18446744073709551615",
        ),
        (
            "retry.budget.min_retries_per_sec = -1",
            "policies.x.retry.budget.min_retries_per_sec",
            "from 0 to 4294967295",
        ),
    ] {
        let err = toml(&format!("[policies.x]\n{text}")).unwrap_err();
        assert_eq!(err.key(), Some(key), "{text}");
        assert_eq!(
            err.reason(),
            format!("expected a whole number {range}"),
            "{text}"
        );
    }
    // Zero where 1 is the least: build() says the same.
    let config = toml("[policies.x]\nmax_attempts = 0").expect("loads");
    assert_eq!(
        config.pipeline("x").unwrap_err().reason(),
        "must be at least 1"
    );
    // A rate's permits.
    let err = toml("[policies.x.rate_limit]\nrate = \"-1/s\"\nburst = 1").unwrap_err();
    assert!(err.reason().contains("from 1 to 4294967295"), "{err}");
}

#[test]
fn idempotent_comes_from_a_file_or_the_environment_and_lets_timed_out_attempts_repeat() {
    let from_file = Loader::from_str(
        Format::Toml,
        "[policies.reads]\npreset = \"cache\"\nidempotent = true\n",
    )
    .load()
    .expect("loads");
    assert_eq!(from_file.policies["reads"].idempotent, Some(true));
    let from_env = Loader::from_str(Format::Toml, "[policies.writes]\npreset = \"database\"\n")
        .env_from([("PALISADE_WRITES_IDEMPOTENT", "false")])
        .load()
        .expect("loads");
    assert_eq!(from_env.policies["writes"].idempotent, Some(false));

    // A late attempt: repeated only where the calls were declared idempotent.
    let late_calls = |config: &PalisadeConfig, name: &str, preset: Preset| {
        let clock = ManualClock::new();
        let p = config
            .builder(name)
            .expect("known")
            .clock(clock.clone())
            .build()
            .expect("builds");
        let limit = preset.settings().timeout;
        let mut calls = 0;
        let _ = p.call_blocking(|| {
            calls += 1;
            clock.advance(limit + Duration::from_nanos(1));
            Ok::<_, std::io::Error>(())
        });
        calls
    };
    assert_eq!(late_calls(&from_file, "reads", Preset::Cache), 2); // its 2 attempts
    assert_eq!(late_calls(&from_env, "writes", Preset::Database), 1);
}

#[test]
fn configuration_chooses_which_error_classes_are_retried_and_counted() {
    use palisade::classify::ErrorClass;
    let config = toml(
        "[policies.writes]\npreset = \"database\"\nbase_delay = \"1ms\"\nmax_delay = \"1ms\"\n\
         retry_on = [\"unreached\", \"transient\"]\nfailure_on = [\"unreached\"]",
    )
    .expect("loads");
    assert_eq!(
        config.policies["writes"].retry_on.as_deref(),
        Some(&[ErrorClass::Unreached, ErrorClass::Transient][..])
    );
    let p = config
        .pipeline_with("writes", |b| b.clock(ManualClock::new()))
        .expect("builds");
    // A reset is retried although the calls are not declared idempotent...
    let mut calls = 0;
    let _ = p.call_blocking(|| {
        calls += 1;
        Err::<(), _>(std::io::Error::from(std::io::ErrorKind::ConnectionReset))
    });
    assert_eq!(calls, 3);
    // ...and only unreached errors count: the three resets left the breaker closed.
    assert_eq!(
        p.circuit_breaker().map(|b| b.state()),
        Some(palisade::circuit_breaker::State::Closed)
    );

    let from_env = Loader::new()
        .env_prefix("APP")
        .env_from([("APP_WRITES_RETRY_ON", "[unreached]")])
        .load()
        .expect("loads");
    assert_eq!(
        from_env.policies["writes"].retry_on.as_deref(),
        Some(&[ErrorClass::Unreached][..])
    );

    let err = toml("[policies.writes]\nretry_on = [\"sometimes\"]").unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("retry_on") && message.contains("sometimes"),
        "{message}"
    );
}
