//! axum on tokio's current-thread runtime: ringpin's `examples/fastjson_api.rs`, route for
//! route.
//!
//! ```text
//! cargo run --release -p axum-services --bin axum-fastjson-api -- --addr 127.0.0.1:8087
//! curl -i -H 'content-type: application/json' -d '{"name":"Ada","email":"ada@example.com"}' \
//!      http://127.0.0.1:8087/users
//! ```
//!
//! `POST /users` -> 201 with the user; `GET /users` -> the list; `GET|PUT|DELETE
//! /users/{id}` -> 200 / 200 / 204 or 404; bodies refused with 415 / 400 / 422; every error
//! body JSON. The store is `State<Arc<Mutex<_>>>`, as axum's examples share state; sockets
//! get TCP_NODELAY, as axum-peer's do.

#[path = "../../../common/addr.rs"]
mod addr;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header::CONTENT_TYPE, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use axum_services::{json_error, method_not_allowed, route_not_found, serve};
use peer_services::users::{parse_id, parse_new_user, Users};
use peer_services::{error_body, flags_or_exit, lock};

const USAGE: &str = "usage: axum-fastjson-api [--addr IP:PORT]";

type Shared = Arc<Mutex<Users>>;

fn not_found() -> Response {
    json_error(404, error_body("user not found", ""))
}

fn content_type(headers: &HeaderMap) -> Option<&[u8]> {
    headers.get(CONTENT_TYPE).map(|v| v.as_bytes())
}

async fn create(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    match parse_new_user(content_type(&headers), &body) {
        Ok(new) => (StatusCode::CREATED, Json(lock(&state).create(new))).into_response(),
        Err(rejection) => json_error(rejection.status, rejection.body),
    }
}

async fn list(State(state): State<Shared>) -> Response {
    Json(lock(&state).list()).into_response()
}

async fn show(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let user = parse_id(&id).and_then(|id| lock(&state).get(id));
    match user {
        Some(user) => Json(user).into_response(),
        None => not_found(),
    }
}

async fn update(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(id) = parse_id(&id) else {
        return not_found();
    };
    let new = match parse_new_user(content_type(&headers), &body) {
        Ok(new) => new,
        Err(rejection) => return json_error(rejection.status, rejection.body),
    };
    let updated = lock(&state).update(id, new);
    match updated {
        Some(user) => Json(user).into_response(),
        None => not_found(),
    }
}

async fn remove(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    if parse_id(&id).is_some_and(|id| lock(&state).delete(id)) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = flags_or_exit("axum-fastjson-api", USAGE, addr::parse_addr());
    let app = Router::new()
        .route("/users", get(list).post(create))
        .route("/users/{id}", get(show).put(update).delete(remove))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(Shared::default());
    serve(addr, &format!("axum-fastjson-api: {addr}"), app).await
}
