//! The compression layer's CPU cost: each coding at a fast, the default and a small level,
//! on a 1 KiB and a 64 KiB JSON body (the same bytes `Compression::layer` compresses).
//! `cargo bench --bench compress`; a smoke run: `cargo bench --bench compress -- --quick`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringpin::compress::{Compression, Encoding};

/// A JSON array of user objects of about `bytes` bytes, like a list endpoint's answer.
fn json_body(bytes: usize) -> Vec<u8> {
    let mut body = String::from("[");
    let mut i = 0u32;
    while body.len() < bytes {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"id":{i},"name":"User Number {i}","email":"user{i}@example.com","active":{}}}"#,
            i.is_multiple_of(3)
        ));
        i += 1;
    }
    body.push(']');
    body.into_bytes()
}

/// (coding, level label, policy): the default level of the layer first.
fn policies() -> Vec<(Encoding, String, Compression)> {
    let mut all = Vec::new();
    for level in [1, 6, 9] {
        let policy = Compression::new().with_gzip_level(level);
        all.push((Encoding::Gzip, format!("gzip-{level}"), policy));
    }
    for quality in [1, 4, 11] {
        let policy = Compression::new().with_brotli_quality(quality);
        all.push((Encoding::Brotli, format!("br-{quality}"), policy));
    }
    for level in [1, 3, 19] {
        let policy = Compression::new().with_zstd_level(level);
        all.push((Encoding::Zstd, format!("zstd-{level}"), policy));
    }
    all
}

fn compress(c: &mut Criterion) {
    for (label, size) in [("1KiB", 1024), ("64KiB", 64 * 1024)] {
        let body = json_body(size);
        let mut group = c.benchmark_group(format!("compress/{label}"));
        group.throughput(Throughput::Bytes(body.len() as u64));
        for (encoding, name, policy) in policies() {
            let packed = policy.encode(encoding, &body).expect("encodes");
            eprintln!(
                "{label} {name}: {} -> {} bytes ({:.1}%)",
                body.len(),
                packed.len(),
                100.0 * packed.len() as f64 / body.len() as f64
            );
            group.bench_with_input(BenchmarkId::from_parameter(&name), &body, |b, body| {
                b.iter(|| policy.encode(encoding, body))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, compress);
criterion_main!(benches);
