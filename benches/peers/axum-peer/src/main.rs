//! axum on tokio's current-thread runtime: one thread, a `Router` and `axum::serve`.
//!
//! ```text
//! cargo run --release -p axum-peer -- --addr 127.0.0.1:8084
//! curl -i http://127.0.0.1:8084/json
//! ```
//!
//! Handlers are the ones axum's README shows: a `&'static str` (text/plain; charset=utf-8)
//! and `Json` (application/json, serde_json per request). Sockets get TCP_NODELAY, as every
//! other peer's do.

#[path = "../../common/addr.rs"]
mod addr;
use addr::parse_addr;

use axum::serve::ListenerExt;
use axum::{routing::get, Json, Router};
use serde::Serialize;

const USAGE: &str = "usage: axum-peer [--addr IP:PORT]";

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

async fn plaintext() -> &'static str {
    "Hello, World!"
}

async fn json() -> Json<Message> {
    Json(Message {
        message: "Hello, World!",
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = parse_addr().unwrap_or_else(|e| {
        eprintln!("axum-peer: {e}\n{USAGE}");
        std::process::exit(2)
    });
    let app = Router::new()
        .route("/", get(plaintext))
        .route("/json", get(json));
    let listener = tokio::net::TcpListener::bind(addr).await?.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    eprintln!("axum-peer: {addr}");
    axum::serve(listener, app).await
}
