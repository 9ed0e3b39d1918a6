//! How a session times its requests for the shard's metrics without a clock read each.
//!
//! Requests answered back to back with no wait between them are timed together: one clock
//! read starts a run and one ends it, and each request of the run is recorded with the
//! run's mean service time, its queue delay growing by that mean from one to the next. The
//! histograms count microseconds, and a request answered without a wait takes well under
//! one, so the mean hides nothing they could show, while a clock read per request was 4 %
//! of a pipelining shard's CPU (docs/performance.md, session 11). A request whose handler
//! waits ends the run where it first waited and is timed on its own.

use std::time::{Duration, Instant};

use crate::ops::metrics::ShardMetrics;

/// Requests answered back to back since one clock read.
pub(crate) struct Run {
    /// When the run's first request began (its head about to be parsed).
    start: Instant,
    /// Requests answered in the run so far.
    requests: u32,
}

impl Run {
    /// A run with no request yet, starting at `start`.
    pub fn starting(start: Instant) -> Run {
        Run { start, requests: 0 }
    }

    /// One request timed alone, from `start`.
    pub fn alone(start: Instant) -> Run {
        Run { start, requests: 1 }
    }

    /// One more request answered in the run.
    pub fn answered(&mut self) {
        self.requests = self.requests.saturating_add(1);
    }

    /// Records the run's requests, the run ending at `end`, into `metrics` (if any); queue
    /// delays count from `input_at`, when the bytes they came in arrived.
    pub fn record(&self, metrics: Option<&ShardMetrics>, input_at: Option<Instant>, end: Instant) {
        let (Some(m), Some(requests)) = (metrics, std::num::NonZeroU32::new(self.requests)) else {
            return;
        };
        let each = end.saturating_duration_since(self.start) / requests.get();
        let queued = input_at.map_or(Duration::ZERO, |at| {
            self.start.saturating_duration_since(at)
        });
        m.run_timed(requests.get(), each, queued);
    }
}

#[cfg(test)]
mod tests {
    use crate::http::session::Session;
    use crate::ops::metrics::Metrics;
    use crate::{Limits, Request, Response};
    use std::time::{Duration, Instant};

    /// A batch answered without waits is timed as one run (one clock read for all of it):
    /// every request is counted and timed once, each with the run's mean, and a handler
    /// that waits is timed on its own, not averaged with the requests around it.
    #[test]
    fn runs_time_every_request_once_and_a_wait_alone() {
        let metrics = Metrics::new();
        let shard = metrics.register_shard(0, 0);
        let mut session = Session::new(&Limits::default());
        session.set_metrics(shard.clone());
        session.note_input_at(Instant::now());
        for path in ["/a", "/spin", "/wait", "/b"] {
            session.receive(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        }
        let handler = |request: Request| async move {
            match request.path() {
                "/spin" => {
                    let began = Instant::now();
                    while began.elapsed() < Duration::from_millis(3) {}
                }
                "/wait" => {
                    futures_lite::future::yield_now().await;
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => {}
            }
            Response::text("ok")
        };
        let answered = futures_lite::future::block_on(session.answer(&handler, false));
        assert_eq!(answered, 4);
        shard.publish();
        let total = metrics.snapshot().total;
        assert_eq!(total.counters.requests_in_class(200), 4);
        let service = total.service_time;
        assert_eq!(service.count, 4, "{service:?}");
        // `/a` and `/spin` share their run's 3 ms; `/wait` is alone past its 5 ms sleep.
        assert!(service.max >= Duration::from_millis(5), "{service:?}");
        assert!(service.sum >= Duration::from_millis(8), "{service:?}");
        assert!(service.sum < Duration::from_millis(500), "{service:?}");
        assert_eq!(total.queue_delay.count, 4);
    }
}
