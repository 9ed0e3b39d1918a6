//! Talking HTTP/1.1 to a live engine as a raw client: connect, read to the close, and the
//! one rule by which every test reads a response.
//!
//! # Reading a response
//!
//! [`parse_response`] takes one response off the front of what a connection sent, as
//! RFC 9112 §6.3 frames it:
//!
//! 1. the status line and the header fields (httparse); until they are whole, more bytes
//!    are needed;
//! 2. a `1xx` response is an interim one: it ends with its head;
//! 3. so does the answer to a `HEAD` request, a `204` and a `304`;
//! 4. `Transfer-Encoding` ending in `chunked`: the chunks, the last chunk and the trailer
//!    section; the body is the chunks' data;
//! 5. else `Content-Length`: exactly that many bytes (a value that is not a number is an
//!    error, not a guess);
//! 6. else the body runs to the end of the connection.
//!
//! A connection that ends inside a head or a body is an error, never a short response.
//! One case cannot follow these rules as they stand: a replay of raw bytes (`replay`) does
//! not know which of its requests were `HEAD` ([`Asked::Unknown`]); there, rule 3 takes a
//! response with a `Content-Length` whose body's place holds the next status line, or the
//! end of the stream.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long a read may wait before the test fails it as a hung server.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects with [`READ_TIMEOUT`] and `TCP_NODELAY`, so a hung server fails the test
/// instead of blocking it, and each write is its own segment.
pub fn connect(addr: SocketAddr) -> TcpStream {
    connect_with_timeout(addr, READ_TIMEOUT)
}

/// [`connect`] with another read timeout: for a test whose answer must come sooner.
pub fn connect_with_timeout(addr: SocketAddr, read_timeout: Duration) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(read_timeout))
        .expect("read timeout");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// Reads until the server closes (or resets, which ends a connection just as well);
/// returns what arrived and how long the close took. Panics at the read timeout.
pub fn read_until_close(stream: &mut TcpStream) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return (received, started.elapsed()),
            Ok(n) => received.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                return (received, started.elapsed())
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!(
                "no close within {:?}, after {} bytes (server hung?): {e}",
                started.elapsed(),
                received.len()
            ),
        }
    }
}

/// What the client knows of the request a response answers (rule 3 above).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Asked {
    /// Any method but `HEAD`.
    Other,
    /// `HEAD`: the response has no body, whatever its `Content-Length` says.
    Head,
    /// Raw bytes replayed: a `Content-Length` body that is not there was a `HEAD`'s.
    Unknown,
}

/// One response, read by the rule above.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body: the chunks' data for a chunked one.
    pub body: Vec<u8>,
    /// The response's bytes as they came, head and body.
    pub raw: Vec<u8>,
}

impl Reply {
    /// The first field called `name`, in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// It carried `Connection: close`.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Takes one response off the front of `bytes` (see the module's rule): `Ok(Some((reply,
/// length)))` when it is whole, `Ok(None)` when more bytes are needed (or none are left),
/// an error when the bytes are no response or `at_eof` says no more will come to end it.
pub fn parse_response(
    bytes: &[u8],
    asked: Asked,
    at_eof: bool,
) -> Result<Option<(Reply, usize)>, String> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut head = httparse::Response::new(&mut fields);
    let head_len = match head.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if at_eof => {
            return Err("closed inside a response head".into())
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("invalid response head ({e})")),
    };
    let status = head.code.ok_or("no status")?;
    let headers: Vec<(String, String)> = head
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let field = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let after = bytes.get(head_len..).unwrap_or_default();
    let chunked = field("transfer-encoding").is_some_and(|v| {
        v.rsplit(',')
            .next()
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
    });
    let length = match field("content-length") {
        Some(v) => Some(
            v.trim()
                .parse::<usize>()
                .map_err(|_| format!("Content-Length {v:?}"))?,
        ),
        None => None,
    };
    let no_body = status < 200 || status == 204 || status == 304 || asked == Asked::Head;
    // (body, length of the body's framing on the wire), or None for more bytes.
    let framed: Option<(Vec<u8>, usize)> = if no_body {
        Some((Vec::new(), 0))
    } else if chunked {
        decode_chunked(after, at_eof)?
    } else if let Some(length) = length {
        let next_status = after.starts_with(b"HTTP/1.");
        if asked == Asked::Unknown && (next_status || (at_eof && after.is_empty())) {
            Some((Vec::new(), 0))
        } else if let Some(body) = after.get(..length) {
            Some((body.to_vec(), length))
        } else if at_eof {
            return Err(format!(
                "closed inside a body: {} of {length} bytes",
                after.len()
            ));
        } else {
            None
        }
    } else if at_eof {
        Some((after.to_vec(), after.len()))
    } else {
        None
    };
    Ok(framed.map(|(body, body_len)| {
        let end = head_len + body_len;
        let raw = bytes.get(..end).unwrap_or_default().to_vec();
        (
            Reply {
                status,
                headers,
                body,
                raw,
            },
            end,
        )
    }))
}

/// A chunked body at the front of `bytes`: its data and its length on the wire, `None`
/// while it is incomplete.
fn decode_chunked(bytes: &[u8], at_eof: bool) -> Result<Option<(Vec<u8>, usize)>, String> {
    let incomplete = |what: &str| {
        if at_eof {
            Err(format!("closed inside a chunked body ({what})"))
        } else {
            Ok(None)
        }
    };
    let mut data = Vec::new();
    let mut at = 0;
    loop {
        let rest = bytes.get(at..).unwrap_or_default();
        let (size_len, size) = match httparse::parse_chunk_size(rest) {
            Ok(httparse::Status::Complete(found)) => found,
            Ok(httparse::Status::Partial) => return incomplete("a chunk size"),
            Err(_) => return Err(format!("invalid chunk size at byte {at}")),
        };
        at += size_len;
        if size == 0 {
            break;
        }
        let size = usize::try_from(size).map_err(|_| "chunk size overflows")?;
        let Some(chunk) = bytes.get(at..at + size) else {
            return incomplete("a chunk's data");
        };
        data.extend_from_slice(chunk);
        at += size;
        match bytes.get(at..at + 2) {
            Some(b"\r\n") => at += 2,
            Some(_) => return Err(format!("no CRLF after a chunk's data at byte {at}")),
            None => return incomplete("a chunk's CRLF"),
        }
    }
    let mut trailers = [httparse::EMPTY_HEADER; 16];
    match httparse::parse_headers(bytes.get(at..).unwrap_or_default(), &mut trailers) {
        Ok(httparse::Status::Complete((len, _))) => Ok(Some((data, at + len))),
        Ok(httparse::Status::Partial) => incomplete("the trailer section"),
        Err(e) => Err(format!("invalid trailer section ({e})")),
    }
}

/// Reads responses off one connection by the module's rule, keeping the bytes that
/// belong to the next one.
pub struct Replies {
    pub stream: TcpStream,
    buf: Vec<u8>,
    /// The next responses answer `HEAD` requests.
    pub head_request: bool,
}

impl Replies {
    pub fn new(stream: TcpStream) -> Replies {
        Replies {
            stream,
            buf: Vec::new(),
            head_request: false,
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Whether the server has already closed this connection, as a client checks before
    /// reusing a kept-alive connection (curl's dead-connection check, hyper's idle poll):
    /// a non-blocking peek that finds the end of the stream, or a reset.
    pub fn closed_by_server(&mut self) -> bool {
        self.stream.set_nonblocking(true).expect("nonblocking");
        let closed = match self.stream.peek(&mut [0u8; 1]) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() == ErrorKind::ConnectionReset,
        };
        self.stream.set_nonblocking(false).expect("blocking");
        closed
    }

    /// Reads more; false at the end of the stream (or a reset).
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf
                    .extend_from_slice(chunk.get(..n).unwrap_or_default());
                true
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => false,
            Err(e) if e.kind() == ErrorKind::Interrupted => true,
            Err(e) => panic!("read failed (server hung?): {e}"),
        }
    }

    /// The next complete response (interim ones too), or `None` if the server closed
    /// first. Panics on bytes that are no response, or a close inside one.
    pub fn next(&mut self) -> Option<Reply> {
        let asked = if self.head_request {
            Asked::Head
        } else {
            Asked::Other
        };
        let mut at_eof = false;
        loop {
            match parse_response(&self.buf, asked, at_eof) {
                Ok(Some((reply, len))) => {
                    self.buf.drain(..len);
                    return Some(reply);
                }
                Ok(None) if at_eof => return None,
                Ok(None) => at_eof = !self.fill(),
                Err(e) => panic!("{e}: {:?}", String::from_utf8_lossy(&self.buf)),
            }
        }
    }

    /// True if the server closes without sending anything more. When something more
    /// arrives, it is printed (a failing test's output shows what the server sent).
    pub fn closed(&mut self) -> bool {
        if self.buf.is_empty() && !self.fill() {
            return true;
        }
        // Something arrived (up to one read's worth): show it before the caller fails.
        eprintln!(
            "expected a close, received {} more bytes: {:?}",
            self.buf.len(),
            String::from_utf8_lossy(self.buf.get(..self.buf.len().min(512)).unwrap_or_default())
        );
        false
    }
}

/// Sends `request` on a new connection and reads the first response, which must have
/// `status` and `Connection: close`; returns the connection, for what follows.
pub fn answer_closes(addr: SocketAddr, request: &[u8], status: u16) -> Replies {
    let mut replies = Replies::new(connect(addr));
    replies.send(request);
    let reply = replies.next().expect("a response");
    assert_eq!(reply.status, status, "{}", reply.body_text());
    assert_eq!(reply.header("connection"), Some("close"));
    replies
}

/// Sends `request` on a new connection, in one write, and returns the first response.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Option<Reply> {
    let mut replies = Replies::new(connect(addr));
    replies.send(request);
    replies.next()
}
