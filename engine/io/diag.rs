//! What the kernel knows about a listener that the socket API does not say: how many
//! handshakes on its port are under way (`sock_diag(7)` over netlink, as `ss` asks).

use std::io;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket, SocketAddr};

/// Most messages one dump may take before it is given up (a SYN flood fills the kernel's
/// half-open table with as many as `tcp_max_syn_backlog`).
const MAX_MESSAGES: usize = 1 << 16;

/// How many TCP handshakes with local port `port` are half way: the SYN answered, the ACK
/// that completes it not yet in (`SYN_RECV`), in both address families. Every listener on
/// the port counts (the shards of this server, and any other process in its
/// `SO_REUSEPORT` group). One netlink round trip, answered by the kernel at once.
pub(crate) fn handshakes_under_way(port: u16) -> io::Result<usize> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut count = 0;
    for family in [AF_INET, AF_INET6] {
        count += dump_syn_recv(&socket, family, port)?;
    }
    Ok(count)
}

fn dump_syn_recv(socket: &Socket, family: u8, port: u16) -> io::Result<usize> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let socket_id = if family == AF_INET {
        SocketId::new_v4()
    } else {
        SocketId::new_v6()
    };
    let mut request = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::SYN_RECV,
            socket_id,
        })
        .into(),
    );
    request.finalize();
    let mut out = vec![0; request.buffer_len()];
    request.serialize(&mut out);
    socket.send(&out, 0)?;

    let mut count = 0;
    let mut messages = 0;
    let mut buffer = vec![0u8; 32 * 1024];
    loop {
        let size = socket.recv(&mut &mut buffer[..], 0)?;
        let mut received = buffer.get(..size).unwrap_or_default();
        while !received.is_empty() {
            let message = NetlinkMessage::<SockDiagMessage>::deserialize(received)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            let length = message.header.length as usize;
            match message.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response))
                    if response.header.socket_id.source_port == port =>
                {
                    count += 1;
                }
                NetlinkPayload::Done(_) => return Ok(count),
                NetlinkPayload::Error(e) => return Err(e.to_io()),
                _ => {}
            }
            messages += 1;
            if length == 0 || messages > MAX_MESSAGES {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "sock_diag dump did not end",
                ));
            }
            received = received.get(length..).unwrap_or_default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listener whose handshakes stop half way (a filter drops all but SYNs, so the
    /// client's completing ACK never counts): the dump sees one once a client connects,
    /// and none on the port before.
    #[test]
    fn a_half_open_handshake_is_counted_on_its_port_only() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let op = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter {
            code: code as u16,
            jt,
            jf,
            k,
        };
        let syn_only = [
            op(libc::BPF_LD | libc::BPF_B | libc::BPF_ABS, 0, 0, 13),
            op(libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K, 0, 1, 0x02),
            op(libc::BPF_RET | libc::BPF_K, 0, 0, u32::MAX),
            op(libc::BPF_RET | libc::BPF_K, 0, 0, 0),
        ];
        socket2::SockRef::from(&listener)
            .attach_filter(&syn_only)
            .expect("filter");
        assert_eq!(handshakes_under_way(port).expect("dump"), 0);
        let _client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        assert_eq!(handshakes_under_way(port).expect("dump"), 1);
        let other = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let other_port = other.local_addr().expect("addr").port();
        assert_eq!(handshakes_under_way(other_port).expect("dump"), 0);
    }
}
