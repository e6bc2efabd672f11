//! Flushes, restarts and labelled markers (deploys): when they happened, and which databases they emptied.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use crate::event::{FlushScope, Micros};

use super::stats::MarkerIndex;

/// Markers past this many are not listed (flushes still take effect).
const MAX_MARKERS: usize = 1024;
/// The index of a marker that was not listed.
pub(crate) const UNLISTED: MarkerIndex = MarkerIndex::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MarkerKind {
    FlushDb,
    FlushAll,
    Restart,
    /// A labelled point in time: a deploy, a config change.
    Label,
}

impl MarkerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MarkerKind::FlushDb => "flushdb",
            MarkerKind::FlushAll => "flushall",
            MarkerKind::Restart => "restart",
            MarkerKind::Label => "marker",
        }
    }

    /// How a person calls it in a sentence.
    pub fn describe(self) -> &'static str {
        match self {
            MarkerKind::FlushDb => "FLUSHDB",
            MarkerKind::FlushAll => "FLUSHALL",
            MarkerKind::Restart => "restart",
            MarkerKind::Label => "marker",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Marker {
    pub time: Micros,
    pub kind: MarkerKind,
    pub db: u32,
    pub label: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Markers {
    pub list: Vec<Marker>,
    /// Last FLUSHDB per database.
    per_db: HashMap<u32, (Micros, MarkerIndex), FixedState>,
    /// Last FLUSHALL or restart.
    all: Option<(Micros, MarkerIndex)>,
}

impl Markers {
    fn push(&mut self, marker: Marker) -> MarkerIndex {
        if self.list.len() >= MAX_MARKERS {
            return UNLISTED;
        }
        self.list.push(marker);
        (self.list.len() - 1) as MarkerIndex
    }

    pub fn flush(&mut self, time: Micros, scope: FlushScope, db: u32) {
        let kind = match scope {
            FlushScope::Db => MarkerKind::FlushDb,
            FlushScope::All => MarkerKind::FlushAll,
            FlushScope::Restart => MarkerKind::Restart,
        };
        let index = self.push(Marker { time, kind, db, label: None });
        match scope {
            FlushScope::Db => {
                self.per_db.insert(db, (time, index));
            }
            FlushScope::All | FlushScope::Restart => {
                self.all = Some((time, index));
                self.per_db.clear();
            }
        }
    }

    pub fn label(&mut self, time: Micros, label: String) {
        self.push(Marker { time, kind: MarkerKind::Label, db: 0, label: Some(label) });
    }

    /// The last flush or restart that emptied database `db`.
    #[inline]
    pub fn last_flush(&self, db: u32) -> Option<(Micros, MarkerIndex)> {
        match (self.per_db.get(&db).copied(), self.all) {
            (Some(db_flush), Some(all)) => Some(if db_flush.0 >= all.0 { db_flush } else { all }),
            (db_flush, all) => db_flush.or(all),
        }
    }
}
