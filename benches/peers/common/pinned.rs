//! One glommio executor pinned to one CPU, as glommio-bare and glommio-ring start it. Included
//! by path like `addr.rs`.

use std::future::Future;

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

/// The first CPU of this process's affinity mask, from `Cpus_allowed_list` (`0-3,6`).
pub fn first_allowed_cpu() -> Result<usize, String> {
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
