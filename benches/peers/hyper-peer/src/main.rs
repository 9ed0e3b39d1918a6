//! hyper 1.x, HTTP/1.1 only, on tokio's current-thread runtime: one thread.
//!
//! ```text
//! cargo run --release -p hyper-peer -- --addr 127.0.0.1:8083
//! curl -i http://127.0.0.1:8083/json
//! ```
//!
//! The accept loop of hyper's own server guide: one task per connection, each served by
//! `http1::Builder` with its defaults (hyper adds the Date header).

#[path = "../../common/addr.rs"]
mod addr;
use addr::parse_addr;

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpListener;

const USAGE: &str = "usage: hyper-peer [--addr IP:PORT]";

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

fn main() -> std::io::Result<()> {
    let addr = parse_addr().unwrap_or_else(|e| {
        eprintln!("hyper-peer: {e}\n{USAGE}");
        std::process::exit(2)
    });
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(addr))
}

async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    eprintln!("hyper-peer: {addr}");
    loop {
        // A failed accept (a peer that reset first, a full fd table) costs that peer only.
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(route))
                .await;
        });
    }
}

async fn route(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match (request.method(), request.uri().path()) {
        (&Method::GET, "/") => respond("text/plain", Bytes::from_static(b"Hello, World!")),
        (&Method::GET, "/json") => {
            let message = Message {
                message: "Hello, World!",
            };
            match serde_json::to_vec(&message) {
                Ok(body) => respond("application/json", Bytes::from(body)),
                Err(_) => status(StatusCode::INTERNAL_SERVER_ERROR),
            }
        }
        _ => status(StatusCode::NOT_FOUND),
    };
    Ok(response)
}

fn respond(content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}
