//! ringpin-load: an open-loop HTTP/1.1 load generator for benchmarking ringpin.
//!
//! Requests go out on a fixed schedule (`--rate` per second in total) and every latency is
//! measured from the request's *intended* send time, so a server that stalls cannot hide the
//! stall by slowing the client down (no coordinated omission). The generator's own lateness
//! (send lag: actual send time minus intended) is reported beside every figure, and so is its
//! CPU time per request, so a reader can tell whether the generator or the server was slow.
//!
//! ```text
//! taskset -c 1 nginx                      # any server on loopback, pinned away from the load
//! curl -i http://127.0.0.1:8089/          # what one request sees
//! ringpin-load --url http://127.0.0.1:8089/ --rate 20000 --connections 64 --cores 0 --duration 10
//! ```
//!
//! # Layout
//!
//! One file per stage of a run; only `ring.rs` holds `unsafe`.
//!
//! - `main.rs`: the options (`Args`), one pinned thread per core (`run_load`).
//! - `plan.rs`: the command line, checked once, becomes an immutable `Plan` (target address,
//!   encoded request, rate, cores); a bad option exits with status 2 before any traffic.
//! - `schedule.rs`: a worker's intended send times, constant (`i / rate`) or Poisson, fixed
//!   before the run. Slots due during the warmup are sent but not recorded.
//! - `worker.rs`: one thread's loop: send every due slot (one submit per batch), reap every
//!   completion, wait once until the next due slot; no timer per request.
//! - `ring.rs`: the thread's io_uring: sends of the fixed request bytes, multishot receives
//!   into a provided buffer ring, the timed wait.
//! - `conn.rs`: one keep-alive connection: its socket, the intended times of its requests in
//!   flight, and the parser that splits its bytes into responses.
//! - `framing.rs`: `parse_head` and `BodyDecoder`, pure functions over bytes; an incomplete
//!   response is `Ok(None)` or "not done", never an error.
//! - `report.rs`: per-thread histograms (HDR) merged at the end, printed as text or JSON.

mod conn;
mod framing;
mod plan;
mod report;
mod ring;
mod schedule;
mod worker;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::plan::Plan;
use crate::report::{report_json, report_text, Stats};
use crate::schedule::Schedule;
use crate::worker::{duration_ns, Worker};

/// Time from start-up to the first due slot: threads start and connect meanwhile.
const START_DELAY: Duration = Duration::from_millis(200);

/// Open-loop HTTP/1.1 load generator: a fixed request rate, latency from intended send time.
#[derive(Parser, Debug)]
#[command(name = "ringpin-load", version)]
pub struct Args {
    /// Target; only `http://host[:port][/path]`.
    #[arg(long, default_value = "http://127.0.0.1:8080/")]
    url: String,
    /// Requests per second, in total over all cores and connections.
    #[arg(long, short = 'r')]
    rate: f64,
    /// Keep-alive connections in total, split evenly over the cores.
    #[arg(long, short = 'c', default_value_t = 64)]
    connections: usize,
    /// Cores, taskset syntax (`1`, `0-1,3`); one thread each [default: this process's cores].
    #[arg(long)]
    cores: Option<String>,
    /// Seconds recorded, after the warmup.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before recording starts.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Seconds without progress on a connection with requests outstanding before they count
    /// as timed out; also how long the run waits for the last responses.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Microseconds before each due send that a worker stops sleeping and busy-polls;
    /// trades CPU for send timing.
    #[arg(long, default_value_t = 0)]
    spin_us: u64,
    /// Microseconds a worker may wake after a slot is due, so that one wake-up sends every
    /// slot due within that window: fewer wake-ups (less CPU) for at most this much more
    /// send lag, which is reported as such [default: 0, wake for each due slot].
    #[arg(long, default_value_t = 0)]
    batch_us: u64,
    /// Never sleep: every worker polls its ring in a loop and takes its core whole.
    #[arg(long)]
    busy_poll: bool,
    /// How intended send times are spaced: `constant` (every 1/rate) or `poisson`.
    #[arg(long, default_value = "constant")]
    arrival: String,
    /// Most requests in flight on one connection. 1 (the default) never pipelines: a slot
    /// that finds every connection busy waits, and that wait counts as send lag.
    #[arg(long, default_value_t = 1)]
    pipeline: usize,
    /// Request method [default: GET, or POST when --body is given].
    #[arg(long, short = 'm')]
    method: Option<String>,
    /// Request body, sent with Content-Length; `@path` reads it from a file.
    #[arg(long, short = 'b')]
    body: Option<String>,
    /// Extra request header `Name: value`; repeatable.
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
    /// Print one JSON object (latencies in microseconds) instead of the text summary.
    #[arg(long)]
    json: bool,
}

/// Starts one pinned worker thread per core, waits for all, and merges their counters.
fn run_load(plan: &Plan) -> Result<Stats, String> {
    let t0 = Instant::now() + START_DELAY;
    let workers = plan.cores.len();
    let record_from_ns = duration_ns(plan.warmup);
    let end_ns = duration_ns(plan.warmup + plan.duration);
    let mut handles = Vec::with_capacity(workers);
    for (index, &core) in plan.cores.iter().enumerate() {
        let connections =
            plan.connections / workers + usize::from(index < plan.connections % workers);
        let rate = plan.rate * connections as f64 / plan.connections as f64;
        // Staggers the workers' schedules so that together they send evenly spaced requests.
        let phase_ns = (index as f64 * 1e9 / plan.rate) as u64;
        let schedule = Schedule::new(
            plan.arrival,
            rate,
            phase_ns,
            index as u64 + 1,
            record_from_ns,
            end_ns,
        );
        let plan = plan.clone();
        let handle = std::thread::Builder::new()
            .name(format!("ringpin-load-{core}"))
            .spawn(move || {
                if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                    return Err(format!("cannot pin a thread to core {core}"));
                }
                ring::tighten_timer_slack();
                let worker = Worker::new(plan, t0, schedule, connections)
                    .map_err(|e| format!("cannot set up io_uring on core {core}: {e}"))?;
                worker
                    .run()
                    .map_err(|e| format!("io_uring failed on core {core}: {e}"))
            })
            .map_err(|e| format!("cannot start a thread for core {core}: {e}"))?;
        handles.push((core, handle));
    }
    let mut total = Stats::new();
    for (core, handle) in handles {
        let stats = handle
            .join()
            .map_err(|_| format!("the thread on core {core} panicked"))??;
        total.merge(&stats)?;
    }
    total.threads = workers;
    Ok(total)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let json = args.json;
    let plan = match Plan::from_args(args) {
        Ok(plan) => plan,
        Err(message) => {
            eprintln!("ringpin-load: {message}");
            return ExitCode::from(2);
        }
    };
    let stats = match run_load(&plan) {
        Ok(stats) => stats,
        Err(message) => {
            eprintln!("ringpin-load: {message}");
            return ExitCode::FAILURE;
        }
    };
    if json {
        println!("{}", report_json(&plan, &stats));
    } else {
        print!("{}", report_text(&plan, &stats));
    }
    if stats.completed == 0 {
        eprintln!("ringpin-load: no request completed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    use super::*;
    use crate::conn::Failure;

    /// Answers every request on one connection in turn with a length-framed 200, a chunked 200,
    /// a 404, and every fifth response with `Connection: close`.
    fn serve(mut stream: TcpStream) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        for answered in 0.. {
            let end = loop {
                if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break at + 4;
                }
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            buf.drain(..end);
            let close = answered % 5 == 4;
            let response: &[u8] = match (answered % 3, close) {
                (_, true) => b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
                (0, _) => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                (1, _) => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n3;x\r\nllo\r\n0\r\nT: 1\r\n\r\n",
                _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            };
            if stream.write_all(response).is_err() || close {
                return;
            }
        }
    }

    /// Starts `serve` on port 0 and runs ringpin-load at 2,000 req/s on it for 0.5 s with
    /// `extra` options.
    fn short_load(extra: &[&str]) -> (Plan, Stats) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || serve(stream));
            }
        });
        let core = core_affinity::get_core_ids().unwrap()[0].id.to_string();
        let mut args = vec![
            "ringpin-load",
            "--url",
            &url,
            "--rate",
            "2000",
            "-c",
            "4",
            "--cores",
            &core,
            "--duration",
            "0.5",
            "--warmup",
            "0.1",
            "--timeout",
            "2",
        ];
        args.extend_from_slice(extra);
        let plan = Plan::from_args(Args::try_parse_from(args).unwrap()).unwrap();
        let stats = run_load(&plan).unwrap();
        (plan, stats)
    }

    fn assert_all_answered(stats: &Stats) {
        assert_eq!(stats.sent, stats.scheduled);
        assert_eq!(
            stats.completed, stats.scheduled,
            "errors {:?}",
            stats.errors
        );
        assert_eq!(stats.error_count(), 0);
        // Every third response is a 404.
        let third = stats.scheduled / 3;
        assert!(
            stats.non_2xx > third / 2 && stats.non_2xx < third * 2,
            "non-2xx {} of {}",
            stats.non_2xx,
            stats.scheduled
        );
        assert!(stats.cpu_ns > 0 && stats.requests >= stats.sent);
    }

    #[test]
    fn runs_a_short_load_against_a_loopback_server() {
        let (plan, stats) = short_load(&[]);
        assert_eq!(stats.scheduled, 1000);
        assert_all_answered(&stats);
        let json = report_json(&plan, &stats);
        assert_eq!(json["completed"], 1000);
        assert!(json["latency_us"]["p99"].as_f64().is_some());
        assert!(json["send_lag_us"]["p99"].as_f64().is_some());
        assert!(json["generator"]["cpu_ns_per_request"].as_f64().unwrap() > 0.0);
        assert!(report_text(&plan, &stats).contains("generator CPU"));
    }

    #[test]
    fn poisson_arrivals_with_pipelining_and_a_busy_poll_are_answered_too() {
        let (_, stats) = short_load(&["--arrival", "poisson", "--pipeline", "4", "--busy-poll"]);
        // 1,000 expected; a Poisson count's standard deviation is ~32.
        assert!(
            (850..1150).contains(&stats.scheduled),
            "{}",
            stats.scheduled
        );
        // Requests pipelined behind a `Connection: close` answer are lost, and counted so.
        let closed = stats.errors[Failure::Closed as usize];
        assert_eq!(stats.sent, stats.scheduled);
        assert_eq!(
            stats.completed + closed,
            stats.scheduled,
            "{:?}",
            stats.errors
        );
        assert_eq!(stats.error_count(), closed);
        assert!(stats.completed > stats.scheduled / 2);
    }
}
