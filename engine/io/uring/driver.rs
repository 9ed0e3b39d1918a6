//! The shard's ring and its connection slots: what each completion means for a slot, and
//! when a slot's descriptor may be closed.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::os::fd::RawFd;
use std::task::Waker;
use std::time::Instant;

use bytes::BytesMut;
use io_uring::{cqueue, opcode, squeue, types, IoUring};

use super::buf_ring::BufRing;
use super::slot::{decode, user_data, End, Op, Recv, Send, Slot};
use super::sys;
use super::tick::Tick;
use crate::config::RingSetup;

/// Submission queue entries; the completion queue gets four times as many (a completion
/// queue that overflows costs a slow path, not a lost completion: `IORING_FEAT_NODROP`).
const RING_ENTRIES: u32 = 1024;
/// The provided-buffer group every receive reads into.
const BUFFER_GROUP: u16 = 0;
/// Buffers in the group; a buffer is held only until its completion is copied out.
const BUFFER_COUNT: u16 = 512;
/// Bytes per provided buffer: one receive completion carries at most this much.
const BUFFER_BYTES: usize = 4096;
/// Pending input, in read buffers, past which a connection's receive is cancelled until the
/// connection takes what it has (a client the handler is not reading from cannot grow it).
const PENDING_READ_BUFFERS: usize = 4;
/// How many times the driver's drop waits for the kernel to finish cancelled operations
/// before it gives up and leaks their buffers instead of freeing memory the kernel may use.
const DRAIN_ATTEMPTS: usize = 64;
/// How long each of those waits is, at most (ns).
const DRAIN_WAIT_NS: u32 = 10_000_000;

/// The ring, its buffers and the slots. Fields drop in order: the ring before the buffers.
pub(super) struct Inner {
    ring: IoUring,
    /// Set up with `DEFER_TASKRUN`: completions are posted only when the shard enters the
    /// ring with `GETEVENTS`, so every turn enters, and a turn that leaves kernel work
    /// pending (`IORING_SQ_TASKRUN`) is followed by another.
    deferred: bool,
    /// Set up with `TASKRUN_FLAG` (`DEFER_TASKRUN` or `COOP_TASKRUN`): the kernel raises
    /// `IORING_SQ_TASKRUN` while completion work waits for this thread, and a turn that
    /// sees it enters with `GETEVENTS` to run that work instead of waiting for the next
    /// system call the executor happens to make.
    taskrun_flag: bool,
    buffers: BufRing,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Entries that found the submission queue full, in order; they go in first next turn.
    /// Queueing therefore never fails, and a slot's state never claims an operation the
    /// kernel was not given.
    backlog: VecDeque<squeue::Entry>,
    /// Completions copied out of the queue, reused every turn.
    reaped: Vec<cqueue::Entry>,
    /// Slots whose send was queued since the last turn.
    fresh_sends: Vec<u32>,
    /// Read deadlines, earliest first: (when, slot index, generation). A read arms its
    /// slot's deadline without touching the heap when the slot's entry falls due no later
    /// (a keep-alive connection's next wait only moves its deadline); an entry that falls
    /// due while the deadline has moved on is put back at the new one. So a request costs
    /// no heap operation, no timer of glommio's and no allocation.
    pub(super) deadlines: BinaryHeap<Reverse<(Tick, u32, u32)>>,
    /// What [`Tick`]s count from.
    pub(super) epoch: Instant,
    /// See [`PENDING_READ_BUFFERS`].
    pending_cap: usize,
    /// Capacity of a pending buffer allocated when bytes arrive for an empty slot.
    read_buffer_bytes: usize,
}

/// A shard's own io_uring with its connections' I/O state. Shard-local.
pub(crate) struct Driver {
    pub(super) inner: RefCell<Inner>,
    /// SQEs were queued outside the driver's turn: it must not sleep before submitting.
    queued: Cell<bool>,
    /// The driver task while it sleeps.
    task: Cell<Option<Waker>>,
    /// A deadline earlier than any before was armed: the deadline task must move its timer.
    rearm: Cell<bool>,
    /// The deadline task while it sleeps.
    deadline_task: Cell<Option<Waker>>,
    /// The shard gave this ring up (its wake probe failed): the tasks end.
    stopped: Cell<bool>,
}

impl Driver {
    /// Sets up the ring as `setup` says (a concrete one, not `Auto`), the provided
    /// buffers and the eventfd. Reads of up to `read_buffer_bytes` go into one pending
    /// buffer. Whether the setup's wakeup works on this host is the wake probe's question
    /// (`super::probe`), not this function's.
    pub(crate) fn new(
        read_buffer_bytes: usize,
        setup: RingSetup,
    ) -> io::Result<(Driver, glommio::io::BufferedFile)> {
        let mut builder = IoUring::builder();
        builder.setup_cqsize(4 * RING_ENTRIES);
        match setup {
            RingSetup::DeferTaskrun => {
                builder
                    .setup_single_issuer()
                    .setup_defer_taskrun()
                    .setup_taskrun_flag();
            }
            RingSetup::CoopTaskrun => {
                builder
                    .setup_single_issuer()
                    .setup_coop_taskrun()
                    .setup_taskrun_flag();
            }
            RingSetup::Interrupt | RingSetup::Auto => {}
        }
        let ring = builder.build(RING_ENTRIES)?;
        let deferred = setup == RingSetup::DeferTaskrun;
        let buffers = BufRing::register(&ring, BUFFER_GROUP, BUFFER_COUNT, BUFFER_BYTES)?;
        let (eventfd, file) = sys::eventfd()?;
        ring.submitter().register_eventfd(eventfd)?;
        let inner = Inner {
            ring,
            deferred,
            taskrun_flag: matches!(setup, RingSetup::DeferTaskrun | RingSetup::CoopTaskrun),
            buffers,
            slots: Vec::new(),
            free: Vec::new(),
            backlog: VecDeque::new(),
            reaped: Vec::with_capacity(256),
            fresh_sends: Vec::new(),
            deadlines: BinaryHeap::new(),
            epoch: Instant::now()
                .checked_sub(std::time::Duration::from_millis(1))
                .unwrap_or_else(Instant::now),
            pending_cap: PENDING_READ_BUFFERS * read_buffer_bytes,
            read_buffer_bytes,
        };
        let driver = Driver {
            inner: RefCell::new(inner),
            queued: Cell::new(false),
            task: Cell::new(None),
            rearm: Cell::new(false),
            deadline_task: Cell::new(None),
            stopped: Cell::new(false),
        };
        Ok((driver, file))
    }

    /// Closes every connection still on the ring, waiting for the kernel to finish with
    /// their buffers: the shard is exiting, and its executor may never run the driver task
    /// again (glommio returns from `run` as soon as the shard's main future is done), so
    /// cancellations queued by the last connections would otherwise never reach the kernel
    /// and their sockets would stay open.
    pub(crate) fn close_all(&self) {
        self.inner.borrow_mut().close_all();
    }

    /// Ends the driver and deadline tasks (the ring closes when the last handle drops).
    pub(super) fn stop(&self) {
        self.stopped.set(true);
        self.close_all();
        self.wake();
        self.rearm.set(true);
        if let Some(task) = self.deadline_task.take() {
            task.wake();
        }
    }

    /// Whether [`Driver::stop`] was called.
    pub(super) fn is_stopped(&self) -> bool {
        self.stopped.get()
    }

    /// Tells the driver task that SQEs wait for its next turn.
    pub(super) fn wake(&self) {
        self.queued.set(true);
        if let Some(task) = self.task.take() {
            task.wake();
        }
    }

    /// Arms the read deadline of slot `index` (its connection is about to wait for input).
    pub(super) fn arm_deadline(&self, index: u32, generation: u32, deadline: Instant) {
        let earliest = self
            .inner
            .borrow_mut()
            .arm_deadline(index, generation, deadline);
        if earliest {
            self.rearm.set(true);
            if let Some(task) = self.deadline_task.take() {
                task.wake();
            }
        }
    }

    /// The read of slot `index` is over (done, timed out, or given up).
    pub(super) fn disarm_deadline(&self, index: u32, generation: u32) {
        if let Ok(mut inner) = self.inner.try_borrow_mut() {
            if let Some(slot) = inner.slot(index, generation) {
                slot.read_deadline = None;
                slot.timed_out = false;
            }
        }
    }

    /// Times out the reads whose deadline has passed; returns the earliest one left.
    pub(super) fn expire_deadlines(&self) -> Option<Instant> {
        self.inner.borrow_mut().expire_deadlines(Instant::now())
    }

    /// Whether an earlier deadline was armed; otherwise remembers the deadline task's waker.
    pub(super) fn poll_rearm(&self, waker: &Waker) -> bool {
        if self.rearm.replace(false) {
            return true;
        }
        self.deadline_task.set(Some(waker.clone()));
        false
    }

    /// Whether SQEs wait; otherwise remembers the driver task's waker.
    pub(super) fn poll_queued(&self, waker: &Waker) -> bool {
        if self.queued.get() {
            return true;
        }
        self.task.set(Some(waker.clone()));
        false
    }

    /// One turn: submit what is queued, reap every completion, hand each to its slot.
    /// Returns whether anything happened (the task then yields and goes round instead of
    /// sleeping).
    pub(super) fn turn(&self) -> io::Result<bool> {
        self.queued.set(false);
        let mut inner = self.inner.borrow_mut();
        let inner = &mut *inner;
        inner.drain_backlog();
        let submission = inner.ring.submission();
        let queued = submission.len();
        let overflow = submission.cq_overflow();
        let work_waiting = inner.taskrun_flag && submission.taskrun();
        drop(submission);
        let reap = inner.deferred || overflow || work_waiting;
        if queued > 0 || reap {
            // GETEVENTS also flushes an overflowed completion queue (`submit` set it then),
            // and runs the task work that posts completions.
            match sys::enter(&inner.ring, queued, reap) {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
                Err(e) => return Err(e),
            }
        }
        let mut reaped = std::mem::take(&mut inner.reaped);
        reaped.extend(inner.ring.completion());
        let mut failed = None;
        for cqe in &reaped {
            // Every completion is handled even if queueing a follow-up failed for one.
            if let Err(e) = inner.complete(cqe) {
                failed = Some(e);
            }
        }
        let any = !reaped.is_empty();
        reaped.clear();
        inner.reaped = reaped;
        // Sends this turn submitted and the kernel has not finished (a full socket buffer):
        // their writers now start timing them.
        // Drained in place, as `reaped`: the vector keeps its capacity (taking it would
        // free it, and the next send would allocate another, once per response).
        let mut fresh_sends = std::mem::take(&mut inner.fresh_sends);
        for index in fresh_sends.drain(..) {
            if let Some(slot) = inner.slots.get_mut(index as usize) {
                let fresh = std::mem::take(&mut slot.send_fresh);
                if fresh && matches!(slot.send, Send::InFlight { .. }) {
                    if let Some(writer) = slot.writer.take() {
                        writer.wake();
                    }
                }
            }
        }
        inner.fresh_sends = fresh_sends;
        if let Some(e) = failed {
            return Err(e);
        }
        // A `DEFER_TASKRUN` enter runs a bounded batch of the kernel's pending work; the rest
        // waits for the next enter, and more work arriving meanwhile does not signal the
        // eventfd. `TASKRUN_FLAG` says when work is left, so the driver goes round instead
        // of sleeping (without it, 1,000 slow clients stalled the shard for 1.5 s). On a
        // `COOP_TASKRUN` ring the flag says the same of work queued since the enter.
        let submission = inner.ring.submission();
        let pending = inner.taskrun_flag && submission.taskrun();
        let unsubmitted = !submission.is_empty();
        drop(submission);
        Ok(any || queued > 0 || pending || unsubmitted || !inner.backlog.is_empty())
    }
}

impl Inner {
    /// Takes a free slot for `fd` (now owned by the slot) and arms its receive.
    pub(super) fn open(&mut self, fd: RawFd) -> io::Result<(u32, u32)> {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = u32::try_from(self.slots.len())
                    .map_err(|_| io::Error::other("too many ring slots"))?;
                self.slots.push(Slot {
                    fd: -1,
                    ..Slot::default()
                });
                index
            }
        };
        let generation = match self.slots.get_mut(index as usize) {
            Some(slot) => {
                slot.fd = fd;
                slot.generation
            }
            None => return Err(io::Error::other("ring slot vanished")),
        };
        self.sync(index)?;
        Ok((index, generation))
    }

    /// The slot `index` if it still belongs to `generation`.
    pub(super) fn slot(&mut self, index: u32, generation: u32) -> Option<&mut Slot> {
        self.slots
            .get_mut(index as usize)
            .filter(|s| s.generation == generation && s.fd >= 0)
    }

    /// Queues a send of `buffer` (which the slot keeps until the completion).
    pub(super) fn send(&mut self, index: u32, buffer: BytesMut) -> io::Result<()> {
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return Err(io::Error::other("ring slot vanished"));
        };
        slot.sending = buffer;
        slot.sent = 0;
        slot.send_fresh = true;
        self.fresh_sends.push(index);
        self.push_send(index)
    }

    /// Queues a wait until the socket has room (`POLLOUT`), in the place of a send: it
    /// completes as a send does, so the writer waits for it (timed) the same way. For a
    /// system call the ring does not make (`sendfile`) that found the send buffer full.
    pub(super) fn wait_writable(&mut self, index: u32) -> io::Result<()> {
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return Err(io::Error::other("ring slot vanished"));
        };
        slot.sending.clear();
        slot.sent = 0;
        slot.send_fresh = true;
        slot.send_is_poll = true;
        slot.send = Send::InFlight { cancelled: false };
        let entry = opcode::PollAdd::new(types::Fd(slot.fd), libc::POLLOUT as u32)
            .build()
            .user_data(user_data(Op::Send, index, slot.generation));
        self.fresh_sends.push(index);
        // SAFETY: a poll points at no memory.
        unsafe { self.queue(entry) };
        Ok(())
    }

    fn push_send(&mut self, index: u32) -> io::Result<()> {
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return Ok(());
        };
        let rest = slot.sending.get(slot.sent..).unwrap_or_default();
        let entry = opcode::Send::new(
            types::Fd(slot.fd),
            rest.as_ptr(),
            u32::try_from(rest.len()).unwrap_or(u32::MAX),
        )
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(user_data(Op::Send, index, slot.generation));
        slot.send = Send::InFlight { cancelled: false };
        // SAFETY: `sending` is neither touched nor dropped while the send is in flight (or
        // waiting in the backlog): the connection gets it back only from `Send::Done`, a
        // closing slot is freed only once the send's completion is in, and `close_all`
        // leaks it if that never comes. Moving the slot (the slab growing) does not move
        // the buffer's heap memory.
        unsafe { self.queue(entry) };
        Ok(())
    }

    /// Queues `entry`: into the submission queue, or behind the backlog.
    ///
    /// # Safety
    ///
    /// As [`sys::push`]: every buffer `entry` points at outlives its completion.
    unsafe fn queue(&mut self, entry: squeue::Entry) {
        // SAFETY: the caller's guarantee.
        if !self.backlog.is_empty() || !unsafe { sys::push(&mut self.ring, &entry) } {
            self.backlog.push_back(entry);
        }
    }

    /// Moves backlogged entries into the submission queue, submitting when it is full.
    fn drain_backlog(&mut self) {
        while let Some(entry) = self.backlog.front() {
            // SAFETY: each entry was given to `queue`, whose caller guaranteed its buffers.
            if unsafe { sys::push(&mut self.ring, entry) } {
                self.backlog.pop_front();
            } else if self.ring.submit().is_err() {
                return;
            }
        }
    }

    /// Brings the slot's operations in line with its state: arms the receive while input is
    /// wanted, cancels it while the pending bytes are over the cap or the connection is gone,
    /// cancels a closing slot's send, and frees a closing slot once nothing is in flight.
    pub(super) fn sync(&mut self, index: u32) -> io::Result<()> {
        let cap = self.pending_cap;
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return Ok(());
        };
        if slot.fd < 0 {
            return Ok(());
        }
        let (fd, generation) = (slot.fd, slot.generation);
        let wanted = !slot.closing && slot.end.is_none() && slot.pending.len() < cap;
        let mut entries: [Option<squeue::Entry>; 2] = [None, None];
        match (wanted, slot.recv) {
            (true, Recv::Idle) => {
                slot.recv = Recv::Armed;
                entries[0] = Some(
                    opcode::RecvMulti::new(types::Fd(fd), BUFFER_GROUP)
                        .build()
                        .user_data(user_data(Op::Recv, index, generation)),
                );
            }
            (false, Recv::Armed) => {
                slot.recv = Recv::Cancelling;
                entries[0] = Some(
                    opcode::AsyncCancel::new(user_data(Op::Recv, index, generation))
                        .build()
                        .user_data(user_data(Op::Cancel, index, generation)),
                );
            }
            _ => {}
        }
        if slot.closing {
            if let Send::InFlight { cancelled: false } = slot.send {
                slot.send = Send::InFlight { cancelled: true };
                entries[1] = Some(
                    opcode::AsyncCancel::new(user_data(Op::Send, index, generation))
                        .build()
                        .user_data(user_data(Op::Cancel, index, generation)),
                );
            }
            if slot.recv == Recv::Idle && !matches!(slot.send, Send::InFlight { .. }) {
                sys::close(fd);
                crate::server::pool::give(std::mem::take(&mut slot.pending));
                crate::server::pool::give(std::mem::take(&mut slot.sending));
                *slot = Slot {
                    fd: -1,
                    generation: generation.wrapping_add(1) & 0xff_ffff,
                    ..Slot::default()
                };
                self.free.push(index);
            }
        }
        for entry in entries.into_iter().flatten() {
            // SAFETY: a multishot receive reads into the registered buffer ring, which lives
            // until `close_all` has seen every receive end; a cancellation points at no
            // memory.
            unsafe { self.queue(entry) };
        }
        Ok(())
    }

    fn complete(&mut self, cqe: &cqueue::Entry) -> io::Result<()> {
        let (op, index, generation) = decode(cqe.user_data());
        match op {
            Some(Op::Recv) => self.received(index, generation, cqe.result(), cqe.flags()),
            Some(Op::Send) => self.sent(index, generation, cqe.result()),
            Some(Op::Cancel) | None => Ok(()),
        }
    }

    fn received(&mut self, index: u32, generation: u32, res: i32, flags: u32) -> io::Result<()> {
        let bid = cqueue::buffer_select(flags);
        let read_buffer_bytes = self.read_buffer_bytes;
        let Some(slot) = self
            .slots
            .get_mut(index as usize)
            .filter(|s| s.generation == generation && s.fd >= 0)
        else {
            if let Some(bid) = bid {
                self.buffers.recycle(bid);
            }
            return Ok(());
        };
        if !cqueue::more(flags) {
            slot.recv = Recv::Idle;
        }
        let mut wake = true;
        match res {
            1.. => {
                if let Some(bid) = bid {
                    if !slot.closing {
                        let data = self.buffers.filled(bid, res as usize);
                        if slot.pending.capacity() == 0 {
                            slot.pending =
                                crate::server::pool::take(read_buffer_bytes.max(data.len()));
                        }
                        slot.pending.extend_from_slice(data);
                    }
                    self.buffers.recycle(bid);
                }
            }
            0 => slot.end = Some(End::Eof),
            _ if res == -libc::ENOBUFS || res == -libc::ECANCELED => wake = false,
            _ => slot.end = Some(End::Error(-res)),
        }
        if wake {
            if let Some(reader) = slot.reader.take() {
                reader.wake();
            }
        }
        self.sync(index)
    }

    fn sent(&mut self, index: u32, generation: u32, res: i32) -> io::Result<()> {
        let Some(slot) = self
            .slots
            .get_mut(index as usize)
            .filter(|s| s.generation == generation && s.fd >= 0)
        else {
            return Ok(());
        };
        if slot.closing {
            slot.send = Send::Idle;
            slot.send_is_poll = false;
            return self.sync(index);
        }
        if std::mem::take(&mut slot.send_is_poll) {
            // A poll's result is the ready mask (an error or hang-up included: the next
            // system call on the socket reports it).
            slot.send = Send::Done(if res >= 0 { Ok(()) } else { Err(-res) });
            if let Some(writer) = slot.writer.take() {
                writer.wake();
            }
            return Ok(());
        }
        match res {
            1.. => {
                slot.sent += res as usize;
                if slot.sent < slot.sending.len() {
                    // A short send: the socket buffer filled; send the rest, and let the
                    // writer start timing the client (it may not be reading).
                    if let Some(writer) = slot.writer.take() {
                        writer.wake();
                    }
                    return self.push_send(index);
                }
                slot.send = Send::Done(Ok(()));
            }
            // A send of a non-empty buffer that moved nothing: the peer is gone.
            0 => slot.send = Send::Done(Err(libc::EPIPE)),
            _ => slot.send = Send::Done(Err(-res)),
        }
        if let Some(writer) = slot.writer.take() {
            writer.wake();
        }
        Ok(())
    }

    /// Operations still in the kernel.
    fn in_flight(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.fd >= 0)
            .map(|s| {
                usize::from(s.recv != Recv::Idle)
                    + usize::from(matches!(s.send, Send::InFlight { .. }))
            })
            .sum()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.close_all();
    }
}

impl Inner {
    /// The shard is exiting: cancel what is in flight, wait (briefly) for the kernel to let
    /// go of every buffer, and close every socket. Anything still in flight after that is
    /// leaked rather than freed under the kernel. Idempotent.
    fn close_all(&mut self) {
        for index in 0..self.slots.len() as u32 {
            if let Some(slot) = self.slots.get_mut(index as usize) {
                slot.closing = true;
            }
            let _ = self.sync(index);
        }
        let mut attempts = 0;
        while self.in_flight() > 0 && attempts < DRAIN_ATTEMPTS {
            attempts += 1;
            self.drain_backlog();
            let wait = types::Timespec::new().nsec(DRAIN_WAIT_NS);
            let args = types::SubmitArgs::new().timespec(&wait);
            match self.ring.submitter().submit_with_args(1, &args) {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR)) => {}
                Err(_) => break,
            }
            let reaped: Vec<cqueue::Entry> = self.ring.completion().collect();
            for cqe in &reaped {
                let _ = self.complete(cqe);
            }
        }
        if self.in_flight() > 0 {
            log::warn!(
                "own io_uring: operations still in flight at exit; their buffers are leaked"
            );
            for slot in &mut self.slots {
                std::mem::forget(std::mem::take(&mut slot.sending));
            }
            let buffers = std::mem::replace(&mut self.buffers, BufRing::empty());
            std::mem::forget(buffers);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every concrete setup builds on a 6.1+ kernel (DEFER_TASKRUN's floor), and records
    /// whether completions are deferred, which decides whether every turn enters.
    #[test]
    fn each_setup_builds_and_records_deferral() {
        if !crate::ops::preflight::kernel_at_least((6, 1)) {
            return;
        }
        for setup in [
            RingSetup::CoopTaskrun,
            RingSetup::Interrupt,
            RingSetup::DeferTaskrun,
        ] {
            let deferred = glommio::LocalExecutorBuilder::default()
                .make()
                .expect("an executor")
                .run(async move {
                    let (driver, _eventfd) = Driver::new(4096, setup).expect("the own ring");
                    let inner = driver.inner.borrow();
                    inner.deferred
                });
            assert_eq!(deferred, setup == RingSetup::DeferTaskrun, "{setup:?}");
        }
    }
}
