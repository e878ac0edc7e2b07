//! [`BudgetPeers`]: what the other instances of a fleet counted in a shared retry budget.
//!
//! # Why
//!
//! A [`RetryBudget`](super::RetryBudget) bounds retries to a share of recent calls. In a
//! fleet, each instance sees only its own calls: an instance with no traffic of its own but
//! a busy fleet around it would retry nothing beyond its floor, and an instance that fails
//! alone could not borrow from the others' quiet. Sharing the counts makes the *ratio*
//! fleet-wide — the property that stops a retry storm across every replica — while each
//! instance keeps deciding locally, with one compare-and-swap, no round trip.
//!
//! A fleet-wide store (`palisade-redis`) keeps a budget's `BudgetPeers` up to date in the
//! background: it publishes this instance's window counts and sets the sum of the others'.
//! The budget then grants a retry while
//!
//! ```text
//! own retries + peers' retries ≤ ratio × (own calls + peers' calls) + floor
//! ```
//!
//! The floor stays per instance (a quiet instance keeps its own few retries). Peers' counts
//! are as of the store's last exchange, so the fleet may overshoot the ratio by what the
//! other instances granted since then — at most one exchange interval's worth of retries.

use crate::sync::{AtomicU64, Ordering};

/// Calls and retries the other instances of a fleet counted in their window of a shared
/// budget, as last heard. Give it to [`RetryBudgetBuilder::peers`](super::RetryBudgetBuilder::peers);
/// a fleet-wide store (`palisade-redis`) sets it in the background. The budget then grants a
/// retry while own retries + peers' retries ≤ ratio × (own calls + peers' calls) + floor:
/// the ratio holds over the fleet, the floor stays per instance, and the fleet may overshoot
/// by what the others granted since the last exchange.
///
/// ```
/// use palisade::clock::ManualClock;
/// use palisade::retry::{BudgetPeers, RetryBudget};
/// use std::sync::Arc;
///
/// let peers = Arc::new(BudgetPeers::new());
/// let budget = RetryBudget::builder()
///     .ratio(0.1)
///     .min_retries_per_sec(0)
///     .peers(peers.clone())
///     .clock(ManualClock::new())
///     .build()?;
/// assert!(!budget.try_withdraw()); // no calls anywhere: nothing earned
/// peers.set(100, 9); // the rest of the fleet: 100 calls, 9 retries
/// assert!(budget.try_withdraw()); // the 10th retry of the fleet's 100 calls
/// assert!(!budget.try_withdraw());
/// # Ok::<(), palisade::ConfigError>(())
/// ```
#[derive(Debug, Default)]
pub struct BudgetPeers {
    calls: AtomicU64,
    retries: AtomicU64,
}

impl BudgetPeers {
    /// No peers counted yet.
    ///
    /// ```
    /// assert_eq!(palisade::retry::BudgetPeers::new().get(), (0, 0));
    /// ```
    pub fn new() -> Self {
        BudgetPeers {
            calls: AtomicU64::new(0),
            retries: AtomicU64::new(0),
        }
    }

    /// Sets what the other instances counted in their windows: `calls` and `retries`.
    ///
    /// ```
    /// let peers = palisade::retry::BudgetPeers::new();
    /// peers.set(40, 3);
    /// assert_eq!(peers.get(), (40, 3));
    /// ```
    pub fn set(&self, calls: u64, retries: u64) {
        self.calls.store(calls, Ordering::Relaxed);
        self.retries.store(retries, Ordering::Relaxed);
    }

    /// The other instances' calls and retries, as last set.
    ///
    /// ```
    /// assert_eq!(palisade::retry::BudgetPeers::default().get(), (0, 0));
    /// ```
    pub fn get(&self) -> (u64, u64) {
        (
            self.calls.load(Ordering::Relaxed),
            self.retries.load(Ordering::Relaxed),
        )
    }
}
