//! The scrape route: `GET /metrics` answered from the registry, beside any handler.

use super::*;

/// The `200 OK` answer to a scrape: [`Metrics::render_prometheus`] as
/// `text/plain; version=0.0.4`. A route serving it:
///
/// ```
/// use ringpin::{get, metrics::Metrics, Router};
///
/// let metrics = Metrics::new();
/// let router = Router::new().route(
///     "/metrics",
///     get(move |_| {
///         let m = metrics.clone();
///         async move { ringpin::metrics::prometheus_response(&m) }
///     }),
/// );
/// ```
pub fn prometheus_response(metrics: &Metrics) -> Response {
    Response::bytes(metrics.render_prometheus())
        .with_content_type("text/plain; version=0.0.4; charset=utf-8")
}

/// A handler that answers `GET path` with the Prometheus text of `metrics` and passes every
/// other request to `inner`; see [`MetricsHandlerExt::with_metrics_at`].
pub struct MetricsRoute<H> {
    inner: H,
    metrics: Metrics,
    path: &'static str,
}

pin_project_lite::pin_project! {
    /// The future of [`MetricsRoute`]: a ready scrape, or the inner handler's future.
    // pin-project-lite cannot carry docs on variant fields; the variants say it all.
    #[allow(missing_docs)]
    #[project = MetricsFutureProj]
    pub enum MetricsFuture<F> {
        /// The scrape, answered at once.
        Scrape { response: Option<Response> },
        /// Any other request.
        Inner { #[pin] future: F },
    }
}

impl<F: std::future::Future<Output = Response>> std::future::Future for MetricsFuture<F> {
    type Output = Response;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Response> {
        match self.project() {
            MetricsFutureProj::Scrape { response } => std::task::Poll::Ready(
                response
                    .take()
                    .unwrap_or_else(|| Response::new(500).with_close()),
            ),
            MetricsFutureProj::Inner { future } => future.poll(cx),
        }
    }
}

impl<H: Handler> Handler for MetricsRoute<H> {
    type Future = MetricsFuture<H::Future>;

    fn call(&self, request: Request) -> Self::Future {
        if request.path() == self.path && matches!(request.method(), "GET" | "HEAD") {
            MetricsFuture::Scrape {
                response: Some(prometheus_response(&self.metrics)),
            }
        } else {
            MetricsFuture::Inner {
                future: self.inner.call(request),
            }
        }
    }

    fn body_stream_limit(&self, request: &Request) -> Option<u64> {
        self.inner.body_stream_limit(request)
    }
}

/// Adds an opt-in scrape route to any handler.
pub trait MetricsHandlerExt: Handler + Sized {
    /// Serves `GET path` (e.g. `/metrics`) with the Prometheus text of `metrics`; every
    /// other request goes to `self`. The scrape reads only the published per-shard slots,
    /// so it never waits for another shard.
    fn with_metrics_at(self, path: &'static str, metrics: Metrics) -> MetricsRoute<Self> {
        MetricsRoute {
            inner: self,
            metrics,
            path,
        }
    }
}

impl<H: Handler> MetricsHandlerExt for H {}
