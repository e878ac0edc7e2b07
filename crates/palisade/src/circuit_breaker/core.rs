//! [`Core`]: what a breaker gives its store on every call — its name, its state machine, its
//! clock and its listeners. The breaker owns these; a store keeps only what is shared.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::CircuitBreaker;
use super::config::CircuitBreakerConfig;
use super::event::{CircuitBreakerEvent, TransitionReason, Verdict};
use super::machine::Machine;
use super::store::Rejected;
use crate::clock::{Clock, Instant};
use crate::error::reason::State;
use crate::listener::Listeners;

/// The breaker's own part, handed to its [`StateStore`](super::StateStore) with every call:
/// its name, configuration and [`Machine`], its clock, and the listeners its events go to.
///
/// ```
/// use palisade::circuit_breaker::{CircuitBreakerConfig, Core};
/// use palisade::clock::Clock;
/// let core = Core::new("payments".into(), CircuitBreakerConfig::default(), Clock::default());
/// assert_eq!(core.name(), "payments");
/// ```
pub struct Core {
    name: Arc<str>,
    machine: Machine,
    clock: Clock,
    listeners: Listeners<CircuitBreaker>,
}

impl Core {
    /// A core without listeners (for a store's own tests; breakers make theirs).
    ///
    /// ```
    /// use palisade::circuit_breaker::Core;
    /// let core = Core::new("x".into(), Default::default(), Default::default());
    /// assert!(!core.has_listeners());
    /// ```
    pub fn new(name: Arc<str>, config: CircuitBreakerConfig, clock: Clock) -> Self {
        Core::with_listeners(name, config, clock, Listeners::new())
    }

    pub(crate) fn with_listeners(
        name: Arc<str>,
        config: CircuitBreakerConfig,
        clock: Clock,
        listeners: Listeners<CircuitBreaker>,
    ) -> Self {
        Core {
            name,
            machine: Machine::new(config),
            clock,
            listeners,
        }
    }

    /// The breaker's name.
    ///
    /// ```
    /// # let core = palisade::circuit_breaker::Core::new("db".into(), Default::default(), Default::default());
    /// assert_eq!(core.name(), "db");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The breaker's name, shared.
    ///
    /// ```
    /// # let core = palisade::circuit_breaker::Core::new("db".into(), Default::default(), Default::default());
    /// assert_eq!(&**core.name_arc(), "db");
    /// ```
    pub fn name_arc(&self) -> &Arc<str> {
        &self.name
    }

    /// The breaker's configuration.
    ///
    /// ```
    /// # let core = palisade::circuit_breaker::Core::new("db".into(), Default::default(), Default::default());
    /// assert_eq!(core.config().half_open_requests, 3);
    /// ```
    pub fn config(&self) -> &CircuitBreakerConfig {
        self.machine.config()
    }

    /// The breaker's state machine: every decision a store applies.
    ///
    /// ```
    /// # let core = palisade::circuit_breaker::Core::new("db".into(), Default::default(), Default::default());
    /// assert!(!core.machine().uses_window());
    /// ```
    #[inline]
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// The breaker's clock.
    ///
    /// ```
    /// # let core = palisade::circuit_breaker::Core::new("db".into(), Default::default(), Default::default());
    /// assert!(!core.clock().is_manual());
    /// ```
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The time on the breaker's clock.
    ///
    /// ```
    /// # let core = palisade::circuit_breaker::Core::new("db".into(), Default::default(), Default::default());
    /// assert!(core.now().as_nanos() > 0);
    /// ```
    // Out of line: only slow-call timing, time windows and transitions read time, so the
    // inlined Closed path stays small.
    #[inline(never)]
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Whether anyone listens to the breaker's events (when nobody does, a store may skip
    /// building them).
    ///
    /// ```
    /// # let core = palisade::circuit_breaker::Core::new("db".into(), Default::default(), Default::default());
    /// assert!(!core.has_listeners());
    /// ```
    #[inline]
    pub fn has_listeners(&self) -> bool {
        !self.listeners.is_empty()
    }

    /// Publishes a state change (do it after releasing any lock: a listener may call back
    /// into the breaker).
    ///
    /// ```
    /// use palisade::circuit_breaker::{State, TransitionReason};
    /// # let core = palisade::circuit_breaker::Core::new("db".into(), Default::default(), Default::default());
    /// core.publish_transition(State::Closed, State::Open, TransitionReason::Manual);
    /// ```
    pub fn publish_transition(&self, from: State, to: State, reason: TransitionReason) {
        self.listeners
            .emit(|| CircuitBreakerEvent::StateTransition {
                name: &self.name,
                from,
                to,
                reason,
            });
    }

    /// Publishes that a call was rejected and returns the rejection to hand back.
    ///
    /// ```
    /// use palisade::circuit_breaker::State;
    /// # let core = palisade::circuit_breaker::Core::new("db".into(), Default::default(), Default::default());
    /// let rejected = core.rejected(State::ForcedOpen, None);
    /// assert_eq!(rejected.name(), "db");
    /// ```
    pub fn rejected(&self, state: State, retry_after: Option<Duration>) -> Rejected {
        self.listeners.emit(|| CircuitBreakerEvent::CallRejected {
            name: &self.name,
            state,
            retry_after,
        });
        Rejected::new(Arc::clone(&self.name), state, retry_after)
    }

    /// Publishes a recorded outcome (a store calls it only when [`has_listeners`](Self::has_listeners)).
    ///
    /// ```
    /// use palisade::circuit_breaker::{State, Verdict};
    /// # let core = palisade::circuit_breaker::Core::new("db".into(), Default::default(), Default::default());
    /// core.publish_outcome(Verdict::Success, false, State::Closed);
    /// ```
    #[cold]
    pub fn publish_outcome(&self, verdict: Verdict, slow: bool, state: State) {
        self.listeners
            .emit(|| CircuitBreakerEvent::OutcomeRecorded {
                name: &self.name,
                verdict,
                slow,
                state,
            });
    }
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("name", &self.name)
            .field("config", self.config())
            .field("clock", &self.clock)
            .field("listeners", &self.listeners)
            .finish()
    }
}
