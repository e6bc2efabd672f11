//! A what-if as text: the settings before and after, the hit ratio of the whole cache and of the patterns it
//! changes most, and the evictions and refused writes on each side.

use std::fmt::Write as _;

use cachescope_core::human;
use comfy_table::{Cell, CellAlignment, Color};
use owo_colors::OwoColorize;

use super::text::new_table;
use crate::contracts::whatif::{Comparison, WhatifReport, settings_text};

pub struct Options {
    pub color: bool,
    pub width: usize,
    /// Patterns listed, most changed first.
    pub top: usize,
}

pub fn render(report: &WhatifReport, options: &Options) -> String {
    let bold = |text: &str| if options.color { text.bold().to_string() } else { text.to_string() };
    let mut out = String::new();
    let format = report.source.format.as_deref().map(|f| format!(" ({f})")).unwrap_or_default();
    let _ =
        writeln!(out, "{} · {}{format} · {} reads", bold("What if"), report.source.name, human::count(report.reads));
    let _ = writeln!(out, "  now:   {}", settings_text(&report.before));
    let _ = writeln!(out, "  after: {}", settings_text(&report.after));
    out.push('\n');

    let mut table = new_table(options.color, options.width);
    table.set_header(vec!["", "reads", "hit ratio now", "after", "change"]);
    table.add_row(row("whole cache", report.reads, &report.summary, options.color, true));
    for pattern in report.patterns.iter().take(options.top) {
        table.add_row(row(&pattern.pattern, pattern.reads, &pattern.comparison, options.color, false));
    }
    let _ = writeln!(out, "{table}");
    if report.patterns.len() > options.top {
        let _ = writeln!(out, "{} more patterns in --output json.", report.patterns.len() - options.top);
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "Evictions: {} now, {} after. Writes refused (OOM): {} now, {} after.",
        human::count(report.evictions.before),
        human::count(report.evictions.after),
        human::count(report.refused_writes.before),
        human::count(report.refused_writes.after)
    );
    if let (Some(observed), Some(simulated)) = (report.observed_hit_ratio, report.summary.before.hit_ratio) {
        let _ = writeln!(
            out,
            "The trace recorded a hit ratio of {}; the model of the cache as it is gives {}: both sides are simulated alike, so compare them with each other.",
            percent(observed),
            percent(simulated)
        );
    }
    if report.cut_short {
        let _ = writeln!(out, "The trace was cut short: these figures are of the reads before the cut.");
    }
    out
}

fn row(name: &str, reads: u64, comparison: &Comparison, color: bool, bold: bool) -> Vec<Cell> {
    let ratio = |r: Option<f64>| r.map_or("-".to_string(), percent);
    let change = comparison.change_points.map_or("-".to_string(), |p| format!("{p:+.1} points"));
    let mut change = Cell::new(change).set_alignment(CellAlignment::Right);
    if color && let Some(points) = comparison.change_points {
        change = change.fg(if points >= 0.05 {
            Color::Green
        } else if points <= -0.05 {
            Color::Red
        } else {
            Color::Reset
        });
    }
    let name = if bold && color { name.bold().to_string() } else { name.to_string() };
    vec![
        Cell::new(name),
        Cell::new(human::count(reads)).set_alignment(CellAlignment::Right),
        Cell::new(ratio(comparison.before.hit_ratio)).set_alignment(CellAlignment::Right),
        Cell::new(ratio(comparison.after.hit_ratio)).set_alignment(CellAlignment::Right),
        change,
    ]
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}
