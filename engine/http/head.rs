//! Parsing and validating a request head: a pure function over bytes, no I/O, no allocation.
//!
//! httparse tokenises the request line and fields; everything it is lenient about (bare LF,
//! non-ASCII targets, framing headers it does not interpret) is checked here, per RFC 9112.

use std::mem::MaybeUninit;

use crate::config::{Limits, HEADER_CAPACITY};
use crate::http::error::RequestError;

/// A byte range inside the head buffer. Heads are at most [`crate::config::HEAD_CAPACITY`]
/// bytes, so `u16` offsets keep a request's field index small (8 bytes a field).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: u16,
    pub end: u16,
}

impl Span {
    fn of(base: &[u8], part: &[u8]) -> Span {
        // Both slices come from the same head buffer; `part` lies inside `base`.
        let start = (part.as_ptr() as usize).saturating_sub(base.as_ptr() as usize);
        Span {
            start: start as u16,
            end: (start + part.len()) as u16,
        }
    }

    fn sub(self, from: usize, to: usize) -> Span {
        Span {
            start: self.start + from as u16,
            end: self.start + to as u16,
        }
    }

    pub fn slice(self, buf: &[u8]) -> &[u8] {
        buf.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }
}

/// Protocol version of a request.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: closes after the response unless `Connection: keep-alive` is asked.
    Http10,
    /// HTTP/1.1: persistent unless `Connection: close`.
    Http11,
}

/// How the body of a request is delimited (RFC 9112 §6.3).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    /// No body.
    Empty,
    /// `Content-Length` bytes follow the head.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Everything learned from a head, as ranges into its bytes. The fields are not indexed:
/// a request looks them up in its validated head ([`field_lines`]), so a head costs 40
/// bytes wherever it is held instead of 100 slots of 8 (it is held inside every
/// connection's task, which is most of an idle connection's memory).
#[derive(Clone, Debug)]
pub(crate) struct Head {
    pub method: Span,
    pub target: Span,
    pub path: Span,
    pub query: Option<Span>,
    pub version: Version,
    pub framing: BodyFraming,
    pub keep_alive: bool,
    pub expect_continue: bool,
}

/// Where the scan for the end of a head stands, so each read re-scans only new bytes.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct HeadScan {
    scanned: usize,
    line_end_seen: bool,
    /// How far the method has been checked, and whether its SP has been seen.
    method_scanned: usize,
    method_done: bool,
}

impl HeadScan {
    /// Looks for the empty line that ends the head, starting where the last call stopped.
    /// Returns the head's length (through its final CRLF) once complete, `None` while
    /// partial, or an error for a bare line ending or an exceeded limit.
    ///
    /// The answer does not depend on how the bytes were split: each CR or LF is judged at the
    /// byte that decides it, and the limits that a byte-at-a-time reader would have hit
    /// before that byte are checked first.
    pub fn find_end(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<usize>, RequestError> {
        self.scan_method(buf, limits)?;
        let from = self.scanned;
        let new = buf.get(from..).unwrap_or_default();
        for offset in memchr::memchr2_iter(b'\r', b'\n', new) {
            let i = from + offset;
            if buf.get(i) == Some(&b'\r') {
                match buf.get(i + 1) {
                    Some(b'\n') => continue,
                    Some(_) => {
                        // Decided by the byte after the CR.
                        self.check_partial(i + 1, limits)?;
                        return Err(RequestError::BareLineEnding);
                    }
                    None => {
                        // The CR is the last byte read: decide when its successor arrives.
                        self.scanned = i;
                        return self.check_partial(buf.len(), limits);
                    }
                }
            }
            // A LF, decided at its own position: it must follow a CR.
            self.check_partial(i, limits)?;
            if i == 0 || buf.get(i - 1) != Some(&b'\r') {
                return Err(RequestError::BareLineEnding);
            }
            if !self.line_end_seen {
                if i + 1 > limits.max_request_line_bytes {
                    return Err(RequestError::RequestLineTooLong);
                }
                self.line_end_seen = true;
            } else if i >= 3 && buf.get(i - 3..i - 1) == Some(b"\r\n") {
                let len = i + 1;
                if len > limits.max_head_bytes {
                    return Err(RequestError::HeadTooLarge);
                }
                return Ok(Some(len));
            }
        }
        self.scanned = buf.len();
        self.check_partial(buf.len(), limits)
    }

    /// Judges each byte of the method as it arrives: a token (RFC 9110 §5.6.2) ended by one
    /// SP. Bytes that cannot begin a request line (a TLS ClientHello starts with 0x16, another
    /// protocol's preface, whitespace) are refused at the first such byte instead of being
    /// held until the header timeout. A CR or LF here is no exception: the empty lines
    /// tolerated before a request were skipped by the decoder already.
    fn scan_method(&mut self, buf: &[u8], limits: &Limits) -> Result<(), RequestError> {
        if self.method_done {
            return Ok(());
        }
        let from = self.method_scanned;
        let new = buf.get(from..).unwrap_or_default();
        for (offset, &b) in new.iter().enumerate() {
            let i = from + offset;
            // The limits a byte-at-a-time reader holding the bytes before this one has hit.
            self.check_partial(i, limits)?;
            if b == b' ' && i > 0 {
                self.method_done = true;
                self.method_scanned = i + 1;
                return Ok(());
            }
            if !is_token_byte(b) {
                return Err(RequestError::InvalidMethod);
            }
        }
        self.method_scanned = buf.len();
        Ok(())
    }

    /// The limits as a reader holding the first `len` bytes of an unfinished head sees them.
    /// A request line that runs past its limit inside the method is a bad method, not a
    /// long target: 400, not 414.
    fn check_partial(&self, len: usize, limits: &Limits) -> Result<Option<usize>, RequestError> {
        if !self.line_end_seen && len > limits.max_request_line_bytes {
            Err(if self.method_done {
                RequestError::RequestLineTooLong
            } else {
                RequestError::InvalidMethod
            })
        } else if len > limits.max_head_bytes {
            Err(RequestError::HeadTooLarge)
        } else {
            Ok(None)
        }
    }
}

/// Parses and validates a complete head (`buf` ends with the empty line, as found by
/// [`HeadScan::find_end`]), with at most `max_headers` fields and a `Content-Length` of at
/// most `max_body` (`Limits::max_headers`, `Limits::max_body_bytes`, or more for a
/// handler that streams its bodies).
pub(crate) fn parse_head(
    buf: &[u8],
    max_headers: usize,
    max_body: u64,
) -> Result<Head, RequestError> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; HEADER_CAPACITY];
    let slots = slots
        .get_mut(..max_headers.min(HEADER_CAPACITY))
        .unwrap_or_default();
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(buf, slots) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(RequestError::InvalidRequestLine),
        Err(e) => return Err(map_httparse_error(e, buf)),
    }
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(RequestError::InvalidRequestLine);
    };
    let version = if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    };
    let method_span = Span::of(buf, method.as_bytes());
    let target_span = Span::of(buf, target.as_bytes());
    let (form, path, query) = split_target(method.as_bytes(), target.as_bytes(), target_span)?;

    let mut head = Head {
        method: method_span,
        target: target_span,
        path,
        query,
        version,
        framing: BodyFraming::Empty,
        keep_alive: version == Version::Http11,
        expect_continue: false,
    };
    let (mut hosts, mut content_types) = (0usize, 0usize);
    let mut empty_host = false;
    let mut content_length: Option<u64> = None;
    let mut te = TransferCodings::default();
    let (mut close, mut keep_alive) = (false, false);
    for field in req.headers.iter() {
        let value = trim_ows(field.value);
        let name = field.name.as_bytes();
        if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
            empty_host = value.is_empty();
            if !is_host_value(value) {
                return Err(RequestError::InvalidHost);
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            if content_length.is_some() {
                return Err(RequestError::InvalidContentLength);
            }
            content_length = Some(parse_content_length(value)?);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            te.add(value)?;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in list_items(value) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"content-type") {
            content_types += 1;
            if content_types > 1 {
                return Err(RequestError::InvalidHeader);
            }
        } else if is_disguised_framing_name(name) {
            return Err(RequestError::InvalidHeader);
        } else if name.eq_ignore_ascii_case(b"expect") && version == Version::Http11 {
            if value.eq_ignore_ascii_case(b"100-continue") {
                head.expect_continue = true;
            } else if !value.is_empty() {
                return Err(RequestError::UnsupportedExpectation);
            }
        }
    }
    match (version, hosts) {
        (Version::Http11, 1) | (Version::Http10, 0 | 1) => {}
        _ => return Err(RequestError::InvalidHostCount),
    }
    // RFC 9112 §3.2: Host may be empty only when the target itself names the authority.
    if empty_host && form != TargetForm::Absolute {
        return Err(RequestError::InvalidHost);
    }
    // Upgrade (and `Connection: upgrade`) is ignored, as RFC 9110 §7.8 allows: ringpin never
    // switches protocols, answers without 101, and the connection stays what it was.
    head.keep_alive = !close && (version == Version::Http11 || keep_alive);
    head.framing = match (te.present, content_length) {
        (true, Some(_)) => return Err(RequestError::ConflictingFraming),
        (true, None) => te.framing(version)?,
        (false, Some(0)) | (false, None) => BodyFraming::Empty,
        (false, Some(n)) if n > max_body => return Err(RequestError::BodyTooLarge),
        (false, Some(n)) => BodyFraming::Length(n),
    };
    if head.framing == BodyFraming::Empty {
        head.expect_continue = false;
    }
    // ringpin opens no tunnels: a well-formed CONNECT is answered by the engine, never by
    // a handler that might answer 2xx and leave the client sending tunnel bytes as requests.
    if form == TargetForm::Authority {
        return Err(RequestError::ConnectNotImplemented);
    }
    Ok(head)
}

/// `Content_Length`, `transfer_encoding` ...: the name of a framing field with `_` for `-`.
/// Not the field, but a proxy or CGI-style gateway may translate it into the field (both
/// become `HTTP_CONTENT_LENGTH`): a second framing the engine would not see.
fn is_disguised_framing_name(name: &[u8]) -> bool {
    matches!(name.len(), 14 | 17)
        && name.contains(&b'_')
        && [&b"content-length"[..], b"transfer-encoding"]
            .iter()
            .any(|field| {
                name.len() == field.len()
                    && name
                        .iter()
                        .zip(field.iter())
                        .all(|(&n, &f)| n.to_ascii_lowercase() == f || (n == b'_' && f == b'-'))
            })
}

/// The field lines of a head that [`parse_head`] accepted, as (name, value trimmed of
/// surrounding whitespace), in order. Only valid on such a head: every line after the
/// request line is then `token ":" value CRLF` (no bare LF, no obs-fold, no space before
/// the colon), so splitting at CRLF and the first colon gives what httparse gave.
pub(crate) fn field_lines(head: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut lines = head.split(|&b| b == b'\n');
    lines.next(); // the request line
    lines
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .take_while(|line| !line.is_empty())
        .map(|line| {
            let colon = memchr::memchr(b':', line).unwrap_or(line.len());
            let (name, value) = line.split_at(colon);
            (name, trim_ows(value.get(1..).unwrap_or_default()))
        })
}

#[cold]
fn map_httparse_error(e: httparse::Error, buf: &[u8]) -> RequestError {
    match e {
        httparse::Error::TooManyHeaders => RequestError::TooManyHeaders,
        httparse::Error::Token => {
            // httparse says Token for any bad byte before the version: blame the method only
            // when it is the method that is not a token.
            let method = buf.split(|&b| b == b' ').next().unwrap_or_default();
            if !method.is_empty() && method.iter().all(|&b| is_token_byte(b)) {
                RequestError::InvalidRequestLine
            } else {
                RequestError::InvalidMethod
            }
        }
        httparse::Error::HeaderName | httparse::Error::HeaderValue => RequestError::InvalidHeader,
        httparse::Error::Version if looks_like_http_version(buf) => {
            RequestError::UnsupportedVersion
        }
        httparse::Error::NewLine => {
            // A CRLF that ends the request line early, or a field line that is not one.
            match memchr::memchr(b'\n', buf) {
                Some(end) if buf.get(end + 1..).is_some_and(|rest| !rest.is_empty()) => {
                    if request_line_is_well_formed(buf.get(..end).unwrap_or_default()) {
                        RequestError::InvalidHeader
                    } else {
                        RequestError::InvalidRequestLine
                    }
                }
                _ => RequestError::InvalidRequestLine,
            }
        }
        _ => RequestError::InvalidRequestLine,
    }
}

/// A well-formed request line (`method SP target SP version`) whose version is
/// `HTTP/` DIGIT `.` DIGIT: a version we understand the shape of but do not speak (HTTP/2.0,
/// the h2 preface, HTTP/1.2): 505 rather than 400.
fn looks_like_http_version(buf: &[u8]) -> bool {
    let line_end = memchr::memchr(b'\r', buf).unwrap_or(buf.len());
    let line = buf.get(..line_end).unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (Some(_method), Some(_target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    matches!(version, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
        if major.is_ascii_digit() && minor.is_ascii_digit())
}

fn request_line_is_well_formed(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.split(|&b| b == b' ').count() == 3
        && (line.ends_with(b"HTTP/1.1") || line.ends_with(b"HTTP/1.0"))
}

/// The four forms of a request-target (RFC 9112 §3.2).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum TargetForm {
    Origin,
    Absolute,
    Authority,
    Asterisk,
}

/// Splits the request-target into path and query after checking its form (RFC 9112 §3.2).
fn split_target(
    method: &[u8],
    target: &[u8],
    span: Span,
) -> Result<(TargetForm, Span, Option<Span>), RequestError> {
    if !target.iter().all(|&b| is_target_byte(b)) || has_encoded_control(target) {
        return Err(RequestError::InvalidTarget);
    }
    let is_connect = method == b"CONNECT";
    match target.first() {
        Some(b'/') if !is_connect => {
            let (path, query) = split_query(target, span, 0);
            Ok((TargetForm::Origin, path, query))
        }
        Some(b'*') if target.len() == 1 && method == b"OPTIONS" => {
            Ok((TargetForm::Asterisk, span, None))
        }
        Some(_) if is_connect => {
            if is_authority(target) {
                Ok((TargetForm::Authority, span, None))
            } else {
                Err(RequestError::InvalidTarget)
            }
        }
        Some(_) => {
            // absolute-form: scheme "://" authority path-abempty [ "?" query ]
            let sep = memchr::memmem::find(target, b"://").ok_or(RequestError::InvalidTarget)?;
            let scheme = target.get(..sep).unwrap_or_default();
            let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
                && scheme
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
            let rest_at = sep + 3;
            let rest = target.get(rest_at..).unwrap_or_default();
            let path_at = rest_at
                + rest
                    .iter()
                    .position(|&b| b == b'/' || b == b'?')
                    .unwrap_or(rest.len());
            let authority = target.get(rest_at..path_at).unwrap_or_default();
            if !scheme_ok || authority.is_empty() || !is_host_value(authority) {
                return Err(RequestError::InvalidTarget);
            }
            let (path, query) = split_query(target, span, path_at);
            Ok((TargetForm::Absolute, path, query))
        }
        None => Err(RequestError::InvalidTarget),
    }
}

fn split_query(target: &[u8], span: Span, path_at: usize) -> (Span, Option<Span>) {
    match memchr::memchr(b'?', target) {
        Some(q) if q >= path_at => (span.sub(path_at, q), Some(span.sub(q + 1, target.len()))),
        _ => (span.sub(path_at, target.len()), None),
    }
}

/// `uri-host ":" port` for CONNECT (RFC 9112 §3.2.3): the port is required.
fn is_authority(target: &[u8]) -> bool {
    matches!(split_host_port(target), Some((host, Some(port))) if !host.is_empty() && !port.is_empty())
}

/// `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2): the value of Host and the
/// authority of an absolute-form target. Empty is allowed (a Host for a target without an
/// authority). There is no userinfo: `user@host` is refused (RFC 9110 §4.2.4).
fn is_host_value(value: &[u8]) -> bool {
    match split_host_port(value) {
        Some((host, port)) => !(host.is_empty() && port.is_some()),
        None => false,
    }
}

/// Splits `uri-host [ ":" port ]` after checking each part's bytes; `None` if malformed.
fn split_host_port(value: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let (host, rest) = if value.first() == Some(&b'[') {
        // IP-literal: "[" ( IPv6address / IPvFuture ) "]"
        let close = memchr::memchr(b']', value)?;
        let inner = value.get(1..close)?;
        let literal_ok =
            !inner.is_empty() && inner.iter().all(|&b| is_reg_name_byte(b) || b == b':');
        if !literal_ok {
            return None;
        }
        (value.get(..=close)?, value.get(close + 1..)?)
    } else {
        let colon = memchr::memchr(b':', value).unwrap_or(value.len());
        let host = value.get(..colon)?;
        if !host.iter().all(|&b| is_reg_name_byte(b)) {
            return None;
        }
        (host, value.get(colon..)?)
    };
    match rest {
        [] => Some((host, None)),
        [b':', port @ ..] if port.iter().all(u8::is_ascii_digit) => Some((host, Some(port))),
        _ => None,
    }
}

/// Bytes of a `reg-name` or IPv4 address: unreserved, pct-encoded, sub-delims
/// (RFC 3986 §3.2.2). No `:`, `@`, `[`, `]`, `/`, `?`, `#`.
#[inline]
fn is_reg_name_byte(b: u8) -> bool {
    REG_NAME[usize::from(b)]
}

const fn reg_name(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'%'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
        )
}

/// A byte class as a 256-entry table, built at compile time from its `const fn`: the
/// checks that run over every byte of a target or a `Host` value are one load each.
macro_rules! byte_table {
    ($class:ident) => {{
        let mut table = [false; 256];
        let mut b = 0;
        while b < 256 {
            table[b] = $class(b as u8);
            b += 1;
        }
        table
    }};
}

static REG_NAME: [bool; 256] = byte_table!(reg_name);
static TARGET: [bool; 256] = byte_table!(target_byte);
static TOKEN: [bool; 256] = byte_table!(tchar);

/// Visible ASCII except `#` (fragments are never sent), `\` (no URI holds it; some
/// servers and file systems read it as `/`) and the bytes httparse already refuses.
/// Non-ASCII must be percent-encoded (RFC 3986 §2.1): refused, where httparse accepts it.
#[inline]
fn is_target_byte(b: u8) -> bool {
    TARGET[usize::from(b)]
}

const fn target_byte(b: u8) -> bool {
    b >= 0x21 && b <= 0x7e && b != b'#' && b != b'\\'
}

/// `%00`, `%0D` or `%0A` anywhere in the target: a NUL, CR or LF once decoded, which
/// truncates a path in C-string code or splits a header a handler builds from it.
fn has_encoded_control(target: &[u8]) -> bool {
    memchr::memchr_iter(b'%', target).any(|at| {
        matches!(
            target.get(at + 1..at + 3),
            Some([b'0', b'0' | b'a' | b'A' | b'd' | b'D'])
        )
    })
}

/// `Content-Length = 1*DIGIT` (RFC 9110 §8.6): no sign, no list, no whitespace inside,
/// at most `u64::MAX`. Leading zeros are digits like any other: `007` is 7.
fn parse_content_length(value: &[u8]) -> Result<u64, RequestError> {
    if value.is_empty() {
        return Err(RequestError::InvalidContentLength);
    }
    value.iter().try_fold(0u64, |n, &b| {
        if !b.is_ascii_digit() {
            return Err(RequestError::InvalidContentLength);
        }
        // A value beyond u64 is not a large body but no number at all.
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(RequestError::InvalidContentLength)
    })
}

/// The transfer codings of every Transfer-Encoding field, in order.
#[derive(Default)]
struct TransferCodings {
    present: bool,
    chunked_count: u8,
    last_is_chunked: bool,
    other: bool,
}

impl TransferCodings {
    fn add(&mut self, value: &[u8]) -> Result<(), RequestError> {
        self.present = true;
        for coding in list_items(value) {
            let name = coding
                .split(|&b| b == b';')
                .next()
                .map(trim_ows)
                .unwrap_or_default();
            if name.is_empty() || !name.iter().all(|&b| is_token_byte(b)) {
                return Err(RequestError::InvalidTransferEncoding);
            }
            let chunked = name.eq_ignore_ascii_case(b"chunked");
            if chunked {
                if coding.len() != name.len() {
                    // chunked takes no parameters.
                    return Err(RequestError::InvalidTransferEncoding);
                }
                self.chunked_count = self.chunked_count.saturating_add(1);
            } else {
                self.other = true;
            }
            self.last_is_chunked = chunked;
        }
        Ok(())
    }

    fn framing(&self, version: Version) -> Result<BodyFraming, RequestError> {
        if version == Version::Http10 || !self.last_is_chunked || self.chunked_count != 1 {
            Err(RequestError::InvalidTransferEncoding)
        } else if self.other {
            Err(RequestError::UnsupportedTransferCoding)
        } else {
            Ok(BodyFraming::Chunked)
        }
    }
}

/// The non-empty elements of a comma-separated list, each trimmed of optional whitespace.
pub(crate) fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|item| !item.is_empty())
}

/// Strips leading and trailing spaces and tabs.
pub(crate) fn trim_ows(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// `tchar` (RFC 9110 §5.6.2).
#[inline]
pub(crate) fn is_token_byte(b: u8) -> bool {
    TOKEN[usize::from(b)]
}

const fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// httparse's fields of an accepted head, trimmed as `parse_head` trims them.
    fn httparse_fields(head: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut slots = [httparse::EMPTY_HEADER; HEADER_CAPACITY];
        let mut req = httparse::Request::new(&mut slots);
        assert!(matches!(req.parse(head), Ok(httparse::Status::Complete(_))));
        req.headers
            .iter()
            .map(|h| (h.name.as_bytes().to_vec(), trim_ows(h.value).to_vec()))
            .collect()
    }

    fn scanned_fields(head: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        field_lines(head)
            .map(|(n, v)| (n.to_vec(), v.to_vec()))
            .collect()
    }

    #[test]
    fn field_lines_split_at_the_first_colon_and_trim_whitespace() {
        let head = b"GET / HTTP/1.1\r\nHost: a:80\r\nX-Empty:\r\nX-Tab:\t v \t\r\nA:b\r\n\r\n";
        let limits = Limits::default();
        parse_head(head, limits.max_headers, limits.max_body_bytes).expect("valid head");
        let expected: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (b"Host".to_vec(), b"a:80".to_vec()),
            (b"X-Empty".to_vec(), b"".to_vec()),
            (b"X-Tab".to_vec(), b"v".to_vec()),
            (b"A".to_vec(), b"b".to_vec()),
        ];
        assert_eq!(scanned_fields(head), expected);
        assert_eq!(httparse_fields(head), expected);
    }

    type Scanned = Result<Option<usize>, RequestError>;

    /// What `find_end` says of `bytes` fed whole, and fed one byte per call.
    fn scan_whole_and_bytewise(bytes: &[u8], limits: &Limits) -> (Scanned, Scanned) {
        let whole = HeadScan::default().find_end(bytes, limits);
        let mut scan = HeadScan::default();
        let mut bytewise = Ok(None);
        for len in 1..=bytes.len() {
            bytewise = scan.find_end(&bytes[..len], limits);
            if bytewise != Ok(None) {
                break;
            }
        }
        (whole, bytewise)
    }

    #[test]
    fn the_method_is_judged_byte_by_byte() {
        let limits = Limits::default();
        let long = [
            vec![b'M'; limits.max_request_line_bytes + 1],
            b" / ".to_vec(),
        ]
        .concat();
        let cases: [(&[u8], Scanned); 6] = [
            (b"\x16\x03\x01\x02\x00", Err(RequestError::InvalidMethod)),
            (b"GE\x00", Err(RequestError::InvalidMethod)),
            (b"GET\r\n", Err(RequestError::InvalidMethod)),
            (b" GET", Err(RequestError::InvalidMethod)),
            (b"GET /\x16", Ok(None)),
            (&long, Err(RequestError::InvalidMethod)),
        ];
        for (bytes, expected) in cases {
            let (whole, bytewise) = scan_whole_and_bytewise(bytes, &limits);
            assert_eq!(whole, expected, "{:?}", bytes.escape_ascii().to_string());
            assert_eq!(bytewise, expected, "{:?}", bytes.escape_ascii().to_string());
        }
        let line = [b"GET /".to_vec(), vec![b'a'; limits.max_request_line_bytes]].concat();
        let (whole, bytewise) = scan_whole_and_bytewise(&line, &limits);
        assert_eq!(
            (whole, bytewise),
            (
                Err(RequestError::RequestLineTooLong),
                Err(RequestError::RequestLineTooLong)
            )
        );
    }

    /// Every head in the h2o seeds that `parse_head` accepts yields, line by line, exactly
    /// the fields httparse found in it.
    #[test]
    fn field_lines_agree_with_httparse_on_every_accepted_seed() {
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/corpus/h2o-http1/seeds");
        let limits = Limits::default();
        let mut compared = 0;
        for entry in std::fs::read_dir(&dir).expect("the h2o seeds are in ../shared") {
            let bytes = std::fs::read(entry.expect("dir entry").path()).expect("seed");
            let start = bytes.iter().position(|&b| b != b'\r' && b != b'\n');
            let Some(rest) = start.and_then(|s| bytes.get(s..)) else {
                continue;
            };
            let Ok(Some(end)) = HeadScan::default().find_end(rest, &limits) else {
                continue;
            };
            let head = rest.get(..end).expect("end within bytes");
            if parse_head(head, limits.max_headers, limits.max_body_bytes).is_ok() {
                assert_eq!(scanned_fields(head), httparse_fields(head), "{head:?}");
                compared += 1;
            }
        }
        assert!(compared > 300, "only {compared} seeds had an accepted head");
    }
}
