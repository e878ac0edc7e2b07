//! Helpers shared by the integration tests: durations, instants, and an event log.
//!
//! Each test file that needs them declares `mod common;`; not every file uses every helper.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade::clock::{Clock, Instant};
use palisade::event::{Event, Listener};

/// `n` milliseconds.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `n` seconds.
pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The instant `d` after a clock's origin (a `ManualClock` starts at zero).
pub fn at(d: Duration) -> Instant {
    Instant::from_nanos(u64::try_from(d.as_nanos()).expect("fits in u64 nanoseconds"))
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
