//! The one conversion glommio offers only as `unsafe`: every `unsafe` block of the crate.

use std::os::fd::{IntoRawFd, OwnedFd};
use std::os::unix::io::FromRawFd;

/// Hands a bound, listening socket built by [`crate::listener`] to the current shard's
/// reactor. Must run on a glommio executor thread.
pub(crate) fn into_glommio_listener(fd: OwnedFd) -> glommio::net::TcpListener {
    // SAFETY: `fd` is an owned, open, bound and listening TCP socket (OwnedFd guarantees it is
    // open and not shared); `into_raw_fd` gives up that ownership, so the listener becomes
    // its only owner and closes it exactly once.
    unsafe { glommio::net::TcpListener::from_raw_fd(fd.into_raw_fd()) }
}
