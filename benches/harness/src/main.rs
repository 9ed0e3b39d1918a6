//! The side-by-side harness's helpers; `benches/harness/run.sh` drives them.
//!
//! ```text
//! ringpin-bench idle       --addr 127.0.0.1:18080 --path / --connections 10000 --pid 1234
//! ringpin-bench sequential --addr 127.0.0.1:18080 --path / --requests 2000 --pause-us 1000
//! ringpin-bench peak       --runs out/runs.jsonl --route / [--server nginx]
//! ringpin-bench report     --runs out/runs.jsonl --out-dir out --servers ringpin,nginx --routes /,/json --fractions 0.25,0.5 --rates 10000
//! ```
//!
//! Layout: `idle` opens and holds idle keep-alive connections and reads the server's memory
//! (idle.rs); `sequential` times one keep-alive connection's requests, one at a time with a
//! pause between, so that each finds the server idle (sequential.rs); both read answers with
//! the Content-Length parser in response.rs; `runs` reads the runs file that run.sh appends
//! to and takes medians (runs.rs); `report` writes the markdown tables (report.rs) and the
//! latency-against-load plot (plot.rs).

mod idle;
mod plot;
mod report;
mod response;
mod runs;
mod sequential;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage:
  ringpin-bench idle --addr IP:PORT --pid PID [--path /] [--connections 10000] [--deadline-s 60]
      open CONNECTIONS keep-alive connections one after another, one GET each, hold them,
      and print the server's VmRSS and open descriptors before and after, as one JSON line
  ringpin-bench sequential --addr IP:PORT [--path /] [--requests 2000] [--pause-us 1000] [--deadline-s 5]
      on one keep-alive connection (TCP_NODELAY), send REQUESTS requests one at a time, each
      PAUSE-US after the previous answer, stopping at DEADLINE-S; print the round trips'
      p50, p99 and max in µs as one JSON line; exit 1 on a non-2xx answer or a closed
      connection
  ringpin-bench peak --runs FILE --route ROUTE [--server NAME]
      print NAME's median closed-loop req/s on ROUTE (its own peak) and NAME; without
      --server, the best over all servers, and that server
  ringpin-bench report --runs FILE --out-dir DIR [--servers a,b] [--routes /,/json] [--fractions 0.25,0.5] [--rates 10000]
      write DIR/results.md and DIR/latency.svg; exit 1 if a run failed a check, a row of
      the table lacks a figure, or a listed server, route, fraction or rate has no runs";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let flags = match parse_flags(args) {
        Ok(flags) => flags,
        Err(e) => return usage_error(&e),
    };
    let result = match command.as_str() {
        "idle" => run_idle(&flags),
        "sequential" => run_sequential(&flags),
        "peak" => run_peak(&flags),
        "report" => run_report(&flags),
        "-h" | "--help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => return usage_error(&format!("unknown command {other:?}")),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ringpin-bench {command}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("ringpin-bench: {message}\n{USAGE}");
    ExitCode::from(2)
}

/// `--name value` pairs; every flag takes exactly one value.
fn parse_flags(mut args: impl Iterator<Item = String>) -> Result<HashMap<String, String>, String> {
    let mut flags = HashMap::new();
    while let Some(flag) = args.next() {
        let name = flag
            .strip_prefix("--")
            .ok_or_else(|| format!("expected a --flag, got {flag:?}"))?;
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        flags.insert(name.to_string(), value);
    }
    Ok(flags)
}

fn required<'a>(flags: &'a HashMap<String, String>, name: &str) -> Result<&'a str, String> {
    flags
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| format!("--{name} is required"))
}

/// A comma-separated flag's items; none if the flag is absent.
fn list(flags: &HashMap<String, String>, name: &str) -> Vec<String> {
    flags
        .get(name)
        .map(|value| {
            value
                .split(',')
                .filter(|item| !item.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// A comma-separated flag's items as numbers.
fn numbers(flags: &HashMap<String, String>, name: &str) -> Result<Vec<f64>, String> {
    list(flags, name)
        .iter()
        .map(|item| item.parse().map_err(|e| format!("--{name} {item}: {e}")))
        .collect()
}

fn parsed<T: std::str::FromStr>(
    flags: &HashMap<String, String>,
    name: &str,
    default: T,
) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    match flags.get(name) {
        Some(value) => value.parse().map_err(|e| format!("--{name} {value}: {e}")),
        None => Ok(default),
    }
}

/// A flag that must be given, parsed.
fn required_parsed<T: std::str::FromStr>(
    flags: &HashMap<String, String>,
    name: &str,
) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    let value = required(flags, name)?;
    value.parse().map_err(|e| format!("--{name} {value}: {e}"))
}

/// The request path a measurement asks for; `/` unless given.
fn path(flags: &HashMap<String, String>) -> String {
    flags.get("path").cloned().unwrap_or_else(|| "/".into())
}

/// A measurement's outcome, as one JSON line on stdout (run.sh appends it to runs.jsonl).
fn print_outcome(outcome: &impl serde::Serialize) -> Result<ExitCode, String> {
    println!(
        "{}",
        serde_json::to_string(outcome).map_err(|e| e.to_string())?
    );
    Ok(ExitCode::SUCCESS)
}

fn run_idle(flags: &HashMap<String, String>) -> Result<ExitCode, String> {
    let plan = idle::Plan {
        addr: required_parsed(flags, "addr")?,
        pid: required_parsed(flags, "pid")?,
        path: path(flags),
        connections: parsed(flags, "connections", 10_000)?,
        deadline: std::time::Duration::from_secs(parsed(flags, "deadline-s", 60)?),
    };
    print_outcome(&idle::measure(&plan)?)
}

fn run_sequential(flags: &HashMap<String, String>) -> Result<ExitCode, String> {
    let plan = sequential::Plan {
        addr: required_parsed(flags, "addr")?,
        path: path(flags),
        requests: parsed(flags, "requests", 2_000)?,
        pause: std::time::Duration::from_micros(parsed(flags, "pause-us", 1_000)?),
        deadline: std::time::Duration::from_secs(parsed(flags, "deadline-s", 5)?),
    };
    print_outcome(&sequential::measure(&plan)?)
}

fn run_peak(flags: &HashMap<String, String>) -> Result<ExitCode, String> {
    let runs = runs::load(&PathBuf::from(required(flags, "runs")?))?;
    let route = required(flags, "route")?;
    let peak = match flags.get("server") {
        Some(server) => runs::own_peak(&runs, server, route).map(|rps| (server.clone(), rps)),
        None => runs::best_peak(&runs, route),
    };
    let (server, rps) =
        peak.ok_or_else(|| format!("no closed-loop run on {route} to take a peak from"))?;
    println!("{:.0} {server}", rps);
    Ok(ExitCode::SUCCESS)
}

fn run_report(flags: &HashMap<String, String>) -> Result<ExitCode, String> {
    let runs = runs::load(&PathBuf::from(required(flags, "runs")?))?;
    let out_dir = PathBuf::from(required(flags, "out-dir")?);
    let summary = runs::summarize(&runs);
    let svg = out_dir.join("latency.svg");
    plot::draw(&summary, &svg)?;
    let markdown = report::render(&summary, &runs, "latency.svg");
    let results = out_dir.join("results.md");
    std::fs::write(&results, markdown).map_err(|e| format!("{}: {e}", results.display()))?;
    let expected = report::Expected {
        servers: list(flags, "servers"),
        routes: list(flags, "routes"),
        points: numbers(flags, "fractions")?
            .into_iter()
            .map(runs::Point::Fraction)
            .chain(numbers(flags, "rates")?.into_iter().map(runs::Point::Fixed))
            .collect(),
    };
    let failures = report::failures(&summary, &runs, &expected);
    for failure in &failures {
        eprintln!("ringpin-bench report: FAILED: {failure}");
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
