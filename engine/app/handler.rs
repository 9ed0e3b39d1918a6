//! What the engine calls for each request: an async function from request to response.

use std::future::Future;

use crate::http::request::Request;
use crate::http::response::Response;

/// Answers requests on one shard. Any `Fn(Request) -> impl Future<Output = Response>` is a
/// handler; it need not be `Send`, because it never leaves the shard that built it.
pub trait Handler: 'static {
    /// The future that produces the response.
    type Future: Future<Output = Response> + 'static;

    /// Handles one request.
    fn call(&self, request: Request) -> Self::Future;

    /// For a request with a body: `Some(max_bytes)` if this handler reads the body as a
    /// stream ([`Request::take_body_stream`]) of at most `max_bytes`, `None` (the default)
    /// to get it complete in [`Request::body`], bounded by `Limits::max_body_bytes`.
    fn body_stream_limit(&self, request: &Request) -> Option<u64> {
        let _ = request;
        None
    }
}

impl<F, Fut> Handler for F
where
    F: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = Response> + 'static,
{
    type Future = Fut;

    fn call(&self, request: Request) -> Fut {
        self(request)
    }
}
