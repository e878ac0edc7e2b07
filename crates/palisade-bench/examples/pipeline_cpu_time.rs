//! `pipeline/happy_path` in on-CPU time, for comparing the metrics cost of two builds on a
//! busy machine, where criterion's wall-clock figures move by tens of percent between runs.
//!
//! `palisade` and `palisade_metrics` (the pipeline of `benches/pipeline.rs`, the second with
//! the listener of a globally installed Prometheus recorder) run in alternating rounds, each
//! timed by the thread's own run time (`/proc/thread-self/schedstat`, Linux), so time the
//! thread spends descheduled is not counted. Histogram samples are drained (`run_upkeep`)
//! between rounds, outside the timing, as the bench does between samples. Prints, per id,
//! the median and the lowest round in ns per call, and the median of the per-round
//! differences: the metrics cost.
//!
//! `cargo build --release -p palisade-bench --example pipeline_cpu_time`, then run each
//! build's binary in turn, several times. Usage: `pipeline_cpu_time [rounds] [calls per
//! round]` (default 41 rounds of 200,000 calls, the first round a warm-up).

use std::hint::black_box;

use palisade::observe::Prometheus;

async fn operation() -> Result<u64, std::io::Error> {
    Ok(black_box(42))
}

/// Nanoseconds this thread has run on a CPU.
fn on_cpu() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("/proc/thread-self/schedstat"))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(41)
        .max(1);
    let calls: u64 = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000)
        .max(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    let plain = palisade_bench::happy_path_pipeline()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let prometheus = Prometheus::new()
        .install()
        .unwrap_or_else(|e| panic!("the only recorder: {e}"));
    let observed = palisade_bench::happy_path_pipeline()
        .on_event(prometheus.listener())
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let (mut a, mut b, mut d) = (Vec::new(), Vec::new(), Vec::new());
    rt.block_on(async {
        for round in 0..=rounds {
            let start = on_cpu();
            for _ in 0..calls {
                black_box(plain.call(operation).await.ok());
            }
            let plain_ns = (on_cpu() - start) as f64 / calls as f64;
            prometheus.run_upkeep();
            let start = on_cpu();
            for _ in 0..calls {
                black_box(observed.call(operation).await.ok());
            }
            let observed_ns = (on_cpu() - start) as f64 / calls as f64;
            prometheus.run_upkeep();
            // Round 0 warms up.
            if round > 0 {
                a.push(plain_ns);
                b.push(observed_ns);
                d.push(observed_ns - plain_ns);
            }
        }
    });
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "palisade {:.1} (min {:.1})  palisade_metrics {:.1} (min {:.1})  difference {:.1} (min-min {:.1})",
        median(&mut a.clone()),
        min(&a),
        median(&mut b.clone()),
        min(&b),
        median(&mut d),
        min(&b) - min(&a),
    );
}
