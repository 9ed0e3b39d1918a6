//! Adaptive load shedding: answer 503 while the shard's run queue stays too long.
//!
//! CoDel's idea applied to a shard: a probe task measures how late the shard notices
//! events (it sleeps a few milliseconds and times how much later than asked it wakes, then
//! how long it waits behind the tasks woken with it). While that delay stays above
//! `target` for a whole `interval`, the shard is overloaded and new requests get a quick
//! 503 with `Retry-After` instead of a handler; as soon as one probe sees the delay under
//! `target`, requests are admitted again. Short bursts are absorbed; a standing queue,
//! which only grows tail latency for everyone, is not.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// Load shedding settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shedding {
    /// Queueing delay the shard tolerates. Default 5 ms (CoDel's).
    pub target: Duration,
    /// How long the delay must stay above `target` before shedding starts. Default 100 ms
    /// (CoDel's).
    pub interval: Duration,
    /// How often the probe measures. Default 5 ms.
    pub probe_every: Duration,
    /// `Retry-After` sent with each 503, in seconds. Default 1.
    pub retry_after_secs: u32,
}

impl Default for Shedding {
    fn default() -> Self {
        Shedding {
            target: Duration::from_millis(5),
            interval: Duration::from_millis(100),
            probe_every: Duration::from_millis(5),
            retry_after_secs: 1,
        }
    }
}

/// A shard's shedding state, fed by its probe.
#[derive(Debug, Default)]
pub(crate) struct Shedder {
    above_since: Cell<Option<Instant>>,
    shedding: Cell<bool>,
    last_delay: Cell<Duration>,
}

impl Shedder {
    /// Records one probe's queueing delay.
    pub fn observe(&self, delay: Duration, now: Instant, settings: &Shedding) {
        self.last_delay.set(delay);
        if delay <= settings.target {
            self.above_since.set(None);
            self.shedding.set(false);
            return;
        }
        match self.above_since.get() {
            None => self.above_since.set(Some(now)),
            Some(since) if now.duration_since(since) >= settings.interval => {
                self.shedding.set(true);
            }
            Some(_) => {}
        }
    }

    /// Whether new requests are refused now.
    pub fn is_shedding(&self) -> bool {
        self.shedding.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheds_only_after_a_standing_queue_and_recovers_at_once() {
        let s = Shedding::default();
        let shedder = Shedder::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        shedder.observe(ms(20), t0, &s);
        assert!(!shedder.is_shedding(), "one slow probe is a burst");
        shedder.observe(ms(20), t0 + ms(50), &s);
        assert!(!shedder.is_shedding());
        shedder.observe(ms(20), t0 + ms(100), &s);
        assert!(shedder.is_shedding(), "above target for a whole interval");
        shedder.observe(ms(1), t0 + ms(105), &s);
        assert!(!shedder.is_shedding(), "one good probe admits again");
        shedder.observe(ms(20), t0 + ms(110), &s);
        assert!(!shedder.is_shedding(), "the interval starts over");
    }
}
