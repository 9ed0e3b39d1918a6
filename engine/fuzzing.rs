//! Thin wrappers that let the cargo-fuzz targets in `fuzz/` reach the crate-private parsers.
//!
//! Compiled only with the `fuzzing` feature; not part of the public API. Each wrapper runs
//! a parser twice, on the whole input and on the input cut at the given split points, and
//! panics if the two disagree: a parser must not depend on how bytes arrive.

use std::fmt::Debug;

use bytes::BytesMut;

use crate::config::Limits;
use crate::http::chunked::ChunkedDecoder;
use crate::http::error::RequestError;
use crate::http::head::{parse_head, HeadScan};
use crate::http::request::Request;
use crate::http::response::Response;
use crate::http::session::{Session, SessionState};

/// What scanning and parsing a head produced.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadOutcome {
    /// The head is not complete yet.
    Partial,
    /// A complete, valid head of this many bytes.
    Complete(usize),
    /// The head was refused.
    Refused(RequestError),
}

/// Finds the end of the head at the front of `input` and parses it, feeding the scanner the
/// whole input at once and again in the pieces `splits` cuts it into (offsets, any order,
/// out-of-range ones ignored). Panics if the two ways disagree.
pub fn parse_head_split(input: &[u8], splits: &[usize], limits: &Limits) -> HeadOutcome {
    same_whole_and_split(input, splits, limits, "head scan", scan_head)
}

fn scan_head(input: &[u8], splits: &[usize], limits: &Limits) -> HeadOutcome {
    let mut scan = HeadScan::default();
    for end in cut_points(input.len(), splits) {
        let seen = input.get(..end).unwrap_or_default();
        match scan.find_end(seen, limits) {
            Ok(None) => {}
            Ok(Some(len)) => {
                return match parse_head(
                    seen.get(..len).unwrap_or_default(),
                    limits.max_headers,
                    limits.max_body_bytes,
                ) {
                    Ok(_) => HeadOutcome::Complete(len),
                    Err(e) => HeadOutcome::Refused(e),
                }
            }
            Err(e) => return HeadOutcome::Refused(e),
        }
    }
    HeadOutcome::Partial
}

/// What decoding a chunked body produced.
#[derive(Debug, PartialEq, Eq)]
pub enum ChunkedOutcome {
    /// More input is needed; the data decoded so far.
    Partial(Vec<u8>),
    /// The body ended.
    Complete {
        /// The decoded data.
        data: Vec<u8>,
        /// How many input bytes the body took, trailers included.
        consumed: usize,
    },
    /// The body was refused.
    Refused(RequestError),
}

/// Decodes `input` as a chunked body, whole and in the pieces `splits` cuts it into. Panics
/// if the two ways disagree.
pub fn decode_chunked_split(input: &[u8], splits: &[usize], limits: &Limits) -> ChunkedOutcome {
    same_whole_and_split(input, splits, limits, "chunked decoding", decode_chunked)
}

/// Runs `parse` under `limits` (clamped) on the whole input and on the pieces `splits` cuts
/// it into; panics, naming `what`, if the two outcomes differ.
fn same_whole_and_split<T: PartialEq + Debug>(
    input: &[u8],
    splits: &[usize],
    limits: &Limits,
    what: &str,
    parse: fn(&[u8], &[usize], &Limits) -> T,
) -> T {
    let limits = limits.clamped();
    let whole = parse(input, &[], &limits);
    let pieces = parse(input, splits, &limits);
    assert_eq!(whole, pieces, "{what} depends on the split");
    whole
}

fn decode_chunked(input: &[u8], splits: &[usize], limits: &Limits) -> ChunkedOutcome {
    let mut decoder = ChunkedDecoder::new();
    let mut buf = BytesMut::new();
    let mut out = BytesMut::new();
    let mut fed = 0;
    for end in cut_points(input.len(), splits) {
        buf.extend_from_slice(input.get(fed..end).unwrap_or_default());
        fed = end;
        match decoder.decode(&mut buf, &mut out, limits) {
            Ok(false) => {}
            Ok(true) => {
                return ChunkedOutcome::Complete {
                    data: out.to_vec(),
                    consumed: fed - buf.len(),
                }
            }
            Err(e) => return ChunkedOutcome::Refused(e),
        }
    }
    ChunkedOutcome::Partial(out.to_vec())
}

/// Feeds `input` to a [`Session`] whole, then cut at each of `splits_list`'s point sets,
/// answering with a handler that reflects what was decoded. Panics if any way differs from
/// the whole (responses with `Date` lines and `100 Continue` left out, and the final state),
/// or if anything is answered after the session stopped being open. Returns the state.
pub fn answer_split(input: &[u8], splits_list: &[Vec<usize>], limits: &Limits) -> SessionState {
    let whole = answer(input, &[], limits);
    for splits in splits_list {
        assert_eq!(
            whole,
            answer(input, splits, limits),
            "session depends on the split"
        );
    }
    whole.1
}

async fn reflect(request: Request) -> Response {
    let mut text = Vec::new();
    text.extend_from_slice(request.method().as_bytes());
    text.push(b' ');
    text.extend_from_slice(request.target().as_bytes());
    text.push(b' ');
    text.extend_from_slice(request.body());
    Response::bytes(text)
}

fn answer(input: &[u8], splits: &[usize], limits: &Limits) -> (Vec<u8>, SessionState) {
    let mut session = Session::new(limits);
    let mut output = Vec::new();
    let mut fed = 0;
    for end in cut_points(input.len(), splits) {
        session.receive(input.get(fed..end).unwrap_or_default());
        fed = end;
        let open = session.state() == SessionState::Open;
        loop {
            futures_lite::future::block_on(session.answer(&reflect, false));
            if session.output().is_empty() {
                break;
            }
            assert!(open, "answered after the session stopped being open");
            output.extend_from_slice(session.output());
            session.clear_output();
        }
    }
    (normalize(&output), session.state())
}

/// Drops what legitimately depends on timing: `Date` lines and `100 Continue` (sent only
/// when a body has not arrived with its head).
fn normalize(output: &[u8]) -> Vec<u8> {
    const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
    let mut out = Vec::with_capacity(output.len());
    let mut rest = output;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix(CONTINUE) {
            rest = after;
        } else if rest.starts_with(b"\r\nDate: ") {
            let end = memchr::memmem::find(rest.get(2..).unwrap_or_default(), b"\r\n")
                .map_or(rest.len(), |n| n + 2);
            rest = rest.get(end..).unwrap_or_default();
        } else {
            out.extend_from_slice(rest.get(..1).unwrap_or_default());
            rest = rest.get(1..).unwrap_or_default();
        }
    }
    out
}

/// Inputs at most this long are also fed one byte at a time; longer ones only in the
/// pseudo-random pieces (every byte of a long input costs more fuzzing throughput than it
/// finds; the split property test and the seed replays feed every seed byte by byte).
const BYTEWISE_MAX: usize = 256;

/// The split point sets a fuzz target tries for `input`: every byte on its own (short
/// inputs), and three sets of 16 cuts drawn from a hash of the input itself (so a finding
/// replays exactly).
pub fn splits_for(input: &[u8]) -> Vec<Vec<usize>> {
    let mut sets = Vec::new();
    if input.len() <= BYTEWISE_MAX {
        sets.push((1..input.len()).collect());
    }
    let mut state = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    for _ in 0..3 {
        let mut cuts = Vec::new();
        for _ in 0..16 {
            // xorshift64
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if !input.is_empty() {
                cuts.push((state % input.len() as u64) as usize);
            }
        }
        sets.push(cuts);
    }
    sets
}

/// Limits small enough that short fuzz inputs reach every one of them.
pub fn small_limits() -> Limits {
    Limits {
        max_request_line_bytes: 40,
        max_head_bytes: 120,
        max_headers: 4,
        max_body_bytes: 64,
        max_chunk_extension_bytes: 12,
        max_trailer_bytes: 16,
        max_empty_lines: 1,
        ..Limits::default()
    }
}

/// The sorted, distinct ends of the pieces `splits` cuts `len` bytes into, the last `len`.
pub fn cut_points(len: usize, splits: &[usize]) -> Vec<usize> {
    let mut points: Vec<usize> = splits
        .iter()
        .copied()
        .filter(|&p| p > 0 && p < len)
        .collect();
    points.sort_unstable();
    points.dedup();
    points.push(len);
    points
}
