//! [`BufferBodies`]: replaying `http::Request<B>` for any body `B`, from a buffer filled while
//! the first attempt streams.
//!
//! The source body is read once, by the newest attempt only. While the bytes read stay
//! within the cap, each data frame is kept (a [`Bytes`] clone: a reference count, not a
//! copy) and the trailers with them. A later attempt's body first yields what is kept, then
//! goes on reading the source where the earlier one stopped — so an attempt whose server
//! answered before reading the whole body is replayed too. Making a later attempt's request
//! supersedes the earlier bodies: polled again, they fail with [`Superseded`], and never
//! read the source. Once more than the cap has been read the kept frames are dropped and the
//! request cannot be replayed; the attempt that read them streams on to the end.

use std::error::Error as StdError;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http::request::Parts;
use http_body::{Body, Frame, SizeHint};

use super::replay::{Replay, ReplayRequest};

type BoxError = Box<dyn StdError + Send + Sync>;

/// [`Replay`] of `http::Request<B>` for any body: the first attempt streams the body at once
/// while keeping up to `limit` bytes of it (64 KiB by default); later attempts replay what
/// was kept and read on from where the source is. A body longer than the cap is sent once:
/// retry does not repeat it (its [`GaveUp`](crate::retry::RetryEvent::GaveUp) event says
/// [`NotRetryable`](crate::retry::StopReason::NotRetryable)), and the caller gets that
/// attempt's outcome — the failed response itself, when the classifier marked one.
///
/// Hedging runs attempts at once, so it applies only to requests whose body is empty from
/// the start (`GET`, `HEAD`, most `DELETE`s); a request with a body is never hedged.
///
/// The inner service receives `http::Request<ReplayBody<B>>`: the same head (extensions
/// included) with a body whose data is [`Bytes`] and whose error is a boxed error — what
/// axum's `Router`, hyper's client and tonic's channel take.
///
/// ```
/// use palisade::tower::{BufferBodies, Replay, ReplayRequest};
/// use http_body_util::BodyExt;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let request = http::Request::post("/upload").body(http_body_util::Full::<bytes::Bytes>::from("hello"))?;
/// let (first, mut replayer) = BufferBodies::up_to(1024).start(request, true);
/// assert_eq!(first.into_body().collect().await?.to_bytes(), "hello");
/// let again = replayer.replay().expect("5 bytes fit in 1 KiB");
/// assert_eq!(again.into_body().collect().await?.to_bytes(), "hello");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BufferBodies {
    limit: usize,
}

impl BufferBodies {
    /// The default cap: 64 KiB.
    pub const DEFAULT_LIMIT: usize = 64 * 1024;

    /// Replays bodies of up to [`DEFAULT_LIMIT`](Self::DEFAULT_LIMIT) bytes.
    pub fn new() -> Self {
        Self::up_to(Self::DEFAULT_LIMIT)
    }

    /// Replays bodies of up to `limit` bytes; `0` replays only empty bodies.
    pub fn up_to(limit: usize) -> Self {
        BufferBodies { limit }
    }

    /// The cap in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl Default for BufferBodies {
    fn default() -> Self {
        Self::new()
    }
}

impl<B> Replay<http::Request<B>> for BufferBodies
where
    B: Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Request = http::Request<ReplayBody<B>>;
    type Replayer = BodyReplayer<B>;

    fn start(&self, request: http::Request<B>, repeats: bool) -> (Self::Request, Self::Replayer) {
        let (parts, body) = request.into_parts();
        let (body, source) = if !repeats {
            (ReplayBody::direct(body), Source::None)
        } else if body.is_end_stream() {
            (ReplayBody::empty(), Source::Empty)
        } else {
            let shared = Arc::new(Mutex::new(Shared {
                source: Some(Box::pin(body)),
                chunks: Vec::new(),
                trailers: None,
                buffered: 0,
                limit: self.limit,
                replayable: true,
                ended: false,
                generation: 0,
            }));
            let body = ReplayBody::shared(shared.clone(), 0);
            (body, Source::Shared(shared))
        };
        let replayer = BodyReplayer {
            parts: parts.clone(),
            source,
        };
        (http::Request::from_parts(parts, body), replayer)
    }
}

/// The [`ReplayRequest`] of [`BufferBodies`]: the request head and the shared body buffer.
pub struct BodyReplayer<B> {
    parts: Parts,
    source: Source<B>,
}

enum Source<B> {
    /// The pipeline never repeats: nothing kept.
    None,
    /// The body was empty from the start.
    Empty,
    Shared(Arc<Mutex<Shared<B>>>),
}

impl<B: Body> ReplayRequest for BodyReplayer<B> {
    type Request = http::Request<ReplayBody<B>>;

    fn replay(&mut self) -> Option<Self::Request> {
        let body = match &self.source {
            Source::None => return None,
            Source::Empty => ReplayBody::empty(),
            Source::Shared(shared) => {
                let mut state = lock(shared);
                if !state.replayable {
                    return None;
                }
                // Supersedes every earlier body: only the newest reads the source.
                state.generation += 1;
                ReplayBody::shared(shared.clone(), state.generation)
            }
        };
        Some(http::Request::from_parts(self.parts.clone(), body))
    }

    fn concurrent(&self) -> bool {
        matches!(self.source, Source::Empty)
    }
}

impl<B> fmt::Debug for BodyReplayer<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyReplayer")
            .field("method", &self.parts.method)
            .field("uri", &self.parts.uri)
            .finish_non_exhaustive()
    }
}

/// The source body and what was kept of it, shared by every attempt's [`ReplayBody`].
struct Shared<B> {
    /// `None` once it ended or failed.
    source: Option<Pin<Box<B>>>,
    /// The data frames read so far, while within `limit`.
    chunks: Vec<Bytes>,
    trailers: Option<HeaderMap>,
    buffered: usize,
    limit: usize,
    /// False once more than `limit` bytes were read or the source failed.
    replayable: bool,
    ended: bool,
    /// The generation of the newest body; older ones are superseded.
    generation: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The body an attempt's request carries under [`BufferBodies`]: the caller's body, replayed
/// from what earlier attempts kept and then read on from the source. Only the newest
/// attempt's body reads the source: an earlier one polled after a later request was made
/// fails with [`Superseded`].
pub struct ReplayBody<B> {
    kind: Kind<B>,
}

enum Kind<B> {
    Empty,
    /// The pipeline never repeats: the source itself, nothing kept.
    Direct(Pin<Box<B>>),
    Shared {
        shared: Arc<Mutex<Shared<B>>>,
        generation: u64,
        /// The next kept chunk to yield.
        cursor: usize,
        trailers_sent: bool,
    },
}

impl<B> ReplayBody<B> {
    fn empty() -> Self {
        ReplayBody { kind: Kind::Empty }
    }

    fn direct(body: B) -> Self {
        ReplayBody {
            kind: Kind::Direct(Box::pin(body)),
        }
    }

    fn shared(shared: Arc<Mutex<Shared<B>>>, generation: u64) -> Self {
        ReplayBody {
            kind: Kind::Shared {
                shared,
                generation,
                cursor: 0,
                trailers_sent: false,
            },
        }
    }
}

/// A data frame's bytes as [`Bytes`]: free for a `Bytes` source, one copy otherwise.
fn into_bytes<D: Buf>(frame: Frame<D>) -> Frame<Bytes> {
    frame.map_data(|mut data| data.copy_to_bytes(data.remaining()))
}

impl<B> Body for ReplayBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let (shared, generation, cursor, trailers_sent) = match &mut self.get_mut().kind {
            Kind::Empty => return Poll::Ready(None),
            Kind::Direct(body) => {
                let frame = ready!(body.as_mut().poll_frame(cx));
                return Poll::Ready(frame.map(|f| f.map(into_bytes).map_err(Into::into)));
            }
            Kind::Shared {
                shared,
                generation,
                cursor,
                trailers_sent,
            } => (shared, *generation, cursor, trailers_sent),
        };
        let mut state = lock(shared);
        if state.generation != generation {
            return Poll::Ready(Some(Err(Box::new(Superseded))));
        }
        if state.replayable && *cursor < state.chunks.len() {
            *cursor += 1;
            return Poll::Ready(Some(Ok(Frame::data(state.chunks[*cursor - 1].clone()))));
        }
        if state.ended {
            let trailers = state.trailers.clone().filter(|_| !*trailers_sent);
            *trailers_sent = true;
            return Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t))));
        }
        let Some(source) = state.source.as_mut() else {
            // The source failed under an earlier attempt (which got the error).
            return Poll::Ready(Some(Err(Box::new(Superseded))));
        };
        let frame = match ready!(source.as_mut().poll_frame(cx)) {
            None => {
                state.ended = true;
                state.source = None;
                return Poll::Ready(None);
            }
            Some(Err(error)) => {
                state.replayable = false;
                state.source = None;
                return Poll::Ready(Some(Err(error.into())));
            }
            Some(Ok(frame)) => into_bytes(frame),
        };
        if state.replayable {
            if let Some(data) = frame.data_ref() {
                if state.buffered + data.len() <= state.limit {
                    state.buffered += data.len();
                    state.chunks.push(data.clone());
                    *cursor += 1;
                } else {
                    // Past the cap: this attempt streams on alone, nothing more is kept.
                    state.replayable = false;
                    state.chunks = Vec::new();
                }
            } else if let Some(trailers) = frame.trailers_ref() {
                state.trailers = Some(trailers.clone());
            }
        }
        if frame.is_trailers() {
            *trailers_sent = true;
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Direct(body) => body.is_end_stream(),
            Kind::Shared {
                shared,
                generation,
                cursor,
                trailers_sent,
            } => {
                let state = lock(shared);
                state.generation == *generation
                    && state.ended
                    && (!state.replayable || *cursor >= state.chunks.len())
                    && (*trailers_sent || state.trailers.is_none())
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Direct(body) => body.size_hint(),
            Kind::Shared { shared, cursor, .. } => {
                let state = lock(shared);
                let kept: u64 = if state.replayable {
                    let rest = state.chunks.get(*cursor..).unwrap_or_default();
                    rest.iter().map(|chunk| chunk.len() as u64).sum()
                } else {
                    0
                };
                let source = match &state.source {
                    Some(source) => source.size_hint(),
                    None => SizeHint::with_exact(0),
                };
                let mut hint = SizeHint::new();
                hint.set_lower(source.lower().saturating_add(kept));
                if let Some(upper) = source.upper() {
                    hint.set_upper(upper.saturating_add(kept));
                }
                hint
            }
        }
    }
}

impl<B> fmt::Debug for ReplayBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Empty => "empty",
            Kind::Direct(_) => "direct",
            Kind::Shared { .. } => "shared",
        };
        f.debug_struct("ReplayBody").field("kind", &kind).finish()
    }
}

/// The error of a [`ReplayBody`] polled after a later attempt's request was made (or after
/// the source failed under an earlier attempt): only the newest attempt reads the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Superseded;

impl fmt::Display for Superseded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("request body superseded by a later attempt")
    }
}

impl StdError for Superseded {}
