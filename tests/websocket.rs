//! WebSocket over loopback: the handshake and its refusals in raw bytes, then messages
//! with a real client (tungstenite's), on the I/O path `RINGPIN_IO` names.

// The examples include examples/common/cli.rs themselves, as tests/common does.
#![allow(clippy::duplicate_mod)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ringpin::ws::{self, CloseCode, Message, WsConfig};
use ringpin::{get, Request, Router, ServerHandle};
use tungstenite::protocol::frame::coding::CloseCode as WireCloseCode;

#[path = "../examples/websocket.rs"]
#[allow(dead_code)]
mod websocket_example;

#[path = "../examples/ws_chat.rs"]
#[allow(dead_code)]
mod chat_example;

fn start_echo() -> ServerHandle {
    common::start(common::test_config(), |_| websocket_example::router())
}

/// A handshake from `headers` (each ending in CRLF); returns what the server answers
/// before it closes or 10 s pass.
fn raw_handshake(addr: SocketAddr, method: &str, headers: &str) -> String {
    let mut stream = common::connect(addr);
    let request = format!("{method} /ws HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
        if answer.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

const GOOD: &str = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

#[test]
fn the_handshake_is_answered_per_rfc_6455() {
    let server = start_echo();
    let answer = raw_handshake(server.addr(), "GET", GOOD);
    assert!(
        answer.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{answer}"
    );
    // RFC 6455 §1.3's example key and its accept value.
    assert!(
        answer.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{answer}"
    );
    assert!(answer.contains("Connection: Upgrade\r\n"), "{answer}");
    assert!(answer.contains("upgrade: websocket\r\n"), "{answer}");
    assert!(!answer.contains("Content-Length"), "{answer}");
    server.shutdown();
    server.join().expect("join");
}

#[test]
fn bad_handshakes_are_refused_with_their_status() {
    let server = start_echo();
    let addr = server.addr();
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let cases: &[(&str, String, &str)] = &[
        // The route is GET only: the router answers before the handshake is looked at.
        ("POST", GOOD.to_owned(), "HTTP/1.1 405"),
        (
            "GET",
            format!("Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n{key}"),
            "HTTP/1.1 426",
        ),
        (
            "GET",
            format!("Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n{key}"),
            "HTTP/1.1 400",
        ),
        (
            "GET",
            format!(
                "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\n{key}"
            ),
            "HTTP/1.1 426",
        ),
        (
            "GET",
            "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n".to_owned(),
            "HTTP/1.1 400",
        ),
        (
            "GET",
            "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: short==\r\n"
                .to_owned(),
            "HTTP/1.1 400",
        ),
    ];
    for (method, headers, status) in cases {
        let answer = raw_handshake(addr, method, headers);
        assert!(answer.starts_with(status), "{method} {headers:?}: {answer}");
    }
    let answer = raw_handshake(
        addr,
        "GET",
        &format!("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\n{key}"),
    );
    assert!(answer.contains("sec-websocket-version: 13\r\n"), "{answer}");
    server.shutdown();
    server.join().expect("join");
}

fn client(addr: SocketAddr) -> tungstenite::WebSocket<TcpStream> {
    connect_ws(addr, "/ws")
}

/// A blocking read with a timeout is never restarted after a signal (signal(7)), so a
/// client retries one that a signal interrupted, as any robust client does.
fn read(socket: &mut tungstenite::WebSocket<TcpStream>) -> tungstenite::Result<Message> {
    loop {
        match socket.read() {
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// A WebSocket client on `path`, the handshake retried on a fresh connection if a signal
/// interrupted it.
fn connect_ws(addr: SocketAddr, path: &str) -> tungstenite::WebSocket<TcpStream> {
    loop {
        let stream = common::connect(addr);
        match tungstenite::client(format!("ws://{addr}{path}"), stream) {
            Ok((socket, response)) => {
                assert_eq!(response.status(), 101);
                return socket;
            }
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Io(e)))
                if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("handshake: {e}"),
        }
    }
}

#[test]
fn text_binary_ping_and_close_round_trip() {
    let server = start_echo();
    let mut socket = client(server.addr());
    socket.send(Message::text("hello")).expect("send");
    assert_eq!(read(&mut socket).expect("read"), Message::text("hello"));
    let binary: Vec<u8> = (0..=255).cycle().take(70_000).collect();
    socket.send(Message::binary(binary.clone())).expect("send");
    assert_eq!(read(&mut socket).expect("read"), Message::binary(binary));
    socket
        .send(Message::Ping(b"are you there".to_vec().into()))
        .expect("ping");
    assert_eq!(
        read(&mut socket).expect("pong"),
        Message::Pong(b"are you there".to_vec().into())
    );
    socket.close(None).expect("close");
    // The server answers the close; then the client sees the end.
    loop {
        match read(&mut socket) {
            Ok(Message::Close(_)) => continue,
            Ok(other) => panic!("after close: {other:?}"),
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("after close: {e}"),
        }
    }
    server.shutdown();
    server.join().expect("join");
}

#[test]
fn frames_sent_with_the_handshake_are_not_lost() {
    let server = start_echo();
    let mut stream = common::connect(server.addr());
    let mut request = format!("GET /ws HTTP/1.1\r\nHost: x\r\n{GOOD}\r\n").into_bytes();
    // A masked text frame "hi" (mask 1,2,3,4) in the same write as the handshake.
    request.extend_from_slice(&[0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2]);
    stream.write_all(&request).expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_secs(5);
    let echoed = [0x81, 0x02, b'h', b'i'];
    while !got.windows(4).any(|w| w == echoed) && Instant::now() < deadline {
        match stream.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    assert!(
        got.windows(4).any(|w| w == echoed),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    server.shutdown();
    server.join().expect("join");
}

#[test]
fn protocol_violations_and_oversized_messages_get_their_close_codes() {
    let config = WsConfig {
        max_message_bytes: 1000,
        ..WsConfig::default()
    };
    let server = common::start(common::test_config(), move |_| {
        let config = config.clone();
        Router::new().route(
            "/ws",
            get(move |request: Request| {
                let config = config.clone();
                async move { ws::upgrade(&request, config, websocket_example::echo) }
            }),
        )
    });
    // Over the limit: 1009.
    let mut socket = client(server.addr());
    socket.send(Message::binary(vec![7u8; 5000])).expect("send");
    match read(&mut socket) {
        Ok(Message::Close(Some(frame))) => assert_eq!(frame.code, WireCloseCode::Size),
        other => panic!("expected a 1009 close, got {other:?}"),
    }
    // An unmasked client frame: 1002.
    let mut stream = common::connect(server.addr());
    let request = format!("GET /ws HTTP/1.1\r\nHost: x\r\n{GOOD}\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        // read_exact retries a read a signal interrupted (EINTR), as a plain read does not.
        stream.read_exact(&mut byte).expect("head");
        head.push(byte[0]);
    }
    stream.write_all(&[0x81, 0x02, b'h', b'i']).expect("frame");
    let mut close = [0u8; 4];
    stream.read_exact(&mut close).expect("close frame");
    assert_eq!(close[0], 0x88, "a close frame");
    assert_eq!(u16::from_be_bytes([close[2], close[3]]), 1002);
    server.shutdown();
    server.join().expect("join");
}

#[test]
fn a_drain_closes_websockets_with_going_away_and_plain_requests_go_on() {
    let server = start_echo();
    let mut sockets: Vec<_> = (0..8).map(|_| client(server.addr())).collect();
    for (i, socket) in sockets.iter_mut().enumerate() {
        socket.send(Message::text(format!("m{i}"))).expect("send");
        assert_eq!(read(socket).expect("read"), Message::text(format!("m{i}")));
    }
    // Plain HTTP beside them on the same server.
    let reply = common::exchange(server.addr(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("plain request answered");
    assert_eq!(reply.status, 200);
    let started = Instant::now();
    server.shutdown();
    for socket in &mut sockets {
        match read(socket) {
            Ok(Message::Close(Some(frame))) => assert_eq!(frame.code, WireCloseCode::Away),
            other => panic!("expected a 1001 close, got {other:?}"),
        }
    }
    server.join().expect("join");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let _ = CloseCode::Away;
}

#[test]
fn the_chat_fans_a_message_out_to_every_client_on_every_shard() {
    let mesh = ringpin::Mesh::<String, ()>::new(64);
    let server = common::start(common::test_config(), move |shard| {
        chat_example::router(shard, &mesh)
    });
    let addr = server.addr();
    // Enough clients that SO_REUSEPORT puts some on each shard of a 2-CPU mask.
    let mut clients: Vec<_> = (0..6).map(|_| connect_ws(addr, "/chat")).collect();
    // A client is in its room once its upgrade ran: wait until a message from the last
    // one reaches it (each client sees its own messages).
    let last = clients.len() - 1;
    clients[last].send(Message::text("ready?")).expect("send");
    assert_eq!(
        read(&mut clients[last]).expect("read"),
        Message::text("ready?")
    );
    for client in &mut clients[..last] {
        assert_eq!(read(client).expect("read"), Message::text("ready?"));
    }
    clients[0].send(Message::text("hello, room")).expect("send");
    for (i, client) in clients.iter_mut().enumerate() {
        assert_eq!(
            read(client).expect("read"),
            Message::text("hello, room"),
            "client {i}"
        );
    }
    server.shutdown();
    server.join().expect("join");
}
