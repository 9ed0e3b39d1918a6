//! Every h2o HTTP/1 fuzzing seed (`../shared/corpus/h2o-http1/seeds`, 1,972 raw client byte
//! streams, many malformed) replayed over TCP against the `hello` example: no panic, no hang
//! (each read is bounded), every answer well-formed, a refusal always last and closing, and
//! a normal request on a new connection answered after each seed. Each seed is replayed in
//! one write and again one byte per write, and must be answered the same both ways.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;

use common::replay::{escape, replay, Outcome, Split};

/// Statuses the hello handler answers with: anything else is the engine refusing.
const HANDLER_STATUSES: [u16; 3] = [200, 404, 405];

fn seeds() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/h2o-http1/seeds");
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (is ../shared/corpus present?)", dir.display()))
        .map(|entry| {
            let path = entry.expect("seed entry").path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, std::fs::read(&path).expect("seed"))
        })
        .collect();
    seeds.sort();
    assert!(seeds.len() > 1000, "expected the full seed set");
    seeds
}

fn invariants(name: &str, data: &[u8], outcome: &Outcome) {
    if let Some(at) = outcome
        .answers
        .iter()
        .position(|a| !HANDLER_STATUSES.contains(&a.status))
    {
        assert!(
            at + 1 == outcome.answers.len() && outcome.answers[at].close,
            "seed {name}: refusal not last or not closing: {:?}\n{}",
            outcome.statuses(),
            escape(data)
        );
    }
}

fn served(addr: SocketAddr, name: &str) {
    let after = replay(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", Split::OneWrite);
    assert_eq!(after.statuses(), [200], "after seed {name}");
}

/// Replays one half of the seeds (so the two halves run in parallel).
fn replay_half(half: usize) {
    let server = common::start_hello();
    let addr = server.addr();
    let (mut replayed, mut refused) = (0, 0);
    for (name, data) in seeds().iter().skip(half).step_by(2) {
        let once = replay(addr, data, Split::OneWrite);
        invariants(name, data, &once);
        let split = replay(addr, data, Split::BytePerWrite);
        assert_eq!(
            once.answers,
            split.answers,
            "seed {name}: one write and one byte per write disagree\n{}",
            escape(data)
        );
        refused += usize::from(
            once.answers
                .last()
                .is_some_and(|a| !HANDLER_STATUSES.contains(&a.status)),
        );
        served(addr, name);
        replayed += 1;
    }
    // Every shard is still alive: new connections spread over all of them.
    for _ in 0..16 {
        served(addr, "the last seed");
    }
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("{replayed} seeds replayed both ways, {refused} refused\n").as_bytes(),
    );
    server.shutdown();
    server.join().expect("clean stop after the seeds");
}

#[test]
fn seeds_first_half() {
    replay_half(0);
}

#[test]
fn seeds_second_half() {
    replay_half(1);
}
