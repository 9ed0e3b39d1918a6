//! The fixed send times of one shard: slot `i` is due at `t0 + phase + i / rate`.

use std::time::{Duration, Instant};

/// The fixed send times of one shard, as offsets from the shared start `t0`.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    t0: Instant,
    /// Offset of slot 0 from `t0`; staggers the shards.
    phase_ns: f64,
    interval_ns: f64,
    /// First slot due at or after the end of the warmup.
    pub first_recorded: u64,
    /// First slot due at or after the end of the run; it and later slots are never sent.
    pub end: u64,
}

impl Schedule {
    pub fn new(
        t0: Instant,
        rate: f64,
        phase: Duration,
        warmup: Duration,
        duration: Duration,
    ) -> Self {
        let mut schedule = Schedule {
            t0,
            phase_ns: phase.as_nanos() as f64,
            interval_ns: 1e9 / rate,
            first_recorded: 0,
            end: 0,
        };
        schedule.first_recorded = schedule.first_slot_at(duration_ns(warmup));
        schedule.end = schedule.first_slot_at(duration_ns(warmup + duration));
        schedule
    }

    pub fn due_ns(&self, slot: u64) -> u64 {
        (self.phase_ns + slot as f64 * self.interval_ns) as u64
    }

    pub fn due(&self, slot: u64) -> Instant {
        self.t0 + Duration::from_nanos(self.due_ns(slot))
    }

    /// The first slot due at or after `ns` past `t0`.
    pub fn first_slot_at(&self, ns: u64) -> u64 {
        let guess = ((ns as f64 - self.phase_ns) / self.interval_ns)
            .ceil()
            .max(0.0) as u64;
        let mut slot = guess;
        while slot > 0 && self.due_ns(slot - 1) >= ns {
            slot -= 1;
        }
        while self.due_ns(slot) < ns {
            slot += 1;
        }
        slot
    }

    pub fn is_recorded(&self, slot: u64) -> bool {
        (self.first_recorded..self.end).contains(&slot)
    }
}

pub fn duration_ns(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_the_recorded_window_exactly() {
        let second = Duration::from_secs(1);
        for (rate, phase_ns, scheduled) in
            [(3.0, 0, 30), (1000.0, 0, 10_000), (7.5, 50_000_000, 75)]
        {
            let phase = Duration::from_nanos(phase_ns);
            let schedule = Schedule::new(Instant::now(), rate, phase, second, 10 * second);
            assert_eq!(
                schedule.end - schedule.first_recorded,
                scheduled,
                "rate {rate}"
            );
            let warmup_ns = duration_ns(second);
            assert!(schedule.due_ns(schedule.first_recorded) >= warmup_ns);
            assert!(
                schedule.first_recorded == 0
                    || schedule.due_ns(schedule.first_recorded - 1) < warmup_ns
            );
            assert!(schedule.due_ns(schedule.end) >= duration_ns(11 * second));
            assert!(schedule.due_ns(schedule.end - 1) < duration_ns(11 * second));
        }
    }
}
