//! Waiting acquisition: FIFO order, cancellation, max wait — on tokio's paused clock or a
//! manual clock; nothing sleeps for real.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::time::ms;
use palisade::clock::{Clock, ManualClock};
use palisade::rate_limit::{Algorithm, Denied, Rate, RateLimiter};

fn ten_per_second(clock: impl Into<Clock>) -> RateLimiter {
    RateLimiter::builder(Algorithm::Gcra {
        rate: Rate::per_second(10),
        burst: 1,
    })
    .clock(clock)
    .build()
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_in_arrival_order_one_interval_apart() {
    let limiter = ten_per_second(Clock::tokio());
    let start = tokio::time::Instant::now();
    let served = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for id in 0..5 {
        let (l, served) = (limiter.clone(), served.clone());
        tasks.push(tokio::spawn(async move {
            l.acquire_n(1, None).await.unwrap();
            served.lock().unwrap().push((id, start.elapsed()));
        }));
        // Let the task reach the queue before the next one arrives.
        tokio::task::yield_now().await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    let expected: Vec<_> = (0..5).map(|i| (i, ms(100 * i as u64))).collect();
    assert_eq!(*served.lock().unwrap(), expected);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_leaves_the_queue_and_takes_nothing() {
    let limiter = ten_per_second(Clock::tokio());
    limiter.acquire_n(1, None).await.unwrap(); // the burst is used: next permit at 100 ms
    let start = tokio::time::Instant::now();
    // A waiter that gives up after 50 ms, before its permit comes.
    let cancelled = tokio::time::timeout(ms(50), limiter.acquire_n(1, None)).await;
    assert!(cancelled.is_err());
    // The next waiter is not held up by it, and gets the permit the cancelled one never took.
    limiter.acquire_n(1, None).await.unwrap();
    assert_eq!(start.elapsed(), ms(100));
    assert!(
        limiter.try_acquire().is_err(),
        "exactly one permit per interval"
    );
}

#[tokio::test(start_paused = true)]
async fn a_wait_longer_than_max_wait_fails_at_once_with_its_retry_after() {
    let limiter = ten_per_second(Clock::tokio());
    limiter.acquire_n(1, None).await.unwrap();
    let start = tokio::time::Instant::now();
    let denied = limiter.acquire_n(1, Some(ms(99))).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::ZERO, "did not wait");
    assert_eq!(denied.retry_after(), Some(ms(100)));
    // A max wait that covers it waits and succeeds.
    limiter.acquire_n(1, Some(ms(100))).await.unwrap();
    assert_eq!(start.elapsed(), ms(100));
}

#[tokio::test(start_paused = true)]
async fn asking_for_more_than_the_burst_fails_at_once_instead_of_waiting_forever() {
    let limiter = ten_per_second(Clock::tokio());
    let denied = limiter.acquire_n(2, None).await.unwrap_err();
    assert_eq!(
        denied,
        Denied::ExceedsCapacity {
            requested: 2,
            capacity: 1
        }
    );
}

#[test]
fn blocking_acquire_waits_on_virtual_time() {
    let clock = ManualClock::new();
    let limiter = ten_per_second(clock.clone());
    for i in 0..5u64 {
        limiter.acquire_n_blocking(1, None).unwrap();
        assert_eq!(clock.now().as_nanos(), i * 100_000_000);
    }
    assert!(limiter.acquire_n_blocking(1, Some(ms(50))).is_err());
    assert_eq!(
        clock.now().as_nanos(),
        400_000_000,
        "a refused wait does not advance time"
    );
}

#[test]
fn blocking_waiters_on_threads_never_over_admit() {
    // Four threads each take five permits on a manual clock; time only moves by their waits,
    // so 20 permits at 10/s with burst 1 need exactly 1.9 s of virtual time.
    let clock = ManualClock::new();
    let limiter = ten_per_second(clock.clone());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..5 {
                    limiter.acquire_n_blocking(1, None).unwrap();
                }
            });
        }
    });
    assert_eq!(clock.now().as_nanos(), 1_900_000_000);
}

#[tokio::test(start_paused = true)]
async fn max_wait_bounds_the_whole_wait_including_the_queue_ahead() {
    // The burst is spent: the next permit is at 100 ms and goes to the waiter ahead; the
    // caller behind it would be served at 200 ms, past its 150 ms bound.
    let limiter = ten_per_second(Clock::tokio());
    limiter.acquire_n(1, None).await.unwrap();
    let start = tokio::time::Instant::now();
    let ahead = tokio::spawn({
        let l = limiter.clone();
        async move {
            l.acquire_n(1, None).await.unwrap();
            start.elapsed()
        }
    });
    tokio::task::yield_now().await; // the waiter ahead joins the queue first
    let behind = limiter.acquire_n(1, Some(ms(150))).await;
    assert!(
        start.elapsed() <= ms(150),
        "gave up after {:?}, past its max_wait",
        start.elapsed()
    );
    assert!(behind.is_err(), "served past its max_wait: {behind:?}");
    assert_eq!(ahead.await.unwrap(), ms(100));
    // With room for the queue, the same request is served at its turn.
    let start = tokio::time::Instant::now();
    limiter.acquire_n(1, Some(ms(100))).await.unwrap();
    assert_eq!(start.elapsed(), ms(100));
}
