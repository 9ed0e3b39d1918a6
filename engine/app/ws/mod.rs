//! WebSocket (RFC 6455): the upgrade handshake on a route, then messages on the same shard
//! over the connection's own transport (the shard's ring or glommio's socket).
//!
//! ```no_run
//! use ringpin::ws::{self, WsConfig};
//! use ringpin::{get, Request, Router};
//!
//! let router = Router::new().route(
//!     "/ws",
//!     get(|request: Request| async move {
//!         ws::upgrade(&request, WsConfig::default(), |mut socket| async move {
//!             while let Some(Ok(message)) = socket.recv().await {
//!                 if message.is_text() || message.is_binary() {
//!                     if socket.send(message).await.is_err() {
//!                         break;
//!                     }
//!                 }
//!             }
//!         })
//!     }),
//! );
//! ```
//!
//! Framing, masking, fragmentation, UTF-8 checks, ping/pong and the close handshake are
//! tungstenite's (its sans-I/O `WebSocketContext`); the engine moves the bytes.

pub(crate) mod socket;

use std::future::Future;

use bytes::Bytes;

pub(crate) use socket::Upgrade;
pub use socket::{is_peer_error, WebSocket, WsConfig};
pub use tungstenite::protocol::frame::coding::CloseCode;
pub use tungstenite::protocol::CloseFrame;
pub use tungstenite::{Error, Message};

use crate::http::head::Version;
use crate::http::request::Request;
use crate::http::response::Response;

/// Answers a WebSocket handshake request: `101 Switching Protocols`, after which the
/// connection runs `on_upgrade` with the [`WebSocket`] until it returns. A request that is
/// not a valid handshake gets its error instead, and `on_upgrade` never runs:
/// `400` (not a GET over HTTP/1.1, no `Connection: upgrade`, a missing or malformed
/// `Sec-WebSocket-Key`), `426` with `Upgrade: websocket` (no `Upgrade: websocket`), or
/// `426` with `Sec-WebSocket-Version: 13` (another version).
pub fn upgrade<F, Fut>(request: &Request, config: WsConfig, on_upgrade: F) -> Response
where
    F: FnOnce(WebSocket) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let key = match check_handshake(request) {
        Ok(key) => key,
        Err(refusal) => return refusal,
    };
    let accept = tungstenite::handshake::derive_accept_key(key);
    let mut response = Response::new(101)
        .with_header(&b"upgrade"[..], &b"websocket"[..])
        .with_header(&b"sec-websocket-accept"[..], Bytes::from(accept));
    response.set_upgrade(Box::new(Upgrade {
        config,
        on_upgrade: Box::new(move |socket| Box::pin(on_upgrade(socket))),
    }));
    response
}

/// Checks RFC 6455 §4.2.1; returns the `Sec-WebSocket-Key` or the refusal.
fn check_handshake(request: &Request) -> Result<&[u8], Response> {
    let refuse = |why: &'static str| Response::new(400).with_body(why);
    if request.method() != "GET" || request.version() != Version::Http11 {
        return Err(refuse("a WebSocket handshake is a GET over HTTP/1.1\n"));
    }
    if !has_token(request.header("upgrade"), b"websocket") {
        return Err(Response::new(426)
            .with_header(&b"upgrade"[..], &b"websocket"[..])
            .with_body("this route speaks WebSocket: send Upgrade: websocket\n"));
    }
    if !has_token(request.header("connection"), b"upgrade") {
        return Err(refuse("a WebSocket handshake has Connection: upgrade\n"));
    }
    if request.header("sec-websocket-version") != Some(b"13") {
        return Err(Response::new(426)
            .with_header(&b"sec-websocket-version"[..], &b"13"[..])
            .with_body("WebSocket version 13 only\n"));
    }
    match request.header("sec-websocket-key") {
        Some(key) if is_handshake_key(key) => Ok(key),
        _ => Err(refuse("Sec-WebSocket-Key must be 16 bytes in base64\n")),
    }
}

/// Whether a comma-separated field value lists `token` (case-insensitively).
fn has_token(value: Option<&[u8]>, token: &[u8]) -> bool {
    value.is_some_and(|value| {
        value
            .split(|&b| b == b',')
            .any(|item| item.trim_ascii().eq_ignore_ascii_case(token))
    })
}

/// A base64 encoding of 16 bytes: 22 alphabet characters and `==`.
fn is_handshake_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key
            .iter()
            .take(22)
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_keys() {
        for (key, ok) in [
            (&b"dGhlIHNhbXBsZSBub25jZQ=="[..], true),
            (b"dGhlIHNhbXBsZSBub25jZQ=", false),
            (b"dGhlIHNhbXBsZSBub25jZQ==x", false),
            (b"dGhlIHNhbXBsZSBub25j*Q==", false),
            (b"", false),
        ] {
            assert_eq!(
                is_handshake_key(key),
                ok,
                "{:?}",
                String::from_utf8_lossy(key)
            );
        }
    }

    #[test]
    fn tokens() {
        assert!(has_token(Some(b"keep-alive, Upgrade"), b"upgrade"));
        assert!(has_token(Some(b"WebSocket"), b"websocket"));
        assert!(!has_token(Some(b"upgrades"), b"upgrade"));
        assert!(!has_token(None, b"upgrade"));
    }
}
