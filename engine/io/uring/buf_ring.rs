//! A provided-buffer ring (`IORING_REGISTER_PBUF_RING`): the kernel picks a buffer for each
//! multishot receive, and the driver hands it back as soon as it has copied the bytes out.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::IoUring;

/// The ring of buffer descriptors must start on a page boundary (io_uring_register_buf_ring(3)).
const PAGE_BYTES: usize = 4096;

/// One registered buffer group: `count` buffers of `size` bytes, and the ring that lists the
/// free ones to the kernel. Freed on drop, which the driver allows only once no receive is
/// in flight (otherwise it leaks it: see `Inner`'s drop).
pub(super) struct BufRing {
    entries: *mut BufRingEntry,
    buffers: *mut u8,
    entries_layout: Layout,
    buffers_layout: Layout,
    size: usize,
    mask: u16,
    tail: u16,
}

impl BufRing {
    /// Allocates and registers group `group` with `count` (a power of two, at most 32768)
    /// buffers of `size` (non-zero) bytes, all of them free.
    pub(super) fn register(
        ring: &IoUring,
        group: u16,
        count: u16,
        size: usize,
    ) -> io::Result<BufRing> {
        if !count.is_power_of_two() || count > 1 << 15 || size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffer ring: a power of two up to 32768 buffers of at least one byte",
            ));
        }
        let invalid = |e| io::Error::new(io::ErrorKind::InvalidInput, e);
        let entries_layout =
            Layout::from_size_align(usize::from(count) * size_of::<BufRingEntry>(), PAGE_BYTES)
                .map_err(invalid)?;
        let buffers_layout =
            Layout::from_size_align(usize::from(count) * size, PAGE_BYTES).map_err(invalid)?;
        // SAFETY: both layouts have a non-zero size (count >= 1, an entry is 16 bytes, size
        // >= 1 is checked above) and a valid power-of-two alignment.
        let (entries, buffers) = unsafe {
            (
                alloc_zeroed(entries_layout).cast::<BufRingEntry>(),
                alloc_zeroed(buffers_layout),
            )
        };
        let mut this = BufRing {
            entries,
            buffers,
            entries_layout,
            buffers_layout,
            size,
            mask: count - 1,
            tail: 0,
        };
        if entries.is_null() || buffers.is_null() {
            return Err(io::Error::new(io::ErrorKind::OutOfMemory, "buffer ring"));
        }
        // SAFETY: `entries` is page-aligned, zeroed memory for `count` descriptors; it is freed
        // only on drop, after the ring that uses it is gone (the driver's field order) and no
        // receive is in flight.
        unsafe {
            ring.submitter()
                .register_buf_ring(entries as u64, count, group)?
        };
        for bid in 0..count {
            this.push(bid);
        }
        this.publish();
        Ok(this)
    }

    /// A ring with no memory, to leave in place of one that is leaked.
    pub(super) fn empty() -> BufRing {
        BufRing {
            entries: std::ptr::null_mut(),
            buffers: std::ptr::null_mut(),
            entries_layout: Layout::new::<u8>(),
            buffers_layout: Layout::new::<u8>(),
            size: 0,
            mask: 0,
            tail: 0,
        }
    }

    /// The first `len` bytes of buffer `bid`, which a receive completion just filled.
    pub(super) fn filled(&self, bid: u16, len: usize) -> &[u8] {
        if self.buffers.is_null() {
            return &[];
        }
        let len = len.min(self.size);
        let bid = usize::from(bid & self.mask);
        // SAFETY: `bid` is masked into `0..count`, so the slice lies inside the `count * size`
        // bytes allocated in `register`. The kernel wrote it before posting the completion
        // and does not touch it again until `recycle` lists it as free.
        unsafe { std::slice::from_raw_parts(self.buffers.add(bid * self.size), len) }
    }

    /// Hands buffer `bid` back to the kernel.
    pub(super) fn recycle(&mut self, bid: u16) {
        if self.entries.is_null() {
            return;
        }
        self.push(bid);
        self.publish();
    }

    fn push(&mut self, bid: u16) {
        let slot = usize::from(self.tail & self.mask);
        let bid = bid & self.mask;
        // SAFETY: `slot` is in `0..count`, inside the descriptor array; the kernel reads only
        // the slots between its head and the published tail, and this one is past the tail.
        let entry = unsafe { &mut *self.entries.add(slot) };
        // SAFETY: `bid` is in `0..count`, so the address is inside the buffer allocation.
        entry.set_addr(unsafe { self.buffers.add(usize::from(bid) * self.size) } as u64);
        entry.set_len(u32::try_from(self.size).unwrap_or(u32::MAX));
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the pushed descriptors visible to the kernel.
    fn publish(&self) {
        // SAFETY: `entries` points at descriptor 0, whose `resv` field is the ring's shared
        // tail; it is a naturally aligned u16 that the kernel only reads, so an atomic store
        // (Release: the descriptors written above become visible first) is the protocol.
        unsafe {
            (*BufRingEntry::tail(self.entries).cast::<AtomicU16>())
                .store(self.tail, Ordering::Release)
        };
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: both pointers came from `alloc_zeroed` with these layouts (null ones never
        // make a BufRing past `register`'s check, and are skipped here for the early return
        // there); the driver drops a BufRing only once the kernel can no longer write to it.
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
