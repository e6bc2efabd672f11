//! The dashboard's state and its keys: what is sorted how, filtered by what, paused, over which time range, and
//! which view is open. No terminal here: keys in, state out, so that tests drive it directly.

use cachescope_live::overview::PatternRow;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::screen::Screen;

/// The column the patterns are sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    /// Misses per second in the last window.
    MissRate,
    /// Misses since the start.
    Misses,
    /// Hit ratio in the last window, worst first.
    HitRatio,
    Reads,
    Name,
}

impl SortBy {
    const ORDER: [SortBy; 5] = [SortBy::MissRate, SortBy::Misses, SortBy::HitRatio, SortBy::Reads, SortBy::Name];

    pub fn label(self) -> &'static str {
        match self {
            SortBy::MissRate => "misses/s",
            SortBy::Misses => "misses",
            SortBy::HitRatio => "hit ratio",
            SortBy::Reads => "reads",
            SortBy::Name => "pattern",
        }
    }

    fn next(self) -> SortBy {
        let at = SortBy::ORDER.iter().position(|&s| s == self).unwrap_or(0);
        SortBy::ORDER[(at + 1) % SortBy::ORDER.len()]
    }
}

/// How far back the chart looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    TenMinutes,
    Hour,
    SixHours,
    Day,
}

impl Range {
    pub fn seconds(self) -> u64 {
        match self {
            Range::TenMinutes => 600,
            Range::Hour => 3_600,
            Range::SixHours => 6 * 3_600,
            Range::Day => 24 * 3_600,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Range::TenMinutes => "10m",
            Range::Hour => "1h",
            Range::SixHours => "6h",
            Range::Day => "24h",
        }
    }

    fn next(self) -> Range {
        match self {
            Range::TenMinutes => Range::Hour,
            Range::Hour => Range::SixHours,
            Range::SixHours => Range::Day,
            Range::Day => Range::TenMinutes,
        }
    }
}

/// What the dashboard shows and how.
#[derive(Debug, Clone)]
pub struct App {
    pub sort: SortBy,
    /// Largest first (for the hit ratio: worst first).
    pub descending: bool,
    pub filter: String,
    /// Typing the filter.
    pub filtering: bool,
    /// The data stops moving (the source runs on).
    pub paused: bool,
    pub range: Range,
    /// The selected row of the patterns table.
    pub selected: usize,
    /// The detail view of the selected pattern is open.
    pub detail: bool,
    pub help: bool,
    pub quit: bool,
}

impl Default for App {
    fn default() -> Self {
        App {
            sort: SortBy::MissRate,
            descending: true,
            filter: String::new(),
            filtering: false,
            paused: false,
            range: Range::Hour,
            selected: 0,
            detail: false,
            help: false,
            quit: false,
        }
    }
}

/// Misses per second of a pattern's last window.
pub fn miss_rate(row: &PatternRow, window_seconds: f64) -> f64 {
    row.last.misses as f64 / window_seconds.max(1e-9)
}

impl App {
    /// The patterns as shown: filtered, then sorted.
    pub fn rows<'s>(&self, screen: &'s Screen) -> Vec<&'s PatternRow> {
        let filter = self.filter.to_lowercase();
        let mut rows: Vec<&PatternRow> = screen
            .overview
            .patterns
            .iter()
            .filter(|r| filter.is_empty() || r.name.to_lowercase().contains(&filter))
            .collect();
        let window = screen.overview.window_seconds;
        let hit_ratio = |r: &PatternRow| r.last.miss_ratio().map_or(f64::NEG_INFINITY, |m| m);
        rows.sort_by(|a, b| {
            let order = match self.sort {
                SortBy::MissRate => miss_rate(a, window).total_cmp(&miss_rate(b, window)),
                SortBy::Misses => a.total.misses.cmp(&b.total.misses),
                // Worst first when descending: by miss ratio.
                SortBy::HitRatio => hit_ratio(a).total_cmp(&hit_ratio(b)),
                SortBy::Reads => a.total.reads.cmp(&b.total.reads),
                SortBy::Name => a.name.cmp(&b.name),
            };
            let order = if self.descending { order.reverse() } else { order };
            order.then_with(|| a.name.cmp(&b.name))
        });
        rows
    }

    /// The selected pattern's name, if any row is shown.
    pub fn selected_name<'s>(&self, screen: &'s Screen) -> Option<&'s str> {
        self.rows(screen).get(self.selected).map(|r| r.name.as_str())
    }

    /// Takes a key; `shown` is the number of rows the table shows now.
    pub fn key(&mut self, key: KeyEvent, shown: usize) {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return;
        }
        if self.filtering {
            match key.code {
                KeyCode::Enter | KeyCode::Esc => self.filtering = false,
                KeyCode::Backspace => {
                    self.filter.pop();
                }
                KeyCode::Char(c) => self.filter.push(c),
                _ => {}
            }
            self.selected = 0;
            return;
        }
        if self.help {
            self.help = false;
            return;
        }
        match key.code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Esc if self.detail => self.detail = false,
            KeyCode::Esc if !self.filter.is_empty() => self.filter.clear(),
            KeyCode::Esc => self.quit = true,
            KeyCode::Char('?') | KeyCode::F(1) => self.help = true,
            KeyCode::Char('s') => {
                self.sort = self.sort.next();
                self.descending = self.sort != SortBy::Name;
            }
            KeyCode::Char('r') => self.descending = !self.descending,
            KeyCode::Char('/') => {
                self.filtering = true;
                self.detail = false;
            }
            KeyCode::Char('p') | KeyCode::Char(' ') => self.paused = !self.paused,
            KeyCode::Char('t') => self.range = self.range.next(),
            KeyCode::Down | KeyCode::Char('j') => self.selected = (self.selected + 1).min(shown.saturating_sub(1)),
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Home | KeyCode::Char('g') => self.selected = 0,
            KeyCode::End | KeyCode::Char('G') => self.selected = shown.saturating_sub(1),
            KeyCode::Enter if shown > 0 => self.detail = !self.detail,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screen::tests::example;

    fn press(app: &mut App, keys: &str, shown: usize) {
        for c in keys.chars() {
            let code = match c {
                '\n' => KeyCode::Enter,
                '\x1b' => KeyCode::Esc,
                '\x08' => KeyCode::Backspace,
                'v' => KeyCode::Down,
                '^' => KeyCode::Up,
                c => KeyCode::Char(c),
            };
            app.key(KeyEvent::new(code, KeyModifiers::NONE), shown);
        }
    }

    fn names(app: &App, screen: &Screen) -> Vec<String> {
        app.rows(screen).iter().map(|r| r.name.clone()).collect()
    }

    #[test]
    fn check_keys() {
        // (keys pressed, the patterns shown in order, then what else is expected)
        let screen = example();
        let check = |keys: &str, expected: &[&str], assert: &dyn Fn(&App)| {
            let mut app = App::default();
            press(&mut app, keys, screen.overview.patterns.len());
            assert_eq!(names(&app, &screen), expected, "after {keys:?}");
            assert(&app);
        };
        let all_by_miss_rate = ["session:{token}", "user:{num}", "product:{num}"];
        check("", &all_by_miss_rate, &|app| assert!(!app.quit));
        check("r", &["product:{num}", "user:{num}", "session:{token}"], &|_| {});
        check("ssss", &["product:{num}", "session:{token}", "user:{num}"], &|app| assert_eq!(app.sort, SortBy::Name));
        check("s", &["session:{token}", "user:{num}", "product:{num}"], &|app| assert_eq!(app.sort, SortBy::Misses));
        check("/us\n", &["user:{num}"], &|app| assert!(!app.filtering && app.filter == "us"));
        check("/use\x08\x08\x08\n", &all_by_miss_rate, &|_| {});
        check("/user\n\x1b", &all_by_miss_rate, &|app| assert!(app.filter.is_empty() && !app.quit));
        check("vv^\n", &all_by_miss_rate, &|app| assert!(app.detail && app.selected == 1));
        check("vvvvvv", &all_by_miss_rate, &|app| assert_eq!(app.selected, 2));
        check("\n\x1b", &all_by_miss_rate, &|app| assert!(!app.detail && !app.quit));
        check("?x", &all_by_miss_rate, &|app| assert!(!app.help && !app.quit));
        check("pt", &all_by_miss_rate, &|app| assert!(app.paused && app.range == Range::SixHours));
        check("q", &all_by_miss_rate, &|app| assert!(app.quit));
        check("\x1b", &all_by_miss_rate, &|app| assert!(app.quit));
    }

    #[test]
    fn ctrl_c_quits_even_while_typing_a_filter() {
        let mut app = App::default();
        press(&mut app, "/ab", 3);
        app.key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL), 3);
        assert!(app.quit);
    }
}
