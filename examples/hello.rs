//! The reference server: plaintext, JSON and echo, on every CPU of the process mask.
//!
//! ```text
//! cargo run --release --example hello -- --addr 127.0.0.1:8080 --cores 0-1
//! curl -i http://127.0.0.1:8080/
//! curl -i http://127.0.0.1:8080/json
//! curl -i --data-binary 'ping' http://127.0.0.1:8080/echo
//! # TLS (docs/deploy.md, "TLS"):
//! cargo run --release --example hello -- --tls-cert cert.pem --tls-key key.pem
//! curl -i --cacert ca.pem https://localhost:8080/
//! ```
//!
//! Routes (a contract tests and benchmarks rely on): `GET /` -> `Hello, World!` as
//! `text/plain`; `GET /json` -> `{"message":"Hello, World!"}`; `POST /echo` -> the request
//! body (Content-Length or chunked); anything else -> 404 (405 for a wrong method).
//! SIGTERM or SIGINT drains and exits.

#[path = "common/cli.rs"]
mod cli;

use clap::Parser;
use ringpin::{Request, Response};
use serde::Serialize;

#[derive(Parser)]
#[command(about = "ringpin hello: plaintext, JSON and echo on pinned shards")]
struct Args {
    #[command(flatten)]
    serve: cli::ServeArgs,
}

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

/// The hello routes; `pub` so the integration tests serve exactly this handler.
pub async fn hello(request: Request) -> Response {
    match (request.method(), request.path()) {
        ("GET" | "HEAD", "/") => Response::text("Hello, World!"),
        ("GET" | "HEAD", "/json") => Response::json(&Message {
            message: "Hello, World!",
        }),
        ("POST", "/echo") => {
            let content_type = request
                .header("content-type")
                .map(bytes::Bytes::copy_from_slice);
            let response = Response::bytes(request.into_body());
            match content_type {
                Some(ct) => response.with_header("content-type", ct),
                None => response,
            }
        }
        (_, "/") | (_, "/json") => Response::new(405).with_header("allow", "GET, HEAD"),
        (_, "/echo") => Response::new(405).with_header("allow", "POST"),
        _ => Response::text("Not Found").with_status(404),
    }
}

fn main() -> std::process::ExitCode {
    cli::init_logging();
    let args = Args::parse();
    cli::serve_until_signal(&args.serve, |_shard| hello)
}
