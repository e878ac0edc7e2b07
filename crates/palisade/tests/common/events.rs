//! Listeners that record what a policy published.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade::clock::Clock;
use palisade::event::{Event, Listener};

/// An owned record of the events a test cares about; the rest are dropped.
pub trait Record: Sized + Send + 'static {
    /// The record of `event`, or `None` to ignore it.
    fn record(event: &Event<'_>) -> Option<Self>;
}

/// Every event a listener heard that `T` records, in the order they came.
pub struct Recorder<T>(Arc<Mutex<Vec<T>>>);

impl<T> Default for Recorder<T> {
    fn default() -> Self {
        Recorder(Arc::new(Mutex::new(Vec::new())))
    }
}

impl<T> Clone for Recorder<T> {
    fn clone(&self) -> Self {
        Recorder(Arc::clone(&self.0))
    }
}

impl<T: Record> Recorder<T> {
    /// A listener appending to this recorder (and to every clone of it).
    pub fn listener(&self) -> impl Fn(&Event<'_>) + Send + Sync + 'static {
        let records = Arc::clone(&self.0);
        move |event: &Event<'_>| {
            if let Some(record) = T::record(event) {
                records.lock().unwrap().push(record);
            }
        }
    }
}

impl<T: Clone> Recorder<T> {
    /// The records so far (they are kept).
    pub fn events(&self) -> Vec<T> {
        self.0.lock().unwrap().clone()
    }

    /// The records so far, clearing the recorder.
    pub fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Every event a listener saw, as text, each stamped with the clock's time when it came.
#[derive(Clone)]
pub struct EventLog {
    clock: Clock,
    lines: Arc<Mutex<Vec<String>>>,
}

impl EventLog {
    pub fn new(clock: impl Into<Clock>) -> Self {
        EventLog {
            clock: clock.into(),
            lines: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The lines whose text contains `needle`.
    pub fn matching(&self, needle: &str) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|line| line.contains(needle))
            .collect()
    }
}

impl Listener for EventLog {
    fn on_event(&self, event: &Event<'_>) {
        let now = Duration::from_nanos(self.clock.now().as_nanos());
        self.lines
            .lock()
            .unwrap()
            .push(format!("{now:?} {event:?}"));
    }
}
