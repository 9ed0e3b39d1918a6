//! A feasibility prototype for ringpin: uring-bare's connections on a second io_uring that the
//! application owns, driven from one task of a pinned glommio 0.9 executor. It answers the
//! question "what does a ringpin-owned ring cost inside glommio?" with a number: this peer
//! beside uring-bare (the same ring, no executor) and glommio-bare (glommio's own sockets).
//!
//! ```text
//! CARGO_TARGET_DIR=../target cargo run --release -p glommio-ring -- --addr 127.0.0.1:8088
//! curl -i http://127.0.0.1:8088/
//! ```
//!
//! How the task sleeps and wakes: the ring has an eventfd registered
//! (`IORING_REGISTER_EVENTFD`), and the task awaits an 8-byte read of that eventfd through
//! glommio (`BufferedFile::read_at`, an `IORING_OP_READ` in glommio's main ring). The kernel
//! signals the eventfd when it posts a completion (or, with `DEFER_TASKRUN`, queues work for
//! one), so the read completes, glommio's reactor wakes the task, and the task enters its own
//! ring to submit its sends and reap. While completions keep coming the task does not wait
//! on the eventfd: it yields to glommio's other tasks and goes round again.
//!
//! Request handling, buffers and connection states are uring-bare's own files, included by
//! path, so the two differ only in who drives the loop.

#[path = "../../common/addr.rs"]
mod addr;
#[path = "../../uring-bare/src/buf_ring.rs"]
mod buf_ring;
#[path = "../../common/cli.rs"]
mod cli;
#[path = "../../common/http.rs"]
mod http;
#[path = "../../common/pinned.rs"]
mod pinned;
#[path = "../../uring-bare/src/server.rs"]
mod server;
#[path = "../../uring-bare/src/sys.rs"]
mod sys;
mod wake;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd};
use std::process::ExitCode;
use std::time::Duration;

use glommio::io::BufferedFile;
use glommio::timer::Timer;
use io_uring::IoUring;

use pinned::{parse_pinned_flags, run_pinned, Pinned};
use server::Server;

/// Submission queue entries; the completion queue gets four times as many.
const URING_ENTRIES: u32 = 4096;
/// Listen backlog, glommio's.
const BACKLOG: i32 = 1024;
/// How often the clock task refreshes the cached `Date` (glommio-bare's tick).
const CLOCK_TICK: Duration = Duration::from_millis(50);
const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8088);
const USAGE: &str = "usage: glommio-ring [--addr IP:PORT] [--cpu N] [--setup coop|defer]";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Setup {
    /// `COOP_TASKRUN`: completions are posted whenever this thread returns from any system
    /// call (glommio makes several per loop), so the task can reap without entering its ring.
    Coop,
    /// `SINGLE_ISSUER | DEFER_TASKRUN`: completions are posted only when the task enters its
    /// ring with `GETEVENTS`.
    Defer,
}

struct Args {
    at: Pinned,
    setup: Setup,
}

fn main() -> ExitCode {
    cli::main_with("glommio-ring", USAGE, parse_args, |args| {
        run_pinned("glommio-ring", args.at.cpu, serve(args))
    })
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut setup = Setup::Coop;
    let at = parse_pinned_flags(args, DEFAULT_ADDR, |flag, value| {
        if flag != "--setup" {
            return Ok(false);
        }
        setup = match value {
            "coop" => Setup::Coop,
            "defer" => Setup::Defer,
            _ => return Err(format!("--setup {value}: coop or defer")),
        };
        Ok(true)
    })?;
    Ok(Args { at, setup })
}

async fn serve(args: Args) -> io::Result<()> {
    http::refresh_date();
    glommio::spawn_local(async {
        loop {
            Timer::new(CLOCK_TICK).await;
            http::refresh_date();
        }
    })
    .detach();
    let listener = TcpListener::bind(args.at.addr)?;
    sys::set_backlog(listener.as_raw_fd(), BACKLOG)?;
    let mut builder = IoUring::builder();
    builder.setup_cqsize(4 * URING_ENTRIES);
    match args.setup {
        Setup::Coop => builder.setup_coop_taskrun(),
        Setup::Defer => builder.setup_single_issuer().setup_defer_taskrun(),
    };
    let mut ring = builder.build(URING_ENTRIES)?;
    let eventfd = wake::eventfd()?;
    ring.submitter().register_eventfd(eventfd.as_raw_fd())?;
    // SAFETY: `eventfd` is an open descriptor this function owns; `into_raw_fd` hands that
    // ownership to the BufferedFile, which closes it once, when dropped.
    let wake = unsafe { BufferedFile::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(eventfd)) };
    let (submitter, mut sq, mut cq) = ring.split();
    let mut server = Server::new(listener.as_raw_fd(), &submitter)?;
    server.arm_accept(&mut sq, &submitter)?;
    eprintln!(
        "glommio-ring: {} on CPU {} (own io_uring, setup {:?})",
        args.at.addr, args.at.cpu, args.setup
    );
    loop {
        sq.sync();
        let reap = args.setup == Setup::Defer;
        if !sq.is_empty() || reap {
            match wake::enter(&submitter, sq.len(), reap) {
                Ok(()) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
                Err(e) => return Err(e),
            }
        }
        cq.sync();
        let mut completed = 0usize;
        for cqe in &mut cq {
            completed += 1;
            server.complete(&cqe, &mut sq, &submitter)?;
        }
        cq.sync();
        server.flush(&mut sq, &submitter)?;
        sq.sync();
        if completed == 0 && sq.is_empty() {
            // Nothing came and nothing is to send: sleep in glommio until the ring posts.
            wake.read_at(0, 8).await.map_err(io::Error::from)?;
        } else {
            futures_lite::future::yield_now().await;
        }
    }
}
