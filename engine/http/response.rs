//! The response a handler returns: status, a few fields and a body, built without copying.

use std::any::Any;
use std::fmt;
use std::fs::File;
use std::pin::Pin;
use std::rc::Rc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_lite::Stream;

use crate::http::error::RequestError;
use crate::http::head::is_token_byte;

/// A response body produced piece by piece: each item is sent as one chunk (and flushed)
/// as soon as the stream yields it.
pub type BodyStream = Pin<Box<dyn Stream<Item = Bytes>>>;

/// An HTTP response. The engine adds `Date`, `Content-Length` (or `Transfer-Encoding` for a
/// streamed body) and `Connection` itself; fields a handler sets with those names are
/// ignored.
pub struct Response {
    pub(crate) status: u16,
    pub(crate) content_type: Option<Bytes>,
    pub(crate) headers: Vec<(Bytes, Bytes)>,
    pub(crate) body: Bytes,
    pub(crate) close: bool,
    /// What few responses carry, boxed so that the plain response stays small.
    extras: Option<Box<Extras>>,
}

/// The rare parts of a response.
#[derive(Default)]
struct Extras {
    stream: Option<BodyStream>,
    file: Option<FileBody>,
    upgrade: Option<Box<dyn Any>>,
}

/// A body that is a region of an open file: the connection sends it after the head from
/// the page cache to the socket (`sendfile(2)`), never through a user-space buffer.
#[derive(Clone, Debug)]
pub struct FileBody {
    pub(crate) file: Rc<File>,
    pub(crate) offset: u64,
    pub(crate) len: u64,
    /// The file's size and modification time when the head was built: if they differ once
    /// the body is sent, the file changed mid-response and the connection is closed.
    pub(crate) expected: Option<(u64, SystemTime)>,
}

impl FileBody {
    /// The file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Where the region starts in the file.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// How many bytes the region holds (the response's `Content-Length`).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the region is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `(size, modified)`, read after the body was sent, says the file changed
    /// since the head was built.
    pub fn changed_since_head(&self, size: u64, modified: SystemTime) -> bool {
        self.expected.is_some_and(|e| e != (size, modified))
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .field("streamed", &self.is_streamed())
            .field(
                "file_len",
                &self
                    .extras
                    .as_ref()
                    .and_then(|e| e.file.as_ref())
                    .map(|f| f.len),
            )
            .finish()
    }
}

impl Response {
    /// An empty response with `status`: a number (`404`) or an
    /// [`http::StatusCode`](crate::StatusCode) (`StatusCode::NOT_FOUND`).
    #[inline]
    pub fn new(status: impl IntoStatus) -> Response {
        Response {
            status: status.into_status(),
            content_type: None,
            headers: Vec::new(),
            body: Bytes::new(),
            close: false,
            extras: None,
        }
    }

    /// `200 OK` with a body streamed from `stream`: sent with chunked transfer coding (to
    /// HTTP/1.0 clients: delimited by closing the connection), each item written as soon as
    /// it is ready, so a slow producer never holds back what it already yielded.
    pub fn stream(
        content_type: &'static str,
        stream: impl Stream<Item = Bytes> + 'static,
    ) -> Response {
        let mut response = Response::new(200).with_content_type(content_type);
        response.extras.get_or_insert_default().stream = Some(Box::pin(stream));
        response
    }

    /// Sets the body to `len` bytes of `file` from `offset`, sent from the page cache to the
    /// socket without a copy through user space (`sendfile(2)`). The file must hold them:
    /// if it ends sooner, the connection is closed mid-body (the client sees a short body,
    /// never a wrong one passed as complete).
    pub fn with_file(mut self, file: Rc<File>, offset: u64, len: u64) -> Response {
        self.body = Bytes::new();
        self.extras.get_or_insert_default().file = Some(FileBody {
            file,
            offset,
            len,
            expected: None,
        });
        self
    }

    /// [`Response::with_file`], noting the file's size and modification time at the head,
    /// so a change while the body is sent closes the connection.
    pub(crate) fn with_file_checked(
        self,
        file: Rc<File>,
        range: (u64, u64),
        expected: (u64, SystemTime),
    ) -> Response {
        let mut response = self.with_file(file, range.0, range.1);
        if let Some(body) = response.extras.as_mut().and_then(|e| e.file.as_mut()) {
            body.expected = Some(expected);
        }
        response
    }

    /// The length of the body as `Content-Length` gives it: the bytes, or the file region.
    pub(crate) fn body_len(&self) -> u64 {
        match self.extras.as_ref().and_then(|e| e.file.as_ref()) {
            Some(file) => file.len,
            None => self.body.len() as u64,
        }
    }

    pub(crate) fn take_file(&mut self) -> Option<FileBody> {
        self.extras.as_mut()?.file.take()
    }

    /// `200 OK`, `text/plain; charset=utf-8`.
    #[inline]
    pub fn text(body: impl Into<Bytes>) -> Response {
        Response::new(200)
            .with_content_type("text/plain; charset=utf-8")
            .with_body(body)
    }

    /// `200 OK` with raw bytes, `application/octet-stream`.
    pub fn bytes(body: impl Into<Bytes>) -> Response {
        Response::new(200)
            .with_content_type("application/octet-stream")
            .with_body(body)
    }

    /// `200 OK` with a body that is already JSON, `application/json`.
    #[inline]
    pub fn json_bytes(body: impl Into<Bytes>) -> Response {
        Response::new(200)
            .with_content_type("application/json")
            .with_body(body)
    }

    /// The error answer for a refused request: its status, a one-line reason, and a close.
    pub fn from_error(error: RequestError) -> Response {
        Response::new(error.status())
            .with_content_type("text/plain; charset=utf-8")
            .with_body(Bytes::from_static(error.reason().as_bytes()))
            .with_close()
    }

    /// Sets the status code (a number or a [`StatusCode`](crate::StatusCode)).
    #[inline]
    pub fn with_status(mut self, status: impl IntoStatus) -> Response {
        self.status = status.into_status();
        self
    }

    /// Sets `Content-Type`.
    #[inline]
    pub fn with_content_type(mut self, value: &'static str) -> Response {
        self.content_type = Some(Bytes::from_static(value.as_bytes()));
        self
    }

    /// Sets the body.
    #[inline]
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Response {
        self.body = body.into();
        if let Some(extras) = &mut self.extras {
            extras.file = None;
        }
        self
    }

    /// Adds a field. A name that is not a token, a value with CR, LF or NUL, or a field the
    /// engine owns (`Content-Length`, `Transfer-Encoding`, `Connection`, `Date`) is dropped
    /// and logged: a handler can never inject a line into the head.
    pub fn with_header(mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) -> Response {
        let (name, value) = (name.into(), value.into());
        let valid_name = !name.is_empty() && name.iter().all(|&b| is_token_byte(b));
        let valid_value = value
            .iter()
            .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f));
        let owned = [
            &b"content-length"[..],
            b"transfer-encoding",
            b"connection",
            b"date",
        ]
        .iter()
        .any(|owned| name.eq_ignore_ascii_case(owned));
        if valid_name && valid_value && !owned {
            if name.eq_ignore_ascii_case(b"content-type") {
                self.content_type = Some(value);
            } else {
                self.headers.push((name, value));
            }
        } else {
            log::warn!(
                "dropped response field {:?}",
                String::from_utf8_lossy(&name)
            );
        }
        self
    }

    /// Asks the engine to close the connection after this response.
    pub fn with_close(mut self) -> Response {
        self.close = true;
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The body (empty for a streamed response).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Whether the body is streamed.
    pub fn is_streamed(&self) -> bool {
        self.extras.as_ref().is_some_and(|e| e.stream.is_some())
    }

    pub(crate) fn take_stream(&mut self) -> Option<BodyStream> {
        self.extras.as_mut()?.stream.take()
    }

    /// Whether the body is a region of a file ([`Response::with_file`]).
    #[cfg_attr(not(feature = "compression"), allow(dead_code))]
    pub(crate) fn is_file_body(&self) -> bool {
        self.extras.as_ref().is_some_and(|e| e.file.is_some())
    }

    /// Replaces the streamed body (the compression layer wraps it).
    #[cfg_attr(not(feature = "compression"), allow(dead_code))]
    pub(crate) fn set_stream(&mut self, stream: BodyStream) {
        self.extras.get_or_insert_default().stream = Some(stream);
    }

    /// Whether this answers an upgrade (a WebSocket handshake's `101`).
    pub(crate) fn is_upgrade(&self) -> bool {
        self.extras.as_ref().is_some_and(|e| e.upgrade.is_some())
    }

    /// Sets what runs on the connection after this response (`ws::upgrade`). Opaque here:
    /// the protocol layer does not know what an upgraded connection runs.
    pub(crate) fn set_upgrade(&mut self, upgrade: Box<dyn Any>) {
        self.extras.get_or_insert_default().upgrade = Some(upgrade);
    }

    pub(crate) fn take_upgrade(&mut self) -> Option<Box<dyn Any>> {
        self.extras.as_mut()?.upgrade.take()
    }

    /// Sets field `name` (lower case) to `value`, replacing any added before: for layers
    /// that must not send a field twice.
    pub(crate) fn set_header(&mut self, name: &'static str, value: Bytes) {
        self.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case(name.as_bytes()));
        self.headers
            .push((Bytes::from_static(name.as_bytes()), value));
    }

    /// Adds `token` to `Vary`, keeping what is there (and not adding it twice).
    pub(crate) fn add_vary(&mut self, token: &'static str) {
        let Some(index) = self
            .headers
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(b"vary"))
        else {
            self.headers.push((
                Bytes::from_static(b"vary"),
                Bytes::from_static(token.as_bytes()),
            ));
            return;
        };
        let Some((_, value)) = self.headers.get_mut(index) else {
            return;
        };
        let present = value.split(|&b| b == b',').any(|t| {
            let t = crate::http::head::trim_ows(t);
            t == b"*" || t.eq_ignore_ascii_case(token.as_bytes())
        });
        if !present {
            let mut joined = Vec::with_capacity(value.len() + 2 + token.len());
            joined.extend_from_slice(value);
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(token.as_bytes());
            *value = Bytes::from(joined);
        }
    }

    /// The value of the first added field named `name`, or Content-Type.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        if name.eq_ignore_ascii_case("content-type") {
            return self.content_type.as_deref();
        }
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| &v[..])
    }
}

/// A status code: `u16` (as every ringpin example writes it) or [`http::StatusCode`]
/// (as axum and actix-web users do).
pub trait IntoStatus {
    /// The numeric code.
    fn into_status(self) -> u16;
}

impl IntoStatus for u16 {
    fn into_status(self) -> u16 {
        self
    }
}

impl IntoStatus for ::http::StatusCode {
    fn into_status(self) -> u16 {
        self.as_u16()
    }
}

/// Anything a handler may return: turned into a [`Response`].
pub trait IntoResponse {
    /// Converts `self` into a response.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        Response::bytes(self)
    }
}

/// `204 No Content`.
impl IntoResponse for () {
    fn into_response(self) -> Response {
        Response::new(204)
    }
}

/// A status with a body: `(201, Json(user))`.
impl<T: IntoResponse> IntoResponse for (u16, T) {
    fn into_response(self) -> Response {
        self.1.into_response().with_status(self.0)
    }
}

/// A typed status with a body: `(StatusCode::CREATED, Json(user))`.
impl<T: IntoResponse> IntoResponse for (::http::StatusCode, T) {
    fn into_response(self) -> Response {
        self.1.into_response().with_status(self.0)
    }
}

/// Handler errors become responses through the same trait.
impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(ok) => ok.into_response(),
            Err(err) => err.into_response(),
        }
    }
}
