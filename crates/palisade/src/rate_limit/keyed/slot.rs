//! What one key holds, per kind of algorithm: the same decisions as the direct limiter's, on
//! state owned by the key's table entry.

use std::collections::VecDeque;

use super::super::gcra::Gcra;
use super::super::local::denied;
use super::super::window::{Counts, FixedWindow, SlidingCounter, SlidingLog};
use super::super::{Denied, RateLimitInfo};

/// The per-key state of one algorithm.
pub(super) trait Slot: Sized + Send {
    fn new(params: [u64; 2], now: u64, initial_tokens: Option<u64>) -> Self;
    fn decide(&mut self, params: [u64; 2], now: u64, n: u64) -> Result<RateLimitInfo, Denied>;
    fn info(&mut self, params: [u64; 2], now: u64) -> RateLimitInfo;
    /// Fully rested: recreating the key would not give it more than it has.
    fn is_rested(&mut self, params: [u64; 2], now: u64) -> bool;
    /// Re-expresses the state for new parameters, so permits taken keep counting.
    fn convert(&mut self, from: [u64; 2], to: [u64; 2], now: u64);
}

pub(super) struct GcraSlot(u64);
pub(super) struct FixedSlot(u64);
pub(super) struct CounterSlot(Counts);
pub(super) struct LogSlot(VecDeque<u64>);

impl Slot for GcraSlot {
    fn new([interval, burst]: [u64; 2], now: u64, initial_tokens: Option<u64>) -> Self {
        let missing = burst - initial_tokens.unwrap_or(burst).min(burst);
        GcraSlot(now.saturating_add(missing.saturating_mul(interval)))
    }
    #[inline]
    fn decide(
        &mut self,
        [interval, burst]: [u64; 2],
        now: u64,
        n: u64,
    ) -> Result<RateLimitInfo, Denied> {
        let (next, info) = Gcra { interval, burst }
            .decide(self.0, now, n)
            .map_err(denied)?;
        self.0 = next;
        Ok(info)
    }
    fn info(&mut self, [interval, burst]: [u64; 2], now: u64) -> RateLimitInfo {
        Gcra { interval, burst }.info(self.0, now)
    }
    fn is_rested(&mut self, _: [u64; 2], now: u64) -> bool {
        self.0 <= now
    }
    fn convert(&mut self, from: [u64; 2], to: [u64; 2], now: u64) {
        self.0 = Gcra::rescale(self.0, now, from[0], to[0]);
    }
}

impl Slot for FixedSlot {
    fn new(_: [u64; 2], _: u64, _: Option<u64>) -> Self {
        FixedSlot(0)
    }
    fn decide(
        &mut self,
        [window, max]: [u64; 2],
        now: u64,
        n: u64,
    ) -> Result<RateLimitInfo, Denied> {
        let (next, info) = FixedWindow { window, max }
            .decide(self.0, now, n)
            .map_err(denied)?;
        self.0 = next;
        Ok(info)
    }
    fn info(&mut self, [window, max]: [u64; 2], now: u64) -> RateLimitInfo {
        FixedWindow { window, max }.info(self.0, now)
    }
    fn is_rested(&mut self, [window, max]: [u64; 2], now: u64) -> bool {
        FixedWindow { window, max }.taken(self.0, now) == 0
    }
    fn convert(&mut self, [fw, fm]: [u64; 2], [tw, tm]: [u64; 2], now: u64) {
        let taken = FixedWindow {
            window: fw,
            max: fm,
        }
        .taken(self.0, now);
        self.0 = FixedWindow {
            window: tw,
            max: tm,
        }
        .carry(taken, now);
    }
}

impl Slot for CounterSlot {
    fn new([window, max]: [u64; 2], now: u64, _: Option<u64>) -> Self {
        CounterSlot(SlidingCounter { window, max }.initial(now))
    }
    fn decide(
        &mut self,
        [window, max]: [u64; 2],
        now: u64,
        n: u64,
    ) -> Result<RateLimitInfo, Denied> {
        SlidingCounter { window, max }
            .decide(&mut self.0, now, n)
            .map_err(denied)
    }
    fn info(&mut self, [window, max]: [u64; 2], now: u64) -> RateLimitInfo {
        SlidingCounter { window, max }.info(&self.0, now)
    }
    fn is_rested(&mut self, [window, max]: [u64; 2], now: u64) -> bool {
        SlidingCounter { window, max }.estimate(self.0, now) == 0
    }
    fn convert(&mut self, [fw, fm]: [u64; 2], [tw, tm]: [u64; 2], now: u64) {
        let taken = SlidingCounter {
            window: fw,
            max: fm,
        }
        .estimate(self.0, now);
        self.0 = SlidingCounter {
            window: tw,
            max: tm,
        }
        .carry(taken, now);
    }
}

impl Slot for LogSlot {
    fn new(_: [u64; 2], _: u64, _: Option<u64>) -> Self {
        LogSlot(VecDeque::new())
    }
    fn decide(
        &mut self,
        [window, max]: [u64; 2],
        now: u64,
        n: u64,
    ) -> Result<RateLimitInfo, Denied> {
        SlidingLog { window, max }
            .decide(&mut self.0, now, n)
            .map_err(denied)
    }
    fn info(&mut self, [window, max]: [u64; 2], now: u64) -> RateLimitInfo {
        SlidingLog { window, max }.info(&mut self.0, now)
    }
    fn is_rested(&mut self, [window, max]: [u64; 2], now: u64) -> bool {
        SlidingLog { window, max }.info(&mut self.0, now);
        self.0.is_empty()
    }
    fn convert(&mut self, _: [u64; 2], _: [u64; 2], _: u64) {
        // Timestamps are absolute: the log means the same under any window.
    }
}
