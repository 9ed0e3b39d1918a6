//! A handler's bug costs its request, never the shard: a panicking handler is answered 500
//! and its connection closed, a panic inside a streamed body closes that connection, the
//! process lives on, and no connection slot leaks. Crash-only servers can opt out.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{connect, start, test_config, Replies, Reply};
use futures_lite::StreamExt;
use ringpin::{get, Request, Response, Router};

/// Panicking requests in the interleaved run (as the issue asks: 1,000).
const PANICS: usize = 1_000;
/// Keep-alive connections carrying the good requests.
const GOOD_CONNECTIONS: usize = 4;

fn router() -> Router {
    Router::new()
        .route("/ok", get(|_req: Request| async { Response::text("ok") }))
        .route(
            "/boom/:n",
            get(|req: Request| async move {
                if req.path() != "/never" {
                    panic!("a handler bug on {}", req.path());
                }
                Response::text("unreachable")
            }),
        )
        .route(
            "/boom-now",
            get(|_req: Request| -> std::future::Ready<Response> {
                panic!("a bug before the future exists")
            }),
        )
        .route(
            "/stream",
            get(|_req: Request| async {
                let pieces = futures_lite::stream::iter(0..3).map(|i| {
                    if i == 2 {
                        panic!("a bug inside a streamed body");
                    }
                    Bytes::from_static(b"piece\n")
                });
                Response::stream("text/plain", pieces)
            }),
        )
}

fn get_on(replies: &mut Replies, path: &str) -> Option<Reply> {
    replies.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    replies.next()
}

fn open_connections(server: &ringpin::ServerHandle) -> u64 {
    server
        .metrics()
        .snapshot()
        .total
        .counters
        .connections_open()
}

#[test]
fn a_thousand_panics_cost_their_requests_and_nothing_else() {
    let server = start(test_config(), |_| router());
    let addr = server.addr();
    let mut good: Vec<Replies> = (0..GOOD_CONNECTIONS)
        .map(|_| Replies::new(connect(addr)))
        .collect();
    let mut answered_good = 0;
    for i in 0..PANICS {
        // A panicking request on a connection of its own: 500, then the close.
        let mut bad = Replies::new(connect(addr));
        let path = if i % 2 == 0 {
            format!("/boom/{i}")
        } else {
            "/boom-now".to_string()
        };
        let reply = get_on(&mut bad, &path).expect("a panicking handler is answered");
        assert_eq!(reply.status, 500, "{path}");
        assert_eq!(reply.header("connection"), Some("close"), "{path}");
        assert!(bad.closed(), "{path}: the connection closes after the 500");
        // A good request on a kept-alive connection, answered as if nothing happened.
        let conn = &mut good[i % GOOD_CONNECTIONS];
        let reply = get_on(conn, "/ok").expect("a good request is answered");
        assert_eq!((reply.status, reply.body.as_slice()), (200, &b"ok"[..]));
        answered_good += 1;
    }
    assert_eq!(answered_good, PANICS);

    // Every panic is counted by its route pattern.
    let mut panics = server.metrics().snapshot().handler_panics;
    let mut waited = Instant::now();
    while panics.values().sum::<u64>() < PANICS as u64 && waited.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(20));
        panics = server.metrics().snapshot().handler_panics;
    }
    assert_eq!(panics.get("/boom/:n"), Some(&((PANICS / 2) as u64)));
    assert_eq!(panics.get("/boom-now"), Some(&((PANICS / 2) as u64)));

    // No slot leaked: once the good connections close too, none is open.
    drop(good);
    waited = Instant::now();
    while open_connections(&server) > 0 && waited.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(open_connections(&server), 0, "connections left open");

    server.shutdown();
    server.join().expect("every shard alive to the end");
}

#[test]
fn a_panic_inside_a_streamed_body_closes_only_that_connection() {
    let server = start(test_config(), |_| router());
    let mut keeper = Replies::new(connect(server.addr()));
    assert_eq!(get_on(&mut keeper, "/ok").expect("ok").status, 200);

    let mut streamed = connect(server.addr());
    use std::io::{Read, Write};
    streamed
        .write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut received = Vec::new();
    let _ = streamed.read_to_end(&mut received);
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("piece"), "{text}");
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "a body cut by a panic must not look complete: {text:?}"
    );

    // The other connection, and new ones, are served on.
    assert_eq!(get_on(&mut keeper, "/ok").expect("ok").status, 200);
    let mut fresh = Replies::new(connect(server.addr()));
    assert_eq!(get_on(&mut fresh, "/ok").expect("ok").status, 200);
    let panics = server.metrics().snapshot().handler_panics;
    assert!(panics.get("-").is_some_and(|&n| n >= 1), "{panics:?}");
    server.shutdown();
    server.join().expect("clean stop");
}

#[test]
fn a_crash_only_server_lets_the_panic_end_its_shard() {
    let config = test_config()
        .with_catch_panics(false)
        .with_cpus(vec![ringpin::affinity_mask().expect("mask")[0]]);
    let server = start(config, |_| router());
    let mut conn = connect(server.addr());
    conn.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    use std::io::{Read, Write};
    conn.write_all(b"GET /boom/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    assert!(
        !String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 500"),
        "a crash-only server does not answer a panic"
    );
    server.shutdown();
    let joined = server.join();
    assert!(joined.is_err(), "join reports the panicked shard");
}
