//! The timeout's guarantees, on tokio's paused clock or a manual clock: nothing here sleeps
//! for real longer than a few milliseconds.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use common::time::ms;
use palisade::Error;
use palisade::clock::{Clock, ManualClock};
use palisade::event::Event;
use palisade::timeout::{Deadline, Timeout, TimeoutEvent, TimeoutScope};

fn timeout(limit: Duration) -> Timeout {
    Timeout::builder().limit(limit).build().unwrap()
}

/// A timeout whose events are recorded as strings.
fn observed(limit: Duration, clock: Option<ManualClock>) -> (Timeout, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let mut builder =
        Timeout::builder()
            .name("search")
            .limit(limit)
            .on_event(move |e: &Event<'_>| {
                if let Event::Timeout(event) = e {
                    log.lock().unwrap().push(match event {
                        TimeoutEvent::TimedOut { name, scope, limit } => {
                            format!("{name} ({scope}) timed out {limit:?}")
                        }
                        TimeoutEvent::FinishedLate {
                            name,
                            scope,
                            limit,
                            elapsed,
                        } => format!("{name} ({scope}) late {elapsed:?} > {limit:?}"),
                        other => format!("{other:?}"),
                    });
                }
            });
    if let Some(clock) = clock {
        builder = builder.clock(clock);
    }
    (builder.build().unwrap(), seen)
}

/// Sets its flag when dropped: shows that a future was cancelled.
struct DropGuard(Arc<AtomicBool>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn fires_exactly_at_the_limit() {
    let t = timeout(ms(100));
    let start = tokio::time::Instant::now();
    let out = t
        .call(|| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<_, std::io::Error>(())
        })
        .await;
    assert!(matches!(out, Err(Error::Timeout { limit, .. }) if limit == ms(100)));
    assert_eq!(start.elapsed(), ms(100));
}

#[tokio::test(start_paused = true)]
async fn a_future_ready_exactly_at_the_limit_is_in_time() {
    let t = timeout(ms(100));
    let out = t
        .call(|| async {
            tokio::time::sleep(ms(100)).await;
            Ok::<_, std::io::Error>("just in time")
        })
        .await;
    assert_eq!(out.unwrap(), "just in time");
}

#[tokio::test(start_paused = true)]
async fn a_future_one_millisecond_late_is_cut_off_at_the_limit() {
    let t = timeout(ms(100));
    let start = tokio::time::Instant::now();
    let out = t
        .call(|| async {
            tokio::time::sleep(ms(101)).await;
            Ok::<_, std::io::Error>("late")
        })
        .await;
    assert!(matches!(out, Err(Error::Timeout { .. })));
    assert_eq!(start.elapsed(), ms(100));
}

#[tokio::test(start_paused = true)]
async fn the_inner_future_is_dropped_when_the_limit_fires_and_before_the_event() {
    let dropped = Arc::new(AtomicBool::new(false));
    let resumed = Arc::new(AtomicBool::new(false));
    let dropped_at_event = Arc::new(AtomicBool::new(false));
    let (d, r, at_event) = (dropped.clone(), resumed.clone(), dropped_at_event.clone());
    let probe = dropped.clone();
    let t = Timeout::builder()
        .limit(ms(50))
        .on_event(move |_: &Event<'_>| {
            at_event.store(probe.load(Ordering::SeqCst), Ordering::SeqCst)
        })
        .build()
        .unwrap();

    let out = t
        .call(|| async move {
            let _guard = DropGuard(d);
            tokio::time::sleep(Duration::from_secs(10)).await;
            r.store(true, Ordering::SeqCst); // never reached: the future is never polled again
            Ok::<_, std::io::Error>(())
        })
        .await;

    assert!(matches!(out, Err(Error::Timeout { .. })));
    assert!(dropped.load(Ordering::SeqCst), "cancelled by dropping");
    assert!(
        dropped_at_event.load(Ordering::SeqCst),
        "dropped before listeners hear of the timeout"
    );
    // Even if time moves on, the cancelled future does not come back.
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(!resumed.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn a_fast_future_returns_its_value_or_error_unchanged_and_publishes_nothing() {
    let (t, seen) = observed(Duration::from_secs(1), None);
    assert_eq!(t.call(|| async { Ok::<_, &str>(42) }).await, Ok(42));
    assert_eq!(
        t.call(|| async { Err::<(), _>("refused") }).await,
        Err(Error::Operation("refused"))
    );
    // An error at the last moment is still the operation's error.
    let late_error = t
        .call(|| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Err::<(), _>("at the limit")
        })
        .await;
    assert_eq!(late_error, Err(Error::Operation("at the limit")));
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_timeout_publishes_one_timed_out_event_and_is_transient() {
    let (t, seen) = observed(ms(250), None);
    let out = t.call(std::future::pending::<Result<(), &str>>).await;
    let err = out.unwrap_err();
    assert!(err.is_transient() && !err.is_rejection());
    assert_eq!(err.to_string(), "timeout 'search' fired after 250ms");
    assert_eq!(err, Error::timeout("search", TimeoutScope::Call, ms(250)));
    assert_eq!(*seen.lock().unwrap(), ["search (call) timed out 250ms"]);
}

#[tokio::test(start_paused = true)]
async fn a_clock_with_a_runtime_timer_measures_the_limit_with_that_timer() {
    let t = Timeout::builder()
        .limit(ms(30))
        .clock(Clock::with_timer(tokio::time::sleep))
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    let out = t.call(std::future::pending::<Result<(), ()>>).await;
    assert!(matches!(out, Err(Error::Timeout { .. })));
    // The deadline is fixed on the precise clock at the call's start; the timer waits out
    // what is left of it when the call first waits.
    assert!(start.elapsed() <= ms(30) && start.elapsed() > ms(29));
    // A timer that never fires never times out.
    let never = Timeout::builder()
        .limit(ms(30))
        .clock(Clock::with_timer(|_: Duration| {
            std::future::pending::<()>()
        }))
        .build()
        .unwrap();
    let out = never
        .call(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, ()>(1)
        })
        .await;
    assert_eq!(out, Ok(1));
}

#[tokio::test(start_paused = true)]
async fn clones_share_the_policy_and_calls_are_send() {
    fn assert_send<T: Send>(t: T) -> T {
        t
    }
    let t = timeout(ms(10));
    let clone = t.clone();
    let task = tokio::spawn(async move {
        assert_send(clone.call(|| async { Ok::<_, std::io::Error>(7) })).await
    });
    assert_eq!(task.await.unwrap().unwrap(), 7);
}

#[test]
fn zero_or_bad_limits_are_build_errors_naming_the_field_and_value() {
    let err = Timeout::builder()
        .limit(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(
        (err.policy(), err.field(), err.value()),
        ("timeout", "limit", "0ns")
    );
    assert_eq!(
        err.to_string(),
        "invalid timeout configuration: limit = 0ns: must be greater than zero"
    );
    for (secs, value) in [(0.0, "0s"), (-2.5, "-2.5s"), (f64::NAN, "NaN")] {
        let err = Timeout::builder().limit_secs(secs).build().unwrap_err();
        assert_eq!((err.field(), err.value()), ("limit", value));
    }
    // The last setting wins: a valid limit after a bad one clears the error.
    let t = Timeout::builder()
        .limit_secs(-1.0)
        .limit(ms(20))
        .build()
        .unwrap();
    assert_eq!(t.limit(), ms(20));
}

#[test]
fn the_default_limit_is_the_reference_docs_five_seconds() {
    let t = Timeout::builder().build().unwrap();
    assert_eq!((t.limit(), t.name()), (Duration::from_secs(5), "timeout"));
}

#[test]
fn a_blocking_deadline_follows_the_policy_clock() {
    let clock = ManualClock::new();
    let t = Timeout::builder()
        .limit(Duration::from_secs(10))
        .clock(clock.clone())
        .build()
        .unwrap();
    let out = t.call_blocking(|deadline: Deadline| {
        assert_eq!(deadline.limit(), Duration::from_secs(10));
        assert_eq!(deadline.remaining(), Duration::from_secs(10));
        clock.advance(Duration::from_secs(4));
        assert_eq!(deadline.elapsed(), Duration::from_secs(4));
        assert_eq!(deadline.remaining(), Duration::from_secs(6));
        assert!(!deadline.is_expired());
        clock.advance(Duration::from_secs(6));
        assert_eq!(deadline.remaining(), Duration::ZERO);
        assert!(!deadline.is_expired(), "exactly at the limit is in time");
        Ok::<_, std::io::Error>("rows")
    });
    assert_eq!(out.unwrap(), "rows");
}

#[test]
fn a_blocking_call_that_returns_late_is_a_timeout_whatever_it_returned() {
    let clock = ManualClock::new();
    let (t, seen) = observed(Duration::from_secs(2), Some(clock.clone()));

    let late_value = t.call_blocking(|_| {
        clock.advance(Duration::from_secs(3));
        Ok::<_, &str>("done, but late")
    });
    assert_eq!(
        late_value,
        Err(Error::timeout(
            "search",
            TimeoutScope::Call,
            Duration::from_secs(2)
        ))
    );

    // A closure that notices the deadline and gives up is reported as the timeout too.
    let gave_up = t.call_blocking(|deadline| {
        clock.advance(Duration::from_millis(2001));
        if deadline.is_expired() {
            return Err("stopped early");
        }
        Ok(())
    });
    assert!(matches!(gave_up, Err(Error::Timeout { .. })));
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "search (call) late 3s > 2s",
            "search (call) late 2.001s > 2s"
        ]
    );
}

#[test]
fn a_blocking_call_in_time_returns_its_outcome_unchanged() {
    let clock = ManualClock::new();
    let (t, seen) = observed(Duration::from_secs(2), Some(clock.clone()));
    assert_eq!(t.call_blocking(|_| Ok::<_, &str>(1)), Ok(1));
    assert_eq!(
        t.call_blocking(|_| {
            clock.advance(Duration::from_secs(2));
            Err::<(), _>("no such row")
        }),
        Err(Error::Operation("no such row"))
    );
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn the_helper_thread_variant_returns_timeout_while_the_thread_is_still_busy() {
    let clock = ManualClock::new();
    // The helper thread moves time; the waiting caller must not move it first.
    clock.set_auto_advance(false);
    let (t, seen) = observed(Duration::from_secs(30), Some(clock.clone()));
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (finished_tx, finished_rx) = mpsc::channel::<()>();
    let (expired_tx, expired_rx) = mpsc::channel::<bool>();
    let worker_clock = clock.clone();

    let out = t.call_blocking_on_thread(move |deadline| {
        worker_clock.advance(Duration::from_secs(31)); // the work has taken 31 s ...
        // Reported to the test's thread: an assertion here could not fail the test.
        expired_tx.send(deadline.is_expired()).unwrap();
        let _ = release_rx.recv(); // ... and is still going
        finished_tx.send(()).unwrap();
        Ok::<_, std::io::Error>("discarded")
    });

    assert!(matches!(
        out,
        Err(Error::Timeout { scope: TimeoutScope::Call, limit, .. }) if limit == Duration::from_secs(30)
    ));
    assert_eq!(
        expired_rx.recv(),
        Ok(true),
        "the helper saw its deadline pass"
    );
    assert_eq!(
        finished_rx.try_recv(),
        Err(mpsc::TryRecvError::Empty),
        "the caller returned while the helper thread was still busy"
    );
    assert_eq!(*seen.lock().unwrap(), ["search (call) timed out 30s"]);
    // The abandoned thread finishes on its own; its result goes nowhere.
    release_tx.send(()).unwrap();
    finished_rx.recv().unwrap();
}

#[test]
fn the_helper_thread_variant_on_the_real_clock_gives_up_after_the_limit() {
    let t = timeout(ms(5));
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let started = std::time::Instant::now();
    let out = t.call_blocking_on_thread(move |_| {
        let _ = release_rx.recv();
        Ok::<_, std::io::Error>(())
    });
    assert!(matches!(out, Err(Error::Timeout { .. })));
    assert!(started.elapsed() >= ms(5));
    drop(release_tx);
}

#[test]
fn the_helper_thread_variant_in_time_returns_the_outcome_unchanged() {
    let t = timeout(Duration::from_secs(60));
    assert_eq!(
        t.call_blocking_on_thread(|_| Ok::<_, String>(
            std::thread::current().name().map(String::from)
        )),
        Ok(Some("palisade-timeout".to_string()))
    );
    assert_eq!(
        t.call_blocking_on_thread(|_| Err::<(), _>("refused")),
        Err(Error::Operation("refused"))
    );
}

#[test]
fn a_panic_on_the_helper_thread_reaches_the_caller() {
    let t = timeout(Duration::from_secs(60));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        t.call_blocking_on_thread(|_| -> Result<(), ()> { panic!("worker exploded") })
    }));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"worker exploded"));
}
