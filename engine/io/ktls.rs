//! Whether the kernel offers kernel TLS: the `tls` upper-layer protocol (`TCP_ULP`).
//!
//! With it, a connection's record encryption can move into the kernel after the handshake
//! (`setsockopt(TCP_ULP, "tls")` then `TLS_TX`/`TLS_RX` with the session's keys), so sends
//! and receives need no user-space crypto. ringpin looks once per process and says what it
//! found in the startup log and `ringpin_tls_info{ktls}`; the records stay in rustls either
//! way (the key hand-off is not implemented: docs/deploy.md, "TLS").

use std::os::fd::AsRawFd;
use std::sync::OnceLock;

/// What the kernel answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ktls {
    /// The `tls` ULP exists (the probe's unconnected socket got `ENOTCONN`, which the
    /// kernel answers only after finding the ULP).
    Available,
    /// It does not: `ENOENT` (no `tls` module), or another refusal, named.
    Unavailable(&'static str),
}

impl Ktls {
    /// `available`, or `unavailable: ENOENT` (what the log line says).
    pub(crate) fn describe(self) -> String {
        match self {
            Ktls::Available => "available (the tls ULP exists; records stay in rustls)".into(),
            Ktls::Unavailable(why) => format!("unavailable: {why}"),
        }
    }

    /// The `ktls` label of `ringpin_tls_info`: `available` or `no`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Ktls::Available => "available",
            Ktls::Unavailable(_) => "no",
        }
    }
}

/// Linux's `TCP_ULP` socket option (include/uapi/linux/tcp.h).
const TCP_ULP: libc::c_int = 31;

/// Probes once per process (a socket and a `setsockopt`, microseconds), then answers from
/// memory.
pub(crate) fn probe() -> Ktls {
    static FOUND: OnceLock<Ktls> = OnceLock::new();
    *FOUND.get_or_init(probe_now)
}

fn probe_now() -> Ktls {
    let socket = match socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None) {
        Ok(socket) => socket,
        Err(_) => return Ktls::Unavailable("no socket to probe with"),
    };
    let name = b"tls";
    // SAFETY: `socket` is open for the call; the option value is `name`, a live 3-byte
    // buffer whose length is passed with it; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            TCP_ULP,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    if rc == 0 {
        return Ktls::Available;
    }
    match std::io::Error::last_os_error().raw_os_error() {
        // The ULP was found; it refuses a socket that is not connected.
        Some(libc::ENOTCONN) => Ktls::Available,
        Some(libc::ENOENT) => Ktls::Unavailable("ENOENT"),
        Some(libc::ENOPROTOOPT) => Ktls::Unavailable("ENOPROTOOPT (no TCP_ULP)"),
        Some(libc::EPERM) => Ktls::Unavailable("EPERM"),
        _ => Ktls::Unavailable("setsockopt(TCP_ULP) refused"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_answers_the_same_twice() {
        let first = probe();
        assert_eq!(first, probe());
        assert!(!first.describe().is_empty());
    }
}
