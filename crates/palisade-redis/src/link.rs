//! The link to Redis: one multiplexed connection (or a cluster connection), every command
//! bounded by the Redis timeout, and a view of whether Redis is reachable.
//!
//! # Failing fast
//!
//! A policy asks Redis on the path of the application's call, so a Redis in trouble must not
//! slow the application down beyond the Redis timeout — and not even that on every call. The
//! first command that times out or loses its connection marks the link *down*: from then on
//! commands fail at once (the policy takes its documented fallback) while a background probe
//! sends `PING` every [`probe_interval`](crate::RedisBackendBuilder::probe_interval) (it does
//! so while the link is up too, so health follows Redis without traffic). The first
//! answer marks the link up again, so shared state resumes within one probe interval (250 ms
//! by default) of Redis coming back. An error *answer* (a script error, `WRONGTYPE`) leaves the
//! link up: Redis is there, the command was wrong.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};
use tokio::sync::Notify;

use crate::error::Error;
use crate::redact::Redacted;
use crate::runtime::Runtime;

/// Where the link connects.
// One per backend, built once: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub(crate) enum Target {
    /// One server (or a primary behind a proxy).
    Single(Box<redis::Client>),
    /// A Redis Cluster, by its seed nodes, and a client for its first node: a subscriber
    /// there hears what any node publishes (the cluster bus forwards `PUBLISH`).
    Cluster(Box<redis::cluster::ClusterClient>, Box<redis::Client>),
}

/// A connection, cheap to clone (a handle to a multiplexed connection).
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Gauge: 1 while the link sends commands to Redis, 0 while it is down (label `target`, the
/// password hidden), through the `metrics` facade's global recorder.
const UP: &str = "palisade_redis_up";
/// Counter: commands that failed for want of Redis (timeouts, lost connections).
const FAILURES: &str = "palisade_redis_command_failures_total";

/// What the link knows about Redis right now.
///
/// ```
/// # fn show(status: palisade_redis::LinkStatus) {
/// if !status.up {
///     eprintln!("Redis at {} unreachable: {:?}", status.target, status.last_error);
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LinkStatus {
    /// Where the backend connects, password hidden.
    pub target: Redacted,
    /// Whether commands are being sent (`false`: Redis was unreachable at the last attempt,
    /// or the first connection is not made yet; policies are using their fallback).
    pub up: bool,
    /// How long the link has been down, if it is.
    pub down_for: Option<Duration>,
    /// Commands that failed for want of Redis (timeouts, lost connections) since start.
    pub failures: u64,
    /// The last such failure, password hidden.
    pub last_error: Option<String>,
}

/// The shared link; see the [module docs](self).
pub(crate) struct Link {
    target: Target,
    shown: Redacted,
    /// The URL's password, scrubbed from every error text kept.
    secret: Option<String>,
    timeout: Duration,
    connect_timeout: Duration,
    probe_interval: Duration,
    conn: RwLock<Option<Conn>>,
    up: AtomicBool,
    /// Wakes the probe after a failure.
    kick: Arc<Notify>,
    failures: AtomicU64,
    down_since: Mutex<Option<Instant>>,
    last_error: Mutex<Option<String>>,
    runtime: Runtime,
}

/// Settings of a link.
pub(crate) struct LinkSettings {
    pub(crate) target: Target,
    pub(crate) shown: Redacted,
    pub(crate) secret: Option<String>,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) probe_interval: Duration,
}

impl Link {
    /// Starts the background runtime and the first connection attempt (retried every probe
    /// interval until it succeeds).
    pub(crate) fn start(settings: LinkSettings) -> std::io::Result<Arc<Link>> {
        // rustls needs a process-wide crypto provider for `rediss://`; an application that
        // installed its own keeps it (installing fails, harmlessly). ring, because it builds
        // with a C compiler alone; rustls deprecates it for lacking post-quantum key exchange,
        // which Redis's TLS (classical ECDHE) does not use either.
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = Runtime::start()?;
        let link = Arc::new(Link {
            target: settings.target,
            shown: settings.shown,
            secret: settings.secret.filter(|s| !s.is_empty()),
            timeout: settings.timeout,
            connect_timeout: settings.connect_timeout,
            probe_interval: settings.probe_interval,
            conn: RwLock::new(None),
            up: AtomicBool::new(false),
            kick: Arc::new(Notify::new()),
            failures: AtomicU64::new(0),
            down_since: Mutex::new(Some(Instant::now())),
            last_error: Mutex::new(Some("not connected yet".into())),
            runtime,
        });
        metrics::describe_gauge!(
            UP,
            "1 while Palisade sends commands to Redis, 0 while Redis is unreachable and policies use their fallback."
        );
        metrics::describe_counter!(
            FAILURES,
            "Redis commands that failed for want of Redis (timeouts, lost connections)."
        );
        let weak = Arc::downgrade(&link);
        link.runtime.spawn(async move { probe(weak).await });
        Ok(link)
    }

    /// How often a down link is probed.
    pub(crate) fn probe_interval(&self) -> Duration {
        self.probe_interval
    }

    /// Where the link connects, password hidden.
    pub(crate) fn target(&self) -> &Redacted {
        &self.shown
    }

    /// Whether commands are being sent.
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// The link's status.
    pub(crate) fn status(&self) -> LinkStatus {
        let down_since = *self
            .down_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        LinkStatus {
            target: self.shown.clone(),
            up: self.is_up(),
            down_for: down_since.map(|since| since.elapsed()),
            failures: self.failures.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    /// A client to subscribe with (pub/sub needs a connection of its own): the server, or a
    /// node of the cluster.
    pub(crate) fn pubsub_client(&self) -> Option<redis::Client> {
        match &self.target {
            Target::Single(client) | Target::Cluster(_, client) => Some((**client).clone()),
        }
    }

    /// The background runtime.
    pub(crate) fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// A connection, if the link is up.
    fn conn(&self) -> Result<Conn, Error> {
        if !self.is_up() {
            return Err(Error::Down {
                target: self.shown.clone(),
            });
        }
        self.conn
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| Error::Down {
                target: self.shown.clone(),
            })
    }

    /// Runs `command` on a connection, within the Redis timeout, from an async caller. On a
    /// tokio runtime the caller's timer bounds it; elsewhere it runs on the backend's thread.
    pub(crate) async fn run<T, F, Fut>(self: &Arc<Self>, command: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(Conn) -> Fut + Send + 'static,
        Fut: Future<Output = RedisResult<T>> + Send + 'static,
    {
        let conn = self.conn()?;
        if tokio::runtime::Handle::try_current().is_err() {
            let link = Arc::clone(self);
            let (tx, rx) = tokio::sync::oneshot::channel();
            self.runtime.spawn(async move {
                let _ = tx.send(link.bounded(command(conn)).await);
            });
            return rx.await.unwrap_or_else(|_| Err(self.gone()));
        }
        self.bounded(command(conn)).await
    }

    /// Runs `command` from a blocking caller: on the backend's thread, waiting at most the
    /// Redis timeout (and a little for the hand-over).
    pub(crate) fn run_blocking<T, F, Fut>(self: &Arc<Self>, command: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(Conn) -> Fut + Send + 'static,
        Fut: Future<Output = RedisResult<T>> + Send + 'static,
    {
        let conn = self.conn()?;
        let link = Arc::clone(self);
        let limit = self.timeout + Duration::from_millis(20);
        self.runtime
            .block(limit, async move { link.bounded(command(conn)).await })
            .unwrap_or_else(|| Err(self.gone()))
    }

    async fn bounded<T>(&self, command: impl Future<Output = RedisResult<T>>) -> Result<T, Error> {
        match tokio::time::timeout(self.timeout, command).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) if unreachable(&e) => {
                let text = self.scrub(&e.to_string());
                self.went_down(&text);
                Err(Error::Unreachable {
                    target: self.shown.clone(),
                    reason: text,
                })
            }
            Ok(Err(e)) => Err(Error::Command {
                target: self.shown.clone(),
                message: self.scrub(&e.to_string()),
            }),
            Err(_) => {
                let text = format!("no answer within {:?}", self.timeout);
                self.went_down(&text);
                Err(Error::Timeout {
                    target: self.shown.clone(),
                    timeout: self.timeout,
                })
            }
        }
    }

    fn gone(&self) -> Error {
        Error::Timeout {
            target: self.shown.clone(),
            timeout: self.timeout,
        }
    }

    fn scrub(&self, text: &str) -> String {
        match &self.secret {
            Some(secret) => text.replace(secret.as_str(), "***"),
            None => text.to_owned(),
        }
    }

    /// A command failed for want of Redis: counts it, marks the link down and wakes the probe.
    fn went_down(&self, reason: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(FAILURES, "target" => self.shown.to_string()).increment(1);
        self.mark_down(reason.to_owned());
        self.kick.notify_one();
    }

    /// The link is down, for `reason` (password already scrubbed or never present).
    fn mark_down(&self, reason: String) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(reason);
        if self.up.swap(false, Ordering::AcqRel) {
            *self
                .down_since
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        }
        metrics::gauge!(UP, "target" => self.shown.to_string()).set(0.0);
    }

    /// Connects if there is no connection yet, then sends `PING`: whether Redis answered.
    async fn check(&self) -> bool {
        let existing = self
            .conn
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let conn = match existing {
            Some(conn) => conn,
            None => match tokio::time::timeout(self.connect_timeout, self.connect()).await {
                Ok(Ok(conn)) => {
                    *self.conn.write().unwrap_or_else(PoisonError::into_inner) = Some(conn.clone());
                    conn
                }
                Ok(Err(e)) => {
                    self.note(&e.to_string());
                    return false;
                }
                Err(_) => {
                    self.note(&format!("no connection within {:?}", self.connect_timeout));
                    return false;
                }
            },
        };
        let limit = self.timeout.max(self.probe_interval);
        let mut conn = conn;
        match tokio::time::timeout(limit, redis::cmd("PING").query_async::<String>(&mut conn)).await
        {
            Ok(Ok(_)) => {
                *self
                    .down_since
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
                self.up.store(true, Ordering::Release);
                metrics::gauge!(UP, "target" => self.shown.to_string()).set(1.0);
                true
            }
            Ok(Err(e)) => {
                self.note(&e.to_string());
                false
            }
            Err(_) => {
                self.note(&format!("no answer to PING within {limit:?}"));
                false
            }
        }
    }

    /// A failed check: the link is down, for `reason`.
    fn note(&self, reason: &str) {
        self.mark_down(self.scrub(reason));
    }

    async fn connect(&self) -> RedisResult<Conn> {
        match &self.target {
            Target::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.connect_timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(self.probe_interval);
                Ok(Conn::Single(
                    ConnectionManager::new_with_config((**client).clone(), config).await?,
                ))
            }
            Target::Cluster(client, _) => Ok(Conn::Cluster(client.get_async_connection().await?)),
        }
    }
}

/// The probe: connects, then sends `PING` every probe interval (and at once after a failed
/// command), marking the link up or down. Holds the link weakly: it ends with the link.
async fn probe(link: Weak<Link>) {
    loop {
        let Some(l) = link.upgrade() else { return };
        l.check().await;
        let (interval, kick) = (l.probe_interval, Arc::clone(&l.kick));
        drop(l);
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = kick.notified() => {}
        }
    }
}

/// Whether `e` means Redis could not be reached (as opposed to an error answer).
fn unreachable(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
}
