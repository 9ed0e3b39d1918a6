//! Streamed responses and Server-Sent Events with real clients, and around-handler layers.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{connect, start, test_config, Replies};
use glommio::timer::Timer;
use ringpin::middleware::{request_id, timing};
use ringpin::{get, Event, HandlerExt, Request, Response, Router, Sse};

const PIECE: usize = 64 * 1024;
const PIECES: usize = 100;

fn piece(i: usize) -> Bytes {
    Bytes::from(vec![b'a' + (i % 26) as u8; PIECE])
}

fn streaming_router() -> Router {
    Router::new()
        .route(
            "/download",
            get(|_r: Request| async {
                let pieces = futures_lite::stream::iter((0..PIECES).map(piece));
                Response::stream("application/octet-stream", pieces)
            }),
        )
        .route(
            "/events",
            get(|_r: Request| async {
                let ticks = futures_lite::stream::unfold(0u32, |i| async move {
                    if i == 5 {
                        return None;
                    }
                    Timer::new(Duration::from_millis(150)).await;
                    Some((
                        Event::data(&format!("tick {i}")).with_id(&i.to_string()),
                        i + 1,
                    ))
                });
                Sse(ticks)
            }),
        )
        .route(
            "/forever",
            get(|_r: Request| async {
                let ticks = futures_lite::stream::unfold((), |()| async {
                    Timer::new(Duration::from_millis(20)).await;
                    Some((Event::data("tick"), ()))
                });
                Sse(ticks)
            }),
        )
}

#[test]
fn streamed_download_larger_than_any_buffer() {
    let server = start(test_config(), |_| streaming_router());
    let response = ureq::get(&format!("http://{}/download", server.addr()))
        .call()
        .expect("GET /download");
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    let mut body = Vec::new();
    response
        .into_reader()
        .read_to_end(&mut body)
        .expect("whole body");
    assert_eq!(body.len(), PIECE * PIECES);
    for (i, chunk) in body.chunks(PIECE).enumerate() {
        assert_eq!(chunk, &piece(i)[..], "piece {i} intact and in order");
    }
}

#[test]
fn streamed_response_keeps_the_connection_usable() {
    let server = start(test_config(), |_| streaming_router());
    let mut stream = connect(server.addr());
    std::io::Write::write_all(
        &mut stream,
        b"GET /events HTTP/1.1\r\nHost: x\r\n\r\nGET /events HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .expect("write");
    // Two pipelined streamed responses arrive whole and in order on one connection.
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    while raw.windows(5).filter(|w| w == b"0\r\n\r\n").count() < 2 {
        let n = stream.read(&mut buf).expect("read");
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&raw));
        raw.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2);
    assert_eq!(text.matches("data: tick 4").count(), 2);
}

#[test]
fn server_sent_events_arrive_one_by_one_at_a_real_client() {
    let server = start(test_config(), |_| streaming_router());
    let started = Instant::now();
    let response = ureq::get(&format!("http://{}/events", server.addr()))
        .call()
        .expect("GET /events");
    assert_eq!(response.content_type(), "text/event-stream");
    assert_eq!(response.header("cache-control"), Some("no-cache"));
    let mut lines = BufReader::new(response.into_reader()).lines();
    let mut arrivals = Vec::new();
    let mut events = Vec::new();
    while let Some(Ok(line)) = lines.next() {
        if let Some(data) = line.strip_prefix("data: ") {
            arrivals.push(started.elapsed());
            events.push(data.to_string());
        }
    }
    assert_eq!(events, ["tick 0", "tick 1", "tick 2", "tick 3", "tick 4"]);
    // Each event was flushed when produced, not held until the stream ended (5 x 150 ms).
    assert!(
        arrivals[0] < Duration::from_millis(600),
        "first event took {:?}",
        arrivals[0]
    );
    assert!(arrivals[4] - arrivals[0] >= Duration::from_millis(450));
}

#[test]
fn drain_ends_an_endless_event_stream_cleanly() {
    let server = start(test_config(), |_| streaming_router());
    let mut replies = Replies::new(connect(server.addr()));
    replies.send(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut stream = replies.stream;
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).expect("first bytes");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("text/event-stream"));
    let started = Instant::now();
    server.shutdown();
    server.join().expect("drained");
    assert!(started.elapsed() < Duration::from_secs(5));
    let mut rest = Vec::new();
    stream
        .read_to_end(&mut rest)
        .expect("stream ends with a close");
    assert!(
        rest.ends_with(b"0\r\n\r\n"),
        "the chunked body was terminated properly"
    );
}

#[test]
fn layers_wrap_handlers() {
    let server = start(test_config(), |_| {
        let hello = |_r: Request| async { Response::text("layered") };
        hello.around(request_id).around(timing)
    });
    let url = format!("http://{}/", server.addr());
    let first = ureq::get(&url).call().expect("GET");
    let generated = first
        .header("x-request-id")
        .expect("id generated")
        .to_string();
    assert!(first
        .header("server-timing")
        .expect("timing")
        .starts_with("app;dur="));
    assert_eq!(first.into_string().expect("body"), "layered");
    let second = ureq::get(&url).call().expect("GET");
    assert_ne!(
        second.header("x-request-id"),
        Some(generated.as_str()),
        "ids are unique"
    );
    let echoed = ureq::get(&url)
        .set("x-request-id", "abc-123")
        .call()
        .expect("GET");
    assert_eq!(echoed.header("x-request-id"), Some("abc-123"));
    let bad = ureq::get(&url)
        .set("x-request-id", &"z".repeat(500))
        .call()
        .expect("GET");
    assert_ne!(
        bad.header("x-request-id").map(str::len),
        Some(500),
        "oversized id replaced"
    );
}

#[test]
fn http10_streamed_body_is_delimited_by_close() {
    let server = start(test_config(), |_| streaming_router());
    let mut stream = connect(server.addr());
    std::io::Write::write_all(&mut stream, b"GET /events HTTP/1.0\r\n\r\n").expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read to close");
    let text = String::from_utf8_lossy(&raw);
    assert!(!text.contains("Transfer-Encoding"), "{text}");
    assert!(text.contains("Connection: close"));
    assert!(text.ends_with("data: tick 4\n\n"), "{text}");
}
