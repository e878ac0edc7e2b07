//! The background work of one breaker on the backend's own runtime: sending batches and
//! reading the fleet's state (the flusher), and hearing published changes (the listener).
//!
//! # Why two paths for one state
//!
//! Pub/sub brings a change within a round trip, but a subscriber that lost its connection
//! misses what was published meanwhile, silently. So the flusher also reads the state: with
//! every batch it sends (the flush script answers with the state), and every poll interval
//! when there is nothing to send. Generation numbers make the two paths agree: a state is
//! adopted only if it is newer than the one adopted, however late or twice it arrives. After
//! an outage (and at start) the first answer is adopted whatever its generation: the local
//! state may have decided on its own meanwhile (`WhenDown::Local`), and the fleet's wins.
//!
//! Both tasks hold the store weakly and end with it.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::batch::Taken;
use super::scripts::{self, Fleet, SCRIPTS};
use super::store::Inner;

/// Starts the flusher and, where the link can subscribe, the listener.
pub(super) fn start(inner: &Arc<Inner>, flush_interval: Duration, poll_interval: Duration) {
    let weak = Arc::downgrade(inner);
    let kick = Arc::clone(&inner.kick);
    inner
        .link
        .runtime()
        .spawn(flusher(weak.clone(), kick, flush_interval, poll_interval));
    if let Some(client) = inner.link.pubsub_client() {
        let channel = inner.target.channel.clone();
        inner
            .link
            .runtime()
            .spawn(listener(weak, client, channel, poll_interval));
    }
}

/// Sends the batch every flush interval (or when kicked), reads the state every poll
/// interval when there was nothing to send; adopts whatever the first answer after an outage
/// says.
async fn flusher(
    weak: Weak<Inner>,
    kick: Arc<tokio::sync::Notify>,
    flush_interval: Duration,
    poll_interval: Duration,
) {
    let mut last_read: Option<Instant> = None;
    // Whether the last exchange with Redis succeeded: if not, the next answer is forced.
    let mut in_touch = false;
    loop {
        {
            let Some(inner) = weak.upgrade() else { return };
            if inner.link.is_up() {
                let taken = inner.batch.take();
                let read_due = last_read.is_none_or(|at| at.elapsed() >= poll_interval);
                if !taken.is_empty() || read_due || !in_touch {
                    let invocation = if taken.is_empty() {
                        read(&inner)
                    } else {
                        flush(&inner, &taken)
                    };
                    let answer = inner
                        .link
                        .run(move |conn| scripts::invoke(invocation, conn))
                        .await;
                    match answer {
                        Ok(answer) => {
                            inner.offer(&answer, !in_touch);
                            in_touch = true;
                            last_read = Some(Instant::now());
                        }
                        // A batch that could not be sent is dropped: outcomes decided on
                        // locally meanwhile must not trip the fleet after the fact.
                        Err(_) => in_touch = false,
                    }
                }
            } else {
                // Outcomes of calls admitted before Redis went away: stale by the time it
                // is back.
                let _ = inner.batch.take();
                in_touch = false;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(flush_interval) => {}
            _ = kick.notified() => {}
        }
    }
}

fn read(inner: &Inner) -> redis::ScriptInvocation<'static> {
    let mut invocation = inner.target.invocation(&SCRIPTS.read);
    inner.target.window_args(&mut invocation);
    invocation
}

fn flush(inner: &Inner, taken: &Taken) -> redis::ScriptInvocation<'static> {
    let config = &inner.config;
    let mut invocation = inner.target.invocation(&SCRIPTS.flush);
    invocation
        .arg(taken.calls)
        .arg(taken.failures)
        .arg(taken.slow)
        .arg(taken.leading)
        .arg(taken.inner)
        .arg(taken.trailing)
        .arg(u8::from(taken.succeeded))
        .arg(config.failure_threshold.unwrap_or(0))
        .arg(config.failure_rate_threshold.unwrap_or(0.0))
        .arg(config.slow_call_rate_threshold.unwrap_or(0.0))
        .arg(config.minimum_calls);
    inner.target.window_args(&mut invocation);
    invocation
}

/// Subscribes to the breaker's channel and hands every announced state to the store;
/// reconnects every `retry` after losing the subscription (the flusher's reads cover the
/// gap).
async fn listener(weak: Weak<Inner>, client: redis::Client, channel: String, retry: Duration) {
    loop {
        if weak.strong_count() == 0 {
            return;
        }
        let connected = tokio::time::timeout(retry, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        if let Ok(Ok(pubsub)) = connected {
            let mut messages = pubsub.into_on_message();
            loop {
                tokio::select! {
                    message = messages.next() => {
                        let Some(message) = message else { break };
                        let Some(inner) = weak.upgrade() else { return };
                        if let Some(fleet) = message
                            .get_payload::<String>()
                            .ok()
                            .and_then(|p| Fleet::parse(&p))
                        {
                            inner.heard(&fleet);
                        }
                    }
                    _ = tokio::time::sleep(retry) => {
                        if weak.strong_count() == 0 {
                            return;
                        }
                    }
                }
            }
        }
        tokio::time::sleep(retry).await;
    }
}
