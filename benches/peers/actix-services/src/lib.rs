//! What the two actix-web services do alike: a JSON error, the 404 and 405 every route table
//! falls back to, and the one-worker server. The bins (`src/bin/`) are the routes.

use std::net::SocketAddr;

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpResponse, HttpServer};
use peer_services::error_body;

/// `status` with a JSON body (`peer_services::error_body`'s).
pub fn json_error(status: u16, body: Vec<u8>) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST))
        .content_type("application/json")
        .body(body)
}

/// A path no route matches.
pub async fn route_not_found() -> HttpResponse {
    json_error(404, error_body("not found", ""))
}

/// A route's path with a method it does not take.
pub async fn method_not_allowed() -> HttpResponse {
    json_error(405, error_body("method not allowed", ""))
}

/// Serves the app `routes` configures on `addr` with one worker; paths no route matches get
/// [`route_not_found`].
pub async fn serve<F>(addr: SocketAddr, routes: F) -> std::io::Result<()>
where
    F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    HttpServer::new(move || {
        App::new()
            .configure(routes.clone())
            .default_service(web::to(route_not_found))
    })
    .workers(1)
    .bind(addr)?
    .run()
    .await
}
