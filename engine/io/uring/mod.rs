//! Connection I/O on a ring the shard owns, beside glommio's: multishot receives into
//! provided buffers, sends batched into one `io_uring_enter` per driver turn.
//!
//! Why: glommio 0.9 reads a socket with a `recv` system call plus a readiness poll, and
//! writes with a `sendto`, two system calls per keep-alive request (docs/performance.md,
//! "The io_uring ceiling"). On this ring a request costs no system call of its own: its bytes
//! arrive as a completion, its response leaves as an SQE submitted with the others of the
//! turn.
//!
//! How it fits in glommio: one driver task per shard (`drive`) submits, reaps and wakes
//! connection tasks. When nothing happened it sleeps on an eventfd registered with the ring
//! (`IORING_REGISTER_EVENTFD`), read through glommio's own ring (`BufferedFile::read_at`),
//! so the shard parks in glommio as before. Connections talk to their slot in the driver
//! through a [`RingConn`]; the slot, not the connection's future, owns every buffer the
//! kernel may touch, so a future dropped mid-send (a timeout, a drain) frees nothing early.

mod buf_ring;
mod deadline;
mod driver;
mod probe;
mod slot;
mod sys;
mod tick;

use std::future::{poll_fn, Future};
use std::io;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use glommio::io::BufferedFile;
use glommio::timer::Timer;

use crate::config::RingSetup;

pub(crate) use driver::Driver;
use driver::Inner;
use slot::{End, Recv, Send};

/// Oldest kernel with everything the ring uses: multishot receive (6.0), provided-buffer
/// rings and `COOP_TASKRUN` (5.19). `DEFER_TASKRUN`, opt-in, needs 6.1.
const MIN_KERNEL: (u32, u32) = (6, 0);

/// How long the driver pauses after its ring failed in a way it cannot retry at once.
const TURN_ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// An 8-byte read of the driver's eventfd on glommio's ring.
type EventfdRead<'a> = dyn Future<Output = glommio::Result<glommio::io::ReadResult, ()>> + 'a;

/// The own ring a shard runs, with the setup it runs and the wake probe that admitted it.
pub(crate) struct Started {
    pub driver: Rc<Driver>,
    pub setup: RingSetup,
    pub report: probe::WakeReport,
}

/// Why no ring setup could be used: each one tried, with what went wrong.
#[derive(Debug)]
pub(crate) struct Refused(pub Vec<(RingSetup, String)>);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (setup, why)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {why}", setup.name())?;
        }
        Ok(())
    }
}

/// The setups `Auto` tries, in order. `COOP_TASKRUN` first: the kernel wakes a sleeping
/// shard when it queues the completion's task work, and a running shard runs that work at
/// its next system call (docs/performance.md, "The lost wakeup"); no flags next, where a
/// completion interrupts the shard. `DEFER_TASKRUN` is not among them: a parked shard
/// depends on an eventfd signal the kernel may defer to an RCU callback.
const AUTO_ORDER: [RingSetup; 2] = [RingSetup::CoopTaskrun, RingSetup::Interrupt];

/// Sets up the calling shard's ring, spawns its driver tasks on the current executor, and
/// proves with the wake probe that a completion wakes the parked shard promptly. `setup`
/// `Auto` tries [`AUTO_ORDER`]; a concrete setup is the only one tried.
pub(crate) async fn start(read_buffer_bytes: usize, setup: RingSetup) -> Result<Started, Refused> {
    // A 5.19 kernel sets the ring and buffer ring up but refuses each multishot receive
    // (EINVAL): decide here, not per connection.
    if !crate::ops::preflight::kernel_at_least(MIN_KERNEL) {
        return Err(Refused(vec![(
            setup,
            format!(
                "multishot receive needs Linux {}.{}+",
                MIN_KERNEL.0, MIN_KERNEL.1
            ),
        )]));
    }
    let order: &[RingSetup] = match setup {
        RingSetup::Auto => &AUTO_ORDER,
        RingSetup::CoopTaskrun => &[RingSetup::CoopTaskrun],
        RingSetup::Interrupt => &[RingSetup::Interrupt],
        RingSetup::DeferTaskrun => &[RingSetup::DeferTaskrun],
    };
    let mut refused = Vec::new();
    for &candidate in order {
        let (driver, eventfd) = match Driver::new(read_buffer_bytes, candidate) {
            Ok(made) => made,
            Err(e) => {
                refused.push((candidate, format!("setup failed: {e}")));
                continue;
            }
        };
        let driver = Rc::new(driver);
        glommio::spawn_local(drive(driver.clone(), eventfd)).detach();
        glommio::spawn_local(expire_deadlines(driver.clone())).detach();
        match probe::probe(&driver).await {
            Ok(report) if report.passed() => {
                return Ok(Started {
                    driver,
                    setup: candidate,
                    report,
                })
            }
            Ok(report) => refused.push((candidate, format!("wake probe failed ({report})"))),
            Err(e) => refused.push((candidate, format!("wake probe could not run: {e}"))),
        }
        driver.stop();
    }
    Err(Refused(refused))
}

/// Far enough ahead to mean "no deadline" for glommio's timer (which adds it to now).
const NO_DEADLINE: Duration = Duration::from_secs(24 * 3600);

/// The deadline task: sleeps on one glommio timer set to the earliest read deadline, and
/// times out the reads that are due when it fires. It wakes only then, or when a deadline
/// earlier than all others is armed, so a request costs it nothing.
async fn expire_deadlines(driver: Rc<Driver>) {
    let mut timer = Timer::new(NO_DEADLINE);
    while !driver.is_stopped() {
        let wait = driver.expire_deadlines().map_or(NO_DEADLINE, |due| {
            due.saturating_duration_since(Instant::now())
        });
        timer.reset(wait);
        poll_fn(|cx| {
            if Pin::new(&mut timer).poll(cx).is_ready() || driver.poll_rearm(cx.waker()) {
                return Poll::Ready(());
            }
            Poll::Pending
        })
        .await;
    }
}

/// The driver task: turns while there is work, yielding between turns; sleeps on the
/// eventfd when a turn found nothing. Runs until the driver is stopped or the shard's
/// executor is dropped.
async fn drive(driver: Rc<Driver>, eventfd: BufferedFile) {
    // One eventfd read at a time, kept across turns: dropping one in flight could let it
    // swallow the signal the next one waits for.
    let mut signal: Option<Pin<Box<EventfdRead<'_>>>> = None;
    while !driver.is_stopped() {
        match driver.turn() {
            Ok(true) => {
                futures_lite::future::yield_now().await;
                continue;
            }
            Ok(false) => {}
            Err(e) => {
                log::error!("own io_uring: {e}");
                Timer::new(TURN_ERROR_BACKOFF).await;
                continue;
            }
        }
        let read = signal.get_or_insert_with(|| Box::pin(eventfd.read_at(0, 8)));
        let fired = poll_fn(|cx| {
            if let Poll::Ready(result) = read.as_mut().poll(cx) {
                return Poll::Ready(Some(result));
            }
            if driver.poll_queued(cx.waker()) {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await;
        if let Some(result) = fired {
            signal = None;
            if let Err(e) = result {
                log::error!("own io_uring: eventfd read failed: {e}");
                Timer::new(TURN_ERROR_BACKOFF).await;
            }
        }
    }
}

/// One connection's handle on its slot in the shard's ring. Dropping it cancels what is in
/// flight; the slot closes the socket when the last completion is in.
pub(crate) struct RingConn {
    driver: Rc<Driver>,
    index: u32,
    generation: u32,
    /// The socket was made non-blocking (for `sendfile`), once for the connection.
    nonblocking: bool,
}

impl RingConn {
    /// Moves an accepted socket onto the ring and starts receiving. The caller drops
    /// `socket` afterwards (closing glommio's descriptor; the ring's duplicate lives on).
    pub(crate) fn open(driver: &Rc<Driver>, socket: &impl AsRawFd) -> io::Result<RingConn> {
        let fd = sys::into_raw(sys::take_socket(socket)?);
        let opened = driver.inner.borrow_mut().open(fd);
        let (index, generation) = match opened {
            Ok(slot) => slot,
            Err(e) => {
                sys::close(fd);
                return Err(e);
            }
        };
        driver.wake();
        Ok(RingConn {
            driver: driver.clone(),
            index,
            generation,
            nonblocking: false,
        })
    }

    /// Moves what has arrived into `input` (by handing over the buffer when `input` is
    /// empty, so nothing is copied). `Ready(Ok(0))` at end of stream. When nothing is there
    /// and `cx` is given, remembers its waker; without one (the slow lane) nobody is woken.
    fn poll_take(
        &self,
        input: &mut BytesMut,
        cx: Option<&mut Context<'_>>,
    ) -> Poll<io::Result<usize>> {
        let mut inner = self.driver.inner.borrow_mut();
        let Some(slot) = inner.slot(self.index, self.generation) else {
            return Poll::Ready(Err(io::Error::other("ring slot lost")));
        };
        let n = slot.pending.len();
        if n > 0 {
            if input.is_empty() {
                // The session's empty buffer goes back to the shard's free list, which the
                // next arrival takes from: an idle connection holds no buffer, and a
                // keep-alive request allocates none.
                let taken = std::mem::take(&mut slot.pending);
                crate::server::pool::give(std::mem::replace(input, taken));
            } else {
                input.extend_from_slice(&slot.pending);
                slot.pending.clear();
            }
            if slot.recv == Recv::Idle {
                // The receive was paused at the cap (`n >= cap`): arm it again.
                let resumed = inner.sync(self.index);
                drop(inner);
                self.driver.wake();
                resumed?;
            }
            return Poll::Ready(Ok(n));
        }
        match slot.end {
            Some(End::Eof) => Poll::Ready(Ok(0)),
            Some(End::Error(errno)) => Poll::Ready(Err(io::Error::from_raw_os_error(errno))),
            // Only a waiting read (one with `cx`) has an armed deadline: a look without
            // one (the read's first, the slow lane's) never reports another read's timeout.
            None if cx.is_some() && std::mem::take(&mut slot.timed_out) => {
                Poll::Ready(Err(io::ErrorKind::TimedOut.into()))
            }
            None => {
                if let Some(cx) = cx {
                    match &slot.reader {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        _ => slot.reader = Some(cx.waker().clone()),
                    }
                }
                Poll::Pending
            }
        }
    }

    /// Appends what has arrived to `input`, waiting at most `timeout` for something to
    /// arrive (`ErrorKind::TimedOut` then). `Ok(0)` at end of stream.
    pub(crate) async fn read(&self, input: &mut BytesMut, timeout: Duration) -> io::Result<usize> {
        if let Poll::Ready(result) = self.poll_take(input, None) {
            return result;
        }
        // The driver's deadline task wakes this read if nothing arrives in time.
        let deadline = Instant::now() + timeout;
        self.driver
            .arm_deadline(self.index, self.generation, deadline);
        let _disarm = Disarm(self);
        poll_fn(|cx| self.poll_take(input, Some(cx))).await
    }

    /// What has arrived, without waiting: `ErrorKind::WouldBlock` when nothing has.
    pub(crate) fn read_now(&self, input: &mut BytesMut) -> io::Result<usize> {
        match self.poll_take(input, None) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Sends all of `output` and gives the buffer back empty. A send the kernel does not
    /// finish within its first driver turn (a client not reading) is timed: after
    /// `timeout`, `ErrorKind::TimedOut` (the slot keeps the buffer until the cancellation).
    pub(crate) async fn write_all(
        &self,
        output: &mut BytesMut,
        timeout: Duration,
    ) -> io::Result<()> {
        let send = |inner: &mut Inner, index, output: &mut BytesMut| {
            inner.send(index, std::mem::take(output))
        };
        self.queue_send(output, timeout, send).await
    }

    /// Waits until the socket has room for more (`POLLOUT`, on the ring), at most
    /// `timeout` (`ErrorKind::TimedOut` then): for a system call the ring does not make
    /// (`sendfile`) that found the send buffer full. Only between the ring's own sends, as
    /// [`RingConn::nonblocking_fd`]; `scratch` comes back empty.
    pub(crate) async fn writable(
        &self,
        scratch: &mut BytesMut,
        timeout: Duration,
    ) -> io::Result<()> {
        let wait = |inner: &mut Inner, index, _: &mut BytesMut| inner.wait_writable(index);
        self.queue_send(scratch, timeout, wait).await
    }

    /// Queues a send (or a wait for room) on this connection's slot with `queue`, if the
    /// slot is still its own, and waits for it with [`RingConn::finish_send`].
    async fn queue_send(
        &self,
        output: &mut BytesMut,
        timeout: Duration,
        queue: impl FnOnce(&mut Inner, u32, &mut BytesMut) -> io::Result<()>,
    ) -> io::Result<()> {
        {
            let mut inner = self.driver.inner.borrow_mut();
            if inner.slot(self.index, self.generation).is_none() {
                return Err(io::Error::other("ring slot lost"));
            }
            queue(&mut inner, self.index, output)?;
        }
        self.finish_send(output, timeout).await
    }

    /// Waits for the send (or the wait for room) just queued; gives its buffer back empty.
    async fn finish_send(&self, output: &mut BytesMut, timeout: Duration) -> io::Result<()> {
        self.driver.wake();
        let mut first = true;
        let mut timer: Option<Pin<Box<Timer>>> = None;
        poll_fn(|cx| {
            let mut inner = self.driver.inner.borrow_mut();
            let Some(slot) = inner.slot(self.index, self.generation) else {
                return Poll::Ready(Err(io::Error::other("ring slot lost")));
            };
            if let Send::Done(result) = slot.send {
                slot.send = Send::Idle;
                *output = std::mem::take(&mut slot.sending);
                output.clear();
                return Poll::Ready(result.map_err(io::Error::from_raw_os_error));
            }
            slot.writer = Some(cx.waker().clone());
            if std::mem::take(&mut first) {
                return Poll::Pending;
            }
            drop(inner);
            let timer = timer.get_or_insert_with(|| Box::pin(Timer::new(timeout)));
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
            }
            Poll::Pending
        })
        .await
    }

    /// Whether bytes have arrived that the connection has not taken, wherever they are: in
    /// the slot, still in the socket, or in a completion the driver has not reaped. The
    /// peek is a system call, and leaving it runs the kernel's pending task work (a
    /// receive completing into the ring); the turn after it reaps that completion (on a
    /// `DEFER_TASKRUN` ring the turn's own enter runs that work).
    pub(crate) fn input_waiting(&self) -> bool {
        let fd = match self
            .driver
            .inner
            .borrow_mut()
            .slot(self.index, self.generation)
        {
            Some(slot) if !slot.pending.is_empty() => return true,
            Some(slot) => slot.fd,
            None => return false,
        };
        if crate::io::sys::bytes_waiting(fd) {
            return true;
        }
        if let Err(e) = self.driver.turn() {
            log::debug!("own io_uring: a turn before closing: {e}");
        }
        self.driver
            .inner
            .borrow_mut()
            .slot(self.index, self.generation)
            .is_some_and(|slot| !slot.pending.is_empty())
    }

    /// The socket's descriptor, made non-blocking (once per connection), for a system call
    /// the ring does not make (`sendfile`); it stays open while this handle lives. Only
    /// between the ring's own operations on it: the caller has no send in flight (its
    /// `write_all` completed). The ring's receives and sends behave the same on a
    /// non-blocking socket (io_uring waits for readiness itself).
    pub(crate) fn nonblocking_fd(&mut self) -> io::Result<std::os::fd::RawFd> {
        let fd = match self
            .driver
            .inner
            .borrow_mut()
            .slot(self.index, self.generation)
        {
            Some(slot) => slot.fd,
            None => return Err(io::Error::other("ring slot lost")),
        };
        if !self.nonblocking {
            crate::io::fs::set_nonblocking(fd)?;
            self.nonblocking = true;
        }
        Ok(fd)
    }

    /// `shutdown(2)` of the socket (it never blocks).
    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let mut inner = self.driver.inner.borrow_mut();
        match inner.slot(self.index, self.generation) {
            Some(slot) => sys::shutdown(slot.fd, how),
            None => Ok(()),
        }
    }
}

/// Ends a read's deadline however the read ends (it may be dropped: a drain won a race).
struct Disarm<'a>(&'a RingConn);

impl Drop for Disarm<'_> {
    fn drop(&mut self) {
        self.0
            .driver
            .disarm_deadline(self.0.index, self.0.generation);
    }
}

impl Drop for RingConn {
    fn drop(&mut self) {
        let Ok(mut inner) = self.driver.inner.try_borrow_mut() else {
            log::warn!("own io_uring: a connection closed inside a driver turn; its slot leaks");
            return;
        };
        if let Some(slot) = inner.slot(self.index, self.generation) {
            slot.closing = true;
            slot.reader = None;
            slot.writer = None;
        }
        if let Err(e) = inner.sync(self.index) {
            log::debug!("own io_uring: closing a connection: {e}");
        }
        drop(inner);
        self.driver.wake();
    }
}
