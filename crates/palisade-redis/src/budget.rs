//! Retry budgets shared by a fleet: [`RedisBackend::retry_budget`].
//!
//! # How
//!
//! Each instance keeps deciding on its own [`RetryBudget`] — one compare-and-swap, no round
//! trip on a call's path. In the background, every flush interval (100 ms by default), it
//! publishes its window's calls and retries to Redis and reads the sum of the other
//! instances' (one script, `scripts/budget_exchange.lua`), which the budget counts as its
//! [`BudgetPeers`]. So the *ratio* holds fleet-wide: retries stay a share of the fleet's
//! calls, whichever instance makes them. The floor stays per instance.
//!
//! The peers' counts are as of the last exchange: the fleet may grant, beyond the ratio, what
//! the other instances granted within one flush interval. An instance not heard from within
//! the budget's window drops out of the sum. While Redis is unreachable the last counts
//! heard are kept for one window, then forgotten: each instance falls back to its own calls
//! and retries (a budget in this process), and picks up the fleet's again at the first
//! exchange after Redis returns.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use palisade::ConfigError;
use palisade::retry::{BudgetPeers, RetryBudget, RetryBudgetBuilder};
use redis::Script;

use crate::RedisBackend;

static EXCHANGE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("../scripts/budget_exchange.lua")));

impl RedisBackend {
    /// A retry budget shared by every instance that asks this Redis for budget `name`: built
    /// from `builder` (its ratio, floor and window), exchanged in the background until this
    /// backend is dropped. Make one per dependency and share it between that dependency's
    /// policies ([`RetryBuilder::budget`](palisade::retry::RetryBuilder::budget)). See the
    /// [module docs](crate::budget) for what is shared and how stale it may be.
    ///
    /// # Errors
    ///
    /// The builder's [`ConfigError`] for a refused setting.
    ///
    /// ```no_run
    /// use palisade::retry::{Retry, RetryBudget};
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let backend = palisade_redis::RedisBackend::builder().connect().await?;
    /// let budget = backend.retry_budget("payments", RetryBudget::builder().ratio(0.1))?;
    /// let retry = Retry::builder().name("payments").budget(budget).build()?;
    /// # let _ = retry; Ok(()) }
    /// ```
    pub fn retry_budget(
        &self,
        name: &str,
        builder: RetryBudgetBuilder,
    ) -> Result<RetryBudget, ConfigError> {
        let peers = Arc::new(BudgetPeers::new());
        let budget = builder.peers(Arc::clone(&peers)).build()?;
        let keys = &self.shared.settings.keys;
        let counts = keys.of(name, "budget:counts");
        let seen = keys.of(name, "budget:seen");
        let id = format!("{}-{:016x}", std::process::id(), fastrand::u64(..));
        let window = budget.config().ttl;
        let every = self.shared.settings.flush_interval;
        let link = Arc::clone(&self.shared.link);
        let local = budget.clone();
        self.shared.link.runtime().spawn(async move {
            let mut heard = Instant::now();
            loop {
                let stats = local.stats();
                let (keys, id) = ([counts.clone(), seen.clone()], id.clone());
                let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
                let exchanged = link
                    .run(move |mut conn| async move {
                        EXCHANGE
                            .key(&keys[0])
                            .key(&keys[1])
                            .arg(id)
                            .arg(stats.calls)
                            .arg(stats.retries)
                            .arg(window_ms)
                            .invoke_async::<(u64, u64)>(&mut conn)
                            .await
                    })
                    .await;
                match exchanged {
                    Ok((calls, retries)) => {
                        peers.set(calls, retries);
                        heard = Instant::now();
                    }
                    // Redis unreachable: keep what was heard for one window, then decide on
                    // this instance's counts alone.
                    Err(_) if heard.elapsed() > window => peers.set(0, 0),
                    Err(_) => {}
                }
                tokio::time::sleep(every.max(Duration::from_millis(1))).await;
            }
        });
        Ok(budget)
    }
}
