//! A limiter's quota in the units the scripts use (microseconds), and its share for the
//! local fallback.

use std::time::Duration;

use palisade::ConfigError;
use palisade::clock::Instant;
use palisade::rate_limit::{Algorithm, LocalState, Rate};

/// Which script decides, and the suffix of its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// GCRA and the token bucket (one algorithm).
    Gcra,
    FixedWindow,
    SlidingCounter,
    SlidingLog,
}

impl Kind {
    /// The key suffix: limiters of one name but different kinds never share a key.
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Kind::Gcra => "gcra",
            Kind::FixedWindow => "fw",
            Kind::SlidingCounter => "swc",
            Kind::SlidingLog => "swl",
        }
    }
}

/// A validated quota: the algorithm as configured and the numbers the scripts take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quota {
    pub(crate) algorithm: Algorithm,
    pub(crate) kind: Kind,
    /// GCRA: µs per permit; windows: the window in µs. Rounded up, at least 1.
    pub(crate) micros: u64,
    /// Burst, capacity or max requests: the most granted at once.
    pub(crate) limit: u64,
    /// Tokens a fresh token bucket starts without.
    pub(crate) missing: u64,
}

/// Nanoseconds to whole microseconds, rounded up (a limit never admits faster than
/// configured), at least 1.
fn micros(nanos: u128) -> u64 {
    u64::try_from(nanos.div_ceil(1_000))
        .unwrap_or(u64::MAX)
        .max(1)
}

fn interval(rate: Rate) -> u64 {
    // Validated by LocalState::new: permits ≥ 1.
    micros(
        rate.period
            .as_nanos()
            .div_ceil(u128::from(rate.permits.max(1))),
    )
}

impl Quota {
    /// Validates `algorithm` (the same checks, and messages, as an in-process limiter).
    pub(crate) fn new(algorithm: Algorithm) -> Result<Quota, ConfigError> {
        LocalState::new(algorithm, Instant::default())?;
        let quota = match algorithm {
            Algorithm::Gcra { rate, burst } => Quota {
                algorithm,
                kind: Kind::Gcra,
                micros: interval(rate),
                limit: u64::from(burst),
                missing: 0,
            },
            Algorithm::TokenBucket {
                rate,
                capacity,
                initial_tokens,
            } => Quota {
                algorithm,
                kind: Kind::Gcra,
                micros: interval(rate),
                limit: u64::from(capacity),
                missing: u64::from(capacity - initial_tokens.unwrap_or(capacity).min(capacity)),
            },
            Algorithm::FixedWindow {
                max_requests,
                window,
            } => Quota::window(algorithm, Kind::FixedWindow, max_requests, window),
            Algorithm::SlidingWindowCounter {
                max_requests,
                window,
            } => Quota::window(algorithm, Kind::SlidingCounter, max_requests, window),
            Algorithm::SlidingWindowLog {
                max_requests,
                window,
            } => Quota::window(algorithm, Kind::SlidingLog, max_requests, window),
            other => {
                return Err(ConfigError::new(
                    "rate_limit",
                    "algorithm",
                    format_args!("{other:?}"),
                    "is not supported by the Redis store",
                ));
            }
        };
        Ok(quota)
    }

    fn window(algorithm: Algorithm, kind: Kind, max: u32, window: Duration) -> Quota {
        Quota {
            algorithm,
            kind,
            micros: micros(window.as_nanos()),
            limit: u64::from(max),
            missing: 0,
        }
    }

    /// A new quota for a running limiter: validated, and of the same kind.
    pub(crate) fn replacing(&self, algorithm: Algorithm) -> Result<Quota, ConfigError> {
        let next = Quota::new(algorithm)?;
        if next.kind != self.kind {
            return Err(ConfigError::new(
                "rate_limit",
                "algorithm",
                format_args!("{algorithm:?}"),
                "a running limiter keeps its kind of algorithm; build a new limiter to change it",
            ));
        }
        Ok(next)
    }

    /// This instance's share of the quota, for deciding alone while Redis is unreachable:
    /// 1/`fleet_size` of the rate and of the burst or max (at least one permit).
    pub(crate) fn share(&self, fleet_size: u32) -> Algorithm {
        let fleet = fleet_size.max(1);
        let part = |n: u32| (n / fleet).max(1);
        let slower = |rate: Rate| Rate {
            permits: rate.permits,
            period: rate.period.checked_mul(fleet).unwrap_or(Duration::MAX),
        };
        match self.algorithm {
            Algorithm::Gcra { rate, burst } => Algorithm::Gcra {
                rate: slower(rate),
                burst: part(burst),
            },
            Algorithm::TokenBucket {
                rate,
                capacity,
                initial_tokens,
            } => Algorithm::TokenBucket {
                rate: slower(rate),
                capacity: part(capacity),
                initial_tokens: initial_tokens.map(|t| (t / fleet).min(part(capacity))),
            },
            Algorithm::FixedWindow {
                max_requests,
                window,
            } => Algorithm::FixedWindow {
                max_requests: part(max_requests),
                window,
            },
            Algorithm::SlidingWindowCounter {
                max_requests,
                window,
            } => Algorithm::SlidingWindowCounter {
                max_requests: part(max_requests),
                window,
            },
            Algorithm::SlidingWindowLog {
                max_requests,
                window,
            } => Algorithm::SlidingWindowLog {
                max_requests: part(max_requests),
                window,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_round_up_to_whole_microseconds() {
        let q = Quota::new(Algorithm::Gcra {
            rate: Rate::per_second(3),
            burst: 1,
        })
        .unwrap();
        assert_eq!(q.micros, 333_334);
        let q = Quota::new(Algorithm::Gcra {
            rate: Rate::per_second(10_000_000),
            burst: 1,
        })
        .unwrap();
        assert_eq!(q.micros, 1);
    }

    #[test]
    fn a_fleet_share_is_a_fraction_of_rate_and_burst_but_at_least_one() {
        let q = Quota::new(Algorithm::Gcra {
            rate: Rate::per_second(100),
            burst: 10,
        })
        .unwrap();
        assert_eq!(
            q.share(4),
            Algorithm::Gcra {
                rate: Rate::new(100, Duration::from_secs(4)),
                burst: 2
            }
        );
        let q = Quota::new(Algorithm::FixedWindow {
            max_requests: 3,
            window: Duration::from_secs(1),
        })
        .unwrap();
        assert_eq!(
            q.share(10),
            Algorithm::FixedWindow {
                max_requests: 1,
                window: Duration::from_secs(1)
            }
        );
    }

    #[test]
    fn bad_quotas_name_the_field() {
        let err = Quota::new(Algorithm::Gcra {
            rate: Rate::per_second(1),
            burst: 0,
        })
        .unwrap_err();
        assert_eq!((err.field(), err.value()), ("burst", "0"));
        let q = Quota::new(Algorithm::Gcra {
            rate: Rate::per_second(1),
            burst: 1,
        })
        .unwrap();
        let err = q
            .replacing(Algorithm::FixedWindow {
                max_requests: 1,
                window: Duration::from_secs(1),
            })
            .unwrap_err();
        assert_eq!(err.field(), "algorithm");
    }
}
