//! Backends: where the state of the breakers and rate limiters a pipeline builds lives.
//!
//! # Why a backend
//!
//! One process keeps its breakers and limiters in memory ([`InProcess`], the default). A
//! fleet that must share them — one view of a failing dependency, one quota for an API key
//! across every replica — keeps them somewhere every replica reaches (Redis, in
//! `palisade-redis`). A [`Backend`] makes the stores for the parts a pipeline builds, so the
//! same pipeline, preset, configuration file or `#[resilient]` function runs in process or
//! fleet-wide by choosing a backend, and nothing else changes: calls, events, errors,
//! health and status work the same whatever keeps the state.
//!
//! ```
//! use palisade::backend::{Backend, InProcess};
//! use palisade::pipeline::Pipeline;
//! let pipeline = Pipeline::builder()
//!     .circuit_breaker(|b| b.failure_threshold(3))
//!     .backend(InProcess) // the default, spelled out
//!     .build()?;
//! assert!(pipeline.circuit_breaker().is_some());
//! # Ok::<(), palisade::ConfigError>(())
//! ```
//!
//! In a configuration file a pipeline names its backend (`backend = "fleet"`); the code
//! registers backends by name with
//! [`PalisadeConfig::with_backend`](crate::config::PalisadeConfig::with_backend) (feature
//! `config`). `"in_process"` is always there.

use std::fmt;
use std::sync::Arc;

use crate::circuit_breaker::{self, CircuitBreakerConfig};
use crate::clock::Clock;
use crate::rate_limit::{self, Algorithm};

/// Makes the stores of the breakers and rate limiters a pipeline builds. Returning `None`
/// keeps that part in this process. Making a store does not fail: a backend that cannot
/// reach its server says so when the part is used, by the choice it documents (admit,
/// reject, or fall back to in-process state).
///
/// ```
/// use palisade::backend::Backend;
/// use palisade::circuit_breaker::{self, CircuitBreakerConfig, LocalState};
/// use palisade::clock::Clock;
/// use palisade::rate_limit::{self, Algorithm};
/// use std::collections::HashMap;
/// use std::sync::{Arc, Mutex};
///
/// /// Breakers of the same name share one state, as processes sharing Redis would.
/// #[derive(Debug, Default)]
/// struct SharedByName(Mutex<HashMap<String, Arc<LocalState>>>);
///
/// impl Backend for SharedByName {
///     fn circuit_breaker_store(&self, name: &str, config: &CircuitBreakerConfig, clock: &Clock)
///         -> Option<circuit_breaker::Store>
///     {
///         let mut states = self.0.lock().unwrap();
///         let state = states.entry(name.to_owned())
///             .or_insert_with(|| Arc::new(LocalState::new(config, clock.now())));
///         Some(circuit_breaker::Store::custom(Arc::clone(state)))
///     }
///     fn rate_limiter_store(&self, _: &str, _: Algorithm, _: &Clock) -> Option<rate_limit::Store> {
///         None // limiters stay in process
///     }
/// }
///
/// let backend = Arc::new(SharedByName::default());
/// let build = || palisade::pipeline::Pipeline::builder()
///     .name("db")
///     .circuit_breaker(|b| b.failure_threshold(1))
///     .backend(backend.clone())
///     .build();
/// let (a, b) = (build()?, build()?);
/// let _ = a.call_blocking(|| Err::<(), _>("down")); // trips the shared breaker...
/// assert!(b.call_blocking(|| Ok::<_, &str>(())).unwrap_err().is_rejection()); // ...for b too
/// # Ok::<(), palisade::ConfigError>(())
/// ```
pub trait Backend: Send + Sync + fmt::Debug + 'static {
    /// The store for the breaker `name`, configured with `config`, on `clock`; `None` keeps it
    /// in this process.
    fn circuit_breaker_store(
        &self,
        name: &str,
        config: &CircuitBreakerConfig,
        clock: &Clock,
    ) -> Option<circuit_breaker::Store>;

    /// The store for the rate limiter `name` running `algorithm`, on `clock`; `None` keeps it
    /// in this process.
    fn rate_limiter_store(
        &self,
        name: &str,
        algorithm: Algorithm,
        clock: &Clock,
    ) -> Option<rate_limit::Store>;
}

/// State in this process: every pipeline's default backend.
///
/// ```
/// use palisade::backend::{Backend, InProcess};
/// use palisade::clock::Clock;
/// assert!(InProcess.circuit_breaker_store("db", &Default::default(), &Clock::default()).is_none());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InProcess;

impl Backend for InProcess {
    fn circuit_breaker_store(
        &self,
        _: &str,
        _: &CircuitBreakerConfig,
        _: &Clock,
    ) -> Option<circuit_breaker::Store> {
        None
    }

    fn rate_limiter_store(&self, _: &str, _: Algorithm, _: &Clock) -> Option<rate_limit::Store> {
        None
    }
}

impl<B: Backend + ?Sized> Backend for Arc<B> {
    fn circuit_breaker_store(
        &self,
        name: &str,
        config: &CircuitBreakerConfig,
        clock: &Clock,
    ) -> Option<circuit_breaker::Store> {
        (**self).circuit_breaker_store(name, config, clock)
    }

    fn rate_limiter_store(
        &self,
        name: &str,
        algorithm: Algorithm,
        clock: &Clock,
    ) -> Option<rate_limit::Store> {
        (**self).rate_limiter_store(name, algorithm, clock)
    }
}
