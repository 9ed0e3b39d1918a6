//! The startup preflight: every failure simulated with fabricated host facts, each with its
//! own error and fix, then the real host, which must pass.

use ringpin::{check_facts, HostFacts, PreflightError, Requirements, ResourceLimit};

const KIB: u64 = 1024;

/// A host ringpin runs on: recent kernel, io_uring on, systemd's default limits, 4 CPUs.
fn healthy() -> HostFacts {
    HostFacts {
        kernel_release: Some("6.1.0-18-amd64".to_string()),
        io_uring_disabled: Some(0),
        io_uring_setup: Ok(()),
        memlock: Some(ResourceLimit {
            soft: 8192 * KIB,
            hard: 8192 * KIB,
        }),
        open_files: Some(ResourceLimit {
            soft: 1024,
            hard: 524_288,
        }),
        online_cpus: Some(vec![0, 1, 2, 3]),
        affinity_mask: Some(vec![0, 1, 2, 3]),
    }
}

fn check(facts: &HostFacts) -> Result<(), PreflightError> {
    check_facts(facts, &Requirements::new(&[0, 1]))
}

fn limit(soft: u64, hard: u64) -> Option<ResourceLimit> {
    Some(ResourceLimit { soft, hard })
}

/// A change to a healthy host.
type Tweak = fn(&mut HostFacts);

type Case = (&'static str, Tweak, PreflightError, &'static [&'static str]);

/// One line per failure: what breaks, the error it must give, and what the message must say.
fn failures() -> Vec<Case> {
    vec![
        (
            "old kernel",
            |h| h.kernel_release = Some("5.4.0-150-generic".into()),
            PreflightError::KernelTooOld {
                release: "5.4.0-150-generic".into(),
            },
            &["kernel 5.4.0-150-generic is too old", "Linux 5.8 or newer"],
        ),
        (
            "io_uring off by sysctl",
            |h| (h.io_uring_disabled, h.io_uring_setup) = (Some(2), Err(libc::EPERM)),
            PreflightError::IoUringDisabled { value: 2 },
            &[
                "io_uring is disabled (kernel.io_uring_disabled=2)",
                "`sysctl -w kernel.io_uring_disabled=0`",
            ],
        ),
        (
            "io_uring limited to a group",
            |h| (h.io_uring_disabled, h.io_uring_setup) = (Some(1), Err(libc::EPERM)),
            PreflightError::IoUringDisabled { value: 1 },
            &[
                "kernel.io_uring_disabled=1",
                "`sysctl -w kernel.io_uring_disabled=0`",
                "kernel.io_uring_group",
            ],
        ),
        (
            "seccomp (Docker's default profile)",
            |h| h.io_uring_setup = Err(libc::EPERM),
            PreflightError::IoUringBlocked,
            &[
                "io_uring_setup failed with EPERM",
                "seccomp",
                "Docker",
                "`--security-opt seccomp=unconfined`",
                "io_uring_setup/io_uring_enter/io_uring_register",
            ],
        ),
        (
            "seccomp on a kernel without the sysctl",
            |h| (h.io_uring_disabled, h.io_uring_setup) = (None, Err(libc::EPERM)),
            PreflightError::IoUringBlocked,
            &["`--security-opt seccomp=unconfined`"],
        ),
        (
            "no io_uring in the kernel",
            |h| h.io_uring_setup = Err(libc::ENOSYS),
            PreflightError::IoUringMissing,
            &["io_uring_setup failed with ENOSYS", "CONFIG_IO_URING=y"],
        ),
        (
            "io_uring_setup fails otherwise",
            |h| h.io_uring_setup = Err(libc::EACCES),
            PreflightError::IoUringSetupFailed {
                errno: libc::EACCES,
            },
            &["io_uring_setup failed: Permission denied"],
        ),
        (
            "rings charged to a tiny RLIMIT_MEMLOCK (before 5.12)",
            |h| h.io_uring_setup = Err(libc::ENOMEM),
            PreflightError::IoUringSetupFailed {
                errno: libc::ENOMEM,
            },
            &["raise RLIMIT_MEMLOCK"],
        ),
        (
            "Docker's 64 KiB RLIMIT_MEMLOCK",
            |h| h.memlock = limit(64 * KIB, 64 * KIB),
            PreflightError::MemlockTooLow {
                limit: ResourceLimit {
                    soft: 64 * KIB,
                    hard: 64 * KIB,
                },
            },
            &[
                "RLIMIT_MEMLOCK is 64 KiB (hard 64 KiB), glommio needs at least 512 KiB",
                "`ulimit -l unlimited`",
                "LimitMEMLOCK=infinity",
                "`docker run --ulimit memlock=-1:-1`",
            ],
        ),
        (
            "one byte under glommio's floor",
            |h| h.memlock = limit(512 * KIB - 1, ResourceLimit::UNLIMITED),
            PreflightError::MemlockTooLow {
                limit: ResourceLimit {
                    soft: 512 * KIB - 1,
                    hard: ResourceLimit::UNLIMITED,
                },
            },
            &["RLIMIT_MEMLOCK is 524287 bytes (hard unlimited)"],
        ),
        (
            "RLIMIT_NOFILE below the floor",
            |h| h.open_files = limit(256, 4096),
            PreflightError::OpenFilesTooLow {
                limit: ResourceLimit {
                    soft: 256,
                    hard: 4096,
                },
                needed: 1024,
            },
            &[
                "RLIMIT_NOFILE is 256 open files (hard 4096), ringpin needs at least 1024",
                "`ulimit -n 1048576`",
                "LimitNOFILE=1048576",
                "`docker run --ulimit nofile=1048576:1048576`",
            ],
        ),
        (
            "a requested CPU is offline",
            |h| h.online_cpus = Some(vec![0, 2, 3]),
            PreflightError::CpuOffline {
                cpu: 1,
                online: vec![0, 2, 3],
            },
            &["CPU 1 is not online (online: 0,2-3)", "--cores"],
        ),
        (
            "a requested CPU is outside the mask",
            |h| h.affinity_mask = Some(vec![0, 2, 3]),
            PreflightError::CpuOutsideMask {
                cpu: 1,
                mask: vec![0, 2, 3],
            },
            &[
                "CPU 1 is outside this process's affinity mask (0,2-3)",
                "`taskset -c`",
                "CPUAffinity=",
            ],
        ),
    ]
}

#[test]
fn each_failure_has_its_own_error_and_names_the_fix() {
    assert_eq!(
        check(&healthy()),
        Ok(()),
        "the fabricated healthy host passes"
    );
    for (name, breaks, expected, fix) in failures() {
        let mut facts = healthy();
        breaks(&mut facts);
        let error = check(&facts).expect_err(name);
        assert_eq!(error, expected, "{name}");
        let message = error.to_string();
        for part in fix {
            assert!(
                message.contains(part),
                "{name}: {part:?} missing from {message:?}"
            );
        }
    }
}

#[test]
fn what_still_runs_passes() {
    let passes: &[(&str, Tweak)] = &[
        ("the oldest supported kernel", |h| {
            h.kernel_release = Some("5.8.0".into())
        }),
        ("an unparsable release (the probe decides)", |h| {
            h.kernel_release = Some("linux".into())
        }),
        ("io_uring limited to a group this process is in", |h| {
            h.io_uring_disabled = Some(1)
        }),
        ("exactly glommio's floor", |h| {
            h.memlock = limit(512 * KIB, 512 * KIB)
        }),
        ("unlimited locked memory", |h| {
            h.memlock = limit(u64::MAX, u64::MAX)
        }),
        ("unlimited open files", |h| {
            h.open_files = limit(u64::MAX, u64::MAX)
        }),
        ("extra CPUs beyond the requested ones", |h| {
            h.affinity_mask = Some(vec![0, 1, 7])
        }),
    ];
    for (name, changes) in passes {
        let mut facts = healthy();
        changes(&mut facts);
        assert_eq!(check(&facts), Ok(()), "{name}");
    }
}

#[test]
fn facts_that_cannot_be_read_are_not_failures() {
    let unknown = HostFacts {
        kernel_release: None,
        io_uring_disabled: None,
        io_uring_setup: Ok(()),
        memlock: None,
        open_files: None,
        online_cpus: None,
        affinity_mask: None,
    };
    assert_eq!(check(&unknown), Ok(()));
}

#[test]
fn the_open_file_floor_grows_with_the_connections() {
    let mut facts = healthy();
    facts.open_files = limit(8192, 8192);
    let needs = Requirements::new(&[0]).with_connections(10_000);
    assert_eq!(needs.min_open_files, ringpin::RESERVED_OPEN_FILES + 10_000);
    let error = check_facts(&facts, &needs).expect_err("8192 < 11024");
    assert!(
        error.to_string().contains("ringpin needs at least 11024"),
        "{error}"
    );
    facts.open_files = limit(11_024, 11_024);
    assert_eq!(check_facts(&facts, &needs), Ok(()));
}

#[test]
fn the_first_failure_in_check_order_is_reported() {
    let mut facts = healthy();
    facts.affinity_mask = Some(vec![0]);
    facts.memlock = limit(64 * KIB, 64 * KIB);
    facts.io_uring_setup = Err(libc::EPERM);
    assert_eq!(check(&facts), Err(PreflightError::IoUringBlocked));
    facts.kernel_release = Some("4.19.0".into());
    assert!(matches!(
        check(&facts),
        Err(PreflightError::KernelTooOld { .. })
    ));
}

#[test]
fn converts_into_io_error_keeping_the_message() {
    let cases = [
        (
            PreflightError::IoUringBlocked,
            std::io::ErrorKind::PermissionDenied,
        ),
        (
            PreflightError::IoUringMissing,
            std::io::ErrorKind::Unsupported,
        ),
        (
            PreflightError::CpuOffline {
                cpu: 9,
                online: vec![0],
            },
            std::io::ErrorKind::InvalidInput,
        ),
        (
            PreflightError::MemlockTooLow {
                limit: ResourceLimit { soft: 0, hard: 0 },
            },
            std::io::ErrorKind::Other,
        ),
    ];
    for (error, kind) in cases {
        let message = error.to_string();
        let io = std::io::Error::from(error.clone());
        assert_eq!(io.kind(), kind, "{message}");
        assert_eq!(io.to_string(), message);
        let inner = io
            .get_ref()
            .and_then(|e| e.downcast_ref::<PreflightError>());
        assert_eq!(inner, Some(&error));
    }
}

#[test]
fn this_host_passes() {
    let facts = HostFacts::gather();
    println!("{facts:#?}");
    assert!(
        facts.kernel_release.is_some(),
        "/proc/sys/kernel/osrelease read"
    );
    assert!(
        facts.memlock.is_some() && facts.open_files.is_some(),
        "/proc/self/limits read"
    );
    assert_eq!(
        facts.io_uring_setup,
        Ok(()),
        "io_uring_setup works here (the engine tests need it)"
    );
    let mask = ringpin::affinity_mask().expect("affinity mask");
    assert_eq!(facts.affinity_mask.as_ref(), Some(&mask));
    assert_eq!(check_facts(&facts, &Requirements::new(&mask)), Ok(()));
    assert_eq!(ringpin::preflight(&mask), Ok(()));
}

/// The health-gate snippet in docs/operations.md ("Running it yourself"), verbatim.
#[test]
fn the_documented_health_gate_runs() -> Result<(), Box<dyn std::error::Error>> {
    let cpus = ringpin::affinity_mask()?;
    let facts = HostFacts::gather(); // creates and closes one io_uring
    println!("{facts:#?}");
    // Add .with_connections(n) to also require a descriptor for each of n connections.
    check_facts(&facts, &Requirements::new(&cpus))?;
    Ok(())
}
