//! actix-web with one worker, as its documentation sets a server up.
//!
//! ```text
//! cargo run --release -p actix-peer -- --addr 127.0.0.1:8082
//! curl -i http://127.0.0.1:8082/json
//! ```
//!
//! `workers(1)`: one worker thread serves every connection; actix also runs its system
//! thread and an accept thread, which `taskset -c 1` pins to the same core. Keep-alive,
//! limits and timeouts are actix's defaults.

#[path = "../../common/addr.rs"]
mod addr;
use addr::parse_addr;

use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Serialize;

const USAGE: &str = "usage: actix-peer [--addr IP:PORT]";

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

async fn plaintext() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain")
        .body("Hello, World!")
}

async fn json() -> web::Json<Message> {
    web::Json(Message {
        message: "Hello, World!",
    })
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = parse_addr().unwrap_or_else(|e| {
        eprintln!("actix-peer: {e}\n{USAGE}");
        std::process::exit(2)
    });
    eprintln!("actix-peer: {addr}");
    HttpServer::new(|| {
        App::new()
            .route("/", web::get().to(plaintext))
            .route("/json", web::get().to(json))
    })
    .workers(1)
    .bind(addr)?
    .run()
    .await
}
