//! The intended send times of one worker: a sequence fixed by the rate, never by the answers.
//!
//! Times are nanoseconds after the shared start `t0`. Slots due during the warmup are sent but
//! not recorded; the sequence ends at the first slot due at or after the end of the run.

/// How the intended send times are spaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// Every `1 / rate`: slot `i` is due at `phase + i / rate`.
    Constant,
    /// Exponential gaps of mean `1 / rate` (a Poisson process), from a fixed seed per worker,
    /// so that two runs with the same options send at the same times.
    Poisson,
}

/// One worker's intended send times, consumed in order with `peek` and `advance`.
#[derive(Clone, Debug)]
pub struct Schedule {
    arrival: Arrival,
    phase_ns: f64,
    interval_ns: f64,
    /// The next slot's index, and (Poisson) its due time.
    slot: u64,
    next_ns: f64,
    rng: fastrand::Rng,
    /// Slots due at or after this are recorded.
    pub record_from_ns: u64,
    /// Slots due at or after this are never sent: the run's end.
    pub end_ns: u64,
}

impl Schedule {
    pub fn new(
        arrival: Arrival,
        rate: f64,
        phase_ns: u64,
        seed: u64,
        record_from_ns: u64,
        end_ns: u64,
    ) -> Self {
        let mut schedule = Schedule {
            arrival,
            phase_ns: phase_ns as f64,
            interval_ns: 1e9 / rate,
            slot: 0,
            next_ns: phase_ns as f64,
            rng: fastrand::Rng::with_seed(seed),
            record_from_ns,
            end_ns,
        };
        if arrival == Arrival::Poisson {
            schedule.next_ns += schedule.gap_ns();
        }
        schedule
    }

    fn gap_ns(&mut self) -> f64 {
        // 1 - U lies in (0, 1], so the logarithm is finite.
        -(1.0 - self.rng.f64()).ln() * self.interval_ns
    }

    /// The next slot's due time, or `None` once it would fall after the end of the run.
    pub fn peek(&self) -> Option<u64> {
        let due = self.next_ns as u64;
        (due < self.end_ns).then_some(due)
    }

    /// Moves to the following slot.
    pub fn advance(&mut self) {
        self.slot += 1;
        self.next_ns = match self.arrival {
            // From the index, not by adding up gaps, so rounding does not drift.
            Arrival::Constant => self.phase_ns + self.slot as f64 * self.interval_ns,
            Arrival::Poisson => self.next_ns + self.gap_ns(),
        };
    }

    pub fn is_recorded(&self, due_ns: u64) -> bool {
        (self.record_from_ns..self.end_ns).contains(&due_ns)
    }

    /// Consumes the rest of the sequence and counts its recorded slots: the ones the run
    /// never got to send.
    pub fn count_rest_recorded(&mut self) -> u64 {
        let mut count = 0;
        while let Some(due) = self.peek() {
            count += u64::from(self.is_recorded(due));
            self.advance();
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    fn recorded(mut schedule: Schedule) -> (u64, Vec<u64>) {
        let mut dues = Vec::new();
        while let Some(due) = schedule.peek() {
            dues.push(due);
            schedule.advance();
        }
        let count = dues.iter().filter(|d| schedule.is_recorded(**d)).count();
        (count as u64, dues)
    }

    #[test]
    fn constant_slots_the_recorded_window_exactly() {
        for (rate, phase, scheduled) in [(3.0, 0, 30), (1000.0, 0, 10_000), (7.5, 50_000_000, 75)] {
            let schedule = Schedule::new(Arrival::Constant, rate, phase, 1, SECOND, 11 * SECOND);
            let (count, dues) = recorded(schedule);
            assert_eq!(count, scheduled, "rate {rate}");
            assert!(dues.windows(2).all(|w| w[0] < w[1]));
            assert!(*dues.last().unwrap() < 11 * SECOND);
        }
    }

    #[test]
    fn poisson_keeps_the_mean_rate_and_its_seed() {
        let make = |seed| Schedule::new(Arrival::Poisson, 10_000.0, 0, seed, 0, 10 * SECOND);
        let (count, dues) = recorded(make(7));
        // 100,000 expected; a Poisson count's standard deviation is ~316.
        assert!((98_500..101_500).contains(&count), "{count}");
        assert!(dues.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(recorded(make(7)).1, dues);
        assert_ne!(recorded(make(8)).1, dues);
        let mut rest = make(7);
        assert_eq!(rest.count_rest_recorded(), count);
        assert_eq!(rest.peek(), None);
    }
}
