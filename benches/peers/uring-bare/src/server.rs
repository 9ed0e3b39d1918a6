//! Connections on one io_uring: what each completion means, and the sends a loop turn ends
//! with. Shared by uring-bare's own loop and by glommio-ring's glommio task.

use std::io;
use std::os::fd::RawFd;

use io_uring::{cqueue, opcode, types, SubmissionQueue, Submitter};

use crate::buf_ring::BufRing;
use crate::{http, sys};

/// The provided-buffer group every receive reads into.
const BUFFER_GROUP: u16 = 0;
/// Buffers in the group; a buffer is held only while its completion is handled.
const BUFFER_COUNT: u16 = 1024;
/// Bytes per provided buffer: one receive reads at most this much.
const BUFFER_BYTES: usize = 4096;
/// An unfinished request head this long closes the connection (glommio-bare's read buffer).
const READ_BUFFER_BYTES: usize = 8 * 1024;

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

pub struct Server {
    listener: RawFd,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    buffers: BufRing,
    json: Vec<u8>,
    /// Connections with output to send at the end of this loop turn.
    dirty: Vec<usize>,
}

impl Server {
    /// A server for the listening socket `listener`, with its buffer group registered on the
    /// ring `submitter` drives.
    pub fn new(listener: RawFd, submitter: &Submitter<'_>) -> io::Result<Server> {
        Ok(Server {
            listener,
            conns: Vec::new(),
            free: Vec::new(),
            buffers: BufRing::register(submitter, BUFFER_GROUP, BUFFER_COUNT, BUFFER_BYTES)?,
            json: Vec::with_capacity(64),
            dirty: Vec::new(),
        })
    }

    pub fn arm_accept(
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

    pub fn complete(
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
    pub fn flush(
        &mut self,
        sq: &mut SubmissionQueue<'_>,
        submitter: &Submitter<'_>,
    ) -> io::Result<()> {
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
