//! `Config::steer_by_incoming_cpu`: with it, a connection goes to the shard on the CPU
//! that received its SYN. On loopback that is the connecting thread's CPU, so a client
//! pinned to a CPU must always be served by that CPU's shard.

mod common;

use std::io::{Read, Write};

use ringpin::{current_shard, Request, Response};

/// Which CPU served each of `count` new connections from a thread pinned to `cpu`.
fn serving_cpus(addr: std::net::SocketAddr, cpu: usize, count: usize) -> Vec<usize> {
    std::thread::spawn(move || {
        assert!(
            core_affinity::set_for_current(core_affinity::CoreId { id: cpu }),
            "pin the client to CPU {cpu}"
        );
        (0..count)
            .map(|_| {
                let mut stream = common::connect(addr);
                stream
                    .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .expect("write");
                let mut answer = String::new();
                stream.read_to_string(&mut answer).expect("read");
                let body = answer.rsplit("\r\n\r\n").next().unwrap_or_default();
                body.trim().parse().expect("a CPU number")
            })
            .collect()
    })
    .join()
    .expect("client thread")
}

/// A server on CPUs 0 and 1, steering or not; `None` (the test skipped, and said so) on a
/// host with fewer than two CPUs.
fn start(steer: bool) -> Option<ringpin::ServerHandle> {
    if ringpin::online_cpus().map_or(0, |cpus| cpus.len()) < 2 {
        eprintln!("skipped: needs two CPUs");
        return None;
    }
    let mut config = common::test_config().with_incoming_cpu_steering(steer);
    config.cpus = Some(vec![0, 1]);
    Some(common::start(config, |_| {
        |_: Request| async {
            Response::text(current_shard().map_or(usize::MAX, |s| s.cpu).to_string())
        }
    }))
}

#[test]
fn each_connection_is_served_on_the_cpu_that_received_it() {
    let Some(server) = start(true) else {
        return;
    };
    for cpu in [0, 1] {
        let served = serving_cpus(server.addr(), cpu, 40);
        assert!(
            served.iter().all(|&c| c == cpu),
            "client on CPU {cpu}, served on {served:?}"
        );
    }
    server.shutdown();
    server.join().expect("join");
}

#[test]
fn without_steering_the_hash_spreads_connections() {
    let Some(server) = start(false) else {
        return;
    };
    // 80 connections from one CPU: the 4-tuple hash puts some on each shard (all 80 on one
    // shard has probability 2^-79).
    let served = serving_cpus(server.addr(), 0, 80);
    assert!(served.contains(&0) && served.contains(&1), "{served:?}");
    server.shutdown();
    server.join().expect("join");
}
