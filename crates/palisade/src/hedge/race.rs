//! The race: every in-flight attempt and the hedge timer, polled together in the calling task.
//!
//! No task is spawned, so attempts may borrow from the caller and need not be `'static` (or
//! `Send`, when the caller's task is not). Attempts live in slots of type `Option<Fut>`, pinned
//! where they are: the first two on the call's own stack (a call that never hedges, or hedges
//! once, allocates nothing), later ones in boxes. A finished attempt's slot is emptied in
//! place and reused. Every wake-up polls every running attempt; there are at most eleven.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::Duration;

use super::latency::Probe;
use super::{Hedge, HedgeEvent, HedgeTrigger};
use crate::clock::Sleep;
use crate::error::Error;

/// The running attempts of one call, each with its number.
struct Flight<'s, Fut> {
    inline: [(Pin<&'s mut Option<Fut>>, u32); 2],
    boxed: Vec<(Pin<Box<Option<Fut>>>, u32)>,
}

impl<Fut: Future> Flight<'_, Fut> {
    fn slots(&mut self) -> impl Iterator<Item = (Pin<&mut Option<Fut>>, &mut u32)> {
        let inline = self.inline.iter_mut().map(|(slot, n)| (slot.as_mut(), n));
        let boxed = self.boxed.iter_mut().map(|(slot, n)| (slot.as_mut(), n));
        inline.chain(boxed)
    }

    /// Puts `attempt` in the first empty slot, boxing it only if every slot is taken.
    fn start(&mut self, number: u32, attempt: Fut, max_boxed: usize) {
        let mut attempt = Some(attempt);
        for (mut slot, n) in self.slots() {
            if slot.is_none() {
                slot.set(attempt.take());
                *n = number;
                break;
            }
        }
        if attempt.is_some() {
            if self.boxed.capacity() == 0 {
                self.boxed.reserve_exact(max_boxed);
            }
            self.boxed.push((Box::pin(attempt), number));
        }
    }

    /// Polls running attempts until one finishes; returns it and empties its slot.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<(u32, Fut::Output)> {
        for (mut slot, n) in self.slots() {
            if let Some(attempt) = slot.as_mut().as_pin_mut()
                && let Poll::Ready(output) = attempt.poll(cx)
            {
                slot.set(None);
                return Poll::Ready((*n, output));
            }
        }
        Poll::Pending
    }

    /// Drops every running attempt, in place: this is the cancellation of the losers.
    fn cancel_all(&mut self) {
        for (mut slot, _) in self.slots() {
            slot.set(None);
        }
    }
}

impl Hedge {
    /// Runs the hedged call; see the [module docs](super#how-a-call-runs).
    pub(super) async fn race<T, E, F, Fut>(&self, mut operation: F) -> Result<T, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error<E>>>,
    {
        let shared = &*self.shared;
        let name: &str = &shared.name;
        let max_attempts = shared.config.max_hedged_attempts.saturating_add(1);
        let max_boxed = (max_attempts as usize).saturating_sub(2);
        // Read once: every hedge of this call waits the same delay.
        let delay = self.current_delay();
        let timed = delay != Duration::MAX;

        // Declared before the attempts, so it outlives them: when the whole call is dropped,
        // the first attempt is cancelled before its probe records.
        let mut probe = shared
            .samples
            .as_ref()
            .map(|sample| Probe::start(sample, &shared.clock));
        let first = pin!(Some(operation()));
        let second = pin!(None::<Fut>);
        let mut flight = Flight {
            inline: [(first, 1), (second, 0)],
            boxed: Vec::new(),
        };
        let mut timer = pin!(None::<Sleep>);
        if timed && max_attempts > 1 {
            timer.set(Some(shared.clock.sleep(delay)));
        }
        let mut started: u32 = 1;
        let mut running: u32 = 1;

        let outcome = poll_fn(|cx| {
            loop {
                let trigger = match flight.poll_next(cx) {
                    Poll::Ready((attempt, Ok(value))) => {
                        if attempt == 1 {
                            drop(probe.take()); // records the latency
                        }
                        return Poll::Ready(Ok((attempt, value)));
                    }
                    Poll::Ready((attempt, Err(error))) => {
                        if attempt == 1
                            && let Some(probe) = probe.take()
                        {
                            probe.discard();
                        }
                        running -= 1;
                        if started < max_attempts {
                            // Polly's behaviour: a failure is no reason to wait for the timer.
                            HedgeTrigger::Failure
                        } else if running == 0 {
                            // The last error: earlier ones were dropped as they came.
                            return Poll::Ready(Err(error));
                        } else {
                            continue;
                        }
                    }
                    Poll::Pending => {
                        let fired = timer
                            .as_mut()
                            .as_pin_mut()
                            .is_some_and(|sleep| sleep.poll(cx).is_ready());
                        if !fired {
                            return Poll::Pending;
                        }
                        HedgeTrigger::Delay { delay }
                    }
                };
                // Start the next attempt; the timer restarts from its start.
                started += 1;
                running += 1;
                shared.listeners.emit(|| HedgeEvent::HedgeStarted {
                    name,
                    attempt: started,
                    trigger,
                });
                let more = timed && started < max_attempts;
                timer.set(more.then(|| shared.clock.sleep(delay)));
                flight.start(started, operation(), max_boxed);
            }
        })
        .await;

        // Settle: the losers are cancelled now, before anything else happens.
        flight.cancel_all();
        drop(probe); // a first attempt that lost records how long it ran
        let winner = outcome.as_ref().ok().map(|(attempt, _)| *attempt);
        shared.listeners.emit(|| HedgeEvent::Settled {
            name,
            winner,
            attempts: started,
        });
        outcome.map(|(_, value)| value)
    }
}
