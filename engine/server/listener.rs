//! Building each shard's `SO_REUSEPORT` listening socket with the configured backlog.
//!
//! glommio's own `TcpListener::bind` hard-codes a backlog of 1024 and cannot report the
//! errors of a group of sockets together, so the sockets are built here, on the thread that
//! calls `serve`, and handed to each shard.

use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use socket2::{Domain, Protocol, Socket, Type};

/// Opens one listening socket per CPU of `cpus` on `addr`, all in one `SO_REUSEPORT`
/// group. With port 0 the first socket picks the port and the rest join it. With `steer`,
/// each socket prefers connections whose SYN its CPU received (`SO_INCOMING_CPU`).
/// Returns the bound address and sockets.
pub(crate) fn bind_group(
    addr: SocketAddr,
    backlog: u32,
    cpus: &[usize],
    steer: bool,
) -> io::Result<(SocketAddr, Vec<OwnedFd>)> {
    let mut bound = addr;
    let mut sockets = Vec::with_capacity(cpus.len());
    for &cpu in cpus {
        let socket = Socket::new(
            Domain::for_address(bound),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        if steer {
            // Before bind: the socket joins its group with its CPU set.
            socket.set_cpu_affinity(cpu)?;
        }
        socket
            .bind(&bound.into())
            .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {bound}: {e}")))?;
        socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
        if let Some(local) = socket.local_addr()?.as_socket() {
            bound = local;
        }
        sockets.push(OwnedFd::from(socket));
    }
    Ok((bound, sockets))
}
