//! A connection on glommio's socket, with the shape of the own ring's [`RingConn`]: reads
//! and writes pass the buffer (`&mut BytesMut`) and every wait has a timeout.
//!
//! glommio reads synchronously inside `poll_read` (a `recv`, else it arms a readiness poll
//! and returns `Pending` without keeping the buffer), so a connection without a read buffer
//! (idle, its buffers back in the shard's free list) reads into the shard's one scratch
//! buffer, borrowed for a single poll, and takes a buffer only when bytes arrive.
//!
//! [`RingConn`]: crate::io::uring::RingConn

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::time::Duration;

use bytes::BytesMut;
use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use crate::server::pool;

/// Size of the shard's scratch buffer: a typical request arrives in one read.
const SCRATCH_BYTES: usize = 4096;

thread_local! {
    /// The shard's scratch (a shard is one thread). Borrowed only inside one poll, never
    /// across a wait, so every connection of the shard shares it and none carries its own.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; SCRATCH_BYTES].into_boxed_slice());
}

/// One accepted connection on glommio's socket.
pub(crate) struct SocketConn {
    stream: TcpStream,
    /// The session's read buffer size (`Limits::read_buffer_bytes`): what a connection
    /// without a buffer takes when bytes arrive; half of it is the least room a read gets.
    buffer_bytes: u32,
    /// The socket was made non-blocking (for `sendfile`), once for the connection.
    nonblocking: bool,
}

impl SocketConn {
    /// Wraps an accepted stream; every write on it fails with `ErrorKind::TimedOut` after
    /// `send_timeout` without progress.
    pub(crate) fn new(stream: TcpStream, buffer_bytes: usize, send_timeout: Duration) -> Self {
        if let Err(e) = stream.set_write_timeout(Some(send_timeout)) {
            log::debug!("send timeout not set: {e}");
        }
        SocketConn {
            stream,
            // Clamped by `Limits::clamped` far below 4 GiB.
            buffer_bytes: u32::try_from(buffer_bytes).unwrap_or(u32::MAX),
            nonblocking: false,
        }
    }

    /// Appends what arrives to `input` (with room for at least `wants` more bytes), waiting
    /// at most `timeout` (`ErrorKind::TimedOut` then). `Ok(0)` at end of stream. An `input`
    /// without a buffer gets one only when bytes arrive.
    pub(crate) async fn read(
        &mut self,
        input: &mut BytesMut,
        wants: usize,
        timeout: Duration,
    ) -> io::Result<usize> {
        self.stream.set_read_timeout(Some(timeout))?;
        if input.capacity() == 0 {
            let buffer_bytes = self.buffer_bytes as usize;
            let stream = &mut self.stream;
            return poll_fn(|cx| {
                SCRATCH.with_borrow_mut(|scratch| {
                    let polled = Pin::new(&mut *stream).poll_read(cx, &mut scratch[..]);
                    if let std::task::Poll::Ready(Ok(n)) = polled {
                        let bytes = scratch.get(..n).unwrap_or_default();
                        *input = pool::take(buffer_bytes.max(bytes.len()));
                        input.extend_from_slice(bytes);
                    }
                    polled
                })
            })
            .await;
        }
        let start = self.grow(input, wants);
        // Cancel-safe: a read dropped while it waits (a drain won the race, or a WebSocket's
        // `recv` raced a channel) leaves `input` as it was, not grown with zeros.
        let mut filled = Filled { input, len: start };
        let result = match filled.input.get_mut(start..) {
            Some(room) => self.stream.read(room).await,
            None => Ok(0),
        };
        filled.len = start + *result.as_ref().unwrap_or(&0);
        result
    }

    /// What the socket holds now, appended to `input`, with one non-blocking `recv`:
    /// `ErrorKind::WouldBlock` when nothing has arrived.
    pub(crate) fn read_now(&mut self, input: &mut BytesMut, wants: usize) -> io::Result<usize> {
        let start = self.grow(input, wants);
        let result = match input.get_mut(start..) {
            Some(room) => super::sys::recv_now(&self.stream, room),
            None => Ok(0),
        };
        input.truncate(start + *result.as_ref().unwrap_or(&0));
        result
    }

    /// Grows `input` for a read of at least `wants` bytes (at least half a read buffer)
    /// and zeroes its spare room for the socket to fill; returns the length it had. The
    /// caller reads into `input[start..]` and truncates to what arrived.
    fn grow(&self, input: &mut BytesMut, wants: usize) -> usize {
        let start = input.len();
        input.reserve(wants.max(self.buffer_bytes as usize / 2));
        input.resize(input.capacity(), 0);
        start
    }

    /// Sends all of `output` and gives the buffer back empty.
    pub(crate) async fn write_all(&mut self, output: &mut BytesMut) -> io::Result<()> {
        self.stream.write_all(output).await?;
        output.clear();
        Ok(())
    }

    /// Whether bytes wait in the socket (a peek; it never blocks).
    pub(crate) fn input_waiting(&self) -> bool {
        super::sys::bytes_waiting(self.stream.as_raw_fd())
    }

    /// The socket's descriptor, made non-blocking (once per connection), for a system call
    /// glommio does not make (`sendfile`). glommio's own calls on it behave the same:
    /// it sends and receives with `MSG_DONTWAIT` and waits on readiness itself.
    pub(crate) fn nonblocking_fd(&mut self) -> io::Result<std::os::fd::RawFd> {
        let fd = self.stream.as_raw_fd();
        if !self.nonblocking {
            super::fs::set_nonblocking(fd)?;
            self.nonblocking = true;
        }
        Ok(fd)
    }

    /// `shutdown(2)` of the socket.
    pub(crate) async fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        Ok(self.stream.shutdown(how).await?)
    }
}

/// Truncates a read's buffer to what arrived, however the read ends (it may be dropped).
struct Filled<'a> {
    input: &'a mut BytesMut,
    len: usize,
}

impl Drop for Filled<'_> {
    fn drop(&mut self) {
        self.input.truncate(self.len);
    }
}
