//! Retry and a circuit breaker protecting calls to a real service on loopback.
//!
//! A tiny TCP service on 127.0.0.1 answers `pong` — except when told to be flaky (drop the
//! next connections) or down (drop every connection). The client wraps each request in a
//! circuit breaker, and the breaker in a retry policy that retries transient network errors
//! but never a rejection by the open breaker. The story:
//!
//! 1. the service is flaky: retry absorbs it;
//! 2. the service goes down: retries fail, the breaker trips, later calls fail fast;
//! 3. the service comes back: after the recovery timeout a trial call closes the breaker.
//!
//! Run it with `cargo run -p palisade --example demo`.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use palisade::Error;
use palisade::circuit_breaker::{CircuitBreaker, CircuitBreakerEvent};
use palisade::event::Event;
use palisade::retry::{Cause, Jitter, Retry, StopReason};

/// How many upcoming connections the service drops; negative means "all of them".
type Failures = Arc<AtomicI64>;

fn start_service() -> io::Result<(SocketAddr, Failures)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let failures: Failures = Arc::new(AtomicI64::new(0));
    let to_fail = failures.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let left = to_fail.load(Ordering::SeqCst);
            if left != 0 {
                if left > 0 {
                    to_fail.fetch_sub(1, Ordering::SeqCst);
                }
                drop(stream); // closed without an answer
            } else {
                let _ = stream.write_all(b"pong\n");
            }
        }
    });
    Ok((addr, failures))
}

/// One request: connect, read a line.
fn ping(addr: SocketAddr) -> io::Result<String> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "service closed the connection without answering",
        ));
    }
    Ok(line.trim_end().to_string())
}

/// Retry transient network errors; never retry a call the breaker refused to run.
fn worth_retrying(error: &Error<io::Error>) -> bool {
    match error {
        Error::Operation(e) => matches!(
            e.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionRefused
                | io::ErrorKind::TimedOut
        ),
        _ => false,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (addr, failures) = start_service()?;
    let started = Instant::now();
    let at = move || format!("{:>6.0?}", started.elapsed());

    let log_at = at;
    let breaker = CircuitBreaker::builder()
        .name("pong-service")
        .failure_threshold(3)
        .recovery_timeout(Duration::from_millis(600))
        .half_open_requests(1)
        .on_event(move |event: &Event<'_>| {
            if let Event::CircuitBreaker(CircuitBreakerEvent::StateTransition {
                from,
                to,
                reason,
                ..
            }) = event
            {
                println!("  [{}] breaker {from} -> {to} ({reason})", log_at());
            }
        })
        .build()?;

    let retry = Retry::builder()
        .name("pong")
        .max_attempts(3)
        .exponential(Duration::from_millis(40))
        .jitter(Jitter::Full)
        .on_retry(|attempt, delay, cause: Cause<'_>| {
            println!("  attempt {attempt} failed ({cause:?}); retrying in {delay:.0?}")
        })
        .on_failure(|attempts, reason: StopReason, _| {
            println!("  retry gave up after {attempts} attempt(s): {reason}")
        })
        .build()?
        .retry_if(worth_retrying as fn(&Error<io::Error>) -> bool);

    let call = || {
        let report = retry.call_blocking_with_report(|| breaker.call_blocking(|| ping(addr)));
        match report.result {
            Ok(answer) => println!(
                "  [{}] -> {answer} after {} attempt(s)",
                at(),
                report.attempts
            ),
            // Retry returns the breaker's rejection as the operation error it saw.
            Err(err) => match err.into_operation_error() {
                Some(inner @ Error::CircuitOpen { .. }) => {
                    println!("  [{}] -> failed fast: {inner}", at())
                }
                Some(inner) => println!("  [{}] -> failed: {inner}", at()),
                None => println!("  [{}] -> failed", at()),
            },
        }
    };

    println!("1. The service is flaky (drops two connections):");
    failures.store(2, Ordering::SeqCst);
    call();

    println!("2. The service goes down:");
    failures.store(-1, Ordering::SeqCst);
    for _ in 0..3 {
        call();
    }
    println!("   breaker: {}", breaker.state());

    println!("3. The service comes back; calls are rejected until the recovery timeout:");
    failures.store(0, Ordering::SeqCst);
    call();
    thread::sleep(Duration::from_millis(700));
    call();
    call();
    let stats = breaker.stats();
    println!(
        "   breaker: {} — {} ok, {} failed, {} rejected",
        stats.state, stats.successful_calls, stats.failed_calls, stats.not_permitted_calls
    );
    Ok(())
}
