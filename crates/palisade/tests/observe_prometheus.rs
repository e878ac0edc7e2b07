//! The Prometheus text a scrape returns after known calls — with the counts the recorder's
//! listener keeps per thread added exactly once — and `deploy/prometheus/alerts.yml`:
//! it parses, every rule the reference docs name is there, every metric an expression uses
//! is one `MetricsListener` publishes, and the open-breaker alert's selector matches the
//! rendered series of an open breaker.
#![cfg(feature = "prometheus")]

use std::time::Duration;

use palisade::circuit_breaker::CircuitBreaker;
use palisade::clock::ManualClock;
use palisade::observe::{METRICS, MetricKind, Prometheus};
use palisade::pipeline::Pipeline;
use palisade::rate_limit::Algorithm;
use palisade::retry::Jitter;
use yaml_rust2::{Yaml, YamlLoader};

/// Whether `text` has the sample `line` (name, labels, value) on a line of its own.
#[track_caller]
fn assert_line(text: &str, line: &str) {
    assert!(
        text.lines().any(|l| l == line),
        "missing line {line:?} in:\n{text}"
    );
}

#[test]
fn a_scrape_shows_the_breaker_open_and_its_counts() {
    let (recorder, prometheus) = Prometheus::new().build();
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder()
        .name("payment_api")
        .clock(clock)
        .failure_threshold(2)
        .on_event(prometheus.listener())
        .build()
        .unwrap();

    metrics::with_local_recorder(&recorder, || {
        prometheus
            .listener()
            .record_breaker_state(breaker.name(), breaker.state());
        let _ = breaker.call_blocking(|| Ok::<_, &str>(()));
        let _ = breaker.call_blocking(|| Err::<(), _>("down"));
        let _ = breaker.call_blocking(|| Err::<(), _>("down"));
        let _ = breaker.call_blocking(|| Ok::<_, &str>(()));
    });
    let text = prometheus.render();

    assert_line(&text, "# TYPE circuit_breaker_state gauge");
    assert_line(
        &text,
        r#"circuit_breaker_state{name="payment_api",state="open"} 1"#,
    );
    assert_line(
        &text,
        r#"circuit_breaker_state{name="payment_api",state="closed"} 0"#,
    );
    assert_line(&text, "# TYPE circuit_breaker_failures_total counter");
    assert_line(
        &text,
        r#"circuit_breaker_failures_total{name="payment_api"} 2"#,
    );
    assert_line(
        &text,
        r#"circuit_breaker_successes_total{name="payment_api"} 1"#,
    );
    assert_line(
        &text,
        r#"circuit_breaker_not_permitted_total{name="payment_api",state="open"} 1"#,
    );
    assert_line(
        &text,
        r#"circuit_breaker_state_changes_total{name="payment_api",from="closed",to="open"} 1"#,
    );
    assert_line(
        &text,
        "# HELP circuit_breaker_failures_total Calls the circuit breaker recorded as failures.",
    );
}

#[test]
fn a_prefixed_pipeline_renders_retry_and_rate_limit_lines_with_histogram_buckets() {
    let (recorder, prometheus) = Prometheus::new().prefix("myapp").build();
    let clock = ManualClock::new();
    let pipeline = Pipeline::builder()
        .name("ledger")
        .clock(clock.clone())
        .rate_limit(Algorithm::FixedWindow {
            max_requests: 1,
            window: Duration::from_secs(1),
        })
        .retry(|r| {
            r.max_attempts(3)
                .fixed(Duration::from_millis(100))
                .jitter(Jitter::None)
        })
        .on_event(prometheus.listener())
        .build()
        .unwrap();

    metrics::with_local_recorder(&recorder, || {
        let mut calls = 0;
        let out = pipeline.call_blocking(|| {
            calls += 1;
            if calls < 3 { Err("flaky") } else { Ok(calls) }
        });
        assert_eq!(out, Ok(3));
        assert!(pipeline.call_blocking(|| Ok::<_, &str>(0)).is_err()); // over the quota
    });
    let text = prometheus.render();

    assert_line(&text, r#"myapp_retry_attempts_total{name="ledger"} 3"#);
    assert_line(&text, r#"myapp_retry_retries_total{name="ledger"} 2"#);
    assert_line(
        &text,
        r#"myapp_retry_calls_total{name="ledger",kind="successful_with_retry"} 1"#,
    );
    assert_line(
        &text,
        r#"myapp_rate_limit_permitted_total{name="ledger"} 1"#,
    );
    assert_line(&text, r#"myapp_rate_limit_rejected_total{name="ledger"} 1"#);
    // Real histograms (for the reference's histogram_quantile over retry_attempts_bucket).
    assert_line(&text, "# TYPE myapp_retry_attempts histogram");
    // Only calls that retried are sampled; `le="1"` stays, empty, so that adding the
    // single-attempt calls to every bucket rebuilds the histogram of all calls.
    assert_line(
        &text,
        r#"myapp_retry_attempts_bucket{name="ledger",le="1"} 0"#,
    );
    assert_line(
        &text,
        r#"myapp_retry_attempts_bucket{name="ledger",le="2"} 0"#,
    );
    assert_line(
        &text,
        r#"myapp_retry_attempts_bucket{name="ledger",le="3"} 1"#,
    );
    assert_line(&text, r#"myapp_retry_attempts_count{name="ledger"} 1"#);
    assert_line(
        &text,
        r#"myapp_retry_success_duration_seconds_bucket{name="ledger",le="0.25"} 1"#,
    );
    assert!(
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .all(|l| l.starts_with("myapp_")),
        "{text}"
    );
}

/// The value of the sample `prefix` (name and labels) in `text`.
#[track_caller]
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn counts_kept_per_thread_reach_the_scrape_exactly_once() {
    let (_recorder, prometheus) = Prometheus::new().build();
    let pipeline = Pipeline::builder()
        .name("orders")
        .bulkhead(|b| b.max_concurrent(64))
        .retry(|r| r.max_attempts(2))
        .on_event(prometheus.listener())
        .build()
        .unwrap();
    // Nothing counted yet: no series.
    assert_eq!(
        prometheus
            .render()
            .lines()
            .filter(|l| l.contains("orders"))
            .count(),
        0
    );
    // Calls on four threads, no recorder current on any of them: the listener feeds its own.
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..250 {
                    pipeline.call_blocking(|| Ok::<_, &str>(())).unwrap();
                }
            });
        }
    });
    let calls = r#"pipeline_calls_total{name="orders",outcome="succeeded"}"#;
    let first = prometheus.render();
    assert_eq!(sample(&first, calls), Some(1000.0));
    assert_eq!(
        sample(&first, r#"retry_attempts_total{name="orders"}"#),
        Some(1000.0)
    );
    assert_eq!(
        sample(&first, r#"bulkhead_permitted_total{name="orders"}"#),
        Some(1000.0)
    );
    assert_eq!(
        sample(&first, r#"bulkhead_active_calls{name="orders"}"#),
        Some(0.0)
    );
    // Histograms are aggregated per thread too, and rendered once per family.
    let durations = "pipeline_call_duration_seconds";
    for series in ["_count", r#"_bucket{name="orders",le="+Inf"}"#] {
        let line = if series == "_count" {
            format!(r#"{durations}_count{{name="orders"}}"#)
        } else {
            format!("{durations}{series}")
        };
        assert_eq!(sample(&first, &line), Some(1000.0), "{line}");
    }
    let help = format!("# HELP {durations} ");
    assert_eq!(first.lines().filter(|l| l.starts_with(&help)).count(), 1);
    // A second scrape adds nothing it already added; new calls are added once.
    assert_eq!(sample(&prometheus.render(), calls), Some(1000.0));
    pipeline.call_blocking(|| Ok::<_, &str>(())).unwrap();
    prometheus.run_upkeep();
    assert_eq!(sample(&prometheus.render(), calls), Some(1001.0));
}

#[test]
fn the_active_calls_gauge_follows_slots_taken_and_released_between_scrapes() {
    let (_recorder, prometheus) = Prometheus::new().build();
    let bulkhead = palisade::bulkhead::Bulkhead::builder()
        .name("pool")
        .max_concurrent(4)
        .on_event(prometheus.listener())
        .build()
        .unwrap();
    let active = r#"bulkhead_active_calls{name="pool"}"#;
    let held: Vec<_> = (0..3).map(|_| bulkhead.try_acquire().unwrap()).collect();
    assert_eq!(sample(&prometheus.render(), active), Some(3.0));
    drop(held);
    let again = bulkhead.try_acquire().unwrap();
    assert_eq!(sample(&prometheus.render(), active), Some(1.0));
    drop(again);
    assert_eq!(sample(&prometheus.render(), active), Some(0.0));
}

#[test]
fn the_listener_feeds_its_recorder_whichever_recorder_is_current() {
    let (_recorder, prometheus) = Prometheus::new().build();
    let breaker = CircuitBreaker::builder()
        .name("db")
        .failure_threshold(1)
        .on_event(prometheus.listener())
        .build()
        .unwrap();
    let other = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = other.snapshotter();
    metrics::with_local_recorder(&other, || {
        breaker.call_blocking(|| Ok::<_, &str>(())).unwrap();
        let _ = breaker.call_blocking(|| Err::<(), _>("down"));
    });
    assert!(snapshotter.snapshot().into_vec().is_empty());
    let text = prometheus.render();
    // Counted per thread (the counters) or set at once (the state gauge): both reach the
    // recorder the listener belongs to.
    assert_line(&text, r#"circuit_breaker_successes_total{name="db"} 1"#);
    assert_line(&text, r#"circuit_breaker_failures_total{name="db"} 1"#);
    assert_line(&text, r#"circuit_breaker_state{name="db",state="open"} 1"#);
}

#[test]
fn install_makes_the_recorder_global_once() {
    // The only test in this binary that installs a global recorder.
    let prometheus = Prometheus::new().prefix("global").install().unwrap();
    let breaker = CircuitBreaker::builder()
        .name("db")
        .on_event(prometheus.listener())
        .build()
        .unwrap();
    let _ = breaker.call_blocking(|| Ok::<_, &str>(()));
    assert_line(
        &prometheus.render(),
        r#"global_circuit_breaker_successes_total{name="db"} 1"#,
    );
    prometheus.run_upkeep();
    let again = Prometheus::new().install();
    assert!(again.is_err(), "a second global recorder must be refused");
}

// ---------------------------------------------------------------------------------------------
// deploy/prometheus/alerts.yml
// ---------------------------------------------------------------------------------------------

fn alert_rules() -> Vec<Yaml> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/prometheus/alerts.yml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let docs = YamlLoader::load_from_str(&text).unwrap();
    assert_eq!(docs.len(), 1);
    let groups = docs[0]["groups"].as_vec().unwrap();
    assert_eq!(groups[0]["name"].as_str(), Some("resilience-alerts"));
    groups
        .iter()
        .flat_map(|g| g["rules"].as_vec().unwrap().clone())
        .collect()
}

fn rule<'a>(rules: &'a [Yaml], alert: &str) -> &'a Yaml {
    rules
        .iter()
        .find(|r| r["alert"].as_str() == Some(alert))
        .unwrap_or_else(|| panic!("no alert {alert}"))
}

/// The metric names an expression mentions: identifiers not followed by `(`, outside label
/// matchers and `[range]`s, that are not PromQL keywords.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let (mut depth_braces, mut depth_brackets) = (0, 0);
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '{' => depth_braces += 1,
            '}' => depth_braces -= 1,
            '[' => depth_brackets += 1,
            ']' => depth_brackets -= 1,
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += 1;
                }
            }
            c if (c.is_ascii_alphabetic() || c == '_')
                && depth_braces == 0
                && depth_brackets == 0 =>
            {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let call = chars[i..].iter().find(|c| !c.is_whitespace()) == Some(&'(');
                let keyword = [
                    "by", "without", "on", "ignoring", "and", "or", "unless", "bool",
                ]
                .contains(&word.as_str());
                if !call && !keyword {
                    names.push(word);
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    names
}

#[test]
fn the_alert_rules_parse_and_use_only_published_metrics() {
    let rules = alert_rules();
    let names: Vec<&str> = rules.iter().filter_map(|r| r["alert"].as_str()).collect();
    assert_eq!(
        names,
        ["CircuitBreakerOpen", "HighRetryRate", "RateLimitingActive"]
    );
    for r in &rules {
        let expr = r["expr"].as_str().unwrap();
        let used = metric_names(expr);
        assert!(!used.is_empty(), "{expr}");
        for name in used {
            let known = METRICS.iter().any(|m| {
                m.name == name
                    || (m.kind == MetricKind::Histogram
                        && ["_bucket", "_sum", "_count"]
                            .iter()
                            .any(|s| name == format!("{}{s}", m.name)))
            });
            assert!(known, "{name} (in {expr}) is not a Palisade metric");
        }
        assert!(r["for"].as_str().is_some(), "{expr} needs a `for`");
        assert!(r["labels"]["severity"].as_str().is_some());
        assert!(r["annotations"]["summary"].as_str().is_some());
    }
    assert_eq!(
        rule(&rules, "CircuitBreakerOpen")["labels"]["severity"].as_str(),
        Some("warning")
    );
    assert_eq!(
        rule(&rules, "RateLimitingActive")["labels"]["severity"].as_str(),
        Some("info")
    );
}

#[test]
fn the_open_breaker_alert_selects_the_rendered_series_of_an_open_breaker() {
    let rules = alert_rules();
    let expr = rule(&rules, "CircuitBreakerOpen")["expr"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(expr, r#"circuit_breaker_state{state="open"} == 1"#);
    let state = METRICS
        .iter()
        .find(|m| m.name == "circuit_breaker_state")
        .unwrap();
    assert!(state.labels.contains(&"state"));

    let (recorder, prometheus) = Prometheus::new().build();
    let breaker = CircuitBreaker::builder()
        .name("payment_api")
        .failure_threshold(1)
        .on_event(prometheus.listener())
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        let _ = breaker.call_blocking(|| Err::<(), _>("down"));
    });
    // `circuit_breaker_state{state="open"} == 1`, evaluated by hand on the scrape.
    let text = prometheus.render();
    let firing: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("circuit_breaker_state{") && l.contains(r#"state="open""#))
        .filter(|l| l.ends_with(" 1"))
        .collect();
    assert_eq!(
        firing,
        [r#"circuit_breaker_state{name="payment_api",state="open"} 1"#]
    );
}

/// Runs `promtool` with `args` in `deploy/prometheus/` and asserts it succeeds. A missing
/// promtool fails the test: it is required, not optional (`.ci/run` installs it).
fn promtool(args: &[&str]) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/prometheus");
    let out = match std::process::Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
    {
        Ok(out) => out,
        Err(e) => panic!(
            "cannot run promtool ({e}); the alert rules' unit tests need it on PATH. \
             Install it with `apt-get install --no-install-recommends prometheus` (Debian and \
             Ubuntu ship promtool in that package) or take it from a release archive at \
             https://prometheus.io/download/"
        ),
    };
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A scrape of every kind of metric, for `promtool check metrics`: two policy names (one
/// with characters a label value must escape), failures, retries, a tripped breaker.
fn a_busy_scrape() -> String {
    let (_recorder, prometheus) = Prometheus::new().prefix("svc").build();
    for name in ["orders", "odd \"name\" \\ here"] {
        let pipeline = Pipeline::builder()
            .name(name)
            .clock(ManualClock::new())
            .rate_limit(Algorithm::FixedWindow {
                max_requests: 1_000,
                window: Duration::from_secs(1),
            })
            .bulkhead(|b| b.max_concurrent(4))
            .retry(|r| r.max_attempts(2).fixed(Duration::from_millis(10)))
            .circuit_breaker(|b| b.failure_rate_threshold(50.0).minimum_calls(4))
            .on_event(prometheus.listener())
            .build()
            .unwrap();
        for i in 0..20 {
            let _ = pipeline.call_blocking(|| if i % 3 == 0 { Err("down") } else { Ok(()) });
        }
    }
    prometheus.render()
}

#[test]
fn promtool_accepts_a_scrape() {
    let text = a_busy_scrape();
    assert!(text.contains("svc_retry_attempts_bucket"), "{text}");
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run promtool ({e}); `.ci/run` installs it"));
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_accepts_the_rules_and_their_unit_tests() {
    promtool(&["check", "rules", "alerts.yml"]);
    promtool(&["test", "rules", "alerts_test.yml"]);
}
