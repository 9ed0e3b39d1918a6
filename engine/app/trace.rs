//! The tracing layer (feature `tracing`): one `tracing` span per request, with its method, route, status, latency and shard.
//!
//! ```
//! use ringpin::{get, HandlerExt, Response, Router};
//!
//! let router = Router::new().route("/users/{id}", get(|_| async { Response::text("hi") }));
//! let handler = router.around(ringpin::trace::layer());
//! # let _ = handler;
//! ```
//!
//! The span is named `request` (target `ringpin::request`, level INFO) and carries
//! `method`, `path`, `shard`, and, once known, `route` (the pattern the router matched,
//! e.g. `/users/{id}`: bounded, unlike the path), `status` and `latency_us` (from the
//! call to the response, as a `u64`). The handler's future runs inside the span, so its
//! own events and child spans nest under it. Where no subscriber wants the span,
//! `tracing` skips it at its callsite (one relaxed load); the `log` crate's records,
//! ringpin's own and the access log's, are unchanged.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use pin_project_lite::pin_project;
use tracing::field::Empty;
use tracing::Span;

use crate::app::handler::Handler;
use crate::app::middleware::Next;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::server::info::current_shard;
use crate::server::unwind::noted_route;

/// The layer, for [`HandlerExt::around`](crate::HandlerExt::around); put it outside the
/// router (`router.around(trace::layer())`) so that it sees the matched route.
pub fn layer<H: Handler>() -> impl Fn(Request, Next<H>) -> Traced<H::Future> + Clone + 'static {
    |request: Request, next: Next<H>| {
        let span = tracing::info_span!(
            target: "ringpin::request",
            "request",
            method = request.method(),
            path = request.path(),
            shard = current_shard().map_or(0, |s| s.id as u64),
            route = Empty,
            status = Empty,
            latency_us = Empty,
        );
        let started = Instant::now();
        let inner = {
            let _entered = span.enter();
            next.run(request)
        };
        if let Some(route) = noted_route() {
            span.record("route", &*route);
        }
        Traced {
            inner,
            span,
            started,
        }
    }
}

pin_project! {
    /// A handler's future run inside its request's span; see [`layer`].
    pub struct Traced<F> {
        #[pin]
        inner: F,
        span: Span,
        started: Instant,
    }
}

impl<F: Future<Output = Response>> Future for Traced<F> {
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        let this = self.project();
        let _entered = this.span.enter();
        let Poll::Ready(response) = this.inner.poll(cx) else {
            return Poll::Pending;
        };
        this.span.record("status", u64::from(response.status()));
        let micros = u64::try_from(this.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        this.span.record("latency_us", micros);
        Poll::Ready(response)
    }
}
