//! tower integration: every policy and the pipeline as a [`Layer`] and a [`Service`].
//!
//! # Why
//!
//! axum, tonic, hyper and reqwest-middleware stacks are built from tower layers. Palisade's
//! layers wrap any `Service` with the same policies, and — unlike `tower::limit::RateLimit`
//! or `tower::limit::ConcurrencyLimit`, whose state lives in each service instance — a
//! layer's state is shared by every clone of the service it makes: one rate limit, one
//! breaker, one bulkhead for the whole stack, however many connections clone it.
//!
//! [`PipelineLayer`] applies a whole [`Pipeline`]; the single-policy layers
//! ([`PipelineLayer::new`] with a one-policy pipeline) cover "just a breaker" or "just a
//! rate limit", so there is one implementation to trust. The service clones the inner
//! service for each attempt (as `tower::retry` does) and drives its readiness inside the
//! call, so `poll_ready` is always ready and backpressure shows up as the pipeline's own
//! policies (bulkhead, rate limit) rather than as a stalled `poll_ready`.
//!
//! The service's error is [`Error<S::Error>`](Error). axum routes need an infallible service,
//! so there the layer goes under a `HandleErrorLayer` that turns the error into a response
//! (`503` with `Retry-After` from [`Error::retry_after`] for rejections); tonic and hyper
//! clients take the error as is.
//!
//! # Responses that are failures
//!
//! An HTTP 503 is a successful `Service::call` with a bad response. A
//! [`ResponseClassifier`] says which responses to retry (and count as breaker failures) and
//! how long the response asks to wait — the `Retry-After` hook tower's own retry lacks
//! (tower PR #698, reqwest-retry #146). Retry waits `max(backoff, retry_after)`. When the
//! last attempt still returns such a response, the caller gets that response (it is a valid
//! answer, not an error).
//!
//! ```
//! use palisade::pipeline::Pipeline;
//! use palisade::tower::PipelineLayer;
//! use std::time::Duration;
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pipeline = Pipeline::builder()
//!     .name("backend")
//!     .retry(|r| r.max_attempts(3).fixed(Duration::from_millis(10)))
//!     .build()?;
//! // Responses >= 500 are retried; a response may say how long to wait.
//! let layer = PipelineLayer::new(pipeline).classify_responses(|status: &u16| {
//!     (*status >= 500).then_some(None)
//! });
//! let mut service = ServiceBuilder::new()
//!     .layer(layer)
//!     .service_fn(|_req: &'static str| async { Ok::<u16, std::io::Error>(200) });
//! let status = service.ready().await?.call("GET /").await?;
//! assert_eq!(status, 200);
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tower_layer::Layer;
use tower_service::Service;

use crate::error::Error;
use crate::pipeline::{NoHint, Pipeline, RetryAfter};
use crate::predicate::{Always, Predicate};

/// Says whether a response is a failure to retry, and how long it asks to wait. Implemented
/// for every `Fn(&Resp) -> Option<Option<Duration>>`: `None` for a good response,
/// `Some(retry_after)` for one to retry. The default, [`AnyResponse`], accepts every
/// response.
///
/// ```
/// use palisade::tower::ResponseClassifier;
/// use std::time::Duration;
/// let classify = |status: &u16| match *status {
///     429 | 503 => Some(Some(Duration::from_secs(1))),
///     s if s >= 500 => Some(None),
///     _ => None,
/// };
/// assert_eq!(classify.classify(&503), Some(Some(Duration::from_secs(1))));
/// assert_eq!(classify.classify(&200), None);
/// ```
pub trait ResponseClassifier<Resp> {
    /// `None`: a good response. `Some(retry_after)`: a failure, to retry after at least
    /// `retry_after` if given.
    fn classify(&self, response: &Resp) -> Option<Option<Duration>>;
}

impl<Resp, F: Fn(&Resp) -> Option<Option<Duration>>> ResponseClassifier<Resp> for F {
    #[inline]
    fn classify(&self, response: &Resp) -> Option<Option<Duration>> {
        self(response)
    }
}

/// The default [`ResponseClassifier`]: every response is a good one.
///
/// ```
/// use palisade::tower::{AnyResponse, ResponseClassifier};
/// assert_eq!(AnyResponse.classify(&500u16), None);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyResponse;

impl<Resp> ResponseClassifier<Resp> for AnyResponse {
    #[inline(always)]
    fn classify(&self, _: &Resp) -> Option<Option<Duration>> {
        None
    }
}

/// Applies a [`Pipeline`] to a tower service; see the [module docs](self). Cheap to clone;
/// every service it makes shares the pipeline's state.
///
/// ```
/// use palisade::pipeline::Pipeline;
/// use palisade::tower::PipelineLayer;
/// let layer = PipelineLayer::new(Pipeline::builder().circuit_breaker(|b| b).build()?);
/// # let _ = layer;
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct PipelineLayer<R = Always, B = Always, H = NoHint, C = AnyResponse> {
    pipeline: Pipeline<R, B, H>,
    classify: C,
    idempotent: bool,
}

impl<R, B, H> PipelineLayer<R, B, H, AnyResponse> {
    /// A layer applying `pipeline`, treating every response as good.
    ///
    /// ```
    /// let layer = palisade::tower::PipelineLayer::new(palisade::pipeline::Pipeline::builder().build()?);
    /// # let _ = layer;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn new(pipeline: Pipeline<R, B, H>) -> Self {
        PipelineLayer {
            pipeline,
            classify: AnyResponse,
            idempotent: false,
        }
    }
}

/// One policy as a layer: `PipelineLayer::from(breaker)` and the like. The policy keeps its
/// name, clock and listeners, and its state is shared with every other user of it.
///
/// ```
/// use palisade::circuit_breaker::CircuitBreaker;
/// use palisade::tower::PipelineLayer;
/// let breaker = CircuitBreaker::builder().name("search").build()?;
/// let layer = PipelineLayer::from(breaker.clone());
/// # let _ = layer;
/// # Ok::<(), palisade::ConfigError>(())
/// ```
macro_rules! single_policy_layers {
    ($($policy:ty => $field:ident),* $(,)?) => {$(
        impl From<$policy> for PipelineLayer {
            fn from(policy: $policy) -> Self {
                let name: std::sync::Arc<str> = std::sync::Arc::from(policy.name());
                PipelineLayer::new(Pipeline::of(name, |stack| stack.$field = Some(policy)))
            }
        }
    )*};
}

single_policy_layers! {
    crate::rate_limit::RateLimiter => rate_limiter,
    crate::bulkhead::Bulkhead => bulkhead,
    crate::timeout::Timeout => attempt_timeout,
    crate::retry::Retry => retry,
    crate::circuit_breaker::CircuitBreaker => breaker,
    crate::hedge::Hedge => hedge,
}

impl<R, B, H, C> PipelineLayer<R, B, H, C> {
    /// Classifies responses: the ones `classify` marks are retried and count as breaker
    /// failures.
    ///
    /// ```
    /// let layer = palisade::tower::PipelineLayer::new(palisade::pipeline::Pipeline::builder().build()?)
    ///     .classify_responses(|status: &u16| (*status == 503).then_some(None::<std::time::Duration>));
    /// # let _ = layer;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn classify_responses<C2>(self, classify: C2) -> PipelineLayer<R, B, H, C2> {
        PipelineLayer {
            pipeline: self.pipeline,
            classify,
            idempotent: self.idempotent,
        }
    }

    /// Declares the wrapped service's requests idempotent, so the pipeline's hedging applies
    /// (requests are cloned for each attempt anyway). Off by default: a layer over a service
    /// that writes must not hedge.
    ///
    /// ```
    /// use std::time::Duration;
    /// let hedge = palisade::hedge::Hedge::builder().delay(Duration::from_millis(20)).build()?;
    /// let layer = palisade::tower::PipelineLayer::from(hedge).idempotent(true);
    /// # let _ = layer;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }
}

impl<S, R: Clone, B: Clone, H: Clone, C: Clone> Layer<S> for PipelineLayer<R, B, H, C> {
    type Service = PipelineService<S, R, B, H, C>;

    fn layer(&self, inner: S) -> Self::Service {
        PipelineService {
            inner,
            pipeline: self
                .pipeline
                .clone()
                .map_hooks(|r, b, h| (Lift(r), Lift(b), Lift(h))),
            classify: self.classify.clone(),
            idempotent: self.idempotent,
        }
    }
}

/// A tower service running each request through a [`Pipeline`]; made by [`PipelineLayer`].
/// Its error is [`Error<S::Error>`](Error): the inner service's error as
/// [`Error::Operation`], every policy's decision as its own variant.
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
pub struct PipelineService<S, R = Always, B = Always, H = NoHint, C = AnyResponse> {
    inner: S,
    pipeline: Pipeline<Lift<R>, Lift<B>, Lift<H>>,
    classify: C,
    idempotent: bool,
}

/// The pipeline's operation error inside the service: the inner service's error, or a
/// response the classifier marked as a failure.
enum Failure<E, Resp> {
    Error(E),
    Response {
        response: Resp,
        retry_after: Option<Duration>,
    },
}

impl<E: fmt::Debug, Resp> fmt::Debug for Failure<E, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Error(e) => e.fmt(f),
            Failure::Response { retry_after, .. } => f
                .debug_struct("FailedResponse")
                .field("retry_after", retry_after)
                .finish_non_exhaustive(),
        }
    }
}

/// The user's hooks, lifted to [`Failure`]: a failed response is always retried and always a
/// breaker failure, and waits what it asked for.
#[derive(Clone)]
struct Lift<P>(P);

impl<E, Resp, P: Predicate<E>> Predicate<Failure<E, Resp>> for Lift<P> {
    fn test(&self, failure: &Failure<E, Resp>) -> bool {
        match failure {
            Failure::Error(e) => self.0.test(e),
            Failure::Response { .. } => true,
        }
    }
}

impl<E, Resp, H: RetryAfter<E>> RetryAfter<Failure<E, Resp>> for Lift<H> {
    fn retry_after(&self, failure: &Failure<E, Resp>) -> Option<Duration> {
        match failure {
            Failure::Error(e) => self.0.retry_after(e),
            Failure::Response { retry_after, .. } => *retry_after,
        }
    }
}

impl<S, Req, R, B, H, C> Service<Req> for PipelineService<S, R, B, H, C>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send + 'static,
    S::Error: fmt::Debug + Send + 'static,
    Req: Clone + Send + 'static,
    R: Predicate<S::Error> + Clone + Send + Sync + 'static,
    B: Predicate<S::Error> + Clone + Send + Sync + 'static,
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
        let idempotent = self.idempotent;
        Box::pin(async move {
            let attempt = move || {
                let mut service = inner.clone();
                let request = request.clone();
                let classify = classify.clone();
                async move {
                    poll_fn(|cx| service.poll_ready(cx))
                        .await
                        .map_err(Failure::Error)?;
                    let response = service.call(request).await.map_err(Failure::Error)?;
                    match classify.classify(&response) {
                        None => Ok(response),
                        Some(retry_after) => Err(Failure::Response {
                            response,
                            retry_after,
                        }),
                    }
                }
            };
            let result = if idempotent {
                pipeline.call_idempotent(attempt).await
            } else {
                pipeline.call(attempt).await
            };
            match result {
                Ok(response) => Ok(response),
                Err(error) => settle(error),
            }
        })
    }
}

/// The caller's answer: a failed response that was the last word is returned as the response
/// (it is a valid answer); everything else keeps its error, with the inner service's error
/// as the operation error.
fn settle<E, Resp>(error: Error<Failure<E, Resp>>) -> Result<Resp, Error<E>> {
    Err(match error {
        Error::Operation(Failure::Response { response, .. }) => return Ok(response),
        Error::Operation(Failure::Error(e)) => Error::Operation(e),
        Error::RetriesExhausted {
            attempts,
            reason,
            last_error,
        } => match settle(*last_error) {
            Ok(response) => return Ok(response),
            Err(last) => Error::retries_exhausted(attempts, reason, last),
        },
        Error::CircuitOpen {
            name,
            state,
            retry_after,
        } => Error::CircuitOpen {
            name,
            state,
            retry_after,
        },
        Error::RateLimited { name, retry_after } => Error::RateLimited { name, retry_after },
        Error::InsufficientCapacity {
            name,
            requested,
            capacity,
        } => Error::InsufficientCapacity {
            name,
            requested,
            capacity,
        },
        Error::Timeout { limit } => Error::Timeout { limit },
        Error::BulkheadFull {
            name,
            max_concurrent,
        } => Error::BulkheadFull {
            name,
            max_concurrent,
        },
    })
}

impl<R, B, H, C> fmt::Debug for PipelineLayer<R, B, H, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineLayer")
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}

impl<S, R, B, H, C> fmt::Debug for PipelineService<S, R, B, H, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineService")
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}
