//! The shard's drain signal: whether a drain has started, and the wakers of the tasks
//! waiting for it (each connection and the accept loop owns one slot).

use std::cell::{Cell, RefCell};
use std::task::{Context, Poll, Waker};

/// Per shard: set once when a drain starts; waking every waiter then.
#[derive(Default)]
pub(crate) struct Drain {
    started: Cell<bool>,
    waiters: RefCell<Vec<Option<Waker>>>,
    free_slots: RefCell<Vec<usize>>,
}

impl Drain {
    /// A waker slot for a task that will wait for the drain.
    pub(crate) fn take_slot(&self) -> usize {
        match self.free_slots.borrow_mut().pop() {
            Some(slot) => slot,
            None => {
                let mut waiters = self.waiters.borrow_mut();
                waiters.push(None);
                waiters.len() - 1
            }
        }
    }

    /// Gives back what [`Drain::take_slot`] took.
    pub(crate) fn release_slot(&self, slot: usize) {
        if let Some(waiter) = self.waiters.borrow_mut().get_mut(slot) {
            *waiter = None;
        }
        self.free_slots.borrow_mut().push(slot);
    }

    /// Whether a drain has started.
    pub(crate) fn is_started(&self) -> bool {
        self.started.get()
    }

    /// Ready once a drain has started; otherwise remembers the waker in `slot`.
    pub(crate) fn poll(&self, slot: usize, cx: &mut Context<'_>) -> Poll<()> {
        if self.started.get() {
            return Poll::Ready(());
        }
        if let Some(waiter) = self.waiters.borrow_mut().get_mut(slot) {
            match waiter {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *waiter = Some(cx.waker().clone()),
            }
        }
        Poll::Pending
    }

    /// Starts the drain and wakes every waiter.
    pub(crate) fn start(&self) {
        self.started.set(true);
        let wakers: Vec<Waker> = self
            .waiters
            .borrow_mut()
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        wakers.into_iter().for_each(Waker::wake);
    }
}
