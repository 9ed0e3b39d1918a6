//! The Prometheus text format (0.0.4) of a [`MetricsSnapshot`].

use std::fmt::{Display, Write};

use super::*;

/// A family with only a `shard` label: name, help, and what it shows. Names ending in
/// `_total` are counters, the others gauges.
type ShardFamily = (&'static str, &'static str, fn(&Counters) -> u64);

#[rustfmt::skip]
const SHARD_FAMILIES: [ShardFamily; 9] = [
    ("ringpin_connections_opened_total", "Connections accepted.", |c| c.connections_opened),
    ("ringpin_connections_closed_total", "Connections closed.", |c| c.connections_closed),
    ("ringpin_connections_open", "Connections open now.", Counters::connections_open),
    ("ringpin_received_bytes_total", "Request bytes read.", |c| c.bytes_in),
    ("ringpin_sent_bytes_total", "Response bytes written.", |c| c.bytes_out),
    ("ringpin_shed_total", "Requests refused: the shard was overloaded.", |c| c.shed),
    ("ringpin_shed_permille", "Share of new requests refused now, in thousandths.", |c| c.shed_permille),
    ("ringpin_accept_errors_total", "Failed accept calls.", |c| c.accept_errors),
    ("ringpin_file_cold_reads_total", "File body pieces read into the page cache off the shard before sending.", |c| c.file_cold_reads),
];

/// The families of a server that serves TLS (shown only then).
#[rustfmt::skip]
const TLS_FAMILIES: [ShardFamily; 4] = [
    ("ringpin_tls_handshakes_total", "TLS handshakes completed.", |c| c.tls_handshakes),
    ("ringpin_tls_handshake_failures_total", "TLS handshakes failed, timed out, or plain HTTP on the TLS port.", |c| c.tls_handshake_failures),
    ("ringpin_tls_handshakes_refused_total", "TLS connections closed at once: too many handshakes in flight.", |c| c.tls_handshakes_refused),
    ("ringpin_tls_handshakes_in_flight", "TLS handshakes in flight now.", |c| c.tls_handshakes_in_flight),
];

impl MetricsSnapshot {
    /// The Prometheus text format (version 0.0.4). Counters and gauges carry a `shard` label
    /// (sum them with `sum without (shard)`), except parse errors, which are summed across
    /// shards to keep their 24 kinds from multiplying by the shard count. Latencies are
    /// summaries of the merged histograms, since percentiles cannot be added up afterwards.
    pub fn render_prometheus(&self) -> String {
        let mut out = Exposition::default();
        let shards: Vec<(String, &ShardSnapshot)> = self
            .shards
            .iter()
            .map(|s| (s.shard.to_string(), s))
            .collect();

        let name = "ringpin_shard_info";
        out.family(
            name,
            "gauge",
            "Always 1: the CPU each shard is pinned to and the I/O path it runs.",
        );
        for (id, s) in &shards {
            out.sample(
                name,
                &[
                    ("shard", id),
                    ("cpu", &s.cpu.to_string()),
                    ("io", s.io_path),
                ],
                1,
            );
        }
        let mut families = SHARD_FAMILIES.to_vec();
        if let Some(ktls) = self.ktls {
            let name = "ringpin_tls_info";
            let help = "Always 1: TLS is served; ktls says whether the kernel offers kernel TLS (records stay in rustls).";
            out.family(name, "gauge", help);
            out.sample(name, &[("ktls", ktls)], 1);
            families.extend(TLS_FAMILIES);
        }
        for (name, help, value) in families {
            let kind = if name.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            out.family(name, kind, help);
            for (id, s) in &shards {
                out.sample(name, &[("shard", id)], value(&s.stats.counters));
            }
        }
        let name = "ringpin_requests_total";
        out.family(name, "counter", "Responses produced, by status class.");
        for (id, s) in &shards {
            for (class, count) in s.stats.counters.requests_by_class() {
                out.sample(name, &[("shard", id), ("class", class)], count);
            }
        }
        let name = "ringpin_timeouts_total";
        out.family(name, "counter", "Deadlines missed, by kind.");
        for (id, s) in &shards {
            for kind in TimeoutKind::ALL {
                let count = s.stats.counters.timeouts_of(kind);
                out.sample(name, &[("shard", id), ("kind", kind.label())], count);
            }
        }
        let name = "ringpin_parse_errors_total";
        out.family(
            name,
            "counter",
            "Requests refused as malformed, by kind, all shards.",
        );
        for (kind, count) in self.total.counters.parse_errors_by_kind() {
            out.sample(name, &[("kind", kind)], count);
        }
        let name = "ringpin_access_log_dropped_lines_total";
        out.family(
            name,
            "counter",
            "Access-log lines dropped: the writer fell behind.",
        );
        out.sample(name, &[], self.access_log_dropped);

        let name = "ringpin_handler_panics_total";
        out.family(
            name,
            "counter",
            "Handler panics caught (the request answered 500 or its connection closed), by route.",
        );
        for (route, count) in &self.handler_panics {
            out.sample(name, &[("route", route)], *count);
        }

        let help = "Time from calling a handler to its response, all shards, since start.";
        out.summary(
            "ringpin_service_time_seconds",
            help,
            &self.total.service_time,
        );
        let help = "Time a complete request waited for its handler, all shards, since start.";
        out.summary("ringpin_queue_delay_seconds", help, &self.total.queue_delay);
        out.text
    }
}

/// A Prometheus text-format writer.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        self.text.push_str("# HELP ");
        self.text.push_str(name);
        self.text.push(' ');
        escape_into(&mut self.text, help, false);
        let _ = writeln!(self.text, "\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                self.text.push_str(label);
                self.text.push_str("=\"");
                escape_into(&mut self.text, value, true);
                self.text.push('"');
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    fn summary(&mut self, name: &str, help: &str, latency: &Latency) {
        self.family(name, "summary", help);
        for (quantile, value) in latency.quantiles() {
            self.sample(name, &[("quantile", quantile)], value.as_secs_f64());
        }
        self.sample(&format!("{name}_sum"), &[], latency.sum.as_secs_f64());
        self.sample(&format!("{name}_count"), &[], latency.count);
    }
}

/// Escapes per the text format: `\` and newline always, `"` inside label values.
pub(super) fn escape_into(out: &mut String, text: &str, label_value: bool) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if label_value => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}
