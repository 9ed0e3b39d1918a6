//! RFC 9110 / 9112 conformance of the `hello` example over real TCP: one table row per rule,
//! each row replayed twice (one write, one byte per write) and required to give the same
//! answers both ways. docs/http-conformance.md is the prose version of these tables.
//!
//! A row lists the statuses of every final response the connection must produce, in order;
//! after a refusal (any status the hello handler never sends) the connection must close and
//! nothing more may be answered: a smuggled request would show up as one status too many.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::replay::{escape, parse_answers, replay, replay_both, Split};
use common::wire::connect_with_timeout;
use common::Replies;

/// Statuses the hello handler answers with: anything else is the engine refusing.
const HANDLER_STATUSES: [u16; 3] = [200, 404, 405];

/// One rule: where the RFC says it, what it is, the bytes, and the statuses expected.
struct Row<'a> {
    rfc: &'a str,
    what: &'a str,
    request: &'a [u8],
    expect: &'a [u16],
    /// The body of the first answer, when it matters (the echo of a decoded body).
    body: Option<&'a [u8]>,
}

const fn row<'a>(rfc: &'a str, what: &'a str, request: &'a [u8], expect: &'a [u16]) -> Row<'a> {
    Row {
        rfc,
        what,
        request,
        expect,
        body: None,
    }
}

const fn echo<'a>(rfc: &'a str, what: &'a str, request: &'a [u8], body: &'a [u8]) -> Row<'a> {
    Row {
        rfc,
        what,
        request,
        expect: &[200],
        body: Some(body),
    }
}

/// Replays every row and reports each disagreement with its RFC section.
fn check(addr: SocketAddr, rows: &[Row<'_>]) {
    let mut failures = Vec::new();
    for row in rows {
        let label = format!("[RFC {}] {}", row.rfc, row.what);
        let outcome = replay_both(addr, row.request, &label);
        let statuses = outcome.statuses();
        let mut problems = Vec::new();
        if statuses != row.expect {
            problems.push(format!("statuses {statuses:?}, expected {:?}", row.expect));
        }
        if let Some(at) = outcome
            .answers
            .iter()
            .position(|a| !HANDLER_STATUSES.contains(&a.status))
        {
            if at + 1 != outcome.answers.len() || !outcome.answers.get(at).is_some_and(|a| a.close)
            {
                problems.push("a refusal must close and be the last answer".into());
            }
        }
        if let (Some(body), Some(first)) = (row.body, outcome.answers.first()) {
            if first.body != body {
                problems.push(format!("body {:?}", escape(&first.body)));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{label}: {}\n    request: {}",
                problems.join("; "),
                escape(row.request)
            ));
        }
    }
    // Whatever came before, a new connection is served normally.
    let after = replay(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", Split::OneWrite);
    assert_eq!(after.statuses(), [200], "served after the table");
    assert!(
        failures.is_empty(),
        "{} of {} rows disagree:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

fn run_table(rows: &[Row<'_>]) {
    let server = common::start_hello();
    check(server.addr(), rows);
    server.shutdown();
    let _ = server.join();
}

/// RFC 9112 §6 and RFC 9110 §8.6: how the body is delimited, and the smuggling classics.
const FRAMING: &[Row<'static>] = &[
    echo("9112 §6.2", "Content-Length body", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", b"hello"),
    echo("9110 §8.6", "Content-Length with leading zeros", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\n\r\nhello", b"hello"),
    echo("9110 §8.6", "Content-Length 007 (policy: digits only, the value 7)", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\nhello!!", b"hello!!"),
    echo("9110 §5.5", "Content-Length with surrounding OWS", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: \t5 \r\n\r\nhello", b"hello"),
    echo("9110 §5.5", "Content-Length with a trailing space", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5 \r\n\r\nhello", b"hello"),
    row("9110 §8.6", "Content-Length with a sign", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", &[400]),
    row("9110 §8.6", "negative Content-Length", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\nhello", &[400]),
    row("9110 §8.6", "hex Content-Length", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello", &[400]),
    row("9110 §8.6", "Content-Length with a fraction", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5.0\r\n\r\nhello", &[400]),
    row("9110 §8.6", "Content-Length with inner space", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\nhello", &[400]),
    row("9110 §8.6", "Content-Length with underscore", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1_0\r\n\r\nhelloworld", &[400]),
    row("9110 §8.6", "empty Content-Length", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", &[400]),
    row("9110 §8.6", "Content-Length list of equal values", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello", &[400]),
    row("9110 §8.6", "duplicate equal Content-Length fields (policy: refused)", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", &[400]),
    row("9110 §8.6", "duplicate differing Content-Length fields", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", &[400]),
    row("9110 §8.6", "Content-Length beyond u64: not a number, not a large body", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", &[400]),
    row("9110 §8.6", "Content-Length u64::MAX + 1", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", &[400]),
    row("9110 §8.6", "Content-Length u64::MAX: a number, too large a body", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n", &[413]),
    row("9112 §6.2", "Content-Length above max_body_bytes: 413 before the body", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n", &[413]),
    row("9112 §6.3", "GET with a Content-Length body holding a request: one answer", b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 31\r\n\r\nGET /json HTTP/1.1\r\nHost: a\r\n\r\n", &[200]),
    row("9112 §6.3", "a body the handler ignores is consumed, the next request is answered", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nGET GET / HTTP/1.1\r\nHost: a\r\n\r\n", &[405, 200]),
    row("9112 §6.3", "no Content-Length or Transfer-Encoding: no body", b"POST /echo HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &[200, 200]),
    row("9112 §8", "body cut short by EOF: no answer", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello", &[]),
    echo("9112 §7.1", "chunked body", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
    echo("9112 §7", "transfer coding names are case-insensitive", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChUnKeD\r\n\r\n5\r\nhello\r\n0\r\n\r\n", b"hello"),
    echo("9110 §5.6.1", "Transfer-Encoding with OWS", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\t chunked \r\n\r\n5\r\nhello\r\n0\r\n\r\n", b"hello"),
    row("9112 §6.1", "CL.TE: Content-Length with Transfer-Encoding", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", &[400]),
    row("9112 §6.1", "TE.CL: Transfer-Encoding before Content-Length", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", &[400]),
    row("9112 §6.1", "empty Transfer-Encoding with Content-Length", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\nContent-Length: 1\r\n\r\nA", &[400]),
    row("9112 §6.1", "empty Transfer-Encoding", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", &[400]),
    row("9112 §6.1", "chunked twice in one field", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", &[400]),
    row("9112 §6.1", "chunked in two fields", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", &[400]),
    row("9112 §6.1", "chunked not final (one field)", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", &[400]),
    row("9112 §6.1", "chunked not final (two fields)", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n", &[400]),
    row("9112 §6.1", "only a coding other than chunked: length unknown", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nxx", &[400]),
    row("9112 §6.1", "identity is no coding", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", &[400]),
    row("9112 §6.1", "an unknown coding before chunked: 501", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", &[501]),
    row("9112 §6.1", "an unknown coding in an earlier field: 501", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", &[501]),
    row("9112 §7.1", "chunked takes no parameters", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n", &[400]),
    row("9112 §6.1", "TE.TE: chunked with a prefix", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", &[400]),
    row("9112 §6.1", "TE.TE: chunked with a vertical tab", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n", &[400]),
    row("9112 §6.1", "TE.TE: quoted chunked", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n", &[400]),
    row("9112 §5.1", "TE.TE: whitespace before the colon", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", &[400]),
    row("9112 §5.2", "TE.TE: chunked in an obs-fold", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n ,chunked\r\n\r\n0\r\n\r\n", &[400]),
    row("9112 §6.1", "Transfer-Encoding in HTTP/1.0", b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", &[400]),
    row("9112 §6.1", "Transfer-Encoding and Content-Length in HTTP/1.0", b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello", &[400]),
    row("9112 §9.3", "pipelined Content-Length bodies stay apart", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloPOST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &[200, 200, 200]),
    row("9112 §6.3", "Content_Length is no framing field and never passes as one", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent_Length: 31\r\n\r\nGET /json HTTP/1.1\r\nHost: a\r\n\r\n", &[400]),
    row("9112 §6.3", "Transfer_Encoding is no framing field and never passes as one", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n0\r\n\r\n", &[400]),
    row("9112 §6.3", "content_length in lower case", b"GET / HTTP/1.1\r\nHost: a\r\ncontent_length: 0\r\n\r\n", &[400]),
    row("9112 §6.3", "Transfer_encoding beside a real Content-Length", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer_encoding: chunked\r\n\r\nhello", &[400]),
    row("9110 §5.1", "other names with `_` are tokens like any other", b"GET / HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: b\r\n\r\n", &[200]),
    row("9112 §9.6", "nothing after an error is processed", b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &[200, 400]),
    row("9112 §9.6", "nothing after Connection: close is processed", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &[200]),
    row("9110 §7.8", "Upgrade is ignored: answered, and the connection stays open", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /json HTTP/1.1\r\nHost: a\r\n\r\n", &[200, 200]),
    row("9110 §7.8", "Upgrade without Connection: upgrade is ignored too", b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\nGET /json HTTP/1.1\r\nHost: a\r\n\r\n", &[200, 200]),
    row("9110 §7.8", "Upgrade with a body: the body is read, the next request answered", b"POST /echo HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: ws\r\nContent-Length: 2\r\n\r\nhiGET / HTTP/1.1\r\nHost: a\r\n\r\n", &[200, 200]),
    row("9110 §9.3.6", "CONNECT is answered by the engine (501), then closed", b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &[501]),
    row("9110 §9.3.6", "CONNECT in HTTP/1.0", b"CONNECT a:443 HTTP/1.0\r\n\r\n", &[501]),
    row("9112 §9.3", "HTTP/1.0 closes: what follows is not answered", b"POST /echo HTTP/1.0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &[200]),
];

/// RFC 9112 §7.1: the chunked coding, line by line.
const CHUNKED: &[Row<'static>] = &[
    echo("9112 §7.1", "lower- and upper-case hex sizes", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n", b"01234567890123456789"),
    echo("9112 §7.1", "sizes with leading zeros", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0005\r\nhello\r\n000\r\n\r\n", b"hello"),
    echo("9112 §7.1.1", "extensions: token, quoted-string, BWS before `;`", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 ;a;b=c ; d = \"e \\\"f\\\" ;g\"\r\nhello\r\n0;last\r\n\r\n", b"hello"),
    echo("9112 §7.1.2", "trailer fields are read and dropped", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 1\r\nX-Other:\tb c \r\n\r\n", b"hello"),
    row("9112 §7.1", "size with a sign", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", &[400]),
    row("9112 §7.1", "negative size", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", &[400]),
    row("9112 §7.1", "size with a 0x prefix", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", &[400]),
    row("9112 §7.1", "size with an underscore", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\nhello\r\n0\r\n\r\n", &[400]),
    row("9112 §7.1", "size with leading whitespace", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n", &[400]),
    row("9112 §7.1.1", "size with trailing whitespace and no extension", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", &[400]),
    row("9112 §7.1", "empty size line", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n", &[400]),
    row("9112 §7.1", "more than 16 hex digits", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000005\r\nhello\r\n0\r\n\r\n", &[400]),
    row("9112 §7.1", "size that overflows u64 once the body is added up", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nA\r\nffffffffffffffff\r\nhello\r\n0\r\n\r\n", &[413]),
    row("9112 §7.1", "one chunk above max_body_bytes: 413 before its data", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n", &[413]),
    row("9112 §7.1.1", "`;` without a name", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n", &[400]),
    row("9112 §7.1.1", "extension without `;`", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 ext\r\nhello\r\n0\r\n\r\n", &[400]),
    row("9112 §7.1.1", "extension with an empty value", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\r\nhello\r\n0\r\n\r\n", &[400]),
    row("9112 §7.1.1", "extension with trailing whitespace", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b \r\nhello\r\n0\r\n\r\n", &[400]),
    row("9112 §7.1.1", "extension value not a token", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b@c\r\nhello\r\n0\r\n\r\n", &[400]),
    row("9112 §7.1.1", "unterminated quoted extension", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b\r\nhello\r\n0\r\n\r\n", &[400]),
    row("9112 §7.1.1", "control byte in an extension", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a\x01\r\nhello\r\n0\r\n\r\n", &[400]),
    row("9112 §7.1.1", "NUL in a quoted extension", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"\x00\"\r\nhello\r\n0\r\n\r\n", &[400]),
    row("9112 §7.1", "bare LF after the size", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", &[400]),
    row("9112 §7.1", "bare CR after the size", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\rhello\r\n0\r\n\r\n", &[400]),
    row("9112 §7.1", "CR CR LF after the size", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\r\nhello\r\n0\r\n\r\n", &[400]),
    row("9112 §7.1", "bare CR inside an extension", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a\rb\r\nhello\r\n0\r\n\r\n", &[400]),
    row("9112 §7.1", "funky chunks: a bare LF ending an extension", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;\nxx\r\n0\r\n\r\n", &[400]),
    row("9112 §7.1", "funky chunks: LF inside a quoted extension", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;a=\"x\ny\"\r\nxx\r\n0\r\n\r\n", &[400]),
    row("9112 §7.1", "funky chunks: the last chunk ended by a bare LF", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\n\r\n", &[400]),
    row("9112 §7.1", "chunk data longer than its size", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n", &[400]),
    row("9112 §7.1", "chunk data ended by a bare LF", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", &[400]),
    row("9112 §7.1", "chunk data without its CRLF", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello0\r\n\r\n", &[400]),
    row("9112 §7.1", "last chunk missing: EOF, no answer", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", &[]),
    row("9112 §7.1", "final CRLF missing: EOF, no answer", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", &[]),
    row("9112 §7.1.2", "trailer ended by a bare LF", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\n\r\n", &[400]),
    row("9112 §7.1.2", "trailer with a bare CR", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\rb\r\n\r\n", &[400]),
    row("9112 §7.1.2", "trailer with whitespace before the colon", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX : y\r\n\r\n", &[400]),
    row("9112 §7.1.2", "trailer obs-fold", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n z\r\n\r\n", &[400]),
    row("9112 §7.1.2", "trailer without a colon", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX\r\n\r\n", &[400]),
    row("9112 §7.1.2", "trailer with NUL", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: \x00\r\n\r\n", &[400]),
    row("9112 §7.1.2", "a request where the trailers end is not a trailer", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &[200, 200]),
];

/// A request whose method alone runs one byte past the default 8 KiB request-line limit.
const LONG_METHOD: [u8; LONG_METHOD_LEN + LONG_METHOD_REST.len()] = long_method();
const LONG_METHOD_LEN: usize = 8 * 1024 + 1;
const LONG_METHOD_REST: &[u8] = b" / HTTP/1.1\r\nHost: a\r\n\r\n";

const fn long_method() -> [u8; LONG_METHOD_LEN + LONG_METHOD_REST.len()] {
    let mut bytes = [b'M'; LONG_METHOD_LEN + LONG_METHOD_REST.len()];
    let mut i = 0;
    while i < LONG_METHOD_REST.len() {
        bytes[LONG_METHOD_LEN + i] = LONG_METHOD_REST[i];
        i += 1;
    }
    bytes
}

/// RFC 9112 §2-§5 and RFC 9110 §5, §7.2: the request line and the field lines.
const HEADS: &[Row<'static>] = &[
    row("9112 §3.2", "HTTP/1.1 without Host", b"GET / HTTP/1.1\r\n\r\n", &[400]),
    row("9112 §3.2", "two Host fields", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &[400]),
    row("9112 §3.2", "two equal Host fields", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", &[400]),
    row("9112 §3.2", "HTTP/1.0 without Host", b"GET / HTTP/1.0\r\n\r\n", &[200]),
    row("9112 §3.2", "empty Host with an origin-form target", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", &[400]),
    row("9112 §3.2", "empty Host of spaces with an origin-form target", b"GET / HTTP/1.1\r\nHost:  \r\n\r\n", &[400]),
    row("9112 §3.2", "empty Host in HTTP/1.0", b"GET / HTTP/1.0\r\nHost:\r\n\r\n", &[400]),
    row("9112 §3.2", "empty Host with the asterisk-form", b"OPTIONS * HTTP/1.1\r\nHost:\r\n\r\n", &[400]),
    row("9112 §3.2", "empty Host with an absolute-form target (it carries the authority)", b"GET http://a.example/ HTTP/1.1\r\nHost:\r\n\r\n", &[200]),
    row("9110 §7.2", "Host with a port and an IPv6 literal", b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\nGET / HTTP/1.1\r\nHost: a.b-c_d:80\r\n\r\n", &[200, 200]),
    row("9110 §7.2", "Host with a space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", &[400]),
    row("9110 §4.2.4", "Host with userinfo", b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", &[400]),
    row("9110 §7.2", "Host with two ports", b"GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", &[400]),
    row("9110 §7.2", "Host with a non-numeric port", b"GET / HTTP/1.1\r\nHost: a:http\r\n\r\n", &[400]),
    row("9110 §7.2", "Host with an unclosed IPv6 literal", b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", &[400]),
    row("9110 §7.2", "Host with a path", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", &[400]),
    row("9112 §5.1", "whitespace before the colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", &[400]),
    row("9112 §5.2", "obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", &[400]),
    row("9112 §2.2", "whitespace before the first field", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", &[400]),
    row("9110 §5.1", "field name not a token", b"GET / HTTP/1.1\r\nHost: a\r\nX(y): b\r\n\r\n", &[400]),
    row("9110 §5.1", "non-ASCII field name", b"GET / HTTP/1.1\r\nHost: a\r\nX-\xc3\xa9: b\r\n\r\n", &[400]),
    row("9110 §5.1", "empty field name", b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", &[400]),
    row("9112 §5", "field line without a colon", b"GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n", &[400]),
    row("9110 §5.5", "NUL in a field value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", &[400]),
    row("9110 §5.5", "control byte in a field value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", &[400]),
    row("9110 §5.5", "DEL in a field value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", &[400]),
    row("9110 §5.3", "two Content-Type fields", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\nhi", &[400]),
    row("9110 §5.3", "two equal Content-Type fields", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\ncontent-type: text/plain\r\nContent-Length: 2\r\n\r\nhi", &[400]),
    row("9110 §5.5", "obs-text in a field value (policy: opaque bytes, accepted)", b"GET / HTTP/1.1\r\nHost: a\r\nX: D\xfcsseldorf \xc3\xbc\r\n\r\n", &[200]),
    row("9112 §2.2", "bare CR in a field value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", &[400]),
    row("9112 §2.2", "bare CR ending a field line", b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", &[400]),
    row("9112 §2.2", "bare LF ending a field line (policy: refused)", b"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", &[400]),
    row("9112 §2.2", "bare LF line endings throughout (policy: refused)", b"GET / HTTP/1.1\nHost: a\n\n", &[400]),
    row("9112 §2.2", "bare LF ending the head", b"GET / HTTP/1.1\r\nHost: a\r\n\n", &[400]),
    row("9112 §2.2", "CR CR LF", b"GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", &[400]),
    row("9112 §2.2", "one empty line before the request line (policy: exactly one)", b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &[200]),
    row("9112 §2.2", "one empty line after a body, before the next request", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &[200, 200]),
    row("9112 §2.2", "two empty lines before the request line", b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &[400]),
    row("9112 §2.2", "a bare LF as an empty line", b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &[400]),
    row("9112 §2.2", "whitespace before the request line", b" GET / HTTP/1.1\r\nHost: a\r\n\r\n", &[400]),
    row("9112 §3.1", "a TLS ClientHello: refused at its first byte, not held", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", &[400]),
    row("9112 §3.1", "NUL bytes", b"\x00\x00\x00\x00", &[400]),
    row("9112 §3.1", "an SSH banner: a token ended by CR", b"SSH-2.0-OpenSSH_9.6\r\n", &[400]),
    row("9112 §3.1", "a CR inside the method", b"GET\r\n\r\n", &[400]),
    row("9112 §3.1", "method not a token", b"GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", &[400]),
    row("9112 §3.1", "a method past the request-line limit is a bad method: 400, not 414", &LONG_METHOD, &[400]),
    row("9112 §3.1", "methods are case-sensitive: `get` is an unknown token, for the handler", b"get / HTTP/1.1\r\nHost: a\r\n\r\n", &[405]),
    row("9110 §9.1", "an unknown method token goes to the handler", b"FROB / HTTP/1.1\r\nHost: a\r\n\r\n", &[405]),
    row("9112 §3", "two spaces after the method", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", &[400]),
    row("9112 §3", "tab as a separator", b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", &[400]),
    row("9112 §3", "space after the version", b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", &[400]),
    row("9112 §3", "space inside the target", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", &[400]),
    row("9112 §3", "no version (HTTP/0.9)", b"GET /\r\n\r\n", &[400]),
    row("9112 §3.2.1", "origin-form with a query", b"GET /?a=b HTTP/1.1\r\nHost: a\r\n\r\n", &[200]),
    row("9112 §3.2.2", "absolute-form", b"GET http://a.example/json?x HTTP/1.1\r\nHost: a.example\r\n\r\n", &[200]),
    row("9112 §3.2.2", "absolute-form without a path", b"GET http://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n", &[200]),
    row("9110 §4.2.4", "absolute-form with userinfo", b"GET http://u:p@a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", &[400]),
    row("9112 §3.2.2", "absolute-form without an authority", b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", &[400]),
    row("9112 §3.2.3", "authority-form for CONNECT: the engine answers 501", b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", &[501]),
    row("9112 §3.2.3", "CONNECT without a port", b"CONNECT a.example HTTP/1.1\r\nHost: a.example\r\n\r\n", &[400]),
    row("9112 §3.2.3", "CONNECT with origin-form", b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", &[400]),
    row("9112 §3.2.3", "authority-form for GET", b"GET a.example:443 HTTP/1.1\r\nHost: a\r\n\r\n", &[400]),
    row("9112 §3.2.4", "asterisk-form for OPTIONS", b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &[404]),
    row("9112 §3.2.4", "asterisk-form for GET", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", &[400]),
    row("9112 §3.2", "fragment in the target", b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", &[400]),
    row("9112 §3.2", "non-ASCII in the target", b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", &[400]),
    row("9112 §3.2", "control byte in the target", b"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", &[400]),
    row("RFC 3986 §2", "backslash in the target (policy: refused)", b"GET /a\\..\\b HTTP/1.1\r\nHost: a\r\n\r\n", &[400]),
    row("RFC 3986 §2", "backslash in the query", b"GET /?a=\\ HTTP/1.1\r\nHost: a\r\n\r\n", &[400]),
    row("RFC 3986 §2.1", "%00 in the path (policy: refused)", b"GET /a%00.json HTTP/1.1\r\nHost: a\r\n\r\n", &[400]),
    row("RFC 3986 §2.1", "%0d%0a in the path (policy: refused)", b"GET /a%0d%0aSet-Cookie:x HTTP/1.1\r\nHost: a\r\n\r\n", &[400]),
    row("RFC 3986 §2.1", "%0D%0A in the query (policy: refused)", b"GET /?next=%0D%0ALocation:x HTTP/1.1\r\nHost: a\r\n\r\n", &[400]),
    row("RFC 3986 §2.1", "a lone %0A", b"GET /?a=%0A HTTP/1.1\r\nHost: a\r\n\r\n", &[400]),
    row("RFC 3986 §2.1", "other percent-encodings pass (%20, %2500)", b"GET /?a=%20%2500%0b HTTP/1.1\r\nHost: a\r\n\r\n", &[200]),
    row("9112 §2.3", "HTTP/1.0", b"GET / HTTP/1.0\r\nHost: a\r\n\r\n", &[200]),
    row("9112 §2.3", "HTTP/1.2 (policy: 505)", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", &[505]),
    row("9112 §2.3", "HTTP/2.0", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", &[505]),
    row("9112 §2.3", "HTTP/3.0", b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", &[505]),
    row("9113 §3.4", "the HTTP/2 connection preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", &[505]),
    row("9112 §2.3", "lower-case version", b"GET / http/1.1\r\nHost: a\r\n\r\n", &[400]),
    row("9112 §2.3", "version without a minor digit", b"GET / HTTP/1\r\nHost: a\r\n\r\n", &[400]),
    row("9112 §2.3", "two-digit minor version", b"GET / HTTP/1.10\r\nHost: a\r\n\r\n", &[400]),
    row("9112 §2.3", "leading zero in the major version", b"GET / HTTP/01.1\r\nHost: a\r\n\r\n", &[400]),
    row("9112 §9.3", "Connection: close honoured", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &[200]),
    row("9112 §9.3", "HTTP/1.0 keep-alive", b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n", &[200, 200]),
];

/// RFC 9110 §10.1.1: Expect.
const EXPECT: &[Row<'static>] = &[
    echo("9110 §10.1.1", "100-continue with the body already sent", b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello", b"hello"),
    echo("9110 §10.1.1", "100-continue with a chunked body", b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", b"hello"),
    row("9110 §10.1.1", "100-continue with a too-large body: 413 at once", b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n", &[413]),
    row("9110 §10.1.1", "an expectation other than 100-continue: 417", b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\nhi", &[417]),
    row("9110 §10.1.1", "Expect in HTTP/1.0 is ignored", b"POST /echo HTTP/1.0\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\nhi", &[200]),
];

#[test]
fn framing() {
    run_table(FRAMING);
}

#[test]
fn chunked() {
    run_table(CHUNKED);
}

#[test]
fn heads() {
    run_table(HEADS);
}

#[test]
fn expect() {
    run_table(EXPECT);
}

/// How soon bytes that cannot begin a request must be refused: well before the 10 s header
/// timeout that would otherwise end them.
const PROMPT_REFUSAL: Duration = Duration::from_secs(1);

/// Writes `bytes` and, without closing, waits for the answer: the refusal must come from
/// the bytes alone, not from the end of input or a timeout.
fn answer_without_eof(addr: SocketAddr, bytes: &[u8]) -> (Vec<u8>, Duration) {
    let mut replies = Replies::new(connect_with_timeout(addr, PROMPT_REFUSAL));
    let sent = Instant::now();
    replies.send(bytes);
    let mut received = Vec::new();
    // Interim answers, then the first final one (or the close).
    while let Some(reply) = replies.next() {
        received.extend_from_slice(&reply.raw);
        if reply.status >= 200 {
            break;
        }
    }
    (received, sent.elapsed())
}

/// RFC 9112 §3.1: a TLS ClientHello (or anything else that cannot start a request line)
/// sent to the plaintext port is answered 400 and closed at once; the client keeps its
/// side open, as a TLS client waiting for a ServerHello does.
#[test]
fn bytes_that_cannot_begin_a_request_are_refused_at_once() {
    let server = common::start_hello();
    let client_hello: &[u8] = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x5b\x9a";
    for (what, bytes) in [
        ("TLS ClientHello", client_hello),
        ("NUL", b"\x00"),
        ("tab", b"\t"),
    ] {
        let (received, took) = answer_without_eof(server.addr(), bytes);
        let outcome = parse_answers(&received).expect("an HTTP answer");
        assert_eq!(outcome.statuses(), [400], "{what}");
        assert!(outcome.answers.iter().all(|a| a.close), "{what}: closes");
        assert!(took < PROMPT_REFUSAL, "{what}: answered after {took:?}");
    }
    server.shutdown();
    let _ = server.join();
}

/// A 100 KB method is refused as a bad method (400) as soon as it passes the request-line
/// limit, not as a long target (414), and not after reading all of it.
#[test]
fn a_100_kb_method_is_a_bad_method() {
    let server = common::start_hello();
    let mut request = vec![b'M'; 100 * 1024];
    request.extend_from_slice(b" / HTTP/1.1\r\nHost: a\r\n\r\n");
    let outcome = replay(server.addr(), &request, Split::OneWrite);
    assert_eq!(outcome.statuses(), [400]);
    let (received, _) = answer_without_eof(server.addr(), &request);
    assert_eq!(parse_answers(&received).expect("answer").statuses(), [400]);
    server.shutdown();
    let _ = server.join();
}
