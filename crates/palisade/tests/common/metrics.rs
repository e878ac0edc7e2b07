//! What a metrics recorder holds after some code ran.

use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// The gauge `palisade_resilience_enabled` (the listener prefixed with `palisade`).
pub const RESILIENCE: &str = "palisade_resilience_enabled";

/// The series of gauge `name` that `record` leaves in a fresh recorder (scoped to this
/// thread), as (label values joined by `/`, value), sorted.
pub fn recorded_gauges(name: &str, record: impl FnOnce()) -> Vec<(String, f64)> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, record);
    let mut gauges: Vec<(String, f64)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == name)
        .filter_map(|(key, _, _, value)| {
            let labels: Vec<&str> = key.key().labels().map(|l| l.value()).collect();
            match value {
                DebugValue::Gauge(v) => Some((labels.join("/"), v.into_inner())),
                _ => None,
            }
        })
        .collect();
    gauges.sort_by(|a, b| a.0.cmp(&b.0));
    gauges
}

/// The series of `gauges` at 0.
pub fn zero(gauges: &[(String, f64)]) -> Vec<&str> {
    gauges
        .iter()
        .filter(|(_, v)| *v == 0.0)
        .map(|(series, _)| series.as_str())
        .collect()
}
