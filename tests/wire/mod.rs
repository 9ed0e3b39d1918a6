//! Replaying raw bytes against a live engine and reading back every answer, for the
//! conformance, corpus and seed suites. A case is written in one of two ways (all at once, or
//! one byte per write), then the client half-closes, so the server answers every complete
//! request, sees the end of input and closes: the replay ends at EOF, not at a timeout.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// How the bytes of a case are handed to the socket.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Split {
    /// One `write` of the whole case.
    OneWrite,
    /// One `write` per byte (with `TCP_NODELAY`, so each is its own segment).
    BytePerWrite,
}

/// Both ways, in the order every case runs them.
pub const SPLITS: [Split; 2] = [Split::OneWrite, Split::BytePerWrite];

/// One final response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// The response carried `Connection: close`.
    pub close: bool,
    pub body: Vec<u8>,
}

/// Everything the server sent for one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Final responses, in order.
    pub answers: Vec<Answer>,
    /// How many `100 Continue` interim responses came (timing-dependent: not compared).
    pub interim: usize,
}

impl Outcome {
    /// The statuses of the final responses.
    pub fn statuses(&self) -> Vec<u16> {
        self.answers.iter().map(|a| a.status).collect()
    }
}

/// Longest a replay may take before the test fails as a hang.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(10);

/// Writes `bytes` to a new connection as `split` says, half-closes, and reads every answer
/// until the server closes. Panics on a read timeout (a hung server) or a malformed answer.
pub fn replay(addr: SocketAddr, bytes: &[u8], split: Split) -> Outcome {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream
        .set_read_timeout(Some(REPLAY_TIMEOUT))
        .expect("read timeout");
    stream
        .set_write_timeout(Some(REPLAY_TIMEOUT))
        .expect("write timeout");
    // A server that refused the request may stop reading: a failed write ends the sending,
    // not the case.
    let _ = match split {
        Split::OneWrite => stream.write_all(bytes),
        Split::BytePerWrite => bytes
            .iter()
            .try_for_each(|b| stream.write_all(std::slice::from_ref(b))),
    };
    let _ = stream.shutdown(Shutdown::Write);
    let received = read_to_close(&mut stream);
    parse_answers(&received)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&received)))
}

/// Reads until EOF (or a reset, which ends a connection just as well).
fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return received,
            Ok(n) => received.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return received,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!(
                "read failed after {} bytes (server hung?): {e}",
                received.len()
            ),
        }
    }
}

/// Splits a byte stream of responses. Every ringpin response has a Content-Length; a
/// response to HEAD has none of its body, which shows as the next status line (or the end)
/// where the body would start.
pub fn parse_answers(mut rest: &[u8]) -> Result<Outcome, String> {
    let mut outcome = Outcome {
        answers: Vec::new(),
        interim: 0,
    };
    while !rest.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let head_len = match response.parse(rest) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Err("closed inside a response head".into()),
            Err(e) => return Err(format!("invalid response head ({e})")),
        };
        let status = response.code.ok_or("no status")?;
        let field = |name: &str| {
            response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
        };
        let close = field("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let length: usize = match field("content-length") {
            Some(v) => v.parse().map_err(|_| format!("Content-Length {v:?}"))?,
            None => 0,
        };
        let after = rest.get(head_len..).unwrap_or_default();
        if status < 200 {
            outcome.interim += 1;
            rest = after;
            continue;
        }
        let body_len = if after.len() < length || after.starts_with(b"HTTP/1.1 ") {
            0 // a HEAD response
        } else {
            length
        };
        outcome.answers.push(Answer {
            status,
            close,
            body: after.get(..body_len).unwrap_or_default().to_vec(),
        });
        rest = after.get(body_len..).unwrap_or_default();
    }
    Ok(outcome)
}

/// Replays in both ways and checks they agree; returns the one outcome.
pub fn replay_both(addr: SocketAddr, bytes: &[u8], name: &str) -> Outcome {
    let once = replay(addr, bytes, Split::OneWrite);
    let bytewise = replay(addr, bytes, Split::BytePerWrite);
    assert_eq!(
        once.answers, bytewise.answers,
        "{name}: one write and one byte per write disagree"
    );
    once
}

/// Shows bytes the way a test table writes them.
pub fn escape(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}
