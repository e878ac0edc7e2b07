//! The handle cache: label keys per policy name, handles per process-wide recorder (or for
//! the one recorder a listener is bound to).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use ::metrics::{
    Counter as CounterHandle, Gauge as GaugeHandle, Histogram as HistogramHandle, Key, Label,
    Recorder, SharedString,
};

use super::entries::Name;
use super::pending::{Pending, RELEASED};
use super::table::*;
use crate::circuit_breaker::State;

/// What the listener keeps for one policy name.
pub(super) struct Entry {
    /// The policy name.
    pub(super) name: Name,
    /// The policy name, as the `name` label's value.
    pub(super) label: SharedString,
    /// The key of every series, at [`series`] indices.
    pub(super) keys: Box<[Key]>,
    /// Handles registered from `keys`: per process-wide recorder ([`RECORDERS`] index), or,
    /// for a listener bound to a recorder, that recorder's only.
    pub(super) handles: Box<[Box<[OnceLock<Handle>]>]>,
    /// For a listener bound to a recorder: the counts not yet added to it.
    pub(super) pending: Option<Box<Pending>>,
}

pub(super) enum Handle {
    Counter(CounterHandle),
    Gauge(GaugeHandle),
    Histogram(HistogramHandle),
}

impl Entry {
    /// The entry of `policy` for a listener publishing `names`, bound to a recorder or not.
    pub(super) fn new(names: &[SharedString], policy: &str, bound: bool) -> Entry {
        let name = Name::new(Arc::from(policy));
        let label = SharedString::from_shared(name.shared());
        let mut keys = Vec::with_capacity(SERIES);
        for (metric, name) in names.iter().enumerate() {
            let name_label = || Label::new("name", label.clone());
            match (series_count(metric), EXTRA[metric]) {
                (0, _) => {}
                (_, Some((key, values))) => keys.extend(values.iter().map(|value| {
                    Key::from_parts(
                        name.clone(),
                        vec![name_label(), Label::from_static_parts(key, value)],
                    )
                })),
                (_, None) => keys.push(Key::from_parts(name.clone(), vec![name_label()])),
            }
        }
        let recorders = if bound { 1 } else { RECORDERS.len() };
        Entry {
            name,
            label,
            keys: keys.into_boxed_slice(),
            handles: (0..recorders)
                .map(|_| (0..SERIES).map(|_| OnceLock::new()).collect())
                .collect(),
            pending: bound.then(|| Box::new(Pending::new())),
        }
    }
}

/// The recorders that live as long as the process, by address, in the order first seen:
/// the facade's no-op recorder and the global recorder (installed at most once, never
/// dropped). Only their handles are cached.
pub(super) static RECORDERS: [OnceLock<usize>; 2] = [OnceLock::new(), OnceLock::new()];

/// The last recorder address found to be a scoped recorder (0: none), so that updates into
/// a scoped recorder neither ask again nor take [`PROBING`].
pub(super) static SCOPED: AtomicUsize = AtomicUsize::new(0);

/// Serializes probes, and the setting of [`RECORDERS`] and [`SCOPED`].
static PROBING: Mutex<()> = Mutex::new(());

pub(super) fn address(recorder: &dyn Recorder) -> usize {
    std::ptr::from_ref(recorder).cast::<()>() as usize
}

/// The [`RECORDERS`] index of `recorder`, if it lives as long as the process.
#[inline]
pub(super) fn process_wide(recorder: &dyn Recorder) -> Option<usize> {
    let address = address(recorder);
    for (index, known) in RECORDERS.iter().enumerate() {
        match known.get() {
            Some(&known) if known == address => return Some(index),
            Some(_) => {}
            None => break,
        }
    }
    identify(address)
}

/// A recorder address not seen before (or a scoped one): a thread that has no scoped
/// recorder sees the global recorder or the no-op one; if it sees this address, the
/// recorder lives as long as the process. Asked once per new address.
#[cold]
#[inline(never)]
pub(super) fn identify(wanted: usize) -> Option<usize> {
    // Relaxed: SCOPED names no data, only an address known not to be cached.
    if SCOPED.load(Ordering::Relaxed) == wanted {
        return None;
    }
    let _probing = PROBING.lock().unwrap_or_else(PoisonError::into_inner);
    if SCOPED.load(Ordering::Relaxed) == wanted {
        return None;
    }
    let seen_elsewhere = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("palisade-metrics-probe".into())
            .spawn_scoped(scope, || ::metrics::with_recorder(address))
            .ok()
            .and_then(|probe| probe.join().ok())
    });
    if seen_elsewhere != Some(wanted) {
        SCOPED.store(wanted, Ordering::Relaxed);
        return None;
    }
    for (index, known) in RECORDERS.iter().enumerate() {
        // Under the lock: nobody else sets a slot between the test and the set.
        match known.get() {
            Some(&known) if known == wanted => return Some(index),
            Some(_) => {}
            None => {
                let _ = known.set(wanted);
                return Some(index);
            }
        }
    }
    None
}

/// One event's updates: the recorder (the current one, or the one the listener is bound
/// to), the policy's entry and, if the recorder lives as long as the process (or is the bound
/// one), its cached handles.
pub(super) struct Updates<'a> {
    pub(super) recorder: &'a dyn Recorder,
    pub(super) entry: &'a Entry,
    pub(super) handles: Option<&'a [OnceLock<Handle>]>,
}

impl<'a> Updates<'a> {
    /// The updates into the recorder a listener is bound to, through the entry's only
    /// handles.
    #[inline]
    pub(super) fn bound(recorder: &'a dyn Recorder, entry: &'a Entry) -> Self {
        Updates {
            recorder,
            entry,
            handles: entry.handles.first().map(|handles| &**handles),
        }
    }

    #[inline]
    pub(super) fn handle(
        &self,
        series: usize,
        register: impl FnOnce() -> Handle,
    ) -> Option<&Handle> {
        self.handles
            .and_then(|handles| handles.get(series))
            .map(|handle| handle.get_or_init(register))
    }

    pub(super) fn key(&self, series: usize) -> &Key {
        // `keys` has SERIES elements and `series` indices stay below SERIES (unit-tested).
        &self.entry.keys[series]
    }

    /// Adds `value` to a counter: now, or, for a bound listener, when its recorder is read.
    #[inline]
    pub(super) fn count(&self, series: usize, value: u64) {
        match &self.entry.pending {
            Some(pending) => pending.add(series, value),
            None => self.count_now(series, value),
        }
    }

    /// A bulkhead slot taken (`true`) or released: `bulkhead_active_calls` up or down, now
    /// or, for a bound listener, when its recorder is read.
    #[inline]
    pub(super) fn bulkhead_slot(&self, taken: bool) {
        let series = series(M::BhActive, 0);
        match (&self.entry.pending, taken) {
            (Some(pending), true) => pending.add(series, 1),
            (Some(pending), false) => pending.add(RELEASED, 1),
            (None, true) => self.gauge_now(series, |gauge| gauge.increment(1.0)),
            (None, false) => self.gauge_now(series, |gauge| gauge.decrement(1.0)),
        }
    }

    pub(super) fn count_now(&self, series: usize, value: u64) {
        let register = || self.recorder.register_counter(self.key(series), &METADATA);
        match self.handle(series, || Handle::Counter(register())) {
            Some(Handle::Counter(counter)) => counter.increment(value),
            Some(_) => {}
            None => register().increment(value),
        }
    }

    pub(super) fn gauge_now(&self, series: usize, update: impl FnOnce(&GaugeHandle)) {
        let register = || self.recorder.register_gauge(self.key(series), &METADATA);
        match self.handle(series, || Handle::Gauge(register())) {
            Some(Handle::Gauge(gauge)) => update(gauge),
            Some(_) => {}
            None => update(&register()),
        }
    }

    /// Records `value` in histogram `metric`: now, or, for a bound listener, in its per-thread
    /// aggregate.
    #[inline]
    pub(super) fn observe(&self, metric: M, value: f64) {
        if let Some(pending) = &self.entry.pending {
            return pending.observe(metric as usize, value);
        }
        let series = series(metric, 0);
        let register = || {
            self.recorder
                .register_histogram(self.key(series), &METADATA)
        };
        match self.handle(series, || Handle::Histogram(register())) {
            Some(Handle::Histogram(histogram)) => histogram.record(value),
            Some(_) => {}
            None => register().record(value),
        }
    }

    pub(super) fn breaker_state(&self, state: State) {
        for (index, s) in STATES.into_iter().enumerate() {
            let value = if s == state { 1.0 } else { 0.0 };
            self.gauge_now(series(M::CbState, index), |gauge| gauge.set(value));
        }
    }
}
