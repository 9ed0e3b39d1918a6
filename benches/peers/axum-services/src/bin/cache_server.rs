//! axum on tokio's current-thread runtime: ringpin's `examples/cache_server.rs`, route for
//! route.
//!
//! ```text
//! cargo run --release -p axum-services --bin axum-cache-server -- --addr 127.0.0.1:8088
//! curl -i -X PUT --data-binary 'v1' 'http://127.0.0.1:8088/kv/greeting?ttl=60'
//! curl -i http://127.0.0.1:8088/kv/greeting
//! ```
//!
//! `PUT /kv/{key}` (body = value, `?ttl=SECONDS`) -> 201 new / 204 replaced / 413 too large;
//! `GET /kv/{key}` -> 200 with the value or 404; `DELETE /kv/{key}` -> 204 or 404;
//! `GET /stats`. The byte budget is RINGPIN_CACHE_BYTES (default 64 MiB), as the example's.
//! The store is `State<Arc<Mutex<_>>>`; sockets get TCP_NODELAY.

#[path = "../../../common/addr.rs"]
mod addr;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header::CONTENT_TYPE, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use axum_services::{json_error, method_not_allowed, route_not_found, serve};
use peer_services::cache::{parse_ttl, Put, Store};
use peer_services::{cache_bytes_from_env, error_body, flags_or_exit, lock};

const USAGE: &str = "usage: axum-cache-server [--addr IP:PORT] (budget: RINGPIN_CACHE_BYTES)";

type Shared = Arc<Mutex<Store>>;

/// The one 404 body the cache's own routes answer with.
fn no_such_key() -> Response {
    json_error(404, error_body("no such key", ""))
}

async fn put(
    State(state): State<Shared>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let ttl = match parse_ttl(query.as_deref().unwrap_or("")) {
        Ok(ttl) => ttl,
        Err(body) => return json_error(400, body),
    };
    // Copied, as the example copies it: a slice would keep the read buffer alive.
    let value = Bytes::copy_from_slice(&body);
    let outcome = lock(&state).put(key, value, ttl);
    match outcome {
        Put::Created => StatusCode::CREATED.into_response(),
        Put::Replaced => StatusCode::NO_CONTENT.into_response(),
        Put::TooLarge => json_error(
            413,
            error_body("value exceeds the shard's memory budget", ""),
        ),
    }
}

async fn get_value(State(state): State<Shared>, Path(key): Path<String>) -> Response {
    let value = lock(&state).get(&key);
    match value {
        Some(value) => ([(CONTENT_TYPE, "application/octet-stream")], value).into_response(),
        None => no_such_key(),
    }
}

async fn delete(State(state): State<Shared>, Path(key): Path<String>) -> Response {
    if lock(&state).remove(&key) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        no_such_key()
    }
}

async fn stats(State(state): State<Shared>) -> Response {
    let stats = lock(&state).stats();
    Json(stats).into_response()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let flags = addr::parse_addr().and_then(|a| Ok((a, cache_bytes_from_env()?)));
    let (addr, budget) = flags_or_exit("axum-cache-server", USAGE, flags);
    let app = Router::new()
        .route("/kv/{key}", get(get_value).put(put).delete(delete))
        .route("/stats", get(stats))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // axum's default body limit is 2 MB; the budget is the example's only cap.
        .layer(DefaultBodyLimit::max(budget))
        .with_state(Arc::new(Mutex::new(Store::new(budget))));
    serve(
        addr,
        &format!("axum-cache-server: {addr}, {budget} bytes"),
        app,
    )
    .await
}
