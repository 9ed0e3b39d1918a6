//! The markdown: the summary table (medians), what its marks mean, and every run.

use std::fmt::Write;

use crate::runs::{
    median, others_pct, settings, OpenCell, Point, Row, Run, Summary, VERDICT_LAG_US,
};

pub fn render(summary: &Summary, runs: &[Run], plot_file: &str) -> String {
    let mut md = String::new();
    let reps = summary.reps;
    let _ = writeln!(
        md,
        "Medians of {reps} interleaved repetition{}; rows are grouped by route and ordered by \
         server CPU time per request (closed loop), cheapest first.\n",
        if reps == 1 { "" } else { "s" }
    );
    let others = others_pct(runs);
    if let Some(typical) = median(others.clone()) {
        let worst = others.iter().copied().fold(0.0, f64::max);
        let _ = writeln!(
            md,
            "Noise: over the timed runs, other work took a median {typical:.0} % (at most \
             {worst:.0} %) of the server's core (busy time from /proc/stat less the server's \
             own CPU time; the kernel's loopback work not charged to the server is in it).\n"
        );
    }
    md.push_str(&table_header());
    for row in &summary.rows {
        md.push_str(&table_row(row));
    }
    md.push('\n');
    md.push_str(&settings_note(runs));
    md.push_str(&latency_table(summary));
    md.push_str(
        "\n- **req/s**: wrk, 64 keep-alive connections, one request in flight on each. \
         **CPU ns/req**: the server's CPU time (all its threads, from schedstat) over the \
         run, divided by the responses wrk counted.\n\
         - **pipelined**: wrk writing 16 requests at a time on each of the 64 connections; \
         responses per second and CPU per response.\n\
         - **1-conn sequential**: `ringpin-bench sequential`, one keep-alive connection, one \
         request at a time, each sent ",
    );
    let sequential = runs.iter().find_map(|run| match run {
        Run::Sequential(s) => Some(&s.sequential),
        _ => None,
    });
    let _ = writeln!(
        md,
        "{} µs after the previous answer so that it finds the server idle; p50 / p99 of the \
         round trip (write to last byte read) over {} requests or {} s, whichever ends first \
         (the runs say how many), after {} unrecorded ones, in µs. A server that sleeps \
         through its wake-up answers on a timer tick here (milliseconds) while its loaded \
         figures look normal.",
        sequential.map_or(0, |s| s.pause_us),
        thousands(sequential.map_or(0, |s| s.requested) as f64),
        sequential.map_or(0.0, |s| s.deadline_s),
        sequential.map_or(0, |s| s.warmup),
    );
    let _ = writeln!(
        md,
        "- **Latency against load**: ringpin-load, open loop (64 connections, one request in \
         flight on each), at fractions of each server's *own* closed-loop peak (so every \
         server is compared at the same utilisation) and at fixed rates (the same offered \
         load for every server). Each cell: the rate asked for, then p50 / p99 / p99.9 \
         latency in µs from each request's intended send time to the kernel's receive stamp \
         of its response, then the generator's own send lag p99 in µs. A cell in \
         parentheses with ‡ has **no verdict**: the generator's send lag p99 was {VERDICT_LAG_US:.0} µs \
         or more (its core was busy, or every connection was waiting on the server), so the \
         figures are not the server's alone; \"(‡ in k of n runs)\" after a cell with a \
         verdict: k of the runs behind its medians had none on their own (every run, with \
         its lag and `blocked`, the slots that found every connection busy, is in the list \
         below). † the rate is above this server's own peak, so it is overloaded and the figures are queueing time. * ringpin-load did not hold \
         the rate (achieved < 98 %), or some requests failed or got a non-2xx answer (see \
         the runs)."
    );
    md.push_str("- **idle KiB/conn**: growth of the server's VmRSS over ");
    let idle = runs.iter().find_map(|run| match run {
        Run::Idle(i) => Some(i.idle.requested),
        _ => None,
    });
    md.push_str(&thousands(idle.unwrap_or(0) as f64));
    md.push_str(
        " idle keep-alive connections (one request each), divided by the connections its \
         descriptor table grew by; kernel socket memory is not in it.\n\n",
    );
    let _ = writeln!(md, "![latency against offered load]({plot_file})\n");
    md.push_str(&all_runs(runs));
    md
}

/// The settings the servers logged at start (the Go servers' GOMAXPROCS and GOGC), under
/// the table: one line per server, every distinct line with the starts it was logged at.
fn settings_note(runs: &[Run]) -> String {
    let servers = settings(runs);
    if servers.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "Runtime settings, as each server logged them at start (in runs.jsonl as `settings` \
         lines):\n\n",
    );
    for (server, lines) in &servers {
        let said: Vec<String> = lines
            .iter()
            .map(|(line, starts)| {
                format!(
                    "`{line}` ({starts} start{})",
                    if *starts == 1 { "" } else { "s" }
                )
            })
            .collect();
        let _ = write!(md, "- **{server}**: {}", said.join("; "));
        if lines.len() > 1 {
            md.push_str(" (the settings changed between starts)");
        }
        md.push('\n');
    }
    md.push('\n');
    md
}

fn table_header() -> String {
    let mut header = String::from(
        "| server | route | req/s | CPU ns/req | pipelined resp/s | pipelined CPU ns/resp \
         | 1-conn sequential p50 / p99 (µs) |",
    );
    let mut rule = String::from("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    header.push_str(" idle KiB/conn |\n");
    rule.push_str(" ---: |\n");
    header + &rule
}

fn table_row(row: &Row) -> String {
    let sequential = match (row.sequential_p50_us, row.sequential_p99_us) {
        (Some(p50), Some(p99)) => format!("{} / {}", micros(p50), micros(p99)),
        _ => "–".into(),
    };
    let mut line = format!(
        "| {} | `{}` | {} | {} | {} | {} | {sequential} |",
        row.server,
        row.route,
        or_dash(row.closed_rps.map(thousands)),
        or_dash(row.closed_cpu_ns.map(thousands)),
        or_dash(row.pipelined_rps.map(thousands)),
        or_dash(row.pipelined_cpu_ns.map(thousands)),
    );
    let idle = match (row.idle_kib_per_connection, row.idle_held) {
        (Some(kib), Some((held, requested))) if held * 100 >= requested * 99 => format!("{kib:.1}"),
        (Some(kib), Some((held, _))) => format!("{kib:.1} (held {held})"),
        _ => "–".into(),
    };
    let _ = writeln!(line, " {idle} |");
    line
}

fn open_cell(cell: &OpenCell) -> String {
    let figures = format!(
        "{} / {} / {}",
        micros(cell.latency.p50),
        micros(cell.latency.p99),
        micros(cell.latency.p99_9)
    );
    let mut text = format!("{}: ", thousands(cell.rate));
    if cell.has_verdict() {
        text.push_str(&figures);
    } else {
        let _ = write!(text, "({figures}) ‡");
    }
    let _ = write!(text, " · lag {}", micros(cell.send_lag_p99));
    if cell.has_verdict() && cell.lagged_runs > 0 {
        let _ = write!(text, " (‡ in {} of {} runs)", cell.lagged_runs, cell.runs);
    }
    if cell.over_peak {
        text.push_str(" †");
    }
    if cell.achieved < 0.98 || cell.errors > 0 || cell.non_2xx > 0 {
        text.push_str(" *");
    }
    text
}

/// One row per server and route, one column per load point.
fn latency_table(summary: &Summary) -> String {
    if summary.points.is_empty() {
        return String::new();
    }
    let mut md = String::from("Latency against load (req/s: p50 / p99 / p99.9 µs · send lag p99 µs):\n\n| server | route |");
    let mut rule = String::from("| --- | --- |");
    for point in &summary.points {
        let _ = write!(md, " {} |", point.label());
        rule.push_str(" ---: |");
    }
    md.push('\n');
    md.push_str(&rule);
    md.push('\n');
    for row in &summary.rows {
        let _ = write!(md, "| {} | `{}` |", row.server, row.route);
        for cell in &row.open {
            let _ = write!(md, " {} |", or_dash(cell.as_ref().map(open_cell)));
        }
        md.push('\n');
    }
    let ratios: Vec<f64> = summary
        .rows
        .iter()
        .flat_map(|row| row.open.iter().flatten())
        .filter_map(|cell| cell.cpu_ratio)
        .collect();
    if let Some(typical) = median(ratios.clone()) {
        let worst = ratios.iter().copied().fold(0.0, f64::max);
        let _ = writeln!(
            md,
            "\nThe generator's CPU time per request was a median {typical:.2}× the server's over \
             the same runs (at most {worst:.2}×; both from schedstat, warmup included)."
        );
    }
    md
}

fn all_runs(runs: &[Run]) -> String {
    let mut md = String::from(
        "<details><summary>Every run, in the order it ran (load: 1-minute load average \
         before the run; others: share of the server's core used by anything but the server)\
         </summary>\n\n\
         | rep | kind | server | route | result | server CPU | failures | load | others |\n\
         | ---: | --- | --- | --- | --- | ---: | --- | ---: | ---: |\n",
    );
    for run in runs {
        // Each kind of run fills the row from its result on; rep, server and route it shares.
        let (kind, cells) = match run {
            Run::Closed(t) | Run::Pipelined(t) => {
                let kind = if matches!(run, Run::Closed(_)) {
                    "closed"
                } else {
                    "pipelined"
                };
                let cells = format!(
                    "{} resp/s ({} responses) | {} ns/resp | non-2xx {}, errors {} | {:.2} | {}",
                    thousands(t.rps),
                    t.responses,
                    per(t.cpu_ns, t.responses),
                    t.non_2xx,
                    t.errors,
                    t.load,
                    percent(t.others_pct),
                );
                (kind.to_string(), cells)
            }
            Run::Open(o) => {
                let l = &o.result.latency_us;
                let generator = o.result.generator.map_or_else(
                    || "–".into(),
                    |g| format!("{} ns/req", thousands(g.cpu_ns_per_request)),
                );
                let cells = format!(
                    "{} req/s asked, {} achieved; µs p50 {} p90 {} p99 {} p99.9 {} p99.99 {}; send lag p99 {}{}; blocked {}; generator CPU {generator} | {:.0} % of a core | non-2xx {}, errors {} | {:.2} | {}",
                    thousands(o.rate),
                    thousands(o.result.achieved_rate),
                    micros(l.p50),
                    micros(l.p90),
                    micros(l.p99),
                    micros(l.p99_9),
                    micros(l.p99_99),
                    micros(o.result.send_lag_us.p99),
                    if o.has_verdict() { "" } else { " ‡ (no verdict)" },
                    o.result
                        .blocked
                        .map_or_else(|| "–".into(), |b| thousands(b as f64)),
                    100.0 * o.cpu_ns as f64 / o.wall_ns.max(1) as f64,
                    o.result.non_2xx,
                    o.result.errors,
                    o.load,
                    percent(o.others_pct),
                );
                (format!("open, {}", Point::of(o).label()), cells)
            }
            Run::Idle(i) => {
                let d = &i.idle;
                let cells =
                    format!(
                    "{} of {} opened, {} held; VmRSS {} → {} KiB | – | non-2xx {}{} | {:.2} | –",
                    d.opened,
                    d.requested,
                    d.held(),
                    d.rss_before_kib,
                    d.rss_after_kib,
                    d.non_2xx,
                    d.error.as_deref().map(|e| format!(", {e}")).unwrap_or_default(),
                    i.load
                );
                ("idle".to_string(), cells)
            }
            Run::Sequential(q) => {
                let d = &q.sequential;
                let cells = format!(
                    "{} of {} round trips in {:.1} s, {} µs apart; µs p50 {} p99 {} max {} | – | – | {:.2} | –",
                    d.completed,
                    d.requested,
                    d.seconds,
                    d.pause_us,
                    micros(d.p50_us),
                    micros(d.p99_us),
                    micros(d.max_us),
                    q.load
                );
                ("1-conn sequential".to_string(), cells)
            }
            Run::Settings(g) => (
                "settings".to_string(),
                format!("as logged at start: {} | – | – | – | –", g.settings),
            ),
        };
        md.push_str(&format!(
            "| {} | {kind} | {} | `{}` | {cells} |\n",
            run.rep(),
            run.server(),
            run.route()
        ));
    }
    md.push_str("\n</details>\n");
    md
}

/// What the caller ran, so that a server, route or rate with no runs at all is noticed too.
#[derive(Default)]
pub struct Expected {
    pub servers: Vec<String>,
    pub routes: Vec<String>,
    pub points: Vec<Point>,
}

/// What makes the run fail: a wrong answer, a run with no answers, an idle run that could
/// not open its connections, a sequential run that recorded no round trip, a row of the table without a figure, an expected server, route
/// or open-loop rate without runs. Shedding (non-2xx) above a server's own peak is not a
/// failure.
pub fn failures(summary: &Summary, runs: &[Run], expected: &Expected) -> Vec<String> {
    let own_peak = |server: &str, route: &str| {
        summary
            .rows
            .iter()
            .find(|row| row.server == server && row.route == route)
            .and_then(|row| row.closed_rps)
    };
    let mut failures = Vec::new();
    if runs.is_empty() {
        failures.push("no runs at all".to_string());
    }
    for point in &expected.points {
        if !summary.points.contains(point) {
            failures.push(format!("no open-loop run at {}", point.label()));
        }
    }
    let mut routes = summary.routes.clone();
    routes.extend(
        expected
            .routes
            .iter()
            .filter(|r| !summary.routes.contains(r))
            .cloned(),
    );
    for server in &expected.servers {
        for route in &routes {
            if !summary
                .rows
                .iter()
                .any(|row| row.server == *server && row.route == *route)
            {
                failures.push(format!("{server} {route}: no runs, so no row"));
            }
        }
    }
    for row in &summary.rows {
        let missing = row.missing(&summary.points);
        if !missing.is_empty() {
            failures.push(format!(
                "{} {}: no figure for {}",
                row.server,
                row.route,
                missing.join(", ")
            ));
        }
    }
    for run in runs {
        match run {
            Run::Closed(t) | Run::Pipelined(t) => {
                let what = format!("{} {} rep {}", t.server, t.route, t.rep);
                if t.responses == 0 {
                    failures.push(format!("{what}: no responses"));
                }
                if t.non_2xx > 0 {
                    failures.push(format!("{what}: {} non-2xx responses", t.non_2xx));
                }
            }
            Run::Open(o) => {
                let what = format!(
                    "{} {} open loop at {:.0} req/s rep {}",
                    o.server, o.route, o.rate, o.rep
                );
                if o.result.completed == 0 {
                    failures.push(format!("{what}: no responses"));
                }
                let overloaded = own_peak(&o.server, &o.route).is_none_or(|peak| o.rate > peak);
                if o.result.non_2xx > 0 && !overloaded {
                    failures.push(format!(
                        "{what}: {} non-2xx responses below the server's own peak",
                        o.result.non_2xx
                    ));
                }
            }
            Run::Idle(i) => {
                let what = format!("{} {} idle rep {}", i.server, i.route, i.rep);
                if i.idle.non_2xx > 0 {
                    failures.push(format!(
                        "{what}: {} non-2xx responses (the first: {})",
                        i.idle.non_2xx,
                        i.idle.first_non_2xx.map_or("?".into(), |s| s.to_string())
                    ));
                }
                if let Some(error) = &i.idle.error {
                    failures.push(format!("{what}: {error}"));
                }
            }
            Run::Sequential(q) => {
                if q.sequential.completed == 0 {
                    failures.push(format!(
                        "{} {} 1-conn sequential rep {}: no round trips",
                        q.server, q.route, q.rep
                    ));
                }
            }
            Run::Settings(_) => {}
        }
    }
    failures
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "–".into(), |p| format!("{p:.0} %"))
}

fn or_dash(value: Option<String>) -> String {
    value.unwrap_or_else(|| "–".into())
}

fn per(total: u64, count: u64) -> String {
    if count == 0 {
        "–".into()
    } else {
        thousands(total as f64 / count as f64)
    }
}

/// Latency in µs: one decimal below 100, whole numbers with separators above.
pub fn micros(us: f64) -> String {
    if us < 100.0 {
        format!("{us:.1}")
    } else {
        thousands(us)
    }
}

/// Rounded to a whole number, with a comma every three digits.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < -0.5 {
        out.insert(0, '-');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{failures, render, Expected};
    use crate::runs::{summarize, Point, Run};

    /// The runs of these `runs.jsonl` lines.
    fn parse(lines: &[&str]) -> Vec<Run> {
        lines
            .iter()
            .map(|line| serde_json::from_str(line).expect("a test line parses"))
            .collect()
    }

    const CLOSED: &str = r#"{"kind":"closed","rep":1,"server":"ringpin","route":"/","responses":1000,"rps":500.0,"cpu_ns":15000000,"non_2xx":0,"errors":0,"load":0.5,"others_pct":1.0}"#;
    const PIPELINED: &str = r#"{"kind":"pipelined","rep":1,"server":"ringpin","route":"/","responses":9000,"rps":4500.0,"cpu_ns":18000000,"non_2xx":0,"errors":0,"load":0.5,"others_pct":1.0}"#;
    const OPEN: &str = r#"{"kind":"open","rep":1,"server":"ringpin","route":"/","fraction":0.25,"rate":125,"cpu_ns":5000000,"wall_ns":3000000000,"load":0.5,"others_pct":1.0,"result":{"achieved_rate":125.0,"completed":250,"non_2xx":0,"errors":0,"latency_us":{"p50":90.0,"p90":120.0,"p99":300.0,"p99_9":900.0,"p99_99":1200.0},"send_lag_us":{"p99":60.0}}}"#;
    const IDLE: &str = r#"{"kind":"idle","rep":1,"server":"ringpin","route":"/","load":0.5,"idle":{"requested":100,"opened":100,"non_2xx":0,"rss_before_kib":1000,"rss_after_kib":2200,"fds_before":10,"fds_after":110,"error":null}}"#;
    const SEQUENTIAL: &str = r#"{"kind":"sequential","rep":1,"server":"ringpin","route":"/","load":0.5,"sequential":{"requested":2000,"warmup":20,"completed":2000,"seconds":2.3,"deadline_s":5.0,"pause_us":1000,"p50_us":45.5,"p99_us":80.25,"max_us":400.0}}"#;
    const SEQUENTIAL_NONE: &str = r#"{"kind":"sequential","rep":1,"server":"ringpin","route":"/","load":0.5,"sequential":{"requested":2000,"warmup":20,"completed":0,"seconds":5.0,"deadline_s":5.0,"pause_us":1000,"p50_us":0.0,"p99_us":0.0,"max_us":0.0}}"#;
    const IDLE_HELD_NOTHING: &str = r#"{"kind":"idle","rep":1,"server":"ringpin","route":"/","load":0.5,"idle":{"requested":100,"opened":100,"non_2xx":0,"rss_before_kib":1000,"rss_after_kib":1000,"fds_before":10,"fds_after":10,"error":null}}"#;

    /// The failures of these runs, from a harness run of `servers` on `/` at 25 %.
    fn check(lines: &[&str], servers: &[&str]) -> Vec<String> {
        let runs = parse(lines);
        let expected = Expected {
            servers: servers.iter().map(|s| s.to_string()).collect(),
            routes: vec!["/".into()],
            points: vec![Point::Fraction(0.25)],
        };
        failures(&summarize(&runs), &runs, &expected)
    }

    #[test]
    fn a_row_with_every_figure_passes() {
        assert_eq!(
            check(&[CLOSED, PIPELINED, OPEN, IDLE, SEQUENTIAL], &["ringpin"]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_row_without_a_figure_fails() {
        let cases: &[(&[&str], &str)] = &[
            (
                &[CLOSED, OPEN, IDLE, SEQUENTIAL],
                "no figure for pipelined resp/s, pipelined CPU ns/resp",
            ),
            (
                &[CLOSED, PIPELINED, IDLE, SEQUENTIAL],
                "no open-loop run at 25 % of own peak",
            ),
            (
                &[CLOSED, PIPELINED, OPEN, SEQUENTIAL],
                "no figure for idle KiB/conn",
            ),
            (
                &[CLOSED, PIPELINED, OPEN, IDLE_HELD_NOTHING, SEQUENTIAL],
                "no figure for idle KiB/conn",
            ),
            (
                &[CLOSED, PIPELINED, OPEN, IDLE],
                "no figure for 1-conn sequential",
            ),
            (
                &[CLOSED, PIPELINED, OPEN, IDLE, SEQUENTIAL_NONE],
                "1-conn sequential rep 1: no round trips",
            ),
            (&[], "no runs at all"),
        ];
        for (lines, want) in cases {
            let failures = check(lines, &[]);
            assert!(
                failures.iter().any(|f| f.contains(want)),
                "{want:?} not in {failures:?}"
            );
        }
    }

    #[test]
    fn a_server_without_the_open_loop_runs_others_had_fails() {
        let nginx: Vec<String> = [CLOSED, PIPELINED, IDLE, SEQUENTIAL]
            .iter()
            .map(|line| line.replace("ringpin", "nginx"))
            .collect();
        let mut lines = vec![CLOSED, PIPELINED, OPEN, IDLE, SEQUENTIAL];
        lines.extend(nginx.iter().map(String::as_str));
        let failures = check(&lines, &["ringpin", "nginx"]);
        assert_eq!(
            failures,
            ["nginx /: no figure for open loop at 25 % of own peak"]
        );
    }

    #[test]
    fn a_zero_cpu_time_is_no_figure() {
        let closed = CLOSED.replace(r#""cpu_ns":15000000"#, r#""cpu_ns":0"#);
        let failures = check(&[&closed, PIPELINED, OPEN, IDLE, SEQUENTIAL], &[]);
        assert_eq!(failures, ["ringpin /: no figure for CPU ns/req"]);
    }

    #[test]
    fn an_expected_server_without_runs_fails() {
        let failures = check(
            &[CLOSED, PIPELINED, OPEN, IDLE, SEQUENTIAL],
            &["ringpin", "nginx"],
        );
        assert_eq!(failures, ["nginx /: no runs, so no row"]);
        let json_too = check(&[CLOSED, PIPELINED, OPEN, IDLE, SEQUENTIAL], &["ringpin"]);
        assert!(json_too.is_empty());
    }

    #[test]
    fn the_table_shows_the_sequential_medians() {
        let second = SEQUENTIAL
            .replace(r#""rep":1"#, r#""rep":2"#)
            .replace(r#""p50_us":45.5"#, r#""p50_us":16100.0"#)
            .replace(r#""p99_us":80.25"#, r#""p99_us":16900.0"#);
        let third = SEQUENTIAL
            .replace(r#""rep":1"#, r#""rep":3"#)
            .replace(r#""p50_us":45.5"#, r#""p50_us":50.0"#)
            .replace(r#""p99_us":80.25"#, r#""p99_us":90.0"#);
        let runs = parse(&[CLOSED, PIPELINED, OPEN, IDLE, SEQUENTIAL, &second, &third]);
        let markdown = render(&summarize(&runs), &runs, "latency.svg");
        let header = markdown
            .lines()
            .find(|line| line.starts_with("| server |"))
            .expect("a table header");
        assert!(
            header.contains("| 1-conn sequential p50 / p99 (µs) |"),
            "{header}"
        );
        let row = markdown
            .lines()
            .find(|line| line.starts_with("| ringpin | `/` |"))
            .expect("ringpin's row");
        assert!(row.contains("| 50.0 / 90.0 |"), "{row}");
        assert!(
            markdown.contains("| 2 | 1-conn sequential | ringpin | `/` | 2000 of 2000 round trips in 2.3 s, 1000 µs apart; µs p50 16,100 p99 16,900 max 400 |"),
            "{markdown}"
        );
    }

    #[test]
    fn the_settings_servers_logged_are_quoted_under_the_table() {
        let settings = |rep: u32, line: &str| {
            format!(
                r#"{{"kind":"settings","rep":{rep},"server":"go","route":"/","settings":"{line}"}}"#
            )
        };
        let go: Vec<String> = [CLOSED, PIPELINED, OPEN, IDLE, SEQUENTIAL]
            .iter()
            .map(|line| line.replace("ringpin", "go"))
            .collect();
        let first = settings(1, "go1.19.8, GOMAXPROCS=1, GOGC=100");
        let second = settings(2, "go1.19.8, GOMAXPROCS=1, GOGC=100");
        let mut lines = vec![first.as_str(), second.as_str()];
        lines.extend(go.iter().map(String::as_str));
        let runs = parse(&lines);
        let summary = summarize(&runs);
        assert_eq!(
            summary.rows.len(),
            1,
            "a settings line is no row of its own"
        );
        let markdown = render(&summary, &runs, "latency.svg");
        assert!(
            markdown.contains("- **go**: `go1.19.8, GOMAXPROCS=1, GOGC=100` (2 starts)\n"),
            "{markdown}"
        );
        assert!(
            markdown.contains("| 1 | settings | go | `/` | as logged at start: go1.19.8, GOMAXPROCS=1, GOGC=100 |"),
            "{markdown}"
        );
        let other = settings(3, "go1.19.8, GOMAXPROCS=2, GOGC=100");
        lines.push(&other);
        let runs = parse(&lines);
        let markdown = render(&summarize(&runs), &runs, "latency.svg");
        assert!(
            markdown.contains("(2 starts); `go1.19.8, GOMAXPROCS=2, GOGC=100` (1 start) (the settings changed between starts)"),
            "{markdown}"
        );
        assert!(failures(&summarize(&runs), &runs, &Expected::default()).is_empty());
        let plain = [CLOSED, PIPELINED, OPEN, IDLE, SEQUENTIAL];
        let runs = parse(&plain);
        assert!(!render(&summarize(&runs), &runs, "latency.svg").contains("Runtime settings"));
    }

    #[test]
    fn a_lagged_run_is_marked_in_its_cell_and_in_the_list() {
        let lagged = |rep: u32, lag: f64| {
            OPEN.replace(r#""rep":1"#, &format!(r#""rep":{rep}"#))
                .replace(
                    r#""send_lag_us":{"p99":60.0}}"#,
                    &format!(r#""send_lag_us":{{"p99":{lag:.1}}},"blocked":1234}}"#),
                )
        };
        let (second, third) = (lagged(2, 5000.0), lagged(3, 70.0));
        let lines = [CLOSED, PIPELINED, OPEN, &second, &third, IDLE, SEQUENTIAL];
        let runs = parse(&lines);
        let markdown = render(&summarize(&runs), &runs, "latency.svg");
        assert!(
            markdown.contains(
                "| ringpin | `/` | 125: 90.0 / 300 / 900 · lag 70.0 (‡ in 1 of 3 runs) |"
            ),
            "{markdown}"
        );
        assert!(
            markdown.contains("send lag p99 5,000 ‡ (no verdict); blocked 1,234;"),
            "{markdown}"
        );
        assert!(
            markdown.contains("send lag p99 70.0; blocked 1,234;"),
            "{markdown}"
        );
        assert!(
            markdown.contains("send lag p99 60.0; blocked –;"),
            "{markdown}"
        );
    }

    #[test]
    fn the_load_table_gives_a_verdict_only_where_the_generator_kept_up() {
        let late = OPEN
            .replace(r#""fraction":0.25"#, r#""fraction":0.9"#)
            .replace(r#""rate":125"#, r#""rate":450"#)
            .replace(r#""achieved_rate":125.0"#, r#""achieved_rate":450.0"#)
            .replace(
                r#""send_lag_us":{"p99":60.0}"#,
                r#""send_lag_us":{"p99":250.0}"#,
            );
        let fixed = OPEN
            .replace(r#""fraction":0.25,"#, "")
            .replace(r#""rate":125"#, r#""rate":1000"#)
            .replace(r#""achieved_rate":125.0"#, r#""achieved_rate":1000.0"#)
            .replace(
                r#""send_lag_us":{"p99":60.0}}"#,
                r#""send_lag_us":{"p99":40.0},"generator":{"requests":4000,"cpu_ns_per_request":625.0}}"#,
            );
        let lines = [CLOSED, PIPELINED, OPEN, &late, &fixed, IDLE, SEQUENTIAL];
        let runs = parse(&lines);
        let summary = summarize(&runs);
        assert_eq!(
            summary.points,
            [
                Point::Fraction(0.25),
                Point::Fraction(0.9),
                Point::Fixed(1000.0)
            ]
        );
        let markdown = render(&summary, &runs, "latency.svg");
        let header = "| server | route | 25 % of own peak | 90 % of own peak | 1,000 req/s |";
        assert!(markdown.contains(header), "{markdown}");
        let row = markdown
            .lines()
            .filter(|line| line.starts_with("| ringpin | `/` |"))
            .nth(1)
            .expect("ringpin's row in the load table");
        assert_eq!(
            row,
            "| ringpin | `/` | 125: 90.0 / 300 / 900 · lag 60.0 | 450: (90.0 / 300 / 900) ‡ · lag 250 \
             | 1,000: 90.0 / 300 / 900 · lag 40.0 † |"
        );
        // 625 ns per request against the server's 5 ms over 4,000 requests.
        assert!(markdown.contains("a median 0.50×"), "{markdown}");
        let expected = Expected {
            servers: vec!["ringpin".into()],
            routes: vec!["/".into()],
            points: vec![
                Point::Fraction(0.25),
                Point::Fixed(1000.0),
                Point::Fixed(5.0),
            ],
        };
        assert_eq!(
            failures(&summary, &runs, &expected),
            ["no open-loop run at 5 req/s"]
        );
        let svg = std::env::temp_dir().join(format!("ringpin-bench-{}.svg", std::process::id()));
        crate::plot::draw(&summary, &svg).expect("the plot draws");
        let text = std::fs::read_to_string(&svg).expect("the plot is written");
        std::fs::remove_file(&svg).ok();
        assert!(text.contains("<svg") && text.contains("ringpin") && text.contains("offered load"));
    }
}
