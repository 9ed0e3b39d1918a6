//! Turning the bytes of a connection into requests: head, then body, then the next head.
//!
//! Pure: the connection feeds its read buffer in, whatever pieces the bytes arrived in, and
//! takes complete requests out. No I/O, so every split of a byte stream can be tested.

use std::rc::Rc;

use bytes::{Buf, Bytes, BytesMut};

use crate::config::Limits;
use crate::http::body::{Pipe, RequestBody};
use crate::http::chunked::ChunkedDecoder;
use crate::http::error::RequestError;
use crate::http::head::{parse_head, BodyFraming, Head, HeadScan};
use crate::http::request::Request;

/// What one call to [`RequestDecoder::decode`] produced.
#[derive(Debug)]
// Boxing the request would cost an allocation per request; the value lives one call.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Decoded {
    /// A complete request; its bytes are gone from the buffer.
    Request(Request),
    /// A request whose body will be streamed to it: dispatch it now, then keep calling
    /// `decode` to move body bytes into its [`RequestBody`].
    Streaming(Request),
    /// The head asked for `100-continue` and its body has not arrived: send 100 first.
    Continue,
    /// More bytes are needed (or, while streaming, room in the body pipe).
    Partial,
}

/// Which part of a request the connection is waiting for; each has its own timeout.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Between requests: nothing of the next one has arrived.
    Idle,
    /// Part of a head has arrived.
    Head,
    /// The head is complete; body bytes are due.
    Body,
}

/// How a streamed body is delimited.
enum StreamFraming {
    Length(u64),
    Chunked(ChunkedDecoder),
}

/// A parsed head waiting for its body: its bytes and what was learned from them. The
/// request is built once the body is complete; holding these 72 bytes instead of a whole
/// `Request` keeps every connection's session (and task) smaller.
struct ParsedHead {
    bytes: Bytes,
    parts: Head,
}

impl ParsedHead {
    fn of(request: Request) -> ParsedHead {
        let (bytes, parts) = request.into_parsed_head();
        ParsedHead { bytes, parts }
    }

    fn into_request(self, body: Bytes) -> Request {
        Request::new(self.bytes, self.parts, body)
    }
}

/// Where the decoder stands in the current request.
enum State {
    /// Reading the head.
    Head { scan: HeadScan, empty_lines: usize },
    /// The head is parsed and split off; waiting for `body_len` bytes.
    Length { head: ParsedHead, body_len: usize },
    /// Decoding chunks into `body`.
    Chunked {
        head: ParsedHead,
        chunks: ChunkedDecoder,
        body: BytesMut,
    },
    /// Handing the body of a dispatched request to its handler, chunk by chunk, up to
    /// `max_body` bytes (the route's streaming limit).
    Streaming {
        framing: StreamFraming,
        pipe: Rc<Pipe>,
        max_body: u64,
    },
    /// A streamed body was malformed or cut off: nothing after it can be trusted.
    Broken,
}

impl State {
    fn fresh() -> State {
        State::Head {
            scan: HeadScan::default(),
            empty_lines: 0,
        }
    }
}

/// Decodes a stream of pipelined requests.
pub(crate) struct RequestDecoder {
    state: State,
    continue_answered: bool,
}

impl RequestDecoder {
    pub fn new() -> Self {
        RequestDecoder {
            state: State::fresh(),
            continue_answered: false,
        }
    }

    /// True between requests: nothing of a next request has been consumed.
    pub fn is_idle(&self, buf: &[u8]) -> bool {
        matches!(self.state, State::Head { .. }) && buf.is_empty()
    }

    /// Whether a head or a body is in progress (given the unread input).
    pub fn phase(&self, buf: &[u8]) -> Phase {
        match self.state {
            State::Head { .. } if buf.is_empty() => Phase::Idle,
            State::Head { .. } => Phase::Head,
            _ => Phase::Body,
        }
    }

    /// True while a streamed body is still being delivered (or was cut off).
    pub fn is_streaming(&self) -> bool {
        matches!(self.state, State::Streaming { .. } | State::Broken)
    }

    /// The pipe of the body being streamed, if any.
    pub fn pipe(&self) -> Option<&Rc<Pipe>> {
        match &self.state {
            State::Streaming { pipe, .. } => Some(pipe),
            _ => None,
        }
    }

    /// How many more bytes the current request is known to need (0 when unknown), so the
    /// reader can size its buffer once instead of growing it step by step.
    pub fn wants(&self, buffered: usize) -> usize {
        match &self.state {
            State::Length { body_len, .. } => body_len.saturating_sub(buffered),
            _ => 0,
        }
    }

    /// The client went away: a streamed body ends with an error instead of waiting forever.
    pub fn input_closed(&mut self) {
        if let State::Streaming { pipe, .. } = &self.state {
            pipe.fail(RequestError::IncompleteBody);
            self.state = State::Broken;
        }
    }

    /// Takes the next complete request off the front of `buf`. `stream_limit` says, for a
    /// request with a body, whether its handler streams the body and up to how many bytes.
    pub fn decode(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
        stream_limit: &dyn Fn(&Request) -> Option<u64>,
    ) -> Result<Decoded, RequestError> {
        loop {
            match &mut self.state {
                State::Head { scan, empty_lines } => {
                    // RFC 9112 §2.2: ignore the empty lines `max_empty_lines` allows (default one).
                    while buf.starts_with(b"\r\n") {
                        buf.advance(2);
                        *empty_lines += 1;
                        if *empty_lines > limits.max_empty_lines {
                            return Err(RequestError::TooManyEmptyLines);
                        }
                    }
                    if buf.as_ref() == b"\r" {
                        return Ok(Decoded::Partial);
                    }
                    let Some(head_len) = scan.find_end(buf, limits)? else {
                        return Ok(Decoded::Partial);
                    };
                    // The body limit depends on whether the handler streams; checked below.
                    let head = parse_head(
                        buf.get(..head_len).unwrap_or_default(),
                        limits.max_headers,
                        u64::MAX,
                    )?;
                    self.continue_answered = false;
                    let framing = head.framing;
                    let bytes = buf.split_to(head_len).freeze();
                    if framing == BodyFraming::Empty {
                        self.reset();
                        return Ok(Decoded::Request(Request::new(bytes, head, Bytes::new())));
                    }
                    let request = Request::new(bytes, head, Bytes::new());
                    if let Some(limit) = stream_limit(&request) {
                        return self.start_stream(request, framing, limit);
                    }
                    let head = ParsedHead::of(request);
                    self.state = match framing {
                        BodyFraming::Length(n) if n > limits.max_body_bytes => {
                            return Err(RequestError::BodyTooLarge)
                        }
                        BodyFraming::Length(n) => State::Length {
                            head,
                            body_len: usize::try_from(n).map_err(|_| RequestError::BodyTooLarge)?,
                        },
                        _ => State::Chunked {
                            head,
                            chunks: ChunkedDecoder::new(),
                            body: BytesMut::new(),
                        },
                    };
                }
                State::Length { head, body_len } => {
                    let body_len = *body_len;
                    if buf.len() < body_len {
                        let expect = head.parts.expect_continue;
                        return Ok(self.partial_body(expect));
                    }
                    if let State::Length { head, .. } = self.take_state() {
                        let body = buf.split_to(body_len).freeze();
                        return Ok(Decoded::Request(head.into_request(body)));
                    }
                }
                State::Chunked { head, chunks, body } => {
                    if !chunks.decode(buf, body, limits)? {
                        let expect = head.parts.expect_continue;
                        return Ok(self.partial_body(expect));
                    }
                    if let State::Chunked { head, body, .. } = self.take_state() {
                        return Ok(Decoded::Request(head.into_request(body.freeze())));
                    }
                }
                State::Streaming {
                    framing,
                    pipe,
                    max_body,
                } => {
                    if pipe.is_full() {
                        return Ok(Decoded::Partial);
                    }
                    let finished = match framing {
                        StreamFraming::Length(remaining) => {
                            let take = usize::try_from(*remaining)
                                .unwrap_or(usize::MAX)
                                .min(buf.len());
                            if take > 0 {
                                pipe.push(buf.split_to(take).freeze());
                                *remaining -= take as u64;
                            }
                            *remaining == 0
                        }
                        StreamFraming::Chunked(chunks) => {
                            let mut out = BytesMut::new();
                            let stream_limits = Limits {
                                max_body_bytes: *max_body,
                                ..limits.clone()
                            };
                            let result = chunks.decode(buf, &mut out, &stream_limits);
                            pipe.push(out.freeze());
                            match result {
                                Ok(done) => done,
                                Err(error) => {
                                    // The handler owns the answer now; it sees the error.
                                    pipe.fail(error);
                                    self.state = State::Broken;
                                    return Ok(Decoded::Partial);
                                }
                            }
                        }
                    };
                    if !finished {
                        return Ok(Decoded::Partial);
                    }
                    pipe.finish();
                    self.reset();
                    // The next request waits until the streaming handler has answered.
                    return Ok(Decoded::Partial);
                }
                State::Broken => return Ok(Decoded::Partial),
            }
        }
    }

    fn start_stream(
        &mut self,
        mut request: Request,
        framing: BodyFraming,
        limit: u64,
    ) -> Result<Decoded, RequestError> {
        let framing = match framing {
            BodyFraming::Length(n) if n > limit => return Err(RequestError::BodyTooLarge),
            BodyFraming::Length(n) => StreamFraming::Length(n),
            _ => StreamFraming::Chunked(ChunkedDecoder::new()),
        };
        let pipe = Rc::new(Pipe::default());
        request.set_body_stream(RequestBody::new(pipe.clone()));
        self.state = State::Streaming {
            framing,
            pipe,
            max_body: limit,
        };
        Ok(Decoded::Streaming(request))
    }

    fn take_state(&mut self) -> State {
        std::mem::replace(&mut self.state, State::fresh())
    }

    fn partial_body(&mut self, expect_continue: bool) -> Decoded {
        if expect_continue && !self.continue_answered {
            self.continue_answered = true;
            Decoded::Continue
        } else {
            Decoded::Partial
        }
    }

    fn reset(&mut self) {
        self.state = State::fresh();
    }
}
