//! The tracing layer over TCP: each request leaves one closed `request` span with its
//! method, path, route pattern, status, latency and shard, seen by a real subscriber
//! (a small collecting one, installed process-wide since shards run on their own threads).
//! Run with `cargo test --features tracing --test trace` (tests/run.sh does).
#![cfg(feature = "tracing")]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{exchange, start, test_config};
use ringpin::{get, HandlerExt, Request, Response, Router};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

type Fields = HashMap<String, String>;

/// Keeps every span's fields; moves a span to `closed` when it closes.
#[derive(Default)]
struct Collector {
    next: AtomicU64,
    open: Mutex<HashMap<u64, (String, Fields)>>,
    closed: Mutex<Vec<(String, Fields)>>,
    events_in_spans: Mutex<Vec<String>>,
    current: Mutex<HashMap<std::thread::ThreadId, Vec<u64>>>,
}

struct Visitor<'a>(&'a mut Fields);

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
}

struct Shared(Arc<Collector>);

impl Subscriber for Shared {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.0.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut fields = Fields::new();
        attrs.record(&mut Visitor(&mut fields));
        let name = attrs.metadata().name().to_string();
        self.0.open.lock().unwrap().insert(id, (name, fields));
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some((_, fields)) = self.0.open.lock().unwrap().get_mut(&span.into_u64()) {
            values.record(&mut Visitor(fields));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let thread = std::thread::current().id();
        let inside = self
            .0
            .current
            .lock()
            .unwrap()
            .get(&thread)
            .and_then(|stack| stack.last().copied());
        if let Some(span) = inside {
            let mut fields = Fields::new();
            event.record(&mut Visitor(&mut fields));
            let message = fields.remove("message").unwrap_or_default();
            self.0
                .events_in_spans
                .lock()
                .unwrap()
                .push(format!("{span}:{message}"));
        }
    }
    fn enter(&self, span: &Id) {
        let thread = std::thread::current().id();
        let mut current = self.0.current.lock().unwrap();
        current.entry(thread).or_default().push(span.into_u64());
    }
    fn exit(&self, _: &Id) {
        let thread = std::thread::current().id();
        if let Some(stack) = self.0.current.lock().unwrap().get_mut(&thread) {
            stack.pop();
        }
    }
    fn try_close(&self, id: Id) -> bool {
        if let Some(span) = self.0.open.lock().unwrap().remove(&id.into_u64()) {
            self.0.closed.lock().unwrap().push(span);
        }
        true
    }
}

#[test]
fn each_request_closes_one_span_with_its_fields() {
    let collector = Arc::new(Collector::default());
    tracing::subscriber::set_global_default(Shared(collector.clone())).expect("first subscriber");

    let server = start(test_config(), |_| {
        Router::new()
            .route(
                "/users/{id}",
                get(|_r: Request| async {
                    tracing::info!("inside the handler");
                    Response::text("hi")
                }),
            )
            .route("/teapot", get(|_r: Request| async { Response::new(418) }))
            .around(ringpin::trace::layer())
    });
    let addr = server.addr();
    let ok = exchange(addr, b"GET /users/42 HTTP/1.1\r\nHost: x\r\n\r\n").expect("answer");
    assert_eq!(ok.status, 200);
    let teapot = exchange(addr, b"GET /teapot HTTP/1.1\r\nHost: x\r\n\r\n").expect("answer");
    assert_eq!(teapot.status, 418);
    let missing = exchange(addr, b"POST /nowhere HTTP/1.1\r\nHost: x\r\n\r\n").expect("answer");
    assert_eq!(missing.status, 404);

    // The span closes when the finished future is dropped, just after the answer is sent.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let spans = loop {
        let spans: Vec<Fields> = collector
            .closed
            .lock()
            .unwrap()
            .iter()
            .filter(|(name, _)| name == "request")
            .map(|(_, f)| f.clone())
            .collect();
        if spans.len() >= 3 || std::time::Instant::now() > deadline {
            break spans;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(spans.len(), 3, "{spans:?}");
    let by_path = |path: &str| {
        spans
            .iter()
            .find(|f| f.get("path").map(String::as_str) == Some(path))
            .unwrap_or_else(|| panic!("no span for {path}: {spans:?}"))
    };
    let user = by_path("/users/42");
    assert_eq!(user["method"], "GET");
    assert_eq!(user["route"], "/users/{id}");
    assert_eq!(user["status"], "200");
    assert!(user["latency_us"].parse::<u64>().is_ok(), "{user:?}");
    assert!(user["shard"].parse::<u64>().is_ok(), "{user:?}");
    assert_eq!(by_path("/teapot")["status"], "418");
    let nowhere = by_path("/nowhere");
    assert_eq!(
        (nowhere["method"].as_str(), nowhere["status"].as_str()),
        ("POST", "404")
    );
    assert!(
        !nowhere.contains_key("route"),
        "no route matched: {nowhere:?}"
    );

    let events = collector.events_in_spans.lock().unwrap().clone();
    assert!(
        events.iter().any(|e| e.ends_with(":inside the handler")),
        "the handler's event nests in its request span: {events:?}"
    );
}
