//! The synchronisation primitives of the lock-free policies, swappable for loom's.
//!
//! Built with `RUSTFLAGS="--cfg palisade_loom"`, these are loom's model-checked types and
//! `tests/loom_circuit_breaker.rs` explores every interleaving of the breaker's concurrent
//! paths. (A crate-specific cfg, so dependencies with their own `cfg(loom)` code are untouched.)

#[cfg(not(palisade_loom))]
pub(crate) use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering, fence};
#[cfg(not(palisade_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

#[cfg(palisade_loom)]
pub(crate) use loom::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering, fence};
#[cfg(palisade_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};
