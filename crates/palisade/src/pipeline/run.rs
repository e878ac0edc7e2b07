//! The async call: the policies in order around each attempt.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;

#[cfg(feature = "tracing")]
use super::call_span;
use super::classify::{FailureIf, Floor, RetryIf, RetryResult, Retryable};
use super::{Disabled, Now, Pipeline, RetryAfter};
use crate::circuit_breaker::Verdict;
use crate::error::Error;
use crate::fallback::{Action, Fallback};
use crate::predicate::Predicate;
use crate::retry::Step;
use crate::timeout::{AttemptScope, Timed, operation_result};

impl<R, B, H> Pipeline<R, B, H> {
    /// Runs `operation` through the pipeline (no hedging: see
    /// [`call_idempotent`](Self::call_idempotent)). `operation` makes one attempt each time it
    /// is called.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let p = palisade::presets::Preset::Cache.pipeline().build()?;
    /// let v = p.call(|| async { Ok::<_, std::io::Error>(7) }).await?;
    /// assert_eq!(v, 7);
    /// # Ok(()) }
    /// ```
    pub async fn call<T, E, F, Fut>(&self, operation: F) -> Result<T, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Debug + 'static,
        R: RetryIf<T, E>,
        B: FailureIf<T, E>,
        H: RetryAfter<E>,
    {
        self.traced(self.run(operation, false)).await
    }

    /// [`call`](Self::call) for an idempotent operation: with hedging configured, a slow
    /// attempt is raced by a second one and the first success wins. Declare only operations
    /// that are safe to run twice (reads, idempotent writes).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// let p = palisade::pipeline::Pipeline::builder()
    ///     .hedge(|h| h.delay(Duration::from_millis(10)))
    ///     .build()?;
    /// let v = p.call_idempotent(|| async { Ok::<_, std::io::Error>("read") }).await?;
    /// assert_eq!(v, "read");
    /// # Ok(()) }
    /// ```
    pub async fn call_idempotent<T, E, F, Fut>(&self, operation: F) -> Result<T, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Debug + 'static,
        R: RetryIf<T, E>,
        B: FailureIf<T, E>,
        H: RetryAfter<E>,
    {
        self.traced(self.run(operation, true)).await
    }

    /// [`call`](Self::call) with `fallback` outermost: the errors it handles — an open
    /// circuit, exhausted retries, a timeout, whatever it was built for — become its answer.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use palisade::fallback::Fallback;
    /// let p = palisade::pipeline::Pipeline::builder().circuit_breaker(|b| b).build()?;
    /// p.circuit_breaker().unwrap().force_open();
    /// let cached = Fallback::on_rejections().value("cached profile");
    /// let v = p.call_with_fallback(|| async { Ok::<_, std::io::Error>("live profile") }, &cached).await?;
    /// assert_eq!(v, "cached profile");
    /// # Ok(()) }
    /// ```
    pub async fn call_with_fallback<T, E, F, Fut, P, A>(
        &self,
        operation: F,
        fallback: &Fallback<P, A>,
    ) -> Result<T, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Debug + 'static,
        R: RetryIf<T, E>,
        B: FailureIf<T, E>,
        H: RetryAfter<E>,
        P: Predicate<Error<E>>,
        A: Action<T, E>,
    {
        fallback
            .recover(self.traced(self.run(operation, false)).await)
            .await
    }

    /// With the `tracing` feature, runs `call` in the `palisade.call` span; without, is `call`.
    fn traced<Fut: Future>(&self, call: Fut) -> impl Future<Output = Fut::Output> {
        #[cfg(feature = "tracing")]
        return ::tracing::Instrument::instrument(call, call_span(self.name()));
        #[cfg(not(feature = "tracing"))]
        call
    }

    async fn run<T, E, F, Fut>(&self, operation: F, idempotent: bool) -> Result<T, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Debug + 'static,
        R: RetryIf<T, E>,
        B: FailureIf<T, E>,
        H: RetryAfter<E>,
    {
        let start = self.start();
        let result = self.run_policies(operation, idempotent, start).await;
        self.completed(start, &result);
        result
    }

    async fn run_policies<T, E, F, Fut>(
        &self,
        mut operation: F,
        idempotent: bool,
        start: Option<crate::clock::Instant>,
    ) -> Result<T, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Debug + 'static,
        R: RetryIf<T, E>,
        B: FailureIf<T, E>,
        H: RetryAfter<E>,
    {
        let stack = &*self.stack;
        // What calls skip: read once, so one call sees one setting.
        let off = stack.switch.get();
        if off.passes_through() {
            return operation().await.map_err(Error::Operation);
        }
        let same = stack.same_clock;
        // One reading of the clock for every decision made before anything waited: the
        // call's start, if it was read for the listeners.
        let mut now = Now::new(&stack.clock, start);
        if let Some(limiter) = off.keep(Disabled::RATE_LIMIT, &stack.rate_limiter) {
            match stack.rate_limit_max_wait {
                // The in-process store decides at once, without a future.
                None if limiter.store().is_in_process() => {
                    let at = now.on(same.rate_limiter, limiter.clock());
                    if let Some(Err(refusal)) = limiter.admit_in_process(at) {
                        return Err(limiter.refusal(refusal));
                    }
                }
                // A store elsewhere decides asynchronously.
                None => {
                    let outcome = limiter.try_acquire_async(1).await;
                    now.waited();
                    outcome.map_err(|denied| limiter.rejection(denied))?;
                }
                Some(wait) => {
                    let outcome = limiter.acquire_n(1, Some(wait)).await;
                    now.waited();
                    outcome.map_err(|denied| limiter.rejection(denied))?;
                }
            }
        }
        let _slot = match off.keep(Disabled::BULKHEAD, &stack.bulkhead) {
            Some(bulkhead) => Some(match bulkhead.acquire_free() {
                Some(slot) => slot,
                None => {
                    let slot = bulkhead.acquire().await;
                    now.waited();
                    slot.map_err(Error::from)?
                }
            }),
            None => None,
        };
        match &stack.total_timeout {
            Some(timeout) => {
                let start = now.on(same.total_timeout, timeout.clock());
                timeout
                    .run_started(start, self.retried(&mut operation, idempotent, off, now))
                    .await
            }
            None => self.retried(&mut operation, idempotent, off, now).await,
        }
    }

    async fn retried<T, E, F, Fut>(
        &self,
        operation: &mut F,
        idempotent: bool,
        off: Disabled,
        mut now: Now<'_>,
    ) -> Result<T, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Debug + 'static,
        R: RetryIf<T, E>,
        B: FailureIf<T, E>,
        H: RetryAfter<E>,
    {
        let Some(retry) = off.keep(Disabled::RETRY, &self.stack.retry) else {
            return self.attempt(operation, idempotent, off, now).await;
        };
        let classify = Retryable {
            operation: &self.retry_if,
            rejections: self.stack.retry_rejections,
            idempotent: idempotent || self.stack.idempotent,
            classes: self.stack.retry_on,
            result: PhantomData,
            breaker: off.keep(Disabled::CIRCUIT_BREAKER, &self.stack.breaker),
        };
        let floor = Floor {
            hint: &self.retry_after,
        };
        let mut attempts =
            retry.begin(|| now.on(retry.clock().reads_like(&self.stack.clock), retry.clock()));
        loop {
            let outcome = self.attempt(operation, idempotent, off, now).await;
            // The attempt took time: later attempts read the clock again.
            now.waited();
            // The step ends before the sleep: a match's scrutinee would live across the await,
            // in the future's state, and every result would go through memory.
            let delay = match attempts.record_or_veto(
                outcome,
                &classify,
                &RetryResult(&self.retry_if, PhantomData),
                &floor,
                &classify,
            ) {
                Step::Done(result) => return result.map_err(Error::flatten),
                Step::Sleep(delay) => delay,
            };
            retry.clock().sleep(delay).await;
        }
    }

    async fn attempt<T, E, F, Fut>(
        &self,
        operation: &mut F,
        idempotent: bool,
        off: Disabled,
        mut now: Now<'_>,
    ) -> Result<T, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        B: FailureIf<T, E>,
    {
        let stack = &*self.stack;
        // The in-process decision is taken apart before any await: a match holding it across
        // the wait for a store elsewhere would keep it in the future's state.
        let (mut permit, mut elsewhere) = (None, None);
        if let Some(breaker) = off.keep(Disabled::CIRCUIT_BREAKER, &stack.breaker) {
            match breaker.acquire_in_process() {
                Some(decided) => permit = Some(decided.map_err(Error::from)?),
                None => elsewhere = Some(breaker),
            }
        }
        if let Some(breaker) = elsewhere {
            let decided = breaker.acquire_elsewhere().await;
            now.waited();
            permit = Some(decided.map_err(Error::from)?);
        }
        let this = self;
        let result = match (off.keep(Disabled::HEDGE, &stack.hedge), idempotent) {
            // Each hedged attempt starts when it is made: its deadline reads the clock then.
            (Some(hedge), true) => {
                hedge
                    .run(move || {
                        let timeout = this.stack.attempt_timeout.as_ref();
                        Timed::new(operation(), timeout, operation_result::<T, E>, AttemptScope)
                    })
                    .await
            }
            // One `Timed` around the operation's future: stored once however the policies nest.
            _ => {
                let timeout = stack
                    .attempt_timeout
                    .as_ref()
                    .map(|t| (t, now.on(stack.same_clock.attempt_timeout, t.clock())));
                Timed::started(operation(), timeout, operation_result::<T, E>, AttemptScope).await
            }
        };
        if let Some(permit) = permit {
            permit.record(self.verdict(&result));
        }
        result
    }

    pub(super) fn verdict<T, E>(&self, result: &Result<T, Error<E>>) -> Verdict
    where
        B: FailureIf<T, E>,
    {
        match result {
            Ok(value) if self.failure_if.result_is_failure(value) => Verdict::Failure,
            Ok(_) => Verdict::Success,
            Err(Error::Operation(error)) => self
                .failure_if
                .error_verdict_in(error, self.stack.failure_on),
            Err(Error::Timeout { .. }) => Verdict::Failure,
            Err(_) => Verdict::Ignored,
        }
    }
}
