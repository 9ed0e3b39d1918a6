//! Which shard the calling code runs on: [`ShardInfo`] and [`current_shard`].

use std::cell::Cell;

/// Identity of one shard, given to the handler factory.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ShardInfo {
    /// Index of the shard, `0..shard_count`.
    pub id: usize,
    /// The CPU it is pinned to.
    pub cpu: usize,
    /// How many shards the server runs.
    pub shard_count: usize,
}

thread_local! {
    static CURRENT: Cell<Option<ShardInfo>> = const { Cell::new(None) };
}

/// The shard the calling code runs on, or `None` outside a shard thread.
pub fn current_shard() -> Option<ShardInfo> {
    CURRENT.with(Cell::get)
}

/// Marks the calling thread as `info`'s shard (once, when the shard thread starts).
pub(crate) fn enter(info: ShardInfo) {
    CURRENT.with(|c| c.set(Some(info)));
}
