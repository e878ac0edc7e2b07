//! [`SeqLock`]: a few `u64` words that one writer at a time replaces and any number of
//! readers read whole, without a lock.
//!
//! # Why one type
//!
//! Three policies publish small groups of words that must be read together: the rate
//! limiter's quota parameters (read on every check), and the bucket snapshots of the circuit
//! breaker's time window and of the retry budget's ledger (read with an epoch: "the counters
//! at the start of epoch E, if this slot still holds them"). Each used to carry its own copy
//! of the sequence-lock dance, and the breaker's copy could be read torn when `reset` rewrote
//! a slot under the epoch it already held (a reader saw the same epoch before and after and
//! paired old and new words). Here the scheme is written once: every write, whatever it
//! writes, moves the sequence word through an odd value to a new even one, so a reader's
//! check compares versions, never contents, and rewriting the same tag is caught like any
//! other write.
//!
//! # The two forms
//!
//! - Untagged ([`read`](SeqLock::read) / [`write`](SeqLock::write)): the reader retries
//!   until it gets a consistent copy (a writer never blocks, so this ends as soon as no write
//!   overlaps the read).
//! - Tagged ([`read_tagged`](SeqLock::read_tagged) / [`write_tagged`](SeqLock::write_tagged)):
//!   the words are stored together with a tag (an epoch) and a reader asks for one tag; it
//!   gets `None` if the slot holds another (or stays busy for a few retries).
//!
//! Writers must be serialised by the caller (each user already holds a mutex while writing);
//! readers never wait for them.
//!
//! # Memory ordering
//!
//! A write: sequence `s` (even) → `s + 1` (Relaxed), a Release fence, the tag and words
//! (Relaxed), then `s + 2` (Release). A read: sequence (Acquire), the tag and words
//! (Relaxed), an Acquire fence, the sequence again (Relaxed); the copy is good if both
//! sequence loads saw the same even value.
//!
//! - If the first load saw `s + 2`, its Acquire synchronises with that Release store, so
//!   every word the read loads is the one that write stored, or a later writer's.
//! - If any word load saw a store of a later write, then that write's Release fence (after its
//!   odd store) synchronises with the reader's Acquire fence (after that word load), so the
//!   second sequence load sees that odd value or a later one: not the first value, and the
//!   copy is thrown away.
//!
//! So an accepted copy holds exactly the words of the write whose even sequence it saw. The
//! fast path on x86 is plain loads and compiler-only fences: the rate limiter's check reads
//! its parameters with two loads of the sequence and one per word. Under
//! `--cfg palisade_loom` these are loom's atomics and fences, and the `loom_tests` below
//! check the argument above on every interleaving.

use super::{AtomicU64, Ordering, fence, spin_loop};

/// The tag of a lock built by [`SeqLock::new`] or emptied by [`SeqLock::clear`]: never
/// found by [`SeqLock::read_tagged`], even when asked for.
const UNTAGGED: u64 = u64::MAX;

/// How often [`SeqLock::read_tagged`] retries a read that a write overlapped before giving
/// up with `None`.
const TAGGED_RETRIES: usize = 64;

/// `N` words replaced whole by one writer at a time and read whole by any number of readers
/// without a lock; optionally stored under a tag. See the [module docs](self).
///
/// `repr(C)` keeps the untagged read's words next to the sequence, with the tag after them:
/// the rate limiter's hot read touches the same 32 bytes the hand-written lock did.
#[repr(C)]
pub(crate) struct SeqLock<const N: usize> {
    /// Even when the words are stable; odd while a write is in progress. Every write adds 2.
    seq: AtomicU64,
    words: [AtomicU64; N],
    /// What the words belong to ([`UNTAGGED`] until a tagged write).
    tag: AtomicU64,
}

impl<const N: usize> SeqLock<N> {
    /// A lock holding `words`, untagged.
    pub(crate) fn new(words: [u64; N]) -> Self {
        SeqLock {
            seq: AtomicU64::new(0),
            words: words.map(AtomicU64::new),
            tag: AtomicU64::new(UNTAGGED),
        }
    }

    /// The words, as one write left them. Spins while a write overlaps the read.
    #[inline]
    pub(crate) fn read(&self) -> [u64; N] {
        loop {
            let before = self.seq.load(Ordering::Acquire);
            let words = self.load_words();
            fence(Ordering::Acquire);
            if before.is_multiple_of(2) && self.seq.load(Ordering::Relaxed) == before {
                return words;
            }
            spin_loop();
        }
    }

    /// The words written under `tag`, if the lock holds them: `None` if it holds another tag's
    /// or none (or writes kept overlapping the read for a few retries).
    #[inline]
    pub(crate) fn read_tagged(&self, tag: u64) -> Option<[u64; N]> {
        for _ in 0..TAGGED_RETRIES {
            let before = self.seq.load(Ordering::Acquire);
            if before.is_multiple_of(2) {
                let held = self.tag.load(Ordering::Relaxed);
                let words = self.load_words();
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == before {
                    return (held == tag && held != UNTAGGED).then_some(words);
                }
            }
            spin_loop();
        }
        None
    }

    /// Replaces the words (the tag stays). The caller serialises writers.
    #[inline]
    pub(crate) fn write(&self, words: [u64; N]) {
        self.write_raw(None, words);
    }

    /// Replaces the words and stores them under `tag`; a read that overlaps it, even one
    /// asking for the tag already held, is retried. The caller serialises writers.
    #[inline]
    pub(crate) fn write_tagged(&self, tag: u64, words: [u64; N]) {
        self.write_raw(Some(tag), words);
    }

    /// Empties a tagged lock: no [`read_tagged`](Self::read_tagged) finds anything until the
    /// next [`write_tagged`](Self::write_tagged). The caller serialises writers.
    pub(crate) fn clear(&self) {
        self.write_raw(Some(UNTAGGED), [0; N]);
    }

    #[inline(always)]
    fn load_words(&self) -> [u64; N] {
        std::array::from_fn(|i| self.words[i].load(Ordering::Relaxed))
    }

    #[inline(always)]
    fn write_raw(&self, tag: Option<u64>, words: [u64; N]) {
        // Writers are serialised, so nothing else changes `seq` meanwhile.
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        // Orders the odd value before the stores below, for a reader that sees any of them.
        fence(Ordering::Release);
        if let Some(tag) = tag {
            self.tag.store(tag, Ordering::Relaxed);
        }
        for (cell, word) in self.words.iter().zip(words) {
            cell.store(word, Ordering::Relaxed);
        }
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }
}

#[cfg(all(test, not(palisade_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

    #[test]
    fn reads_what_was_written() {
        let lock = SeqLock::new([1, 2]);
        assert_eq!(lock.read(), [1, 2]);
        assert_eq!(lock.read_tagged(0), None);
        lock.write_tagged(7, [3, 4]);
        assert_eq!(lock.read_tagged(7), Some([3, 4]));
        assert_eq!(lock.read_tagged(8), None);
        lock.write([5, 6]);
        assert_eq!(lock.read_tagged(7), Some([5, 6]));
        lock.clear();
        assert_eq!(lock.read_tagged(7), None);
        assert_eq!(lock.read_tagged(UNTAGGED), None);
    }

    #[test]
    fn tagged_reads_are_never_torn_even_when_a_tag_is_rewritten() {
        // The writer alternates two word pairs under one tag (as a reset does); readers must
        // only ever see one pair or the other.
        let lock = SeqLock::new([0, 0]);
        lock.write_tagged(1, [1, 1]);
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..200_000u64 {
                    let w = 1 + i % 2;
                    lock.write_tagged(1, [w, w]);
                }
                stop.store(true, Relaxed);
            });
            s.spawn(|| {
                while !stop.load(Relaxed) {
                    if let Some([a, b]) = lock.read_tagged(1) {
                        assert_eq!(a, b, "torn read");
                    }
                }
            });
        });
    }
}

#[cfg(all(test, palisade_loom))]
mod loom_tests {
    //! Run with `RUSTFLAGS="--cfg palisade_loom" cargo test -p palisade --release --lib loom`.
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(f);
    }

    #[test]
    fn loom_untagged_reads_are_whole() {
        model(|| {
            let lock = Arc::new(SeqLock::new([1, 1, 1]));
            let writer = {
                let lock = lock.clone();
                thread::spawn(move || lock.write([2, 2, 2]))
            };
            let seen = lock.read();
            assert!(seen == [1, 1, 1] || seen == [2, 2, 2], "torn read {seen:?}");
            writer.join().unwrap();
            assert_eq!(lock.read(), [2, 2, 2]);
        });
    }

    #[test]
    fn loom_untagged_reads_are_whole_across_two_writes() {
        model(|| {
            let lock = Arc::new(SeqLock::new([0, 0]));
            let writer = {
                let lock = lock.clone();
                thread::spawn(move || {
                    lock.write([1, 1]);
                    lock.write([2, 2]);
                })
            };
            let [a, b] = lock.read();
            assert_eq!(a, b, "torn read");
            writer.join().unwrap();
        });
    }

    #[test]
    fn loom_tagged_reads_never_pair_a_tag_with_other_words() {
        model(|| {
            let lock = Arc::new(SeqLock::new([0, 0]));
            lock.write_tagged(1, [1, 1]);
            let writer = {
                let lock = lock.clone();
                thread::spawn(move || lock.write_tagged(2, [2, 2]))
            };
            match (lock.read_tagged(1), lock.read_tagged(2)) {
                (Some(w), _) => assert_eq!(w, [1, 1]),
                (None, Some(w)) => assert_eq!(w, [2, 2]),
                // Only possible once the writer has moved on from tag 1 (no retry limit is
                // reached with a single write).
                (None, None) => {}
            }
            writer.join().unwrap();
            assert_eq!(lock.read_tagged(1), None);
            assert_eq!(lock.read_tagged(2), Some([2, 2]));
        });
    }

    /// The breaker's `reset`: the slot is cleared and rewritten under the tag it held.
    #[test]
    fn loom_a_reset_under_the_same_tag_is_never_read_torn() {
        model(|| {
            let lock = Arc::new(SeqLock::new([0, 0]));
            lock.write_tagged(5, [1, 1]);
            let writer = {
                let lock = lock.clone();
                thread::spawn(move || {
                    lock.clear();
                    lock.write_tagged(5, [2, 2]);
                })
            };
            if let Some([a, b]) = lock.read_tagged(5) {
                assert_eq!(a, b, "torn read across a same-tag rewrite");
            }
            writer.join().unwrap();
            assert_eq!(lock.read_tagged(5), Some([2, 2]));
        });
    }
}
