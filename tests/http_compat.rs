//! The `http` crate's types on ringpin's: typed method and status, and conversions both
//! ways, checked on requests a real client sent and on what it received back.

mod common;

use bytes::Bytes;
use common::{exchange, start, test_config};
use ringpin::{get, header, post, HeaderValue, Method, Request, Response, Router, StatusCode};

fn router() -> Router {
    Router::new()
        .route(
            "/echo",
            post(|request: Request| async move {
                assert_eq!(request.http_method(), Method::POST);
                let converted = http::Request::try_from(request).expect("converts");
                let summary = format!(
                    "{} {} {:?} x-a={:?} body={}",
                    converted.method(),
                    converted.uri(),
                    converted.version(),
                    converted.headers().get("x-a"),
                    String::from_utf8_lossy(converted.body()),
                );
                // An http::Response becomes the engine's.
                let answer = http::Response::builder()
                    .status(StatusCode::CREATED)
                    .header(header::CACHE_CONTROL, "no-store")
                    .header(header::CONTENT_TYPE, "text/plain")
                    .header(header::CONTENT_LENGTH, "999")
                    .body(Bytes::from(summary))
                    .expect("builds");
                Response::from(answer)
            }),
        )
        .route(
            "/typed",
            get(|request: Request| async move {
                let uri = request.uri().expect("a URI");
                Response::text(format!("{} {:?}", uri.path(), uri.query()))
                    .with_status(StatusCode::ACCEPTED)
                    .with_http_header(header::ETAG, HeaderValue::from_static("\"a\""))
            }),
        )
        .route("/gone", get(|_r: Request| async { StatusCode::GONE }))
        .route(
            "/tuple",
            get(|_r: Request| async { (StatusCode::IM_A_TEAPOT, "short and stout") }),
        )
}

#[test]
fn requests_and_responses_convert_to_and_from_the_http_crate() {
    let server = start(test_config(), |_| router());
    let addr = server.addr();

    let echo = exchange(
        addr,
        b"POST /echo?x=1 HTTP/1.1\r\nHost: h\r\nX-A: one\r\nContent-Length: 5\r\n\r\nhello",
    )
    .expect("answer");
    assert_eq!(echo.status, 201);
    assert_eq!(
        echo.body_text(),
        r#"POST /echo?x=1 HTTP/1.1 x-a=Some("one") body=hello"#
    );
    assert_eq!(echo.header("cache-control"), Some("no-store"));
    assert_eq!(echo.header("content-type"), Some("text/plain"));
    assert_eq!(
        echo.header("content-length"),
        Some(echo.body.len().to_string().as_str()),
        "the engine owns Content-Length"
    );

    let typed = exchange(addr, b"GET /typed?q=a%20b HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    assert_eq!(typed.status, 202);
    assert_eq!(typed.body_text(), r#"/typed Some("q=a%20b")"#);
    assert_eq!(typed.header("etag"), Some("\"a\""));

    let gone = exchange(addr, b"GET /gone HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    assert_eq!(gone.status, 410);
    let tuple = exchange(addr, b"GET /tuple HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    assert_eq!(
        (tuple.status, tuple.body_text().as_str()),
        (418, "short and stout")
    );
}

#[test]
fn an_http_request_becomes_what_the_parser_would_have_built() {
    let request = http::Request::builder()
        .method(Method::PUT)
        .uri("http://api.example/items/7?draft=1")
        .header("x-b", "two")
        .body(Bytes::from_static(b"{}"))
        .unwrap();
    let request = Request::try_from(request).expect("converts");
    assert_eq!(request.method(), "PUT");
    assert_eq!(request.path(), "/items/7");
    assert_eq!(request.query(), Some("draft=1"));
    assert_eq!(request.header("host"), Some(&b"api.example"[..]));
    assert_eq!(request.header("x-b"), Some(&b"two"[..]));
    assert_eq!(request.header("content-length"), Some(&b"2"[..]));
    assert_eq!(&request.body()[..], b"{}");

    let response =
        http::Response::<Bytes>::try_from(Response::text("hi").with_status(StatusCode::NOT_FOUND))
            .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.headers().get(header::CONTENT_TYPE).unwrap(),
        "text/plain; charset=utf-8"
    );
    let streamed = Response::stream("text/plain", futures_lite::stream::empty());
    assert!(http::Response::<Bytes>::try_from(streamed).is_err());
}
