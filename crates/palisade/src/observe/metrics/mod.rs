//! [`MetricsListener`]: policy events as `metrics` counters, gauges and histograms, through
//! handles cached per recorder (see the listener's `# Cost` section).
//!
//! What each metric counts: the table in [`observe`](super).

use std::fmt;
use std::sync::Arc;

use ::metrics::{Key, Label, Recorder, SharedString, Unit};

use crate::bulkhead::{BulkheadEvent, RejectReason};
use crate::circuit_breaker::{CircuitBreakerEvent, State, Verdict};
use crate::event::{Event, Listener, POLICIES};
use crate::hedge::{HedgeEvent, HedgeTrigger};
use crate::pipeline::{CallOutcome, PipelineEvent};
use crate::rate_limit::RateLimitEvent;
use crate::retry::{RetryEvent, StopReason};
use crate::timeout::{TimeoutEvent, TimeoutScope};

mod cache;
mod entries;
#[cfg(feature = "prometheus")]
mod exposition;
mod pending;
mod table;

use cache::*;
use entries::Entries;
use table::*;
pub use table::{METRICS, MetricInfo, MetricKind};

/// A [`Listener`] that records every policy event as `metrics` counters, gauges and
/// histograms; see [`METRICS`] and the [table](super#what-each-metric-counts) for what each one counts. Cheap
/// to clone (one `Arc`; clones share the handle cache): register one listener on every
/// policy.
///
/// With no recorder installed, updates go to the facade's no-op recorder. A listener created
/// before the application installs its recorder feeds that recorder from then on.
///
/// # Cost
///
/// Updates reach whichever recorder is current at the moment of the event — the global one,
/// or a scoped one (`metrics::with_local_recorder`) in a test. The listener caches the
/// recorder's handles, so that an update is an atomic operation on the exporter's storage
/// rather than a label allocation and a registry lookup:
///
/// - per policy name, the `Key` of every series (the `name` label is allocated once, the
///   other label values are static strings), built at the name's first event;
/// - per recorder, the handles registered from those keys, lazily at each series' first
///   update. Handles are cached only for recorders that live for the whole process: the
///   no-op recorder and the global recorder, which the facade installs once and never
///   replaces. A listener tells them apart from a scoped recorder (whose address could be
///   reused by another one later) by asking, once per new recorder address, which recorder
///   a thread without a scoped one sees. Updates into a scoped recorder use the cached keys
///   but register the handle at every update, as the facade's macros do.
///
/// So a listener created before the exporter is installed switches to the exporter's
/// handles at its first event after the installation, and a cached handle never feeds a
/// recorder that is no longer current. A policy name's entry is found in constant time
/// without a lock (the first name the listener saw is checked first, others through a
/// table keyed by the address of the name the event carries, checked against the name
/// itself); a new name is appended under a mutex. Entries are never dropped: a listener is
/// meant for a bounded set of policy names.
/// `circuit_breaker_state_changes_total` is registered at every transition (rare).
///
/// # Bound to a recorder
///
/// The listener of a [`PrometheusMetrics`](super::PrometheusMetrics) is bound to that
/// recorder: it updates it whichever recorder is current, and keeps what it records per
/// thread — counters and the bulkhead gauge as counts (a plain load and store instead of the
/// exporter's two atomic read-modify-writes on shared lines), histograms as per-bucket counts
/// and a sum (a search among the bounds and two plain stores instead of the exporter's clock
/// reading and epoch-protected push). It adds its counts to the recorder each time the
/// recorder is rendered and writes its histograms into the rendered text itself, exactly:
/// a scrape sees every count and every sample. The per-thread slots take about 30 KB per
/// policy name, and 38 KB more for a name that records histograms.
///
/// On the five-policy pipeline of bench `pipeline/happy_path/palisade_metrics` (that bound
/// listener, its recorder installed globally), a call publishes six events and makes ten
/// updates, all into per-thread slots: eight counts and two histogram samples.
///
/// ```
/// use palisade::circuit_breaker::CircuitBreaker;
/// use palisade::observe::MetricsListener;
///
/// let metrics = MetricsListener::new().prefix("myapp");
/// let breaker = CircuitBreaker::builder()
///     .name("db")
///     .on_event(metrics.clone()) // myapp_circuit_breaker_successes_total{name="db"}, …
///     .build()?;
/// breaker.call_blocking(|| Ok::<_, std::io::Error>(()))?;
/// assert_eq!(metrics.metric_name("circuit_breaker_state").as_deref(), Some("myapp_circuit_breaker_state"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct MetricsListener {
    inner: Arc<Inner>,
}

struct Inner {
    /// The full names, in the order of [`METRICS`].
    names: Box<[SharedString]>,
    /// One entry per policy name seen.
    entries: Entries,
    /// The recorder this listener is bound to, if any: it then updates that recorder only,
    /// and keeps counts per thread until [`flush`](MetricsListener::flush).
    bound: Option<Arc<dyn Recorder + Send + Sync>>,
}

impl Default for MetricsListener {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MetricsListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsListener")
            .field("names", &self.inner.names)
            .field("bound", &self.inner.bound.is_some())
            .finish_non_exhaustive()
    }
}

impl MetricsListener {
    /// A listener publishing the names of [`METRICS`] unprefixed.
    ///
    /// ```
    /// let m = palisade::observe::MetricsListener::new();
    /// assert_eq!(m.metric_name("retry_attempts_total").as_deref(), Some("retry_attempts_total"));
    /// ```
    pub fn new() -> Self {
        Self::with_names(
            METRICS
                .iter()
                .map(|m| SharedString::const_str(m.name))
                .collect(),
        )
    }

    fn with_names(names: Box<[SharedString]>) -> Self {
        MetricsListener {
            inner: Arc::new(Inner {
                names,
                entries: Entries::new(),
                bound: None,
            }),
        }
    }

    /// A listener with this one's names, bound to `recorder` (see the type's docs), with a
    /// cache of its own.
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub(crate) fn bound_to(&self, recorder: Arc<dyn Recorder + Send + Sync>) -> Self {
        MetricsListener {
            inner: Arc::new(Inner {
                names: self.inner.names.clone(),
                entries: Entries::new(),
                bound: Some(recorder),
            }),
        }
    }

    /// For a bound listener: adds the counts kept per thread since the last flush to its
    /// recorder. Nothing for a listener that is not bound.
    #[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
    pub(crate) fn flush(&self) {
        let inner = &*self.inner;
        let Some(recorder) = &inner.bound else {
            return;
        };
        for entry in inner.entries.iter() {
            if let Some(pending) = &entry.pending {
                pending.flush(&Updates::bound(&**recorder, entry));
            }
        }
    }

    /// Prepends `<prefix>_` to every metric name (`myapp_circuit_breaker_state`). Trailing
    /// underscores of `prefix` are dropped; an empty prefix means none. The result is a new
    /// listener, with a cache of its own.
    ///
    /// ```
    /// let m = palisade::observe::MetricsListener::new().prefix("myapp_");
    /// assert_eq!(m.metric_name("rate_limit_rejected_total").as_deref(), Some("myapp_rate_limit_rejected_total"));
    /// ```
    pub fn prefix(self, prefix: &str) -> Self {
        let prefix = prefix.trim_end_matches('_');
        if prefix.is_empty() {
            return Self::new();
        }
        Self::with_names(
            METRICS
                .iter()
                .map(|m| SharedString::from_shared(Arc::from(format!("{prefix}_{}", m.name))))
                .collect(),
        )
    }

    /// The full (prefixed) name this listener publishes `base` as, if `base` is one of
    /// [`METRICS`].
    ///
    /// ```
    /// let m = palisade::observe::MetricsListener::new().prefix("svc");
    /// assert_eq!(m.metric_name("bulkhead_active_calls").as_deref(), Some("svc_bulkhead_active_calls"));
    /// assert_eq!(m.metric_name("no_such_metric"), None);
    /// ```
    pub fn metric_name(&self, base: &str) -> Option<String> {
        let index = METRICS.iter().position(|m| m.name == base)?;
        self.inner.names.get(index).map(|n| n.to_string())
    }

    /// Registers the help text and unit of every metric with the current recorder (the
    /// global one, or the scoped one inside `metrics::with_local_recorder`; for the listener
    /// of a [`PrometheusMetrics`](super::PrometheusMetrics), its recorder). Exporters that
    /// support it (Prometheus) show them as `# HELP`. Call it once, after installing the
    /// recorder; [`Prometheus`](super::Prometheus) does it for you.
    ///
    /// ```
    /// palisade::observe::MetricsListener::new().describe(); // no recorder: nothing happens
    /// ```
    pub fn describe(&self) {
        match &self.inner.bound {
            Some(recorder) => self.describe_to(&**recorder),
            None => ::metrics::with_recorder(|recorder| self.describe_to(recorder)),
        }
    }

    fn describe_to(&self, recorder: &dyn Recorder) {
        for (info, name) in METRICS.iter().zip(self.inner.names.iter()) {
            let unit = if info.name.ends_with("_seconds") {
                Unit::Seconds
            } else {
                Unit::Count
            };
            let (name, unit, help) = (name.clone().into(), Some(unit), info.help.into());
            match info.kind {
                MetricKind::Counter => recorder.describe_counter(name, unit, help),
                MetricKind::Gauge => recorder.describe_gauge(name, unit, help),
                MetricKind::Histogram => recorder.describe_histogram(name, unit, help),
            }
        }
    }

    /// Sets a breaker's `circuit_breaker_state` gauge to `state` without a transition: the
    /// gauge otherwise appears only at the breaker's first transition. Call it once per
    /// breaker at startup so dashboards see `closed` from the start.
    ///
    /// ```
    /// use palisade::circuit_breaker::CircuitBreaker;
    /// use palisade::observe::MetricsListener;
    /// let metrics = MetricsListener::new();
    /// let breaker = CircuitBreaker::builder().name("db").on_event(metrics.clone()).build()?;
    /// metrics.record_breaker_state(breaker.name(), breaker.state());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn record_breaker_state(&self, breaker: &str, state: State) {
        self.update(breaker, |updates| updates.breaker_state(state));
    }

    /// Runs `f` with the updates of policy `policy`: into the recorder this listener is bound
    /// to, or else into the current recorder.
    #[inline]
    fn update(&self, policy: &str, f: impl FnOnce(&Updates<'_>)) {
        let inner = &*self.inner;
        let bound = inner.bound.as_deref();
        let make = |policy: &str| Entry::new(&inner.names, policy, bound.is_some());
        let Some(entry) = inner.entries.get(policy, make) else {
            return; // past 134 million policy names
        };
        match bound {
            Some(recorder) => f(&Updates::bound(recorder, entry)),
            None => ::metrics::with_recorder(|recorder| {
                let handles = process_wide(recorder)
                    .and_then(|index| entry.handles.get(index))
                    .map(|handles| &**handles);
                f(&Updates {
                    recorder,
                    entry,
                    handles,
                });
            }),
        }
    }

    fn circuit_breaker(&self, updates: &Updates<'_>, event: &CircuitBreakerEvent<'_>) {
        match *event {
            CircuitBreakerEvent::StateTransition { from, to, .. } => {
                updates.breaker_state(to);
                let name = self.inner.names[M::CbStateChanges as usize].clone();
                let key = Key::from_parts(
                    name,
                    vec![
                        Label::new("name", updates.entry.label.clone()),
                        Label::from_static_parts("from", from.as_str()),
                        Label::from_static_parts("to", to.as_str()),
                    ],
                );
                updates
                    .recorder
                    .register_counter(&key, &METADATA)
                    .increment(1);
            }
            CircuitBreakerEvent::CallRejected { state, .. } => {
                updates.count(series(M::CbNotPermitted, state_index(state)), 1);
            }
            CircuitBreakerEvent::OutcomeRecorded { verdict, slow, .. } => {
                let metric = match verdict {
                    Verdict::Success => M::CbSuccesses,
                    Verdict::Failure => M::CbFailures,
                    Verdict::Ignored => M::CbIgnored,
                };
                updates.count(series(metric, 0), 1);
                if slow {
                    updates.count(series(M::CbSlow, 0), 1);
                }
            }
        }
    }
}

fn retry(updates: &Updates<'_>, event: &RetryEvent<'_>) {
    match *event {
        RetryEvent::RetryScheduled { .. } => updates.count(series(M::RetryRetries, 0), 1),
        RetryEvent::Succeeded {
            attempts,
            total_duration,
            ..
        } => {
            let kind = if attempts > 1 { 1 } else { 0 };
            updates.count(series(M::RetryCalls, kind), 1);
            attempts_per_call(updates, attempts);
            updates.observe(M::RetrySuccessDuration, total_duration.as_secs_f64());
        }
        RetryEvent::GaveUp {
            attempts, reason, ..
        } => {
            let kind = match reason {
                StopReason::Rejected => 4,
                _ if attempts > 1 => 3,
                _ => 2,
            };
            updates.count(series(M::RetryCalls, kind), 1);
            updates.count(series(M::RetryGaveUp, stop_reason(reason)), 1);
            attempts_per_call(updates, attempts);
        }
    }
}

/// A finished call's attempts: counted always, sampled only when the call retried. A call
/// that ended at its first attempt (most calls) is already counted by `retry_calls_total`;
/// a sample of 1 for it would cost a histogram update and say nothing more. Those calls are
/// `retry_calls_total` minus the histogram's `_count`, and adding that number to every
/// bucket, `_count` and `_sum` gives the histogram of all calls.
fn attempts_per_call(updates: &Updates<'_>, attempts: u32) {
    updates.count(series(M::RetryAttempts, 0), u64::from(attempts));
    if attempts > 1 {
        updates.observe(M::RetryAttemptsPerCall, f64::from(attempts));
    }
}

fn rate_limit(updates: &Updates<'_>, event: &RateLimitEvent<'_>) {
    match *event {
        RateLimitEvent::Permitted { .. } => updates.count(series(M::RlPermitted, 0), 1),
        RateLimitEvent::Rejected { .. } => updates.count(series(M::RlRejected, 0), 1),
    }
}

fn timeout(updates: &Updates<'_>, event: &TimeoutEvent<'_>) {
    match *event {
        TimeoutEvent::TimedOut { scope, .. } => {
            updates.count(series(M::TimedOut, timeout_scope(scope)), 1)
        }
        TimeoutEvent::FinishedLate { scope, elapsed, .. } => {
            updates.count(series(M::FinishedLate, timeout_scope(scope)), 1);
            updates.observe(M::LateDuration, elapsed.as_secs_f64());
        }
    }
}

fn bulkhead(updates: &Updates<'_>, event: &BulkheadEvent<'_>) {
    match *event {
        BulkheadEvent::Permitted { waited, .. } => {
            updates.count(series(M::BhPermitted, 0), 1);
            updates.bulkhead_slot(true);
            // Calls admitted at once are bulkhead_permitted_total minus this count: a zero
            // sample per uncontended call would cost a histogram update and say nothing.
            if !waited.is_zero() {
                updates.observe(M::BhWait, waited.as_secs_f64());
            }
        }
        BulkheadEvent::Rejected { reason, .. } => {
            let reason = match reason {
                RejectReason::Full => 0,
                RejectReason::QueueFull { .. } => 1,
                RejectReason::WaitedTooLong { .. } => 2,
            };
            updates.count(series(M::BhRejected, reason), 1);
        }
        BulkheadEvent::Released { .. } => {
            updates.bulkhead_slot(false);
        }
    }
}

fn hedge(updates: &Updates<'_>, event: &HedgeEvent<'_>) {
    match *event {
        HedgeEvent::HedgeStarted { trigger, .. } => {
            let trigger = match trigger {
                HedgeTrigger::Delay { .. } => 0,
                HedgeTrigger::Failure => 1,
            };
            updates.count(series(M::HedgeStarted, trigger), 1);
        }
        HedgeEvent::Settled { winner, .. } => {
            let kind = match winner {
                Some(1) => 0,
                Some(_) => 1,
                None => 2,
            };
            updates.count(series(M::HedgeCalls, kind), 1);
        }
    }
}

fn pipeline(updates: &Updates<'_>, event: &PipelineEvent<'_>) {
    match *event {
        PipelineEvent::Completed {
            outcome, elapsed, ..
        } => {
            let outcome = match outcome {
                CallOutcome::Succeeded => 0,
                CallOutcome::Rejected => 2,
                _ => 1,
            };
            updates.count(series(M::PipelineCalls, outcome), 1);
            updates.observe(M::PipelineDuration, elapsed.as_secs_f64());
        }
        PipelineEvent::Switched { disabled, .. } => {
            let on = |off: bool| if off { 0.0 } else { 1.0 };
            let pipeline = on(disabled.passes_through());
            updates.gauge_now(series(M::ResilienceEnabled, 0), |g| g.set(pipeline));
            for (index, (bit, _)) in POLICIES.into_iter().enumerate() {
                let value = on(disabled.contains(bit));
                updates.gauge_now(series(M::ResilienceEnabled, index + 1), |g| g.set(value));
            }
        }
    }
}

impl Listener for MetricsListener {
    fn on_event(&self, event: &Event<'_>) {
        // One match on the kind of policy, not one for its name and another for its updates.
        match event {
            Event::CircuitBreaker(e) => self.update(e.name(), |u| self.circuit_breaker(u, e)),
            Event::Retry(e) => self.update(e.name(), |u| retry(u, e)),
            Event::RateLimit(e) => self.update(e.name(), |u| rate_limit(u, e)),
            Event::Timeout(e) => self.update(e.name(), |u| timeout(u, e)),
            Event::Bulkhead(e) => self.update(e.name(), |u| bulkhead(u, e)),
            Event::Hedge(e) => self.update(e.name(), |u| hedge(u, e)),
            Event::Pipeline(e) => self.update(e.name(), |u| pipeline(u, e)),
        }
    }
}

fn state_index(state: State) -> usize {
    // `code` numbers the states in the order of STATES (unit-tested).
    state.code() as usize
}

/// The `scope` label's index in [`TIMEOUT_SCOPES`].
fn timeout_scope(scope: TimeoutScope) -> usize {
    match scope {
        TimeoutScope::Call => 0,
        TimeoutScope::Attempt => 1,
        TimeoutScope::Total => 2,
    }
}

/// The `reason` label's index in [`STOP_REASONS`].
fn stop_reason(reason: StopReason) -> usize {
    match reason {
        StopReason::NotRetryable => 0,
        StopReason::MaxAttempts { .. } => 1,
        StopReason::MaxElapsed { .. } => 2,
        StopReason::BudgetExhausted => 3,
        StopReason::CircuitOpened => 4,
        StopReason::Rejected => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_index_names_its_metric() {
        let expected = [
            (M::CbState, "circuit_breaker_state"),
            (M::CbStateChanges, "circuit_breaker_state_changes_total"),
            (M::CbFailures, "circuit_breaker_failures_total"),
            (M::CbSuccesses, "circuit_breaker_successes_total"),
            (M::CbIgnored, "circuit_breaker_ignored_total"),
            (M::CbSlow, "circuit_breaker_slow_calls_total"),
            (M::CbNotPermitted, "circuit_breaker_not_permitted_total"),
            (M::RetryAttempts, "retry_attempts_total"),
            (M::RetryRetries, "retry_retries_total"),
            (M::RetryCalls, "retry_calls_total"),
            (M::RetryGaveUp, "retry_gave_up_total"),
            (M::RetryAttemptsPerCall, "retry_attempts"),
            (M::RetrySuccessDuration, "retry_success_duration_seconds"),
            (M::RlPermitted, "rate_limit_permitted_total"),
            (M::RlRejected, "rate_limit_rejected_total"),
            (M::TimedOut, "timeout_timed_out_total"),
            (M::FinishedLate, "timeout_finished_late_total"),
            (M::LateDuration, "timeout_late_call_duration_seconds"),
            (M::BhPermitted, "bulkhead_permitted_total"),
            (M::BhRejected, "bulkhead_rejected_total"),
            (M::BhActive, "bulkhead_active_calls"),
            (M::BhWait, "bulkhead_wait_duration_seconds"),
            (M::HedgeStarted, "hedge_started_total"),
            (M::HedgeCalls, "hedge_calls_total"),
            (M::PipelineCalls, "pipeline_calls_total"),
            (M::PipelineDuration, "pipeline_call_duration_seconds"),
            (M::ResilienceEnabled, "resilience_enabled"),
        ];
        assert_eq!(expected.len(), METRICS.len());
        for (metric, name) in expected {
            assert_eq!(METRICS[metric as usize].name, name);
        }
    }

    #[test]
    fn label_values_follow_the_enums() {
        for (index, state) in STATES.into_iter().enumerate() {
            assert_eq!(state_index(state), index);
            assert_eq!(STATE_NAMES[index], state.as_str());
        }
        for scope in [
            TimeoutScope::Call,
            TimeoutScope::Attempt,
            TimeoutScope::Total,
        ] {
            assert_eq!(TIMEOUT_SCOPES[timeout_scope(scope)], scope.as_str());
        }
        assert_eq!(STOP_REASONS[stop_reason(StopReason::Rejected)], "rejected");
        assert_eq!(
            STOP_REASONS[stop_reason(StopReason::CircuitOpened)],
            "circuit_opened"
        );
        let policies: Vec<&str> = POLICIES.iter().map(|(_, name)| *name).collect();
        assert_eq!(SWITCHES[1..], policies[..]);
        for (m, info) in METRICS.iter().enumerate() {
            let extra = EXTRA[m].map(|(key, _)| key);
            let cached = series_count(m) > 0;
            assert_eq!(
                info.labels.get(1).copied(),
                if cached { extra } else { Some("from") },
                "{}",
                info.name
            );
        }
        assert_eq!(
            Entry::new(&MetricsListener::new().inner.names, "p", false)
                .keys
                .len(),
            SERIES
        );
    }

    #[test]
    fn counters_end_in_total_and_only_counters_do() {
        for m in METRICS {
            assert_eq!(
                m.kind == MetricKind::Counter,
                m.name.ends_with("_total"),
                "{}",
                m.name
            );
        }
    }
}
