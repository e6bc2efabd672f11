//! Windowed time series in bounded memory: the whole cache and each pattern, one point a window for the recent
//! part of the horizon, then points of several windows each (downsampled) for the rest. Patterns beyond the cap
//! count under `{other}`. When learned folding merges patterns, their series merge too, so that a line of a
//! dashboard does not jump or vanish when `user:1`, `user:2` become `user:{num}`.

use std::collections::{BTreeMap, VecDeque};

use cachescope_core::pattern::PatternId;
use cachescope_core::{Micros, Window, WindowCounts};
use serde::Serialize;

/// The name of the series that takes the patterns past the cap.
pub const OTHER: &str = "{other}";

/// How long series are kept, and at which resolutions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeriesConfig {
    /// One window.
    pub window: Micros,
    /// Kept at one point a window.
    pub recent: Micros,
    /// Kept in all; older than `recent`, points cover `coarse_factor` windows each.
    pub horizon: Micros,
    pub coarse_factor: u32,
    /// Patterns with a series of their own.
    pub max_patterns: usize,
}

impl Default for SeriesConfig {
    fn default() -> Self {
        SeriesConfig {
            window: 10_000_000,
            recent: 3_600_000_000,
            horizon: 86_400_000_000,
            coarse_factor: 6,
            max_patterns: 100,
        }
    }
}

/// One point: the counts of a window (or of several, downsampled) that starts at `start`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Point {
    pub start: Micros,
    /// How long it covers.
    pub span: Micros,
    #[serde(flatten)]
    pub counts: WindowCounts,
}

/// One series: recent points, then coarser ones.
#[derive(Debug, Clone, Default)]
pub struct Series {
    recent: VecDeque<Point>,
    coarse: VecDeque<Point>,
}

impl Series {
    fn push(&mut self, point: Point, config: &SeriesConfig) {
        self.recent.push_back(point);
        let recent_len = (config.recent / config.window.max(1)).max(1) as usize;
        while self.recent.len() > recent_len {
            let old = self.recent.pop_front().expect("longer than one");
            let coarse_span = config.window * u64::from(config.coarse_factor.max(1));
            match self.coarse.back_mut() {
                Some(last) if old.start < last.start + coarse_span => {
                    last.counts.add(&old.counts);
                    last.span = old.start + old.span - last.start;
                }
                _ => self.coarse.push_back(old),
            }
        }
        let coarse_len = (config.horizon.saturating_sub(config.recent)
            / (config.window * u64::from(config.coarse_factor.max(1))).max(1)) as usize;
        while self.coarse.len() > coarse_len {
            self.coarse.pop_front();
        }
    }

    fn absorb(&mut self, other: Series) {
        // Both series cover the same windows (every series gets a point each window): add point by point.
        for (ours, theirs) in self.recent.iter_mut().rev().zip(other.recent.iter().rev()) {
            ours.counts.add(&theirs.counts);
        }
        for (ours, theirs) in self.coarse.iter_mut().rev().zip(other.coarse.iter().rev()) {
            ours.counts.add(&theirs.counts);
        }
    }

    /// Every point, oldest first.
    pub fn points(&self) -> impl Iterator<Item = &Point> {
        self.coarse.iter().chain(self.recent.iter())
    }

    /// The last `n` windows.
    pub fn last(&self, n: usize) -> impl Iterator<Item = &Point> {
        self.recent.iter().skip(self.recent.len().saturating_sub(n))
    }

    pub fn len(&self) -> usize {
        self.recent.len() + self.coarse.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every series: the whole cache, and the patterns.
#[derive(Debug, Default, Clone)]
pub struct SeriesStore {
    config: SeriesConfig,
    pub global: Series,
    /// By pattern name.
    patterns: BTreeMap<String, Series>,
    /// The name each pattern id counts under.
    names: BTreeMap<PatternId, String>,
    /// Everything counted since the start, whole cache and by series: for counters that only grow.
    global_total: WindowCounts,
    totals: BTreeMap<String, WindowCounts>,
}

impl SeriesStore {
    pub fn new(config: SeriesConfig) -> Self {
        SeriesStore { config, ..SeriesStore::default() }
    }

    pub fn config(&self) -> &SeriesConfig {
        &self.config
    }

    /// Adds a window that starts at `start`. `name` gives a pattern id's name (the engine's).
    pub fn push(
        &mut self,
        start: Micros,
        window: &Window,
        name: &dyn Fn(PatternId) -> String,
    ) -> Vec<(String, String)> {
        let span = self.config.window;
        let mut renamed = Vec::new();
        for &(old, new) in &window.merged {
            if let Some(old_name) = self.names.remove(&old) {
                let new_name = name(new);
                if old_name != new_name
                    && let Some(total) = self.totals.remove(&old_name)
                {
                    self.totals.entry(new_name.clone()).or_default().add(&total);
                }
                if old_name != new_name
                    && let Some(series) = self.patterns.remove(&old_name)
                {
                    match self.patterns.get_mut(&new_name) {
                        Some(target) => target.absorb(series),
                        None => {
                            self.patterns.insert(new_name.clone(), series);
                        }
                    }
                    renamed.push((old_name, new_name.clone()));
                }
                self.names.insert(new, new_name);
            }
        }
        self.global.push(Point { start, span, counts: window.global }, &self.config);
        self.global_total.add(&window.global);
        let mut this_window: BTreeMap<String, WindowCounts> = BTreeMap::new();
        for (id, counts) in &window.patterns {
            let pattern = self.names.entry(*id).or_insert_with(|| name(*id)).clone();
            let known = self.patterns.contains_key(&pattern) || this_window.contains_key(&pattern);
            let added = this_window.keys().filter(|n| !self.patterns.contains_key(*n)).count();
            let room = self.patterns.len() + added < self.config.max_patterns;
            let series_name = if known || room { pattern } else { OTHER.to_string() };
            this_window.entry(series_name).or_default().add(counts);
        }
        for (series_name, counts) in &this_window {
            self.totals.entry(series_name.clone()).or_default().add(counts);
        }
        // Every series gets a point each window, empty when its pattern was quiet: points line up.
        let names: Vec<String> = self.patterns.keys().cloned().chain(this_window.keys().cloned()).collect();
        for series_name in names {
            let counts = this_window.remove(&series_name).unwrap_or_default();
            let series = self.patterns.entry(series_name).or_insert_with(|| {
                let mut series = Series::default();
                // A pattern new in this window: empty points before it, as long as the whole cache's.
                for point in self.global.points() {
                    if point.start < start {
                        series.recent.push_back(Point { counts: WindowCounts::default(), ..*point });
                    }
                }
                series
            });
            if series.recent.back().is_some_and(|p| p.start == start) {
                continue;
            }
            series.push(Point { start, span, counts }, &self.config);
        }
        renamed
    }

    /// Everything counted since the start, whole cache.
    pub fn global_total(&self) -> &WindowCounts {
        &self.global_total
    }

    /// Everything counted since the start under series `name`.
    pub fn total(&self, name: &str) -> Option<&WindowCounts> {
        self.totals.get(name)
    }

    pub fn pattern(&self, name: &str) -> Option<&Series> {
        self.patterns.get(name)
    }

    pub fn patterns(&self) -> impl Iterator<Item = (&String, &Series)> {
        self.patterns.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(reads: u64, misses: u64, patterns: &[(PatternId, u64, u64)]) -> Window {
        let counts = |reads, misses| WindowCounts { reads, hits: reads - misses, misses, ..WindowCounts::default() };
        Window {
            global: counts(reads, misses),
            patterns: patterns.iter().map(|&(id, r, m)| (id, counts(r, m))).collect(),
            ..Window::default()
        }
    }

    fn config() -> SeriesConfig {
        SeriesConfig { window: 10, recent: 50, horizon: 170, coarse_factor: 3, max_patterns: 2 }
    }

    #[test]
    fn recent_points_then_coarse_ones_in_bounded_memory() {
        let mut store = SeriesStore::new(config());
        for i in 0..100u64 {
            store.push(i * 10, &window(10, i % 10, &[]), &|_| String::new());
        }
        // 5 recent windows, then points of 3 windows for the 120 time units left of the horizon: 4 of them.
        let points: Vec<&Point> = store.global.points().collect();
        assert_eq!(store.global.len(), 9);
        assert_eq!(points.last().unwrap().start, 990);
        assert!(points[0].span == 30 && points[0].counts.reads == 30, "{:?}", points[0]);
        let total: u64 = points.iter().map(|p| p.counts.reads).sum();
        assert!((150..=170).contains(&total), "the horizon's reads, no more: {total}");
    }

    #[test]
    fn patterns_past_the_cap_count_under_other_and_merges_join_series() {
        let mut store = SeriesStore::new(config());
        let names = |id: PatternId| format!("p{id}");
        store.push(0, &window(30, 3, &[(1, 10, 1), (2, 10, 1), (3, 10, 1)]), &names);
        let listed: Vec<&String> = store.patterns().map(|(n, _)| n).collect();
        assert_eq!(listed, ["p1", "p2", OTHER]);
        // p2 merged into p1: its history joins p1's, and its next counts too.
        let mut merge = window(20, 2, &[(1, 20, 2)]);
        merge.merged = vec![(2, 1)];
        let renamed = store.push(10, &merge, &|id| if id == 2 { "p1".into() } else { names(id) });
        assert_eq!(renamed, [("p2".to_string(), "p1".to_string())]);
        let p1: Vec<u64> = store.pattern("p1").unwrap().points().map(|p| p.counts.reads).collect();
        assert_eq!(p1, [20, 20]);
        assert!(store.pattern("p2").is_none());
        // Every series has a point for every window.
        assert_eq!(store.pattern(OTHER).unwrap().len(), 2);
    }
}
