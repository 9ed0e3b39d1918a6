//! The CORS layer over TCP: preflights answered by the layer, simple requests decorated,
//! disallowed origins left without CORS fields, credentials never with `*`.

mod common;

use common::{exchange, start, test_config, Reply};
use ringpin::{get, Cors, HandlerExt, Request, Router};

fn send(addr: std::net::SocketAddr, lines: &[&str]) -> Reply {
    let mut request = lines.join("\r\n");
    request.push_str("\r\n\r\n");
    exchange(addr, request.as_bytes()).expect("a response")
}

/// `method path` from `origin`, with the `extra` field lines.
fn from_origin(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    origin: &str,
    extra: &[&str],
) -> Reply {
    let request_line = format!("{method} {path} HTTP/1.1");
    let origin = format!("Origin: {origin}");
    let mut lines = vec![request_line.as_str(), "Host: x", &origin];
    lines.extend_from_slice(extra);
    send(addr, &lines)
}

/// A preflight for `method` on `path` from `origin`, asking for `headers` if any.
fn preflight(
    addr: std::net::SocketAddr,
    path: &str,
    origin: &str,
    method: &str,
    headers: Option<&str>,
) -> Reply {
    let method = format!("Access-Control-Request-Method: {method}");
    let headers = headers.map(|h| format!("Access-Control-Request-Headers: {h}"));
    let mut extra = vec![method.as_str()];
    extra.extend(headers.as_deref());
    from_origin(addr, "OPTIONS", path, origin, &extra)
}

#[test]
fn preflight_is_answered_by_the_layer_and_simple_requests_are_decorated() {
    let server = start(test_config(), |_| {
        Router::new()
            .route(
                "/api",
                get(|_r: Request| async { "data" })
                    .on("OPTIONS", |_r: Request| async { "the handler saw OPTIONS" }),
            )
            .around(
                Cors::new()
                    .with_allowed_origins(["https://app.example"])
                    .with_allowed_methods(["GET", "POST"])
                    .with_allowed_headers(["content-type", "x-token"])
                    .with_exposed_headers(["x-total"])
                    .with_max_age(600)
                    .layer(),
            )
    });
    let addr = server.addr();

    // A preflight from an allowed origin: 204 with the policy, the handler not reached.
    let pre = preflight(
        addr,
        "/api",
        "https://app.example",
        "POST",
        Some("content-type"),
    );
    assert_eq!(pre.status, 204);
    assert_eq!(
        pre.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        pre.header("access-control-allow-methods"),
        Some("GET, POST")
    );
    assert_eq!(
        pre.header("access-control-allow-headers"),
        Some("content-type, x-token")
    );
    assert_eq!(pre.header("access-control-max-age"), Some("600"));
    assert_eq!(pre.header("access-control-allow-credentials"), None);
    assert!(
        pre.header("vary").is_some_and(|v| v.contains("origin")),
        "{pre:?}"
    );
    assert_eq!(
        pre.body_text(),
        "",
        "the handler did not answer the preflight"
    );

    // A preflight from another origin: 204 without any CORS field (the browser refuses).
    let denied = preflight(addr, "/api", "https://evil.example", "POST", None);
    assert_eq!(denied.status, 204);
    assert_eq!(denied.header("access-control-allow-origin"), None);
    assert_eq!(denied.header("access-control-allow-methods"), None);

    // An OPTIONS without Access-Control-Request-Method is no preflight: the handler answers.
    let plain_options = from_origin(addr, "OPTIONS", "/api", "https://app.example", &[]);
    assert_eq!(plain_options.body_text(), "the handler saw OPTIONS");

    // A simple request from the allowed origin: the handler's answer, decorated.
    let simple = from_origin(addr, "GET", "/api", "https://app.example", &[]);
    assert_eq!((simple.status, simple.body_text().as_str()), (200, "data"));
    assert_eq!(
        simple.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        simple.header("access-control-expose-headers"),
        Some("x-total")
    );
    assert_eq!(simple.header("vary"), Some("origin"));

    // From another origin: answered (CORS is enforced by the browser) without CORS fields.
    let other = from_origin(addr, "GET", "/api", "https://evil.example", &[]);
    assert_eq!((other.status, other.body_text().as_str()), (200, "data"));
    assert_eq!(other.header("access-control-allow-origin"), None);

    // No Origin: not a CORS request; only Vary is added.
    let same_origin = send(addr, &["GET /api HTTP/1.1", "Host: x"]);
    assert_eq!(same_origin.body_text(), "data");
    assert_eq!(same_origin.header("access-control-allow-origin"), None);
    assert_eq!(same_origin.header("vary"), Some("origin"));
}

#[test]
fn any_origin_with_credentials_echoes_the_origin_never_a_star() {
    let server = start(test_config(), |_| {
        Router::new()
            .route("/", get(|_r: Request| async { "ok" }))
            .around(
                Cors::new()
                    .with_any_origin()
                    .with_any_header()
                    .with_credentials(true)
                    .layer(),
            )
    });
    let addr = server.addr();
    let pre = preflight(addr, "/", "http://localhost:3000", "PUT", Some("x-a, x-b"));
    assert_eq!(pre.status, 204);
    assert_eq!(
        pre.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    assert_eq!(
        pre.header("access-control-allow-headers"),
        Some("x-a, x-b"),
        "mirrored"
    );
    assert_eq!(pre.header("access-control-allow-credentials"), Some("true"));
    assert!(pre.header("vary").is_some_and(|v| v.contains("origin")));

    let simple = from_origin(addr, "GET", "/", "https://b.example", &[]);
    assert_eq!(
        simple.header("access-control-allow-origin"),
        Some("https://b.example")
    );
    assert_eq!(
        simple.header("access-control-allow-credentials"),
        Some("true")
    );
}

#[test]
fn any_origin_without_credentials_is_a_star_and_does_not_vary() {
    let server = start(test_config(), |_| {
        Router::new()
            .route("/", get(|_r: Request| async { "ok" }))
            .around(Cors::permissive().layer())
    });
    let simple = from_origin(server.addr(), "GET", "/", "https://c.example", &[]);
    assert_eq!(simple.header("access-control-allow-origin"), Some("*"));
    assert_eq!(simple.header("vary"), None);
    let pre = preflight(server.addr(), "/", "https://c.example", "DELETE", None);
    assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
    assert_eq!(pre.header("access-control-allow-headers"), Some("*"));
    assert_eq!(
        pre.header("access-control-allow-methods"),
        Some("GET, HEAD, POST, PUT, PATCH, DELETE")
    );
}
