//! [`Sleep`]: the future of one wait on a clock, whatever the clock's source.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::manual::ManualSleep;

#[cfg(feature = "tokio")]
type TokioSleep = tokio::time::Sleep;

/// Without tokio there is never a tokio sleep: an uninhabited stand-in keeps one enum.
#[cfg(not(feature = "tokio"))]
enum TokioSleep {}

#[cfg(not(feature = "tokio"))]
impl Future for TokioSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        match *self {}
    }
}

pin_project_lite::pin_project! {
    /// A wait on a [`Clock`](super::Clock): made by [`Clock::sleep`](super::Clock::sleep) and
    /// [`Clock::sleep_until`](super::Clock::sleep_until), completes when the clock reaches the
    /// deadline. Dropping it cancels the wait (and deregisters a virtual-time timer).
    ///
    /// ```
    /// use palisade::clock::{Clock, ManualClock, Simulation};
    /// use std::time::Duration;
    /// let manual = ManualClock::new();
    /// let sleep = Clock::from(manual.clone()).sleep(Duration::from_millis(20));
    /// Simulation::new(&manual).block_on(sleep)?;
    /// assert_eq!(manual.now().as_nanos(), 20_000_000);
    /// # Ok::<(), palisade::clock::Stalled>(())
    /// ```
    pub struct Sleep {
        #[pin]
        inner: Inner,
    }
}

pin_project_lite::pin_project! {
    #[project = InnerProj]
    enum Inner {
        Manual { sleep: ManualSleep },
        Tokio { #[pin] sleep: TokioSleep },
        Boxed { sleep: Pin<Box<dyn Future<Output = ()> + Send + 'static>> },
        Thread { sleep: ThreadSleep },
    }
}

impl Sleep {
    pub(super) fn manual(sleep: ManualSleep) -> Sleep {
        Sleep {
            inner: Inner::Manual { sleep },
        }
    }

    #[cfg(feature = "tokio")]
    pub(super) fn tokio_until(deadline: tokio::time::Instant) -> Sleep {
        Sleep {
            inner: Inner::Tokio {
                sleep: tokio::time::sleep_until(deadline),
            },
        }
    }

    pub(super) fn boxed(sleep: Pin<Box<dyn Future<Output = ()> + Send + 'static>>) -> Sleep {
        Sleep {
            inner: Inner::Boxed { sleep },
        }
    }

    /// A wait of `duration` real time: tokio's timer within a tokio runtime, else the timer
    /// thread.
    pub(super) fn real(duration: Duration) -> Sleep {
        #[cfg(feature = "tokio")]
        if tokio::runtime::Handle::try_current().is_ok() {
            return Sleep {
                inner: Inner::Tokio {
                    sleep: tokio::time::sleep(duration),
                },
            };
        }
        Sleep {
            inner: Inner::Thread {
                sleep: ThreadSleep {
                    deadline: std::time::Instant::now()
                        .checked_add(duration)
                        .unwrap_or_else(far_future),
                    key: None,
                },
            },
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.project().inner.project() {
            InnerProj::Manual { sleep } => Pin::new(sleep).poll(cx),
            InnerProj::Tokio { sleep } => sleep.poll(cx),
            InnerProj::Boxed { sleep } => sleep.as_mut().poll(cx),
            InnerProj::Thread { sleep } => sleep.poll(cx),
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.inner {
            Inner::Manual { sleep } => return sleep.fmt(f),
            Inner::Tokio { .. } => "tokio",
            Inner::Boxed { .. } => "timer",
            Inner::Thread { .. } => "thread",
        };
        f.debug_struct("Sleep").field("timer", &kind).finish()
    }
}

/// About a hundred years from now: the deadline of a wait too long to represent.
fn far_future() -> std::time::Instant {
    let now = std::time::Instant::now();
    now.checked_add(Duration::from_secs(100 * 365 * 86_400))
        .unwrap_or(now)
}

/// A real-time wait served by the timer thread: for async waits outside any runtime timer.
struct ThreadSleep {
    deadline: std::time::Instant,
    key: Option<u64>,
}

impl ThreadSleep {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if std::time::Instant::now() >= self.deadline {
            self.cancel();
            return Poll::Ready(());
        }
        let Some(thread) = timer_thread() else {
            // No thread could be started: wait here, on the caller's thread, rather than
            // never or too early.
            std::thread::sleep(
                self.deadline
                    .saturating_duration_since(std::time::Instant::now()),
            );
            return Poll::Ready(());
        };
        self.key = Some(thread.register(self.key, self.deadline, cx.waker()));
        Poll::Pending
    }

    fn cancel(&mut self) {
        if let (Some(key), Some(thread)) = (self.key.take(), timer_thread()) {
            thread.cancel(key);
        }
    }
}

impl Drop for ThreadSleep {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// The one thread that wakes async waits made outside a runtime timer.
struct TimerThread {
    state: Mutex<ThreadTimers>,
    changed: Condvar,
}

#[derive(Default)]
struct ThreadTimers {
    heap: BinaryHeap<Reverse<(std::time::Instant, u64)>>,
    wakers: HashMap<u64, Waker>,
    next: u64,
}

impl TimerThread {
    fn lock(&self) -> MutexGuard<'_, ThreadTimers> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn register(&self, key: Option<u64>, deadline: std::time::Instant, waker: &Waker) -> u64 {
        let mut timers = self.lock();
        if let Some(key) = key
            && let Some(current) = timers.wakers.get_mut(&key)
        {
            if !current.will_wake(waker) {
                *current = waker.clone();
            }
            return key;
        }
        timers.next += 1;
        let key = timers.next;
        let earliest = timers
            .heap
            .peek()
            .is_none_or(|Reverse((d, _))| deadline < *d);
        timers.heap.push(Reverse((deadline, key)));
        timers.wakers.insert(key, waker.clone());
        drop(timers);
        if earliest {
            self.changed.notify_one();
        }
        key
    }

    fn cancel(&self, key: u64) {
        self.lock().wakers.remove(&key);
    }

    fn run(&self) {
        let mut timers = self.lock();
        loop {
            let now = std::time::Instant::now();
            let mut due = Vec::new();
            while let Some(&Reverse((deadline, key))) = timers.heap.peek() {
                if deadline > now {
                    break;
                }
                timers.heap.pop();
                if let Some(waker) = timers.wakers.remove(&key) {
                    due.push(waker);
                }
            }
            if !due.is_empty() {
                drop(timers);
                due.into_iter().for_each(Waker::wake);
                timers = self.lock();
                continue;
            }
            timers = match timers.heap.peek() {
                Some(&Reverse((deadline, _))) => {
                    let wait = deadline.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(timers, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .changed
                    .wait(timers)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

/// The timer thread, started on first use; `None` if it could not be started.
fn timer_thread() -> Option<&'static TimerThread> {
    static THREAD: OnceLock<Option<&'static TimerThread>> = OnceLock::new();
    *THREAD.get_or_init(|| {
        let timers: &'static TimerThread = Box::leak(Box::new(TimerThread {
            state: Mutex::new(ThreadTimers::default()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("palisade-timer".into())
            .spawn(move || timers.run())
            .ok()
            .map(|_| timers)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_wait_outside_any_runtime_completes_on_the_timer_thread() {
        let start = std::time::Instant::now();
        super::super::block::block_on(Sleep::real(Duration::from_millis(3)));
        assert!(start.elapsed() >= Duration::from_millis(3));
    }

    #[test]
    fn a_dropped_wait_leaves_no_timer_behind() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut sleep = ThreadSleep {
            deadline: std::time::Instant::now() + Duration::from_secs(60),
            key: None,
        };
        assert!(sleep.poll(&mut cx).is_pending());
        let key = sleep.key.expect("registered");
        let thread = timer_thread().expect("the timer thread runs");
        assert!(thread.lock().wakers.contains_key(&key));
        drop(sleep);
        assert!(!thread.lock().wakers.contains_key(&key));
    }
}
