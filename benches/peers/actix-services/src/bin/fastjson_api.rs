//! actix-web with one worker: ringpin's `examples/fastjson_api.rs`, route for route.
//!
//! ```text
//! cargo run --release -p actix-services --bin actix-fastjson-api -- --addr 127.0.0.1:8085
//! curl -i -H 'content-type: application/json' -d '{"name":"Ada","email":"ada@example.com"}' \
//!      http://127.0.0.1:8085/users
//! ```
//!
//! `POST /users` -> 201 with the user; `GET /users` -> the list; `GET|PUT|DELETE
//! /users/{id}` -> 200 / 200 / 204 or 404; bodies refused with 415 / 400 / 422; every error
//! body JSON. The store is shared as actix's documentation shares mutable state:
//! `web::Data<Mutex<_>>` made outside the factory; `workers(1)` as actix-peer.

#[path = "../../../common/addr.rs"]
mod addr;

use std::sync::Mutex;

use actix_services::{json_error, method_not_allowed, serve};
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, HttpRequest, HttpResponse};
use peer_services::users::{parse_id, parse_new_user, Users};
use peer_services::{error_body, flags_or_exit, lock};

const USAGE: &str = "usage: actix-fastjson-api [--addr IP:PORT]";

type State = web::Data<Mutex<Users>>;

fn not_found() -> HttpResponse {
    json_error(404, error_body("user not found", ""))
}

async fn create(state: State, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let content_type = request.headers().get(CONTENT_TYPE).map(|v| v.as_bytes());
    match parse_new_user(content_type, &body) {
        Ok(new) => HttpResponse::Created().json(lock(&state).create(new)),
        Err(rejection) => json_error(rejection.status, rejection.body),
    }
}

async fn list(state: State) -> HttpResponse {
    HttpResponse::Ok().json(lock(&state).list())
}

async fn show(state: State, id: web::Path<String>) -> HttpResponse {
    let user = parse_id(&id).and_then(|id| lock(&state).get(id));
    match user {
        Some(user) => HttpResponse::Ok().json(user),
        None => not_found(),
    }
}

async fn update(
    state: State,
    id: web::Path<String>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let Some(id) = parse_id(&id) else {
        return not_found();
    };
    let content_type = request.headers().get(CONTENT_TYPE).map(|v| v.as_bytes());
    let new = match parse_new_user(content_type, &body) {
        Ok(new) => new,
        Err(rejection) => return json_error(rejection.status, rejection.body),
    };
    let updated = lock(&state).update(id, new);
    match updated {
        Some(user) => HttpResponse::Ok().json(user),
        None => not_found(),
    }
}

async fn remove(state: State, id: web::Path<String>) -> HttpResponse {
    let removed = parse_id(&id).is_some_and(|id| lock(&state).delete(id));
    if removed {
        HttpResponse::NoContent().finish()
    } else {
        not_found()
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = flags_or_exit("actix-fastjson-api", USAGE, addr::parse_addr());
    eprintln!("actix-fastjson-api: {addr}");
    let state: State = web::Data::new(Mutex::new(Users::default()));
    serve(addr, move |app| {
        app.app_data(state.clone())
            .service(
                web::resource("/users")
                    .route(web::get().to(list))
                    .route(web::post().to(create))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/users/{id}")
                    .route(web::get().to(show))
                    .route(web::put().to(update))
                    .route(web::delete().to(remove))
                    .default_service(web::to(method_not_allowed)),
            );
    })
    .await
}
