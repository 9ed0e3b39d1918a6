//! A per-shard free list of connection buffers, so buffers pass between connections
//! instead of between each connection and the allocator.
//!
//! A connection takes its read and write buffers when a request starts and gives them back
//! when it goes idle or closes. Without the list, thousands of connections each freeing
//! 4-8 KiB buffers at different times fragment the heap and the freed memory never leaves
//! the process (`benches/run.sh idle`: 3,601 bytes per idle connection after one request
//! each, against 1,752 for connections that never sent one). The list is thread-local,
//! which is per shard: a shard is one thread.

use std::cell::RefCell;

use bytes::BytesMut;

/// Most buffers kept per shard: enough for the connections busy at one moment on a core.
const MAX_FREE_BUFFERS: usize = 64;

/// Buffers larger than this (grown for one big request or response) go back to the
/// allocator rather than pinning their memory in the list.
const MAX_FREE_CAPACITY: usize = 64 * 1024;

thread_local! {
    static FREE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer with room for at least `capacity` bytes, from the list if it has one.
pub(crate) fn take(capacity: usize) -> BytesMut {
    let pooled = FREE.try_with(|free| free.borrow_mut().pop()).ok().flatten();
    match pooled {
        Some(mut buf) => {
            buf.reserve(capacity);
            buf
        }
        None => BytesMut::with_capacity(capacity),
    }
}

/// Gives `buf` back for another connection (emptied), or frees it if the list is full or
/// the buffer is unusually large.
pub(crate) fn give(mut buf: BytesMut) {
    if buf.capacity() == 0 || buf.capacity() > MAX_FREE_CAPACITY {
        return;
    }
    buf.clear();
    let _ = FREE.try_with(|free| {
        let mut free = free.borrow_mut();
        if free.len() < MAX_FREE_BUFFERS {
            free.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_is_taken_again_empty() {
        let mut buf = take(1024);
        buf.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        let at = buf.as_ptr();
        give(buf);
        let again = take(512);
        assert_eq!(again.as_ptr(), at, "the same allocation comes back");
        assert!(again.is_empty());
        assert!(again.capacity() >= 1024);
    }

    #[test]
    fn oversized_buffers_are_not_kept() {
        let big = take(MAX_FREE_CAPACITY + 1);
        let at = big.as_ptr();
        give(big);
        assert_ne!(take(16).as_ptr(), at);
    }
}
