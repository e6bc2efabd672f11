//! The simulated application: clients doing read-through caching against a simulated server. A read that misses
//! goes to the "database" and, after the fill latency, writes the value back (or not, when the fill fails).
//! Workloads may also update their keys as the data changes (write-through) or delete them (invalidation), and
//! some clients may read a key format nobody writes (a key mismatch). A discrete-event queue keeps every request
//! in time order, so concurrent misses of one key pile up as they would in production.
//!
//! The server is a cache model that keeps a journal of what it expires and evicts: with the deletes, flushes and
//! refused writes the simulator sends, that gives the true cause of every miss ([`super::truth`]).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use cachescope_core::{Command, Event, FlushScope, Micros, Outcome, TtlChange, WriteCondition, key_hash};
use foldhash::fast::FixedState;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp, Zipf};

use super::keys::{KeyFormat, unit};
use super::truth::{MissTruth, Truth};
use super::{Incident, IncidentKind, Scenario};
use crate::model::{ModelConfig, build};

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
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fill {
    /// Writes the value back under the key it read.
    SameKey,
    /// For this share of ids the value fails to serialize and nothing is written.
    FailsFor(f64),
}

/// Some clients read another key format than the one written: their reads always miss, and their fills write
/// the workload's own format.
#[derive(Debug, Clone)]
pub struct Mismatch {
    pub reader: KeyFormat,
    /// Share of the clients that read `reader` (1: all of them).
    pub share: f64,
}

/// What a workload does when its data changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateMode {
    /// Writes the new value (write-through).
    Write,
    /// Deletes the key, so that the next read refills it (invalidation).
    Invalidate,
}

/// One kind of request of the application: a key format and how it is read and filled.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The key format written (and read, but for mismatched clients).
    pub key: KeyFormat,
    pub db: u32,
    pub choice: KeyChoice,
    /// Reads per second, on average (Periodic workloads derive theirs from the interval).
    pub rate: f64,
    pub value_bytes: u32,
    pub ttl: Option<Micros>,
    /// Time from a miss to the write that refills it.
    pub fill_latency: Micros,
    pub fill: Fill,
    pub mismatch: Option<Mismatch>,
    /// Updates per second of the data behind the keys, and what they do to the cache.
    pub updates: Option<(f64, UpdateMode)>,
    /// Each write's TTL is spread by up to this share either way (0: exact), as applications that avoid
    /// expiring a whole cold start at once do.
    pub ttl_jitter: f64,
}

impl Workload {
    pub fn new(key: KeyFormat) -> Self {
        Workload {
            key,
            db: 0,
            choice: KeyChoice::Uniform { keys: 1_000 },
            rate: 10.0,
            value_bytes: 100,
            ttl: None,
            fill_latency: 20_000,
            fill: Fill::SameKey,
            mismatch: None,
            updates: None,
            ttl_jitter: 0.0,
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
    pub fn mismatch(mut self, reader: KeyFormat, share: f64) -> Self {
        self.mismatch = Some(Mismatch { reader, share });
        self
    }
    pub fn updates(mut self, per_second: f64, mode: UpdateMode) -> Self {
        self.updates = Some((per_second, mode));
        self
    }

    /// The pattern of the keys it writes.
    pub fn pattern(&self) -> String {
        self.key.pattern()
    }

    /// Whether `client` reads the mismatched format.
    fn mismatched(&self, client: u32) -> bool {
        self.mismatch.as_ref().is_some_and(|m| f64::from(client) < m.share * f64::from(CLIENTS))
    }

    /// Whether the fill of `id` fails.
    fn fill_fails(&self, id: u64) -> bool {
        match self.fill {
            Fill::FailsFor(share) => unit(id, 99) < share,
            Fill::SameKey => false,
        }
    }
}

/// What the simulator knows of an event that the traffic does not show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Simulated {
    /// The workload whose key it is.
    pub workload: usize,
    /// The key is in the format mismatched clients read, which nobody writes.
    pub mismatched: bool,
    /// For a read miss: why, and what follows.
    pub miss: Option<SimulatedMiss>,
}

/// What the simulator knows of a read miss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimulatedMiss {
    pub truth: MissTruth,
    /// The application will not refill it: its value fails to serialize.
    pub fill_fails: bool,
    /// A refill of the key, after an earlier miss, had not landed yet.
    pub piled_up: bool,
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
    /// The next change of a workload's data.
    Update {
        workload: usize,
    },
    Incident {
        index: usize,
    },
}

/// Simulated clients: enough for concurrent misses of a hot key to come from different ones.
pub(crate) const CLIENTS: u32 = 64;

impl Scenario {
    /// Runs the scenario: every event recorded (from `record_from` on) in time order to `sink`, with what the
    /// simulator knows of it (for events of keys), and the share of simulated time done to `progress` now and
    /// then.
    pub fn run(&self, sink: &mut dyn FnMut(&Event<'_>, Option<Simulated>), progress: &mut dyn FnMut(f64)) {
        let mut rng = SmallRng::seed_from_u64(self.seed);
        let mut cache = build(&ModelConfig::new(Some(self.cache_capacity), self.policy));
        cache.keep_journal();
        let mut truth = Truth::new(self.record_from);
        let mut workloads = self.workloads.clone();
        let mut queue: BinaryHeap<Reverse<(Micros, u64, Action)>> = BinaryHeap::new();
        let mut sequence = 0u64;
        let mut schedule = |queue: &mut BinaryHeap<_>, at: Micros, action: Action| {
            sequence += 1;
            queue.push(Reverse((at, sequence, action)));
        };
        let zipfs: Vec<Option<Zipf<f64>>> = workloads
            .iter()
            .map(|w| match w.choice {
                KeyChoice::Zipf { keys, exponent } => Some(Zipf::new(keys as f64, exponent).expect("valid zipf")),
                _ => None,
            })
            .collect();
        for (index, workload) in workloads.iter().enumerate() {
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
            if let Some((rate, _)) = workload.updates {
                let first = next_arrival(&mut rng, rate);
                schedule(&mut queue, first, Action::Update { workload: index });
            }
        }
        for (index, incident) in self.incidents.iter().enumerate() {
            schedule(&mut queue, incident.at, Action::Incident { index });
        }

        // Misses waiting for their refill, by key.
        let mut pending: HashMap<u64, u32, FixedState> = HashMap::with_hasher(FixedState::default());
        let mut fresh_ids = 0u64;
        let mut reported = 0;
        // Applies an event to the server and the truth, and hands it on when recorded, with what the simulator
        // knows: `key` is the workload and whether the key is the mismatched format, `read` for reads what
        // follows a miss (fill fails, piled up) and the size of the value a hit returns.
        let mut emit = |cache: &mut Box<dyn crate::CacheModel>,
                        truth: &mut Truth,
                        event: &mut Event<'_>,
                        key: Option<(usize, bool)>,
                        read: Option<(bool, bool, u32)>| {
            let outcome = cache.apply(event);
            if !matches!(event.command, Command::Flush(_) | Command::Marker) {
                event.outcome = outcome;
            }
            let known = truth.after(&mut **cache, event, outcome);
            if let Some((.., value_bytes)) = read
                && outcome == Outcome::Hit
            {
                event.value_size = value_bytes;
            }
            if event.time >= self.record_from {
                let simulated = key.map(|(workload, mismatched)| Simulated {
                    workload,
                    mismatched,
                    miss: match (known, read) {
                        (Some(truth), Some((fill_fails, piled_up, _))) => {
                            Some(SimulatedMiss { truth, fill_fails, piled_up })
                        }
                        _ => None,
                    },
                });
                sink(event, simulated);
            }
            outcome
        };
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
                    let w = &workloads[workload];
                    let id = match w.choice {
                        KeyChoice::Zipf { .. } => zipfs[workload].as_ref().expect("zipf").sample(&mut rng) as u64 - 1,
                        KeyChoice::Uniform { keys } => rng.random_range(0..keys),
                        KeyChoice::Fresh => {
                            fresh_ids += 1;
                            fresh_ids
                        }
                        KeyChoice::One | KeyChoice::Periodic { .. } => 0,
                    };
                    let at = now + next_arrival(&mut rng, w.rate * self.shape.factor(now));
                    schedule(&mut queue, at, Action::Arrival { workload });
                    (workload, id, rng.random_range(0..CLIENTS))
                }
                Action::Revisit { workload, id } => {
                    if let KeyChoice::Periodic { interval, .. } = workloads[workload].choice {
                        let next = (interval as f64 * rng.random_range(0.7..1.3)) as Micros;
                        schedule(&mut queue, now + next, Action::Revisit { workload, id });
                    }
                    (workload, id, rng.random_range(0..CLIENTS))
                }
                Action::Fill { workload, id, client } => {
                    let w = &workloads[workload];
                    let key = w.key.key(id);
                    if let Some(waiting) = pending.get_mut(&key_hash(w.db, key.as_bytes())) {
                        *waiting = waiting.saturating_sub(1);
                    }
                    let mut event = write_event(w, now, &key).with_client(client);
                    emit(&mut cache, &mut truth, &mut event, Some((workload, false)), None);
                    continue;
                }
                Action::Update { workload } => {
                    let w = &workloads[workload];
                    let Some((rate, mode)) = w.updates else { continue };
                    let at = now + next_arrival(&mut rng, rate * self.shape.factor(now));
                    schedule(&mut queue, at, Action::Update { workload });
                    let id = match w.choice {
                        KeyChoice::Zipf { .. } => zipfs[workload].as_ref().expect("zipf").sample(&mut rng) as u64 - 1,
                        KeyChoice::Uniform { keys } | KeyChoice::Periodic { keys, .. } => rng.random_range(0..keys),
                        KeyChoice::One => 0,
                        KeyChoice::Fresh => continue,
                    };
                    let key = w.key.key(id);
                    let client = rng.random_range(0..CLIENTS);
                    let mut event = match mode {
                        UpdateMode::Write => write_event(w, now, &key),
                        UpdateMode::Invalidate => Event {
                            command: Command::Delete,
                            ..Event::read(now, key.as_bytes(), Outcome::Unobserved).with_db(w.db)
                        },
                    }
                    .with_client(client);
                    emit(&mut cache, &mut truth, &mut event, Some((workload, false)), None);
                    continue;
                }
                Action::Incident { index } => {
                    let incident: &Incident = &self.incidents[index];
                    match &incident.what {
                        IncidentKind::Flush { db } => {
                            let mut event = Event::keyless(now, Command::Flush(FlushScope::Db)).with_db(*db);
                            emit(&mut cache, &mut truth, &mut event, None, None);
                        }
                        IncidentKind::Restart => {
                            let mut event = Event::keyless(now, Command::Flush(FlushScope::Restart));
                            emit(&mut cache, &mut truth, &mut event, None, None);
                        }
                        IncidentKind::Deploy { label } => {
                            let mut event = Event { key: label.as_bytes(), ..Event::keyless(now, Command::Marker) };
                            emit(&mut cache, &mut truth, &mut event, None, None);
                        }
                        IncidentKind::SetTtl { workload, ttl } => workloads[*workload].ttl = *ttl,
                        IncidentKind::SetFill { workload, fill } => workloads[*workload].fill = *fill,
                        IncidentKind::SetCapacity { bytes } => cache.set_capacity(Some(*bytes)),
                        IncidentKind::SetMismatch { workload, share } => {
                            if let Some(mismatch) = workloads[*workload].mismatch.as_mut() {
                                mismatch.share = *share;
                            }
                        }
                    }
                    continue;
                }
            };
            let w = &workloads[workload_index];
            let mismatched = w.mismatched(client);
            let key = match (&w.mismatch, mismatched) {
                (Some(mismatch), true) => mismatch.reader.key(id),
                _ => w.key.key(id),
            };
            let hash = key_hash(w.db, key.as_bytes());
            let waiting = pending.get(&hash).copied().unwrap_or(0);
            let fill_fails = w.fill_fails(id);
            let mut event = Event::read(now, key.as_bytes(), Outcome::Unobserved).with_db(w.db).with_client(client);
            let read = (fill_fails, waiting > 0, w.value_bytes);
            let outcome = emit(&mut cache, &mut truth, &mut event, Some((workload_index, mismatched)), Some(read));
            if outcome == Outcome::Miss && !fill_fails {
                *pending.entry(key_hash(w.db, w.key.key(id).as_bytes())).or_default() += 1;
                schedule(&mut queue, now + w.fill_latency, Action::Fill { workload: workload_index, id, client });
            }
            if pending.len() > 1 << 16 {
                pending.retain(|_, waiting| *waiting > 0);
            }
        }
        progress(1.0);
    }
}

fn write_event<'k>(w: &Workload, now: Micros, key: &'k str) -> Event<'k> {
    let spread = |ttl: Micros| {
        if w.ttl_jitter == 0.0 {
            return ttl;
        }
        let u = super::keys::unit(key_hash(w.db, key.as_bytes()) ^ now, 17);
        (ttl as f64 * (1.0 + w.ttl_jitter * (2.0 * u - 1.0))) as Micros
    };
    let ttl = w.ttl.map_or(TtlChange::Persist, |ttl| TtlChange::ExpireIn((spread(ttl) / 1_000).max(1)));
    let mut event = Event::write(now, key.as_bytes(), ttl).with_db(w.db).with_value_size(w.value_bytes);
    event.command = Command::Write(WriteCondition::Always);
    event.outcome = Outcome::Unobserved;
    event
}

fn next_arrival(rng: &mut SmallRng, rate: f64) -> Micros {
    let gap: f64 = Exp::new(rate).expect("positive rate").sample(rng);
    ((gap * 1e6) as Micros).max(1)
}
