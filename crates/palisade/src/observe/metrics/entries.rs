//! The listener's entries, one per policy name, found in O(1) without a lock.
//!
//! # Why
//!
//! Every event names its policy, and the listener needs that name's entry (its keys and
//! cached handles) before it can update anything: on a pipeline call that is six lookups.
//! Scanning a list and comparing strings with `memcmp` each time cost more than some of the
//! updates themselves.
//!
//! # How
//!
//! Entries sit in an append-only array: the first [`FIRST`] inline, then segments that
//! double in size (8, 16, 32, … entries), so an entry never moves and its index locates it
//! with a little arithmetic.
//!
//! The first name seen is checked first: a listener on one pipeline sees only that name (the
//! pipeline's policies publish under it), and the check loads nothing that depends on the
//! event. Other names go through a direct-mapped table of [`HINTS`] slots that maps the
//! *address* of the name an event carries to the index of its entry: a policy keeps its name
//! in one place, so each of its events passes the same address. A slot is only a hint — the
//! entry's name is compared with the event's (inline, a word at a time for short names) — so
//! a reused address or two names sharing a slot cost a slow lookup, never a wrong entry. The
//! slow lookup scans the entries, appends a name not seen before under a mutex, and points
//! the slot at the entry.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::cache::Entry;

/// Entries kept inline (most listeners see fewer names), and the size of the first segment
/// after them: segment `k` holds the `FIRST << k` entries from index `FIRST << k` on.
const FIRST: usize = 8;

/// Segments: room for `FIRST << SEGMENTS` names (134 million), whose indices fit the hints'
/// `u32`.
const SEGMENTS: usize = 24;

/// Slots of the address → entry table (a power of two).
pub(super) const HINTS: usize = 64;

/// Every policy name a listener has seen, with its entry.
pub(super) struct Entries {
    first: [OnceLock<Entry>; FIRST],
    segments: [OnceLock<Box<[OnceLock<Entry>]>>; SEGMENTS],
    /// Per slot, 1 + the index of the entry last found for a name whose address hashes
    /// here; 0 for none yet.
    hints: [AtomicU32; HINTS],
    /// Entries appended; every index below it holds one.
    len: AtomicUsize,
    /// Serializes appends.
    appending: Mutex<()>,
}

impl Entries {
    pub(super) fn new() -> Self {
        Entries {
            first: [const { OnceLock::new() }; FIRST],
            segments: [const { OnceLock::new() }; SEGMENTS],
            hints: [const { AtomicU32::new(0) }; HINTS],
            len: AtomicUsize::new(0),
            appending: Mutex::new(()),
        }
    }

    /// The entry of `policy`, made by `make` at its first event. `None` only past 134
    /// million names.
    #[inline]
    pub(super) fn get(&self, policy: &str, make: impl FnOnce(&str) -> Entry) -> Option<&Entry> {
        // The first name first (see the module docs): no load here waits for another.
        if let Some(entry) = self.first[0].get()
            && entry.name.is(policy)
        {
            return Some(entry);
        }
        let hint = &self.hints[slot(policy)];
        // Relaxed: the entry itself is published by its `OnceLock`, which `at` reads with
        // acquire ordering; the hint only says where to look.
        if let Some(entry) = self.at(hint.load(Ordering::Relaxed) as usize)
            && entry.name.is(policy)
        {
            return Some(entry);
        }
        self.find(policy, make, hint)
    }

    /// Every entry, in the order the names first appeared.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Entry> {
        (0..self.len.load(Ordering::Acquire)).filter_map(|index| self.at(index + 1))
    }

    /// The entry at `index - 1` (`index` 0: none).
    #[inline]
    fn at(&self, index: usize) -> Option<&Entry> {
        match self.first.get(index.wrapping_sub(1)) {
            Some(entry) => entry.get(),
            None => self.beyond_first(index),
        }
    }

    /// [`at`](Self::at) for `index` 0 or past the inline entries.
    #[cold]
    #[inline(never)]
    fn beyond_first(&self, index: usize) -> Option<&Entry> {
        let (segment, offset) = locate(index.checked_sub(1 + FIRST)?);
        self.segments.get(segment)?.get()?.get(offset)?.get()
    }

    #[cold]
    #[inline(never)]
    fn find(
        &self,
        policy: &str,
        make: impl FnOnce(&str) -> Entry,
        hint: &AtomicU32,
    ) -> Option<&Entry> {
        let (index, entry) = match self.position(policy) {
            Some(found) => found,
            None => self.append(policy, make)?,
        };
        // `index` < FIRST << SEGMENTS = 2^27: it fits.
        hint.store(u32::try_from(index + 1).unwrap_or(0), Ordering::Relaxed);
        Some(entry)
    }

    /// The index and entry of `policy`, if it has one.
    fn position(&self, policy: &str) -> Option<(usize, &Entry)> {
        self.iter()
            .enumerate()
            .find(|(_, entry)| entry.name.is(policy))
    }

    fn append(&self, policy: &str, make: impl FnOnce(&str) -> Entry) -> Option<(usize, &Entry)> {
        let _appending = self
            .appending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Appended by another thread since `position` looked?
        let seen = self.len.load(Ordering::Acquire);
        if let Some(found) = self.position(policy) {
            return Some(found);
        }
        let slot = match seen.checked_sub(FIRST) {
            None => self.first.get(seen)?,
            Some(index) => {
                let (segment, offset) = locate(index);
                let slots = self.segments.get(segment)?.get_or_init(|| {
                    (0..FIRST << segment)
                        .map(|_| OnceLock::new())
                        .collect::<Vec<_>>()
                        .into_boxed_slice()
                });
                slots.get(offset)?
            }
        };
        let entry = slot.get_or_init(|| make(policy));
        // Release: a reader that sees the new length finds the entry initialized.
        self.len.store(seen + 1, Ordering::Release);
        Some((seen, entry))
    }
}

/// The segment and offset of entry `FIRST + index`: segment `k` starts at `FIRST << k`.
fn locate(index: usize) -> (usize, usize) {
    let segment = (index / FIRST + 1).ilog2() as usize;
    (segment, index + FIRST - (FIRST << segment))
}

/// The hint slot of the name at `policy`'s address (Fibonacci hashing: names are
/// allocations, aligned, so the low bits alone would crowd a few slots).
#[inline]
fn slot(policy: &str) -> usize {
    let address = policy.as_ptr().addr() as u64;
    (address.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - HINTS.ilog2())) as usize
}

/// Bytes of a name an entry keeps inline.
const HEAD: usize = 16;

/// A policy name as its entry keeps it: the first [`HEAD`] bytes inline, so that comparing a
/// short name with an event's reads the entry and nothing it points to.
pub(super) struct Name {
    head: [u8; HEAD],
    full: Arc<str>,
}

impl Name {
    pub(super) fn new(full: Arc<str>) -> Self {
        let mut head = [0; HEAD];
        for (to, from) in head.iter_mut().zip(full.bytes()) {
            *to = from;
        }
        Name { head, full }
    }

    #[cfg(test)]
    pub(super) fn as_str(&self) -> &str {
        &self.full
    }

    pub(super) fn shared(&self) -> Arc<str> {
        self.full.clone()
    }

    /// Whether this is `policy`: compared inline for names up to 32 bytes (two overlapping
    /// word compares), by `memcmp` beyond.
    #[inline]
    pub(super) fn is(&self, policy: &str) -> bool {
        let b = policy.as_bytes();
        let len = b.len();
        if self.full.len() != len {
            return false;
        }
        let a: &[u8] = if len <= HEAD {
            &self.head
        } else {
            self.full.as_bytes()
        };
        match len {
            0 => true,
            1..4 => (0..len).all(|i| a.get(i) == b.get(i)),
            4..8 => ends_equal::<4>(a, b, len),
            8..16 => ends_equal::<8>(a, b, len),
            16..=32 => ends_equal::<16>(a, b, len),
            _ => same_long(a, b),
        }
    }
}

/// Whether the first and the last `N` of `len` bytes of `a` and `b` are equal (`len >= N`:
/// they overlap when `len < 2 * N`).
#[inline(always)]
fn ends_equal<const N: usize>(a: &[u8], b: &[u8], len: usize) -> bool {
    let chunk = |s: &[u8], at: usize| -> Option<[u8; N]> { s.get(at..at + N)?.try_into().ok() };
    chunk(a, 0) == chunk(b, 0) && chunk(a, len - N) == chunk(b, len - N)
}

/// `a == b` for names longer than 32 bytes: `memcmp`, out of the inline path.
#[cold]
#[inline(never)]
fn same_long(a: &[u8], b: &[u8]) -> bool {
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry with no metric names (only its policy name matters here).
    fn make(policy: &str) -> Entry {
        Entry::new(&[], policy, false)
    }

    #[test]
    fn every_index_past_the_inline_entries_has_its_own_place() {
        let mut expected = (0, 0);
        for index in 0..(FIRST << 6) - FIRST {
            assert_eq!(locate(index), expected, "index {index}");
            expected.1 += 1;
            if expected.1 == FIRST << expected.0 {
                expected = (expected.0 + 1, 0);
            }
        }
        let last = (FIRST << SEGMENTS) - 1;
        assert_eq!(
            locate(last - FIRST),
            (SEGMENTS - 1, (FIRST << (SEGMENTS - 1)) - 1)
        );
        assert!(u32::try_from(last + 1).is_ok());
    }

    #[test]
    fn names_compare_like_strings_at_every_length() {
        let long: String = ('a'..='z').cycle().take(80).collect();
        for len in 0..=long.len() {
            let a = Name::new(Arc::from(&long[..len]));
            let copy = long[..len].to_owned(); // the same name at another address
            assert!(a.is(&copy), "{len}");
            for at in 0..len {
                let mut b = copy.as_bytes().to_vec();
                b[at] = b'#';
                let b = String::from_utf8(b).unwrap();
                assert!(!a.is(&b), "{len} {at}");
            }
            assert!(!a.is(&long[..(len + 1).min(long.len())]) || len == long.len());
        }
    }

    #[test]
    fn names_sharing_a_hint_slot_each_find_their_own_entry() {
        let entries = Entries::new();
        // More names than slots: some share a slot, and each lookup still finds its own.
        let policies: Vec<String> = (0..3 * HINTS).map(|i| format!("policy-{i}")).collect();
        for _ in 0..2 {
            for policy in &policies {
                let entry = entries.get(policy, make).unwrap();
                assert_eq!(entry.name.as_str(), policy.as_str());
            }
        }
        assert_eq!(entries.len.load(Ordering::Relaxed), policies.len());
        // The same name at another address finds the same entry.
        let copy = policies[5].clone();
        let first = entries.get(&policies[5], make).unwrap();
        assert!(std::ptr::eq(first, entries.get(&copy, make).unwrap()));
        let listed: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(listed, policies);
    }

    #[test]
    fn threads_appending_the_same_names_make_one_entry_each() {
        let entries = Entries::new();
        let policies: Vec<String> = (0..40).map(|i| format!("p{i}")).collect();
        let found: Vec<Vec<usize>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        policies
                            .iter()
                            .map(|p| std::ptr::from_ref(entries.get(p, make).unwrap()).addr())
                            .collect()
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        assert!(found.iter().all(|f| *f == found[0]));
        assert_eq!(entries.len.load(Ordering::Relaxed), policies.len());
    }
}
