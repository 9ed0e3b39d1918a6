//! Time on the own ring, in whole milliseconds since the driver started.

use std::time::Instant;

/// A point in time as whole milliseconds since the driver started, rounded up: a
/// deadline in 4 bytes (every connection holds two), never early, good for 49 days.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(super) struct Tick(std::num::NonZeroU32);

impl Tick {
    /// `when`, rounded up: for a deadline.
    pub(super) fn at(epoch: Instant, when: Instant) -> Tick {
        Tick::of(
            when.saturating_duration_since(epoch)
                .as_nanos()
                .div_ceil(1_000_000),
        )
    }

    /// `now`, rounded down: a deadline at or before it has passed.
    pub(super) fn passed(epoch: Instant, now: Instant) -> Tick {
        Tick::of(now.saturating_duration_since(epoch).as_millis())
    }

    fn of(ms: u128) -> Tick {
        // The epoch is a millisecond before the driver started: no tick is zero.
        let ms = u32::try_from(ms).unwrap_or(u32::MAX).max(1);
        Tick(std::num::NonZeroU32::new(ms).unwrap_or(std::num::NonZeroU32::MIN))
    }

    pub(super) fn instant(self, epoch: Instant) -> Instant {
        epoch + std::time::Duration::from_millis(u64::from(self.0.get()))
    }
}
