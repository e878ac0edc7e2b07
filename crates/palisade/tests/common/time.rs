//! Durations, instants and readings of a `ManualClock`.

use std::time::Duration;

use palisade::clock::{Instant, ManualClock};

/// `n` nanoseconds.
pub fn ns(n: u64) -> Duration {
    Duration::from_nanos(n)
}

/// `n` milliseconds.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `n` seconds.
pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// `d` in whole nanoseconds, saturating at `u64::MAX`.
pub fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The instant `d` after a clock's origin (a `ManualClock` starts at zero).
pub fn at(d: Duration) -> Instant {
    Instant::from_nanos(u64::try_from(d.as_nanos()).expect("fits in u64 nanoseconds"))
}

/// Time on `clock` since it was created.
pub fn now(clock: &ManualClock) -> Duration {
    Duration::from_nanos(clock.now().as_nanos())
}
