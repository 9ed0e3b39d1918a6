//! Every named limit over real TCP: the default values, and each limit's boundary (at the
//! limit: served; one byte past it: the documented status, then close), both write modes.
//! Also `Expect: 100-continue` as a real client drives it: head, wait for 100, then body.

mod common;

use std::net::SocketAddr;

use common::replay::{parse_answers, replay, replay_both, Split};
use common::{connect, Replies};
use ringpin::{Config, Limits};

/// `GET /?aaa… HTTP/1.1` whose request line is `len` bytes including CRLF, then a Host.
fn request_line_of(len: usize) -> Vec<u8> {
    let fixed = "GET /? HTTP/1.1\r\n".len();
    let pad = "a".repeat(len - fixed);
    format!("GET /?{pad} HTTP/1.1\r\nHost: a\r\n\r\n").into_bytes()
}

/// A GET whose head (request line through the empty line) is `len` bytes.
fn head_of(len: usize) -> Vec<u8> {
    let fixed = "GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n".len();
    let pad = "b".repeat(len - fixed);
    format!("GET / HTTP/1.1\r\nHost: a\r\nX: {pad}\r\n\r\n").into_bytes()
}

/// A GET with Host and `extra` more fields.
fn fields(extra: usize) -> Vec<u8> {
    let mut request = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..extra {
        request.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    request
}

/// A chunked echo whose chunk extensions total `len` bytes (as counted: after the digits).
fn extensions_of(len: usize) -> Vec<u8> {
    let pad = "e".repeat(len - 1);
    format!("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;{pad}\r\nhi\r\n0\r\n\r\n")
        .into_bytes()
}

/// A chunked echo whose trailer section totals `len` bytes (field lines with their CRLFs).
fn trailers_of(len: usize) -> Vec<u8> {
    let pad = "t".repeat(len - "X: \r\n".len());
    format!("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX: {pad}\r\n\r\n")
        .into_bytes()
}

fn length_body(len: usize) -> Vec<u8> {
    let mut request =
        format!("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: {len}\r\n\r\n").into_bytes();
    request.resize(request.len() + len, b'x');
    request
}

fn chunked_body(len: usize) -> Vec<u8> {
    let mut request =
        format!("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{len:x}\r\n")
            .into_bytes();
    request.resize(request.len() + len, b'x');
    request.extend_from_slice(b"\r\n0\r\n\r\n");
    request
}

/// Replays each (what, request, statuses) both ways; refusals must close.
fn check(addr: SocketAddr, rows: &[(&str, Vec<u8>, &[u16])]) {
    let mut failures = Vec::new();
    for (what, request, expect) in rows {
        let outcome = replay_both(addr, request, what);
        if outcome.statuses() != *expect {
            failures.push(format!(
                "{what}: {:?}, expected {expect:?}",
                outcome.statuses()
            ));
        }
        if let Some(last) = outcome.answers.last() {
            if last.status != 200 && !last.close {
                failures.push(format!("{what}: a refusal must close"));
            }
        }
    }
    let after = replay(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", Split::OneWrite);
    assert_eq!(after.statuses(), [200], "served after the limits");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn default_limits_have_the_documented_values_and_statuses() {
    let defaults = Limits::default();
    assert_eq!(defaults.max_request_line_bytes, 8 * 1024);
    assert_eq!(defaults.max_head_bytes, 16 * 1024);
    assert_eq!(defaults.max_headers, 100);
    assert_eq!(defaults.max_body_bytes, 1024 * 1024);
    assert_eq!(defaults.max_chunk_extension_bytes, 4 * 1024);
    assert_eq!(defaults.max_trailer_bytes, 8 * 1024);
    assert_eq!(defaults.max_empty_lines, 1);
    let server = common::start_hello();
    check(
        server.addr(),
        &[
            ("request line at 8 KiB", request_line_of(8 * 1024), &[200]),
            (
                "request line past 8 KiB",
                request_line_of(8 * 1024 + 1),
                &[414],
            ),
            ("head at 16 KiB", head_of(16 * 1024), &[200]),
            ("head past 16 KiB", head_of(16 * 1024 + 1), &[431]),
            ("100 fields", fields(99), &[200]),
            ("101 fields", fields(100), &[431]),
            ("extensions at 4 KiB", extensions_of(4 * 1024), &[200]),
            ("extensions past 4 KiB", extensions_of(4 * 1024 + 1), &[400]),
            ("trailers at 8 KiB", trailers_of(8 * 1024), &[200]),
            ("trailers past 8 KiB", trailers_of(8 * 1024 + 1), &[431]),
            (
                "Content-Length past 1 MiB, head only",
                b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n".to_vec(),
                &[413],
            ),
            (
                "chunk past 1 MiB, size line only",
                b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n"
                    .to_vec(),
                &[413],
            ),
        ],
    );
    // The body limit at its exact value, in one write (a MiB byte by byte is too slow).
    let at_limit = replay(server.addr(), &length_body(1024 * 1024), Split::OneWrite);
    assert_eq!(at_limit.statuses(), [200]);
    assert_eq!(
        at_limit.answers.first().map(|a| a.body.len()),
        Some(1024 * 1024)
    );
}

#[test]
fn each_limit_at_and_past_its_boundary() {
    let limits = Limits {
        max_request_line_bytes: 64,
        max_head_bytes: 256,
        max_headers: 8,
        max_body_bytes: 32,
        max_chunk_extension_bytes: 16,
        max_trailer_bytes: 32,
        max_empty_lines: 1,
        ..Limits::default()
    };
    let server = common::start_hello_with(common::test_config().with_limits(limits));
    check(
        server.addr(),
        &[
            ("request line at the limit", request_line_of(64), &[200]),
            ("request line one past", request_line_of(65), &[414]),
            (
                "request line far past, unfinished",
                b"GET /".repeat(40),
                &[414],
            ),
            ("head at the limit", head_of(256), &[200]),
            ("head one past", head_of(257), &[431]),
            (
                "head far past, unfinished",
                head_of(1000)[..600].to_vec(),
                &[431],
            ),
            ("fields at the limit", fields(7), &[200]),
            ("fields one past", fields(8), &[431]),
            ("body at the limit", length_body(32), &[200]),
            ("body one past", length_body(33), &[413]),
            ("chunked body at the limit", chunked_body(32), &[200]),
            ("chunked body one past", chunked_body(33), &[413]),
            ("extensions at the limit", extensions_of(16), &[200]),
            ("extensions one past", extensions_of(17), &[400]),
            ("trailers at the limit", trailers_of(32), &[200]),
            ("trailers one past", trailers_of(33), &[431]),
            (
                "one empty line",
                b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
                &[200],
            ),
            (
                "two empty lines",
                b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
                &[400],
            ),
            (
                "a bare CR past the request-line limit: the limit is found first",
                [request_line_of(66)[..65].to_vec(), b"\rX\r\n\r\n".to_vec()].concat(),
                &[414],
            ),
        ],
    );
}

#[test]
fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let server = common::start_hello();
    for (framing, body) in [
        ("Content-Length: 5", &b"hello"[..]),
        (
            "Transfer-Encoding: chunked",
            &b"5\r\nhello\r\n0\r\n\r\n"[..],
        ),
    ] {
        let mut replies = Replies::new(connect(server.addr()));
        let head =
            format!("POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n{framing}\r\n\r\n");
        replies.send(head.as_bytes());
        let received = replies.next().expect("100 Continue").raw;
        assert_eq!(
            received, b"HTTP/1.1 100 Continue\r\n\r\n",
            "{framing}: 100 first"
        );
        replies.send(body);
        let received = replies.next().expect("response").raw;
        let outcome = parse_answers(&received).expect("response");
        assert_eq!(outcome.statuses(), [200], "{framing}");
        assert_eq!(outcome.answers[0].body, b"hello");
        assert!(!outcome.answers[0].close, "{framing}: stays open");
    }
}

#[test]
fn a_refused_body_is_refused_before_it_is_sent() {
    let server = common::start_hello();
    for expect in ["Expect: 100-continue\r\n", ""] {
        let mut replies = Replies::new(connect(server.addr()));
        let head =
            format!("POST /echo HTTP/1.1\r\nHost: a\r\n{expect}Content-Length: 2000000\r\n\r\n");
        replies.send(head.as_bytes());
        let received = replies.next().expect("response").raw;
        let outcome = parse_answers(&received).expect("response");
        assert_eq!(outcome.interim, 0, "no 100 for a body that will be refused");
        assert_eq!(outcome.statuses(), [413]);
        assert!(outcome.answers[0].close);
        // The server closes once the client stops sending: nothing else arrives.
        replies
            .stream
            .shutdown(std::net::Shutdown::Write)
            .expect("half-close");
        assert!(replies.closed(), "nothing after the 413");
    }
    assert_eq!(
        replay(
            server.addr(),
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            Split::OneWrite
        )
        .statuses(),
        [200]
    );
}

#[test]
fn limits_config_is_used_by_the_server() {
    // Config carries the limits into every shard's sessions.
    let config: Config = common::test_config().with_limits(Limits {
        max_headers: 1,
        ..Limits::default()
    });
    let server = common::start_hello_with(config);
    check(
        server.addr(),
        &[
            ("one field", fields(0), &[200]),
            ("two fields", fields(1), &[431]),
        ],
    );
}
