//! Decoding a chunked request body (RFC 9112 §7.1): an incremental, pure state machine.
//!
//! Input arrives in arbitrary pieces; the decoder consumes what it can from the front of the
//! buffer and keeps its place, so any split of the same bytes decodes the same way.

use bytes::{Buf, BytesMut};

use crate::config::Limits;
use crate::http::error::RequestError;
use crate::http::head::{is_token_byte, trim_ows};

/// Longest chunk-size: 16 hex digits fill a `u64`.
const MAX_SIZE_DIGITS: usize = 16;

/// Where the decoder stands inside the body.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum ChunkState {
    /// Expecting a `chunk-size [ chunk-ext ] CRLF` line.
    Size,
    /// Inside chunk data, with this many bytes still to come.
    Data(u64),
    /// Expecting the CRLF that ends chunk data.
    DataEnd,
    /// Expecting trailer field lines or the final empty line.
    Trailers,
    /// The body is complete.
    Done,
}

/// An incremental decoder of one chunked body.
#[derive(Clone, Debug)]
pub(crate) struct ChunkedDecoder {
    state: ChunkState,
    body_len: u64,
    extension_bytes: usize,
    trailer_bytes: usize,
    /// How far into the unfinished line at the front of the input the scan has come, so a
    /// line that arrives a byte at a time is scanned once, not once per byte.
    line_scanned: usize,
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        ChunkedDecoder {
            state: ChunkState::Size,
            body_len: 0,
            extension_bytes: 0,
            trailer_bytes: 0,
            line_scanned: 0,
        }
    }

    /// Consumes as much of `input` as forms part of the body, appending chunk data to
    /// `out`. Returns `Ok(true)` once the last chunk and trailers are consumed, `Ok(false)`
    /// when more input is needed; bytes after the body stay in `input`.
    pub fn decode(
        &mut self,
        input: &mut BytesMut,
        out: &mut BytesMut,
        limits: &Limits,
    ) -> Result<bool, RequestError> {
        loop {
            match self.state {
                ChunkState::Size => {
                    // The line holds at most the digits and what is left of the extension
                    // budget; anything longer is refused before the rest of it is read.
                    let ext_room = limits
                        .max_chunk_extension_bytes
                        .saturating_sub(self.extension_bytes);
                    let Some(len) = find_line(
                        input,
                        &mut self.line_scanned,
                        MAX_SIZE_DIGITS + ext_room,
                        RequestError::ChunkExtensionTooLarge,
                    )?
                    else {
                        return Ok(false);
                    };
                    let (size, ext_len) = parse_size_line(input.get(..len).unwrap_or_default())?;
                    input.advance(len + 2);
                    self.extension_bytes += ext_len;
                    if self.extension_bytes > limits.max_chunk_extension_bytes {
                        return Err(RequestError::ChunkExtensionTooLarge);
                    }
                    if size == 0 {
                        self.state = ChunkState::Trailers;
                    } else {
                        self.body_len = self
                            .body_len
                            .checked_add(size)
                            .ok_or(RequestError::BodyTooLarge)?;
                        if self.body_len > limits.max_body_bytes {
                            return Err(RequestError::BodyTooLarge);
                        }
                        self.state = ChunkState::Data(size);
                    }
                }
                ChunkState::Data(remaining) => {
                    if input.is_empty() {
                        return Ok(false);
                    }
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(input.len());
                    out.extend_from_slice(input.get(..take).unwrap_or_default());
                    input.advance(take);
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                }
                ChunkState::DataEnd => match input.get(..2) {
                    Some(b"\r\n") => {
                        input.advance(2);
                        self.state = ChunkState::Size;
                    }
                    Some(_) => return Err(RequestError::InvalidChunk),
                    None if input.first().is_some_and(|&b| b != b'\r') => {
                        return Err(RequestError::InvalidChunk)
                    }
                    None => return Ok(false),
                },
                ChunkState::Trailers => {
                    // Each field line counts with its CRLF; the final empty line is free.
                    let room = limits.max_trailer_bytes.saturating_sub(self.trailer_bytes);
                    let Some(len) = find_line(
                        input,
                        &mut self.line_scanned,
                        room.saturating_sub(2),
                        RequestError::TrailersTooLarge,
                    )?
                    else {
                        return Ok(false);
                    };
                    if len > 0 && !is_valid_field_line(input.get(..len).unwrap_or_default()) {
                        return Err(RequestError::InvalidChunk);
                    }
                    input.advance(len + 2);
                    if len == 0 {
                        self.state = ChunkState::Done;
                    } else {
                        self.trailer_bytes += len + 2;
                    }
                }
                ChunkState::Done => return Ok(true),
            }
        }
    }
}

/// Finds the CRLF-terminated line at the front of `input` and returns its length without
/// the CRLF; `Ok(None)` while the line is incomplete. The scan resumes at `*scanned` and
/// judges each byte once, in order, so the first fault found is the same however the input
/// was split: more than `max` bytes before the CRLF is `too_long`; a CR without its LF, a
/// bare LF or any other control byte except HTAB is `InvalidChunk`.
fn find_line(
    input: &[u8],
    scanned: &mut usize,
    max: usize,
    too_long: RequestError,
) -> Result<Option<usize>, RequestError> {
    let mut i = *scanned;
    while let Some(&b) = input.get(i) {
        if i > max {
            return Err(too_long);
        }
        match b {
            b'\r' => match input.get(i + 1) {
                Some(b'\n') => {
                    *scanned = 0;
                    return Ok(Some(i));
                }
                Some(_) => return Err(RequestError::InvalidChunk),
                None => break,
            },
            b'\t' => {}
            0..=0x1f | 0x7f => return Err(RequestError::InvalidChunk),
            _ => {}
        }
        i += 1;
    }
    *scanned = i;
    Ok(None)
}

/// Parses `chunk-size [ chunk-ext ]`; returns the size and the length of the extensions.
fn parse_size_line(line: &[u8]) -> Result<(u64, usize), RequestError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > MAX_SIZE_DIGITS {
        return Err(RequestError::InvalidChunk);
    }
    let size = line
        .get(..digits)
        .unwrap_or_default()
        .iter()
        .try_fold(0u64, |n, &b| {
            let d = (b as char).to_digit(16).ok_or(RequestError::InvalidChunk)?;
            Ok::<u64, RequestError>((n << 4) | u64::from(d))
        })?;
    let ext = line.get(digits..).unwrap_or_default();
    if !is_valid_extensions(ext) {
        return Err(RequestError::InvalidChunk);
    }
    Ok((size, ext.len()))
}

/// `*( BWS ";" BWS ext-name [ BWS "=" BWS ext-value ] )` (RFC 9112 §7.1.1), ext-value a
/// token or quoted-string. Whitespace is allowed only where BWS is, so `5 ` and `5;a ` are
/// refused: a size line has no room for bytes that one parser skips and another reads.
fn is_valid_extensions(mut ext: &[u8]) -> bool {
    while !ext.is_empty() {
        let Some(rest) = trim_ows_start(ext).strip_prefix(b";") else {
            return false;
        };
        ext = trim_ows_start(rest);
        let name_len = ext.iter().take_while(|&&b| is_token_byte(b)).count();
        if name_len == 0 {
            return false;
        }
        ext = ext.get(name_len..).unwrap_or_default();
        if let Some(rest) = trim_ows_start(ext).strip_prefix(b"=") {
            let value = trim_ows_start(rest);
            let value_len = if value.first() == Some(&b'"') {
                match quoted_string_len(value) {
                    Some(n) => n,
                    None => return false,
                }
            } else {
                value.iter().take_while(|&&b| is_token_byte(b)).count()
            };
            if value_len == 0 {
                return false;
            }
            ext = value.get(value_len..).unwrap_or_default();
        }
    }
    true
}

/// Length of the quoted-string at the start of `s` (RFC 9110 §5.6.4), quotes included.
fn quoted_string_len(s: &[u8]) -> Option<usize> {
    let mut i = 1;
    loop {
        match *s.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => {
                let escaped = *s.get(i + 1)?;
                if escaped != b'\t' && (escaped < 0x20 || escaped == 0x7f) {
                    return None;
                }
                i += 2;
            }
            b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff => i += 1,
            _ => return None,
        }
    }
}

fn trim_ows_start(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    s
}

/// `field-name ":" OWS field-value OWS` with a token name and no control bytes in the value.
fn is_valid_field_line(line: &[u8]) -> bool {
    let Some(colon) = memchr::memchr(b':', line) else {
        return false;
    };
    let name = line.get(..colon).unwrap_or_default();
    let value = trim_ows(line.get(colon + 1..).unwrap_or_default());
    !name.is_empty()
        && name.iter().all(|&b| is_token_byte(b))
        && value
            .iter()
            .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}
