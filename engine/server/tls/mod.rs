//! TLS in the process: a layer of rustls records over a connection's plain transport
//! ([`TlsConn`]), the shard's handshake budget ([`ShardTls`]), the settings (`config`) and
//! their reloading (`reload`).
//!
//! rustls is driven sans-I/O: ciphertext is read by the plain transport into the layer's
//! own buffer and handed to `read_tls`; plaintext goes into the session's input as if it
//! had been read from the socket. A batch of responses is encrypted in one go into the
//! layer's send buffer, which the plain transport sends with one write, so the ring's
//! batched send is kept.

pub(crate) mod config;
pub(crate) mod reload;

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, BytesMut};
use rustls::ServerConnection;

use crate::ops::metrics::ShardMetrics;
use crate::server::plain::Plain;
use crate::server::pool;

/// What a client that speaks plain HTTP to the TLS port is told (nginx's words), in
/// plaintext, before the connection is closed.
pub(crate) const PLAIN_HTTP_REFUSAL: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
content-type: text/plain\r\ncontent-length: 46\r\nconnection: close\r\n\r\n\
The plain HTTP request was sent to HTTPS port\n";

/// How long a `close_notify` may take to leave before the socket is shut down anyway.
const CLOSE_NOTIFY_WAIT: Duration = Duration::from_secs(1);

/// How a handshake ended.
#[derive(Debug)]
pub(crate) enum Handshake {
    /// Keys agreed; requests follow.
    Done,
    /// The first bytes were a plain HTTP request line: the layer now passes bytes through
    /// as they are, for the refusal to be read.
    PlainHttp,
    /// Timed out, closed, or refused by rustls (the alert, if any, was sent).
    Failed(String),
}

/// A shard's TLS: the shared rustls configuration and the handshakes in flight.
pub(crate) struct ShardTls {
    pub rustls: Arc<rustls::ServerConfig>,
    pub handshake_timeout: Duration,
    max_in_flight: usize,
    in_flight: Cell<usize>,
}

impl ShardTls {
    pub(crate) fn new(config: &config::TlsConfig) -> ShardTls {
        ShardTls {
            rustls: config.rustls.clone(),
            handshake_timeout: config.handshake_timeout,
            max_in_flight: config.max_handshakes_per_shard.max(1),
            in_flight: Cell::new(0),
        }
    }

    /// A place for one more handshake, or `None` at the cap.
    pub(crate) fn begin<'a>(&'a self, metrics: &'a ShardMetrics) -> Option<HandshakePermit<'a>> {
        let now = self.in_flight.get();
        if now >= self.max_in_flight {
            return None;
        }
        self.in_flight.set(now + 1);
        metrics.tls_handshakes_in_flight(now as u64 + 1);
        Some(HandshakePermit { tls: self, metrics })
    }
}

/// One handshake's place under the cap; given back when dropped, however the handshake
/// ends.
pub(crate) struct HandshakePermit<'a> {
    tls: &'a ShardTls,
    metrics: &'a ShardMetrics,
}

impl Drop for HandshakePermit<'_> {
    fn drop(&mut self) {
        let now = self.tls.in_flight.get().saturating_sub(1);
        self.tls.in_flight.set(now);
        self.metrics.tls_handshakes_in_flight(now as u64);
    }
}

/// TLS over one connection's plain transport.
pub(crate) struct TlsConn {
    inner: Plain,
    /// `None` until the handshake starts (a PROXY header before it is read as it is), and
    /// again after a plain HTTP request was detected.
    tls: Option<ServerConnection>,
    /// Ciphertext read and not yet given to rustls.
    rx: BytesMut,
    /// Ciphertext waiting to be sent.
    tx: BytesMut,
    /// The session's read buffer size: the least a plaintext buffer is taken with.
    buffer_bytes: usize,
    /// The peer ended the stream (TCP end, or a TLS `close_notify`).
    eof: bool,
}

impl TlsConn {
    pub(crate) fn new(inner: Plain, buffer_bytes: usize) -> TlsConn {
        TlsConn {
            inner,
            tls: None,
            rx: BytesMut::new(),
            tx: BytesMut::new(),
            buffer_bytes,
            eof: false,
        }
    }

    /// Runs the server side of the handshake within `timeout`. `input` holds what was
    /// read already (after a PROXY header): it is the first ciphertext; plaintext that
    /// arrives with the client's last handshake message is left in it.
    pub(crate) async fn handshake(
        &mut self,
        input: &mut BytesMut,
        config: &Arc<rustls::ServerConfig>,
        timeout: Duration,
    ) -> io::Result<Handshake> {
        let deadline = Instant::now() + timeout;
        if !input.is_empty() {
            std::mem::swap(&mut self.rx, input);
        }
        let mut conn = ServerConnection::new(config.clone()).map_err(io::Error::other)?;
        // Every batch is encrypted whole and sent at once: rustls need not bound it.
        conn.set_buffer_limit(None);
        self.tls = Some(conn);
        let mut first = true;
        loop {
            if self.rx.is_empty() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(Handshake::Failed("handshake timeout".into()));
                }
                match self.inner.read(&mut self.rx, self.buffer_bytes, left).await {
                    Ok(0) => return Ok(Handshake::Failed("closed during the handshake".into())),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                        return Ok(Handshake::Failed("handshake timeout".into()))
                    }
                    Err(e) => return Err(e),
                }
            }
            if std::mem::take(&mut first) && starts_like_http(&self.rx) {
                self.tls = None;
                self.rx.clear();
                return Ok(Handshake::PlainHttp);
            }
            if let Err(e) = self.decrypt(input) {
                // rustls queued an alert that says why; it goes out before the close.
                let left = deadline.saturating_duration_since(Instant::now());
                let _ = self.send_records(left.min(CLOSE_NOTIFY_WAIT)).await;
                return Ok(Handshake::Failed(e.to_string()));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            self.send_records(left).await?;
            if self.eof {
                return Ok(Handshake::Failed("closed during the handshake".into()));
            }
            if self.tls.as_ref().is_some_and(|c| !c.is_handshaking()) {
                return Ok(Handshake::Done);
            }
        }
    }

    /// Appends plaintext to `input`, reading and decrypting records until some arrives,
    /// the stream ends (`Ok(0)`) or `timeout` passes.
    pub(crate) async fn read(
        &mut self,
        input: &mut BytesMut,
        wants: usize,
        timeout: Duration,
    ) -> io::Result<usize> {
        if self.tls.is_none() {
            return self.inner.read(input, wants, timeout).await;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(n) = self.plaintext_ready(input)? {
                return Ok(n);
            }
            self.send_records(deadline.saturating_duration_since(Instant::now()))
                .await?;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            if self
                .inner
                .read(&mut self.rx, self.buffer_bytes, left)
                .await?
                == 0
            {
                self.eof = true;
            }
        }
    }

    /// The plaintext of whatever records have arrived, without waiting:
    /// `ErrorKind::WouldBlock` when no whole record has.
    pub(crate) fn read_now(&mut self, input: &mut BytesMut, wants: usize) -> io::Result<usize> {
        if self.tls.is_none() {
            return self.inner.read_now(input, wants);
        }
        loop {
            if let Some(n) = self.plaintext_ready(input)? {
                return Ok(n);
            }
            if self.inner.read_now(&mut self.rx, self.buffer_bytes)? == 0 {
                self.eof = true;
            }
        }
    }

    /// Encrypts all of `output` and sends the records with one write of the plain
    /// transport; gives `output` back empty.
    pub(crate) async fn write_all(
        &mut self,
        output: &mut BytesMut,
        timeout: Duration,
    ) -> io::Result<()> {
        let Some(conn) = self.tls.as_mut() else {
            return self.inner.write_all(output, timeout).await;
        };
        conn.writer().write_all(output)?;
        output.clear();
        self.send_records(timeout).await
    }

    /// Whether records (or plaintext not yet taken) wait to be read.
    pub(crate) fn input_waiting(&self) -> bool {
        !self.rx.is_empty() || self.inner.input_waiting()
    }

    /// Sends `close_notify` (when writes end and a session is up), then shuts the socket.
    pub(crate) async fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        if how != Shutdown::Read {
            if let Some(conn) = self.tls.as_mut() {
                if !conn.is_handshaking() {
                    conn.send_close_notify();
                    if let Err(e) = self.send_records(CLOSE_NOTIFY_WAIT).await {
                        log::debug!("close_notify not sent: {e}");
                    }
                }
            }
        }
        self.inner.shutdown(how).await
    }

    /// Decrypts what has been read: `Some(n)` when `n` plaintext bytes were added to
    /// `input`, `Some(0)` when none were and the stream has ended, `None` when more
    /// ciphertext must be read first.
    fn plaintext_ready(&mut self, input: &mut BytesMut) -> io::Result<Option<usize>> {
        let n = self.decrypt(input)?;
        Ok(match n {
            0 if self.eof => Some(0),
            0 => None,
            n => Some(n),
        })
    }

    /// Gives rustls the ciphertext read so far and moves the plaintext it yields into
    /// `input`; returns how many plaintext bytes were added. A protocol error is
    /// `ErrorKind::InvalidData` (its alert waits in the send buffer).
    fn decrypt(&mut self, input: &mut BytesMut) -> io::Result<usize> {
        let Some(conn) = self.tls.as_mut() else {
            return Ok(0);
        };
        let mut added = 0;
        loop {
            let state = conn
                .process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let ready = state.plaintext_bytes_to_read();
            if ready > 0 {
                if input.capacity() == 0 {
                    *input = pool::take(self.buffer_bytes.max(ready));
                }
                let start = input.len();
                input.resize(start + ready, 0);
                let room = input.get_mut(start..).unwrap_or_default();
                let read = conn.reader().read(room);
                let read = read.unwrap_or(0);
                input.truncate(start + read);
                added += read;
            }
            if state.peer_has_closed() {
                self.eof = true;
            }
            if self.rx.is_empty() {
                break;
            }
            let mut records = &self.rx[..];
            let taken = conn.read_tls(&mut records)?;
            self.rx.advance(taken);
            if taken == 0 {
                break;
            }
        }
        if self.rx.is_empty() && self.rx.capacity() > 0 {
            // An idle connection keeps no receive buffer: the next read takes one.
            pool::give(std::mem::take(&mut self.rx));
        }
        Ok(added)
    }

    /// Sends every record rustls has queued, with one write.
    async fn send_records(&mut self, timeout: Duration) -> io::Result<()> {
        let Some(conn) = self.tls.as_mut() else {
            return Ok(());
        };
        if !conn.wants_write() {
            return Ok(());
        }
        if self.tx.capacity() == 0 {
            self.tx = pool::take(self.buffer_bytes);
        }
        let mut sink = (&mut self.tx).writer();
        while conn.wants_write() {
            conn.write_tls(&mut sink)?;
        }
        let sent = self.inner.write_all(&mut self.tx, timeout).await;
        pool::give(std::mem::take(&mut self.tx));
        sent
    }
}

/// Whether `bytes` begin like an HTTP request line (an upper-case method), which no TLS
/// record does: a handshake record starts with 0x16.
fn starts_like_http(bytes: &[u8]) -> bool {
    bytes.first().is_some_and(u8::is_ascii_uppercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_says_its_length() {
        let text = std::str::from_utf8(PLAIN_HTTP_REFUSAL).expect("ascii");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
        assert!(head.contains(&format!("content-length: {}", body.len())));
    }

    #[test]
    fn a_request_line_is_told_from_a_handshake_record() {
        #[rustfmt::skip]
        let cases: [(&[u8], bool); 5] = [
            (b"GET / HTTP/1.1\r\n", true), (b"POST", true), (&[0x16, 0x03, 0x01], false),
            (b"", false), (b"get", false),
        ];
        for (bytes, http) in cases {
            assert_eq!(starts_like_http(bytes), http, "{bytes:?}");
        }
    }
}
