//! A bare loop on monoio: one thread-per-core runtime (io_uring, or epoll where io_uring is
//! missing), httparse, and nothing else. glommio-bare's twin on the other io_uring runtime.
//!
//! ```text
//! cargo run --release -p monoio-bare -- --addr 127.0.0.1:8086
//! curl -i http://127.0.0.1:8086/json
//! ```
//!
//! Per connection: read what is there, answer every complete pipelined request into one
//! output buffer, write it once. The request handling and the response bytes are
//! glommio-bare's, line for line, so that the two differ only in the runtime; what is absent
//! (bodies, timeouts, limits, graceful shutdown) is absent from both.

#[path = "../../common/addr.rs"]
mod addr;
use addr::parse_addr;
#[path = "../../common/cli.rs"]
mod cli;
#[path = "../../common/http.rs"]
mod http;

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};

use http::{answer_all, refresh_date};

/// Read buffer per connection, in bytes; a request head that does not fit closes the connection.
const READ_BUFFER_BYTES: usize = 8 * 1024;
/// How often the clock task re-checks the second behind the cached `Date`.
const CLOCK_TICK: Duration = Duration::from_millis(50);
/// io_uring submission queue entries (monoio's default).
const URING_ENTRIES: u32 = 1024;
const USAGE: &str = "usage: monoio-bare [--addr IP:PORT]";

fn main() -> ExitCode {
    cli::main_with(
        "monoio-bare",
        USAGE,
        |_| parse_addr(),
        |addr| {
            let mut runtime = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
                .with_entries(URING_ENTRIES)
                .enable_timer()
                .build()
                .map_err(|e| format!("no runtime: {e}"))?;
            runtime.block_on(serve(addr)).map_err(|e| e.to_string())
        },
    )
}

async fn serve(addr: SocketAddr) -> io::Result<()> {
    refresh_date();
    monoio::spawn(keep_date_fresh());
    let listener = TcpListener::bind(addr)?;
    let driver = if monoio::utils::is_legacy() {
        "epoll"
    } else {
        "io_uring"
    };
    eprintln!("monoio-bare: {addr} ({driver})");
    loop {
        // A failed accept (a peer that reset first, a full fd table) costs that peer only.
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        monoio::spawn(async move {
            let _ = serve_connection(stream).await;
        });
    }
}

async fn keep_date_fresh() {
    loop {
        monoio::time::sleep(CLOCK_TICK).await;
        refresh_date();
    }
}

/// Read, answer every complete request in the buffer, write once; until the peer closes.
async fn serve_connection(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    // monoio owns a buffer while the kernel fills it: the Vecs move into each call and back.
    let mut input = Vec::with_capacity(READ_BUFFER_BYTES);
    let mut output = Vec::with_capacity(READ_BUFFER_BYTES);
    let mut json = Vec::with_capacity(64);
    loop {
        let filled = input.len();
        let (read, slice) = stream.read(input.slice_mut(filled..)).await;
        input = slice.into_inner();
        if read? == 0 {
            return Ok(());
        }
        let (consumed, close) = answer_all(&input, &mut output, &mut json);
        input.drain(..consumed);
        if !output.is_empty() {
            let (written, buffer) = stream.write_all(output).await;
            output = buffer;
            written?;
            output.clear();
        }
        if close || input.len() == input.capacity() {
            return Ok(());
        }
    }
}
