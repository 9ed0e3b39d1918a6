//! The opt-in access log: one line per request, buffered per shard, written off the shard.
//!
//! [`layer`] wraps a handler (`router.around(access_log::layer(LogFormat::Combined))`). When
//! a response is ready its line is appended to the shard's own buffer (a thread-local: no
//! lock). A buffer over 16 KiB, or any buffer at [`flush_shard`] (the shard's 50 ms clock
//! tick), is handed to one background thread, `ringpin-access-log`, through a bounded queue
//! with `try_send`: when the queue is full the batch is dropped and counted
//! ([`dropped_lines`]), so a slow disk never blocks a shard. The thread emits every line as
//! an `info` record with target `ringpin::access` through the `log` crate; the embedder's
//! logger decides where it goes.
//!
//! A request whose handler future is dropped before it answers (the connection closed) is
//! not logged. The remote host is [`Request::client_addr`]'s IP address (the PROXY source,
//! or what trusted proxies forwarded, else the TCP peer); `-` (JSON: `null`) for a request
//! no connection carried.

use std::cell::RefCell;
use std::fmt::Write;
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use pin_project_lite::pin_project;

use crate::app::handler::Handler;
use crate::app::middleware::Next;
use crate::http::head::Version;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::server::info::current_shard;

/// The `log` target of access-log records.
pub const TARGET: &str = "ringpin::access";

/// A shard's buffer is handed to the writer once it holds this many bytes.
const FLUSH_BYTES: usize = 16 * 1024;
/// Batches the writer may fall behind by before new ones are dropped: with 16 KiB batches,
/// at most 4 MiB of log lines wait in memory.
const QUEUE_BATCHES: usize = 256;
/// Line scratch strings each shard keeps for reuse, so steady traffic allocates none.
const SCRATCH_KEPT: usize = 256;
/// Initial capacity of a line scratch string.
const SCRATCH_BYTES: usize = 256;

/// How a request is written as a line.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// NCSA Common Log Format, the client's IP address first:
    /// `192.0.2.7 - - [10/Oct/2000:13:55:36 +0000] "GET /a.gif HTTP/1.1" 200 2326`.
    Common,
    /// Common plus the quoted `Referer` and `User-Agent` (`"-"` when absent).
    Combined,
    /// One JSON object a line: `time` (RFC 3339, UTC), `client` (the IP address),
    /// `method`, `target`, `version`, `status`, `bytes`, `duration_us`, `shard`, `referer`,
    /// `user_agent`.
    Json,
}

/// A layer that logs every request passing through it in `format`:
///
/// ```
/// use ringpin::access_log::{self, LogFormat};
/// use ringpin::{get, HandlerExt, Response, Router};
///
/// let router = Router::new().route("/", get(|_| async { Response::text("hi") }));
/// let handler = router.around(access_log::layer(LogFormat::Combined));
/// # let _ = handler;
/// ```
///
/// It also starts the log writer thread, once per process, if it is not running yet.
pub fn layer<H: Handler>(
    format: LogFormat,
) -> impl Fn(Request, Next<H>) -> Logged<H::Future> + Clone + 'static {
    let _ = writer();
    move |request: Request, next: Next<H>| {
        let entry = Entry::start(&request, format);
        Logged {
            inner: next.run(request),
            entry: Some(entry),
        }
    }
}

pin_project! {
    /// A handler's future, logged when it completes; see [`layer`].
    pub struct Logged<F> {
        #[pin]
        inner: F,
        entry: Option<Entry>,
    }
}

impl<F: Future<Output = Response>> Future for Logged<F> {
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        let this = self.project();
        let Poll::Ready(response) = this.inner.poll(cx) else {
            return Poll::Pending;
        };
        if let Some(entry) = this.entry.take() {
            entry.finish(&response);
        }
        Poll::Ready(response)
    }
}

/// Hands this shard's buffered lines to the writer. The shard's clock tick calls it, so a
/// line waits at most one tick; it never blocks.
pub fn flush_shard() {
    let _ = BUFFER.try_with(|buffer| buffer.borrow_mut().flush());
}

/// Lines dropped since the process started because the writer fell behind (or could not
/// start). Also exported as `ringpin_access_log_dropped_lines_total`.
pub fn dropped_lines() -> u64 {
    crate::ops::metrics::access_log_dropped()
}

/// A request on its way through the handler: what its line needs from the request.
struct Entry {
    format: LogFormat,
    started: Instant,
    head_only: bool,
    /// The line without its status, bytes (and, for JSON, duration and shard), which go
    /// at `split`.
    text: String,
    split: usize,
}

impl Entry {
    fn start(request: &Request, format: LogFormat) -> Entry {
        let received = SystemTime::now();
        let mut text = take_scratch();
        let version = match request.version() {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        };
        let referer = request.header("referer");
        let user_agent = request.header("user-agent");
        let client = Some(request.client_addr().ip()).filter(|ip| !ip.is_unspecified());
        match format {
            LogFormat::Common | LogFormat::Combined => {
                match client {
                    Some(ip) => {
                        let _ = write!(text, "{ip}");
                    }
                    None => text.push('-'),
                }
                text.push_str(" - - [");
                write_clf_time(&mut text, received);
                text.push_str("] \"");
                escape_clf(&mut text, request.method().as_bytes());
                text.push(' ');
                escape_clf(&mut text, request.target().as_bytes());
                text.push(' ');
                text.push_str(version);
                text.push_str("\" ");
            }
            LogFormat::Json => {
                text.push_str("{\"time\":\"");
                write_rfc3339(&mut text, received);
                text.push_str("\",\"client\":");
                match client {
                    Some(ip) => {
                        let _ = write!(text, "\"{ip}\"");
                    }
                    None => text.push_str("null"),
                }
                text.push_str(",\"method\":");
                escape_json(&mut text, Some(request.method().as_bytes()));
                text.push_str(",\"target\":");
                escape_json(&mut text, Some(request.target().as_bytes()));
                text.push_str(",\"version\":\"");
                text.push_str(version);
                text.push_str("\",");
            }
        }
        let split = text.len();
        match format {
            LogFormat::Common => {}
            LogFormat::Combined => {
                for value in [referer, user_agent] {
                    text.push_str(" \"");
                    match value {
                        Some(value) => escape_clf(&mut text, value),
                        None => text.push('-'),
                    }
                    text.push('"');
                }
            }
            LogFormat::Json => {
                text.push_str("\"referer\":");
                escape_json(&mut text, referer);
                text.push_str(",\"user_agent\":");
                escape_json(&mut text, user_agent);
                text.push('}');
            }
        }
        Entry {
            format,
            started: Instant::now(),
            head_only: request.method() == "HEAD",
            text,
            split,
        }
    }

    fn finish(self, response: &Response) {
        let elapsed = self.started.elapsed();
        // Body bytes as the handler produced them; unknown for a streamed body.
        let bytes = match (self.head_only, response.is_streamed()) {
            (true, _) => Some(0),
            (false, true) => None,
            (false, false) => Some(response.body().len()),
        };
        let (prefix, suffix) = self.text.split_at(self.split);
        append_line(|line| {
            line.push_str(prefix);
            match self.format {
                LogFormat::Common | LogFormat::Combined => {
                    let _ = write!(line, "{} ", response.status());
                    match bytes {
                        Some(n) if n > 0 => {
                            let _ = write!(line, "{n}");
                        }
                        _ => line.push('-'),
                    }
                }
                LogFormat::Json => {
                    let _ = write!(line, "\"status\":{},\"bytes\":", response.status());
                    match bytes {
                        Some(n) => {
                            let _ = write!(line, "{n}");
                        }
                        None => line.push_str("null"),
                    }
                    let _ = write!(line, ",\"duration_us\":{},\"shard\":", elapsed.as_micros());
                    match current_shard() {
                        Some(shard) => {
                            let _ = write!(line, "{}", shard.id);
                        }
                        None => line.push_str("null"),
                    }
                    line.push(',');
                }
            }
            line.push_str(suffix);
        });
        give_back_scratch(self.text);
    }
}

/// Lines waiting on this shard, and how many.
struct ShardBuffer {
    text: String,
    lines: u64,
}

impl ShardBuffer {
    fn flush(&mut self) {
        if self.lines == 0 {
            return;
        }
        let batch = Batch {
            text: std::mem::take(&mut self.text),
            lines: std::mem::take(&mut self.lines),
        };
        let lines = batch.lines;
        let sent = match writer() {
            Some(writer) => match writer.try_send(batch) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            },
            None => false,
        };
        if !sent {
            crate::ops::metrics::count_access_log_dropped(lines);
        }
    }
}

impl Drop for ShardBuffer {
    /// A shard thread that ends hands over what it still holds.
    fn drop(&mut self) {
        self.flush();
    }
}

/// Lines travelling from a shard to the writer.
struct Batch {
    text: String,
    lines: u64,
}

thread_local! {
    static BUFFER: RefCell<ShardBuffer> = const {
        RefCell::new(ShardBuffer { text: String::new(), lines: 0 })
    };
    static SCRATCH: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

static WRITER: OnceLock<Option<SyncSender<Batch>>> = OnceLock::new();

/// Writes one line (ended here with `\n`) into this shard's buffer; flushes past 16 KiB.
fn append_line(write: impl FnOnce(&mut String)) {
    let appended = BUFFER.try_with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        if buffer.text.capacity() == 0 {
            buffer.text.reserve(FLUSH_BYTES + SCRATCH_BYTES);
        }
        write(&mut buffer.text);
        buffer.text.push('\n');
        buffer.lines += 1;
        if buffer.text.len() >= FLUSH_BYTES {
            buffer.flush();
        }
    });
    if appended.is_err() {
        crate::ops::metrics::count_access_log_dropped(1);
    }
}

fn take_scratch() -> String {
    SCRATCH
        .try_with(|s| s.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| String::with_capacity(SCRATCH_BYTES))
}

fn give_back_scratch(mut text: String) {
    text.clear();
    let _ = SCRATCH.try_with(|s| {
        let mut scratch = s.borrow_mut();
        if scratch.len() < SCRATCH_KEPT {
            scratch.push(text);
        }
    });
}

/// The queue to the writer thread, started on first use; `None` if it could not start.
fn writer() -> Option<&'static SyncSender<Batch>> {
    WRITER
        .get_or_init(|| {
            let (sender, receiver) = sync_channel(QUEUE_BATCHES);
            let started = std::thread::Builder::new()
                .name("ringpin-access-log".into())
                .spawn(move || write_batches(receiver));
            match started {
                Ok(_) => Some(sender),
                Err(e) => {
                    log::error!("access log disabled: its writer thread could not start: {e}");
                    None
                }
            }
        })
        .as_ref()
}

/// The writer thread: every line becomes one `log` record.
fn write_batches(batches: Receiver<Batch>) {
    for batch in batches {
        for line in batch.text.lines() {
            log::info!(target: TARGET, "{line}");
        }
    }
}

/// Writes `bytes` between the quotes of a Common/Combined field: `"`, `\`, controls and
/// non-ASCII bytes become `\xHH` (as nginx does), so a line is always one line of ASCII.
fn escape_clf(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if b == b'"' || b == b'\\' || !(b' '..=b'~').contains(&b) {
            let _ = write!(out, "\\x{b:02X}");
        } else {
            out.push(char::from(b));
        }
    }
}

/// Writes `bytes` as a JSON string (`null` for `None`); invalid UTF-8 becomes U+FFFD.
fn escape_json(out: &mut String, bytes: Option<&[u8]>) {
    let Some(bytes) = bytes else {
        out.push_str("null");
        return;
    };
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if c < ' ' || c == '\u{7f}' => {
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        if !chunk.invalid().is_empty() {
            out.push_str("\\ufffd");
        }
    }
    out.push('"');
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A UTC calendar time: year, month 1..=12, day, hour, minute, second, millisecond.
struct Civil {
    year: u64,
    month: usize,
    day: u64,
    hour: u64,
    minute: u64,
    second: u64,
    millis: u32,
}

impl Civil {
    /// Converts with Howard Hinnant's `civil_from_days`; times before 1970 read as 1970.
    fn of(time: SystemTime) -> Civil {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs();
        let z = secs / 86_400 + 719_468;
        let era = z / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + u64::from(month <= 2);
        let of_day = secs % 86_400;
        Civil {
            year,
            month: month as usize,
            day,
            hour: of_day / 3600,
            minute: of_day / 60 % 60,
            second: of_day % 60,
            millis: since.subsec_millis(),
        }
    }
}

/// `10/Oct/2000:13:55:36 +0000`
fn write_clf_time(out: &mut String, time: SystemTime) {
    let t = Civil::of(time);
    let month = MONTHS.get(t.month.wrapping_sub(1)).unwrap_or(&"Jan");
    let _ = write!(
        out,
        "{:02}/{month}/{:04}:{:02}:{:02}:{:02} +0000",
        t.day, t.year, t.hour, t.minute, t.second
    );
}

/// `2000-10-10T13:55:36.123Z`
fn write_rfc3339(out: &mut String, time: SystemTime) {
    let t = Civil::of(time);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(secs * 1000 + millis)
    }

    #[test]
    fn times() {
        let cases = [
            (
                0,
                0,
                "01/Jan/1970:00:00:00 +0000",
                "1970-01-01T00:00:00.000Z",
            ),
            (
                971_186_136,
                5,
                "10/Oct/2000:13:55:36 +0000",
                "2000-10-10T13:55:36.005Z",
            ),
            (
                951_782_400,
                0,
                "29/Feb/2000:00:00:00 +0000",
                "2000-02-29T00:00:00.000Z",
            ),
            (
                4_133_980_799,
                999,
                "31/Dec/2100:23:59:59 +0000",
                "2100-12-31T23:59:59.999Z",
            ),
        ];
        for (secs, millis, clf, rfc) in cases {
            let mut out = String::new();
            write_clf_time(&mut out, at(secs, millis));
            assert_eq!(out, clf);
            out.clear();
            write_rfc3339(&mut out, at(secs, millis));
            assert_eq!(out, rfc);
        }
    }

    #[test]
    fn clf_escaping() {
        let cases: [(&[u8], &str); 4] = [
            (b"curl/8.5", "curl/8.5"),
            (b"a\"b\\c", "a\\x22b\\x5Cc"),
            (b"tab\there\r\n", "tab\\x09here\\x0D\\x0A"),
            ("caf\u{e9}".as_bytes(), "caf\\xC3\\xA9"),
        ];
        for (input, escaped) in cases {
            let mut out = String::new();
            escape_clf(&mut out, input);
            assert_eq!(out, escaped);
        }
    }

    #[test]
    fn json_escaping() {
        let cases: [(Option<&[u8]>, &str); 5] = [
            (None, "null"),
            (Some(b"plain"), "\"plain\""),
            (Some(b"a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\""),
            (Some("caf\u{e9}".as_bytes()), "\"caf\u{e9}\""),
            (Some(b"bad\xffbyte"), "\"bad\\ufffdbyte\""),
        ];
        for (input, escaped) in cases {
            let mut out = String::new();
            escape_json(&mut out, input);
            assert_eq!(out, escaped);
            if let Some(input) = input {
                let parsed: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
                assert_eq!(parsed, String::from_utf8_lossy(input).as_ref());
            }
        }
    }
}
