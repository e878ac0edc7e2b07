//! Hedging: when an attempt is slow, start another one and take whichever succeeds first.
//!
//! # Only for idempotent operations
//!
//! **A hedged call runs your operation several times at once.** A losing attempt is
//! cancelled as soon as another succeeds, but cancelling a future only stops *your* side: a
//! request already sent keeps running on the server, and may complete. Hedge only operations
//! that are safe to perform twice — reads, lookups, `PUT`s of the same value, writes guarded
//! by an idempotency key. Never hedge a payment, an append, or anything that creates a
//! resource without such a key.
//!
//! Calling [`Hedge::call`] is that declaration: by calling it you state that the operation is
//! idempotent. (Pipelines will offer hedging only through an explicitly named
//! `call_idempotent`, never through their ordinary `call`.)
//!
//! # Why hedge
//!
//! Most slow calls are not slow because the request is hard, but because of something
//! transient on the one server that got it: a garbage collection, a queue behind a big
//! request, a cold cache, a lost packet. A copy of the request sent a moment later — often to
//! another replica — usually answers at normal speed. This is the *hedged request* of Dean and
//! Barroso's "The Tail at Scale" (Finagle's backup requests, Envoy's hedging, Polly's hedging
//! strategy, failsafe-go's hedge policy): sending a second copy after the 95th-percentile
//! latency costs about 5 % more load and cuts the 99th percentile dramatically. A retry cannot
//! do this: it waits for the slow attempt to fail or time out, and then starts from zero.
//!
//! ```
//! use palisade::hedge::Hedge;
//! use std::time::Duration;
//!
//! async fn lookup(key: &str) -> Result<String, std::io::Error> {
//!     Ok(format!("value of {key}")) // a read from any replica
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let hedge = Hedge::builder()
//!     .name("kv-read")
//!     .delay(Duration::from_millis(20)) // a second attempt if the first is still running at 20 ms
//!     .build()?;
//! let key = String::from("user:7"); // attempts may borrow: nothing is spawned
//! let value = hedge.call(|| lookup(&key)).await?;
//! assert_eq!(value, "value of user:7");
//! # Ok(()) }
//! ```
//!
//! # How a call runs
//!
//! 1. Attempt 1 starts.
//! 2. Each time the hedge delay passes after the latest attempt started without the call
//!    succeeding, another attempt starts — up to `max_hedged_attempts` (default 1) beyond the
//!    first.
//! 3. A failed attempt does not end the call while others are running. If hedges remain, the
//!    next attempt starts at once rather than at the timer (as in Polly).
//! 4. The first success wins: the call returns it, and every other running attempt is dropped
//!    at that moment — cancelled at the `.await` it was waiting on.
//! 5. When every attempt has failed, the call returns the last error.
//!
//! Everything runs in the calling task: attempts are polled together with the timer, nothing
//! is spawned, so attempts may borrow from the caller. Dropping the call's future cancels
//! every running attempt. A call whose first attempt succeeds before the delay allocates
//! nothing; so does a call that hedges once (the default): the call's future holds two
//! attempts inline (it is about twice the size of one attempt's future). A third and later
//! concurrent attempt are boxed.
//!
//! # Choosing the delay
//!
//! A **fixed delay** ([`delay`](HedgeBuilder::delay), default 2 s like Polly) is simple and
//! predictable. Set it near the dependency's 95th-percentile latency: lower hedges more calls
//! (more load), higher saves fewer slow ones. `Duration::ZERO` starts every attempt at once
//! (a race of replicas); `Duration::MAX` never hedges on time, only after a failure.
//!
//! A **percentile delay** ([`delay_percentile`](HedgeBuilder::delay_percentile)) follows the
//! dependency as its latency changes: the policy hedges after the p-th percentile of recent
//! latencies, so about `100 − p` % of calls hedge, whatever the latency is today. Until
//! [`min_samples`](HedgeBuilder::min_samples) latencies are known, the fixed delay applies.
//! Details:
//!
//! - *What is sampled:* the first attempt of each call, from its start until it succeeds, or
//!   until it is cancelled because a hedge won. A hedge's latency is not sampled: a hedge
//!   that wins did so because it was fast, and one that loses is cut short, so either would
//!   pull the percentile down and hedge ever more calls. A first attempt cut short by a
//!   hedge has already run past the delay, so it still counts as slow — exactly what the
//!   percentile needs. Failed first attempts are not sampled: a quick "connection refused"
//!   says nothing about how long an answer takes.
//! - *Which percentile:* nearest rank over the last [`sample_size`](HedgeBuilder::sample_size)
//!   samples (default 1024): the smallest sample with at least p % of the samples at or
//!   below it, i.e. the `ceil(p × n / 100)`-th smallest. Of the latencies 10, 20, …, 100 ms
//!   the 90th percentile is 90 ms.
//! - *When it is computed:* not per call. The sample is a fixed ring (the oldest latency is
//!   replaced); the percentile is recomputed when `min_samples` is first reached and then every
//!   `sample_size / 16` samples, in linear time, and cached in an atomic. A call reads the
//!   delay with one atomic load, and uses it for all its hedges.
//!   [`current_delay`](Hedge::current_delay) shows it.
//!
//! # Events
//!
//! A hedge publishes [`HedgeEvent`]s through [`crate::event`]: `HedgeStarted` for each hedged
//! attempt (its number and whether a delay or a failure started it), then one `Settled` with
//! the winning attempt and how many started. Nobody listening costs one branch per event.

mod config;
mod event;
mod latency;
mod race;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use config::{HedgeBuilder, HedgeConfig, MAX_HEDGED_ATTEMPTS, MAX_SAMPLE_SIZE};
pub use event::{HedgeEvent, HedgeTrigger};

use crate::clock::Clock;
use crate::error::{ConfigError, Error};
use crate::listener::{Kind, Listeners};
use latency::LatencySample;

/// A hedging policy; see the [module docs](self) — and use it **only for idempotent
/// operations**. Cheap to clone (one `Arc`); clones share the latency sample.
///
/// ```
/// use palisade::hedge::Hedge;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let hedge = Hedge::builder().delay(Duration::from_millis(10)).build()?;
/// let mut attempts = 0;
/// let value = hedge
///     .call(|| {
///         attempts += 1;
///         let slow = attempts == 1;
///         async move {
///             if slow {
///                 tokio::time::sleep(Duration::from_secs(1)).await; // a stuck replica
///             }
///             Ok::<_, std::io::Error>(if slow { "first" } else { "hedge" })
///         }
///     })
///     .await?;
/// assert_eq!((value, attempts), ("hedge", 2));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Hedge {
    shared: Arc<Shared>,
}

/// The state every clone shares.
struct Shared {
    name: Arc<str>,
    config: HedgeConfig,
    clock: Clock,
    listeners: Listeners<Hedge>,
    /// The latency sample, in percentile mode only.
    samples: Option<LatencySample>,
}

impl Kind for Hedge {
    type Event<'a> = HedgeEvent<'a>;
}

impl Hedge {
    /// Starts building a policy from the defaults of [`HedgeConfig`]: one hedge after 2 s.
    ///
    /// ```
    /// let hedge = palisade::hedge::Hedge::builder().build()?;
    /// assert_eq!(hedge.config().max_hedged_attempts, 1);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn builder() -> HedgeBuilder {
        HedgeBuilder::new(HedgeConfig::default())
    }

    /// Starts building from an existing configuration (for example one loaded from a file).
    ///
    /// ```
    /// use palisade::hedge::{Hedge, HedgeConfig};
    /// let hedge = Hedge::builder_from(HedgeConfig { percentile: Some(95.0), ..Default::default() })
    ///     .name("loaded")
    ///     .build()?;
    /// assert_eq!(hedge.config().percentile, Some(95.0));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn builder_from(config: HedgeConfig) -> HedgeBuilder {
        HedgeBuilder::new(config)
    }

    /// Validates `config` and builds a policy with the default name, clock and no listeners.
    ///
    /// ```
    /// use palisade::hedge::{Hedge, HedgeConfig};
    /// let err = Hedge::from_config(HedgeConfig { max_hedged_attempts: 0, ..Default::default() })
    ///     .unwrap_err();
    /// assert_eq!(err.field(), "max_hedged_attempts");
    /// ```
    pub fn from_config(config: HedgeConfig) -> Result<Hedge, ConfigError> {
        Hedge::builder_from(config).build()
    }

    fn assemble(
        name: Arc<str>,
        config: HedgeConfig,
        clock: Clock,
        listeners: Listeners<Hedge>,
    ) -> Hedge {
        let samples = config
            .percentile
            .map(|p| LatencySample::new(p, config.sample_size, config.min_samples));
        Hedge {
            shared: Arc::new(Shared {
                name,
                config,
                clock,
                listeners,
                samples,
            }),
        }
    }

    /// The policy's name.
    ///
    /// ```
    /// assert_eq!(palisade::hedge::Hedge::builder().build()?.name(), "hedge");
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The validated configuration.
    ///
    /// ```
    /// let h = palisade::hedge::Hedge::builder().build()?;
    /// assert_eq!(h.config(), &palisade::hedge::HedgeConfig::default());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn config(&self) -> &HedgeConfig {
        &self.shared.config
    }

    /// The clock latencies are measured on.
    ///
    /// ```
    /// assert!(!palisade::hedge::Hedge::builder().build()?.clock().is_manual());
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// The delay a call starting now would hedge after: the fixed delay, or in percentile
    /// mode the cached percentile once `min_samples` latencies are known (the fixed delay
    /// before that).
    ///
    /// ```
    /// use palisade::hedge::Hedge;
    /// use std::time::Duration;
    /// let h = Hedge::builder().delay_percentile(99.0).delay(Duration::from_millis(250)).build()?;
    /// assert_eq!(h.current_delay(), Duration::from_millis(250)); // nothing measured yet
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    #[inline]
    pub fn current_delay(&self) -> Duration {
        let shared = &*self.shared;
        shared
            .samples
            .as_ref()
            .and_then(LatencySample::percentile_delay)
            .unwrap_or(shared.config.delay)
    }

    /// Runs `operation`, hedging it while it is slow, and returns the first success or, when
    /// every attempt failed, the last error as [`Error::Operation`]. The hedge delay is waited
    /// for on the policy's clock.
    ///
    /// **Calling this declares that `operation` is idempotent**: it may run several times
    /// concurrently, and a cancelled attempt may still have taken effect (see the
    /// [module docs](self#only-for-idempotent-operations)).
    ///
    /// Each call of `operation` starts one attempt. The attempts are polled in the calling
    /// task, so they may borrow and need not be `'static`. Dropping the returned future
    /// cancels every running attempt.
    ///
    /// ```
    /// use palisade::{Error, hedge::Hedge};
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), palisade::ConfigError> {
    /// let hedge = Hedge::builder().delay(Duration::from_millis(50)).build()?;
    /// let out = hedge.call(|| async { Err::<(), _>("replica down") }).await;
    /// assert_eq!(out, Err(Error::Operation("replica down"))); // both attempts failed
    /// # Ok(()) }
    /// ```
    pub async fn call<T, E, F, Fut>(&self, mut operation: F) -> Result<T, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run(|| {
            let attempt = operation();
            async move { attempt.await.map_err(Error::Operation) }
        })
        .await
    }

    /// The hedged call for composition: an attempt's result is already an [`Error<E>`],
    /// because inside a pipeline other policies (a per-attempt timeout) fail attempts too.
    /// `Ok` is a success and `Err` a failure; all failed → the last error, untouched.
    pub(crate) async fn run<T, E, F, Fut>(&self, operation: F) -> Result<T, Error<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error<E>>>,
    {
        self.race(operation).await
    }
}

impl fmt::Debug for Hedge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hedge")
            .field("name", &self.shared.name)
            .field("config", &self.shared.config)
            .field("current_delay", &self.current_delay())
            .field("clock", &self.shared.clock)
            .field("listeners", &self.shared.listeners)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{ManualClock, Simulation};
    use crate::error::reason::TimeoutScope;

    #[test]
    fn run_returns_an_inner_policy_error_untouched() {
        let manual = ManualClock::new();
        let clock = Clock::from(&manual);
        let hedge = Hedge::builder()
            .delay(Duration::from_millis(10))
            .clock(clock.clone())
            .build()
            .unwrap();
        let limit = Duration::from_millis(5);
        let out: Result<(), Error<()>> = Simulation::new(&manual)
            .block_on(hedge.run(|| {
                let clock = clock.clone();
                async move {
                    clock.sleep(limit).await;
                    Err(Error::timeout("db", TimeoutScope::Attempt, limit))
                }
            }))
            .unwrap();
        assert_eq!(out, Err(Error::timeout("db", TimeoutScope::Attempt, limit)));
    }
}
