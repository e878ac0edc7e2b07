//! [`Simulation`]: a small deterministic executor that drives a [`ManualClock`].
//!
//! Tasks run on the calling thread in the order they become ready (first woken, first
//! polled). When none is ready, the clock jumps to the earliest pending deadline and fires
//! what is due there — virtual time advances exactly when every task waits, never while one
//! could run. With the same tasks and the same seeds, two runs make the same calls in the same
//! order at the same virtual instants, which is what a simulation of a policy needs (and what
//! turmoil and madsim do for whole services).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use super::manual::Advance;
use super::{Instant, ManualClock};

thread_local! {
    /// The clock the simulation running on this thread drives (null: none).
    static DRIVING: Cell<*const ()> = const { Cell::new(std::ptr::null()) };
}

/// Whether a simulation on this thread is driving `clock`: its waits then leave advancing
/// time to the simulation.
pub(super) fn is_driving(clock: &ManualClock) -> bool {
    DRIVING.with(|driving| driving.get() == clock.id())
}

/// Restores the previously driven clock when a simulation's `block_on` ends.
struct Driving(*const ());

impl Driving {
    fn start(clock: &ManualClock) -> Self {
        Driving(DRIVING.with(|driving| driving.replace(clock.id())))
    }
}

impl Drop for Driving {
    fn drop(&mut self) {
        DRIVING.with(|driving| driving.set(self.0));
    }
}

/// Runs tasks on one thread over virtual time, each in the order it became ready; when none
/// is ready, the clock jumps to the earliest pending deadline.
///
/// Cheap to clone (clones share the tasks), so a task can hold one to spawn more.
///
/// ```
/// use palisade::clock::{Clock, ManualClock, Simulation};
/// use std::time::Duration;
///
/// let manual = ManualClock::new();
/// let sim = Simulation::new(&manual);
/// let clock = Clock::from(manual.clone());
/// let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
/// for (name, secs) in [("slow", 3), ("fast", 1), ("medium", 2)] {
///     let (clock, order) = (clock.clone(), order.clone());
///     sim.spawn(async move {
///         clock.sleep(Duration::from_secs(secs)).await;
///         order.borrow_mut().push(name);
///     });
/// }
/// sim.run()?;
/// assert_eq!(*order.borrow(), ["fast", "medium", "slow"]); // deadline order
/// assert_eq!(manual.now().as_nanos(), 3_000_000_000);
/// # Ok::<(), palisade::clock::Stalled>(())
/// ```
#[derive(Clone)]
pub struct Simulation {
    inner: Rc<Inner>,
}

struct Inner {
    clock: ManualClock,
    ready: Arc<Ready>,
    tasks: RefCell<Vec<Option<Task>>>,
    free: RefCell<Vec<usize>>,
    live: Cell<usize>,
}

struct Task {
    future: Pin<Box<dyn Future<Output = ()>>>,
    waker: Arc<TaskWaker>,
}

/// Task ids ready to be polled, in the order they were woken.
#[derive(Default)]
struct Ready(Mutex<VecDeque<usize>>);

impl Ready {
    fn push(&self, id: usize) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(id);
    }

    fn pop(&self) -> Option<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
    }
}

/// The id `block_on`'s own future is polled under.
const MAIN: usize = usize::MAX;

struct TaskWaker {
    id: usize,
    ready: Arc<Ready>,
    /// Whether the task is already in the ready queue: a task is queued at most once.
    queued: AtomicBool,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.ready.push(self.id);
        }
    }
}

/// A simulation stopped with tasks waiting but no timer pending: nothing can ever wake them.
///
/// ```
/// use palisade::clock::{ManualClock, Simulation};
/// let sim = Simulation::new(&ManualClock::new());
/// let err = sim.block_on(std::future::pending::<()>()).unwrap_err();
/// assert_eq!(err.waiting(), 1);
/// assert!(err.to_string().contains("stalled"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stalled {
    at: Instant,
    waiting: usize,
}

impl Stalled {
    /// The virtual time at which it stalled.
    ///
    /// ```
    /// # use palisade::clock::{ManualClock, Simulation};
    /// # let err = Simulation::new(&ManualClock::new()).block_on(std::future::pending::<()>()).unwrap_err();
    /// assert_eq!(err.at().as_nanos(), 0);
    /// ```
    pub fn at(&self) -> Instant {
        self.at
    }

    /// How many tasks (`block_on`'s future included) were waiting.
    ///
    /// ```
    /// # use palisade::clock::{ManualClock, Simulation};
    /// # let err = Simulation::new(&ManualClock::new()).block_on(std::future::pending::<()>()).unwrap_err();
    /// assert_eq!(err.waiting(), 1);
    /// ```
    pub fn waiting(&self) -> usize {
        self.waiting
    }
}

impl fmt::Display for Stalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the simulation stalled at {:?}: {} task(s) wait for something no timer will bring",
            self.at, self.waiting
        )
    }
}

impl std::error::Error for Stalled {}

impl Simulation {
    /// A simulation that drives `clock`.
    ///
    /// ```
    /// let sim = palisade::clock::Simulation::new(&palisade::clock::ManualClock::new());
    /// assert_eq!(sim.tasks(), 0);
    /// ```
    pub fn new(clock: &ManualClock) -> Simulation {
        Simulation {
            inner: Rc::new(Inner {
                clock: clock.clone(),
                ready: Arc::new(Ready::default()),
                tasks: RefCell::new(Vec::new()),
                free: RefCell::new(Vec::new()),
                live: Cell::new(0),
            }),
        }
    }

    /// The clock this simulation drives.
    ///
    /// ```
    /// use palisade::clock::{ManualClock, Simulation};
    /// let clock = ManualClock::new();
    /// assert_eq!(Simulation::new(&clock).clock().now(), clock.now());
    /// ```
    pub fn clock(&self) -> &ManualClock {
        &self.inner.clock
    }

    /// Tasks spawned and not yet finished.
    ///
    /// ```
    /// # use palisade::clock::{ManualClock, Simulation};
    /// let sim = Simulation::new(&ManualClock::new());
    /// sim.spawn(async {});
    /// assert_eq!(sim.tasks(), 1);
    /// sim.run()?;
    /// assert_eq!(sim.tasks(), 0);
    /// # Ok::<(), palisade::clock::Stalled>(())
    /// ```
    pub fn tasks(&self) -> usize {
        self.inner.live.get()
    }

    /// Starts `future` as a task; it runs when the simulation runs ([`run`](Self::run) or
    /// [`block_on`](Self::block_on)). Await the handle for its output.
    ///
    /// ```
    /// # use palisade::clock::{ManualClock, Simulation};
    /// let sim = Simulation::new(&ManualClock::new());
    /// let task = sim.spawn(async { 6 * 7 });
    /// assert_eq!(sim.block_on(task)?, 42);
    /// # Ok::<(), palisade::clock::Stalled>(())
    /// ```
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
    {
        let slot = Rc::new(RefCell::new(Join {
            output: None,
            waker: None,
        }));
        let out = Rc::clone(&slot);
        let task = async move {
            let output = future.await;
            let mut join = out.borrow_mut();
            join.output = Some(output);
            if let Some(waker) = join.waker.take() {
                waker.wake();
            }
        };
        let inner = &*self.inner;
        let id = match inner.free.borrow_mut().pop() {
            Some(id) => id,
            None => {
                let mut tasks = inner.tasks.borrow_mut();
                tasks.push(None);
                tasks.len() - 1
            }
        };
        let waker = Arc::new(TaskWaker {
            id,
            ready: Arc::clone(&inner.ready),
            queued: AtomicBool::new(false),
        });
        waker.wake_by_ref();
        if let Some(entry) = inner.tasks.borrow_mut().get_mut(id) {
            *entry = Some(Task {
                future: Box::pin(task),
                waker,
            });
        }
        inner.live.set(inner.live.get() + 1);
        JoinHandle { slot }
    }

    /// Runs every task until all have finished.
    ///
    /// ```
    /// # use palisade::clock::{ManualClock, Simulation};
    /// let sim = Simulation::new(&ManualClock::new());
    /// sim.spawn(async {});
    /// sim.run()?;
    /// # Ok::<(), palisade::clock::Stalled>(())
    /// ```
    pub fn run(&self) -> Result<(), Stalled> {
        self.drive(None::<std::future::Pending<()>>).map(|_| ())
    }

    /// Runs the tasks and `future` until `future` completes, and returns its output; tasks
    /// still running stay in the simulation. Errs if everything waits and no timer is pending.
    ///
    /// ```
    /// use palisade::clock::{Clock, ManualClock, Simulation};
    /// use std::time::Duration;
    /// let manual = ManualClock::new();
    /// let clock = Clock::from(manual.clone());
    /// let sim = Simulation::new(&manual);
    /// let waited = sim.block_on(async {
    ///     let start = clock.now();
    ///     clock.sleep(Duration::from_secs(30)).await;
    ///     clock.now().saturating_duration_since(start)
    /// })?;
    /// assert_eq!(waited, Duration::from_secs(30));
    /// # Ok::<(), palisade::clock::Stalled>(())
    /// ```
    pub fn block_on<F: Future>(&self, future: F) -> Result<F::Output, Stalled> {
        match self.drive(Some(future))? {
            Some(output) => Ok(output),
            // `drive` returns `None` only without a future of its own.
            None => Err(Stalled {
                at: self.inner.clock.now(),
                waiting: self.tasks(),
            }),
        }
    }

    fn drive<F: Future>(&self, future: Option<F>) -> Result<Option<F::Output>, Stalled> {
        let inner = &*self.inner;
        let _driving = Driving::start(&inner.clock);
        let main = Arc::new(TaskWaker {
            id: MAIN,
            ready: Arc::clone(&inner.ready),
            queued: AtomicBool::new(false),
        });
        let main_waker = Waker::from(Arc::clone(&main));
        let mut future = pin!(future);
        if future.is_some() {
            main.wake_by_ref();
        }
        loop {
            while let Some(id) = inner.ready.pop() {
                if id == MAIN {
                    main.queued.store(false, Ordering::Release);
                    if let Some(f) = future.as_mut().as_pin_mut()
                        && let Poll::Ready(output) = f.poll(&mut Context::from_waker(&main_waker))
                    {
                        return Ok(Some(output));
                    }
                } else {
                    self.poll_task(id);
                }
            }
            if future.is_none() && inner.live.get() == 0 {
                return Ok(None);
            }
            if inner.clock.advance_to_next(false) == Advance::Empty {
                return Err(Stalled {
                    at: inner.clock.now(),
                    waiting: inner.live.get() + usize::from(future.is_some()),
                });
            }
        }
    }

    fn poll_task(&self, id: usize) {
        let inner = &*self.inner;
        // Out of the table while it runs, so it may spawn.
        let Some(mut task) = inner.tasks.borrow_mut().get_mut(id).and_then(Option::take) else {
            return;
        };
        task.waker.queued.store(false, Ordering::Release);
        let waker = Waker::from(Arc::clone(&task.waker));
        if task
            .future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready()
        {
            inner.free.borrow_mut().push(id);
            inner.live.set(inner.live.get() - 1);
        } else if let Some(entry) = inner.tasks.borrow_mut().get_mut(id) {
            *entry = Some(task);
        }
    }
}

impl fmt::Debug for Simulation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulation")
            .field("clock", &self.inner.clock)
            .field("tasks", &self.tasks())
            .finish()
    }
}

struct Join<T> {
    output: Option<T>,
    waker: Option<Waker>,
}

/// A task's output, to await inside the simulation.
///
/// ```
/// # use palisade::clock::{ManualClock, Simulation};
/// let sim = Simulation::new(&ManualClock::new());
/// let handle = sim.spawn(async { "done" });
/// assert_eq!(sim.block_on(handle)?, "done");
/// # Ok::<(), palisade::clock::Stalled>(())
/// ```
pub struct JoinHandle<T> {
    slot: Rc<RefCell<Join<T>>>,
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut join = self.slot.borrow_mut();
        match join.output.take() {
            Some(output) => Poll::Ready(output),
            None => {
                join.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.slot.borrow().output.is_some())
            .finish()
    }
}
