//! The bare loop ringpin's baseline is measured against: one pinned glommio executor,
//! httparse, and nothing else.
//!
//! ```text
//! CARGO_TARGET_DIR=../target cargo run --release -- --cpu 1 --addr 127.0.0.1:8081
//! curl -i http://127.0.0.1:8081/
//! curl -i http://127.0.0.1:8081/json
//! ```
//!
//! Per connection: read what is there, answer every complete pipelined request into one
//! output buffer, write it once. `GET /` -> `Hello, World!`; `GET /json` ->
//! `{"message":"Hello, World!"}` (serialised with serde_json per request); anything else -> 404.
//!
//! Deliberately absent, so that it measures the floor rather than a server: request bodies
//! (a request carrying one desynchronises its connection), limits beyond the read buffer,
//! timeouts, chunked encoding, HTTP/1.0 keep-alive (1.0 requests are answered, then closed),
//! graceful shutdown. The only validation is httparse's.

#[path = "../../common/addr.rs"]
mod addr;
#[path = "../../common/cli.rs"]
mod cli;
#[path = "../../common/http.rs"]
mod http;
#[path = "../../common/pinned.rs"]
mod pinned;

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::timer::Timer;

use http::{answer_all, refresh_date};
use pinned::{parse_pinned_flags, run_pinned, Pinned};

/// Read buffer per connection, in bytes; a request head that does not fit closes the connection.
const READ_BUFFER_BYTES: usize = 8 * 1024;
/// How often the clock task re-checks the second behind the cached `Date` (ringpin's tick).
const CLOCK_TICK: Duration = Duration::from_millis(50);
const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8081);
const USAGE: &str = "usage: glommio-bare [--addr IP:PORT] [--cpu N]";

fn main() -> ExitCode {
    let parse = |args| parse_pinned_flags(args, DEFAULT_ADDR, |_, _| Ok(false));
    cli::main_with("glommio-bare", USAGE, parse, |args: Pinned| {
        run_pinned("glommio-bare", args.cpu, serve(args))
    })
}

async fn serve(args: Pinned) -> io::Result<()> {
    refresh_date();
    glommio::spawn_local(keep_date_fresh()).detach();
    let listener = TcpListener::bind(args.addr)?;
    eprintln!("glommio-bare: {} on CPU {}", args.addr, args.cpu);
    loop {
        // A failed accept (a peer that reset first, a full fd table) costs that peer only.
        let Ok(stream) = listener.accept().await else {
            continue;
        };
        glommio::spawn_local(async move {
            let _ = serve_connection(stream).await;
        })
        .detach();
    }
}

async fn keep_date_fresh() {
    loop {
        Timer::new(CLOCK_TICK).await;
        refresh_date();
    }
}

/// Read, answer every complete request in the buffer, write once; until the peer closes.
async fn serve_connection(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut input = vec![0u8; READ_BUFFER_BYTES];
    let mut filled = 0;
    let mut output = Vec::with_capacity(READ_BUFFER_BYTES);
    let mut json = Vec::with_capacity(64);
    loop {
        let read = stream.read(&mut input[filled..]).await?;
        if read == 0 {
            return Ok(());
        }
        filled += read;
        let (consumed, close) = answer_all(&input[..filled], &mut output, &mut json);
        input.copy_within(consumed..filled, 0);
        filled -= consumed;
        if !output.is_empty() {
            stream.write_all(&output).await?;
            output.clear();
        }
        if close || filled == input.len() {
            return Ok(());
        }
    }
}
