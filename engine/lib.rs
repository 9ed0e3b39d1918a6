//! ringpin is an embeddable HTTP/1.1 engine for latency-critical services on Linux.
//!
//! One glommio executor (a *shard*) runs pinned on each CPU it is given. Each shard owns its
//! own `SO_REUSEPORT` listening socket, the connections the kernel hands it, and whatever
//! state its handler keeps: nothing is shared between cores, so nothing is locked. Socket I/O
//! goes through io_uring; requests are parsed in place (httparse over `bytes` buffers) and
//! reach the handler as slices of the read buffer.
//!
//! # Layout
//!
//! A request's path through the modules, in order:
//!
//! - `server`: binds one socket per shard (`listener`), picks the CPUs (`cpus`), starts the
//!   shards and returns a [`ServerHandle`].
//! - `shard`: the pinned executor; accepts connections and runs the drain.
//! - `conn`: one connection's socket loop: first the PROXY header when the listener expects
//!   one (`proxy_protocol`), then read into its [`Session`], write what the session
//!   produced once per batch, keep alive, linger or close. Its bytes move through `uring`,
//!   the shard's own io_uring (multishot receives, batched sends), or glommio's sockets
//!   ([`IoBackend`]).
//! - `session`: the protocol without the socket: decode every complete pipelined request,
//!   call the [`Handler`], encode all responses into one buffer.
//! - `decode`: bytes to requests, resumable at any byte: `head` (request line and fields,
//!   validated per RFC 9112), then the body by Content-Length or `chunked`.
//! - `request` / `response`: what the handler sees and returns; `encode` writes responses.
//!   `origin`: where a request comes from ([`Request::client_addr`]: the PROXY source, or
//!   trusted proxies' `Forwarded` / `X-Forwarded-For`), parsed only when asked.
//! - `error`: why a request was refused, each reason mapped to one status code.
//! - `date`: the per-shard `Date` header; `sys` and `uring` (its `sys` and buffer ring):
//!   the only `unsafe` code.
//!
//! Around that path:
//!
//! - application API: `router` ([`Router`]), `json` ([`Json`], [`Request::json`]), `body`
//!   (streamed request bodies), `sse` (Server-Sent Events), [`middleware`] (around-layers),
//!   `mesh` (calls to the shard that owns a key);
//! - production behaviour: `timeouts`, `shedding` (adaptive 503s), [`metrics`] (per-shard
//!   counters and histograms, Prometheus text), [`access_log`], `preflight` (refuses a host
//!   that cannot run glommio, naming the fix).
//!
//! # Example
//!
//! ```no_run
//! use ringpin::{Config, Response, Server};
//!
//! fn main() -> std::io::Result<()> {
//!     Server::new(Config::default()).run(|_shard| {
//!         |request: ringpin::Request| async move {
//!             match request.path() {
//!                 "/" => Response::text("Hello, World!"),
//!                 _ => Response::new(404),
//!             }
//!         }
//!     })
//! }
//! ```
#![deny(missing_docs)]

pub mod access_log;
mod body;
mod chunked;
mod config;
mod conn;
mod cpus;
mod date;
mod decode;
mod diag;
mod encode;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod handler;
mod head;
mod json;
mod listener;
mod mesh;
pub mod metrics;
pub mod middleware;
mod origin;
mod pool;
mod preflight;
mod proxy_protocol;
mod request;
mod response;
mod router;
mod server;
mod session;
mod shard;
mod shedding;
mod sse;
mod sys;
mod timeouts;
mod unwind;
mod uring;

pub use body::RequestBody;
pub use config::{
    Config, IoBackend, Limits, RingSetup, Shedding, Timeouts, HEADER_CAPACITY, HEAD_CAPACITY,
};
pub use cpus::{affinity_mask, online_cpus, parse_cpu_list};
pub use encode::reason_phrase;
pub use error::RequestError;
pub use handler::Handler;
pub use head::Version;
/// The network type of [`Config::trusted_proxies`] (`"10.0.0.0/8".parse()`), re-exported
/// from the `ipnet` crate.
pub use ipnet::IpNet;
pub use json::{
    error_response, to_bytes_serde_json, to_bytes_sonic, Json, JsonRejection, JSON_BACKEND,
};
pub use mesh::{Mesh, MeshError, Peers};
pub use middleware::{HandlerExt, Next};
pub use preflight::{
    check_facts, preflight, HostFacts, PreflightError, Requirements, ResourceLimit,
    GLOMMIO_MIN_MEMLOCK_BYTES, MIN_KERNEL, RESERVED_OPEN_FILES,
};
pub use request::{Request, MAX_PARAMS};
pub use response::{BodyStream, IntoResponse, Response};
pub use router::{delete, get, patch, post, put, BoxFuture, MethodRouter, Router};
pub use server::{Server, ServerHandle, ShutdownTrigger};
pub use session::{BodyFeed, Phase, PipeRoom, RequestMeta, Session, SessionState, StreamedBody};
pub use shard::{current_shard, ShardInfo};
pub use sse::{Event, Sse};
