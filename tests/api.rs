//! The application API over TCP with a real client: router, extractors, JSON errors, the
//! shard mesh, and the fastjson_api and cache_server examples' routes.

mod common;

use std::time::Duration;

use common::{cache_example, fastjson_example, start, test_config};
use ringpin::{get, Json, Mesh, Request, Response, Router};
use serde_json::{json, Value};

/// (status, headers lookup, body) of any response, 4xx/5xx included.
struct Answer {
    status: u16,
    body: String,
    allow: Option<String>,
    content_type: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

fn answer(result: Result<ureq::Response, ureq::Error>) -> Answer {
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    };
    let status = response.status();
    let allow = response.header("allow").map(str::to_string);
    let content_type = response.content_type().to_string();
    let body = response.into_string().expect("body");
    Answer {
        status,
        body,
        allow,
        content_type,
    }
}

/// Deletes `url` twice: 204 the first time, 404 once it is gone.
fn deletes_once(url: &str) {
    assert_eq!(answer(ureq::delete(url).call()).status, 204, "DELETE {url}");
    assert_eq!(
        answer(ureq::delete(url).call()).status,
        404,
        "DELETE {url} again"
    );
}

fn two_or_more_shards() -> Vec<usize> {
    let mask = ringpin::affinity_mask().expect("mask");
    assert!(
        mask.len() >= 2,
        "cross-shard tests need two CPUs in the mask, got {mask:?}"
    );
    mask
}

#[test]
fn router_matches_params_methods_head_options_and_404() {
    let server = start(test_config(), |_| {
        Router::new()
            .route("/", get(|_r: Request| async { "root" }))
            .route(
                "/users/:id",
                get(|r: Request| async move { format!("user {}", r.param("id").unwrap_or_default()) })
                    .delete(|_r: Request| async {}),
            )
            .route("/users/:id/posts/:post", get(|r: Request| async move {
                Json(json!({"id": r.param("id"), "post": r.param("post")}))
            }))
            .route("/users/me", get(|_r: Request| async { "static wins" }))
            .route("/files/*rest", get(|r: Request| async move {
                format!("file {}", r.param("rest").unwrap_or_default())
            }))
            .route("/search", get(|r: Request| async move {
                format!("q={} page={}", r.query_param("q").unwrap_or_default(), r.query_param("page").unwrap_or_default())
            }))
    });
    let base = format!("http://{}", server.addr());
    let agent = ureq::agent();
    let fetch =
        |method: &str, path: &str| answer(agent.request(method, &format!("{base}{path}")).call());

    assert_eq!(fetch("GET", "/").body, "root");
    assert_eq!(fetch("GET", "/users/42").body, "user 42");
    assert_eq!(
        fetch("GET", "/users/a%20b").body,
        "user a b",
        "params are percent-decoded"
    );
    assert_eq!(fetch("GET", "/users/me").body, "static wins");
    assert_eq!(
        fetch("GET", "/users/7/posts/9").json(),
        json!({"id": "7", "post": "9"})
    );
    assert_eq!(fetch("GET", "/files/a/b/c.txt").body, "file a/b/c.txt");
    assert_eq!(
        fetch("GET", "/search?q=hello+world%21&page=2").body,
        "q=hello world! page=2"
    );
    assert_eq!(fetch("DELETE", "/users/1").status, 204);

    let head = fetch("HEAD", "/users/42");
    assert_eq!(
        (head.status, head.body.as_str()),
        (200, ""),
        "HEAD answered by GET, no body"
    );
    let options = fetch("OPTIONS", "/users/42");
    assert_eq!(options.status, 204);
    assert_eq!(options.allow.as_deref(), Some("GET, DELETE, HEAD, OPTIONS"));
    let wrong = fetch("POST", "/users/42");
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.allow.as_deref(), Some("GET, DELETE, HEAD, OPTIONS"));
    assert_eq!(fetch("GET", "/users").status, 404);
    assert_eq!(
        fetch("GET", "/users/42/").status,
        404,
        "trailing slash is a different path"
    );
    assert_eq!(fetch("GET", "/nope").status, 404);
}

#[test]
fn fastjson_api_routes_and_errors() {
    let mesh = Mesh::new(64);
    let server = start(test_config(), move |info| {
        fastjson_example::app(info, &mesh)
    });
    let base = format!("http://{}", server.addr());
    // A fresh agent per request: a new connection each time, so requests land on both shards.
    let post = |body: &str, ct: &str| {
        answer(
            ureq::post(&format!("{base}/users"))
                .set("content-type", ct)
                .send_string(body),
        )
    };

    let mut ids = Vec::new();
    for i in 0..8 {
        let created = post(
            &format!(r#"{{"name":"user{i}","email":"u{i}@example.com"}}"#),
            "application/json",
        );
        assert_eq!(created.status, 201, "{}", created.body);
        let user = created.json();
        assert_eq!(user["name"], format!("user{i}"));
        ids.push(user["id"].as_u64().expect("numeric id"));
    }
    for &id in &ids {
        let shown = answer(ureq::get(&format!("{base}/users/{id}")).call());
        assert_eq!(shown.status, 200, "user {id} readable from any connection");
        assert_eq!(shown.json()["id"], id);
    }
    let list = answer(ureq::get(&format!("{base}/users")).call()).json();
    assert_eq!(list.as_array().map(Vec::len), Some(8));

    let id = ids[0];
    let updated = answer(
        ureq::put(&format!("{base}/users/{id}"))
            .set("content-type", "application/json")
            .send_string(r#"{"name":"renamed","email":"r@example.com"}"#),
    );
    assert_eq!(
        (updated.status, updated.json()["name"].clone()),
        (200, json!("renamed"))
    );
    deletes_once(&format!("{base}/users/{id}"));
    let gone = answer(ureq::get(&format!("{base}/users/{id}")).call());
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json()["error"], "user not found");
    let missing_put = answer(
        ureq::put(&format!("{base}/users/999999"))
            .set("content-type", "application/json")
            .send_string(r#"{"name":"x","email":"y"}"#),
    );
    assert_eq!(missing_put.status, 404);

    for (body, ct, status) in [
        (r#"{"name": "a", "#, "application/json", 400),
        (r#"not json"#, "application/json", 400),
        (r#"{"name":"a"}"#, "application/json", 422),
        (r#"{"name":1,"email":"e"}"#, "application/json", 422),
        (r#"{"name":"a","email":"b"}"#, "text/plain", 415),
    ] {
        let refused = post(body, ct);
        assert_eq!(refused.status, status, "{body} as {ct}: {}", refused.body);
        assert_eq!(refused.content_type, "application/json");
        assert!(refused.json()["error"].is_string());
    }
    let refused =
        answer(ureq::post(&format!("{base}/users")).send_string(r#"{"name":"a","email":"b"}"#));
    assert_eq!(refused.status, 415, "no Content-Type");

    let wrong = answer(ureq::request("PATCH", &format!("{base}/users")).call());
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.allow.as_deref(), Some("GET, POST, HEAD, OPTIONS"));
    assert!(wrong.json()["error"].is_string());
    let wrong = answer(ureq::post(&format!("{base}/users/1")).send_string("{}"));
    assert_eq!(wrong.status, 405);
    assert_eq!(
        wrong.allow.as_deref(),
        Some("GET, PUT, DELETE, HEAD, OPTIONS")
    );
    assert!(answer(ureq::get(&format!("{base}/elsewhere")).call()).json()["error"].is_string());
}

fn cache_server(max_bytes: usize) -> ringpin::ServerHandle {
    let mesh = Mesh::new(64);
    start(test_config(), move |info| {
        cache_example::app(info, &mesh, max_bytes)
    })
}

fn stats(base: &str) -> Value {
    answer(ureq::get(&format!("{base}/stats")).call()).json()
}

fn sum(stats: &Value, field: &str) -> u64 {
    stats["shards"]
        .as_array()
        .expect("shards array")
        .iter()
        .map(|s| s[field].as_u64().expect("counter"))
        .sum()
}

#[test]
fn cache_values_cross_shards_through_the_mesh() {
    let shards = two_or_more_shards().len();
    let server = cache_server(64 * 1024 * 1024);
    let base = format!("http://{}", server.addr());
    for i in 0..40 {
        let put = answer(ureq::put(&format!("{base}/kv/key{i}")).send_string(&format!("value{i}")));
        assert_eq!(put.status, 201);
    }
    assert_eq!(
        answer(ureq::put(&format!("{base}/kv/key0")).send_string("again")).status,
        204
    );
    for i in 1..40 {
        // New connections: each lands on whichever shard the kernel picks.
        let got = answer(ureq::get(&format!("{base}/kv/key{i}")).call());
        assert_eq!((got.status, got.body), (200, format!("value{i}")));
    }
    assert_eq!(
        answer(ureq::get(&format!("{base}/kv/key0")).call()).body,
        "again"
    );
    deletes_once(&format!("{base}/kv/key0"));
    assert_eq!(
        answer(ureq::get(&format!("{base}/kv/key0")).call()).status,
        404
    );

    let stats = stats(&base);
    assert_eq!(stats["shards"].as_array().map(Vec::len), Some(shards));
    assert_eq!(sum(&stats, "keys"), 39);
    assert!(
        sum(&stats, "forwarded") > 0,
        "some requests crossed shards: {stats}"
    );
    assert!(
        stats["shards"]
            .as_array()
            .expect("array")
            .iter()
            .all(|s| s["keys"].as_u64() > Some(0)),
        "keys are spread over every shard: {stats}"
    );
    assert_eq!(sum(&stats, "hits"), 40);
    assert!(sum(&stats, "misses") >= 1);
}

#[test]
fn cache_evicts_least_recently_used_past_its_budget() {
    let shards = two_or_more_shards().len();
    // Each entry costs key + value + 64 bytes; 1,000 bytes a shard holds a few 100-byte values.
    let server = cache_server(1000 * shards);
    let base = format!("http://{}", server.addr());
    for i in 0..60 {
        answer(ureq::put(&format!("{base}/kv/k{i}")).send_string(&"x".repeat(100)));
    }
    let stats = stats(&base);
    assert!(sum(&stats, "evictions") > 0, "{stats}");
    for shard in stats["shards"].as_array().expect("array") {
        assert!(
            shard["bytes"].as_u64() <= Some(1000),
            "over budget: {shard}"
        );
    }
    // The most recent key survives; the first ones were evicted.
    assert_eq!(
        answer(ureq::get(&format!("{base}/kv/k59")).call()).status,
        200
    );
    let first_alive = (0..5)
        .filter(|i| answer(ureq::get(&format!("{base}/kv/k{i}")).call()).status == 200)
        .count();
    assert_eq!(first_alive, 0, "oldest keys should be gone");
    let too_big = answer(ureq::put(&format!("{base}/kv/huge")).send_string(&"y".repeat(5000)));
    assert_eq!(too_big.status, 413);
}

#[test]
fn cache_ttl_expires_entries() {
    let server = cache_server(1024 * 1024);
    let base = format!("http://{}", server.addr());
    assert_eq!(
        answer(ureq::put(&format!("{base}/kv/short?ttl=1")).send_string("v")).status,
        201
    );
    assert_eq!(
        answer(ureq::put(&format!("{base}/kv/long?ttl=60")).send_string("w")).status,
        201
    );
    assert_eq!(
        answer(ureq::get(&format!("{base}/kv/short")).call()).body,
        "v"
    );
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        answer(ureq::get(&format!("{base}/kv/short")).call()).status,
        404
    );
    assert_eq!(
        answer(ureq::get(&format!("{base}/kv/long")).call()).body,
        "w"
    );
    assert_eq!(sum(&stats(&base), "expired"), 1);
    assert_eq!(
        answer(ureq::put(&format!("{base}/kv/bad?ttl=soon")).send_string("v")).status,
        400
    );
}

#[test]
fn handler_errors_become_responses_through_the_trait() {
    #[derive(Debug)]
    struct Teapot;
    impl ringpin::IntoResponse for Teapot {
        fn into_response(self) -> Response {
            Response::text("short and stout").with_status(418)
        }
    }
    let server = start(test_config(), |_| {
        Router::new().route(
            "/brew",
            get(|r: Request| async move {
                if r.query_param("coffee").is_some() {
                    Err(Teapot)
                } else {
                    Ok((201, "brewed"))
                }
            }),
        )
    });
    let base = format!("http://{}", server.addr());
    let ok = answer(ureq::get(&format!("{base}/brew")).call());
    assert_eq!((ok.status, ok.body.as_str()), (201, "brewed"));
    let err = answer(ureq::get(&format!("{base}/brew?coffee=1")).call());
    assert_eq!((err.status, err.body.as_str()), (418, "short and stout"));
}
