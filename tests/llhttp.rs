//! The llhttp request fixtures (`../shared/corpus/llhttp`, see its SOURCE.md) replayed over
//! TCP against the `hello` example, each case twice: in one write and one byte per write.
//!
//! Each case's log says what llhttp decided: how many messages completed and whether it
//! stopped on an error. The engine must agree: as many requests answered by the handler,
//! then a refusal (with `Connection: close`) exactly when llhttp errs. Lenient, `finish`,
//! `pause` and `skipBody` cases are skipped. A `Host` is added to every HTTP/1.1 message
//! that lacks one (RFC 9112 §3.2 makes it a 400 otherwise), at the message starts llhttp's
//! log gives. Where ringpin's policy differs from llhttp's, [`POLICY`] says what ringpin
//! does and why (docs/http-conformance.md has the same list).

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;

use common::replay::{self, escape, replay_both, Outcome};

/// Statuses the hello handler answers with: anything else is the engine refusing.
const HANDLER_STATUSES: [u16; 3] = [200, 404, 405];

/// What a case must produce: `answered` handler responses, then a refusal or not.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Expected {
    answered: usize,
    /// `Some(None)`: refused with any protocol error; `Some(Some(s))`: refused with `s`.
    refused: Option<Option<u16>>,
}

const fn accept(answered: usize) -> Expected {
    Expected {
        answered,
        refused: None,
    }
}

const fn refuse(answered: usize, status: u16) -> Expected {
    Expected {
        answered,
        refused: Some(Some(status)),
    }
}

/// Cases where ringpin deliberately decides otherwise than llhttp: (file, case name, what
/// ringpin does, why).
const POLICY: &[(&str, &str, Expected, &str)] = &[
    // Upgrade: llhttp pauses to hand the connection over; ringpin ignores Upgrade, keeps the
    // connection and reads on (what follows in these cases is an unfinished line).
    (
        "connection.md",
        "Multiple tokens with folding and LWS",
        accept(1),
        UPGRADE,
    ),
    (
        "connection.md",
        "Setting a flag and pausing",
        accept(1),
        UPGRADE,
    ),
    (
        "connection.md",
        "Emitting part of body and pausing",
        accept(1),
        UPGRADE,
    ),
    ("connection.md", "Upgrade GET request", accept(1), UPGRADE),
    ("connection.md", "Upgrade POST request", accept(1), UPGRADE),
    // Heads that never end: llhttp rejects a field value as it streams by; ringpin judges a
    // head once it is complete (partial input is never an error), so at EOF it just closes.
    (
        "content-length.md",
        "Error on `Content-Length` overflow",
        accept(0),
        UNFINISHED,
    ),
    (
        "content-length.md",
        "Error on duplicate `Content-Length`",
        accept(0),
        UNFINISHED,
    ),
    ("invalid.md", "Invalid HTTP version", accept(0), UNFINISHED),
    (
        "invalid.md",
        "Invalid space after start line",
        accept(0),
        UNFINISHED,
    ),
    // Empty lines: llhttp skips any number between requests; ringpin exactly one.
    (
        "connection.md",
        "CRLF between requests, implicit `keep-alive`",
        refuse(1, 400),
        "two empty lines before a request: ringpin ignores exactly one (RFC 9112 §2.2)",
    ),
    // CONNECT: llhttp pauses to hand the connection over; ringpin opens no tunnels.
    ("method.md", "CONNECT request", refuse(0, 501), CONNECT),
    (
        "method.md",
        "CONNECT request with CAPS",
        refuse(0, 501),
        CONNECT,
    ),
    ("method.md", "CONNECT with body", refuse(0, 501), CONNECT),
    ("uri.md", "Underscore in hostname", refuse(0, 501), CONNECT),
    // Methods: any token (RFC 9110 §9.1); the handler decides what it implements.
    (
        "invalid.md",
        "HTTP protocol and ANNOUNCE method",
        accept(1),
        METHOD_TOKEN,
    ),
    ("invalid.md", "Invalid method", accept(1), METHOD_TOKEN),
    // Request-line forms llhttp accepts and RFC 9112 does not.
    (
        "method.md",
        "M-SEARCH request",
        refuse(0, 400),
        "asterisk-form is for OPTIONS only (RFC 9112 §3.2.4)",
    ),
    (
        "method.md",
        "SOURCE request with ICE",
        refuse(0, 400),
        OTHER_PROTOCOL,
    ),
    (
        "method.md",
        "OPTIONS request with RTSP",
        refuse(0, 400),
        OTHER_PROTOCOL,
    ),
    (
        "method.md",
        "ANNOUNCE request with RTSP",
        refuse(0, 400),
        OTHER_PROTOCOL,
    ),
    (
        "sample.md",
        "No HTTP version",
        refuse(0, 400),
        "HTTP/0.9 is not served: a request line needs a version (RFC 9112 §3)",
    ),
    ("uri.md", "Fragment in URI", refuse(0, 400), FRAGMENT),
    (
        "uri.md",
        "Quotes in URI",
        refuse(0, 400),
        "`\\` is in no URI (RFC 3986 §2) and some back ends read it as `/`: refused",
    ),
    (
        "uri.md",
        "`host:port` and basic auth",
        refuse(0, 400),
        "userinfo in an http(s) URI is an error (RFC 9110 §4.2.4)",
    ),
    (
        "transfer-encoding.md",
        "POST with `chunked` as last transfer-encoding",
        refuse(0, 400),
        FRAGMENT_NOT_501,
    ),
    (
        "transfer-encoding.md",
        "POST with `chunked` as last transfer-encoding (multiple headers)",
        refuse(0, 400),
        FRAGMENT_NOT_501,
    ),
];

const UPGRADE: &str = "Upgrade is ignored (RFC 9110 §7.8 MAY): the request is answered \
     without 101 and the connection stays open; what follows is read as the next request";
const CONNECT: &str = "ringpin opens no tunnels: a well-formed CONNECT is answered 501 by \
     the engine and the connection closed, the handler never sees it";
const UNFINISHED: &str = "the head never ends: ringpin judges complete heads only";
const METHOD_TOKEN: &str = "a method is any token (RFC 9110 §9.1); hello answers 404/405";
const OTHER_PROTOCOL: &str =
    "RTSP/ICE are other protocols: the version must be HTTP/1.x (RFC 9112 §2.3)";
const FRAGMENT: &str = "a request-target has no fragment (RFC 9112 §3.2): `#` is refused";
const FRAGMENT_NOT_501: &str = "the target carries a fragment (400, see uri.md); without it a \
     coding before chunked is refused with 501 (RFC 9112 §6.1), see tests/conformance.rs";

/// One fixture.
struct Case {
    file: &'static str,
    line: usize,
    name: String,
    input: Vec<u8>,
    llhttp: Expected,
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/llhttp")
}

/// Reads the request cases of one fixture file, skipping those not meant for a strict server.
fn load(file: &'static str) -> Vec<Case> {
    let path = corpus_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (is ../shared/corpus present?)", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    let mut cases = Vec::new();
    let (mut name, mut meta) = (String::new(), String::new());
    let mut i = 0;
    while let Some(line) = lines.get(i) {
        if line.starts_with('#') {
            name = line.trim_start_matches('#').trim().to_string();
        } else if let Some(m) = line.strip_prefix("<!-- meta=") {
            meta = m.trim_end_matches("-->").to_string();
        } else if *line == "```http" {
            let start = i + 1;
            let http = block(&lines, &mut i);
            while lines.get(i).is_some_and(|l| *l != "```log") {
                i += 1;
            }
            let log = block(&lines, &mut i);
            let meta_type = meta
                .split("\"type\"")
                .nth(1)
                .and_then(|rest| rest.split('"').nth(1))
                .unwrap_or_default();
            let strict = meta_type == "request"
                && !meta.contains("pause")
                && !meta.contains("skipBody")
                && !name.contains("pause");
            if strict {
                let mut input = fixture_bytes(&http);
                let completed = log
                    .iter()
                    .filter(|l| l.contains("message complete"))
                    .count();
                // Code 22 is llhttp pausing to hand a CONNECT or Upgrade over, not an error.
                let errored = log
                    .iter()
                    .any(|l| l.contains(" error code=") && !l.contains(" error code=22 "));
                add_hosts(&mut input, &log);
                cases.push(Case {
                    file,
                    line: start,
                    name: name.clone(),
                    input,
                    llhttp: Expected {
                        answered: completed,
                        refused: errored.then_some(None),
                    },
                });
            }
        }
        i += 1;
    }
    cases
}

/// The lines of the fenced block opening at `lines[*i]`; leaves `*i` on the closing fence.
fn block<'a>(lines: &[&'a str], i: &mut usize) -> Vec<&'a str> {
    let mut body = Vec::new();
    *i += 1;
    while let Some(line) = lines.get(*i) {
        if *line == "```" {
            break;
        }
        body.push(*line);
        *i += 1;
    }
    body
}

/// The bytes a fixture stands for, as llhttp's `test/md-test.ts` makes them: lines joined by
/// CRLF (the block's final newline dropped), a `\` at a line end joins lines, then the
/// escapes `\r`, `\n`, `\t`, `\f`, `\xHH` and octal `\NNN`, each in its own pass.
fn fixture_bytes(lines: &[&str]) -> Vec<u8> {
    let mut text = lines.join("\n").into_bytes();
    // "\\\n" joins lines.
    text = replace(&text, |rest| {
        (rest.first() == Some(&b'\n')).then(|| (1, vec![]))
    });
    text = text
        .split(|&b| b == b'\n')
        .collect::<Vec<_>>()
        .join(&b"\r\n"[..]);
    for (letter, byte) in [(b'r', b'\r'), (b'n', b'\n'), (b't', b'\t'), (b'f', 0x0c)] {
        text = replace(&text, |rest| {
            (rest.first() == Some(&letter)).then(|| (1, vec![byte]))
        });
    }
    text = replace(&text, |rest| {
        let hex = rest.strip_prefix(b"x")?;
        let n = hex.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        let value = u32::from_str_radix(std::str::from_utf8(hex.get(..n)?).ok()?, 16).ok()?;
        Some((1 + n, code_point(value)))
    });
    replace(&text, |rest| {
        let n = rest
            .iter()
            .take(3)
            .take_while(|b| (b'0'..=b'7').contains(b))
            .count();
        let value = u32::from_str_radix(std::str::from_utf8(rest.get(..n)?).ok()?, 8).ok()?;
        (n > 0).then(|| (n, code_point(value)))
    })
}

/// A JavaScript character as the fixture runner writes it: one byte up to 0xFF.
fn code_point(value: u32) -> Vec<u8> {
    match u8::try_from(value) {
        Ok(byte) => vec![byte],
        Err(_) => char::from_u32(value)
            .unwrap_or('\u{fffd}')
            .to_string()
            .into_bytes(),
    }
}

/// One pass over `text`: at each `\`, `escape` sees the bytes after it and may return how
/// many of them it consumes and what replaces the backslash and those bytes.
fn replace(text: &[u8], escape: impl Fn(&[u8]) -> Option<(usize, Vec<u8>)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        if b == b'\\' {
            if let Some((consumed, with)) = escape(text.get(i + 1..).unwrap_or_default()) {
                out.extend_from_slice(&with);
                i += 1 + consumed;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

/// Adds `Host` to each HTTP/1.1 message that has none, at the message starts of the log.
fn add_hosts(input: &mut Vec<u8>, log: &[&str]) {
    let mut starts: Vec<usize> = log
        .iter()
        .filter(|l| l.ends_with(" message begin"))
        .filter_map(|l| l.strip_prefix("off=")?.split(' ').next()?.parse().ok())
        .collect();
    starts.sort_unstable();
    for &start in starts.iter().rev() {
        let Some(message) = input.get(start..) else {
            continue;
        };
        let Some(line_end) = message.windows(2).position(|w| w == b"\r\n") else {
            continue;
        };
        let head_end = message
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(message.len());
        let request_line = message.get(..line_end).unwrap_or_default();
        let fields = message.get(line_end..head_end).unwrap_or_default();
        let has_host = fields.split(|&b| b == b'\n').any(|field| {
            let field = field.strip_prefix(b"\r").unwrap_or(field);
            field.len() >= 5
                && field
                    .get(..4)
                    .is_some_and(|n| n.eq_ignore_ascii_case(b"host"))
                && field.get(4..).is_some_and(|rest| {
                    rest.iter().find(|&&b| b != b' ' && b != b'\t') == Some(&b':')
                })
        });
        if request_line.ends_with(b" HTTP/1.1") && !has_host {
            let at = start + line_end + 2;
            input.splice(at..at, b"Host: llhttp.test\r\n".iter().copied());
        }
    }
}

/// Compares what the engine did with what is expected; `None` when they agree.
fn judge(outcome: &Outcome, expected: Expected) -> Option<String> {
    let refusal_at = outcome
        .answers
        .iter()
        .position(|a| !HANDLER_STATUSES.contains(&a.status));
    let answered = refusal_at.unwrap_or(outcome.answers.len());
    if let Some(at) = refusal_at {
        let refusal = outcome.answers.get(at)?;
        if at + 1 != outcome.answers.len() || !refusal.close {
            return Some("a refusal must be the last answer and close".into());
        }
    }
    let refused = refusal_at.and_then(|at| outcome.answers.get(at).map(|a| a.status));
    // A `Connection: close` answer ends the exchange early: llhttp parses on, the engine
    // (rightly) does not.
    let closed_early = refusal_at.is_none()
        && outcome.answers.last().is_some_and(|a| a.close)
        && answered <= expected.answered;
    let agrees = match expected.refused {
        None => refused.is_none() && (answered == expected.answered || closed_early),
        Some(status) => {
            (refused.is_some()
                && answered == expected.answered
                && status.is_none_or(|s| refused == Some(s)))
                || closed_early
        }
    };
    (!agrees).then(|| {
        format!(
            "expected {expected:?}, got statuses {:?}",
            outcome.statuses()
        )
    })
}

fn run_file(file: &'static str) {
    let server = common::start_hello();
    let addr: SocketAddr = server.addr();
    let cases = load(file);
    assert!(!cases.is_empty(), "{file}: no cases found");
    let mut failures = Vec::new();
    let mut used_policies = 0;
    for case in &cases {
        let policy = POLICY
            .iter()
            .find(|(f, name, _, _)| *f == case.file && *name == case.name);
        let expected = match policy {
            Some((_, _, ours, _)) => {
                used_policies += 1;
                *ours
            }
            None => case.llhttp,
        };
        let label = format!("{file}:{} {:?}", case.line, case.name);
        let outcome = replay_both(addr, &case.input, &label);
        if let Some(problem) = judge(&outcome, expected) {
            failures.push(format!(
                "{label}: {problem}\n    input: {}",
                escape(&case.input)
            ));
        }
    }
    // The engine still serves a new connection normally.
    let after = replay::replay(
        addr,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        replay::Split::OneWrite,
    );
    assert_eq!(after.statuses(), [200], "{file}: served after the corpus");
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "{file}: {} cases x 2 splits, {used_policies} under a documented policy\n",
            cases.len()
        )
        .as_bytes(),
    );
    assert!(
        failures.is_empty(),
        "{file}: {} of {} cases disagree:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    server.shutdown();
    let _ = server.join();
}

#[test]
fn connection() {
    run_file("connection.md");
}

#[test]
fn content_length() {
    run_file("content-length.md");
}

#[test]
fn invalid() {
    run_file("invalid.md");
}

#[test]
fn method() {
    run_file("method.md");
}

#[test]
fn pipelining() {
    run_file("pipelining.md");
}

#[test]
fn sample() {
    run_file("sample.md");
}

#[test]
fn transfer_encoding() {
    run_file("transfer-encoding.md");
}

#[test]
fn uri() {
    run_file("uri.md");
}

#[test]
fn every_policy_row_names_a_case() {
    for (file, name, _, why) in POLICY {
        assert!(!why.is_empty(), "{file} {name}: say why");
        assert!(
            load(file).iter().any(|c| c.name == *name),
            "{file}: no strict case named {name:?}"
        );
    }
}
