//! Drawing one frame: a header (the hit ratio now, the source, stale or paused), the whole cache's hit ratio over
//! the chosen range with deploy markers and anomaly starts, the patterns table with a bar of miss causes, the
//! anomalies and findings; a detail view of one pattern and a help overlay on top. Wide terminals put anomalies
//! beside the table, narrow ones below it. Without colour every distinction is also in letters.

use cachescope_core::MissCause;
use cachescope_core::report::Report;
use cachescope_live::detect::clock;
use cachescope_live::overview::{PatternRow, Tick};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Borders, Cell, Chart, Clear, Dataset, GraphType, Paragraph, Row, Table, TableState, Wrap,
};

use crate::app::{App, miss_rate};
use crate::screen::Screen;

/// Colours, or none.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    fn fg(self, color: Color) -> Style {
        if self.color { Style::new().fg(color) } else { Style::new() }
    }

    fn bold(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    fn selected(self) -> Style {
        if self.color {
            Style::new().bg(Color::DarkGray).add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    /// A hit ratio's colour: green when high, yellow, red when low.
    fn ratio(self, hit_ratio: Option<f64>) -> Style {
        match hit_ratio {
            Some(r) if r >= 0.9 => self.fg(Color::Green),
            Some(r) if r >= 0.7 => self.fg(Color::Yellow),
            Some(_) => self.fg(Color::Red),
            None => Style::new(),
        }
    }
}

/// Each cause's letter and colour in the causes bar.
fn cause_mark(cause: MissCause) -> (char, Color) {
    match cause {
        MissCause::NeverWritten => ('N', Color::Blue),
        MissCause::Expired => ('X', Color::Yellow),
        MissCause::Evicted => ('E', Color::Red),
        MissCause::Deleted => ('D', Color::Magenta),
        MissCause::Flushed => ('F', Color::Cyan),
        MissCause::FailedWrite => ('W', Color::LightRed),
        MissCause::Unknown => ('?', Color::Gray),
    }
}

fn percent(ratio: Option<f64>) -> String {
    match ratio {
        Some(r) if (0.995..1.0).contains(&r) => "99%".into(),
        Some(r) => format!("{:.0}%", r * 100.0),
        None => "-".into(),
    }
}

fn count(n: f64) -> String {
    if n >= 1e6 {
        format!("{:.1}M", n / 1e6)
    } else if n >= 1e4 {
        format!("{:.0}k", n / 1e3)
    } else if n >= 100.0 || n == n.trunc() {
        format!("{n:.0}")
    } else {
        format!("{n:.1}")
    }
}

/// The hit ratio of `counts`; None when unknown, as from a source that sees misses only (`watch`).
fn hit_ratio_of(counts: &cachescope_core::WindowCounts, misses_only: bool) -> Option<f64> {
    if misses_only {
        return None;
    }
    counts.miss_ratio().map(|m| 1.0 - m)
}

/// The causes of `misses` as a bar of `width` cells, each cause's share in its letter.
fn causes_bar(row: &PatternRow, width: usize, theme: Theme) -> Line<'static> {
    let total: f64 = MissCause::ALL.iter().map(|&c| row.total.cause(c)).sum();
    if total <= 0.0 || width == 0 {
        return Line::from("");
    }
    let mut spans = Vec::new();
    let mut used = 0usize;
    let mut shares: Vec<(MissCause, f64)> = MissCause::ALL.iter().map(|&c| (c, row.total.cause(c) / total)).collect();
    shares.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (cause, share) in shares {
        let cells = ((share * width as f64).round() as usize).min(width - used);
        if cells == 0 {
            continue;
        }
        let (letter, color) = cause_mark(cause);
        let style = if theme.color { Style::new().fg(Color::Black).bg(color) } else { Style::new() };
        spans.push(Span::styled(letter.to_string().repeat(cells), style));
        used += cells;
    }
    Line::from(spans)
}

/// Draws the whole frame.
pub fn draw(frame: &mut Frame, app: &App, screen: &Screen, theme: Theme) {
    let area = frame.area();
    let [header, chart, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Percentage(if area.height < 30 { 30 } else { 35 }),
        Constraint::Min(5),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(frame, header, app, screen, theme);
    draw_chart(frame, chart, app, screen, theme);
    if area.width >= 110 {
        let [table, side] = Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(body);
        draw_patterns(frame, table, app, screen, theme);
        draw_side(frame, side, screen, theme);
    } else {
        let [table, side] = Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(body);
        draw_patterns(frame, table, app, screen, theme);
        draw_side(frame, side, screen, theme);
    }
    draw_footer(frame, footer, app, theme);
    if app.detail
        && let Some(name) = app.selected_name(screen)
    {
        draw_detail(frame, centered(area, 90, 85), name, screen, theme);
    }
    if app.help {
        draw_help(frame, centered(area, 70, 80), theme);
    }
}

fn centered(area: Rect, width_percent: u16, height_percent: u16) -> Rect {
    let width = area.width * width_percent / 100;
    let height = area.height * height_percent / 100;
    Rect { x: area.x + (area.width - width) / 2, y: area.y + (area.height - height) / 2, width, height }
}

fn draw_header(frame: &mut Frame, area: Rect, app: &App, screen: &Screen, theme: Theme) {
    let overview = &screen.overview;
    let now = overview.global.last().map(|t| hit_ratio_of(&t.counts, overview.misses_only)).unwrap_or(None);
    let open = overview.anomalies.iter().filter(|a| a.is_open()).count();
    let mut spans = vec![
        Span::styled("cachescope top", theme.bold()),
        Span::raw(" · hit ratio "),
        Span::styled(percent(now), theme.ratio(now).add_modifier(Modifier::BOLD)),
        Span::raw(" · "),
        Span::styled(
            format!("{open} anomal{}", if open == 1 { "y" } else { "ies" }),
            if open > 0 { theme.fg(Color::Red).add_modifier(Modifier::BOLD) } else { Style::new() },
        ),
        Span::raw(format!(
            " · {} pattern{} · {} events · {}",
            overview.patterns.len(),
            if overview.patterns.len() == 1 { "" } else { "s" },
            count(overview.events as f64),
            screen.source
        )),
    ];
    if overview.dropped > 0 {
        spans.push(Span::styled(format!(" · {} dropped", count(overview.dropped as f64)), theme.fg(Color::Yellow)));
    }
    if let Some(stale) = &screen.stale {
        spans.push(Span::styled(format!(" · STALE: {stale}"), theme.fg(Color::Red).add_modifier(Modifier::BOLD)));
    }
    if app.paused {
        spans.push(Span::styled(" · PAUSED", theme.fg(Color::Yellow).add_modifier(Modifier::BOLD)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The hit ratio over the range, in percent, with vertical lines at markers (`|` deploys) and anomaly starts.
fn draw_chart(frame: &mut Frame, area: Rect, app: &App, screen: &Screen, theme: Theme) {
    let overview = &screen.overview;
    let end = overview.global.last().map_or(overview.time, |t: &Tick| t.start + t.span);
    let range = app.range.seconds() as f64;
    let start = end.saturating_sub(app.range.seconds() * 1_000_000);
    let x = |time: u64| (time.saturating_sub(start)) as f64 / 1e6;
    let points: Vec<(f64, f64)> = overview
        .global
        .iter()
        .filter(|t| t.start >= start)
        .filter_map(|t| {
            hit_ratio_of(&t.counts, screen.overview.misses_only).map(|r| (x(t.start + t.span / 2), r * 100.0))
        })
        .collect();
    let floor = points.iter().map(|p| p.1).fold(100.0f64, f64::min);
    let low = ((floor - 5.0) / 10.0).floor().clamp(0.0, 9.0) * 10.0;
    let vertical = |time: u64| vec![(x(time), low), (x(time), 100.0)];
    let markers: Vec<Vec<(f64, f64)>> =
        overview.markers.iter().filter(|(t, _)| *t >= start).map(|(t, _)| vertical(*t)).collect();
    let anomalies: Vec<Vec<(f64, f64)>> =
        overview.anomalies.iter().filter(|a| a.started_at >= start).map(|a| vertical(a.started_at)).collect();
    let mut datasets = Vec::new();
    for line in &markers {
        datasets.push(
            Dataset::default().marker(Marker::Dot).graph_type(GraphType::Line).style(theme.fg(Color::Cyan)).data(line),
        );
    }
    for line in &anomalies {
        datasets.push(
            Dataset::default().marker(Marker::Dot).graph_type(GraphType::Line).style(theme.fg(Color::Red)).data(line),
        );
    }
    datasets.push(
        Dataset::default()
            .name("hit ratio")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme.fg(Color::Green))
            .data(&points),
    );
    let title = format!(
        " hit ratio, last {} ({} s windows){}{} ",
        app.range.label(),
        overview.window_seconds,
        if markers.is_empty() { "" } else { " · deploys" },
        if anomalies.is_empty() { "" } else { " · anomalies" },
    );
    let chart = Chart::new(datasets)
        .block(Block::default().borders(Borders::ALL).title(title))
        .x_axis(Axis::default().bounds([0.0, range]).labels([Line::from(clock(start)), Line::from(clock(end))]))
        .y_axis(Axis::default().bounds([low, 100.0]).labels([Line::from(format!("{low:.0}%")), Line::from("100%")]));
    frame.render_widget(chart, area);
}

fn draw_patterns(frame: &mut Frame, area: Rect, app: &App, screen: &Screen, theme: Theme) {
    let rows = app.rows(screen);
    let window = screen.overview.window_seconds;
    let wide = area.width >= 90;
    let bar_width = if wide { 14 } else { 8 };
    let arrow = if app.descending { "▼" } else { "▲" };
    let head = |label: &'static str, sort: crate::app::SortBy| {
        if app.sort == sort { format!("{label}{arrow}") } else { label.to_string() }
    };
    use crate::app::SortBy;
    let mut header = vec![
        head("pattern", SortBy::Name),
        head("hit", SortBy::HitRatio),
        head("misses/s", SortBy::MissRate),
        head("misses", SortBy::Misses),
    ];
    if wide {
        header.push(head("reads", SortBy::Reads));
    }
    header.push("causes".to_string());
    let body: Vec<Row> = rows
        .iter()
        .map(|row| {
            let hit = hit_ratio_of(&row.last, screen.overview.misses_only);
            let mut cells = vec![
                Cell::from(row.name.clone()),
                Cell::from(Span::styled(percent(hit), theme.ratio(hit))),
                Cell::from(count(miss_rate(row, window))),
                Cell::from(count(row.total.misses as f64)),
            ];
            if wide {
                cells.push(Cell::from(count(row.total.reads as f64)));
            }
            cells.push(Cell::from(causes_bar(row, bar_width, theme)));
            Row::new(cells)
        })
        .collect();
    let mut widths = vec![Constraint::Min(14), Constraint::Length(5), Constraint::Length(9), Constraint::Length(7)];
    if wide {
        widths.push(Constraint::Length(7));
    }
    widths.push(Constraint::Length(bar_width as u16));
    let filter = if app.filtering || !app.filter.is_empty() {
        format!(" · filter: {}{}", app.filter, if app.filtering { "_" } else { "" })
    } else {
        String::new()
    };
    let title =
        format!(" patterns ({} of {}) by {}{filter} ", rows.len(), screen.overview.patterns.len(), app.sort.label());
    let table = Table::new(body, widths)
        .header(Row::new(header).style(theme.bold()))
        .block(Block::default().borders(Borders::ALL).title(title))
        .row_highlight_style(theme.selected());
    let mut state = TableState::default().with_selected(if rows.is_empty() { None } else { Some(app.selected) });
    frame.render_stateful_widget(table, area, &mut state);
}

/// Open anomalies, the findings with their fix, then the anomalies closed lately.
fn draw_side(frame: &mut Frame, area: Rect, screen: &Screen, theme: Theme) {
    let mut lines: Vec<Line> = Vec::new();
    let anomalies = &screen.overview.anomalies;
    let open: Vec<_> = anomalies.iter().filter(|a| a.is_open()).collect();
    if open.is_empty() {
        lines.push(Line::from(Span::styled("No open anomaly.", theme.fg(Color::Green))));
    }
    for anomaly in open.iter().take(5) {
        lines.push(Line::from(vec![
            Span::styled("OPEN ", theme.fg(Color::Red).add_modifier(Modifier::BOLD)),
            Span::raw(anomaly.text.clone()),
        ]));
    }
    lines.push(Line::from(""));
    match &screen.report {
        Some(report) if !report.findings.is_empty() => {
            lines.push(Line::from(Span::styled("Findings", theme.bold())));
            for finding in report.findings.iter().take(8) {
                let severity = finding.severity.as_str().to_uppercase();
                let color = match finding.severity.as_str() {
                    "critical" => Color::Red,
                    "warning" => Color::Yellow,
                    _ => Color::Blue,
                };
                lines.push(Line::from(vec![
                    Span::styled(format!("{severity} "), theme.fg(color).add_modifier(Modifier::BOLD)),
                    Span::raw(format!("{} {}: ", finding.cause.as_str(), finding.pattern)),
                    Span::raw(finding.suggestion.summary.clone()),
                ]));
            }
        }
        Some(_) => lines.push(Line::from("No finding.")),
        None => lines.push(Line::from("Findings: waiting for the first report.")),
    }
    let closed: Vec<_> = anomalies.iter().filter(|a| !a.is_open()).take(3).collect();
    if !closed.is_empty() {
        lines.push(Line::from(""));
        for anomaly in closed {
            lines.push(Line::from(vec![
                Span::styled("closed ", theme.fg(Color::Green)),
                Span::raw(anomaly.text.clone()),
            ]));
        }
    }
    let block = Block::default().borders(Borders::ALL).title(" anomalies and findings ");
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }).block(block), area);
}

fn draw_footer(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let keys = if app.filtering {
        "type a filter · Enter/Esc done · Backspace erase".to_string()
    } else if area.width < 100 {
        format!("q quit ? help s sort r rev / filter t range ({}) p pause ↑↓ Enter detail", app.range.label())
    } else {
        format!(
            "q quit · ? help · s sort · r reverse · / filter · t range ({}) · p pause · ↑↓ select · Enter detail",
            app.range.label()
        )
    };
    frame.render_widget(Paragraph::new(Span::styled(keys, theme.fg(Color::DarkGray))), area);
}

fn draw_detail(frame: &mut Frame, area: Rect, name: &str, screen: &Screen, theme: Theme) {
    frame.render_widget(Clear, area);
    let block = Block::default().borders(Borders::ALL).title(format!(" {name} · Esc closes "));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(row) = screen.overview.patterns.iter().find(|r| r.name == name) else { return };
    let [chart_area, text_area] = Layout::vertical([Constraint::Percentage(40), Constraint::Min(3)]).areas(inner);
    let points: Vec<(f64, f64)> =
        row.miss_ratios.iter().enumerate().filter_map(|(i, r)| r.map(|m| (i as f64, (1.0 - m) * 100.0))).collect();
    let n = row.miss_ratios.len().max(1) as f64;
    let dataset = Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(theme.fg(Color::Green))
        .data(&points);
    let chart = Chart::new(vec![dataset])
        .block(Block::default().title(format!(" hit ratio, last {} windows ", row.miss_ratios.len())))
        .x_axis(Axis::default().bounds([0.0, n]))
        .y_axis(Axis::default().bounds([0.0, 100.0]).labels([Line::from("0%"), Line::from("100%")]));
    frame.render_widget(chart, chart_area);
    frame.render_widget(
        Paragraph::new(detail_lines(row, screen.report.as_ref(), screen.overview.misses_only, theme))
            .wrap(Wrap { trim: true }),
        text_area,
    );
}

fn detail_lines(row: &PatternRow, report: Option<&Report>, misses_only: bool, theme: Theme) -> Vec<Line<'static>> {
    let total = &row.total;
    let mut lines = vec![Line::from(format!(
        "{} reads · {} hits · {} misses · hit ratio {} since the start, {} in the last window · {} writes, {} refused",
        count(total.reads as f64),
        count(total.hits as f64),
        count(total.misses as f64),
        percent(hit_ratio_of(total, misses_only)),
        percent(hit_ratio_of(&row.last, misses_only)),
        count(total.writes as f64),
        count(total.write_errors as f64),
    ))];
    let causes: f64 = MissCause::ALL.iter().map(|&c| total.cause(c)).sum();
    if causes > 0.0 {
        let parts: Vec<String> = MissCause::ALL
            .iter()
            .filter(|&&c| total.cause(c) > 0.0)
            .map(|&c| format!("{} ({}) {:.0}%", c.as_str(), cause_mark(c).0, 100.0 * total.cause(c) / causes))
            .collect();
        lines.push(Line::from(format!("misses by cause: {}", parts.join(" · "))));
    }
    if let Some(stats) = report.and_then(|r| r.patterns.iter().find(|p| p.pattern == row.name)) {
        let mut facts = Vec::new();
        if let Some(ttl) = &stats.ttl_seconds {
            facts.push(format!("TTL p50 {:.0} s, p90 {:.0} s", ttl.p50, ttl.p90));
        }
        if let Some(reread) = &stats.reaccess_seconds {
            facts.push(format!("read again after p50 {:.0} s, p90 {:.0} s", reread.p50, reread.p90));
        }
        facts.push(format!("{} distinct keys", count(stats.distinct_keys as f64)));
        lines.push(Line::from(facts.join(" · ")));
    }
    for finding in report.iter().flat_map(|r| &r.findings).filter(|f| f.pattern == row.name) {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(
            format!("{} {}", finding.severity.as_str().to_uppercase(), finding.cause.as_str()),
            theme.bold(),
        )));
        lines.push(Line::from(finding.evidence.summary.clone()));
        for detail in &finding.evidence.details {
            lines.push(Line::from(format!("· {detail}")));
        }
        lines.push(Line::from(format!("Fix: {}", finding.suggestion.summary)));
    }
    lines
}

fn draw_help(frame: &mut Frame, area: Rect, theme: Theme) {
    frame.render_widget(Clear, area);
    let mut lines = vec![
        Line::from(Span::styled("Keys", theme.bold())),
        Line::from("q, Esc      quit (Esc first closes a view or clears the filter)"),
        Line::from("s           sort by the next column; r reverses"),
        Line::from("/           filter the patterns (type, then Enter)"),
        Line::from("t           the chart's range: 10m, 1h, 6h, 24h"),
        Line::from("p, space    pause (the source keeps running)"),
        Line::from("↑ ↓ j k     select a pattern; Enter opens its detail"),
        Line::from(""),
        Line::from(Span::styled("Causes bar", theme.bold())),
    ];
    for cause in MissCause::ALL {
        let (letter, color) = cause_mark(cause);
        let style = if theme.color { Style::new().fg(Color::Black).bg(color) } else { Style::new() };
        lines.push(Line::from(vec![
            Span::styled(format!(" {letter} "), style),
            Span::raw(format!(" {}", cause.as_str())),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::from("Any key closes this help."));
    let block = Block::default().borders(Borders::ALL).title(" help ");
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
