//! Production behaviour over TCP, with short timeouts: slow clients, caps, shedding, drain.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{connect, read_until_close, start, start_hello_with, test_config, Replies};
use ringpin::{get, Config, Request, Response, Router, ServerHandle, Shedding, Timeouts};

/// These tests measure time and load: run them one at a time so one test's busy shard
/// cannot starve another's (they share CPUs).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn one_shard() -> Config {
    test_config().with_cpus(vec![ringpin::affinity_mask().expect("mask")[0]])
}

fn short(timeouts: impl FnOnce(&mut Timeouts)) -> Config {
    let mut t = Timeouts::default();
    timeouts(&mut t);
    one_shard().with_timeouts(t)
}

/// The test's turn (see [`serial`]), a `hello` server on one shard with `timeouts` applied,
/// and a connection to it.
fn connect_short(
    timeouts: impl FnOnce(&mut Timeouts),
) -> (std::sync::MutexGuard<'static, ()>, ServerHandle, TcpStream) {
    let serial = serial();
    let server = start_hello_with(short(timeouts));
    let stream = connect(server.addr());
    (serial, server, stream)
}

/// Reads `stream` to the server's close, which must come after a 408; returns how long
/// that took.
fn read_408(stream: &mut TcpStream) -> Duration {
    let (reply, waited) = read_until_close(stream);
    assert!(
        String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 408 "),
        "{reply:?}"
    );
    waited
}

/// Writes `bytes` one at a time, `gap` apart, from a thread on a clone of `stream`, until
/// they run out or a write fails (the server closed).
fn trickle(stream: &TcpStream, bytes: Vec<u8>, gap: Duration) -> std::thread::JoinHandle<()> {
    let mut stream = stream.try_clone().expect("clone");
    std::thread::spawn(move || {
        for byte in bytes {
            if stream.write_all(&[byte]).is_err() {
                return;
            }
            std::thread::sleep(gap);
        }
    })
}

#[test]
fn a_trickled_head_gets_408_at_the_header_deadline() {
    let (_serial, _server, mut stream) = connect_short(|t| t.header = Duration::from_millis(400));
    let started = Instant::now();
    // One byte every 50 ms: each read is quick, but the whole head never completes in time.
    for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "
        .iter()
        .cycle()
        .take(200)
    {
        if stream.write_all(&[*byte]).is_err() {
            break;
        }
        if started.elapsed() > Duration::from_millis(900) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (reply, _) = read_until_close(&mut stream);
    let text = String::from_utf8_lossy(&reply);
    assert!(
        text.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{text}"
    );
    assert!(text.contains("Connection: close"));
}

#[test]
fn a_slow_head_is_read_on_the_slow_lane_and_still_served() {
    let (_serial, _server, mut stream) = connect_short(|t| t.header = Duration::from_secs(5));
    let started = Instant::now();
    // Each gap is longer than the 200 ms after which a head counts as slow.
    for piece in [&b"GET / HTTP/1.1\r\n"[..], b"Host: x\r\n", b"\r\n"] {
        stream.write_all(piece).expect("write");
        std::thread::sleep(Duration::from_millis(300));
    }
    let mut replies = Replies::new(stream);
    let reply = replies.next().expect("a response");
    assert_eq!(reply.status, 200, "{reply:?}");
    // The slow lane reads every 500 ms: the answer comes within one period of the last byte.
    assert!(
        started.elapsed() < Duration::from_millis(600 + 900 + 500),
        "{:?}",
        started.elapsed()
    );
    // A prompt request on the same connection is back on the normal path.
    let again = Instant::now();
    replies
        .stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let reply = replies.next().expect("a second response");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        again.elapsed() < Duration::from_millis(200),
        "{:?}",
        again.elapsed()
    );
}

#[test]
fn the_slow_lane_keeps_the_header_deadline() {
    // The lane starts 200 ms into the head and reads at most every 500 ms: a deadline
    // checked only at the lane's reads would come hundreds of milliseconds late.
    let (_serial, _server, mut stream) = connect_short(|t| t.header = Duration::from_millis(700));
    let head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let bytes = head.iter().cycle().take(30).copied().collect();
    let writer = trickle(&stream, bytes, Duration::from_millis(100));
    let waited = read_408(&mut stream);
    assert!(
        waited >= Duration::from_millis(650) && waited < Duration::from_millis(1000),
        "408 at the deadline, not at the lane's next read: {waited:?}"
    );
    writer.join().expect("writer");
}

#[test]
fn a_stalled_body_gets_408_after_the_idle_gap() {
    let (_serial, _server, mut stream) =
        connect_short(|t| t.body_idle = Duration::from_millis(300));
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b")
        .expect("write");
    let waited = read_408(&mut stream);
    assert!(
        waited >= Duration::from_millis(250),
        "not before the gap: {waited:?}"
    );
}

#[test]
fn a_body_below_the_minimum_rate_gets_408() {
    let (_serial, _server, mut stream) = connect_short(|t| {
        t.body_idle = Duration::from_millis(300);
        t.body_min_rate = 10_000;
    });
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        .expect("head");
    // 1 byte per 50 ms never breaks the idle gap, but is 20 B/s against 10,000 B/s.
    let writer = trickle(&stream, vec![b'x'; 40], Duration::from_millis(50));
    let waited = read_408(&mut stream);
    assert!(
        waited < Duration::from_millis(1500),
        "cut at the first rate check: {waited:?}"
    );
    writer.join().expect("writer");
}

#[test]
fn an_idle_keep_alive_connection_is_closed_quietly() {
    let _serial = serial();
    let server = start_hello_with(short(|t| t.idle = Duration::from_millis(300)));
    let mut replies = Replies::new(connect(server.addr()));
    replies.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(replies.next().expect("reply").status, 200);
    let (rest, waited) = read_until_close(&mut replies.stream);
    assert!(rest.is_empty(), "no response to an idle close: {rest:?}");
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

#[test]
fn a_client_that_does_not_read_is_dropped_at_the_send_timeout() {
    let _serial = serial();
    let big = bytes::Bytes::from(vec![b'z'; 64 * 1024 * 1024]);
    let config = short(|t| t.send = Duration::from_millis(300));
    let server = start(config, move |_| {
        let big = big.clone();
        Router::new().route(
            "/big",
            get(move |_r: Request| {
                let big = big.clone();
                async move { Response::bytes(big) }
            }),
        )
    });
    let mut stream = connect(server.addr());
    stream
        .write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    // Do not read for a while: the socket buffers fill and the server's write stalls.
    std::thread::sleep(Duration::from_millis(1200));
    let (got, _) = read_until_close(&mut stream);
    assert!(
        got.len() < 64 * 1024 * 1024,
        "the server gave up before sending it all"
    );
    assert!(String::from_utf8_lossy(&got[..12]).starts_with("HTTP/1.1 200"));
}

#[test]
fn max_requests_per_connection_closes_after_the_last() {
    let _serial = serial();
    let server = start_hello_with(one_shard().with_max_requests_per_connection(3));
    let mut replies = Replies::new(connect(server.addr()));
    for i in 1..=3 {
        replies.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let reply = replies.next().expect("reply");
        let expected = if i == 3 { Some("close") } else { None };
        assert_eq!(reply.header("connection"), expected, "request {i}");
    }
    assert!(replies.closed());
}

#[test]
fn the_connection_cap_pauses_accept_instead_of_dropping() {
    let _serial = serial();
    let server = start_hello_with(one_shard().with_max_connections_per_shard(2));
    let mut first = Replies::new(connect(server.addr()));
    let mut second = Replies::new(connect(server.addr()));
    for r in [&mut first, &mut second] {
        r.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.next().expect("served").status, 200);
    }
    // The third connects (the backlog takes it) but is not served while two are open.
    let mut third = connect(server.addr());
    third
        .set_read_timeout(Some(Duration::from_millis(400)))
        .expect("timeout");
    third
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + Duration::from_millis(400);
    while Instant::now() < deadline {
        match third.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            other => panic!("served past the cap: {other:?}"),
        }
    }
    drop(first);
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut replies = Replies::new(third);
    assert_eq!(
        replies.next().expect("served once a slot frees").status,
        200
    );
}

/// A handler that holds the shard for `busy` per request, like real work would.
fn busy_router(busy: Duration) -> Router {
    Router::new().route(
        "/work",
        get(move |_r: Request| async move {
            let until = Instant::now() + busy;
            while Instant::now() < until {
                std::hint::spin_loop();
            }
            Response::text("done")
        }),
    )
}

/// Sends requests from `clients` connections for `run`; returns (200s, 503s, other).
fn overload(addr: std::net::SocketAddr, clients: usize, run: Duration) -> (u64, u64, u64) {
    let (ok, shed, other) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (ok, shed, other) = (ok.clone(), shed.clone(), other.clone());
            std::thread::spawn(move || {
                let started = Instant::now();
                let mut replies = Replies::new(connect(addr));
                while started.elapsed() < run {
                    replies.send(b"GET /work HTTP/1.1\r\nHost: x\r\n\r\n");
                    match replies.next() {
                        Some(r) if r.status == 200 => ok.fetch_add(1, Ordering::Relaxed),
                        Some(r) if r.status == 503 => {
                            assert_eq!(r.header("retry-after"), Some("1"));
                            shed.fetch_add(1, Ordering::Relaxed)
                        }
                        _ => other.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client");
    }
    (
        ok.load(Ordering::Relaxed),
        shed.load(Ordering::Relaxed),
        other.load(Ordering::Relaxed),
    )
}

#[test]
fn shedding_answers_503_under_overload_and_only_then() {
    let _serial = serial();
    let shedding = Shedding {
        target: Duration::from_millis(5),
        interval: Duration::from_millis(50),
        ..Shedding::default()
    };
    // 32 clients each waiting on 2 ms of work: a standing queue of ~64 ms.
    let server = start(one_shard().with_shedding(shedding.clone()), |_| {
        busy_router(Duration::from_millis(2))
    });
    let (ok, shed, other) = overload(server.addr(), 32, Duration::from_millis(1500));
    assert_eq!(other, 0);
    assert!(shed > 0, "no request was shed ({ok} served)");
    assert!(ok > 0, "admitted requests still served");

    // The same load without shedding: everything is served, slowly.
    let server = start(one_shard(), |_| busy_router(Duration::from_millis(2)));
    let (ok, shed, other) = overload(server.addr(), 32, Duration::from_millis(500));
    assert_eq!((shed, other), (0, 0));
    assert!(ok > 0);

    // Light load with shedding on: nothing is shed. The target is looser here because the
    // test machine itself may be busy (other tests run in parallel): an OS-level stall of
    // the shard thread is not the queue this checks for.
    let relaxed = Shedding {
        target: Duration::from_millis(50),
        interval: Duration::from_millis(200),
        ..shedding
    };
    let server = start(one_shard().with_shedding(relaxed), |_| {
        busy_router(Duration::from_micros(100))
    });
    let (ok, shed, _) = overload(server.addr(), 1, Duration::from_millis(500));
    assert_eq!(shed, 0, "{ok} served");
}

#[test]
fn drain_under_keep_alive_load_loses_nothing() {
    let _serial = serial();
    let server = start_hello_with(test_config());
    let addr = server.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, lost, closed_by_header) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (stop, answered, lost, closed_by_header) = (
                stop.clone(),
                answered.clone(),
                lost.clone(),
                closed_by_header.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(stream) = TcpStream::connect(addr) else {
                        return; // the listener is gone: nothing was written
                    };
                    stream
                        .set_read_timeout(Some(Duration::from_secs(10)))
                        .expect("timeout");
                    let mut replies = Replies::new(stream);
                    loop {
                        // An idle connection the drain closed (after its grace) is not
                        // reused, as no real client reuses a connection it sees closed.
                        if replies.closed_by_server()
                            || replies
                                .stream
                                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                                .is_err()
                        {
                            break; // closed before the request was written
                        }
                        match replies.next() {
                            Some(reply) => {
                                assert_eq!(reply.status, 200);
                                answered.fetch_add(1, Ordering::Relaxed);
                                if reply.header("connection") == Some("close") {
                                    closed_by_header.fetch_add(1, Ordering::Relaxed);
                                    break;
                                }
                            }
                            None => {
                                // Written, then closed without an answer: lost.
                                lost.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let before = answered.load(Ordering::Relaxed);
    server.shutdown();
    server.join().expect("drained within the grace period");
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client");
    }
    assert!(before > 100, "traffic was flowing ({before})");
    assert_eq!(
        lost.load(Ordering::Relaxed),
        0,
        "requests written but never answered"
    );
    assert!(
        closed_by_header.load(Ordering::Relaxed) > 0,
        "in-flight connections were told to close"
    );
}

/// Connections the kernel completed but the shard had not accepted yet (here: waiting
/// behind the connection cap) have written their requests; a drain answers them (with
/// `Connection: close`) instead of resetting them with the listener.
#[test]
fn a_drain_answers_the_requests_waiting_in_the_backlog() {
    let _serial = serial();
    let server = start_hello_with(one_shard().with_max_connections_per_shard(1));
    let mut holder = Replies::new(connect(server.addr()));
    holder.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(holder.next().expect("served").status, 200);
    let mut waiting: Vec<Replies> = (0..3)
        .map(|_| {
            let mut r = Replies::new(connect(server.addr()));
            r.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            r
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    server.shutdown();
    for (i, r) in waiting.iter_mut().enumerate() {
        let reply = r
            .next()
            .unwrap_or_else(|| panic!("request {i} in the backlog was lost"));
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("connection"), Some("close"));
    }
    server.join().expect("drained within the grace period");
}

/// The listening socket of `addr` in this process (the server runs in the test process).
fn listener_of(addr: std::net::SocketAddr) -> std::os::fd::RawFd {
    use std::os::fd::{AsRawFd, BorrowedFd};
    for entry in std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd") {
        let Some(fd) = entry
            .ok()
            .and_then(|e| e.file_name().to_str()?.parse::<std::os::fd::RawFd>().ok())
        else {
            continue;
        };
        // SAFETY: only getsockname/getpeername run on `fd`, within this iteration; a
        // descriptor closed meanwhile makes them fail, which is skipped.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let bound_here = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .is_some_and(|a| a == addr);
        if bound_here && socket.peer_addr().is_err() {
            return fd.as_raw_fd();
        }
    }
    panic!("no listener on {addr}");
}

/// A client whose handshake was under way when the drain began (its SYN answered, so its
/// `connect` returned and it wrote a request) is served, not reset with the listener.
/// Here the ACK completing the handshake is held back by a filter on the listener (as a
/// lost segment would be) until the drain has started; the client's kernel sends it
/// again, with the request, at its retransmission timeout (200 ms at least): the settle
/// is set to outlast it.
#[test]
fn a_drain_serves_a_client_whose_handshake_was_under_way() {
    let _serial = serial();
    let server = start_hello_with(one_shard().with_handshake_settle(Duration::from_millis(600)));
    let listener = listener_of(server.addr());
    // Lets SYNs through and drops everything else: handshakes stop half way.
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
    // SAFETY: the server keeps its listener open until it is joined, below.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(listener) };
    socket2::SockRef::from(&fd)
        .attach_filter(&syn_only)
        .expect("filter attached");
    let mut client = Replies::new(connect(server.addr()));
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    server.shutdown();
    let reply = client
        .next()
        .expect("the request of a handshake under way was lost");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("connection"), Some("close"));
    server.join().expect("drained within the grace period");
}

#[test]
fn metrics_scrapes_under_load_are_quick_and_exact() {
    let _serial = serial();
    use ringpin::metrics::MetricsHandlerExt;
    let server = ringpin::Server::new(test_config());
    let metrics = server.metrics();
    let handle = server
        .serve(move |_| common::hello_example::hello.with_metrics_at("/metrics", metrics.clone()))
        .expect("starts");
    let addr = handle.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, served) = (stop.clone(), served.clone());
            std::thread::spawn(move || {
                let mut replies = Replies::new(connect(addr));
                while !stop.load(Ordering::Relaxed) {
                    replies.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
                    assert_eq!(replies.next().expect("reply").status, 200);
                    served.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut scrapes = 0u64;
    let mut slowest = Duration::ZERO;
    let mut seen = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        let asked = Instant::now();
        let text = ureq::get(&format!("http://{addr}/metrics"))
            .call()
            .expect("scrape")
            .into_string()
            .expect("text");
        slowest = slowest.max(asked.elapsed());
        scrapes += 1;
        let total: f64 = text
            .lines()
            .filter(|l| l.starts_with("ringpin_requests_total{") && l.contains("class=\"2xx\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        seen.push(total);
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client");
    }
    std::thread::sleep(Duration::from_millis(200)); // one clock tick publishes the rest
    assert!(
        slowest < Duration::from_millis(500),
        "a scrape took {slowest:?}"
    );
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "counters never go back: {seen:?}"
    );
    assert!(
        seen.last() > seen.first(),
        "counters move under load: {seen:?}"
    );
    let snapshot = handle.metrics().snapshot();
    let counted = snapshot.total.counters.requests_in_class(200);
    assert_eq!(
        counted,
        served.load(Ordering::Relaxed) + scrapes,
        "every response counted once"
    );
    assert!(
        snapshot.total.service_time.count > 0 && snapshot.total.service_time.p99 > Duration::ZERO
    );
    handle.shutdown();
    handle.join().expect("stop");
}
