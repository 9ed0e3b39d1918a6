//! The system calls std and glommio do not wrap safely: every `unsafe` block of the crate.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::io::FromRawFd;

/// Hands a bound, listening socket built by [`crate::server::listener`] to the current shard's
/// reactor. Must run on a glommio executor thread.
pub(crate) fn into_glommio_listener(fd: OwnedFd) -> glommio::net::TcpListener {
    // SAFETY: `fd` is an owned, open, bound and listening TCP socket (OwnedFd guarantees it is
    // open and not shared); `into_raw_fd` gives up that ownership, so the listener becomes
    // its only owner and closes it exactly once.
    unsafe { glommio::net::TcpListener::from_raw_fd(fd.into_raw_fd()) }
}

/// Shuts a listening socket down: accepts pending on it fail (`EINVAL`), connections in
/// its backlog are reset, and it leaves its `SO_REUSEPORT` group, so new connections go to
/// the other shards. The descriptor stays open (its owner closes it).
pub(crate) fn stop_listening(fd: RawFd) -> io::Result<()> {
    // SAFETY: no memory is passed; the caller's listener keeps `fd` open during the call.
    if unsafe { libc::shutdown(fd, libc::SHUT_RDWR) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes a listening socket start no more handshakes, while the ones under way complete
/// and the connections in its backlog stay there to be accepted: a classic BPF program
/// drops every SYN that is not also an ACK (a new handshake), and lets the rest through
/// (the ACK that completes a handshake whose SYN was answered already: that client's
/// `connect` has returned, and it may be writing a request). Also makes `accept` on the
/// socket non-blocking, for [`accept_waiting`]. A client whose SYN is dropped retries it,
/// and by then the socket is closed (or another process listens): its connect fails, or
/// goes elsewhere, before it could write a request.
pub(crate) fn refuse_new_connections(fd: RawFd) -> io::Result<()> {
    // SAFETY: the caller's listener keeps `fd` open for the duration of this borrow.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let socket = socket2::SockRef::from(&fd);
    // A TCP socket's filter sees the segment from its TCP header: byte 13 holds the flags.
    let op = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let new_handshakes_dropped = [
        op(
            libc::BPF_LD | libc::BPF_B | libc::BPF_ABS,
            0,
            0,
            TCP_FLAGS_OFFSET,
        ),
        // ACK set: let it through (to 4).
        op(libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K, 2, 0, TCP_ACK),
        // SYN set (without ACK): drop (to 3), else let it through (to 4).
        op(libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K, 0, 1, TCP_SYN),
        op(libc::BPF_RET | libc::BPF_K, 0, 0, 0),
        op(libc::BPF_RET | libc::BPF_K, 0, 0, u32::MAX),
    ];
    socket.attach_filter(&new_handshakes_dropped)?;
    socket.set_nonblocking(true)
}

/// Where a TCP header keeps its flags, and two of them (RFC 9293 section 3.1).
const TCP_FLAGS_OFFSET: u32 = 13;
const TCP_SYN: u32 = 0x02;
const TCP_ACK: u32 = 0x10;

/// The next connection waiting in a listener's backlog (its handshake complete, perhaps
/// its request already written), or `None` when the backlog is empty. The listener must be
/// non-blocking ([`refuse_new_connections`]).
pub(crate) fn accept_waiting(fd: RawFd) -> io::Result<Option<glommio::net::TcpStream>> {
    // SAFETY: the caller's listener keeps `fd` open for the duration of this borrow.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    match socket2::SockRef::from(&fd).accept() {
        // SAFETY: `accept` returned a new connected TCP socket that nothing else owns;
        // `into_raw_fd` gives up that ownership to the stream, which closes it once.
        Ok((socket, _)) => Ok(Some(unsafe {
            glommio::net::TcpStream::from_raw_fd(socket.into_raw_fd())
        })),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// Size of `struct io_uring_params` (linux/io_uring.h).
const IO_URING_PARAMS_BYTES: usize = 120;

/// Creates and closes a one-entry io_uring: `Ok`, or the errno `io_uring_setup(2)` gave.
pub(crate) fn probe_io_uring() -> Result<(), i32> {
    // u64 elements give the struct's 8-byte alignment; zeroed, as the kernel requires.
    let mut params = [0u64; IO_URING_PARAMS_BYTES / 8];
    let entries: libc::c_uint = 1;
    // SAFETY: io_uring_setup(2) takes an entry count and a pointer to one `struct
    // io_uring_params` (120 bytes), which it reads and fills in. `params` is 120 writable,
    // zeroed, suitably aligned bytes that outlive the call; nothing else aliases them.
    let ret = unsafe { libc::syscall(libc::SYS_io_uring_setup, entries, params.as_mut_ptr()) };
    if ret < 0 {
        return Err(io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO));
    }
    let fd = RawFd::try_from(ret).map_err(|_| libc::EBADF)?;
    // SAFETY: a non-negative return is a new io_uring descriptor that nothing else knows
    // about; the OwnedFd becomes its only owner and closes it once, right here.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
    Ok(())
}

/// Reads what the socket holds now, without waiting and without the reactor: `Ok(0)` at
/// end of stream, `ErrorKind::WouldBlock` when nothing is there. One `recv(2)`.
pub(crate) fn recv_now(socket: &impl AsRawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid, writable, exclusively borrowed region of `buf.len()` bytes
    // for the whole call; recv(2) writes at most that many bytes into it. `socket` is
    // borrowed, so its descriptor stays open during the call. MSG_DONTWAIT keeps the call
    // from blocking the shard.
    let n = unsafe {
        libc::recv(
            socket.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Whether the socket holds bytes nobody has read yet: one `recv(2)` with `MSG_PEEK`, which
/// takes nothing. End of stream and errors count as nothing waiting.
pub(crate) fn bytes_waiting(fd: RawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: `byte` is a valid, writable one-byte region for the whole call; recv(2)
    // writes at most one byte into it. The caller keeps `fd` open during the call.
    // MSG_DONTWAIT keeps the call from blocking the shard.
    let n = unsafe {
        libc::recv(
            fd,
            std::ptr::addr_of_mut!(byte).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n > 0
}
