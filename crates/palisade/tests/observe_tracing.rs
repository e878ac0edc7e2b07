//! `TracingListener` and the pipeline's `palisade.call` span, captured by a small
//! `tracing-subscriber` layer scoped to the test's thread: which events come out, at which
//! level, with which fields, inside which span.
#![cfg(feature = "tracing")]

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade::circuit_breaker::CircuitBreaker;
use palisade::clock::ManualClock;
use palisade::observe::TracingListener;
use palisade::pipeline::Pipeline;
use palisade::rate_limit::{Algorithm, RateLimiter};
use palisade::retry::{Jitter, Retry};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// One captured event.
#[derive(Debug, Clone)]
struct Captured {
    level: Level,
    target: String,
    message: String,
    fields: BTreeMap<String, String>,
    /// The enclosing spans, outermost first, as `name{field=value,…}`.
    spans: Vec<String>,
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

/// The rendered `name{fields}` of a span, kept in its extensions.
struct SpanLabel(String);

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

impl<S> Layer<S> for Capture
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let rendered: Vec<String> = fields.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if let Some(span) = ctx.span(id) {
            let label = format!("{}{{{}}}", attrs.metadata().name(), rendered.join(","));
            span.extensions_mut().insert(SpanLabel(label));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = fields.0.remove("message").unwrap_or_default();
        let spans = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .from_root()
                    .filter_map(|s| s.extensions().get::<SpanLabel>().map(|l| l.0.clone()))
                    .collect()
            })
            .unwrap_or_default();
        self.0.lock().unwrap().push(Captured {
            level: *event.metadata().level(),
            target: event.metadata().target().to_string(),
            message,
            fields: fields.0,
            spans,
        });
    }
}

/// Runs `f` with a capturing subscriber on this thread; returns every event, in order.
fn capture(f: impl FnOnce()) -> Vec<Captured> {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    tracing::subscriber::with_default(subscriber, f);
    capture.0.lock().unwrap().clone()
}

fn find<'a>(events: &'a [Captured], message: &str) -> &'a Captured {
    events
        .iter()
        .find(|e| e.message == message)
        .unwrap_or_else(|| panic!("no event {message:?} in {events:#?}"))
}

#[test]
fn a_breaker_opening_is_a_warning_and_closing_is_info() {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder()
        .name("db")
        .clock(clock.clone())
        .failure_threshold(1)
        .half_open_requests(1)
        .recovery_timeout(Duration::from_secs(5))
        .on_event(TracingListener::new())
        .build()
        .unwrap();

    let events = capture(|| {
        let _ = breaker.call_blocking(|| Err::<(), _>("down"));
        let _ = breaker.call_blocking(|| Ok::<_, &str>(()));
        clock.advance(Duration::from_secs(5));
        let _ = breaker.call_blocking(|| Ok::<_, &str>(()));
    });

    let opened = find(&events, "circuit breaker opened");
    assert_eq!(opened.level, Level::WARN);
    assert_eq!(opened.target, "palisade::circuit_breaker");
    assert_eq!(opened.fields["name"], "db");
    assert_eq!(opened.fields["from"], "closed");
    assert_eq!(opened.fields["to"], "open");
    assert_eq!(opened.fields["reason"], "1 consecutive failures");

    let rejected = find(&events, "circuit breaker rejected a call");
    assert_eq!(rejected.level, Level::DEBUG);
    assert_eq!(rejected.fields["state"], "open");

    let half_open = find(&events, "circuit breaker changed state");
    assert_eq!(half_open.level, Level::INFO);
    assert_eq!(half_open.fields["to"], "half_open");

    let closed = find(&events, "circuit breaker closed");
    assert_eq!(closed.level, Level::INFO);
    assert_eq!(closed.fields["from"], "half_open");

    assert!(
        events
            .iter()
            .filter(|e| e.message == "circuit breaker recorded an outcome")
            .all(|e| e.level == Level::TRACE)
    );
}

#[test]
fn retry_scheduling_is_info_and_giving_up_is_a_warning() {
    let clock = ManualClock::new();
    let retry = Retry::builder()
        .name("fetch")
        .clock(clock)
        .max_attempts(2)
        .fixed(Duration::from_millis(100))
        .jitter(Jitter::None)
        .on_event(TracingListener::new())
        .build()
        .unwrap()
        .retry_if(|e: &&str| *e != "permanent");

    let events = capture(|| {
        let _ = retry.call_blocking(|| Err::<(), _>("reset"));
        let _ = retry.call_blocking(|| Err::<(), _>("permanent"));
    });

    let scheduled = find(&events, "retry scheduled");
    assert_eq!(scheduled.level, Level::INFO);
    assert_eq!(scheduled.target, "palisade::retry");
    assert_eq!(scheduled.fields["name"], "fetch");
    assert_eq!(scheduled.fields["attempt"], "1");
    assert_eq!(scheduled.fields["delay"], "100ms");
    assert_eq!(scheduled.fields["cause"], "Error(\"reset\")");

    let gave_up = find(&events, "retry gave up");
    assert_eq!(gave_up.level, Level::WARN);
    assert_eq!(gave_up.fields["attempts"], "2");
    assert_eq!(gave_up.fields["reason"], "max_attempts = 2 reached");

    // A permanent error is the caller's to report: retry only says it did not retry.
    let permanent = find(&events, "retry stopped: error not retryable");
    assert_eq!(permanent.level, Level::DEBUG);
    assert_eq!(
        events.iter().filter(|e| e.level == Level::WARN).count(),
        1,
        "{events:#?}"
    );
}

#[test]
fn rate_limit_rejections_are_debug_and_grants_trace() {
    let clock = ManualClock::new();
    let limiter = RateLimiter::builder(Algorithm::FixedWindow {
        max_requests: 1,
        window: Duration::from_secs(1),
    })
    .name("api")
    .clock(clock)
    .on_event(TracingListener::new())
    .build()
    .unwrap();

    let events = capture(|| {
        let _ = limiter.try_acquire();
        let _ = limiter.try_acquire();
    });

    assert_eq!(
        find(&events, "rate limiter granted permits").level,
        Level::TRACE
    );
    let refused = find(&events, "rate limiter refused permits");
    assert_eq!(refused.level, Level::DEBUG);
    assert_eq!(refused.fields["name"], "api");
    assert_eq!(refused.fields["permits"], "1");
}

#[test]
fn a_blocking_pipeline_call_runs_in_a_palisade_call_span() {
    let clock = ManualClock::new();
    let pipeline = Pipeline::builder()
        .name("ledger")
        .clock(clock)
        .retry(|r| {
            r.max_attempts(2)
                .fixed(Duration::from_millis(10))
                .jitter(Jitter::None)
        })
        .on_event(TracingListener::new())
        .build()
        .unwrap();

    let events = capture(|| {
        let mut calls = 0;
        let out = pipeline.call_blocking(|| {
            calls += 1;
            tracing::info!("inside the operation");
            if calls == 1 { Err("flaky") } else { Ok(calls) }
        });
        assert_eq!(out, Ok(2));
    });

    let scheduled = find(&events, "retry scheduled");
    assert_eq!(scheduled.spans, ["palisade.call{name=ledger}"]);
    let inside = find(&events, "inside the operation");
    assert_eq!(inside.spans, ["palisade.call{name=ledger}"]);
    assert_eq!(
        find(&events, "call succeeded after retries").level,
        Level::INFO
    );
}

#[cfg(feature = "tokio")]
#[test]
fn an_async_pipeline_call_runs_in_a_palisade_call_span() {
    let pipeline = Pipeline::builder()
        .name("payments")
        .retry(|r| {
            r.max_attempts(2)
                .fixed(Duration::from_millis(10))
                .jitter(Jitter::None)
        })
        .on_event(TracingListener::new())
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();

    let events = capture(|| {
        runtime.block_on(async {
            let mut calls = 0;
            let out = pipeline
                .call(|| {
                    calls += 1;
                    let n = calls;
                    async move {
                        tracing::info!(n, "attempt");
                        if n == 1 { Err("flaky") } else { Ok(n) }
                    }
                })
                .await;
            assert_eq!(out, Ok(2));
            // Outside the call: no span.
            tracing::info!("after the call");
        });
    });

    let attempts: Vec<&Captured> = events.iter().filter(|e| e.message == "attempt").collect();
    assert_eq!(attempts.len(), 2);
    for attempt in attempts {
        assert_eq!(attempt.spans, ["palisade.call{name=payments}"]);
    }
    assert_eq!(
        find(&events, "retry scheduled").spans,
        ["palisade.call{name=payments}"]
    );
    assert!(find(&events, "after the call").spans.is_empty());
}

#[test]
fn without_the_listener_a_policy_emits_nothing() {
    let breaker = CircuitBreaker::builder()
        .name("quiet")
        .failure_threshold(1)
        .build()
        .unwrap();
    let events = capture(|| {
        let _ = breaker.call_blocking(|| Err::<(), _>("down"));
        let _ = breaker.call_blocking(|| Ok::<_, &str>(()));
    });
    assert!(events.is_empty(), "{events:#?}");
}
