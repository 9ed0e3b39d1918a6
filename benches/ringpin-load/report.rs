//! Counters and latency histograms, merged across shards and printed as text or JSON.

use hdrhistogram::Histogram;

use crate::conn::Failure;
use crate::plan::Plan;
use crate::schedule::Arrival;

/// Highest value the histograms track, in ns (one hour); longer latencies saturate to it.
pub const MAX_TRACKED_NS: u64 = 3_600_000_000_000;

/// Significant decimal digits the histograms keep.
pub const HISTOGRAM_DIGITS: u8 = 3;

/// Counters and histograms of one shard; merged across shards at the end.
pub struct Stats {
    /// From a recorded slot's due time to the end of its response, in ns.
    pub latency_ns: Histogram<u64>,
    /// The same, for 2xx responses only: what admitted requests saw when a server sheds
    /// load with quick 503s.
    pub ok_latency_ns: Histogram<u64>,
    /// From a recorded slot's due time to the moment it was written, in ns.
    pub send_lag_ns: Histogram<u64>,
    /// Slots due inside the recorded window.
    pub scheduled: u64,
    /// Recorded slots that were written.
    pub sent: u64,
    /// Requests written (any slot) while the recorded window was open: the achieved rate.
    pub sent_in_window: u64,
    /// Recorded slots that got a complete response, whatever its status.
    pub completed: u64,
    pub non_2xx: u64,
    /// Recorded slots that came due while every connection was busy, so waited for one.
    pub blocked: u64,
    /// Requests written, warmup included: what `cpu_ns` is divided by.
    pub requests: u64,
    /// CPU time of the worker threads over the whole run (schedstat), in ns.
    pub cpu_ns: u64,
    /// Worker threads merged here.
    pub threads: usize,
    /// Failures of recorded slots, plus connect failures after the warmup; by `Failure`.
    pub errors: [u64; Failure::ALL.len()],
}

impl Stats {
    pub fn new() -> Self {
        let histogram = || {
            Histogram::new_with_bounds(1, MAX_TRACKED_NS, HISTOGRAM_DIGITS)
                .unwrap_or_else(|e| unreachable!("constant histogram bounds are valid: {e}"))
        };
        Stats {
            latency_ns: histogram(),
            ok_latency_ns: histogram(),
            send_lag_ns: histogram(),
            scheduled: 0,
            sent: 0,
            sent_in_window: 0,
            completed: 0,
            non_2xx: 0,
            blocked: 0,
            requests: 0,
            cpu_ns: 0,
            threads: 1,
            errors: [0; Failure::ALL.len()],
        }
    }

    pub fn merge(&mut self, other: &Stats) -> Result<(), String> {
        let fail = |e| format!("cannot merge histograms: {e:?}");
        self.latency_ns.add(&other.latency_ns).map_err(fail)?;
        self.ok_latency_ns.add(&other.ok_latency_ns).map_err(fail)?;
        self.send_lag_ns.add(&other.send_lag_ns).map_err(fail)?;
        self.scheduled += other.scheduled;
        self.sent += other.sent;
        self.sent_in_window += other.sent_in_window;
        self.completed += other.completed;
        self.non_2xx += other.non_2xx;
        self.blocked += other.blocked;
        self.requests += other.requests;
        self.cpu_ns += other.cpu_ns;
        for (mine, theirs) in self.errors.iter_mut().zip(other.errors) {
            *mine += theirs;
        }
        Ok(())
    }

    pub fn error_count(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// The generator's own CPU time per request written, in ns.
    pub fn cpu_ns_per_request(&self) -> f64 {
        self.cpu_ns as f64 / self.requests.max(1) as f64
    }
}

/// The percentiles reported, as (label, quantile).
pub const PERCENTILES: [(&str, f64); 5] = [
    ("p50", 0.5),
    ("p90", 0.9),
    ("p99", 0.99),
    ("p99_9", 0.999),
    ("p99_99", 0.9999),
];

pub fn micros(ns: u64) -> f64 {
    (ns as f64 / 1e3 * 10.0).round() / 10.0
}

pub fn report_text(plan: &Plan, stats: &Stats) -> String {
    let seconds = plan.duration.as_secs_f64();
    let achieved = stats.sent_in_window as f64 / seconds;
    let errors: Vec<String> = Failure::ALL
        .iter()
        .map(|f| format!("{} {}", f.name(), stats.errors[*f as usize]))
        .collect();
    let mut text = format!(
        "ringpin-load: {} {}, {} connections on cores {:?}, {seconds} s after {} s warmup\n\
         rate       requested {:.1}/s  achieved {achieved:.1}/s ({:.2} %)  responses {:.1}/s\n\
         requests   scheduled {}  sent {}  completed {}  unsent {}\n\
         failures   non-2xx {}  errors {} ({})\n\
         latency from intended send time, us:\n",
        plan.method,
        plan.url,
        plan.connections,
        plan.cores,
        plan.warmup.as_secs_f64(),
        plan.rate,
        100.0 * achieved / plan.rate,
        stats.completed as f64 / seconds,
        stats.scheduled,
        stats.sent,
        stats.completed,
        stats.scheduled.saturating_sub(stats.sent),
        stats.non_2xx,
        stats.error_count(),
        errors.join(", "),
    );
    for (label, quantile) in PERCENTILES {
        let value = micros(stats.latency_ns.value_at_quantile(quantile));
        text.push_str(&format!("  {:<7} {value:>12.1}\n", label.replace('_', ".")));
    }
    text.push_str(&format!(
        "  {:<7} {:>12.1}\n",
        "max",
        micros(stats.latency_ns.max())
    ));
    if stats.non_2xx > 0 {
        let ok = &stats.ok_latency_ns;
        text.push_str(&format!(
            "2xx only, us: p50 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}\n",
            micros(ok.value_at_quantile(0.5)),
            micros(ok.value_at_quantile(0.99)),
            micros(ok.value_at_quantile(0.999)),
            micros(ok.max()),
        ));
    }
    let lag = &stats.send_lag_ns;
    text.push_str(&format!(
        "send lag behind schedule, us: p50 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  \
         (blocked on a busy connection: {})\n",
        micros(lag.value_at_quantile(0.5)),
        micros(lag.value_at_quantile(0.99)),
        micros(lag.value_at_quantile(0.999)),
        micros(lag.max()),
        stats.blocked,
    ));
    text.push_str(&format!(
        "generator CPU: {:.0} ns per request ({} requests, {:.3} s on {} thread(s){})\n",
        stats.cpu_ns_per_request(),
        stats.requests,
        stats.cpu_ns as f64 / 1e9,
        stats.threads,
        if plan.busy_poll { ", busy-polling" } else { "" },
    ));
    text
}

/// The `PERCENTILES` of a histogram of nanoseconds, and its `max`, in µs keyed by label.
fn quantiles_us(histogram: &Histogram<u64>) -> serde_json::Map<String, serde_json::Value> {
    let mut quantiles: serde_json::Map<String, serde_json::Value> = PERCENTILES
        .iter()
        .map(|&(label, quantile)| {
            let us = micros(histogram.value_at_quantile(quantile));
            (label.into(), us.into())
        })
        .collect();
    quantiles.insert("max".into(), micros(histogram.max()).into());
    quantiles
}

pub fn report_json(plan: &Plan, stats: &Stats) -> serde_json::Value {
    let seconds = plan.duration.as_secs_f64();
    let mut latency = quantiles_us(&stats.latency_ns);
    latency.insert(
        "mean".into(),
        ((stats.latency_ns.mean() / 1e2).round() / 10.0).into(),
    );
    let ok_latency = quantiles_us(&stats.ok_latency_ns);
    let error_kinds: serde_json::Map<String, serde_json::Value> = Failure::ALL
        .iter()
        .map(|f| (f.name().into(), stats.errors[*f as usize].into()))
        .collect();
    let lag = &stats.send_lag_ns;
    serde_json::json!({
        "url": plan.url,
        "method": plan.method,
        "connections": plan.connections,
        "cores": plan.cores,
        "duration_s": seconds,
        "warmup_s": plan.warmup.as_secs_f64(),
        "requested_rate": plan.rate,
        "achieved_rate": stats.sent_in_window as f64 / seconds,
        "response_rate": stats.completed as f64 / seconds,
        "scheduled": stats.scheduled,
        "sent": stats.sent,
        "completed": stats.completed,
        "unsent": stats.scheduled.saturating_sub(stats.sent),
        "non_2xx": stats.non_2xx,
        "errors": stats.error_count(),
        "error_kinds": error_kinds,
        "latency_us": latency,
        "ok_latency_us": ok_latency,
        "blocked": stats.blocked,
        "send_lag_us": {
            "p50": micros(lag.value_at_quantile(0.5)),
            "p90": micros(lag.value_at_quantile(0.9)),
            "p99": micros(lag.value_at_quantile(0.99)),
            "p99_9": micros(lag.value_at_quantile(0.999)),
            "max": micros(lag.max()),
        },
        "generator": {
            "threads": stats.threads,
            "cpu_ns": stats.cpu_ns,
            "requests": stats.requests,
            "cpu_ns_per_request": stats.cpu_ns_per_request().round(),
            "arrival": match plan.arrival {
                Arrival::Constant => "constant",
                Arrival::Poisson => "poisson",
            },
            "pipeline": plan.pipeline,
            "busy_poll": plan.busy_poll,
            "spin_us": plan.spin.as_micros() as u64,
            "batch_us": plan.batch.as_micros() as u64,
        },
    })
}
