//! Flushes, restarts and labelled markers (deploys): when they happened, and which databases (or, in a cluster,
//! which node's keys) they emptied.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use crate::event::{FlushScope, Micros};

use super::stats::MarkerIndex;

/// Markers past this many are not listed (flushes still take effect).
const MAX_MARKERS: usize = 1024;
/// The index of a marker that was not listed.
pub(crate) const UNLISTED: MarkerIndex = MarkerIndex::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
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

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Marker {
    pub time: Micros,
    pub kind: MarkerKind,
    pub db: u32,
    /// The node flushed or restarted (0: a single server, or all of them).
    pub node: u16,
    /// A marker's label; a node's name for a node's flush or restart.
    pub label: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Markers {
    pub list: Vec<Marker>,
    /// Last FLUSHDB per database.
    per_db: HashMap<u32, (Micros, MarkerIndex), FixedState>,
    /// Last FLUSHALL or restart.
    all: Option<(Micros, MarkerIndex)>,
    /// Last flush or restart of each node of a cluster.
    per_node: HashMap<u16, (Micros, MarkerIndex), FixedState>,
}

impl Markers {
    fn push(&mut self, marker: Marker) -> MarkerIndex {
        if self.list.len() >= MAX_MARKERS {
            return UNLISTED;
        }
        self.list.push(marker);
        (self.list.len() - 1) as MarkerIndex
    }

    /// A flush of `scope` at `time`: of database `db` of node `node` (0: of a single server, or of all nodes),
    /// whose name may be given.
    pub fn flush(&mut self, time: Micros, scope: FlushScope, db: u32, node: u16, name: Option<String>) {
        let kind = match scope {
            FlushScope::Db => MarkerKind::FlushDb,
            FlushScope::All => MarkerKind::FlushAll,
            FlushScope::Restart => MarkerKind::Restart,
        };
        let index = self.push(Marker { time, kind, db, node, label: name });
        // A node of a cluster holds only its own keys (and one database): its flush empties those.
        if node != 0 {
            self.per_node.insert(node, (time, index));
            return;
        }
        match scope {
            FlushScope::Db => {
                self.per_db.insert(db, (time, index));
            }
            FlushScope::All | FlushScope::Restart => {
                self.all = Some((time, index));
                self.per_db.clear();
                self.per_node.clear();
            }
        }
    }

    pub fn label(&mut self, time: Micros, label: String) {
        self.push(Marker { time, kind: MarkerKind::Label, db: 0, node: 0, label: Some(label) });
    }

    /// The last flush or restart that emptied database `db` of node `node`.
    #[inline]
    pub fn last_flush(&self, db: u32, node: u16) -> Option<(Micros, MarkerIndex)> {
        let latest = |a: Option<(Micros, MarkerIndex)>, b: Option<(Micros, MarkerIndex)>| match (a, b) {
            (Some(a), Some(b)) => Some(if a.0 >= b.0 { a } else { b }),
            (a, b) => a.or(b),
        };
        // Most traces flush nothing, or every database at once: the maps are then empty and not looked in.
        let of_node = if self.per_node.is_empty() { None } else { self.per_node.get(&node).copied() };
        let of_db = if self.per_db.is_empty() { None } else { self.per_db.get(&db).copied() };
        latest(latest(of_db, self.all), of_node)
    }
}
