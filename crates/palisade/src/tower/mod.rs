//! tower integration: every policy and the pipeline as a [`Layer`](tower_layer::Layer) and a
//! [`Service`](tower_service::Service).
//!
//! # Why
//!
//! axum, tonic, hyper and reqwest-middleware stacks are built from tower layers. Palisade's
//! layers wrap any `Service` with the same policies, and — unlike `tower::limit::RateLimit`
//! or `tower::limit::ConcurrencyLimit`, whose state lives in each service instance — a
//! layer's state is shared by every clone of the service it makes: one rate limit, one
//! breaker, one bulkhead for the whole stack, however many connections clone it.
//!
//! [`PipelineLayer`] applies a whole [`Pipeline`](crate::pipeline::Pipeline); the
//! single-policy layers (`PipelineLayer::from(breaker)`) cover "just a breaker" or "just a
//! rate limit", so there is one implementation to trust. The service clones the inner
//! service for each attempt (as `tower::retry` does) and drives its readiness inside the
//! call, so `poll_ready` is always ready and backpressure shows up as the pipeline's own
//! policies (bulkhead, rate limit) rather than as a stalled `poll_ready`.
//!
//! The service's error is [`Error<S::Error>`](crate::Error). axum routes need an infallible
//! service, so there the layer goes under a `HandleErrorLayer` that turns the error into a
//! response (`503` with `Retry-After` from [`Error::retry_after`](crate::Error::retry_after)
//! for rejections); tonic and hyper clients take the error as is.
//!
//! # Requests that are not `Clone`
//!
//! Retrying or hedging sends a request again, and HTTP requests are not `Clone`: an
//! `http::Request<B>` body is a stream, read once. tower's own retry leaves it to
//! `Policy::clone_request`, which cannot clone a stream (tower #682, #790), so no stack
//! retries a streamed body. Here a [`Replay`] chosen with [`PipelineLayer::replay`] says how
//! each attempt gets its request:
//!
//! - [`CloneRequests`], the default of [`PipelineLayer::new`]: `Req: Clone`, cloned.
//! - [`OneAttempt`]: anything, sent once; retry and hedging do not repeat it, every other
//!   policy applies. The layers of rate limit, bulkhead, breaker and timeout use it, so they
//!   wrap any service without a `Clone` bound.
//! - `BufferBodies` (feature `http`): any `http::Request<B>`. The first attempt starts at
//!   once and streams the body while keeping up to a cap (64 KiB by default) of it; a retry
//!   replays what was kept and reads on from the source. A body longer than the cap is sent
//!   once and not retried: the caller gets that attempt's answer (the failed response
//!   itself, when the classifier marked one), and retry's
//!   [`GaveUp`](crate::retry::RetryEvent::GaveUp) event says
//!   [`NotRetryable`](crate::retry::StopReason::NotRetryable), its cause marked
//!   `replayable: false`.
//!
//! Why tee rather than buffer first: buffering the whole body before the first attempt
//! delays every call by its upload, and deadlocks a streaming call whose body waits on its
//! response (gRPC bidirectional streams). Teeing costs the first attempt nothing — a kept
//! frame is a `Bytes` reference, not a copy — and memory is bounded by the cap.
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
//!
//! Over `http::Request<B>` (an axum `Router`, a hyper or tonic service): the inner service
//! takes `http::Request<ReplayBody<B>>`, which axum's `Router` and hyper's client accept.
//!
#![cfg_attr(feature = "http", doc = "```")]
#![cfg_attr(not(feature = "http"), doc = "```ignore")]
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use palisade::pipeline::Pipeline;
//! use palisade::tower::{BufferBodies, PipelineLayer, ReplayBody};
//! use std::io;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let pipeline = Pipeline::builder()
//!     .retry(|r| r.max_attempts(3).fixed(Duration::from_millis(10)))
//!     .build()?;
//! let layer = PipelineLayer::new(pipeline)
//!     .replay(BufferBodies::new()) // bodies of up to 64 KiB are retried
//!     .classify_responses(|r: &Response<String>| r.status().is_server_error().then_some(None));
//! static CALLS: AtomicU32 = AtomicU32::new(0);
//! let service = ServiceBuilder::new().layer(layer).service_fn(
//!     |req: Request<ReplayBody<Full<Bytes>>>| async move {
//!         let body = req.into_body().collect().await.map_err(io::Error::other)?.to_bytes();
//!         let mut response = Response::new(String::from_utf8_lossy(&body).into_owned());
//!         if CALLS.fetch_add(1, Ordering::Relaxed) == 0 {
//!             *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
//!         }
//!         Ok::<_, io::Error>(response)
//!     },
//! );
//! let request = Request::post("/orders").body(Full::<Bytes>::from("order #1"))?;
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.body(), "order #1"); // the second attempt got the whole body
//! assert_eq!(CALLS.load(Ordering::Relaxed), 2);
//! # Ok(()) }
//! ```

#[cfg(feature = "http")]
mod body;
mod layer;
mod replay;
mod service;

#[cfg(feature = "http")]
pub use body::{BodyReplayer, BufferBodies, ReplayBody, Superseded};
pub use layer::PipelineLayer;
pub use replay::{CloneRequests, Cloned, Never, OneAttempt, Replay, ReplayRequest};
pub use service::PipelineService;

use std::time::Duration;

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
