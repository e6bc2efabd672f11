//! What the tests of the ways to split an analysis share: a trace whose report any split must give exactly,
//! and that report from one engine.

use cachescope_core::{Command, Engine, EngineConfig, Event, Outcome, OwnedEvent, Report, Shard, TtlChange};

/// Events over 60 keys (few enough that every sketch holds them all, so that any split gives the very same
/// report): reads that hit and miss, writes with TTLs, failed writes, deletes, a flush and a marker part-way,
/// times mostly forward with jumps back, jumps ahead, and times off the clock.
pub fn events() -> Vec<OwnedEvent> {
    let mut events = Vec::new();
    let mut time = 1_000_000_000u64;
    for i in 0..20_000u64 {
        time += 1 + (i * 7919) % 5_000;
        let key = format!("{}:{}", ["user", "session", "cart"][(i % 3) as usize], (i * 31) % 20);
        let mut event = match i % 7 {
            0 | 3 => Event::write(time, key.as_bytes(), TtlChange::ExpireIn(30_000 + i % 5 * 10_000)),
            5 => Event { command: Command::Delete, ..Event::read(time, key.as_bytes(), Outcome::Ok) },
            _ => Event::read(time, key.as_bytes(), if i % 4 == 0 { Outcome::Miss } else { Outcome::Hit }),
        };
        event.outcome = match event.command {
            Command::Write(_) if i % 11 == 0 => Outcome::Error(cachescope_core::ErrorKind::Oom),
            Command::Write(_) => Outcome::Ok,
            _ => event.outcome,
        };
        event.client = (i % 5) as u32;
        event.time = match i % 1009 {
            17 => 5,                                // before the first: off the clock
            18 => time + 30 * 366 * 86_400_000_000, // decades ahead: off the clock
            19 => time + 600_000_000,               // ten minutes ahead of the events after it
            20 => 5,                                // off the clock just after: counted at its latest
            21 => time.saturating_sub(60_000_000),  // a minute back
            _ => event.time,
        };
        events.push(OwnedEvent::from(&event.with_value_size(100 + (i % 13) as u32)));
        if i == 9_000 {
            events.push(OwnedEvent::from(&Event::keyless(time, Command::Flush(cachescope_core::FlushScope::All))));
        }
        if i == 12_000 {
            events.push(OwnedEvent::from(&Event { key: b"deploy:v2", ..Event::keyless(time, Command::Marker) }));
        }
    }
    events
}

pub fn one_engine(events: &[OwnedEvent], shard: Shard) -> Report {
    let mut engine = Engine::new(EngineConfig { shard, ..EngineConfig::default() });
    events.iter().for_each(|event| engine.observe(&event.as_event()));
    engine.into_partial().report()
}
