//! What the two axum services do alike: a JSON error, the 404 and 405 every router falls back
//! to, and serving a router on a listener whose sockets get TCP_NODELAY. The bins
//! (`src/bin/`) are the routes.

use std::net::SocketAddr;

use axum::http::{header::CONTENT_TYPE, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use axum::Router;
use peer_services::error_body;

/// `status` with a JSON body (`peer_services::error_body`'s).
pub fn json_error(status: u16, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, [(CONTENT_TYPE, "application/json")], body).into_response()
}

/// A path no route matches.
pub async fn route_not_found() -> Response {
    json_error(404, error_body("not found", ""))
}

/// A route's path with a method it does not take.
pub async fn method_not_allowed() -> Response {
    json_error(405, error_body("method not allowed", ""))
}

/// Serves `app` on `addr`, each accepted socket with TCP_NODELAY; `started` goes to stderr
/// once the listener is bound.
pub async fn serve(addr: SocketAddr, started: &str, app: Router) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    eprintln!("{started}");
    axum::serve(listener, app).await
}
