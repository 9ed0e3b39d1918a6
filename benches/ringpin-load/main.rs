//! ringpin-load: an open-loop HTTP/1.1 load generator for benchmarking ringpin.
//!
//! Requests go out on a fixed schedule (`--rate` per second in total) and every latency is
//! measured from the request's *intended* send time, so a server that stalls cannot hide the
//! stall by slowing the client down (no coordinated omission).
//!
//! ```text
//! taskset -c 0 nginx                      # any server on loopback, pinned away from the load
//! curl -i http://127.0.0.1:8089/          # what one request sees
//! ringpin-load --url http://127.0.0.1:8089/ --rate 20000 --connections 64 --cores 1 --duration 10
//! ```
//!
//! # Layout
//!
//! One file per stage of a run; only `conn.rs` touches sockets.
//!
//! - `main.rs`: the options (`Args`), one pinned glommio executor per core (`run_load`).
//! - `plan.rs`: the command line, checked once, becomes an immutable `Plan` (target address,
//!   encoded request, rate, cores); a bad option exits with status 2 before any traffic.
//! - `schedule.rs`: slot `i` of a shard is due at `t0 + phase + i / rate`. Slots due during the
//!   warmup are sent but not recorded; slots due after the end are never sent.
//! - `framing.rs`: `parse_head` and `BodyDecoder`, pure functions over bytes; an incomplete
//!   response is `Ok(None)` or "not done", never an error.
//! - `conn.rs`: one keep-alive connection: claim the oldest unclaimed slot, wait until it is due,
//!   write, read one response, record; reconnect after a failure or a close. Slots due while
//!   every connection is busy wait for the next free one, and their latency keeps counting
//!   from the due time.
//! - `shard.rs`: one executor's share of the connections and of the rate, and its counters.
//! - `report.rs`: per-shard histograms merged at the end, printed as text or one JSON object.

mod conn;
mod framing;
mod plan;
mod report;
mod schedule;
mod shard;

use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::Parser;
use glommio::{LocalExecutorBuilder, Placement};

use crate::plan::Plan;
use crate::report::{report_json, report_text, Stats};
use crate::shard::{run_shard, Shard};

/// Time from start-up to the first due slot: executors start and connect meanwhile.
const START_DELAY: Duration = Duration::from_millis(200);

/// Open-loop HTTP/1.1 load generator: constant request rate, latency from intended send time.
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
    /// Cores, taskset syntax (`1`, `0-1,3`); one executor each [default: this process's cores].
    #[arg(long)]
    cores: Option<String>,
    /// Seconds recorded, after the warmup.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before recording starts.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Seconds without progress on a connect, write or read before it counts as a timeout.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Microseconds an idle executor busy-polls before it sleeps; trades CPU for send timing.
    #[arg(long, default_value_t = 0)]
    spin_us: u64,
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

/// Starts one pinned executor per core, waits for all, and merges their counters.
fn run_load(plan: &Plan) -> Result<Stats, String> {
    let t0 = Instant::now() + START_DELAY;
    let shards = plan.cores.len();
    let mut handles = Vec::with_capacity(shards);
    for (index, &core) in plan.cores.iter().enumerate() {
        let connections =
            plan.connections / shards + usize::from(index < plan.connections % shards);
        let rate = plan.rate * connections as f64 / plan.connections as f64;
        // Staggers the shards' schedules so that together they send evenly spaced requests.
        let phase = Duration::from_secs_f64(index as f64 / plan.rate);
        let plan = plan.clone();
        let mut builder = LocalExecutorBuilder::new(Placement::Fixed(core)).name("ringpin-load");
        if !plan.spin.is_zero() {
            builder = builder.spin_before_park(plan.spin);
        }
        let handle = builder
            .spawn(move || async move {
                let shard = Rc::new(Shard::new(plan, t0, rate, phase));
                run_shard(shard, connections).await
            })
            .map_err(|e| format!("cannot start an executor on core {core}: {e}"))?;
        handles.push((core, handle));
    }
    let mut total = Stats::new();
    for (core, handle) in handles {
        let stats = handle
            .join()
            .map_err(|e| format!("executor on core {core} failed: {e}"))?;
        total.merge(&stats)?;
    }
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

    #[test]
    fn runs_a_short_load_against_a_loopback_server() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || serve(stream));
            }
        });
        let core = core_affinity::get_core_ids().unwrap()[0].id.to_string();
        let args = Args::try_parse_from([
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
        ])
        .unwrap();
        let plan = Plan::from_args(args).unwrap();
        let stats = run_load(&plan).unwrap();
        assert_eq!(stats.scheduled, 1000);
        assert_eq!(stats.sent, stats.scheduled);
        assert_eq!(
            stats.completed, stats.scheduled,
            "errors {:?}",
            stats.errors
        );
        assert_eq!(stats.error_count(), 0);
        assert!(
            stats.non_2xx > 100 && stats.non_2xx < 400,
            "non-2xx {}",
            stats.non_2xx
        );
        let json = report_json(&plan, &stats);
        assert_eq!(json["completed"], 1000);
        assert!(json["latency_us"]["p99"].as_f64().is_some());
    }
}
