//! Shared by the integration tests: start engines on 127.0.0.1:0 and talk raw HTTP to them.
#![allow(dead_code)]
// Each example includes examples/common/cli.rs itself, as its binary does; the tests load
// several examples, so that file is loaded more than once here.
#![allow(clippy::duplicate_mod)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ringpin::{Config, Handler, ServerHandle, ShardInfo};

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

/// Connects with a read timeout so a hung server fails the test instead of blocking it.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads HTTP responses off a stream, keeping bytes that belong to the next one.
pub struct Replies {
    pub stream: TcpStream,
    buf: Vec<u8>,
    pub head_request: bool,
}

impl Replies {
    pub fn new(stream: TcpStream) -> Replies {
        Replies {
            stream,
            buf: Vec::new(),
            head_request: false,
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Whether the server has already closed this connection, as a client checks before
    /// reusing a kept-alive connection (curl's dead-connection check, hyper's idle poll):
    /// a non-blocking peek that finds the end of the stream, or a reset.
    pub fn closed_by_server(&mut self) -> bool {
        self.stream.set_nonblocking(true).expect("nonblocking");
        let closed = match self.stream.peek(&mut [0u8; 1]) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        };
        self.stream.set_nonblocking(false).expect("blocking");
        closed
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => false,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => true,
            Err(e) => panic!("read failed (server hung?): {e}"),
        }
    }

    /// The next complete response, or `None` if the server closed first.
    pub fn next(&mut self) -> Option<Reply> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut parsed = httparse::Response::new(&mut headers);
            match parsed
                .parse(&self.buf)
                .expect("server sent a valid response head")
            {
                httparse::Status::Complete(head_len) => {
                    let status = parsed.code.expect("status");
                    let headers: Vec<(String, String)> = parsed
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_string(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect();
                    let length =
                        if self.head_request || status == 204 || status == 304 || status < 200 {
                            0
                        } else {
                            headers
                                .iter()
                                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                                .map(|(_, v)| v.parse::<usize>().expect("numeric Content-Length"))
                                .expect("every response carries Content-Length")
                        };
                    while self.buf.len() < head_len + length {
                        if !self.fill() {
                            panic!("connection closed inside a response body");
                        }
                    }
                    let body = self.buf[head_len..head_len + length].to_vec();
                    self.buf.drain(..head_len + length);
                    return Some(Reply {
                        status,
                        headers,
                        body,
                    });
                }
                httparse::Status::Partial => {
                    if !self.fill() {
                        assert!(
                            self.buf.is_empty(),
                            "closed inside a response head: {:?}",
                            String::from_utf8_lossy(&self.buf)
                        );
                        return None;
                    }
                }
            }
        }
    }

    /// True if the server closes without sending anything more.
    pub fn closed(&mut self) -> bool {
        self.buf.is_empty() && !self.fill()
    }
}

/// Sends `request` on a new connection, in one write, and returns the first response.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Option<Reply> {
    let mut replies = Replies::new(connect(addr));
    replies.send(request);
    replies.next()
}
