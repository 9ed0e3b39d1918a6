//! One HTTP/1.1 response framed by its Content-Length: the pure parser that `idle` and
//! `sequential` read answers with.
//!
//! Every peer answers with a Content-Length, so a response without one (or a chunked one) is
//! an error here rather than a framing to support: it would mean the server under test is not
//! answering the way the table assumes.

use std::fmt;

/// Header lines one response may carry; the peers send four or five.
const MAX_HEADERS: usize = 32;
/// Largest response head plus body `idle` and `sequential` read before giving up, in bytes.
pub const RESPONSE_LIMIT: usize = 16 * 1024;

/// What the bytes read so far hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not the whole response yet: read more.
    Partial,
    /// One whole response: its first `len` bytes.
    Complete(Response),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Head and body, in bytes.
    pub len: usize,
    /// The server will not read another request: `Connection: close`, or HTTP/1.0 without
    /// `Connection: keep-alive`.
    pub close: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The head is not HTTP/1.x (httparse's reason).
    Malformed(httparse::Error),
    /// Neither Content-Length nor anything else that frames the body.
    NoContentLength,
    /// A Content-Length that is not one decimal number.
    BadContentLength,
    /// `Transfer-Encoding` framing, which no peer uses.
    Chunked,
    /// More header lines than `MAX_HEADERS`.
    TooManyHeaders,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "malformed response head: {e}"),
            Self::NoContentLength => f.write_str("no Content-Length in the response"),
            Self::BadContentLength => f.write_str("a Content-Length that is not a number"),
            Self::Chunked => {
                f.write_str("a Transfer-Encoding response (only Content-Length is read)")
            }
            Self::TooManyHeaders => write!(f, "more than {MAX_HEADERS} header lines"),
        }
    }
}

/// The response at the start of `bytes`, once its head and Content-Length body are all in.
pub fn parse_response(bytes: &[u8]) -> Result<Status, ParseError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut headers);
    let head_len = match parsed.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(Status::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(ParseError::TooManyHeaders),
        Err(e) => return Err(ParseError::Malformed(e)),
    };
    let mut body_len = None;
    let mut close = false;
    let mut keep_alive = false;
    for header in parsed.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let value =
                std::str::from_utf8(header.value).map_err(|_| ParseError::BadContentLength)?;
            let len = value
                .trim()
                .parse::<usize>()
                .map_err(|_| ParseError::BadContentLength)?;
            if body_len.is_some_and(|earlier| earlier != len) {
                return Err(ParseError::BadContentLength);
            }
            body_len = Some(len);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ParseError::Chunked);
        } else if header.name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    let body_len = body_len.ok_or(ParseError::NoContentLength)?;
    // httparse leaves the code empty only on a partial head.
    let status = parsed
        .code
        .ok_or(ParseError::Malformed(httparse::Error::Status))?;
    let close = close || (parsed.version == Some(0) && !keep_alive);
    let len = head_len.saturating_add(body_len);
    Ok(if bytes.len() >= len {
        Status::Complete(Response { status, len, close })
    } else {
        Status::Partial
    })
}

#[cfg(test)]
mod tests {
    use super::{parse_response, ParseError, Response, Status};

    const HELLO: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!";

    fn complete(status: u16, len: usize, close: bool) -> Result<Status, ParseError> {
        Ok(Status::Complete(Response { status, len, close }))
    }

    #[test]
    fn responses_frame_by_content_length() {
        let cases: &[(&[u8], Result<Status, ParseError>)] = &[
            (HELLO, complete(200, HELLO.len(), false)),
            (&HELLO[..HELLO.len() - 1], Ok(Status::Partial)),
            (&HELLO[..20], Ok(Status::Partial)),
            (b"", Ok(Status::Partial)),
            (
                b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n",
                complete(204, 46, false),
            ),
            (
                b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                complete(503, 59, true),
            ),
            (
                b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n",
                complete(200, 69, true),
            ),
            (
                b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
                complete(200, 38, true),
            ),
            (
                b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
                complete(200, 62, false),
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1",
                complete(200, 40, false),
            ),
            (b"HTTP/1.1 200 OK\r\n\r\n", Err(ParseError::NoContentLength)),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
                Err(ParseError::BadContentLength),
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                Err(ParseError::BadContentLength),
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                Err(ParseError::Chunked),
            ),
            (
                b"SSH-2.0-OpenSSH\r\n\r\n",
                Err(ParseError::Malformed(httparse::Error::Version)),
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                parse_response(bytes),
                *want,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}
