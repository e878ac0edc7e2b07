//! [`MetricsListener`]: policy events as `metrics` counters, gauges and histograms. Why
//! updates are not cached in handles: see the listener's `# Cost` section.

use std::sync::Arc;

use ::metrics::{Label, SharedString, Unit};

use crate::bulkhead::{BulkheadEvent, RejectReason};
use crate::circuit_breaker::{CircuitBreakerEvent, State, Verdict};
use crate::event::{Event, Listener};
use crate::hedge::{HedgeEvent, HedgeTrigger};
use crate::pipeline::{CallOutcome, PipelineEvent};
use crate::rate_limit::RateLimitEvent;
use crate::retry::{RetryEvent, StopReason};
use crate::timeout::TimeoutEvent;

/// What kind of instrument a metric is.
///
/// ```
/// use palisade::observe::{METRICS, MetricKind};
/// assert!(METRICS.iter().any(|m| m.kind == MetricKind::Histogram));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricKind {
    /// Only goes up; the name ends in `_total`.
    Counter,
    /// Goes up and down, or is set.
    Gauge,
    /// A distribution of observed values.
    Histogram,
}

/// One metric [`MetricsListener`] publishes: its unprefixed name, kind, labels and help text.
///
/// ```
/// use palisade::observe::METRICS;
/// let state = METRICS.iter().find(|m| m.name == "circuit_breaker_state").unwrap();
/// assert_eq!(state.labels, ["name", "state"]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricInfo {
    /// The name, before any [prefix](MetricsListener::prefix).
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// The labels every sample carries; `name` (the policy's name) always comes first.
    pub labels: &'static [&'static str],
    /// The help text (Prometheus `# HELP`).
    pub help: &'static str,
}

const fn info(
    name: &'static str,
    kind: MetricKind,
    labels: &'static [&'static str],
    help: &'static str,
) -> MetricInfo {
    MetricInfo {
        name,
        kind,
        labels,
        help,
    }
}

use MetricKind::{Counter, Gauge, Histogram};

/// Every metric [`MetricsListener`] publishes.
///
/// ```
/// use palisade::observe::METRICS;
/// assert!(METRICS.iter().all(|m| m.labels[0] == "name"));
/// assert!(METRICS.iter().any(|m| m.name == "rate_limit_rejected_total"));
/// ```
pub const METRICS: &[MetricInfo] = &[
    info(
        "circuit_breaker_state",
        Gauge,
        &["name", "state"],
        "1 for the state the circuit breaker is in, 0 for the others (state: closed, open, half_open, disabled, forced_open, metrics_only).",
    ),
    info(
        "circuit_breaker_state_changes_total",
        Counter,
        &["name", "from", "to"],
        "Circuit breaker state transitions.",
    ),
    info(
        "circuit_breaker_failures_total",
        Counter,
        &["name"],
        "Calls the circuit breaker recorded as failures.",
    ),
    info(
        "circuit_breaker_successes_total",
        Counter,
        &["name"],
        "Calls the circuit breaker recorded as successes.",
    ),
    info(
        "circuit_breaker_ignored_total",
        Counter,
        &["name"],
        "Calls whose outcome the circuit breaker ignored (neither success nor failure).",
    ),
    info(
        "circuit_breaker_slow_calls_total",
        Counter,
        &["name"],
        "Calls the circuit breaker recorded as slow.",
    ),
    info(
        "circuit_breaker_not_permitted_total",
        Counter,
        &["name", "state"],
        "Calls the circuit breaker rejected without running them.",
    ),
    info(
        "retry_attempts_total",
        Counter,
        &["name"],
        "Retries scheduled: attempts after the first.",
    ),
    info(
        "retry_calls_total",
        Counter,
        &["name", "kind"],
        "Calls through a retry policy (kind: successful_without_retry, successful_with_retry, failed_without_retry, failed_with_retry).",
    ),
    info(
        "retry_gave_up_total",
        Counter,
        &["name", "reason"],
        "Calls a retry policy gave up on (reason: not_retryable, max_attempts, max_elapsed, budget_exhausted, circuit_opened).",
    ),
    info(
        "retry_attempts",
        Histogram,
        &["name"],
        "Attempts per finished call through a retry policy.",
    ),
    info(
        "retry_success_duration_seconds",
        Histogram,
        &["name"],
        "Duration of successful calls through a retry policy, every attempt and backoff included.",
    ),
    info(
        "rate_limit_permitted_total",
        Counter,
        &["name"],
        "Rate limiter decisions that granted permits.",
    ),
    info(
        "rate_limit_rejected_total",
        Counter,
        &["name"],
        "Rate limiter decisions that refused permits.",
    ),
    info(
        "timeout_timed_out_total",
        Counter,
        &["name"],
        "Calls whose time limit fired.",
    ),
    info(
        "timeout_finished_late_total",
        Counter,
        &["name"],
        "Blocking calls that returned after their limit (result discarded).",
    ),
    info(
        "timeout_late_call_duration_seconds",
        Histogram,
        &["name"],
        "Duration of blocking calls that returned after their limit.",
    ),
    info(
        "bulkhead_permitted_total",
        Counter,
        &["name"],
        "Calls a bulkhead admitted.",
    ),
    info(
        "bulkhead_rejected_total",
        Counter,
        &["name", "reason"],
        "Calls a bulkhead turned away (reason: full, queue_full, waited_too_long).",
    ),
    info(
        "bulkhead_active_calls",
        Gauge,
        &["name"],
        "Calls holding a bulkhead slot.",
    ),
    info(
        "bulkhead_wait_duration_seconds",
        Histogram,
        &["name"],
        "Time admitted calls waited for a bulkhead slot.",
    ),
    info(
        "hedge_started_total",
        Counter,
        &["name", "trigger"],
        "Hedged attempts started (trigger: delay, failure).",
    ),
    info(
        "hedge_calls_total",
        Counter,
        &["name", "kind"],
        "Calls through a hedge policy (kind: won_by_first, won_by_hedge, failed).",
    ),
    info(
        "pipeline_calls_total",
        Counter,
        &["name", "outcome"],
        "Calls through a pipeline (outcome: succeeded, failed, rejected).",
    ),
    info(
        "pipeline_call_duration_seconds",
        Histogram,
        &["name"],
        "Duration of pipeline calls, every attempt and backoff sleep included.",
    ),
];

/// Index of each metric in [`METRICS`] (checked by a unit test).
#[derive(Clone, Copy)]
enum M {
    CbState,
    CbStateChanges,
    CbFailures,
    CbSuccesses,
    CbIgnored,
    CbSlow,
    CbNotPermitted,
    RetryAttempts,
    RetryCalls,
    RetryGaveUp,
    RetryAttemptsPerCall,
    RetrySuccessDuration,
    RlPermitted,
    RlRejected,
    TimedOut,
    FinishedLate,
    LateDuration,
    BhPermitted,
    BhRejected,
    BhActive,
    BhWait,
    HedgeStarted,
    HedgeCalls,
    PipelineCalls,
    PipelineDuration,
}

/// The states a breaker's one-hot `circuit_breaker_state` gauge covers.
const STATES: [State; 6] = [
    State::Closed,
    State::Open,
    State::HalfOpen,
    State::Disabled,
    State::ForcedOpen,
    State::MetricsOnly,
];

/// A [`Listener`] that records every policy event as `metrics` counters, gauges and
/// histograms; see [`METRICS`] for the names. Cheap to clone (one `Arc`): register one
/// listener on every policy.
///
/// With no recorder installed, updates go to the facade's no-op recorder.
///
/// # Cost
///
/// Every update goes through the facade's macros at the moment of the event, so it reaches
/// whichever recorder is current then — the global one, or a scoped one in a test. Handles
/// are not cached: a handle registered before the application installed its exporter would
/// keep feeding the no-op recorder forever. The price is a registry lookup and a copy of the
/// `name` label per update, paid only by the policies the listener is registered on: about
/// 2.5 µs per call for the nine updates of a five-policy pipeline into the Prometheus
/// recorder (bench `pipeline/happy_path/palisade_metrics`, against 0.13 µs unobserved).
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
#[derive(Debug, Clone)]
pub struct MetricsListener {
    /// The full names, in the order of [`METRICS`].
    names: Arc<[SharedString]>,
}

impl Default for MetricsListener {
    fn default() -> Self {
        Self::new()
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
        MetricsListener {
            names: METRICS
                .iter()
                .map(|m| SharedString::const_str(m.name))
                .collect(),
        }
    }

    /// Prepends `<prefix>_` to every metric name (`myapp_circuit_breaker_state`). Trailing
    /// underscores of `prefix` are dropped; an empty prefix means none.
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
        MetricsListener {
            names: METRICS
                .iter()
                .map(|m| SharedString::from_shared(Arc::from(format!("{prefix}_{}", m.name))))
                .collect(),
        }
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
        self.names.get(index).map(|n| n.to_string())
    }

    /// Registers the help text and unit of every metric with the current recorder (the
    /// global one, or the scoped one inside `metrics::with_local_recorder`). Exporters that
    /// support it (Prometheus) show them as `# HELP`. Call it once, after installing the
    /// recorder; [`Prometheus`](super::Prometheus) does it for you.
    ///
    /// ```
    /// palisade::observe::MetricsListener::new().describe(); // no recorder: nothing happens
    /// ```
    pub fn describe(&self) {
        for (info, name) in METRICS.iter().zip(self.names.iter()) {
            let name = name.clone();
            let unit = if info.name.ends_with("_seconds") {
                Unit::Seconds
            } else {
                Unit::Count
            };
            match info.kind {
                Counter => ::metrics::describe_counter!(name, unit, info.help),
                Gauge => ::metrics::describe_gauge!(name, unit, info.help),
                Histogram => ::metrics::describe_histogram!(name, unit, info.help),
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
        let name = shared(breaker);
        for s in STATES {
            let value = if s == state { 1.0 } else { 0.0 };
            ::metrics::gauge!(
                self.name(M::CbState),
                vec![
                    Label::new("name", name.clone()),
                    Label::from_static_parts("state", s.as_str()),
                ]
            )
            .set(value);
        }
    }

    fn name(&self, metric: M) -> SharedString {
        // `names` is built from METRICS, and M indexes METRICS: the lookup cannot miss.
        self.names
            .get(metric as usize)
            .cloned()
            .unwrap_or_else(|| SharedString::const_str("palisade_unknown_metric"))
    }

    fn count(&self, metric: M, policy: &str, extra: Option<(&'static str, &'static str)>) {
        ::metrics::counter!(self.name(metric), labels(policy, extra)).increment(1);
    }

    fn observe(&self, metric: M, policy: &str, value: f64) {
        ::metrics::histogram!(self.name(metric), labels(policy, None)).record(value);
    }

    fn circuit_breaker(&self, event: &CircuitBreakerEvent<'_>) {
        match *event {
            CircuitBreakerEvent::StateTransition { name, from, to, .. } => {
                self.record_breaker_state(name, to);
                ::metrics::counter!(
                    self.name(M::CbStateChanges),
                    vec![
                        Label::new("name", shared(name)),
                        Label::from_static_parts("from", from.as_str()),
                        Label::from_static_parts("to", to.as_str()),
                    ]
                )
                .increment(1);
            }
            CircuitBreakerEvent::CallRejected { name, state, .. } => {
                self.count(M::CbNotPermitted, name, Some(("state", state.as_str())));
            }
            CircuitBreakerEvent::OutcomeRecorded {
                name,
                verdict,
                slow,
                ..
            } => {
                match verdict {
                    Verdict::Success => self.count(M::CbSuccesses, name, None),
                    Verdict::Failure => self.count(M::CbFailures, name, None),
                    Verdict::Ignored => self.count(M::CbIgnored, name, None),
                }
                if slow {
                    self.count(M::CbSlow, name, None);
                }
            }
        }
    }

    fn retry(&self, event: &RetryEvent<'_>) {
        match *event {
            RetryEvent::RetryScheduled { name, .. } => self.count(M::RetryAttempts, name, None),
            RetryEvent::Succeeded {
                name,
                attempts,
                total_duration,
            } => {
                let kind = if attempts > 1 {
                    "successful_with_retry"
                } else {
                    "successful_without_retry"
                };
                self.count(M::RetryCalls, name, Some(("kind", kind)));
                self.observe(M::RetryAttemptsPerCall, name, f64::from(attempts));
                self.observe(M::RetrySuccessDuration, name, total_duration.as_secs_f64());
            }
            RetryEvent::GaveUp {
                name,
                attempts,
                reason,
                ..
            } => {
                let kind = if attempts > 1 {
                    "failed_with_retry"
                } else {
                    "failed_without_retry"
                };
                self.count(M::RetryCalls, name, Some(("kind", kind)));
                self.count(M::RetryGaveUp, name, Some(("reason", stop_reason(reason))));
                self.observe(M::RetryAttemptsPerCall, name, f64::from(attempts));
            }
        }
    }

    fn rate_limit(&self, event: &RateLimitEvent<'_>) {
        match *event {
            RateLimitEvent::Permitted { name, .. } => self.count(M::RlPermitted, name, None),
            RateLimitEvent::Rejected { name, .. } => self.count(M::RlRejected, name, None),
        }
    }

    fn timeout(&self, event: &TimeoutEvent<'_>) {
        match *event {
            TimeoutEvent::TimedOut { name, .. } => self.count(M::TimedOut, name, None),
            TimeoutEvent::FinishedLate { name, elapsed, .. } => {
                self.count(M::FinishedLate, name, None);
                self.observe(M::LateDuration, name, elapsed.as_secs_f64());
            }
        }
    }

    fn bulkhead(&self, event: &BulkheadEvent<'_>) {
        match *event {
            BulkheadEvent::Permitted { name, waited } => {
                self.count(M::BhPermitted, name, None);
                ::metrics::gauge!(self.name(M::BhActive), labels(name, None)).increment(1.0);
                self.observe(M::BhWait, name, waited.as_secs_f64());
            }
            BulkheadEvent::Rejected { name, reason } => {
                let reason = match reason {
                    RejectReason::Full => "full",
                    RejectReason::QueueFull { .. } => "queue_full",
                    RejectReason::WaitedTooLong { .. } => "waited_too_long",
                };
                self.count(M::BhRejected, name, Some(("reason", reason)));
            }
            BulkheadEvent::Released { name } => {
                ::metrics::gauge!(self.name(M::BhActive), labels(name, None)).decrement(1.0);
            }
        }
    }

    fn hedge(&self, event: &HedgeEvent<'_>) {
        match *event {
            HedgeEvent::HedgeStarted { name, trigger, .. } => {
                let trigger = match trigger {
                    HedgeTrigger::Delay { .. } => "delay",
                    HedgeTrigger::Failure => "failure",
                };
                self.count(M::HedgeStarted, name, Some(("trigger", trigger)));
            }
            HedgeEvent::Settled { name, winner, .. } => {
                let kind = match winner {
                    Some(1) => "won_by_first",
                    Some(_) => "won_by_hedge",
                    None => "failed",
                };
                self.count(M::HedgeCalls, name, Some(("kind", kind)));
            }
        }
    }
}

impl MetricsListener {
    fn pipeline(&self, event: &PipelineEvent<'_>) {
        match *event {
            PipelineEvent::Completed {
                name,
                outcome,
                elapsed,
            } => {
                let outcome = match outcome {
                    CallOutcome::Succeeded => "succeeded",
                    CallOutcome::Rejected => "rejected",
                    _ => "failed",
                };
                self.count(M::PipelineCalls, name, Some(("outcome", outcome)));
                self.observe(M::PipelineDuration, name, elapsed.as_secs_f64());
            }
        }
    }
}

impl Listener for MetricsListener {
    fn on_event(&self, event: &Event<'_>) {
        match event {
            Event::CircuitBreaker(e) => self.circuit_breaker(e),
            Event::Retry(e) => self.retry(e),
            Event::RateLimit(e) => self.rate_limit(e),
            Event::Timeout(e) => self.timeout(e),
            Event::Bulkhead(e) => self.bulkhead(e),
            Event::Hedge(e) => self.hedge(e),
            Event::Pipeline(e) => self.pipeline(e),
        }
    }
}

/// The `name` label (and one more, if any) for a policy named `policy`.
fn labels(policy: &str, extra: Option<(&'static str, &'static str)>) -> Vec<Label> {
    let mut labels = Vec::with_capacity(2);
    labels.push(Label::new("name", shared(policy)));
    if let Some((key, value)) = extra {
        labels.push(Label::from_static_parts(key, value));
    }
    labels
}

/// A label value owned by the metric key (event names borrow from the call).
fn shared(value: &str) -> SharedString {
    SharedString::from_owned(value.to_owned())
}

fn stop_reason(reason: StopReason) -> &'static str {
    match reason {
        StopReason::NotRetryable => "not_retryable",
        StopReason::MaxAttempts { .. } => "max_attempts",
        StopReason::MaxElapsed { .. } => "max_elapsed",
        StopReason::BudgetExhausted => "budget_exhausted",
        StopReason::CircuitOpened => "circuit_opened",
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
        ];
        assert_eq!(expected.len(), METRICS.len());
        for (metric, name) in expected {
            assert_eq!(METRICS[metric as usize].name, name);
        }
    }

    #[test]
    fn counters_end_in_total_and_only_counters_do() {
        for m in METRICS {
            assert_eq!(m.kind == Counter, m.name.ends_with("_total"), "{}", m.name);
        }
    }
}
