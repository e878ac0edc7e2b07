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
//!   `/metrics` endpoint returns — no HTTP server is started, you serve it from yours.
//!
//! Because they are listeners, a policy nobody observes pays what it paid before: one
//! `Option` check per event, and the event is never built. The cost appears only where you
//! register a listener, and stays in the listener.
//!
//! # The metrics
//!
//! Names follow Prometheus conventions (`_total` counters, `_seconds` histograms) and the
//! reference docs' dashboards and alert rules; every metric carries the policy's `name`.
//! [`MetricsListener::prefix`] prepends `<prefix>_` to every name. The full list, with kinds,
//! labels and help texts, is [`METRICS`]; `deploy/prometheus/alerts.yml` has the alert rules
//! (CircuitBreakerOpen, HighRetryRate, RateLimitingActive) over these names.
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
