//! Replaying raw bytes against a live engine and reading back every answer, for the
//! conformance, corpus and seed suites. A case is written in one of two ways (all at once, or
//! one byte per write), then the client half-closes, so the server answers every complete
//! request, sees the end of input and closes: the replay ends at EOF, not at a timeout.

use std::io::Write;
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use super::wire::{connect_with_timeout, parse_response, read_until_close, Asked};

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
    let mut stream = connect_with_timeout(addr, REPLAY_TIMEOUT);
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
    let (received, _) = read_until_close(&mut stream);
    parse_answers(&received)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&received)))
}

/// Splits a whole byte stream of responses (the connection has ended) by the one rule of
/// `wire`, not knowing which requests were `HEAD` ([`Asked::Unknown`]).
pub fn parse_answers(mut rest: &[u8]) -> Result<Outcome, String> {
    let mut outcome = Outcome {
        answers: Vec::new(),
        interim: 0,
    };
    while let Some((reply, len)) = parse_response(rest, Asked::Unknown, true)? {
        rest = rest.get(len..).unwrap_or_default();
        if reply.status < 200 {
            outcome.interim += 1;
            continue;
        }
        outcome.answers.push(Answer {
            status: reply.status,
            close: reply.closes(),
            body: reply.body,
        });
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
