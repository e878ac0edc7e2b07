//! The Lua scripts (one per algorithm, `scripts/*.lua`), their arguments, and their answer.
//!
//! Scripts are sent by `EVALSHA`; a server that does not know one (a restart, a failover, a
//! `SCRIPT FLUSH`) answers `NOSCRIPT`, and the client loads it and sends it again
//! (`redis::ScriptInvocation::invoke_async`) — within the same Redis timeout, so no decision
//! is lost.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use palisade::clock::Instant;
use palisade::rate_limit::{Denied, RateLimitInfo};
use redis::{Script, ScriptInvocation};

use super::TimeSource;
use super::quota::{Kind, Quota};

static GCRA: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../scripts/gcra.lua")));
static FIXED_WINDOW: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../scripts/fixed_window.lua")));
static SLIDING_COUNTER: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../scripts/sliding_counter.lua")));
static SLIDING_LOG: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../../scripts/sliding_log.lua")));

/// Sliding-log calls made by this process.
static CALLS: AtomicU64 = AtomicU64::new(0);

/// How a decision is timed and how long its key outlives rest.
#[derive(Debug, Clone)]
pub(crate) struct Timing {
    pub(crate) source: TimeSource,
    /// Milliseconds a key outlives the moment its state is rested: 0 on Redis's clock
    /// (Redis expires keys on that same clock), the state TTL on the policy's clock (Redis
    /// expires keys on real time, which a policy's clock need not follow).
    pub(crate) margin_ms: u64,
    /// Unique per store: makes the sliding log's members of one microsecond distinct.
    pub(crate) token: String,
}

/// The script call deciding `n` permits of `quota` for `key` at `now`.
pub(crate) fn invocation(
    key: &str,
    quota: &Quota,
    timing: &Timing,
    now: Instant,
    n: u32,
) -> ScriptInvocation<'static> {
    let script: &'static Script = match quota.kind {
        Kind::Gcra => &GCRA,
        Kind::FixedWindow => &FIXED_WINDOW,
        Kind::SlidingCounter => &SLIDING_COUNTER,
        Kind::SlidingLog => &SLIDING_LOG,
    };
    let now: i64 = match timing.source {
        TimeSource::RedisTime => -1,
        TimeSource::PolicyClock => i64::try_from(now.as_nanos() / 1_000).unwrap_or(i64::MAX),
    };
    let mut call = script.key(key);
    call.arg(now).arg(quota.micros).arg(quota.limit).arg(n);
    match quota.kind {
        Kind::Gcra => call
            .arg(quota.missing)
            .arg(timing.margin_ms)
            // The interval as the state stores it (a float32), to notice a changed quota.
            .arg(f64::from(quota.micros as f32)),
        Kind::SlidingLog => {
            // Members of one microsecond must differ: this store's token and a call count.
            let call_number = CALLS.fetch_add(1, Ordering::Relaxed);
            call.arg(timing.margin_ms)
                .arg(format!("{}.{call_number:x}", timing.token))
        }
        Kind::FixedWindow | Kind::SlidingCounter => call.arg(timing.margin_ms),
    };
    call
}

/// A script's answer: `{granted, limit, remaining, reset_after µs, retry_after µs}`.
pub(crate) type Reply = (i64, i64, i64, i64, i64);

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn micros(v: i64) -> Duration {
    Duration::from_micros(count(v))
}

/// The decision a script's answer says.
pub(crate) fn decision(reply: Reply) -> Result<RateLimitInfo, Denied> {
    let (granted, limit, remaining, reset, retry) = reply;
    let info = RateLimitInfo::new(count(limit), count(remaining), micros(reset));
    if granted == 1 {
        Ok(info)
    } else {
        Err(Denied::RateLimited {
            retry_after: micros(retry),
            info,
        })
    }
}
