//! Shared by the integration tests: start engines on 127.0.0.1:0 and talk raw HTTP to them.
//!
//! - this file: configs and server starts (in-process, on a free loopback port);
//! - [`wire`]: connecting, reading to the close, and the one rule for reading a response
//!   ([`Replies`] on a connection, [`wire::parse_response`] over bytes);
//! - [`replay`]: raw byte cases written whole or a byte per write, every answer read back;
//! - [`binary`]: the example binaries, to run as processes.
#![allow(dead_code)]
// Each example includes examples/common/cli.rs itself, as its binary does; the tests load
// several examples, so that file is loaded more than once here.
#![allow(clippy::duplicate_mod)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_lite::Stream;
use glommio::timer::Timer;
use ringpin::{Config, Event, Handler, ServerHandle, ShardInfo};

pub mod binary;
pub mod replay;
pub mod wire;

// Not every test uses each of these.
#[allow(unused_imports)]
pub use binary::hello_binary;
#[allow(unused_imports)]
pub use wire::{answer_closes, connect, exchange, read_until_close, Replies, Reply};

#[path = "../../examples/hello.rs"]
#[allow(dead_code)]
pub mod hello_example;

#[path = "../../examples/fastjson_api.rs"]
#[allow(dead_code)]
pub mod fastjson_example;

#[path = "../../examples/cache_server.rs"]
#[allow(dead_code)]
pub mod cache_example;

/// A config listening on a free loopback port, on the I/O path `RINGPIN_IO` names
/// (`auto`, the default, `ring` or `glommio`: tests/run.sh runs the live tests on both).
pub fn test_config() -> Config {
    let io = std::env::var("RINGPIN_IO")
        .ok()
        .map(|v| v.parse().expect("RINGPIN_IO: auto, ring or glommio"))
        .unwrap_or_default();
    Config::default()
        .with_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
        .with_io(io)
}

/// Starts the `hello` example's handler in-process on a free port.
pub fn start_hello() -> ServerHandle {
    start_hello_with(test_config())
}

/// Starts the `hello` example's handler with `config`.
pub fn start_hello_with(config: Config) -> ServerHandle {
    start(config, |_| hello_example::hello)
}

/// Starts any handler factory with `config`.
pub fn start<F, H>(config: Config, factory: F) -> ServerHandle
where
    F: Fn(&ShardInfo) -> H + Send + Sync + 'static,
    H: Handler,
{
    ringpin::Server::new(config)
        .serve(factory)
        .expect("server starts")
}

/// `count` Server-Sent Events, `event(0)`, `event(1)` ..., the first after 150 ms and each
/// next 150 ms later: slow enough that a client sees them arrive one by one.
pub fn ticks(count: u32, event: fn(u32) -> Event) -> impl Stream<Item = Event> {
    futures_lite::stream::unfold(0, move |i| async move {
        if i == count {
            return None;
        }
        Timer::new(Duration::from_millis(150)).await;
        Some((event(i), i + 1))
    })
}

/// Asks `done` every `every` until it says yes; panics with `what` once `within` has passed
/// without it.
pub fn wait_until(within: Duration, every: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(every);
    }
}
