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
//! The folders name the layers; `.ci/check-layout` holds them to their rules.
//!
//! - `server/`: the running server. `Server` (in `server/mod.rs`) binds one socket per
//!   shard (`listener`), picks the CPUs (`cpus`), starts the shards and returns a
//!   [`ServerHandle`]; `shard` is the pinned executor that accepts and drains; `conn` is one
//!   connection's loop: wait for bytes → (the PROXY header when asked) → head → body →
//!   handle → write → keep alive, linger or close (or hand over to a WebSocket), through
//!   a `transport`: the shard's ring or glommio's socket (`plain`), or `tls` (rustls
//!   records over either, the certificates and their reloading, the handshake cap).
//!   `context` is what a shard's connections share (limits, metrics, ring, the `drain` signal), `info`
//!   says which shard code runs on ([`current_shard`]), `timeouts` names each phase's
//!   limit, `pool` is the shard's free list of buffers, `unwind` keeps a handler's panic
//!   inside its request.
//! - `http/`: the protocol as pure code over bytes, no sockets, no executor. `session`
//!   decodes every complete pipelined request, calls the [`Handler`] and encodes all
//!   responses into one buffer; `decode` (resumable at any byte) uses `head` (request line
//!   and fields, per RFC 9112), `chunked` and `body`; `request` / `response` are what the
//!   handler sees and returns, `encode` writes them, `date` is the cached `Date`; `error`
//!   maps each refusal to one status; `proxy_protocol` parses the PROXY header and `origin`
//!   says where a request comes from ([`Request::client_addr`]).
//! - `io/`: sockets and system calls, and all of the crate's `unsafe` code: `sys` (sockets,
//!   listeners, non-blocking peeks), `uring` (the shard's own io_uring: multishot
//!   receives, batched sends, the startup wake probe), `socket` (a connection on glommio's
//!   socket, the fallback, with the ring's shape), `fs` (`openat2` beneath a root,
//!   `sendfile`) and `diag` (sock_diag). Which one a connection uses is [`IoBackend`]'s
//!   choice.
//! - `app/`: what handlers are written with: `handler` ([`Handler`]), `router`
//!   ([`Router`]), `json` ([`Json`], [`Request::json`]), [`middleware`], `sse`
//!   (Server-Sent Events), `files` ([`ServeDir`]: a directory served zero-copy), `mesh`
//!   (calls to the shard that owns a key), [`ws`] (WebSocket).
//! - `ops/`: production behaviour: [`metrics`] (per-shard counters and histograms,
//!   Prometheus text, the scrape route), [`access_log`], `shedding` (adaptive 503s) and
//!   `preflight` (refuses a host that cannot run glommio, naming the fix).
//! - `config`: every knob, with its unit and default.
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

mod app;
mod config;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod io;
mod ops;
mod server;

#[cfg(feature = "compression")]
pub use app::compress;
pub use app::extract;
pub use app::middleware;
#[cfg(feature = "tracing")]
pub use app::trace;
pub use app::ws;
/// Typed HTTP headers (hyperium's `headers` crate), for [`extract::TypedHeader`] and
/// [`Response::with_typed_header`].
pub use headers;
pub use ops::{access_log, metrics};

/// The `http` crate's (1.x) vocabulary, re-exported so `ringpin::StatusCode::NOT_FOUND` or
/// `ringpin::header::CACHE_CONTROL` work without a direct dependency; see
/// [`Request::to_http`] and the `TryFrom`/`From` conversions for `http::Request`/`Response`.
pub use ::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
pub use app::cors::{Cors, CorsFuture};
pub use app::files::{
    ServeDir, DEFAULT_CACHE_ENTRIES, DEFAULT_INLINE_MAX_BYTES, DEFAULT_REVALIDATE_AFTER,
};
pub use app::handler::Handler;
pub use app::http_compat::HttpConversionError;
pub use app::json::{error_response, Json, JsonRejection, JSON_BACKEND};
/// Both JSON serialisers side by side, for `benches/json.rs` only: not part of the API.
#[doc(hidden)]
pub use app::json::{to_bytes_serde_json, to_bytes_sonic};
pub use app::mesh::{Mesh, MeshError, Peers};
pub use app::middleware::{HandlerExt, Next};
pub use app::router::{delete, get, patch, post, put, BoxFuture, MethodRouter, Router};
pub use app::sse::{Event, Sse};
pub use config::{
    Config, IoBackend, Limits, RingSetup, Shedding, Timeouts, TlsConfig, HEADER_CAPACITY,
    HEAD_CAPACITY,
};
pub use http::body::RequestBody;
pub use http::encode::reason_phrase;
pub use http::error::RequestError;
pub use http::head::Version;
pub use http::request::{Request, MAX_PARAMS};
pub use http::response::{BodyStream, FileBody, IntoResponse, IntoStatus, Response};
pub use http::session::{Session, SessionState};
/// The network type of [`Config::trusted_proxies`] (`"10.0.0.0/8".parse()`), re-exported
/// from the `ipnet` crate.
pub use ipnet::IpNet;
pub use ops::preflight::{
    check_facts, preflight, HostFacts, PreflightError, Requirements, ResourceLimit,
    GLOMMIO_MIN_MEMLOCK_BYTES, MIN_KERNEL, RESERVED_OPEN_FILES,
};
pub use server::cpus::{affinity_mask, online_cpus, parse_cpu_list};
pub use server::info::{current_shard, ShardInfo};
pub use server::{Server, ServerHandle, ShutdownTrigger};
