//! One keep-alive connection, one request at a time with a pause between: the round trip of a
//! request that finds the server idle.
//!
//! The pause is the point. Under load a server is always awake, so a wake-up it sleeps
//! through costs nothing there; here every request arrives at a server that has gone back to
//! waiting, and a server that notices it only when a timer fires answers in a timer tick
//! (ringpin once took ~16 ms for every such request) instead of tens of microseconds.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::response::{parse_response, Status, RESPONSE_LIMIT};

/// Per connect, write and read; a server that takes longer has failed the run.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Round trips made first and not recorded: the connection's first answers pay for the
/// accept and the server's per-connection set-up, which is not what this measures.
const WARMUP_REQUESTS: usize = 20;

pub struct Plan {
    pub addr: SocketAddr,
    pub path: String,
    /// Round trips to record.
    pub requests: usize,
    /// Between an answer and the next request.
    pub pause: Duration,
    /// Sending stops here, whatever the count: a server that answers on a timer would
    /// otherwise take minutes. The outcome says how many were made.
    pub deadline: Duration,
}

/// One connection's round trips, one request at a time with a pause between, in µs; also
/// what `runs.rs` reads back from runs.jsonl.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Outcome {
    pub requested: usize,
    /// Round trips made before the recorded ones, not in the figures.
    pub warmup: usize,
    /// Recorded round trips (warmup not counted); fewer than `requested` if the deadline hit.
    pub completed: usize,
    /// Wall time of the whole run, warmup and pauses included.
    pub seconds: f64,
    pub deadline_s: f64,
    pub pause_us: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

/// Runs the plan. Fails on the first non-2xx answer, closed connection, malformed response or
/// timeout: any of them means the figures would not be the server's round trip.
pub fn measure(plan: &Plan) -> Result<Outcome, String> {
    let request = format!("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", plan.path, plan.addr);
    let mut stream = TcpStream::connect_timeout(&plan.addr, IO_TIMEOUT)
        .map_err(|e| format!("connect to {}: {e}", plan.addr))?;
    stream
        .set_nodelay(true)
        .and_then(|()| stream.set_read_timeout(Some(IO_TIMEOUT)))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let mut buffer = Vec::with_capacity(4096);
    let mut trips_ns = Vec::with_capacity(plan.requests);
    let started = Instant::now();
    for sent in 0..WARMUP_REQUESTS + plan.requests {
        if started.elapsed() >= plan.deadline {
            break;
        }
        let before = Instant::now();
        stream
            .write_all(request.as_bytes())
            .map_err(|e| format!("request {}: write: {e}", sent + 1))?;
        read_answer(&mut stream, &mut buffer).map_err(|e| format!("request {}: {e}", sent + 1))?;
        let trip = before.elapsed();
        if sent >= WARMUP_REQUESTS {
            trips_ns.push(u64::try_from(trip.as_nanos()).unwrap_or(u64::MAX));
        }
        std::thread::sleep(plan.pause);
    }
    let seconds = started.elapsed().as_secs_f64();
    let summary = summarize(&mut trips_ns).ok_or_else(|| {
        format!(
            "no round trip recorded within {:?} ({WARMUP_REQUESTS} warmup requests first)",
            plan.deadline
        )
    })?;
    Ok(Outcome {
        requested: plan.requests,
        warmup: WARMUP_REQUESTS,
        completed: trips_ns.len(),
        seconds,
        deadline_s: plan.deadline.as_secs_f64(),
        pause_us: u64::try_from(plan.pause.as_micros()).unwrap_or(u64::MAX),
        p50_us: summary.p50_us,
        p99_us: summary.p99_us,
        max_us: summary.max_us,
    })
}

/// Reads exactly one 2xx response on a connection the server keeps open. One request is in
/// flight at a time, so a byte past the response is the server's mistake too.
fn read_answer(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<(), String> {
    buffer.clear();
    let mut chunk = [0u8; 4096];
    let response = loop {
        match parse_response(buffer).map_err(|e| e.to_string())? {
            Status::Complete(response) => break response,
            Status::Partial if buffer.len() > RESPONSE_LIMIT => {
                return Err(format!("response longer than {RESPONSE_LIMIT} bytes"));
            }
            Status::Partial => {}
        }
        let read = stream.read(&mut chunk).map_err(|e| format!("read: {e}"))?;
        if read == 0 {
            return Err(if buffer.is_empty() {
                "the server closed the connection instead of answering".into()
            } else {
                "the server closed the connection in the middle of a response".into()
            });
        }
        buffer.extend_from_slice(chunk.get(..read).unwrap_or_default());
    };
    if !(200..300).contains(&response.status) {
        return Err(format!("status {}, not 2xx", response.status));
    }
    if response.close {
        return Err("the answer closes the connection (Connection: close, or HTTP/1.0)".into());
    }
    if buffer.len() > response.len {
        return Err(format!(
            "{} bytes after the response, with no request outstanding",
            buffer.len() - response.len
        ));
    }
    Ok(())
}

#[derive(Debug, PartialEq)]
struct Percentiles {
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
}

/// Sorts the round trips (ns) and takes their percentiles in µs; `None` for none.
fn summarize(trips_ns: &mut [u64]) -> Option<Percentiles> {
    trips_ns.sort_unstable();
    let us = |ns: u64| ns as f64 / 1000.0;
    Some(Percentiles {
        p50_us: us(percentile(trips_ns, 0.50)?),
        p99_us: us(percentile(trips_ns, 0.99)?),
        max_us: us(*trips_ns.last()?),
    })
}

/// The nearest-rank percentile of sorted values: the smallest value that at least `q` of
/// them are at or below. No interpolation, so the figure is always a trip that happened.
fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.max(1) - 1).or(sorted.last()).copied()
}

#[cfg(test)]
mod tests {
    use super::{percentile, summarize, Percentiles};

    #[test]
    fn nearest_rank_percentiles() {
        let hundred: Vec<u64> = (1..=100).collect();
        let cases: &[(&[u64], f64, Option<u64>)] = &[
            (&[], 0.5, None),
            (&[7], 0.5, Some(7)),
            (&[7], 0.99, Some(7)),
            (&[1, 2], 0.5, Some(1)),
            (&[1, 2, 3], 0.5, Some(2)),
            (&[1, 2, 3, 4], 0.99, Some(4)),
            (&hundred, 0.5, Some(50)),
            (&hundred, 0.99, Some(99)),
            (&hundred, 1.0, Some(100)),
            (&hundred, 0.0, Some(1)),
        ];
        for (sorted, q, want) in cases {
            assert_eq!(percentile(sorted, *q), *want, "q {q} of {sorted:?}");
        }
    }

    #[test]
    fn one_slow_trip_in_a_hundred_is_the_max_not_the_p99() {
        // 99 trips of 40 µs and one timer-bound 16 ms trip, in the order they happened.
        let mut trips: Vec<u64> = vec![40_000; 99];
        trips.insert(37, 16_000_000);
        assert_eq!(
            summarize(&mut trips),
            Some(Percentiles {
                p50_us: 40.0,
                p99_us: 40.0,
                max_us: 16_000.0
            })
        );
        let mut every_other: Vec<u64> = (0..200)
            .map(|i| if i % 2 == 0 { 16_000_000 } else { 40_000 })
            .collect();
        let summary = summarize(&mut every_other).expect("trips");
        assert_eq!((summary.p50_us, summary.p99_us), (40.0, 16_000.0));
        assert_eq!(summarize(&mut []), None);
    }
}
