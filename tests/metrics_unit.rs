//! Metrics recorded on two simulated shards, merged and rendered; access-log lines captured
//! through `log` for requests driven through a `Session`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Condvar, Mutex, Once, RwLock};
use std::time::{Duration, Instant};

use futures_lite::future::block_on;
use ringpin::access_log::{self, LogFormat};
use ringpin::metrics::{prometheus_response, Metrics, TimeoutKind};
use ringpin::{get, HandlerExt, Limits, Request, RequestError, Response, Router, Session};

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

/// Shard 0 answers 1000 requests taking 1..=1000 us; shard 1 answers 10 taking 10 ms.
fn two_busy_shards(metrics: &Metrics) {
    let a = metrics.register_shard(0, 2);
    let b = metrics.register_shard(1, 3);
    b.set_io_path("ring-coop");
    a.handler_panicked("/boom/:id");
    b.handler_panicked("/boom/:id");
    b.handler_panicked("-");
    for n in 1..=1000 {
        a.request_done(200, 100, 1000, us(n), us(1));
    }
    a.connection_opened();
    a.connection_opened();
    a.connection_closed();
    a.parse_error(RequestError::HeadTooLarge);
    a.timeout(TimeoutKind::Idle);
    for _ in 0..10 {
        b.request_done(503, 10, 20, us(10_000), us(5_000));
    }
    b.request_done(404, 10, 20, us(10_000), us(5_000));
    b.connection_opened();
    b.parse_error(RequestError::HeadTooLarge);
    b.parse_error(RequestError::InvalidChunk);
    b.timeout(TimeoutKind::Header);
    b.timeout(TimeoutKind::Header);
    b.shed();
    a.shed_fraction(0.1);
    b.shed_fraction(0.25);
    b.accept_error();
    a.publish();
    b.publish();
}

#[test]
fn shards_record_alone_and_a_snapshot_merges_them() {
    let metrics = Metrics::new();
    two_busy_shards(&metrics);
    let snapshot = metrics.snapshot();

    assert_eq!(snapshot.shards.len(), 2);
    let (a, b) = (&snapshot.shards[0], &snapshot.shards[1]);
    assert_eq!((a.shard, a.cpu, b.shard, b.cpu), (0, 2, 1, 3));
    assert_eq!(a.stats.counters.requests_in_class(200), 1000);
    assert_eq!(a.stats.counters.connections_open(), 1);
    assert_eq!(b.stats.counters.requests_in_class(500), 10);
    assert_eq!(b.stats.counters.requests(), 11);

    let total = &snapshot.total.counters;
    assert_eq!(total.requests(), 1011);
    assert_eq!(total.requests_in_class(200), 1000);
    assert_eq!(total.requests_in_class(404), 1);
    assert_eq!(total.requests_in_class(503), 10);
    assert_eq!(total.requests_in_class(100), 0);
    assert_eq!(total.bytes_in, 1000 * 100 + 11 * 10);
    assert_eq!(total.bytes_out, 1000 * 1000 + 11 * 20);
    assert_eq!((total.connections_opened, total.connections_closed), (3, 1));
    assert_eq!(total.connections_open(), 2);
    assert_eq!(total.parse_errors_of(RequestError::HeadTooLarge), 2);
    assert_eq!(total.parse_errors_of(RequestError::InvalidChunk), 1);
    assert_eq!(total.parse_errors(), 3);
    assert_eq!(total.timeouts_of(TimeoutKind::Header), 2);
    assert_eq!(total.timeouts_of(TimeoutKind::Idle), 1);
    assert_eq!(total.timeouts(), 3);
    assert_eq!((total.shed, total.accept_errors), (1, 1));
    assert_eq!(b.stats.counters.shed_permille, 250);
    assert_eq!(
        total.shed_permille, 250,
        "the busiest shard's share, not a sum"
    );

    // Shard 0 alone: 1..=1000 us, exact to 0.1 %.
    let service = a.stats.service_time;
    assert_eq!(service.count, 1000);
    assert_eq!(service.sum, us(500_500));
    assert!(service.p50.abs_diff(us(500)) <= us(1), "{service:?}");
    assert!(service.p99.abs_diff(us(990)) <= us(1), "{service:?}");
    assert!(service.max.abs_diff(us(1000)) <= us(1), "{service:?}");

    // Merged: the 11 slow requests of shard 1 are the top 1.1 %, so p99 is one of them.
    let service = snapshot.total.service_time;
    assert_eq!(service.count, 1011);
    assert_eq!(service.sum, us(500_500 + 11 * 10_000));
    assert!(service.p50.abs_diff(us(506)) <= us(1), "{service:?}");
    assert!(service.p99.abs_diff(us(10_000)) <= us(10), "{service:?}");
    assert!(service.p999.abs_diff(us(10_000)) <= us(10), "{service:?}");
    let queue = snapshot.total.queue_delay;
    assert_eq!((queue.count, queue.sum), (1011, us(1000 + 11 * 5_000)));
    assert!(queue.p50 <= us(1) && queue.max.abs_diff(us(5_000)) <= us(5));
}

#[test]
fn scrapes_see_what_was_published_and_histograms_accumulate() {
    let metrics = Metrics::new();
    let shard = metrics.register_shard(0, 0);
    shard.request_done(200, 1, 1, us(100), us(0));
    assert_eq!(
        metrics.snapshot().total.counters.requests(),
        0,
        "not published yet"
    );
    shard.publish();
    shard.request_done(200, 1, 1, us(300), us(0));
    shard.publish();
    shard.publish(); // an idle tick changes nothing
    let total = metrics.snapshot().total;
    assert_eq!(total.counters.requests(), 2);
    assert_eq!(total.service_time.count, 2);
    assert!(total.service_time.max.abs_diff(us(300)) <= us(1));

    // A shard registering again counts on from what it published.
    drop(shard);
    let again = metrics.register_shard(0, 0);
    again.request_done(200, 1, 1, us(100), us(0));
    again.publish();
    let snapshot = metrics.snapshot();
    assert_eq!(snapshot.shards.len(), 1);
    assert_eq!(snapshot.total.counters.requests(), 3);
    assert_eq!(snapshot.total.service_time.count, 3);
}

#[test]
fn metrics_handles_cross_threads_while_shards_keep_theirs() {
    fn send_sync<T: Send + Sync + Clone>() {}
    send_sync::<Metrics>();
    let metrics = Metrics::new();
    let scraper = {
        let metrics = metrics.clone();
        std::thread::spawn(move || {
            let shard = metrics.register_shard(7, 7);
            shard.shed();
            shard.publish();
        })
    };
    scraper.join().expect("shard thread");
    assert_eq!(metrics.snapshot().shards[0].stats.counters.shed, 1);
}

/// One sample line: the name, labels (unescaped), value.
type Sample = (String, Vec<(String, String)>, f64);

/// Parses a sample line of the text format strictly, undoing label escapes.
fn parse_sample(line: &str) -> Sample {
    let is_name = |s: &str| {
        !s.is_empty()
            && s.bytes().enumerate().all(|(i, b)| {
                b.is_ascii_alphabetic() || b == b'_' || b == b':' || (i > 0 && b.is_ascii_digit())
            })
    };
    let (series, value) = line.rsplit_once(' ').expect("name and value");
    let value: f64 = value.parse().expect("a float value");
    let (name, labels) = match series.split_once('{') {
        None => (series, Vec::new()),
        Some((name, rest)) => {
            let mut labels = Vec::new();
            let mut chars = rest.chars().peekable();
            loop {
                let label: String = chars.by_ref().take_while(|c| *c != '=').collect();
                assert!(is_name(&label), "label name {label:?} in {line}");
                assert_eq!(chars.next(), Some('"'), "{line}");
                let mut value = String::new();
                loop {
                    match chars.next().expect("closing quote") {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some('\\') => value.push('\\'),
                            Some('"') => value.push('"'),
                            Some('n') => value.push('\n'),
                            other => panic!("bad escape {other:?} in {line}"),
                        },
                        '\n' => panic!("raw newline in {line}"),
                        c => value.push(c),
                    }
                }
                labels.push((label, value));
                match chars.next() {
                    Some(',') => continue,
                    Some('}') => break,
                    other => panic!("{other:?} after a label in {line}"),
                }
            }
            assert_eq!(chars.next(), None, "{line}");
            (name, labels)
        }
    };
    assert!(is_name(name), "metric name {name:?}");
    (name.to_owned(), labels, value)
}

/// Parses a whole exposition; checks every sample belongs to a family declared (HELP and
/// TYPE) before it. Returns the samples and each family's type.
fn parse_exposition(text: &str) -> (Vec<Sample>, BTreeMap<String, String>) {
    let mut helps = BTreeSet::new();
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(!help.is_empty());
            assert!(helps.insert(name.to_owned()), "HELP twice for {name}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name type");
            assert!(helps.contains(name), "TYPE before HELP for {name}");
            assert!(["counter", "gauge", "summary"].contains(&kind), "{line}");
            assert!(types.insert(name.to_owned(), kind.to_owned()).is_none());
        } else {
            assert!(!line.starts_with('#') && !line.is_empty(), "{line:?}");
            let sample = parse_sample(line);
            let family = ["_sum", "_count"]
                .iter()
                .filter_map(|s| sample.0.strip_suffix(s))
                .find(|base| types.get(*base).map(String::as_str) == Some("summary"))
                .unwrap_or(&sample.0);
            assert!(types.contains_key(family), "sample before TYPE: {line}");
            samples.push(sample);
        }
    }
    (samples, types)
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && l.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|s| s.2)
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?}");
    found[0]
}

#[test]
fn prometheus_text_parses_and_holds_the_numbers() {
    let metrics = Metrics::new();
    two_busy_shards(&metrics);
    let text = metrics.render_prometheus();
    let (samples, types) = parse_exposition(&text);

    let expected_types = [
        ("ringpin_shard_info", "gauge"),
        ("ringpin_connections_opened_total", "counter"),
        ("ringpin_connections_closed_total", "counter"),
        ("ringpin_connections_open", "gauge"),
        ("ringpin_requests_total", "counter"),
        ("ringpin_received_bytes_total", "counter"),
        ("ringpin_sent_bytes_total", "counter"),
        ("ringpin_parse_errors_total", "counter"),
        ("ringpin_timeouts_total", "counter"),
        ("ringpin_shed_total", "counter"),
        ("ringpin_shed_permille", "gauge"),
        ("ringpin_accept_errors_total", "counter"),
        ("ringpin_file_cold_reads_total", "counter"),
        ("ringpin_access_log_dropped_lines_total", "counter"),
        ("ringpin_handler_panics_total", "counter"),
        ("ringpin_service_time_seconds", "summary"),
        ("ringpin_queue_delay_seconds", "summary"),
    ];
    for (name, kind) in expected_types {
        assert_eq!(types.get(name).map(String::as_str), Some(kind), "{name}");
    }
    assert_eq!(types.len(), expected_types.len());

    let v = |name, labels: &[(&str, &str)]| value(&samples, name, labels);
    assert_eq!(
        v(
            "ringpin_shard_info",
            &[("shard", "1"), ("cpu", "3"), ("io", "ring-coop")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "ringpin_shard_info",
            &[("shard", "0"), ("cpu", "2"), ("io", "unknown")]
        ),
        1.0
    );
    let panics = "ringpin_handler_panics_total";
    assert_eq!(v(panics, &[("route", "/boom/:id")]), 2.0);
    assert_eq!(v(panics, &[("route", "-")]), 1.0);
    let requests = "ringpin_requests_total";
    assert_eq!(v(requests, &[("shard", "0"), ("class", "2xx")]), 1000.0);
    assert_eq!(v(requests, &[("shard", "1"), ("class", "5xx")]), 10.0);
    assert_eq!(v(requests, &[("shard", "1"), ("class", "4xx")]), 1.0);
    assert_eq!(v(requests, &[("shard", "1"), ("class", "other")]), 0.0);
    assert_eq!(v("ringpin_connections_open", &[("shard", "0")]), 1.0);
    assert_eq!(
        v("ringpin_received_bytes_total", &[("shard", "0")]),
        100_000.0
    );
    let head_too_large = RequestError::HeadTooLarge.reason();
    let parse_errors = "ringpin_parse_errors_total";
    assert_eq!(v(parse_errors, &[("kind", head_too_large)]), 2.0);
    assert_eq!(v(parse_errors, &[("kind", "other")]), 0.0);
    let timeouts = "ringpin_timeouts_total";
    assert_eq!(v(timeouts, &[("shard", "1"), ("kind", "header")]), 2.0);
    assert_eq!(v(timeouts, &[("shard", "0"), ("kind", "send")]), 0.0);
    assert_eq!(v("ringpin_shed_total", &[("shard", "1")]), 1.0);
    assert_eq!(v("ringpin_shed_permille", &[("shard", "0")]), 100.0);
    assert_eq!(v("ringpin_accept_errors_total", &[("shard", "1")]), 1.0);

    let service = "ringpin_service_time_seconds";
    let p50 = v(service, &[("quantile", "0.5")]);
    assert!((p50 - 0.000506).abs() < 0.000002, "{p50}");
    let p99 = v(service, &[("quantile", "0.99")]);
    assert!((p99 - 0.01).abs() < 0.00002, "{p99}");
    assert!(v(service, &[("quantile", "0.9")]) <= p99);
    assert!(v(service, &[("quantile", "0.999")]) >= p99);
    assert!(v(service, &[("quantile", "1")]) >= p99);
    assert_eq!(v("ringpin_service_time_seconds_count", &[]), 1011.0);
    let sum = v("ringpin_service_time_seconds_sum", &[]);
    assert!((sum - 0.6105).abs() < 1e-9, "{sum}");
    assert_eq!(v("ringpin_queue_delay_seconds_count", &[]), 1011.0);
}

#[test]
fn the_parser_checks_escapes() {
    let (_, labels, value) = parse_sample(r#"x{a="q\"b\\c\nd",b=""} 1.5"#);
    assert_eq!(labels[0].1, "q\"b\\c\nd");
    assert_eq!(labels[1].1, "");
    assert_eq!(value, 1.5);
    let rendered = Metrics::new().render_prometheus();
    assert!(rendered.contains("# TYPE ringpin_requests_total counter\n"));
}

#[test]
fn the_scrape_response_is_prometheus_text() {
    let metrics = Metrics::new();
    metrics.register_shard(0, 0).publish();
    let response = prometheus_response(&metrics);
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.header("content-type"),
        Some(&b"text/plain; version=0.0.4; charset=utf-8"[..])
    );
    let body = std::str::from_utf8(response.body()).expect("UTF-8");
    parse_exposition(body);

    // As a route, served through a session.
    let router = Router::new().route(
        "/metrics",
        get(move |_| {
            let m = metrics.clone();
            async move { prometheus_response(&m) }
        }),
    );
    let mut session = Session::new(&Limits::default());
    session.receive(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    block_on(session.answer(&router, false));
    let output = String::from_utf8_lossy(session.output()).into_owned();
    assert!(output.starts_with("HTTP/1.1 200 OK\r\n"), "{output}");
    assert!(output.contains("ringpin_connections_open{shard=\"0\"} 0\n"));
}

// --- access log -------------------------------------------------------------------------

/// Keeps every `ringpin::access` record. A record containing [`STALL`] holds the writer
/// thread inside the logger until [`release_writer`], as a stuck disk would.
struct Capture(Mutex<Vec<String>>);

const STALL: &str = "/stall-the-writer";
static STALLED: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

/// Access-log tests share one writer: they run under a read lock; the stall test takes it
/// for writing so that its full queue drops nobody else's lines.
static WRITER: RwLock<()> = RwLock::new(());

fn release_writer() {
    *STALLED.0.lock().unwrap_or_else(|e| e.into_inner()) = false;
    STALLED.1.notify_all();
}

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == access_log::TARGET
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            assert_eq!(record.level(), log::Level::Info);
            let line = record.args().to_string();
            if !line.contains(STALL) {
                self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                return;
            }
            // Stalled before the line is visible, so a release cannot come first.
            let mut stalled = STALLED.0.lock().unwrap_or_else(|e| e.into_inner());
            *stalled = true;
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            while *stalled {
                stalled = STALLED.1.wait(stalled).unwrap_or_else(|e| e.into_inner());
            }
        }
    }

    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

fn install_capture() {
    // Once, and every test waits until the level is set too: a record logged in between
    // would be filtered out.
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        log::set_logger(&CAPTURE).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Info);
    });
}

/// Waits (up to 5 s) for the writer thread to emit a line containing `marker`.
fn captured_line(marker: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines = CAPTURE.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(line) = lines.iter().find(|l| l.contains(marker)) {
            return line.clone();
        }
        drop(lines);
        assert!(
            Instant::now() < deadline,
            "no access-log line with {marker}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends `raw` through a session whose handler is `hello` wrapped in the access log, then
/// flushes this thread's buffer and returns the line logged for `marker`.
fn logged(format: LogFormat, raw: &str, marker: &str) -> String {
    install_capture();
    let _shared = WRITER.read().unwrap_or_else(|e| e.into_inner());
    let hello = |request: Request| async move {
        match request.path() {
            p if p.ends_with("/missing") => Response::new(404),
            _ => Response::text("Hello, World!"),
        }
    };
    let handler = hello.around(access_log::layer(format));
    let mut session = Session::new(&Limits::default());
    // The remote host of every line.
    session.set_peer_addr(([192, 0, 2, 7], 5000).into());
    session.receive(raw.as_bytes());
    assert_eq!(block_on(session.answer(&handler, false)), 1);
    assert!(session.output().starts_with(b"HTTP/1.1 "));
    access_log::flush_shard();
    captured_line(marker)
}

/// `[dd/Mon/yyyy:hh:mm:ss +0000]` at the start of `rest`; returns what follows.
fn strip_clf_time(rest: &str) -> &str {
    let (time, rest) = rest
        .strip_prefix('[')
        .and_then(|r| r.split_once("] "))
        .expect("bracketed time");
    let shape = time
        .bytes()
        .map(|b| if b.is_ascii_digit() { b'9' } else { b })
        .collect::<Vec<_>>();
    let month = time.get(3..6).expect("month");
    assert!(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
            .contains(&month)
    );
    let expected = format!("99/{month}/9999:99:99:99 +9999");
    assert_eq!(shape, expected.as_bytes(), "{time}");
    rest
}

#[test]
fn common_log_lines() {
    let line = logged(
        LogFormat::Common,
        "GET /common/hello?x=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n",
        "/common/hello",
    );
    let rest = line
        .strip_prefix("192.0.2.7 - - ")
        .expect("host, ident, user");
    assert_eq!(
        strip_clf_time(rest),
        "\"GET /common/hello?x=1 HTTP/1.1\" 200 13"
    );

    let line = logged(
        LogFormat::Common,
        "HEAD /common/missing HTTP/1.0\r\n\r\n",
        "/common/missing",
    );
    let rest = line
        .strip_prefix("192.0.2.7 - - ")
        .expect("host, ident, user");
    assert_eq!(
        strip_clf_time(rest),
        "\"HEAD /common/missing HTTP/1.0\" 404 -"
    );
}

#[test]
fn combined_log_lines() {
    let line = logged(
        LogFormat::Combined,
        "GET /combined/a HTTP/1.1\r\nHost: x\r\nReferer: http://r.example/\r\n\
         User-Agent: curl/8.5 \"quoted\" \\\r\n\r\n",
        "/combined/a",
    );
    let rest = line
        .strip_prefix("192.0.2.7 - - ")
        .expect("host, ident, user");
    assert_eq!(
        strip_clf_time(rest),
        "\"GET /combined/a HTTP/1.1\" 200 13 \"http://r.example/\" \"curl/8.5 \\x22quoted\\x22 \\x5C\""
    );

    let line = logged(
        LogFormat::Combined,
        "GET /combined/bare HTTP/1.1\r\nHost: x\r\n\r\n",
        "/combined/bare",
    );
    assert!(line.ends_with("\" 200 13 \"-\" \"-\""), "{line}");
}

#[test]
fn json_log_lines() {
    let line = logged(
        LogFormat::Json,
        "GET /json/missing?q=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: caf\u{e9} \"q\" \\\r\n\r\n",
        "/json/missing",
    );
    let value: serde_json::Value = serde_json::from_str(&line).expect("one JSON object");
    let object = value.as_object().expect("an object");
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    let mut expected = vec![
        "time",
        "client",
        "method",
        "target",
        "version",
        "status",
        "bytes",
        "duration_us",
        "shard",
        "referer",
        "user_agent",
    ];
    expected.sort_unstable();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort_unstable();
    assert_eq!(keys_sorted, expected);
    assert_eq!(value["client"], "192.0.2.7");
    assert_eq!(value["method"], "GET");
    assert_eq!(value["target"], "/json/missing?q=1");
    assert_eq!(value["version"], "HTTP/1.1");
    assert_eq!(value["status"], 404);
    assert_eq!(value["bytes"], 0);
    assert!(value["duration_us"].is_u64());
    assert!(value["shard"].is_null(), "not on a shard thread");
    assert!(value["referer"].is_null());
    assert_eq!(value["user_agent"], "caf\u{e9} \"q\" \\");
    let time = value["time"].as_str().expect("time");
    assert_eq!(time.len(), "2000-10-10T13:55:36.123Z".len(), "{time}");
    assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
}

#[test]
fn the_layer_wraps_a_router() {
    install_capture();
    let _shared = WRITER.read().unwrap_or_else(|e| e.into_inner());
    let router = Router::new().route(
        "/routed/:name",
        get(|request: Request| async move {
            format!("hi {}", request.param("name").unwrap_or_default())
        }),
    );
    let handler = router.around(access_log::layer(LogFormat::Common));
    let mut session = Session::new(&Limits::default());
    session.receive(b"GET /routed/ann HTTP/1.1\r\nHost: x\r\n\r\n");
    block_on(session.answer(&handler, false));
    access_log::flush_shard();
    let line = captured_line("/routed/ann");
    assert!(
        line.ends_with("\"GET /routed/ann HTTP/1.1\" 200 6"),
        "{line}"
    );
    // A session no connection carries has no remote host.
    assert!(line.starts_with("- - - ["), "{line}");
}

#[test]
fn a_stuck_writer_drops_lines_and_never_blocks_the_shard() {
    install_capture();
    let _alone = WRITER.write().unwrap_or_else(|e| e.into_inner());
    let handler =
        (|_: Request| async { Response::text("ok") }).around(access_log::layer(LogFormat::Common));
    let mut session = Session::new(&Limits::default());
    let mut request = |target: &str| {
        session.receive(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        assert_eq!(block_on(session.answer(&handler, false)), 1);
        session.clear_output();
        access_log::flush_shard();
    };
    request(STALL);
    captured_line(STALL); // the writer is now stuck inside the logger

    let dropped_before = access_log::dropped_lines();
    let started = Instant::now();
    let batches = 300; // one line each: more than the queue holds
    for _ in 0..batches {
        request("/while-stalled");
    }
    let took = started.elapsed();
    let dropped = access_log::dropped_lines() - dropped_before;
    release_writer();

    assert!(took < Duration::from_secs(1), "flushing waited: {took:?}");
    // The queue holds 256 batches, the writer none while stuck.
    assert_eq!(dropped, batches - 256, "dropped {dropped}");
    // Let the writer drain the queue before other tests log again.
    let deadline = Instant::now() + Duration::from_secs(5);
    let queued = |lines: &Vec<String>| {
        lines
            .iter()
            .filter(|l| l.contains("/while-stalled"))
            .count()
    };
    while queued(&CAPTURE.0.lock().unwrap_or_else(|e| e.into_inner())) < 256 {
        assert!(Instant::now() < deadline, "the writer did not catch up");
        std::thread::sleep(Duration::from_millis(5));
    }
    let metrics = Metrics::new();
    let text = metrics.render_prometheus();
    assert!(text.contains("\nringpin_access_log_dropped_lines_total "));
}
