//! The part every policy's builder shares: a name, a clock and listeners.
//!
//! Every builder has `name`, `clock`, `on_event` and `on_event_arc`, with the same meaning and
//! the same defaults (the policy kind's name, [`Clock::default`], nobody listening): they are
//! written once, here, by [`builder_base!`], over a [`Base`] each builder holds. The pipeline
//! configures the policies it builds through [`PolicyBuilder`], the same way for each.

use std::sync::Arc;

use crate::clock::Clock;
use crate::error::ConfigError;
use crate::listener::{Kind, Listen, Listeners};

/// What every builder holds besides its policy's own settings.
pub(crate) struct Base<K: Kind> {
    pub(crate) name: Option<Arc<str>>,
    pub(crate) clock: Clock,
    pub(crate) listeners: Listeners<K>,
}

impl<K: Kind> Base<K> {
    pub(crate) fn new() -> Self {
        Base {
            name: None,
            clock: Clock::default(),
            listeners: Listeners::new(),
        }
    }

    /// The name set, or `default` (the policy kind's name).
    pub(crate) fn name_or(&self, default: &str) -> Arc<str> {
        self.name.clone().unwrap_or_else(|| Arc::from(default))
    }
}

impl<K: Kind> std::fmt::Debug for Base<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Base")
            .field("name", &self.name)
            .field("clock", &self.clock)
            .field("listeners", &self.listeners)
            .finish()
    }
}

/// A builder the pipeline can configure: every policy's builder is one.
pub(crate) trait PolicyBuilder: Sized {
    /// The policy kind, whose events its listeners receive.
    type Kind: Kind;
    /// What `build` makes.
    type Policy;
    /// The shared part.
    fn base(&mut self) -> &mut Base<Self::Kind>;
    /// Validates and builds.
    fn build_policy(self) -> Result<Self::Policy, ConfigError>;

    /// Gives the policy a name, a clock and shared listeners (what a pipeline hands down).
    fn with<L>(mut self, name: &Arc<str>, clock: &Clock, listeners: &[Arc<L>]) -> Self
    where
        L: Listen<Self::Kind> + ?Sized,
    {
        let base = self.base();
        base.name = Some(Arc::clone(name));
        base.clock = clock.clone();
        for listener in listeners {
            base.listeners.push_arc(Arc::clone(listener));
        }
        self
    }
}

/// Writes the shared builder methods (`name`, `clock`, `on_event`, `on_event_arc`) for a
/// builder with a `base: Base<$kind>` field, and with `policy = …` its [`PolicyBuilder`] impl.
///
/// `$make` is an expression (as a string) that starts the builder in doc examples, `$build`
/// what ends it (`.build()`, or `.build::<u32>()` for a keyed limiter).
macro_rules! builder_base {
    ($builder:ty, kind = $kind:ty, policy = $policy:ty, make = $make:literal, build = $build:literal) => {
        crate::builder::builder_base!($builder, kind = $kind, make = $make, build = $build);

        impl crate::builder::PolicyBuilder for $builder {
            type Kind = $kind;
            type Policy = $policy;
            fn base(&mut self) -> &mut crate::builder::Base<$kind> {
                &mut self.base
            }
            fn build_policy(self) -> Result<$policy, crate::error::ConfigError> {
                self.build()
            }
        }
    };
    ($builder:ty, kind = $kind:ty, make = $make:literal, build = $build:literal) => {
        impl $builder {
            #[doc = concat!(
                "Names the policy in events, metrics and errors (defaults to the policy kind's name).\n\n",
                "```\n",
                "let policy = ", $make, ".name(\"payments\")", $build, "?;\n",
                "assert_eq!(policy.name(), \"payments\");\n",
                "# Ok::<(), palisade::ConfigError>(())\n",
                "```"
            )]
            pub fn name(mut self, name: impl Into<std::sync::Arc<str>>) -> Self {
                self.base.name = Some(name.into());
                self
            }

            #[doc = concat!(
                "The clock every wait and every time reading of the policy goes through ",
                "([`Clock::default`](crate::clock::Clock::default), the precise monotonic clock, ",
                "unless set): a [`ManualClock`](crate::clock::ManualClock) runs it on virtual time.\n\n",
                "```\n",
                "use palisade::clock::ManualClock;\n",
                "let policy = ", $make, ".clock(ManualClock::new())", $build, "?;\n",
                "assert!(policy.clock().is_manual());\n",
                "# Ok::<(), palisade::ConfigError>(())\n",
                "```"
            )]
            pub fn clock(mut self, clock: impl Into<crate::clock::Clock>) -> Self {
                self.base.clock = clock.into();
                self
            }

            #[doc = concat!(
                "Adds a listener for every event of this policy: a [`Listen`](crate::listener::Listen) ",
                "of its own events, or any `Listener` of the composition layer (a closure over `&Event`, ",
                "the metrics and tracing listeners), which hears every policy.\n\n",
                "```\n",
                "use palisade::event::Event;\n",
                "let policy = ", $make, ".on_event(|e: &Event<'_>| println!(\"{e:?}\"))", $build, "?;\n",
                "# let _ = policy;\n",
                "# Ok::<(), palisade::ConfigError>(())\n",
                "```"
            )]
            pub fn on_event(mut self, listener: impl crate::listener::Listen<$kind>) -> Self {
                self.base.listeners.push(listener);
                self
            }

            #[doc = concat!(
                "Adds a listener shared with other policies (one metrics listener for all).\n\n",
                "```\n",
                "use palisade::event::{Event, Listener};\n",
                "use std::sync::Arc;\n",
                "let shared: Arc<dyn Listener> = Arc::new(|_: &Event<'_>| {});\n",
                "let policy = ", $make, ".on_event_arc(shared)", $build, "?;\n",
                "# let _ = policy;\n",
                "# Ok::<(), palisade::ConfigError>(())\n",
                "```"
            )]
            pub fn on_event_arc<L>(mut self, listener: std::sync::Arc<L>) -> Self
            where
                L: crate::listener::Listen<$kind> + ?Sized,
            {
                self.base.listeners.push_arc(listener);
                self
            }
        }
    };
}

pub(crate) use builder_base;
