//! The state-store seam: a limiter over a store other than `LocalState` keeps the whole API,
//! and the async entry points (`call`, `acquire_n`) go through the store's async decision —
//! the one a remote store (Redis) answers with a round trip.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use palisade::ConfigError;
use palisade::Error;
use palisade::clock::{Clock, Instant, ManualClock};
use palisade::rate_limit::{
    Algorithm, Denied, KeyedRateLimiter, KeyedStateStore, KeyedStore, LocalKeyedState, LocalState,
    Rate, RateLimitInfo, RateLimiter, StateStore, Store,
};

/// A store that answers asynchronously (it yields to the runtime first, as a network round
/// trip would) and counts which entry point was used; the decisions come from a local store.
#[derive(Debug)]
struct Remote {
    inner: LocalState,
    sync_calls: Arc<AtomicUsize>,
    async_calls: Arc<AtomicUsize>,
}

impl StateStore for Remote {
    fn try_acquire_n(&self, now: Instant, n: u32) -> Result<RateLimitInfo, Denied> {
        self.sync_calls.fetch_add(1, Ordering::Relaxed);
        self.inner.try_acquire_n(now, n)
    }

    async fn try_acquire_n_async(&self, now: Instant, n: u32) -> Result<RateLimitInfo, Denied> {
        self.async_calls.fetch_add(1, Ordering::Relaxed);
        tokio::task::yield_now().await;
        StateStore::try_acquire_n(&self.inner, now, n)
    }

    fn info(&self, now: Instant) -> RateLimitInfo {
        self.inner.info(now)
    }

    fn set_algorithm(&self, now: Instant, algorithm: Algorithm) -> Result<(), ConfigError> {
        self.inner.set_algorithm(now, algorithm)
    }

    fn algorithm(&self) -> Algorithm {
        self.inner.algorithm()
    }
}

struct Counts {
    sync_calls: Arc<AtomicUsize>,
    async_calls: Arc<AtomicUsize>,
}

fn remote(algorithm: Algorithm, clock: Clock) -> (RateLimiter, Counts) {
    let counts = Counts {
        sync_calls: Arc::new(AtomicUsize::new(0)),
        async_calls: Arc::new(AtomicUsize::new(0)),
    };
    let store = Remote {
        inner: LocalState::new(algorithm, clock.now()).expect("valid quota"),
        sync_calls: Arc::clone(&counts.sync_calls),
        async_calls: Arc::clone(&counts.async_calls),
    };
    let limiter = RateLimiter::builder(algorithm)
        .name("shared")
        .clock(clock)
        .store(Store::custom(store))
        .build()
        .expect("valid quota");
    (limiter, counts)
}

fn one_per_100ms() -> Algorithm {
    Algorithm::Gcra {
        rate: Rate::per_second(10),
        burst: 1,
    }
}

#[test]
fn a_custom_store_serves_the_synchronous_api_with_its_defaults() {
    let clock = ManualClock::new();
    let (limiter, counts) = remote(one_per_100ms(), clock.clone().into());
    // `check` and `try_acquire` fall back to the store's `try_acquire_n`.
    assert!(limiter.check().is_ok());
    let throttled = limiter.check().expect_err("the burst is spent");
    assert_eq!(throttled.retry_after(), Duration::from_millis(100));
    assert!(matches!(
        limiter.try_acquire(),
        Err(Denied::RateLimited { .. })
    ));
    assert_eq!(counts.sync_calls.load(Ordering::Relaxed), 3);
    clock.advance(Duration::from_millis(100));
    assert_eq!(limiter.try_acquire().map(|i| i.remaining()), Ok(0));
    assert_eq!(limiter.name(), "shared");
    // Quota changes go to the store.
    limiter
        .set_algorithm(Algorithm::Gcra {
            rate: Rate::per_second(10),
            burst: 3,
        })
        .expect("same kind");
    assert_eq!(limiter.info().limit(), 3);
    assert!(format!("{limiter:?}").contains("shared"));
}

#[tokio::test(start_paused = true)]
async fn call_and_acquire_go_through_the_stores_async_decision() {
    let (limiter, counts) = remote(one_per_100ms(), Clock::tokio());
    let async_calls = &counts.async_calls;
    assert_eq!(limiter.call(|| async { Ok::<_, ()>(7) }).await, Ok(7));
    match limiter.call(|| async { Ok::<_, ()>(8) }).await {
        Err(Error::RateLimited {
            name, retry_after, ..
        }) => {
            assert_eq!(&*name, "shared");
            assert_eq!(retry_after, Duration::from_millis(100));
        }
        other => panic!("expected a rate-limit rejection, got {other:?}"),
    }
    assert_eq!(async_calls.load(Ordering::Relaxed), 2);

    // Waiting: refused once, sleeps exactly the retry_after on tokio's paused clock, granted.
    let start = tokio::time::Instant::now();
    limiter
        .acquire_n(1, None)
        .await
        .expect("granted after waiting");
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    assert_eq!(async_calls.load(Ordering::Relaxed), 4);
    assert_eq!(counts.sync_calls.load(Ordering::Relaxed), 0);
}

/// A keyed store that answers asynchronously and delegates to an in-process keyed store.
#[derive(Debug)]
struct RemoteKeyed {
    inner: Arc<LocalKeyedState<String>>,
    async_calls: Arc<AtomicUsize>,
}

impl KeyedStateStore<String> for RemoteKeyed {
    fn try_acquire_n(&self, now: Instant, key: &String, n: u32) -> Result<RateLimitInfo, Denied> {
        self.inner.try_acquire_n(now, key, n)
    }

    async fn try_acquire_n_async(
        &self,
        now: Instant,
        key: &String,
        n: u32,
    ) -> Result<RateLimitInfo, Denied> {
        self.async_calls.fetch_add(1, Ordering::Relaxed);
        tokio::task::yield_now().await;
        self.inner.try_acquire_n(now, key, n)
    }

    fn info(&self, now: Instant, key: &String) -> RateLimitInfo {
        self.inner.info(now, key)
    }

    fn set_quota_for(
        &self,
        now: Instant,
        key: String,
        algorithm: Algorithm,
    ) -> Result<(), ConfigError> {
        self.inner.set_quota_for(now, key, algorithm)
    }

    fn clear_quota_for(&self, now: Instant, key: &String) {
        self.inner.clear_quota_for(now, key)
    }
}

/// The in-process keyed store shared between two limiters, as two processes share Redis.
#[derive(Debug)]
struct SharedLocal(Arc<LocalKeyedState<String>>);

impl KeyedStateStore<String> for SharedLocal {
    fn try_acquire_n(&self, now: Instant, key: &String, n: u32) -> Result<RateLimitInfo, Denied> {
        self.0.try_acquire_n(now, key, n)
    }
    fn info(&self, now: Instant, key: &String) -> RateLimitInfo {
        self.0.info(now, key)
    }
    fn set_quota_for(
        &self,
        now: Instant,
        key: String,
        algorithm: Algorithm,
    ) -> Result<(), ConfigError> {
        self.0.set_quota_for(now, key, algorithm)
    }
    fn clear_quota_for(&self, now: Instant, key: &String) {
        self.0.clear_quota_for(now, key)
    }
}

#[tokio::test(start_paused = true)]
async fn a_custom_keyed_store_keeps_the_keyed_api() {
    let state = Arc::new(
        LocalKeyedState::new(one_per_100ms(), 1_000, Duration::from_secs(60)).expect("valid quota"),
    );
    let async_calls = Arc::new(AtomicUsize::new(0));
    let clock = Clock::tokio();
    let local: KeyedRateLimiter<String, SharedLocal> = KeyedRateLimiter::builder(one_per_100ms())
        .clock(clock.clone())
        .build_with_store(SharedLocal(Arc::clone(&state)))
        .expect("valid quota");
    let limiter: KeyedRateLimiter<String> = KeyedRateLimiter::builder(one_per_100ms())
        .name("per-user")
        .clock(clock)
        .build_with_store(KeyedStore::custom(RemoteKeyed {
            inner: Arc::clone(&state),
            async_calls: Arc::clone(&async_calls),
        }))
        .expect("valid quota");
    let alice = "alice".to_owned();
    assert!(limiter.try_acquire_n_async(&alice, 1).await.is_ok());
    assert!(matches!(
        limiter.try_acquire_n_async(&alice, 1).await,
        Err(Denied::RateLimited { .. })
    ));
    assert_eq!(async_calls.load(Ordering::Relaxed), 2);
    // The synchronous API and the local store see the same state.
    assert!(limiter.try_acquire(&"bob".to_owned()).is_ok());
    assert!(local.try_acquire(&alice).is_err());
    limiter
        .set_quota_for(
            alice.clone(),
            Algorithm::Gcra {
                rate: Rate::per_second(10),
                burst: 5,
            },
        )
        .expect("same kind");
    assert_eq!(limiter.info(&alice).limit(), 5);
    limiter.clear_quota_for(&alice);
    assert_eq!(local.info(&alice).limit(), 1);
    assert_eq!(limiter.name(), "per-user");
}
