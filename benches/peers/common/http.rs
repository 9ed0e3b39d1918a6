//! The bare peers' request handling, written once: httparse, the two routes, the cached Date.
//! glommio-bare, monoio-bare, uring-bare and glommio-ring include this file by path
//! (`#[path = "../../common/http.rs"] mod http;`), so they answer with the same bytes and
//! differ only in the runtime; as a module of each crate it inlines as before.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Headers httparse records per request; more is a parse error (answered 400, then closed).
const MAX_HEADERS: usize = 32;
/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
const DATE_LEN: usize = 29;

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
    // One thread: a thread-local needs no synchronisation.
    static DATE: RefCell<DateCache> = const {
        RefCell::new(DateCache { second: 0, text: [b' '; DATE_LEN] })
    };
}

/// Re-formats the cached `Date` if the second has changed.
pub fn refresh_date() {
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

/// Answers every complete request at the front of `input` into `output`. Returns the bytes
/// consumed and whether the connection must close after the write.
pub fn answer_all(input: &[u8], output: &mut Vec<u8>, json: &mut Vec<u8>) -> (usize, bool) {
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
