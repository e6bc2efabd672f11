//! A miss-ratio curve as text: the hit ratio at each size for the whole trace and its busiest patterns, the
//! current size marked, and the sizes that reach common hit ratios.

use std::fmt::Write as _;
use std::path::PathBuf;

use cachescope_core::human;
use comfy_table::{Cell, CellAlignment};
use owo_colors::OwoColorize;

use super::text::new_table;
use crate::contracts::mrc::{CurveReport, size_text};

pub struct Options {
    pub color: bool,
    pub width: usize,
    /// Where the chart was written, to say so.
    pub chart: Option<PathBuf>,
}

pub fn render(report: &CurveReport, options: &Options) -> String {
    let objects = report.unit == "objects";
    let bold = |text: &str| if options.color { text.bold().to_string() } else { text.to_string() };
    let mut out = String::new();
    let format = report.source.format.as_deref().map(|f| format!(" ({f})")).unwrap_or_default();
    let method = match report.method.as_str() {
        "exact" => "exact LRU stack distances".to_string(),
        _ => format!(
            "SHARDS: {} of the keys followed ({}), figures are estimates",
            human::percent(report.sampling_rate),
            human::count(report.tracked_keys)
        ),
    };
    let _ = writeln!(
        out,
        "{} · {}{format} · {} reads · {method}",
        bold("Miss-ratio curve"),
        report.source.name,
        human::count(report.reads)
    );
    out.push('\n');

    let mut table = new_table(options.color, options.width);
    // One pattern's column would repeat the whole trace's; columns that would not fit the width are left to JSON.
    let fitting = report
        .patterns
        .iter()
        .scan(44usize, |used, p| {
            *used += p.pattern.chars().count().max(6) + 3;
            Some(*used)
        })
        .take_while(|&used| used <= options.width)
        .count();
    let patterns = if report.patterns.len() > 1 { &report.patterns[..fitting] } else { &[] };
    let mut header = vec![Cell::new("cache size"), Cell::new("hit ratio"), Cell::new("miss ratio")];
    header.extend(patterns.iter().map(|p| Cell::new(&p.pattern)));
    table.set_header(header);
    for (index, point) in report.points.iter().enumerate() {
        let is_current = report.current_size == Some(point.size);
        let size = size_text(point.size, objects);
        let size = if is_current { format!("{size} ◀ now") } else { size };
        let mut row = vec![
            Cell::new(if is_current { bold(&size) } else { size }),
            Cell::new(percent(point.hit_ratio)).set_alignment(CellAlignment::Right),
            Cell::new(percent(point.miss_ratio)).set_alignment(CellAlignment::Right),
        ];
        row.extend(
            patterns.iter().map(|p| Cell::new(percent(p.points[index].hit_ratio)).set_alignment(CellAlignment::Right)),
        );
        table.add_row(row);
    }
    let _ = writeln!(out, "{table}");
    if !patterns.is_empty() {
        let _ = writeln!(out, "Pattern columns: each pattern's hit ratio when the whole cache has that size.");
    }
    out.push('\n');

    if let (Some(size), Some(ratio)) = (report.current_size, report.current_hit_ratio) {
        let _ = writeln!(out, "Now: {} hits {}.", size_text(size, objects), percent(ratio));
    }
    let reach: Vec<String> = report
        .sizes_for_hit_ratio
        .iter()
        .map(|s| format!("{} needs {}", human::percent(s.hit_ratio), size_text(s.size, objects)))
        .collect();
    if !reach.is_empty() {
        let _ = writeln!(out, "Hit ratio {}.", reach.join(" · "));
    }
    let _ = writeln!(
        out,
        "No size does better than {}, reached at {}: the other reads are first reads, or of keys expired, deleted or never written.",
        percent(report.best_hit_ratio),
        size_text(report.max_useful_size, objects)
    );
    if report.method != "exact" && report.tracked_keys < FEW_SAMPLED_KEYS {
        let _ = writeln!(
            out,
            "Only {} keys are in the sample: the curve may be off by a few points. A larger sample is steadier \
             (--sample-keys 8192, or a higher --sample-rate).",
            human::count(report.tracked_keys)
        );
    }
    if report.cut_short {
        let _ = writeln!(out, "The trace was cut short: these curves are of the reads before the cut.");
    }
    if let Some(path) = &options.chart {
        let _ = writeln!(out, "Chart: {}", path.display());
    }
    out
}

/// Below this many sampled keys a SHARDS curve's error passes a point on real traces (the CloudPhysics trace at
/// rate 0.01 keeps about 500 keys and its curve is off by 1.5 points on the median draw; OLTP keeps 1,900 and
/// is off by 0.4).
const FEW_SAMPLED_KEYS: u64 = 1_000;

/// A share with one decimal: curves are read to the tenth of a point.
fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}
