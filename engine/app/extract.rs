//! Typed extractors: `Path<T>`, `Query<T>`, `Json<T>`, `Form<T>`, `State<T>`, as methods or as handler arguments.
//!
//! Each extractor is a [`FromRequest`]: it reads what it needs from the request by
//! reference, or answers with its rejection, a response that explains itself (`{"error":
//! ..., "detail": ...}` with 400, 415 or 422). Use one directly:
//!
//! ```
//! use ringpin::extract::{FromRequest, Path, Query};
//! use ringpin::{IntoResponse, Request, Response};
//! # #[derive(serde::Deserialize)] struct Page { page: u32 }
//!
//! async fn user(request: Request) -> Response {
//!     let Path(id) = match Path::<u64>::from_request(&request) {
//!         Ok(path) => path,
//!         Err(rejection) => return rejection.into_response(),
//!     };
//!     let page = request.query_as::<Page>().map_or(1, |q| q.page);
//!     Response::text(format!("user {id}, page {page}"))
//! }
//! ```
//!
//! or write the handler with typed arguments, as in axum, and wrap it in [`extract`]:
//!
//! ```
//! use ringpin::extract::{extract, Path, State};
//! use ringpin::{get, Json, Router};
//!
//! #[derive(Clone)]
//! struct Greeting(&'static str);
//!
//! async fn hello(Path(name): Path<String>, State(greeting): State<Greeting>) -> Json<String> {
//!     Json(format!("{}, {name}", greeting.0))
//! }
//!
//! let router = Router::new()
//!     .route("/hello/{name}", get(extract(hello)))
//!     .with_state(Greeting("hello"));
//! ```
//!
//! Extractors borrow the request, so every argument sees the same request and their order
//! does not matter; the body is the buffered one ([`Request::body`]).

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use pin_project_lite::pin_project;
use serde::de::DeserializeOwned;

use crate::app::json::{error_response, Json, JsonRejection};
use crate::app::path_de::{Captures, PathError};
use crate::http::request::Request;
use crate::http::response::{IntoResponse, Response};

/// A value built from a request, or the response that says why it could not be.
pub trait FromRequest: Sized {
    /// The answer when extraction fails.
    type Rejection: IntoResponse;

    /// Extracts `Self` from `request`.
    fn from_request(request: &Request) -> Result<Self, Self::Rejection>;
}

/// Why an extractor refused the request; answered as `{"error": ..., "detail": ...}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The path captures do not fit `Path<T>`: 400.
    Path(String),
    /// The query string does not fit `Query<T>`: 400.
    Query(String),
    /// `Form<T>` without `Content-Type: application/x-www-form-urlencoded`: 415.
    FormContentType,
    /// The form body does not fit `Form<T>`: 400.
    Form(String),
    /// `State<T>` on a router without a `T` state ([`crate::Router::with_state`]): 500, a
    /// programming error.
    MissingState(&'static str),
    /// `TypedHeader<H>` when the request has no such field: 400.
    MissingHeader(&'static str),
    /// `TypedHeader<H>` when the field does not parse as `H`: 400.
    Header(&'static str),
}

impl Rejection {
    /// The status this rejection is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::Path(_)
            | Rejection::Query(_)
            | Rejection::Form(_)
            | Rejection::MissingHeader(_)
            | Rejection::Header(_) => 400,
            Rejection::FormContentType => 415,
            Rejection::MissingState(_) => 500,
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let (error, detail) = match &self {
            Rejection::Path(d) => ("invalid path parameter", d.as_str()),
            Rejection::Query(d) => ("invalid query string", d.as_str()),
            Rejection::FormContentType => (
                "unsupported media type",
                "expected Content-Type: application/x-www-form-urlencoded",
            ),
            Rejection::Form(d) => ("invalid form body", d.as_str()),
            Rejection::MissingState(t) => ("handler state missing", *t),
            Rejection::MissingHeader(name) => ("missing header", *name),
            Rejection::Header(name) => ("invalid header", *name),
        };
        error_response(self.status(), error, detail)
    }
}

/// The route's captures (`/users/{id}`), percent-decoded, as `T`: one value (`Path<u64>`),
/// a tuple in pattern order (`Path<(String, u32)>`), or a struct or map by name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Path<T>(pub T);

/// The query string, `application/x-www-form-urlencoded` decoded, as `T` (a struct, a
/// map, or `Vec<(String, String)>`); an absent query is the empty one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Query<T>(pub T);

/// An `application/x-www-form-urlencoded` body as `T`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Form<T>(pub T);

/// A field parsed as the typed header `H` (from the `headers` crate, re-exported as
/// [`crate::headers`]): `TypedHeader<headers::UserAgent>`, `TypedHeader<headers::Authorization<Bearer>>`.
/// Missing or unparsable: 400 (wrap it in `Option` to make it optional).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TypedHeader<H>(pub H);

/// The router's per-shard state ([`crate::Router::with_state`]), cloned (make it an `Rc`
/// or hold `Rc`s for shared mutable state: it never crosses shards).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct State<T>(pub T);

impl Request {
    /// The route's captures as `T`; see [`Path`].
    pub fn path_params<T: DeserializeOwned>(&self) -> Result<T, Rejection> {
        let mut decoded: Vec<(&str, Cow<'_, str>)> = Vec::new();
        for (name, raw) in self.raw_params() {
            let value = percent_encoding::percent_decode_str(raw)
                .decode_utf8()
                .map_err(|_| Rejection::Path(format!("path parameter {name:?} is not UTF-8")))?;
            decoded.push((name, value));
        }
        T::deserialize(Captures(&decoded)).map_err(|PathError(e)| Rejection::Path(e))
    }

    /// The query string as `T`; see [`Query`].
    pub fn query_as<T: DeserializeOwned>(&self) -> Result<T, Rejection> {
        serde_urlencoded::from_str(self.query().unwrap_or_default())
            .map_err(|e| Rejection::Query(e.to_string()))
    }

    /// The body as a form, after checking `Content-Type`; see [`Form`].
    pub fn form<T: DeserializeOwned>(&self) -> Result<T, Rejection> {
        let media = self
            .header("content-type")
            .and_then(|v| v.split(|&b| b == b';').next())
            .map(crate::http::head::trim_ows);
        if !media.is_some_and(|m| m.eq_ignore_ascii_case(b"application/x-www-form-urlencoded")) {
            return Err(Rejection::FormContentType);
        }
        serde_urlencoded::from_bytes(self.body()).map_err(|e| Rejection::Form(e.to_string()))
    }
}

/// `FromRequest` for the serde wrappers: each is the [`Request`] method that does the same
/// job, its value wrapped.
macro_rules! deserialized_by {
    ($($wrapper:ident: $method:ident, $rejection:ty;)*) => {$(
        impl<T: DeserializeOwned> FromRequest for $wrapper<T> {
            type Rejection = $rejection;

            fn from_request(request: &Request) -> Result<Self, $rejection> {
                request.$method().map($wrapper)
            }
        }
    )*};
}

deserialized_by! {
    Path: path_params, Rejection;
    Query: query_as, Rejection;
    Form: form, Rejection;
    Json: json, JsonRejection;
}

impl<T: Clone + 'static> FromRequest for State<T> {
    type Rejection = Rejection;

    fn from_request(request: &Request) -> Result<Self, Rejection> {
        request
            .state::<T>()
            .cloned()
            .map(State)
            .ok_or(Rejection::MissingState(std::any::type_name::<T>()))
    }
}

/// An extractor that may fail: `Option<Query<T>>` is `None` instead of a 400.
impl<T: FromRequest> FromRequest for Option<T> {
    type Rejection = std::convert::Infallible;

    fn from_request(request: &Request) -> Result<Self, Self::Rejection> {
        Ok(T::from_request(request).ok())
    }
}

/// The extractor's result itself, for a handler that answers rejections its own way.
impl<T: FromRequest> FromRequest for Result<T, T::Rejection> {
    type Rejection = std::convert::Infallible;

    fn from_request(request: &Request) -> Result<Self, Self::Rejection> {
        Ok(T::from_request(request))
    }
}

impl IntoResponse for std::convert::Infallible {
    fn into_response(self) -> Response {
        match self {}
    }
}

impl<H: headers::Header> FromRequest for TypedHeader<H> {
    type Rejection = Rejection;

    fn from_request(request: &Request) -> Result<Self, Rejection> {
        request.typed_header::<H>().map(TypedHeader)
    }
}

impl Request {
    /// The field named by the typed header `H`, parsed; see [`TypedHeader`]. Every field of
    /// that name is given to `H::decode` (lists such as `Accept` span several).
    pub fn typed_header<H: headers::Header>(&self) -> Result<H, Rejection> {
        let name: &'static str = H::name().as_str();
        let values: Vec<::http::HeaderValue> = self
            .headers()
            .filter(|(field, _)| field.eq_ignore_ascii_case(name))
            .filter_map(|(_, value)| ::http::HeaderValue::from_bytes(value).ok())
            .collect();
        if values.is_empty() {
            return Err(Rejection::MissingHeader(name));
        }
        H::decode(&mut values.iter()).map_err(|_| Rejection::Header(name))
    }
}

impl Response {
    /// Adds the typed header `header` (from the `headers` crate), formatted by it.
    pub fn with_typed_header<H: headers::Header>(mut self, header: H) -> Response {
        let mut values: Vec<::http::HeaderValue> = Vec::new();
        header.encode(&mut values);
        for value in values {
            self = self.with_header(
                Bytes::copy_from_slice(H::name().as_str().as_bytes()),
                Bytes::copy_from_slice(value.as_bytes()),
            );
        }
        self
    }
}

/// The method, as [`http::Method`](crate::Method).
impl FromRequest for crate::Method {
    type Rejection = std::convert::Infallible;

    fn from_request(request: &Request) -> Result<Self, Self::Rejection> {
        Ok(request.http_method())
    }
}

/// Every field, as an [`http::HeaderMap`](crate::HeaderMap) (a copy).
impl FromRequest for crate::HeaderMap {
    type Rejection = std::convert::Infallible;

    fn from_request(request: &Request) -> Result<Self, Self::Rejection> {
        Ok(request.header_map())
    }
}

/// The buffered body.
impl FromRequest for Bytes {
    type Rejection = std::convert::Infallible;

    fn from_request(request: &Request) -> Result<Self, Self::Rejection> {
        Ok(request.body().clone())
    }
}

/// A handler whose arguments are extractors; see [`extract`]. Implemented for every
/// `Fn(A, B, ...) -> impl Future<Output = impl IntoResponse>` of up to eight
/// [`FromRequest`] arguments.
pub trait ExtractorFn<Args>: 'static {
    /// The handler's own future.
    type Future: Future<Output = Response> + 'static;

    /// Extracts every argument from `request`, then calls the handler; the first
    /// rejection answers instead.
    fn call_extracted(&self, request: Request) -> Extracted<Self::Future>;
}

/// Makes a handler with extractor arguments a `Fn(Request)` the router takes:
/// `get(extract(show_user))`. The request is dropped once its arguments are extracted.
pub fn extract<Args, F: ExtractorFn<Args>>(
    handler: F,
) -> impl Fn(Request) -> Extracted<F::Future> + 'static {
    move |request| handler.call_extracted(request)
}

pin_project! {
    /// A handler's future, or the rejection that answered instead; see [`extract`].
    pub struct Extracted<F> {
        #[pin]
        running: Option<F>,
        rejected: Option<Response>,
    }
}

impl<F: Future<Output = Response>> Future for Extracted<F> {
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        let this = self.project();
        if let Some(rejected) = this.rejected.take() {
            return Poll::Ready(rejected);
        }
        match this.running.as_pin_mut() {
            Some(running) => running.poll(cx),
            None => Poll::Ready(Response::new(500)),
        }
    }
}

pin_project! {
    /// A handler's future with its output turned into a [`Response`].
    pub struct Answer<Fut> {
        #[pin]
        inner: Fut,
    }
}

impl<Fut: Future<Output = R>, R: IntoResponse> Future for Answer<Fut> {
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        self.project()
            .inner
            .poll(cx)
            .map(IntoResponse::into_response)
    }
}

macro_rules! extractor_fn {
    ($($arg:ident),*) => {
        impl<Func, Fut, R, $($arg,)*> ExtractorFn<($($arg,)*)> for Func
        where
            Func: Fn($($arg),*) -> Fut + 'static,
            Fut: Future<Output = R> + 'static,
            R: IntoResponse,
            $($arg: FromRequest,)*
        {
            type Future = Answer<Fut>;

            #[allow(non_snake_case, unused_variables)]
            fn call_extracted(&self, request: Request) -> Extracted<Answer<Fut>> {
                $(
                    let $arg = match $arg::from_request(&request) {
                        Ok(value) => value,
                        Err(rejection) => {
                            return Extracted {
                                running: None,
                                rejected: Some(rejection.into_response()),
                            }
                        }
                    };
                )*
                drop(request);
                Extracted {
                    running: Some(Answer { inner: self($($arg),*) }),
                    rejected: None,
                }
            }
        }
    };
}

extractor_fn!();
extractor_fn!(A1);
extractor_fn!(A1, A2);
extractor_fn!(A1, A2, A3);
extractor_fn!(A1, A2, A3, A4);
extractor_fn!(A1, A2, A3, A4, A5);
extractor_fn!(A1, A2, A3, A4, A5, A6);
extractor_fn!(A1, A2, A3, A4, A5, A6, A7);
extractor_fn!(A1, A2, A3, A4, A5, A6, A7, A8);
