//! Choosing the CPUs shards run on: the process's affinity mask, or a validated list.

use std::io;

/// Parses a CPU list in `taskset -c` syntax: `0-3,6,8-9`.
pub fn parse_cpu_list(list: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let first: usize = first
            .parse()
            .map_err(|_| format!("bad CPU number {first:?} in {list:?}"))?;
        let last: usize = last
            .parse()
            .map_err(|_| format!("bad CPU number {last:?} in {list:?}"))?;
        if first > last {
            return Err(format!("bad CPU range {part:?} in {list:?}"));
        }
        cpus.extend(first..=last);
    }
    cpus.sort_unstable();
    cpus.dedup();
    if cpus.is_empty() {
        return Err(format!("empty CPU list {list:?}"));
    }
    Ok(cpus)
}

/// The CPUs in this process's affinity mask (`sched_getaffinity`).
pub fn affinity_mask() -> io::Result<Vec<usize>> {
    let mut cpus: Vec<usize> = core_affinity::get_core_ids()
        .ok_or_else(|| io::Error::other("sched_getaffinity failed"))?
        .into_iter()
        .map(|core| core.id)
        .collect();
    cpus.sort_unstable();
    Ok(cpus)
}

/// The online CPUs (`/sys/devices/system/cpu/online`).
pub fn online_cpus() -> io::Result<Vec<usize>> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online")?;
    parse_cpu_list(text.trim()).map_err(io::Error::other)
}

/// The CPUs to start one shard each on: `requested` if given (each must be online and in the
/// affinity mask), else the whole mask.
pub(crate) fn select_cpus(requested: Option<&[usize]>) -> io::Result<Vec<usize>> {
    let mask = affinity_mask()?;
    let Some(requested) = requested else {
        return Ok(mask);
    };
    if requested.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the CPU list is empty",
        ));
    }
    let online = online_cpus().unwrap_or_else(|_| mask.clone());
    let mut cpus = requested.to_vec();
    cpus.sort_unstable();
    cpus.dedup();
    for cpu in &cpus {
        if !online.contains(cpu) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("CPU {cpu} is not online (online: {online:?})"),
            ));
        }
        if !mask.contains(cpu) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "CPU {cpu} is outside this process's affinity mask {mask:?}; \
                     widen it (taskset, cpuset, Kubernetes CPU request) or pick others"
                ),
            ));
        }
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::parse_cpu_list;

    #[test]
    fn parses_taskset_lists() {
        assert_eq!(parse_cpu_list("0-3,6"), Ok(vec![0, 1, 2, 3, 6]));
        assert_eq!(parse_cpu_list("1"), Ok(vec![1]));
        assert_eq!(parse_cpu_list("2,1,2"), Ok(vec![1, 2]));
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("x").is_err());
        assert!(parse_cpu_list("").is_err());
    }
}
