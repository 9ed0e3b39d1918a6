//! Read deadlines on the own ring: a [`Tick`] per waiting read in its slot, one heap of them
//! per driver, so a keep-alive request costs no timer and no heap operation.

use std::cmp::Reverse;
use std::time::Instant;

use super::driver::Inner;
use super::tick::Tick;

impl Inner {
    /// Sets slot `index`'s read deadline; true if its entry is now the earliest of all.
    pub(super) fn arm_deadline(&mut self, index: u32, generation: u32, deadline: Instant) -> bool {
        let deadline = Tick::at(self.epoch, deadline);
        let Some(slot) = self.slot(index, generation) else {
            return false;
        };
        slot.read_deadline = Some(deadline);
        slot.timed_out = false;
        if slot.deadline_entry.is_some_and(|due| due <= deadline) {
            return false;
        }
        slot.deadline_entry = Some(deadline);
        let earliest = self
            .deadlines
            .peek()
            .is_none_or(|Reverse((due, ..))| deadline < *due);
        self.deadlines.push(Reverse((deadline, index, generation)));
        earliest
    }

    /// Times out every waiting read whose deadline is not after `now` (waking its
    /// connection) and puts back entries whose deadline moved later. Returns when the
    /// earliest entry left falls due.
    pub(super) fn expire_deadlines(&mut self, now: Instant) -> Option<Instant> {
        let now = Tick::passed(self.epoch, now);
        while let Some(&Reverse((due, index, generation))) = self.deadlines.peek() {
            if due > now {
                return Some(due.instant(self.epoch));
            }
            self.deadlines.pop();
            let Some(slot) = self.slot(index, generation) else {
                continue;
            };
            if slot.deadline_entry != Some(due) {
                continue;
            }
            slot.deadline_entry = None;
            match slot.read_deadline {
                None => {}
                Some(deadline) if deadline <= now => {
                    slot.read_deadline = None;
                    slot.timed_out = true;
                    if let Some(reader) = slot.reader.take() {
                        reader.wake();
                    }
                }
                Some(deadline) => {
                    slot.deadline_entry = Some(deadline);
                    self.deadlines.push(Reverse((deadline, index, generation)));
                }
            }
        }
        None
    }
}
