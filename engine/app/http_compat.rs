//! The `http` crate's vocabulary on ringpin's types, and conversions to `http::Request` / `http::Response`.
//!
//! The engine's own types stay as they are on the hot path (a method is a slice of the read
//! buffer, a status a `u16`); this module only adds accessors and conversions, so a
//! handler that never calls them pays nothing. The conversions copy (a `HeaderMap` is
//! built field by field): they are for tests, for reusing code written against `http`
//! (tower services, reqwest-style clients), and for glue, not for every request of a hot
//! route.

use ::http::header::{HeaderMap, HeaderName, HeaderValue};
use ::http::{Method, StatusCode, Uri};
use bytes::Bytes;

use crate::config::HEADER_CAPACITY;
use crate::http::head::{parse_head, Version};
use crate::http::request::Request;
use crate::http::response::Response;

/// Why a conversion between ringpin's and the `http` crate's types failed.
#[derive(Debug)]
pub enum HttpConversionError {
    /// A streamed body (`Response::stream`, SSE) has no `Bytes` form.
    StreamedBody,
    /// The `http` crate refused a part (a method, target or field it does not accept).
    Http(::http::Error),
    /// The request ringpin would build from it is not one its parser accepts (the reason).
    Invalid(&'static str),
}

impl std::fmt::Display for HttpConversionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpConversionError::StreamedBody => f.write_str("a streamed body cannot be converted"),
            HttpConversionError::Http(e) => write!(f, "http: {e}"),
            HttpConversionError::Invalid(why) => write!(f, "invalid request: {why}"),
        }
    }
}

impl std::error::Error for HttpConversionError {}

impl From<::http::Error> for HttpConversionError {
    fn from(e: ::http::Error) -> HttpConversionError {
        HttpConversionError::Http(e)
    }
}

impl Request {
    /// The method as an [`http::Method`](Method): no allocation for the standard methods
    /// and for extension methods of up to 15 bytes. [`Request::method`] stays the cheaper
    /// `&str`.
    pub fn http_method(&self) -> Method {
        Method::from_bytes(self.method().as_bytes()).unwrap_or(Method::GET)
    }

    /// The request-target as an [`http::Uri`](Uri), sharing the read buffer (no copy of
    /// the bytes); `None` for a target the `http` crate does not accept.
    pub fn uri(&self) -> Option<Uri> {
        Uri::from_maybe_shared(self.target_bytes()).ok()
    }

    /// The protocol version as an [`http::Version`](::http::Version).
    pub fn http_version(&self) -> ::http::Version {
        match self.version() {
            Version::Http10 => ::http::Version::HTTP_10,
            Version::Http11 => ::http::Version::HTTP_11,
        }
    }

    /// Every field as an [`http::HeaderMap`](HeaderMap). Values share the read buffer;
    /// the map and non-standard names are allocated. Fields the `http` crate refuses are
    /// skipped.
    pub fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in self.headers() {
            let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                continue;
            };
            let Ok(value) = HeaderValue::from_maybe_shared(self.shared(value)) else {
                continue;
            };
            map.append(name, value);
        }
        map
    }

    /// A copy of this request as an `http::Request<Bytes>`: method, target, version, every
    /// field and the buffered body (a `Bytes` clone, not a copy). Not for the hot path.
    pub fn to_http(&self) -> Result<::http::Request<Bytes>, HttpConversionError> {
        let uri = self
            .uri()
            .ok_or(HttpConversionError::Invalid("target not a URI"))?;
        let mut request = ::http::Request::builder()
            .method(self.http_method())
            .uri(uri)
            .version(self.http_version())
            .body(self.body().clone())?;
        *request.headers_mut() = self.header_map();
        Ok(request)
    }
}

impl TryFrom<Request> for ::http::Request<Bytes> {
    type Error = HttpConversionError;

    fn try_from(request: Request) -> Result<::http::Request<Bytes>, HttpConversionError> {
        request.to_http()
    }
}

/// Builds the request ringpin's parser would have built from the same bytes on the wire
/// (so a handler can be called in a unit test with an `http::Request`): the target is the
/// URI's path and query, `Host` is added from the URI's authority (or `localhost`) when
/// missing, HTTP/2 and later are taken as HTTP/1.1.
impl TryFrom<::http::Request<Bytes>> for Request {
    type Error = HttpConversionError;

    fn try_from(request: ::http::Request<Bytes>) -> Result<Request, HttpConversionError> {
        let (parts, body) = request.into_parts();
        let mut head = Vec::with_capacity(256);
        head.extend_from_slice(parts.method.as_str().as_bytes());
        head.push(b' ');
        let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        head.extend_from_slice(target.as_bytes());
        head.extend_from_slice(match parts.version {
            ::http::Version::HTTP_09 | ::http::Version::HTTP_10 => b" HTTP/1.0\r\n",
            _ => b" HTTP/1.1\r\n",
        });
        if !parts.headers.contains_key(::http::header::HOST) {
            head.extend_from_slice(b"host: ");
            let host = parts.uri.authority().map_or("localhost", |a| a.as_str());
            head.extend_from_slice(host.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        for (name, value) in &parts.headers {
            if name == ::http::header::CONTENT_LENGTH || name == ::http::header::TRANSFER_ENCODING {
                continue;
            }
            head.extend_from_slice(name.as_str().as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        if !body.is_empty() {
            let mut digits = itoa::Buffer::new();
            head.extend_from_slice(b"content-length: ");
            head.extend_from_slice(digits.format(body.len()).as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(b"\r\n");
        let parsed = parse_head(&head, HEADER_CAPACITY, u64::MAX)
            .map_err(|e| HttpConversionError::Invalid(e.reason()))?;
        Ok(Request::new(Bytes::from(head), parsed, body))
    }
}

impl Response {
    /// The status as an [`http::StatusCode`](StatusCode); `500` for a number the `http`
    /// crate refuses (outside 100..=999).
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// Adds a field given as `http` types (`header::CACHE_CONTROL`, a `HeaderValue`), with
    /// the same checks as [`Response::with_header`].
    pub fn with_http_header(self, name: HeaderName, value: HeaderValue) -> Response {
        let name = Bytes::copy_from_slice(name.as_str().as_bytes());
        let value = Bytes::copy_from_slice(value.as_bytes());
        self.with_header(name, value)
    }

    /// Every added field and `Content-Type`, as an [`http::HeaderMap`](HeaderMap) (a copy).
    pub fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        if let Some(value) = self
            .content_type
            .as_ref()
            .and_then(|v| HeaderValue::from_maybe_shared(v.clone()).ok())
        {
            map.insert(::http::header::CONTENT_TYPE, value);
        }
        for (name, value) in &self.headers {
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name),
                HeaderValue::from_maybe_shared(value.clone()),
            ) else {
                continue;
            };
            map.append(name, value);
        }
        map
    }
}

/// The response as the `http` crate's, body as `Bytes`; fails for a streamed body. The
/// fields the engine adds on the wire (`Date`, `Content-Length`, `Connection`) are not
/// there, since they are written by the encoder.
impl TryFrom<Response> for ::http::Response<Bytes> {
    type Error = HttpConversionError;

    fn try_from(response: Response) -> Result<::http::Response<Bytes>, HttpConversionError> {
        if response.is_streamed() {
            return Err(HttpConversionError::StreamedBody);
        }
        let headers = response.header_map();
        let mut converted = ::http::Response::builder()
            .status(response.status_code())
            .body(response.body().clone())?;
        *converted.headers_mut() = headers;
        Ok(converted)
    }
}

/// An `http::Response<Bytes>` as ringpin's: status, fields (those the engine owns are
/// dropped, as [`Response::with_header`] does) and body.
impl From<::http::Response<Bytes>> for Response {
    fn from(response: ::http::Response<Bytes>) -> Response {
        let (parts, body) = response.into_parts();
        let mut converted = Response::new(parts.status).with_body(body);
        for (name, value) in &parts.headers {
            converted = converted.with_http_header(name.clone(), value.clone());
        }
        converted
    }
}

/// `StatusCode::NOT_FOUND` alone is a response, as in axum.
impl crate::http::response::IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        Response::new(self)
    }
}
