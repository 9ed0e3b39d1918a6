//! sonic-rs against serde_json on the fastjson_api example's payloads.
//! `cargo bench --bench json`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde::{Deserialize, Serialize};

/// The fastjson_api user, as stored and returned.
#[derive(Serialize, Deserialize, Clone)]
struct User {
    id: u64,
    name: String,
    email: String,
}

/// The TechEmpower-style greeting of `GET /json`.
#[derive(Serialize)]
struct Message {
    message: &'static str,
}

fn users(n: usize) -> Vec<User> {
    (0..n as u64)
        .map(|id| User {
            id,
            name: format!("User Number {id}"),
            email: format!("user{id}@example.com"),
        })
        .collect()
}

/// Benchmarks both backends on `value` after checking they write the same bytes.
fn serialize_both<T: Serialize>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    value: &T,
) {
    let sonic = ringpin::to_bytes_sonic(value);
    assert_eq!(
        sonic,
        ringpin::to_bytes_serde_json(value),
        "both backends write the same JSON"
    );
    g.throughput(Throughput::Bytes(sonic.map_or(0, |b| b.len()) as u64));
    g.bench_function(BenchmarkId::new("sonic_rs", name), |b| {
        b.iter(|| ringpin::to_bytes_sonic(value))
    });
    g.bench_function(BenchmarkId::new("serde_json", name), |b| {
        b.iter(|| ringpin::to_bytes_serde_json(value))
    });
}

fn serialize(c: &mut Criterion) {
    let mut g = c.benchmark_group("serialize");
    serialize_both(
        &mut g,
        "message",
        &Message {
            message: "Hello, World!",
        },
    );
    serialize_both(&mut g, "user", &users(1)[0]);
    serialize_both(&mut g, "users_100", &users(100));
    g.finish();
}

fn deserialize(c: &mut Criterion) {
    let mut g = c.benchmark_group("deserialize");
    let one = serde_json::to_vec(&users(1)[0]).unwrap_or_default();
    let hundred = serde_json::to_vec(&users(100)).unwrap_or_default();
    g.throughput(Throughput::Bytes(one.len() as u64));
    g.bench_function(BenchmarkId::new("sonic_rs", "user"), |b| {
        b.iter(|| sonic_rs::from_slice::<User>(&one).map(|u| u.id))
    });
    g.bench_function(BenchmarkId::new("serde_json", "user"), |b| {
        b.iter(|| serde_json::from_slice::<User>(&one).map(|u| u.id))
    });
    g.throughput(Throughput::Bytes(hundred.len() as u64));
    g.bench_function(BenchmarkId::new("sonic_rs", "users_100"), |b| {
        b.iter(|| sonic_rs::from_slice::<Vec<User>>(&hundred).map(|u| u.len()))
    });
    g.bench_function(BenchmarkId::new("serde_json", "users_100"), |b| {
        b.iter(|| serde_json::from_slice::<Vec<User>>(&hundred).map(|u| u.len()))
    });
    g.finish();
}

criterion_group!(benches, serialize, deserialize);
criterion_main!(benches);
