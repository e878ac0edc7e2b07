//! [`Prometheus`]: a Prometheus recorder for [`MetricsListener`], rendered as text.
//!
//! `metrics-exporter-prometheus` is used without its HTTP listener: Palisade starts no server
//! and binds no port. Your service already has one; serve
//! [`PrometheusMetrics::render`] from its `/metrics` route.

use std::fmt;
use std::sync::Arc;

use ::metrics::{Recorder, SetRecorderError};
use metrics_exporter_prometheus::{
    BuildError, Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use super::metrics::{METRICS, MetricKind, MetricsListener};

/// Buckets for the `_seconds` histograms: Prometheus' defaults, stretched to a minute.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Buckets for `retry_attempts` (attempts per call that retried). `1` never counts a sample;
/// it is kept so that adding the single-attempt calls to every bucket rebuilds the histogram
/// of all calls (the query in the [`observe`](super) docs).
const ATTEMPT_BUCKETS: &[f64] = &[1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0, 20.0];

/// Sets up a Prometheus recorder for Palisade's metrics: `install` it globally (or `build` it
/// for your own use), then register [`listener`](PrometheusMetrics::listener) on your
/// policies and serve [`render`](PrometheusMetrics::render).
///
/// Palisade's histograms are rendered as real Prometheus histograms (`_bucket` series, for
/// `histogram_quantile`); histograms of your own keep the exporter's default (summaries).
///
/// ```
/// use palisade::observe::Prometheus;
/// use palisade::pipeline::Pipeline;
///
/// let prometheus = Prometheus::new().prefix("myapp").install()?;
/// let pipeline = Pipeline::builder()
///     .name("payments")
///     .circuit_breaker(|b| b)
///     .on_event(prometheus.listener())
///     .build()?;
/// pipeline.call_blocking(|| Ok::<_, std::io::Error>(()))?;
/// let text = prometheus.render(); // the body of GET /metrics
/// assert!(text.contains(r#"myapp_circuit_breaker_successes_total{name="payments"} 1"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Prometheus {
    prefix: String,
}

impl Prometheus {
    /// Unprefixed metric names.
    ///
    /// ```
    /// let _ = palisade::observe::Prometheus::new();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Prefixes every Palisade metric name with `<prefix>_`, as
    /// [`MetricsListener::prefix`] does.
    ///
    /// ```
    /// let _ = palisade::observe::Prometheus::new().prefix("myapp");
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Builds the recorder and installs it as the process's global `metrics` recorder.
    ///
    /// # Errors
    ///
    /// [`InstallError`] if a global recorder is already installed (only one per process).
    ///
    /// ```
    /// let first = palisade::observe::Prometheus::new().install();
    /// let second = palisade::observe::Prometheus::new().install();
    /// assert!(first.is_ok() && second.is_err());
    /// ```
    pub fn install(self) -> Result<PrometheusMetrics, InstallError> {
        let (recorder, prometheus) = self.make()?;
        ::metrics::set_global_recorder(recorder).map_err(InstallError::from)?;
        Ok(prometheus)
    }

    /// Builds the recorder without installing it: for combining with other recorders
    /// (`metrics-util`'s fanout) or scoping it with `metrics::with_local_recorder`.
    /// [`listener`](PrometheusMetrics::listener) feeds this recorder only, wherever it is
    /// installed; to feed Palisade's metrics to a fanout of recorders, register
    /// [`MetricsListener::new`] (with the same prefix) instead, which feeds the current one.
    ///
    /// # Errors
    ///
    /// [`InstallError`] if the exporter rejects the histogram buckets (Palisade's are
    /// non-empty, so in practice it does not).
    ///
    /// ```
    /// use palisade::circuit_breaker::CircuitBreaker;
    /// use palisade::observe::Prometheus;
    ///
    /// let (recorder, prometheus) = Prometheus::new().build()?;
    /// let breaker = CircuitBreaker::builder().name("db").on_event(prometheus.listener()).build()?;
    /// metrics::with_local_recorder(&recorder, || breaker.call_blocking(|| Err::<(), _>("down"))).ok();
    /// assert!(prometheus.render().contains(r#"circuit_breaker_failures_total{name="db"} 1"#));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(
        self,
    ) -> Result<(impl Recorder + Send + Sync + 'static, PrometheusMetrics), InstallError> {
        self.make()
    }

    /// The recorder (shared with the listener bound to it) and its handle and listener.
    fn make(self) -> Result<(Arc<PrometheusRecorder>, PrometheusMetrics), InstallError> {
        let names = MetricsListener::new().prefix(&self.prefix);
        let recorder = Arc::new(self.builder(&names)?.build_recorder());
        let handle = recorder.handle();
        let listener = names.bound_to(recorder.clone());
        listener.describe();
        Ok((recorder, PrometheusMetrics { handle, listener }))
    }

    /// The exporter's builder, with histogram buckets for Palisade's histograms only.
    fn builder(&self, listener: &MetricsListener) -> Result<PrometheusBuilder, InstallError> {
        let mut builder = PrometheusBuilder::new();
        for metric in METRICS.iter().filter(|m| m.kind == MetricKind::Histogram) {
            let Some(name) = listener.metric_name(metric.name) else {
                continue;
            };
            let buckets = if metric.name.ends_with("_seconds") {
                SECONDS_BUCKETS
            } else {
                ATTEMPT_BUCKETS
            };
            builder = builder
                .set_buckets_for_metric(Matcher::Full(name), buckets)
                .map_err(InstallError::from)?;
        }
        Ok(builder)
    }
}

/// A Prometheus recorder's output and the [`MetricsListener`] that feeds it (same prefix).
/// Cheap to clone; share it with your `/metrics` route.
///
/// ```
/// use palisade::observe::Prometheus;
/// let (_recorder, prometheus) = Prometheus::new().build()?;
/// assert!(prometheus.render().is_empty()); // nothing recorded yet
/// # Ok::<(), palisade::observe::InstallError>(())
/// ```
#[derive(Clone)]
pub struct PrometheusMetrics {
    handle: PrometheusHandle,
    listener: MetricsListener,
}

impl PrometheusMetrics {
    /// The Prometheus text exposition (format 0.0.4) of everything the recorder holds: the
    /// response body for a scrape (`Content-Type: text/plain; version=0.0.4`). The counts the
    /// [`listener`](Self::listener) kept per thread are added to the recorder first.
    ///
    /// ```
    /// let (_recorder, prometheus) = palisade::observe::Prometheus::new().build()?;
    /// let body: String = prometheus.render();
    /// # let _ = body;
    /// # Ok::<(), palisade::observe::InstallError>(())
    /// ```
    pub fn render(&self) -> String {
        self.listener.flush();
        self.handle.render()
    }

    /// The listener that feeds this recorder (register it with `on_event`): bound to it,
    /// whichever recorder is current where events happen, it keeps its counts per thread and
    /// adds them to the recorder at [`render`](Self::render) and
    /// [`run_upkeep`](Self::run_upkeep), so a call through it pays no shared atomic write per
    /// counter (see [`MetricsListener`]'s costs).
    ///
    /// ```
    /// let (_recorder, prometheus) = palisade::observe::Prometheus::new().prefix("app").build()?;
    /// assert_eq!(prometheus.listener().metric_name("retry_attempts_total").as_deref(), Some("app_retry_attempts_total"));
    /// # Ok::<(), palisade::observe::InstallError>(())
    /// ```
    pub fn listener(&self) -> MetricsListener {
        self.listener.clone()
    }

    /// Drains histogram samples into their buckets and adds the listener's counts to the
    /// recorder. Rendering does this too; call it every few seconds (from a timer task) if
    /// scrapes may be rare, so unscraped samples do not pile up.
    ///
    /// ```
    /// let (_recorder, prometheus) = palisade::observe::Prometheus::new().build()?;
    /// prometheus.run_upkeep();
    /// # Ok::<(), palisade::observe::InstallError>(())
    /// ```
    pub fn run_upkeep(&self) {
        self.listener.flush();
        self.handle.run_upkeep();
    }
}

impl fmt::Debug for PrometheusMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusMetrics")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

/// The Prometheus recorder could not be built or installed (most often: a global recorder
/// was already installed).
///
/// ```
/// use palisade::observe::Prometheus;
/// let _ = Prometheus::new().install();
/// let err = Prometheus::new().install().unwrap_err();
/// assert!(err.to_string().starts_with("installing the Prometheus recorder failed"));
/// ```
#[derive(Debug, thiserror::Error)]
#[error("installing the Prometheus recorder failed: {source}")]
pub struct InstallError {
    #[source]
    source: Failure,
}

/// What [`InstallError`] wraps.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("failed to install exporter as global recorder: {0}")]
    Global(#[from] SetRecorderError<Arc<PrometheusRecorder>>),
}

impl<E: Into<Failure>> From<E> for InstallError {
    fn from(source: E) -> Self {
        InstallError {
            source: source.into(),
        }
    }
}
