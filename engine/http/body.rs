//! A request body read as a stream: chunks handed from the connection to the handler with
//! backpressure, for uploads larger than anything the engine should buffer.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_lite::Stream;

use crate::http::error::RequestError;

/// Bytes the connection hands over before it waits for the handler to read. While it waits
/// it stops reading the socket, so TCP flow control slows the client down.
pub(crate) const PIPE_HIGH_WATER: usize = 64 * 1024;

#[derive(Default)]
struct PipeState {
    chunks: VecDeque<Bytes>,
    buffered: usize,
    finished: bool,
    error: Option<RequestError>,
    reader_gone: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

/// The hand-over point between the connection (writer) and the handler (reader).
#[derive(Default)]
pub(crate) struct Pipe {
    state: RefCell<PipeState>,
}

impl Pipe {
    fn wake_reader(state: &mut PipeState) {
        if let Some(waker) = state.reader.take() {
            waker.wake();
        }
    }

    pub fn push(&self, chunk: Bytes) {
        let mut state = self.state.borrow_mut();
        if chunk.is_empty() || state.reader_gone {
            return;
        }
        state.buffered += chunk.len();
        state.chunks.push_back(chunk);
        Pipe::wake_reader(&mut state);
    }

    pub fn finish(&self) {
        let mut state = self.state.borrow_mut();
        state.finished = true;
        Pipe::wake_reader(&mut state);
    }

    pub fn fail(&self, error: RequestError) {
        let mut state = self.state.borrow_mut();
        state.error = Some(error);
        Pipe::wake_reader(&mut state);
    }

    /// True while the handler has not read what is buffered (and still holds the body).
    pub fn is_full(&self) -> bool {
        let state = self.state.borrow();
        !state.reader_gone && state.buffered >= PIPE_HIGH_WATER
    }

    /// True once the handler has dropped the body: nothing more needs delivering.
    pub fn reader_gone(&self) -> bool {
        self.state.borrow().reader_gone
    }

    /// Waits until the handler has read enough to make room, or has dropped the body.
    pub async fn writable(&self) {
        poll_fn(|cx| {
            let mut state = self.state.borrow_mut();
            if state.reader_gone || state.buffered < PIPE_HIGH_WATER {
                Poll::Ready(())
            } else {
                state.writer = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    fn poll_chunk(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, RequestError>>> {
        let mut state = self.state.borrow_mut();
        if let Some(chunk) = state.chunks.pop_front() {
            state.buffered -= chunk.len();
            if let Some(waker) = state.writer.take() {
                waker.wake();
            }
            return Poll::Ready(Some(Ok(chunk)));
        }
        if let Some(error) = state.error.take() {
            state.finished = true;
            return Poll::Ready(Some(Err(error)));
        }
        if state.finished {
            return Poll::Ready(None);
        }
        state.reader = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// The body of a request whose route asked for streaming (see
/// [`crate::MethodRouter::with_streaming_body`]): chunks as they arrive, with backpressure.
/// Dropping it early makes the engine close the connection after the response instead of
/// reading the rest.
pub struct RequestBody {
    pipe: Rc<Pipe>,
}

impl RequestBody {
    pub(crate) fn new(pipe: Rc<Pipe>) -> RequestBody {
        RequestBody { pipe }
    }

    /// The next chunk; `None` at the end of the body; an error if the body was malformed
    /// (a bad chunk, over the route's limit) or the client went away mid-body.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, RequestError>> {
        poll_fn(|cx| self.pipe.poll_chunk(cx)).await
    }
}

impl Stream for RequestBody {
    type Item = Result<Bytes, RequestError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.pipe.poll_chunk(cx)
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        let mut state = self.pipe.state.borrow_mut();
        state.reader_gone = true;
        state.chunks.clear();
        state.buffered = 0;
        if let Some(waker) = state.writer.take() {
            waker.wake();
        }
    }
}
