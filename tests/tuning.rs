//! Drives `tuning/ringpin-tune` against a fake root, and read-only against the real host.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

/// A stock host as the kernel prints it: the shapes of the real files, untuned values.
const STOCK: &[(&str, &str)] = &[
    ("proc/sys/net/core/somaxconn", "4096\n"),
    ("proc/sys/net/ipv4/tcp_max_syn_backlog", "2048\n"),
    ("proc/sys/net/core/netdev_max_backlog", "1000\n"),
    ("proc/sys/net/core/busy_read", "0\n"),
    ("proc/sys/net/core/busy_poll", "0\n"),
    ("proc/sys/net/ipv4/ip_local_port_range", "32768\t60999\n"),
    ("proc/sys/net/ipv4/tcp_tw_reuse", "2\n"),
    ("proc/sys/fs/file-max", "9223372036854775807\n"),
    ("proc/sys/kernel/io_uring_disabled", "0\n"),
    // kernel.numa_balancing is left out: a missing item must show as n/a, not fail.
    ("proc/sys/vm/swappiness", "60\n"),
    (
        "proc/cmdline",
        "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet\n",
    ),
    (
        "proc/self/limits",
        "Limit                     Soft Limit           Hard Limit           Units     \n\
         Max open files            1024                 524288               files     \n\
         Max locked memory         8388608              8388608              bytes     \n",
    ),
    ("proc/irq/24/smp_affinity_list", "0-1\n"),
    ("proc/irq/25/smp_affinity_list", "0\n"),
    ("sys/devices/system/cpu/online", "0-1\n"),
    (
        "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor",
        "powersave\n",
    ),
    (
        "sys/devices/system/cpu/cpu1/cpufreq/scaling_governor",
        "schedutil\n",
    ),
    ("sys/devices/system/cpu/cpu0/cpuidle/state0/name", "POLL\n"),
    ("sys/devices/system/cpu/cpu0/cpuidle/state0/latency", "0\n"),
    ("sys/devices/system/cpu/cpu0/cpuidle/state0/disable", "0\n"),
    ("sys/devices/system/cpu/cpu0/cpuidle/state1/name", "C6\n"),
    (
        "sys/devices/system/cpu/cpu0/cpuidle/state1/latency",
        "170\n",
    ),
    ("sys/devices/system/cpu/cpu0/cpuidle/state1/disable", "0\n"),
    (
        "sys/kernel/mm/transparent_hugepage/enabled",
        "[always] madvise never\n",
    ),
    ("sys/class/net/eth0/queues/rx-0/rps_cpus", "0\n"),
    ("sys/class/net/eth0/queues/tx-0/xps_cpus", "1\n"),
    ("sys/class/net/eth0/queues/tx-1/xps_cpus", "2\n"),
];

const BACKUP_DIR: &str = "var/lib/ringpin-tune";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning/ringpin-tune")
}

/// A directory under the system temp dir, removed when dropped (also when a test panics).
struct TempRoot(PathBuf);

impl TempRoot {
    fn new(tag: &str) -> TempRoot {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("ringpin-tune-{tag}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).expect("create temp root");
        TempRoot(dir)
    }

    fn with_files(tag: &str, files: &[(&str, &str)]) -> TempRoot {
        let root = TempRoot::new(tag);
        for (rel, content) in files {
            root.write(rel, content);
        }
        root
    }

    fn write(&self, rel: &str, content: &str) {
        let path = self.0.join(rel);
        fs::create_dir_all(path.parent().expect("file has a parent")).expect("mkdir");
        fs::write(&path, content).expect("write fake file");
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.0.join(rel)).expect("read fake file")
    }

    fn arg(&self) -> &str {
        self.0.to_str().expect("temp path is UTF-8")
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(script())
        .args(args)
        .output()
        .expect("run tuning/ringpin-tune")
}

fn run_in(root: &TempRoot, args: &[&str]) -> Output {
    let mut all = vec!["--root", root.arg()];
    all.extend_from_slice(args);
    run(&all)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn expect_code(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: wrong exit code\nstdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Every file under `dir` (relative path -> bytes), skipping the top-level `skip` entry.
fn snapshot(dir: &Path, skip: &str) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, skip: &str, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("dir entry").path();
            let rel = path.strip_prefix(base).expect("under base").to_path_buf();
            if rel == Path::new(skip) {
                continue;
            }
            if path.is_dir() {
                walk(base, &path, skip, out);
            } else {
                out.insert(rel, fs::read(&path).expect("read file"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, skip, &mut out);
    out
}

/// One line of recommended.tsv.
struct Item {
    key: String,
    path: String,
}

fn table() -> Vec<Item> {
    let tsv =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning/recommended.tsv"))
            .expect("read tuning/recommended.tsv");
    let items: Vec<Item> = tsv
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 7, "recommended.tsv: 7 columns in {line:?}");
            Item {
                key: cols[0].to_string(),
                path: cols[1].to_string(),
            }
        })
        .collect();
    assert!(items.len() >= 20, "recommended.tsv lists every item");
    items
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("check --json is not JSON ({e}):\n{}", text(&out.stdout)))
}

fn status_of<'a>(report: &'a serde_json::Value, key: &str) -> &'a str {
    report["items"]
        .as_array()
        .expect("items array")
        .iter()
        .find(|item| item["key"] == key)
        .unwrap_or_else(|| panic!("no item {key} in the report"))["status"]
        .as_str()
        .expect("status is a string")
}

#[test]
fn apply_then_revert_restores_every_byte() {
    let root = TempRoot::with_files("roundtrip", STOCK);
    let stock = snapshot(&root.0, "var");

    let out = run_in(&root, &["check"]);
    expect_code(&out, 1, "check on a stock root");
    let report = json(&run_in(&root, &["check", "--json"]));
    assert_eq!(report["tuned"], false);
    assert_eq!(status_of(&report, "net.core.somaxconn"), "change");
    assert_eq!(status_of(&report, "mm.transparent_hugepage"), "change");
    assert_eq!(status_of(&report, "kernel.io_uring_disabled"), "ok");
    assert_eq!(status_of(&report, "kernel.numa_balancing"), "n/a");

    let out = run_in(&root, &["apply"]);
    expect_code(&out, 0, "apply dry run");
    assert!(text(&out.stdout).contains("would write"));
    assert_eq!(snapshot(&root.0, ""), stock, "a dry run writes nothing");

    // Throughput first, then latency over it: the backup must keep the values from before
    // the first apply (swappiness 60, not the 10 the throughput profile wrote).
    expect_code(
        &run_in(&root, &["apply", "--profile", "throughput", "--yes"]),
        0,
        "apply throughput",
    );
    assert_eq!(root.read("proc/sys/vm/swappiness"), "10\n");
    expect_code(&run_in(&root, &["apply", "--yes"]), 0, "apply latency");

    assert_eq!(root.read("proc/sys/net/core/somaxconn"), "65535\n");
    assert_eq!(
        root.read("proc/sys/net/ipv4/ip_local_port_range"),
        "16384 65535\n"
    );
    assert_eq!(root.read("proc/sys/vm/swappiness"), "1\n");
    assert_eq!(
        root.read("sys/kernel/mm/transparent_hugepage/enabled"),
        "madvise\n"
    );
    for cpu in ["cpu0", "cpu1"] {
        let governor = format!("sys/devices/system/cpu/{cpu}/cpufreq/scaling_governor");
        assert_eq!(root.read(&governor), "performance\n");
    }
    let backup = root.read(&format!("{BACKUP_DIR}/backup"));
    assert!(
        backup.contains("proc/sys/vm/swappiness\t60\\x0a\n"),
        "backup:\n{backup}"
    );
    assert!(backup.contains("proc/sys/net/ipv4/ip_local_port_range\t32768\\x0960999\\x0a\n"));
    assert!(backup
        .contains("sys/kernel/mm/transparent_hugepage/enabled\t[always] madvise never\\x0a\n"));
    assert!(
        !backup.contains("io_uring_disabled"),
        "untouched items are not backed up"
    );

    // Advice (C6 at 170 us, IRQs on core 1, no isolcpus) is reported but does not count.
    let out = run_in(&root, &["check", "--cores", "1"]);
    expect_code(&out, 0, "check after apply");
    let report = json(&run_in(&root, &["check", "--json", "--cores", "1"]));
    assert_eq!(report["tuned"], true);
    assert_eq!(
        report["items"].as_array().expect("items").len(),
        table().len(),
        "one JSON item per table row"
    );
    assert_eq!(status_of(&report, "cpu.cstates"), "advise");
    assert_eq!(status_of(&report, "irq.affinity"), "advise");
    assert_eq!(status_of(&report, "net.xps"), "ok");
    assert_eq!(status_of(&report, "boot.isolcpus"), "advise");
    assert_eq!(status_of(&report, "rlimit.nofile"), "advise");
    expect_code(&run_in(&root, &["check"]), 0, "latency check after apply");

    let out = run_in(&root, &["revert"]);
    expect_code(&out, 0, "revert dry run");
    assert_eq!(
        root.read("proc/sys/vm/swappiness"),
        "1\n",
        "a dry run restores nothing"
    );

    let out = run_in(&root, &["revert", "--yes"]);
    expect_code(&out, 0, "revert");
    assert_eq!(
        snapshot(&root.0, "var"),
        stock,
        "revert restores every byte"
    );
    let kept: Vec<String> = fs::read_dir(root.0.join(BACKUP_DIR))
        .expect("backup dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(kept.len(), 1, "only the renamed backup is left: {kept:?}");
    assert!(kept[0].starts_with("backup.reverted."), "{kept:?}");
    expect_code(&run_in(&root, &["check"]), 1, "check after revert");
}

#[test]
fn check_normalizes_tabs_and_bracketed_choices() {
    let root = TempRoot::with_files(
        "normalize",
        &[
            ("proc/sys/net/ipv4/ip_local_port_range", "16384\t65535\n"),
            (
                "sys/kernel/mm/transparent_hugepage/enabled",
                "always [madvise] never\n",
            ),
            (
                "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor",
                "performance\n",
            ),
            ("proc/sys/vm/swappiness", "0\n"),
        ],
    );
    let report = json(&run_in(&root, &["check", "--json"]));
    assert_eq!(status_of(&report, "net.ipv4.ip_local_port_range"), "ok");
    assert_eq!(status_of(&report, "mm.transparent_hugepage"), "ok");
    assert_eq!(status_of(&report, "cpu.governor"), "ok");
    assert_eq!(status_of(&report, "vm.swappiness"), "ok");
    assert_eq!(status_of(&report, "net.core.somaxconn"), "n/a");
    // Nothing present is off, and missing items do not fail the check.
    assert_eq!(report["tuned"], true);
    expect_code(&run_in(&root, &["apply"]), 0, "apply with nothing to do");
    assert!(!root.0.join(BACKUP_DIR).exists());
}

#[test]
fn apply_never_writes_through_a_symlink_out_of_the_root() {
    let outside = TempRoot::with_files("outside", &[("swappiness", "60\n")]);
    let root = TempRoot::with_files("escape", &[("proc/sys/net/core/somaxconn", "4096\n")]);
    fs::create_dir_all(root.0.join("proc/sys/vm")).expect("mkdir");
    std::os::unix::fs::symlink(
        outside.0.join("swappiness"),
        root.0.join("proc/sys/vm/swappiness"),
    )
    .expect("symlink");

    let out = run_in(&root, &["apply", "--yes"]);
    expect_code(&out, 3, "apply through a symlink");
    assert_eq!(outside.read("swappiness"), "60\n");
    assert_eq!(
        root.read("proc/sys/net/core/somaxconn"),
        "4096\n",
        "all or nothing"
    );
}

#[test]
fn check_on_the_host_is_read_only_and_lists_every_item() {
    let items = table();
    let before = host_snapshot(&items);
    assert!(!before.is_empty(), "found host files to watch");

    let out = run(&["check"]);
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "check exits 0 or 1: {code:?}\n{}",
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert_eq!(
        code == Some(0),
        stdout.contains("\ntuned: yes"),
        "exit code matches the verdict"
    );
    for item in &items {
        let has_row = stdout.lines().any(|line| {
            let mut words = line.split_whitespace();
            matches!(words.next(), Some("ok" | "change" | "advise" | "n/a"))
                && words.next() == Some(item.key.as_str())
        });
        assert!(has_row, "no row for {} in:\n{stdout}", item.key);
    }

    let out = run(&["check", "--json", "--cores", "0"]);
    assert!(matches!(out.status.code(), Some(0 | 1)));
    let report = json(&out);
    let keys: Vec<&str> = report["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["key"].as_str().expect("key"))
        .collect();
    let want: Vec<&str> = items.iter().map(|item| item.key.as_str()).collect();
    assert_eq!(keys, want);
    assert_eq!(report["tuned"] == true, out.status.code() == Some(0));

    assert_eq!(host_snapshot(&items), before, "check changed the host");
}

/// The host files the table names (globs expanded), plus each idle state's `disable` knob.
/// `proc/self` is skipped: it is a different process each time.
fn host_snapshot(items: &[Item]) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    for item in items
        .iter()
        .filter(|item| !item.path.starts_with("proc/self/"))
    {
        for path in expand(Path::new("/"), &item.path) {
            if path.is_dir() {
                for state in expand(&path, "state*/disable") {
                    out.insert(state.clone(), fs::read(&state).ok());
                }
            } else {
                out.insert(path.clone(), fs::read(&path).ok());
            }
        }
    }
    out
}

/// Expands `*` in each component of `pattern` below `base`; returns paths that exist.
fn expand(base: &Path, pattern: &str) -> Vec<PathBuf> {
    let mut found = vec![base.to_path_buf()];
    for part in pattern.split('/') {
        let mut next = Vec::new();
        for dir in &found {
            if !part.contains('*') {
                next.push(dir.join(part));
                continue;
            }
            let Ok(entries) = fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if wildcard(part.as_bytes(), entry.file_name().as_encoded_bytes()) {
                    next.push(entry.path());
                }
            }
        }
        found = next;
    }
    found.retain(|path| path.exists());
    found.sort();
    found
}

fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| wildcard(rest, &name[skip..])),
        Some((c, rest)) => name.first() == Some(c) && wildcard(rest, &name[1..]),
    }
}

#[test]
fn docs_describe_every_item() {
    let doc = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/tuning.md"))
        .expect("read docs/tuning.md");
    for item in table() {
        assert!(
            doc.contains(&item.key),
            "docs/tuning.md does not describe {}",
            item.key
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    let cases: &[&[&str]] = &[
        &[],
        &["frobnicate"],
        &["check", "--profile", "fastest"],
        &["check", "--profile"],
        &["check", "--yes"],
        &["check", "--cores", "two"],
        &["apply", "--json"],
        &["apply", "--cores", "1"],
        &["revert", "--profile", "latency"],
        &["check", "apply"],
        &["check", "--root", "/nonexistent/ringpin-tune-root"],
    ];
    for args in cases {
        let out = run(args);
        expect_code(&out, 2, &format!("ringpin-tune {args:?}"));
        assert!(
            text(&out.stderr).contains("usage:"),
            "{args:?} prints usage"
        );
    }
    expect_code(&run(&["--help"]), 0, "--help");
}
