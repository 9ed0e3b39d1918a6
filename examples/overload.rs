//! A CPU-bound service for load-shedding experiments: `GET /work?us=N` holds the shard for N
//! microseconds (default 200), like a handler doing real work; `GET /` is hello.
//!
//! ```text
//! cargo run --release --example overload -- --addr 127.0.0.1:8080 --cores 1
//! curl -i 'http://127.0.0.1:8080/work?us=500'
//! ```
//!
//! With the default 200 us of work one shard serves at most 5,000 requests a second; an
//! open-loop load of 10,000 a second is a 2x overload. Shedding is off by default, as in every
//! example; `RINGPIN_SHED_TARGET_MS=5` turns it on. docs/operations.md shows the figures.

#[path = "common/cli.rs"]
mod cli;

use std::time::{Duration, Instant};

use clap::Parser;
use ringpin::{get, Request, Response, Router};

#[derive(Parser)]
#[command(about = "ringpin overload: a CPU-bound route for shedding experiments")]
struct Args {
    #[command(flatten)]
    serve: cli::ServeArgs,
}

/// Longest work one request may ask for, so a typo cannot wedge a shard.
const MAX_WORK: Duration = Duration::from_millis(100);

async fn work(request: Request) -> Response {
    let micros = request
        .query_param("us")
        .and_then(|us| us.parse::<u64>().ok())
        .unwrap_or(200);
    let until = Instant::now() + Duration::from_micros(micros).min(MAX_WORK);
    let mut spins = 0u64;
    while Instant::now() < until {
        spins = spins.wrapping_add(1);
        std::hint::spin_loop();
    }
    Response::text(format!("worked {micros} us ({spins} spins)"))
}

fn main() -> std::process::ExitCode {
    cli::init_logging();
    let args = Args::parse();
    cli::serve_until_signal(&args.serve, |_shard| {
        Router::new()
            .route("/", get(|_r: Request| async { "Hello, World!" }))
            .route("/work", get(work))
    })
}
