//! The page as HTML, with the data as of now: the summary, open and recent anomalies, the findings with their
//! evidence and fix, and the patterns table. The script redraws the same elements (by id) as data arrives.

use cachescope_core::MissCause;
use cachescope_core::report::Report;
use cachescope_live::Overview;
use cachescope_live::overview::PatternRow;
use maud::{DOCTYPE, Markup, html};

fn percent(ratio: Option<f64>) -> String {
    ratio.map_or("-".into(), |r| format!("{:.1}%", r * 100.0))
}

fn hit_ratio(counts: &cachescope_core::WindowCounts) -> Option<f64> {
    counts.miss_ratio().map(|m| 1.0 - m)
}

/// The cause with most misses, and its share.
fn main_cause(row: &PatternRow) -> String {
    let total: f64 = MissCause::ALL.iter().map(|&c| row.total.cause(c)).sum();
    MissCause::ALL
        .iter()
        .map(|&c| (c, row.total.cause(c)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .filter(|(_, n)| *n > 0.0)
        .map_or("-".into(), |(c, n)| format!("{} {:.0}%", c.as_str(), 100.0 * n / total))
}

pub fn render(overview: &Overview, report: Option<&Report>, takes_markers: bool) -> String {
    let now = overview.global.last().and_then(|t| hit_ratio(&t.counts));
    let open = overview.anomalies.iter().filter(|a| a.is_open()).count();
    let page: Markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { "cachescope" }
                // No icon: a browser would otherwise ask for /favicon.ico.
                link rel="icon" href="data:,";
                link rel="stylesheet" href="/assets/dashboard.css";
                script src="/assets/dashboard.js" defer {}
            }
            body {
                header {
                    h1 { "cachescope" }
                    p #summary aria-live="polite" {
                        "Hit ratio " strong #hit-now { (percent(now)) } " in the last window · "
                        span #open-count { (open) } " open anomalies · "
                        (overview.patterns.len()) " patterns · " (overview.events) " events"
                        @if overview.dropped > 0 { " · " (overview.dropped) " dropped" }
                    }
                    @if takes_markers {
                        form #mark-form hidden {
                            label for="mark-note" { "Deploy marker" }
                            input #mark-note type="text" maxlength="180" placeholder="v1.2.3";
                            button type="submit" { "Add marker" }
                            output #mark-result {}
                        }
                    }
                }
                main {
                    section #charts aria-labelledby="charts-title" {
                        h2 #charts-title { "Over time" }
                        p .hint { "Charts need JavaScript; the tables below are the report as of this page's load." }
                        figure {
                            figcaption { "Hit ratio, whole cache, with deploy markers and anomaly starts" }
                            div #hit-chart .chart role="img" aria-label="Hit ratio over time" {}
                        }
                        figure {
                            figcaption { "Misses per second by cause" }
                            div #cause-chart .chart role="img" aria-label="Misses by cause over time" {}
                        }
                    }
                    section aria-labelledby="anomalies-title" {
                        h2 #anomalies-title { "Anomalies" }
                        ul #anomalies {
                            @if overview.anomalies.is_empty() { li { "None so far." } }
                            @for anomaly in &overview.anomalies {
                                li .(if anomaly.is_open() { "open" } else { "closed" }) {
                                    strong { (if anomaly.is_open() { "Open: " } else { "Closed: " }) }
                                    (anomaly.text)
                                }
                            }
                        }
                    }
                    section aria-labelledby="findings-title" {
                        h2 #findings-title { "Findings" }
                        ol #findings {
                            @match report {
                                None => li { "Waiting for the first report." },
                                Some(report) if report.findings.is_empty() => li { "No finding: nothing to fix." },
                                Some(report) => @for finding in &report.findings {
                                    li .(finding.severity.as_str()) {
                                        h3 {
                                            span .severity { (finding.severity.as_str().to_uppercase()) } " "
                                            (finding.cause.as_str()) " on " code { (finding.pattern) }
                                            " · " (percent(Some(finding.misses_explained.share))) " of misses"
                                        }
                                        p { (finding.evidence.summary) }
                                        @if !finding.evidence.details.is_empty() {
                                            ul { @for detail in &finding.evidence.details { li { (detail) } } }
                                        }
                                        p .fix { strong { "Fix: " } (finding.suggestion.summary) }
                                        @if let Some(gain) = &finding.simulated {
                                            p .gain {
                                                "Simulated: " (gain.change) ": whole cache "
                                                (percent(Some(gain.hit_ratio_before))) " → " (percent(Some(gain.hit_ratio_after)))
                                            }
                                        }
                                    }
                                },
                            }
                        }
                    }
                    section aria-labelledby="patterns-title" {
                        h2 #patterns-title { "Patterns" }
                        p #filter-box hidden {
                            label for="filter" { "Filter " }
                            input #filter type="search" placeholder="user:";
                        }
                        table #patterns {
                            thead { tr {
                                th scope="col" data-sort="name" { "Pattern" }
                                th scope="col" data-sort="hit" { "Hit ratio (last window)" }
                                th scope="col" data-sort="rate" { "Misses/s" }
                                th scope="col" data-sort="misses" { "Misses" }
                                th scope="col" data-sort="reads" { "Reads" }
                                th scope="col" { "Main cause" }
                            } }
                            tbody {
                                @for row in &overview.patterns {
                                    tr {
                                        th scope="row" { a href={ "#pattern=" (row.name) } { (row.name) } }
                                        td { (percent(hit_ratio(&row.last))) }
                                        td { (format!("{:.1}", row.last.misses as f64 / overview.window_seconds.max(1e-9))) }
                                        td { (row.total.misses) }
                                        td { (row.total.reads) }
                                        td { (main_cause(row)) }
                                    }
                                }
                            }
                        }
                    }
                    section #detail hidden aria-labelledby="detail-title" {
                        h2 #detail-title {}
                        div #detail-chart .chart role="img" aria-label="The pattern's hit ratio over the last windows" {}
                        div #detail-body {}
                        p { a href="#" { "Back to all patterns" } }
                    }
                }
            }
        }
    };
    page.into_string()
}
