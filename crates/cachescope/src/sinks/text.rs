//! The report as text for a terminal: a summary, the findings (most severe first) with evidence and fix, the
//! patterns with the most misses, and notes on how far the figures can be trusted.

use std::fmt::Write as _;

use cachescope_core::human;
use cachescope_core::report::{
    Finding, MissCause, MissCauses, PatternReport, Quantiles, Report, ServerReport, Severity, SimulatedGain,
};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, Color, ColumnConstraint, ContentArrangement, Table, Width};
use owo_colors::OwoColorize;

#[derive(Debug, Clone, Copy)]
pub struct TextOptions {
    pub color: bool,
    /// Columns to fill.
    pub width: usize,
    /// Patterns listed, most misses first.
    pub top: usize,
}

/// Applies colour only when asked, so the same code renders plain text for files and tests.
struct Paint {
    on: bool,
}

impl Paint {
    fn bold(&self, text: &str) -> String {
        if self.on { text.bold().to_string() } else { text.to_string() }
    }

    fn dim(&self, text: &str) -> String {
        if self.on { text.dimmed().to_string() } else { text.to_string() }
    }

    fn pattern(&self, text: &str) -> String {
        if self.on { text.cyan().to_string() } else { text.to_string() }
    }

    fn severity(&self, severity: Severity) -> String {
        let label = format!("{:<8}", severity.as_str().to_uppercase());
        if !self.on {
            return label;
        }
        match severity {
            Severity::Critical => label.red().bold().to_string(),
            Severity::Warning => label.yellow().bold().to_string(),
            Severity::Info => label.blue().to_string(),
        }
    }
}

pub fn render(report: &Report, options: &TextOptions) -> String {
    let paint = Paint { on: options.color };
    let mut out = String::new();
    header(&mut out, report, &paint);
    findings(&mut out, report, options, &paint);
    patterns(&mut out, report, options, &paint);
    notes(&mut out, report, &paint);
    out
}

fn header(out: &mut String, report: &Report, paint: &Paint) {
    let source = match &report.source {
        Some(source) if source.kind == "demo" => format!("demo scenario `{}`", source.name),
        Some(source) => match &source.format {
            Some(format) => format!("{} ({format})", source.name),
            None => source.name.clone(),
        },
        None => "report".to_string(),
    };
    let window = &report.window;
    if let Some(server) = &report.server {
        server_section(out, report, server, paint);
        return;
    }
    let _ = writeln!(
        out,
        "{} · {source} · {} events over {}",
        paint.bold("cachescope"),
        human::count(window.events),
        human::duration((window.duration_seconds * 1e6) as u64)
    );
    let summary = &report.summary;
    let Some(hit_ratio) = summary.hit_ratio else {
        let _ = writeln!(out, "\nNo reads with a hit or a miss: nothing to explain.");
        return;
    };
    let _ = writeln!(
        out,
        "\n{} · {} reads · {} misses · {} writes · {} patterns",
        paint.bold(&format!("Hit ratio {}", human::percent(hit_ratio))),
        human::count(summary.reads),
        human::count(summary.misses),
        human::count(summary.writes),
        summary.patterns
    );
    if summary.misses > 0 {
        let _ = writeln!(out, "Misses by cause: {}", cause_list(&summary.miss_causes, summary.misses, 7, true));
    }
}

/// What the doctor measured on a live server.
fn server_section(out: &mut String, report: &Report, server: &ServerReport, paint: &Paint) {
    let name = report.source.as_ref().map_or("server", |s| s.name.as_str());
    let kind = report.source.as_ref().map_or("doctor", |s| s.kind.as_str());
    let _ = writeln!(
        out,
        "{} {kind} · {name} · {} ({}) · up {}",
        paint.bold("cachescope"),
        server.version,
        server.role,
        human::duration(server.uptime_seconds * 1_000_000)
    );
    let ratio = |r: Option<f64>| r.map_or("-".to_string(), human::percent);
    let _ = writeln!(
        out,
        "\n{} over {} · {} since start · {:.0} commands/s · {:.1} evictions/s · {:.1} expirations/s",
        paint.bold(&format!("Hit ratio {}", ratio(server.hit_ratio_now))),
        human::duration((server.interval_seconds * 1e6) as u64),
        ratio(server.hit_ratio_since_start),
        server.commands_per_second,
        server.evictions_per_second,
        server.expirations_per_second
    );
    let limit = if server.maxmemory_bytes > 0 {
        format!("{} of {}", human::bytes(server.used_memory_bytes as f64), human::bytes(server.maxmemory_bytes as f64))
    } else {
        format!("{} (no maxmemory)", human::bytes(server.used_memory_bytes as f64))
    };
    let _ = writeln!(
        out,
        "Memory {limit} · policy {} · {} keys{}",
        server.maxmemory_policy,
        human::count(server.keys),
        if kind == "doctor" { format!(", {} sampled", human::count(server.sampled_keys)) } else { String::new() }
    );
    if let Some(watch) = &server.expiry_watch {
        let _ = writeln!(
            out,
            "Expiry watch {} · {} sampled keys due to expire followed, {} expired, {} of them written again since",
            human::duration((watch.seconds * 1e6) as u64),
            human::count(watch.watched_keys),
            human::count(watch.expired),
            human::count(watch.came_back)
        );
    }
    for line in server.notes.iter().chain(&server.skipped) {
        let _ = writeln!(out, "{}", paint.dim(&format!("· {line}")));
    }
    let summary = &report.summary;
    if !report.notes.hits_observed && summary.misses > 0 {
        let _ = writeln!(
            out,
            "\n{} · {} writes · {} patterns",
            paint.bold(&format!("{} misses seen", human::count(summary.misses))),
            human::count(summary.writes),
            summary.patterns
        );
        let _ = writeln!(out, "Misses by cause: {}", cause_list(&summary.miss_causes, summary.misses, 7, true));
    }
}

/// `expired 93% · never_written 7%`, largest first.
fn cause_list(causes: &MissCauses, misses: u64, shown: usize, with_counts: bool) -> String {
    let mut list: Vec<(MissCause, u64)> =
        MissCause::ALL.iter().map(|&c| (c, causes.get(c))).filter(|(_, n)| *n > 0).collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    list.iter()
        .take(shown)
        .map(|(cause, n)| {
            let share = human::percent(*n as f64 / misses.max(1) as f64);
            if with_counts { format!("{cause} {share} ({})", human::count(*n)) } else { format!("{cause} {share}") }
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

fn wrap(text: &str, width: usize, first: &str, rest: &str) -> String {
    textwrap::fill(text, textwrap::Options::new(width).initial_indent(first).subsequent_indent(rest))
}

fn findings(out: &mut String, report: &Report, options: &TextOptions, paint: &Paint) {
    if report.summary.hit_ratio.is_none() && report.server.is_none() {
        return;
    }
    if report.findings.is_empty() {
        let _ = writeln!(out, "\n{} every pattern with enough traffic looks healthy.", paint.bold("No findings:"));
        return;
    }
    let _ = writeln!(out, "\n{}", paint.bold(&format!("Findings ({}), most severe first", report.findings.len())));
    for (index, finding) in report.findings.iter().enumerate() {
        finding_block(out, index + 1, finding, options, paint);
    }
}

fn finding_block(out: &mut String, number: usize, finding: &Finding, options: &TextOptions, paint: &Paint) {
    let explained = &finding.misses_explained;
    let mut heading = format!(
        "\n{:>2}. {} {} {}",
        number,
        paint.severity(finding.severity),
        paint.bold(finding.cause.as_str()),
        paint.pattern(&finding.pattern)
    );
    if !finding.related_patterns.is_empty() {
        let related: Vec<String> = finding.related_patterns.iter().map(|p| paint.pattern(p)).collect();
        let _ = write!(heading, " (with {})", related.join(", "));
    }
    // Doctor findings come from server statistics, not from misses counted one by one.
    if explained.count > 0 {
        let _ =
            write!(heading, " · {} of all misses ({})", human::percent(explained.share), human::count(explained.count));
    }
    let _ = writeln!(out, "{heading}");
    let width = options.width;
    let _ = writeln!(out, "{}", wrap(&finding.evidence.summary, width, "    ", "    "));
    for detail in &finding.evidence.details {
        let _ = writeln!(out, "{}", paint.dim(&wrap(detail, width, "    · ", "      ")));
    }
    let fix = wrap(&finding.suggestion.summary, width, "    Fix: ", "         ");
    let _ = writeln!(out, "{}", paint.bold(&fix));
    if let Some(gain) = &finding.simulated {
        let _ = writeln!(out, "{}", wrap(&gain_text(finding, gain), width, "    Simulated: ", "               "));
    }
}

/// `TTL 5m for session:{uuid}: `session:{uuid}` 41.0% -> 92.3%, whole cache 70.1% -> 88.4% (+18.3 points)`.
fn gain_text(finding: &Finding, gain: &SimulatedGain) -> String {
    let percent = |share: f64| format!("{:.1}%", share * 100.0);
    let points = 100.0 * (gain.hit_ratio_after - gain.hit_ratio_before);
    let whole = format!(
        "whole cache {} -> {} ({points:+.1} points)",
        percent(gain.hit_ratio_before),
        percent(gain.hit_ratio_after)
    );
    let pattern = match (gain.pattern_hit_ratio_before, gain.pattern_hit_ratio_after) {
        (Some(before), Some(after)) if finding.pattern != "*" => {
            format!("`{}` {} -> {}, ", finding.pattern, percent(before), percent(after))
        }
        _ => String::new(),
    };
    let sampled = match gain.sampled_keys {
        Some(rate) => format!(" (played on {} of the keys, memory scaled alike)", percent(rate)),
        None => String::new(),
    };
    format!("{}: {pattern}{whole}{sampled}.", gain.change)
}

fn patterns(out: &mut String, report: &Report, options: &TextOptions, paint: &Paint) {
    if report.patterns.is_empty() {
        return;
    }
    if !report.notes.hits_observed {
        misses_table(out, report, options, paint);
        return;
    }
    if report.server.is_some() {
        sample_table(out, report, options, paint);
        return;
    }
    let shown = report.patterns.len().min(options.top.max(1));
    let title = if shown < report.patterns.len() {
        format!("Patterns, most misses first ({shown} of {})", report.patterns.len())
    } else {
        format!("Patterns, most misses first ({})", report.patterns.len())
    };
    let _ = writeln!(out, "\n{}", paint.bold(&title));
    let mut table = new_table(options.color, options.width);
    // Below 100 columns the writes and keys give way to the pattern and its causes.
    let wide = options.width >= 100;
    let mut header = vec!["pattern", "reads", "hit ratio", "misses", "writes", "keys", "misses by cause"];
    if !wide {
        header.drain(4..6);
    }
    let causes_column = header.len() - 1;
    table.set_header(header);
    for pattern in report.patterns.iter().take(shown) {
        let mut row = pattern_row(pattern, options.color);
        if !wide {
            row.drain(4..6);
        }
        table.add_row(row);
    }
    // On a narrow terminal the pattern keeps most of its width and the causes wrap at word boundaries (bounds
    // count the cell's padding).
    let longest = report.patterns.iter().take(shown).map(|p| p.pattern.chars().count()).max().unwrap_or(8);
    for (index, column) in table.column_iter_mut().enumerate() {
        if index == 0 && !wide {
            column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(longest.min(32) as u16 + 2)));
        } else if index == causes_column && !wide {
            column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(22)));
        } else if index > 0 && index < causes_column {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    let _ = writeln!(out, "{table}");
    if shown < report.patterns.len() {
        let _ = writeln!(out, "{}", paint.dim("(--top N shows more; --output json lists them all)"));
    }
}

/// Patterns from a source that sees misses and not hits (`watch`): misses, their share of all, their causes.
fn misses_table(out: &mut String, report: &Report, options: &TextOptions, paint: &Paint) {
    let shown = report.patterns.len().min(options.top.max(1));
    let title = format!("Patterns, most misses first ({shown} of {})", report.patterns.len());
    let _ = writeln!(out, "\n{}", paint.bold(&title));
    let mut table = new_table(options.color, options.width);
    table.set_header(vec!["pattern", "misses", "share of misses", "writes", "keys", "misses by cause"]);
    let all = report.summary.misses.max(1) as f64;
    for pattern in report.patterns.iter().take(shown) {
        table.add_row(vec![
            Cell::new(&pattern.pattern),
            Cell::new(human::count_short(pattern.misses)),
            Cell::new(human::percent(pattern.misses as f64 / all)),
            Cell::new(human::count_short(pattern.writes)),
            Cell::new(human::count_short(pattern.distinct_keys)),
            Cell::new(cause_list(&pattern.miss_causes, pattern.misses, 3, false)),
        ]);
    }
    for (index, column) in table.column_iter_mut().enumerate() {
        if index > 0 && index < 5 {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    let _ = writeln!(out, "{table}");
}

/// The doctor's patterns: what the key sample says of each (no hit ratios: the server does not count them per
/// pattern).
fn sample_table(out: &mut String, report: &Report, options: &TextOptions, paint: &Paint) {
    let shown = report.patterns.len().min(options.top.max(1));
    let title = format!("Key sample by pattern, most memory first ({shown} of {})", report.patterns.len());
    let _ = writeln!(out, "\n{}", paint.bold(&title));
    let mut table = new_table(options.color, options.width);
    table.set_header(vec!["pattern", "keys (est.)", "memory (est.)", "without TTL", "TTL left p50", "idle p50"]);
    let median = |q: &Option<Quantiles>| q.map_or("-".to_string(), |q| human::duration((q.p50 * 1e6) as u64));
    for pattern in report.patterns.iter().take(shown) {
        table.add_row(vec![
            Cell::new(&pattern.pattern),
            Cell::new(human::count_short(pattern.distinct_keys)),
            Cell::new(pattern.memory_bytes.map_or("-".to_string(), |b| human::bytes(b as f64))),
            Cell::new(pattern.writes_without_ttl_share.map_or("-".to_string(), human::percent)),
            Cell::new(median(&pattern.ttl_seconds)),
            Cell::new(median(&pattern.idle_seconds)),
        ]);
    }
    for (index, column) in table.column_iter_mut().enumerate() {
        if index > 0 {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    let _ = writeln!(out, "{table}");
}

/// A table as wide as the output, styled only when colour is on.
pub(crate) fn new_table(color: bool, width: usize) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    table.set_width(width.min(u16::MAX as usize) as u16);
    if color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table
}

fn pattern_row(pattern: &PatternReport, color: bool) -> Vec<Cell> {
    let ratio = match pattern.hit_ratio {
        Some(ratio) => {
            let cell = Cell::new(human::percent(ratio));
            match (color, ratio) {
                (false, _) => cell,
                (true, r) if r < 0.5 => cell.fg(Color::Red),
                (true, r) if r < 0.8 => cell.fg(Color::Yellow),
                (true, _) => cell.fg(Color::Green),
            }
        }
        None => Cell::new("-"),
    };
    vec![
        Cell::new(&pattern.pattern),
        Cell::new(human::count_short(pattern.reads)),
        ratio,
        Cell::new(human::count_short(pattern.misses)),
        Cell::new(human::count_short(pattern.writes)),
        Cell::new(human::count_short(pattern.distinct_keys)),
        Cell::new(cause_list(&pattern.miss_causes, pattern.misses, 2, false)),
    ]
}

fn notes(out: &mut String, report: &Report, paint: &Paint) {
    let notes = &report.notes;
    let mut lines = Vec::new();
    if let Some(sampling) = notes.sampling {
        lines.push(format!(
            "Per-key state outgrew its budget ({}): it tracked {} keys, a {} sample of all keys, and miss causes \
             are estimates scaled from that sample (--key-budget raises the budget).",
            human::bytes(sampling.budget_bytes as f64),
            human::count(sampling.tracked_keys),
            human::percent(sampling.rate)
        ));
    }
    if let Some(overflow) = notes.pattern_overflow {
        lines.push(format!(
            "More than {} patterns: keys of {} further patterns were counted under `{{other}}` (--max-patterns, or \
             pattern rules in --config, fold them better).",
            overflow.max_patterns,
            human::count(overflow.overflowed_keys)
        ));
    }
    if notes.cut_short {
        lines.push("The trace was cut short: these figures are of the events before the cut.".to_string());
    }
    if notes.skipped_lines > 0 {
        lines.push(format!("{} malformed lines were skipped.", human::count(notes.skipped_lines)));
    }
    if notes.unobserved_events > 0 {
        lines.push(format!(
            "{} events had no outcome and were not counted as hits or misses.",
            human::count(notes.unobserved_events)
        ));
    }
    if let Some(capture) = &notes.capture {
        lines.push(capture_line(capture));
    }
    if notes.presumed_held {
        lines.push(
            "The trace joined a running cache, so the model replaying it presumed held the keys read before the \
             trace wrote them (within their pattern's TTL), and counted those reads as hits. A fill path that fails \
             for keys the trace never writes cannot show here; `--cache-start empty` replays as from an empty \
             cache, and a proxy recording shows the real outcomes."
                .to_string(),
        );
    } else if notes.initial_state == "unknown" && report.summary.miss_causes.unknown > 0 && report.server.is_none() {
        lines.push(
            "The cache held keys before the trace began: first misses on keys never seen are `unknown`.".to_string(),
        );
    }
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{}", paint.bold("Notes"));
    for line in lines {
        let _ = writeln!(out, "{}", wrap(&line, 100, "  · ", "    "));
    }
}

/// What a packet capture followed and what it lost, in one sentence.
fn capture_line(c: &cachescope_core::report::CaptureNotes) -> String {
    let ports: Vec<String> = c.ports.iter().map(u16::to_string).collect();
    let mut line = format!(
        "The capture held {} connections to port {} ({} commands followed)",
        human::count(c.connections),
        if ports.is_empty() { "none found".to_string() } else { ports.join(", ") },
        human::count(c.commands)
    );
    if c.joined_open > 0 {
        line.push_str(&format!(
            "; {} were open before it began and were followed from their first safe point",
            human::count(c.joined_open)
        ));
    }
    if c.gaps > 0 {
        line.push_str(&format!(
            "; {} holes of {} never filled (packets the capture dropped)",
            human::count(c.gaps),
            human::bytes(c.gap_bytes as f64)
        ));
    }
    if c.skipped_bytes > 0 {
        line.push_str(&format!(
            "; {} skipped while resynchronising ({} times)",
            human::bytes(c.skipped_bytes as f64),
            human::count(c.resyncs)
        ));
    }
    if c.tls_connections > 0 {
        line.push_str(&format!("; {} connections were TLS and could not be read", human::count(c.tls_connections)));
    }
    if c.unreadable > 0 {
        line.push_str(&format!("; {} streams were not RESP", human::count(c.unreadable)));
    }
    line.push('.');
    line
}
