//! A breaker publishes and counts every outcome whatever its store: the in-process one it
//! owns, a `LocalState` it is built over, one shared with other breakers, or a custom store —
//! with and without listeners, on every call path. (A state owned by one breaker nobody
//! listens to takes a shorter path for successes; these tests pin what each path must do.)

mod common;

use std::sync::Arc;

use common::events::{Record, Recorder};
use palisade::circuit_breaker::{
    CircuitBreaker, CircuitBreakerConfig, CircuitBreakerEvent, LocalState, State, Store, Verdict,
};
use palisade::event::Event;

/// An outcome a breaker published: its name and verdict.
#[derive(Debug, Clone, PartialEq)]
struct Outcome(String, Verdict);

impl Record for Outcome {
    fn record(event: &Event<'_>) -> Option<Self> {
        match event {
            Event::CircuitBreaker(CircuitBreakerEvent::OutcomeRecorded {
                name, verdict, ..
            }) => Some(Outcome(name.to_string(), *verdict)),
            _ => None,
        }
    }
}

fn local() -> LocalState {
    LocalState::new(&CircuitBreakerConfig::default(), Default::default())
}

/// Three successes and a failure through `call_blocking`, `call` and a permit.
fn exercise(breaker: &CircuitBreaker) {
    assert_eq!(breaker.call_blocking(|| Ok::<_, ()>(1)), Ok(1));
    let called = futures_ready(breaker.call(|| async { Ok::<_, ()>(2) }));
    assert_eq!(called, Ok(2));
    breaker.try_acquire().map(|p| p.record_success()).unwrap();
    assert!(breaker.call_blocking(|| Err::<(), _>(())).is_err());
}

/// Polls a future that is ready at once (the in-process store never waits).
fn futures_ready<T>(future: impl std::future::Future<Output = T>) -> T {
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(future).poll(&mut context) {
        std::task::Poll::Ready(value) => value,
        std::task::Poll::Pending => panic!("the in-process store answers at once"),
    }
}

fn expected(name: &str) -> Vec<Outcome> {
    let outcome = |verdict| Outcome(name.to_string(), verdict);
    vec![
        outcome(Verdict::Success),
        outcome(Verdict::Success),
        outcome(Verdict::Success),
        outcome(Verdict::Failure),
    ]
}

#[test]
fn every_store_counts_every_outcome_with_nobody_listening() {
    let builders: Vec<(&str, CircuitBreaker)> = vec![
        ("default", CircuitBreaker::builder().build().unwrap()),
        (
            "in process",
            CircuitBreaker::builder().store(local()).build().unwrap(),
        ),
        (
            "custom",
            CircuitBreaker::builder()
                .store(Store::custom(local()))
                .build()
                .unwrap(),
        ),
    ];
    for (what, breaker) in builders {
        exercise(&breaker);
        let stats = breaker.stats();
        assert_eq!(
            (
                stats.successful_calls,
                stats.failed_calls,
                stats.consecutive_failures
            ),
            (3, 1, 1),
            "{what}"
        );
        // A success ends the run of failures.
        breaker.call_blocking(|| Ok::<_, ()>(())).unwrap();
        assert_eq!(breaker.stats().consecutive_failures, 0, "{what}");
    }
}

#[test]
fn every_store_publishes_every_outcome_to_the_breakers_listeners() {
    let log = Recorder::<Outcome>::default();
    let breakers = [
        CircuitBreaker::builder()
            .name("default")
            .on_event(log.listener())
            .build()
            .unwrap(),
        CircuitBreaker::builder()
            .name("in process")
            .on_event(log.listener())
            .store(local())
            .build()
            .unwrap(),
        CircuitBreaker::builder()
            .name("custom")
            .on_event(log.listener())
            .store(Store::custom(local()))
            .build()
            .unwrap(),
    ];
    for breaker in &breakers {
        exercise(breaker);
        assert_eq!(log.take(), expected(breaker.name()));
    }
    let typed: CircuitBreaker<_, _, _, LocalState> = CircuitBreaker::builder()
        .name("typed")
        .on_event(log.listener())
        .build_with_store(local())
        .unwrap();
    assert_eq!(typed.call_blocking(|| Ok::<_, ()>(1)), Ok(1));
    assert_eq!(log.take(), vec![Outcome("typed".into(), Verdict::Success)]);
}

#[test]
fn a_state_shared_by_a_quiet_and_a_listening_breaker_publishes_the_listening_ones_outcomes() {
    let shared = Arc::new(local());
    let log = Recorder::<Outcome>::default();
    let quiet = CircuitBreaker::builder()
        .name("quiet")
        .build_with_store(Arc::clone(&shared))
        .unwrap();
    let listening = CircuitBreaker::builder()
        .name("listening")
        .on_event(log.listener())
        .build_with_store(Arc::clone(&shared))
        .unwrap();
    for _ in 0..2 {
        quiet.call_blocking(|| Ok::<_, ()>(())).unwrap();
        listening.call_blocking(|| Ok::<_, ()>(())).unwrap();
    }
    assert_eq!(
        log.take(),
        vec![
            Outcome("listening".into(), Verdict::Success),
            Outcome("listening".into(), Verdict::Success),
        ]
    );
    // One state: both breakers' calls are counted there, and a failure run seen by one is
    // ended by a success through the other.
    assert_eq!(quiet.stats().successful_calls, 4);
    let _ = quiet.call_blocking(|| Err::<(), _>(()));
    assert_eq!(listening.stats().consecutive_failures, 1);
    listening.call_blocking(|| Ok::<_, ()>(())).unwrap();
    assert_eq!(quiet.stats().consecutive_failures, 0);
    assert_eq!(quiet.state(), State::Closed);
}

#[test]
fn async_calls_can_move_between_threads_whatever_the_store() {
    fn send<T: Send>(value: T) -> T {
        value
    }
    let default = CircuitBreaker::builder().build().unwrap();
    let typed: CircuitBreaker<_, _, _, LocalState> =
        CircuitBreaker::builder().build_with_store(local()).unwrap();
    let shared: CircuitBreaker<_, _, _, Arc<LocalState>> = CircuitBreaker::builder()
        .build_with_store(Arc::new(local()))
        .unwrap();
    assert_eq!(
        futures_ready(send(default.call(|| async { Ok::<_, ()>(1) }))),
        Ok(1)
    );
    assert_eq!(
        futures_ready(send(typed.call(|| async { Ok::<_, ()>(2) }))),
        Ok(2)
    );
    assert_eq!(
        futures_ready(send(shared.call(|| async { Ok::<_, ()>(3) }))),
        Ok(3)
    );
}
