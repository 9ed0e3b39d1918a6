//! One pinned thread's share of the load: its connections, its schedule, its ring and its
//! counters, driven by one loop that sends every due slot, reads every completion, and then
//! waits once, until the next slot is due.
//!
//! The loop, per turn:
//!
//! 1. hand every due slot to a ready connection (fewer than `--pipeline` requests in flight),
//!    oldest first; a slot with no ready connection waits, and its lag keeps growing;
//! 2. queue one send per connection for all of its new requests, submit them in one call,
//!    and stamp their send time after that call returns (send lag = that − intended); a
//!    single send rides on the wait's own `io_uring_enter`, stamped just before it;
//! 3. wait: one `io_uring_enter` with a timeout until the next due slot (or busy-poll), never
//!    a timer per request. Responses do not end the wait while the kernel stamps their
//!    arrival (`SO_TIMESTAMPNS`): the worker sleeps through them and reads them, with their
//!    arrival times, at its next wake. Without stamps, or when no connection is free for
//!    the next slot, a completion ends the wait and the reap time stands in for arrival;
//! 4. reap the completions: bytes go through the connection's parser, and each complete
//!    response records its latency, from its intended send time to its arrival.

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant, SystemTime};

use crate::conn::{Conn, Failure, Response};
use crate::plan::Plan;
use crate::report::Stats;
use crate::ring::{Completion, Op, Ring};
use crate::schedule::Schedule;

/// Bytes of one receive buffer; a response is read in as many buffers as it takes.
const BUFFER_BYTES: usize = 16 * 1024;

/// How often, in ns, the loop looks for connections stuck past `--timeout`.
const TIMEOUT_SCAN_NS: u64 = 10_000_000;

/// Longest single wait, so that timeouts and reconnects are looked at even when idle.
const MAX_WAIT: Duration = Duration::from_millis(10);

/// Pause before retrying a failed connect, in ns, so a server that is down is not spun on.
const RECONNECT_BACKOFF_NS: u64 = 10_000_000;

/// One worker's state; `run` drives it to the end of its schedule.
pub struct Worker {
    plan: Plan,
    t0: Instant,
    schedule: Schedule,
    ring: Ring,
    conns: Vec<Conn>,
    /// Connections that can take another request, in the order they became able to.
    ready: VecDeque<u32>,
    /// Connections with requests assigned this turn and not yet handed to the ring.
    dirty: Vec<u32>,
    /// Intended times of the requests handed to the ring in this turn's submit.
    handed: Vec<u64>,
    completions: Vec<Completion>,
    responses: Vec<Response>,
    /// The slot last counted as blocked (no ready connection when it was due).
    blocked_at: Option<u64>,
    record_from: Instant,
    record_until: Instant,
    /// CLOCK_REALTIME at `t0`, in ns since the epoch: converts the kernel's receive stamps.
    realtime_t0_ns: u64,
    /// Every receive so far came with the kernel's stamp, so the wait need not end on one.
    rx_timestamps: bool,
    stats: Stats,
}

impl Worker {
    /// Sets up the ring and opens every connection (before `t0`).
    pub fn new(
        plan: Plan,
        t0: Instant,
        schedule: Schedule,
        connections: usize,
    ) -> io::Result<Self> {
        let depth = plan.pipeline;
        let requests = plan.request.repeat(depth);
        let buffer_count = (connections * 2).next_power_of_two().clamp(64, 1 << 15) as u16;
        let entries = (connections * 4).next_power_of_two().clamp(256, 1 << 15) as u32;
        let ring = Ring::new(entries, buffer_count, BUFFER_BYTES, requests)?;
        let record_from = t0 + plan.warmup;
        let record_until = record_from + plan.duration;
        let mut worker = Worker {
            conns: (0..connections)
                .map(|_| Conn::new(plan.head_only()))
                .collect(),
            plan,
            t0,
            schedule,
            ring,
            ready: VecDeque::with_capacity(connections),
            dirty: Vec::with_capacity(connections),
            handed: Vec::with_capacity(connections * depth),
            completions: Vec::with_capacity(1024),
            responses: Vec::with_capacity(depth),
            blocked_at: None,
            record_from,
            record_until,
            realtime_t0_ns: realtime_at(t0),
            rx_timestamps: true,
            stats: Stats::new(),
        };
        for index in 0..connections as u32 {
            worker.reconnect(index, 0);
        }
        worker.rx_timestamps = worker.conns.iter().all(|c| c.rx_timestamps);
        Ok(worker)
    }

    fn now_ns(&self) -> u64 {
        Instant::now()
            .saturating_duration_since(self.t0)
            .as_nanos()
            .try_into()
            .unwrap_or(u64::MAX)
    }

    /// Runs the schedule to its end, then waits up to `--timeout` for the last responses.
    pub fn run(mut self) -> io::Result<Stats> {
        let cpu_start = thread_cpu_ns();
        let drain_deadline_ns = self.schedule.end_ns + duration_ns(self.plan.timeout);
        let spin_ns = duration_ns(self.plan.spin);
        let batch_ns = duration_ns(self.plan.batch);
        let mut next_scan_ns = 0;
        loop {
            self.reap()?;
            let now = self.now_ns();
            self.send_due(now);
            // A batch of one goes out with the wait below, stamped just before it (the kernel
            // issues it first thing in that call); a larger batch is submitted on its own and
            // stamped after, since its last send waits for the earlier ones.
            match self.handed.len() {
                0 => {}
                1 => self.stamp_sends(),
                _ => {
                    self.ring.submit()?;
                    self.stamp_sends();
                }
            }
            let finished =
                self.schedule.peek().is_none() && self.conns.iter().all(|c| c.in_flight.is_empty());
            if finished || now >= drain_deadline_ns {
                break;
            }
            if now >= next_scan_ns {
                self.expire(now);
                next_scan_ns = now + TIMEOUT_SCAN_NS;
            }
            // Wait for the next due slot, if a connection is ready to take it; otherwise for
            // a completion (bounded, for timeouts and reconnects).
            let wake_ns = match self.schedule.peek() {
                Some(due) if !self.ready.is_empty() => due + batch_ns,
                _ => now + duration_ns(MAX_WAIT),
            };
            let sleep_ns = wake_ns.saturating_sub(now).min(duration_ns(MAX_WAIT));
            let on_completion =
                !self.rx_timestamps || self.ready.is_empty() || self.schedule.peek().is_none();
            if self.plan.busy_poll || sleep_ns <= spin_ns {
                self.ring.poll()?;
            } else {
                let sleep = Duration::from_nanos(sleep_ns - spin_ns);
                self.ring.wait(sleep, on_completion)?;
            }
        }
        self.stats.cpu_ns += thread_cpu_ns().saturating_sub(cpu_start);
        // Requests still unanswered at the end count as timed out.
        for conn in &self.conns {
            self.stats.errors[Failure::Timeout as usize] += conn
                .in_flight
                .iter()
                .filter(|due| self.schedule.is_recorded(**due))
                .count() as u64;
        }
        self.stats.scheduled += self.schedule.count_rest_recorded();
        for conn in &mut self.conns {
            conn.disconnect();
        }
        Ok(std::mem::replace(&mut self.stats, Stats::new()))
        // Dropping `self` drops the ring, which waits for the shut-down receives to end.
    }

    /// Hands every slot due by `now` to a ready connection, then queues the sends.
    fn send_due(&mut self, now: u64) {
        while let Some(due) = self.schedule.peek().filter(|due| *due <= now) {
            let Some(index) = self.ready.pop_front() else {
                if self.blocked_at != Some(due) {
                    self.blocked_at = Some(due);
                    self.stats.blocked += u64::from(self.schedule.is_recorded(due));
                }
                break;
            };
            self.schedule.advance();
            self.stats.scheduled += u64::from(self.schedule.is_recorded(due));
            let depth = self.plan.pipeline;
            let Some(conn) = self.conns.get_mut(index as usize) else {
                continue;
            };
            conn.ready = false;
            conn.in_flight.push_back(due);
            conn.queued += 1;
            if conn.queued == 1 {
                self.dirty.push(index);
            }
            if conn.in_flight.len() < depth {
                conn.ready = true;
                self.ready.push_back(index);
            }
        }
        for index in std::mem::take(&mut self.dirty) {
            self.flush(index);
        }
    }

    /// Queues one send for all of a connection's queued requests, unless one is in flight.
    fn flush(&mut self, index: u32) {
        let Some(conn) = self.conns.get_mut(index as usize) else {
            return;
        };
        let Some(fd) = conn.fd() else {
            return;
        };
        if conn.sending > 0 || conn.queued == 0 {
            return;
        }
        let count = conn.queued;
        let written = conn.in_flight.len() - count;
        self.handed
            .extend(conn.in_flight.iter().skip(written).copied());
        conn.queued = 0;
        conn.sending = count * self.ring.request_bytes(self.plan.pipeline);
        conn.send_offset = 0;
        self.ring.send(fd, 0, conn.sending, index, conn.generation);
    }

    /// Records the send lag of every request handed over in the submit that just returned.
    fn stamp_sends(&mut self) {
        let sent_at = Instant::now();
        let sent_ns = self.now_ns();
        let in_window = (self.record_from..self.record_until).contains(&sent_at);
        for due in self.handed.drain(..) {
            if self.schedule.is_recorded(due) {
                self.stats.sent += 1;
                self.stats
                    .send_lag_ns
                    .saturating_record(sent_ns.saturating_sub(due));
            }
            self.stats.sent_in_window += u64::from(in_window);
            self.stats.requests += 1;
        }
    }

    fn reap(&mut self) -> io::Result<()> {
        let mut completions = std::mem::take(&mut self.completions);
        self.ring.reap(&mut completions);
        if completions.is_empty() {
            self.completions = completions;
            return Ok(());
        }
        let now = self.now_ns();
        for completion in &completions {
            let current = self
                .conns
                .get(completion.conn as usize)
                .is_some_and(|c| c.generation == completion.generation && c.up);
            if !current {
                if let Some(bid) = completion.buffer {
                    self.ring.recycle(bid);
                }
                continue;
            }
            match completion.op {
                Op::Send => self.sent(completion.conn, completion.result, now),
                Op::Recv => self.received(completion, now),
            }
        }
        self.completions = completions;
        Ok(())
    }

    fn sent(&mut self, index: u32, result: i32, now: u64) {
        let Some(conn) = self.conns.get_mut(index as usize) else {
            return;
        };
        if result <= 0 {
            return self.fail(index, Failure::Io, now);
        }
        conn.last_progress_ns = now;
        let taken = (result as usize).min(conn.sending);
        conn.sending -= taken;
        conn.send_offset += taken;
        if conn.sending > 0 {
            // A short send (the socket buffer is full): send the rest.
            let Some(fd) = conn.fd() else { return };
            let (offset, len, generation) = (conn.send_offset, conn.sending, conn.generation);
            self.ring.send(fd, offset, len, index, generation);
        } else if conn.queued > 0 {
            // Requests that came due while the send was in flight go out now.
            self.flush(index);
        }
    }

    fn received(&mut self, completion: &Completion, now: u64) {
        let index = completion.conn;
        let result = completion.result;
        let mut arrived = now;
        let outcome = match (result, completion.buffer) {
            (1.., Some(bid)) => {
                let conn = &mut self.conns[index as usize];
                let parsed = match self.ring.received(bid, result as usize) {
                    Some((bytes, stamp)) => {
                        match stamp {
                            // The kernel's clock and ours: never after the reap, nor before t0.
                            Some(ns) => arrived = ns.saturating_sub(self.realtime_t0_ns).min(now),
                            None => self.rx_timestamps = false,
                        }
                        conn.parser.feed(bytes, &mut self.responses)
                    }
                    None => Err(crate::framing::Malformed),
                };
                self.ring.recycle(bid);
                conn.last_progress_ns = now;
                parsed.map_err(Failure::from)
            }
            (0, _) => {
                let conn = &mut self.conns[index as usize];
                self.responses.extend(conn.parser.end());
                Err(Failure::Closed)
            }
            // The buffers ran out, and the kernel ended the multishot receive: re-arm it.
            (e, _) if e == -libc::ENOBUFS => Ok(()),
            _ => Err(Failure::Io),
        };
        let mut keep_alive = true;
        for response in std::mem::take(&mut self.responses) {
            let conn = &mut self.conns[index as usize];
            let Some(due) = conn.in_flight.pop_front() else {
                // A response to no request: the server is talking nonsense.
                return self.fail(index, Failure::Malformed, now);
            };
            self.record_response(due, response.status, arrived);
            keep_alive &= response.keep_alive;
            if !keep_alive {
                break;
            }
        }
        if let Err(failure) = outcome {
            return self.fail(index, failure, now);
        }
        if !keep_alive {
            return self.fail(index, Failure::Closed, now);
        }
        let depth = self.plan.pipeline;
        let conn = &mut self.conns[index as usize];
        if !completion.more {
            if let Some(fd) = conn.fd() {
                self.ring.recv(fd, index, conn.generation);
            }
        }
        if !conn.ready && conn.in_flight.len() < depth {
            conn.ready = true;
            self.ready.push_back(index);
        }
    }

    fn record_response(&mut self, due: u64, status: u16, now: u64) {
        if !self.schedule.is_recorded(due) {
            return;
        }
        let stats = &mut self.stats;
        stats.completed += 1;
        let ok = (200..300).contains(&status);
        stats.non_2xx += u64::from(!ok);
        let latency = now.saturating_sub(due);
        stats.latency_ns.saturating_record(latency);
        if ok {
            stats.ok_latency_ns.saturating_record(latency);
        }
    }

    /// Counts a connection's unanswered requests as failed, and replaces the connection.
    #[cold]
    fn fail(&mut self, index: u32, failure: Failure, now: u64) {
        let Some(conn) = self.conns.get(index as usize) else {
            return;
        };
        let lost = conn
            .in_flight
            .iter()
            .filter(|due| self.schedule.is_recorded(**due))
            .count() as u64;
        // A close with nothing outstanding is a server's keep-alive limit, not a failure.
        if lost > 0 {
            self.stats.errors[failure as usize] += lost;
        }
        self.reconnect(index, now);
    }

    /// Opens connection `index` afresh; on failure it is retried after a backoff.
    fn reconnect(&mut self, index: u32, now: u64) {
        let plan = &self.plan;
        let Some(conn) = self.conns.get_mut(index as usize) else {
            return;
        };
        match conn.connect(plan) {
            Ok(fd) => {
                conn.last_progress_ns = now;
                self.ring.recv(fd, index, conn.generation);
                if !conn.ready {
                    conn.ready = true;
                    self.ready.push_back(index);
                }
            }
            Err(failure) => {
                conn.retry_at_ns = now + RECONNECT_BACKOFF_NS;
                if now >= duration_ns(plan.warmup) {
                    self.stats.errors[failure as usize] += 1;
                }
                // Out of the ready queue until it is connected again.
                if conn.ready {
                    conn.ready = false;
                    self.ready.retain(|i| *i != index);
                }
            }
        }
    }

    /// Fails connections stuck past `--timeout` with requests outstanding, and retries
    /// connections whose connect failed.
    fn expire(&mut self, now: u64) {
        let timeout = duration_ns(self.plan.timeout);
        for index in 0..self.conns.len() as u32 {
            let conn = &self.conns[index as usize];
            if !conn.up && now >= conn.retry_at_ns {
                self.reconnect(index, now);
            } else if conn.up
                && !conn.in_flight.is_empty()
                && now.saturating_sub(conn.last_progress_ns) > timeout
            {
                self.fail(index, Failure::Timeout, now);
            }
        }
    }
}

/// CLOCK_REALTIME at the monotonic instant `at`, in ns since the epoch, from one reading of
/// each clock taken back to back.
fn realtime_at(at: Instant) -> u64 {
    let (mono, real) = (Instant::now(), SystemTime::now());
    let real_ns = real
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(duration_ns)
        .unwrap_or(0);
    if at >= mono {
        real_ns + duration_ns(at - mono)
    } else {
        real_ns.saturating_sub(duration_ns(mono - at))
    }
}

pub fn duration_ns(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// ns this thread has run on a CPU (schedstat's first field); 0 if it cannot be read.
pub fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
