//! The PROXY protocol on a live listener, in raw bytes over loopback: valid v1 and v2
//! headers become `client_addr()`, headers split over several writes are waited for, and
//! anything else (a malformed line, a bad v2 signature, a plain request, silence) closes the
//! connection without a response. Forwarded fields behind a trusted PROXY source, garbage
//! included, on the same table. Runs on the I/O path `RINGPIN_IO` names.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::read_until_close;
use common::wire::connect_with_timeout;
use ringpin::{Request, Response};

/// The server's `Config::proxy_header_timeout` here.
const HEADER_TIMEOUT: Duration = Duration::from_millis(1000);
/// A refused connection closes well before the header timeout.
const AT_ONCE: Duration = Duration::from_millis(600);
/// Scheduling slack on a timed-out close.
const MARGIN: Duration = Duration::from_millis(1500);
/// Pause between the writes of a split case.
const PAUSE: Duration = Duration::from_millis(30);

const SIG: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

/// A v2 header: signature, version/command, family/protocol, length, then `body`.
fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
    let mut h = SIG.to_vec();
    h.extend_from_slice(&[command, family]);
    h.extend_from_slice(&(body.len() as u16).to_be_bytes());
    h.extend_from_slice(body);
    h
}

/// 192.0.2.1:5000 -> 198.51.100.2:80.
const V4: &[u8] = &[192, 0, 2, 1, 198, 51, 100, 2, 0x13, 0x88, 0, 80];
/// 10.0.0.1:5000 -> 198.51.100.2:80: a trusted proxy.
const V4_TRUSTED: &[u8] = &[10, 0, 0, 1, 198, 51, 100, 2, 0x13, 0x88, 0, 80];

fn v6() -> Vec<u8> {
    let mut body = [0x20, 0x01, 0x0d, 0xb8].to_vec();
    body.extend_from_slice(&[0; 11]);
    body.push(1); // 2001:db8::1
    body.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    body.extend_from_slice(&[0; 11]);
    body.push(2);
    body.extend_from_slice(&[0x13, 0x88, 0, 80]);
    body
}

fn get(extra: &str) -> Vec<u8> {
    format!("GET /echo HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n").into_bytes()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// What a case must see.
#[derive(Debug)]
enum Expect {
    /// 200 with this `client_addr()`.
    Client(&'static str),
    /// 200 with `client_addr()` the TCP peer (this test's socket).
    Peer,
    /// Closed without a byte of response, at once.
    Closed,
    /// Closed without a byte of response, after the header timeout.
    TimedOut,
}

fn echo(request: Request) -> std::future::Ready<Response> {
    std::future::ready(Response::text(format!(
        "client={} peer={}",
        request.client_addr(),
        request.peer_addr()
    )))
}

/// Writes `writes` (pausing between them), then reads until the server closes; returns
/// what arrived and when the close came, from the first write.
fn exchange(addr: SocketAddr, writes: &[Vec<u8>]) -> (TcpStream, Vec<u8>, Duration) {
    let mut stream = connect_with_timeout(addr, HEADER_TIMEOUT + MARGIN + MARGIN);
    let started = Instant::now();
    for (i, write) in writes.iter().enumerate() {
        if i > 0 {
            thread::sleep(PAUSE);
        }
        // A refused connection may be gone before the last write.
        if stream.write_all(write).is_err() {
            break;
        }
    }
    let (received, _) = read_until_close(&mut stream);
    (stream, received, started.elapsed())
}

#[test]
fn proxy_headers_byte_by_byte() {
    let config = common::test_config()
        .with_proxy_protocol(true)
        .with_proxy_header_timeout(HEADER_TIMEOUT)
        .with_trusted_proxies(vec!["10.0.0.0/8".parse().expect("network")]);
    let server = common::start(config, |_| echo);
    let addr = server.addr();

    let v1_tcp4: &[u8] = b"PROXY TCP4 192.0.2.1 198.51.100.2 5000 80\r\n";
    let v1_trusted: &[u8] = b"PROXY TCP4 10.0.0.1 198.51.100.2 5000 80\r\n";
    let v2_tcp4 = v2(0x21, 0x11, V4);
    let v2_trusted = v2(0x21, 0x11, V4_TRUSTED);
    let mut v2_bad_sig = v2_tcp4.clone();
    v2_bad_sig[6] = b'X';
    let (head, tail) = v2_tcp4.split_at(5);
    let xff = |value: &str| get(&format!("X-Forwarded-For: {value}\r\n"));
    let fwd = |value: &str| get(&format!("Forwarded: {value}\r\n"));
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<Vec<u8>>, Expect)> = vec![
        ("v1 tcp4", vec![cat(&[v1_tcp4, &get("")])], Expect::Client("192.0.2.1:5000")),
        ("v1 tcp6", vec![cat(&[b"PROXY TCP6 2001:db8::1 2001:db8::2 5000 80\r\n", &get("")])], Expect::Client("[2001:db8::1]:5000")),
        ("v1 unknown keeps the peer", vec![cat(&[b"PROXY UNKNOWN\r\n", &get("")])], Expect::Peer),
        ("v1 bad family", vec![cat(&[b"PROXY TCP5 192.0.2.1 198.51.100.2 5000 80\r\n", &get("")])], Expect::Closed),
        ("v1 family mismatch", vec![cat(&[b"PROXY TCP4 2001:db8::1 2001:db8::2 5000 80\r\n", &get("")])], Expect::Closed),
        ("v1 missing port", vec![cat(&[b"PROXY TCP4 192.0.2.1 198.51.100.2 5000\r\n", &get("")])], Expect::Closed),
        ("v1 missing addresses", vec![cat(&[b"PROXY TCP4\r\n", &get("")])], Expect::Closed),
        ("v1 too long", vec![format!("PROXY TCP4 {}", "1".repeat(120)).into_bytes()], Expect::Closed),
        ("v1 LF without CR", vec![cat(&[b"PROXY TCP4 192.0.2.1 198.51.100.2 5000 80\n", &get("")])], Expect::Closed),
        ("v1 no line end, silence", vec![b"PROXY TCP4 192.0.2.1 198.51.100.2 5000 80".to_vec()], Expect::TimedOut),
        ("v1 split over three writes", vec![b"PROX".to_vec(), b"Y TCP4 192.0.2.1 198.5".to_vec(), cat(&[b"1.100.2 5000 80\r\n", &get("")])], Expect::Client("192.0.2.1:5000")),
        ("v1 split at CR LF", vec![b"PROXY TCP4 192.0.2.1 198.51.100.2 5000 80\r".to_vec(), cat(&[b"\n", &get("")])], Expect::Client("192.0.2.1:5000")),
        ("v1 then the request later", vec![v1_tcp4.to_vec(), get("")], Expect::Client("192.0.2.1:5000")),
        ("v2 tcp4", vec![cat(&[&v2_tcp4, &get("")])], Expect::Client("192.0.2.1:5000")),
        ("v2 tcp6", vec![cat(&[&v2(0x21, 0x21, &v6()), &get("")])], Expect::Client("[2001:db8::1]:5000")),
        ("v2 local keeps the peer", vec![cat(&[&v2(0x20, 0x00, &[]), &get("")])], Expect::Peer),
        ("v2 unspec keeps the peer", vec![cat(&[&v2(0x21, 0x00, &[]), &get("")])], Expect::Peer),
        ("v2 unix keeps the peer", vec![cat(&[&v2(0x21, 0x31, &[0; 216]), &get("")])], Expect::Peer),
        ("v2 split over three writes", vec![head.to_vec(), tail[..9].to_vec(), cat(&[&tail[9..], &get("")])], Expect::Client("192.0.2.1:5000")),
        ("v2 bad signature", vec![cat(&[&v2_bad_sig, &get("")])], Expect::Closed),
        ("v2 version 1", vec![cat(&[&v2(0x11, 0x11, V4), &get("")])], Expect::Closed),
        ("v2 too short for its family", vec![cat(&[&v2(0x21, 0x11, &V4[..6]), &get("")])], Expect::Closed),
        ("v2 truncated, silence", vec![v2_tcp4[..20].to_vec()], Expect::TimedOut),
        ("no header: plain GET", vec![get("")], Expect::Closed),
        ("no header: TLS ClientHello", vec![vec![0x16, 0x03, 0x01, 0x00, 0xa5, 0x01]], Expect::Closed),
        ("no header: silence", vec![], Expect::TimedOut),
        ("trusted source, xff", vec![cat(&[v1_trusted, &xff("203.0.113.7")])], Expect::Client("203.0.113.7:0")),
        ("trusted source, xff chain", vec![cat(&[&v2_trusted, &xff("198.51.100.9, 203.0.113.7, 10.2.2.2")])], Expect::Client("203.0.113.7:0")),
        ("trusted source, forwarded", vec![cat(&[v1_trusted, &fwd("for=\"[2001:db8::9]:4711\";proto=https")])], Expect::Client("[2001:db8::9]:4711")),
        ("trusted source, garbage xff", vec![cat(&[v1_trusted, &xff("300.1.1.1, %zz")])], Expect::Client("10.0.0.1:5000")),
        ("trusted source, garbage forwarded", vec![cat(&[v1_trusted, &fwd("for=\"[::1\";;=")])], Expect::Client("10.0.0.1:5000")),
        ("trusted source, forwarded unknown", vec![cat(&[v1_trusted, &fwd("for=unknown")])], Expect::Client("10.0.0.1:5000")),
        ("untrusted source, xff ignored", vec![cat(&[v1_tcp4, &xff("203.0.113.7")])], Expect::Client("192.0.2.1:5000")),
    ];
    for (name, writes, expect) in cases {
        let (stream, received, closed_after) = exchange(addr, &writes);
        let text = String::from_utf8_lossy(&received);
        let local = stream.local_addr().expect("local addr");
        match expect {
            Expect::Client(_) | Expect::Peer => {
                assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{name}: {text:?}");
                let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
                let client = match expect {
                    Expect::Client(client) => client.to_string(),
                    _ => local.to_string(),
                };
                assert_eq!(body, format!("client={client} peer={local}"), "{name}");
            }
            Expect::Closed => {
                assert!(received.is_empty(), "{name}: answered {text:?}");
                let sent = PAUSE * writes.len().saturating_sub(1) as u32;
                assert!(
                    closed_after < sent + AT_ONCE,
                    "{name}: closed after {closed_after:?}"
                );
            }
            Expect::TimedOut => {
                assert!(received.is_empty(), "{name}: answered {text:?}");
                assert!(
                    closed_after >= HEADER_TIMEOUT - Duration::from_millis(50)
                        && closed_after < HEADER_TIMEOUT + MARGIN,
                    "{name}: closed after {closed_after:?}"
                );
            }
        }
    }
    server.shutdown();
    server.join().expect("drained");
}

/// With the PROXY protocol off (the default), a PROXY line is no request: 400.
#[test]
fn off_by_default() {
    let server = common::start(common::test_config(), |_| echo);
    let (_stream, received, _) = exchange(
        server.addr(),
        &[cat(&[
            b"PROXY TCP4 192.0.2.1 198.51.100.2 5000 80\r\n",
            &get(""),
        ])],
    );
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 400 "), "{text:?}");
    server.shutdown();
    server.join().expect("drained");
}
