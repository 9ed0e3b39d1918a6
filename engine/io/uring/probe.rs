//! The wake probe: before a shard accepts, proves that a completion on its ring wakes it.
//!
//! Why: a parked shard sleeps in glommio's ring, and learns of the own ring's completions
//! only through the eventfd registered with it. Whether the kernel signals that eventfd
//! promptly depends on the ring's setup and on the kernel build: on the project's AMD EPYC
//! VM (6.18.44) a `DEFER_TASKRUN` ring signals it from an RCU callback, after a grace
//! period (~14 ms), and every request on an idle connection waited that long while every
//! test passed (docs/performance.md, "The lost wakeup"). So the shard measures the real
//! path: a loopback socket on the ring, a thread that writes to its peer while the shard is
//! parked, and the time from that write to the read's wake.
//!
//! The first round is a warm-up and is not counted: it carries what the shard's first park
//! costs once, whatever the ring. glommio's first park registers the process for
//! `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` (glommio/src/sys/membarrier.rs, a lazy
//! static behind the barrier it issues before every sleep), and that registration waits for
//! an RCU grace period: 2-15 ms on the AMD EPYC VM (`6.18.44-fc-v1300`, `strace -T`:
//! `membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0) = 0 <0.010393>`), the same
//! wait on every shard of the process. Counted, it was the round the maximum always came
//! from (first rounds 1.9-13.5 ms, the other six 13-201 µs).
//!
//! A busy host delays a prompt wake too: the shard is woken but waits on the CPU's run
//! queue behind other threads (a build beside the tests, another service at startup). The
//! kernel counts that wait (`/proc/thread-self/schedstat`, its second field), and the probe
//! takes it out of each round: what is left is the wake itself, which a lost wakeup delays
//! while the shard sleeps, not while it queues.

use std::io;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::{Driver, RingConn};

/// Rounds of write-and-wake; the verdict is on their median and maximum.
const ROUNDS: usize = 7;
/// Rounds before those, not counted: the first park's one-time costs (module docs).
const WARM_UP: usize = 1;
/// How long the writer waits after the shard starts reading, so that the shard has parked
/// (its executor has nothing else to do at startup) before the byte arrives.
const PARK_PAUSE: Duration = Duration::from_millis(2);
/// A median wake above this fails the probe. A working wake takes tens of microseconds;
/// the lost one of a `DEFER_TASKRUN` ring on the 6.18.44 VM took 5-25 ms. Generous, so a
/// busy host at startup does not fail a working path.
const MEDIAN_BOUND: Duration = Duration::from_millis(2);
/// Any single wake above this fails the probe: one lost wake in seven (an eventfd signal
/// left to an RCU callback, 5-25 ms on the VM) must not pass. A counted round takes
/// 13-201 µs there; the time a thread waited for its CPU is taken out, so a busy host
/// does not come near it.
const MAX_BOUND: Duration = Duration::from_millis(10);
/// How long a round waits for its byte before the probe gives up on the setup.
const ROUND_TIMEOUT: Duration = Duration::from_millis(200);

/// What the probe saw: each round's wake latency, less the time the shard spent runnable
/// and waiting for its CPU in that round, sorted; and the sum of those waits.
#[derive(Debug, Clone)]
pub(crate) struct WakeReport {
    pub wakes: Vec<Duration>,
    pub queued: Duration,
}

impl WakeReport {
    /// The median wake.
    pub(crate) fn median(&self) -> Duration {
        self.wakes
            .get(self.wakes.len() / 2)
            .copied()
            .unwrap_or(Duration::MAX)
    }

    /// The slowest wake.
    pub(crate) fn max(&self) -> Duration {
        self.wakes.last().copied().unwrap_or(Duration::MAX)
    }

    /// Whether the wake path is prompt enough to serve on.
    pub(crate) fn passed(&self) -> bool {
        self.wakes.len() == ROUNDS && self.median() <= MEDIAN_BOUND && self.max() <= MAX_BOUND
    }
}

impl std::fmt::Display for WakeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {ROUNDS} rounds woke, median {:?}, max {:?}",
            self.wakes.len(),
            self.median(),
            self.max()
        )?;
        if !self.queued.is_zero() {
            write!(f, "; {:?} waiting for the CPU not counted", self.queued)?;
        }
        Ok(())
    }
}

/// Runs the probe on `driver` from the shard's executor. `Err` only when the probe could
/// not be set up (no loopback socket, no thread); a slow or missing wake is a report that
/// did not pass.
pub(crate) async fn probe(driver: &Rc<Driver>) -> io::Result<WakeReport> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    let mut client = TcpStream::connect(listener.local_addr()?)?;
    client.set_nodelay(true)?;
    let (server, _) = listener.accept()?;
    drop(listener);
    let conn = RingConn::open(driver, &server)?;
    drop(server);

    let written: Arc<Mutex<Option<Instant>>> = Arc::default();
    let (go, rounds) = mpsc::channel::<()>();
    let stamp = written.clone();
    let shard_cpu = crate::server::info::current_shard().map(|info| info.cpu);
    let writer = std::thread::Builder::new()
        .name("ringpin-wake-probe".into())
        .spawn(move || {
            move_off(shard_cpu);
            while rounds.recv().is_ok() {
                std::thread::sleep(PARK_PAUSE);
                // The stamp is taken before the write and moved on by any time the writer
                // itself then waited for a CPU (a busy host), so that wait is not counted
                // as the shard's; it is published after the write.
                let queued_before = run_queue_wait();
                let now = Instant::now();
                let written = client.write_all(b"w");
                let queued = run_queue_wait().saturating_sub(queued_before);
                if let Ok(mut at) = stamp.lock() {
                    *at = Some(now + queued);
                }
                if written.is_err() {
                    return;
                }
            }
        })?;

    let mut input = BytesMut::with_capacity(64);
    let mut wakes = Vec::with_capacity(ROUNDS);
    let mut queued = Duration::ZERO;
    for round in 0..WARM_UP + ROUNDS {
        input.clear();
        let queued_before = run_queue_wait();
        if go.send(()).is_err() {
            break;
        }
        match conn.read(&mut input, ROUND_TIMEOUT).await {
            Ok(n) if n > 0 => {}
            _ => break,
        }
        let woke = Instant::now();
        let in_queue = run_queue_wait().saturating_sub(queued_before);
        // The writer publishes its stamp just after its write: wait for it a moment.
        let mut at = None;
        let deadline = woke + ROUND_TIMEOUT;
        while at.is_none() && Instant::now() < deadline {
            at = written.lock().ok().and_then(|mut at| at.take());
            if at.is_none() {
                std::thread::yield_now();
            }
        }
        let Some(at) = at else { break };
        if round >= WARM_UP {
            queued += in_queue;
            wakes.push(woke.saturating_duration_since(at).saturating_sub(in_queue));
        }
    }
    drop(go);
    drop(conn);
    // The writer ends when the channel closes; it never blocks for long (one sleep).
    let _ = writer.join();
    wakes.sort();
    Ok(WakeReport { wakes, queued })
}

/// How long the calling thread has been runnable but not running, since it started: the
/// second field of `/proc/thread-self/schedstat` (ns). Zero where the kernel does not
/// keep it, which leaves the probe's rounds uncorrected (stricter, never laxer).
fn run_queue_wait() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|stat| stat.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// Moves the probe's writer off the shard's CPU when there is another: it inherits the
/// shard's pin, and a peer's bytes usually arrive from another CPU. A failure (a cpuset
/// without another CPU) leaves it beside the shard, which the probe tolerates: the shard
/// is parked while it writes.
fn move_off(shard_cpu: Option<usize>) {
    let Ok(online) = crate::server::cpus::online_cpus() else {
        return;
    };
    if let Some(&other) = online.iter().find(|&&cpu| Some(cpu) != shard_cpu) {
        let _ = core_affinity::set_for_current(core_affinity::CoreId { id: other });
    }
}
