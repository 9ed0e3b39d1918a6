//! One keep-alive connection: its socket, the intended send times of the requests it carries,
//! and the response parser that turns received bytes into completed requests.

use std::collections::VecDeque;
use std::io;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};

use crate::framing::{parse_head, BodyDecoder, Framing, Malformed};
use crate::plan::Plan;

/// Why a request got no response; each kind is counted on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The TCP connect failed or timed out.
    Connect = 0,
    /// The connection made no progress for `--timeout` with requests outstanding, or the run
    /// ended (`--timeout` after the last slot) before their responses came.
    Timeout = 1,
    /// The server closed the connection before the response was complete.
    Closed = 2,
    /// Any other socket error on a send or receive: reset, broken pipe, ...
    Io = 3,
    /// The response was not valid HTTP/1.1, or its head or chunk metadata was too large.
    Malformed = 4,
}

impl From<Malformed> for Failure {
    fn from(_: Malformed) -> Failure {
        Failure::Malformed
    }
}

impl Failure {
    pub const ALL: [Failure; 5] = [
        Failure::Connect,
        Failure::Timeout,
        Failure::Closed,
        Failure::Io,
        Failure::Malformed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Failure::Connect => "connect",
            Failure::Timeout => "timeout",
            Failure::Closed => "closed",
            Failure::Io => "io",
            Failure::Malformed => "malformed",
        }
    }
}

/// Where the parser is in the current response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reading {
    Head,
    /// A response said the connection closes after it: whatever follows is ignored.
    Closed,
    Body {
        status: u16,
        keep_alive: bool,
        body: BodyDecoder,
    },
}

/// A complete response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub keep_alive: bool,
}

/// Most bytes of an unfinished response head kept between receives; more is malformed.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The bytes of one connection's responses, split into complete responses as they arrive.
#[derive(Debug)]
pub struct Parser {
    head_only: bool,
    reading: Reading,
    /// An unfinished head, kept until the rest of it arrives.
    partial: Vec<u8>,
}

impl Parser {
    pub fn new(head_only: bool) -> Self {
        Parser {
            head_only,
            reading: Reading::Head,
            partial: Vec::new(),
        }
    }

    /// Feeds received bytes, pushing each response completed by them onto `done`.
    pub fn feed(&mut self, bytes: &[u8], done: &mut Vec<Response>) -> Result<(), Malformed> {
        if self.partial.is_empty() {
            let used = self.feed_slice(bytes, done)?;
            self.keep(&bytes[used..])
        } else {
            let mut partial = std::mem::take(&mut self.partial);
            partial.extend_from_slice(bytes);
            let used = self.feed_slice(&partial, done)?;
            let rest = partial.split_off(used);
            self.keep(&rest)
        }
    }

    fn keep(&mut self, rest: &[u8]) -> Result<(), Malformed> {
        if rest.len() > MAX_HEAD_BYTES {
            return Err(Malformed);
        }
        self.partial.clear();
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    /// Parses whole responses from the front of `bytes`; returns the bytes used.
    fn feed_slice(&mut self, bytes: &[u8], done: &mut Vec<Response>) -> Result<usize, Malformed> {
        let mut at = 0;
        loop {
            let rest = bytes.get(at..).unwrap_or_default();
            match &mut self.reading {
                Reading::Closed => return Ok(bytes.len()),
                Reading::Head => match parse_head(rest, self.head_only)? {
                    None => return Ok(at),
                    Some(head) if head.status == 101 => return Err(Malformed),
                    Some(head) => {
                        at += head.len;
                        if head.status >= 200 {
                            self.reading = Reading::Body {
                                status: head.status,
                                keep_alive: head.keep_alive && head.framing != Framing::UntilClose,
                                body: BodyDecoder::new(head.framing),
                            };
                        }
                    }
                },
                Reading::Body {
                    status,
                    keep_alive,
                    body,
                } => {
                    at += body.decode(rest)?;
                    if !body.is_done() {
                        return Ok(at);
                    }
                    done.push(Response {
                        status: *status,
                        keep_alive: *keep_alive,
                    });
                    self.reading = if *keep_alive {
                        Reading::Head
                    } else {
                        Reading::Closed
                    };
                }
            }
        }
    }

    /// The peer closed: a body read until close ends here; anything else unfinished is lost.
    pub fn end(&mut self) -> Option<Response> {
        match std::mem::replace(&mut self.reading, Reading::Head) {
            Reading::Body {
                status,
                body: BodyDecoder::UntilClose,
                ..
            } => Some(Response {
                status,
                keep_alive: false,
            }),
            _ => None,
        }
    }
}

/// One keep-alive connection of a worker.
pub struct Conn {
    stream: Option<TcpStream>,
    /// Bumped at every reconnect, so that completions for the old socket are told apart.
    pub generation: u32,
    /// Intended send times (ns after `t0`) of the requests assigned to this connection and
    /// not yet answered, oldest first; the first `in_flight.len() - queued` were handed to
    /// the kernel.
    pub in_flight: VecDeque<u64>,
    /// Requests assigned but not yet handed over, because a send was still in flight.
    pub queued: usize,
    /// Bytes of the send in flight that the kernel has not taken yet (0: none in flight).
    pub sending: usize,
    /// Offset into the request bytes of the send in flight.
    pub send_offset: usize,
    pub parser: Parser,
    /// ns after `t0` of the last send or receive, for `--timeout`.
    pub last_progress_ns: u64,
    /// In the worker's ready queue (fewer than the pipeline depth in flight).
    pub ready: bool,
    /// Connected with a receive armed; when false, `retry_at_ns` says when to connect again.
    pub up: bool,
    pub retry_at_ns: u64,
    /// The kernel stamps this socket's received bytes (`SO_TIMESTAMPNS`).
    pub rx_timestamps: bool,
}

impl Conn {
    pub fn new(head_only: bool) -> Self {
        Conn {
            stream: None,
            generation: 0,
            in_flight: VecDeque::new(),
            queued: 0,
            sending: 0,
            send_offset: 0,
            parser: Parser::new(head_only),
            last_progress_ns: 0,
            ready: false,
            up: false,
            retry_at_ns: 0,
            rx_timestamps: false,
        }
    }

    /// Opens a fresh socket, blocking up to `--timeout` (on loopback, microseconds): at start
    /// and after a close, both rare; the request path never connects.
    pub fn connect(&mut self, plan: &Plan) -> Result<RawFd, Failure> {
        self.disconnect();
        let stream =
            TcpStream::connect_timeout(&plan.addr, plan.timeout).map_err(|e| match e.kind() {
                io::ErrorKind::TimedOut => Failure::Timeout,
                _ => Failure::Connect,
            })?;
        stream
            .set_nodelay(true)
            .and_then(|()| stream.set_nonblocking(true))
            .map_err(|_| Failure::Connect)?;
        let fd = stream.as_raw_fd();
        self.rx_timestamps = crate::ring::enable_rx_timestamps(fd);
        self.stream = Some(stream);
        self.up = true;
        Ok(fd)
    }

    /// Shuts the socket down (which ends its armed receive) and forgets its requests; the
    /// caller counts them as failed first.
    pub fn disconnect(&mut self) {
        if let Some(stream) = self.stream.take() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        self.generation = self.generation.wrapping_add(1);
        self.in_flight.clear();
        (self.queued, self.sending, self.send_offset) = (0, 0, 0);
        self.parser = Parser::new(self.parser.head_only);
        self.up = false;
    }

    pub fn fd(&self) -> Option<RawFd> {
        self.stream.as_ref().map(AsRawFd::as_raw_fd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_in_pieces(input: &[u8], piece: usize) -> Result<Vec<Response>, Malformed> {
        let mut parser = Parser::new(false);
        let mut done = Vec::new();
        for chunk in input.chunks(piece) {
            parser.feed(chunk, &mut done)?;
        }
        Ok(done)
    }

    #[test]
    fn splits_pipelined_responses_whatever_the_pieces() {
        let input: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello\
            HTTP/1.1 100 Continue\r\n\r\n\
            HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n0\r\n\r\n\
            HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let ok = Response {
            status: 200,
            keep_alive: true,
        };
        let missing = Response {
            status: 404,
            keep_alive: true,
        };
        for piece in [1, 2, 7, 40, input.len()] {
            assert_eq!(
                feed_in_pieces(input, piece),
                Ok(vec![ok, missing, ok]),
                "pieces of {piece}"
            );
        }
    }

    #[test]
    fn a_close_ends_the_stream() {
        let input: &[u8] =
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200";
        let done = feed_in_pieces(input, 3).unwrap();
        assert_eq!(
            done,
            vec![Response {
                status: 200,
                keep_alive: false
            }]
        );
        let mut parser = Parser::new(false);
        let mut done = Vec::new();
        parser
            .feed(b"HTTP/1.0 200 OK\r\n\r\nbody until close", &mut done)
            .unwrap();
        assert!(done.is_empty());
        assert_eq!(parser.end().map(|r| r.status), Some(200));
    }

    #[test]
    fn rejects_garbage_and_endless_heads() {
        assert_eq!(feed_in_pieces(b"SMTP ready\r\n\r\n", 4), Err(Malformed));
        let endless = [b'a'; 2 * MAX_HEAD_BYTES];
        let mut parser = Parser::new(false);
        let mut done = Vec::new();
        let mut head = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        head.extend_from_slice(&endless);
        assert_eq!(parser.feed(&head, &mut done), Err(Malformed));
    }
}
