//! How the driving task sleeps and wakes: the ring's eventfd, and entering the ring without
//! waiting. The prototype's only `unsafe` besides uring-bare's files.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use io_uring::Submitter;

/// `IORING_ENTER_GETEVENTS` (linux/io_uring.h): libc 0.2 does not export it.
const IORING_ENTER_GETEVENTS: u32 = 1;

/// A blocking eventfd (an `IORING_OP_READ` of it then waits instead of failing with EAGAIN).
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: no memory is passed; a non-negative return is a new descriptor nobody else owns.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is open and owned by nobody else (just created).
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `io_uring_enter` submitting `to_submit` entries, with `GETEVENTS` when `reap` (what a
/// `DEFER_TASKRUN` ring needs to post its completions) but never waiting for one.
pub fn enter(submitter: &Submitter<'_>, to_submit: usize, reap: bool) -> io::Result<()> {
    let flags = if reap { IORING_ENTER_GETEVENTS } else { 0 };
    let to_submit = u32::try_from(to_submit).unwrap_or(u32::MAX);
    // SAFETY: no argument struct is passed (`None`), so nothing is read from user memory
    // besides the rings the submitter already maps.
    unsafe { submitter.enter::<libc::sigset_t>(to_submit, 0, flags, None) }.map(drop)
}
