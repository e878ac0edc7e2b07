//! Health: is the service able to reach what it depends on, judged by its circuit breakers.
//!
//! # Why breakers
//!
//! A breaker already watches every call to its dependency: open means the dependency is
//! failing now, half-open means it is being probed, a failure count near the threshold means
//! it is wobbling. A health report built from them costs no extra calls and answers the question a load balancer
//! or an on-call engineer asks: healthy, degraded, or unhealthy, and because of what.
//!
//! | overall | when |
//! |---|---|
//! | `unhealthy` | at least one breaker is open (or forced open): a dependency is being refused |
//! | `degraded` | none open, but at least one is half-open or close to tripping |
//! | `healthy` | every breaker closed (or disabled, or metrics-only, or skipped) and well below its thresholds |
//!
//! "Close to tripping" is a fraction (default 0.5) of the breaker's own thresholds: consecutive
//! failures at or above `fraction × failure_threshold`, or a failure rate at or above
//! `fraction × failure_rate_threshold` once the window has its minimum calls. This follows
//! resilience4j's health indicator (open → down), with a degraded level in
//! between.
//!
//! A breaker that calls skip — resilience turned off for incident response (see
//! [`Disabled`](crate::pipeline::Disabled)) — refuses nothing whatever its state, so it is
//! healthy and marked [`skipped`](BreakerHealth::skipped); a
//! [registry's report](crate::registry::Registry::health) also says whether resilience is on
//! and what is turned off, so the state is visible without making the service unhealthy.
//!
//! [`check`] runs your own health check through a breaker: an open breaker answers "unhealthy" without touching
//! the dependency, and the check's outcome counts like any other call.
//!
//! ```
//! use palisade::circuit_breaker::CircuitBreaker;
//! use palisade::health::{Health, HealthCheck};
//!
//! let db = CircuitBreaker::builder().name("database").failure_threshold(4).build()?;
//! let cache = CircuitBreaker::builder().name("cache").build()?;
//! let report = HealthCheck::new().report([&db, &cache]);
//! assert_eq!(report.overall, Health::Healthy);
//!
//! db.force_open();
//! let report = HealthCheck::new().report([&db, &cache]);
//! assert_eq!(report.overall, Health::Unhealthy);
//! assert_eq!(report.open_breakers, ["database"]);
//! # Ok::<(), palisade::ConfigError>(())
//! ```

use std::fmt;
use std::time::Duration;

use crate::circuit_breaker::{CircuitBreaker, State};
use crate::error::{ConfigError, Error};

/// Overall health, worst first in severity: see the [module docs](self) for the rules.
///
/// ```
/// use palisade::health::Health;
/// assert_eq!(Health::Degraded.to_string(), "degraded");
/// assert!(Health::Unhealthy > Health::Healthy);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Health {
    /// Every dependency is answering.
    Healthy,
    /// A dependency is being probed or is close to being cut off.
    Degraded,
    /// A dependency is cut off: its breaker is open.
    Unhealthy,
}

impl Health {
    /// The lowercase name, as health reports and JSON spell it.
    ///
    /// ```
    /// assert_eq!(palisade::health::Health::Healthy.as_str(), "healthy");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Degraded => "degraded",
            Health::Unhealthy => "unhealthy",
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One breaker's part of a [`HealthReport`].
///
/// ```
/// use palisade::circuit_breaker::{CircuitBreaker, State};
/// use palisade::health::{Health, HealthCheck};
/// let b = CircuitBreaker::builder().name("api").build()?;
/// let report = HealthCheck::new().report([&b]);
/// let api = &report.breakers[0];
/// assert_eq!((api.name.as_str(), api.state, api.health), ("api", State::Closed, Health::Healthy));
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BreakerHealth {
    /// The breaker's name.
    pub name: String,
    /// Its state.
    pub state: State,
    /// This breaker's verdict.
    pub health: Health,
    /// Failure rate over the window, in percent, once the window has its minimum calls.
    pub failure_rate: Option<f64>,
    /// Consecutive failures right now.
    pub consecutive_failures: u32,
    /// Calls recorded since the breaker was built or reset.
    pub total_calls: u64,
    /// Time until an open breaker lets a trial call through, when known.
    pub retry_after: Option<Duration>,
    /// Calls skip this breaker (its pipelines turned it off): it refuses nothing, so it is
    /// healthy whatever its state.
    pub skipped: bool,
}

impl BreakerHealth {
    /// This verdict for a breaker that calls skip.
    pub(crate) fn into_skipped(self) -> Self {
        BreakerHealth {
            health: Health::Healthy,
            skipped: true,
            ..self
        }
    }
}

/// The health of a set of breakers: the overall verdict and each breaker's.
///
/// ```
/// use palisade::circuit_breaker::CircuitBreaker;
/// use palisade::health::HealthCheck;
/// let b = CircuitBreaker::builder().name("kafka").build()?;
/// let report = HealthCheck::new().report([&b]);
/// assert!(report.open_breakers.is_empty() && report.degraded_breakers.is_empty());
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct HealthReport {
    /// The worst of the breakers' verdicts (healthy with no breakers).
    pub overall: Health,
    /// Names of the open (or forced open) breakers.
    pub open_breakers: Vec<String>,
    /// Names of the degraded breakers: half-open, or close to tripping.
    pub degraded_breakers: Vec<String>,
    /// Every breaker, in the order given.
    pub breakers: Vec<BreakerHealth>,
    /// `false` when a [registry's](crate::registry::Registry::health) source turned
    /// resilience off (`resilience_enabled = false`): every pipeline passes calls straight
    /// through. `true` in a report over breakers.
    pub resilience_enabled: bool,
    /// What calls skip, in a registry's report: the name of each pipeline that passes calls
    /// straight through, and `<name>.<policy>` for each policy turned off on its own
    /// (`search.retry`). Empty in a report over breakers.
    pub disabled: Vec<String>,
}

/// Judges breakers; see the [module docs](self) for the rules.
///
/// ```
/// let check = palisade::health::HealthCheck::new().degraded_fraction(0.8)?;
/// # let _ = check;
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct HealthCheck {
    degraded_fraction: f64,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            degraded_fraction: 0.5,
        }
    }
}

impl HealthCheck {
    /// The default check: degraded at half of a breaker's thresholds.
    ///
    /// ```
    /// let check = palisade::health::HealthCheck::new();
    /// # let _ = check;
    /// ```
    pub fn new() -> Self {
        HealthCheck::default()
    }

    /// The fraction of a breaker's thresholds at which it counts as degraded, in `(0, 1]`.
    /// Anything else is an error naming the field and value.
    ///
    /// ```
    /// let err = palisade::health::HealthCheck::new().degraded_fraction(1.5).unwrap_err();
    /// assert_eq!((err.field(), err.value()), ("degraded_fraction", "1.5"));
    /// ```
    pub fn degraded_fraction(mut self, fraction: f64) -> Result<Self, ConfigError> {
        if !(fraction > 0.0 && fraction <= 1.0) {
            return Err(ConfigError::new(
                "health",
                "degraded_fraction",
                fraction,
                "must be greater than 0 and at most 1",
            ));
        }
        self.degraded_fraction = fraction;
        Ok(self)
    }

    /// One breaker's verdict.
    ///
    /// ```
    /// use palisade::circuit_breaker::CircuitBreaker;
    /// use palisade::health::{Health, HealthCheck};
    /// let b = CircuitBreaker::builder().failure_threshold(4).build()?;
    /// for _ in 0..2 {
    ///     let _ = b.call_blocking(|| Err::<(), _>("down"));
    /// }
    /// // Two consecutive failures of four: half-way to tripping.
    /// assert_eq!(HealthCheck::new().breaker(&b).health, Health::Degraded);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn breaker<F, I, R>(&self, breaker: &CircuitBreaker<F, I, R>) -> BreakerHealth {
        let stats = breaker.stats();
        let config = breaker.config();
        let health = match stats.state {
            State::Open | State::ForcedOpen => Health::Unhealthy,
            State::HalfOpen => Health::Degraded,
            State::Closed => {
                let near_consecutive = config.failure_threshold.is_some_and(|threshold| {
                    stats.consecutive_failures > 0
                        && f64::from(stats.consecutive_failures)
                            >= self.degraded_fraction * f64::from(threshold)
                });
                let near_rate = match (config.failure_rate_threshold, stats.failure_rate) {
                    (Some(threshold), Some(rate)) => {
                        rate > 0.0 && rate >= self.degraded_fraction * threshold
                    }
                    _ => false,
                };
                if near_consecutive || near_rate {
                    Health::Degraded
                } else {
                    Health::Healthy
                }
            }
            // Disabled and metrics-only breakers never refuse a call.
            _ => Health::Healthy,
        };
        BreakerHealth {
            name: breaker.name().to_owned(),
            state: stats.state,
            health,
            failure_rate: stats.failure_rate,
            consecutive_failures: stats.consecutive_failures,
            total_calls: stats.total_calls(),
            retry_after: stats.retry_after,
            skipped: false,
        }
    }

    /// The report over `breakers`.
    ///
    /// ```
    /// use palisade::circuit_breaker::CircuitBreaker;
    /// use palisade::clock::ManualClock;
    /// use palisade::health::{Health, HealthCheck};
    /// use std::time::Duration;
    /// let clock = ManualClock::new();
    /// let a = CircuitBreaker::builder().name("a").build()?;
    /// let b = CircuitBreaker::builder().name("b").failure_threshold(1)
    ///     .recovery_timeout(Duration::from_secs(1)).clock(clock.clone()).build()?;
    /// let _ = b.call_blocking(|| Err::<(), _>("down")); // opens b
    /// clock.advance(Duration::from_secs(1));              // b is now half-open: probing
    /// let report = HealthCheck::new().report([&a, &b]);
    /// assert_eq!((report.overall, report.degraded_breakers.as_slice()), (Health::Degraded, &["b".to_string()][..]));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn report<'a, F: 'a, I: 'a, R: 'a>(
        &self,
        breakers: impl IntoIterator<Item = &'a CircuitBreaker<F, I, R>>,
    ) -> HealthReport {
        self.summarize(breakers.into_iter().map(|b| self.breaker(b)).collect())
    }

    /// The report over breakers already judged.
    pub(crate) fn summarize(&self, breakers: Vec<BreakerHealth>) -> HealthReport {
        let named = |level: Health| -> Vec<String> {
            breakers
                .iter()
                .filter(|b| b.health == level)
                .map(|b| b.name.clone())
                .collect()
        };
        HealthReport {
            overall: breakers
                .iter()
                .map(|b| b.health)
                .max()
                .unwrap_or(Health::Healthy),
            open_breakers: named(Health::Unhealthy),
            degraded_breakers: named(Health::Degraded),
            breakers,
            resilience_enabled: true,
            disabled: Vec::new(),
        }
    }
}

/// The outcome of a health check run through a breaker.
///
/// ```
/// use palisade::circuit_breaker::CircuitBreaker;
/// let b = CircuitBreaker::builder().name("database").build()?;
/// let outcome = palisade::health::check_blocking(&b, || Ok::<_, std::io::Error>(()));
/// assert!(outcome.is_healthy());
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CheckOutcome {
    /// The breaker's name.
    pub name: String,
    /// Healthy when the check ran and succeeded; unhealthy when it failed or the open breaker
    /// refused to run it.
    pub health: Health,
    /// Why it is unhealthy (the check's error, or the breaker's refusal).
    pub error: Option<String>,
    /// The breaker's state after the check.
    pub state: State,
}

impl CheckOutcome {
    /// Whether the check ran and succeeded.
    ///
    /// ```
    /// use palisade::circuit_breaker::CircuitBreaker;
    /// let b = CircuitBreaker::builder().build()?;
    /// b.force_open();
    /// assert!(!palisade::health::check_blocking(&b, || Ok::<_, std::io::Error>(())).is_healthy());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn is_healthy(&self) -> bool {
        self.health == Health::Healthy
    }
}

fn outcome<T, E: fmt::Display, F, I, R>(
    breaker: &CircuitBreaker<F, I, R>,
    result: Result<T, Error<E>>,
) -> CheckOutcome {
    let (health, error) = match result {
        Ok(_) => (Health::Healthy, None),
        Err(error) => (Health::Unhealthy, Some(error.to_string())),
    };
    CheckOutcome {
        name: breaker.name().to_owned(),
        health,
        error,
        state: breaker.state(),
    }
}

/// Runs `check` through `breaker` an
/// open breaker answers unhealthy without running it; otherwise the check's outcome is the
/// answer and counts towards the breaker like any call.
///
/// ```
/// use palisade::circuit_breaker::CircuitBreaker;
/// let db = CircuitBreaker::builder().name("database").failure_threshold(1).build()?;
/// let down = palisade::health::check_blocking(&db, || Err::<(), _>("connection refused"));
/// assert_eq!(down.error.as_deref(), Some("connection refused"));
/// // The failure opened the breaker: the next check does not touch the database.
/// let refused = palisade::health::check_blocking(&db, || -> Result<(), &str> { unreachable!() });
/// assert!(!refused.is_healthy());
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub fn check_blocking<T, E, C, F, I, R>(breaker: &CircuitBreaker<F, I, R>, check: C) -> CheckOutcome
where
    C: FnOnce() -> Result<T, E>,
    E: fmt::Display,
    F: crate::predicate::Predicate<E>,
    I: crate::predicate::Predicate<E>,
    R: crate::predicate::Predicate<T>,
{
    let result = breaker.call_blocking(check);
    outcome(breaker, result)
}

/// [`check_blocking`] for an async check.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), palisade::ConfigError> {
/// use palisade::circuit_breaker::CircuitBreaker;
/// let cache = CircuitBreaker::builder().name("cache").build()?;
/// let ok = palisade::health::check(&cache, || async { Ok::<_, std::io::Error>("PONG") }).await;
/// assert!(ok.is_healthy());
/// # Ok(()) }
/// ```
pub async fn check<T, E, C, Fut, F, I, R>(
    breaker: &CircuitBreaker<F, I, R>,
    check: C,
) -> CheckOutcome
where
    C: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: fmt::Display,
    F: crate::predicate::Predicate<E>,
    I: crate::predicate::Predicate<E>,
    R: crate::predicate::Predicate<T>,
{
    let result = breaker.call(check).await;
    outcome(breaker, result)
}

impl HealthReport {
    /// The HTTP status a `/health` endpoint answers with: 503 when a dependency is cut off
    /// (unhealthy), 200 otherwise — degraded still serves traffic.
    ///
    /// ```
    /// use palisade::circuit_breaker::CircuitBreaker;
    /// use palisade::health::HealthCheck;
    /// let b = CircuitBreaker::builder().name("db").build()?;
    /// assert_eq!(HealthCheck::new().report([&b]).http_status(), 200);
    /// b.force_open();
    /// assert_eq!(HealthCheck::new().report([&b]).http_status(), 503);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn http_status(&self) -> u16 {
        match self.overall {
            Health::Unhealthy => 503,
            Health::Healthy | Health::Degraded => 200,
        }
    }
}

#[cfg(feature = "serde")]
impl HealthReport {
    /// The report as JSON (feature `serde`), the body of a `/health` endpoint: `overall`,
    /// `open_breakers`, `degraded_breakers`, per breaker `name`, `state` (`"closed"`,
    /// `"open"`, `"half_open"`, …), `health`, `failure_rate` (percent or `null`),
    /// `consecutive_failures`, `total_calls`, `retry_after_secs` (or `null`) and `skipped`,
    /// then `resilience_enabled` and `disabled`.
    ///
    /// ```
    /// use palisade::circuit_breaker::CircuitBreaker;
    /// use palisade::health::HealthCheck;
    /// let b = CircuitBreaker::builder().name("db").build()?;
    /// b.force_open();
    /// let json = HealthCheck::new().report([&b]).to_json();
    /// assert!(json.contains(r#""overall":"unhealthy""#));
    /// assert!(json.contains(r#""open_breakers":["db"]"#));
    /// assert!(json.contains(r#""state":"forced_open""#));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Health {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for BreakerHealth {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("BreakerHealth", 8)?;
        s.serialize_field("name", &self.name)?;
        s.serialize_field("state", crate::status::state_name(self.state))?;
        s.serialize_field("health", &self.health)?;
        s.serialize_field("failure_rate", &self.failure_rate)?;
        s.serialize_field("consecutive_failures", &self.consecutive_failures)?;
        s.serialize_field("total_calls", &self.total_calls)?;
        s.serialize_field(
            "retry_after_secs",
            &self.retry_after.map(|d| d.as_secs_f64()),
        )?;
        s.serialize_field("skipped", &self.skipped)?;
        s.end()
    }
}
