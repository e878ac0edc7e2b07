//! Waiting for a key's permit (governor's `until_key_ready`): FIFO per key, independent keys,
//! cancel safety, a maximum wait that covers the queue, blocking waits — on tokio's paused
//! clock or a manual clock; nothing sleeps for real.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::time::ms;
use palisade::clock::{Clock, ManualClock};
use palisade::rate_limit::{Algorithm, Denied, KeyedRateLimiter, Rate};

const A: u32 = 1;
const B: u32 = 2;

/// 10 per second per key, burst 1: one permit per key every 100 ms.
fn ten_per_second(clock: impl Into<Clock>) -> KeyedRateLimiter<u32> {
    KeyedRateLimiter::builder(Algorithm::Gcra {
        rate: Rate::per_second(10),
        burst: 1,
    })
    .clock(clock)
    .build()
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn waiters_of_one_key_are_served_in_arrival_order_and_keys_do_not_wait_for_each_other() {
    let limiter = ten_per_second(Clock::tokio());
    let start = tokio::time::Instant::now();
    let served = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for (id, key) in [(0, A), (1, A), (2, B), (3, A), (4, B)] {
        let (l, served) = (limiter.clone(), served.clone());
        tasks.push(tokio::spawn(async move {
            l.acquire_n(&key, 1, None).await.unwrap();
            served.lock().unwrap().push((id, start.elapsed()));
        }));
        tokio::task::yield_now().await; // arrival order is the order of joining the queue
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut served = served.lock().unwrap().clone();
    served.sort_by_key(|&(id, _)| id);
    assert_eq!(
        served,
        vec![
            (0, ms(0)),
            (1, ms(100)),
            (2, ms(0)),
            (3, ms(200)),
            (4, ms(100))
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_leaves_its_keys_queue_holding_nothing() {
    let limiter = ten_per_second(Clock::tokio());
    limiter.acquire_n(&A, 1, None).await.unwrap();
    let start = tokio::time::Instant::now();
    let cancelled = tokio::time::timeout(ms(50), limiter.acquire_n(&A, 1, None)).await;
    assert!(cancelled.is_err());
    // The next waiter gets the permit the cancelled one never took, on time.
    limiter.acquire_n(&A, 1, None).await.unwrap();
    assert_eq!(start.elapsed(), ms(100));
    assert!(limiter.try_acquire(&A).is_err(), "one permit per interval");
}

#[tokio::test(start_paused = true)]
async fn max_wait_bounds_the_whole_wait_including_the_keys_queue() {
    let limiter = ten_per_second(Clock::tokio());
    limiter.acquire_n(&A, 1, None).await.unwrap();
    let start = tokio::time::Instant::now();
    let ahead = tokio::spawn({
        let l = limiter.clone();
        async move {
            l.acquire_n(&A, 1, None).await.unwrap();
            start.elapsed()
        }
    });
    tokio::task::yield_now().await;
    let behind = limiter.acquire_n(&A, 1, Some(ms(150))).await;
    assert!(start.elapsed() <= ms(150), "waited {:?}", start.elapsed());
    assert!(
        matches!(behind, Err(Denied::RateLimited { .. })),
        "{behind:?}"
    );
    assert_eq!(ahead.await.unwrap(), ms(100));
    // Another key's bound is its own.
    limiter
        .acquire_n(&B, 1, Some(Duration::ZERO))
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn more_than_a_key_can_ever_hold_fails_at_once() {
    let limiter = ten_per_second(Clock::tokio());
    let start = tokio::time::Instant::now();
    let out = limiter.acquire_n(&A, 2, None).await;
    assert!(
        matches!(
            out,
            Err(Denied::ExceedsCapacity {
                requested: 2,
                capacity: 1
            })
        ),
        "{out:?}"
    );
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[test]
fn blocking_waits_for_a_key_run_on_virtual_time() {
    let clock = ManualClock::new();
    let limiter = ten_per_second(clock.clone());
    for i in 0..3u64 {
        limiter.acquire_n_blocking(&A, 1, None).unwrap();
        assert_eq!(clock.now().as_nanos(), i * 100_000_000);
    }
    // Key B is untouched by a's waits.
    limiter
        .acquire_n_blocking(&B, 1, Some(Duration::ZERO))
        .unwrap();
    assert!(limiter.acquire_n_blocking(&A, 1, Some(ms(50))).is_err());
    assert_eq!(
        clock.now().as_nanos(),
        200_000_000,
        "a refused wait does not advance time"
    );
}

#[test]
fn blocking_waiters_of_one_key_on_threads_never_over_admit() {
    // Four threads take five permits each of one key: 20 permits at 10/s, burst 1, need
    // exactly 1.9 s of virtual time.
    let clock = ManualClock::new();
    let limiter = ten_per_second(clock.clone());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..5 {
                    limiter.acquire_n_blocking(&A, 1, None).unwrap();
                }
            });
        }
    });
    assert_eq!(clock.now().as_nanos(), 1_900_000_000);
}
