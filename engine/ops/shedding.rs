//! Adaptive load shedding: refuse a share of new requests, sized to keep the shard's queue short.
//!
//! CoDel's signal, PIE's control. A probe task measures how late the shard notices events
//! (it sleeps a few milliseconds and times how much later than asked it wakes, then how long
//! it waits behind the tasks woken with it): that is how long a request that just arrived
//! waits before its handler runs. Once the delay has stayed above `target` for a whole
//! `interval` (a standing queue, not a burst), each probe moves the *shed fraction* in
//! proportion to how far the delay is from `target`: up while the queue stands, down as it
//! drains, to zero when the shard is quiet again. That share of new requests gets a quick
//! 503 with `Retry-After` instead of a handler, spread evenly over the requests (every
//! 1/fraction-th one, not bursts).
//!
//! Why a fraction and not on/off (what this module did first): at 2x overload the on/off
//! rule admitted everything after each good probe, so the queue refilled at once; it shed
//! 31 % of requests where about 57 % must go, and admitted requests waited seconds
//! (docs/operations.md has both runs).

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How fast the shed fraction moves per second of delay error, where the error is
/// `(delay - target) / target` capped at [`MAX_ERROR`]: a queue at twice the target adds 4 %
/// of requests to the shed share per 10 ms, one already drained removes up to 4 %.
const GAIN_PER_SEC: f64 = 4.0;

/// Largest error one probe counts, so one stall (a page fault, a preempted VM) cannot
/// throw the fraction to 1.
const MAX_ERROR: f64 = 4.0;

/// Load shedding settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shedding {
    /// Queueing delay the shard tolerates. Default 5 ms (CoDel's).
    pub target: Duration,
    /// How long the delay must stay above `target` before shedding starts. Default 100 ms
    /// (CoDel's): bursts shorter than this are absorbed.
    pub interval: Duration,
    /// How often the probe measures and the shed fraction moves. Default 5 ms.
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

/// A shard's shedding state, fed by its probe, asked once per request.
#[derive(Debug, Default)]
pub(crate) struct Shedder {
    above_since: Cell<Option<Instant>>,
    /// Share of new requests refused, `0.0..=1.0`.
    fraction: Cell<f64>,
    /// Accumulates `fraction` per request; a request is refused each time it reaches 1.
    credit: Cell<f64>,
}

impl Shedder {
    /// Records one probe's queueing delay and moves the shed fraction.
    pub fn observe(&self, delay: Duration, now: Instant, settings: &Shedding) {
        if delay > settings.target {
            if self.above_since.get().is_none() {
                self.above_since.set(Some(now));
            }
        } else {
            self.above_since.set(None);
        }
        let standing = self
            .above_since
            .get()
            .is_some_and(|since| now.duration_since(since) >= settings.interval);
        let fraction = self.fraction.get();
        if fraction == 0.0 && !standing {
            return;
        }
        let target = settings.target.as_secs_f64().max(1e-6);
        let error = ((delay.as_secs_f64() - target) / target).clamp(-1.0, MAX_ERROR);
        let step = GAIN_PER_SEC * settings.probe_every.as_secs_f64() * error;
        let fraction = (fraction + step).clamp(0.0, 1.0);
        self.fraction.set(fraction);
        if fraction == 0.0 {
            self.credit.set(0.0);
        }
    }

    /// Whether the next request is admitted; `false` means answer it 503.
    pub fn admit(&self) -> bool {
        let fraction = self.fraction.get();
        if fraction == 0.0 {
            return true;
        }
        let credit = self.credit.get() + fraction;
        if credit >= 1.0 {
            self.credit.set(credit - 1.0);
            false
        } else {
            self.credit.set(credit);
            true
        }
    }

    /// The share of new requests refused now, `0.0..=1.0`.
    pub fn fraction(&self) -> f64 {
        self.fraction.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_of(shedder: &Shedder, requests: usize) -> usize {
        (0..requests).filter(|_| !shedder.admit()).count()
    }

    /// A shedder under the default policy, fed probes on a clock of its own.
    struct Probes {
        policy: Shedding,
        shedder: Shedder,
        now: Instant,
    }

    impl Probes {
        fn new() -> Probes {
            Probes {
                policy: Shedding::default(),
                shedder: Shedder::default(),
                now: Instant::now(),
            }
        }

        /// A probe that waited `delay`, observed now.
        fn observe(&self, delay: Duration) {
            self.shedder.observe(delay, self.now, &self.policy);
        }

        /// Moves the clock on by `by`.
        fn wait(&mut self, by: Duration) {
            self.now += by;
        }

        fn fraction(&self) -> f64 {
            self.shedder.fraction()
        }
    }

    #[test]
    fn absorbs_a_burst_shorter_than_the_interval() {
        let mut p = Probes::new();
        let ms = Duration::from_millis;
        // 0 ms, 5 ms, ... 90 ms.
        for _ in 0..19 {
            p.observe(ms(20));
            p.wait(ms(5));
        }
        assert_eq!(p.fraction(), 0.0, "95 ms above target is a burst");
        p.wait(ms(1));
        p.observe(ms(1));
        p.wait(ms(4));
        p.observe(ms(20));
        assert_eq!(p.fraction(), 0.0, "one good probe starts the interval over");
        assert_eq!(refused_of(&p.shedder, 1000), 0);
    }

    #[test]
    fn a_standing_queue_raises_the_fraction_until_the_delay_falls() {
        let mut p = Probes::new();
        let ms = Duration::from_millis;
        let mut last = 0.0;
        for _ in 0..40 {
            p.observe(ms(15));
            p.wait(ms(5));
            assert!(p.fraction() >= last);
            last = p.fraction();
        }
        assert!(
            last > 0.3,
            "200 ms at 3x the target sheds a good share ({last})"
        );
        // A delay at the target holds the fraction where it is.
        p.observe(p.policy.target);
        assert_eq!(p.fraction(), last);
        // A drained queue lowers it step by step, to zero.
        let mut probes = 0;
        while p.fraction() > 0.0 {
            p.observe(ms(0));
            probes += 1;
            assert!(probes < 1000, "the fraction must reach zero");
        }
        assert!(
            probes > 1,
            "one good probe does not drop everything at once"
        );
        assert_eq!(refused_of(&p.shedder, 1000), 0);
    }

    #[test]
    fn refusals_are_spread_evenly_at_the_fraction() {
        let mut p = Probes::new();
        while p.fraction() < 0.5 {
            p.observe(Duration::from_millis(25));
            p.wait(Duration::from_millis(5));
        }
        let fraction = p.fraction();
        let refused = refused_of(&p.shedder, 10_000);
        let expected = fraction * 10_000.0;
        assert!(
            (refused as f64 - expected).abs() <= 1.0,
            "{refused} vs {expected}"
        );
        // Never two refusals in a row below one half.
        let shedder = Shedder::default();
        shedder.fraction.set(0.4);
        let answers: Vec<bool> = (0..100).map(|_| shedder.admit()).collect();
        assert!(answers.windows(2).all(|w| w[0] || w[1]));
    }

    #[test]
    fn one_huge_stall_counts_as_a_bounded_error() {
        let mut p = Probes::new();
        p.observe(Duration::from_millis(6));
        p.wait(p.policy.interval);
        p.observe(Duration::from_secs(10));
        let most = GAIN_PER_SEC * p.policy.probe_every.as_secs_f64() * MAX_ERROR;
        assert!(p.fraction() <= most + 1e-9);
    }
}
