//! Generates a synthetic trace for benchmarks: `events` requests over `keys` distinct keys (Zipf-distributed,
//! spread over a few key patterns), read-through (a miss is followed by a write), with outcomes from an exact LRU
//! model, in cachescope's compact format or as a Twitter cache-trace CSV (no outcomes). `compact-v1` writes the
//! compact format's first version, without blocks, as recordings of earlier versions are.
//!
//! cargo run --release --example generate_trace -- EVENTS KEYS compact|compact-v1|csv OUT

use std::io::{BufWriter, Write};

use cachescope_core::{Command, Event, Outcome, TtlChange, WriteCondition};
use cachescope_sim::exact_lru;
use cachescope_trace::TraceHeader;
use cachescope_trace::compact::{BLOCK_BYTES, CompactWriter};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};

const PATTERNS: [(&str, u64); 5] =
    [("user:{}", 3_600_000), ("session:{}:data", 30_000), ("product:{}", 0), ("cart:{}", 600_000), ("feed:{}", 60_000)];

fn key(id: u64) -> String {
    let (pattern, _) = PATTERNS[(id % PATTERNS.len() as u64) as usize];
    pattern.replace("{}", &id.to_string())
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: generate_trace EVENTS KEYS compact|compact-v1|csv OUT");
        std::process::exit(64);
    }
    let events: u64 = args[1].parse().expect("EVENTS is a number");
    let keys: u64 = args[2].parse().expect("KEYS is a number");
    let csv = args[3] == "csv";
    let out = std::path::Path::new(&args[4]);

    let mut rng = SmallRng::seed_from_u64(42);
    let zipf = Zipf::new(keys as f64, 0.9).expect("valid zipf");
    // Keys past the Zipf's reach: make every one of `keys` appear by walking new ids now and then.
    let mut fresh = 0u64;
    let mut model = exact_lru(Some(keys * 40));
    let mut compact = (!csv).then(|| {
        let file = BufWriter::with_capacity(1 << 20, std::fs::File::create(out).expect("creates the trace"));
        let blocks = (args[3] != "compact-v1").then_some(BLOCK_BYTES);
        CompactWriter::with_blocks(file, &TraceHeader::default(), blocks).expect("writes the header")
    });
    let mut text =
        csv.then(|| BufWriter::with_capacity(1 << 20, std::fs::File::create(out).expect("creates the trace")));
    let mut written = 0u64;
    let mut time = 0u64;
    while written < events {
        time += rng.random_range(1..20);
        let id = if fresh < keys && rng.random_bool(0.5) {
            fresh += 1;
            fresh - 1
        } else {
            zipf.sample(&mut rng) as u64 - 1
        };
        let key = key(id);
        let ttl_ms = PATTERNS[(id % PATTERNS.len() as u64) as usize].1;
        let client = rng.random_range(0..100);
        let mut read = Event::read(time, key.as_bytes(), Outcome::Unobserved).with_client(client);
        read.outcome = model.apply(&read);
        let ttl = if ttl_ms == 0 { TtlChange::Persist } else { TtlChange::ExpireIn(ttl_ms) };
        let mut write = Event::write(time + 500, key.as_bytes(), ttl).with_client(client).with_value_size(100);
        write.command = Command::Write(WriteCondition::Always);
        let refill = read.outcome == Outcome::Miss;
        if refill {
            write.outcome = model.apply(&write);
        }
        for event in std::iter::once(&read).chain(refill.then_some(&write)) {
            if let Some(writer) = compact.as_mut() {
                writer.write(event)?;
            }
            if let Some(writer) = text.as_mut() {
                let op = if event.command == Command::Read { "get" } else { "set" };
                let ttl = match event.ttl {
                    TtlChange::ExpireIn(ms) if event.command != Command::Read => ms / 1000,
                    _ => 0,
                };
                writeln!(writer, "{},{},{},{},{},{op},{ttl}", event.time / 1000, key, key.len(), 100, client)?;
            }
            written += 1;
        }
    }
    if let Some(writer) = compact {
        writer.finish()?.flush()?;
    }
    if let Some(mut writer) = text {
        writer.flush()?;
    }
    eprintln!("{written} events over {fresh} fresh keys (of {keys}) written to {}", out.display());
    Ok(())
}
