//! Framing of one response, as pure functions over bytes: the head, then the body's extent.
//!
//! Incomplete input is a normal state (`Ok(None)`, or a decoder that is not done), never an
//! error; the only error is `Malformed`.

/// The response bytes are not valid HTTP/1.1, or break one of this module's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

/// Most header lines read from one response head; more is a malformed response.
pub const MAX_RESPONSE_HEADERS: usize = 64;

/// Most bytes of chunk extensions and trailers accepted in one chunked body.
pub const MAX_CHUNK_META_BYTES: usize = 64 * 1024;

/// How the body of a response is delimited (RFC 9112 section 6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Exactly this many bytes (0 for HEAD, 1xx, 204 and 304).
    Length(u64),
    /// `Transfer-Encoding: chunked` as the final coding.
    Chunked,
    /// Neither: the body ends when the server closes the connection.
    UntilClose,
}

/// A complete response head: its length in bytes and what it says about the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Bytes of the head, up to and including the empty line.
    pub len: usize,
    pub status: u16,
    pub framing: Framing,
    /// Whether the connection may carry the next request after this response.
    pub keep_alive: bool,
}

/// Parses the response head at the start of `bytes`; `Ok(None)` while it is incomplete.
pub fn parse_head(bytes: &[u8], head_only: bool) -> Result<Option<Head>, Malformed> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(Malformed),
    };
    let status = response.code.ok_or(Malformed)?;
    let mut content_length = None;
    let mut transfer_encoding = false;
    let mut chunked_last = false;
    let (mut close, mut keep_alive_token) = (false, false);
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let length = parse_decimal(header.value).ok_or(Malformed)?;
            if content_length.is_some_and(|seen| seen != length) {
                return Err(Malformed);
            }
            content_length = Some(length);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            for coding in tokens(header.value) {
                transfer_encoding = true;
                chunked_last = coding.eq_ignore_ascii_case(b"chunked");
            }
        } else if header.name.eq_ignore_ascii_case("connection") {
            for option in tokens(header.value) {
                close |= option.eq_ignore_ascii_case(b"close");
                keep_alive_token |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    let framing = if head_only || status < 200 || status == 204 || status == 304 {
        Framing::Length(0)
    } else if transfer_encoding {
        // Transfer-Encoding overrides Content-Length; only a final `chunked` delimits the body.
        if chunked_last {
            Framing::Chunked
        } else {
            Framing::UntilClose
        }
    } else {
        content_length.map_or(Framing::UntilClose, Framing::Length)
    };
    let persistent = if response.version == Some(0) {
        keep_alive_token
    } else {
        true
    };
    let keep_alive = persistent && !close && framing != Framing::UntilClose;
    Ok(Some(Head {
        len,
        status,
        framing,
        keep_alive,
    }))
}

/// The comma-separated, trimmed, non-empty elements of a header value.
pub fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(|token| token.trim_ascii())
        .filter(|token| !token.is_empty())
}

pub fn parse_decimal(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |sum, &b| {
        let digit = (b as char).to_digit(10)?;
        sum.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// Where a chunked body's decoder stands between two bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunk {
    Size { size: u64, digits: u32 },
    Extension { size: u64 },
    SizeLf { size: u64 },
    Data(u64),
    DataCr,
    DataLf,
    TrailerStart,
    Trailer,
    TrailerLf { empty: bool },
}

/// Skips one response body as its bytes arrive, without keeping any of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyDecoder {
    Length(u64),
    Chunked { state: Chunk, meta_bytes: usize },
    UntilClose,
    Done,
}

impl BodyDecoder {
    pub fn new(framing: Framing) -> Self {
        match framing {
            Framing::Length(0) => BodyDecoder::Done,
            Framing::Length(length) => BodyDecoder::Length(length),
            Framing::Chunked => BodyDecoder::Chunked {
                state: Chunk::Size { size: 0, digits: 0 },
                meta_bytes: 0,
            },
            Framing::UntilClose => BodyDecoder::UntilClose,
        }
    }

    pub fn is_done(&self) -> bool {
        *self == BodyDecoder::Done
    }

    /// Consumes body bytes from the front of `bytes` and returns how many; the rest, if the
    /// body ended, belongs to the next response.
    pub fn decode(&mut self, bytes: &[u8]) -> Result<usize, Malformed> {
        match self {
            BodyDecoder::Done => Ok(0),
            BodyDecoder::UntilClose => Ok(bytes.len()),
            BodyDecoder::Length(left) => {
                let used = (*left).min(bytes.len() as u64);
                *left -= used;
                if *left == 0 {
                    *self = BodyDecoder::Done;
                }
                Ok(used as usize)
            }
            BodyDecoder::Chunked { state, meta_bytes } => {
                let (used, done) = skip_chunked(state, meta_bytes, bytes)?;
                if done {
                    *self = BodyDecoder::Done;
                }
                Ok(used)
            }
        }
    }
}

/// Runs the chunked decoder over `bytes`; returns the bytes used and whether the body ended.
pub fn skip_chunked(
    state: &mut Chunk,
    meta_bytes: &mut usize,
    bytes: &[u8],
) -> Result<(usize, bool), Malformed> {
    let mut used = 0;
    while used < bytes.len() {
        if let Chunk::Data(left) = *state {
            // Skip chunk data in bulk: the common case, and the bulk of the bytes.
            let skip = left.min((bytes.len() - used) as u64);
            used += skip as usize;
            *state = if skip == left {
                Chunk::DataCr
            } else {
                Chunk::Data(left - skip)
            };
            continue;
        }
        let Some(&byte) = bytes.get(used) else { break };
        used += 1;
        if matches!(
            state,
            Chunk::Extension { .. } | Chunk::Trailer | Chunk::TrailerStart
        ) {
            *meta_bytes += 1;
            if *meta_bytes > MAX_CHUNK_META_BYTES {
                return Err(Malformed);
            }
        }
        match next_chunk_state(*state, byte)? {
            Some(next) => *state = next,
            None => return Ok((used, true)),
        }
    }
    Ok((used, false))
}

/// One step of the chunked grammar (RFC 9112 section 7.1); `None` once the body has ended.
pub fn next_chunk_state(state: Chunk, byte: u8) -> Result<Option<Chunk>, Malformed> {
    let next = match (state, byte) {
        (Chunk::Size { size, digits }, b'\r') if digits > 0 => Chunk::SizeLf { size },
        (Chunk::Size { size, digits }, b';' | b' ' | b'\t') if digits > 0 => {
            Chunk::Extension { size }
        }
        (Chunk::Size { size, digits }, _) => {
            let digit = (byte as char).to_digit(16).ok_or(Malformed)?;
            let size = size.checked_mul(16).ok_or(Malformed)? + u64::from(digit);
            Chunk::Size {
                size,
                digits: digits + 1,
            }
        }
        (Chunk::Extension { size }, b'\r') => Chunk::SizeLf { size },
        (Chunk::Extension { .. }, _) => state,
        (Chunk::SizeLf { size: 0 }, b'\n') => Chunk::TrailerStart,
        (Chunk::SizeLf { size }, b'\n') => Chunk::Data(size),
        (Chunk::Data(left), _) if left > 1 => Chunk::Data(left - 1),
        (Chunk::Data(_), _) => Chunk::DataCr,
        (Chunk::DataCr, b'\r') => Chunk::DataLf,
        (Chunk::DataLf, b'\n') => Chunk::Size { size: 0, digits: 0 },
        (Chunk::TrailerStart, b'\r') => Chunk::TrailerLf { empty: true },
        (Chunk::Trailer, b'\r') => Chunk::TrailerLf { empty: false },
        (Chunk::TrailerStart | Chunk::Trailer, _) => Chunk::Trailer,
        (Chunk::TrailerLf { empty: true }, b'\n') => return Ok(None),
        (Chunk::TrailerLf { empty: false }, b'\n') => Chunk::TrailerStart,
        _ => return Err(Malformed),
    };
    Ok(Some(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames one response fed `step` bytes at a time: `(status, keep_alive, bytes used)`, or
    /// `None` if the bytes end before the response does.
    fn frame(bytes: &[u8], step: usize) -> Result<Option<(u16, bool, usize)>, Malformed> {
        let mut end = 0;
        let head = loop {
            end = (end + step).min(bytes.len());
            if let Some(head) = parse_head(&bytes[..end], false)? {
                break head;
            }
            if end == bytes.len() {
                return Ok(None);
            }
        };
        let mut body = BodyDecoder::new(head.framing);
        let mut at = head.len;
        while !body.is_done() {
            if at == bytes.len() {
                return Ok(None);
            }
            at += body.decode(&bytes[at..(at + step).min(bytes.len())])?;
        }
        Ok(Some((head.status, head.keep_alive, at)))
    }

    /// A response's status and keep-alive, `None` while incomplete.
    type Framed = Result<Option<(u16, bool)>, Malformed>;

    const CL: &str = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    const CHUNKED: &str = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                           5\r\nhello\r\n6;name=\"v\"\r\n world\r\nA\r\n0123456789\r\n0\r\n\r\n";
    const TRAILERS: &str = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                            3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-Other: 2\r\n\r\n";

    #[test]
    fn frames_responses_split_at_every_byte() {
        #[rustfmt::skip]
        let cases: &[(&str, Framed)] = &[
            (CL, Ok(Some((200, true)))),
            (CHUNKED, Ok(Some((200, true)))),
            (TRAILERS, Ok(Some((200, true)))),
            ("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Ok(Some((200, true)))),
            ("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnop", Ok(Some((404, true)))),
            ("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", Ok(Some((200, false)))),
            ("HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 0\r\n\r\n", Ok(Some((200, false)))),
            ("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", Ok(Some((200, false)))),
            ("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", Ok(Some((200, true)))),
            ("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", Ok(Some((204, true)))),
            ("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", Ok(Some((304, true)))),
            ("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Ok(Some((200, true)))),
            ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", Ok(Some((200, true)))),
            ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", Ok(None)),
            ("HTTP/1.1 200 OK\r\nContent-Len", Ok(None)),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n", Ok(None)),
            ("HTTP/1.1 200 OK\r\n\r\nuntil the server closes", Ok(None)),
            ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", Err(Malformed)),
            ("HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello", Err(Malformed)),
            ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", Err(Malformed)),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", Err(Malformed)),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", Err(Malformed)),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX", Err(Malformed)),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n", Err(Malformed)),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", Err(Malformed)),
            ("HTXP/1.1 200 OK\r\n\r\n", Err(Malformed)),
        ];
        for (response, expected) in cases {
            let bytes = response.as_bytes();
            for step in 1..=bytes.len() {
                let framed = frame(bytes, step).map(|o| o.map(|(s, k, _)| (s, k)));
                assert_eq!(framed, *expected, "{response:?} in pieces of {step}");
            }
        }
    }

    #[test]
    fn leaves_the_next_response_alone() {
        for first in [CL, CHUNKED, TRAILERS] {
            let both = format!("{first}HTTP/1.1 200 OK\r\n");
            assert_eq!(
                frame(both.as_bytes(), 7),
                Ok(Some((200, true, first.len())))
            );
        }
    }

    #[test]
    fn decides_the_framing() {
        let framing = |head: &str, head_only| {
            parse_head(head.as_bytes(), head_only).map(|h| h.map(|h| (h.framing, h.keep_alive)))
        };
        let cl = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
        assert_eq!(framing(cl, false), Ok(Some((Framing::Length(100), true))));
        assert_eq!(framing(cl, true), Ok(Some((Framing::Length(0), true))));
        let gzip_only = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n";
        assert_eq!(
            framing(gzip_only, false),
            Ok(Some((Framing::UntilClose, false)))
        );
        let last_chunked =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(
            framing(last_chunked, false),
            Ok(Some((Framing::Chunked, true)))
        );
        let interim = "HTTP/1.1 100 Continue\r\n\r\n";
        assert_eq!(
            framing(interim, false),
            Ok(Some((Framing::Length(0), true)))
        );
    }

    #[test]
    fn limits_chunk_metadata() {
        let mut body = BodyDecoder::new(Framing::Chunked);
        let long_extension = format!("1;{}\r\n", "x".repeat(MAX_CHUNK_META_BYTES));
        assert_eq!(body.decode(long_extension.as_bytes()), Err(Malformed));
    }
}
