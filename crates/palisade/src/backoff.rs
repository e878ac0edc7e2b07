//! Growth of a waiting time, shared by retry's exponential backoff and the circuit breaker's
//! recovery backoff.

use std::time::Duration;

/// `base × multiplier^(step-1)`, capped at `cap` (step 0 counts as 1).
///
/// Computed in `f64` nanoseconds: exact for the integer products common in practice (up to
/// 2^53 ns, about 104 days), and overflow, infinity and NaN all land on the cap instead of
/// panicking in `Duration` arithmetic.
pub(crate) fn exponential(base: Duration, multiplier: f64, step: u32, cap: Duration) -> Duration {
    let exponent = i32::try_from(step.max(1) - 1).unwrap_or(i32::MAX);
    let nanos = base.as_nanos() as f64 * multiplier.powi(exponent);
    // `nanos < cap` is false for NaN and infinity too, so those cap as well.
    if nanos < cap.as_nanos() as f64 {
        Duration::from_nanos(nanos as u64).min(cap)
    } else {
        cap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_by_the_multiplier_and_stops_at_the_cap() {
        let s = Duration::from_secs;
        let steps: Vec<_> = (0..=6).map(|n| exponential(s(1), 2.0, n, s(20))).collect();
        assert_eq!(steps, [s(1), s(1), s(2), s(4), s(8), s(16), s(20)]);
        assert_eq!(exponential(s(1), 1e300, u32::MAX, s(20)), s(20));
        assert_eq!(exponential(s(1), f64::NAN, 3, s(20)), s(20));
    }
}
