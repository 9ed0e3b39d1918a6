//! A connection's socket as it is: on the shard's own ring or on glommio's socket, with one
//! shape (the transport's, under TLS or not).
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

use crate::io::socket::SocketConn;
use crate::io::uring::{Driver, RingConn};

/// The shortest wait a read is given (a zero timeout would fire before the read starts).
pub(crate) const MIN_WAIT: Duration = Duration::from_millis(1);

/// A connection's socket, on the ring or on glommio's socket.
pub(crate) enum Plain {
    /// On the shard's own io_uring (multishot receives, batched sends).
    Ring(RingConn),
    /// On glommio's socket (the fallback, `IoBackend::Glommio`).
    Socket(SocketConn),
}

impl Plain {
    pub(crate) fn open(
        stream: TcpStream,
        ring: Option<&Rc<Driver>>,
        buffer_bytes: usize,
        send_timeout: Duration,
    ) -> Plain {
        if let Some(ring) = ring {
            match RingConn::open(ring, &stream) {
                // Dropping the stream closes glommio's descriptor; the ring's duplicate
                // carries the connection.
                Ok(conn) => return Plain::Ring(conn),
                Err(e) => log::debug!("connection stays on glommio's socket: {e}"),
            }
        }
        Plain::Socket(SocketConn::new(stream, buffer_bytes, send_timeout))
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
        let timeout = timeout.max(MIN_WAIT);
        match self {
            Plain::Ring(ring) => ring.read(input, timeout).await,
            Plain::Socket(socket) => socket.read(input, wants, timeout).await,
        }
    }

    /// What has arrived, appended to `input`, without waiting: `ErrorKind::WouldBlock`
    /// when nothing has.
    pub(crate) fn read_now(&mut self, input: &mut BytesMut, wants: usize) -> io::Result<usize> {
        match self {
            Plain::Ring(ring) => ring.read_now(input),
            Plain::Socket(socket) => socket.read_now(input, wants),
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
            Plain::Ring(ring) => ring.write_all(output, timeout).await,
            // The socket's write timeout was set when it was opened.
            Plain::Socket(socket) => socket.write_all(output).await,
        }
    }

    /// Whether bytes have arrived that the connection has not read yet.
    pub(crate) fn input_waiting(&self) -> bool {
        match self {
            Plain::Ring(ring) => ring.input_waiting(),
            Plain::Socket(socket) => socket.input_waiting(),
        }
    }

    /// `shutdown(2)` of the socket.
    pub(crate) async fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        match self {
            Plain::Ring(ring) => ring.shutdown(how),
            Plain::Socket(socket) => socket.shutdown(how).await,
        }
    }
}
