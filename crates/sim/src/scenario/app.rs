//! The simulated application: clients doing read-through caching. A read that misses goes to the "database"
//! and, after the fill latency, writes the value back (to the right key, to the wrong one, or not at all when
//! the fault says so). A discrete-event queue keeps every request in time order, so concurrent misses of one
//! key pile up as they would in production.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use cachescope_core::{Command, Event, FlushScope, Micros, Outcome, TtlChange, WriteCondition};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp, Zipf};

use super::Scenario;
use super::keys::unit;
use crate::model::exact_lru;

/// How a workload picks the id of its next read.
#[derive(Debug, Clone, Copy)]
pub enum KeyChoice {
    /// Popular ids far more often than others.
    Zipf {
        keys: u64,
        exponent: f64,
    },
    Uniform {
        keys: u64,
    },
    /// A new id every time.
    Fresh,
    /// One key only.
    One,
    /// Every id comes back about every `interval` (sessions).
    Periodic {
        keys: u64,
        interval: Micros,
    },
}

/// What the application does after a miss.
#[derive(Debug, Clone, Copy)]
pub enum Fill {
    /// Writes the value back under the key it read.
    SameKey,
    /// Writes under another key format: the pattern and the formatter of the key it writes.
    OtherKey(&'static str, fn(u64) -> String),
    /// For this share of ids the value fails to serialize and nothing is written.
    FailsFor(f64),
}

/// One kind of request of the application: a key pattern and how it is read and filled.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The pattern its keys fold to.
    pub pattern: &'static str,
    pub key: fn(u64) -> String,
    pub db: u32,
    pub choice: KeyChoice,
    /// Reads per second, on average (Periodic workloads derive theirs from the interval).
    pub rate: f64,
    pub value_bytes: u32,
    pub ttl: Option<Micros>,
    /// Time from a miss to the write that refills it.
    pub fill_latency: Micros,
    pub fill: Fill,
}

impl Workload {
    pub fn new(pattern: &'static str, key: fn(u64) -> String) -> Self {
        Workload {
            pattern,
            key,
            db: 0,
            choice: KeyChoice::Uniform { keys: 1_000 },
            rate: 10.0,
            value_bytes: 100,
            ttl: None,
            fill_latency: 20_000,
            fill: Fill::SameKey,
        }
    }
    pub fn keys(mut self, choice: KeyChoice) -> Self {
        self.choice = choice;
        self
    }
    pub fn rate(mut self, per_second: f64) -> Self {
        self.rate = per_second;
        self
    }
    pub fn value_bytes(mut self, bytes: u32) -> Self {
        self.value_bytes = bytes;
        self
    }
    pub fn ttl(mut self, ttl: Micros) -> Self {
        self.ttl = Some(ttl);
        self
    }
    pub fn db(mut self, db: u32) -> Self {
        self.db = db;
        self
    }
    pub fn fill(mut self, fill: Fill) -> Self {
        self.fill = fill;
        self
    }
    pub fn fill_latency(mut self, latency: Micros) -> Self {
        self.fill_latency = latency;
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    /// The next read of a workload (Poisson arrivals).
    Arrival {
        workload: usize,
    },
    /// The next read of one id of a periodic workload.
    Revisit {
        workload: usize,
        id: u64,
    },
    /// The write that refills a miss.
    Fill {
        workload: usize,
        id: u64,
        client: u32,
    },
    Flush {
        db: u32,
    },
}

/// Simulated clients: enough for concurrent misses of a hot key to come from different ones.
const CLIENTS: u32 = 64;

impl Scenario {
    /// Runs the scenario: every event in time order to `sink`, and the share of simulated time done to
    /// `progress` now and then.
    pub fn run(&self, sink: &mut dyn FnMut(&Event<'_>), progress: &mut dyn FnMut(f64)) {
        let mut rng = SmallRng::seed_from_u64(self.seed);
        let mut cache = exact_lru(Some(self.cache_capacity));
        let mut queue: BinaryHeap<Reverse<(Micros, u64, Action)>> = BinaryHeap::new();
        let mut sequence = 0u64;
        let mut schedule = |queue: &mut BinaryHeap<_>, at: Micros, action: Action| {
            sequence += 1;
            queue.push(Reverse((at, sequence, action)));
        };
        let zipfs: Vec<Option<Zipf<f64>>> = self
            .workloads
            .iter()
            .map(|w| match w.choice {
                KeyChoice::Zipf { keys, exponent } => Some(Zipf::new(keys as f64, exponent).expect("valid zipf")),
                _ => None,
            })
            .collect();
        for (index, workload) in self.workloads.iter().enumerate() {
            match workload.choice {
                KeyChoice::Periodic { keys, interval } => {
                    for id in 0..keys {
                        schedule(&mut queue, rng.random_range(0..interval), Action::Revisit { workload: index, id });
                    }
                }
                _ => {
                    let first = next_arrival(&mut rng, workload.rate);
                    schedule(&mut queue, first, Action::Arrival { workload: index });
                }
            }
        }
        for &(db, at) in &self.flushes {
            schedule(&mut queue, at, Action::Flush { db });
        }

        let mut fresh_ids = 0u64;
        let mut reported = 0;
        while let Some(Reverse((now, _, action))) = queue.pop() {
            if now > self.duration {
                break;
            }
            if now / 1_000_000 > reported {
                reported = now / 1_000_000;
                progress(now as f64 / self.duration as f64);
            }
            let (workload_index, id, client) = match action {
                Action::Arrival { workload } => {
                    let w = &self.workloads[workload];
                    let id = match w.choice {
                        KeyChoice::Zipf { .. } => zipfs[workload].as_ref().expect("zipf").sample(&mut rng) as u64 - 1,
                        KeyChoice::Uniform { keys } => rng.random_range(0..keys),
                        KeyChoice::Fresh => {
                            fresh_ids += 1;
                            fresh_ids
                        }
                        KeyChoice::One | KeyChoice::Periodic { .. } => 0,
                    };
                    let at = now + next_arrival(&mut rng, w.rate);
                    schedule(&mut queue, at, Action::Arrival { workload });
                    (workload, id, rng.random_range(0..CLIENTS))
                }
                Action::Revisit { workload, id } => {
                    if let KeyChoice::Periodic { interval, .. } = self.workloads[workload].choice {
                        let next = (interval as f64 * rng.random_range(0.7..1.3)) as Micros;
                        schedule(&mut queue, now + next, Action::Revisit { workload, id });
                    }
                    (workload, id, rng.random_range(0..CLIENTS))
                }
                Action::Fill { workload, id, client } => {
                    let w = &self.workloads[workload];
                    let key = match w.fill {
                        Fill::OtherKey(_, format) => format(id),
                        _ => (w.key)(id),
                    };
                    let ttl = w.ttl.map_or(TtlChange::Persist, |ttl| TtlChange::ExpireIn(ttl / 1_000));
                    let mut event = Event::write(now, key.as_bytes(), ttl)
                        .with_db(w.db)
                        .with_client(client)
                        .with_value_size(w.value_bytes);
                    event.command = Command::Write(WriteCondition::Always);
                    event.outcome = cache.apply(&event.with_outcome(Outcome::Unobserved));
                    sink(&event);
                    continue;
                }
                Action::Flush { db } => {
                    let event = Event::keyless(now, Command::Flush(FlushScope::Db)).with_db(db);
                    cache.apply(&event);
                    sink(&event);
                    continue;
                }
            };
            let w = &self.workloads[workload_index];
            let key = (w.key)(id);
            let mut event = Event::read(now, key.as_bytes(), Outcome::Unobserved).with_db(w.db).with_client(client);
            event.outcome = cache.apply(&event);
            if event.outcome == Outcome::Hit {
                event.value_size = w.value_bytes;
            }
            sink(&event);
            if event.outcome == Outcome::Miss {
                let fills = match w.fill {
                    Fill::FailsFor(share) => unit(id, 99) >= share,
                    Fill::SameKey | Fill::OtherKey(..) => true,
                };
                if fills {
                    schedule(&mut queue, now + w.fill_latency, Action::Fill { workload: workload_index, id, client });
                }
            }
        }
        progress(1.0);
    }
}

fn next_arrival(rng: &mut SmallRng, rate: f64) -> Micros {
    let gap: f64 = Exp::new(rate).expect("positive rate").sample(rng);
    ((gap * 1e6) as Micros).max(1)
}
