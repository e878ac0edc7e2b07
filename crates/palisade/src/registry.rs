//! Registry: the service's named pipelines, in one place.
//!
//! # Why
//!
//! A service has a handful of dependencies, each with its pipeline, and several places
//! calling each: the registry hands every caller of `"payments"` the same pipeline (one
//! breaker, one rate limit), creates it on first use from its [`PipelineSource`] (a
//! configuration), lists what exists, judges health over every breaker, resets all state, and reloads a
//! changed configuration at runtime **without losing state** where the new settings allow:
//! a breaker whose settings did not change keeps its state and statistics, a rate limiter
//! keeps the permits already taken under its new quota, a bulkhead keeps its in-flight calls.
//!
//! ```
//! use palisade::presets::Preset;
//! use palisade::registry::Registry;
//!
//! // Any name becomes a pipeline of the preset its name matches, else the network preset.
//! let registry = Registry::new(|name: &str| {
//!     let preset = name.parse::<Preset>().unwrap_or(Preset::Network);
//!     Some(Ok(preset.pipeline().name(name)))
//! });
//! let a = registry.pipeline("database")?;
//! let b = registry.pipeline("database")?;
//! assert!(a.shares_state_with(&b)); // one pipeline per name
//! assert_eq!(registry.names(), ["database"]);
//! # Ok::<(), palisade::ConfigError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use crate::clock::Clock;
use crate::error::ConfigError;
use crate::health::{HealthCheck, HealthReport};
use crate::pipeline::{Classified, ClassifiedBuilder, Disabled, Pipeline, PipelineBuilder};
use crate::status::{
    BreakerStatus, BulkheadStatus, History, PolicyStatus, RateLimitStatus, StatusReport, WallTime,
};

/// Where a registry gets the pipeline for a name: typically a configuration. Implemented for
/// every `Fn(&str) -> Option<Result<PipelineBuilder<_, _>, ConfigError>>` (`None`: no such
/// policy). The registry's pipelines are [`Classified`]: a builder from
/// [`Pipeline::builder`] is classified when the registry takes it.
///
/// ```
/// use palisade::pipeline::Pipeline;
/// use palisade::registry::PipelineSource;
/// let only_cache = |name: &str| (name == "cache").then(|| Ok(Pipeline::builder().name(name)));
/// assert!(only_cache.builder("cache").is_some());
/// assert!(only_cache.builder("db").is_none());
/// ```
pub trait PipelineSource: Send + Sync {
    /// The builder for `name`, `None` if the source has no such policy.
    fn builder(&self, name: &str) -> Option<Result<ClassifiedBuilder, ConfigError>>;

    /// Builds pipeline `name` with `decorate` applied to its builder last (the registry adds
    /// its history listener there). The default builds [`builder`](Self::builder) and places
    /// a build error under `policies.<name>`; a configuration overrides it to name the key
    /// and the file or variable the bad value came from.
    fn build(
        &self,
        name: &str,
        decorate: &dyn Fn(ClassifiedBuilder) -> ClassifiedBuilder,
    ) -> Option<Result<Classified, ConfigError>> {
        self.builder(name).map(|builder| {
            builder
                .map(decorate)
                .and_then(ClassifiedBuilder::build)
                .map_err(|error| at(name, error))
        })
    }

    /// Names the source defines up front (created by [`Registry::create_all`]).
    fn names(&self) -> Vec<String> {
        Vec::new()
    }

    /// Whether resilience is on at all (`resilience_enabled`): when `false`, every pipeline
    /// of the registry — created, inserted or held since before the reload — passes calls
    /// straight through ([`Disabled::ALL`]). The default is `true`.
    fn resilience_enabled(&self) -> bool {
        true
    }

    /// Which policies of pipeline `name` calls skip (`enabled = false`); the default is
    /// none. The registry sets it on the pipeline when it creates it and at every reload.
    fn disabled(&self, name: &str) -> Disabled {
        let _ = name;
        Disabled::NONE
    }
}

impl<F, R, B> PipelineSource for F
where
    F: Fn(&str) -> Option<Result<PipelineBuilder<R, B>, ConfigError>> + Send + Sync,
{
    fn builder(&self, name: &str) -> Option<Result<ClassifiedBuilder, ConfigError>> {
        self(name).map(|builder| builder.map(PipelineBuilder::classified))
    }
}

/// Named pipelines, created on first use from a [`PipelineSource`]; see the
/// [module docs](self). Cheap to clone: clones share the pipelines.
///
/// ```
/// use palisade::pipeline::Pipeline;
/// use palisade::registry::Registry;
/// let registry = Registry::empty();
/// registry.insert("search", Pipeline::builder().max_attempts(2).build()?);
/// assert!(registry.get("search").is_some());
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    source: RwLock<Arc<dyn PipelineSource>>,
    pipelines: RwLock<BTreeMap<String, Classified>>,
    history: Option<History>,
    /// Stamps status reports when there is no history (whose clock stamps them otherwise).
    wall: WallTime,
}

/// What a [`Registry::reload`] did to each pipeline.
///
/// ```
/// let report = palisade::registry::ReloadReport::default();
/// assert!(report.rebuilt.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReloadReport {
    /// Pipelines rebuilt from the new source, with the parts that kept their state.
    pub rebuilt: Vec<(String, Vec<&'static str>)>,
    /// Pipelines the new source no longer defines: kept as they were (callers may hold them).
    pub kept: Vec<String>,
}

fn read<T: ?Sized>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T: ?Sized>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Registry {
    /// A registry creating pipelines from `source` on first use.
    ///
    /// ```
    /// use palisade::presets::Preset;
    /// let registry = palisade::registry::Registry::new(|name: &str| {
    ///     name.parse::<Preset>().ok().map(|p| Ok(p.pipeline()))
    /// });
    /// assert!(registry.pipeline("cache").is_ok());
    /// assert_eq!(registry.pipeline("nope").unwrap_err().field(), "policies.nope");
    /// ```
    pub fn new(source: impl PipelineSource + 'static) -> Self {
        Registry {
            inner: Arc::new(Inner {
                source: RwLock::new(Arc::new(source)),
                pipelines: RwLock::new(BTreeMap::new()),
                history: None,
                wall: WallTime::new(Clock::default()),
            }),
        }
    }

    /// Records every call of the pipelines this registry creates (from its source, now and
    /// after reloads) in `history`, for [`status`](Self::status). Pipelines created before
    /// this call, and [`insert`](Self::insert)ed ones, are not recorded.
    ///
    /// ```
    /// use palisade::pipeline::Pipeline;
    /// use palisade::registry::Registry;
    /// use palisade::status::History;
    /// let history = History::new(10);
    /// let registry = Registry::new(|n: &str| Some(Ok(Pipeline::builder().name(n)))).with_history(history.clone());
    /// let _ = registry.pipeline("x")?.call_blocking(|| Ok::<_, std::io::Error>(()));
    /// assert_eq!(history.snapshot("x").map(|(c, _)| c.total), Some(1));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn with_history(self, history: History) -> Self {
        let inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => Inner {
                source: RwLock::new(Arc::clone(&read(&shared.source))),
                pipelines: RwLock::new(read(&shared.pipelines).clone()),
                history: shared.history.clone(),
                wall: shared.wall.clone(),
            },
        };
        Registry {
            inner: Arc::new(Inner {
                history: Some(history),
                ..inner
            }),
        }
    }

    /// A snapshot of every pipeline: breaker, rate limiter and bulkhead state, what calls
    /// skip (resilience off, policies turned off), and with a [`History`] the call counters,
    /// success rate and recent calls (JSON with the `serde` feature).
    ///
    /// ```
    /// use palisade::pipeline::Pipeline;
    /// let registry = palisade::registry::Registry::empty();
    /// registry.insert("db", Pipeline::builder().circuit_breaker(|b| b).build()?);
    /// let status = registry.status();
    /// assert_eq!(status.policies[0].circuit_breaker.as_ref().map(|b| b.state), Some("closed"));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn status(&self) -> StatusReport {
        let policies = self
            .pipelines()
            .into_iter()
            .map(|(name, pipeline)| {
                let (calls, recent) = self
                    .inner
                    .history
                    .as_ref()
                    .and_then(|history| history.snapshot(pipeline.name()))
                    .unwrap_or_default();
                PolicyStatus {
                    calls,
                    recent,
                    resilience_enabled: !pipeline.disabled().passes_through(),
                    disabled: pipeline.skipped(),
                    circuit_breaker: pipeline.circuit_breaker().map(|breaker| {
                        let stats = breaker.stats();
                        BreakerStatus {
                            state: crate::status::state_name(stats.state),
                            successful_calls: stats.successful_calls,
                            failed_calls: stats.failed_calls,
                            not_permitted_calls: stats.not_permitted_calls,
                            failure_rate: stats.failure_rate,
                        }
                    }),
                    rate_limit: pipeline.rate_limiter().map(|limiter| {
                        let info = limiter.info();
                        RateLimitStatus {
                            limit: info.limit(),
                            remaining: info.remaining(),
                        }
                    }),
                    bulkhead: pipeline.bulkhead().map(|bulkhead| BulkheadStatus {
                        max_concurrent: bulkhead.max_concurrent(),
                        in_flight: bulkhead.in_flight(),
                        available: bulkhead.available(),
                        queued: bulkhead.queued(),
                    }),
                    name,
                }
            })
            .collect();
        StatusReport {
            generated_at_ms: match &self.inner.history {
                Some(history) => history.wall().now_ms(),
                None => self.inner.wall.now_ms(),
            },
            resilience_enabled: read(&self.inner.source).resilience_enabled(),
            policies,
        }
    }

    /// A registry with no source: only pipelines you [`insert`](Self::insert).
    ///
    /// ```
    /// assert!(palisade::registry::Registry::empty().names().is_empty());
    /// ```
    pub fn empty() -> Self {
        Registry::new(|_: &str| None::<Result<ClassifiedBuilder, ConfigError>>)
    }

    /// The pipeline named `name`: the existing one, or a new one from the source (built once,
    /// even when callers race). An unknown name or an invalid configuration is an error naming
    /// the policy.
    ///
    /// ```
    /// use palisade::pipeline::Pipeline;
    /// let registry = palisade::registry::Registry::new(|name: &str| Some(Ok(Pipeline::builder().name(name))));
    /// assert_eq!(registry.pipeline("payments")?.name(), "payments");
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn pipeline(&self, name: &str) -> Result<Classified, ConfigError> {
        if let Some(pipeline) = read(&self.inner.pipelines).get(name) {
            return Ok(pipeline.clone());
        }
        let source = Arc::clone(&read(&self.inner.source));
        let mut pipelines = write(&self.inner.pipelines);
        if let Some(pipeline) = pipelines.get(name) {
            return Ok(pipeline.clone());
        }
        let pipeline = build(&*source, name, self.inner.history.as_ref())?;
        pipeline.switch_to(switch(&*source, name));
        pipelines.insert(name.to_owned(), pipeline.clone());
        drop(pipelines);
        pipeline.publish_switched();
        Ok(pipeline)
    }

    /// Creates every pipeline the source names up front (so health reports and exports see
    /// them before their first call); the first error stops it.
    ///
    /// ```
    /// use palisade::pipeline::{Pipeline, ClassifiedBuilder};
    /// use palisade::registry::{PipelineSource, Registry};
    /// struct Two;
    /// impl PipelineSource for Two {
    ///     fn builder(&self, name: &str) -> Option<Result<ClassifiedBuilder, palisade::ConfigError>> {
    ///         Some(Ok(Pipeline::builder().name(name).classified()))
    ///     }
    ///     fn names(&self) -> Vec<String> { vec!["a".into(), "b".into()] }
    /// }
    /// let registry = Registry::new(Two);
    /// registry.create_all()?;
    /// assert_eq!(registry.names(), ["a", "b"]);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn create_all(&self) -> Result<(), ConfigError> {
        let names = read(&self.inner.source).names();
        for name in names {
            self.pipeline(&name)?;
        }
        Ok(())
    }

    /// Registers `pipeline`'s policies under `name`, replacing any pipeline of that name, and
    /// sets which of its policies calls skip as the source says (like the pipelines it
    /// creates). The registry hands out [`Classified`] pipelines: the hooks `pipeline`
    /// carries are not kept (set them again on what [`get`](Self::get) returns).
    ///
    /// ```
    /// use palisade::pipeline::Pipeline;
    /// let registry = palisade::registry::Registry::empty();
    /// registry.insert("x", Pipeline::builder().build()?);
    /// assert_eq!(registry.names(), ["x"]);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn insert<R, B, H>(&self, name: impl Into<String>, pipeline: Pipeline<R, B, H>) {
        let pipeline = pipeline.retry_after(crate::pipeline::NoHint).classified();
        let name = name.into();
        pipeline.switch_to(switch(&**read(&self.inner.source), &name));
        write(&self.inner.pipelines).insert(name, pipeline.clone());
        pipeline.publish_switched();
    }

    /// The pipeline named `name`, if it exists (never creates one).
    ///
    /// ```
    /// assert!(palisade::registry::Registry::empty().get("x").is_none());
    /// ```
    pub fn get(&self, name: &str) -> Option<Classified> {
        read(&self.inner.pipelines).get(name).cloned()
    }

    /// The names of the existing pipelines, sorted.
    ///
    /// ```
    /// assert!(palisade::registry::Registry::empty().names().is_empty());
    /// ```
    pub fn names(&self) -> Vec<String> {
        read(&self.inner.pipelines).keys().cloned().collect()
    }

    /// Every existing pipeline with its name, sorted by name.
    ///
    /// ```
    /// use palisade::pipeline::Pipeline;
    /// let registry = palisade::registry::Registry::empty();
    /// registry.insert("x", Pipeline::builder().build()?);
    /// assert_eq!(registry.pipelines().len(), 1);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn pipelines(&self) -> Vec<(String, Classified)> {
        read(&self.inner.pipelines)
            .iter()
            .map(|(name, pipeline)| (name.clone(), pipeline.clone()))
            .collect()
    }

    /// Resets every breaker to Closed with fresh statistics. Rate limiters and bulkheads hold no failure state and are
    /// left as they are.
    ///
    /// ```
    /// use palisade::circuit_breaker::State;
    /// use palisade::pipeline::Pipeline;
    /// let registry = palisade::registry::Registry::empty();
    /// let p = Pipeline::builder().circuit_breaker(|b| b).build()?;
    /// registry.insert("db", p.clone());
    /// p.circuit_breaker().unwrap().force_open();
    /// registry.reset_all();
    /// assert_eq!(p.circuit_breaker().unwrap().state(), State::Closed);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn reset_all(&self) {
        for (_, pipeline) in self.pipelines() {
            if let Some(breaker) = pipeline.circuit_breaker() {
                breaker.reset();
            }
        }
    }

    /// The health of every pipeline's breaker (a breaker shared by several pipelines is
    /// reported once), judged by `check`, and what calls skip: whether resilience is on
    /// ([`resilience_enabled`](HealthReport::resilience_enabled)) and the pipelines and
    /// policies turned off ([`disabled`](HealthReport::disabled)). A breaker calls skip
    /// refuses nothing: it is [`skipped`](crate::health::BreakerHealth::skipped) and healthy.
    ///
    /// ```
    /// use palisade::health::{Health, HealthCheck};
    /// use palisade::pipeline::Pipeline;
    /// let registry = palisade::registry::Registry::empty();
    /// registry.insert("db", Pipeline::builder().name("db").circuit_breaker(|b| b).build()?);
    /// let report = registry.health(&HealthCheck::new());
    /// assert_eq!((report.overall, report.breakers.len()), (Health::Healthy, 1));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn health(&self, check: &HealthCheck) -> HealthReport {
        let pipelines = self.pipelines();
        // Each breaker once, skipped only if every pipeline holding it skips it.
        let mut breakers: Vec<(&crate::circuit_breaker::CircuitBreaker, bool)> = Vec::new();
        let mut disabled = Vec::new();
        for (name, pipeline) in &pipelines {
            let off = pipeline.disabled();
            if off.passes_through() {
                disabled.push(name.clone());
            } else {
                disabled.extend(pipeline.skipped().iter().map(|p| format!("{name}.{p}")));
            }
            let Some(breaker) = pipeline.circuit_breaker() else {
                continue;
            };
            let skipped = off.contains(Disabled::CIRCUIT_BREAKER);
            match breakers
                .iter_mut()
                .find(|(b, _)| b.shares_state_with(breaker))
            {
                Some((_, all_skip)) => *all_skip &= skipped,
                None => breakers.push((breaker, skipped)),
            }
        }
        let verdicts = breakers.into_iter().map(|(breaker, skipped)| {
            let verdict = check.breaker(breaker);
            if skipped {
                verdict.into_skipped()
            } else {
                verdict
            }
        });
        let mut report = check.summarize(verdicts.collect());
        report.resilience_enabled = read(&self.inner.source).resilience_enabled();
        report.disabled = disabled;
        report
    }

    /// Switches to `source` and rebuilds every existing pipeline it defines, keeping state
    /// where the new settings are compatible: an unchanged breaker keeps its state and
    /// statistics, a rate limiter of the same kind keeps its permits under the new quota, an
    /// unchanged bulkhead keeps its in-flight calls. Every new pipeline is built (validated)
    /// before anything changes: on an error, nothing is replaced. Callers holding an old pipeline keep using
    /// it; new lookups get the new one.
    ///
    /// Which policies calls skip (`resilience_enabled`, `enabled = false`) is the exception:
    /// every pipeline of a name shares one switch across reloads, so old holders follow it
    /// too, and a reload turns resilience off and on again for everyone (see
    /// [`Disabled`]). Pipelines the new source does not define follow `resilience_enabled`.
    ///
    /// ```
    /// use palisade::circuit_breaker::State;
    /// use palisade::pipeline::Pipeline;
    /// use palisade::registry::Registry;
    /// let registry = Registry::new(|name: &str| Some(Ok(Pipeline::builder().name(name)
    ///     .circuit_breaker(|b| b.failure_threshold(1)).max_attempts(2))));
    /// let before = registry.pipeline("db")?;
    /// let refused = || std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    /// let _ = before.call_blocking(|| Err::<(), _>(refused()));    // trips the breaker
    /// // New retry settings, same breaker settings: the open breaker survives the reload.
    /// registry.reload(|name: &str| Some(Ok(Pipeline::builder().name(name)
    ///     .circuit_breaker(|b| b.failure_threshold(1)).max_attempts(5))))?;
    /// let after = registry.pipeline("db")?;
    /// assert_eq!(after.retry().unwrap().config().max_attempts, 5);
    /// assert_eq!(after.circuit_breaker().unwrap().state(), State::Open);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn reload(
        &self,
        source: impl PipelineSource + 'static,
    ) -> Result<ReloadReport, ConfigError> {
        let mut pipelines = write(&self.inner.pipelines);
        // Validate everything first: on an error, nothing changes.
        let mut built = Vec::new();
        let mut report = ReloadReport::default();
        for name in pipelines.keys() {
            match source.builder(name).map(drop) {
                None => report.kept.push(name.clone()),
                Some(_) => {
                    let history = self.inner.history.as_ref();
                    let decorate = |b: ClassifiedBuilder| with_history(b, history);
                    let new = match source.build(name, &decorate) {
                        Some(result) => result?,
                        None => continue,
                    };
                    built.push((name.clone(), new));
                }
            }
        }
        for (name, new) in built {
            let (pipeline, kept) = match pipelines.get(&name) {
                Some(old) => new.keeping_state_of(old),
                None => (new, Vec::new()),
            };
            report.rebuilt.push((name.clone(), kept));
            pipelines.insert(name, pipeline);
        }
        for (name, pipeline) in pipelines.iter() {
            pipeline.switch_to(switch(&source, name));
        }
        let switched: Vec<Classified> = pipelines.values().cloned().collect();
        *write(&self.inner.source) = Arc::new(source);
        drop(pipelines);
        for pipeline in switched {
            pipeline.publish_switched();
        }
        Ok(report)
    }
}

/// What pipeline `name` skips under `source`: everything when resilience is off.
fn switch(source: &dyn PipelineSource, name: &str) -> Disabled {
    if source.resilience_enabled() {
        source.disabled(name)
    } else {
        Disabled::ALL
    }
}

fn with_history(builder: ClassifiedBuilder, history: Option<&History>) -> ClassifiedBuilder {
    match history {
        Some(history) => builder.on_event(history.clone()),
        None => builder,
    }
}

fn build(
    source: &dyn PipelineSource,
    name: &str,
    history: Option<&History>,
) -> Result<Classified, ConfigError> {
    let decorate = |b: ClassifiedBuilder| with_history(b, history);
    source.build(name, &decorate).unwrap_or_else(|| {
        Err(ConfigError::new(
            "registry",
            format!("policies.{name}"),
            name,
            "no such policy in the configuration",
        ))
    })
}

/// A pipeline's build error, located under `policies.<name>`.
fn at(name: &str, error: ConfigError) -> ConfigError {
    let field = if error.field().starts_with("policies.") {
        error.field().to_owned()
    } else {
        format!("policies.{name}.{}.{}", error.policy(), error.field())
    };
    ConfigError::new(
        error.policy(),
        field,
        error.value(),
        error.reason().to_owned(),
    )
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("pipelines", &self.names())
            .finish_non_exhaustive()
    }
}
