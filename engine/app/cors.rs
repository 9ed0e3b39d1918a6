//! The CORS layer: answers preflights and marks responses a browser may share cross-origin.
//!
//! Modelled on tower-http's `CorsLayer`, so an axum user finds the same knobs:
//!
//! - A request without `Origin` passes through untouched (it is not a CORS request), except
//!   that `Vary: Origin` is added when the answer depends on the origin.
//! - A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered
//!   `204 No Content` by the layer itself; the handler never sees it. When the origin is
//!   allowed the answer carries `Access-Control-Allow-Origin`, `-Methods`, `-Headers`,
//!   `-Credentials` and `-Max-Age`; when it is not, the same 204 carries none of them and
//!   the browser refuses the real request (tower-http does the same: a 403 would tell a
//!   script nothing more, since a failed preflight hides the status from it).
//! - Any other request from an allowed origin gets `Access-Control-Allow-Origin` (and
//!   `-Credentials`, `-Expose-Headers`) added to the handler's response.
//!
//! With credentials allowed, `*` is never sent: the origin is echoed (with `Vary:
//! Origin`), and "any header" mirrors `Access-Control-Request-Headers`, as the Fetch
//! standard requires.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::Bytes;
use pin_project_lite::pin_project;

use crate::app::handler::Handler;
use crate::app::middleware::Next;
use crate::http::request::Request;
use crate::http::response::Response;

/// Which origins may read responses.
#[derive(Clone, Debug)]
enum Origins {
    /// Every origin (`*`, or the origin echoed when credentials are allowed).
    Any,
    /// Exactly these (`scheme://host[:port]`, compared byte for byte, ASCII case-insensitive).
    List(Vec<Bytes>),
}

/// Which request headers a preflight may ask for.
#[derive(Clone, Debug)]
enum AllowHeaders {
    /// Whatever the preflight asks for (`*`, or mirrored when credentials are allowed).
    Any,
    /// This comma-separated list.
    List(Bytes),
}

/// The CORS policy; build it once, then [`Cors::layer`] wraps a handler with it:
///
/// ```
/// use ringpin::{get, Cors, HandlerExt, Response, Router};
///
/// let cors = Cors::new()
///     .with_allowed_origins(["https://app.example"])
///     .with_allowed_methods(["GET", "POST"])
///     .with_allowed_headers(["content-type", "authorization"])
///     .with_credentials(true)
///     .with_max_age(600);
/// let router = Router::new().route("/", get(|_| async { Response::text("hi") }));
/// let handler = router.around(cors.layer());
/// # let _ = handler;
/// ```
///
/// The default (`Cors::new()`) allows no origin: every knob is opt-in.
#[derive(Clone, Debug)]
pub struct Cors {
    origins: Origins,
    methods: Bytes,
    headers: AllowHeaders,
    expose: Option<Bytes>,
    credentials: bool,
    max_age: Option<Bytes>,
}

impl Default for Cors {
    fn default() -> Cors {
        Cors::new()
    }
}

impl Cors {
    /// A policy allowing no origin, the methods `GET, HEAD, POST` (the CORS-safelisted
    /// ones), no extra request headers, no credentials and no `Max-Age`.
    pub fn new() -> Cors {
        Cors {
            origins: Origins::List(Vec::new()),
            methods: Bytes::from_static(b"GET, HEAD, POST"),
            headers: AllowHeaders::List(Bytes::new()),
            expose: None,
            credentials: false,
            max_age: None,
        }
    }

    /// A permissive policy for development: any origin, any method, any header.
    pub fn permissive() -> Cors {
        Cors::new()
            .with_any_origin()
            .with_allowed_methods(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
            .with_any_header()
    }

    /// Allows exactly these origins (`https://app.example`, `http://localhost:3000`).
    pub fn with_allowed_origins<I, S>(mut self, origins: I) -> Cors
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.origins = Origins::List(
            origins
                .into_iter()
                .map(|o| Bytes::copy_from_slice(o.as_ref().as_bytes()))
                .collect(),
        );
        self
    }

    /// Allows every origin.
    pub fn with_any_origin(mut self) -> Cors {
        self.origins = Origins::Any;
        self
    }

    /// The methods a preflight is told are allowed (`Access-Control-Allow-Methods`).
    pub fn with_allowed_methods<I, S>(mut self, methods: I) -> Cors
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.methods = join(methods);
        self
    }

    /// The request headers a preflight is told are allowed (`Access-Control-Allow-Headers`).
    pub fn with_allowed_headers<I, S>(mut self, headers: I) -> Cors
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.headers = AllowHeaders::List(join(headers));
        self
    }

    /// Allows whatever request headers a preflight asks for.
    pub fn with_any_header(mut self) -> Cors {
        self.headers = AllowHeaders::Any;
        self
    }

    /// Response headers scripts may read beyond the safelisted ones
    /// (`Access-Control-Expose-Headers`).
    pub fn with_exposed_headers<I, S>(mut self, headers: I) -> Cors
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.expose = Some(join(headers));
        self
    }

    /// Whether responses may be read by requests made with credentials (cookies, HTTP
    /// authentication): `Access-Control-Allow-Credentials: true`.
    pub fn with_credentials(mut self, allow: bool) -> Cors {
        self.credentials = allow;
        self
    }

    /// How long, in seconds, a browser may cache a preflight's answer
    /// (`Access-Control-Max-Age`).
    pub fn with_max_age(mut self, seconds: u32) -> Cors {
        let mut digits = itoa::Buffer::new();
        self.max_age = Some(Bytes::copy_from_slice(digits.format(seconds).as_bytes()));
        self
    }

    /// The layer, for [`HandlerExt::around`](crate::HandlerExt::around).
    pub fn layer<H: Handler>(
        self,
    ) -> impl Fn(Request, Next<H>) -> CorsFuture<H::Future> + Clone + 'static {
        let policy = Rc::new(self);
        move |request: Request, next: Next<H>| policy.handle(request, next)
    }

    fn handle<H: Handler>(
        self: &Rc<Self>,
        request: Request,
        next: Next<H>,
    ) -> CorsFuture<H::Future> {
        let origin = request.header("origin").map(Bytes::copy_from_slice);
        let preflight = request.method() == "OPTIONS"
            && origin.is_some()
            && request.header("access-control-request-method").is_some();
        if preflight {
            let response = self.preflight(&request, origin.as_ref());
            return CorsFuture {
                inner: None,
                ready: Some(response),
                policy: self.clone(),
                origin,
            };
        }
        CorsFuture {
            inner: Some(next.run(request)),
            ready: None,
            policy: self.clone(),
            origin,
        }
    }

    /// The value of `Access-Control-Allow-Origin` for `origin`, or `None` if it is not
    /// allowed.
    fn allow_origin(&self, origin: &Bytes) -> Option<Bytes> {
        match &self.origins {
            Origins::Any if self.credentials => Some(origin.clone()),
            Origins::Any => Some(Bytes::from_static(b"*")),
            Origins::List(list) => list
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin))
                .then(|| origin.clone()),
        }
    }

    /// Whether the answer depends on the request's origin (then caches must key on it).
    fn varies_by_origin(&self) -> bool {
        !matches!(self.origins, Origins::Any) || self.credentials
    }

    fn preflight(&self, request: &Request, origin: Option<&Bytes>) -> Response {
        let mut response = Response::new(204);
        if self.varies_by_origin() {
            response.add_vary("origin");
        }
        response.add_vary("access-control-request-method");
        response.add_vary("access-control-request-headers");
        let Some(allowed) = origin.and_then(|o| self.allow_origin(o)) else {
            return response;
        };
        response.set_header("access-control-allow-origin", allowed);
        response.set_header("access-control-allow-methods", self.methods.clone());
        let headers = match &self.headers {
            AllowHeaders::List(list) => list.clone(),
            AllowHeaders::Any if self.credentials => request
                .header("access-control-request-headers")
                .map(Bytes::copy_from_slice)
                .unwrap_or_default(),
            AllowHeaders::Any => Bytes::from_static(b"*"),
        };
        if !headers.is_empty() {
            response.set_header("access-control-allow-headers", headers);
        }
        if self.credentials {
            response.set_header(
                "access-control-allow-credentials",
                Bytes::from_static(b"true"),
            );
        }
        if let Some(max_age) = &self.max_age {
            response.set_header("access-control-max-age", max_age.clone());
        }
        response
    }

    fn decorate(&self, response: &mut Response, origin: Option<&Bytes>) {
        if self.varies_by_origin() {
            response.add_vary("origin");
        }
        let Some(allowed) = origin.and_then(|o| self.allow_origin(o)) else {
            return;
        };
        response.set_header("access-control-allow-origin", allowed);
        if self.credentials {
            response.set_header(
                "access-control-allow-credentials",
                Bytes::from_static(b"true"),
            );
        }
        if let Some(expose) = &self.expose {
            response.set_header("access-control-expose-headers", expose.clone());
        }
    }
}

fn join<I, S>(items: I) -> Bytes
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut joined = String::new();
    for item in items {
        if !joined.is_empty() {
            joined.push_str(", ");
        }
        joined.push_str(item.as_ref());
    }
    Bytes::from(joined)
}

pin_project! {
    /// The handler's future with CORS fields added to its response, or the layer's own
    /// answer to a preflight; see [`Cors::layer`].
    pub struct CorsFuture<F> {
        #[pin]
        inner: Option<F>,
        ready: Option<Response>,
        policy: Rc<Cors>,
        origin: Option<Bytes>,
    }
}

impl<F: Future<Output = Response>> Future for CorsFuture<F> {
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        let this = self.project();
        if let Some(response) = this.ready.take() {
            return Poll::Ready(response);
        }
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(Response::new(500));
        };
        let Poll::Ready(mut response) = inner.poll(cx) else {
            return Poll::Pending;
        };
        this.policy.decorate(&mut response, this.origin.as_ref());
        Poll::Ready(response)
    }
}
