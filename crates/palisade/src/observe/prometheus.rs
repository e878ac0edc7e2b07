//! [`Prometheus`]: a Prometheus recorder for [`MetricsListener`], rendered as text.
//!
//! `metrics-exporter-prometheus` is used without its HTTP listener: Palisade starts no server
//! and binds no port. Your service already has one; serve
//! [`PrometheusMetrics::render`] from its `/metrics` route.

use std::fmt;
use std::sync::Arc;

use ::metrics::{Recorder, SetRecorderError};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use super::metrics::MetricsListener;

/// Sets up a Prometheus recorder for Palisade's metrics: `install` it globally (or `build` it
/// for your own use), then register [`listener`](PrometheusMetrics::listener) on your
/// policies and serve [`render`](PrometheusMetrics::render).
///
/// Palisade's histograms are rendered as real Prometheus histograms (`_bucket` series, for
/// `histogram_quantile`; seconds from 1 ms to 60 s, attempts from 1 to 20), aggregated by the
/// listener itself; histograms of your own keep the exporter's default (summaries).
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
        let (recorder, prometheus) = self.make();
        ::metrics::set_global_recorder(recorder).map_err(|source| InstallError { source })?;
        Ok(prometheus)
    }

    /// Builds the recorder without installing it: for combining with other recorders
    /// (`metrics-util`'s fanout) or scoping it with `metrics::with_local_recorder`.
    /// [`listener`](PrometheusMetrics::listener) feeds this recorder only, wherever it is
    /// installed; to feed Palisade's metrics to a fanout of recorders, register
    /// [`MetricsListener::new`] (with the same prefix) instead, which feeds the current one.
    ///
    /// ```
    /// use palisade::circuit_breaker::CircuitBreaker;
    /// use palisade::observe::Prometheus;
    ///
    /// let (recorder, prometheus) = Prometheus::new().build();
    /// let breaker = CircuitBreaker::builder().name("db").on_event(prometheus.listener()).build()?;
    /// metrics::with_local_recorder(&recorder, || breaker.call_blocking(|| Err::<(), _>("down"))).ok();
    /// assert!(prometheus.render().contains(r#"circuit_breaker_failures_total{name="db"} 1"#));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> (impl Recorder + Send + Sync + 'static, PrometheusMetrics) {
        self.make()
    }

    /// The recorder (shared with the listener bound to it) and its handle and listener.
    fn make(self) -> (Arc<PrometheusRecorder>, PrometheusMetrics) {
        let names = MetricsListener::new().prefix(&self.prefix);
        let recorder = Arc::new(PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        let listener = names.bound_to(recorder.clone());
        listener.describe();
        (recorder, PrometheusMetrics { handle, listener })
    }
}

/// A Prometheus recorder's output and the [`MetricsListener`] that feeds it (same prefix).
/// Cheap to clone; share it with your `/metrics` route.
///
/// ```
/// use palisade::observe::Prometheus;
/// let (_recorder, prometheus) = Prometheus::new().build();
/// assert!(prometheus.render().is_empty()); // nothing recorded yet
/// ```
#[derive(Clone)]
pub struct PrometheusMetrics {
    handle: PrometheusHandle,
    listener: MetricsListener,
}

impl PrometheusMetrics {
    /// The Prometheus text exposition (format 0.0.4) of everything the recorder holds, and of
    /// the histograms the [`listener`](Self::listener) aggregates itself: the response body
    /// for a scrape (`Content-Type: text/plain; version=0.0.4`). The counts the listener kept
    /// per thread are added to the recorder first.
    ///
    /// ```
    /// let (_recorder, prometheus) = palisade::observe::Prometheus::new().build();
    /// let body: String = prometheus.render();
    /// # let _ = body;
    /// ```
    pub fn render(&self) -> String {
        self.listener.flush();
        let mut text = self.handle.render();
        self.listener.write_histograms(&mut text);
        text
    }

    /// The listener that feeds this recorder (register it with `on_event`): bound to it,
    /// whichever recorder is current where events happen, it keeps its counts and histograms
    /// per thread, adds the counts to the recorder at [`render`](Self::render) and
    /// [`run_upkeep`](Self::run_upkeep) and writes the histograms into `render`'s text, so a
    /// call through it pays no shared atomic write per update (see [`MetricsListener`]'s
    /// costs).
    ///
    /// ```
    /// let (_recorder, prometheus) = palisade::observe::Prometheus::new().prefix("app").build();
    /// assert_eq!(prometheus.listener().metric_name("retry_attempts_total").as_deref(), Some("app_retry_attempts_total"));
    /// ```
    pub fn listener(&self) -> MetricsListener {
        self.listener.clone()
    }

    /// Adds the listener's counts to the recorder and drains the samples of histograms
    /// recorded through the recorder directly (your own; Palisade's are aggregated as they
    /// come) into their buckets. Rendering does this too; call it every few seconds (from a
    /// timer task) if scrapes may be rare and you record histograms of your own, so their
    /// unscraped samples do not pile up.
    ///
    /// ```
    /// let (_recorder, prometheus) = palisade::observe::Prometheus::new().build();
    /// prometheus.run_upkeep();
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

/// The Prometheus recorder could not be installed: a global recorder was already installed.
///
/// ```
/// use palisade::observe::Prometheus;
/// let _ = Prometheus::new().install();
/// let err = Prometheus::new().install().unwrap_err();
/// assert!(err.to_string().starts_with("installing the Prometheus recorder failed"));
/// ```
#[derive(Debug, thiserror::Error)]
#[error("installing the Prometheus recorder failed")]
pub struct InstallError {
    /// Why: a global recorder was already installed.
    #[source]
    source: SetRecorderError<Arc<PrometheusRecorder>>,
}
