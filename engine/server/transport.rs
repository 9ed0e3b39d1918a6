//! Where a connection's bytes go: the shard's own ring or glommio's socket, or TLS over
//! either, behind one type, so that the connection loop (`conn`) reads as the request's
//! phases and names no transport.
//!
//! Both take and give buffers whole (`&mut BytesMut`, as monoio's ownership-passing I/O):
//! the ring hands over the buffer its receive filled and keeps the output until the kernel
//! has sent it; the socket reads into the buffer in place. Every wait has a timeout, and
//! both report it as `ErrorKind::TimedOut`.

use std::io;
use std::net::Shutdown;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use glommio::net::TcpStream;

use crate::http::response::FileBody;
use crate::io::fs;
use crate::io::socket::SocketConn;
use crate::io::uring::{Driver, RingConn};
use crate::server::plain::{Plain, MIN_WAIT};
use crate::server::tls::TlsConn;

/// Most bytes one `sendfile(2)` is asked for: a 4 MiB body goes in a few calls, and the
/// shard yields between them (see [`YIELD_AFTER_BYTES`]).
const SENDFILE_CHUNK: usize = 1024 * 1024;

/// Bytes a file body sends before the connection lets the shard's other tasks run: one
/// big download must not hold back every small request behind it.
const YIELD_AFTER_BYTES: usize = 1024 * 1024;

/// One connection's transport.
pub(crate) enum Transport {
    /// On the shard's own io_uring (multishot receives, batched sends).
    Ring(RingConn),
    /// On glommio's socket (the fallback, `IoBackend::Glommio`). Boxed: glommio's stream
    /// is 128 bytes against the ring's 16, and with two more variants the enum no longer
    /// fits a niche of it: unboxed, every connection's task would carry it, on the ring too.
    Socket(Box<SocketConn>),
    /// TLS records over a plain transport. Boxed: the rustls state (a few KiB) would
    /// otherwise sit in every connection's task, TLS or not.
    Tls(Box<TlsConn>),
    /// Handed over (to a WebSocket): every call fails, as on a closed socket.
    Closed,
}

impl Transport {
    /// Puts an accepted stream on the shard's ring if it has one, else on glommio's socket
    /// (also where the ring refuses it); with `tls`, under a TLS layer whose handshake
    /// `conn` starts. `buffer_bytes` is the read buffer size, `send_timeout` bounds a
    /// write that makes no progress.
    pub(crate) fn open(
        stream: TcpStream,
        ring: Option<&Rc<Driver>>,
        buffer_bytes: usize,
        send_timeout: Duration,
        tls: bool,
    ) -> Transport {
        // The plain ones are the transport's own variants, not a `Plain` inside it: one
        // async layer fewer in every read and write (the connection future's size, which
        // `connection_future_stays_small` bounds, is the sum of those layers).
        match Plain::open(stream, ring, buffer_bytes, send_timeout) {
            plain if tls => Transport::Tls(Box::new(TlsConn::new(plain, buffer_bytes))),
            Plain::Ring(ring) => Transport::Ring(ring),
            Plain::Socket(socket) => Transport::Socket(Box::new(socket)),
        }
    }

    /// Appends what arrives to `input` (room for `wants` more bytes where the transport
    /// reads in place), waiting at most `timeout`. `Ok(0)` at end of stream. An `input`
    /// with no buffer (an idle connection's) takes one only when bytes arrive.
    pub(crate) async fn read(
        &mut self,
        input: &mut BytesMut,
        wants: usize,
        timeout: Duration,
    ) -> io::Result<usize> {
        match self {
            Transport::Ring(ring) => ring.read(input, timeout.max(MIN_WAIT)).await,
            Transport::Socket(socket) => socket.read(input, wants, timeout.max(MIN_WAIT)).await,
            // Boxed so the TLS read's state does not grow every connection's task.
            Transport::Tls(tls) => Box::pin(tls.read(input, wants, timeout)).await,
            Transport::Closed => Err(handed_over()),
        }
    }

    /// What has arrived, appended to `input`, without waiting: `ErrorKind::WouldBlock`
    /// when nothing has.
    pub(crate) fn read_now(&mut self, input: &mut BytesMut, wants: usize) -> io::Result<usize> {
        match self {
            Transport::Ring(ring) => ring.read_now(input),
            Transport::Socket(socket) => socket.read_now(input, wants),
            Transport::Tls(tls) => tls.read_now(input, wants),
            Transport::Closed => Err(handed_over()),
        }
    }

    /// Sends all of `output` and gives the buffer back empty; `ErrorKind::TimedOut` after
    /// `timeout` without the peer taking it.
    pub(crate) async fn write_all(
        &mut self,
        output: &mut BytesMut,
        timeout: Duration,
    ) -> io::Result<()> {
        match self {
            Transport::Ring(ring) => ring.write_all(output, timeout).await,
            // The socket's write timeout was set when it was opened.
            Transport::Socket(socket) => socket.write_all(output).await,
            Transport::Tls(tls) => Box::pin(tls.write_all(output, timeout)).await,
            Transport::Closed => Err(handed_over()),
        }
    }

    /// Whether bytes have arrived that the connection has not read yet.
    pub(crate) fn input_waiting(&self) -> bool {
        match self {
            Transport::Ring(ring) => ring.input_waiting(),
            Transport::Socket(socket) => socket.input_waiting(),
            Transport::Tls(tls) => tls.input_waiting(),
            Transport::Closed => false,
        }
    }

    /// `shutdown(2)` of the socket (after a TLS `close_notify` when writes end).
    pub(crate) async fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        match self {
            Transport::Ring(ring) => ring.shutdown(how),
            Transport::Socket(socket) => socket.shutdown(how).await,
            Transport::Tls(tls) => Box::pin(tls.shutdown(how)).await,
            Transport::Closed => Ok(()),
        }
    }

    /// Hands the transport over (an upgrade), leaving [`Transport::Closed`].
    pub(crate) fn take(&mut self) -> Transport {
        std::mem::replace(self, Transport::Closed)
    }

    /// Sends `output` (the head, and any responses before it) and then the file region
    /// `body` from the page cache to the socket: `sendfile(2)` on the connection's
    /// descriptor (made non-blocking at its first file), on either transport. The head goes with one
    /// `send(MSG_MORE)`, so it leaves with the file's first bytes, not in a segment of its
    /// own; what the socket does not take then goes through [`Transport::write_all`]. When
    /// the send buffer is full, the own ring waits for room with a `POLLOUT` poll on the
    /// ring (timed as its sends are); glommio's socket, which has no such wait, sends one
    /// byte of the file through [`Transport::write_all`] (in `output`, empty by then),
    /// which waits for room within `timeout` as every write does; then `sendfile` resumes. A file that ends before the region does is
    /// `ErrorKind::UnexpectedEof`: the caller closes the connection, and the client sees a
    /// short body, never a wrong one as complete.
    ///
    /// A piece not in the page cache is read into it first on glommio's blocking thread
    /// ([`warm`]), so a cold file never stops the shard on the disk; returns how many
    /// pieces were.
    pub(crate) async fn send_file(
        &mut self,
        output: &mut BytesMut,
        body: &FileBody,
        timeout: Duration,
    ) -> io::Result<u32> {
        let fd = match self {
            Transport::Ring(ring) => ring.nonblocking_fd()?,
            Transport::Socket(socket) => socket.nonblocking_fd()?,
            // The records must be encrypted in user space: the file is read and written.
            Transport::Tls(_) => {
                return Box::pin(self.send_file_copied(output, body, timeout)).await
            }
            Transport::Closed => return Err(handed_over()),
        };
        if !output.is_empty() {
            match fs::send_more(fd, output) {
                Ok(n) => {
                    bytes::Buf::advance(output, n.min(output.len()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if !output.is_empty() {
                self.write_all(output, timeout).await?;
            }
            output.clear();
        }
        let mut offset = body.offset();
        let end = offset.saturating_add(body.len());
        let mut since_yield = 0;
        let mut cold = 0;
        let mut warmed_to = offset;
        while offset < end {
            let want =
                usize::try_from(end - offset).map_or(SENDFILE_CHUNK, |n| n.min(SENDFILE_CHUNK));
            if offset >= warmed_to {
                cold += u32::from(warm(body.file(), offset, want).await?);
                warmed_to = offset + want as u64;
            }
            match fs::sendfile(fd, body.file(), &mut offset, want) {
                Ok(0) => return Err(shrank()),
                Ok(n) => {
                    since_yield += n;
                    if since_yield >= YIELD_AFTER_BYTES {
                        since_yield = 0;
                        glommio::yield_if_needed().await;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Transport::Ring(ring) = self {
                        ring.writable(output, timeout).await?;
                        continue;
                    }
                    output.clear();
                    output.resize(1, 0);
                    let read = std::os::unix::fs::FileExt::read_exact_at(
                        body.file(),
                        &mut output[..],
                        offset,
                    );
                    if let Err(e) = read {
                        output.clear();
                        return Err(match e.kind() {
                            io::ErrorKind::UnexpectedEof => shrank(),
                            _ => e,
                        });
                    }
                    self.write_all(output, timeout).await?;
                    offset += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(cold)
    }
}

impl Transport {
    /// [`Transport::send_file`] over TLS: the region read in pieces of
    /// [`TLS_FILE_CHUNK`] appended to `output` (the head goes with the first), each
    /// encrypted and sent with one write.
    async fn send_file_copied(
        &mut self,
        output: &mut BytesMut,
        body: &FileBody,
        timeout: Duration,
    ) -> io::Result<u32> {
        let mut offset = body.offset();
        let end = offset.saturating_add(body.len());
        let mut cold = 0;
        let mut warmed_to = offset;
        loop {
            let want =
                usize::try_from(end - offset).map_or(TLS_FILE_CHUNK, |n| n.min(TLS_FILE_CHUNK));
            if want > 0 && offset >= warmed_to {
                // Warmed a sendfile piece at a time: one check per 1 MiB, not per record.
                let ahead =
                    usize::try_from(end - offset).map_or(SENDFILE_CHUNK, |n| n.min(SENDFILE_CHUNK));
                cold += u32::from(warm(body.file(), offset, ahead).await?);
                warmed_to = offset + ahead as u64;
            }
            if want > 0 {
                let start = output.len();
                output.resize(start + want, 0);
                let room = output.get_mut(start..).unwrap_or_default();
                let read = std::os::unix::fs::FileExt::read_at(body.file(), room, offset);
                match read {
                    Ok(0) => {
                        output.clear();
                        return Err(shrank());
                    }
                    Ok(n) => {
                        output.truncate(start + n);
                        offset += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                        output.truncate(start);
                        continue;
                    }
                    Err(e) => {
                        output.clear();
                        return Err(e);
                    }
                }
            }
            self.write_all(output, timeout).await?;
            if offset >= end {
                return Ok(cold);
            }
        }
    }
}

/// Makes sure `len` bytes of `file` from `offset` are in the page cache before the shard
/// reads or `sendfile`s them: when `cachestat(2)` says some are not, they are read on
/// glommio's blocking thread while the shard serves its other connections (a disk read
/// on the shard would stall every one of them). Returns whether it had to. Where the
/// kernel cannot tell, the shard reads as before.
async fn warm(file: &std::fs::File, offset: u64, len: usize) -> io::Result<bool> {
    // `cachestat` walks the range page by page (about 10 µs for 2 MiB on an AMD EPYC VM,
    // 2026-12-07, perf): it looks at the piece's first [`WARM_PROBE`] bytes only. A file
    // is rarely cold past a cached start: the page cache reads ahead, and an evicted file
    // goes whole.
    if fs::cached(file, offset, len.min(WARM_PROBE)) != Some(false) {
        return Ok(false);
    }
    let file = file.try_clone()?;
    glommio::executor()
        .spawn_blocking(move || fs::read_into_cache(&file, offset, len))
        .await?;
    Ok(true)
}

/// How much of each piece [`warm`] asks `cachestat` about.
const WARM_PROBE: usize = 128 * 1024;

/// How much of a file one TLS write carries: four full records.
const TLS_FILE_CHUNK: usize = 64 * 1024;

fn handed_over() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "transport handed over")
}

/// The error of a file body whose file ended before its `Content-Length`.
#[cold]
fn shrank() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the file ended before the response's Content-Length (it shrank mid-response)",
    )
}
