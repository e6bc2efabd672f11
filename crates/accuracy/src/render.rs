//! The measures as Markdown tables, for BENCHMARKS.md and the terminal.

use std::fmt::Write;

use cachescope_core::MissCause;

use crate::{Counts, Source, Summary, Verdict};

/// A heading for one source's results.
pub fn heading(source: Source) -> &'static str {
    match source {
        Source::Outcomes => "With outcomes, as the proxy (or a recording of it) gives them",
        Source::Model => "Requests only, through a cache model of the server's size and policy",
    }
}

fn ratio(value: Option<f64>) -> String {
    value.map_or("–".to_string(), |v| format!("{v:.3}"))
}

fn percent(value: f64) -> String {
    format!("{:.2}%", 100.0 * value)
}

/// Attribution: overall, per cause, and the confusion matrix.
pub fn attribution(summary: &Summary) -> String {
    let mut out = String::new();
    let total: u64 = summary.confusion.iter().flatten().sum();
    let _ = writeln!(
        out,
        "Miss attribution {}: {} of {total} explainable misses attributed to their true cause.\n",
        summary.source.as_str(),
        percent(summary.attribution())
    );
    let _ = writeln!(out, "| true cause | misses | attributed right |");
    let _ = writeln!(out, "|---|---:|---:|");
    for (cause, misses, right) in summary.attribution_by_cause() {
        let _ = writeln!(out, "| {} | {misses} | {} |", cause.as_str(), percent(right));
    }
    let columns: Vec<MissCause> =
        MissCause::ALL.into_iter().filter(|c| summary.confusion.iter().any(|row| row[c.index()] > 0)).collect();
    let _ = writeln!(out, "\nConfusion (rows: truth; columns: what the engine said):\n");
    let _ = writeln!(out, "| | {} |", columns.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(out, "|---|{}", "---:|".repeat(columns.len()));
    for (cause, _, _) in summary.attribution_by_cause() {
        let row = &summary.confusion[cause.index()];
        let cells: Vec<String> = columns.iter().map(|c| row[c.index()].to_string()).collect();
        let _ = writeln!(out, "| {} | {} |", cause.as_str(), cells.join(" | "));
    }
    let unexplainable: u64 = summary.unexplainable.iter().sum();
    if unexplainable > 0 {
        let said: Vec<String> = MissCause::ALL
            .iter()
            .filter(|c| summary.unexplainable[c.index()] > 0)
            .map(|c| format!("{} {}", c.as_str(), summary.unexplainable[c.index()]))
            .collect();
        let _ = writeln!(
            out,
            "\n{unexplainable} misses of keys whose history predates the recording (the engine said: {}).",
            said.join(", ")
        );
    }
    if summary.outcome_disagreements > 0 {
        let _ = writeln!(
            out,
            "\nThe model answered {} of {} reads otherwise than the server ({}); those misses are left out.",
            summary.outcome_disagreements,
            summary.reads,
            percent(summary.outcome_disagreements as f64 / summary.reads.max(1) as f64)
        );
    }
    out
}

fn counts_row(name: &str, counts: &Counts) -> String {
    format!(
        "| {name} | {} | {} | {} | {} | {} | {} |",
        counts.found,
        counts.missed,
        counts.invented,
        counts.accepted,
        ratio(counts.recall()),
        ratio(counts.precision())
    )
}

/// Findings: recall and precision per cause.
pub fn findings(summary: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Findings {}, {} scenarios:\n", summary.source.as_str(), summary.scenarios);
    let _ = writeln!(out, "| cause | found | missed | invented | on the edge | recall | precision |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for (cause, counts) in &summary.by_cause {
        let _ = writeln!(out, "{}", counts_row(cause.as_str(), counts));
    }
    let _ = writeln!(out, "{}", counts_row("all", &summary.all));
    let _ = writeln!(out, "{}", counts_row("patterns with several faults", &summary.several_faults));
    if summary.warm_model_scenarios > 0 {
        let w = &summary.warm_model;
        let _ = writeln!(
            out,
            "\nOf these, the {} recordings that join a running cache are replayed by a model that presumes held \
             the keys the trace reads before it writes them, for as long as their pattern's TTL allows (a trace of \
             requests only cannot tell a key the cache held from one never written): {} findings were right, {} \
             missed, {} invented (recall {}, precision {}).",
            summary.warm_model_scenarios,
            w.found,
            w.missed,
            w.invented,
            ratio(w.recall()),
            ratio(w.precision())
        );
        let _ = writeln!(
            out,
            "\n| cause, joining a running cache | found | missed | invented | on the edge | recall | precision |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
        for (cause, counts) in &summary.warm_model_by_cause {
            let _ = writeln!(out, "{}", counts_row(cause.as_str(), counts));
        }
        if summary.hidden_failed_fills > 0 {
            let _ = writeln!(
                out,
                "\nNot counted as missed: {} broken fill paths material only through misses of keys the recording reads \
                 and never writes, in patterns with no TTL (or not yet past it). Requests alone show such a key \
                 exactly as they show one the cache held all along; only the server's replies (the proxy, a \
                 recording of it, `watch`) tell them apart. They are judged on the edge: not missed, and not \
                 invented when named.",
                summary.hidden_failed_fills
            );
        }
    }
    let _ = writeln!(
        out,
        "\nA finding on a healthy pattern in {} of {} scenarios ({}).",
        summary.findings_on_healthy,
        summary.scenarios,
        percent(summary.findings_on_healthy as f64 / summary.scenarios.max(1) as f64)
    );
    out
}

/// The wrong cases, each with the command that replays it.
pub fn failures(summary: &Summary, limit: usize) -> String {
    let mut out = String::new();
    for (seed, wrong) in summary.failures.iter().take(limit) {
        let what: Vec<String> = wrong
            .iter()
            .map(|j| {
                let verdict = if j.verdict == Verdict::Missed { "missed" } else { "invented" };
                format!("{verdict} {} on {}", j.cause.as_str(), j.pattern)
            })
            .collect();
        let _ = writeln!(
            out,
            "seed {seed}: {} (cargo run --release -p cachescope-accuracy -- --seed {seed})",
            what.join("; ")
        );
    }
    if summary.failures.len() > limit {
        let _ = writeln!(out, "… and {} more", summary.failures.len() - limit);
    }
    out
}

/// The suggestions played: how many gain, and how close the suggested values are to the smallest sufficient.
pub fn suggestions(summary: &Summary, limit: usize) -> String {
    let played = &summary.played;
    if played.is_empty() {
        return String::new();
    }
    let seeds: std::collections::BTreeSet<u64> = played.iter().map(|p| p.seed).collect();
    let positive = played.iter().filter(|p| p.works()).count();
    let searched: Vec<_> = played.iter().filter_map(|p| p.search.as_ref().map(|s| (p, s))).collect();
    let judged: Vec<_> = searched.iter().filter_map(|(p, s)| s.within_2x().map(|w| (p, s, w))).collect();
    let within = judged.iter().filter(|(_, _, w)| *w).count();
    let detector_within = judged.iter().filter(|(_, s, _)| s.detector_within_2x() == Some(true)).count();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Suggestions the what-if simulator can play, on {} scenarios: {} of {} ({}) work (they raise the whole \
         cache's hit ratio, or, to stop caching a pattern, do not lower it). Of the {} TTLs and memory sizes whose best gain is positive, {} ({}) are within 2x of the \
         smallest value that reaches 90% of it ({} more gain nothing at any value).\n",
        seeds.len(),
        positive,
        played.len(),
        percent(positive as f64 / played.len() as f64),
        judged.len(),
        within,
        percent(within as f64 / judged.len().max(1) as f64),
        searched.len() - judged.len()
    );
    let _ = writeln!(
        out,
        "The values are as `analyze` gives them, tuned on the traffic by the what-if simulator (the smallest of a \
         ladder of values that brings 90% of its best gain). The detectors' own values, which a live source with no \
         replay gives, are within 2x in {} of the same {} cases ({}).\n",
        detector_within,
        judged.len(),
        percent(detector_within as f64 / judged.len().max(1) as f64)
    );
    // How far off, by kind of value: the suggested over the smallest sufficient, as quantiles.
    for (kind, ttl) in [("TTLs", true), ("memory sizes", false)] {
        let mut ratios: Vec<f64> = judged
            .iter()
            .filter(|(p, _, _)| p.finding.starts_with("ttl_") == ttl)
            .filter_map(|(_, s, _)| s.smallest_sufficient.map(|smallest| s.suggested / smallest))
            .collect();
        if ratios.is_empty() {
            continue;
        }
        ratios.sort_by(f64::total_cmp);
        let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
        let _ = writeln!(
            out,
            "{kind}: the suggested value over the smallest sufficient one is {:.2} at the median, {:.2} at the 10th percentile and {:.2} at the 90th ({} values).\n",
            at(0.5),
            at(0.1),
            at(0.9),
            ratios.len()
        );
    }
    let mut wrong = Vec::new();
    for p in played.iter().filter(|p| !p.works()) {
        wrong.push(format!("seed {}: {} gains {:+.4}", p.seed, p.finding, p.gain));
    }
    for (p, s, _) in judged.iter().filter(|(_, _, w)| !w) {
        wrong.push(format!(
            "seed {}: {} suggests {:.0} (now {:.1}), the smallest value reaching 90% of the best gain ({:+.4}) is {:.0}",
            p.seed,
            p.finding,
            s.suggested,
            s.current.unwrap_or(f64::NAN),
            s.best_gain,
            s.smallest_sufficient.unwrap_or(f64::NAN)
        ));
    }
    if !wrong.is_empty() {
        let shown: Vec<&String> = wrong.iter().take(limit).collect();
        let _ = writeln!(out, "```text");
        for line in shown {
            let _ = writeln!(out, "{line}");
        }
        if wrong.len() > limit {
            let _ = writeln!(out, "… and {} more", wrong.len() - limit);
        }
        let _ = writeln!(out, "```");
    }
    out
}

/// The doctor's findings on live servers, by cause.
pub fn doctor(counts: &std::collections::BTreeMap<&'static str, Counts>, scenarios: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "`cachescope doctor` on {scenarios} scenarios replayed against a real redis-server (the last 40 s in real \
         time, the check over 15 s of it, then a 10 s expiry watch), judged against what the server showed during the check and, for TTLs, \
         the scenario's truth:\n"
    );
    let _ = writeln!(out, "| cause | found | missed | invented | on the edge | recall | precision |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    let mut all = Counts::default();
    for (cause, c) in counts {
        let _ = writeln!(out, "{}", counts_row(cause, c));
        all.found += c.found;
        all.missed += c.missed;
        all.invented += c.invented;
        all.accepted += c.accepted;
    }
    let _ = writeln!(out, "{}", counts_row("all", &all));
    out
}
