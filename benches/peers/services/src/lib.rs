//! The two seed services' state and rules, without a framework: the actix-web and axum
//! peers (`actix-services`, `axum-services`) wrap these in their own routers, so both peers
//! answer exactly what `examples/fastjson_api.rs` and `examples/cache_server.rs` answer.
//!
//! Layout: `users` is the users API's store and its JSON body rules (415 / 400 / 422);
//! `cache` is the cache's LRU store under a byte budget, with TTLs; `error_body` is the
//! `{"error": ...}` body both use.

pub mod cache;
pub mod users;

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
