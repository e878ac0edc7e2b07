//! The metrics the listener publishes: names, kinds, labels, help, and where each series
//! sits in the handle cache.

use ::metrics::{Level, Metadata};

use crate::circuit_breaker::State;

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

/// One metric [`MetricsListener`](super::MetricsListener) publishes: its unprefixed name, kind, labels and help text.
///
/// ```
/// use palisade::observe::METRICS;
/// let state = METRICS.iter().find(|m| m.name == "circuit_breaker_state").unwrap();
/// assert_eq!(state.labels, ["name", "state"]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricInfo {
    /// The name, before any [prefix](super::MetricsListener::prefix).
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// The labels every sample carries; `name` (the policy's name) always comes first.
    pub labels: &'static [&'static str],
    /// The help text (Prometheus `# HELP`).
    pub help: &'static str,
}

pub(super) const fn info(
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

/// Every metric [`MetricsListener`](super::MetricsListener) publishes.
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
        "Calls the circuit breaker recorded as slow (also counted as successes or failures).",
    ),
    info(
        "circuit_breaker_not_permitted_total",
        Counter,
        &["name", "state"],
        "Calls the circuit breaker refused without running them (state: the state that refused).",
    ),
    info(
        "retry_attempts_total",
        Counter,
        &["name"],
        "Attempts made by calls through a retry policy, the first included; counted when the call finishes.",
    ),
    info(
        "retry_retries_total",
        Counter,
        &["name"],
        "Retries scheduled: attempts after the first, counted when scheduled.",
    ),
    info(
        "retry_calls_total",
        Counter,
        &["name", "kind"],
        "Finished calls through a retry policy (kind: successful_without_retry, successful_with_retry, failed_without_retry, failed_with_retry, rejected: an inner policy refused the attempt).",
    ),
    info(
        "retry_gave_up_total",
        Counter,
        &["name", "reason"],
        "Calls a retry policy stopped without success (reason: not_retryable, max_attempts, max_elapsed, budget_exhausted, circuit_opened, rejected).",
    ),
    info(
        "retry_attempts",
        Histogram,
        &["name"],
        "Attempts per finished call through a retry policy that retried (calls that ended at their first attempt are not sampled: they are retry_calls_total minus this histogram's count).",
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
        &["name", "scope"],
        "Time limits that fired (scope: call, attempt, total).",
    ),
    info(
        "timeout_finished_late_total",
        Counter,
        &["name", "scope"],
        "Blocking calls that returned after their limit, result discarded (scope: call, attempt, total).",
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
        "Calls a bulkhead admitted, at once or after queueing.",
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
        "Time calls admitted after queueing waited for a bulkhead slot (calls admitted at once are not sampled).",
    ),
    info(
        "hedge_started_total",
        Counter,
        &["name", "trigger"],
        "Hedged attempts started, the first attempt not included (trigger: delay, failure).",
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
        "Finished calls through a pipeline (outcome: succeeded, failed, rejected: a policy refused the call).",
    ),
    info(
        "pipeline_call_duration_seconds",
        Histogram,
        &["name"],
        "Duration of pipeline calls, every attempt and backoff sleep included.",
    ),
    info(
        "resilience_enabled",
        Gauge,
        &["name", "policy"],
        "1 while a pipeline applies the policy, 0 while calls skip it (policy: pipeline — 0: every call passes straight through —, rate_limit, bulkhead, retry, circuit_breaker, hedge).",
    ),
];

/// Index of each metric in [`METRICS`] (checked by a unit test).
#[derive(Clone, Copy)]
pub(super) enum M {
    CbState,
    CbStateChanges,
    CbFailures,
    CbSuccesses,
    CbIgnored,
    CbSlow,
    CbNotPermitted,
    RetryAttempts,
    RetryRetries,
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
    ResilienceEnabled,
}

/// The states a breaker's one-hot `circuit_breaker_state` gauge covers, in the order of
/// [`State::code`].
pub(super) const STATES: [State; 6] = [
    State::Closed,
    State::Open,
    State::HalfOpen,
    State::Disabled,
    State::ForcedOpen,
    State::MetricsOnly,
];

pub(super) const STATE_NAMES: &[&str] = &[
    "closed",
    "open",
    "half_open",
    "disabled",
    "forced_open",
    "metrics_only",
];
pub(super) const RETRY_KINDS: &[&str] = &[
    "successful_without_retry",
    "successful_with_retry",
    "failed_without_retry",
    "failed_with_retry",
    "rejected",
];
pub(super) const STOP_REASONS: &[&str] = &[
    "not_retryable",
    "max_attempts",
    "max_elapsed",
    "budget_exhausted",
    "circuit_opened",
    "rejected",
];
pub(super) const TIMEOUT_SCOPES: &[&str] = &["call", "attempt", "total"];
pub(super) const BULKHEAD_REASONS: &[&str] = &["full", "queue_full", "waited_too_long"];
pub(super) const HEDGE_TRIGGERS: &[&str] = &["delay", "failure"];
pub(super) const HEDGE_KINDS: &[&str] = &["won_by_first", "won_by_hedge", "failed"];
pub(super) const OUTCOMES: &[&str] = &["succeeded", "failed", "rejected"];
/// `pipeline`, then the policies in the order of [`Disabled::policies`](crate::pipeline::Disabled::policies).
pub(super) const SWITCHES: &[&str] = &[
    "pipeline",
    "rate_limit",
    "bulkhead",
    "retry",
    "circuit_breaker",
    "hedge",
];

/// The one label besides `name` a metric's series carry, and its possible values, indexed
/// like [`METRICS`]. `circuit_breaker_state_changes_total` (two labels, 36 series, updated
/// only at transitions) is not cached: it has no series here.
pub(super) const EXTRA: [Option<(&str, &[&str])>; METRICS.len()] = {
    let mut extra: [Option<(&str, &[&str])>; METRICS.len()] = [None; METRICS.len()];
    extra[M::CbState as usize] = Some(("state", STATE_NAMES));
    extra[M::CbNotPermitted as usize] = Some(("state", STATE_NAMES));
    extra[M::RetryCalls as usize] = Some(("kind", RETRY_KINDS));
    extra[M::RetryGaveUp as usize] = Some(("reason", STOP_REASONS));
    extra[M::TimedOut as usize] = Some(("scope", TIMEOUT_SCOPES));
    extra[M::FinishedLate as usize] = Some(("scope", TIMEOUT_SCOPES));
    extra[M::BhRejected as usize] = Some(("reason", BULKHEAD_REASONS));
    extra[M::HedgeStarted as usize] = Some(("trigger", HEDGE_TRIGGERS));
    extra[M::HedgeCalls as usize] = Some(("kind", HEDGE_KINDS));
    extra[M::PipelineCalls as usize] = Some(("outcome", OUTCOMES));
    extra[M::ResilienceEnabled as usize] = Some(("policy", SWITCHES));
    extra
};

/// How many series (label sets) a metric has per policy name; 0 for the uncached one.
pub(super) const fn series_count(metric: usize) -> usize {
    if metric == M::CbStateChanges as usize {
        return 0;
    }
    match EXTRA[metric] {
        Some((_, values)) => values.len(),
        None => 1,
    }
}

/// Where each metric's series start in a policy's [`Entry`]; the last element is the total.
pub(super) const OFFSETS: [usize; METRICS.len() + 1] = {
    let mut offsets = [0; METRICS.len() + 1];
    let mut i = 0;
    while i < METRICS.len() {
        offsets[i + 1] = offsets[i] + series_count(i);
        i += 1;
    }
    offsets
};

/// Series per policy name.
pub(super) const SERIES: usize = OFFSETS[METRICS.len()];

/// The series of `metric` whose extra label has its `value`-th value (0 if it has none).
/// The bucket bounds (Prometheus `le`) of the `_seconds` histograms: Prometheus' defaults,
/// stretched to a minute.
pub(super) const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The bucket bounds of `retry_attempts` (attempts per call that retried). `1` never counts
/// a sample; it is kept so that adding the single-attempt calls to every bucket rebuilds the
/// histogram of all calls (the query in the [`observe`](crate::observe) docs).
pub(super) const ATTEMPT_BUCKETS: &[f64] = &[1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0, 20.0];

/// The bucket bounds of histogram `metric` (empty for other kinds).
pub(super) const fn buckets(metric: usize) -> &'static [f64] {
    if !matches!(METRICS[metric].kind, Histogram) {
        &[]
    } else if metric == M::RetryAttemptsPerCall as usize {
        ATTEMPT_BUCKETS
    } else {
        SECONDS_BUCKETS
    }
}

/// [`buckets`] of every metric, as a table.
pub(super) const BUCKETS: [&[f64]; METRICS.len()] = {
    let mut table: [&[f64]; METRICS.len()] = [&[]; METRICS.len()];
    let mut i = 0;
    while i < METRICS.len() {
        table[i] = buckets(i);
        i += 1;
    }
    table
};

/// Where each histogram's per-thread aggregate starts in a bound listener's sample counters:
/// one count per bucket, one for values above every bound, then the sum of the values.
pub(super) const SAMPLE_OFFSETS: [usize; METRICS.len() + 1] = {
    let mut offsets = [0; METRICS.len() + 1];
    let mut i = 0;
    while i < METRICS.len() {
        let slots = if matches!(METRICS[i].kind, Histogram) {
            buckets(i).len() + 2
        } else {
            0
        };
        offsets[i + 1] = offsets[i] + slots;
        i += 1;
    }
    offsets
};

/// Sample counters per policy name (see [`SAMPLE_OFFSETS`]).
pub(super) const SAMPLED: usize = SAMPLE_OFFSETS[METRICS.len()];

#[inline]
pub(super) fn series(metric: M, value: usize) -> usize {
    OFFSETS[metric as usize] + value
}

/// What the listener tells the recorder about where its metrics come from (Prometheus
/// ignores it; the facade's macros pass the same kind of metadata).
pub(super) static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));
