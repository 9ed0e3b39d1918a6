//! Turning the bytes of a connection into requests: head, then body, then the next head.
//!
//! Pure: the connection feeds its read buffer in, whatever pieces the bytes arrived in, and
//! takes complete requests out. No I/O, so every split of a byte stream can be tested.

use bytes::{Buf, Bytes, BytesMut};

use crate::chunked::ChunkedDecoder;
use crate::config::Limits;
use crate::error::RequestError;
use crate::head::{parse_head, Framing, Head, HeadScan};
use crate::request::Request;

/// What one call to [`RequestDecoder::decode`] produced.
#[derive(Debug)]
// Boxing the request would cost an allocation per request; the value lives one call.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Decoded {
    /// A complete request; its bytes are gone from the buffer.
    Request(Request),
    /// The head asked for `100-continue` and its body has not arrived: send 100 first.
    Continue,
    /// More bytes are needed.
    Partial,
}

/// Where the decoder stands in the current request.
// Boxing the parsed head would cost an allocation per request with a body.
#[allow(clippy::large_enum_variant)]
enum State {
    /// Reading the head.
    Head { scan: HeadScan, empty_lines: usize },
    /// The head (still at the front of the buffer) is parsed; waiting for `body_len` bytes.
    Length {
        head: Head,
        head_len: usize,
        body_len: usize,
    },
    /// The head is split off; decoding chunks into `body`.
    Chunked {
        head: Head,
        head_bytes: Bytes,
        chunks: ChunkedDecoder,
        body: BytesMut,
    },
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

    /// How many more bytes the current request is known to need (0 when unknown), so the
    /// reader can size its buffer once instead of growing it step by step.
    pub fn wants(&self, buffered: usize) -> usize {
        match &self.state {
            State::Length {
                head_len, body_len, ..
            } => (head_len + body_len).saturating_sub(buffered),
            _ => 0,
        }
    }

    /// Takes the next complete request off the front of `buf`.
    pub fn decode(&mut self, buf: &mut BytesMut, limits: &Limits) -> Result<Decoded, RequestError> {
        loop {
            match &mut self.state {
                State::Head { scan, empty_lines } => {
                    // RFC 9112 §2.2: ignore a few empty lines before the request line.
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
                    let head = parse_head(buf.get(..head_len).unwrap_or_default(), limits)?;
                    self.continue_answered = false;
                    self.state = match head.framing {
                        Framing::Empty => {
                            let head_bytes = buf.split_to(head_len).freeze();
                            self.reset();
                            return Ok(Decoded::Request(Request::new(
                                head_bytes,
                                head,
                                Bytes::new(),
                            )));
                        }
                        Framing::Length(n) => State::Length {
                            head,
                            head_len,
                            // parse_head refuses lengths above max_body_bytes.
                            body_len: usize::try_from(n).map_err(|_| RequestError::BodyTooLarge)?,
                        },
                        Framing::Chunked => State::Chunked {
                            head,
                            head_bytes: buf.split_to(head_len).freeze(),
                            chunks: ChunkedDecoder::new(),
                            body: BytesMut::new(),
                        },
                    };
                }
                State::Length {
                    head,
                    head_len,
                    body_len,
                } => {
                    let (head_len, body_len) = (*head_len, *body_len);
                    if buf.len() < head_len + body_len {
                        let expect = head.expect_continue;
                        return Ok(self.partial_body(expect));
                    }
                    if let State::Length { head, .. } = self.take_state() {
                        let head_bytes = buf.split_to(head_len).freeze();
                        let body = buf.split_to(body_len).freeze();
                        return Ok(Decoded::Request(Request::new(head_bytes, head, body)));
                    }
                }
                State::Chunked {
                    head, chunks, body, ..
                } => {
                    if !chunks.decode(buf, body, limits)? {
                        let expect = head.expect_continue;
                        return Ok(self.partial_body(expect));
                    }
                    if let State::Chunked {
                        head,
                        head_bytes,
                        body,
                        ..
                    } = self.take_state()
                    {
                        return Ok(Decoded::Request(Request::new(
                            head_bytes,
                            head,
                            body.freeze(),
                        )));
                    }
                }
            }
        }
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
