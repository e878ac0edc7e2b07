//! Observability: policy events as metrics, Prometheus text and `tracing` events.
//!
//! # Why listeners, and why facades
//!
//! Every policy already publishes what it does as an [`Event`](crate::event::Event) to its
//! [listeners](crate::event). Observability is two more listeners, not a second mechanism:
//!
//! - [`MetricsListener`] (feature `metrics`) turns events into counters, gauges and
//!   histograms through the [`metrics`](::metrics) facade; your application picks the
//!   exporter (Prometheus, StatsD, OpenTelemetry, …) by installing a recorder.
//! - [`TracingListener`] (feature `tracing`) turns them into [`tracing`](::tracing) events at
//!   levels that match their weight: a breaker opening is a warning, a retry scheduled is
//!   information, an admitted call is trace. With the feature on, every pipeline call also
//!   runs in a `palisade.call` span (level `DEBUG`, field `name`).
//! - [`Prometheus`] (feature `prometheus`) installs a Prometheus recorder and hands back a
//!   [`PrometheusMetrics`] whose [`render`](PrometheusMetrics::render) is the text your
//!   `/metrics` endpoint returns — no HTTP server is started, you serve it from yours. Its
//!   [`listener`](PrometheusMetrics::listener) is bound to that recorder and keeps its
//!   counts per thread, adding them to the recorder at each `render`: the cheapest way to
//!   observe a policy (see [`MetricsListener`]'s costs).
//!
//! Because they are listeners, a policy nobody observes pays what it paid before: one
//! `Option` check per event, and the event is never built. The cost appears only where you
//! register a listener, and stays in the listener.
//!
//! # The metrics
//!
//! Names follow Prometheus conventions (`_total` counters, `_seconds` histograms) and the
//! dashboards and alert rules of `deploy/prometheus/`; every metric carries the policy's `name`.
//! [`MetricsListener::prefix`] prepends `<prefix>_` to every name. The full list, with kinds,
//! labels and help texts, is [`METRICS`]; `deploy/prometheus/alerts.yml` has the alert rules
//! (CircuitBreakerOpen, HighRetryRate, RateLimitingActive) over these names.
//!
//! ## What each metric counts
//!
//! Every metric carries `name`, the name of the policy that published the event (in a
//! pipeline, the pipeline's name). Label values in *italics* are the label's possible values.
//!
//! | metric | kind | labels | what updates it |
//! |---|---|---|---|
//! | `circuit_breaker_state` | gauge | name, state | set to 1 for the new state and 0 for the five others at every transition, and by [`MetricsListener::record_breaker_state`]; *closed, open, half_open, disabled, forced_open, metrics_only* |
//! | `circuit_breaker_state_changes_total` | counter | name, from, to | +1 per state transition |
//! | `circuit_breaker_failures_total` | counter | name | +1 per call outcome the breaker recorded as a failure |
//! | `circuit_breaker_successes_total` | counter | name | +1 per call outcome recorded as a success |
//! | `circuit_breaker_ignored_total` | counter | name | +1 per call outcome the breaker's classifier ignored |
//! | `circuit_breaker_slow_calls_total` | counter | name | +1 per recorded outcome slower than the slow-call threshold (also counted as success or failure) |
//! | `circuit_breaker_not_permitted_total` | counter | name, state | +1 per call the breaker refused without running it; `state` is the state that refused (*open, forced_open, half_open*) |
//! | `retry_attempts_total` | counter | name | + the attempts of each call through retry when the call finishes, the first attempt included, attempts an inner policy rejected included |
//! | `retry_retries_total` | counter | name | +1 per retry scheduled (an attempt after the first), when it is scheduled, before the backoff sleep |
//! | `retry_calls_total` | counter | name, kind | +1 per call through retry when it finishes: *successful_without_retry, successful_with_retry, failed_without_retry, failed_with_retry* (the operation failed; retry gave up for any reason but `rejected`), *rejected* (an inner policy refused the last attempt and rejections are not retried: the dependency was not called) |
//! | `retry_gave_up_total` | counter | name, reason | +1 per call retry stopped without success, by [`StopReason`](crate::retry::StopReason): *not_retryable, max_attempts, max_elapsed, budget_exhausted, circuit_opened, rejected* |
//! | `retry_attempts` | histogram | name | one sample per finished call through retry that retried (2 attempts or more): its attempts. Calls that ended at their first attempt are not sampled: they are the sum of `retry_calls_total` minus this histogram's `_count` (see below) |
//! | `retry_success_duration_seconds` | histogram | name | one sample per successful call through retry: from the first attempt's start to the last's end, backoff sleeps included |
//! | `rate_limit_permitted_total` | counter | name | +1 per rate-limiter decision that granted permits (a call waiting, then granted, counts once) |
//! | `rate_limit_rejected_total` | counter | name | +1 per decision that refused permits |
//! | `timeout_timed_out_total` | counter | name, scope | +1 each time a time limit fired, by [`TimeoutScope`](crate::timeout::TimeoutScope): *call* (a standalone timeout), *attempt* (a pipeline's per-attempt limit, once per timed-out attempt), *total* (a pipeline's total limit, once per call) |
//! | `timeout_finished_late_total` | counter | name, scope | +1 per blocking operation that returned after its limit (its result discarded): *call, attempt, total* as above |
//! | `timeout_late_call_duration_seconds` | histogram | name | one sample per such late return: how long the operation took |
//! | `bulkhead_permitted_total` | counter | name | +1 per call admitted, at once or after queueing |
//! | `bulkhead_rejected_total` | counter | name, reason | +1 per call turned away: *full, queue_full, waited_too_long* |
//! | `bulkhead_active_calls` | gauge | name | +1 at admission, −1 when the slot is released |
//! | `bulkhead_wait_duration_seconds` | histogram | name | one sample per call admitted after a non-zero wait in the queue: how long it waited. Calls admitted at once are not sampled (they are `bulkhead_permitted_total` minus this histogram's `_count`) |
//! | `hedge_started_total` | counter | name, trigger | +1 per hedged attempt started (not the first attempt): *delay, failure* |
//! | `hedge_calls_total` | counter | name, kind | +1 per call through hedge when it settles: *won_by_first, won_by_hedge, failed* |
//! | `pipeline_calls_total` | counter | name, outcome | +1 per finished pipeline call: *succeeded, failed* (an error from the operation or a timeout, retries exhausted included), *rejected* (a policy refused the call) |
//! | `pipeline_call_duration_seconds` | histogram | name | one sample per finished pipeline call: its duration, every attempt and backoff sleep included |
//! | `resilience_enabled` | gauge | name, policy | set whenever a pipeline's switch is set ([`Pipeline::set_disabled`](crate::pipeline::Pipeline::set_disabled); a [registry](crate::registry) sets it when it creates a pipeline and at every reload, from `resilience_enabled` and `enabled = false` in configuration): 1 while the pipeline applies the policy, 0 while calls skip it; *pipeline* (0: resilience is off, every call passes straight through), *rate_limit, bulkhead, retry, circuit_breaker, hedge* (0 also while the whole pipeline is off) |
//!
//! ## Samples not taken
//!
//! A histogram sample is the most expensive update a call makes, so two histograms skip the
//! samples that would say nothing a counter does not say already:
//!
//! - `bulkhead_wait_duration_seconds` does not sample calls admitted at once: they are
//!   `bulkhead_permitted_total` minus its `_count`.
//! - `retry_attempts` does not sample calls that ended at their first attempt (on a healthy
//!   dependency, nearly all of them): they are the sum of `retry_calls_total` minus its
//!   `_count`. Its quantiles are those of the calls that retried. For the distribution over
//!   all calls, add the single-attempt calls to every bucket (the `le="1"` bucket is kept,
//!   empty, for this); `deploy/prometheus/alerts_test.yml` checks this query with promtool:
//!
//! ```text
//! histogram_quantile(0.99,
//!     sum by (name, le) (rate(retry_attempts_bucket[5m]))
//!   + on (name) group_left ()
//!     (sum by (name) (rate(retry_calls_total[5m])) - sum by (name) (rate(retry_attempts_count[5m]))))
//! ```
//!
//! ```
//! # #[cfg(all(feature = "metrics", feature = "tracing"))] {
//! use palisade::observe::{MetricsListener, TracingListener};
//! use palisade::pipeline::Pipeline;
//!
//! let metrics = MetricsListener::new().prefix("myapp");
//! let pipeline = Pipeline::builder()
//!     .name("payments")
//!     .retry(|r| r.max_attempts(3))
//!     .circuit_breaker(|b| b.failure_threshold(5))
//!     .on_event(metrics.clone())        // myapp_retry_attempts_total{name="payments"}, …
//!     .on_event(TracingListener::new()) // warn!("circuit breaker opened") …
//!     .build()?;
//! assert_eq!(pipeline.call_blocking(|| Ok::<_, std::io::Error>(1))?, 1);
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "metrics")]
mod metrics;
#[cfg(feature = "prometheus")]
mod prometheus;
#[cfg(feature = "tracing")]
mod tracing;

#[cfg(feature = "metrics")]
pub use self::metrics::{METRICS, MetricInfo, MetricKind, MetricsListener};
#[cfg(feature = "prometheus")]
pub use self::prometheus::{InstallError, Prometheus, PrometheusMetrics};
#[cfg(feature = "tracing")]
pub use self::tracing::TracingListener;
