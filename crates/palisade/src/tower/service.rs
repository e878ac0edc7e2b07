//! [`PipelineService`]: each request through the pipeline, one inner call per attempt.

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tower_service::Service;

use super::ResponseClassifier;
use super::replay::{Replay, ReplayRequest};
use crate::circuit_breaker::Verdict;
use crate::classify::ClassSet;
use crate::error::Error;
use crate::pipeline::{self, NoHint, Pipeline, RetryAfter};
use crate::predicate::Always;
use crate::timeout::TimeoutScope;

/// A tower service running each request through a [`Pipeline`]; made by
/// [`PipelineLayer`](super::PipelineLayer). Its error is [`Error<S::Error>`](Error): the inner
/// service's error as [`Error::Operation`], every policy's decision as its own variant.
///
/// ```
/// use palisade::tower::PipelineLayer;
/// use tower::{Layer, Service, ServiceExt};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let layer = PipelineLayer::new(palisade::pipeline::Pipeline::builder().build()?);
/// let mut svc = layer.layer(tower::service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x + 1) }));
/// assert_eq!(svc.ready().await?.call(1).await?, 2);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PipelineService<
    S,
    R = Always,
    B = Always,
    H = NoHint,
    C = super::AnyResponse,
    P = super::CloneRequests,
> {
    inner: S,
    pipeline: Pipeline<RetryIf<R>, FailureIf<B>, Hint<H>>,
    classify: C,
    replay: P,
    idempotent: bool,
}

impl<S, R, B, H, C, P> PipelineService<S, R, B, H, C, P> {
    pub(super) fn new(
        inner: S,
        pipeline: Pipeline<RetryIf<R>, FailureIf<B>, Hint<H>>,
        classify: C,
        replay: P,
        idempotent: bool,
    ) -> Self {
        PipelineService {
            inner,
            pipeline,
            classify,
            replay,
            idempotent,
        }
    }
}

/// The pipeline's operation error inside the service: the inner service's error, a response
/// the classifier marked as a failure, or no request for another attempt. `replayable` says
/// whether the request can be sent again: retry stops when it cannot.
enum Failure<E, Resp> {
    Error {
        error: E,
        replayable: bool,
    },
    Response {
        response: Resp,
        retry_after: Option<Duration>,
        replayable: bool,
    },
    NotReplayable,
}

impl<E: fmt::Debug, Resp> fmt::Debug for Failure<E, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Error {
                error,
                replayable: true,
            } => error.fmt(f),
            Failure::Error { error, .. } => write!(f, "{error:?} (request not replayable)"),
            Failure::Response {
                retry_after,
                replayable,
                ..
            } => f
                .debug_struct("FailedResponse")
                .field("retry_after", retry_after)
                .field("replayable", replayable)
                .finish_non_exhaustive(),
            Failure::NotReplayable => f.write_str("NotReplayable"),
        }
    }
}

/// The user's retry hook, lifted to [`Failure`]: a failed response is retried, and
/// nothing is retried that cannot be sent again.
#[derive(Clone)]
pub(super) struct RetryIf<P>(pub(super) P);

impl<E, Resp, P: pipeline::RetryIf<Resp, E>> pipeline::RetryIf<Resp, Failure<E, Resp>>
    for RetryIf<P>
{
    fn retry_error(&self, failure: &Failure<E, Resp>, idempotent: bool) -> bool {
        self.retry_error_in(failure, idempotent, None)
    }

    fn retry_error_in(
        &self,
        failure: &Failure<E, Resp>,
        idempotent: bool,
        classes: Option<ClassSet>,
    ) -> bool {
        match failure {
            Failure::Error { error, replayable } => {
                *replayable && self.0.retry_error_in(error, idempotent, classes)
            }
            Failure::Response { replayable, .. } => *replayable,
            Failure::NotReplayable => false,
        }
    }

    fn retry_result(&self, response: &Resp) -> bool {
        self.0.retry_result(response)
    }
}

/// The user's breaker hook, lifted to [`Failure`]: a failed response is a failure; a request
/// that was never sent counts as nothing.
#[derive(Clone)]
pub(super) struct FailureIf<P>(pub(super) P);

impl<E, Resp, P: pipeline::FailureIf<Resp, E>> pipeline::FailureIf<Resp, Failure<E, Resp>>
    for FailureIf<P>
{
    fn error_verdict(&self, failure: &Failure<E, Resp>) -> Verdict {
        self.error_verdict_in(failure, None)
    }

    fn error_verdict_in(&self, failure: &Failure<E, Resp>, classes: Option<ClassSet>) -> Verdict {
        match failure {
            Failure::Error { error, .. } => self.0.error_verdict_in(error, classes),
            Failure::Response { .. } => Verdict::Failure,
            Failure::NotReplayable => Verdict::Ignored,
        }
    }

    fn result_is_failure(&self, response: &Resp) -> bool {
        self.0.result_is_failure(response)
    }
}

/// The user's `Retry-After` hook, lifted to [`Failure`]: a failed response waits what it
/// asked for.
#[derive(Clone)]
pub(super) struct Hint<H>(pub(super) H);

impl<E, Resp, H: RetryAfter<E>> RetryAfter<Failure<E, Resp>> for Hint<H> {
    fn retry_after(&self, failure: &Failure<E, Resp>) -> Option<Duration> {
        match failure {
            Failure::Error { error, .. } => self.0.retry_after(error),
            Failure::Response { retry_after, .. } => *retry_after,
            Failure::NotReplayable => None,
        }
    }
}

/// The requests of one call: the next attempt's, and the replayer making more.
struct Requests<Q: ReplayRequest> {
    next: Option<Q::Request>,
    replayer: Q,
    repeats: bool,
}

impl<Q: ReplayRequest> Requests<Q> {
    /// The request for an attempt starting now.
    fn take(&mut self) -> Option<Q::Request> {
        self.next.take().or_else(|| self.replayer.replay())
    }

    /// After a failed attempt: makes the next request at once, so the failed attempt's
    /// request is done with (a replayed body stops reading) before retry decides, and
    /// says whether there is one.
    fn prepare(&mut self) -> bool {
        if self.repeats && self.next.is_none() {
            self.next = self.replayer.replay();
        }
        self.next.is_some()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S, Req, R, B, H, C, P> Service<Req> for PipelineService<S, R, B, H, C, P>
where
    P: Replay<Req>,
    P::Request: Send + 'static,
    P::Replayer: Send + 'static,
    S: Service<P::Request> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send + 'static,
    S::Error: fmt::Debug + Send + 'static,
    R: pipeline::RetryIf<S::Response, S::Error> + Clone + Send + Sync + 'static,
    B: pipeline::FailureIf<S::Response, S::Error> + Clone + Send + Sync + 'static,
    H: RetryAfter<S::Error> + Clone + Send + Sync + 'static,
    C: ResponseClassifier<S::Response> + Clone + Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, Error<S::Error>>> + Send>>;

    /// Always ready: each attempt clones the inner service and waits for its readiness
    /// inside the call, where the pipeline's timeouts bound the wait.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let inner = self.inner.clone();
        let classify = self.classify.clone();
        let pipeline = self.pipeline.clone();
        let (first, replayer) = self
            .replay
            .start(request, pipeline.repeats(self.idempotent));
        // Hedging only for requests that can be in flight several at once.
        let hedged = self.idempotent && replayer.concurrent();
        let requests = Arc::new(Mutex::new(Requests {
            next: Some(first),
            replayer,
            repeats: pipeline.repeats(hedged),
        }));
        Box::pin(async move {
            let attempt = move || {
                let mut service = inner.clone();
                let classify = classify.clone();
                let requests = Arc::clone(&requests);
                async move {
                    let Some(request) = lock(&requests).take() else {
                        return Err(Failure::NotReplayable);
                    };
                    let replayable = || lock(&requests).prepare();
                    if let Err(error) = poll_fn(|cx| service.poll_ready(cx)).await {
                        return Err(Failure::Error {
                            error,
                            replayable: replayable(),
                        });
                    }
                    let response = match service.call(request).await {
                        Ok(response) => response,
                        Err(error) => {
                            return Err(Failure::Error {
                                error,
                                replayable: replayable(),
                            });
                        }
                    };
                    match classify.classify(&response) {
                        None => Ok(response),
                        Some(retry_after) => Err(Failure::Response {
                            response,
                            retry_after,
                            replayable: replayable(),
                        }),
                    }
                }
            };
            let result = if hedged {
                pipeline.call_idempotent(attempt).await
            } else {
                pipeline.call(attempt).await
            };
            match result {
                Ok(response) => Ok(response),
                Err(error) => settle(error, &|| match pipeline.attempt_timeout() {
                    Some(timeout) => timeout.error(TimeoutScope::Attempt),
                    // (Not reached: only a timed-out attempt keeps its request.)
                    None => Error::timeout(pipeline.name(), TimeoutScope::Attempt, Duration::ZERO),
                }),
            }
        })
    }
}

/// The caller's answer: a failed response that was the last word is returned as the response
/// (it is a valid answer); everything else keeps its error, with the inner service's error
/// as the operation error. A request that could not be made again follows an attempt that
/// timed out (the only attempt that ends without a word to its request), so that timeout is
/// the answer.
fn settle<E, Resp>(
    error: Error<Failure<E, Resp>>,
    attempt_timed_out: &dyn Fn() -> Error<E>,
) -> Result<Resp, Error<E>> {
    match error {
        Error::Operation(Failure::Response { response, .. }) => Ok(response),
        Error::RetriesExhausted {
            name,
            attempts,
            reason,
            last_error,
        } => settle(*last_error, attempt_timed_out)
            .map_err(|last| Error::retries_exhausted(name, attempts, reason, last)),
        // The policies' own rejections pass through as they are.
        other => Err(other.and_then_operation(|failure| match failure {
            Failure::Error { error, .. } => Error::Operation(error),
            // (A response was settled above.)
            Failure::NotReplayable | Failure::Response { .. } => attempt_timed_out(),
        })),
    }
}

impl<S, R, B, H, C, P> fmt::Debug for PipelineService<S, R, B, H, C, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineService")
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}
