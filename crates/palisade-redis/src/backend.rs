//! [`RedisBackend`]: the Palisade [`Backend`] whose breakers and limiters share their state
//! through Redis, and its builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use palisade::ConfigError;
use palisade::backend::Backend;
use palisade::circuit_breaker::{self, CircuitBreakerConfig};
use palisade::clock::Clock;
use palisade::health::Health;
use palisade::rate_limit::{self, Algorithm};

use crate::error::Error;
use crate::keys::Keys;
use crate::limiter::TimeSource;
use crate::link::{Link, LinkSettings, LinkStatus, Target};
use crate::redact::Redacted;

/// What a policy does while Redis cannot be reached (see the crate docs' failure table).
///
/// ```
/// use palisade_redis::{RedisBackend, WhenDown};
/// let backend = RedisBackend::builder()
///     .url("redis://127.0.0.1:6379")
///     .limiter_when_down(WhenDown::Local)
///     .build()?;
/// # Ok::<(), palisade_redis::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WhenDown {
    /// Admit every call (a limiter grants; a breaker admits every call, even Open, and
    /// counts no outcome until Redis answers again).
    Allow,
    /// Refuse every call the policy would have asked Redis about.
    Reject,
    /// Decide in this process: a limiter at 1/`fleet_size` of its limit, a breaker on its own
    /// counts. The default.
    Local,
}

/// The settings of a [`RedisBackend`].
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) keys: Keys,
    pub(crate) state_ttl: Duration,
    pub(crate) limiter_when_down: WhenDown,
    pub(crate) breaker_when_down: WhenDown,
    pub(crate) fleet_size: u32,
    pub(crate) flush_interval: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) limiter_time_source: TimeSource,
    pub(crate) breaker_strict: bool,
}

/// Builds a [`RedisBackend`]; see [`RedisBackend::builder`].
#[derive(Clone)]
pub struct RedisBackendBuilder {
    url: Option<String>,
    cluster: Vec<String>,
    key_prefix: String,
    state_ttl: Duration,
    timeout: Duration,
    connect_timeout: Duration,
    probe_interval: Duration,
    tls_root_certificate: Option<Vec<u8>>,
    limiter_when_down: WhenDown,
    breaker_when_down: WhenDown,
    fleet_size: u32,
    flush_interval: Duration,
    poll_interval: Duration,
    limiter_time_source: TimeSource,
    breaker_strict: bool,
}

impl fmt::Debug for RedisBackendBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackendBuilder")
            .field("url", &self.url.as_deref().map(Redacted::new))
            .field(
                "cluster",
                &self
                    .cluster
                    .iter()
                    .map(|u| Redacted::new(u))
                    .collect::<Vec<_>>(),
            )
            .field("key_prefix", &self.key_prefix)
            .field("state_ttl", &self.state_ttl)
            .field("timeout", &self.timeout)
            .field("limiter_when_down", &self.limiter_when_down)
            .field("breaker_when_down", &self.breaker_when_down)
            .finish_non_exhaustive()
    }
}

impl Default for RedisBackendBuilder {
    fn default() -> Self {
        RedisBackendBuilder {
            url: None,
            cluster: Vec::new(),
            key_prefix: "palisade".into(),
            state_ttl: Duration::from_secs(3600),
            timeout: Duration::from_millis(5),
            connect_timeout: Duration::from_secs(1),
            probe_interval: Duration::from_millis(250),
            tls_root_certificate: None,
            limiter_when_down: WhenDown::Local,
            breaker_when_down: WhenDown::Local,
            fleet_size: 1,
            flush_interval: Duration::from_millis(100),
            poll_interval: Duration::from_secs(1),
            limiter_time_source: TimeSource::RedisTime,
            breaker_strict: false,
        }
    }
}

const POLICY: &str = "redis";

fn refuse(field: &'static str, value: impl fmt::Display, reason: &'static str) -> Error {
    Error::Config(ConfigError::new(POLICY, field, value, reason))
}

impl RedisBackendBuilder {
    /// The server: `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS.
    /// Default: `PALISADE_REDIS_URL` from the environment, else `redis://127.0.0.1:6379`.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// A Redis Cluster instead of one server: the URLs of some of its nodes.
    pub fn cluster<I, S>(mut self, nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cluster = nodes.into_iter().map(Into::into).collect();
        self
    }

    /// The first part of every key (default `palisade`; a trailing `:` is dropped). Keys
    /// are `{<prefix>:<policy name>}:…`.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// How long shared state outlives its last use (default one hour): idle policies' keys
    /// expire on their own.
    pub fn state_ttl(mut self, ttl: Duration) -> Self {
        self.state_ttl = ttl;
        self
    }

    /// The longest a policy waits for Redis on a call's path (default 5 ms). Past it the
    /// policy takes its fallback and the link is marked down until Redis answers a probe.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest a connection attempt may take (default 1 s); attempts are made in the
    /// background, never on a call's path.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How often a down link sends `PING` (default 250 ms): shared state resumes within
    /// this long of Redis answering again.
    pub fn probe_interval(mut self, interval: Duration) -> Self {
        self.probe_interval = interval;
        self
    }

    /// A CA certificate (PEM) to trust for `rediss://` besides the system's roots.
    pub fn tls_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root_certificate = Some(pem.into());
        self
    }

    /// What rate limiters do while Redis is unreachable (default [`WhenDown::Local`]).
    pub fn limiter_when_down(mut self, when: WhenDown) -> Self {
        self.limiter_when_down = when;
        self
    }

    /// What circuit breakers do while Redis is unreachable (default [`WhenDown::Local`]).
    pub fn breaker_when_down(mut self, when: WhenDown) -> Self {
        self.breaker_when_down = when;
        self
    }

    /// How many instances share the limits (default 1): a limiter falling back to local
    /// state grants 1/`n` of its limit.
    pub fn fleet_size(mut self, n: u32) -> Self {
        self.fleet_size = n;
        self
    }

    /// How often a breaker sends the outcomes it aggregated to Redis (default 100 ms).
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }

    /// How often a breaker reads the shared state, in case a published change was missed
    /// (default 1 s).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Checks the settings and starts the backend's thread; the first connection is made in
    /// the background (until it is, policies use their fallback). Use
    /// [`connect`](Self::connect) to wait for it.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the field and value (passwords hidden) for a refused setting;
    /// [`Error::Start`] if the thread cannot start.
    ///
    /// ```
    /// use palisade_redis::RedisBackend;
    /// let err = RedisBackend::builder().url("http://:secret@h").build().unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "invalid redis configuration: url = http://:***@h/: must be a redis://, rediss:// or unix:// URL"
    /// );
    /// let err = RedisBackend::builder().key_prefix("a{b").build().unwrap_err();
    /// assert!(err.to_string().contains("key_prefix = a{b"));
    /// ```
    pub fn build(self) -> Result<RedisBackend, Error> {
        let positive = |field: &'static str, value: Duration| {
            if value.is_zero() {
                Err(refuse(field, format!("{value:?}"), "must be positive"))
            } else {
                Ok(())
            }
        };
        positive("timeout", self.timeout)?;
        positive("connect_timeout", self.connect_timeout)?;
        positive("probe_interval", self.probe_interval)?;
        positive("state_ttl", self.state_ttl)?;
        positive("flush_interval", self.flush_interval)?;
        positive("poll_interval", self.poll_interval)?;
        if self.fleet_size == 0 {
            return Err(refuse("fleet_size", 0, "must be at least 1"));
        }
        let prefix = self.key_prefix.trim_end_matches(':');
        if prefix.is_empty() || prefix.contains(['{', '}']) {
            return Err(refuse(
                "key_prefix",
                &self.key_prefix,
                "must be non-empty and hold no braces (they delimit Redis Cluster hash tags)",
            ));
        }
        let (target, shown, secret) = self.target()?;
        let link = Link::start(LinkSettings {
            target,
            shown,
            secret,
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
            probe_interval: self.probe_interval,
        })
        .map_err(Error::Start)?;
        Ok(RedisBackend {
            shared: Arc::new(Shared {
                link,
                settings: Settings {
                    keys: Keys::new(prefix),
                    state_ttl: self.state_ttl,
                    limiter_when_down: self.limiter_when_down,
                    breaker_when_down: self.breaker_when_down,
                    fleet_size: self.fleet_size,
                    flush_interval: self.flush_interval,
                    poll_interval: self.poll_interval,
                    limiter_time_source: self.limiter_time_source,
                    breaker_strict: self.breaker_strict,
                },
            }),
        })
    }

    /// [`build`](Self::build), then waits until Redis answers (at most the connect timeout).
    ///
    /// # Errors
    ///
    /// As `build`, and [`Error::Unreachable`] if Redis did not answer in time.
    pub async fn connect(self) -> Result<RedisBackend, Error> {
        let limit = self.connect_timeout;
        let backend = self.build()?;
        let start = std::time::Instant::now();
        while !backend.shared.link.is_up() {
            if start.elapsed() > limit {
                let status = backend.status();
                return Err(Error::Unreachable {
                    target: status.target,
                    reason: status.last_error.unwrap_or_else(|| "no answer".into()),
                });
            }
            let (tx, rx) = tokio::sync::oneshot::channel();
            backend.shared.link.runtime().spawn(async move {
                tokio::time::sleep(Duration::from_millis(2)).await;
                let _ = tx.send(());
            });
            let _ = rx.await;
        }
        Ok(backend)
    }

    /// The connection target, how to show it, and the password to scrub from messages.
    fn target(&self) -> Result<(Target, Redacted, Option<String>), Error> {
        if !self.cluster.is_empty() {
            let mut secret = None;
            for node in &self.cluster {
                secret = secret.or(check_url("cluster", node)?);
            }
            let mut builder = redis::cluster::ClusterClient::builder(self.cluster.clone())
                .connection_timeout(self.connect_timeout);
            if let Some(pem) = &self.tls_root_certificate {
                builder = builder.certs(redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                });
            }
            let client = builder.build().map_err(|e| {
                Error::Config(ConfigError::new(
                    POLICY,
                    "cluster",
                    self.cluster
                        .iter()
                        .map(|u| Redacted::new(u).to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    e.to_string(),
                ))
            })?;
            let shown = Redacted::new(&self.cluster[0]);
            let node = self.node_client(&self.cluster[0], &secret)?;
            return Ok((
                Target::Cluster(Box::new(client), Box::new(node)),
                shown,
                secret,
            ));
        }
        let url = match &self.url {
            Some(url) => url.clone(),
            None => std::env::var("PALISADE_REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
        };
        let secret = check_url("url", &url)?;
        let client = match &self.tls_root_certificate {
            Some(pem) => redis::Client::build_with_tls(
                url.as_str(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
            None => redis::Client::open(url.as_str()),
        }
        .map_err(|e| {
            let reason = match &secret {
                Some(s) => e.to_string().replace(s.as_str(), "***"),
                None => e.to_string(),
            };
            Error::Config(ConfigError::new(POLICY, "url", Redacted::new(&url), reason))
        })?;
        Ok((
            Target::Single(Box::new(client)),
            Redacted::new(&url),
            secret,
        ))
    }

    /// Whose clock rate limiters decide on (default [`TimeSource::RedisTime`]: Redis's
    /// `TIME`, one clock for the fleet). [`TimeSource::PolicyClock`] uses the limiter's own
    /// clock — for tests on a shared `ManualClock`.
    ///
    /// ```
    /// use palisade_redis::{RedisBackend, TimeSource};
    /// let builder = RedisBackend::builder().limiter_time_source(TimeSource::PolicyClock);
    /// # let _ = builder;
    /// ```
    pub fn limiter_time_source(mut self, source: TimeSource) -> Self {
        self.limiter_time_source = source;
        self
    }

    /// Strict circuit breakers (default off): every admission reads the shared state from
    /// Redis first and every outcome is sent at once, so no instance admits a call on a view
    /// older than one round trip. The cost is that round trip on every call (bounded by the
    /// Redis timeout; 0.1–0.4 ms on a loopback) and a script run on Redis per outcome,
    /// where the default keeps Closed calls local and sends outcomes in batches. See
    /// [`breaker`](crate::breaker) for what each mode guarantees.
    ///
    /// ```
    /// let builder = palisade_redis::RedisBackend::builder().strict_breaker(true);
    /// # let _ = builder;
    /// ```
    pub fn strict_breaker(mut self, strict: bool) -> Self {
        self.breaker_strict = strict;
        self
    }

    /// A client for the cluster node at `url` (for pub/sub), trusting the configured CA.
    fn node_client(&self, url: &str, secret: &Option<String>) -> Result<redis::Client, Error> {
        match &self.tls_root_certificate {
            Some(pem) => redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
            None => redis::Client::open(url),
        }
        .map_err(|e| {
            let reason = match secret {
                Some(s) => e.to_string().replace(s.as_str(), "***"),
                None => e.to_string(),
            };
            Error::Config(ConfigError::new(
                POLICY,
                "cluster",
                Redacted::new(url),
                reason,
            ))
        })
    }
}

/// Checks a URL's scheme; returns its password.
fn check_url(field: &'static str, url: &str) -> Result<Option<String>, Error> {
    let parsed = url::Url::parse(url).map_err(|_| {
        refuse(
            field,
            Redacted::new(url),
            "must be a redis://, rediss:// or unix:// URL",
        )
    })?;
    if !matches!(
        parsed.scheme(),
        "redis" | "rediss" | "unix" | "redis+unix" | "valkey" | "valkeys"
    ) {
        return Err(refuse(
            field,
            Redacted::new(url),
            "must be a redis://, rediss:// or unix:// URL",
        ));
    }
    let password = parsed.password().map(str::to_owned).or_else(|| {
        parsed
            .query_pairs()
            .find(|(k, _)| k.eq_ignore_ascii_case("password"))
            .map(|(_, v)| v.into_owned())
    });
    Ok(password)
}

pub(crate) struct Shared {
    pub(crate) link: Arc<Link>,
    pub(crate) settings: Settings,
}

/// A [`Backend`] keeping breakers and rate limiters in Redis, shared by every instance that
/// uses the same Redis and key prefix. Cheap to clone (one `Arc`): build one per process.
///
/// ```no_run
/// use palisade::pipeline::Pipeline;
/// use palisade_redis::RedisBackend;
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let backend = RedisBackend::builder().url("redis://127.0.0.1:6379").connect().await?;
/// let payments = Pipeline::builder()
///     .name("payments")
///     .circuit_breaker(|b| b.failure_threshold(10))
///     .backend(backend.clone())
///     .build()?;
/// # let _ = payments; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisBackend {
    pub(crate) shared: Arc<Shared>,
}

impl RedisBackend {
    /// A builder with the defaults: `PALISADE_REDIS_URL` or `redis://127.0.0.1:6379`, prefix
    /// `palisade`, state TTL one hour, Redis timeout 5 ms, local fallback.
    ///
    /// ```
    /// let builder = palisade_redis::RedisBackend::builder().key_prefix("myapp");
    /// # let _ = builder;
    /// ```
    pub fn builder() -> RedisBackendBuilder {
        RedisBackendBuilder::default()
    }

    /// What the link to Redis knows now.
    ///
    /// ```no_run
    /// # fn f(backend: palisade_redis::RedisBackend) {
    /// println!("{:?}", backend.status());
    /// # }
    /// ```
    pub fn status(&self) -> LinkStatus {
        self.shared.link.status()
    }

    /// Healthy while Redis answers; degraded (never unhealthy) while it does not: policies
    /// keep working on their fallback, and one Redis outage must not fail every instance's
    /// load-balancer check.
    ///
    /// ```no_run
    /// # fn f(backend: palisade_redis::RedisBackend) {
    /// let health = backend.health();
    /// # let _ = health;
    /// # }
    /// ```
    pub fn health(&self) -> Health {
        if self.shared.link.is_up() {
            Health::Healthy
        } else {
            Health::Degraded
        }
    }
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend")
            .field("target", self.shared.link.target())
            .field("key_prefix", &self.shared.settings.keys.prefix())
            .field("up", &self.shared.link.is_up())
            .finish_non_exhaustive()
    }
}

impl Backend for RedisBackend {
    fn circuit_breaker_store(
        &self,
        name: &str,
        config: &CircuitBreakerConfig,
        clock: &Clock,
    ) -> Option<circuit_breaker::Store> {
        crate::breaker::store(self, name, config, clock)
    }

    fn rate_limiter_store(
        &self,
        name: &str,
        algorithm: Algorithm,
        clock: &Clock,
    ) -> Option<rate_limit::Store> {
        crate::limiter::store(self, name, algorithm, clock)
    }
}
