//! The cache's store, as `examples/cache_server.rs` has it on one shard: LRU past a byte
//! budget, optional TTL, expired entries dropped when read (no sweeper).

use std::time::{Duration, Instant};

use bytes::Bytes;
use lru::LruCache;
use serde::Serialize;

use crate::{error_body, query_param};

/// Bookkeeping bytes charged per entry on top of key and value (the example's figure).
const ENTRY_OVERHEAD: usize = 64;

struct Entry {
    value: Bytes,
    expires: Option<Instant>,
}

/// The counters `/stats` reports for the one shard.
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

/// `/stats`: `{"shards":[...]}` with the one shard.
#[derive(Serialize)]
pub struct AllStats {
    shards: [ShardStats; 1],
}

/// The keys and their values.
pub struct Store {
    entries: LruCache<String, Entry>,
    budget: usize,
    stats: ShardStats,
}

/// What a PUT is answered with.
pub enum Put {
    /// 201.
    Created,
    /// 204.
    Replaced,
    /// 413, `{"error":"value exceeds the shard's memory budget"}`.
    TooLarge,
}

impl Store {
    /// An empty store of `budget` bytes.
    pub fn new(budget: usize) -> Store {
        Store {
            entries: LruCache::unbounded(),
            budget,
            stats: ShardStats::default(),
        }
    }

    fn cost(key: &str, value: &Bytes) -> usize {
        key.len() + value.len() + ENTRY_OVERHEAD
    }

    /// Stores `value` under `key`, evicting the least recently used past the budget.
    pub fn put(&mut self, key: String, value: Bytes, ttl: Option<Duration>) -> Put {
        let cost = Store::cost(&key, &value);
        if cost > self.budget {
            return Put::TooLarge;
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
        if new {
            Put::Created
        } else {
            Put::Replaced
        }
    }

    /// The value of `key`, unless absent or expired.
    pub fn get(&mut self, key: &str) -> Option<Bytes> {
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
            self.remove(key);
            self.stats.expired += 1;
        }
        self.stats.misses += 1;
        None
    }

    /// Removes `key`; whether it was there and unexpired.
    pub fn remove(&mut self, key: &str) -> bool {
        match self.entries.pop_entry(key) {
            Some((k, entry)) => {
                self.stats.bytes -= Store::cost(&k, &entry.value);
                entry.expires.is_none_or(|t| t > Instant::now())
            }
            None => false,
        }
    }

    /// The counters, with the key count now.
    pub fn stats(&self) -> AllStats {
        AllStats {
            shards: [ShardStats {
                keys: self.entries.len(),
                ..self.stats
            }],
        }
    }
}

/// `?ttl=SECONDS` from a query string: `Ok(None)` without one, `Err` (a 400 body) if it is
/// not whole seconds.
pub fn parse_ttl(query: &str) -> Result<Option<Duration>, Vec<u8>> {
    match query_param(query, "ttl").map(str::parse::<u64>) {
        None => Ok(None),
        Some(Ok(seconds)) => Ok(Some(Duration::from_secs(seconds))),
        Some(Err(_)) => Err(error_body("ttl must be whole seconds", "")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_evict_expire() {
        let mut store = Store::new(2 * (1 + 2 + ENTRY_OVERHEAD));
        assert!(matches!(
            store.put("a".into(), Bytes::from_static(b"v1"), None),
            Put::Created
        ));
        assert!(matches!(
            store.put("a".into(), Bytes::from_static(b"v2"), None),
            Put::Replaced
        ));
        assert_eq!(store.get("a").as_deref(), Some(&b"v2"[..]));
        store.put("b".into(), Bytes::from_static(b"v1"), None);
        store.put("c".into(), Bytes::from_static(b"v1"), None);
        assert_eq!(store.get("a"), None, "the least recently used went first");
        store.put("t".into(), Bytes::from_static(b"v1"), Some(Duration::ZERO));
        assert_eq!(store.get("t"), None);
        let big = Bytes::from(vec![0; 1000]);
        assert!(matches!(store.put("x".into(), big, None), Put::TooLarge));
        assert_eq!(
            parse_ttl("ttl=x").err(),
            Some(error_body("ttl must be whole seconds", ""))
        );
        assert_eq!(parse_ttl("").ok(), Some(None));
    }
}
