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

use std::sync::Mutex;

use actix_services::{json_error, method_not_allowed, serve};
use actix_web::{web, HttpRequest, HttpResponse};
use peer_services::cache::{parse_ttl, Put, Store};
use peer_services::{cache_bytes_from_env, error_body, flags_or_exit, lock};

const USAGE: &str = "usage: actix-cache-server [--addr IP:PORT] (budget: RINGPIN_CACHE_BYTES)";

type State = web::Data<Mutex<Store>>;

/// The one 404 body the cache's own routes answer with.
fn no_such_key() -> HttpResponse {
    json_error(404, error_body("no such key", ""))
}

async fn put(
    state: State,
    key: web::Path<String>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let ttl = match parse_ttl(request.query_string()) {
        Ok(ttl) => ttl,
        Err(body) => return json_error(400, body),
    };
    // Copied, as the example copies it: a slice would keep actix's read buffer alive.
    let value = web::Bytes::copy_from_slice(&body);
    let outcome = lock(&state).put(key.into_inner(), value, ttl);
    match outcome {
        Put::Created => HttpResponse::Created().finish(),
        Put::Replaced => HttpResponse::NoContent().finish(),
        Put::TooLarge => json_error(
            413,
            error_body("value exceeds the shard's memory budget", ""),
        ),
    }
}

async fn get(state: State, key: web::Path<String>) -> HttpResponse {
    let value = lock(&state).get(&key);
    match value {
        Some(value) => HttpResponse::Ok()
            .content_type("application/octet-stream")
            .body(value),
        None => no_such_key(),
    }
}

async fn delete(state: State, key: web::Path<String>) -> HttpResponse {
    let removed = lock(&state).remove(&key);
    if removed {
        HttpResponse::NoContent().finish()
    } else {
        no_such_key()
    }
}

async fn stats(state: State) -> HttpResponse {
    let stats = lock(&state).stats();
    HttpResponse::Ok().json(stats)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let flags = addr::parse_addr().and_then(|a| Ok((a, cache_bytes_from_env()?)));
    let (addr, budget) = flags_or_exit("actix-cache-server", USAGE, flags);
    eprintln!("actix-cache-server: {addr}, {budget} bytes");
    let state: State = web::Data::new(Mutex::new(Store::new(budget)));
    serve(addr, move |app| {
        app.app_data(state.clone())
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
            );
    })
    .await
}
