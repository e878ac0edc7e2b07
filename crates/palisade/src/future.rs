//! Small futures the policies share.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project_lite::pin_project! {
    /// Polls `work`, then `timer`, until one is ready: see [`first`].
    pub(crate) struct First<W, S> {
        #[pin]
        work: Option<W>,
        #[pin]
        timer: S,
    }
}

impl<W: Future, S: Future<Output = ()>> Future for First<W, S> {
    type Output = Option<W::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(work) = this.work.as_mut().as_pin_mut() else {
            return Poll::Pending;
        };
        if let Poll::Ready(output) = work.poll(cx) {
            this.work.set(None);
            return Poll::Ready(Some(output));
        }
        if this.timer.poll(cx).is_ready() {
            this.work.set(None);
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}

/// Polls `work`, then `timer`, until one is ready: `Some(output)` if `work` finished (a
/// `work` ready in the same poll as the timer wins), `None` if the timer fired first; `work`
/// is dropped before this returns. No allocation: both live in the returned future.
pub(crate) fn first<W, S>(work: W, timer: S) -> First<W, S>
where
    W: Future,
    S: Future<Output = ()>,
{
    First {
        work: Some(work),
        timer,
    }
}
