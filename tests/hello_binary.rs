//! The `hello` example as users run it: flags, environment, the start-up log, SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::hello_binary;

/// Starts hello, returns the child and the address and shard map it logged.
fn launch(args: &[&str], env: &[(&str, &str)]) -> (std::process::Child, String, String) {
    let mut cmd = Command::new(hello_binary());
    cmd.args(args)
        .env("RUST_LOG", "info")
        .env_remove("RINGPIN_ADDR")
        .env_remove("RINGPIN_CORES")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("hello starts (is the example built?)");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(rest) = line.split("ringpin listening on ").nth(1) {
            let (addr, map) = rest
                .split_once("; shards -> CPUs: ")
                .expect("shard map logged");
            return (child, addr.to_string(), map.to_string());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("hello did not log its address");
}

fn stop(mut child: std::process::Child) -> std::process::ExitStatus {
    // SIGTERM drains; the example opts in to signal handling.
    let pid = child.id().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    let mut exited = None;
    common::wait_until(
        Duration::from_secs(15),
        Duration::from_millis(20),
        "hello did not exit after SIGTERM",
        || {
            exited = child.try_wait().expect("wait");
            exited.is_some()
        },
    );
    exited.expect("exited")
}

#[test]
fn flags_pick_address_and_cores_and_sigterm_exits_cleanly() {
    let cpu = ringpin::affinity_mask().expect("mask")[0];
    let (child, addr, map) = launch(&["--addr", "127.0.0.1:0", "--cores", &cpu.to_string()], &[]);
    assert_eq!(map, format!("0->{cpu}"));
    let body = ureq::get(&format!("http://{addr}/"))
        .call()
        .expect("GET /")
        .into_string()
        .expect("body");
    assert_eq!(body, "Hello, World!");
    assert!(stop(child).success(), "clean exit after drain");
}

#[test]
fn environment_variables_work_like_flags() {
    let mask = ringpin::affinity_mask().expect("mask");
    let list = mask
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let (child, addr, map) = launch(
        &[],
        &[("RINGPIN_ADDR", "127.0.0.1:0"), ("RINGPIN_CORES", &list)],
    );
    assert!(addr.starts_with("127.0.0.1:"));
    assert_eq!(
        map.split(' ').count(),
        mask.len(),
        "one shard per CPU: {map}"
    );
    assert!(stop(child).success());
}

#[test]
fn a_bad_core_list_is_a_clear_error() {
    let output = Command::new(hello_binary())
        .args(["--addr", "127.0.0.1:0", "--cores", "5-2"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad CPU range"), "{stderr}");
}

/// CPU time (user + system) of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after_name = stat.rsplit_once(')').expect("comm").1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after "state".
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

#[test]
fn descriptor_exhaustion_neither_crashes_nor_spins() {
    let cpu = ringpin::affinity_mask().expect("mask")[0];
    let mut cmd = Command::new("prlimit");
    cmd.args(["--nofile=1100:1100", "--"])
        .arg(hello_binary())
        .args(["--addr", "127.0.0.1:0", "--cores", &cpu.to_string()]);
    cmd.env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("prlimit runs hello");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hello did not start under prlimit");
        };
        if let Some(rest) = line.split("ringpin listening on ").nth(1) {
            break rest.split(';').next().expect("addr").to_string();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    // More connections than the server has descriptors: accept hits EMFILE.
    let flood: Vec<std::net::TcpStream> = (0..1300)
        .filter_map(|_| std::net::TcpStream::connect(&addr).ok())
        .collect();
    assert!(
        flood.len() > 1100,
        "the backlog takes the overflow: {}",
        flood.len()
    );
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_ticks(child.id());
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(child.id()) - before;
    // 100 ticks = one core for the second; a spinning accept loop would use most of it.
    assert!(
        used < 30,
        "accept spins while out of descriptors: {used} ticks in 1 s"
    );
    assert!(child.try_wait().expect("wait").is_none(), "server crashed");
    drop(flood);
    std::thread::sleep(Duration::from_millis(300));
    let body = ureq::get(&format!("http://{addr}/"))
        .timeout(Duration::from_secs(10))
        .call()
        .expect("served again once descriptors are free")
        .into_string()
        .expect("body");
    assert_eq!(body, "Hello, World!");
    assert!(stop(child).success());
}
