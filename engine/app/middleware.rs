//! Around-handler layers: code that runs before and after the handler it wraps.
//!
//! Layers compose statically (`handler.around(a).around(b)`): no boxing, no dynamic dispatch,
//! and a server without layers runs no layer code at all.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::Instant;

use crate::app::handler::Handler;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::server::info::current_shard;

/// The rest of the chain, handed to a layer.
pub struct Next<H> {
    inner: Rc<H>,
}

impl<H: Handler> Next<H> {
    /// Runs the wrapped handler.
    pub fn run(&self, request: Request) -> H::Future {
        self.inner.call(request)
    }
}

/// A handler wrapped in a layer; see [`HandlerExt::around`].
pub struct Around<H, F> {
    inner: Rc<H>,
    layer: F,
}

impl<H, F, Fut> Handler for Around<H, F>
where
    H: Handler,
    F: Fn(Request, Next<H>) -> Fut + 'static,
    Fut: Future<Output = Response> + 'static,
{
    type Future = Fut;

    fn body_stream_limit(&self, request: &Request) -> Option<u64> {
        self.inner.body_stream_limit(request)
    }

    fn call(&self, request: Request) -> Fut {
        (self.layer)(
            request,
            Next {
                inner: self.inner.clone(),
            },
        )
    }
}

/// Adds layering to every handler.
pub trait HandlerExt: Handler + Sized {
    /// Wraps `self` in `layer`, an `async fn(Request, Next<Self>) -> Response` that may look
    /// at the request, call `next.run(request)` (or not), and change the response.
    fn around<F, Fut>(self, layer: F) -> Around<Self, F>
    where
        F: Fn(Request, Next<Self>) -> Fut + 'static,
        Fut: Future<Output = Response> + 'static,
    {
        Around {
            inner: Rc::new(self),
            layer,
        }
    }
}

impl<H: Handler> HandlerExt for H {}

thread_local! {
    static NEXT_ID: Cell<u64> = const { Cell::new(0) };
}

/// Longest incoming `X-Request-Id` that is passed through; longer ones are replaced.
const MAX_REQUEST_ID: usize = 128;

/// A layer that gives every response an `X-Request-Id`: the client's own when it sent a
/// plausible one (visible ASCII, at most 128 bytes), else `<shard>-<counter>`, unique
/// within the process without any cross-core coordination.
pub async fn request_id<H: Handler>(request: Request, next: Next<H>) -> Response {
    let incoming = request
        .header("x-request-id")
        .filter(|v| !v.is_empty() && v.len() <= MAX_REQUEST_ID)
        .filter(|v| v.iter().all(|b| b.is_ascii_graphic()))
        .map(bytes::Bytes::copy_from_slice);
    let id = incoming.unwrap_or_else(|| {
        let n = NEXT_ID.with(|c| {
            let n = c.get();
            c.set(n + 1);
            n
        });
        let shard = current_shard().map_or(0, |s| s.id);
        bytes::Bytes::from(format!("{shard}-{n}"))
    });
    next.run(request).await.with_header("x-request-id", id)
}

/// A layer that reports the handler's time in a `Server-Timing: app;dur=<ms>` field.
pub async fn timing<H: Handler>(request: Request, next: Next<H>) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    response.with_header("server-timing", format!("app;dur={millis:.3}"))
}
