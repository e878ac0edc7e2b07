//! A small workload through a registry built from a configuration file, with every policy's
//! events exported as Prometheus metrics.
//!
//! `cargo run -p palisade --all-features --example observability`
//!
//! - `payments` (preset api, 5/s burst 5): 8 calls at once, so 3 are rate limited; every
//!   other call fails once and is retried.
//! - `inventory` (preset database, breaker after 3 consecutive failures): the database is
//!   down, so the breaker trips and later calls fail fast.
//! - `recommendations` (preset ml, 200 ms per attempt): one call hangs and times out.
//!
//! Time is virtual (tokio's paused clock), so the run takes milliseconds and prints the same
//! counts every time. The Prometheus exposition goes to stdout; a summary (health and status)
//! goes to stderr.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use palisade::clock::Clock;
use palisade::config::Loader;
use palisade::health::HealthCheck;
use palisade::observe::Prometheus;
use palisade::registry::Registry;
use palisade::status::History;

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/observability.toml");
    // Files < environment (PALISADE_PAYMENTS_MAX_ATTEMPTS=... overrides) < code.
    let config = Loader::new().file(&file).env_prefix("PALISADE").load()?;

    // The application installs the exporter; palisade publishes through the `metrics` facade.
    let prometheus = Prometheus::new().install()?;
    let listener = prometheus.listener();
    let history = History::new(20);
    let registry = Registry::new(WithObservability {
        config,
        listener: listener.clone(),
    })
    .with_history(history);
    registry.create_all()?;
    for (name, pipeline) in registry.pipelines() {
        if let Some(breaker) = pipeline.circuit_breaker() {
            listener.record_breaker_state(&name, breaker.state());
        }
    }

    // payments: 8 calls at once against a quota of 5; every call fails its first attempt.
    let payments = registry.pipeline("payments")?;
    let flaky = AtomicU32::new(0);
    let calls = (0..8).map(|_| {
        payments.call(|| {
            let n = flaky.fetch_add(1, Ordering::Relaxed);
            async move {
                if n.is_multiple_of(2) {
                    // A 503 "come back later": the provider did nothing, so even a
                    // non-idempotent charge is retried.
                    Err(io::Error::new(
                        io::ErrorKind::ConnectionRefused,
                        format!("503 from the payment provider (request {n})"),
                    ))
                } else {
                    Ok("charged")
                }
            }
        })
    });
    let results = futures_join(calls).await;
    let limited = results
        .iter()
        .filter(|r| matches!(r, Err(palisade::Error::RateLimited { .. })))
        .count();
    eprintln!(
        "payments: {} ok, {limited} rate limited",
        results.iter().filter(|r| r.is_ok()).count()
    );

    // inventory: the database is down; the breaker opens and the last calls fail fast.
    let inventory = registry.pipeline("inventory")?;
    for _ in 0..5 {
        let result = inventory
            .call(|| async { Err::<u32, _>(io::Error::from(io::ErrorKind::ConnectionRefused)) })
            .await;
        if let Err(error) = result {
            eprintln!("inventory: {error}");
        }
    }

    // recommendations: one hanging call times out (per attempt), then a fast one succeeds.
    let recommendations = registry.pipeline("recommendations")?;
    let slow = recommendations
        .call(|| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, std::io::Error>(vec!["never"])
        })
        .await;
    eprintln!("recommendations: {slow:?}");
    let fast = recommendations
        .call(|| async { Ok::<_, std::io::Error>(vec!["socks"]) })
        .await;
    eprintln!("recommendations: {fast:?}");

    let health = registry.health(&HealthCheck::new());
    eprintln!(
        "health: {} (open: {:?}, degraded: {:?})",
        health.overall, health.open_breakers, health.degraded_breakers
    );
    for policy in registry.status().policies {
        eprintln!(
            "status: {:<16} {} calls, success rate {:?}",
            policy.name, policy.calls.total, policy.calls.success_rate
        );
    }

    prometheus.run_upkeep();
    print!("{}", prometheus.render());
    Ok(())
}

/// The configuration, with every pipeline on tokio's (paused) clock and reporting to the
/// metrics listener.
struct WithObservability {
    config: palisade::config::PalisadeConfig,
    listener: palisade::observe::MetricsListener,
}

impl palisade::registry::PipelineSource for WithObservability {
    fn builder(
        &self,
        name: &str,
    ) -> Option<Result<palisade::pipeline::ClassifiedBuilder, palisade::ConfigError>> {
        palisade::registry::PipelineSource::builder(&self.config, name)
            .map(|b| b.map(|b| b.clock(Clock::tokio()).on_event(self.listener.clone())))
    }

    fn build(
        &self,
        name: &str,
        decorate: &dyn Fn(
            palisade::pipeline::ClassifiedBuilder,
        ) -> palisade::pipeline::ClassifiedBuilder,
    ) -> Option<Result<palisade::pipeline::Classified, palisade::ConfigError>> {
        let listener = self.listener.clone();
        palisade::registry::PipelineSource::build(&self.config, name, &move |b| {
            decorate(b.clock(Clock::tokio()).on_event(listener.clone()))
        })
    }

    fn names(&self) -> Vec<String> {
        palisade::registry::PipelineSource::names(&self.config)
    }

    fn resilience_enabled(&self) -> bool {
        palisade::registry::PipelineSource::resilience_enabled(&self.config)
    }

    fn disabled(&self, name: &str) -> palisade::pipeline::Disabled {
        self.config.disabled(name)
    }
}

/// Runs the futures concurrently on this task and collects their outputs in order.
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.map(Box::pin).map(Some).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => {
                        *output = Some(value);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
