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
//! The request handling (`http.rs`) and the response bytes are glommio-bare's; what is absent
//! (bodies, timeouts, limits, graceful shutdown) is absent from both. It exists to measure
//! what a request costs when the runtime costs nothing, not to be a server.

mod buf_ring;
mod http;
mod sys;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, RawFd};
use std::process::ExitCode;

use io_uring::{cqueue, opcode, types, IoUring, SubmissionQueue, Submitter};

use buf_ring::BufRing;

/// Submission queue entries; the completion queue gets four times as many.
const URING_ENTRIES: u32 = 4096;
/// The provided-buffer group every receive reads into.
const BUFFER_GROUP: u16 = 0;
/// Buffers in the group; a buffer is held only while its completion is handled.
const BUFFER_COUNT: u16 = 1024;
/// Bytes per provided buffer: one receive reads at most this much.
const BUFFER_BYTES: usize = 4096;
/// An unfinished request head this long closes the connection (glommio-bare's read buffer).
const READ_BUFFER_BYTES: usize = 8 * 1024;
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

/// What an SQE was for; the high half of its `user_data`, the connection slot the low half.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Accept = 1,
    Recv = 2,
    Send = 3,
    Cancel = 4,
}

fn user_data(op: Op, slot: usize) -> u64 {
    (op as u64) << 32 | slot as u64
}

fn decode(user_data: u64) -> (Option<Op>, usize) {
    let op = match user_data >> 32 {
        1 => Some(Op::Accept),
        2 => Some(Op::Recv),
        3 => Some(Op::Send),
        4 => Some(Op::Cancel),
        _ => None,
    };
    (op, (user_data & 0xffff_ffff) as usize)
}

/// One connection. Its slot is freed only when neither a receive nor a send is in flight,
/// so a completion never finds its slot reused.
struct Conn {
    fd: RawFd,
    /// The start of a request that has not fully arrived.
    input: Vec<u8>,
    /// Responses waiting for the next send.
    output: Vec<u8>,
    /// What the kernel is sending now (unmoved until the completion), and how much went out.
    sending: Vec<u8>,
    sent: usize,
    recv_armed: bool,
    send_in_flight: bool,
    /// The last request asked to close (or the head outgrew the buffer): close once sent.
    close_after_send: bool,
    closing: bool,
    dirty: bool,
}

struct Server {
    listener: RawFd,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    buffers: BufRing,
    json: Vec<u8>,
    /// Connections with output to send at the end of this loop turn.
    dirty: Vec<usize>,
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("uring-bare: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("uring-bare: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        addr: DEFAULT_ADDR,
        setup: Setup::Defer,
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => parsed.addr = value.parse().map_err(|e| format!("--addr {value}: {e}"))?,
            "--setup" => {
                parsed.setup = match value.as_str() {
                    "defer" => Setup::Defer,
                    "coop" => Setup::Coop,
                    "plain" => Setup::Plain,
                    _ => return Err(format!("--setup {value}: defer, coop or plain")),
                }
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(parsed)
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
    let buffers = BufRing::register(&submitter, BUFFER_GROUP, BUFFER_COUNT, BUFFER_BYTES)?;
    eprintln!(
        "uring-bare: {} (io_uring, setup {:?})",
        args.addr, args.setup
    );
    let mut server = Server {
        listener: listener.as_raw_fd(),
        conns: Vec::new(),
        free: Vec::new(),
        buffers,
        json: Vec::with_capacity(64),
        dirty: Vec::new(),
    };
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

impl Server {
    fn arm_accept(
        &self,
        sq: &mut SubmissionQueue<'_>,
        submitter: &Submitter<'_>,
    ) -> io::Result<()> {
        let entry = opcode::AcceptMulti::new(types::Fd(self.listener))
            .build()
            .user_data(user_data(Op::Accept, 0));
        // SAFETY: a multishot accept without an address buffer points at no memory.
        unsafe { sys::push(sq, submitter, &entry) }
    }

    fn arm_recv(
        fd: RawFd,
        slot: usize,
        sq: &mut SubmissionQueue<'_>,
        submitter: &Submitter<'_>,
    ) -> io::Result<()> {
        let entry = opcode::RecvMulti::new(types::Fd(fd), BUFFER_GROUP)
            .build()
            .user_data(user_data(Op::Recv, slot));
        // SAFETY: the receive reads into the registered buffer ring, which lives as long as
        // the process; the entry itself points at no memory.
        unsafe { sys::push(sq, submitter, &entry) }
    }

    fn complete(
        &mut self,
        cqe: &cqueue::Entry,
        sq: &mut SubmissionQueue<'_>,
        submitter: &Submitter<'_>,
    ) -> io::Result<()> {
        let (op, slot) = decode(cqe.user_data());
        match op {
            Some(Op::Accept) => self.accepted(cqe, sq, submitter),
            Some(Op::Recv) => self.received(slot, cqe, sq, submitter),
            Some(Op::Send) => self.sent(slot, cqe.result(), sq, submitter),
            Some(Op::Cancel) | None => Ok(()),
        }
    }

    fn accepted(
        &mut self,
        cqe: &cqueue::Entry,
        sq: &mut SubmissionQueue<'_>,
        submitter: &Submitter<'_>,
    ) -> io::Result<()> {
        let fd = cqe.result();
        if fd >= 0 {
            // As in every peer; a failure here costs nothing but latency.
            let _ = sys::set_nodelay(fd);
            let conn = Conn {
                fd,
                input: Vec::new(),
                output: Vec::with_capacity(READ_BUFFER_BYTES),
                sending: Vec::with_capacity(READ_BUFFER_BYTES),
                sent: 0,
                recv_armed: true,
                send_in_flight: false,
                close_after_send: false,
                closing: false,
                dirty: false,
            };
            let slot = match self.free.pop() {
                Some(slot) => {
                    self.conns[slot] = Some(conn);
                    slot
                }
                None => {
                    self.conns.push(Some(conn));
                    self.conns.len() - 1
                }
            };
            Self::arm_recv(fd, slot, sq, submitter)?;
        }
        // A failed accept (a peer that reset first, a full fd table) costs that peer only.
        if !cqueue::more(cqe.flags()) {
            self.arm_accept(sq, submitter)?;
        }
        Ok(())
    }

    fn received(
        &mut self,
        slot: usize,
        cqe: &cqueue::Entry,
        sq: &mut SubmissionQueue<'_>,
        submitter: &Submitter<'_>,
    ) -> io::Result<()> {
        let (res, flags) = (cqe.result(), cqe.flags());
        let bid = cqueue::buffer_select(flags);
        let Some(Some(conn)) = self.conns.get_mut(slot) else {
            if let Some(bid) = bid {
                self.buffers.recycle(bid);
            }
            return Ok(());
        };
        if !cqueue::more(flags) {
            conn.recv_armed = false;
        }
        if res > 0 {
            if let Some(bid) = bid {
                if !conn.closing && !conn.close_after_send {
                    let data = self.buffers.filled(bid, res as usize);
                    let close = if conn.input.is_empty() {
                        // The usual case: the read holds whole requests, parse in place.
                        let (consumed, close) =
                            http::answer_all(data, &mut conn.output, &mut self.json);
                        if !close {
                            conn.input
                                .extend_from_slice(data.get(consumed..).unwrap_or_default());
                        }
                        close
                    } else {
                        conn.input.extend_from_slice(data);
                        let (consumed, close) =
                            http::answer_all(&conn.input, &mut conn.output, &mut self.json);
                        conn.input.drain(..consumed.min(conn.input.len()));
                        close
                    };
                    if close || conn.input.len() >= READ_BUFFER_BYTES {
                        conn.close_after_send = true;
                    }
                    if !conn.dirty {
                        conn.dirty = true;
                        self.dirty.push(slot);
                    }
                }
                self.buffers.recycle(bid);
            }
            if !conn.recv_armed && !conn.closing && !conn.close_after_send {
                conn.recv_armed = true;
                Self::arm_recv(conn.fd, slot, sq, submitter)?;
            }
            return Ok(());
        }
        if res == -libc::ENOBUFS && !conn.closing {
            // The buffer ring ran dry; this handler recycled what it took, so try again.
            conn.recv_armed = true;
            return Self::arm_recv(conn.fd, slot, sq, submitter);
        }
        // End of stream, an error, or the cancellation `close` asked for.
        self.close(slot, sq, submitter)
    }

    fn sent(
        &mut self,
        slot: usize,
        res: i32,
        sq: &mut SubmissionQueue<'_>,
        submitter: &Submitter<'_>,
    ) -> io::Result<()> {
        let Some(Some(conn)) = self.conns.get_mut(slot) else {
            return Ok(());
        };
        conn.send_in_flight = false;
        if res < 0 || conn.closing {
            return self.close(slot, sq, submitter);
        }
        conn.sent += res as usize;
        if conn.sent < conn.sending.len() {
            // A short send: the socket buffer filled; send the rest.
            return Self::send(conn, slot, sq, submitter);
        }
        conn.sending.clear();
        conn.sent = 0;
        if !conn.output.is_empty() {
            if !conn.dirty {
                conn.dirty = true;
                self.dirty.push(slot);
            }
        } else if conn.close_after_send {
            return self.close(slot, sq, submitter);
        }
        Ok(())
    }

    /// One send per connection with output, for everything answered this loop turn.
    fn flush(&mut self, sq: &mut SubmissionQueue<'_>, submitter: &Submitter<'_>) -> io::Result<()> {
        let mut dirty = std::mem::take(&mut self.dirty);
        for slot in dirty.drain(..) {
            let Some(Some(conn)) = self.conns.get_mut(slot) else {
                continue;
            };
            conn.dirty = false;
            if conn.closing || conn.send_in_flight {
                continue;
            }
            if !conn.output.is_empty() {
                std::mem::swap(&mut conn.output, &mut conn.sending);
                conn.sent = 0;
                Self::send(conn, slot, sq, submitter)?;
            } else if conn.close_after_send {
                self.close(slot, sq, submitter)?;
            }
        }
        self.dirty = dirty;
        Ok(())
    }

    fn send(
        conn: &mut Conn,
        slot: usize,
        sq: &mut SubmissionQueue<'_>,
        submitter: &Submitter<'_>,
    ) -> io::Result<()> {
        let rest = conn.sending.get(conn.sent..).unwrap_or_default();
        let entry = opcode::Send::new(
            types::Fd(conn.fd),
            rest.as_ptr(),
            u32::try_from(rest.len()).unwrap_or(u32::MAX),
        )
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(user_data(Op::Send, slot));
        conn.send_in_flight = true;
        // SAFETY: `sending` is neither touched nor dropped while `send_in_flight` is set: the
        // slot is freed only after the completion, and `flush` skips a connection with a
        // send in flight. Moving the `Conn` (the slab growing) does not move the Vec's heap.
        unsafe { sys::push(sq, submitter, &entry) }
    }

    /// Stops a connection: cancels its receive if one is armed, and frees the slot once no
    /// operation is in flight.
    fn close(
        &mut self,
        slot: usize,
        sq: &mut SubmissionQueue<'_>,
        submitter: &Submitter<'_>,
    ) -> io::Result<()> {
        let Some(Some(conn)) = self.conns.get_mut(slot) else {
            return Ok(());
        };
        if !conn.closing {
            conn.closing = true;
            if conn.recv_armed {
                let entry = opcode::AsyncCancel::new(user_data(Op::Recv, slot))
                    .build()
                    .user_data(user_data(Op::Cancel, slot));
                // SAFETY: a cancellation points at no memory.
                unsafe { sys::push(sq, submitter, &entry) }?;
            }
        }
        if !conn.recv_armed && !conn.send_in_flight {
            sys::close(conn.fd);
            self.conns[slot] = None;
            self.free.push(slot);
        }
        Ok(())
    }
}
