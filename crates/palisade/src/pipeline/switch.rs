//! The runtime switch: which of a pipeline's policies calls skip, for incident response.
//!
//! A pipeline's policies are turned off without rebuilding it: every clone — the ones
//! already handed out included — shares one switch word, read once per call (one relaxed
//! load; zero means "run every policy"). The [registry](crate::registry) sets it from its
//! source (`resilience_enabled`, `enabled = false` in configuration) when it creates a
//! pipeline and at every reload, and keeps one word per name across reloads, so a reload
//! turns policies off and on again for every holder of the pipeline. Turned-off policies
//! keep their state: an open breaker that calls skip is still open when it is turned on.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use super::Pipeline;
use crate::event::{Disabled, POLICIES};

/// The switch word every clone of a pipeline, and every pipeline a registry rebuilds from
/// it, shares.
#[derive(Clone, Default)]
pub(crate) struct Switch(Arc<AtomicU8>);

impl Switch {
    /// What calls skip now. Relaxed: the word guards no other data; a call that starts
    /// after the store sees it, as with any flag.
    #[inline(always)]
    pub(crate) fn get(&self) -> Disabled {
        Disabled::from_bits(self.0.load(Ordering::Relaxed))
    }
}

impl<R, B, H> Pipeline<R, B, H> {
    /// Which of its policies calls skip now (see [`Disabled`]); set by
    /// [`set_disabled`](Self::set_disabled), by a [registry](crate::registry) from its
    /// configuration, or by `PalisadeConfig::pipeline` (feature `config`).
    ///
    /// ```
    /// use palisade::pipeline::{Disabled, Pipeline};
    /// let p = Pipeline::builder().max_attempts(3).build()?;
    /// assert_eq!(p.disabled(), Disabled::NONE);
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn disabled(&self) -> Disabled {
        self.stack.switch.get()
    }

    /// Turns policies off (and the others back on) for every clone of this pipeline, from
    /// its next call on, for incident response: `Disabled::ALL` makes the pipeline a
    /// pass-through. Skipped policies keep their state. Publishes
    /// [`PipelineEvent::Switched`](super::PipelineEvent::Switched). A registry sets the
    /// switch of its pipelines again at every reload.
    ///
    /// ```
    /// use palisade::pipeline::{Disabled, Pipeline};
    /// let p = Pipeline::builder().circuit_breaker(|b| b).build()?;
    /// p.circuit_breaker().unwrap().force_open();
    /// assert!(p.call_blocking(|| Ok::<_, ()>(1)).is_err());
    /// p.clone().set_disabled(Disabled::ALL); // any clone: they share the switch
    /// assert_eq!(p.call_blocking(|| Ok::<_, ()>(1)), Ok(1));
    /// assert_eq!(p.call_blocking(|| Err::<(), _>("down")), Err(palisade::Error::Operation("down")));
    /// # Ok::<(), palisade::ConfigError>(())
    /// ```
    pub fn set_disabled(&self, disabled: Disabled) {
        self.switch_to(disabled);
        self.publish_switched();
    }

    /// Sets the switch without publishing (the registry publishes once its lock is released).
    pub(crate) fn switch_to(&self, disabled: Disabled) {
        self.stack
            .switch
            .0
            .store(disabled.bits(), Ordering::Relaxed);
    }

    /// Publishes [`PipelineEvent::Switched`](super::PipelineEvent::Switched) with the
    /// switch's value.
    pub(crate) fn publish_switched(&self) {
        let stack = &*self.stack;
        stack.listeners.emit(|| super::PipelineEvent::Switched {
            name: &stack.name,
            disabled: stack.switch.get(),
        });
    }

    /// The names of the policies this pipeline has that calls skip now, in pipeline order.
    pub(crate) fn skipped(&self) -> Vec<&'static str> {
        let stack = &*self.stack;
        let off = stack.switch.get();
        let has = [
            stack.rate_limiter.is_some(),
            stack.bulkhead.is_some(),
            stack.retry.is_some(),
            stack.breaker.is_some(),
            stack.hedge.is_some(),
        ];
        POLICIES
            .iter()
            .zip(has)
            .filter(|((bit, _), has)| *has && off.contains(*bit))
            .map(|((_, name), _)| *name)
            .collect()
    }
}
