//! The backend's own thread: a small tokio runtime that owns the connection and the
//! background work (reconnecting, probing, flushing breaker outcomes, listening for state
//! changes).
//!
//! # Why a thread of our own
//!
//! A policy's store is called from anywhere: an async task on the application's runtime, a
//! blocking call (`call_blocking`, a synchronous `#[resilient]` function), a test whose
//! runtime pauses time. Background work that lives on the application's runtime dies with
//! it, and a blocking call cannot wait for a future on the runtime it is blocking. On a
//! runtime of its own, the connection outlives any caller's runtime, a blocking call waits
//! on a plain channel, and timers are real time whatever the caller's clock does.

use std::future::Future;
use std::io;
use std::sync::mpsc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The background runtime; stops when dropped.
#[derive(Debug)]
pub(crate) struct Runtime {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
}

impl Runtime {
    /// Starts the thread `palisade-redis` and its current-thread runtime.
    pub(crate) fn start() -> io::Result<Self> {
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready, handle) = mpsc::channel();
        std::thread::Builder::new()
            .name("palisade-redis".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                let _ = ready.send(Ok(runtime.handle().clone()));
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        let handle = handle
            .recv()
            .map_err(|_| io::Error::other("the palisade-redis thread exited at start"))??;
        Ok(Runtime {
            handle,
            stop: Some(stop),
        })
    }

    /// Runs `task` in the background.
    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.handle.spawn(task));
    }

    /// Runs `task` on the background runtime and waits for it from a blocking caller, at
    /// most `limit` (`None`: it did not finish in time, or the runtime is gone).
    pub(crate) fn block<T, F>(&self, limit: Duration, task: F) -> Option<T>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        drop(self.handle.spawn(async move {
            let _ = tx.send(task.await);
        }));
        rx.recv_timeout(limit).ok()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
