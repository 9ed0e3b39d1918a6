//! One glommio executor pinned to one CPU, as glommio-bare and glommio-ring start it, and the
//! flags that say where. Included by path like `addr.rs`, which the including crate has too.

use std::future::Future;
use std::net::SocketAddr;

use glommio::{LocalExecutorBuilder, Placement};

/// Runs `serve` to its end on an executor named `name`, pinned to `cpu`.
pub fn run_pinned<F>(name: &str, cpu: usize, serve: F) -> Result<(), String>
where
    F: Future<Output = std::io::Result<()>>,
{
    let executor = LocalExecutorBuilder::new(Placement::Fixed(cpu))
        .name(name)
        .make()
        .map_err(|e| format!("no executor on CPU {cpu}: {e}"))?;
    executor.run(serve).map_err(|e| e.to_string())
}

/// Where a pinned peer listens, and the CPU its executor runs on.
pub struct Pinned {
    pub addr: SocketAddr,
    pub cpu: usize,
}

/// `--addr` (default `addr`), `--cpu N` (default: the first CPU this process may run on) and
/// the flags `other` takes, as `crate::addr::parse_flags` reads them.
pub fn parse_pinned_flags(
    args: impl Iterator<Item = String>,
    addr: SocketAddr,
    mut other: impl FnMut(&str, &str) -> Result<bool, String>,
) -> Result<Pinned, String> {
    let mut cpu = None;
    let addr = crate::addr::parse_flags(args, addr, |flag, value| match flag {
        "--cpu" => {
            cpu = Some(crate::addr::parse_value(flag, value)?);
            Ok(true)
        }
        _ => other(flag, value),
    })?;
    let cpu = match cpu {
        Some(cpu) => cpu,
        None => first_allowed_cpu()?,
    };
    Ok(Pinned { addr, cpu })
}

/// The first CPU of this process's affinity mask, from `Cpus_allowed_list` (`0-3,6`).
fn first_allowed_cpu() -> Result<usize, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .and_then(|list| {
            let list = list.trim_start();
            let end = list
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(list.len());
            list.get(..end)?.parse().ok()
        })
        .ok_or_else(|| "no CPU in Cpus_allowed_list; pass --cpu".to_string())
}
