//! The breaker's Lua scripts (`scripts/breaker/*.lua`), their arguments and their answer.
//!
//! Each script is `common.lua` (loading and saving the state hash, entering a state,
//! computing the window, the answer) followed by its own part, run with `EVALSHA` (the
//! `redis` crate sends the source again on `NOSCRIPT`, after a restart or a `SCRIPT FLUSH`).
//! Every script touches the three keys of one breaker, all under its hash tag: one Redis
//! Cluster slot, one atomic step.

use std::sync::LazyLock;
use std::time::Duration;

use palisade::circuit_breaker::{CircuitBreakerConfig, SlidingWindow, State};
use redis::{Script, ScriptInvocation};

const COMMON: &str = include_str!("../../scripts/breaker/common.lua");

/// The compiled scripts, shared by every breaker.
pub(super) struct Scripts {
    pub(super) flush: Script,
    pub(super) lease: Script,
    pub(super) trial: Script,
    pub(super) set: Script,
    pub(super) read: Script,
}

pub(super) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| {
    let with_common = |own: &str| Script::new(&format!("{COMMON}\n{own}"));
    Scripts {
        flush: with_common(include_str!("../../scripts/breaker/flush.lua")),
        lease: with_common(include_str!("../../scripts/breaker/lease.lua")),
        trial: with_common(include_str!("../../scripts/breaker/trial.lua")),
        set: with_common(include_str!("../../scripts/breaker/set.lua")),
        read: with_common(include_str!("../../scripts/breaker/read.lua")),
    }
});

/// A state as Redis stores it (HalfOpen is an instance's view of an Open state whose time
/// is up, and is sent only as an operator's target).
pub(super) fn code(state: State) -> u8 {
    match state {
        State::Closed => 0,
        State::Open => 1,
        State::ForcedOpen => 2,
        State::Disabled => 3,
        State::MetricsOnly => 4,
        State::HalfOpen => 5,
        _ => 0,
    }
}

fn state_of(code: i64) -> State {
    match code {
        1 => State::Open,
        2 => State::ForcedOpen,
        3 => State::Disabled,
        4 => State::MetricsOnly,
        _ => State::Closed,
    }
}

/// The fleet's state, as a script answered it or a message announced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fleet {
    /// Names one life of the shared state: a state that expired or a Redis restarted empty
    /// starts a new epoch, whose generations start again from 0.
    pub(super) epoch: String,
    pub(super) state: State,
    pub(super) generation: u64,
    /// Open: the time left until trial calls, on Redis's clock when it answered.
    pub(super) remaining: Duration,
}

impl Fleet {
    /// Whether this is a later state than `(epoch, generation)`.
    pub(super) fn is_newer_than(&self, epoch: &str, generation: u64) -> bool {
        self.epoch != epoch || self.generation > generation
    }

    /// A published message: `epoch generation state remaining_ms`.
    pub(super) fn parse(payload: &str) -> Option<Fleet> {
        let mut parts = payload.split(' ');
        let epoch = parts.next()?.to_owned();
        let generation = parts.next()?.parse().ok()?;
        let state = state_of(parts.next()?.parse().ok()?);
        let remaining = Duration::from_millis(parts.next()?.parse().ok()?);
        Some(Fleet {
            epoch,
            state,
            generation,
            remaining,
        })
    }
}

/// A script's answer (see `reply` in `common.lua`).
#[derive(Debug, Clone)]
pub(super) struct Answer {
    /// 1 done; 0 refused (no lease left); 2 the state had changed.
    pub(super) status: i64,
    pub(super) fleet: Fleet,
    /// The fleet's run of consecutive failures.
    pub(super) run: u64,
    /// The window's calls, failures and slow calls.
    pub(super) window: (u64, u64, u64),
}

type Raw = (i64, String, i64, i64, i64, i64, i64, i64, i64);

impl From<Raw> for Answer {
    fn from(raw: Raw) -> Self {
        let (status, epoch, state, generation, remaining, run, calls, failures, slow) = raw;
        let positive = |n: i64| u64::try_from(n).unwrap_or(0);
        Answer {
            status,
            fleet: Fleet {
                epoch,
                state: state_of(state),
                generation: positive(generation),
                remaining: Duration::from_millis(positive(remaining)),
            },
            run: positive(run),
            window: (positive(calls), positive(failures), positive(slow)),
        }
    }
}

/// Runs `invocation` and reads its answer.
pub(super) async fn invoke(
    invocation: ScriptInvocation<'static>,
    mut conn: crate::link::Conn,
) -> redis::RedisResult<Answer> {
    let raw: Raw = invocation.invoke_async(&mut conn).await?;
    Ok(Answer::from(raw))
}

/// What every script of one breaker needs: its keys, channel, TTL and recovery timing.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub(super) state_key: String,
    pub(super) window_key: String,
    pub(super) trials_key: String,
    pub(super) channel: String,
    /// For a state created now.
    pub(super) epoch: String,
    pub(super) ttl_ms: u64,
    pub(super) recovery_ms: u64,
    pub(super) backoff: (f64, u64),
    /// The window: kind (0 none, 1 count, 2 time), size (calls or bucket ms), buckets.
    pub(super) window: (u8, u64, u64),
}

impl Target {
    pub(super) fn new(
        keys: &crate::keys::Keys,
        name: &str,
        config: &CircuitBreakerConfig,
        ttl: Duration,
    ) -> Target {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1);
        let window = if !palisade::circuit_breaker::Machine::new(*config).uses_window() {
            (0, 0, 0)
        } else {
            match config.sliding_window {
                SlidingWindow::Count { size } => (1, u64::from(size), 0),
                SlidingWindow::Time { duration, buckets } => {
                    let buckets = buckets.max(1);
                    (2, ms(duration / buckets), u64::from(buckets))
                }
                // A window kind this version does not know: the last 100 calls.
                _ => (1, 100, 0),
            }
        };
        Target {
            state_key: keys.of(name, "breaker:state"),
            window_key: keys.of(name, "breaker:window"),
            trials_key: keys.of(name, "breaker:trials"),
            channel: keys.of(name, "breaker:events"),
            epoch: super::unique_id(),
            ttl_ms: ms(ttl),
            recovery_ms: ms(config.recovery_timeout),
            backoff: config
                .recovery_backoff
                .map_or((1.0, 0), |b| (b.multiplier, ms(b.max))),
            window,
        }
    }

    /// `script` with the keys and the common arguments (ARGV[1..6]).
    pub(super) fn invocation(&self, script: &'static Script) -> ScriptInvocation<'static> {
        let mut invocation = script.prepare_invoke();
        invocation
            .key(&self.state_key)
            .key(&self.window_key)
            .key(&self.trials_key)
            .arg(&self.epoch)
            .arg(self.ttl_ms)
            .arg(&self.channel)
            .arg(self.recovery_ms)
            .arg(self.backoff.0)
            .arg(self.backoff.1);
        invocation
    }

    /// Adds the window's arguments.
    pub(super) fn window_args(&self, invocation: &mut ScriptInvocation<'static>) {
        invocation
            .arg(self.window.0)
            .arg(self.window.1)
            .arg(self.window.2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_state_reads_back() {
        let fleet = Fleet::parse("00ab 7 1 2500").unwrap();
        assert_eq!(fleet.state, State::Open);
        assert_eq!(fleet.generation, 7);
        assert_eq!(fleet.remaining, Duration::from_millis(2500));
        assert!(fleet.is_newer_than("00ab", 6));
        assert!(!fleet.is_newer_than("00ab", 7));
        assert!(
            fleet.is_newer_than("other-epoch", 9),
            "a new epoch starts over"
        );
        assert_eq!(Fleet::parse("garbage"), None);
    }

    #[test]
    fn every_key_of_a_breaker_shares_one_hash_tag() {
        let target = Target::new(
            &crate::keys::Keys::new("obskit:cb:"),
            "payment_api",
            &CircuitBreakerConfig::default(),
            Duration::from_secs(3600),
        );
        assert_eq!(target.state_key, "{obskit:cb:payment_api}:breaker:state");
        assert_eq!(target.trials_key, "{obskit:cb:payment_api}:breaker:trials");
        assert_eq!(target.channel, "{obskit:cb:payment_api}:breaker:events");
        assert_eq!(target.ttl_ms, 3_600_000);
        assert_eq!(target.window, (0, 0, 0), "no rate condition: no window");
    }
}
