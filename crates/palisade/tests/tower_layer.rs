#![cfg(feature = "tower")]
//! The pipeline as a tower `Layer` + `Service`: state shared by every clone, response
//! classification with a `Retry-After` hook, the last failed response as the answer, inner
//! errors as `Error::Operation`, `poll_ready` always ready.
//!
//! Some tests talk to a real HTTP/1.1 server on loopback (a hand-written responder on
//! tokio's `TcpListener`, and a tiny client over `TcpStream`). They run on tokio's paused
//! clock: no timer is pending while a request is in flight (the pipelines here have no
//! timeouts), so virtual time moves only through retry's backoff sleeps, and every elapsed
//! time asserted is exact however slow the machine is.

mod common;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use common::retry::fixed;
use common::time::{ms, secs};
use palisade::Error;
use palisade::circuit_breaker::State;
use palisade::clock::Clock;
use palisade::pipeline::{Pipeline, PipelineBuilder};
use palisade::rate_limit::{Algorithm, Rate};
use palisade::retry::StopReason;
use palisade::timeout::TimeoutScope;
use palisade::tower::{OneAttempt, PipelineLayer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, sleep};
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn builder() -> PipelineBuilder {
    Pipeline::builder().name("backend").clock(Clock::tokio())
}

/// An HTTP response as the tiny client parsed it.
#[derive(Debug, Clone, PartialEq)]
struct Response {
    status: u16,
    retry_after: Option<Duration>,
    body: String,
}

/// The usual HTTP classification: 429 and 503 are retried after their `Retry-After`, other
/// 5xx are retried on the backoff, everything else is an answer.
fn classify(response: &Response) -> Option<Option<Duration>> {
    match response.status {
        429 | 503 => Some(response.retry_after),
        s if s >= 500 => Some(None),
        _ => None,
    }
}

/// A loopback HTTP/1.1 server: answers the n-th request with the n-th scripted
/// `(status, Retry-After seconds)` (the last one once the script runs out), one request per
/// connection, and records when (in virtual time since `start`) each request arrived.
struct Server {
    addr: SocketAddr,
    arrivals: Arc<Mutex<Vec<Duration>>>,
}

impl Server {
    async fn start(script: Vec<(u16, Option<u64>)>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let log = arrivals.clone();
        let start = Instant::now();
        tokio::spawn(async move {
            let mut n = 0;
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                read_request(&mut stream).await;
                log.lock().unwrap().push(start.elapsed());
                let (status, retry_after) = script[n.min(script.len() - 1)];
                n += 1;
                let body = if status == 200 { "ok" } else { "unavailable" };
                let mut head = format!(
                    "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
                    if status == 200 { "OK" } else { "Error" },
                    body.len()
                );
                if let Some(seconds) = retry_after {
                    head.push_str(&format!("Retry-After: {seconds}\r\n"));
                }
                head.push_str("\r\n");
                head.push_str(body);
                stream.write_all(head.as_bytes()).await.unwrap();
                stream.shutdown().await.unwrap();
            }
        });
        Server { addr, arrivals }
    }

    fn arrivals(&self) -> Vec<Duration> {
        self.arrivals.lock().unwrap().clone()
    }
}

/// Reads a request head (up to the blank line); requests here have no body.
async fn read_request(stream: &mut TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the client closed before sending a whole request");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The tiny client: one GET per connection, the response read to its end and parsed.
async fn get(addr: SocketAddr, path: &'static str) -> io::Result<Response> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::other("no blank line after the head"))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| io::Error::other("bad status line"))?;
    let retry_after = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .map(Duration::from_secs);
    Ok(Response {
        status,
        retry_after,
        body: body.to_string(),
    })
}

/// Calls `service` once, as tower callers do: wait until ready, then call.
async fn call<S, Req>(service: &mut S, request: Req) -> Result<S::Response, S::Error>
where
    S: Service<Req>,
{
    service.ready().await?.call(request).await
}

// ---------------------------------------------------------------------------------------------
// Real HTTP over loopback
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_503_is_retried_after_the_larger_of_backoff_and_retry_after() {
    // Backoff 2 s. 503 asking for 5 s: wait 5 s. 503 asking for 1 s: wait 2 s. Then 200.
    let server = Server::start(vec![(503, Some(5)), (503, Some(1)), (200, None)]).await;
    let addr = server.addr;
    let pipeline = builder().retry(fixed(3, secs(2))).build().unwrap();
    let mut service = ServiceBuilder::new()
        .layer(PipelineLayer::new(pipeline).classify_responses(classify))
        .service_fn(move |path: &'static str| get(addr, path));
    let start = Instant::now();
    let response = call(&mut service, "/orders").await.unwrap();
    assert_eq!(
        response,
        Response {
            status: 200,
            retry_after: None,
            body: "ok".into()
        }
    );
    assert_eq!(server.arrivals(), [secs(0), secs(5), secs(7)]);
    assert_eq!(start.elapsed(), secs(7));
}

#[tokio::test(start_paused = true)]
async fn the_last_failed_response_is_the_answer_when_retries_run_out() {
    let server = Server::start(vec![(503, Some(3))]).await;
    let addr = server.addr;
    let pipeline = builder().retry(fixed(3, secs(1))).build().unwrap();
    let mut service = PipelineLayer::new(pipeline)
        .classify_responses(classify)
        .layer(service_fn(move |path: &'static str| get(addr, path)));
    let start = Instant::now();
    let response = call(&mut service, "/orders").await;
    // A valid HTTP answer, not an error: the caller sees the 503 and its Retry-After.
    assert_eq!(
        response.unwrap(),
        Response {
            status: 503,
            retry_after: Some(secs(3)),
            body: "unavailable".into()
        }
    );
    assert_eq!(server.arrivals(), [secs(0), secs(3), secs(6)]);
    assert_eq!(start.elapsed(), secs(6), "no wait after the last attempt");
}

#[tokio::test(start_paused = true)]
async fn failed_responses_trip_the_breaker_which_then_spares_the_server() {
    let server = Server::start(vec![(500, None)]).await;
    let addr = server.addr;
    let pipeline = builder()
        .circuit_breaker(|b| b.failure_threshold(2).recovery_timeout(secs(30)))
        .build()
        .unwrap();
    let breaker = pipeline.circuit_breaker().unwrap().clone();
    let mut service = PipelineLayer::new(pipeline)
        .classify_responses(classify)
        .layer(service_fn(move |path: &'static str| get(addr, path)));
    for _ in 0..2 {
        assert_eq!(call(&mut service, "/").await.unwrap().status, 500);
    }
    assert_eq!(breaker.state(), State::Open);
    match call(&mut service, "/").await {
        Err(Error::CircuitOpen {
            name, retry_after, ..
        }) => assert_eq!((&*name, retry_after), ("backend", Some(secs(30)))),
        other => panic!("expected an open circuit, got {other:?}"),
    }
    assert_eq!(server.arrivals().len(), 2, "the open breaker sent nothing");
}

#[tokio::test(start_paused = true)]
async fn a_refused_connection_is_an_operation_error() {
    let addr = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    }; // dropped: nothing listens there any more
    let pipeline = builder().retry(fixed(2, ms(100))).build().unwrap();
    let mut service = PipelineLayer::new(pipeline)
        .classify_responses(classify)
        .layer(service_fn(move |path: &'static str| get(addr, path)));
    match call(&mut service, "/").await {
        Err(Error::RetriesExhausted {
            attempts: 2,
            last_error,
            ..
        }) => match *last_error {
            Error::Operation(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
            other => panic!("expected the io error, got {other:?}"),
        },
        other => panic!("expected exhausted retries, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// service_fn
// ---------------------------------------------------------------------------------------------

/// An inner service answering with `status` and counting its calls.
fn counting(
    status: u16,
) -> (
    Arc<AtomicU32>,
    impl Service<
        u32,
        Response = u16,
        Error = io::Error,
        Future = impl Future<Output = io::Result<u16>> + Send,
    > + Clone
    + Send
    + 'static,
) {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let service = service_fn(move |_: u32| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if status == 0 {
                Err(io::Error::other("connection reset"))
            } else {
                Ok(status)
            }
        }
    });
    (calls, service)
}

fn status_classifier(status: &u16) -> Option<Option<Duration>> {
    (*status >= 500).then_some(None)
}

#[tokio::test(start_paused = true)]
async fn every_service_the_layer_makes_shares_one_breaker() {
    let pipeline = builder()
        .circuit_breaker(|b| b.failure_threshold(2))
        .build()
        .unwrap();
    let layer = PipelineLayer::new(pipeline).classify_responses(status_classifier);
    let (calls, inner) = counting(503);
    let mut a = layer.layer(inner.clone());
    let mut b = a.clone();
    let mut c = layer.layer(inner);
    assert_eq!(call(&mut a, 1).await.unwrap(), 503);
    assert_eq!(call(&mut c, 2).await.unwrap(), 503);
    // Two failures through two different services: one breaker, now open, for all three.
    for service in [&mut a, &mut b, &mut c] {
        let out = call(service, 3).await;
        assert!(matches!(out, Err(Error::CircuitOpen { .. })), "{out:?}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn every_clone_shares_one_rate_limit_quota() {
    // tower::limit::RateLimit keeps its quota per service instance; here two clones and a
    // second service from the same layer draw on one quota.
    let pipeline = builder()
        .rate_limit(Algorithm::Gcra {
            rate: Rate::per_second(1),
            burst: 2,
        })
        .build()
        .unwrap();
    let layer = PipelineLayer::new(pipeline);
    let (calls, inner) = counting(200);
    let mut a = layer.layer(inner.clone());
    let mut b = a.clone();
    let mut c = layer.layer(inner);
    assert_eq!(call(&mut a, 1).await.unwrap(), 200);
    assert_eq!(call(&mut b, 2).await.unwrap(), 200);
    match call(&mut c, 3).await {
        Err(Error::RateLimited {
            name, retry_after, ..
        }) => assert_eq!((&*name, retry_after), ("backend", secs(1))),
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert!(matches!(
        call(&mut a, 4).await,
        Err(Error::RateLimited { .. })
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    sleep(secs(1)).await;
    assert_eq!(call(&mut b, 5).await.unwrap(), 200);
}

#[tokio::test(start_paused = true)]
async fn clones_share_one_bulkhead_across_tasks() {
    let pipeline = builder().bulkhead(|b| b.max_concurrent(1)).build().unwrap();
    let slow = service_fn(|n: u32| async move {
        sleep(secs(1)).await;
        Ok::<_, io::Error>(n)
    });
    let service = PipelineLayer::new(pipeline).layer(slow);
    let first = tokio::spawn(service.clone().oneshot(1));
    tokio::task::yield_now().await; // let the first take the slot
    let second = tokio::spawn(service.clone().oneshot(2));
    let second = second.await.unwrap();
    assert!(
        matches!(
            second,
            Err(Error::BulkheadFull {
                max_concurrent: 1,
                ..
            })
        ),
        "{second:?}"
    );
    assert_eq!(first.await.unwrap().unwrap(), 1);
    assert_eq!(service.oneshot(3).await.unwrap(), 3);
}

#[tokio::test(start_paused = true)]
async fn inner_service_errors_are_operation_errors() {
    let (calls, inner) = counting(0); // always fails with an io error
    let mut plain = PipelineLayer::new(builder().build().unwrap()).layer(inner.clone());
    match call(&mut plain, 1).await {
        Err(Error::Operation(e)) => assert_eq!(e.to_string(), "connection reset"),
        other => panic!("expected Error::Operation, got {other:?}"),
    }
    let retrying = builder().retry(fixed(3, ms(10))).build().unwrap();
    let mut retried = PipelineLayer::new(retrying).layer(inner);
    match call(&mut retried, 1).await {
        Err(Error::RetriesExhausted {
            attempts: 3,
            reason: StopReason::MaxAttempts { max_attempts: 3 },
            last_error,
            ..
        }) => assert!(
            matches!(&*last_error, Error::Operation(e) if e.to_string() == "connection reset"),
            "{last_error:?}"
        ),
        other => panic!("expected exhausted retries, got {other:?}"),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn the_pipelines_retry_after_hook_applies_to_inner_errors() {
    let (_, inner) = counting(0);
    let pipeline = builder()
        .retry(fixed(2, ms(10)))
        .build()
        .unwrap()
        .retry_after(|_: &io::Error| Some(secs(4)));
    let mut service = PipelineLayer::new(pipeline).layer(inner);
    let start = Instant::now();
    let _ = call(&mut service, 1).await;
    assert_eq!(start.elapsed(), secs(4));
}

#[tokio::test(start_paused = true)]
async fn responses_the_classifier_accepts_are_not_retried() {
    let (calls, inner) = counting(404);
    let pipeline = builder().retry(fixed(3, ms(10))).build().unwrap();
    let mut service = PipelineLayer::new(pipeline)
        .classify_responses(status_classifier)
        .layer(inner);
    assert_eq!(call(&mut service, 1).await.unwrap(), 404);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// A service that is never ready.
#[derive(Clone)]
struct NeverReady;

impl Service<u32> for NeverReady {
    type Response = u32;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<u32>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Pending
    }

    fn call(&mut self, n: u32) -> Self::Future {
        Box::pin(async move { Ok(n) })
    }
}

#[tokio::test(start_paused = true)]
async fn poll_ready_is_always_ready_and_the_pipeline_bounds_the_inner_wait() {
    let pipeline = builder()
        .timeout(secs(1))
        .retry(fixed(2, ms(500)))
        .idempotent(true)
        .build()
        .unwrap();
    let mut service = PipelineLayer::new(pipeline).layer(NeverReady);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    // The inner service's readiness is awaited inside each attempt, under its timeout.
    let start = Instant::now();
    match service.call(7).await {
        Err(Error::RetriesExhausted {
            attempts: 2,
            last_error,
            ..
        }) => assert!(
            matches!(*last_error, Error::Timeout { limit, .. } if limit == secs(1)),
            "{last_error:?}"
        ),
        other => panic!("expected timed-out attempts, got {other:?}"),
    }
    assert_eq!(start.elapsed(), ms(2500));
}

// ---------------------------------------------------------------------------------------------
// Requests that cannot be sent again
// ---------------------------------------------------------------------------------------------

/// A request that is not `Clone` (a stream, a one-shot channel).
struct Upload(u32);

#[tokio::test(start_paused = true)]
async fn a_request_sent_once_still_goes_through_the_other_policies() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let pipeline = builder()
        .retry(fixed(3, ms(10)))
        .circuit_breaker(|b| b.failure_threshold(1).recovery_timeout(secs(30)))
        .build()
        .unwrap();
    let breaker = pipeline.circuit_breaker().unwrap().clone();
    let mut service = PipelineLayer::new(pipeline)
        .replay(OneAttempt)
        .layer(service_fn(move |upload: Upload| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move { Err::<(), _>(io::Error::other(format!("upload {} failed", upload.0))) }
        }));

    match call(&mut service, Upload(7)).await {
        Err(Error::Operation(e)) => assert_eq!(e.to_string(), "upload 7 failed"),
        other => panic!("expected the one attempt's error, got {other:?}"),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "not retried");
    assert_eq!(breaker.state(), State::Open, "the breaker counted it");
}

#[tokio::test(start_paused = true)]
async fn a_request_sent_once_that_times_out_ends_with_that_timeout() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    // Declared idempotent, so only the missing copy of the request stops a second attempt.
    let pipeline = builder()
        .timeout(ms(50))
        .retry(fixed(3, ms(10)))
        .idempotent(true)
        .build()
        .unwrap();
    let mut service = PipelineLayer::new(pipeline)
        .replay(OneAttempt)
        .layer(service_fn(move |_: Upload| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                sleep(secs(10)).await;
                Ok::<_, io::Error>(())
            }
        }));

    let start = Instant::now();
    match call(&mut service, Upload(1)).await {
        Err(Error::Timeout {
            name, scope, limit, ..
        }) => assert_eq!(
            (&*name, scope, limit),
            ("backend", TimeoutScope::Attempt, ms(50))
        ),
        other => panic!("expected the attempt's timeout, got {other:?}"),
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "no second attempt without a request"
    );
    assert_eq!(
        start.elapsed(),
        ms(60),
        "one timeout and one backoff, no more"
    );
}

#[tokio::test(start_paused = true)]
async fn the_non_repeating_policies_layers_take_requests_that_are_not_clone() {
    let breaker = palisade::circuit_breaker::CircuitBreaker::builder()
        .build()
        .unwrap();
    let bulkhead = palisade::bulkhead::Bulkhead::builder()
        .max_concurrent(1)
        .build()
        .unwrap();
    let timeout = palisade::timeout::Timeout::builder()
        .limit(secs(1))
        .build()
        .unwrap();
    let mut service = ServiceBuilder::new()
        .layer(PipelineLayer::from(breaker))
        .layer(PipelineLayer::from(bulkhead))
        .layer(PipelineLayer::from(timeout))
        .service_fn(|upload: Upload| async move { Ok::<_, io::Error>(upload.0 * 2) });
    assert_eq!(call(&mut service, Upload(21)).await.unwrap(), 42);
}
