//! The reference server: plaintext, JSON and echo, on every CPU of the process mask.
//!
//! ```text
//! cargo run --release --example hello -- --addr 127.0.0.1:8080 --cores 0-1
//! curl -i http://127.0.0.1:8080/
//! curl -i http://127.0.0.1:8080/json
//! curl -i --data-binary 'ping' http://127.0.0.1:8080/echo
//! ```
//!
//! Routes (a contract tests and benchmarks rely on): `GET /` -> `Hello, World!` as
//! `text/plain`; `GET /json` -> `{"message":"Hello, World!"}`; `POST /echo` -> the request
//! body (Content-Length or chunked); anything else -> 404 (405 for a wrong method).
//! SIGTERM or SIGINT drains and exits.

use std::net::SocketAddr;

use clap::Parser;
use ringpin::{parse_cpu_list, Config, Request, Response, Server};
use serde::Serialize;

#[derive(Parser)]
#[command(about = "ringpin hello: plaintext, JSON and echo on pinned shards")]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "RINGPIN_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// CPUs to run one shard each on, taskset syntax (`0-3,6`); default: the process mask.
    // Spelled out in full so clap takes one list-valued argument, not a repeated one.
    #[arg(long, env = "RINGPIN_CORES", value_parser = parse_cpu_list)]
    cores: Option<::std::vec::Vec<usize>>,
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
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Args::parse();
    let mut config = Config::default().with_addr(args.addr);
    config.cpus = args.cores;
    let handle = match Server::new(config).serve(|_shard| hello) {
        Ok(handle) => handle,
        Err(e) => {
            log::error!("cannot start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Err(e) = handle.shutdown_on_signals() {
        log::warn!("signals not handled: {e}");
    }
    match handle.join() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}
