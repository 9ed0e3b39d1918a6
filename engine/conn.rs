//! One client connection: read, decode every complete request, answer, write once, repeat.
//!
//! The phases follow nginx's list: wait for bytes → head → body → handler → write →
//! keep-alive or close. Decoding and encoding are pure (`decode`, `encode`); this module is
//! the only one besides the listener that touches a socket.

use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use futures_lite::future;
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use glommio::timer::Timer;

use crate::decode::{Decoded, RequestDecoder};
use crate::encode::{encode_response, Framing, CONTINUE};
use crate::handler::Handler;
use crate::head::Version;
use crate::response::Response;
use crate::shard::ShardCtx;

/// How long a connection that is idle when a drain starts may still deliver a request that
/// was already on its way. A client sending back to back gets its next request answered with
/// `Connection: close` instead of racing a close.
const DRAIN_IDLE_GRACE: Duration = Duration::from_millis(100);

/// Most bytes discarded while lingering after an error response.
const LINGER_MAX_BYTES: usize = 1024 * 1024;

/// What the connection does after the current batch.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum ConnState {
    /// Waiting for, or decoding, the next request.
    Reading,
    /// The last response said `Connection: close`: write and close.
    Closing,
    /// A protocol error was answered: write, then linger and close.
    Failed,
}

/// What waiting for bytes produced.
enum Readiness {
    Bytes,
    Eof,
    Drained,
}

/// The keep-alive decision, in one place: the client's wish (RFC 9112 §9.3), the handler's,
/// and whether the shard is draining.
fn keep_alive(client_wants: bool, response: &Response, draining: bool) -> bool {
    client_wants && !response.close && !draining
}

struct Conn<'a> {
    stream: TcpStream,
    shard: &'a ShardCtx,
    slot: usize,
    rbuf: BytesMut,
    wbuf: BytesMut,
    decoder: RequestDecoder,
    state: ConnState,
}

/// Serves one accepted connection until it closes.
pub(crate) async fn serve_conn<H: Handler>(stream: TcpStream, handler: Rc<H>, shard: Rc<ShardCtx>) {
    let slot = shard.conn_opened();
    let limits = &shard.limits;
    let mut conn = Conn {
        stream,
        shard: &shard,
        slot,
        rbuf: BytesMut::with_capacity(limits.read_buffer_bytes),
        wbuf: BytesMut::with_capacity(limits.read_buffer_bytes),
        decoder: RequestDecoder::new(),
        state: ConnState::Reading,
    };
    if let Err(e) = conn.run(&*handler).await {
        log::debug!("connection ended: {e}");
    }
    shard.conn_closed(slot);
}

impl Conn<'_> {
    async fn run<H: Handler>(&mut self, handler: &H) -> io::Result<()> {
        let limits = &self.shard.limits;
        loop {
            let mut answered = 0;
            while self.state == ConnState::Reading && answered < limits.max_pipelined_requests {
                match self.decoder.decode(&mut self.rbuf, limits) {
                    Ok(Decoded::Request(request)) => {
                        let framing = Framing {
                            head_only: request.is_head(),
                            keep_alive: request.keep_alive(),
                            http10: request.version() == Version::Http10,
                        };
                        let response = handler.call(request).await;
                        let framing = Framing {
                            keep_alive: keep_alive(
                                framing.keep_alive,
                                &response,
                                self.shard.is_draining(),
                            ),
                            ..framing
                        };
                        encode_response(&response, framing, &mut self.wbuf);
                        if !framing.keep_alive {
                            self.state = ConnState::Closing;
                        }
                        answered += 1;
                    }
                    Ok(Decoded::Continue) => {
                        self.wbuf.extend_from_slice(CONTINUE);
                        break;
                    }
                    Ok(Decoded::Partial) => break,
                    Err(error) => {
                        log::debug!("refused request: {error}");
                        let framing = Framing {
                            head_only: false,
                            keep_alive: false,
                            http10: false,
                        };
                        encode_response(&Response::from_error(error), framing, &mut self.wbuf);
                        self.state = ConnState::Failed;
                    }
                }
            }
            if !self.wbuf.is_empty() {
                self.stream.write_all(&self.wbuf).await?;
                self.wbuf.clear();
            }
            match self.state {
                ConnState::Reading => {}
                ConnState::Closing => {
                    self.stream.shutdown(Shutdown::Both).await?;
                    return Ok(());
                }
                ConnState::Failed => return self.linger().await,
            }
            if answered >= limits.max_pipelined_requests {
                // A full batch: let other connections run before decoding the rest.
                glommio::yield_if_needed().await;
                continue;
            }
            match self.wait_for_bytes().await? {
                Readiness::Bytes => {}
                Readiness::Eof | Readiness::Drained => return Ok(()),
            }
        }
    }

    /// Reads more bytes. Between requests, also races the shard's drain signal.
    async fn wait_for_bytes(&mut self) -> io::Result<Readiness> {
        let want = self.decoder.wants(self.rbuf.len());
        let start = self.rbuf.len();
        self.rbuf
            .reserve(want.max(self.shard.limits.read_buffer_bytes / 2));
        self.rbuf.resize(self.rbuf.capacity(), 0);
        let idle = self.decoder.is_idle(&self.rbuf[..start]);
        let (stream, rbuf, shard, slot) = (&mut self.stream, &mut self.rbuf, self.shard, self.slot);
        let room = rbuf.get_mut(start..).unwrap_or_default();
        let read = async { stream.read(room).await.map(Some) };
        let result = if idle {
            let drained = async {
                poll_fn(|cx| shard.poll_drain(slot, cx)).await;
                Timer::new(DRAIN_IDLE_GRACE).await;
                Ok(None)
            };
            future::or(read, drained).await
        } else {
            read.await
        };
        let n = match &result {
            Ok(Some(n)) => *n,
            _ => 0,
        };
        self.rbuf.truncate(start + n);
        match result? {
            Some(0) => Ok(Readiness::Eof),
            Some(_) => Ok(Readiness::Bytes),
            None => Ok(Readiness::Drained),
        }
    }

    /// After an error response: stop sending, then read and discard what the client still
    /// sends for a while, so its kernel does not turn our close into a reset that destroys
    /// the response before the client reads it.
    async fn linger(&mut self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write).await?;
        self.stream.set_read_timeout(Some(self.shard.linger))?;
        let mut discarded = 0;
        let mut scratch = [0u8; 4096];
        while discarded < LINGER_MAX_BYTES {
            match self.stream.read(&mut scratch).await {
                Ok(0) | Err(_) => break,
                Ok(n) => discarded += n,
            }
        }
        Ok(())
    }
}
