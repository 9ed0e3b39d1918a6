//! Encoding a response head and body into the connection's write buffer.

use bytes::BytesMut;

use crate::http::date;
use crate::http::response::Response;

/// How the engine frames one response, decided by the connection.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Framing {
    /// The request was HEAD: send the head only, with the body's Content-Length.
    pub head_only: bool,
    /// Keep the connection open after this response.
    pub keep_alive: bool,
    /// The request was HTTP/1.0: keep-alive must be announced explicitly.
    pub http10: bool,
}

/// Appends the status line, fields and body of `response` to `out`.
pub(crate) fn encode_response(response: &Response, framing: Framing, out: &mut BytesMut) {
    let status = response.status;
    let body = &response.body;
    out.reserve(128 + body.len());
    match status {
        200 => out.extend_from_slice(b"HTTP/1.1 200 OK\r\n"),
        _ => {
            out.extend_from_slice(b"HTTP/1.1 ");
            out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
            out.extend_from_slice(b" ");
            out.extend_from_slice(reason_phrase(status).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"Date: ");
    date::with_date(|d| out.extend_from_slice(d));
    out.extend_from_slice(b"\r\n");
    if let Some(ct) = &response.content_type {
        out.extend_from_slice(b"Content-Type: ");
        out.extend_from_slice(ct);
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in &response.headers {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    let bodiless = (100..200).contains(&status) || status == 204 || status == 304;
    if bodiless {
    } else if response.is_streamed() {
        // HTTP/1.0 has no chunked coding: the body ends when the connection does.
        if !framing.http10 {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
        }
    } else {
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(itoa::Buffer::new().format(response.body_len()).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if response.is_upgrade() {
        // The connection stays open for the new protocol (RFC 9110 §7.8).
        out.extend_from_slice(b"Connection: Upgrade\r\n");
    } else if !framing.keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if framing.http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !bodiless && !framing.head_only {
        out.extend_from_slice(body);
    }
}

/// Appends one chunk of a streamed body: `chunked` framing unless the client is HTTP/1.0.
/// An empty piece is skipped (it would read as the last chunk).
pub(crate) fn encode_chunk(data: &[u8], chunked: bool, out: &mut BytesMut) {
    if data.is_empty() {
        return;
    }
    if chunked {
        let mut hex = [0u8; 16];
        let digits = hex_digits(data.len(), &mut hex);
        out.extend_from_slice(digits);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(data);
    }
}

/// The last chunk of a chunked body, with no trailers.
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

fn hex_digits(mut n: usize, buf: &mut [u8; 16]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            *slot = b"0123456789abcdef"[n & 0xf];
        }
        n >>= 4;
        if n == 0 || i == 0 {
            break;
        }
    }
    buf.get(i..).unwrap_or_default()
}

/// The interim answer to `Expect: 100-continue`.
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The reason phrase of a status code (RFC 9110 §15); empty for unknown codes, which the
/// grammar allows.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}
