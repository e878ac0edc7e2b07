//! The presets: the reference table's numbers, as `Settings` and as the pipelines they build
//! (read back from the built policies and observed in calls on a `ManualClock`), the preset
//! names and their errors, and the rate-limit presets.

mod common;

use common::fault::Down;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::time::{ms, now, secs};
use palisade::Error;
use palisade::circuit_breaker::State;
use palisade::clock::ManualClock;
use palisade::event::Event;
use palisade::presets::{Part, Preset};
use palisade::rate_limit::{Algorithm, Rate};
use palisade::retry::{Jitter, RetryEvent, Strategy};

/// (preset, name, timeout ms, attempts, base delay ms, max delay ms, failures, recovery ms)
type Row = (Preset, &'static str, u64, u32, u64, u64, u32, u64);

/// The table, row by row: (name, timeout per attempt, attempts, base delay, max
/// delay, breaker consecutive failures, recovery).
const TABLE: [Row; 9] = [
    (
        Preset::Database,
        "database",
        30_000,
        3,
        500,
        10_000,
        3,
        30_000,
    ),
    (Preset::Api, "api", 60_000, 5, 1_000, 30_000, 5, 60_000),
    (Preset::Cache, "cache", 5_000, 2, 100, 1_000, 3, 15_000),
    (Preset::File, "file", 10_000, 3, 200, 5_000, 3, 30_000),
    (Preset::Ml, "ml", 300_000, 2, 5_000, 30_000, 2, 120_000),
    (Preset::Kafka, "kafka", 30_000, 5, 1_000, 30_000, 10, 30_000),
    (Preset::Vault, "vault", 10_000, 3, 2_000, 20_000, 3, 90_000),
    (Preset::Network, "network", 10_000, 3, 500, 5_000, 3, 45_000),
    (
        Preset::Default,
        "default",
        5_000,
        3,
        1_000,
        30_000,
        5,
        60_000,
    ),
];

#[test]
fn every_presets_settings_are_the_tables_numbers() {
    for (preset, name, timeout, attempts, base, max, failures, recovery) in TABLE {
        let s = preset.settings();
        assert_eq!(preset.name(), name);
        assert_eq!(s.timeout, ms(timeout), "{name}: timeout");
        assert_eq!(s.max_attempts, attempts, "{name}: max_attempts");
        assert_eq!(s.base_delay, ms(base), "{name}: base_delay");
        assert_eq!(s.max_delay, ms(max), "{name}: max_delay");
        assert_eq!(s.failure_threshold, failures, "{name}: failure_threshold");
        assert_eq!(s.recovery_timeout, ms(recovery), "{name}: recovery_timeout");
    }
    let listed: Vec<Preset> = TABLE.iter().map(|row| row.0).collect();
    assert_eq!(
        Preset::ALL.to_vec(),
        listed,
        "ALL lists every preset in table order"
    );
}

#[test]
fn every_preset_pipeline_carries_its_numbers() {
    for (preset, name, _, attempts, base, max, failures, recovery) in TABLE {
        let p = preset.pipeline().build().unwrap();
        assert_eq!(p.name(), name);
        let retry = p.retry().expect("every preset retries").config();
        assert_eq!(retry.max_attempts, attempts, "{name}");
        assert_eq!(retry.base_delay, ms(base), "{name}");
        assert_eq!(retry.max_delay, ms(max), "{name}");
        assert_eq!(retry.strategy, Strategy::Exponential, "{name}");
        assert_eq!(retry.exponential_base, 2.0, "{name}");
        assert_eq!(retry.jitter, Jitter::Full, "{name}");
        assert_eq!(retry.max_elapsed, None, "{name}");
        let breaker = p.circuit_breaker().expect("every preset has a breaker");
        assert_eq!(breaker.config().failure_threshold, Some(failures), "{name}");
        assert_eq!(breaker.config().recovery_timeout, ms(recovery), "{name}");
        assert_eq!(breaker.name(), name);
        assert!(
            p.rate_limiter().is_none(),
            "{name}: rate limits are separate"
        );
        assert!(p.bulkhead().is_none(), "{name}");
    }
}

#[test]
fn presets_do_not_repeat_a_timed_out_attempt_by_default() {
    for (preset, name, timeout, ..) in TABLE {
        let clock = ManualClock::new();
        let p = preset.pipeline().clock(clock.clone()).build().unwrap();
        let mut calls = 0;
        let err = p
            .call_blocking(|| {
                calls += 1;
                clock.advance(ms(timeout) + Duration::from_nanos(1));
                Ok::<_, Down>("late")
            })
            .unwrap_err();
        assert!(
            matches!(err, Error::Timeout { limit, .. } if limit == ms(timeout)),
            "{name}: {err:?}"
        );
        assert_eq!(calls, 1, "{name}: a late attempt may have done its work");
    }
}

#[test]
fn every_presets_timeout_bounds_each_attempt() {
    for (preset, name, timeout, attempts, ..) in TABLE {
        let clock = ManualClock::new();
        // Declared idempotent, so late attempts are attempted again (see
        // `presets_do_not_repeat_a_timed_out_attempt_by_default` for the default).
        let p = preset
            .pipeline()
            .clock(clock.clone())
            .idempotent(true)
            .build()
            .unwrap();
        // Exactly the limit is in time.
        let out = p.call_blocking(|| {
            clock.advance(ms(timeout));
            Ok::<_, Down>("ok")
        });
        assert_eq!(out, Ok("ok"), "{name}");
        // Every attempt a nanosecond late: each one is a timeout of the per-attempt limit.
        let mut calls = 0;
        let err = p
            .call_blocking(|| {
                calls += 1;
                clock.advance(ms(timeout) + Duration::from_nanos(1));
                Ok::<_, Down>("late")
            })
            .unwrap_err();
        match err {
            Error::RetriesExhausted {
                attempts: a,
                last_error,
                ..
            } => {
                assert_eq!(a, attempts, "{name}");
                assert!(
                    matches!(*last_error, Error::Timeout { limit, .. } if limit == ms(timeout)),
                    "{name}: {last_error:?}"
                );
            }
            other => panic!("{name}: {other:?}"),
        }
        // (No preset's breaker trips before its retry runs out: attempts <= failures.)
        assert_eq!(calls, attempts, "{name}");
    }
}

#[test]
fn every_presets_breaker_opens_after_its_consecutive_failures_for_its_recovery() {
    for (preset, name, _, _, _, _, failures, recovery) in TABLE {
        let clock = ManualClock::new();
        let p = preset
            .pipeline()
            .clock(clock.clone())
            .max_attempts(1)
            .build()
            .unwrap();
        for _ in 0..failures - 1 {
            let _ = p.call_blocking(|| Err::<(), _>(Down));
        }
        assert_eq!(
            p.circuit_breaker().unwrap().state(),
            State::Closed,
            "{name}"
        );
        let _ = p.call_blocking(|| Err::<(), _>(Down));
        match p.call_blocking(|| Ok::<_, Down>(())) {
            Err(Error::CircuitOpen {
                name: n,
                state: State::Open,
                retry_after,
                ..
            }) => {
                assert_eq!(&*n, name);
                assert_eq!(retry_after, Some(ms(recovery)), "{name}");
            }
            other => panic!("{name}: expected an open circuit, got {other:?}"),
        }
        clock.advance(ms(recovery));
        assert_eq!(
            p.circuit_breaker().unwrap().state(),
            State::HalfOpen,
            "{name}"
        );
    }
}

#[test]
fn every_presets_backoff_is_exponential_with_full_jitter_capped_at_max_delay() {
    for (preset, name, _, attempts, base, max, ..) in TABLE {
        let clock = ManualClock::new();
        let delays = Arc::new(Mutex::new(Vec::new()));
        let seen = delays.clone();
        let p = preset
            .pipeline()
            .clock(clock.clone())
            .failure_threshold(u32::MAX) // keep the breaker out of the way
            .retry(|r| r.seed(7))
            .on_event(move |e: &Event<'_>| {
                if let Event::Retry(RetryEvent::RetryScheduled { attempt, delay, .. }) = e {
                    seen.lock().unwrap().push((*attempt, *delay));
                }
            })
            .build()
            .unwrap();
        for _ in 0..200 {
            let _ = p.call_blocking(|| Err::<(), _>(Down));
        }
        let delays = delays.lock().unwrap();
        assert_eq!(delays.len(), 200 * (attempts as usize - 1), "{name}");
        for &(attempt, delay) in delays.iter() {
            let scheduled = (ms(base) * 2u32.pow(attempt - 1)).min(ms(max));
            assert!(delay <= scheduled, "{name}: attempt {attempt}: {delay:?}");
        }
        // Full jitter: delays spread over [0, scheduled], not all at the schedule.
        let first: Vec<Duration> = delays
            .iter()
            .filter(|(a, _)| *a == 1)
            .map(|(_, d)| *d)
            .collect();
        assert!(first.iter().any(|d| *d < ms(base) / 2), "{name}");
        assert!(first.iter().any(|d| *d > ms(base) / 2), "{name}");
    }
}

#[test]
fn overriding_one_number_keeps_the_others() {
    let p = Preset::Database
        .pipeline()
        .name("get_user")
        .max_attempts(5)
        .failure_threshold(7)
        .build()
        .unwrap();
    assert_eq!(p.name(), "get_user");
    let retry = p.retry().unwrap().config();
    assert_eq!(
        (
            retry.max_attempts,
            retry.base_delay,
            retry.max_delay,
            retry.jitter
        ),
        (5, ms(500), secs(10), Jitter::Full)
    );
    let breaker = p.circuit_breaker().unwrap();
    assert_eq!(breaker.name(), "get_user");
    assert_eq!(
        (
            breaker.config().failure_threshold,
            breaker.config().recovery_timeout
        ),
        (Some(7), secs(30))
    );
    let p = Preset::Api
        .pipeline()
        .base_delay(ms(50))
        .max_delay(secs(2))
        .recovery_timeout(secs(5))
        .build()
        .unwrap();
    let retry = p.retry().unwrap().config();
    assert_eq!(
        (retry.max_attempts, retry.base_delay, retry.max_delay),
        (5, ms(50), secs(2))
    );
    let breaker = p.circuit_breaker().unwrap().config();
    assert_eq!(
        (breaker.failure_threshold, breaker.recovery_timeout),
        (Some(5), secs(5))
    );
}

#[test]
fn a_part_left_out_is_absent_and_the_others_keep_the_presets_numbers() {
    for (preset, name, timeout, attempts, _, _, failures, _) in TABLE {
        let clock = ManualClock::new();
        let p = preset
            .pipeline_without(&[Part::Timeout])
            .clock(clock.clone())
            .build()
            .unwrap();
        // No timeout: an attempt far past the preset's limit still answers.
        let late = p.call_blocking(|| {
            clock.advance(ms(timeout) * 10);
            Ok::<_, Down>("late")
        });
        assert_eq!(late, Ok("late"), "{name}");
        assert_eq!(p.retry().map(|r| r.config().max_attempts), Some(attempts));
        let p = preset.pipeline_without(&[Part::Retry]).build().unwrap();
        assert!(p.retry().is_none(), "{name}");
        assert_eq!(
            p.circuit_breaker()
                .and_then(|b| b.config().failure_threshold),
            Some(failures),
            "{name}"
        );
        let p = preset
            .pipeline_without(&[Part::CircuitBreaker, Part::Retry])
            .build()
            .unwrap();
        assert!(
            p.circuit_breaker().is_none() && p.retry().is_none(),
            "{name}"
        );
        assert_eq!(p.name(), name);
    }
    assert_eq!(
        Preset::Api
            .pipeline_without(&[])
            .build()
            .unwrap()
            .retry()
            .map(|r| r.config().max_attempts),
        Some(5),
        "nothing left out: the preset's pipeline"
    );
}

#[test]
fn names_parse_and_display_round_trip() {
    for (preset, name, ..) in TABLE {
        assert_eq!(name.parse::<Preset>(), Ok(preset));
        assert_eq!(preset.to_string(), name);
    }
}

#[test]
fn an_unknown_name_is_an_error_naming_the_field_the_value_and_the_known_names() {
    let err = "databse".parse::<Preset>().unwrap_err();
    assert_eq!((err.field(), err.value()), ("preset", "databse"));
    assert_eq!(
        err.reason(),
        "unknown preset; known: database, api, cache, file, ml, kafka, vault, network, default"
    );
    assert!(err.to_string().contains("preset = databse"), "{err}");
    assert!("".parse::<Preset>().is_err());
    assert!(" api".parse::<Preset>().is_err());
}

#[test]
fn rate_limit_presets_are_token_buckets_for_api_and_database_only() {
    assert_eq!(
        Preset::Api.rate_limit(),
        Some(Algorithm::TokenBucket {
            rate: Rate::per_second(10),
            capacity: 20,
            initial_tokens: None,
        })
    );
    assert_eq!(
        Preset::Database.rate_limit(),
        Some(Algorithm::TokenBucket {
            rate: Rate::per_second(50),
            capacity: 100,
            initial_tokens: None,
        })
    );
    for preset in Preset::ALL {
        if !matches!(preset, Preset::Api | Preset::Database) {
            assert_eq!(preset.rate_limit(), None, "{preset}");
        }
    }
}

#[test]
fn the_api_rate_limit_preset_admits_a_burst_of_20_then_10_per_second() {
    let clock = ManualClock::new();
    let p = Preset::Api
        .pipeline()
        .clock(clock.clone())
        .rate_limit(Preset::Api.rate_limit().unwrap())
        .build()
        .unwrap();
    for i in 0..20 {
        assert_eq!(
            p.call_blocking(|| Ok::<_, Down>(i)),
            Ok(i),
            "burst call {i}"
        );
    }
    match p.call_blocking(|| Ok::<_, Down>(20)) {
        Err(Error::RateLimited {
            name, retry_after, ..
        }) => assert_eq!((&*name, retry_after), ("api", ms(100))),
        other => panic!("expected RateLimited, got {other:?}"),
    }
    clock.advance(ms(100));
    assert_eq!(p.call_blocking(|| Ok::<_, Down>(21)), Ok(21));
    assert_eq!(now(&clock), ms(100));
}

#[test]
fn the_database_rate_limit_preset_admits_a_burst_of_100_then_50_per_second() {
    let clock = ManualClock::new();
    let p = Preset::Database
        .pipeline()
        .clock(clock.clone())
        .rate_limit(Preset::Database.rate_limit().unwrap())
        .build()
        .unwrap();
    for i in 0..100 {
        assert!(
            p.call_blocking(|| Ok::<_, Down>(i)).is_ok(),
            "burst call {i}"
        );
    }
    let err = p.call_blocking(|| Ok::<_, Down>(100)).unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { retry_after, .. } if retry_after == ms(20)),
        "{err:?}"
    );
}
