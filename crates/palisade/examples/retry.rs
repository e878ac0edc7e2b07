//! Retry against a real, flaky server on loopback.
//!
//! A tiny TCP service on 127.0.0.1 drops the first two connections it accepts and answers the
//! third. The client retries with exponential backoff and full jitter, logs each retry through
//! the event callbacks, and prints a report. Then the same policy fails fast on a permanent
//! error, and gives up politely when the server is gone for good.
//!
//! Run it with `cargo run -p palisade --example retry`.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

use palisade::Error;
use palisade::retry::{Cause, Jitter, Retry, StopReason};

/// Starts a server that drops the first `failures` connections and then answers `pong`.
fn flaky_server(failures: u32) -> io::Result<(SocketAddr, Arc<AtomicU32>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let accepted = Arc::new(AtomicU32::new(0));
    let count = accepted.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            if n <= failures {
                drop(stream); // the client sees the connection closed with no answer
            } else {
                let _ = stream.write_all(b"pong\n");
            }
        }
    });
    Ok((addr, accepted))
}

/// One request: connect, read a line. A closed connection with no answer is an error.
fn ping(addr: SocketAddr) -> io::Result<String> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "server closed the connection without answering",
        ));
    }
    Ok(line.trim_end().to_string())
}

/// The same request with tokio's async sockets.
async fn ping_async(addr: SocketAddr) -> io::Result<String> {
    use tokio::io::AsyncBufReadExt;
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let mut line = String::new();
    tokio::io::BufReader::new(stream)
        .read_line(&mut line)
        .await?;
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "server closed the connection without answering",
        ));
    }
    Ok(line.trim_end().to_string())
}

/// Errors worth another attempt: the network kind, not "you asked for something wrong".
fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::TimedOut
            | io::ErrorKind::WouldBlock
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let retry = Retry::builder()
        .name("ping")
        .max_attempts(4)
        .exponential(Duration::from_millis(50))
        .max_delay(Duration::from_millis(500))
        .jitter(Jitter::Full)
        .max_elapsed(Duration::from_secs(5))
        .on_retry(|attempt, delay, cause: Cause<'_>| {
            println!("  attempt {attempt} failed ({cause:?}); retrying in {delay:?}");
        })
        .on_success(|attempts, took| println!("  succeeded on attempt {attempts} after {took:?}"))
        .on_failure(|attempts, reason: StopReason, _| {
            println!("  gave up after {attempts} attempt(s): {reason}")
        })
        .build()?
        .retry_if(is_transient as fn(&io::Error) -> bool);

    println!("1. A server that drops two connections, then answers:");
    let (addr, accepted) = flaky_server(2)?;
    let report = retry.call_blocking_with_report(|| ping(addr));
    println!(
        "  result {:?}, {} attempts, {:?} backing off, {} connections accepted",
        report.result,
        report.attempts,
        report.total_delay,
        accepted.load(Ordering::SeqCst)
    );

    println!("2. A permanent error is not retried:");
    let result = retry.call_blocking(|| {
        Err::<String, _>(io::Error::new(
            io::ErrorKind::InvalidInput,
            "malformed request",
        ))
    });
    match result {
        Err(Error::Operation(e)) => println!("  returned at once: {e}"),
        other => println!("  unexpected: {other:?}"),
    }

    println!("3. A server that never answers (async, on tokio):");
    let (addr, _) = flaky_server(u32::MAX)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(retry.call(|| ping_async(addr)));
    match outcome {
        Err(err) => println!("  error: {err}"),
        Ok(v) => println!("  unexpected success: {v}"),
    }
    Ok(())
}
