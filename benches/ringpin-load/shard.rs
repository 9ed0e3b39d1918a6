//! One executor's share of the load: its schedule, the next unclaimed slot, and its counters.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::conn::{run_connection, Failure};
use crate::plan::Plan;
use crate::report::Stats;
use crate::schedule::{duration_ns, Schedule};

/// One executor's share of the load: its schedule, the next unclaimed slot, its counters.
pub struct Shard {
    pub plan: Plan,
    pub schedule: Schedule,
    next_slot: Cell<u64>,
    record_from: Instant,
    record_until: Instant,
    /// After this, backlogged slots are no longer sent and count as unsent.
    drain_deadline: Instant,
    stats: RefCell<Stats>,
}

impl Shard {
    pub fn new(plan: Plan, t0: Instant, rate: f64, phase: Duration) -> Shard {
        let schedule = Schedule::new(t0, rate, phase, plan.warmup, plan.duration);
        let record_from = t0 + plan.warmup;
        let record_until = record_from + plan.duration;
        let drain_deadline = record_until + plan.timeout;
        let mut stats = Stats::new();
        stats.scheduled = schedule.end - schedule.first_recorded;
        Shard {
            plan,
            schedule,
            next_slot: Cell::new(0),
            record_from,
            record_until,
            drain_deadline,
            stats: RefCell::new(stats),
        }
    }

    pub fn is_over(&self) -> bool {
        self.next_slot.get() >= self.schedule.end || Instant::now() >= self.drain_deadline
    }

    /// Takes the oldest slot no connection has taken yet; `None` once the run is over.
    pub fn claim_slot(&self) -> Option<u64> {
        if self.is_over() {
            return None;
        }
        let slot = self.next_slot.get();
        self.next_slot.set(slot + 1);
        Some(slot)
    }

    pub fn record_send(&self, slot: u64, at: Instant) {
        let mut stats = self.stats.borrow_mut();
        if self.schedule.is_recorded(slot) {
            stats.sent += 1;
            let lag = at.saturating_duration_since(self.schedule.due(slot));
            stats.send_lag_ns.saturating_record(duration_ns(lag));
        }
        if (self.record_from..self.record_until).contains(&at) {
            stats.sent_in_window += 1;
        }
    }

    pub fn record_response(&self, slot: u64, status: u16, at: Instant) {
        if !self.schedule.is_recorded(slot) {
            return;
        }
        let mut stats = self.stats.borrow_mut();
        stats.completed += 1;
        stats.non_2xx += u64::from(!(200..300).contains(&status));
        let latency = at.saturating_duration_since(self.schedule.due(slot));
        stats.latency_ns.saturating_record(duration_ns(latency));
        if (200..300).contains(&status) {
            stats.ok_latency_ns.saturating_record(duration_ns(latency));
        }
    }

    /// Counts a failure of `slot`, or of a connect (no slot) once the warmup is over.
    #[cold]
    pub fn record_failure(&self, failure: Failure, slot: Option<u64>) {
        let counted = match slot {
            Some(slot) => self.schedule.is_recorded(slot),
            None => Instant::now() >= self.record_from,
        };
        if counted {
            self.stats.borrow_mut().errors[failure as usize] += 1;
        }
    }
}

/// Runs one shard's connections to the end of the schedule and hands back its counters.
pub async fn run_shard(shard: Rc<Shard>, connections: usize) -> Stats {
    let tasks: Vec<_> = (0..connections)
        .map(|_| glommio::spawn_local(run_connection(shard.clone())))
        .collect();
    for task in tasks {
        task.await;
    }
    shard.stats.replace(Stats::new())
}
