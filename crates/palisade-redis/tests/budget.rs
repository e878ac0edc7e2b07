//! Retry budgets shared through a real Redis: the ratio holds over the fleet's calls.

mod common;

use std::time::Duration;

use common::{RedisServer, eventually};
use palisade::clock::ManualClock;
use palisade::retry::RetryBudget;
use palisade_redis::RedisBackend;

async fn instance(server: &RedisServer) -> RedisBackend {
    RedisBackend::builder()
        .url(server.url())
        .flush_interval(Duration::from_millis(2))
        .connect()
        .await
        .unwrap()
}

fn strict(clock: &ManualClock) -> palisade::retry::RetryBudgetBuilder {
    // 10 % of calls, no floor: every retry must be earned by a call somewhere in the fleet.
    RetryBudget::builder()
        .ratio(0.1)
        .min_retries_per_sec(0)
        .clock(clock.clone())
}

#[tokio::test]
async fn retries_stay_a_share_of_the_fleets_calls_whichever_instance_makes_them() {
    let server = RedisServer::start();
    let clock = ManualClock::new();
    let (a, b) = (instance(&server).await, instance(&server).await);
    let busy = a.retry_budget("payments", strict(&clock)).unwrap();
    let quiet = b.retry_budget("payments", strict(&clock)).unwrap();

    // Alone, the quiet instance has earned nothing.
    assert!(!quiet.try_withdraw());
    for _ in 0..100 {
        busy.deposit();
    }
    eventually(
        Duration::from_secs(2),
        "quiet hears the busy instance's calls",
        || quiet.stats().peer_calls == 100,
    )
    .await;
    // The fleet's 100 calls earn 10 retries, and the quiet instance may take them.
    assert_eq!((0..20).filter(|_| quiet.try_withdraw()).count(), 10);
    // Once the busy instance hears of them, it has none left either.
    eventually(
        Duration::from_secs(2),
        "busy hears the quiet instance's retries",
        || busy.stats().peer_retries == 10,
    )
    .await;
    assert!(!busy.try_withdraw());
    assert_eq!(busy.stats().available, 0);
}

#[tokio::test]
async fn budgets_of_other_names_are_not_shared_and_redis_down_costs_nothing() {
    let mut server = RedisServer::start();
    let clock = ManualClock::new();
    let (a, b) = (instance(&server).await, instance(&server).await);
    let payments = a.retry_budget("payments", strict(&clock)).unwrap();
    let search = b.retry_budget("search", strict(&clock)).unwrap();
    for _ in 0..50 {
        payments.deposit();
    }
    eventually(Duration::from_secs(2), "payments exchanged", || {
        a.status().up && payments.stats().calls == 50
    })
    .await;
    // Give the exchange time to run a few rounds: search must still see no peers.
    let other = b.retry_budget("payments", strict(&clock)).unwrap();
    eventually(
        Duration::from_secs(2),
        "a second payments budget hears the first",
        || other.stats().peer_calls == 50,
    )
    .await;
    assert_eq!(search.stats().peer_calls, 0);

    // Redis gone: decisions stay local and immediate, with the peers last heard.
    server.stop();
    let start = std::time::Instant::now();
    let granted = (0..10).filter(|_| other.try_withdraw()).count();
    assert!(
        start.elapsed() < Duration::from_millis(50),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(granted, 5);
}
