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

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::timer::Timer;
use glommio::{LocalExecutorBuilder, Placement};
use serde::Serialize;

/// Read buffer per connection, in bytes; a request head that does not fit closes the connection.
const READ_BUFFER_BYTES: usize = 8 * 1024;
/// Headers httparse records per request; more is a parse error (answered 400, then closed).
const MAX_HEADERS: usize = 32;
/// How often the clock task re-checks the second behind the cached `Date` (ringpin's tick).
const CLOCK_TICK: Duration = Duration::from_millis(50);
/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
const DATE_LEN: usize = 29;
const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8081);
const USAGE: &str = "usage: glommio-bare [--addr IP:PORT] [--cpu N]";

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
    // One executor, one thread: a thread-local needs no synchronisation.
    static DATE: RefCell<DateCache> = const {
        RefCell::new(DateCache { second: 0, text: [b' '; DATE_LEN] })
    };
}

struct Args {
    addr: SocketAddr,
    cpu: usize,
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("glommio-bare: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let executor = match LocalExecutorBuilder::new(Placement::Fixed(args.cpu))
        .name("glommio-bare")
        .make()
    {
        Ok(executor) => executor,
        Err(e) => {
            eprintln!("glommio-bare: no executor on CPU {}: {e}", args.cpu);
            return ExitCode::FAILURE;
        }
    };
    match executor.run(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("glommio-bare: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut addr = DEFAULT_ADDR;
    let mut cpu = None;
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => addr = value.parse().map_err(|e| format!("--addr {value}: {e}"))?,
            "--cpu" => cpu = Some(value.parse().map_err(|e| format!("--cpu {value}: {e}"))?),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    let cpu = match cpu {
        Some(cpu) => cpu,
        None => first_allowed_cpu()?,
    };
    Ok(Args { addr, cpu })
}

/// The first CPU of this process's affinity mask, from `Cpus_allowed_list` (`0-3,6`).
fn first_allowed_cpu() -> Result<usize, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .and_then(|list| {
            let list = list.trim_start();
            let end = list
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(list.len());
            list.get(..end)?.parse().ok()
        })
        .ok_or_else(|| "no CPU in Cpus_allowed_list; pass --cpu".to_string())
}

async fn serve(args: Args) -> io::Result<()> {
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
