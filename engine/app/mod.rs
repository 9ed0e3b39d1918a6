//! What handlers are written with: the handler trait, routing, JSON, middleware, SSE,
//! static files and the shard mesh.

#[cfg(feature = "compression")]
pub mod compress;
pub mod cors;
pub mod extract;
pub(crate) mod files;
pub(crate) mod handler;
pub(crate) mod http_compat;
pub(crate) mod json;
pub(crate) mod mesh;
pub mod middleware;
pub(crate) mod path_de;
pub(crate) mod router;
pub(crate) mod sse;
#[cfg(feature = "tracing")]
pub mod trace;
pub mod ws;
