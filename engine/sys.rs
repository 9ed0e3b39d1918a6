//! The system calls std and glommio do not wrap safely: every `unsafe` block of the crate.

use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::io::FromRawFd;

/// Hands a bound, listening socket built by [`crate::listener`] to the current shard's
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
