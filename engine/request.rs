//! The request a handler receives: ranges into the frozen read buffer, no copies.

use bytes::Bytes;

use crate::head::{Head, Span, Version};

/// One HTTP request. Method, target, fields and body are slices of the connection's read
/// buffer (`Bytes` share it by reference count): building a request allocates nothing.
pub struct Request {
    head: Bytes,
    parts: Head,
    body: Bytes,
}

impl Request {
    pub(crate) fn new(head: Bytes, parts: Head, body: Bytes) -> Request {
        Request { head, parts, body }
    }

    fn text(&self, span: Span) -> &str {
        // The head parser admits only visible ASCII in the method and target.
        std::str::from_utf8(span.slice(&self.head)).unwrap_or_default()
    }

    /// The method, e.g. `GET`.
    pub fn method(&self) -> &str {
        self.text(self.parts.method)
    }

    /// The request-target exactly as sent (origin, absolute, authority or asterisk form).
    pub fn target(&self) -> &str {
        self.text(self.parts.target)
    }

    /// The path of the target, still percent-encoded; `/` for an absolute-form target with an
    /// empty path.
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
        let count = usize::from(self.parts.field_count);
        self.parts
            .fields
            .get(..count)
            .unwrap_or_default()
            .iter()
            .map(|f| (self.text(f.name), f.value.slice(&self.head)))
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
