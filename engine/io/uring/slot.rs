//! One connection's I/O state in the driver: its receive, its send, how its input ended,
//! and the `user_data` that ties a completion to it.

use std::os::fd::RawFd;
use std::task::Waker;

use bytes::BytesMut;

use super::tick::Tick;

/// What an SQE was for: the top byte of its `user_data`; a slot's generation (24 bits) and
/// index (32 bits) are the rest, so a late completion never lands on a reused slot.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Recv = 1,
    Send = 2,
    Cancel = 3,
}

pub(super) fn user_data(op: Op, index: u32, generation: u32) -> u64 {
    (op as u64) << 56 | u64::from(generation & 0xff_ffff) << 32 | u64::from(index)
}

pub(super) fn decode(user_data: u64) -> (Option<Op>, u32, u32) {
    let op = match user_data >> 56 {
        1 => Some(Op::Recv),
        2 => Some(Op::Send),
        3 => Some(Op::Cancel),
        _ => None,
    };
    let generation = ((user_data >> 32) & 0xff_ffff) as u32;
    (op, (user_data & 0xffff_ffff) as u32, generation)
}

/// The multishot receive of a slot.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(super) enum Recv {
    /// Not in the kernel: none armed yet, or the last one ended.
    #[default]
    Idle,
    Armed,
    /// An `ASYNC_CANCEL` was queued; its final completion has not come.
    Cancelling,
}

/// The send of a slot.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(super) enum Send {
    #[default]
    Idle,
    /// The kernel holds `Slot::sending`; `cancelled` once an `ASYNC_CANCEL` was queued.
    InFlight { cancelled: bool },
    /// Finished: `Ok`, or the errno it failed with.
    Done(Result<(), i32>),
}

/// How a slot's input ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum End {
    Eof,
    Error(i32),
}

/// The I/O state of one connection, kept by the driver (not by the connection's future) so
/// that every buffer the kernel may touch outlives the operation even when the future is
/// dropped.
#[derive(Default)]
pub(super) struct Slot {
    /// The socket; -1 when the slot is free.
    pub fd: RawFd,
    pub generation: u32,
    /// Received and not yet taken by the connection. Taken from the shard's free list on
    /// arrival and handed to the connection whole, so an idle connection holds no buffer.
    pub pending: BytesMut,
    pub end: Option<End>,
    pub recv: Recv,
    /// The connection task waiting for input, if any (a slow-lane one does not wait).
    pub reader: Option<Waker>,
    /// The output the kernel is sending, owned here until the completion.
    pub sending: BytesMut,
    pub sent: usize,
    pub send: Send,
    /// Set when a send is queued; the driver wakes the writer after the turn that submitted
    /// it if it did not complete there, so the writer starts its send timer only then.
    pub send_fresh: bool,
    /// The send in flight is a wait for room (`POLL_ADD`, `POLLOUT`), not a send: its
    /// completion is a poll mask, and `sending` stays empty.
    pub send_is_poll: bool,
    pub writer: Option<Waker>,
    /// The connection is gone: cancel what is in flight, close when nothing is.
    pub closing: bool,
    /// When the read the connection waits on times out ([`Tick`]); `None` while it is not
    /// waiting.
    pub read_deadline: Option<Tick>,
    /// That deadline passed: the read's next poll reports `TimedOut`.
    pub timed_out: bool,
    /// When this slot's entry in the driver's deadline heap falls due (older entries of the slot
    /// are stale and skipped).
    pub deadline_entry: Option<Tick>,
}
