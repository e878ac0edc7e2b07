//! Blocking waits: a thread polls a future, parking between polls, bounded by a deadline on
//! its clock. Every blocking wait of every policy (a bulkhead slot, a rate-limit turn, a
//! helper thread's result) goes through here, so blocking code runs on virtual time too.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use super::{Clock, Instant, Source};
use crate::future::first;

/// Wakes a parked thread.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

fn thread_waker() -> Waker {
    Waker::from(Arc::new(Unpark(std::thread::current())))
}

/// Runs `future` to completion on this thread, parking while it waits.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let waker = thread_waker();
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

/// Runs `future` on this thread until it completes (`Some`) or `clock` reaches `deadline`
/// (`None`; `future` is dropped first). Output ready at the deadline wins.
pub(crate) fn wait_until<F: Future>(
    clock: &Clock,
    future: F,
    deadline: Option<Instant>,
) -> Option<F::Output> {
    match (&clock.source, deadline) {
        (_, None) => Some(block_on(future)),
        // Virtual time: the deadline is a timer on the clock's queue, like any other wait.
        (Source::Manual(_), Some(deadline)) => {
            block_on(first::<F, _>(future, clock.sleep_until(deadline)))
        }
        (_, Some(deadline)) => {
            let waker = thread_waker();
            let mut cx = Context::from_waker(&waker);
            let mut future = pin!(future);
            loop {
                if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                    return Some(output);
                }
                let now = clock.now();
                if now >= deadline {
                    return None;
                }
                clock.block_for(deadline.saturating_duration_since(now), true);
            }
        }
    }
}
