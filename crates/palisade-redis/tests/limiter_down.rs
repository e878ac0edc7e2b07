//! Limiters while Redis is stopped or paused: every call returns within the Redis timeout
//! plus a small margin, each `WhenDown` mode decides as documented, and shared decisions
//! resume within a second of Redis's return.

mod common;
mod limiter_support;

use std::time::{Duration, Instant};

use common::RedisServer;
use limiter_support::{backend, limiter, manual_clock};
use palisade::rate_limit::{Algorithm, Denied, Rate};
use palisade_redis::WhenDown;

/// The Redis timeout these tests run with (the default).
const TIMEOUT: Duration = Duration::from_millis(5);
/// What a call may take beyond it: the hand-over to the backend's thread on a busy machine.
const MARGIN: Duration = Duration::from_millis(25);

#[derive(Debug, Clone, Copy)]
enum Outage {
    Stopped,
    Paused,
}

fn evalsha_calls(server: &RedisServer) -> u64 {
    server
        .cli(&["INFO", "commandstats"])
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Runs one outage for each mode; returns the slowest call seen.
async fn outage(kind: Outage) -> Duration {
    let mut server = RedisServer::start();
    let mut worst = Duration::ZERO;
    for mode in [WhenDown::Local, WhenDown::Allow, WhenDown::Reject] {
        let redis = backend(&server.url())
            .timeout(TIMEOUT)
            .fleet_size(2)
            .limiter_when_down(mode)
            .connect()
            .await
            .unwrap();
        let clock = manual_clock();
        // A burst of 10 and no refill during the test.
        let algorithm = Algorithm::Gcra {
            rate: Rate::new(1, Duration::from_secs(3600)),
            burst: 10,
        };
        let l = limiter(&redis, &format!("{mode:?}"), algorithm, &clock);
        assert!(l.try_acquire_async(1).await.is_ok());

        match kind {
            Outage::Stopped => server.stop(),
            Outage::Paused => server.pause(),
        }
        let mut decisions = Vec::new();
        for call in 0..60 {
            let start = Instant::now();
            let decision = if call % 2 == 0 {
                l.try_acquire_async(1).await
            } else {
                l.try_acquire()
            };
            worst = worst.max(start.elapsed());
            decisions.push(decision);
        }
        let granted = decisions.iter().filter(|d| d.is_ok()).count();
        match mode {
            // This instance's share: 10 / fleet_size 2, decided in process.
            WhenDown::Local => assert_eq!(granted, 5, "{kind:?} {mode:?}"),
            WhenDown::Allow => assert_eq!(granted, 60, "{kind:?} {mode:?}"),
            WhenDown::Reject => {
                assert_eq!(granted, 0, "{kind:?} {mode:?}");
                // Refused until the link's next probe (the probe interval, 20 ms here).
                for d in &decisions {
                    assert!(
                        matches!(d, Err(Denied::RateLimited { retry_after, .. }) if *retry_after == Duration::from_millis(20)),
                        "{d:?}"
                    );
                }
            }
            _ => unreachable!(),
        }
        assert!(
            !redis.status().up,
            "{kind:?} {mode:?}: the outage was noticed"
        );

        let before = match kind {
            Outage::Stopped => {
                server.restart();
                0
            }
            Outage::Paused => {
                server.resume();
                evalsha_calls(&server)
            }
        };
        let back = Instant::now();
        loop {
            let decision = l.try_acquire_async(1).await;
            if evalsha_calls(&server) > before {
                // Redis decided: a grant (the shared burst is not spent).
                assert!(decision.is_ok(), "{kind:?} {mode:?}: {decision:?}");
                break;
            }
            assert!(
                back.elapsed() < Duration::from_secs(1),
                "{kind:?} {mode:?}: shared decisions did not resume within 1 s"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        eprintln!(
            "{kind:?} {mode:?}: shared decisions resumed after {:?}",
            back.elapsed()
        );
    }
    worst
}

#[tokio::test]
async fn a_stopped_redis_costs_at_most_the_timeout_and_each_mode_decides_as_documented() {
    let _serial = common::one_at_a_time().await;
    let worst = outage(Outage::Stopped).await;
    eprintln!("worst call with Redis stopped: {worst:?}");
    assert!(worst <= TIMEOUT + MARGIN, "{worst:?}");
}

#[tokio::test]
async fn a_paused_redis_costs_at_most_the_timeout_and_each_mode_decides_as_documented() {
    let _serial = common::one_at_a_time().await;
    let worst = outage(Outage::Paused).await;
    eprintln!("worst call with Redis paused: {worst:?}");
    assert!(worst <= TIMEOUT + MARGIN, "{worst:?}");
}
