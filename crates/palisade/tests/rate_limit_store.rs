//! The state-store seam: a limiter over a store other than `LocalState` keeps the whole API,
//! and the async entry points (`call`, `acquire_n`) go through the store's async decision —
//! the one a remote store (Redis) answers with a round trip.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use palisade::ConfigError;
use palisade::Error;
use palisade::clock::{Clock, ManualClock};
use palisade::rate_limit::{
    Algorithm, Denied, KeyedRateLimiter, KeyedStateStore, LocalKeyedState, LocalState, Rate,
    RateLimitInfo, RateLimiter, StateStore,
};

/// A store that answers asynchronously (it yields to the runtime first, as a network round
/// trip would) and counts which entry point was used; the decisions come from a local store.
#[derive(Debug)]
struct Remote {
    inner: LocalState,
    sync_calls: AtomicUsize,
    async_calls: Arc<AtomicUsize>,
}

impl StateStore for Remote {
    fn try_acquire_n(&self, n: u32) -> Result<RateLimitInfo, Denied> {
        self.sync_calls.fetch_add(1, Ordering::Relaxed);
        self.inner.try_acquire_n(n)
    }

    async fn try_acquire_n_async(&self, n: u32) -> Result<RateLimitInfo, Denied> {
        self.async_calls.fetch_add(1, Ordering::Relaxed);
        tokio::task::yield_now().await;
        StateStore::try_acquire_n(&self.inner, n)
    }

    fn info(&self) -> RateLimitInfo {
        self.inner.info()
    }

    fn set_algorithm(&self, algorithm: Algorithm) -> Result<(), ConfigError> {
        self.inner.set_algorithm(algorithm)
    }

    fn algorithm(&self) -> Algorithm {
        self.inner.algorithm()
    }

    fn name(&self) -> &Arc<str> {
        self.inner.name()
    }

    fn clock(&self) -> &Clock {
        self.inner.clock()
    }
}

fn remote(algorithm: Algorithm, clock: Clock) -> (RateLimiter<Remote>, Arc<AtomicUsize>) {
    let local = RateLimiter::builder(algorithm)
        .name("shared")
        .clock(clock)
        .build()
        .expect("valid quota")
        .into_store()
        .expect("the only handle");
    let async_calls = Arc::new(AtomicUsize::new(0));
    let store = Remote {
        inner: local,
        sync_calls: AtomicUsize::new(0),
        async_calls: Arc::clone(&async_calls),
    };
    (RateLimiter::with_store(store), async_calls)
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
    let (limiter, _) = remote(one_per_100ms(), clock.clone().into());
    // `check` and `try_acquire` fall back to the store's `try_acquire_n`.
    assert!(limiter.check().is_ok());
    let throttled = limiter.check().expect_err("the burst is spent");
    assert_eq!(throttled.retry_after(), Duration::from_millis(100));
    assert!(matches!(
        limiter.try_acquire(),
        Err(Denied::RateLimited { .. })
    ));
    assert_eq!(limiter.store().sync_calls.load(Ordering::Relaxed), 3);
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
    let (limiter, async_calls) = remote(one_per_100ms(), Clock::tokio());
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
    assert_eq!(limiter.store().sync_calls.load(Ordering::Relaxed), 0);
}

/// A keyed store that answers asynchronously and delegates to an in-process keyed store.
#[derive(Debug)]
struct RemoteKeyed {
    inner: Arc<LocalKeyedState<String>>,
    async_calls: AtomicUsize,
}

impl KeyedStateStore<String> for RemoteKeyed {
    fn try_acquire_n(&self, key: &String, n: u32) -> Result<RateLimitInfo, Denied> {
        self.inner.try_acquire_n(key, n)
    }

    async fn try_acquire_n_async(&self, key: &String, n: u32) -> Result<RateLimitInfo, Denied> {
        self.async_calls.fetch_add(1, Ordering::Relaxed);
        tokio::task::yield_now().await;
        self.inner.try_acquire_n(key, n)
    }

    fn info(&self, key: &String) -> RateLimitInfo {
        self.inner.info(key)
    }

    fn set_quota_for(&self, key: String, algorithm: Algorithm) -> Result<(), ConfigError> {
        self.inner.set_quota_for(key, algorithm)
    }

    fn clear_quota_for(&self, key: &String) {
        self.inner.clear_quota_for(key)
    }

    fn name(&self) -> &Arc<str> {
        self.inner.name()
    }

    fn clock(&self) -> &palisade::clock::Clock {
        self.inner.clock()
    }
}

#[tokio::test(start_paused = true)]
async fn a_custom_keyed_store_keeps_the_keyed_api() {
    let local: KeyedRateLimiter<String> = KeyedRateLimiter::builder(one_per_100ms())
        .name("per-user")
        .clock(Clock::tokio())
        .build()
        .expect("valid quota");
    let store = Arc::new(RemoteKeyed {
        inner: Arc::clone(local.store()),
        async_calls: AtomicUsize::new(0),
    });
    let limiter: KeyedRateLimiter<String, RemoteKeyed> = KeyedRateLimiter::with_store(store);
    let alice = "alice".to_owned();
    assert!(limiter.try_acquire_n_async(&alice, 1).await.is_ok());
    assert!(matches!(
        limiter.try_acquire_n_async(&alice, 1).await,
        Err(Denied::RateLimited { .. })
    ));
    assert_eq!(limiter.store().async_calls.load(Ordering::Relaxed), 2);
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
