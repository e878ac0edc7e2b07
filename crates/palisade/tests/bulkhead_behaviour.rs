//! The bulkhead's guarantees: the limit under concurrency (tasks and threads), rejection,
//! FIFO waiting, bounded waits, cancellation — on tokio's paused clock or a manual clock;
//! nothing here sleeps for real.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use common::time::ms;
use palisade::Error;
use palisade::bulkhead::{Bulkhead, BulkheadConfig, BulkheadEvent, RejectReason};
use palisade::clock::{Clock, ManualClock};
use palisade::event::Event;

fn bulkhead(max_concurrent: usize, max_queue: usize) -> Bulkhead {
    Bulkhead::builder()
        .name("db")
        .max_concurrent(max_concurrent)
        .max_queue(max_queue)
        .build()
        .unwrap()
}

/// Counts calls in flight and remembers the peak.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Gauge {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

/// Polls `future` once, so it joins the queue, without awaiting it.
async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *future).poll(cx))).await
}

/// Yields until `condition` holds (other tasks run meanwhile; no time passes).
async fn until(condition: impl Fn() -> bool) {
    while !condition() {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn never_more_than_max_concurrent_calls_in_flight_across_tasks() {
    let b = bulkhead(3, usize::MAX);
    let gauge = Arc::new(Gauge::default());
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let (b, gauge) = (b.clone(), gauge.clone());
        tasks.push(tokio::spawn(async move {
            b.call(|| async {
                gauge.enter();
                for _ in 0..5 {
                    tokio::task::yield_now().await;
                }
                gauge.leave();
                Ok::<_, ()>(())
            })
            .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap(); // everyone got a slot eventually: the queue is unbounded
    }
    assert!(gauge.peak() <= 3, "peak {} > 3", gauge.peak());
    assert!(gauge.peak() >= 1);
    assert_eq!((b.in_flight(), b.available(), b.queued()), (0, 3, 0));
}

#[tokio::test]
async fn a_full_bulkhead_without_a_queue_rejects_at_once_without_polling() {
    let b = bulkhead(2, 0);
    let _held = (b.try_acquire().unwrap(), b.try_acquire().unwrap());
    let polled = AtomicBool::new(false);
    let out = b
        .call(|| async {
            polled.store(true, Ordering::SeqCst);
            Ok::<_, std::io::Error>(())
        })
        .await;
    match out {
        Err(Error::BulkheadFull {
            name,
            max_concurrent,
            reason,
            ..
        }) => assert_eq!(
            (&*name, max_concurrent, reason),
            ("db", 2, RejectReason::Full)
        ),
        other => panic!("expected BulkheadFull, got {other:?}"),
    }
    assert!(!polled.load(Ordering::SeqCst));
    let rejected = b.acquire().await.unwrap_err();
    assert_eq!(rejected.reason(), RejectReason::Full);
    assert_eq!(
        rejected.to_string(),
        "bulkhead 'db' is full: all 2 concurrent slots are busy"
    );
    assert_eq!(
        b.call_blocking(|| Ok::<_, std::io::Error>(()))
            .unwrap_err()
            .to_string(),
        "bulkhead 'db' is full: all 2 concurrent slots are busy"
    );
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_in_arrival_order() {
    let b = bulkhead(1, 10);
    let holder = b.acquire().await.unwrap();
    let served = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for id in 0..5 {
        let (b2, served) = (b.clone(), served.clone());
        tasks.push(tokio::spawn(async move {
            b2.call(|| async {
                served.lock().unwrap().push(id);
                tokio::time::sleep(ms(10)).await;
                Ok::<_, ()>(())
            })
            .await
        }));
        let queued = id + 1;
        until(|| b.queued() == queued).await; // arrival order is the order of joining the queue
    }
    drop(holder);
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(*served.lock().unwrap(), [0, 1, 2, 3, 4]);
}

#[tokio::test(start_paused = true)]
async fn a_released_slot_goes_to_the_first_waiter_not_to_a_newcomer() {
    let b = bulkhead(1, 5);
    let holder = b.try_acquire().unwrap();
    let waiter = tokio::spawn({
        let b = b.clone();
        async move { b.acquire().await.map(|_permit| ()) }
    });
    until(|| b.queued() == 1).await;
    drop(holder); // handed to the waiter, which has not run yet
    assert_eq!(b.available(), 0);
    assert_eq!(b.try_acquire().unwrap_err().reason(), RejectReason::Full);
    waiter.await.unwrap().unwrap();
    assert_eq!(b.available(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_rejects_at_once() {
    let b = bulkhead(1, 2);
    let _holder = b.try_acquire().unwrap();
    let mut first = Box::pin(b.acquire());
    let mut second = Box::pin(b.acquire());
    assert!(poll_once(&mut first).await.is_pending());
    assert!(poll_once(&mut second).await.is_pending());
    assert_eq!(b.queued(), 2);
    let start = tokio::time::Instant::now();
    let third = b.acquire().await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(third.reason(), RejectReason::QueueFull { max_queue: 2 });
    let message =
        "bulkhead 'db' is full: all 1 concurrent slots are busy and 2 calls are already waiting";
    assert_eq!(third.to_string(), message);
    // A call says the same, and why, in its error.
    let call = b.call(|| async { Ok::<_, std::io::Error>(()) }).await;
    let err = call.unwrap_err();
    assert!(
        matches!(
            err,
            Error::BulkheadFull {
                reason: RejectReason::QueueFull { max_queue: 2 },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), message);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_gives_up_after_max_wait() {
    let b = Bulkhead::builder()
        .name("db")
        .max_concurrent(1)
        .max_queue(1)
        .max_wait(ms(100))
        .clock(Clock::tokio())
        .build()
        .unwrap();
    let holder = b.try_acquire().unwrap();
    let start = tokio::time::Instant::now();
    let rejected = b.acquire().await.unwrap_err();
    assert_eq!(start.elapsed(), ms(100));
    assert_eq!(
        rejected.reason(),
        RejectReason::WaitedTooLong { max_wait: ms(100) }
    );
    assert_eq!((b.queued(), b.in_flight()), (0, 1));
    // A call that waited too long says so in its error.
    let err = b
        .call(|| async { Ok::<_, std::io::Error>(()) })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::BulkheadFull {
                reason: RejectReason::WaitedTooLong { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "bulkhead 'db' is full: none of its 1 concurrent slots came free within 100ms"
    );

    // A slot that comes free within max_wait is taken, and the wait is measured.
    let releaser = tokio::spawn(async move {
        tokio::time::sleep(ms(40)).await;
        drop(holder);
    });
    let start = tokio::time::Instant::now();
    let permit = b.acquire().await.unwrap();
    assert_eq!(start.elapsed(), ms(40));
    releaser.await.unwrap();
    drop(permit);
    assert_eq!(b.available(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_waiter_leaves_the_queue_and_holds_nothing() {
    let b = bulkhead(1, 5);
    let holder = b.try_acquire().unwrap();
    // Cancelled by an outer timeout while queued.
    let cancelled = tokio::time::timeout(ms(50), b.acquire()).await;
    assert!(cancelled.is_err());
    assert_eq!(b.queued(), 0);

    // Cancelled behind another waiter: the one behind it is served, nothing leaks.
    let mut dropped = Box::pin(b.acquire());
    assert!(poll_once(&mut dropped).await.is_pending());
    let behind = tokio::spawn({
        let b = b.clone();
        async move { b.acquire().await.map(|_permit| ()) }
    });
    until(|| b.queued() == 2).await;
    drop(dropped);
    assert_eq!(b.queued(), 1);
    drop(holder);
    behind.await.unwrap().unwrap();
    assert_eq!((b.available(), b.queued()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_waiter_dropped_after_its_slot_was_granted_passes_the_slot_on() {
    let b = bulkhead(1, 5);
    let holder = b.try_acquire().unwrap();
    let mut granted_unseen = Box::pin(b.acquire());
    let mut next = Box::pin(b.acquire());
    assert!(poll_once(&mut granted_unseen).await.is_pending());
    assert!(poll_once(&mut next).await.is_pending());
    drop(holder); // the slot goes to `granted_unseen`, which is never polled again
    drop(granted_unseen); // ... and passes it on to `next`
    let permit = match poll_once(&mut next).await {
        Poll::Ready(permit) => permit.unwrap(),
        Poll::Pending => panic!("the slot was not passed on"),
    };
    assert_eq!((b.available(), b.queued()), (0, 0));
    drop(permit);
    // With nobody behind it, a granted slot dropped unseen goes back to the free count.
    let holder = b.try_acquire().unwrap();
    let mut alone = Box::pin(b.acquire());
    assert!(poll_once(&mut alone).await.is_pending());
    drop(holder);
    drop(alone);
    assert_eq!((b.available(), b.queued()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn dropping_an_in_flight_call_releases_its_slot() {
    let b = bulkhead(1, 0);
    let hung = b.call(std::future::pending::<Result<(), ()>>);
    assert!(tokio::time::timeout(ms(10), hung).await.is_err());
    assert_eq!((b.in_flight(), b.available()), (0, 1));
    // An owned permit moved into a task is released when the task is aborted.
    let permit = b.try_acquire().unwrap();
    let task = tokio::spawn(async move {
        let _permit = permit;
        std::future::pending::<()>().await;
    });
    tokio::task::yield_now().await;
    assert_eq!(b.in_flight(), 1);
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(b.in_flight(), 0);
}

#[test]
fn a_panicking_blocking_call_releases_its_slot() {
    let b = bulkhead(1, 0);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        b.call_blocking(|| -> Result<(), ()> { panic!("boom") })
    }));
    assert!(caught.is_err());
    assert_eq!((b.in_flight(), b.available()), (0, 1));
    assert_eq!(b.call_blocking(|| Ok::<_, ()>(1)), Ok(1));
}

#[test]
fn std_threads_never_over_admit() {
    const THREADS: usize = 8;
    const ROUNDS: usize = 2_000;
    let b = bulkhead(3, usize::MAX);
    let gauge = Arc::new(Gauge::default());
    let rejected = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (b, gauge, rejected) = (b.clone(), gauge.clone(), rejected.clone());
            std::thread::spawn(move || {
                for round in 0..ROUNDS {
                    let work = || {
                        gauge.enter();
                        std::hint::spin_loop();
                        gauge.leave();
                    };
                    match (t + round) % 3 {
                        0 => match b.try_acquire() {
                            Ok(_permit) => work(),
                            Err(_) => {
                                rejected.fetch_add(1, Ordering::Relaxed);
                            }
                        },
                        1 => {
                            let _permit = b.acquire_blocking().unwrap();
                            work();
                        }
                        _ => b
                            .call_blocking(|| {
                                work();
                                Ok::<_, ()>(())
                            })
                            .unwrap(),
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(gauge.peak() <= 3, "peak {} > 3", gauge.peak());
    assert_eq!((b.in_flight(), b.available(), b.queued()), (0, 3, 0));
}

#[test]
fn async_and_blocking_callers_share_the_same_slots() {
    let b = bulkhead(2, usize::MAX);
    let gauge = Arc::new(Gauge::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (b, gauge) = (b.clone(), gauge.clone());
            std::thread::spawn(move || {
                for _ in 0..500 {
                    b.call_blocking(|| {
                        gauge.enter();
                        std::thread::yield_now();
                        gauge.leave();
                        Ok::<_, ()>(())
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (b, gauge) = (b.clone(), gauge.clone());
                tokio::spawn(async move {
                    for _ in 0..500 {
                        b.call(|| async {
                            gauge.enter();
                            tokio::task::yield_now().await;
                            gauge.leave();
                            Ok::<_, ()>(())
                        })
                        .await
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    assert!(gauge.peak() <= 2, "peak {} > 2", gauge.peak());
    assert_eq!((b.in_flight(), b.available(), b.queued()), (0, 2, 0));
}

#[test]
fn blocking_waiters_are_served_in_arrival_order() {
    let b = bulkhead(1, 10);
    let holder = b.acquire_blocking().unwrap();
    let served = Arc::new(Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    for id in 0..4 {
        let (b2, served) = (b.clone(), served.clone());
        threads.push(std::thread::spawn(move || {
            let _permit = b2.acquire_blocking().unwrap();
            served.lock().unwrap().push(id);
        }));
        while b.queued() != id + 1 {
            std::thread::yield_now();
        }
    }
    drop(holder);
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*served.lock().unwrap(), [0, 1, 2, 3]);
}

#[test]
fn a_blocking_waiter_gives_up_after_max_wait_on_the_policy_clock() {
    let clock = ManualClock::new();
    // The test moves time itself, one step at a time.
    clock.set_auto_advance(false);
    let b = Bulkhead::builder()
        .max_concurrent(1)
        .max_queue(1)
        .max_wait(Duration::from_secs(1))
        .clock(clock.clone())
        .build()
        .unwrap();
    let _holder = b.try_acquire().unwrap();
    let waiter = std::thread::spawn({
        let b = b.clone();
        move || b.acquire_blocking().map(|_permit| ())
    });
    // Queued, and its wait registered on the clock: only then may time move (a wait
    // registered after the first step would be measured from there).
    while b.queued() != 1 || clock.pending_timers() == 0 {
        std::thread::yield_now();
    }
    clock.advance(Duration::from_millis(999));
    assert_eq!(b.queued(), 1, "still waiting before max_wait");
    clock.advance(Duration::from_millis(1));
    let rejected = waiter.join().unwrap().unwrap_err();
    assert_eq!(
        rejected.reason(),
        RejectReason::WaitedTooLong {
            max_wait: Duration::from_secs(1)
        }
    );
    assert_eq!(b.queued(), 0);
}

#[tokio::test(start_paused = true)]
async fn events_report_permits_with_their_wait_rejections_and_releases() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let b = Bulkhead::builder()
        .name("db")
        .max_concurrent(1)
        .max_queue(1)
        .max_wait(ms(100))
        .clock(Clock::tokio())
        .on_event(move |e: &Event<'_>| {
            if let Event::Bulkhead(event) = e {
                log.lock().unwrap().push(match event {
                    BulkheadEvent::Permitted { name, waited } => {
                        format!("{name} permitted {waited:?}")
                    }
                    BulkheadEvent::Rejected { name, reason } => {
                        format!("{name} rejected {reason:?}")
                    }
                    BulkheadEvent::Released { name } => format!("{name} released"),
                    other => format!("{other:?}"),
                });
            }
        })
        .build()
        .unwrap();
    let holder = b.acquire().await.unwrap();
    let _ = b.try_acquire();
    let _ = b.acquire().await; // waits 100 ms in vain
    let releaser = tokio::spawn(async move {
        tokio::time::sleep(ms(30)).await;
        drop(holder);
    });
    drop(b.acquire().await.unwrap());
    releaser.await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "db permitted 0ns",
            "db rejected Full",
            "db rejected WaitedTooLong { max_wait: 100ms }",
            "db released",
            "db permitted 30ms",
            "db released",
        ]
    );
}

#[test]
fn build_errors_name_the_field_and_the_value() {
    let cases = [
        (
            Bulkhead::builder().max_concurrent(0).build(),
            "max_concurrent",
            "0",
        ),
        (
            Bulkhead::builder()
                .max_concurrent(u32::MAX as usize + 1)
                .build(),
            "max_concurrent",
            "4294967296",
        ),
        (
            Bulkhead::builder()
                .max_queue(1)
                .max_wait(Duration::ZERO)
                .build(),
            "max_wait",
            "0ns",
        ),
        (
            Bulkhead::builder().max_wait(ms(500)).build(),
            "max_wait",
            "500ms",
        ),
        (
            Bulkhead::builder()
                .max_queue(1)
                .max_wait_secs(f64::NAN)
                .build(),
            "max_wait",
            "NaN",
        ),
    ];
    for (result, field, value) in cases {
        let err = result.unwrap_err();
        assert_eq!(
            (err.policy(), err.field(), err.value()),
            ("bulkhead", field, value)
        );
    }
    let err = Bulkhead::builder().max_wait(ms(500)).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid bulkhead configuration: max_wait = 500ms: has no effect while max_queue is 0 \
         (a full bulkhead rejects at once); set max_queue to let calls wait"
    );
    // The last setting wins.
    let b = Bulkhead::builder()
        .max_queue(1)
        .max_wait_secs(-1.0)
        .max_wait(ms(5))
        .build()
        .unwrap();
    assert_eq!(b.max_wait(), Some(ms(5)));
}

#[test]
fn defaults_are_resilience4js_twenty_five_slots_and_no_queue() {
    let b = Bulkhead::builder().build().unwrap();
    assert_eq!(
        b.config(),
        &BulkheadConfig {
            max_concurrent: 25,
            max_queue: 0,
            max_wait: None
        }
    );
    assert_eq!(
        (b.name(), b.available(), b.in_flight()),
        ("bulkhead", 25, 0)
    );
}

#[test]
fn permits_are_owned_send_and_static() {
    fn assert_owned<T: Send + Sync + 'static>(_: &T) {}
    let b = bulkhead(1, 0);
    let permit = b.try_acquire().unwrap();
    assert_owned(&permit);
    assert_eq!(permit.bulkhead_name(), "db");
    drop(b); // the permit keeps what it needs alive
    drop(permit);
}

#[test]
fn waiters_that_give_up_never_leak_a_slot_or_over_admit() {
    // Real time, but every wait is bounded by a fraction of a millisecond: this exercises
    // the cancellation paths (left the queue; granted a slot but gone) under contention.
    let b = Bulkhead::builder()
        .max_concurrent(2)
        .max_queue(4)
        .max_wait(Duration::from_micros(200))
        .build()
        .unwrap();
    let gauge = Arc::new(Gauge::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (b, gauge) = (b.clone(), gauge.clone());
            std::thread::spawn(move || {
                for _ in 0..2_000 {
                    if let Ok(_permit) = b.acquire_blocking() {
                        gauge.enter();
                        std::thread::yield_now();
                        gauge.leave();
                    }
                }
            })
        })
        .collect();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (b, gauge) = (b.clone(), gauge.clone());
                tokio::spawn(async move {
                    for round in 0..300u64 {
                        // Some waits are cut short from outside, some by max_wait.
                        let wait = Duration::from_micros(50 * (round % 4));
                        if let Ok(Ok(_permit)) = tokio::time::timeout(wait, b.acquire()).await {
                            gauge.enter();
                            tokio::task::yield_now().await;
                            gauge.leave();
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    assert!(gauge.peak() <= 2, "peak {} > 2", gauge.peak());
    assert_eq!((b.in_flight(), b.available(), b.queued()), (0, 2, 0));
}
