//! A `MetricsListener` created — and used — before the application installs its global
//! recorder feeds that recorder once it is installed: the handles it cached for the no-op
//! recorder are not used for the new one. Its own test binary, because the global recorder
//! can be installed once per process.
#![cfg(feature = "metrics")]

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use palisade::observe::MetricsListener;
use palisade::pipeline::Pipeline;

/// The counters recorded since the last snapshot (a snapshot drains them), by name and
/// labels.
/// A counter's name, labels and value.
type Sample = (String, Vec<(String, String)>, u64);

fn counters(snapshotter: &Snapshotter) -> Vec<Sample> {
    let mut all = Vec::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        if let DebugValue::Counter(n) = value {
            let key = key.key();
            let labels = key
                .labels()
                .map(|l| (l.key().to_string(), l.value().to_string()))
                .collect();
            all.push((key.name().to_string(), labels, n));
        }
    }
    all
}

fn counter(all: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<u64> {
    all.iter().find_map(|(n, l, value)| {
        let same = l.len() == labels.len()
            && labels
                .iter()
                .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v));
        (n == name && same).then_some(*value)
    })
}

#[test]
fn a_listener_made_before_the_global_recorder_feeds_it_after_installation() {
    let pipeline = Pipeline::builder()
        .name("payments")
        .retry(|r| r.max_attempts(2))
        .circuit_breaker(|b| b)
        .on_event(MetricsListener::new())
        .build()
        .unwrap();
    // Into the no-op recorder: its handles are cached.
    for _ in 0..3 {
        pipeline.call_blocking(|| Ok::<_, &str>(())).unwrap();
    }

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::set_global_recorder(recorder).unwrap();

    for _ in 0..2 {
        pipeline.call_blocking(|| Ok::<_, &str>(())).unwrap();
    }
    let payments = &[("name", "payments")];
    let recorded = counters(&snapshotter);
    assert_eq!(
        counter(&recorded, "circuit_breaker_successes_total", payments),
        Some(2)
    );
    assert_eq!(
        counter(&recorded, "retry_attempts_total", payments),
        Some(2)
    );

    // Other threads feed it too; a scoped recorder on this thread takes over while in scope.
    std::thread::spawn({
        let pipeline = pipeline.clone();
        move || pipeline.call_blocking(|| Ok::<_, &str>(())).unwrap()
    })
    .join()
    .unwrap();
    let scoped = DebuggingRecorder::new();
    let scoped_snapshots = scoped.snapshotter();
    metrics::with_local_recorder(&scoped, || {
        pipeline.call_blocking(|| Ok::<_, &str>(())).unwrap();
    });
    pipeline.call_blocking(|| Ok::<_, &str>(())).unwrap();
    // The other thread's call and the one after the scope; not the scoped one.
    assert_eq!(
        counter(
            &counters(&snapshotter),
            "circuit_breaker_successes_total",
            payments
        ),
        Some(2)
    );
    assert_eq!(
        counter(
            &counters(&scoped_snapshots),
            "circuit_breaker_successes_total",
            payments
        ),
        Some(1)
    );
}
