//! [`PipelineLayer`]: a pipeline (or one policy) as a tower `Layer`.

use std::fmt;

use tower_layer::Layer;

use super::AnyResponse;
use super::replay::{CloneRequests, OneAttempt};
use super::service::{FailureIf, Hint, PipelineService, RetryIf};
use crate::pipeline::{NoHint, Pipeline};
use crate::predicate::Always;

/// Applies a [`Pipeline`] to a tower service; see the [module docs](super). Cheap to clone;
/// every service it makes shares the pipeline's state.
///
/// `P` is how each attempt gets its request ([`Replay`](super::Replay)): [`CloneRequests`]
/// for a layer made with [`new`](Self::new), [`OneAttempt`] for the layers of the policies
/// that never repeat a request; choose another with [`replay`](Self::replay).
///
/// ```
/// use palisade::pipeline::Pipeline;
/// use palisade::tower::PipelineLayer;
/// let layer = PipelineLayer::new(Pipeline::builder().circuit_breaker(|b| b).build()?);
/// # let _ = layer;
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct PipelineLayer<R = Always, B = Always, H = NoHint, C = AnyResponse, P = CloneRequests> {
    pipeline: Pipeline<R, B, H>,
    classify: C,
    replay: P,
    idempotent: bool,
}

impl<R, B, H> PipelineLayer<R, B, H, AnyResponse, CloneRequests> {
    /// A layer applying `pipeline`, treating every response as good and cloning the request
    /// for each attempt. For requests that are not `Clone`, choose
    /// [`replay`](Self::replay)`(`[`BufferBodies`](super::BufferBodies)`::new())` (an
    /// `http::Request`) or [`replay`](Self::replay)`(`[`OneAttempt`]`)` (anything).
    ///
    /// ```
    /// let layer = palisade::tower::PipelineLayer::new(palisade::pipeline::Pipeline::builder().build()?);
    /// # let _ = layer;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn new(pipeline: Pipeline<R, B, H>) -> Self {
        PipelineLayer {
            pipeline,
            classify: AnyResponse,
            replay: CloneRequests,
            idempotent: false,
        }
    }
}

/// One policy as a layer: `PipelineLayer::from(breaker)` and the like. The policy keeps its
/// name, clock and listeners, and its state is shared with every other user of it. The
/// layers of rate limit, bulkhead, timeout and breaker send each request once
/// ([`OneAttempt`]), so they take any request type, `Clone` or not; retry's and hedging's
/// clone it ([`CloneRequests`]) unless told otherwise with [`replay`](PipelineLayer::replay).
///
/// ```
/// use palisade::circuit_breaker::CircuitBreaker;
/// use palisade::tower::PipelineLayer;
/// let breaker = CircuitBreaker::builder().name("search").build()?;
/// let layer = PipelineLayer::from(breaker.clone());
/// # let _ = layer;
/// # Ok::<(), palisade::ConfigError>(())
/// ```
macro_rules! single_policy_layers {
    ($($policy:ty => $field:ident, $replay:ident);* $(;)?) => {$(
        impl From<$policy> for PipelineLayer<Always, Always, NoHint, AnyResponse, $replay> {
            fn from(policy: $policy) -> Self {
                let name: std::sync::Arc<str> = std::sync::Arc::from(policy.name());
                let pipeline = Pipeline::of(name, |stack| stack.$field = Some(policy));
                PipelineLayer::new(pipeline).replay($replay)
            }
        }
    )*};
}

single_policy_layers! {
    crate::rate_limit::RateLimiter => rate_limiter, OneAttempt;
    crate::bulkhead::Bulkhead => bulkhead, OneAttempt;
    crate::timeout::Timeout => attempt_timeout, OneAttempt;
    crate::circuit_breaker::CircuitBreaker => breaker, OneAttempt;
    crate::retry::Retry => retry, CloneRequests;
    crate::hedge::Hedge => hedge, CloneRequests;
}

impl<R, B, H, C, P> PipelineLayer<R, B, H, C, P> {
    /// Classifies responses: the ones `classify` marks are retried and count as breaker
    /// failures.
    ///
    /// ```
    /// let layer = palisade::tower::PipelineLayer::new(palisade::pipeline::Pipeline::builder().build()?)
    ///     .classify_responses(|status: &u16| (*status == 503).then_some(None::<std::time::Duration>));
    /// # let _ = layer;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn classify_responses<C2>(self, classify: C2) -> PipelineLayer<R, B, H, C2, P> {
        PipelineLayer {
            pipeline: self.pipeline,
            classify,
            replay: self.replay,
            idempotent: self.idempotent,
        }
    }

    /// Chooses how each attempt gets its request ([`Replay`](super::Replay)):
    /// [`CloneRequests`], [`OneAttempt`] or [`BufferBodies`](super::BufferBodies).
    ///
    /// ```
    /// use palisade::tower::{OneAttempt, PipelineLayer};
    /// let layer = PipelineLayer::new(palisade::pipeline::Pipeline::builder().build()?)
    ///     .replay(OneAttempt);
    /// # let _ = layer;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn replay<P2>(self, replay: P2) -> PipelineLayer<R, B, H, C, P2> {
        PipelineLayer {
            pipeline: self.pipeline,
            classify: self.classify,
            replay,
            idempotent: self.idempotent,
        }
    }

    /// Declares the wrapped service's requests idempotent, so the pipeline's hedging applies
    /// (to requests the [`Replay`](super::Replay) can send several at once). Off by default:
    /// a layer over a service that writes must not hedge.
    ///
    /// ```
    /// use std::time::Duration;
    /// let hedge = palisade::hedge::Hedge::builder().delay(Duration::from_millis(20)).build()?;
    /// let layer = palisade::tower::PipelineLayer::from(hedge).idempotent(true);
    /// # let _ = layer;
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }
}

impl<S, R: Clone, B: Clone, H: Clone, C: Clone, P: Clone> Layer<S>
    for PipelineLayer<R, B, H, C, P>
{
    type Service = PipelineService<S, R, B, H, C, P>;

    fn layer(&self, inner: S) -> Self::Service {
        let pipeline = self
            .pipeline
            .clone()
            .map_hooks(|r, b, h| (RetryIf(r), FailureIf(b), Hint(h)));
        PipelineService::new(
            inner,
            pipeline,
            self.classify.clone(),
            self.replay.clone(),
            self.idempotent,
        )
    }
}

impl<R, B, H, C, P> fmt::Debug for PipelineLayer<R, B, H, C, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineLayer")
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}
