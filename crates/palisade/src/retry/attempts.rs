//! The per-call state machine shared by the async and blocking loops.
//!
//! Both loops do only "run the operation, hand the outcome here, sleep if told to". Every
//! decision — classify, count, compute the delay, check `max_elapsed` and the retry budget,
//! publish events — is made in this one place, so async and blocking retry cannot drift
//! apart.

use std::sync::Arc;
use std::time::Duration;

use super::classify::{DelayFn, Outcome};
use super::config::Jitter;
use super::{Cause, RetryEvent, Shared, StopReason};
use crate::clock::{Instant, duration_to_nanos};
use crate::error::Error;
use crate::predicate::Predicate;

/// What a caller of [`Attempts::record_or_veto`] adds to the retry predicate's yes or no.
pub(crate) trait Veto<E> {
    /// Why retry stops on `error`, which the retry predicate does not retry.
    fn permanent(&self, _error: &E) -> StopReason {
        StopReason::NotRetryable
    }

    /// A reason to stop although the error is retried and attempts remain.
    fn veto(&self) -> Option<StopReason> {
        None
    }
}

/// Nothing to add: permanent errors are [`StopReason::NotRetryable`], nothing is vetoed.
pub(crate) struct NoVeto;

impl<E> Veto<E> for NoVeto {}

/// What the loop does next.
pub(crate) enum Step<T, E> {
    /// Return this to the caller.
    Done(Result<T, Error<E>>),
    /// Sleep this long, then run the operation again.
    Sleep(Duration),
}

/// The progress of one call through a retry policy.
pub(crate) struct Attempts<'p> {
    shared: &'p Shared,
    /// Attempts made so far.
    pub(super) attempts: u32,
    /// When the first attempt started, if anything needs elapsed time.
    start: Option<Instant>,
    /// Sum of the delays slept (or to be slept) so far.
    pub(super) total_delay: Duration,
    /// The previous actual delay, for decorrelated jitter.
    prev_delay: Duration,
    /// Created on the first jittered delay, so calls that never retry never seed one.
    rng: Option<fastrand::Rng>,
    /// With a seeded policy, this call's index: it selects the call's jitter stream.
    seeded_call: Option<u64>,
}

impl<'p> Attempts<'p> {
    /// Starts a call: deposits it in the retry budget, if there is one, and reads the clock
    /// only if `max_elapsed`, a listener or a report needs it.
    ///
    /// A policy with none of these (nor a seed) starts a call with nothing to do, inline; the
    /// others go out of line, so the common case stays small enough for callers to inline.
    #[inline]
    pub(super) fn start(shared: &'p Shared, measure: bool) -> Self {
        Attempts::start_at(shared, measure, || shared.clock.now())
    }

    /// [`start`](Self::start), where `now` (asked only if the start time is needed) is the
    /// time on the policy's clock: a caller that has just read it passes its reading.
    #[inline]
    pub(super) fn start_at(
        shared: &'p Shared,
        measure: bool,
        now: impl FnOnce() -> Instant,
    ) -> Self {
        let (start, seeded_call) = if !measure && shared.bare_start {
            (None, None)
        } else {
            Attempts::start_in_full(shared, measure, now)
        };
        Attempts::new(shared, start, seeded_call)
    }

    /// The start of a call that has something to do; returns its start time and seeded call
    /// index rather than the state, so the inline part stays in registers.
    #[inline(never)]
    fn start_in_full(
        shared: &Shared,
        measure: bool,
        now: impl FnOnce() -> Instant,
    ) -> (Option<Instant>, Option<u64>) {
        if let Some(budget) = &shared.budget {
            budget.deposit();
        }
        let start = (measure || shared.needs_clock).then(now);
        (start, shared.next_seeded_call())
    }

    #[inline]
    fn new(shared: &'p Shared, start: Option<Instant>, seeded_call: Option<u64>) -> Self {
        Attempts {
            shared,
            attempts: 0,
            start,
            total_delay: Duration::ZERO,
            prev_delay: shared.config.base_delay,
            rng: None,
            seeded_call,
        }
    }

    /// Time since the first attempt started, if it was measured.
    pub(super) fn elapsed(&self) -> Option<Duration> {
        self.start
            .map(|start| self.shared.clock.now().saturating_duration_since(start))
    }

    /// Records an attempt's outcome and decides what happens next.
    #[inline]
    pub(crate) fn record<T, E, W, R, D>(
        &mut self,
        outcome: Result<T, E>,
        retry_if: &W,
        retry_on_result: &R,
        delay_fn: &D,
    ) -> Step<T, E>
    where
        E: std::fmt::Debug + 'static,
        W: Predicate<E>,
        R: Predicate<T>,
        D: DelayFn<T, E>,
    {
        self.record_or_veto(outcome, retry_if, retry_on_result, delay_fn, &NoVeto)
    }

    /// [`record`](Self::record), where `veto` names why retry stops on an error it does not
    /// retry, and may stop a retry that attempts remain for (asked only then, before any
    /// delay is computed or budget spent): the pipeline stops when the attempt's failure has
    /// opened its breaker, and reports an inner policy's rejection as such.
    #[inline]
    pub(crate) fn record_or_veto<T, E, W, R, D, V>(
        &mut self,
        outcome: Result<T, E>,
        retry_if: &W,
        retry_on_result: &R,
        delay_fn: &D,
        veto: &V,
    ) -> Step<T, E>
    where
        E: std::fmt::Debug + 'static,
        W: Predicate<E>,
        R: Predicate<T>,
        D: DelayFn<T, E>,
        V: Veto<E>,
    {
        match self.accept(outcome, retry_on_result) {
            Ok(value) => Step::Done(Ok(value)),
            Err(rejected) => self.record_rejected(rejected, retry_if, delay_fn, veto),
        }
    }

    /// The happy half of [`record`](Self::record), inline: counts the attempt and, if its
    /// outcome is a value to keep, publishes the success and returns the value. Any other
    /// outcome comes back for [`record_rejected`](Self::record_rejected).
    #[inline]
    pub(super) fn accept<T, E, R>(
        &mut self,
        outcome: Result<T, E>,
        retry_on_result: &R,
    ) -> Result<T, Result<T, E>>
    where
        R: Predicate<T>,
    {
        self.attempts += 1;
        match outcome {
            Ok(value) if !retry_on_result.test(&value) => {
                self.publish_success();
                Ok(value)
            }
            rejected => Err(rejected),
        }
    }

    /// The rest of [`record`](Self::record), out of line: an outcome [`accept`](Self::accept)
    /// handed back (already counted) is a permanent error, or is retried, or retry stops.
    #[cold]
    #[inline(never)]
    pub(super) fn record_rejected<T, E, W, D, V>(
        &mut self,
        outcome: Result<T, E>,
        retry_if: &W,
        delay_fn: &D,
        veto: &V,
    ) -> Step<T, E>
    where
        E: std::fmt::Debug + 'static,
        W: Predicate<E>,
        D: DelayFn<T, E>,
        V: Veto<E>,
    {
        match outcome {
            Err(error) if !retry_if.test(&error) => {
                self.publish_gave_up(veto.permanent(&error), Cause::Error(&error));
                Step::Done(Err(Error::Operation(error)))
            }
            retryable => self.retry_or_stop(retryable, delay_fn, veto),
        }
    }

    #[cold]
    fn retry_or_stop<T, E, D, V>(
        &mut self,
        outcome: Result<T, E>,
        delay_fn: &D,
        veto: &V,
    ) -> Step<T, E>
    where
        E: std::fmt::Debug + 'static,
        D: DelayFn<T, E>,
        V: Veto<E>,
    {
        let config = &self.shared.config;
        if self.attempts >= config.max_attempts {
            let reason = StopReason::MaxAttempts {
                max_attempts: config.max_attempts,
            };
            return self.stop(outcome, reason);
        }
        if let Some(reason) = veto.veto() {
            return self.stop(outcome, reason);
        }
        let mut delay = match delay_fn.delay(self.attempts, Outcome::from(&outcome)) {
            Some(chosen) => chosen,
            None => self.backoff_delay(),
        };
        // The floor comes before the elapsed check, so that check sees the delay that would
        // really be slept.
        if let Some(floor) = delay_fn.min_delay(self.attempts, Outcome::from(&outcome)) {
            delay = delay.max(floor);
        }
        // Decorrelated jitter grows from the previous actual delay, whoever chose it.
        self.prev_delay = delay;
        if let (Some(budget), Some(elapsed)) = (config.max_elapsed, self.elapsed()) {
            // The next attempt must start strictly before the budget runs out.
            if elapsed.saturating_add(delay) >= budget {
                let reason = StopReason::MaxElapsed {
                    budget,
                    elapsed,
                    next_delay: delay,
                };
                return self.stop(outcome, reason);
            }
        }
        // Last, once every other condition says "retry": a withdrawal is a retry spent, so
        // none is spent on a retry that would not happen.
        if let Some(budget) = &self.shared.budget
            && !budget.try_withdraw()
        {
            return self.stop(outcome, StopReason::BudgetExhausted);
        }
        let shared = self.shared;
        let attempt = self.attempts;
        shared.listeners.emit(|| RetryEvent::RetryScheduled {
            name: &shared.name,
            attempt,
            delay,
            cause: cause_of(&outcome),
        });
        self.total_delay = self.total_delay.saturating_add(delay);
        Step::Sleep(delay)
    }

    fn stop<T, E: std::fmt::Debug + 'static>(
        &self,
        outcome: Result<T, E>,
        reason: StopReason,
    ) -> Step<T, E> {
        self.publish_gave_up(reason, cause_of(&outcome));
        Step::Done(match outcome {
            Ok(value) => Ok(value),
            Err(error) => Err(Error::retries_exhausted(
                Arc::clone(&self.shared.name),
                self.attempts,
                reason,
                Error::Operation(error),
            )),
        })
    }

    /// The configured backoff with jitter applied.
    fn backoff_delay(&mut self) -> Duration {
        let config = &self.shared.config;
        let scheduled = config.scheduled_delay(self.attempts);
        match config.jitter {
            Jitter::None => scheduled,
            Jitter::Full => {
                let d = duration_to_nanos(scheduled);
                Duration::from_nanos(self.rng().u64(0..=d))
            }
            Jitter::Equal => {
                let d = duration_to_nanos(scheduled);
                let half = d / 2;
                Duration::from_nanos(half + self.rng().u64(0..=d - half))
            }
            Jitter::Decorrelated => {
                let low = duration_to_nanos(config.base_delay);
                let high = duration_to_nanos(self.prev_delay)
                    .saturating_mul(3)
                    .max(low);
                let drawn = Duration::from_nanos(self.rng().u64(low..=high));
                drawn.min(config.max_delay)
            }
        }
    }

    fn rng(&mut self) -> &mut fastrand::Rng {
        let (shared, call) = (self.shared, self.seeded_call);
        self.rng.get_or_insert_with(|| shared.new_rng(call))
    }

    #[inline]
    fn publish_success(&self) {
        // Listeners imply a start time (`needs_clock`): testing it first lets a bare start,
        // whose `start` is a constant `None`, skip the test of the listeners.
        if self.start.is_some() && !self.shared.listeners.is_empty() {
            Attempts::emit_success(self.shared, self.attempts, self.start);
        }
    }

    /// Takes the fields rather than `&self`, so the happy path never needs the state in memory.
    #[inline(never)]
    fn emit_success(shared: &Shared, attempts: u32, start: Option<Instant>) {
        let total_duration = start
            .map(|start| shared.clock.now().saturating_duration_since(start))
            .unwrap_or_default();
        shared.listeners.emit(|| RetryEvent::Succeeded {
            name: &shared.name,
            attempts,
            total_duration,
        });
    }

    fn publish_gave_up(&self, reason: StopReason, cause: Cause<'_>) {
        let shared = self.shared;
        let attempts = self.attempts;
        shared.listeners.emit(|| RetryEvent::GaveUp {
            name: &shared.name,
            attempts,
            reason,
            cause,
        });
    }
}

fn cause_of<T, E: std::fmt::Debug + 'static>(outcome: &Result<T, E>) -> Cause<'_> {
    match outcome {
        Ok(_) => Cause::Result,
        Err(e) => Cause::Error(e),
    }
}
