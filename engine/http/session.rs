//! One connection's protocol state without its socket: bytes in, responses out.
//!
//! The connection loop (`conn`) reads into a session, lets it answer every complete
//! request, and writes what it produced. Because no socket is involved, tests, fuzzers and
//! other transports can drive exactly the code a live connection runs.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};

use crate::app::handler::Handler;
use crate::config::Limits;
use crate::http::body::Pipe;
pub(crate) use crate::http::decode::Phase;
use crate::http::decode::{Decoded, RequestDecoder};
use crate::http::encode::{encode_response, Framing, CONTINUE};
use crate::http::error::RequestError;
use crate::http::head::Version;
use crate::http::origin::Origin;
use crate::http::proxy_protocol::{parse_proxy_header, ProxyHeader};
use crate::http::request::Request;
use crate::http::response::{BodyStream, FileBody, Response};
use crate::http::timing::Run;
use crate::ops::metrics::ShardMetrics;
use crate::ops::shedding::Shedder;
use crate::server::pool;
use crate::server::unwind;

/// Where a session stands after a batch.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Reading the next request (or the rest of the current one).
    Open,
    /// The last response carries `Connection: close`: write the output, then close.
    Closing,
    /// A request was refused with the given error: write the output, linger, close.
    Failed(RequestError),
}

/// The quick answer while the shard sheds load.
#[cold]
fn overloaded(retry_after: u32) -> Response {
    Response::text("overloaded, retry later")
        .with_status(503)
        .with_header(
            "retry-after",
            itoa::Buffer::new().format(retry_after).to_string(),
        )
}

/// The answer to a request whose handler panicked: the shard serves on, this connection
/// closes (the handler's state for it may be half-updated).
#[cold]
pub(crate) fn handler_panicked() -> Response {
    Response::text("internal server error\n")
        .with_status(500)
        .with_close()
}

/// What a caught panic's log line names of its request: its request line, held as a
/// slice of the head (a reference count, no copy), quoted cut short (the peer's bytes; the
/// log line stays bounded).
struct RequestSummary(bytes::Bytes);

impl RequestSummary {
    /// Longest part of the request line the log line quotes.
    const QUOTED_BYTES: usize = 120;

    fn of(request: &Request) -> RequestSummary {
        RequestSummary(request.request_line())
    }
}

impl std::fmt::Display for RequestSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let quoted = self.0.get(..Self::QUOTED_BYTES).unwrap_or(&self.0);
        write!(f, "{:?}", String::from_utf8_lossy(quoted))
    }
}

/// What the keep-alive decision weighs, besides the response itself.
struct KeepAliveFacts {
    /// The client's wish (RFC 9112 §9.3: HTTP/1.1 unless `Connection: close`, HTTP/1.0
    /// only with `Connection: keep-alive`), from the request's head.
    client_wants: bool,
    /// The shard is draining: every response closes.
    draining: bool,
    /// The body is streamed to an HTTP/1.0 client, so only the close can delimit it.
    delimited_by_close: bool,
    /// A streamed request body the handler did not read to the end: it cannot be
    /// skipped safely, so the rest is never parsed as a request.
    body_left: bool,
    /// This was the last request `Config::max_requests_per_connection` allows.
    last_allowed: bool,
}

/// Statuses that never carry a body (RFC 9110 §6.4.1).
fn bodiless(status: u16) -> bool {
    (100..200).contains(&status) || status == 204 || status == 304
}

/// The keep-alive decision, in one place: whether the connection stays open after this
/// response. Refusals (`Session::refuse`, a decode error) always close and do not ask.
fn keep_alive(facts: KeepAliveFacts, response: &Response) -> bool {
    facts.client_wants
        && !response.close
        && !facts.draining
        && !facts.delimited_by_close
        && !facts.body_left
        && !facts.last_allowed
}

/// The protocol side of one connection.
///
/// ```
/// use ringpin::{Limits, Response, Session, SessionState};
///
/// let mut session = Session::new(&Limits::default());
/// session.receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
/// let handler = |_req: ringpin::Request| async { Response::text("hi") };
/// futures_lite::future::block_on(session.answer(&handler, false));
/// assert!(session.output().starts_with(b"HTTP/1.1 200 OK\r\n"));
/// assert_eq!(session.state(), SessionState::Open);
/// ```
pub struct Session {
    /// Shared by every session of a shard: one copy, not one per connection.
    limits: Rc<Limits>,
    decoder: RequestDecoder,
    input: BytesMut,
    output: BytesMut,
    state: SessionState,
    /// What the connection sends or runs after the output: a streamed body, a file body,
    /// or a WebSocket upgrade (one field for all keeps the connection's task small).
    streaming: Option<AfterOutput>,
    /// Boxed: a streamed upload is rare, and an inline `Request` would sit in every
    /// connection's memory.
    streaming_request: Option<Box<Request>>,
    served: u64,
    max_requests: Option<u64>,
    /// The shard's shedder and the `Retry-After` its refusals carry.
    shedder: Option<(Rc<Shedder>, u32)>,
    metrics: Option<ShardMetrics>,
    input_at: Option<Instant>,
    /// The connection's addresses, handed to each request (a reference count).
    origin: Option<Rc<Origin>>,
}

impl Drop for Session {
    /// A closed connection's buffers go to the next connection, not to the allocator.
    fn drop(&mut self) {
        pool::give(std::mem::take(&mut self.input));
        pool::give(std::mem::take(&mut self.output));
    }
}

/// What [`Session::decode_next`] found.
// Boxing the request would cost an allocation per request; the value lives one call.
#[allow(clippy::large_enum_variant)]
enum Next {
    /// A request for the handler.
    Call(Request, Dispatched),
    /// A request answered without the handler (shed).
    Answered,
    /// Something was done that needs no answer count; decode again (the loop's conditions
    /// stop it where needed).
    Again,
    /// Nothing more to decode now.
    Stop,
}

/// A request on its way through the handler: what its response and its metrics need.
struct Dispatched {
    meta: RequestMeta,
    bytes_in: usize,
    output_before: usize,
}

/// What a request's response framing depends on, noted before the handler takes it.
#[derive(Copy, Clone, Debug)]
pub(crate) struct RequestMeta {
    head_only: bool,
    keep_alive: bool,
    http10: bool,
}

impl RequestMeta {
    /// Notes what `request` asks of its response.
    pub(crate) fn of(request: &Request) -> RequestMeta {
        RequestMeta {
            head_only: request.is_head(),
            keep_alive: request.keep_alive(),
            http10: request.version() == Version::Http10,
        }
    }
}

/// What [`Session::feed_body`] needs next.
pub(crate) enum BodyFeed {
    /// Nothing more to deliver (the body is complete, or the handler dropped it).
    Done,
    /// Bytes from the socket.
    NeedInput,
    /// Room: the handler has not read what was delivered. Await [`PipeRoom::ready`].
    Full(PipeRoom),
}

/// A wait for the streaming handler to read.
pub(crate) struct PipeRoom(Rc<Pipe>);

impl PipeRoom {
    /// Completes once the handler has read enough, or dropped the body.
    pub async fn ready(self) {
        self.0.writable().await
    }
}

/// What follows a response's head in the output.
enum AfterOutput {
    Body(StreamedBody),
    /// A file region, zero-copy (boxed: it is larger than a stream's handle).
    File(Box<FileBody>),
    Upgrade(Box<dyn std::any::Any>),
}

/// A response body still to be sent piece by piece after the head in the output.
pub(crate) struct StreamedBody {
    /// The pieces.
    pub body: BodyStream,
    /// Chunked framing (HTTP/1.1), or raw bytes ended by closing (HTTP/1.0).
    pub chunked: bool,
}

impl Session {
    /// A fresh session enforcing `limits`.
    pub fn new(limits: &Limits) -> Session {
        Session::with_limits(Rc::new(limits.clamped()))
    }

    /// A fresh session enforcing `limits`, already clamped (a shard's, shared by all its
    /// sessions).
    pub(crate) fn with_limits(limits: Rc<Limits>) -> Session {
        Session {
            decoder: RequestDecoder::new(),
            // Allocated when the first bytes arrive, released again when the connection idles
            // (see `release_buffers`): an idle connection holds no buffer.
            input: BytesMut::new(),
            output: BytesMut::new(),
            state: SessionState::Open,
            streaming: None,
            streaming_request: None,
            served: 0,
            max_requests: None,
            shedder: None,
            metrics: None,
            input_at: None,
            origin: None,
            limits,
        }
    }

    /// Sets the address the session's bytes come from, which its requests report as
    /// [`Request::peer_addr`] and [`Request::client_addr`]; without it they say `0.0.0.0:0`.
    pub fn set_peer_addr(&mut self, peer: SocketAddr) {
        self.set_origin(Rc::new(Origin {
            peer,
            proxied: None,
            trusted: Rc::from([]),
        }));
    }

    /// Sets the connection's addresses, as accept and the PROXY header gave them.
    pub(crate) fn set_origin(&mut self, origin: Rc<Origin>) {
        self.origin = Some(origin);
    }

    /// Looks for the PROXY header at the start of the input; once it is complete, takes it
    /// out, so the first request starts at the byte after it (in the same read or not),
    /// and records its source address in the origin set before.
    pub(crate) fn take_proxy_header(&mut self) -> ProxyHeader {
        let parsed = parse_proxy_header(&self.input);
        if let ProxyHeader::Complete { len, source } = parsed {
            self.input.advance(len.min(self.input.len()));
            // No request holds the origin yet: it is changed in place.
            if let Some(origin) = self.origin.as_mut().and_then(Rc::get_mut) {
                origin.proxied = source;
            }
        }
        parsed
    }

    /// Appends bytes received from the peer (a copy; the live loop reads in place instead).
    pub fn receive(&mut self, bytes: &[u8]) {
        if self.input.capacity() == 0 {
            self.input = pool::take(self.limits.read_buffer_bytes.max(bytes.len()));
        }
        self.input.extend_from_slice(bytes);
    }

    /// Gives the read and write buffers back to the shard's free list if nothing is in
    /// them and no request is under way, so a connection that idles holds no buffer; it
    /// takes buffers again when the next bytes arrive. Returns whether they were released.
    pub(crate) fn release_buffers(&mut self) -> bool {
        let quiet = self.is_idle() && self.output.is_empty() && self.streaming.is_none();
        if quiet {
            pool::give(std::mem::take(&mut self.input));
            pool::give(std::mem::take(&mut self.output));
        }
        quiet
    }

    /// Whether the session holds a read buffer.
    pub(crate) fn has_buffers(&self) -> bool {
        self.input.capacity() > 0
    }

    /// Decodes and answers every complete request in the input, up to
    /// `Limits::max_pipelined_requests`, appending responses to the output. Returns how
    /// many requests were answered. Does nothing once the state is not `Open`.
    ///
    /// A response with a streamed body ends the batch: its head is in the output and its
    /// body waits in the session; the transport sends it before calling
    /// `answer` again, so pipelined responses stay in order.
    pub async fn answer<H: Handler>(&mut self, handler: &H, draining: bool) -> usize {
        let mut answered = 0;
        // The requests answered since the last clock read (with metrics only).
        let mut run: Option<Run> = None;
        while self.state == SessionState::Open
            && self.streaming.is_none()
            && self.streaming_request.is_none()
            && !self.batch_full(answered)
        {
            // The decoded request goes straight into the handler's future: built in this
            // statement, so the task holds one request across the wait, not two. The call and
            // every poll run under `unwind::catch` (a panic: a 500 with a close, counted by
            // route, logged), here and not in an async fn taking the request: that fn's
            // future would hold the request twice more (its argument and the local it is
            // moved to) beside the handler's future (tests: the connection future's size).
            if run.is_none() && self.metrics.is_some() && !self.input.is_empty() {
                run = Some(Run::starting(Instant::now()));
            }
            let (call, summary, route, dispatched) = match self.decode_next(handler, draining) {
                Next::Call(request, dispatched) => {
                    let summary = RequestSummary::of(&request);
                    match unwind::catch(|| handler.call(request)) {
                        Ok(call) => (
                            unwind::Caught::new(call),
                            summary,
                            unwind::take_route(),
                            dispatched,
                        ),
                        Err(panic) => {
                            let route = unwind::take_route();
                            let response = self.panicked(&summary, route.as_deref(), &panic);
                            let status = response.status();
                            self.respond(dispatched.meta, response, draining);
                            self.count(&dispatched, status);
                            if let Some(run) = &mut run {
                                run.answered();
                            }
                            answered += 1;
                            continue;
                        }
                    }
                }
                Next::Answered => {
                    if let Some(run) = &mut run {
                        run.answered();
                    }
                    answered += 1;
                    continue;
                }
                Next::Again => continue,
                Next::Stop => break,
            };
            let mut call = std::pin::pin!(call);
            // When the handler first waited: its run ends there, and it is timed alone.
            let mut paused: Option<Instant> = None;
            let timed = run.is_some();
            let outcome = std::future::poll_fn(|cx| {
                let polled = std::future::Future::poll(call.as_mut(), cx);
                if polled.is_pending() && timed && paused.is_none() {
                    paused = Some(Instant::now());
                }
                polled
            })
            .await;
            let response = match outcome {
                Ok(response) => response,
                Err(panic) => self.panicked(&summary, route.as_deref(), &panic),
            };
            let status = response.status();
            self.respond(dispatched.meta, response, draining);
            self.count(&dispatched, status);
            match (paused, &mut run) {
                (Some(paused), Some(before)) => {
                    // The run before it ended where it began to wait (its parse and first
                    // poll, well under a microsecond, counted in the run's time).
                    before.record(self.metrics.as_ref(), self.input_at, paused);
                    let now = Instant::now();
                    Run::alone(paused).record(self.metrics.as_ref(), self.input_at, now);
                    run = Some(Run::starting(now));
                }
                (_, Some(run)) => run.answered(),
                (_, None) => {}
            }
            answered += 1;
        }
        if let Some(run) = &run {
            run.record(self.metrics.as_ref(), self.input_at, Instant::now());
        }
        answered
    }

    /// Counts and logs a caught handler panic on `route` (the router's pattern, if one
    /// was noted); returns its answer.
    #[cold]
    fn panicked(
        &self,
        summary: &RequestSummary,
        route: Option<&str>,
        panic: &unwind::Panic,
    ) -> Response {
        let route = route.unwrap_or("-");
        if let Some(metrics) = &self.metrics {
            metrics.handler_panicked(route);
        }
        unwind::log(&format!("the handler of {summary} (route {route})"), panic);
        handler_panicked()
    }

    /// Decodes the next request: one for the handler, or what was done instead (a shed
    /// request answered 503, a streaming request set aside, `100 Continue` queued, an error
    /// answered).
    fn decode_next<H: Handler>(&mut self, handler: &H, draining: bool) -> Next {
        let buffered = self.input.len();
        let decoded = self
            .decoder
            .decode(&mut self.input, &self.limits, &|request| {
                handler.body_stream_limit(request)
            });
        let dispatched = Dispatched {
            meta: RequestMeta {
                head_only: false,
                keep_alive: false,
                http10: false,
            },
            bytes_in: buffered.saturating_sub(self.input.len()),
            output_before: self.output.len(),
        };
        if !matches!(decoded, Ok(Decoded::Partial)) {
            // Something will be written: take the write buffer now (not while a slow head
            // trickles in), from the shard's free list.
            self.take_output_buffer();
        }
        match decoded {
            Ok(Decoded::Request(mut request)) => {
                request.set_origin(self.origin.clone());
                let dispatched = Dispatched {
                    meta: RequestMeta::of(&request),
                    ..dispatched
                };
                match self.shed_now() {
                    None => Next::Call(request, dispatched),
                    Some(retry) => {
                        if let Some(m) = &self.metrics {
                            m.shed();
                        }
                        drop(request);
                        self.respond(dispatched.meta, overloaded(retry), draining);
                        self.count(&dispatched, 503);
                        Next::Answered
                    }
                }
            }
            Ok(Decoded::Streaming(mut request)) => {
                request.set_origin(self.origin.clone());
                if let Some(retry) = self.shed_now() {
                    // Refused before any body byte is read: nothing of it can be trusted
                    // as the next request, so the connection closes after the 503.
                    if let Some(m) = &self.metrics {
                        m.shed();
                    }
                    let meta = RequestMeta::of(&request);
                    drop(request);
                    self.respond(meta, overloaded(retry).with_close(), draining);
                    return Next::Answered;
                }
                if request.expects_continue() {
                    self.output.extend_from_slice(CONTINUE);
                }
                self.streaming_request = Some(Box::new(request));
                Next::Again
            }
            Ok(Decoded::Continue) => {
                self.output.extend_from_slice(CONTINUE);
                Next::Stop
            }
            Ok(Decoded::Partial) => Next::Stop,
            Err(error) => {
                self.refuse(error);
                if let Some(m) = &self.metrics {
                    let bytes_out = self.output.len() - dispatched.output_before;
                    m.request_done(
                        error.status(),
                        dispatched.bytes_in,
                        bytes_out,
                        Duration::ZERO,
                        Duration::ZERO,
                    );
                }
                Next::Again
            }
        }
    }

    /// Gives the session a write buffer from the shard's free list if it has none.
    fn take_output_buffer(&mut self) {
        if self.output.capacity() == 0 {
            self.output = pool::take(self.limits.read_buffer_bytes);
        }
    }

    /// Counts an answered request in the shard's metrics: its status and bytes (its times
    /// are its run's, see [`Run`]).
    fn count(&self, dispatched: &Dispatched, status: u16) {
        if let Some(m) = &self.metrics {
            let bytes_out = self.output.len() - dispatched.output_before;
            m.request_counted(status, dispatched.bytes_in, bytes_out);
        }
    }

    /// True when a batch of `answered` requests must end so its output is written first:
    /// `Limits::max_pipelined_requests` answered, or `Limits::max_pipelined_bytes` of
    /// responses waiting. Requests left in the input are answered by the next batch.
    pub(crate) fn batch_full(&self, answered: usize) -> bool {
        answered >= self.limits.max_pipelined_requests
            || self.output.len() >= self.limits.max_pipelined_bytes
    }

    /// Records every answered request into `metrics` from now on.
    pub(crate) fn set_metrics(&mut self, metrics: ShardMetrics) {
        self.metrics = Some(metrics);
    }

    /// When the bytes now in the input arrived; queueing delay is measured from it.
    pub(crate) fn note_input_at(&mut self, at: Instant) {
        self.input_at = Some(at);
    }

    /// Encodes the handler's `response` to a request described by `meta`: framing, the
    /// keep-alive decision, and a streamed body set aside for the transport.
    pub(crate) fn respond(&mut self, meta: RequestMeta, mut response: Response, draining: bool) {
        self.take_output_buffer();
        self.served += 1;
        let facts = KeepAliveFacts {
            client_wants: meta.keep_alive,
            draining,
            delimited_by_close: response.is_streamed() && meta.http10 && !meta.head_only,
            body_left: self.decoder.is_streaming(),
            last_allowed: self.max_requests.is_some_and(|max| self.served >= max),
        };
        let mut framing = Framing {
            head_only: meta.head_only,
            keep_alive: keep_alive(facts, &response),
            http10: meta.http10,
        };
        if response.is_upgrade() && !framing.keep_alive {
            // Draining, or the connection's last request: no new protocol on it.
            response = Response::new(503).with_body("the server is not taking upgrades now\n");
        } else if response.is_upgrade() && meta.head_only {
            response.take_upgrade();
        }
        if response.is_upgrade() {
            framing.keep_alive = true;
        }
        encode_response(&response, framing, &mut self.output);
        if let Some(upgrade) = response.take_upgrade() {
            self.streaming = Some(AfterOutput::Upgrade(upgrade));
        }
        if !framing.keep_alive {
            self.state = SessionState::Closing;
        }
        if !meta.head_only {
            if let Some(body) = response.take_stream() {
                self.streaming = Some(AfterOutput::Body(StreamedBody {
                    body,
                    chunked: !meta.http10,
                }));
            } else if let Some(file) = response.take_file() {
                if !file.is_empty() && !bodiless(response.status) {
                    self.streaming = Some(AfterOutput::File(Box::new(file)));
                }
            }
        }
    }

    /// A request whose handler streams its body, dispatched by [`Session::answer`]: the
    /// transport calls the handler while it keeps [`Session::feed_body`] going, then hands
    /// the response to [`Session::respond`].
    pub(crate) fn take_streaming_request(&mut self) -> Option<Request> {
        self.streaming_request.take().map(|request| *request)
    }

    /// Moves body bytes from the input to the streaming handler; says what is needed next.
    pub(crate) fn feed_body(&mut self) -> BodyFeed {
        let Some(pipe) = self.decoder.pipe().cloned() else {
            return BodyFeed::Done;
        };
        if pipe.reader_gone() {
            return BodyFeed::Done;
        }
        if !pipe.is_full() {
            // Errors inside a streamed body go to the handler through the pipe.
            let _ = self
                .decoder
                .decode(&mut self.input, &self.limits, &|_| None);
        }
        match self.decoder.pipe() {
            None => BodyFeed::Done,
            Some(pipe) if pipe.is_full() => BodyFeed::Full(PipeRoom(pipe.clone())),
            Some(_) => BodyFeed::NeedInput,
        }
    }

    /// Caps the requests served on this connection: the last one's response closes it.
    pub(crate) fn set_max_requests(&mut self, max: Option<u64>) {
        self.max_requests = max;
    }

    /// Asks `shedder` before each request; a refused one is answered 503 with
    /// `Retry-After: retry_after_secs` instead of reaching the handler.
    pub(crate) fn set_shedder(&mut self, shedder: Rc<Shedder>, retry_after_secs: u32) {
        self.shedder = Some((shedder, retry_after_secs));
    }

    /// `Some(retry_after_secs)` if the next request is to be refused (load shedding).
    fn shed_now(&self) -> Option<u32> {
        let (shedder, retry_after) = self.shedder.as_ref()?;
        (!shedder.admit()).then_some(*retry_after)
    }

    /// Refuses the request in progress with `error` (a timeout, say): its response goes to
    /// the output and the session fails.
    pub(crate) fn refuse(&mut self, error: RequestError) {
        if self.state != SessionState::Open {
            return;
        }
        self.take_output_buffer();
        let framing = Framing {
            head_only: false,
            keep_alive: false,
            http10: false,
        };
        encode_response(&Response::from_error(error), framing, &mut self.output);
        self.state = SessionState::Failed(error);
    }

    /// Which part of a request is awaited.
    pub(crate) fn phase(&self) -> Phase {
        self.decoder.phase(&self.input)
    }

    /// Requests answered so far.
    pub fn served(&self) -> u64 {
        self.served
    }

    /// The peer closed its side: a streamed body in progress ends with an error.
    pub(crate) fn input_closed(&mut self) {
        self.decoder.input_closed();
    }

    /// The WebSocket upgrade of the last response answered (its `101` is in the output):
    /// the connection runs it on its transport instead of reading another request.
    pub(crate) fn take_upgrade(&mut self) -> Option<Box<dyn std::any::Any>> {
        match self.streaming.take() {
            Some(AfterOutput::Upgrade(upgrade)) => Some(upgrade),
            other => {
                self.streaming = other;
                None
            }
        }
    }

    /// The bytes read past the last request (after an upgrade: the new protocol's first).
    pub(crate) fn take_input(&mut self) -> BytesMut {
        std::mem::take(&mut self.input)
    }

    /// The streamed body of the last response answered, if it has one: send its pieces
    /// (see [`Session::push_chunk`]) and then [`Session::finish_chunks`].
    pub(crate) fn take_streamed_body(&mut self) -> Option<StreamedBody> {
        match self.streaming.take() {
            Some(AfterOutput::Body(body)) => Some(body),
            other => {
                self.streaming = other;
                None
            }
        }
    }

    /// The file body of the last response answered, if it has one: the transport sends it
    /// after the output (the head), then calls [`Session::answer`] again.
    pub(crate) fn take_file_body(&mut self) -> Option<FileBody> {
        match self.streaming.take() {
            Some(AfterOutput::File(file)) => Some(*file),
            other => {
                self.streaming = other;
                None
            }
        }
    }

    /// Appends one piece of a streamed body to the output, framed as the body needs.
    pub(crate) fn push_chunk(&mut self, data: &[u8], chunked: bool) {
        crate::http::encode::encode_chunk(data, chunked, &mut self.output);
    }

    /// Appends the end of a streamed body (the last chunk, when chunked).
    pub(crate) fn finish_chunks(&mut self, chunked: bool) {
        if chunked {
            self.output
                .extend_from_slice(crate::http::encode::LAST_CHUNK);
        }
    }

    /// Ends the connection after the current output (a streamed body cut short).
    pub(crate) fn close_after_output(&mut self) {
        if self.state == SessionState::Open {
            self.state = SessionState::Closing;
        }
    }

    /// What the session has produced and not yet been told is written.
    pub fn output(&self) -> &[u8] {
        &self.output
    }

    /// The output buffer itself, for a writer that takes it whole (the own ring's send
    /// keeps it until the kernel is done) and gives it back empty.
    pub(crate) fn output_mut(&mut self) -> &mut BytesMut {
        &mut self.output
    }

    /// Marks the output as written.
    pub fn clear_output(&mut self) {
        self.output.clear();
    }

    /// The state after the last batch.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// True between requests: no byte of a next request has arrived.
    pub fn is_idle(&self) -> bool {
        self.decoder.is_idle(&self.input)
    }

    /// The limits this session enforces (clamped to what the engine supports).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The read buffer, for the connection loop to read into, with how many more bytes the
    /// current request is known to need. It takes no buffer from the free list: a
    /// transport gives an empty input one when bytes arrive (the own ring hands over the
    /// buffer they arrived in), so a connection waiting for its next request holds none.
    pub(crate) fn input_for_read(&mut self) -> (&mut BytesMut, usize) {
        let wants = self.decoder.wants(self.input.len());
        (&mut self.input, wants)
    }
}
