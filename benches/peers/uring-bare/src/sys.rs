//! The calls that need `unsafe`: queueing an SQE, and three socket calls std does not offer
//! on a raw descriptor. With `buf_ring.rs`, the only `unsafe` of the peer.

use std::io;
use std::os::fd::RawFd;

use io_uring::squeue::Entry;
use io_uring::{SubmissionQueue, Submitter};

/// Queues `entry`, submitting what is queued first if the submission queue is full.
///
/// # Safety
///
/// Every buffer `entry` points at must stay valid, and unmoved, until its completion arrives.
pub unsafe fn push(
    sq: &mut SubmissionQueue<'_>,
    submitter: &Submitter<'_>,
    entry: &Entry,
) -> io::Result<()> {
    loop {
        // SAFETY: the caller guarantees the entry's buffers outlive the operation.
        if unsafe { sq.push(entry) }.is_ok() {
            return Ok(());
        }
        sq.sync();
        submitter.submit()?;
        sq.sync();
    }
}

/// `listen(2)` again with a longer backlog: std's `TcpListener::bind` picks its own.
pub fn set_backlog(fd: RawFd, backlog: i32) -> io::Result<()> {
    // SAFETY: plain syscall on a descriptor the caller owns; no memory is passed.
    check(unsafe { libc::listen(fd, backlog) })
}

/// TCP_NODELAY, as every peer sets it.
pub fn set_nodelay(fd: RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `on` is a live c_int and the length passed is its size.
    check(unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
}

/// Closes a connection's descriptor once no operation on it is in flight.
pub fn close(fd: RawFd) {
    // SAFETY: the caller owns `fd` (an accepted connection) and never uses it again.
    unsafe { libc::close(fd) };
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
