//! Per-shard counters and latency histograms: recorded without locks, merged on scrape.
//!
//! Each shard records into its own [`ShardMetrics`]: plain `RefCell`s on the shard's thread,
//! no atomics, no locks. Once per clock tick (50 ms) the shard [publishes](ShardMetrics::publish)
//! a copy into its slot of the shared [`Metrics`] registry, taking the slot's mutex with
//! `try_lock`: while a scrape holds it, the shard skips that tick instead of waiting. A scrape
//! ([`Metrics::snapshot`], [`Metrics::render_prometheus`]) reads only the slots, holding each
//! one just long enough to add it into the merge (tens of microseconds), and never touches a
//! shard's hot-path state. What it sees is therefore at most one tick old (two if it made the
//! shard skip a tick).
//!
//! ```
//! use std::time::Duration;
//! use ringpin::metrics::Metrics;
//!
//! let metrics = Metrics::new();
//! let shard = metrics.register_shard(0, 0); // on the shard's own thread
//! shard.connection_opened();
//! shard.request_done(200, 78, 120, Duration::from_micros(40), Duration::from_micros(3));
//! shard.publish(); // from the shard's clock tick
//! let snapshot = metrics.snapshot(); // from any thread
//! assert_eq!(snapshot.total.counters.requests_in_class(200), 1);
//! assert!(metrics.render_prometheus().contains("ringpin_requests_total{shard=\"0\",class=\"2xx\"} 1"));
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::app::handler::Handler;
use crate::http::error::RequestError;
use crate::http::request::Request;
use crate::http::response::Response;

mod prometheus;
mod route;

pub use route::{prometheus_response, MetricsHandlerExt, MetricsRoute};

/// Smallest latency a histogram tells apart, in microseconds.
const HISTOGRAM_LOW_US: u64 = 1;
/// Largest latency a histogram tracks, in microseconds (60 s); longer ones count as 60 s.
const HISTOGRAM_HIGH_US: u64 = 60_000_000;
/// Significant decimal digits each histogram keeps: values are exact to 0.1 %.
const HISTOGRAM_DIGITS: u8 = 3;

/// Labels of the status classes, in counter order; the last catches codes outside 100..=599.
const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// Every parse error counted by kind, in counter order; index `len()` is "other".
const PARSE_ERROR_KINDS: [RequestError; 23] = [
    RequestError::InvalidRequestLine,
    RequestError::InvalidMethod,
    RequestError::ConnectNotImplemented,
    RequestError::InvalidTarget,
    RequestError::UnsupportedVersion,
    RequestError::InvalidHeader,
    RequestError::BareLineEnding,
    RequestError::TooManyEmptyLines,
    RequestError::InvalidHostCount,
    RequestError::InvalidHost,
    RequestError::InvalidContentLength,
    RequestError::ConflictingFraming,
    RequestError::InvalidTransferEncoding,
    RequestError::UnsupportedTransferCoding,
    RequestError::InvalidChunk,
    RequestError::ChunkExtensionTooLarge,
    RequestError::TrailersTooLarge,
    RequestError::RequestLineTooLong,
    RequestError::HeadTooLarge,
    RequestError::TooManyHeaders,
    RequestError::BodyTooLarge,
    RequestError::UnsupportedExpectation,
    RequestError::IncompleteBody,
];
/// Parse-error counters: one per kind plus "other".
const PARSE_ERROR_BUCKETS: usize = PARSE_ERROR_KINDS.len() + 1;
/// The label of the bucket for kinds added after this table.
const OTHER_KIND: &str = "other";

/// The counter index of a parse error: its position in [`PARSE_ERROR_KINDS`], or the
/// "other" bucket for a variant added after the table. A scan of 23 bytes, on a path that
/// closes the connection anyway.
fn parse_error_index(kind: RequestError) -> usize {
    PARSE_ERROR_KINDS
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(PARSE_ERROR_KINDS.len())
}

/// The counter index of a status code's class: 0 for 1xx .. 4 for 5xx, 5 for the rest.
fn class_index(status: u16) -> usize {
    match status / 100 {
        class @ 1..=5 => usize::from(class - 1),
        _ => STATUS_CLASSES.len() - 1,
    }
}

/// Which deadline a connection missed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum TimeoutKind {
    /// The request head did not arrive in time.
    Header,
    /// The request body did not arrive in time.
    Body,
    /// A kept-alive connection sent no new request in time.
    Idle,
    /// The peer did not take the response in time.
    Send,
}

impl TimeoutKind {
    /// Every kind, in counter order.
    pub const ALL: [TimeoutKind; 4] = [
        TimeoutKind::Header,
        TimeoutKind::Body,
        TimeoutKind::Idle,
        TimeoutKind::Send,
    ];

    /// The `kind` label value: `header`, `body`, `idle` or `send`.
    pub const fn label(self) -> &'static str {
        match self {
            TimeoutKind::Header => "header",
            TimeoutKind::Body => "body",
            TimeoutKind::Idle => "idle",
            TimeoutKind::Send => "send",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// Counter values of one shard, or of every shard summed. Every count is cumulative since
/// the shard registered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Connections accepted.
    pub connections_opened: u64,
    /// Connections closed.
    pub connections_closed: u64,
    /// Request bytes read, as the connection loop reports them.
    pub bytes_in: u64,
    /// Response bytes written, as the connection loop reports them.
    pub bytes_out: u64,
    /// Requests refused because the shard was overloaded.
    pub shed: u64,
    /// Share of new requests the shard refuses now (load shedding), in thousandths: a
    /// gauge, not a count. Summed over shards it is the highest shard's share.
    pub shed_permille: u64,
    /// Failed `accept` calls (out of descriptors, memory ...).
    pub accept_errors: u64,
    /// TLS handshakes completed.
    pub tls_handshakes: u64,
    /// TLS handshakes that failed: refused by rustls (a bad certificate, no common
    /// version), timed out, closed, or plain HTTP sent to the TLS port.
    pub tls_handshake_failures: u64,
    /// TLS connections closed at once because the shard had its most handshakes in flight.
    pub tls_handshakes_refused: u64,
    /// TLS handshakes in flight now: a gauge (summed over shards).
    pub tls_handshakes_in_flight: u64,
    /// Pieces of file bodies (up to 1 MiB each) that were not in the page cache and were
    /// read into it off the shard, on glommio's blocking thread, before being sent.
    pub file_cold_reads: u64,
    requests: [u64; STATUS_CLASSES.len()],
    parse_errors: [u64; PARSE_ERROR_BUCKETS],
    timeouts: [u64; TimeoutKind::ALL.len()],
    service_us: u64,
    queue_us: u64,
}

impl Counters {
    /// Connections open now: opened minus closed.
    pub fn connections_open(&self) -> u64 {
        self.connections_opened
            .saturating_sub(self.connections_closed)
    }

    /// Requests answered, in every class.
    pub fn requests(&self) -> u64 {
        self.requests.iter().sum()
    }

    /// Requests answered with a status in the class of `status`: `200` counts the 2xx ones.
    /// A code outside 100..=599 asks for the "other" class.
    pub fn requests_in_class(&self, status: u16) -> u64 {
        self.requests[class_index(status)]
    }

    /// `(class, count)` for `1xx` .. `5xx` and `other`.
    pub fn requests_by_class(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        STATUS_CLASSES.iter().copied().zip(self.requests)
    }

    /// Requests refused as malformed or too large, of every kind.
    pub fn parse_errors(&self) -> u64 {
        self.parse_errors.iter().sum()
    }

    /// Requests refused with `kind`.
    pub fn parse_errors_of(&self, kind: RequestError) -> u64 {
        self.parse_errors[parse_error_index(kind)]
    }

    /// `(kind, count)` for every kind, labelled by [`RequestError::reason`], then `other`.
    pub fn parse_errors_by_kind(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        PARSE_ERROR_KINDS
            .iter()
            .map(|kind| kind.reason())
            .chain([OTHER_KIND])
            .zip(self.parse_errors)
    }

    /// Deadlines missed, of every kind.
    pub fn timeouts(&self) -> u64 {
        self.timeouts.iter().sum()
    }

    /// Deadlines of `kind` missed.
    pub fn timeouts_of(&self, kind: TimeoutKind) -> u64 {
        self.timeouts[kind.index()]
    }

    fn add(&mut self, other: &Counters) {
        fn sum<const N: usize>(into: &mut [u64; N], from: &[u64; N]) {
            into.iter_mut().zip(from).for_each(|(a, b)| *a += b);
        }
        self.connections_opened += other.connections_opened;
        self.connections_closed += other.connections_closed;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.shed += other.shed;
        // A share does not add up across shards: the total shows the busiest shard's.
        self.shed_permille = self.shed_permille.max(other.shed_permille);
        self.accept_errors += other.accept_errors;
        self.tls_handshakes += other.tls_handshakes;
        self.tls_handshake_failures += other.tls_handshake_failures;
        self.tls_handshakes_refused += other.tls_handshakes_refused;
        self.tls_handshakes_in_flight += other.tls_handshakes_in_flight;
        self.file_cold_reads += other.file_cold_reads;
        sum(&mut self.requests, &other.requests);
        sum(&mut self.parse_errors, &other.parse_errors);
        sum(&mut self.timeouts, &other.timeouts);
        self.service_us += other.service_us;
        self.queue_us += other.queue_us;
    }
}

/// A latency distribution summed up. Percentiles come from an HDR histogram and are exact to
/// 0.1 %; `sum` is exact.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Latency {
    /// Requests measured.
    pub count: u64,
    /// Total of every measurement.
    pub sum: Duration,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Largest measurement (up to the 60 s the histograms track).
    pub max: Duration,
}

impl Latency {
    fn of(histogram: &Histogram<u64>, sum_us: u64) -> Latency {
        let at = |q: f64| Duration::from_micros(histogram.value_at_quantile(q));
        Latency {
            count: histogram.len(),
            sum: Duration::from_micros(sum_us),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: Duration::from_micros(histogram.max()),
        }
    }

    /// `(quantile, value)` as the Prometheus summary shows them; quantile 1 is the maximum.
    fn quantiles(&self) -> [(&'static str, Duration); 5] {
        [
            ("0.5", self.p50),
            ("0.9", self.p90),
            ("0.99", self.p99),
            ("0.999", self.p999),
            ("1", self.max),
        ]
    }
}

/// Counters and latencies of one shard, or of every shard merged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// The counters.
    pub counters: Counters,
    /// Time from a request's head being parsed to its response being encoded (the parse,
    /// the handler and the encoding; a pipelined request starts when the one before it
    /// finished).
    pub service_time: Latency,
    /// Time a request's bytes waited in the input before the shard took the request up.
    pub queue_delay: Latency,
}

/// One shard's published state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardSnapshot {
    /// The shard's index.
    pub shard: usize,
    /// The CPU it is pinned to.
    pub cpu: usize,
    /// The I/O path it runs: `ring-coop`, `ring-interrupt`, `ring-defer` (the own ring
    /// and its setup) or `glommio`; `unknown` before the shard set it.
    pub io_path: &'static str,
    /// What it had published.
    pub stats: Stats,
}

/// Every shard's published state and their merge, as one scrape saw them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Each registered shard, by shard index.
    pub shards: Vec<ShardSnapshot>,
    /// Every shard summed; latencies from the merged histograms, not averaged percentiles.
    pub total: Stats,
    /// Access-log lines dropped because the log writer fell behind (process-wide).
    pub access_log_dropped: u64,
    /// Handler panics caught, every shard summed, by route pattern (`-` for a request no
    /// router matched to a route, such as a plain handler's).
    pub handler_panics: BTreeMap<String, u64>,
    /// Whether the kernel offers kernel TLS (`available` or `no`) when the server serves
    /// TLS; `None` without TLS (no `ringpin_tls_*` families then).
    pub ktls: Option<&'static str>,
}

/// What a shard has published: its counters and its cumulative histograms.
struct Published {
    counters: Counters,
    service: Histogram<u64>,
    queue: Histogram<u64>,
}

/// One shard's place in the registry.
struct Slot {
    shard: usize,
    cpu: usize,
    /// The I/O path the shard runs (`ringpin_shard_info{io=..}`); set once at startup.
    io_path: Mutex<&'static str>,
    /// Handler panics caught, by route pattern (written only when one is caught: a cold
    /// path, so a lock of its own rather than a field of the per-request counters).
    panics: Mutex<BTreeMap<String, u64>>,
    published: Mutex<Published>,
}

impl Slot {
    /// The slot for a scrape to read, waiting out a shard's publish (a copy, microseconds).
    fn lock(&self) -> MutexGuard<'_, Published> {
        self.published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(HISTOGRAM_LOW_US, HISTOGRAM_HIGH_US, HISTOGRAM_DIGITS)
        .expect("constant histogram bounds are valid")
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// The server-wide registry: one slot per shard. Cheap to clone and to send anywhere.
#[derive(Clone, Default)]
pub struct Metrics {
    slots: Arc<Mutex<Vec<Arc<Slot>>>>,
    /// Set when the server serves TLS: what the kernel TLS probe found.
    ktls: Arc<std::sync::OnceLock<&'static str>>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("shards", &self.slot_list().len())
            .finish()
    }
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// Marks the server as serving TLS (the `ringpin_tls_*` families appear), with what
    /// the kernel TLS probe found (`ringpin_tls_info{ktls}`).
    pub(crate) fn set_tls(&self, ktls: &'static str) {
        let _ = self.ktls.set(ktls);
    }

    /// Gives shard `shard` (pinned to `cpu`) its recorder; call it on the shard's thread. A
    /// shard registering again gets its old slot back and counts on from what it published.
    pub fn register_shard(&self, shard: usize, cpu: usize) -> ShardMetrics {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = match slots.iter().find(|s| s.shard == shard) {
            Some(slot) => slot.clone(),
            None => {
                let slot = Arc::new(Slot {
                    shard,
                    cpu,
                    io_path: Mutex::new("unknown"),
                    panics: Mutex::default(),
                    published: Mutex::new(Published {
                        counters: Counters::default(),
                        service: new_histogram(),
                        queue: new_histogram(),
                    }),
                });
                slots.push(slot.clone());
                slots.sort_by_key(|s| s.shard);
                slot
            }
        };
        drop(slots);
        let counters = slot.lock().counters.clone();
        ShardMetrics {
            local: Rc::new(Local {
                counters: RefCell::new(counters),
                service: RefCell::new(new_histogram()),
                queue: RefCell::new(new_histogram()),
                slot,
            }),
        }
    }

    fn slot_list(&self) -> Vec<Arc<Slot>> {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// What every shard last published, and the merge, with each shard's own latencies.
    /// Runs on the calling thread; each slot is locked only while it is read.
    pub fn snapshot(&self) -> MetricsSnapshot {
        self.collect(true)
    }

    /// [`Metrics::snapshot`], leaving each shard's latencies at zero unless `per_shard_latency`
    /// (the Prometheus text shows only the merged ones; skipping them halves a scrape).
    fn collect(&self, per_shard_latency: bool) -> MetricsSnapshot {
        let mut shards = Vec::new();
        let mut total = Counters::default();
        let mut service = new_histogram();
        let mut queue = new_histogram();
        let mut handler_panics = BTreeMap::new();
        for slot in self.slot_list() {
            for (route, count) in slot
                .panics
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
            {
                *handler_panics.entry(route.clone()).or_insert(0) += count;
            }
            // Merged under the slot's lock rather than copied out: a pass over each counts
            // array either way, without two 136 KiB allocations.
            let published = slot.lock();
            let counters = published.counters.clone();
            total.add(&counters);
            // Same bounds on both sides: adding cannot go out of range.
            let _ = service.add(&published.service);
            let _ = queue.add(&published.queue);
            let stats = if per_shard_latency {
                Stats {
                    service_time: Latency::of(&published.service, counters.service_us),
                    queue_delay: Latency::of(&published.queue, counters.queue_us),
                    counters,
                }
            } else {
                Stats {
                    counters,
                    ..Stats::default()
                }
            };
            drop(published);
            shards.push(ShardSnapshot {
                shard: slot.shard,
                cpu: slot.cpu,
                io_path: *slot.io_path.lock().unwrap_or_else(PoisonError::into_inner),
                stats,
            });
        }
        MetricsSnapshot {
            shards,
            total: Stats {
                service_time: Latency::of(&service, total.service_us),
                queue_delay: Latency::of(&queue, total.queue_us),
                counters: total,
            },
            access_log_dropped: access_log_dropped(),
            handler_panics,
            ktls: self.ktls.get().copied(),
        }
    }

    /// A [`snapshot`](Metrics::snapshot) in the Prometheus text format (version 0.0.4); see
    /// [`MetricsSnapshot::render_prometheus`]. Costs a pass over each shard's two histograms
    /// (tens of microseconds per shard; 1-3 ms for 64 shards measured) on the calling thread,
    /// and about 1 KiB of text per shard.
    pub fn render_prometheus(&self) -> String {
        self.collect(false).render_prometheus()
    }
}

/// A shard's own recorder: lives on its shard (it is not `Send`), clones share it.
#[derive(Clone)]
pub struct ShardMetrics {
    local: Rc<Local>,
}

struct Local {
    counters: RefCell<Counters>,
    service: RefCell<Histogram<u64>>,
    queue: RefCell<Histogram<u64>>,
    slot: Arc<Slot>,
}

impl fmt::Debug for ShardMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardMetrics")
            .field("shard", &self.local.slot.shard)
            .field("counters", &self.local.counters.borrow())
            .finish()
    }
}

impl ShardMetrics {
    /// Counts a handler panic caught on a request to `route` (the router's pattern, or `-`).
    pub fn handler_panicked(&self, route: &str) {
        let mut panics = self
            .local
            .slot
            .panics
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match panics.get_mut(route) {
            Some(count) => *count += 1,
            None => {
                panics.insert(route.to_string(), 1);
            }
        }
    }

    /// Records the I/O path the shard runs (shown as `ringpin_shard_info{io=..}`).
    pub fn set_io_path(&self, path: &'static str) {
        *self
            .local
            .slot
            .io_path
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = path;
    }

    fn count(&self, f: impl FnOnce(&mut Counters)) {
        f(&mut self.local.counters.borrow_mut());
    }

    /// A connection was accepted.
    pub fn connection_opened(&self) {
        self.count(|c| c.connections_opened += 1);
    }

    /// A connection was closed, for any reason.
    pub fn connection_closed(&self) {
        self.count(|c| c.connections_closed += 1);
    }

    /// A response was produced: its status, the request's and response's bytes, the time
    /// its handler took (`service`) and the time the complete request waited for it
    /// (`queued`). Durations are recorded in microseconds, up to 60 s.
    pub fn request_done(
        &self,
        status: u16,
        bytes_in: usize,
        bytes_out: usize,
        service: Duration,
        queued: Duration,
    ) {
        self.request_counted(status, bytes_in, bytes_out);
        self.run_timed(1, service, queued);
    }

    /// A response was produced whose times come later, with those of its run
    /// ([`ShardMetrics::run_timed`]): its status and the request's and response's bytes.
    pub(crate) fn request_counted(&self, status: u16, bytes_in: usize, bytes_out: usize) {
        self.count(|c| {
            c.requests[class_index(status)] += 1;
            c.bytes_in = c.bytes_in.saturating_add(bytes_in as u64);
            c.bytes_out = c.bytes_out.saturating_add(bytes_out as u64);
        });
    }

    /// The times of `requests` responses produced back to back (counted before with
    /// [`ShardMetrics::request_counted`]): each took `service`, the first waited `queued`
    /// after its input arrived, and each later one waited `service` longer than the one
    /// before it. In microseconds, as [`ShardMetrics::request_done`] records.
    pub(crate) fn run_timed(&self, requests: u32, service: Duration, queued: Duration) {
        let (each, first) = (micros(service), micros(queued));
        let n = u64::from(requests);
        let mut queue = self.local.queue.borrow_mut();
        if each == 0 {
            queue.saturating_record_n(first, n);
        } else {
            for k in 0..n {
                queue.saturating_record(first.saturating_add(each.saturating_mul(k)));
            }
        }
        drop(queue);
        self.local.service.borrow_mut().saturating_record_n(each, n);
        let waited = first
            .saturating_mul(n)
            .saturating_add(each.saturating_mul(n.saturating_mul(n.saturating_sub(1)) / 2));
        self.count(|c| {
            c.service_us = c.service_us.saturating_add(each.saturating_mul(n));
            c.queue_us = c.queue_us.saturating_add(waited);
        });
    }

    /// A request was refused with `kind`.
    pub fn parse_error(&self, kind: RequestError) {
        self.count(|c| c.parse_errors[parse_error_index(kind)] += 1);
    }

    /// A connection missed a deadline of `kind`.
    pub fn timeout(&self, kind: TimeoutKind) {
        self.count(|c| c.timeouts[kind.index()] += 1);
    }

    /// A request was refused because the shard was overloaded.
    pub fn shed(&self) {
        self.count(|c| c.shed += 1);
    }

    /// The shard now refuses `fraction` (`0.0..=1.0`) of new requests.
    pub fn shed_fraction(&self, fraction: f64) {
        let permille = (fraction.clamp(0.0, 1.0) * 1000.0).round() as u64;
        self.count(|c| c.shed_permille = permille);
    }

    /// An `accept` call failed.
    pub fn accept_error(&self) {
        self.count(|c| c.accept_errors += 1);
    }

    /// A TLS handshake ended: completed (`ok`) or failed.
    pub fn tls_handshake(&self, ok: bool) {
        self.count(|c| match ok {
            true => c.tls_handshakes += 1,
            false => c.tls_handshake_failures += 1,
        });
    }

    /// A TLS connection was closed at once: the shard had its most handshakes in flight.
    pub fn tls_handshake_refused(&self) {
        self.count(|c| c.tls_handshakes_refused += 1);
    }

    /// `pieces` of a file body were read into the page cache off the shard.
    pub fn file_cold_reads(&self, pieces: u32) {
        self.count(|c| c.file_cold_reads += u64::from(pieces));
    }

    /// The shard has `now` TLS handshakes in flight.
    pub fn tls_handshakes_in_flight(&self, now: u64) {
        self.count(|c| c.tls_handshakes_in_flight = now);
    }

    /// Copies the counters into the shard's slot and moves the histograms' new samples into
    /// the slot's cumulative ones. Never blocks: when a scrape holds the slot this does
    /// nothing and returns `false`, and the next tick publishes everything. Call it from the
    /// shard's clock tick.
    pub fn publish(&self) -> bool {
        let mut guard = match self.local.slot.published.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return false,
        };
        let published = &mut *guard;
        published.counters.clone_from(&self.local.counters.borrow());
        let pairs = [
            (&self.local.service, &mut published.service),
            (&self.local.queue, &mut published.queue),
        ];
        for (local, slot) in pairs {
            let mut local = local.borrow_mut();
            if !local.is_empty() && slot.add(&*local).is_ok() {
                local.reset();
            }
        }
        true
    }
}

/// Access-log lines dropped since the process started (the writer fell behind, or could not
/// start): process-wide, since the writer is one thread for every shard.
static ACCESS_LOG_DROPPED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Counts `lines` access-log lines dropped.
pub(crate) fn count_access_log_dropped(lines: u64) {
    ACCESS_LOG_DROPPED.fetch_add(lines, std::sync::atomic::Ordering::Relaxed);
}

/// Access-log lines dropped since the process started.
pub(crate) fn access_log_dropped() -> u64 {
    ACCESS_LOG_DROPPED.load(std::sync::atomic::Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::prometheus::escape_into;
    use super::*;

    #[test]
    fn every_listed_kind_has_its_own_counter() {
        for (i, kind) in PARSE_ERROR_KINDS.iter().enumerate() {
            assert_eq!(parse_error_index(*kind), i, "{kind:?}");
        }
    }

    #[test]
    fn status_classes() {
        #[rustfmt::skip]
        let cases = [(100, 0), (199, 0), (200, 1), (304, 2), (404, 3), (599, 4), (600, 5), (0, 5), (99, 5)];
        for (status, index) in cases {
            assert_eq!(class_index(status), index, "{status}");
        }
    }

    #[test]
    fn escaping() {
        let mut out = String::new();
        escape_into(&mut out, "a\\b\"c\nd", true);
        assert_eq!(out, r#"a\\b\"c\nd"#);
        out.clear();
        escape_into(&mut out, "a\\b\"c\nd", false);
        assert_eq!(out, r#"a\\b"c\nd"#);
    }

    #[test]
    fn publish_skips_while_a_scrape_holds_the_slot() {
        let metrics = Metrics::new();
        let shard = metrics.register_shard(0, 0);
        shard.shed();
        let slot = metrics.slot_list().remove(0);
        let held = slot.lock();
        assert!(!shard.publish(), "must not wait for the scrape");
        drop(held);
        assert_eq!(metrics.snapshot().total.counters.shed, 0);
        assert!(shard.publish());
        assert_eq!(metrics.snapshot().total.counters.shed, 1);
    }
}
