//! Idle keep-alive connections: open them in small batches, one request each, hold them, and
//! read what the server's memory and descriptor table grew by.
//!
//! Batches rather than all at once: a batch is answered before the next connects, so the
//! server's accept backlog never holds more than `BATCH` (an overflow is a dropped SYN and a
//! one-second retransmit); batches rather than one by one, to spend fewer wake-ups.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::response::{parse_response, Status, RESPONSE_LIMIT};

/// Per connect, write and read; a server that takes longer has failed the run.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// After the last connection opens, before the second reading: lets the server finish
/// whatever it does on accept (a task, a buffer) for the last few.
const SETTLE: Duration = Duration::from_millis(500);
/// Connections connected and asked at once; well under any listen backlog.
const BATCH: usize = 32;

pub struct Plan {
    pub addr: SocketAddr,
    pub pid: u32,
    pub path: String,
    pub connections: usize,
    /// Opening stops here, whatever the count; the outcome says how many were held.
    pub deadline: Duration,
}

/// What `measure` found; also what `runs.rs` reads back from runs.jsonl, where lines from
/// before `first_non_2xx` and `open_seconds` were written lack them.
#[derive(Serialize, Deserialize)]
pub struct Outcome {
    pub requested: usize,
    pub opened: usize,
    pub non_2xx: usize,
    /// The first status outside 2xx, if any: 503 is shedding, for instance.
    #[serde(default)]
    pub first_non_2xx: Option<u16>,
    #[serde(default)]
    pub open_seconds: f64,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub fds_before: u64,
    pub fds_after: u64,
    /// Why opening stopped early, if it did.
    pub error: Option<String>,
}

impl Outcome {
    /// Connections the server still held when its memory was read: its descriptor growth.
    pub fn held(&self) -> u64 {
        self.fds_after.saturating_sub(self.fds_before)
    }

    pub fn kib_per_connection(&self) -> Option<f64> {
        let held = self.held();
        (held > 0).then(|| (self.rss_after_kib as f64 - self.rss_before_kib as f64) / held as f64)
    }
}

pub fn measure(plan: &Plan) -> Result<Outcome, String> {
    let request = format!("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", plan.path, plan.addr);
    let rss_before_kib = rss_kib(plan.pid)?;
    let fds_before = fd_count(plan.pid)?;
    let started = Instant::now();
    let mut held = Vec::with_capacity(plan.connections);
    let mut non_2xx = 0;
    let mut first_non_2xx = None;
    let mut error = None;
    while held.len() < plan.connections && error.is_none() {
        if started.elapsed() > plan.deadline {
            error = Some(format!("deadline of {:?} reached", plan.deadline));
            break;
        }
        let batch = BATCH.min(plan.connections - held.len());
        match open_batch(plan.addr, request.as_bytes(), batch) {
            Ok(opened) => {
                for (stream, status) in opened {
                    if !(200..300).contains(&status) {
                        non_2xx += 1;
                        first_non_2xx.get_or_insert(status);
                    }
                    held.push(stream);
                }
            }
            Err(e) => error = Some(format!("after {} connections: {e}", held.len())),
        }
    }
    let open_seconds = started.elapsed().as_secs_f64();
    std::thread::sleep(SETTLE);
    let outcome = Outcome {
        requested: plan.connections,
        opened: held.len(),
        non_2xx,
        first_non_2xx,
        open_seconds,
        rss_before_kib,
        rss_after_kib: rss_kib(plan.pid)?,
        fds_before,
        fds_after: fd_count(plan.pid)?,
        error,
    };
    drop(held);
    Ok(outcome)
}

/// Connects `count` streams, sends the request on each, then reads each whole response;
/// returns the streams and their statuses.
fn open_batch(
    addr: SocketAddr,
    request: &[u8],
    count: usize,
) -> Result<Vec<(TcpStream, u16)>, String> {
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream =
            TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
            .and_then(|()| stream.write_all(request))
            .map_err(|e| e.to_string())?;
        streams.push(stream);
    }
    streams
        .into_iter()
        .map(|mut stream| {
            let status = read_response(&mut stream)?;
            Ok((stream, status))
        })
        .collect()
}

/// Reads one whole response (head and Content-Length body); returns its status.
fn read_response(stream: &mut TcpStream) -> Result<u16, String> {
    let mut response = Vec::with_capacity(512);
    let mut chunk = [0u8; 4096];
    loop {
        let read = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if read == 0 {
            return Err("closed before a complete response".into());
        }
        response.extend_from_slice(chunk.get(..read).unwrap_or_default());
        if let Status::Complete(complete) = parse_response(&response).map_err(|e| e.to_string())? {
            return Ok(complete.status);
        }
        if response.len() > RESPONSE_LIMIT {
            return Err(format!("response longer than {RESPONSE_LIMIT} bytes"));
        }
    }
}

/// The process's resident set, from `VmRSS:` in /proc/PID/status, in KiB.
fn rss_kib(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmRSS in {path}"))
}

/// Open descriptors of the process: a held connection is one, so the growth counts them.
fn fd_count(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/fd");
    let entries = std::fs::read_dir(&path).map_err(|e| format!("{path}: {e}"))?;
    Ok(entries.count() as u64)
}
