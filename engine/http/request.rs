//! The request a handler receives: ranges into the frozen read buffer, no copies.

use std::any::Any;
use std::borrow::Cow;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;

use bytes::Bytes;

use crate::http::body::RequestBody;
use crate::http::head::{Head, Span, Version};
use crate::http::origin::{self, Origin};

/// Most `:param` and `*rest` captures one route may have.
pub const MAX_PARAMS: usize = 8;

/// What a route gives each request it dispatches, shared by reference count: the names of
/// its captures and its router's per-shard state. One thin pointer in the request (the
/// request lives in every connection's future, so its size is an idle connection's memory).
pub(crate) struct RouteInfo {
    pub names: Box<[Box<str>]>,
    pub state: Option<Rc<dyn Any>>,
}

/// Path parameters captured by the router: names shared with the route, values as ranges
/// of the head.
#[derive(Clone, Default)]
struct Params {
    names: Option<Rc<RouteInfo>>,
    spans: [Span; MAX_PARAMS],
    len: u8,
}

/// One HTTP request. Method, target, fields and body are slices of the connection's read
/// buffer (`Bytes` share it by reference count): building a request allocates nothing.
pub struct Request {
    head: Bytes,
    parts: Head,
    body: Bytes,
    body_stream: Option<RequestBody>,
    params: Params,
    /// The connection's addresses; `None` for a request no connection carried (a
    /// [`crate::Session`] driven by hand without [`crate::Session::set_peer_addr`]).
    origin: Option<Rc<Origin>>,
}

/// What [`Request::peer_addr`] and [`Request::client_addr`] say without a connection.
const NO_ADDR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

impl Request {
    pub(crate) fn new(head: Bytes, parts: Head, body: Bytes) -> Request {
        Request {
            head,
            parts,
            body,
            body_stream: None,
            params: Params::default(),
            origin: None,
        }
    }

    /// The state of the router that dispatched this request
    /// ([`crate::Router::with_state`]), if it is a `T`.
    pub fn state<T: 'static>(&self) -> Option<&T> {
        self.params.names.as_ref()?.state.as_ref()?.downcast_ref()
    }

    /// Every capture of the route, in pattern order: (name, still percent-encoded value).
    pub(crate) fn raw_params(&self) -> impl Iterator<Item = (&str, &str)> {
        let names = self
            .params
            .names
            .as_deref()
            .map_or(&[][..], |r| &r.names[..]);
        names
            .iter()
            .zip(self.params.spans.iter())
            .take(usize::from(self.params.len))
            .map(|(name, span)| (&**name, self.text(*span)))
    }

    /// Gives the request its connection's addresses (a reference count, no copy).
    pub(crate) fn set_origin(&mut self, origin: Option<Rc<Origin>>) {
        self.origin = origin;
    }

    /// The TCP peer of the connection, as accept returned it: the client, or the proxy or
    /// load balancer in front of ringpin. `0.0.0.0:0` for a request no socket carried.
    pub fn peer_addr(&self) -> SocketAddr {
        self.origin.as_ref().map_or(NO_ADDR, |o| o.peer)
    }

    /// The client's address, as far as ringpin can trust what it is told:
    ///
    /// 1. the source address of the connection's PROXY header
    ///    ([`Config::proxy_protocol`](crate::Config::proxy_protocol)) when it carried one
    ///    (v2 `LOCAL`, v1 `UNKNOWN`, unspecified and unix families keep the TCP peer), else
    ///    [`Request::peer_addr`];
    /// 2. when that address is one of
    ///    [`Config::trusted_proxies`](crate::Config::trusted_proxies): the rightmost
    ///    address in `Forwarded: for=` (RFC 7239), or without a `Forwarded` field in
    ///    `X-Forwarded-For`, that is not a trusted proxy (the leftmost if all are), with
    ///    port 0 when the header gives none. A malformed entry on that walk (or `unknown`,
    ///    an obfuscated node) makes it give up: the answer is then the address of step 1.
    ///
    /// The fields are parsed on each call, only then: a request that never asks pays
    /// nothing.
    pub fn client_addr(&self) -> SocketAddr {
        let Some(origin) = &self.origin else {
            return NO_ADDR;
        };
        origin::client_addr(origin.nearest(), &origin.trusted, || self.headers())
    }

    /// The request line (method, target, version), as a slice of the head: no copy.
    pub(crate) fn request_line(&self) -> Bytes {
        let end = memchr::memchr(b'\r', &self.head).unwrap_or(self.head.len());
        self.head.slice(..end)
    }

    /// The head's bytes and parts back, for the decoder to hold while the body arrives.
    pub(crate) fn into_parsed_head(self) -> (Bytes, Head) {
        (self.head, self.parts)
    }

    pub(crate) fn set_body_stream(&mut self, body: RequestBody) {
        self.body_stream = Some(body);
    }

    pub(crate) fn expects_continue(&self) -> bool {
        self.parts.expect_continue
    }

    /// The body as a stream of chunks, for a route that asked for streaming
    /// ([`crate::MethodRouter::with_streaming_body`]); `None` otherwise (the body is then
    /// complete in [`Request::body`]). Can be taken once.
    pub fn take_body_stream(&mut self) -> Option<RequestBody> {
        self.body_stream.take()
    }

    /// Records the router's captures: `(start, end)` byte ranges within [`Request::path`].
    pub(crate) fn set_params(&mut self, names: &Rc<RouteInfo>, captures: &[(usize, usize)]) {
        let base = usize::from(self.parts.path.start);
        let mut params = Params {
            names: Some(names.clone()),
            ..Params::default()
        };
        for (slot, &(start, end)) in params.spans.iter_mut().zip(captures) {
            *slot = Span {
                start: (base + start) as u16,
                end: (base + end) as u16,
            };
            params.len += 1;
        }
        self.params = params;
    }

    /// The path parameter `name` captured by the router (`:name` or `*name`),
    /// percent-decoded; allocates only when decoding changes the bytes. `None` if the route
    /// has no such parameter or the decoded bytes are not UTF-8.
    pub fn param(&self, name: &str) -> Option<Cow<'_, str>> {
        let names = self.params.names.as_ref()?;
        let index = names.names.iter().position(|n| &**n == name)?;
        if index >= usize::from(self.params.len) {
            return None;
        }
        let raw = self.text(*self.params.spans.get(index)?);
        percent_encoding::percent_decode_str(raw).decode_utf8().ok()
    }

    /// The query's `name=value` pairs, `application/x-www-form-urlencoded` decoded (`+` is a
    /// space); each part allocates only when decoding changes it.
    pub fn query_pairs(&self) -> form_urlencoded::Parse<'_> {
        form_urlencoded::parse(self.query().unwrap_or_default().as_bytes())
    }

    /// The first query value named `name`, decoded as in [`Request::query_pairs`].
    pub fn query_param(&self, name: &str) -> Option<Cow<'_, str>> {
        self.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The request-target as a slice of the head (a reference count, no copy).
    pub(crate) fn target_bytes(&self) -> Bytes {
        self.shared(self.parts.target.slice(&self.head))
    }

    /// `part` (a slice of this request's head, such as a field value from
    /// [`Request::headers`]) as `Bytes` sharing the head; copied if it is not in the head.
    pub(crate) fn shared(&self, part: &[u8]) -> Bytes {
        let start = (part.as_ptr() as usize).wrapping_sub(self.head.as_ptr() as usize);
        match start.checked_add(part.len()) {
            Some(end) if end <= self.head.len() => self.head.slice(start..end),
            _ => Bytes::copy_from_slice(part),
        }
    }

    fn text(&self, span: Span) -> &str {
        // The head parser admits only visible ASCII in the method and target.
        std::str::from_utf8(span.slice(&self.head)).unwrap_or_default()
    }

    /// The method, e.g. `GET`.
    #[inline]
    pub fn method(&self) -> &str {
        // The common methods without a UTF-8 check: a handler's router asks on every request.
        match self.parts.method.slice(&self.head) {
            b"GET" => "GET",
            b"HEAD" => "HEAD",
            b"POST" => "POST",
            b"PUT" => "PUT",
            b"DELETE" => "DELETE",
            b"PATCH" => "PATCH",
            b"OPTIONS" => "OPTIONS",
            _ => self.text(self.parts.method),
        }
    }

    /// The request-target exactly as sent (origin, absolute, authority or asterisk form).
    pub fn target(&self) -> &str {
        self.text(self.parts.target)
    }

    /// The path of the target, still percent-encoded; `/` for an absolute-form target with an
    /// empty path.
    #[inline]
    pub fn path(&self) -> &str {
        if self.parts.path.is_empty() {
            "/"
        } else {
            self.text(self.parts.path)
        }
    }

    /// The query string after `?`, still percent-encoded, if any.
    pub fn query(&self) -> Option<&str> {
        self.parts.query.map(|span| self.text(span))
    }

    /// The protocol version.
    pub fn version(&self) -> Version {
        self.parts.version
    }

    /// Whether the connection stays open after this request, as the client asked.
    pub fn keep_alive(&self) -> bool {
        self.parts.keep_alive
    }

    /// The value of the first field named `name` (ASCII case-insensitive), trimmed of
    /// surrounding whitespace.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every field in order of arrival, as (name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        // Field names are tokens (visible ASCII), checked by the head parser.
        crate::http::head::field_lines(&self.head)
            .map(|(name, value)| (std::str::from_utf8(name).unwrap_or_default(), value))
    }

    /// The body, complete (Content-Length or decoded chunked), empty when there is none.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Takes the body out of the request.
    pub fn into_body(self) -> Bytes {
        self.body
    }

    pub(crate) fn is_head(&self) -> bool {
        self.method() == "HEAD"
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method())
            .field("target", &self.target())
            .field("version", &self.version())
            .field("body_len", &self.body.len())
            .finish()
    }
}
