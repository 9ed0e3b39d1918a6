//! JSON bodies in and out: sonic-rs by default, serde_json with the `serde-json` feature.

use bytes::{BufMut, Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::RefCell;

use crate::http::request::Request;
use crate::http::response::{IntoResponse, Response};

/// A JSON value: as a response, serialised straight into the shard's buffer; as input, see
/// [`Request::json`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        Response::json(&self.0)
    }
}

/// Why a request body could not be taken as JSON; answered as a JSON error body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonRejection {
    /// `Content-Type` is missing or not `application/json` (or `application/*+json`): 415.
    UnsupportedMediaType,
    /// The body is not valid JSON: 400.
    Malformed(String),
    /// Valid JSON that does not fit the expected type (a missing or mistyped field): 422.
    Invalid(String),
}

impl JsonRejection {
    /// The status this rejection is answered with.
    pub fn status(&self) -> u16 {
        match self {
            JsonRejection::UnsupportedMediaType => 415,
            JsonRejection::Malformed(_) => 400,
            JsonRejection::Invalid(_) => 422,
        }
    }
}

impl IntoResponse for JsonRejection {
    fn into_response(self) -> Response {
        let (error, detail) = match &self {
            JsonRejection::UnsupportedMediaType => (
                "unsupported media type",
                "expected Content-Type: application/json",
            ),
            JsonRejection::Malformed(detail) => ("malformed JSON", detail.as_str()),
            JsonRejection::Invalid(detail) => ("invalid JSON body", detail.as_str()),
        };
        error_response(self.status(), error, detail)
    }
}

/// A JSON error body `{"error": ..., "detail": ...}` with `status`.
pub fn error_response(status: u16, error: &str, detail: &str) -> Response {
    #[derive(Serialize)]
    struct ErrorBody<'a> {
        error: &'a str,
        #[serde(skip_serializing_if = "str::is_empty")]
        detail: &'a str,
    }
    Response::json(&ErrorBody { error, detail }).with_status(status)
}

impl Request {
    /// The body parsed as JSON into `T`, after checking `Content-Type`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, JsonRejection> {
        if !self.header("content-type").is_some_and(is_json_media_type) {
            return Err(JsonRejection::UnsupportedMediaType);
        }
        from_slice(self.body())
    }
}

/// `application/json` or `application/<anything>+json`, parameters ignored.
fn is_json_media_type(value: &[u8]) -> bool {
    let media = value.split(|&b| b == b';').next().unwrap_or_default();
    let media = crate::http::head::trim_ows(media);
    let Some(subtype) = media
        .get(..12)
        .filter(|p| p.eq_ignore_ascii_case(b"application/"))
        .and_then(|_| media.get(12..))
    else {
        return false;
    };
    subtype.eq_ignore_ascii_case(b"json")
        || subtype.len() > 5
            && subtype
                .get(subtype.len() - 5..)
                .is_some_and(|s| s.eq_ignore_ascii_case(b"+json"))
}

#[cfg(not(feature = "serde-json"))]
fn from_slice<T: DeserializeOwned>(body: &[u8]) -> Result<T, JsonRejection> {
    sonic_rs::from_slice(body).map_err(|e| match e.classify() {
        sonic_rs::error::Category::TypeUnmatched | sonic_rs::error::Category::NotFound => {
            JsonRejection::Invalid(e.to_string())
        }
        _ => JsonRejection::Malformed(e.to_string()),
    })
}

#[cfg(feature = "serde-json")]
fn from_slice<T: DeserializeOwned>(body: &[u8]) -> Result<T, JsonRejection> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => JsonRejection::Invalid(e.to_string()),
        _ => JsonRejection::Malformed(e.to_string()),
    })
}

/// Serialises `value` at the end of `buf` with the selected backend.
#[cfg(not(feature = "serde-json"))]
pub(crate) fn write_json<T: Serialize + ?Sized>(buf: &mut BytesMut, value: &T) -> bool {
    sonic_rs::to_writer(buf.writer(), value).is_ok()
}

/// Serialises `value` at the end of `buf` with the selected backend.
#[cfg(feature = "serde-json")]
pub(crate) fn write_json<T: Serialize + ?Sized>(buf: &mut BytesMut, value: &T) -> bool {
    serde_json::to_writer(buf.writer(), value).is_ok()
}

/// Which JSON backend this build uses: `"sonic-rs"` or `"serde_json"`.
pub const JSON_BACKEND: &str = if cfg!(feature = "serde-json") {
    "serde_json"
} else {
    "sonic-rs"
};

/// Serialises with sonic-rs regardless of the feature (for benchmarks comparing backends).
pub fn to_bytes_sonic<T: Serialize + ?Sized>(value: &T) -> Option<Bytes> {
    sonic_rs::to_vec(value).ok().map(Bytes::from)
}

/// Serialises with serde_json regardless of the feature (for benchmarks comparing backends).
pub fn to_bytes_serde_json<T: Serialize + ?Sized>(value: &T) -> Option<Bytes> {
    serde_json::to_vec(value).ok().map(Bytes::from)
}

thread_local! {
    /// Per-shard scratch buffer that JSON bodies are serialised into. Split-off bodies share
    /// it, and once they are written and dropped its space is reused: no allocation per
    /// response in the steady state.
    static SCRATCH: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// Capacity the JSON scratch buffer is topped up to when it runs low.
const SCRATCH_BYTES: usize = 16 * 1024;

impl Response {
    /// `200 OK` with `value` serialised as JSON (sonic-rs, or serde_json with the `serde-json`
    /// feature) into the shard's scratch buffer.
    /// A value that cannot be serialised gives `500` with a JSON error body.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Response {
        match serialize_json(value) {
            Some(body) => Response::json_bytes(body),
            None => Response::new(500)
                .with_content_type("application/json")
                .with_body(Bytes::from_static(
                    br#"{"error":"response serialisation failed"}"#,
                )),
        }
    }
}

fn serialize_json<T: Serialize + ?Sized>(value: &T) -> Option<Bytes> {
    SCRATCH.with(|cell| {
        let mut scratch = cell.borrow_mut();
        if scratch.capacity() - scratch.len() < 512 {
            scratch.reserve(SCRATCH_BYTES);
        }
        let ok = write_json(&mut scratch, value);
        let body = scratch.split().freeze();
        ok.then_some(body)
    })
}
