//! What handlers are written with: the handler trait, routing, JSON, middleware, SSE and
//! the shard mesh.

pub(crate) mod handler;
pub(crate) mod json;
pub(crate) mod mesh;
pub mod middleware;
pub(crate) mod router;
pub(crate) mod sse;
pub mod ws;
