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

use actix_web::http::header::CONTENT_TYPE;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use peer_services::error_body;
use peer_services::users::{parse_id, parse_new_user, Users};

const USAGE: &str = "usage: actix-fastjson-api [--addr IP:PORT]";

type State = web::Data<Mutex<Users>>;

fn json_error(status: u16, body: Vec<u8>) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST))
        .content_type("application/json")
        .body(body)
}

fn not_found() -> HttpResponse {
    json_error(404, error_body("user not found", ""))
}

fn users(state: &State) -> std::sync::MutexGuard<'_, Users> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn create(state: State, request: HttpRequest, body: web::Bytes) -> HttpResponse {
    let content_type = request.headers().get(CONTENT_TYPE).map(|v| v.as_bytes());
    match parse_new_user(content_type, &body) {
        Ok(new) => HttpResponse::Created().json(users(&state).create(new)),
        Err(rejection) => json_error(rejection.status, rejection.body),
    }
}

async fn list(state: State) -> HttpResponse {
    HttpResponse::Ok().json(users(&state).list())
}

async fn show(state: State, id: web::Path<String>) -> HttpResponse {
    let user = parse_id(&id).and_then(|id| users(&state).get(id));
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
    let updated = users(&state).update(id, new);
    match updated {
        Some(user) => HttpResponse::Ok().json(user),
        None => not_found(),
    }
}

async fn remove(state: State, id: web::Path<String>) -> HttpResponse {
    let removed = parse_id(&id).is_some_and(|id| users(&state).delete(id));
    if removed {
        HttpResponse::NoContent().finish()
    } else {
        not_found()
    }
}

async fn route_not_found() -> HttpResponse {
    json_error(404, error_body("not found", ""))
}

async fn method_not_allowed() -> HttpResponse {
    json_error(405, error_body("method not allowed", ""))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = addr::parse_addr().unwrap_or_else(|e| {
        eprintln!("actix-fastjson-api: {e}\n{USAGE}");
        std::process::exit(2)
    });
    eprintln!("actix-fastjson-api: {addr}");
    let state: State = web::Data::new(Mutex::new(Users::default()));
    HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
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
            )
            .default_service(web::to(route_not_found))
    })
    .workers(1)
    .bind(addr)?
    .run()
    .await
}
