//! Both I/O paths by name, whatever `RINGPIN_IO` says: the shard's own io_uring
//! (`IoBackend::Ring`, which fails to start rather than fall back) and glommio's sockets.

mod common;

use common::{connect, start_hello_with, test_config, Replies};
use ringpin::IoBackend;

/// Requests pipelined in one write: about 80 KB, past the ring's cap on pending input (four
/// 8 KiB read buffers), so its receive is paused and re-armed while they are answered.
const PIPELINED: usize = 2_000;

fn serves_keep_alive_and_a_deep_pipeline(io: IoBackend) {
    let server = start_hello_with(test_config().with_io(io));
    let mut replies = Replies::new(connect(server.addr()));
    for _ in 0..100 {
        replies.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let reply = replies.next().expect("keep-alive reply");
        assert_eq!(reply.body, b"Hello, World!");
    }
    let pipeline = b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n".repeat(PIPELINED);
    replies.send(&pipeline);
    for i in 0..PIPELINED {
        let reply = replies
            .next()
            .unwrap_or_else(|| panic!("{io:?}: reply {i}"));
        assert_eq!(reply.status, 200);
    }
    replies.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(replies.next().expect("last reply").status, 200);
    assert!(replies.closed(), "{io:?}: closed after Connection: close");
    server.shutdown();
    server.join().expect("clean stop");
}

#[test]
fn the_own_ring_serves_keep_alive_and_a_deep_pipeline() {
    serves_keep_alive_and_a_deep_pipeline(IoBackend::Ring);
}

#[test]
fn glommio_sockets_serve_keep_alive_and_a_deep_pipeline() {
    serves_keep_alive_and_a_deep_pipeline(IoBackend::Glommio);
}

#[test]
fn backend_names_parse() {
    assert_eq!("auto".parse(), Ok(IoBackend::Auto));
    assert_eq!("ring".parse(), Ok(IoBackend::Ring));
    assert_eq!("glommio".parse(), Ok(IoBackend::Glommio));
    assert!("uring".parse::<IoBackend>().is_err());
}
