//! The runs file: one JSON object per line, appended by run.sh after every measurement, and
//! the medians over repetitions that the table and the plot show.

use std::path::Path;

use serde::Deserialize;

/// One measurement, as run.sh writes it.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Run {
    /// wrk, keep-alive, one request in flight per connection.
    Closed(Throughput),
    /// wrk with 16 requests written back to back per connection.
    Pipelined(Throughput),
    /// ringpin-load at a fixed rate.
    Open(OpenLoop),
    /// `ringpin-bench idle`.
    Idle(IdleRun),
    /// `ringpin-bench sequential`.
    Sequential(SequentialRun),
    /// What a server's runtime said it runs with, as it logged it at one start (the Go
    /// servers: Go version, GOMAXPROCS, GOGC). Not a measurement.
    Settings(SettingsRun),
}

#[derive(Deserialize)]
pub struct SettingsRun {
    pub rep: u32,
    pub server: String,
    pub route: String,
    /// The server's own words, e.g. `go1.19.8, GOMAXPROCS=1, GOGC=100`.
    pub settings: String,
}

#[derive(Deserialize)]
pub struct Throughput {
    pub rep: u32,
    pub server: String,
    pub route: String,
    pub responses: u64,
    pub rps: f64,
    /// Server CPU time over the run, summed over its threads, in ns.
    pub cpu_ns: u64,
    pub non_2xx: u64,
    /// wrk's socket errors: connect, read, write, timeout.
    pub errors: u64,
    /// 1-minute load average before the run.
    pub load: f64,
    /// Share of the server's core that something else used during the run, in percent.
    #[serde(default)]
    pub others_pct: Option<f64>,
}

#[derive(Deserialize)]
pub struct OpenLoop {
    pub rep: u32,
    pub server: String,
    pub route: String,
    /// Of this server's own closed-loop peak on this route; absent for a fixed rate.
    #[serde(default)]
    pub fraction: Option<f64>,
    /// Requests per second asked of ringpin-load.
    pub rate: f64,
    /// Server CPU time from just before ringpin-load started to just after it ended, in ns.
    pub cpu_ns: u64,
    /// Wall time of the same span (warmup included), in ns.
    pub wall_ns: u64,
    pub load: f64,
    #[serde(default)]
    pub others_pct: Option<f64>,
    /// ringpin-load's `--json` output.
    pub result: LoadResult,
}

#[derive(Deserialize)]
pub struct LoadResult {
    pub achieved_rate: f64,
    pub completed: u64,
    pub non_2xx: u64,
    pub errors: u64,
    pub latency_us: Latency,
    /// How far behind its schedule the generator wrote, in µs.
    pub send_lag_us: SendLag,
    /// Slots that came due while every connection was busy (absent from older runs).
    #[serde(default)]
    pub blocked: Option<u64>,
    /// The generator's own cost (absent from older runs).
    #[serde(default)]
    pub generator: Option<Generator>,
}

#[derive(Deserialize, Clone, Copy)]
pub struct SendLag {
    pub p99: f64,
}

#[derive(Deserialize, Clone, Copy)]
pub struct Generator {
    /// Requests the generator wrote, warmup included.
    pub requests: u64,
    /// Its CPU time per request written, in ns.
    pub cpu_ns_per_request: f64,
}

/// A p99 send lag at or above this, in µs, means the generator fell behind its schedule by
/// more than the latencies it is there to tell apart: that point gets no verdict.
pub const VERDICT_LAG_US: f64 = 100.0;

/// Where an open-loop run sits on the load axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Point {
    /// This fraction of the server's own closed-loop peak on the route.
    Fraction(f64),
    /// This many requests per second, the same for every server.
    Fixed(f64),
}

impl Point {
    pub fn of(run: &OpenLoop) -> Point {
        match run.fraction {
            Some(fraction) => Point::Fraction(fraction),
            None => Point::Fixed(run.rate),
        }
    }

    /// Fractions first, smallest first, then fixed rates, smallest first.
    fn order(&self) -> (u8, f64) {
        match *self {
            Point::Fraction(f) => (0, f),
            Point::Fixed(rate) => (1, rate),
        }
    }

    pub fn label(&self) -> String {
        match *self {
            Point::Fraction(f) => format!("{:.0} % of own peak", f * 100.0),
            Point::Fixed(rate) => format!("{} req/s", crate::report::thousands(rate)),
        }
    }
}

#[derive(Deserialize, Clone, Copy)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub p99_99: f64,
}

#[derive(Deserialize)]
pub struct IdleRun {
    pub rep: u32,
    pub server: String,
    pub route: String,
    pub load: f64,
    pub idle: IdleOutcome,
}

/// `ringpin-bench idle`'s line, read back as it was written.
pub use crate::idle::Outcome as IdleOutcome;

#[derive(Deserialize)]
pub struct SequentialRun {
    pub rep: u32,
    pub server: String,
    pub route: String,
    pub load: f64,
    pub sequential: SequentialOutcome,
}

/// `ringpin-bench sequential`'s line, read back as it was written.
pub use crate::sequential::Outcome as SequentialOutcome;

impl Run {
    /// Which repetition, server and route this run was, whatever its kind.
    fn id(&self) -> (u32, &str, &str) {
        match self {
            Run::Closed(t) | Run::Pipelined(t) => (t.rep, &t.server, &t.route),
            Run::Open(o) => (o.rep, &o.server, &o.route),
            Run::Idle(i) => (i.rep, &i.server, &i.route),
            Run::Sequential(s) => (s.rep, &s.server, &s.route),
            Run::Settings(s) => (s.rep, &s.server, &s.route),
        }
    }

    pub fn rep(&self) -> u32 {
        self.id().0
    }

    pub fn server(&self) -> &str {
        self.id().1
    }

    pub fn route(&self) -> &str {
        self.id().2
    }
}

impl OpenLoop {
    /// This run's generator kept to its schedule (send lag p99 under `VERDICT_LAG_US`).
    pub fn has_verdict(&self) -> bool {
        self.result.send_lag_us.p99 < VERDICT_LAG_US
    }
}

/// Each server's settings as it logged them, in the order servers first ran: per server,
/// every distinct line and at how many starts it was logged. Servers that log none are not
/// in it.
pub fn settings(runs: &[Run]) -> Vec<(String, Vec<(String, usize)>)> {
    let mut out: Vec<(String, Vec<(String, usize)>)> = Vec::new();
    for run in runs {
        let Run::Settings(s) = run else { continue };
        let index = match out.iter().position(|(server, _)| *server == s.server) {
            Some(index) => index,
            None => {
                out.push((s.server.clone(), Vec::new()));
                out.len() - 1
            }
        };
        let lines = &mut out[index].1;
        match lines.iter_mut().find(|(line, _)| *line == s.settings) {
            Some((_, count)) => *count += 1,
            None => lines.push((s.settings.clone(), 1)),
        }
    }
    out
}

pub fn load(path: &Path) -> Result<Vec<Run>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", path.display(), index + 1))
        })
        .collect()
}

/// The median of the values; `None` for none.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// The median closed-loop req/s of `server` on `route`: its own peak.
pub fn own_peak(runs: &[Run], server: &str, route: &str) -> Option<f64> {
    closed_rps(runs, server, route)
}

/// The server with the highest median closed-loop req/s on `route`, and that rate.
pub fn best_peak(runs: &[Run], route: &str) -> Option<(String, f64)> {
    let mut best: Option<(String, f64)> = None;
    for server in servers(runs) {
        let rps = closed_rps(runs, &server, route);
        if let Some(rps) = rps {
            if best.as_ref().is_none_or(|(_, top)| rps > *top) {
                best = Some((server, rps));
            }
        }
    }
    best
}

fn closed_rps(runs: &[Run], server: &str, route: &str) -> Option<f64> {
    median(
        runs.iter()
            .filter_map(|run| match run {
                Run::Closed(t) if t.server == server && t.route == route => Some(t.rps),
                _ => None,
            })
            .collect(),
    )
}

/// How much of the server's core others took, in percent, over every timed run that says.
pub fn others_pct(runs: &[Run]) -> Vec<f64> {
    runs.iter()
        .filter_map(|run| match run {
            Run::Closed(t) | Run::Pipelined(t) => t.others_pct,
            Run::Open(o) => o.others_pct,
            Run::Idle(_) | Run::Sequential(_) | Run::Settings(_) => None,
        })
        .collect()
}

/// Servers in the order they first ran.
pub fn servers(runs: &[Run]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for run in runs {
        if !seen.iter().any(|server| server == run.server()) {
            seen.push(run.server().to_string());
        }
    }
    seen
}

fn routes(runs: &[Run]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for run in runs {
        if !seen.iter().any(|route| route == run.route()) {
            seen.push(run.route().to_string());
        }
    }
    seen
}

/// One open-loop point for one server: medians of each percentile over the repetitions.
pub struct OpenCell {
    /// Median of the rates asked for (a fraction's rate follows the server's peak).
    pub rate: f64,
    pub latency: Latency,
    /// Median of achieved / requested rate.
    pub achieved: f64,
    /// Median of the generator's p99 send lag, in µs.
    pub send_lag_p99: f64,
    /// The runs behind the cell, and how many of them had no verdict on their own.
    pub runs: usize,
    pub lagged_runs: usize,
    pub non_2xx: u64,
    pub errors: u64,
    /// The rate is above this server's own closed-loop peak: it is overloaded by design.
    pub over_peak: bool,
    /// Median of the generator's CPU per request over the server's, over the same runs.
    pub cpu_ratio: Option<f64>,
}

impl OpenCell {
    /// The generator kept to its schedule (send lag p99 under `VERDICT_LAG_US`), so the
    /// latencies are the server's.
    pub fn has_verdict(&self) -> bool {
        self.send_lag_p99 < VERDICT_LAG_US
    }
}

/// One server on one route: the table's row.
pub struct Row {
    pub server: String,
    pub route: String,
    pub closed_rps: Option<f64>,
    pub closed_cpu_ns: Option<f64>,
    pub pipelined_rps: Option<f64>,
    pub pipelined_cpu_ns: Option<f64>,
    /// One per point, in `Summary::points` order; `None` where it did not run.
    pub open: Vec<Option<OpenCell>>,
    pub idle_kib_per_connection: Option<f64>,
    /// Fewest connections held over the repetitions, and how many were asked for.
    pub idle_held: Option<(u64, u64)>,
    /// One connection, one request at a time after a pause: medians of each run's p50 and
    /// p99 round trip, in µs.
    pub sequential_p50_us: Option<f64>,
    pub sequential_p99_us: Option<f64>,
}

impl Row {
    /// The columns of this row that have no figure: a median that is absent, zero or not
    /// finite (a server cannot answer with no CPU time), or an idle run that held nothing.
    pub fn missing(&self, points: &[Point]) -> Vec<String> {
        let positive = |value: Option<f64>| value.is_some_and(|v| v.is_finite() && v > 0.0);
        let mut missing: Vec<String> = [
            ("req/s", self.closed_rps),
            ("CPU ns/req", self.closed_cpu_ns),
            ("pipelined resp/s", self.pipelined_rps),
            ("pipelined CPU ns/resp", self.pipelined_cpu_ns),
        ]
        .into_iter()
        .filter(|(_, value)| !positive(*value))
        .map(|(column, _)| column.to_string())
        .collect();
        for (index, point) in points.iter().enumerate() {
            let cell = self.open.get(index).and_then(Option::as_ref);
            if !cell.is_some_and(|c| positive(Some(c.latency.p50)) && positive(Some(c.rate))) {
                missing.push(format!("open loop at {}", point.label()));
            }
        }
        if !self.idle_kib_per_connection.is_some_and(f64::is_finite) {
            missing.push("idle KiB/conn".into());
        }
        if !(positive(self.sequential_p50_us) && positive(self.sequential_p99_us)) {
            missing.push("1-conn sequential".into());
        }
        missing
    }
}

pub struct Summary {
    pub routes: Vec<String>,
    /// Every open-loop point that ran, fractions of own peak first, then fixed rates.
    pub points: Vec<Point>,
    /// Grouped by route, each group ordered by closed-loop CPU per request, cheapest first.
    pub rows: Vec<Row>,
    pub reps: u32,
}

pub fn summarize(runs: &[Run]) -> Summary {
    let mut points: Vec<Point> = Vec::new();
    let mut reps = 0;
    for run in runs {
        if let Run::Open(o) = run {
            if !points.contains(&Point::of(o)) {
                points.push(Point::of(o));
            }
        }
        reps = reps.max(run.rep());
    }
    points.sort_by(|a, b| {
        let (a, b) = (a.order(), b.order());
        a.0.cmp(&b.0).then(a.1.total_cmp(&b.1))
    });
    let servers = servers(runs);
    let routes = routes(runs);
    let mut rows = Vec::new();
    for route in &routes {
        let mut group: Vec<Row> = servers
            .iter()
            .map(|server| summarize_row(runs, server, route, &points))
            .collect();
        group.sort_by(|a, b| {
            let key = |row: &Row| row.closed_cpu_ns.unwrap_or(f64::INFINITY);
            key(a).total_cmp(&key(b))
        });
        rows.extend(group);
    }
    Summary {
        routes,
        points,
        rows,
        reps,
    }
}

fn summarize_row(runs: &[Run], server: &str, route: &str, points: &[Point]) -> Row {
    // This server's runs on this route, sorted by kind; runs that measured nothing are left out.
    let mut closed: Vec<&Throughput> = Vec::new();
    let mut pipelined: Vec<&Throughput> = Vec::new();
    let mut idle: Vec<&IdleOutcome> = Vec::new();
    let mut sequential: Vec<&SequentialOutcome> = Vec::new();
    for run in runs
        .iter()
        .filter(|run| run.server() == server && run.route() == route)
    {
        match run {
            Run::Closed(t) if t.responses > 0 => closed.push(t),
            Run::Pipelined(t) if t.responses > 0 => pipelined.push(t),
            Run::Idle(i) => idle.push(&i.idle),
            Run::Sequential(s) if s.sequential.completed > 0 => sequential.push(&s.sequential),
            _ => {}
        }
    }
    let cpu_per_response = |t: &&Throughput| t.cpu_ns as f64 / t.responses as f64;
    let closed_rps = median(closed.iter().map(|t| t.rps).collect());
    let open = points
        .iter()
        .map(|&point| summarize_open(runs, server, route, point, closed_rps))
        .collect();
    Row {
        server: server.to_string(),
        route: route.to_string(),
        closed_rps,
        closed_cpu_ns: median(closed.iter().map(cpu_per_response).collect()),
        pipelined_rps: median(pipelined.iter().map(|t| t.rps).collect()),
        pipelined_cpu_ns: median(pipelined.iter().map(cpu_per_response).collect()),
        open,
        idle_kib_per_connection: median(
            idle.iter().filter_map(|i| i.kib_per_connection()).collect(),
        ),
        idle_held: idle
            .iter()
            .map(|i| (i.held(), i.requested as u64))
            .min_by_key(|(held, _)| *held),
        sequential_p50_us: median(sequential.iter().map(|s| s.p50_us).collect()),
        sequential_p99_us: median(sequential.iter().map(|s| s.p99_us).collect()),
    }
}

fn summarize_open(
    runs: &[Run],
    server: &str,
    route: &str,
    point: Point,
    own_peak: Option<f64>,
) -> Option<OpenCell> {
    let cells: Vec<&OpenLoop> = runs
        .iter()
        .filter_map(|run| match run {
            Run::Open(o) if o.server == server && o.route == route && Point::of(o) == point => {
                Some(o)
            }
            _ => None,
        })
        .collect();
    let pick =
        |f: fn(&Latency) -> f64| median(cells.iter().map(|o| f(&o.result.latency_us)).collect());
    let rate = median(cells.iter().map(|o| o.rate).collect())?;
    let cpu_ratio = median(
        cells
            .iter()
            .filter_map(|o| {
                let generator = o.result.generator?;
                let server = o.cpu_ns as f64 / generator.requests.max(1) as f64;
                (server > 0.0).then(|| generator.cpu_ns_per_request / server)
            })
            .collect(),
    );
    Some(OpenCell {
        rate,
        latency: Latency {
            p50: pick(|l| l.p50)?,
            p90: pick(|l| l.p90)?,
            p99: pick(|l| l.p99)?,
            p99_9: pick(|l| l.p99_9)?,
            p99_99: pick(|l| l.p99_99)?,
        },
        achieved: median(
            cells
                .iter()
                .map(|o| o.result.achieved_rate / o.rate.max(1.0))
                .collect(),
        )?,
        send_lag_p99: median(cells.iter().map(|o| o.result.send_lag_us.p99).collect())?,
        runs: cells.len(),
        lagged_runs: cells.iter().filter(|o| !o.has_verdict()).count(),
        non_2xx: cells.iter().map(|o| o.result.non_2xx).sum(),
        errors: cells.iter().map(|o| o.result.errors).sum(),
        over_peak: own_peak.is_some_and(|peak| rate > peak),
        cpu_ratio,
    })
}
