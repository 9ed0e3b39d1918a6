//! How long each phase of a request may take before the engine gives up on the client.

use std::time::Duration;

/// Per-phase deadlines. A phase that runs out answers 408 when a response is still
/// possible (the head or body is late), and closes silently otherwise (an idle keep-alive
/// connection, a client that does not read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// The whole head, from its first byte to its empty line. Default 10 s (hyper 30 s,
    /// nginx 60 s per read). A client trickling a head byte at a time cannot hold a
    /// connection past it. Exceeded: 408, close.
    pub header: Duration,
    /// Longest silence between two reads of a body. Default 10 s. Exceeded: 408, close.
    pub body_idle: Duration,
    /// Slowest average body rate tolerated once `body_idle` has passed since the body
    /// started, in bytes per second. Default 1024. Slower: 408, close.
    pub body_min_rate: u64,
    /// How long a keep-alive connection may wait for its next request. Default 60 s
    /// (nginx 75 s). Exceeded: close.
    pub idle: Duration,
    /// Longest wait for the socket to accept more of a response (a client that does not
    /// read). Default 30 s. Exceeded: close.
    pub send: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header: Duration::from_secs(10),
            body_idle: Duration::from_secs(10),
            body_min_rate: 1024,
            idle: Duration::from_secs(60),
            send: Duration::from_secs(30),
        }
    }
}
