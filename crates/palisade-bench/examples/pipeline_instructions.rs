//! `pipeline/happy_path` for an instruction counter: runs one id's call `n` times.
//!
//! `cargo build --release -p palisade-bench --example pipeline_instructions`, then run it
//! under `valgrind --tool=callgrind` with `n` and `2n`: the difference of the two totals over
//! `n` is the id's instructions per call. The pipeline is that of `benches/pipeline.rs`.
//!
//! Usage: `pipeline_instructions <palisade|palisade_metrics> <n>`.

use std::hint::black_box;

use palisade::observe::Prometheus;

async fn operation() -> Result<u64, std::io::Error> {
    Ok(black_box(42))
}

/// The pipeline of `benches/pipeline.rs`.
fn builder() -> palisade::pipeline::PipelineBuilder {
    palisade_bench::happy_path_pipeline()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let id = args.next().unwrap_or_default();
    let n: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
    let (pipeline, prometheus) = match id.as_str() {
        "palisade" => (builder().build(), None),
        "palisade_metrics" => {
            let prometheus = Prometheus::new()
                .install()
                .unwrap_or_else(|e| panic!("the only recorder: {e}"));
            (
                builder().on_event(prometheus.listener()).build(),
                Some(prometheus),
            )
        }
        other => panic!("unknown id {other:?}"),
    };
    let pipeline = pipeline.unwrap_or_else(|e| panic!("pipeline config must build: {e}"));
    rt.block_on(async {
        for i in 0..n {
            black_box(pipeline.call(operation).await.ok());
            if i % 4096 == 0
                && let Some(p) = &prometheus
            {
                p.run_upkeep();
            }
        }
    });
}
