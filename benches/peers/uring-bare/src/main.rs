//! The io_uring ceiling: glommio-bare's request handling with no executor at all, one thread
//! driving one io_uring through the `io-uring` crate.
//!
//! ```text
//! CARGO_TARGET_DIR=../target cargo run --release -p uring-bare -- --addr 127.0.0.1:8087
//! curl -i http://127.0.0.1:8087/
//! curl -i http://127.0.0.1:8087/json
//! ```
//!
//! What the ring does, and glommio 0.9 does not:
//!
//! - one multishot accept for the listener, one multishot receive per connection, reading
//!   into a provided buffer ring: no readiness poll, no `recv` system call, no SQE per read;
//! - every complete pipelined request a receive brought is answered into one output buffer,
//!   sent with one `IORING_OP_SEND` per connection per loop turn;
//! - one `io_uring_enter` per loop turn (`submit_and_wait(1)`) submits every send and reaps
//!   every completion, for all connections at once;
//! - `IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN` (`--setup defer`, the
//!   default): completions run only when the loop enters the ring, never as an interrupt.
//!
//! The request handling (`../common/http.rs`) and the response bytes are glommio-bare's; what
//! is absent (bodies, timeouts, limits, graceful shutdown) is absent from both. It exists to
//! measure what a request costs when the runtime costs nothing, not to be a server.

#[path = "../../common/addr.rs"]
mod addr;
mod buf_ring;
#[path = "../../common/cli.rs"]
mod cli;
#[path = "../../common/http.rs"]
mod http;
mod server;
mod sys;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::process::ExitCode;

use io_uring::IoUring;

use server::Server;

/// Submission queue entries; the completion queue gets four times as many.
const URING_ENTRIES: u32 = 4096;
/// Listen backlog, glommio's.
const BACKLOG: i32 = 1024;
const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8087);
const USAGE: &str = "usage: uring-bare [--addr IP:PORT] [--setup defer|coop|plain]";

/// The io_uring setup flags to try.
#[derive(Clone, Copy, Debug)]
enum Setup {
    /// `SINGLE_ISSUER | DEFER_TASKRUN`: completion work runs only inside `io_uring_enter`.
    Defer,
    /// `COOP_TASKRUN`: completion work runs at the next kernel entry, without an interrupt.
    Coop,
    /// No flags: the kernel interrupts the thread to run completion work.
    Plain,
}

struct Args {
    addr: SocketAddr,
    setup: Setup,
}

fn main() -> ExitCode {
    cli::main_with("uring-bare", USAGE, parse_args, serve)
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut setup = Setup::Defer;
    let addr = addr::parse_flags(args, DEFAULT_ADDR, |flag, value| {
        if flag != "--setup" {
            return Ok(false);
        }
        setup = match value {
            "defer" => Setup::Defer,
            "coop" => Setup::Coop,
            "plain" => Setup::Plain,
            _ => return Err(format!("--setup {value}: defer, coop or plain")),
        };
        Ok(true)
    })?;
    Ok(Args { addr, setup })
}

fn build_ring(setup: Setup) -> io::Result<IoUring> {
    let mut builder = IoUring::builder();
    builder.setup_cqsize(4 * URING_ENTRIES);
    match setup {
        Setup::Defer => {
            builder.setup_single_issuer().setup_defer_taskrun();
        }
        Setup::Coop => {
            builder.setup_coop_taskrun();
        }
        Setup::Plain => {}
    }
    builder.build(URING_ENTRIES)
}

fn serve(args: Args) -> io::Result<()> {
    http::refresh_date();
    let listener = TcpListener::bind(args.addr)?;
    sys::set_backlog(listener.as_raw_fd(), BACKLOG)?;
    let mut ring = build_ring(args.setup)
        .map_err(|e| io::Error::new(e.kind(), format!("io_uring setup {:?}: {e}", args.setup)))?;
    let (submitter, mut sq, mut cq) = ring.split();
    eprintln!(
        "uring-bare: {} (io_uring, setup {:?})",
        args.addr, args.setup
    );
    let mut server = Server::new(listener.as_raw_fd(), &submitter)?;
    server.arm_accept(&mut sq, &submitter)?;
    loop {
        sq.sync();
        match submitter.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
            Err(e) => return Err(e),
        }
        cq.sync();
        http::refresh_date();
        for cqe in &mut cq {
            server.complete(&cqe, &mut sq, &submitter)?;
        }
        cq.sync();
        server.flush(&mut sq, &submitter)?;
    }
}
