//! How a layer gets a request for each attempt: cloned, made once, or replayed from a buffer.

/// A layer's way of getting a request for each attempt; chosen with
/// [`PipelineLayer::replay`](super::PipelineLayer::replay). The inner service is called with
/// [`Request`](Self::Request), which may wrap the caller's request (as
/// [`BufferBodies`](super::BufferBodies) wraps the body).
///
/// - [`CloneRequests`] (the default of [`PipelineLayer::new`](super::PipelineLayer::new)):
///   `Req: Clone`, cloned for each attempt.
/// - [`OneAttempt`]: any request, sent once; retry and hedging never repeat it. The layers of
///   the policies that never repeat a request (rate limit, bulkhead, breaker, timeout) use it.
/// - [`BufferBodies`](super::BufferBodies) (feature `http`): `http::Request<B>` for any body,
///   replayed from a buffer up to a cap.
pub trait Replay<Req> {
    /// What the inner service is called with.
    type Request;
    /// The per-call state that makes the requests of later attempts.
    type Replayer: ReplayRequest<Request = Self::Request>;

    /// The first attempt's request, and the replayer for later ones. `repeats` is false when
    /// the pipeline can never ask for another attempt (no retry, no hedging): then nothing
    /// needs keeping for a replay.
    fn start(&self, request: Req, repeats: bool) -> (Self::Request, Self::Replayer);
}

/// Makes the request of another attempt of one call; see [`Replay`].
pub trait ReplayRequest {
    /// The request the inner service is called with.
    type Request;

    /// The request for the next attempt, or `None` when the request cannot be repeated (it
    /// is then not retried: the call ends with the last attempt's outcome). Attempts run one
    /// at a time unless [`concurrent`](Self::concurrent) says otherwise: making a new request
    /// may end the previous one (see [`BufferBodies`](super::BufferBodies)).
    fn replay(&mut self) -> Option<Self::Request>;

    /// Whether requests may be in flight at once (hedging): every `replay` must then succeed
    /// and leave earlier requests untouched. Hedging is skipped for a request that cannot.
    fn concurrent(&self) -> bool;
}

/// [`Replay`] by cloning: each attempt gets a clone of the caller's request.
///
/// ```
/// use palisade::tower::{CloneRequests, Replay, ReplayRequest};
/// let (first, mut replayer) = CloneRequests.start("GET /", true);
/// assert_eq!(first, "GET /");
/// assert_eq!(replayer.replay(), Some("GET /"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CloneRequests;

impl<Req: Clone> Replay<Req> for CloneRequests {
    type Request = Req;
    type Replayer = Cloned<Req>;

    fn start(&self, request: Req, repeats: bool) -> (Req, Cloned<Req>) {
        let keep = repeats.then(|| request.clone());
        (request, Cloned(keep))
    }
}

/// The [`ReplayRequest`] of [`CloneRequests`]: the request, kept to clone.
#[derive(Debug)]
pub struct Cloned<Req>(Option<Req>);

impl<Req: Clone> ReplayRequest for Cloned<Req> {
    type Request = Req;

    fn replay(&mut self) -> Option<Req> {
        self.0.clone()
    }

    fn concurrent(&self) -> bool {
        true
    }
}

/// [`Replay`] of any request, `Clone` or not, by not replaying it: one attempt per call.
/// Retry sees the failure of that attempt as not retryable (its
/// [`GaveUp`](crate::retry::RetryEvent::GaveUp) event says
/// [`NotRetryable`](crate::retry::StopReason::NotRetryable)) and hedging is skipped; every
/// other policy applies as usual.
///
/// ```
/// use palisade::tower::{OneAttempt, Replay, ReplayRequest};
/// struct Upload(Vec<u8>); // not Clone
/// let (first, mut replayer) = OneAttempt.start(Upload(vec![1, 2]), true);
/// assert_eq!(first.0, [1, 2]);
/// assert!(replayer.replay().is_none());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct OneAttempt;

impl<Req> Replay<Req> for OneAttempt {
    type Request = Req;
    type Replayer = Never<Req>;

    fn start(&self, request: Req, _: bool) -> (Req, Never<Req>) {
        (request, Never(std::marker::PhantomData))
    }
}

/// The [`ReplayRequest`] of [`OneAttempt`]: never another request.
pub struct Never<Req>(std::marker::PhantomData<fn() -> Req>);

impl<Req> ReplayRequest for Never<Req> {
    type Request = Req;

    fn replay(&mut self) -> Option<Req> {
        None
    }

    fn concurrent(&self) -> bool {
        false
    }
}

impl<Req> std::fmt::Debug for Never<Req> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Never")
    }
}
