//! Redis memory per limiter key (`MEMORY USAGE`), for GCRA and fixed window, direct and
//! keyed. Reads `PALISADE_REDIS_URL` (default `redis://127.0.0.1:6379`); writes keys under
//! the prefix `palisade-mem` and deletes them.
//!
//! `cargo run --release -p palisade-bench --example redis_limiter_memory`

use std::time::Duration;

use palisade::clock::Clock;
use palisade::rate_limit::{Algorithm, KeyedRateLimiter, Rate, RateLimiter};
use palisade_redis::RedisBackend;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url =
        std::env::var("PALISADE_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let backend = RedisBackend::builder()
        .url(url.as_str())
        .key_prefix("palisade-mem")
        .timeout(Duration::from_secs(1))
        .connect()
        .await?;
    let mut conn = redis::Client::open(url.as_str())?
        .get_multiplexed_async_connection()
        .await?;
    // Quotas that keep their keys for a while (keys expire once rested).
    let gcra = Algorithm::Gcra {
        rate: Rate::per_minute(100),
        burst: 100,
    };
    let window = Algorithm::FixedWindow {
        max_requests: 1000,
        window: Duration::from_secs(60),
    };
    println!("{:<40} {:>6}", "key", "bytes");
    for (name, algorithm) in [("api", gcra), ("reports", window)] {
        let store = backend.limiter_store(name, algorithm, &Clock::default())?;
        let limiter = RateLimiter::builder(algorithm).build_with_store(store)?;
        limiter.try_acquire_async(1).await?;
        let keyed = KeyedRateLimiter::builder(algorithm)
            .build_with_store(backend.keyed_limiter_store::<u64>(name, algorithm)?)?;
        keyed.try_acquire_n_async(&4_294_967_296, 1).await?;
    }
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("{palisade-mem:*")
        .query_async(&mut conn)
        .await?;
    for key in &keys {
        let bytes: i64 = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(key)
            .query_async(&mut conn)
            .await?;
        println!("{key:<40} {bytes:>6}");
        let _: i64 = redis::cmd("DEL").arg(key).query_async(&mut conn).await?;
    }
    Ok(())
}
