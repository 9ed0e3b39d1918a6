//! Startup preflight: before any shard starts, check the host can run one, and name the fix.
//!
//! glommio fails late and cryptically on a host it cannot use: a panic about an old kernel, a
//! `MemLockLimit(65536/524288)`, an `EPERM` from `io_uring_setup`. The preflight gathers what
//! the process can see about itself ([`HostFacts::gather`]), checks it with a pure function
//! ([`check_facts`]) and returns one [`PreflightError`] whose message names the sysctl, limit or
//! container flag that fixes it (`docs/operations.md` lists them all).
//!
//! It agrees with `tuning/ringpin-tune`: both read the same files (`/proc/self/limits`,
//! `/proc/sys/kernel/io_uring_disabled`) and the same table, `tuning/recommended.tsv`, which
//! says which `kernel.io_uring_disabled` value means "enabled" and what `RLIMIT_NOFILE` to
//! recommend. The table gives recommendations; the hard floors below (kernel 5.8, 512 KiB of
//! locked memory) are glommio's and live here.

use std::fmt;
use std::io;

use crate::server::cpus::{affinity_mask, online_cpus};

/// The host tuning table `ringpin-tune` reads, compiled in.
const RECOMMENDED: &str = include_str!("../../tuning/recommended.tsv");

/// Oldest kernel glommio 0.9 runs on, as (major, minor): it probes for the io_uring opcodes of
/// Linux 5.8 at start-up and exits the process when one is missing.
pub const MIN_KERNEL: (u32, u32) = (5, 8);

/// The soft `RLIMIT_MEMLOCK` below which glommio 0.9 refuses to create an executor, in bytes:
/// `MIN_MEMLOCK_LIMIT` in glommio's `sys/uring.rs`. It binds root too (`CAP_IPC_LOCK` does not
/// exempt it); `ringpin-tune check` warns below the same floor.
pub const GLOMMIO_MIN_MEMLOCK_BYTES: u64 = 512 * 1024;

/// The default lowest soft `RLIMIT_NOFILE`, in descriptors: the usual Linux default. The
/// engine itself holds about 5 per shard (listener, three rings, eventfd) plus a few for the
/// process; connections come on top (see [`Requirements::with_connections`]).
pub const RESERVED_OPEN_FILES: u64 = 1024;

/// A soft and a hard resource limit; [`ResourceLimit::UNLIMITED`] stands for `unlimited`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ResourceLimit {
    /// The limit in force (what `ulimit -S` shows).
    pub soft: u64,
    /// The ceiling an unprivileged process may raise the soft limit to.
    pub hard: u64,
}

impl ResourceLimit {
    /// `RLIM_INFINITY`.
    pub const UNLIMITED: u64 = u64::MAX;
}

/// What the process can observe about its host; every field a check reads.
///
/// `None` means the fact could not be read (no `/proc`, a kernel without the switch): the
/// check that needs it is skipped rather than failed, so the preflight never refuses a host
/// for a file it cannot see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostFacts {
    /// The kernel release (`/proc/sys/kernel/osrelease`), e.g. `6.1.0-18-amd64`.
    pub kernel_release: Option<String>,
    /// `kernel.io_uring_disabled`: 0 enabled, 1 only for `kernel.io_uring_group`, 2 disabled.
    /// `None` before Linux 6.6, which has no such switch.
    pub io_uring_disabled: Option<u32>,
    /// Whether this process could create an io_uring: `Ok`, or the errno `io_uring_setup(2)`
    /// failed with (`EPERM` from a seccomp filter or the sysctl, `ENOSYS` without io_uring).
    pub io_uring_setup: Result<(), i32>,
    /// `RLIMIT_MEMLOCK` in bytes, from `/proc/self/limits`.
    pub memlock: Option<ResourceLimit>,
    /// `RLIMIT_NOFILE` in descriptors, from `/proc/self/limits`.
    pub open_files: Option<ResourceLimit>,
    /// The online CPUs (`/sys/devices/system/cpu/online`).
    pub online_cpus: Option<Vec<usize>>,
    /// The CPUs in the process's affinity mask (`sched_getaffinity`).
    pub affinity_mask: Option<Vec<usize>>,
}

impl HostFacts {
    /// Reads every fact from this process and its host. Creates (and closes) one io_uring.
    pub fn gather() -> HostFacts {
        let limits = std::fs::read_to_string("/proc/self/limits").ok();
        let limit = |name| limits.as_deref().and_then(|text| parse_limit(text, name));
        HostFacts {
            kernel_release: read_trimmed("/proc/sys/kernel/osrelease"),
            io_uring_disabled: read_trimmed("/proc/sys/kernel/io_uring_disabled")
                .and_then(|value| value.parse().ok()),
            io_uring_setup: crate::io::sys::probe_io_uring(),
            memlock: limit("Max locked memory"),
            open_files: limit("Max open files"),
            online_cpus: online_cpus().ok(),
            affinity_mask: affinity_mask().ok(),
        }
    }
}

/// What the server about to start needs from the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirements {
    /// The CPUs shards will be pinned to; each must be online and in the affinity mask.
    pub cpus: Vec<usize>,
    /// The lowest soft `RLIMIT_NOFILE` accepted, in descriptors. Default
    /// [`RESERVED_OPEN_FILES`].
    pub min_open_files: u64,
}

impl Requirements {
    /// Shards on `cpus`, with the default open-file floor.
    pub fn new(cpus: &[usize]) -> Requirements {
        Requirements {
            cpus: cpus.to_vec(),
            min_open_files: RESERVED_OPEN_FILES,
        }
    }

    /// Sets [`Requirements::min_open_files`] to [`RESERVED_OPEN_FILES`] plus `connections`,
    /// the most connections the server must hold open at once (one descriptor each).
    pub fn with_connections(mut self, connections: u64) -> Requirements {
        self.min_open_files = RESERVED_OPEN_FILES.saturating_add(connections);
        self
    }
}

/// Why the host cannot run ringpin. Each message names the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PreflightError {
    /// The kernel is older than [`MIN_KERNEL`].
    KernelTooOld {
        /// The release string, as `uname -r` prints it.
        release: String,
    },
    /// `io_uring_setup` failed with `EPERM` and `kernel.io_uring_disabled` is not the value
    /// `tuning/recommended.tsv` asks for (0).
    IoUringDisabled {
        /// The sysctl's value: 1 (one group only) or 2 (off).
        value: u32,
    },
    /// `io_uring_setup` failed with `EPERM` although the sysctl allows it: a seccomp filter.
    IoUringBlocked,
    /// `io_uring_setup` failed with `ENOSYS`: no io_uring in the kernel, or hidden by seccomp.
    IoUringMissing,
    /// `io_uring_setup` failed for another reason.
    IoUringSetupFailed {
        /// The errno.
        errno: i32,
    },
    /// The soft `RLIMIT_MEMLOCK` is below [`GLOMMIO_MIN_MEMLOCK_BYTES`].
    MemlockTooLow {
        /// The limit found, in bytes.
        limit: ResourceLimit,
    },
    /// The soft `RLIMIT_NOFILE` is below [`Requirements::min_open_files`].
    OpenFilesTooLow {
        /// The limit found, in descriptors.
        limit: ResourceLimit,
        /// The floor it missed.
        needed: u64,
    },
    /// A requested CPU is not online.
    CpuOffline {
        /// The CPU.
        cpu: usize,
        /// The online CPUs.
        online: Vec<usize>,
    },
    /// A requested CPU is outside the process's affinity mask.
    CpuOutsideMask {
        /// The CPU.
        cpu: usize,
        /// The mask.
        mask: Vec<usize>,
    },
}

/// Gathers this host's facts and checks them for shards on `cpus`; the engine calls it before
/// starting any shard.
pub fn preflight(cpus: &[usize]) -> Result<(), PreflightError> {
    let facts = HostFacts::gather();
    log::debug!("preflight: {facts:?}");
    check_facts(&facts, &Requirements::new(cpus))
}

/// Checks `facts` against `needs`, in this order: kernel, io_uring, locked memory, open files,
/// CPUs. Returns the first failure. Pure: no I/O, so every failure can be tested anywhere.
pub fn check_facts(facts: &HostFacts, needs: &Requirements) -> Result<(), PreflightError> {
    check_kernel(facts)?;
    check_io_uring(facts)?;
    check_limits(facts, needs)?;
    check_cpus(facts, &needs.cpus)
}

fn check_kernel(facts: &HostFacts) -> Result<(), PreflightError> {
    // An unparsable release is left to the io_uring probe rather than refused.
    let Some(release) = &facts.kernel_release else {
        return Ok(());
    };
    match kernel_version(release) {
        Some(version) if version < MIN_KERNEL => Err(PreflightError::KernelTooOld {
            release: release.clone(),
        }),
        _ => Ok(()),
    }
}

fn check_io_uring(facts: &HostFacts) -> Result<(), PreflightError> {
    // The sysctl alone does not decide: at 1, members of kernel.io_uring_group may still use
    // io_uring, so only a failed probe is an error; the sysctl says which fix to name.
    let Err(errno) = facts.io_uring_setup else {
        return Ok(());
    };
    Err(match (errno, facts.io_uring_disabled) {
        (libc::EPERM, Some(value)) if value != io_uring_enabled_value() => {
            PreflightError::IoUringDisabled { value }
        }
        (libc::EPERM, _) => PreflightError::IoUringBlocked,
        (libc::ENOSYS, _) => PreflightError::IoUringMissing,
        (errno, _) => PreflightError::IoUringSetupFailed { errno },
    })
}

fn check_limits(facts: &HostFacts, needs: &Requirements) -> Result<(), PreflightError> {
    if let Some(limit) = facts.memlock {
        if limit.soft < GLOMMIO_MIN_MEMLOCK_BYTES {
            return Err(PreflightError::MemlockTooLow { limit });
        }
    }
    if let Some(limit) = facts.open_files {
        if limit.soft < needs.min_open_files {
            return Err(PreflightError::OpenFilesTooLow {
                limit,
                needed: needs.min_open_files,
            });
        }
    }
    Ok(())
}

fn check_cpus(facts: &HostFacts, cpus: &[usize]) -> Result<(), PreflightError> {
    for &cpu in cpus {
        if let Some(online) = &facts.online_cpus {
            if !online.contains(&cpu) {
                return Err(PreflightError::CpuOffline {
                    cpu,
                    online: online.clone(),
                });
            }
        }
        if let Some(mask) = &facts.affinity_mask {
            if !mask.contains(&cpu) {
                return Err(PreflightError::CpuOutsideMask {
                    cpu,
                    mask: mask.clone(),
                });
            }
        }
    }
    Ok(())
}

impl fmt::Display for PreflightError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PreflightError::KernelTooOld { release } => write!(
                f,
                "kernel {release} is too old: ringpin needs Linux {}.{} or newer (glommio's \
                 io_uring operations); upgrade the kernel or run on a newer host",
                MIN_KERNEL.0, MIN_KERNEL.1
            ),
            PreflightError::IoUringDisabled { value } => {
                let enabled = io_uring_enabled_value();
                write!(
                    f,
                    "io_uring is disabled (kernel.io_uring_disabled={value}): run `sysctl -w \
                     kernel.io_uring_disabled={enabled}` (persist it in /etc/sysctl.d/) or \
                     `ringpin-tune apply --yes`"
                )?;
                if *value == 1 {
                    f.write_str(
                        ", or run ringpin as a member of the group in kernel.io_uring_group",
                    )?;
                }
                Ok(())
            }
            PreflightError::IoUringBlocked => f.write_str(
                "io_uring_setup failed with EPERM: a seccomp profile blocks io_uring (Docker's \
                 default does): run the container with `--security-opt seccomp=unconfined` or a \
                 profile that allows io_uring_setup/io_uring_enter/io_uring_register \
                 (Kubernetes: a Localhost seccompProfile)",
            ),
            PreflightError::IoUringMissing => f.write_str(
                "io_uring_setup failed with ENOSYS: the kernel has no io_uring \
                 (CONFIG_IO_URING=n) or a seccomp profile older than io_uring hides it: use a \
                 kernel built with CONFIG_IO_URING=y, or a profile that allows \
                 io_uring_setup/io_uring_enter/io_uring_register",
            ),
            PreflightError::IoUringSetupFailed { errno } => {
                write!(
                    f,
                    "io_uring_setup failed: {}",
                    io::Error::from_raw_os_error(*errno)
                )?;
                if *errno == libc::ENOMEM {
                    // Before Linux 5.12 the rings themselves are charged to RLIMIT_MEMLOCK.
                    f.write_str(
                        ": raise RLIMIT_MEMLOCK (`ulimit -l unlimited`, LimitMEMLOCK=infinity)",
                    )?;
                }
                Ok(())
            }
            PreflightError::MemlockTooLow { limit } => write!(
                f,
                "RLIMIT_MEMLOCK is {} (hard {}), glommio needs at least {}: `ulimit -l \
                 unlimited` (raising the hard limit needs root), LimitMEMLOCK=infinity in the \
                 systemd unit, or `docker run --ulimit memlock=-1:-1`",
                format_bytes(limit.soft),
                format_bytes(limit.hard),
                format_bytes(GLOMMIO_MIN_MEMLOCK_BYTES)
            ),
            PreflightError::OpenFilesTooLow { limit, needed } => {
                let recommended = recommended_open_files();
                write!(
                    f,
                    "RLIMIT_NOFILE is {} open files (hard {}), ringpin needs at least {needed}: \
                     `ulimit -n {recommended}`, LimitNOFILE={recommended} in the systemd unit, \
                     or `docker run --ulimit nofile={recommended}:{recommended}`",
                    format_count(limit.soft),
                    format_count(limit.hard)
                )
            }
            PreflightError::CpuOffline { cpu, online } => write!(
                f,
                "CPU {cpu} is not online (online: {}): pick CPUs from that list (--cores, \
                 Config::cpus) or bring it online (`echo 1 > \
                 /sys/devices/system/cpu/cpu{cpu}/online`)",
                format_cpu_list(online)
            ),
            PreflightError::CpuOutsideMask { cpu, mask } => write!(
                f,
                "CPU {cpu} is outside this process's affinity mask ({}): widen the mask \
                 (`taskset -c`, systemd CPUAffinity=, `docker run --cpuset-cpus`, a Kubernetes \
                 integer CPU request) or pick CPUs inside it",
                format_cpu_list(mask)
            ),
        }
    }
}

impl std::error::Error for PreflightError {}

impl From<PreflightError> for io::Error {
    fn from(error: PreflightError) -> io::Error {
        let kind = match &error {
            PreflightError::KernelTooOld { .. } | PreflightError::IoUringMissing => {
                io::ErrorKind::Unsupported
            }
            PreflightError::IoUringDisabled { .. } | PreflightError::IoUringBlocked => {
                io::ErrorKind::PermissionDenied
            }
            PreflightError::IoUringSetupFailed { errno } => {
                io::Error::from_raw_os_error(*errno).kind()
            }
            PreflightError::MemlockTooLow { .. } | PreflightError::OpenFilesTooLow { .. } => {
                io::ErrorKind::Other
            }
            PreflightError::CpuOffline { .. } | PreflightError::CpuOutsideMask { .. } => {
                io::ErrorKind::InvalidInput
            }
        };
        io::Error::new(kind, error)
    }
}

/// The `kernel.io_uring_disabled` value `tuning/recommended.tsv` recommends: io_uring on.
fn io_uring_enabled_value() -> u32 {
    recommended_value("kernel.io_uring_disabled")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

/// The `RLIMIT_NOFILE` `tuning/recommended.tsv` recommends (`>=N`), to name in the fix.
fn recommended_open_files() -> u64 {
    recommended_value("rlimit.nofile")
        .and_then(|value| value.strip_prefix(">="))
        .and_then(|value| value.parse().ok())
        .unwrap_or(1 << 20)
}

/// The latency-profile column of `key`'s row in `tuning/recommended.tsv`, read the way
/// `ringpin-tune` reads it: tab-separated `key path latency throughput why risk mode`.
fn recommended_value(key: &str) -> Option<&'static str> {
    RECOMMENDED
        .lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let mut columns = line.split('\t');
            if columns.next()? != key {
                return None;
            }
            columns.nth(1)
        })
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|text| text.trim().to_string())
}

/// One limit from `/proc/self/limits`: `Max locked memory  8388608  8388608  bytes`.
fn parse_limit(limits: &str, name: &str) -> Option<ResourceLimit> {
    let line = limits.lines().find_map(|line| line.strip_prefix(name))?;
    let mut values = line.split_whitespace().map(|value| match value {
        "unlimited" => Some(ResourceLimit::UNLIMITED),
        number => number.parse().ok(),
    });
    Some(ResourceLimit {
        soft: values.next()??,
        hard: values.next()??,
    })
}

/// Whether the running kernel is at least `min` (`(major, minor)`); `true` when its release
/// cannot be read or parsed, leaving the verdict to the system calls themselves.
pub(crate) fn kernel_at_least(min: (u32, u32)) -> bool {
    read_trimmed("/proc/sys/kernel/osrelease")
        .and_then(|release| kernel_version(&release))
        .is_none_or(|version| version >= min)
}

/// `(major, minor)` from a release such as `6.1.0-18-amd64` or `5.15-rc2`.
fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split('.').map(|part| {
        let digits = part.split(|c: char| !c.is_ascii_digit()).next()?;
        digits.parse::<u32>().ok()
    });
    Some((parts.next()??, parts.next()??))
}

fn format_bytes(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    match bytes {
        ResourceLimit::UNLIMITED => "unlimited".to_string(),
        b if b >= MIB && b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b >= KIB && b % KIB == 0 => format!("{} KiB", b / KIB),
        b => format!("{b} bytes"),
    }
}

fn format_count(count: u64) -> String {
    match count {
        ResourceLimit::UNLIMITED => "unlimited".to_string(),
        n => n.to_string(),
    }
}

/// `taskset -c` syntax: `[0, 1, 2, 3, 6]` -> `0-3,6`.
fn format_cpu_list(cpus: &[usize]) -> String {
    let mut sorted = cpus.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for cpu in sorted {
        match ranges.last_mut() {
            Some((_, last)) if *last + 1 == cpu => *last = cpu,
            _ => ranges.push((cpu, cpu)),
        }
    }
    let parts: Vec<String> = ranges
        .into_iter()
        .map(|(first, last)| {
            if first == last {
                first.to_string()
            } else {
                format!("{first}-{last}")
            }
        })
        .collect();
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_tuning_table() {
        assert_eq!(recommended_value("kernel.io_uring_disabled"), Some("0"));
        assert_eq!(io_uring_enabled_value(), 0);
        assert_eq!(recommended_value("rlimit.nofile"), Some(">=1048576"));
        assert_eq!(recommended_open_files(), 1_048_576);
        assert_eq!(recommended_value("no.such.key"), None);
    }

    #[test]
    fn parses_kernel_releases() {
        assert_eq!(kernel_version("6.1.0-18-amd64"), Some((6, 1)));
        assert_eq!(kernel_version("5.4.0-150-generic"), Some((5, 4)));
        assert_eq!(kernel_version("5.15-rc2"), Some((5, 15)));
        assert_eq!(kernel_version("6.18.44-fc-v595"), Some((6, 18)));
        assert_eq!(kernel_version("linux"), None);
        assert_eq!(kernel_version("6"), None);
    }

    #[test]
    fn parses_proc_self_limits() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1024                 524288               files     \n\
                      Max locked memory         unlimited            unlimited            bytes     \n";
        assert_eq!(
            parse_limit(limits, "Max open files"),
            Some(ResourceLimit {
                soft: 1024,
                hard: 524_288
            })
        );
        assert_eq!(
            parse_limit(limits, "Max locked memory"),
            Some(ResourceLimit {
                soft: ResourceLimit::UNLIMITED,
                hard: ResourceLimit::UNLIMITED
            })
        );
        assert_eq!(parse_limit(limits, "Max processes"), None);
    }

    #[test]
    fn formats_for_humans() {
        assert_eq!(format_bytes(64 * 1024), "64 KiB");
        assert_eq!(format_bytes(8 << 20), "8 MiB");
        assert_eq!(format_bytes(1000), "1000 bytes");
        assert_eq!(format_bytes(ResourceLimit::UNLIMITED), "unlimited");
        assert_eq!(format_cpu_list(&[6, 0, 1, 2, 3]), "0-3,6");
        assert_eq!(format_cpu_list(&[]), "none");
    }
}
