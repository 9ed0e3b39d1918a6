//! The compression layer over TCP: each coding round-trips through its reference decoder,
//! negotiation follows q-values, and what must stay plain stays plain; a compressed event
//! stream still arrives event by event.
#![cfg(feature = "compression")]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use common::{exchange, start, test_config, Reply};
use ringpin::compress::Compression;
use ringpin::{get, Event, HandlerExt, Request, Response, Router, Sse};

/// A JSON body of about `bytes` bytes, repetitive as real API answers are.
fn json_body(bytes: usize) -> String {
    let mut body = String::from("[");
    let mut i = 0;
    while body.len() < bytes {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"id":{i},"name":"user {i}","email":"user{i}@example.com","active":true}}"#
        ));
        i += 1;
    }
    body.push(']');
    body
}

fn router() -> Router {
    Router::new()
        .route(
            "/big",
            get(|_r: Request| async { Response::json_bytes(json_body(8 * 1024)) }),
        )
        .route(
            "/small",
            get(|_r: Request| async { Response::json_bytes(r#"{"ok":true}"#) }),
        )
        .route(
            "/png",
            get(|_r: Request| async {
                Response::bytes(vec![7u8; 4096]).with_content_type("image/png")
            }),
        )
        .route(
            "/encoded",
            get(|_r: Request| async {
                Response::text(json_body(4096)).with_header("content-encoding", "custom")
            }),
        )
        .route(
            "/tagged",
            get(|_r: Request| async {
                Response::text(json_body(4096)).with_header("etag", "\"v1\"")
            }),
        )
        .route(
            "/events",
            get(|_r: Request| async {
                Sse(common::ticks(4, |i| Event::data(&format!("tick {i}"))))
            }),
        )
}

fn get_with(addr: std::net::SocketAddr, path: &str, accept: Option<&str>) -> Reply {
    let accept = accept.map_or(String::new(), |a| format!("Accept-Encoding: {a}\r\n"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{accept}\r\n");
    exchange(addr, request.as_bytes()).expect("a response")
}

fn decode(encoding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        "gzip" => flate2::read::GzDecoder::new(body)
            .read_to_end(&mut out)
            .expect("valid gzip"),
        "br" => brotli::Decompressor::new(body, 4096)
            .read_to_end(&mut out)
            .expect("valid brotli"),
        "zstd" => zstd::stream::read::Decoder::new(body)
            .expect("zstd decoder")
            .read_to_end(&mut out)
            .expect("valid zstd"),
        other => panic!("unexpected coding {other}"),
    };
    out
}

#[test]
fn each_coding_round_trips_and_negotiation_follows_q_values() {
    let server = start(test_config(), |_| {
        router().around(Compression::new().layer())
    });
    let addr = server.addr();
    let original = json_body(8 * 1024);
    let cases = [
        ("gzip", "gzip"),
        ("br", "br"),
        ("zstd", "zstd"),
        ("gzip, deflate, br, zstd", "br"),
        ("br;q=0.1, gzip", "gzip"),
        ("br;q=0.5, gzip;q=0.6, zstd;q=0.9", "zstd"),
        ("*", "br"),
        ("br;q=0, *;q=0.5", "zstd"),
    ];
    for (accept, expected) in cases {
        let reply = get_with(addr, "/big", Some(accept));
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.header("content-encoding"),
            Some(expected),
            "{accept:?}"
        );
        assert_eq!(reply.header("vary"), Some("accept-encoding"));
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert!(
            reply.body.len() * 4 < original.len(),
            "{expected}: {} bytes from {}",
            reply.body.len(),
            original.len()
        );
        assert_eq!(
            decode(expected, &reply.body),
            original.as_bytes(),
            "{accept:?}"
        );
    }
}

#[test]
fn what_must_stay_plain_stays_plain() {
    let server = start(test_config(), |_| {
        router().around(Compression::new().with_min_size(1024).layer())
    });
    let addr = server.addr();

    let none = get_with(addr, "/big", None);
    assert_eq!(none.header("content-encoding"), None, "no Accept-Encoding");
    assert_eq!(
        none.header("vary"),
        Some("accept-encoding"),
        "but caches are told"
    );
    assert_eq!(none.body_text(), json_body(8 * 1024));

    for refused in ["identity", "identity;q=0", "gzip;q=0", "deflate"] {
        let reply = get_with(addr, "/big", Some(refused));
        assert_eq!(reply.header("content-encoding"), None, "{refused}");
        assert_eq!(reply.body.len(), json_body(8 * 1024).len());
    }

    let small = get_with(addr, "/small", Some("gzip"));
    assert_eq!(
        small.header("content-encoding"),
        None,
        "under the minimum size"
    );
    assert_eq!(small.body_text(), r#"{"ok":true}"#);

    let png = get_with(addr, "/png", Some("gzip"));
    assert_eq!(
        png.header("content-encoding"),
        None,
        "not a compressible type"
    );
    assert_eq!(png.header("vary"), None);
    assert_eq!(png.body, vec![7u8; 4096]);

    let encoded = get_with(addr, "/encoded", Some("gzip"));
    assert_eq!(
        encoded.header("content-encoding"),
        Some("custom"),
        "left alone"
    );
    assert_eq!(encoded.body_text(), json_body(4096));

    let tagged = get_with(addr, "/tagged", Some("gzip"));
    assert_eq!(tagged.header("content-encoding"), Some("gzip"));
    assert_eq!(
        tagged.header("etag"),
        Some("W/\"v1\""),
        "a strong ETag is weakened"
    );
}

#[test]
fn a_compressed_event_stream_still_arrives_event_by_event() {
    let server = start(test_config(), |_| {
        router().around(Compression::new().layer())
    });
    for coding in ["zstd", "br"] {
        let started = Instant::now();
        let response = ureq::get(&format!("http://{}/events", server.addr()))
            .set("accept-encoding", coding)
            .call()
            .expect("GET /events");
        assert_eq!(response.header("content-encoding"), Some(coding));
        assert_eq!(response.content_type(), "text/event-stream");
        let reader: Box<dyn Read> = match coding {
            "zstd" => Box::new(zstd::stream::read::Decoder::new(response.into_reader()).unwrap()),
            _ => Box::new(brotli::Decompressor::new(response.into_reader(), 4096)),
        };
        let mut arrivals = Vec::new();
        let mut events = Vec::new();
        for line in BufReader::new(reader).lines() {
            let line = line.expect("decodes");
            if let Some(data) = line.strip_prefix("data: ") {
                arrivals.push(started.elapsed());
                events.push(data.to_string());
            }
        }
        assert_eq!(events, ["tick 0", "tick 1", "tick 2", "tick 3"], "{coding}");
        // Each event was flushed through the encoder when produced (4 x 150 ms): the
        // events arrive spread over the stream's life, not at once at its end. The first
        // one's bound is liveness only (a debug build's encoder set-up on a loaded CI
        // machine has taken 1.4 s); the spread is what shows the flush.
        assert!(
            arrivals[0] < Duration::from_secs(5),
            "{coding}: first event took {:?}",
            arrivals[0]
        );
        assert!(
            arrivals[3] - arrivals[0] >= Duration::from_millis(300),
            "{coding}: events arrived at {arrivals:?}"
        );
        assert!(
            arrivals[1] - arrivals[0] >= Duration::from_millis(75),
            "{coding}: the first two events arrived together: {arrivals:?}"
        );
    }
}

#[test]
fn a_file_body_is_sent_as_it_is() {
    let path = std::env::temp_dir().join(format!("ringpin-compress-{}.txt", std::process::id()));
    std::fs::write(&path, json_body(4096)).expect("temp file");
    let served = path.clone();
    let server = start(test_config(), move |_| {
        let served = served.clone();
        Router::new()
            .route(
                "/file",
                get(move |_r: Request| {
                    let served = served.clone();
                    async move {
                        let file = std::fs::File::open(&served).expect("open");
                        let len = file.metadata().expect("metadata").len();
                        Response::new(200)
                            .with_content_type("text/plain")
                            .with_file(std::rc::Rc::new(file), 0, len)
                    }
                }),
            )
            .around(Compression::new().layer())
    });
    let reply = get_with(server.addr(), "/file", Some("gzip, br, zstd"));
    std::fs::remove_file(&path).ok();
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-encoding"),
        None,
        "sendfile bodies stay plain"
    );
    assert_eq!(reply.body_text(), json_body(4096));
}
