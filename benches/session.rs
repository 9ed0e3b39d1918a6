//! The engine's per-request CPU without sockets: decode, handler, encode through a
//! `Session`, on realistic requests. `cargo bench --bench session`
//!
//! Throughput is in request bytes, so parse speed reads as GiB/s next to httparse's own
//! benches.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures_lite::future::block_on;
use ringpin::{get, post, Limits, Request, Response, Router, Session};

/// A minimal GET, as load generators send.
const SMALL_GET: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost:8080\r\n\r\n";

/// A browser's GET: 10 fields, 500-odd bytes.
const BROWSER_GET: &[u8] = b"GET /static/app/index.html?v=42&lang=en HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Referer: https://www.example.com/\r\n\
Connection: keep-alive\r\n\
Cookie: session=0123456789abcdef0123456789abcdef; theme=dark; consent=yes\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Cache-Control: max-age=0\r\n\r\n";

/// A JSON POST with Content-Length.
const JSON_POST: &[u8] = b"POST /users HTTP/1.1\r\nHost: api.example.com\r\n\
Content-Type: application/json\r\nContent-Length: 47\r\n\r\n\
{\"name\":\"Ada Lovelace\",\"email\":\"ada@example.com\"}";

/// The same body, chunked in three pieces with an extension.
const CHUNKED_POST: &[u8] = b"POST /users HTTP/1.1\r\nHost: api.example.com\r\n\
Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
10\r\n{\"name\":\"Ada Lov\r\n10;src=bench\r\nelace\",\"email\":\"\r\nf\r\nada@example.com\r\n1\r\n}\r\n0\r\n\r\n";

/// Runs `batch` copies of `request` through a session per iteration.
fn bench_requests(c: &mut Criterion, group: &str, cases: &[(&str, &[u8])], router: fn() -> Router) {
    let mut g = c.benchmark_group(group);
    for &(name, request) in cases {
        let batch = 16;
        let input = request.repeat(batch);
        g.throughput(Throughput::Bytes(input.len() as u64));
        let handler = router();
        let mut session = Session::new(&Limits::default());
        g.bench_with_input(BenchmarkId::from_parameter(name), &input, |b, input| {
            b.iter(|| {
                session.receive(input);
                let answered = block_on(session.answer(&handler, false));
                assert_eq!(answered, batch);
                session.clear_output();
            })
        });
    }
    g.finish();
}

fn routes() -> Router {
    Router::new()
        .route(
            "/",
            get(|_r: Request| async { Response::text("Hello, World!") }),
        )
        .route(
            "/static/*path",
            get(|_r: Request| async { Response::text("file") }),
        )
        .route(
            "/users",
            post(|r: Request| async move { Response::bytes(r.into_body()) }),
        )
}

fn decode_answer_encode(c: &mut Criterion) {
    bench_requests(
        c,
        "session_16_pipelined",
        &[
            ("small_get", SMALL_GET),
            ("browser_get", BROWSER_GET),
            ("json_post_length", JSON_POST),
            ("json_post_chunked", CHUNKED_POST),
        ],
        routes,
    );
}

/// Router lookup cost: a table of 50 routes, matched at its start, middle and end.
fn router_lookup(c: &mut Criterion) {
    fn big_router() -> Router {
        let mut router = Router::new();
        for i in 0..25 {
            router = router
                .route(
                    &format!("/api/v1/resource{i}"),
                    get(|_r: Request| async { "list" }),
                )
                .route(
                    &format!("/api/v1/resource{i}/:id"),
                    get(|_r: Request| async { "one" }),
                );
        }
        router
    }
    let cases: Vec<(String, Vec<u8>)> = [
        "/api/v1/resource0",
        "/api/v1/resource12/42",
        "/api/v1/resource24/7",
    ]
    .iter()
    .map(|p| {
        (
            p.to_string(),
            format!("GET {p} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes(),
        )
    })
    .collect();
    let borrowed: Vec<(&str, &[u8])> = cases
        .iter()
        .map(|(n, r)| (n.as_str(), r.as_slice()))
        .collect();
    bench_requests(c, "router_50_routes", &borrowed, big_router);
}

criterion_group!(benches, decode_answer_encode, router_lookup);
criterion_main!(benches);
