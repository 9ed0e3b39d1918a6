//! Why a request was refused: one small `Copy` enum, each variant mapped to one status.

use std::fmt;

/// A protocol error found while reading a request. Every variant maps to exactly one HTTP
/// status in [`RequestError::status`]; the connection is always closed after the answer.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum RequestError {
    /// The request line is not `method SP request-target SP HTTP-version CRLF`.
    InvalidRequestLine,
    /// The method is not a token (the first byte that is not a tchar is refused at once), or
    /// it runs past `Limits::max_request_line_bytes`.
    InvalidMethod,
    /// A well-formed CONNECT: ringpin opens no tunnels, so the engine answers it itself.
    ConnectNotImplemented,
    /// The request-target is not in a form allowed for its method, holds a byte RFC 3986
    /// does not allow (controls, spaces, non-ASCII, `\`), or a percent-encoded NUL, CR or LF.
    InvalidTarget,
    /// The version is not `HTTP/1.0` or `HTTP/1.1` but is shaped like an HTTP version.
    UnsupportedVersion,
    /// A field line is malformed: a name that is not a token, whitespace before the colon,
    /// obs-fold, or a forbidden byte in a value; or a repeated Content-Type, or a framing
    /// field's name spelt with `_` for `-` (`Content_Length`, `Transfer_Encoding`).
    InvalidHeader,
    /// A line ends in a bare LF, or a CR stands without its LF.
    BareLineEnding,
    /// More empty lines precede the request line than the limit allows.
    TooManyEmptyLines,
    /// An HTTP/1.1 request without a Host field, or with more than one.
    InvalidHostCount,
    /// The Host value is not a valid `uri-host [ ":" port ]`, or is empty while the target
    /// does not carry the authority (any form but absolute-form).
    InvalidHost,
    /// Content-Length is not a plain decimal number, does not fit a `u64`, or is repeated.
    InvalidContentLength,
    /// Both Transfer-Encoding and Content-Length are present.
    ConflictingFraming,
    /// Transfer-Encoding is present but `chunked` is not the one final coding, or the request
    /// is HTTP/1.0: the body length cannot be known.
    InvalidTransferEncoding,
    /// A transfer coding other than `chunked` (gzip, deflate ...) that ringpin does not decode.
    UnsupportedTransferCoding,
    /// A chunk-size line, chunk data terminator or trailer is malformed: not the grammar of
    /// RFC 9112 §7.1, a CR without its LF, a bare LF, or a control byte.
    InvalidChunk,
    /// The chunk extensions of one body exceed `Limits::max_chunk_extension_bytes`, or a
    /// chunk-size line runs longer than 16 digits plus what is left of that budget.
    ChunkExtensionTooLarge,
    /// The trailer section exceeds `Limits::max_trailer_bytes`.
    TrailersTooLarge,
    /// The request line exceeds `Limits::max_request_line_bytes`.
    RequestLineTooLong,
    /// The head exceeds `Limits::max_head_bytes`.
    HeadTooLarge,
    /// The head has more fields than `Limits::max_headers`.
    TooManyHeaders,
    /// The body exceeds `Limits::max_body_bytes`.
    BodyTooLarge,
    /// An `Expect` value other than `100-continue`.
    UnsupportedExpectation,
    /// The connection closed before the whole body arrived (seen by a streaming handler).
    IncompleteBody,
    /// The head or body did not arrive within `Config::timeouts`.
    RequestTimeout,
}

impl RequestError {
    /// The status code this error is answered with.
    pub const fn status(self) -> u16 {
        match self {
            RequestError::RequestLineTooLong => 414,
            RequestError::HeadTooLarge
            | RequestError::TooManyHeaders
            | RequestError::TrailersTooLarge => 431,
            RequestError::BodyTooLarge => 413,
            RequestError::UnsupportedVersion => 505,
            RequestError::UnsupportedTransferCoding | RequestError::ConnectNotImplemented => 501,
            RequestError::UnsupportedExpectation => 417,
            RequestError::RequestTimeout => 408,
            RequestError::InvalidRequestLine
            | RequestError::InvalidMethod
            | RequestError::InvalidTarget
            | RequestError::InvalidHeader
            | RequestError::BareLineEnding
            | RequestError::TooManyEmptyLines
            | RequestError::InvalidHostCount
            | RequestError::InvalidHost
            | RequestError::InvalidContentLength
            | RequestError::ConflictingFraming
            | RequestError::InvalidTransferEncoding
            | RequestError::InvalidChunk
            | RequestError::ChunkExtensionTooLarge
            | RequestError::IncompleteBody => 400,
        }
    }

    /// A short, stable, human-readable reason, used as the error response body.
    pub const fn reason(self) -> &'static str {
        match self {
            RequestError::InvalidRequestLine => "invalid request line",
            RequestError::InvalidMethod => "invalid method",
            RequestError::ConnectNotImplemented => "CONNECT not implemented",
            RequestError::InvalidTarget => "invalid request target",
            RequestError::UnsupportedVersion => "HTTP version not supported",
            RequestError::InvalidHeader => "invalid header field",
            RequestError::BareLineEnding => "bare CR or LF line ending",
            RequestError::TooManyEmptyLines => "too many empty lines before request",
            RequestError::InvalidHostCount => "exactly one Host header is required",
            RequestError::InvalidHost => "invalid Host header",
            RequestError::InvalidContentLength => "invalid Content-Length",
            RequestError::ConflictingFraming => "both Transfer-Encoding and Content-Length",
            RequestError::InvalidTransferEncoding => "invalid Transfer-Encoding",
            RequestError::UnsupportedTransferCoding => "unsupported transfer coding",
            RequestError::InvalidChunk => "invalid chunked encoding",
            RequestError::ChunkExtensionTooLarge => "chunk extensions too large",
            RequestError::TrailersTooLarge => "trailer section too large",
            RequestError::RequestLineTooLong => "request line too long",
            RequestError::HeadTooLarge => "request header section too large",
            RequestError::TooManyHeaders => "too many header fields",
            RequestError::BodyTooLarge => "request body too large",
            RequestError::UnsupportedExpectation => "unsupported expectation",
            RequestError::IncompleteBody => "request body incomplete",
            RequestError::RequestTimeout => "request timeout",
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason(), self.status())
    }
}

impl std::error::Error for RequestError {}
