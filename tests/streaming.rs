//! Streamed responses and Server-Sent Events with real clients, and around-handler layers.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{answer_closes, connect, start, test_config, Replies};
use glommio::timer::Timer;
use ringpin::middleware::{request_id, timing};
use ringpin::{get, Event, HandlerExt, Request, Response, Router, Sse};

const PIECE: usize = 64 * 1024;

/// `read`, retried when a signal interrupts it (as every client must).
fn read_retrying(stream: &mut std::net::TcpStream, buf: &mut [u8]) -> usize {
    loop {
        match stream.read(buf) {
            Ok(n) => return n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("read failed: {e}"),
        }
    }
}
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
                Sse(common::ticks(5, |i| {
                    Event::data(&format!("tick {i}")).with_id(&i.to_string())
                }))
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
    let mut replies = Replies::new(connect(server.addr()));
    replies.send(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\nGET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    // Two pipelined streamed responses arrive whole (chunked, to the last chunk) and in
    // order on one connection.
    let mut raw = Vec::new();
    for which in ["first", "second"] {
        let reply = replies.next().expect(which);
        assert_eq!(
            reply.header("transfer-encoding"),
            Some("chunked"),
            "{which}"
        );
        assert!(
            reply.raw.ends_with(b"0\r\n\r\n"),
            "{which}: ends with the last chunk"
        );
        raw.extend_from_slice(&reply.raw);
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
    let n = read_retrying(&mut stream, &mut buf);
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

fn upload_router() -> Router {
    Router::new()
        .route(
            "/upload",
            ringpin::post(|mut r: Request| async move {
                let Some(mut body) = r.take_body_stream() else {
                    return Response::text("not streamed").with_status(500);
                };
                let (mut bytes, mut sum, mut chunks) = (0u64, 0u64, 0u64);
                while let Some(chunk) = body.chunk().await {
                    match chunk {
                        Ok(chunk) => {
                            bytes += chunk.len() as u64;
                            sum = chunk.iter().fold(sum, |s, &b| s.wrapping_add(u64::from(b)));
                            chunks += 1;
                        }
                        Err(e) => return Response::text(e.reason()).with_status(e.status()),
                    }
                }
                Response::text(format!("{bytes} {sum} {chunks}"))
            })
            .with_streaming_body(64 * 1024 * 1024),
        )
        .route(
            "/ignore",
            ringpin::post(|_r: Request| async { Response::new(202) })
                .with_streaming_body(64 * 1024 * 1024),
        )
        .route(
            "/buffered",
            ringpin::post(|r: Request| async move { r.body().len().to_string() }),
        )
}

fn payload(len: usize) -> (Vec<u8>, u64) {
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let sum = data.iter().fold(0u64, |s, &b| s.wrapping_add(u64::from(b)));
    (data, sum)
}

#[test]
fn streamed_upload_larger_than_the_body_limit() {
    let server = start(test_config(), |_| upload_router());
    let url = format!("http://{}/upload", server.addr());
    // 20 MiB: twenty times Limits::max_body_bytes, which still guards buffered routes.
    let (data, sum) = payload(20 * 1024 * 1024);
    let by_length = ureq::post(&url)
        .send_bytes(&data)
        .expect("upload with Content-Length");
    let text = by_length.into_string().expect("body");
    let fields: Vec<u64> = text
        .split(' ')
        .map(|f| f.parse().expect("number"))
        .collect();
    assert_eq!(
        &fields[..2],
        &[data.len() as u64, sum],
        "every byte arrived in order"
    );
    assert!(
        fields[2] > 1,
        "delivered in several chunks, not buffered whole"
    );

    let chunked = ureq::post(&url).send(&data[..]).expect("chunked upload");
    let text = chunked.into_string().expect("body");
    assert!(
        text.starts_with(&format!("{} {sum} ", data.len())),
        "{text}"
    );

    // A buffered route refuses the same length at the head, before any body byte is read.
    let mut replies = Replies::new(connect(server.addr()));
    replies.send(
        format!(
            "POST /buffered HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            data.len()
        )
        .as_bytes(),
    );
    assert_eq!(replies.next().expect("answer").status, 413);
}

#[test]
fn streamed_body_errors_reach_the_handler_and_unread_bodies_close() {
    let server = start(test_config(), |_| upload_router());
    let bad_chunk =
        b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n";
    assert!(answer_closes(server.addr(), bad_chunk, 400).closed());

    // A handler that ignores a streamed body: its answer arrives, then the connection closes
    // instead of reading the rest of the body as requests.
    let ignored =
        b"POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nGET / HTTP/1.1\r\n";
    let _replies = answer_closes(server.addr(), ignored, 202);

    // After a fully read streamed body, the connection carries on.
    let mut replies = Replies::new(connect(server.addr()));
    replies.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcPOST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nde");
    assert_eq!(replies.next().expect("first").body_text(), "3 294 1");
    assert_eq!(replies.next().expect("second").body_text(), "2 201 1");
}

#[test]
fn expect_continue_on_a_streamed_route() {
    let server = start(test_config(), |_| upload_router());
    let mut stream = connect(server.addr());
    std::io::Write::write_all(
        &mut stream,
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    )
    .expect("head");
    let mut buf = [0u8; 64];
    let n = read_retrying(&mut stream, &mut buf);
    assert_eq!(&buf[..n], b"HTTP/1.1 100 Continue\r\n\r\n");
    std::io::Write::write_all(&mut stream, b"wxyz").expect("body");
    let mut replies = Replies::new(stream);
    assert_eq!(
        replies.next().expect("final").body_text(),
        format!("4 {} 1", 119 + 120 + 121 + 122)
    );
}
