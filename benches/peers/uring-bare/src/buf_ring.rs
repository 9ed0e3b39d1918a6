//! A provided-buffer ring (`IORING_REGISTER_PBUF_RING`): the kernel picks a buffer for each
//! multishot receive, and the loop hands it back once the bytes are parsed.

use std::alloc::{alloc_zeroed, Layout};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::Submitter;

/// The ring of buffer descriptors must start on a page boundary (io_uring_register_buf_ring(3)).
const PAGE_BYTES: usize = 4096;

/// One registered buffer group: `count` buffers of `size` bytes, and the ring that lists the
/// free ones to the kernel. Lives as long as the process: it is never unregistered or freed,
/// so the kernel can never see a dangling address.
pub struct BufRing {
    entries: *mut BufRingEntry,
    buffers: *mut u8,
    size: usize,
    mask: u16,
    tail: u16,
}

impl BufRing {
    /// Allocates and registers group `group` with `count` (a power of two, at most 32768)
    /// buffers of `size` bytes, all of them free.
    pub fn register(
        submitter: &Submitter,
        group: u16,
        count: u16,
        size: usize,
    ) -> io::Result<BufRing> {
        if !count.is_power_of_two() || count > 1 << 15 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffer count: a power of two up to 32768",
            ));
        }
        let entries_layout =
            Layout::from_size_align(usize::from(count) * size_of::<BufRingEntry>(), PAGE_BYTES)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let buffers_layout = Layout::from_size_align(usize::from(count) * size, PAGE_BYTES)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: both layouts have a non-zero size (count >= 1, size of an entry is 16 and
        // `size` is checked by the caller's constant) and a valid power-of-two alignment.
        let (entries, buffers) = unsafe {
            (
                alloc_zeroed(entries_layout).cast::<BufRingEntry>(),
                alloc_zeroed(buffers_layout),
            )
        };
        if entries.is_null() || buffers.is_null() {
            return Err(io::Error::new(io::ErrorKind::OutOfMemory, "buffer ring"));
        }
        let mut ring = BufRing {
            entries,
            buffers,
            size,
            mask: count - 1,
            tail: 0,
        };
        // SAFETY: `entries` is page-aligned, zeroed memory for `count` descriptors that is never
        // freed (see the type's doc), so it stays valid for as long as the io_uring exists.
        unsafe { submitter.register_buf_ring(entries as u64, count, group)? };
        for bid in 0..count {
            ring.push(bid);
        }
        ring.publish();
        Ok(ring)
    }

    /// The first `len` bytes of buffer `bid`, which a receive completion just filled.
    pub fn filled(&self, bid: u16, len: usize) -> &[u8] {
        let len = len.min(self.size);
        let bid = usize::from(bid & self.mask);
        // SAFETY: `bid` is masked into `0..count`, so the slice lies inside the `count * size`
        // bytes allocated in `register`. The kernel wrote it before posting the completion
        // and does not touch it again until `recycle` lists it as free.
        unsafe { std::slice::from_raw_parts(self.buffers.add(bid * self.size), len) }
    }

    /// Hands buffer `bid` back to the kernel.
    pub fn recycle(&mut self, bid: u16) {
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
