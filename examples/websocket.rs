//! WebSocket echo: text and binary messages on `/ws` come back as they were sent.
//!
//! ```text
//! cargo run --release --example websocket -- --addr 127.0.0.1:8080
//! curl -i -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
//!      -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' http://127.0.0.1:8080/ws
//! websocat ws://127.0.0.1:8080/ws     # or any WebSocket client
//! ```
//!
//! Each connection stays on the shard that accepted it; pings are answered by the engine,
//! a close is echoed, and messages over 1 MiB are refused with close code 1009.

#[path = "common/cli.rs"]
mod cli;

use clap::Parser;
use ringpin::ws::{self, WebSocket, WsConfig};
use ringpin::{get, Request, Response, Router};

#[derive(Parser)]
#[command(about = "ringpin websocket: echo on /ws")]
struct Args {
    #[command(flatten)]
    serve: cli::ServeArgs,
}

/// Echoes every text and binary message until the peer closes.
pub async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        if (message.is_text() || message.is_binary()) && socket.send(message).await.is_err() {
            break;
        }
    }
}

/// The routes: `GET /ws` upgrades, `GET /` says where to go.
pub fn router() -> Router {
    Router::new()
        .route(
            "/ws",
            get(|request: Request| async move { ws::upgrade(&request, WsConfig::default(), echo) }),
        )
        .route(
            "/",
            get(|_| async { Response::text("WebSocket echo on /ws\n") }),
        )
}

fn main() -> std::process::ExitCode {
    cli::init_logging();
    let args = Args::parse();
    cli::serve_until_signal(&args.serve, |_shard| router())
}
