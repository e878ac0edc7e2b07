#![cfg(feature = "http")]
//! The tower layers over real HTTP stacks, on loopback: an axum `Router` behind the layer,
//! served by `axum::serve`, and a hyper service over hyper's `Incoming` body, both called
//! through hyper-util's client over TCP. Nothing here is `Clone`: request bodies are
//! streams.
//!
//! The guarantees: a 503 then a 200 is retried; a streamed POST within the replay cap is
//! retried and the server sees its whole body each time; one past the cap is sent once and
//! the client gets the 503; the policies that never repeat a request take any body.
//!
//! Timing is kept out: retry's backoff here is 1 ms of real time, and nothing asserts how
//! long anything took (real sockets do not run on tokio's paused clock).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::State;
use axum::http::{Request, Response, StatusCode};
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use palisade::bulkhead::Bulkhead;
use palisade::circuit_breaker::CircuitBreaker;
use palisade::event::Event;
use palisade::pipeline::Pipeline;
use palisade::rate_limit::{Algorithm, Rate, RateLimiter};
use palisade::retry::{RetryEvent, StopReason};
use palisade::timeout::Timeout;
use palisade::tower::{BufferBodies, PipelineLayer, Replay, ReplayBody, ReplayRequest, Superseded};
use tokio::net::TcpListener;
use tower::{ServiceBuilder, service_fn};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A request body streamed in chunks of unknown total length (sent chunked): no `Clone`,
/// no size hint to trust.
struct Chunks(VecDeque<Bytes>);

impl Chunks {
    fn new(count: usize, size: usize) -> Self {
        Chunks(
            (0..count)
                .map(|i| Bytes::from(vec![b'a' + (i % 26) as u8; size]))
                .collect(),
        )
    }

    fn empty() -> Self {
        Chunks(VecDeque::new())
    }

    fn concat(count: usize, size: usize) -> Bytes {
        Chunks::new(count, size).0.into_iter().flatten().collect()
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
    }
}

fn client() -> Client<HttpConnector, Chunks> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends `body` to `addr` + `path` and returns the status and the response body.
async fn send(addr: SocketAddr, method: &str, path: &str, body: Chunks) -> (StatusCode, Bytes) {
    let request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .body(body)
        .unwrap();
    let response = client().request(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body)
}

/// What the axum app saw: every request body, in order; it answers 503 to the first
/// `failures` requests and 200 after.
#[derive(Clone, Default)]
struct App {
    bodies: Arc<Mutex<Vec<Bytes>>>,
    failures: u32,
    seen: Arc<AtomicU32>,
}

impl App {
    fn failing(failures: u32) -> App {
        App {
            failures,
            ..App::default()
        }
    }

    fn answer(&self, body: Bytes) -> StatusCode {
        self.bodies.lock().unwrap().push(body);
        if self.seen.fetch_add(1, Ordering::SeqCst) < self.failures {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        }
    }

    fn bodies(&self) -> Vec<Bytes> {
        self.bodies.lock().unwrap().clone()
    }
}

async fn upload(State(app): State<App>, body: Bytes) -> StatusCode {
    app.answer(body)
}

async fn flaky(State(app): State<App>) -> StatusCode {
    app.answer(Bytes::new())
}

fn server_errors(response: &axum::response::Response) -> Option<Option<Duration>> {
    (response.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(None)
}

/// Retries of a pipeline named "backend": why each call's retry gave up.
type GaveUp = Arc<Mutex<Vec<(StopReason, String)>>>;

/// An axum app behind a retrying pipeline that replays bodies up to `cap` bytes, served on
/// loopback by `axum::serve`.
async fn serve_router(app: App, cap: usize) -> (SocketAddr, GaveUp) {
    let gave_up = GaveUp::default();
    let log = gave_up.clone();
    let pipeline = Pipeline::builder()
        .name("backend")
        .retry(|r| r.max_attempts(3).fixed(Duration::from_millis(1)))
        .on_event(move |event: &Event<'_>| {
            if let Event::Retry(RetryEvent::GaveUp { reason, cause, .. }) = event {
                log.lock().unwrap().push((*reason, format!("{cause:?}")));
            }
        })
        .build()
        .unwrap();
    let layer = PipelineLayer::new(pipeline)
        .replay(BufferBodies::up_to(cap))
        .classify_responses(server_errors);
    let router = Router::new()
        .route("/upload", post(upload))
        .route("/flaky", get(flaky))
        .with_state(app)
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(
                    |error: palisade::Error<Infallible>| async move {
                        (StatusCode::SERVICE_UNAVAILABLE, error.to_string())
                    },
                ))
                .layer(layer),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, gave_up)
}

/// Serves `service` (over hyper's own `Incoming` body) on loopback with hyper's HTTP/1.1
/// server, one task per connection.
async fn serve_hyper<S>(service: S) -> SocketAddr
where
    S: tower::Service<Request<Incoming>, Response = Response<String>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

// ---------------------------------------------------------------------------------------------
// axum Router behind the layer
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn router_answering_503_then_200_is_retried() {
    let app = App::failing(1);
    let (addr, _) = serve_router(app.clone(), 1024).await;

    let (status, _) = send(addr, "GET", "/flaky", Chunks::empty()).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.bodies().len(), 2, "one 503, then the retry's 200");
}

#[tokio::test]
async fn streamed_post_within_the_cap_is_retried_with_its_whole_body() {
    let app = App::failing(1);
    let (addr, _) = serve_router(app.clone(), 64 * 1024).await;

    // 16 chunks of 1 KiB, sent chunked: the first attempt streams it as it comes.
    let (status, _) = send(addr, "POST", "/upload", Chunks::new(16, 1024)).await;

    assert_eq!(status, StatusCode::OK);
    let whole = Chunks::concat(16, 1024);
    assert_eq!(app.bodies(), vec![whole.clone(), whole]);
}

#[tokio::test]
async fn streamed_post_past_the_cap_is_sent_once_and_its_503_returned() {
    let app = App::failing(1);
    let (addr, gave_up) = serve_router(app.clone(), 8 * 1024).await;

    let (status, _) = send(addr, "POST", "/upload", Chunks::new(16, 1024)).await;

    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "the 503 itself");
    assert_eq!(
        app.bodies(),
        vec![Chunks::concat(16, 1024)],
        "sent once, whole"
    );
    let gave_up = gave_up.lock().unwrap().clone();
    assert_eq!(gave_up.len(), 1);
    assert_eq!(gave_up[0].0, StopReason::NotRetryable);
    assert!(
        gave_up[0].1.contains("replayable: false"),
        "{}",
        gave_up[0].1
    );
}

#[tokio::test]
async fn a_body_within_the_cap_is_retried_until_max_attempts() {
    let app = App::failing(u32::MAX);
    let (addr, gave_up) = serve_router(app.clone(), 1024).await;

    let (status, _) = send(addr, "POST", "/upload", Chunks::new(2, 100)).await;

    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "the last 503");
    assert_eq!(app.bodies(), vec![Chunks::concat(2, 100); 3]);
    let reason = gave_up.lock().unwrap()[0].0;
    assert_eq!(reason, StopReason::MaxAttempts { max_attempts: 3 });
}

// ---------------------------------------------------------------------------------------------
// hyper service over `Incoming`
// ---------------------------------------------------------------------------------------------

/// A hyper handler reading the whole body: 503 for the first `failures` requests.
fn echo(
    failures: u32,
    seen: Arc<Mutex<Vec<Bytes>>>,
) -> impl tower::Service<
    Request<ReplayBody<Incoming>>,
    Response = Response<String>,
    Error = std::io::Error,
    Future: Send,
> + Clone
+ Send {
    service_fn(move |request: Request<ReplayBody<Incoming>>| {
        let seen = seen.clone();
        async move {
            let body = request.into_body().collect().await;
            let body = body.map_err(std::io::Error::other)?.to_bytes();
            let n = {
                let mut seen = seen.lock().unwrap();
                seen.push(body.clone());
                seen.len() as u32
            };
            let status = if n <= failures {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            };
            let mut response = Response::new(String::from_utf8_lossy(&body).into_owned());
            *response.status_mut() = status;
            Ok(response)
        }
    })
}

#[tokio::test]
async fn hyper_service_over_incoming_retries_a_streamed_body() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let pipeline = Pipeline::builder()
        .retry(|r| r.max_attempts(2).fixed(Duration::from_millis(1)))
        .build()
        .unwrap();
    let layer = PipelineLayer::new(pipeline)
        .replay(BufferBodies::new())
        .classify_responses(|r: &Response<String>| r.status().is_server_error().then_some(None));
    let addr = serve_hyper(
        ServiceBuilder::new()
            .layer(layer)
            .service(echo(1, seen.clone())),
    )
    .await;

    let (status, body) = send(addr, "POST", "/", Chunks::new(3, 10)).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        Chunks::concat(3, 10),
        "the retry echoed the whole body"
    );
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn rate_limit_bulkhead_breaker_and_timeout_take_a_non_clone_body() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let limiter = RateLimiter::builder(Algorithm::TokenBucket {
        rate: Rate::per_second(100),
        capacity: 10,
        initial_tokens: None,
    })
    .build()
    .unwrap();
    let bulkhead = Bulkhead::builder().max_concurrent(4).build().unwrap();
    let breaker = CircuitBreaker::builder().build().unwrap();
    let timeout = Timeout::builder()
        .limit(Duration::from_secs(30))
        .build()
        .unwrap();
    // No `replay(...)`: these layers send each request once, whatever its type, and pass the
    // request through unchanged (the handler takes `Request<Incoming>` itself).
    let handler = service_fn(move |request: Request<Incoming>| {
        let seen = seen.clone();
        async move {
            let body = request.into_body().collect().await?.to_bytes();
            seen.lock().unwrap().push(body);
            Ok::<_, hyper::Error>(Response::new(String::from("ok")))
        }
    });
    let addr = serve_hyper(
        ServiceBuilder::new()
            .layer(PipelineLayer::from(limiter))
            .layer(PipelineLayer::from(bulkhead))
            .layer(PipelineLayer::from(breaker.clone()))
            .layer(PipelineLayer::from(timeout))
            .service(handler),
    )
    .await;

    let (get, body) = send(addr, "GET", "/", Chunks::empty()).await;
    let (post, _) = send(addr, "POST", "/", Chunks::new(4, 1024)).await;

    assert_eq!((get, post), (StatusCode::OK, StatusCode::OK));
    assert_eq!(body, "ok");
    assert_eq!(breaker.state(), palisade::circuit_breaker::State::Closed);
}

// ---------------------------------------------------------------------------------------------
// The replay buffer itself
// ---------------------------------------------------------------------------------------------

/// A body of `chunks`, then `trailers` if any.
struct WithTrailers(VecDeque<Bytes>, Option<axum::http::HeaderMap>);

impl Body for WithTrailers {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let frame = match self.0.pop_front() {
            Some(chunk) => Frame::data(chunk),
            None => match self.1.take() {
                Some(trailers) => Frame::trailers(trailers),
                None => return Poll::Ready(None),
            },
        };
        Poll::Ready(Some(Ok(frame)))
    }
}

fn upload_request(body: Chunks) -> Request<Chunks> {
    Request::post("/upload").body(body).unwrap()
}

#[tokio::test]
async fn a_replay_after_a_partial_read_reads_on_from_the_source() {
    let (first, mut replayer) =
        BufferBodies::up_to(1024).start(upload_request(Chunks::new(4, 10)), true);
    let mut body = first.into_body();
    // The first attempt's server read two chunks, answered, and dropped the rest.
    body.frame().await.unwrap().unwrap();
    body.frame().await.unwrap().unwrap();
    drop(body);

    let again = replayer.replay().expect("40 bytes fit");
    assert_eq!(again.method(), "POST");
    assert_eq!(again.uri(), "/upload");
    let whole = again.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(whole, Chunks::concat(4, 10));
}

#[tokio::test]
async fn a_replay_supersedes_the_earlier_body() {
    let (first, mut replayer) =
        BufferBodies::up_to(1024).start(upload_request(Chunks::new(2, 10)), true);
    let mut stale = first.into_body();
    let second = replayer.replay().unwrap();

    let error = stale.frame().await.unwrap().unwrap_err();
    assert!(error.is::<Superseded>(), "{error}");
    let whole = second.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(whole, Chunks::concat(2, 10));
}

#[tokio::test]
async fn trailers_are_replayed_with_the_data() {
    let mut trailers = axum::http::HeaderMap::new();
    trailers.insert("grpc-status", "0".parse().unwrap());
    let body = WithTrailers(VecDeque::from([Bytes::from("ab")]), Some(trailers.clone()));
    let request = Request::post("/").body(body).unwrap();
    let (first, mut replayer) = BufferBodies::new().start(request, true);

    let collected = first.into_body().collect().await.unwrap();
    assert_eq!(collected.trailers(), Some(&trailers));
    let again = replayer
        .replay()
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();
    assert_eq!(again.trailers(), Some(&trailers));
    assert_eq!(again.to_bytes(), "ab");
}

#[tokio::test]
async fn past_the_cap_the_first_attempt_streams_on_and_no_replay_is_made() {
    let (first, mut replayer) =
        BufferBodies::up_to(25).start(upload_request(Chunks::new(3, 10)), true);

    let whole = first.into_body().collect().await.unwrap().to_bytes();

    assert_eq!(whole, Chunks::concat(3, 10), "the attempt got every byte");
    assert!(replayer.replay().is_none());
}

#[tokio::test]
async fn only_a_body_known_empty_is_replayed_concurrently() {
    let get = Request::get("/")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let (_, empty) = BufferBodies::new().start(get, true);
    assert!(empty.concurrent(), "hedging may run it twice at once");
    // A stream with nothing left to send may not say so: it is read, kept and replayed in turn.
    let (_, silent) = BufferBodies::new().start(upload_request(Chunks::empty()), true);
    assert!(!silent.concurrent());
    let (_, streamed) = BufferBodies::new().start(upload_request(Chunks::new(1, 1)), true);
    assert!(!streamed.concurrent());
}

#[tokio::test]
async fn nothing_is_kept_when_the_pipeline_never_repeats() {
    let (first, mut replayer) = BufferBodies::new().start(upload_request(Chunks::new(2, 5)), false);
    assert!(replayer.replay().is_none());
    let whole = first.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(whole, Chunks::concat(2, 5));
}

#[tokio::test(start_paused = true)]
async fn an_idempotent_get_is_hedged_and_a_post_with_a_body_is_not() {
    use tower::ServiceExt;
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let hedge = palisade::hedge::Hedge::builder()
        .delay(Duration::from_millis(20))
        .clock(palisade::clock::Clock::tokio())
        .build()
        .unwrap();
    let service = ServiceBuilder::new()
        .layer(
            PipelineLayer::from(hedge)
                .replay(BufferBodies::new())
                .idempotent(true),
        )
        .service_fn(
            move |request: Request<ReplayBody<http_body_util::Full<Bytes>>>| {
                let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
                async move {
                    let body = request.into_body().collect().await?.to_bytes();
                    if first {
                        tokio::time::sleep(Duration::from_secs(10)).await; // the slow first attempt
                    }
                    Ok::<_, Box<dyn std::error::Error + Send + Sync>>(body.len())
                }
            },
        );

    let get = Request::get("/")
        .body(http_body_util::Full::default())
        .unwrap();
    let started = tokio::time::Instant::now();
    assert_eq!(service.clone().oneshot(get).await.unwrap(), 0);
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(20),
        "the hedge won"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // A body that may be streaming is never sent twice at once: the slow attempt is waited for.
    calls.store(0, Ordering::SeqCst);
    let post = Request::post("/")
        .body(http_body_util::Full::from("x"))
        .unwrap();
    assert_eq!(service.oneshot(post).await.unwrap(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
