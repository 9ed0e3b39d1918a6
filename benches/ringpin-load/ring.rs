//! The one io_uring of a worker thread, and this binary's only `unsafe`: batched sends of the
//! fixed request bytes, multishot receives into a provided buffer ring, and the wait.
//!
//! Receives are `recvmsg` with the kernel's receive timestamp (`SO_TIMESTAMPNS`) beside the
//! bytes, so a response's arrival time is known without the worker being awake for it; with
//! `DEFER_TASKRUN` the kernel then does not wake the worker for an arriving response unless
//! it asked to be woken, and one wake serves a whole batch of due sends.
//!
//! Every pointer the kernel is given points into memory this `Ring` owns (the request bytes
//! and the receive buffers), so the methods are safe to call: a send or receive on a socket
//! that was closed meanwhile fails with an error completion, it never touches freed memory.
//! On drop the ring waits for the kernel to finish with that memory, and leaks it if it does
//! not in time (see `Drop`).

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use io_uring::types::{BufRingEntry, RecvMsgOut, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, squeue, types, IoUring};

/// The buffer group id of the receive buffers; a ring has only one.
const BUFFER_GROUP: u16 = 0;

/// The descriptor ring must start on a page boundary (io_uring_register_buf_ring(3)).
const PAGE_BYTES: usize = 4096;

/// Waits of this length, at most, for the kernel to let go of the buffers on drop.
const DRAIN_WAIT: Duration = Duration::from_millis(10);

/// How many `DRAIN_WAIT`s drop tries before it leaks the buffers instead of freeing them.
const DRAIN_ATTEMPTS: u32 = 100;

/// Room for the control messages of one receive: one `SCM_TIMESTAMPNS` takes 32 bytes.
const CONTROL_BYTES: u32 = 64;

/// `want` for a wait that only the timeout should end: more completions than ever pend.
const WAKE_ON_TIMEOUT_ONLY: usize = 1 << 30;

/// `SO_TIMESTAMPNS` as x86-64 and most 64-bit targets number it, and the `_NEW` number; both
/// carry a 64-bit `timespec`.
const SCM_TIMESTAMPNS_TYPES: [i32; 2] = [35, 64];

/// What an operation was, in the low bit of its user data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Send,
    Recv,
}

/// One completion, decoded: which connection (index and generation) and what happened.
#[derive(Clone, Copy, Debug)]
pub struct Completion {
    pub op: Op,
    pub conn: u32,
    pub generation: u32,
    /// Bytes moved, 0 for end of stream, or a negative errno.
    pub result: i32,
    /// A multishot receive stays armed (`IORING_CQE_F_MORE`).
    pub more: bool,
    /// The receive buffer the bytes are in; give it back with `recycle`.
    pub buffer: Option<u16>,
}

fn user_data(op: Op, conn: u32, generation: u32) -> u64 {
    (u64::from(generation) << 32) | (u64::from(conn) << 1) | u64::from(op == Op::Recv)
}

fn decode(cqe: &cqueue::Entry) -> Completion {
    let data = cqe.user_data();
    Completion {
        op: if data & 1 == 1 { Op::Recv } else { Op::Send },
        conn: ((data & 0xffff_ffff) >> 1) as u32,
        generation: (data >> 32) as u32,
        result: cqe.result(),
        more: cqueue::more(cqe.flags()),
        buffer: cqueue::buffer_select(cqe.flags()),
    }
}

/// A worker's ring, the receive buffers registered with it, and the request bytes it sends.
pub struct Ring {
    ring: IoUring,
    /// Descriptors of the free receive buffers, shared with the kernel.
    entries: *mut BufRingEntry,
    entries_layout: Layout,
    buffers: *mut u8,
    buffers_layout: Layout,
    buffer_bytes: usize,
    mask: u16,
    tail: u16,
    /// The request, repeated as often as one send may carry (the pipeline depth).
    requests: Box<[u8]>,
    /// The template every multishot `recvmsg` reads its layout from: no name, and
    /// `CONTROL_BYTES` of control messages.
    msghdr: Box<libc::msghdr>,
    /// Receives armed and sends submitted that have not ended: drop waits for them.
    in_flight: usize,
}

impl Ring {
    /// A ring of `entries` submission slots, `buffer_count` (a power of two, at most 32768)
    /// receive buffers of `buffer_bytes` each, and `requests` as the bytes that sends take.
    pub fn new(
        entries: u32,
        buffer_count: u16,
        buffer_bytes: usize,
        requests: Vec<u8>,
    ) -> io::Result<Ring> {
        let invalid = |e: &str| io::Error::new(io::ErrorKind::InvalidInput, e.to_string());
        if !buffer_count.is_power_of_two() || buffer_count > 1 << 15 || buffer_bytes == 0 {
            return Err(invalid(
                "receive buffers: a power of two up to 32768, non-empty",
            ));
        }
        // DEFER_TASKRUN: completions are posted only when this thread asks for them (every
        // wait or poll), and an arriving response wakes a sleeping wait only if it asked for
        // one completion; SINGLE_ISSUER is its precondition (one thread owns the ring).
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .build(entries)?;
        // SAFETY: an all-zero msghdr is valid: null pointers with zero lengths.
        let mut msghdr: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        msghdr.msg_controllen = CONTROL_BYTES as _;
        let entries_layout = Layout::from_size_align(
            usize::from(buffer_count) * size_of::<BufRingEntry>(),
            PAGE_BYTES,
        )
        .map_err(|_| invalid("receive buffer descriptors"))?;
        let buffers_layout =
            Layout::from_size_align(usize::from(buffer_count) * buffer_bytes, PAGE_BYTES)
                .map_err(|_| invalid("receive buffers"))?;
        // SAFETY: both layouts have a non-zero size (count >= 1, a descriptor is 16 bytes,
        // buffer_bytes >= 1 is checked above) and a power-of-two alignment.
        let (entries_ptr, buffers) = unsafe {
            (
                alloc_zeroed(entries_layout).cast::<BufRingEntry>(),
                alloc_zeroed(buffers_layout),
            )
        };
        let mut this = Ring {
            ring,
            entries: entries_ptr,
            entries_layout,
            buffers,
            buffers_layout,
            buffer_bytes,
            mask: buffer_count - 1,
            tail: 0,
            requests: requests.into_boxed_slice(),
            msghdr,
            in_flight: 0,
        };
        if entries_ptr.is_null() || buffers.is_null() {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "receive buffers",
            ));
        }
        // SAFETY: `entries` is page-aligned zeroed memory for `buffer_count` descriptors,
        // freed only in drop, after the ring is gone or the kernel is done with it.
        unsafe {
            this.ring.submitter().register_buf_ring(
                this.entries as u64,
                buffer_count,
                BUFFER_GROUP,
            )?
        };
        for bid in 0..buffer_count {
            this.push_buffer(bid);
        }
        this.publish();
        Ok(this)
    }

    /// Bytes of one request in `requests`.
    pub fn request_bytes(&self, depth: usize) -> usize {
        self.requests.len() / depth.max(1)
    }

    /// Queues a send of `requests[offset..offset + len]` on `fd` (clamped to the bytes held).
    pub fn send(&mut self, fd: RawFd, offset: usize, len: usize, conn: u32, generation: u32) {
        let offset = offset.min(self.requests.len());
        let len = len.min(self.requests.len() - offset);
        // SAFETY (of the pointer, used by the kernel later): `requests` lives as long as the
        // ring and drop waits for every send to end; the range is inside it (clamped above).
        let buf = self.requests[offset..].as_ptr();
        let entry = opcode::Send::new(types::Fd(fd), buf, len as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(user_data(Op::Send, conn, generation));
        self.push(entry);
    }

    /// Arms a multishot receive on `fd` into the buffer ring.
    pub fn recv(&mut self, fd: RawFd, conn: u32, generation: u32) {
        // The kernel reads the msghdr template when each receive completes; it lives in a
        // Box the ring owns, so its address is stable for the ring's life.
        let msghdr: *const libc::msghdr = &*self.msghdr;
        let entry = opcode::RecvMsgMulti::new(types::Fd(fd), msghdr, BUFFER_GROUP)
            .build()
            .user_data(user_data(Op::Recv, conn, generation));
        self.push(entry);
    }

    fn push(&mut self, entry: squeue::Entry) {
        loop {
            // SAFETY: the entry points only at memory the ring owns (the request bytes, or
            // the registered buffer group), which outlives the operation (see `Drop`).
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                self.in_flight += 1;
                return;
            }
            // The submission queue is full: hand it to the kernel and try again.
            if self.ring.submit().is_err() {
                std::thread::yield_now();
            }
        }
    }

    /// Submits what is queued, without waiting; the kernel also posts pending completions.
    pub fn submit(&mut self) -> io::Result<()> {
        match self.ring.submit() {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Submits what is queued and posts the completions that arrived, without sleeping.
    pub fn poll(&mut self) -> io::Result<()> {
        self.wait(Duration::ZERO, true)
    }

    /// Submits what is queued and sleeps until `timeout` passes or, with `on_completion`, a
    /// completion arrives; completions that arrived meanwhile are posted either way.
    pub fn wait(&mut self, timeout: Duration, on_completion: bool) -> io::Result<()> {
        let want = if on_completion {
            1
        } else {
            WAKE_ON_TIMEOUT_ONLY
        };
        let timespec = Timespec::from(timeout);
        let args = SubmitArgs::new().timespec(&timespec);
        match self.ring.submitter().submit_with_args(want, &args) {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Moves every posted completion into `out` (cleared first).
    pub fn reap(&mut self, out: &mut Vec<Completion>) {
        out.clear();
        out.extend(self.ring.completion().map(|cqe| decode(&cqe)));
        for completion in out.iter() {
            let ended = match completion.op {
                Op::Send => true,
                Op::Recv => !completion.more,
            };
            self.in_flight -= usize::from(ended && self.in_flight > 0);
        }
    }

    /// The payload of a `recvmsg` completion of `len` bytes in buffer `bid`, and the kernel's
    /// receive time of its last bytes (CLOCK_REALTIME, ns) if it was given; `None` if the
    /// buffer does not hold a well-formed `recvmsg` result.
    pub fn received(&self, bid: u16, len: usize) -> Option<(&[u8], Option<u64>)> {
        let buffer = self.filled(bid, len);
        let out = RecvMsgOut::parse(buffer, &self.msghdr).ok()?;
        // `payload_data` borrows `out`; the same bytes, found by offset, borrow the buffer.
        let start = (out.payload_data().as_ptr() as usize).checked_sub(buffer.as_ptr() as usize)?;
        let payload = buffer.get(start..start + out.payload_data().len())?;
        Some((payload, rx_timestamp(out.control_data())))
    }

    /// The first `len` bytes of receive buffer `bid`, which a completion just filled.
    fn filled(&self, bid: u16, len: usize) -> &[u8] {
        let len = len.min(self.buffer_bytes);
        let bid = usize::from(bid & self.mask);
        // SAFETY: `bid` is masked into `0..count`, so the slice lies inside the allocation;
        // the kernel wrote it before posting the completion and does not write it again
        // until `recycle` lists it as free.
        unsafe { std::slice::from_raw_parts(self.buffers.add(bid * self.buffer_bytes), len) }
    }

    /// Hands receive buffer `bid` back to the kernel.
    pub fn recycle(&mut self, bid: u16) {
        self.push_buffer(bid);
        self.publish();
    }

    fn push_buffer(&mut self, bid: u16) {
        let slot = usize::from(self.tail & self.mask);
        let bid = bid & self.mask;
        // SAFETY: `slot` is in `0..count`, inside the descriptor array; the kernel reads only
        // the descriptors between its head and the published tail, and this one is past it.
        let entry = unsafe { &mut *self.entries.add(slot) };
        // SAFETY: `bid` is in `0..count`, so the address is inside the buffer allocation.
        let addr = unsafe { self.buffers.add(usize::from(bid) * self.buffer_bytes) };
        entry.set_addr(addr as u64);
        entry.set_len(u32::try_from(self.buffer_bytes).unwrap_or(u32::MAX));
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: descriptor 0's `resv` field is the ring's shared tail, a naturally aligned
        // u16 the kernel only reads; a Release store makes the descriptors visible first.
        unsafe {
            (*BufRingEntry::tail(self.entries).cast::<AtomicU16>())
                .store(self.tail, Ordering::Release)
        };
    }
}

impl Drop for Ring {
    /// The owner has shut its sockets down, so every receive ends soon; this waits for the
    /// ends, then frees the buffers, or leaks them (and the request bytes) if the kernel
    /// still holds any after `DRAIN_ATTEMPTS` waits.
    fn drop(&mut self) {
        let mut reaped = Vec::new();
        let mut attempts = 0;
        while self.in_flight > 0 && attempts < DRAIN_ATTEMPTS {
            attempts += 1;
            if self.wait(DRAIN_WAIT, true).is_err() {
                break;
            }
            reaped.clear();
            self.reap(&mut reaped);
            for bid in reaped.iter().filter_map(|c| c.buffer) {
                self.recycle(bid);
            }
        }
        if self.in_flight > 0 {
            std::mem::forget(std::mem::take(&mut self.requests));
            std::mem::forget(std::mem::replace(
                &mut self.msghdr,
                // SAFETY: as in `new`, an all-zero msghdr is valid.
                Box::new(unsafe { std::mem::zeroed() }),
            ));
            return;
        }
        // SAFETY: both pointers came from `alloc_zeroed` with these layouts (a null one, from
        // a failed allocation in `new`, is skipped), and nothing in flight can still write
        // to them.
        unsafe {
            if !self.entries.is_null() {
                dealloc(self.entries.cast(), self.entries_layout);
            }
            if !self.buffers.is_null() {
                dealloc(self.buffers, self.buffers_layout);
            }
        }
    }
}

/// Asks the kernel to wake this thread's timed waits on time (1 ns of slack, not the default
/// 50 µs), so a wait for the next due send does not add up to 50 µs of send lag.
pub fn tighten_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}

/// Asks the kernel to stamp every segment `fd` receives (`SO_TIMESTAMPNS`), so a response's
/// arrival time comes with its bytes. Returns whether the kernel agreed.
pub fn enable_rx_timestamps(fd: RawFd) -> bool {
    let on: libc::c_int = 1;
    // SAFETY: `on` is a live c_int and the length passed is its size; the kernel only reads
    // it. A bad or closed `fd` makes the call fail, which is reported.
    let status = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    status == 0
}

/// The `SCM_TIMESTAMPNS` time in a received control buffer, in ns since the epoch. The
/// buffer is the kernel's `cmsghdr` sequence (length, level, type, data, each header
/// aligned to 8 bytes), read here with safe slicing.
pub fn rx_timestamp(control: &[u8]) -> Option<u64> {
    const HEADER: usize = size_of::<usize>() + 2 * size_of::<i32>();
    let word = size_of::<usize>();
    let mut at = 0;
    while let Some(header) = control.get(at..at + HEADER) {
        let len = usize::from_ne_bytes(header.get(..word)?.try_into().ok()?);
        let level = i32::from_ne_bytes(header.get(word..word + 4)?.try_into().ok()?);
        let kind = i32::from_ne_bytes(header.get(word + 4..word + 8)?.try_into().ok()?);
        if len < HEADER {
            return None;
        }
        if level == libc::SOL_SOCKET && SCM_TIMESTAMPNS_TYPES.contains(&kind) {
            let data = control.get(at + HEADER..at + HEADER + 16)?;
            let sec = i64::from_ne_bytes(data.get(..8)?.try_into().ok()?);
            let nsec = i64::from_ne_bytes(data.get(8..16)?.try_into().ok()?);
            return u64::try_from(sec)
                .ok()?
                .checked_mul(1_000_000_000)?
                .checked_add(u64::try_from(nsec).ok()?);
        }
        at += len.next_multiple_of(word);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmsg(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        let mut bytes = (16 + data.len()).to_ne_bytes().to_vec();
        bytes.extend_from_slice(&level.to_ne_bytes());
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(data);
        bytes.resize(bytes.len().next_multiple_of(8), 0);
        bytes
    }

    #[test]
    fn finds_the_receive_timestamp_among_control_messages() {
        let mut stamp = 7i64.to_ne_bytes().to_vec();
        stamp.extend_from_slice(&25i64.to_ne_bytes());
        let mut control = cmsg(libc::SOL_IP, 8, &[1, 2, 3]);
        control.extend(cmsg(libc::SOL_SOCKET, 35, &stamp));
        assert_eq!(rx_timestamp(&control), Some(7_000_000_025));
        assert_eq!(rx_timestamp(&cmsg(libc::SOL_SOCKET, 35, &stamp[..8])), None);
        assert_eq!(rx_timestamp(&[]), None);
        assert_eq!(rx_timestamp(&[0; 16]), None);
    }
}
