//! An upgraded WebSocket connection: RFC 6455 framing (tungstenite's sans-I/O
//! `WebSocketContext`) over the connection's own transport, on the shard that accepted it.

use std::future::{poll_fn, Future};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures_lite::future;
use glommio::timer::Timer;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig, WebSocketContext};
use tungstenite::{Error, Message};

use crate::server::context::ShardCtx;
use crate::server::transport::Transport;

/// The limits of one WebSocket connection, each with its unit and default.
#[derive(Clone, Debug)]
pub struct WsConfig {
    /// Largest message, reassembled from its frames (bytes); a larger one is refused with
    /// close code 1009 (too big). Default 1 MiB.
    pub max_message_bytes: usize,
    /// Largest single frame (bytes). Default 256 KiB.
    pub max_frame_bytes: usize,
    /// How long [`WebSocket::recv`] waits for a frame before it closes the connection
    /// (1001, going away). Default 5 minutes: send pings more often to keep a quiet
    /// connection.
    pub idle_timeout: Duration,
    /// How long a send may wait for the peer to take its bytes before the connection is
    /// dropped (backpressure with a bound). Default 10 s.
    pub send_timeout: Duration,
    /// How long a close waits for the peer's answering close frame. Default 1 s.
    pub close_timeout: Duration,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            max_message_bytes: 1 << 20,
            max_frame_bytes: 256 << 10,
            idle_timeout: Duration::from_secs(300),
            send_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(1),
        }
    }
}

/// The handler's code for an upgraded connection, type-erased.
pub(crate) type OnUpgrade = Box<dyn FnOnce(WebSocket) -> Pin<Box<dyn Future<Output = ()>>>>;

/// What the session keeps between the `101 Switching Protocols` it encodes and the
/// connection loop that hands its transport over.
pub(crate) struct Upgrade {
    pub(crate) config: WsConfig,
    pub(crate) on_upgrade: OnUpgrade,
}

impl Upgrade {
    /// Runs the handler's WebSocket code on `io`, starting with the bytes that came after
    /// the upgrade request (`leftover`), until it returns; then the connection closes.
    pub(crate) async fn run(
        self,
        io: Transport,
        leftover: BytesMut,
        shard: Rc<ShardCtx>,
        slot: usize,
    ) -> io::Result<()> {
        let socket = WebSocket::new(io, leftover, self.config, shard, slot);
        (self.on_upgrade)(socket).await;
        Ok(())
    }
}

/// The bytes between tungstenite and the transport: it reads from `input` (would block
/// when empty: the socket waits for the transport) and writes frames into `output`, which
/// [`WebSocket`] sends.
#[derive(Default)]
struct Buffers {
    input: BytesMut,
    output: BytesMut,
}

impl Read for Buffers {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.input.len());
        if let (Some(to), Some(from)) = (buf.get_mut(..n), self.input.get(..n)) {
            to.copy_from_slice(from);
        }
        self.input.advance(n);
        Ok(n)
    }
}

impl Write for Buffers {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One WebSocket connection, after the handshake. Messages arrive with
/// [`WebSocket::recv`] and leave with [`WebSocket::send`]; pings are answered and a
/// peer's close is echoed by the engine. It lives on the shard that accepted the
/// connection, like every request of it.
///
/// `recv` may be raced against another future (`futures_lite::future::or` with a
/// channel's `recv`, say) and dropped while it waits: what has arrived stays in the
/// socket for the next call.
pub struct WebSocket {
    io: Transport,
    context: WebSocketContext,
    buffers: Buffers,
    config: WsConfig,
    shard: Rc<ShardCtx>,
    slot: usize,
    closed: bool,
}

impl WebSocket {
    fn new(
        io: Transport,
        leftover: BytesMut,
        config: WsConfig,
        shard: Rc<ShardCtx>,
        slot: usize,
    ) -> WebSocket {
        let limits = WebSocketConfig::default()
            .max_message_size(Some(config.max_message_bytes))
            .max_frame_size(Some(config.max_frame_bytes));
        WebSocket {
            io,
            context: WebSocketContext::new(Role::Server, Some(limits)),
            buffers: Buffers {
                input: leftover,
                output: BytesMut::new(),
            },
            config,
            shard,
            slot,
            closed: false,
        }
    }

    /// The next message: text, binary, ping or pong (pings are answered already), or the
    /// peer's close frame (answered; `recv` returns `None` after it). `None` once the
    /// connection is closed; an error is a protocol violation (answered with a close
    /// frame, 1002 or 1009), the idle timeout, or the transport's. A drain of the shard
    /// closes the connection with 1001 (going away).
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        loop {
            if self.closed {
                return None;
            }
            match self.context.read(&mut self.buffers) {
                Ok(message) => {
                    if let Err(e) = self.send_buffered().await {
                        return Some(Err(e));
                    }
                    return Some(Ok(message));
                }
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(Error::ConnectionClosed | Error::AlreadyClosed) => {
                    let _ = self.send_buffered().await;
                    self.finish().await;
                    return None;
                }
                Err(e) => {
                    // The peer broke the protocol or a limit: tell it which (RFC 6455
                    // §7.4.1), then close.
                    if let Some(code) = close_code_for(&e) {
                        let frame = CloseFrame {
                            code,
                            reason: "".into(),
                        };
                        let _ = self.context.close(&mut self.buffers, Some(frame));
                    }
                    let _ = self.send_buffered().await;
                    self.finish().await;
                    return Some(Err(e));
                }
            }
            if let Err(e) = self.send_buffered().await {
                return Some(Err(e));
            }
            match self.wait_for_bytes().await {
                Waited::Bytes => {}
                Waited::Eof => {
                    self.closed = true;
                    return None;
                }
                Waited::Drained => {
                    let _ = self.close(CloseCode::Away, "server shutting down").await;
                    return None;
                }
                Waited::TimedOut => {
                    let _ = self.close(CloseCode::Away, "idle timeout").await;
                    return Some(Err(Error::Io(io::ErrorKind::TimedOut.into())));
                }
                Waited::Failed(e) => {
                    self.closed = true;
                    return Some(Err(Error::Io(e)));
                }
            }
        }
    }

    /// Sends one message, waiting until the transport has taken it (backpressure: a peer
    /// that does not read holds the sender, up to `WsConfig::send_timeout`).
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        if self.closed {
            return Err(Error::AlreadyClosed);
        }
        self.context.write(&mut self.buffers, message.into())?;
        self.context.flush(&mut self.buffers)?;
        self.send_buffered().await
    }

    /// Starts the close handshake with `code` and `reason`, waits (`WsConfig::close_timeout`)
    /// for the peer's close frame, and closes the connection.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        if self.closed {
            return Ok(());
        }
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let started = self.context.close(&mut self.buffers, Some(frame));
        self.send_buffered().await?;
        if started.is_ok() {
            let wait = self.config.close_timeout;
            // Reads until the peer's close (tungstenite then reports ConnectionClosed).
            let answered = async {
                loop {
                    match self.context.read(&mut self.buffers) {
                        Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Ok(_) => continue,
                        Err(_) => return,
                    }
                    match self.io.read(&mut self.buffers.input, 0, wait).await {
                        Ok(n) if n > 0 => {}
                        _ => return,
                    }
                }
            };
            future::or(answered, async {
                Timer::new(wait).await;
            })
            .await;
        }
        self.finish().await;
        Ok(())
    }

    /// Sends what tungstenite has written (frames, pongs, a close).
    async fn send_buffered(&mut self) -> Result<(), Error> {
        if self.buffers.output.is_empty() {
            return Ok(());
        }
        let timeout = self.config.send_timeout;
        self.io
            .write_all(&mut self.buffers.output, timeout)
            .await
            .map_err(Error::Io)
    }

    async fn wait_for_bytes(&mut self) -> Waited {
        let (shard, slot) = (&*self.shard, self.slot);
        let timeout = self.config.idle_timeout;
        let io = &mut self.io;
        let input = &mut self.buffers.input;
        let read = async {
            match io.read(input, 0, timeout).await {
                Ok(0) => Waited::Eof,
                Ok(_) => Waited::Bytes,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => Waited::TimedOut,
                Err(e) => Waited::Failed(e),
            }
        };
        let drained = async {
            poll_fn(|cx| shard.drain.poll(slot, cx)).await;
            Waited::Drained
        };
        // The timer, not only the read's timeout: see `finish`.
        let idle = async {
            Timer::new(timeout).await;
            Waited::TimedOut
        };
        future::or(read, future::or(drained, idle)).await
    }

    /// Ends the connection: stops sending, then reads and discards what the peer still
    /// sends until it closes (bounded by `WsConfig::close_timeout` and 1 MiB), so that a
    /// close frame sent while the peer was still writing is not destroyed by a reset.
    async fn finish(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let _ = self.io.shutdown(Shutdown::Write).await;
        let wait = self.config.close_timeout;
        let (io, input) = (&mut self.io, &mut self.buffers.input);
        let discard = async {
            let mut discarded = 0;
            while discarded < LINGER_MAX_BYTES {
                input.clear();
                match io.read(input, 0, wait).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => discarded += n,
                }
            }
        };
        // The timer bounds the whole wait: a read's own timeout is not relied on after an
        // earlier read on the socket was dropped (glommio's socket may keep that read's
        // source, and its timeout, for the next one).
        future::or(discard, async {
            Timer::new(wait).await;
        })
        .await;
        let _ = self.io.shutdown(Shutdown::Both).await;
    }
}

/// Most bytes discarded while a closing connection waits for the peer's close.
const LINGER_MAX_BYTES: usize = 1 << 20;

/// What a wait for the peer's bytes gave.
enum Waited {
    Bytes,
    Eof,
    Drained,
    TimedOut,
    Failed(io::Error),
}

/// The close code that names a peer's error: 1009 for a message or frame over a limit,
/// 1007 for text that is not UTF-8, 1002 for any other protocol violation.
fn close_code_for(error: &Error) -> Option<CloseCode> {
    match error {
        Error::Capacity(_) => Some(CloseCode::Size),
        Error::Utf8(_) => Some(CloseCode::Invalid),
        Error::Protocol(_) => Some(CloseCode::Protocol),
        _ => None,
    }
}

/// Whether `error` is the peer's fault (a protocol violation or a message over a limit),
/// not the transport's: for handlers that log only what is theirs to fix.
pub fn is_peer_error(error: &Error) -> bool {
    matches!(
        error,
        Error::Protocol(_) | Error::Capacity(_) | Error::Utf8(_)
    )
}
