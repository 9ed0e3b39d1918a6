//! The compression layer: gzip, brotli or zstd bodies, negotiated from `Accept-Encoding`.
//!
//! ```
//! use ringpin::compress::Compression;
//! use ringpin::{get, HandlerExt, Response, Router};
//!
//! let router = Router::new().route("/", get(|_| async { Response::text("hi") }));
//! let handler = router.around(Compression::new().with_min_size(1024).layer());
//! # let _ = handler;
//! ```
//!
//! What it does, in order, once the handler has answered:
//!
//! 1. Leaves alone a status without a body to compress (1xx, 204, 304), a partial content
//!    (206: its ranges are of the uncompressed bytes), a response that already has a
//!    `Content-Encoding`, a file body (`Response::with_file`: it is sent by
//!    `sendfile(2)`; `ServeDir` serves precompressed siblings), and one whose `Content-Type` is not on the list
//!    ([`Compression::with_content_types`]; text, JSON, JavaScript, XML, SVG, wasm by default).
//! 2. Adds `Vary: Accept-Encoding` to every response it could have compressed, so a
//!    cache never hands a gzip body to a client that did not ask for one.
//! 3. Leaves alone `Cache-Control: no-transform`, and a complete body under the minimum
//!    size ([`Compression::with_min_size`], 860 bytes by default as in Akamai's and
//!    nginx's guidance: a smaller body fits one packet anyway).
//! 4. Picks the coding the client gives the highest q-value, ties going to the layer's
//!    order (brotli, zstd, gzip by default); `identity;q=0` with nothing acceptable still
//!    gets the plain body (a 406 would break more clients than it helps).
//! 5. A complete body is compressed in one go, and kept plain if that did not make it
//!    smaller. A streamed body (`Response::stream`, SSE) is compressed chunk by chunk,
//!    each chunk flushed (gzip's sync flush, brotli's and zstd's flush), so every event
//!    still reaches the client as soon as the handler yields it.
//!
//! A strong `ETag` is made weak (`W/`), since the bytes sent are no longer the ones it names.
//! The cost per algorithm and level is measured by `benches/compress.rs` (see
//! docs/performance.md).

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_lite::Stream;
use pin_project_lite::pin_project;

use crate::app::handler::Handler;
use crate::app::middleware::Next;
use crate::http::head::trim_ows;
use crate::http::request::Request;
use crate::http::response::{BodyStream, Response};

/// A content coding the layer can produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `gzip` (RFC 1952), via flate2's pure-Rust miniz_oxide backend.
    Gzip,
    /// `br` (RFC 7932), via the brotli crate.
    Brotli,
    /// `zstd` (RFC 8878), via libzstd.
    Zstd,
}

impl Encoding {
    /// The token in `Accept-Encoding` and `Content-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Brotli => "br",
            Encoding::Zstd => "zstd",
        }
    }
}

/// The compression policy; [`Compression::layer`] wraps a handler with it.
#[derive(Clone, Debug)]
pub struct Compression {
    min_size: usize,
    content_types: Vec<Box<str>>,
    order: Vec<Encoding>,
    gzip_level: u32,
    brotli_quality: u32,
    zstd_level: i32,
}

impl Default for Compression {
    fn default() -> Compression {
        Compression::new()
    }
}

/// The media types compressed by default: an entry ending in `/` matches the whole type,
/// one starting with `+` a structured-syntax suffix, any other the exact media type.
const DEFAULT_TYPES: &[&str] = &[
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
    "application/wasm",
    "image/svg+xml",
    "+json",
    "+xml",
];

impl Compression {
    /// Brotli, zstd and gzip in that order of preference, at brotli quality 4, zstd level
    /// 3 and gzip level 6 (fast levels for dynamic responses: brotli's default 11 costs
    /// tens of milliseconds per 64 KiB, see docs/performance.md), 860-byte minimum, the
    /// default content types.
    pub fn new() -> Compression {
        Compression {
            min_size: 860,
            content_types: DEFAULT_TYPES.iter().map(|&t| t.into()).collect(),
            order: vec![Encoding::Brotli, Encoding::Zstd, Encoding::Gzip],
            gzip_level: 6,
            brotli_quality: 4,
            zstd_level: 3,
        }
    }

    /// Complete bodies shorter than `bytes` are sent plain.
    pub fn with_min_size(mut self, bytes: usize) -> Compression {
        self.min_size = bytes;
        self
    }

    /// The media types to compress (replacing the default list): `"text/"` for a whole
    /// type, `"+json"` for a suffix, or an exact type such as `"application/json"`.
    pub fn with_content_types<I, S>(mut self, types: I) -> Compression
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.content_types = types.into_iter().map(|t| t.as_ref().into()).collect();
        self
    }

    /// The codings offered, most preferred first (a coding left out is never used).
    pub fn with_encodings(mut self, order: impl IntoIterator<Item = Encoding>) -> Compression {
        self.order = order.into_iter().collect();
        self
    }

    /// gzip level, 0 (store) to 9 (smallest).
    pub fn with_gzip_level(mut self, level: u32) -> Compression {
        self.gzip_level = level.min(9);
        self
    }

    /// brotli quality, 0 to 11.
    pub fn with_brotli_quality(mut self, quality: u32) -> Compression {
        self.brotli_quality = quality.min(11);
        self
    }

    /// zstd level, 1 to 22 (negative levels are faster still).
    pub fn with_zstd_level(mut self, level: i32) -> Compression {
        self.zstd_level = level;
        self
    }

    /// The layer, for [`HandlerExt::around`](crate::HandlerExt::around).
    pub fn layer<H: Handler>(
        self,
    ) -> impl Fn(Request, Next<H>) -> Compressed<H::Future> + Clone + 'static {
        let policy = Rc::new(self);
        move |request: Request, next: Next<H>| {
            let chosen = request
                .header("accept-encoding")
                .and_then(|accept| negotiate(accept, &policy.order));
            Compressed {
                inner: next.run(request),
                chosen,
                policy: policy.clone(),
            }
        }
    }

    /// `body` compressed whole with `encoding` at this policy's level: exactly what the
    /// layer does to a complete body. Public for `benches/compress.rs` and for compressing
    /// static assets ahead of time. `None` if the encoder failed.
    pub fn encode(&self, encoding: Encoding, body: &[u8]) -> Option<Vec<u8>> {
        compress(encoding, self, body)
    }

    fn compressible(&self, content_type: &[u8]) -> bool {
        let media = content_type
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default();
        let media = trim_ows(media);
        self.content_types.iter().any(|entry| {
            let entry = entry.as_bytes();
            if entry.ends_with(b"/") {
                media.len() > entry.len()
                    && media
                        .get(..entry.len())
                        .is_some_and(|p| p.eq_ignore_ascii_case(entry))
            } else if entry.starts_with(b"+") {
                media.len() > entry.len()
                    && media
                        .get(media.len() - entry.len()..)
                        .is_some_and(|s| s.eq_ignore_ascii_case(entry))
            } else {
                media.eq_ignore_ascii_case(entry)
            }
        })
    }

    /// Compresses `response` with `chosen` if the rules in the module doc allow it.
    fn apply(&self, response: &mut Response, chosen: Option<Encoding>) {
        let status = response.status;
        if status < 200 || status == 204 || status == 206 || status == 304 {
            return;
        }
        // A file body goes from the page cache by sendfile(2), never through user space;
        // ServeDir sends a precompressed sibling instead when there is one.
        if response.header("content-encoding").is_some() || response.is_file_body() {
            return;
        }
        if !response
            .content_type
            .as_deref()
            .is_some_and(|t| self.compressible(t))
        {
            return;
        }
        response.add_vary("accept-encoding");
        let no_transform = response.header("cache-control").is_some_and(|v| {
            v.split(|&b| b == b',')
                .any(|d| trim_ows(d).eq_ignore_ascii_case(b"no-transform"))
        });
        let Some(encoding) = chosen else {
            return;
        };
        if no_transform {
            return;
        }
        if let Some(stream) = response.take_stream() {
            response.set_stream(Box::pin(CompressedStream {
                inner: stream,
                encoder: Some(StreamEncoder::new(encoding, self)),
            }));
        } else {
            if response.body.len() < self.min_size {
                return;
            }
            let Some(packed) = compress(encoding, self, &response.body) else {
                return;
            };
            if packed.len() >= response.body.len() {
                return;
            }
            response.body = Bytes::from(packed);
        }
        response.set_header(
            "content-encoding",
            Bytes::from_static(encoding.token().as_bytes()),
        );
        weaken_etag(response);
    }
}

/// `W/"x"` for a strong `ETag` `"x"`.
fn weaken_etag(response: &mut Response) {
    let Some(etag) = response.header("etag") else {
        return;
    };
    if etag.starts_with(b"W/") {
        return;
    }
    let mut weak = Vec::with_capacity(etag.len() + 2);
    weak.extend_from_slice(b"W/");
    weak.extend_from_slice(etag);
    response.set_header("etag", Bytes::from(weak));
}

/// The coding `accept` (an `Accept-Encoding` value) rates highest among `offered`, ties
/// going to the earlier in `offered`; `None` when none has a q-value above 0 (then the body
/// goes plain). Malformed members are skipped.
pub fn negotiate(accept: &[u8], offered: &[Encoding]) -> Option<Encoding> {
    let mut best: Option<(Encoding, u16)> = None;
    for &encoding in offered {
        let q = quality(accept, encoding.token()).unwrap_or(0);
        if q > 0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((encoding, q));
        }
    }
    best.map(|(e, _)| e)
}

/// The q-value (in thousandths) `accept` gives `token`, directly or through `*`.
fn quality(accept: &[u8], token: &str) -> Option<u16> {
    let mut star = None;
    for member in accept.split(|&b| b == b',') {
        let mut parts = member.split(|&b| b == b';');
        let coding = trim_ows(parts.next().unwrap_or_default());
        let mut q = Some(1000);
        for param in parts {
            let param = trim_ows(param);
            if let Some(value) = param
                .strip_prefix(b"q=")
                .or_else(|| param.strip_prefix(b"Q="))
            {
                q = parse_qvalue(value);
            }
        }
        let Some(q) = q else { continue };
        if coding.eq_ignore_ascii_case(token.as_bytes()) {
            return Some(q);
        }
        if coding == b"*" {
            star = Some(q);
        }
    }
    star
}

/// RFC 9110 §12.4.2's qvalue, `0`..`1` with up to three decimals, in thousandths.
fn parse_qvalue(value: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(value).ok()?;
    let q: f32 = text.parse().ok()?;
    if !(0.0..=1.0).contains(&q) || value.len() > 5 {
        return None;
    }
    Some((q * 1000.0).round() as u16)
}

/// `body` compressed whole with `encoding` at the policy's level. The size is known here,
/// so zstd and brotli are told it: they then size their tables and window to the body
/// instead of to their 4-8 MiB streaming window (for a 1 KiB body that setup, not the
/// compression, was most of the cost). zstd's context is kept per shard and reused.
fn compress(encoding: Encoding, policy: &Compression, body: &[u8]) -> Option<Vec<u8>> {
    match encoding {
        Encoding::Gzip => {
            let mut encoder = StreamEncoder::new(encoding, policy);
            encoder.write(body).ok()?;
            encoder.finish().ok()
        }
        Encoding::Brotli => {
            let params = brotli::enc::BrotliEncoderParams {
                quality: policy.brotli_quality as i32,
                lgwin: window_log(body.len()) as i32,
                size_hint: body.len(),
                ..Default::default()
            };
            let mut out = Vec::with_capacity(body.len() / 2);
            brotli::BrotliCompress(&mut &body[..], &mut out, &params).ok()?;
            Some(out)
        }
        Encoding::Zstd => ZSTD.with(|cell| {
            let mut slot = cell.borrow_mut();
            let stale = slot
                .as_ref()
                .is_none_or(|(level, _)| *level != policy.zstd_level);
            if stale {
                let compressor = zstd::bulk::Compressor::new(policy.zstd_level).ok()?;
                *slot = Some((policy.zstd_level, compressor));
            }
            let (_, compressor) = slot.as_mut()?;
            compressor.compress(body).ok()
        }),
    }
}

thread_local! {
    /// This shard's zstd context for complete bodies, with the level it was made for.
    static ZSTD: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
}

/// brotli's window for a body of `len` bytes: just large enough (10 to 22, log2 bytes).
fn window_log(len: usize) -> u32 {
    let bits = usize::BITS - len.max(1).leading_zeros();
    bits.clamp(10, BROTLI_WINDOW)
}

/// An encoder writing into a `Vec` the layer drains after each chunk.
enum StreamEncoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
    /// zstd could not start (its context failed to allocate): the chunks pass unchanged
    /// and the stream is cut, since a Content-Encoding was already promised.
    Failed,
}

/// brotli's window, log2 bytes (22: 4 MiB, the crate's and Google's default).
const BROTLI_WINDOW: u32 = 22;
/// brotli's internal buffer.
const BROTLI_BUFFER: usize = 4096;

impl StreamEncoder {
    fn new(encoding: Encoding, policy: &Compression) -> StreamEncoder {
        match encoding {
            Encoding::Gzip => StreamEncoder::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(policy.gzip_level),
            )),
            Encoding::Brotli => StreamEncoder::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                BROTLI_BUFFER,
                policy.brotli_quality,
                BROTLI_WINDOW,
            ))),
            Encoding::Zstd => {
                match zstd::stream::write::Encoder::new(Vec::new(), policy.zstd_level) {
                    Ok(encoder) => StreamEncoder::Zstd(encoder),
                    Err(_) => StreamEncoder::Failed,
                }
            }
        }
    }

    fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        match self {
            StreamEncoder::Gzip(e) => e.write_all(chunk),
            StreamEncoder::Brotli(e) => e.write_all(chunk),
            StreamEncoder::Zstd(e) => e.write_all(chunk),
            StreamEncoder::Failed => Err(std::io::ErrorKind::Other.into()),
        }
    }

    /// Writes `chunk`, flushes, and returns the compressed bytes produced so far.
    fn push(&mut self, chunk: &[u8]) -> std::io::Result<Bytes> {
        self.write(chunk)?;
        let out = match self {
            StreamEncoder::Gzip(e) => {
                e.flush()?;
                e.get_mut()
            }
            StreamEncoder::Brotli(e) => {
                e.flush()?;
                e.get_mut()
            }
            StreamEncoder::Zstd(e) => {
                e.flush()?;
                e.get_mut()
            }
            StreamEncoder::Failed => return Err(std::io::ErrorKind::Other.into()),
        };
        Ok(Bytes::from(std::mem::take(out)))
    }

    /// Ends the stream; returns what is left (the trailer).
    fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            StreamEncoder::Gzip(e) => e.finish(),
            StreamEncoder::Brotli(e) => Ok(e.into_inner()),
            StreamEncoder::Zstd(e) => e.finish(),
            StreamEncoder::Failed => Err(std::io::ErrorKind::Other.into()),
        }
    }
}

/// A streamed body compressed chunk by chunk, each flushed.
struct CompressedStream {
    inner: BodyStream,
    encoder: Option<StreamEncoder>,
}

impl Stream for CompressedStream {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        loop {
            if self.encoder.is_none() {
                return Poll::Ready(None);
            }
            let chunk = match self.inner.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(chunk) => chunk,
            };
            let Some(chunk) = chunk else {
                let rest = self.encoder.take().map(StreamEncoder::finish);
                return match rest {
                    Some(Ok(rest)) if !rest.is_empty() => Poll::Ready(Some(Bytes::from(rest))),
                    Some(Err(e)) => {
                        log::warn!("compression failed at the end of a stream: {e}");
                        Poll::Ready(None)
                    }
                    _ => Poll::Ready(None),
                };
            };
            let pushed = match self.encoder.as_mut() {
                Some(encoder) => encoder.push(&chunk),
                None => return Poll::Ready(None),
            };
            match pushed {
                Ok(out) if out.is_empty() => continue,
                Ok(out) => return Poll::Ready(Some(out)),
                Err(e) => {
                    log::warn!("compression failed inside a stream, body cut: {e}");
                    self.encoder = None;
                    return Poll::Ready(None);
                }
            }
        }
    }
}

pin_project! {
    /// The handler's future, its response compressed when it completes; see
    /// [`Compression::layer`].
    pub struct Compressed<F> {
        #[pin]
        inner: F,
        chosen: Option<Encoding>,
        policy: Rc<Compression>,
    }
}

impl<F: Future<Output = Response>> Future for Compressed<F> {
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        let this = self.project();
        let Poll::Ready(mut response) = this.inner.poll(cx) else {
            return Poll::Pending;
        };
        this.policy.apply(&mut response, *this.chosen);
        Poll::Ready(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[Encoding] = &[Encoding::Brotli, Encoding::Zstd, Encoding::Gzip];

    #[test]
    fn negotiation_follows_q_values_then_the_layers_order() {
        let cases: &[(&str, Option<Encoding>)] = &[
            ("gzip", Some(Encoding::Gzip)),
            ("gzip, br", Some(Encoding::Brotli)),
            ("gzip, deflate, br, zstd", Some(Encoding::Brotli)),
            ("br;q=0.5, gzip", Some(Encoding::Gzip)),
            ("br;q=0.5, gzip;q=0.8, zstd;q=0.9", Some(Encoding::Zstd)),
            ("*", Some(Encoding::Brotli)),
            ("*;q=0.1, gzip;q=0.2", Some(Encoding::Gzip)),
            ("br;q=0, *", Some(Encoding::Zstd)),
            ("identity", None),
            ("identity;q=0", None),
            ("gzip;q=0", None),
            ("deflate", None),
            ("", None),
            ("gzip;q=2", None),
            ("gzip;q=abc, br;q=0.1", Some(Encoding::Brotli)),
            ("GZIP ; Q=0.7", Some(Encoding::Gzip)),
        ];
        for (accept, expected) in cases {
            assert_eq!(negotiate(accept.as_bytes(), ALL), *expected, "{accept:?}");
        }
        assert_eq!(
            negotiate(b"gzip, br", &[Encoding::Gzip]),
            Some(Encoding::Gzip)
        );
    }

    #[test]
    fn content_types_match_by_type_suffix_or_exactly() {
        let policy = Compression::new();
        for yes in [
            "text/html; charset=utf-8",
            "text/event-stream",
            "application/json",
            "APPLICATION/JSON",
            "application/problem+json",
            "image/svg+xml",
        ] {
            assert!(policy.compressible(yes.as_bytes()), "{yes}");
        }
        for no in [
            "image/png",
            "application/octet-stream",
            "text",
            "application/jsonx",
        ] {
            assert!(!policy.compressible(no.as_bytes()), "{no}");
        }
    }
}
