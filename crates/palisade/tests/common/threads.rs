//! Running a test body under a deadlock guard.

use std::panic::resume_unwind;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Runs `test` on its own thread and fails if it has not finished within `limit` (a deadlock
/// guard: the tests themselves take milliseconds). A panic in `test` is the test's failure.
pub fn finish_within(limit: Duration, test: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let handle = thread::spawn(move || {
        test();
        let _ = done.send(());
    });
    match finished.recv_timeout(limit) {
        Ok(()) => handle.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("did not finish within {limit:?}: the code under test deadlocked")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = handle.join() {
                resume_unwind(panic)
            }
        }
    }
}
