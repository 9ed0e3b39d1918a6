//! Typed extractors over TCP: handlers with `Path`, `Query`, `Json`, `Form` and `State`
//! arguments, rejections that answer 400/415/422 with JSON bodies, and axum 0.8's `{id}`
//! route syntax beside `:id`.

mod common;

use std::cell::Cell;
use std::rc::Rc;

use common::{connect, exchange, start, test_config, Replies, Reply};
use ringpin::extract::{extract, Form, Path, Query, State};
use ringpin::{get, post, Json, Method, Request, Router, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Page {
    page: u32,
    #[serde(default)]
    sort: Option<String>,
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
    age: u8,
}

#[derive(Deserialize)]
struct Ids {
    org: String,
    id: u64,
}

/// Per-shard state: a counter no other shard sees.
#[derive(Clone)]
struct Hits(Rc<Cell<u64>>);

async fn user(Path(id): Path<u64>, Query(page): Query<Page>) -> Json<Value> {
    Json(json!({"id": id, "page": page.page, "sort": page.sort}))
}

async fn member(Path(ids): Path<Ids>) -> String {
    format!("{}/{}", ids.org, ids.id)
}

async fn pair(Path((org, id)): Path<(String, u32)>) -> String {
    format!("{org}+{id}")
}

async fn create(State(hits): State<Hits>, Json(new): Json<NewUser>) -> (StatusCode, Json<Value>) {
    hits.0.set(hits.0.get() + 1);
    (
        StatusCode::CREATED,
        Json(json!({"name": new.name, "age": new.age, "hits": hits.0.get()})),
    )
}

async fn login(method: Method, Form(form): Form<NewUser>) -> String {
    format!("{method} {} {}", form.name, form.age)
}

async fn rest(Path(rest): Path<String>) -> String {
    rest
}

fn router() -> Router {
    Router::new()
        .route("/users/{id}", get(extract(user)))
        .route("/orgs/{org}/members/{id}", get(extract(member)))
        .route("/pairs/:org/:id", get(extract(pair)))
        .route("/users", post(extract(create)))
        .route("/login", post(extract(login)))
        .route("/files/{*rest}", get(extract(rest)))
        .route(
            "/method-style/:id",
            get(|request: Request| async move {
                match request.path_params::<u32>() {
                    Ok(id) => format!("id {id}"),
                    Err(e) => format!("rejected with {}", e.status()),
                }
            }),
        )
        .with_state(Hits(Rc::new(Cell::new(0))))
}

fn send(addr: std::net::SocketAddr, head: &str, body: &str) -> Reply {
    let request = format!(
        "{head}\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    exchange(addr, request.as_bytes()).expect("a response")
}

fn json_of(reply: &Reply) -> Value {
    serde_json::from_slice(&reply.body).unwrap_or_else(|e| panic!("{e}: {}", reply.body_text()))
}

#[test]
fn extractors_fill_handler_arguments() {
    let server = start(test_config(), |_| router());
    let addr = server.addr();

    let found = send(addr, "GET /users/42?page=3&sort=name HTTP/1.1", "");
    assert_eq!(found.status, 200);
    assert_eq!(
        json_of(&found),
        json!({"id": 42, "page": 3, "sort": "name"})
    );

    let by_name = send(addr, "GET /orgs/acme%20inc/members/7 HTTP/1.1", "");
    assert_eq!(
        by_name.body_text(),
        "acme inc/7",
        "a struct by name, decoded"
    );
    assert_eq!(send(addr, "GET /pairs/a/9 HTTP/1.1", "").body_text(), "a+9");
    assert_eq!(
        send(addr, "GET /files/a/b.txt HTTP/1.1", "").body_text(),
        "a/b.txt"
    );
    assert_eq!(
        send(addr, "GET /method-style/5 HTTP/1.1", "").body_text(),
        "id 5"
    );

    // Two creates on one connection reach one shard: its own counter counts both.
    let body = r#"{"name":"ada","age":36}"#;
    let create = format!(
        "POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut replies = Replies::new(connect(addr));
    replies.send(create.repeat(2).as_bytes());
    let first = replies.next().expect("first");
    let second = replies.next().expect("second");
    assert_eq!(first.status, 201);
    assert_eq!(
        json_of(&first),
        json!({"name": "ada", "age": 36, "hits": 1})
    );
    assert_eq!(json_of(&second)["hits"], 2);

    let form = send(
        addr,
        "POST /login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded",
        "name=grace+hopper&age=85",
    );
    assert_eq!(form.body_text(), "POST grace hopper 85");
}

#[test]
fn rejections_answer_with_their_status_and_a_json_body() {
    let server = start(test_config(), |_| router());
    let addr = server.addr();
    let json = "POST /users HTTP/1.1\r\nContent-Type: application/json";
    let form = "POST /login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded";
    let cases: &[(&str, &str, u16, &str)] = &[
        (
            "GET /users/abc?page=1 HTTP/1.1",
            "",
            400,
            "invalid path parameter",
        ),
        (
            "GET /users/1?page=x HTTP/1.1",
            "",
            400,
            "invalid query string",
        ),
        ("GET /users/1 HTTP/1.1", "", 400, "invalid query string"),
        (
            "GET /pairs/a/-1 HTTP/1.1",
            "",
            400,
            "invalid path parameter",
        ),
        (
            "GET /orgs/%FF/members/1 HTTP/1.1",
            "",
            400,
            "invalid path parameter",
        ),
        (
            "POST /users HTTP/1.1",
            r#"{"name":"a","age":1}"#,
            415,
            "unsupported media type",
        ),
        (json, r#"{"name":"a""#, 400, "malformed JSON"),
        (
            json,
            r#"{"name":"a","age":"old"}"#,
            422,
            "invalid JSON body",
        ),
        (json, r#"{"name":"a","age":300}"#, 422, "invalid JSON body"),
        (
            "POST /login HTTP/1.1",
            "name=a&age=1",
            415,
            "unsupported media type",
        ),
        (form, "name=a&age=many", 400, "invalid form body"),
    ];
    for &(head, body, status, error) in cases {
        let reply = send(addr, head, body);
        assert_eq!(reply.status, status, "{head} {body}: {}", reply.body_text());
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(json_of(&reply)["error"], error, "{head} {body}");
    }
    let method_style = send(addr, "GET /method-style/x HTTP/1.1", "");
    assert_eq!(method_style.body_text(), "rejected with 400");
}

#[test]
fn state_without_with_state_is_a_500_naming_the_type() {
    let server = start(test_config(), |_| {
        Router::new().route(
            "/",
            get(extract(|State(hits): State<Hits>| async move {
                hits.0.get().to_string()
            })),
        )
    });
    let reply = send(server.addr(), "GET / HTTP/1.1", "");
    assert_eq!(reply.status, 500);
    assert!(json_of(&reply)["detail"].as_str().unwrap().contains("Hits"));
}

#[test]
fn braced_and_colon_routes_are_the_same_route() {
    let server = start(test_config(), |_| {
        Router::new()
            .route(
                "/a/{id}",
                get(|r: Request| async move { format!("get {}", r.param("id").unwrap()) }),
            )
            .route(
                "/a/:id",
                post(|r: Request| async move { format!("post {}", r.param("id").unwrap()) }),
            )
    });
    let addr = server.addr();
    assert_eq!(send(addr, "GET /a/1 HTTP/1.1", "").body_text(), "get 1");
    assert_eq!(send(addr, "POST /a/2 HTTP/1.1", "").body_text(), "post 2");
}

#[test]
#[should_panic(expected = "whole segment")]
fn a_brace_inside_a_segment_is_refused_at_startup() {
    let _ = Router::new().route("/a/{id}.json", get(|_r: Request| async { "" }));
}

#[test]
fn state_given_before_the_routes_reaches_them_too() {
    let server =
        start(test_config(), |_| {
            Router::new()
            .with_state(7u32)
            .route(
                "/method",
                get(|r: Request| async move { r.state::<u32>().copied().unwrap_or(0).to_string() }),
            )
            .route("/arg", get(extract(|State(n): State<u32>| async move { (n * 2).to_string() })))
        });
    let addr = server.addr();
    assert_eq!(send(addr, "GET /method HTTP/1.1", "").body_text(), "7");
    assert_eq!(send(addr, "GET /arg HTTP/1.1", "").body_text(), "14");
}

async fn agent(
    ringpin::extract::TypedHeader(agent): ringpin::extract::TypedHeader<
        ringpin::headers::UserAgent,
    >,
    bearer: Option<
        ringpin::extract::TypedHeader<
            ringpin::headers::Authorization<ringpin::headers::authorization::Bearer>,
        >,
    >,
) -> ringpin::Response {
    let token = bearer.map_or("-".to_owned(), |b| b.0.token().to_owned());
    ringpin::Response::text(format!("{} {token}", agent.as_str())).with_typed_header(
        ringpin::headers::CacheControl::new()
            .with_no_store()
            .with_max_age(std::time::Duration::from_secs(5)),
    )
}

#[test]
fn typed_headers_parse_and_format_with_the_headers_crate() {
    let server = start(test_config(), |_| {
        Router::new().route("/agent", get(extract(agent)))
    });
    let addr = server.addr();
    let reply = exchange(
        addr,
        b"GET /agent HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8.5\r\nAuthorization: Bearer t0k3n\r\n\r\n",
    )
    .expect("reply");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body_text(), "curl/8.5 t0k3n");
    let cache = reply.header("cache-control").expect("cache-control");
    assert!(
        cache.contains("no-store") && cache.contains("max-age=5"),
        "{cache}"
    );
    // The optional one absent: fine.
    let reply = exchange(
        addr,
        b"GET /agent HTTP/1.1\r\nHost: x\r\nUser-Agent: ab\r\n\r\n",
    )
    .expect("reply");
    assert_eq!(reply.body_text(), "ab -");
    // The required one absent: 400 naming it.
    let reply = exchange(addr, b"GET /agent HTTP/1.1\r\nHost: x\r\n\r\n").expect("reply");
    assert_eq!(reply.status, 400);
    let body = json_of(&reply);
    assert_eq!(body["error"], "missing header", "{body}");
    assert_eq!(body["detail"], "user-agent", "{body}");
    // Present but not a Bearer token: the Option makes it None, not a 400.
    let reply = exchange(
        addr,
        b"GET /agent HTTP/1.1\r\nHost: x\r\nUser-Agent: ab\r\nAuthorization: Basic eDp5\r\n\r\n",
    )
    .expect("reply");
    assert_eq!(reply.body_text(), "ab -");
    server.shutdown();
    server.join().expect("join");
}
