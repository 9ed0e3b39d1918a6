//! may_minihttp on one may worker thread: stackful coroutines, one per connection.
//!
//! ```text
//! cargo run --release -p may-minihttp-peer -- --addr 127.0.0.1:8085
//! curl -i http://127.0.0.1:8085/json
//! ```
//!
//! The service is may_minihttp's own TechEmpower example, with serde_json in place of
//! yarte; `may::config().set_workers(1)` keeps the scheduler to one thread. may_minihttp
//! writes the Date header.

#[path = "../../common/addr.rs"]
mod addr;
use addr::parse_addr;

use std::io;

use bytes::BufMut;
use may_minihttp::{HttpServer, HttpService, Request, Response};
use serde::Serialize;

const USAGE: &str = "usage: may-minihttp-peer [--addr IP:PORT]";

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

#[derive(Clone)]
struct Peer;

impl HttpService for Peer {
    fn call(&mut self, request: Request, response: &mut Response) -> io::Result<()> {
        match (request.method(), request.path()) {
            ("GET", "/") => {
                response
                    .header("Content-Type: text/plain")
                    .body("Hello, World!");
            }
            ("GET", "/json") => {
                response.header("Content-Type: application/json");
                let message = Message {
                    message: "Hello, World!",
                };
                serde_json::to_writer(response.body_mut().writer(), &message)?;
            }
            _ => {
                response.status_code(404, "Not Found");
            }
        }
        Ok(())
    }
}

fn main() -> io::Result<()> {
    let addr = parse_addr().unwrap_or_else(|e| {
        eprintln!("may-minihttp-peer: {e}\n{USAGE}");
        std::process::exit(2)
    });
    may::config().set_workers(1);
    let server = HttpServer(Peer).start(addr)?;
    eprintln!("may-minihttp-peer: {addr}");
    server
        .join()
        .map_err(|_| io::Error::other("the server coroutine panicked"))
}
