//! A pipeline — per-attempt timeout, retry, circuit breaker — protecting calls to a real
//! service on loopback.
//!
//! A tiny TCP service on 127.0.0.1 answers `pong` — except when told to be flaky (drop the
//! next connections), slow (answer after two seconds) or down (drop every connection). Each
//! call goes through one [`Pipeline`]: retry for transient network errors, a circuit breaker
//! that stops calling a service that keeps failing, and a timeout per attempt. The story:
//!
//! 1. the service is flaky: retry absorbs it;
//! 2. the service is slow: each attempt times out;
//! 3. the service goes down: retries fail, the breaker trips, later calls fail fast;
//! 4. the service comes back: after the recovery timeout a trial call closes the breaker.
//!
//! Errors print as people read them: each cause once, outermost first.
//!
//! Run it with `cargo run -p palisade --example demo`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use palisade::circuit_breaker::CircuitBreakerEvent;
use palisade::event::Event;
use palisade::pipeline::Pipeline;
use palisade::retry::{Jitter, RetryEvent};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What the service does with the next connections: 0 answer, n > 0 drop the next n,
/// -1 drop all, -2 answer after two seconds.
type Mode = Arc<AtomicI64>;
const DOWN: i64 = -1;
const SLOW: i64 = -2;

async fn start_service() -> io::Result<(SocketAddr, Mode)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mode: Mode = Arc::new(AtomicI64::new(0));
    let service_mode = mode.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mode = service_mode.clone();
            tokio::spawn(async move {
                match mode.load(Ordering::SeqCst) {
                    0 => {}
                    SLOW => tokio::time::sleep(Duration::from_secs(2)).await,
                    DOWN => return, // closed without an answer
                    left => {
                        mode.store(left - 1, Ordering::SeqCst);
                        return;
                    }
                }
                let _ = stream.write_all(b"pong\n").await;
            });
        }
    });
    Ok((addr, mode))
}

/// One request: connect, read a line.
async fn ping(addr: SocketAddr) -> io::Result<String> {
    let stream = TcpStream::connect(addr).await?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).await?;
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "the service closed the connection without answering",
        ));
    }
    Ok(line.trim_end().to_string())
}

/// Transient network errors are worth another attempt; anything else is an answer.
fn transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::TimedOut
    )
}

/// An error and its causes, outermost first, as an error report prints them.
fn report(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (addr, mode) = start_service().await?;
    let started = Instant::now();
    let at = move || format!("{:>5}ms", started.elapsed().as_millis());

    let pipeline = Pipeline::builder()
        .name("pong-service")
        .timeout(Duration::from_millis(300)) // per attempt
        .retry(|r| {
            r.max_attempts(3)
                .exponential(Duration::from_millis(40))
                .jitter(Jitter::Full)
        })
        .circuit_breaker(|b| {
            b.failure_threshold(5)
                .recovery_timeout(Duration::from_millis(600))
                .half_open_requests(1)
        })
        // A ping is safe to send twice: a timed-out attempt may be repeated (without this, a
        // late attempt — which may have reached the service — ends the call).
        .idempotent(true)
        .on_event(move |event: &Event<'_>| match event {
            Event::CircuitBreaker(CircuitBreakerEvent::StateTransition {
                from,
                to,
                reason,
                ..
            }) => println!("  [{}] breaker {from} -> {to} ({reason})", at()),
            Event::Retry(RetryEvent::RetryScheduled { attempt, delay, .. }) => {
                println!(
                    "  [{}] attempt {attempt} failed; retrying in {delay:.0?}",
                    at()
                )
            }
            _ => {}
        })
        .build()?
        .retry_if(transient);

    let call = || async {
        match pipeline.call(|| ping(addr)).await {
            Ok(answer) => println!("  [{}] -> {answer}", at()),
            Err(error) if error.is_rejection() => {
                println!("  [{}] -> failed fast: {}", at(), report(&error))
            }
            Err(error) => println!("  [{}] -> failed: {}", at(), report(&error)),
        }
    };

    println!("1. The service is flaky (drops two connections):");
    mode.store(2, Ordering::SeqCst);
    call().await;

    println!("2. The service is slow (answers after 2 s; each attempt may take 300 ms):");
    mode.store(SLOW, Ordering::SeqCst);
    call().await;

    println!("3. The service goes down:");
    mode.store(DOWN, Ordering::SeqCst);
    call().await;
    call().await;
    if let Some(breaker) = pipeline.circuit_breaker() {
        println!("   breaker: {}", breaker.state());
    }

    println!("4. The service comes back; calls are refused until the recovery timeout:");
    mode.store(0, Ordering::SeqCst);
    call().await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    call().await;
    call().await;
    if let Some(breaker) = pipeline.circuit_breaker() {
        let stats = breaker.stats();
        println!(
            "   breaker: {} — {} ok, {} failed, {} refused",
            stats.state, stats.successful_calls, stats.failed_calls, stats.not_permitted_calls
        );
    }
    Ok(())
}
