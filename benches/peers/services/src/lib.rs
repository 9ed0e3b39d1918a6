//! The two seed services' state and rules, without a framework: the actix-web and axum
//! peers (`actix-services`, `axum-services`) wrap these in their own routers, so both peers
//! answer exactly what `examples/fastjson_api.rs` and `examples/cache_server.rs` answer.
//!
//! Layout: `users` is the users API's store and its JSON body rules (415 / 400 / 422);
//! `cache` is the cache's LRU store under a byte budget, with TTLs; `error_body` is the
//! `{"error": ...}` body both use; `lock` and `flags_or_exit` what every peer binary does alike.

pub mod cache;
pub mod users;

use std::sync::{Mutex, MutexGuard};

use serde::Serialize;

/// The cache's default byte budget, as the ringpin example's `--max-bytes` default.
pub const DEFAULT_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// The byte budget from `RINGPIN_CACHE_BYTES` (the ringpin example's variable), else
/// [`DEFAULT_CACHE_BYTES`].
pub fn cache_bytes_from_env() -> Result<usize, String> {
    match std::env::var("RINGPIN_CACHE_BYTES") {
        Ok(value) => value
            .parse()
            .map_err(|e| format!("RINGPIN_CACHE_BYTES={value}: {e}")),
        Err(_) => Ok(DEFAULT_CACHE_BYTES),
    }
}

/// `{"error": ERROR}`, or `{"error": ERROR, "detail": DETAIL}`: ringpin's `error_response`.
pub fn error_body(error: &str, detail: &str) -> Vec<u8> {
    #[derive(Serialize)]
    struct ErrorBody<'a> {
        error: &'a str,
        #[serde(skip_serializing_if = "str::is_empty")]
        detail: &'a str,
    }
    serde_json::to_vec(&ErrorBody { error, detail })
        .unwrap_or_else(|_| br#"{"error":"response serialisation failed"}"#.to_vec())
}

/// The store behind `state`. A handler that panicked mid-update leaves it as it was then; the
/// peers go on serving it, as ringpin's examples go on after a panicking handler.
pub fn lock<T>(state: &Mutex<T>) -> MutexGuard<'_, T> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The parsed command line, or its error and `usage` on stderr and exit status 2.
pub fn flags_or_exit<T>(name: &str, usage: &str, flags: Result<T, String>) -> T {
    flags.unwrap_or_else(|e| {
        eprintln!("{name}: {e}\n{usage}");
        std::process::exit(2)
    })
}

/// The value of `name` in a query string (`a=1&ttl=60`), undecoded; `None` if absent.
pub fn query_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_match_ringpins() {
        assert_eq!(
            error_body("user not found", ""),
            br#"{"error":"user not found"}"#
        );
        assert_eq!(
            error_body("malformed JSON", "EOF"),
            br#"{"error":"malformed JSON","detail":"EOF"}"#
        );
    }

    #[test]
    fn query_params() {
        assert_eq!(query_param("ttl=60", "ttl"), Some("60"));
        assert_eq!(query_param("a=1&ttl=5", "ttl"), Some("5"));
        assert_eq!(query_param("a=1", "ttl"), None);
        assert_eq!(query_param("ttl", "ttl"), Some(""));
    }
}
