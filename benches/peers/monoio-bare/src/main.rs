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

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};
use serde::Serialize;

/// Read buffer per connection, in bytes; a request head that does not fit closes the connection.
const READ_BUFFER_BYTES: usize = 8 * 1024;
/// Headers httparse records per request; more is a parse error (answered 400, then closed).
const MAX_HEADERS: usize = 32;
/// How often the clock task re-checks the second behind the cached `Date`.
const CLOCK_TICK: Duration = Duration::from_millis(50);
/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
const DATE_LEN: usize = 29;
/// io_uring submission queue entries (monoio's default).
const URING_ENTRIES: u32 = 1024;
const USAGE: &str = "usage: monoio-bare [--addr IP:PORT]";

const HELLO: &[u8] = b"Hello, World!";

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

struct DateCache {
    second: u64,
    text: [u8; DATE_LEN],
}

thread_local! {
    // One runtime, one thread: a thread-local needs no synchronisation.
    static DATE: RefCell<DateCache> = const {
        RefCell::new(DateCache { second: 0, text: [b' '; DATE_LEN] })
    };
}

fn main() -> ExitCode {
    let addr = match parse_addr() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("monoio-bare: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .with_entries(URING_ENTRIES)
        .enable_timer()
        .build();
    let mut runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("monoio-bare: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(addr)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("monoio-bare: {e}");
            ExitCode::FAILURE
        }
    }
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

/// Re-formats the cached `Date` if the second has changed.
fn refresh_date() {
    let now = SystemTime::now();
    let second = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    DATE.with(|cell| {
        let mut cache = cell.borrow_mut();
        if cache.second != second {
            let formatted = httpdate::fmt_http_date(now);
            if formatted.len() == DATE_LEN {
                cache.text.copy_from_slice(formatted.as_bytes());
                cache.second = second;
            }
        }
    });
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

/// Answers every complete request at the front of `input` into `output`. Returns the bytes
/// consumed and whether the connection must close after the write.
fn answer_all(input: &[u8], output: &mut Vec<u8>, json: &mut Vec<u8>) -> (usize, bool) {
    let mut consumed = 0;
    while let Some(rest) = input.get(consumed..).filter(|rest| !rest.is_empty()) {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(rest) {
            Ok(httparse::Status::Complete(len)) => {
                answer(&request, output, json);
                consumed += len;
                if wants_close(&request) {
                    return (consumed, true);
                }
            }
            Ok(httparse::Status::Partial) => return (consumed, false),
            Err(_) => {
                encode_response(output, b"400 Bad Request", b"text/plain", b"Bad Request");
                return (input.len(), true);
            }
        }
    }
    (consumed, false)
}

fn answer(request: &httparse::Request, output: &mut Vec<u8>, json: &mut Vec<u8>) {
    match (request.method, request.path) {
        (Some("GET"), Some("/")) => encode_response(output, b"200 OK", b"text/plain", HELLO),
        (Some("GET"), Some("/json")) => {
            json.clear();
            let message = Message {
                message: "Hello, World!",
            };
            match serde_json::to_writer(&mut *json, &message) {
                Ok(()) => encode_response(output, b"200 OK", b"application/json", json),
                Err(_) => encode_response(output, b"500 Internal Server Error", b"text/plain", b""),
            }
        }
        _ => encode_response(output, b"404 Not Found", b"text/plain", b"Not Found"),
    }
}

/// HTTP/1.0 closes after one answer; HTTP/1.1 closes only when the client asks.
fn wants_close(request: &httparse::Request) -> bool {
    request.version == Some(0)
        || request.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("connection") && h.value.eq_ignore_ascii_case(b"close")
        })
}

fn encode_response(output: &mut Vec<u8>, status: &[u8], content_type: &[u8], body: &[u8]) {
    output.extend_from_slice(b"HTTP/1.1 ");
    output.extend_from_slice(status);
    output.extend_from_slice(b"\r\nDate: ");
    DATE.with(|cell| output.extend_from_slice(&cell.borrow().text));
    output.extend_from_slice(b"\r\nContent-Type: ");
    output.extend_from_slice(content_type);
    output.extend_from_slice(b"\r\nContent-Length: ");
    output.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
    output.extend_from_slice(b"\r\n\r\n");
    output.extend_from_slice(body);
}
