//! The `Date` header value, formatted at most once a second per shard.
//!
//! Each shard thread owns its own copy (a thread-local `RefCell`): no shared mutable global,
//! no synchronisation on the hot path.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) const DATE_LEN: usize = 29;

struct DateCache {
    second: u64,
    text: [u8; DATE_LEN],
}

thread_local! {
    static DATE: RefCell<DateCache> = const {
        RefCell::new(DateCache { second: 0, text: [b' '; DATE_LEN] })
    };
}

/// Re-formats the cached date if the second has changed. The shard's clock task calls this;
/// [`with_date`] also calls it the first time on a thread.
pub(crate) fn refresh() {
    let now = SystemTime::now();
    let second = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    DATE.with(|cell| {
        let mut cache = cell.borrow_mut();
        if cache.second != second {
            let formatted = httpdate::fmt_http_date(now);
            if formatted.len() == DATE_LEN {
                cache.text.copy_from_slice(formatted.as_bytes());
                cache.second = second;
            }
        }
    });
}

/// Runs `f` with the current date bytes.
pub(crate) fn with_date<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    DATE.with(|cell| {
        if cell.borrow().second == 0 {
            refresh();
        }
        f(&cell.borrow().text)
    })
}
