//! The blocking call: the same order on the calling thread.

use std::fmt;
use std::marker::PhantomData;

#[cfg(feature = "tracing")]
use super::call_span;
use super::classify::{FailureIf, Floor, RetryIf, RetryResult, Retryable};
use super::{Disabled, Now, Pipeline, RetryAfter};
use crate::error::Error;
use crate::fallback::{BlockingAction, Fallback};
use crate::predicate::Predicate;
use crate::retry::Step;
use crate::timeout::{Deadline, Timeout, TimeoutScope};

impl<R, B, H> Pipeline<R, B, H> {
    /// Runs `operation` through the pipeline on the calling thread; see the
    /// [module docs](crate::pipeline#blocking-calls) for what the timeouts mean here.
    ///
    /// ```
    /// let p = palisade::presets::Preset::Database.pipeline().build()?;
    /// assert_eq!(p.call_blocking(|| Ok::<_, std::io::Error>(3)).unwrap(), 3);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn call_blocking<T, E, F>(&self, operation: F) -> Result<T, Error<E>>
    where
        F: FnMut() -> Result<T, E>,
        E: fmt::Debug + 'static,
        R: RetryIf<T, E>,
        B: FailureIf<T, E>,
        H: RetryAfter<E>,
    {
        #[cfg(feature = "tracing")]
        let _span = call_span(self.name()).entered();
        let start = self.start();
        let result = self.run_policies_blocking(operation, start);
        self.completed(start, &result);
        result
    }

    fn run_policies_blocking<T, E, F>(
        &self,
        mut operation: F,
        start: Option<crate::clock::Instant>,
    ) -> Result<T, Error<E>>
    where
        F: FnMut() -> Result<T, E>,
        E: fmt::Debug + 'static,
        R: RetryIf<T, E>,
        B: FailureIf<T, E>,
        H: RetryAfter<E>,
    {
        let stack = &*self.stack;
        // What calls skip: read once, so one call sees one setting.
        let off = stack.switch.get();
        if off.passes_through() {
            return operation().map_err(Error::Operation);
        }
        let same = stack.same_clock;
        // One reading of the clock for every decision made before anything waited: the
        // call's start, if it was read for the listeners.
        let mut now = Now::new(&stack.clock, start);
        if let Some(limiter) = off.keep(Disabled::RATE_LIMIT, &stack.rate_limiter) {
            match stack.rate_limit_max_wait {
                None if limiter.store().is_in_process() => {
                    let at = now.on(same.rate_limiter, limiter.clock());
                    if let Some(Err(refusal)) = limiter.admit_in_process(at) {
                        return Err(limiter.refusal(refusal));
                    }
                }
                // A store elsewhere may take a round trip.
                None => {
                    let outcome = limiter.try_acquire();
                    now.waited();
                    outcome.map_err(|denied| limiter.rejection(denied))?;
                }
                Some(wait) => {
                    let outcome = limiter.acquire_n_blocking(1, Some(wait));
                    now.waited();
                    outcome.map_err(|denied| limiter.rejection(denied))?;
                }
            }
        }
        let _slot = match off.keep(Disabled::BULKHEAD, &stack.bulkhead) {
            Some(bulkhead) => Some(match bulkhead.acquire_free() {
                Some(slot) => slot,
                None => {
                    let slot = bulkhead.acquire_blocking();
                    now.waited();
                    slot.map_err(Error::from)?
                }
            }),
            None => None,
        };
        // The total limit is measured on the pipeline's clock.
        let total = stack.total_timeout.as_ref().map(|t| {
            let start = now.on(true, &stack.clock);
            (t, Deadline::started(stack.clock.clone(), start, t.limit()))
        });
        // An attempt that overran the total limit ends the call (published as finished late).
        let past = |total: &Option<(&Timeout, Deadline)>| match total {
            Some((timeout, deadline)) if deadline.is_expired() => timeout.settle(
                Err(timeout.error(TimeoutScope::Total)),
                deadline.elapsed(),
                TimeoutScope::Total,
            ),
            _ => Ok(()),
        };
        let Some(retry) = off.keep(Disabled::RETRY, &stack.retry) else {
            let result = self.attempt_blocking(&mut operation, off, now);
            past(&total)?;
            return result;
        };
        let classify = Retryable {
            operation: &self.retry_if,
            rejections: stack.retry_rejections,
            idempotent: stack.idempotent,
            classes: self.stack.retry_on,
            result: PhantomData,
            breaker: off.keep(Disabled::CIRCUIT_BREAKER, &stack.breaker),
        };
        let floor = Floor {
            hint: &self.retry_after,
        };
        let mut attempts =
            retry.begin(|| now.on(retry.clock().reads_like(&stack.clock), retry.clock()));
        loop {
            let outcome = self.attempt_blocking(&mut operation, off, now);
            // The attempt took time: later attempts read the clock again.
            now.waited();
            past(&total)?;
            match attempts.record_or_veto(
                outcome,
                &classify,
                &RetryResult(&self.retry_if, PhantomData),
                &floor,
                &classify,
            ) {
                Step::Done(result) => return result.map_err(Error::flatten),
                Step::Sleep(delay) => {
                    // No sleep runs into the total limit: give up now (published as timed out).
                    if let Some((timeout, deadline)) = &total
                        && delay >= deadline.remaining()
                    {
                        return Err(timeout.timed_out(TimeoutScope::Total));
                    }
                    retry.clock().sleep_blocking(delay);
                }
            }
        }
    }

    /// [`call_blocking`](Self::call_blocking) with `fallback` outermost.
    ///
    /// ```
    /// use palisade::fallback::Fallback;
    /// let p = palisade::pipeline::Pipeline::builder().max_attempts(2).build()?;
    /// let v = p.call_blocking_with_fallback(|| Err::<u8, _>("down"), &Fallback::on_errors().value(0));
    /// assert_eq!(v, Ok(0));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn call_blocking_with_fallback<T, E, F, P, A>(
        &self,
        operation: F,
        fallback: &Fallback<P, A>,
    ) -> Result<T, Error<E>>
    where
        F: FnMut() -> Result<T, E>,
        E: fmt::Debug + 'static,
        R: RetryIf<T, E>,
        B: FailureIf<T, E>,
        H: RetryAfter<E>,
        P: Predicate<Error<E>>,
        A: BlockingAction<T, E>,
    {
        fallback.recover_blocking(self.call_blocking(operation))
    }

    fn attempt_blocking<T, E, F>(
        &self,
        operation: &mut F,
        off: Disabled,
        mut now: Now<'_>,
    ) -> Result<T, Error<E>>
    where
        F: FnMut() -> Result<T, E>,
        B: FailureIf<T, E>,
    {
        let stack = &*self.stack;
        let permit = match off.keep(Disabled::CIRCUIT_BREAKER, &stack.breaker) {
            Some(breaker) => Some(match breaker.acquire_in_process() {
                Some(permit) => permit.map_err(Error::from)?,
                None => {
                    // A store elsewhere may take a round trip.
                    let permit = breaker.try_acquire_elsewhere();
                    now.waited();
                    permit.map_err(Error::from)?
                }
            }),
            None => None,
        };
        let result = match &stack.attempt_timeout {
            None => operation().map_err(Error::Operation),
            // A late attempt becomes a timeout, published by the policy.
            Some(timeout) => {
                let start = now.on(stack.same_clock.attempt_timeout, timeout.clock());
                timeout.run_blocking_started(start, TimeoutScope::Attempt, |_| {
                    operation().map_err(Error::Operation)
                })
            }
        };
        if let Some(permit) = permit {
            permit.record(self.verdict(&result));
        }
        result
    }
}
