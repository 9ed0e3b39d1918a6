//! An in-memory cache: each key lives on the shard that owns its hash; LRU past a byte
//! budget; optional TTL.
//!
//! ```text
//! cargo run --release --example cache_server -- --addr 127.0.0.1:8080 --max-bytes 67108864
//! curl -i -X PUT --data-binary 'v1' 'http://127.0.0.1:8080/kv/greeting?ttl=60'
//! curl -i http://127.0.0.1:8080/kv/greeting
//! curl -s http://127.0.0.1:8080/stats
//! ```
//!
//! Routes (a contract other checks use): `PUT /kv/:key` (body = value, `?ttl=SECONDS`) ->
//! 201 new / 204 replaced; `GET /kv/:key` -> 200 with the value or 404; `DELETE /kv/:key`
//! -> 204 or 404; `GET /stats` -> `{"shards":[{shard, keys, bytes, hits, misses, evictions,
//! expired, forwarded}]}`; a value larger than a shard's budget -> 413. A request that arrives on another shard is forwarded to the owner
//! over the shard mesh and answered from there. Expired entries are dropped when read or
//! evicted (no sweeper that could stall a shard); `/stats` counts them until then.

#[path = "common/cli.rs"]
mod cli;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use lru::LruCache;
use ringpin::{
    error_response, get, IntoResponse, Json, Mesh, Peers, Request, Response, Router, ShardInfo,
};
use serde::Serialize;

#[derive(Parser)]
#[command(about = "ringpin cache_server: a sharded in-memory LRU cache")]
struct Args {
    #[command(flatten)]
    serve: cli::ServeArgs,
    /// Memory budget for keys and values, in bytes, split evenly across shards.
    #[arg(long, env = "RINGPIN_CACHE_BYTES", default_value_t = 64 * 1024 * 1024)]
    max_bytes: usize,
}

/// Bookkeeping bytes charged per entry on top of key and value.
const ENTRY_OVERHEAD: usize = 64;

struct Entry {
    value: Bytes,
    expires: Option<Instant>,
}

/// One shard's counters, as `/stats` reports them.
#[derive(Serialize, Clone, Copy, Default, Debug)]
pub struct ShardStats {
    shard: usize,
    keys: usize,
    bytes: usize,
    hits: u64,
    misses: u64,
    evictions: u64,
    expired: u64,
    forwarded: u64,
}

/// One shard's keys.
pub struct Store {
    entries: LruCache<String, Entry>,
    budget: usize,
    stats: ShardStats,
}

impl Store {
    fn new(shard: usize, budget: usize) -> Store {
        Store {
            entries: LruCache::unbounded(),
            budget,
            stats: ShardStats {
                shard,
                ..ShardStats::default()
            },
        }
    }

    fn cost(key: &str, value: &Bytes) -> usize {
        key.len() + value.len() + ENTRY_OVERHEAD
    }

    /// Stores `value`; `Some(true)` if the key is new, `Some(false)` if replaced, `None` if
    /// the entry alone exceeds this shard's budget.
    fn put(&mut self, key: String, value: Bytes, ttl: Option<Duration>) -> Option<bool> {
        let cost = Store::cost(&key, &value);
        if cost > self.budget {
            return None;
        }
        let entry = Entry {
            value,
            expires: ttl.map(|ttl| Instant::now() + ttl),
        };
        let replaced = self.entries.push(key.clone(), entry);
        let new = match replaced {
            Some((old_key, old)) if old_key == key => {
                self.stats.bytes -= Store::cost(&old_key, &old.value);
                false
            }
            Some((old_key, old)) => {
                // push() evicted another entry: cannot happen when unbounded, but account.
                self.stats.bytes -= Store::cost(&old_key, &old.value);
                self.stats.evictions += 1;
                true
            }
            None => true,
        };
        self.stats.bytes += cost;
        while self.stats.bytes > self.budget {
            match self.entries.pop_lru() {
                Some((old_key, old)) => {
                    self.stats.bytes -= Store::cost(&old_key, &old.value);
                    self.stats.evictions += 1;
                }
                None => break,
            }
        }
        Some(new)
    }

    fn get(&mut self, key: &str) -> Option<Bytes> {
        let now = Instant::now();
        let expired = match self.entries.get(key) {
            Some(entry) if entry.expires.is_some_and(|t| t <= now) => true,
            Some(entry) => {
                self.stats.hits += 1;
                return Some(entry.value.clone());
            }
            None => false,
        };
        if expired {
            self.remove_counted(key);
            self.stats.expired += 1;
        }
        self.stats.misses += 1;
        None
    }

    fn remove_counted(&mut self, key: &str) -> bool {
        match self.entries.pop_entry(key) {
            Some((k, entry)) => {
                self.stats.bytes -= Store::cost(&k, &entry.value);
                entry.expires.is_none_or(|t| t > Instant::now())
            }
            None => false,
        }
    }

    fn stats(&self) -> ShardStats {
        ShardStats {
            keys: self.entries.len(),
            ..self.stats
        }
    }
}

/// Work for the owner of a key.
pub enum Op {
    Put(String, Bytes, Option<Duration>),
    Get(String),
    Delete(String),
    Stats,
}

/// The owner's answer.
pub enum Reply {
    Stored { new: bool },
    TooLarge,
    Value(Option<Bytes>),
    Deleted(bool),
    Stats(ShardStats),
}

fn apply(store: &RefCell<Store>, op: Op) -> Reply {
    let mut store = store.borrow_mut();
    match op {
        Op::Put(key, value, ttl) => match store.put(key, value, ttl) {
            Some(new) => Reply::Stored { new },
            None => Reply::TooLarge,
        },
        Op::Get(key) => Reply::Value(store.get(&key)),
        Op::Delete(key) => Reply::Deleted(store.remove_counted(&key)),
        Op::Stats => Reply::Stats(store.stats()),
    }
}

#[derive(Clone)]
struct Cache {
    peers: Peers<Op, Reply>,
    store: Rc<RefCell<Store>>,
}

impl Cache {
    /// Sends `op` for `key` to its owner, counting requests that leave this shard.
    async fn route(&self, key: &str, op: Op) -> Option<Reply> {
        let owner = self.peers.owner_of(key);
        if owner != self.peers.me().await {
            self.store.borrow_mut().stats.forwarded += 1;
        }
        self.peers.call(owner, op).await.ok()
    }

    async fn put(self, request: Request) -> Response {
        let Some(key) = request.param("key").map(|k| k.into_owned()) else {
            return error_response(400, "bad key", "");
        };
        let ttl = match request.query_param("ttl").map(|t| t.parse::<u64>()) {
            None => None,
            Some(Ok(seconds)) => Some(Duration::from_secs(seconds)),
            Some(Err(_)) => return error_response(400, "ttl must be whole seconds", ""),
        };
        // Copy the value: a slice would keep the connection's whole read buffer alive.
        let value = Bytes::copy_from_slice(request.body());
        match self.route(&key, Op::Put(key.clone(), value, ttl)).await {
            Some(Reply::Stored { new: true }) => Response::new(201),
            Some(Reply::Stored { new: false }) => Response::new(204),
            Some(Reply::TooLarge) => {
                error_response(413, "value exceeds the shard's memory budget", "")
            }
            _ => error_response(503, "owner shard unavailable", ""),
        }
    }

    async fn get(self, request: Request) -> Response {
        let Some(key) = request.param("key").map(|k| k.into_owned()) else {
            return error_response(400, "bad key", "");
        };
        match self.route(&key, Op::Get(key.clone())).await {
            Some(Reply::Value(Some(value))) => Response::bytes(value),
            Some(Reply::Value(None)) => error_response(404, "no such key", ""),
            _ => error_response(503, "owner shard unavailable", ""),
        }
    }

    async fn delete(self, request: Request) -> Response {
        let Some(key) = request.param("key").map(|k| k.into_owned()) else {
            return error_response(400, "bad key", "");
        };
        match self.route(&key, Op::Delete(key.clone())).await {
            Some(Reply::Deleted(true)) => Response::new(204),
            Some(Reply::Deleted(false)) => error_response(404, "no such key", ""),
            _ => error_response(503, "owner shard unavailable", ""),
        }
    }

    async fn stats(self) -> Response {
        #[derive(Serialize)]
        struct AllStats {
            shards: Vec<ShardStats>,
        }
        let mut shards = Vec::with_capacity(self.peers.count());
        for peer in 0..self.peers.count() {
            match self.peers.call(peer, Op::Stats).await {
                Ok(Reply::Stats(stats)) => shards.push(ShardStats {
                    shard: peer,
                    ..stats
                }),
                _ => return error_response(503, "shard unavailable", ""),
            }
        }
        Json(AllStats { shards }).into_response()
    }
}

/// Builds one shard's router with a share of the byte budget.
pub fn app(info: &ShardInfo, mesh: &Arc<Mesh<Op, Reply>>, max_bytes: usize) -> Router {
    let store = Rc::new(RefCell::new(Store::new(
        info.id,
        max_bytes / info.shard_count.max(1),
    )));
    let service_store = store.clone();
    let peers = mesh.join(info, move |op| {
        std::future::ready(apply(&service_store, op))
    });
    let cache = Cache { peers, store };
    let (a, b, c, d) = (cache.clone(), cache.clone(), cache.clone(), cache);
    Router::new()
        .with_json_errors()
        .route(
            "/kv/:key",
            get(move |req| a.clone().get(req))
                .put(move |req| b.clone().put(req))
                .delete(move |req| c.clone().delete(req)),
        )
        .route("/stats", get(move |_req| d.clone().stats()))
}

fn main() -> std::process::ExitCode {
    cli::init_logging();
    let args = Args::parse();
    let mesh = Mesh::new(256);
    let max_bytes = args.max_bytes;
    cli::serve_until_signal(&args.serve, move |info| app(info, &mesh, max_bytes))
}
