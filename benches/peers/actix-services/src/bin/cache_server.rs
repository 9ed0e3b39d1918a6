//! actix-web with one worker: ringpin's `examples/cache_server.rs`, route for route.
//!
//! ```text
//! cargo run --release -p actix-services --bin actix-cache-server -- --addr 127.0.0.1:8086
//! curl -i -X PUT --data-binary 'v1' 'http://127.0.0.1:8086/kv/greeting?ttl=60'
//! curl -i http://127.0.0.1:8086/kv/greeting
//! ```
//!
//! `PUT /kv/{key}` (body = value, `?ttl=SECONDS`) -> 201 new / 204 replaced / 413 too large;
//! `GET /kv/{key}` -> 200 with the value or 404; `DELETE /kv/{key}` -> 204 or 404;
//! `GET /stats`. The byte budget is RINGPIN_CACHE_BYTES (default 64 MiB), as the example's.
//! The store is `web::Data<Mutex<_>>` made outside the factory; `workers(1)`.

#[path = "../../../common/addr.rs"]
mod addr;

use std::sync::{Mutex, MutexGuard};

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use peer_services::cache::{parse_ttl, Put, Store};
use peer_services::{cache_bytes_from_env, error_body};

const USAGE: &str = "usage: actix-cache-server [--addr IP:PORT] (budget: RINGPIN_CACHE_BYTES)";

type State = web::Data<Mutex<Store>>;

fn json_error(status: StatusCode, error: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(error_body(error, ""))
}

fn store(state: &State) -> MutexGuard<'_, Store> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn put(
    state: State,
    key: web::Path<String>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let ttl = match parse_ttl(request.query_string()) {
        Ok(ttl) => ttl,
        Err(body) => {
            return HttpResponse::BadRequest()
                .content_type("application/json")
                .body(body)
        }
    };
    // Copied, as the example copies it: a slice would keep actix's read buffer alive.
    let value = web::Bytes::copy_from_slice(&body);
    let outcome = store(&state).put(key.into_inner(), value, ttl);
    match outcome {
        Put::Created => HttpResponse::Created().finish(),
        Put::Replaced => HttpResponse::NoContent().finish(),
        Put::TooLarge => json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "value exceeds the shard's memory budget",
        ),
    }
}

async fn get(state: State, key: web::Path<String>) -> HttpResponse {
    let value = store(&state).get(&key);
    match value {
        Some(value) => HttpResponse::Ok()
            .content_type("application/octet-stream")
            .body(value),
        None => json_error(StatusCode::NOT_FOUND, "no such key"),
    }
}

async fn delete(state: State, key: web::Path<String>) -> HttpResponse {
    let removed = store(&state).remove(&key);
    if removed {
        HttpResponse::NoContent().finish()
    } else {
        json_error(StatusCode::NOT_FOUND, "no such key")
    }
}

async fn stats(state: State) -> HttpResponse {
    let stats = store(&state).stats();
    HttpResponse::Ok().json(stats)
}

async fn route_not_found() -> HttpResponse {
    json_error(StatusCode::NOT_FOUND, "not found")
}

async fn method_not_allowed() -> HttpResponse {
    json_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let (addr, budget) = match addr::parse_addr().and_then(|a| Ok((a, cache_bytes_from_env()?))) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("actix-cache-server: {e}\n{USAGE}");
            std::process::exit(2)
        }
    };
    eprintln!("actix-cache-server: {addr}, {budget} bytes");
    let state: State = web::Data::new(Mutex::new(Store::new(budget)));
    HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            // actix's default payload limit is 256 KiB; the budget is the example's only cap.
            .app_data(web::PayloadConfig::new(budget))
            .service(
                web::resource("/kv/{key}")
                    .route(web::get().to(get))
                    .route(web::put().to(put))
                    .route(web::delete().to(delete))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/stats")
                    .route(web::get().to(stats))
                    .default_service(web::to(method_not_allowed)),
            )
            .default_service(web::to(route_not_found))
    })
    .workers(1)
    .bind(addr)?
    .run()
    .await
}
