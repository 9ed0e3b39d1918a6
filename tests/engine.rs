//! The engine over real TCP: the hello routes, keep-alive, pipelining, HTTP/1.0, close,
//! shards and pinning.

mod common;

use std::collections::HashSet;
use std::io::Write;

use common::{answer_closes, connect, exchange, start, start_hello, test_config, Replies};
use ringpin::{current_shard, Response};

#[test]
fn get_root_with_raw_bytes() {
    let server = start_hello();
    let reply = exchange(server.addr(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").expect("reply");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"Hello, World!");
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(reply.header("content-length"), Some("13"));
    let date = reply.header("date").expect("Date header");
    assert!(httpdate::parse_http_date(date).is_ok(), "bad Date {date:?}");
    assert_eq!(reply.header("connection"), None);
    server.shutdown();
    server.join().expect("clean stop");
}

#[test]
fn routes_with_a_real_client() {
    let server = start_hello();
    let base = format!("http://{}", server.addr());
    let agent = ureq::AgentBuilder::new().build();

    let root = agent.get(&format!("{base}/")).call().expect("GET /");
    assert_eq!(root.status(), 200);
    assert_eq!(root.into_string().expect("body"), "Hello, World!");

    let json = agent
        .get(&format!("{base}/json"))
        .call()
        .expect("GET /json");
    assert_eq!(json.status(), 200);
    assert_eq!(json.content_type(), "application/json");
    assert_eq!(
        json.into_string().expect("body"),
        r#"{"message":"Hello, World!"}"#
    );

    let echo = agent
        .post(&format!("{base}/echo"))
        .send_bytes(b"ping pong")
        .expect("POST /echo");
    assert_eq!(echo.into_string().expect("body"), "ping pong");

    // A reader without a known length makes ureq send the body chunked.
    let payload = vec![b'z'; 100_000];
    let chunked = agent
        .post(&format!("{base}/echo"))
        .send(&payload[..])
        .expect("chunked POST /echo");
    let mut echoed = Vec::new();
    std::io::Read::read_to_end(&mut chunked.into_reader(), &mut echoed).expect("body");
    assert_eq!(echoed, payload);

    match agent.get(&format!("{base}/missing")).call() {
        Err(ureq::Error::Status(404, _)) => {}
        other => panic!("expected 404, got {other:?}"),
    }
    server.shutdown();
    server.join().expect("clean stop");
}

#[test]
fn echo_with_length_and_chunked_raw() {
    let server = start_hello();
    let reply = exchange(
        server.addr(),
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    )
    .expect("reply");
    assert_eq!((reply.status, reply.body_text().as_str()), (200, "hello"));

    let reply = exchange(
        server.addr(),
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n1;ext=\"v\"\r\n \r\n6\r\nworld!\r\n0\r\nTrailer-Field: 1\r\n\r\n",
    )
    .expect("reply");
    assert_eq!(
        (reply.status, reply.body_text().as_str()),
        (200, "hello world!")
    );
}

#[test]
fn keep_alive_reuses_one_connection() {
    let server = start_hello();
    let mut replies = Replies::new(connect(server.addr()));
    for i in 0..20 {
        let path = if i % 2 == 0 { "/" } else { "/json" };
        replies.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        let reply = replies.next().expect("reply on the same connection");
        assert_eq!(reply.status, 200, "request {i}");
    }
}

#[test]
fn sixteen_pipelined_requests_in_one_write() {
    let server = start_hello();
    let mut replies = Replies::new(connect(server.addr()));
    let mut batch = Vec::new();
    for i in 0..16 {
        if i % 4 == 3 {
            batch.extend_from_slice(
                format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{i:02}")
                    .as_bytes(),
            );
        } else {
            batch.extend_from_slice(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        }
    }
    replies.send(&batch);
    for i in 0..16 {
        let reply = replies.next().expect("all 16 replies");
        let expected = if i % 4 == 3 {
            format!("{i:02}")
        } else {
            "Hello, World!".to_string()
        };
        assert_eq!(reply.body_text(), expected, "reply {i} in order");
    }
}

#[test]
fn http10_closes_unless_keep_alive_is_asked() {
    let server = start_hello();
    let mut replies = answer_closes(server.addr(), b"GET / HTTP/1.0\r\n\r\n", 200);
    assert!(replies.closed(), "HTTP/1.0 without keep-alive closes");

    let mut replies = Replies::new(connect(server.addr()));
    for _ in 0..3 {
        replies.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let reply = replies.next().expect("reply");
        assert_eq!(reply.header("connection"), Some("keep-alive"));
    }
}

#[test]
fn connection_close_is_honoured_and_nothing_after_it_runs() {
    let server = start_hello();
    let mut replies = Replies::new(connect(server.addr()));
    replies.send(
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n\
          GET /json HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let reply = replies.next().expect("reply");
    assert_eq!(reply.body, b"Hello, World!");
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(replies.closed(), "the request after close is not answered");
}

#[test]
fn head_gets_length_without_body() {
    let server = start_hello();
    let mut replies = Replies::new(connect(server.addr()));
    replies.head_request = true;
    replies.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    let reply = replies.next().expect("reply");
    assert_eq!(reply.header("content-length"), Some("13"));
    assert!(reply.body.is_empty());
    // The next response on the connection starts right after the head: no stray body bytes.
    replies.head_request = false;
    replies.send(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(replies.next().expect("reply").status, 200);
}

#[test]
fn malformed_request_gets_400_and_close_then_next_connection_works() {
    let server = start_hello();
    let bad =
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert!(answer_closes(server.addr(), bad, 400).closed());
    let reply = exchange(server.addr(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").expect("reply");
    assert_eq!(reply.status, 200);
}

#[test]
fn connections_spread_over_shards() {
    let cpus = ringpin::affinity_mask().expect("mask");
    assert!(
        cpus.len() >= 2,
        "this test needs at least two CPUs in the mask, got {cpus:?}"
    );
    let server = start(test_config(), |_| {
        |_req: ringpin::Request| async {
            let shard = current_shard().map(|s| s.id).unwrap_or(usize::MAX);
            Response::text(shard.to_string())
        }
    });
    assert_eq!(server.shards().len(), cpus.len());
    let mut seen = HashSet::new();
    for _ in 0..64 {
        let reply = exchange(server.addr(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").expect("reply");
        seen.insert(reply.body_text());
    }
    assert!(
        seen.len() >= 2,
        "all 64 connections landed on one shard: {seen:?}"
    );
    assert!(
        !seen.contains(&usize::MAX.to_string()),
        "handler ran off a shard"
    );
}

#[test]
fn every_shard_thread_is_pinned_to_its_cpu() {
    let server = start_hello();
    let expected: HashSet<String> = server.shards().iter().map(|s| s.cpu.to_string()).collect();
    let mut pinned = HashSet::new();
    for task in std::fs::read_dir("/proc/self/task").expect("tasks") {
        let task = task.expect("task").path();
        let name = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if !name.trim().starts_with("ringpin-shard-") {
            continue;
        }
        // Another test's server may be starting right now: its thread is named before its
        // executor pins it. Give such a thread a moment; a thread that stays unpinned fails.
        let mut allowed = String::new();
        for _ in 0..50 {
            let Ok(status) = std::fs::read_to_string(task.join("status")) else {
                break; // the thread exited (another test's server stopped)
            };
            allowed = status
                .lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .expect("Cpus_allowed_list")
                .trim()
                .to_string();
            if allowed.parse::<usize>().is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if allowed.is_empty() {
            continue;
        }
        assert!(
            allowed.parse::<usize>().is_ok(),
            "shard thread {} may run on {allowed}, not one CPU",
            task.display()
        );
        pinned.insert(allowed);
    }
    assert_eq!(pinned, expected, "one pinned thread per shard CPU");
}

#[test]
fn bind_conflict_is_an_error_not_a_panic() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let config = test_config().with_addr(taken.local_addr().expect("addr"));
    let err = match ringpin::Server::new(config).serve(|_| common::hello_example::hello) {
        Err(e) => e,
        Ok(_) => panic!("binding a taken port must fail"),
    };
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    let _ = std::io::stderr().write_all(format!("bind error as reported: {err}\n").as_bytes());
}

#[test]
fn cpu_outside_mask_is_refused() {
    let config = test_config().with_cpus(vec![4095]);
    match ringpin::Server::new(config).serve(|_| common::hello_example::hello) {
        Err(e) => assert!(e.to_string().contains("CPU 4095"), "{e}"),
        Ok(_) => panic!("CPU 4095 cannot be in the mask here"),
    }
}

#[test]
fn shutdown_drains_and_join_returns() {
    let server = start_hello();
    let addr = server.addr();
    let mut replies = Replies::new(connect(addr));
    replies.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(replies.next().expect("reply").status, 200);
    server.shutdown();
    server.join().expect("clean stop");
    assert!(
        replies.closed(),
        "idle keep-alive connection closed by the drain"
    );
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "listener closed"
    );
}

#[test]
fn a_pipeline_of_large_responses_is_written_in_bounded_batches() {
    use ringpin::{Limits, Session};
    let body = vec![b'q'; 16 * 1024];
    let mut one = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    one.extend_from_slice(&body);
    let pipeline = one.repeat(40);

    // Without sockets: each batch stops once 256 KiB of responses wait to be written.
    let mut session = Session::new(&Limits::default());
    session.receive(&pipeline);
    let handler = common::hello_example::hello;
    let mut batches = Vec::new();
    let mut total = 0;
    while total < 40 {
        let answered = futures_lite::future::block_on(session.answer(&handler, false));
        assert!(answered > 0, "progress in every batch");
        assert!(
            session.output().len() < 256 * 1024 + one.len() + 512,
            "batch bounded by bytes"
        );
        batches.push(answered);
        total += answered;
        session.clear_output();
    }
    assert!(
        batches.len() > 1,
        "640 KiB of responses took several batches: {batches:?}"
    );

    // Over TCP: all 40 arrive, in order, from one write of the whole pipeline.
    let server = common::start_hello();
    let mut replies = Replies::new(connect(server.addr()));
    let writer = {
        let mut stream = replies.stream.try_clone().expect("clone");
        std::thread::spawn(move || {
            std::io::Write::write_all(&mut stream, &pipeline).expect("write")
        })
    };
    for i in 0..40 {
        let reply = replies.next().expect("every response");
        assert_eq!(reply.body.len(), body.len(), "response {i}");
    }
    writer.join().expect("writer");
}
