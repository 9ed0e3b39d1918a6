//! One keep-alive connection: claim a slot, wait until it is due, write, read, record, repeat.

use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use crate::framing::{parse_head, BodyDecoder, Framing, Malformed};
use crate::plan::Plan;
use crate::shard::Shard;

/// Receive buffer per connection, in bytes; a response head must fit in it.
const READ_BUF_BYTES: usize = 64 * 1024;

/// Pause before retrying a failed connect, so a server that is down is not spun on.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(10);

/// Why a request got no response; each kind is counted on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The TCP connect failed or timed out.
    Connect = 0,
    /// A write or read made no progress for `--timeout`.
    Timeout = 1,
    /// The server closed the connection before the response was complete.
    Closed = 2,
    /// Any other socket error on a write or read: reset, broken pipe, ...
    Io = 3,
    /// The response was not valid HTTP/1.1, or its head or chunk metadata was too large.
    Malformed = 4,
}

impl From<Malformed> for Failure {
    fn from(_: Malformed) -> Failure {
        Failure::Malformed
    }
}

impl Failure {
    pub const ALL: [Failure; 5] = [
        Failure::Connect,
        Failure::Timeout,
        Failure::Closed,
        Failure::Io,
        Failure::Malformed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Failure::Connect => "connect",
            Failure::Timeout => "timeout",
            Failure::Closed => "closed",
            Failure::Io => "io",
            Failure::Malformed => "malformed",
        }
    }

    #[cold]
    fn from_io(error: &io::Error) -> Failure {
        match error.kind() {
            io::ErrorKind::TimedOut => Failure::Timeout,
            io::ErrorKind::UnexpectedEof => Failure::Closed,
            _ => Failure::Io,
        }
    }
}

/// A connection's receive buffer: bytes `start..end` are read but not yet consumed.
struct ReadBuf {
    bytes: Box<[u8]>,
    start: usize,
    end: usize,
}

impl ReadBuf {
    fn new() -> Self {
        ReadBuf {
            bytes: vec![0; READ_BUF_BYTES].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    fn unread(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }

    fn consume(&mut self, count: usize) {
        self.start = (self.start + count).min(self.end);
        if self.start == self.end {
            self.clear();
        }
    }

    fn clear(&mut self) {
        (self.start, self.end) = (0, 0);
    }

    /// Reads more bytes from `stream`; 0 means the peer closed.
    async fn fill(&mut self, stream: &mut TcpStream) -> Result<usize, Failure> {
        if self.end == self.bytes.len() {
            if self.start == 0 {
                return Err(Failure::Malformed); // a response head larger than the buffer
            }
            self.bytes.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        let read = stream.read(&mut self.bytes[self.end..]).await;
        let count = read.map_err(|e| Failure::from_io(&e))?;
        self.end += count;
        Ok(count)
    }
}

/// What a complete response said.
struct Outcome {
    pub status: u16,
    pub keep_alive: bool,
}

/// Reads one whole response: interim 1xx heads, the final head, then the body.
async fn read_response(
    stream: &mut TcpStream,
    buf: &mut ReadBuf,
    head_only: bool,
) -> Result<Outcome, Failure> {
    // Re-parses the whole head after a partial read; heads are small and nearly always
    // arrive in one read, so tracking a scan position would not pay.
    let head = loop {
        match parse_head(buf.unread(), head_only)? {
            Some(head) if head.status == 101 => return Err(Failure::Malformed),
            Some(head) => {
                buf.consume(head.len);
                if head.status >= 200 {
                    break head;
                }
            }
            None if buf.fill(stream).await? == 0 => return Err(Failure::Closed),
            None => {}
        }
    };
    let mut body = BodyDecoder::new(head.framing);
    loop {
        let used = body.decode(buf.unread())?;
        buf.consume(used);
        if body.is_done() {
            return Ok(Outcome {
                status: head.status,
                keep_alive: head.keep_alive,
            });
        }
        if buf.fill(stream).await? == 0 {
            return match head.framing {
                Framing::UntilClose => Ok(Outcome {
                    status: head.status,
                    keep_alive: false,
                }),
                _ => Err(Failure::Closed),
            };
        }
    }
}

/// Opens a connection with `--timeout` on the connect and on every later write and read.
async fn connect(plan: &Plan) -> Result<TcpStream, Failure> {
    let stream = TcpStream::connect_timeout(plan.addr, plan.timeout)
        .await
        .map_err(|e| match io::Error::from(e).kind() {
            io::ErrorKind::TimedOut => Failure::Timeout,
            _ => Failure::Connect,
        })?;
    let setup = stream
        .set_nodelay(true)
        .and_then(|()| stream.set_read_timeout(Some(plan.timeout)))
        .and_then(|()| stream.set_write_timeout(Some(plan.timeout)));
    setup.map_err(|_| Failure::Connect)?;
    Ok(stream)
}

/// One keep-alive connection, replaced after every failure or close, until the run is over.
pub async fn run_connection(shard: Rc<Shard>) {
    let mut buf = ReadBuf::new();
    while !shard.is_over() {
        let mut stream = match connect(&shard.plan).await {
            Ok(stream) => stream,
            Err(failure) => {
                shard.record_failure(failure, None);
                glommio::timer::sleep(RECONNECT_BACKOFF).await;
                continue;
            }
        };
        buf.clear();
        send_requests(&shard, &mut stream, &mut buf).await;
    }
}

/// Sends scheduled requests on one open connection, one at a time, until it cannot be reused.
async fn send_requests(shard: &Shard, stream: &mut TcpStream, buf: &mut ReadBuf) {
    while let Some(slot) = shard.claim_slot() {
        let due = shard.schedule.due(slot);
        let now = Instant::now();
        if due > now {
            glommio::timer::sleep(due - now).await;
        }
        shard.record_send(slot, Instant::now());
        let result = match stream.write_all(&shard.plan.request).await {
            Ok(()) => read_response(stream, buf, shard.plan.head_only()).await,
            Err(error) => Err(Failure::from_io(&error)),
        };
        match result {
            Ok(outcome) => {
                shard.record_response(slot, outcome.status, Instant::now());
                if !outcome.keep_alive {
                    return;
                }
            }
            Err(failure) => return shard.record_failure(failure, Some(slot)),
        }
    }
}
