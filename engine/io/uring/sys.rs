//! The system calls of the own ring: every `unsafe` block of `uring` but the buffer ring's.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use glommio::io::BufferedFile;
use io_uring::squeue::Entry;
use io_uring::IoUring;

/// A blocking eventfd, handed to glommio as a file: an 8-byte `read_at` of it is an
/// `IORING_OP_READ` on glommio's ring that completes when the own ring posts a completion.
/// (Blocking, so the read waits instead of failing with EAGAIN.)
pub(super) fn eventfd() -> io::Result<(RawFd, BufferedFile)> {
    // SAFETY: no memory is passed; a non-negative return is a new descriptor nobody else owns.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nobody else; the BufferedFile becomes its
    // only owner and closes it once, when dropped.
    let file = unsafe { BufferedFile::from_raw_fd(fd) };
    Ok((fd, file))
}

/// Puts `entry` in the submission queue; `false` if the queue is full (the caller keeps it
/// for later).
///
/// # Safety
///
/// Every buffer `entry` points at must stay valid, and unmoved, until its completion arrives.
pub(super) unsafe fn push(ring: &mut IoUring, entry: &Entry) -> bool {
    // SAFETY: the caller guarantees the entry's buffers outlive the operation.
    unsafe { ring.submission().push(entry) }.is_ok()
}

/// `io_uring_enter` submitting `to_submit` entries, with `GETEVENTS` when `reap` (what a
/// `DEFER_TASKRUN` ring needs to post its completions), never waiting for one.
pub(super) fn enter(ring: &IoUring, to_submit: usize, reap: bool) -> io::Result<usize> {
    /// `IORING_ENTER_GETEVENTS` (linux/io_uring.h); libc does not export it.
    const IORING_ENTER_GETEVENTS: u32 = 1;
    let flags = if reap { IORING_ENTER_GETEVENTS } else { 0 };
    let to_submit = u32::try_from(to_submit).unwrap_or(u32::MAX);
    // SAFETY: no argument struct is passed (`None`), so the kernel reads no user memory
    // besides the rings the submitter already maps; every queued entry's buffers are kept
    // alive by its slot until its completion (the contract of `push`).
    unsafe {
        ring.submitter()
            .enter::<libc::sigset_t>(to_submit, 0, flags, None)
    }
}

/// Takes an accepted socket away from glommio: a duplicate descriptor the own ring owns
/// (glommio's `TcpStream` cannot give its descriptor up; dropping it closes the original).
pub(super) fn take_socket(socket: &impl AsRawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor the borrow keeps open passes no memory; a
    // non-negative return is a new descriptor nobody else owns.
    let fd = unsafe { libc::fcntl(socket.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Gives up ownership of `fd`: the ring's slot holds it until no operation on it is in
/// flight, then [`close`] closes it.
pub(super) fn into_raw(fd: OwnedFd) -> RawFd {
    fd.into_raw_fd()
}

/// Closes a connection's descriptor once no operation on it is in flight.
pub(super) fn close(fd: RawFd) {
    // SAFETY: the slot owned `fd` (from `into_raw`) and never uses it again.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
}

/// `shutdown(2)`: what glommio's `TcpStream::shutdown` does, synchronously (it never blocks).
pub(super) fn shutdown(fd: RawFd, how: std::net::Shutdown) -> io::Result<()> {
    let how = match how {
        std::net::Shutdown::Read => libc::SHUT_RD,
        std::net::Shutdown::Write => libc::SHUT_WR,
        std::net::Shutdown::Both => libc::SHUT_RDWR,
    };
    // SAFETY: no memory is passed; `fd` is open while its slot holds it.
    if unsafe { libc::shutdown(fd, how) } < 0 {
        let e = io::Error::last_os_error();
        // The peer may have gone already; glommio ignores that too.
        if e.raw_os_error() != Some(libc::ENOTCONN) {
            return Err(e);
        }
    }
    Ok(())
}
