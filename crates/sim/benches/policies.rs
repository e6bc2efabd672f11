//! Replay speed of each eviction policy, and miss-ratio curves exact against SHARDS, on the shared OLTP trace
//! (914,145 requests of unit-size pages; `CACHESCOPE_TRACES` or `../shared/traces`). Results in BENCHMARKS.md
//! (`bench/simulate.sh` runs this and writes them).

use std::hint::black_box;
use std::path::PathBuf;

use cachescope_core::key_hash;
use cachescope_sim::mrc::{SampleCurve, Sampling, Shards};
use cachescope_sim::{ModelConfig, Policy, build};
use cachescope_trace::TraceReader;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn oltp() -> Vec<u64> {
    let dir = std::env::var_os("CACHESCOPE_TRACES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/traces"));
    let path = dir.join("OLTP.lis.zst");
    let mut reader = TraceReader::open(&path, None).unwrap_or_else(|e| {
        panic!("this benchmark replays the ARC paper's OLTP trace, not in the repository: {e}; set CACHESCOPE_TRACES to a folder holding OLTP.lis.zst (github.com/moka-rs/cache-trace, arc/)")
    });
    let mut ids = Vec::new();
    while let Some(event) = reader.next_event().expect("reads") {
        ids.push(key_hash(event.db, event.key));
    }
    ids
}

fn policies(c: &mut Criterion) {
    let ids = oltp();
    let mut group = c.benchmark_group("replay OLTP, 15,000 pages");
    group.throughput(Throughput::Elements(ids.len() as u64));
    group.sample_size(20);
    for name in
        ["allkeys-lru-exact", "allkeys-fifo", "allkeys-lfu-exact", "allkeys-random", "allkeys-lru", "allkeys-lfu"]
    {
        let policy: Policy = name.parse().unwrap();
        group.bench_with_input(BenchmarkId::from_parameter(name), &ids, |b, ids| {
            b.iter(|| {
                let mut cache = build(&ModelConfig::new(Some(15_000), policy).unit_size(true));
                let mut hits = 0u64;
                for (i, &id) in ids.iter().enumerate() {
                    hits += u64::from(cache.request(id, 1, i as u64 * 1_000));
                }
                black_box(hits)
            })
        });
    }
    group.finish();
}

fn curves(c: &mut Criterion) {
    let ids = oltp();
    let mut group = c.benchmark_group("miss-ratio curve of OLTP");
    group.throughput(Throughput::Elements(ids.len() as u64));
    group.sample_size(20);
    for (name, sampling) in [
        ("exact", Sampling::Exact),
        ("shards rate 0.1", Sampling::FixedRate(0.1)),
        ("shards rate 0.01", Sampling::FixedRate(0.01)),
        ("shards 2048 keys", Sampling::FixedSize(2048)),
    ] {
        group.bench_with_input(BenchmarkId::from_parameter(name), &ids, |b, ids| {
            b.iter(|| {
                let mut shards = Shards::new(sampling);
                let mut sample = SampleCurve::default();
                for &id in ids {
                    if let Some(s) = shards.access(id, 1) {
                        sample.record(s);
                    }
                }
                let curve = shards.curve(sample);
                black_box(curve.miss_ratio(15_000))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, policies, curves);
criterion_main!(benches);
