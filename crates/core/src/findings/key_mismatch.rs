//! `key_mismatch`: one pattern is read and never written while another is written, and the ids read under the
//! first are the ids written under the second (`users:42` read, `user:42` written). The reader and the writer
//! disagree on the key format: every read of the reader misses, whether all clients read the wrong format (and
//! the writer's writes are wasted) or only some of them (an old version, one service).

use crate::report::{Action, Finding, FindingCause, Severity};

use super::{Analysis, Claims, Draft, PatternView, quoted, round};
use crate::human;
use crate::pattern::PatternId;

/// Overlaps this close to the best are as good: bottom-k sketches estimate them to within a few percent.
const CLOSE_OVERLAP: f64 = 0.1;

pub(crate) fn detect(analysis: &Analysis<'_>, claims: &mut Claims) -> Vec<(PatternId, Finding)> {
    let t = analysis.thresholds;
    let is_reader = |p: &PatternView<'_>| {
        p.stats.writes == 0
            && p.stats.write_errors == 0
            && analysis.material(p, reader_misses(analysis, p))
            && (analysis.presumed_held || p.miss_ratio() >= 0.5)
    };
    // The writer may also be read, by the clients that use the right format: what links it to the reader is
    // the ids.
    let is_writer = |p: &PatternView<'_>| p.stats.writes >= t.min_misses;

    let mut found = Vec::new();
    for reader in analysis.patterns.iter().filter(|p| is_reader(p)) {
        let linked: Vec<(&PatternView<'_>, f64, f64)> = analysis
            .patterns
            .iter()
            .filter(|w| w.id != reader.id && is_writer(w))
            .filter_map(|writer| {
                let overlap = reader.stats.ids_read.containment_in(&writer.stats.ids_written);
                let spelling = strsim::normalized_levenshtein(reader.name, writer.name);
                let no_ids = reader.stats.ids_read.is_empty() && writer.stats.ids_written.is_empty();
                let linked = overlap >= t.mismatch_min_id_overlap
                    || (overlap >= t.mismatch_min_id_overlap_spelled_alike && spelling >= t.mismatch_spelled_alike)
                    || (no_ids && spelling >= t.mismatch_spelling_without_ids);
                // With no misses to go by (a model presumed the reader's keys held), a pattern only read is
                // ordinary (data loaded before the trace began): the ids alone, small numbers shared by many
                // entities, do not make it a mismatch; its name must also be the writer's, give or take a word.
                let named_alike = !analysis.presumed_held || words_nest(reader.name, writer.name);
                (linked && named_alike).then_some((writer, overlap, spelling))
            })
            .collect();
        // Small numbers are ids of many entities at once (user 42, order 42): a writer spelled like the reader
        // comes first, whatever share of the ids an unrelated one holds; then, among writers holding about as many
        // of the reader's ids as the best, the one spelled most like it.
        let alike: Vec<_> = linked.iter().filter(|l| l.2 >= t.mismatch_spelled_alike).copied().collect();
        let candidates = if alike.is_empty() { linked } else { alike };
        let best_overlap = candidates.iter().map(|l| l.1).fold(0.0, f64::max);
        let best = candidates
            .into_iter()
            .filter(|l| l.1 >= best_overlap - CLOSE_OVERLAP)
            .max_by(|a, b| a.2.total_cmp(&b.2).then(a.1.total_cmp(&b.1)));
        let Some((writer, overlap, spelling)) = best else {
            continue;
        };
        claims.mismatched_readers.insert(reader.id);
        // The writer's unread writes are the mismatch's: readers look for them elsewhere.
        claims.mismatched_writers.insert(writer.id);

        let mut draft = Draft::new(FindingCause::KeyMismatch, reader.name, reader_misses(analysis, reader));
        draft.severity_floor = Severity::Warning;
        draft.related_patterns.push(writer.name.to_string());
        let writer_read = if (writer.stats.hits as f64) <= 0.2 * writer.stats.writes as f64 {
            "written but rarely read"
        } else {
            "written (and read by other clients)"
        };
        draft.evidence = format!(
            "{} is read but never written, while {} is {writer_read}: {} of the ids read under the first were \
             written under the second.",
            quoted(reader.name),
            quoted(writer.name),
            human::percent(overlap)
        );
        draft.details.push(if analysis.presumed_held {
            format!(
                "{}: {} reads, of keys the trace never wrote (the trace joined a running cache: a model cannot know \
                 whether they were found).",
                quoted(reader.name),
                human::count(reader.stats.reads)
            )
        } else {
            format!(
                "{}: {} reads, {} of them misses.",
                quoted(reader.name),
                human::count(reader.stats.reads),
                human::percent(reader.miss_ratio())
            )
        });
        draft.details.push(format!(
            "{}: {} writes, {} hits.",
            quoted(writer.name),
            human::count(writer.stats.writes),
            human::count(writer.stats.hits)
        ));
        draft.metric("read_pattern", reader.name);
        draft.metric("write_pattern", writer.name);
        draft.metric("id_overlap", round(overlap, 3));
        draft.metric("spelling_similarity", round(spelling, 3));
        draft.metric("reader_reads", reader.stats.reads);
        draft.metric("writer_writes", writer.stats.writes);
        draft.metric("writer_hits", writer.stats.hits);
        draft.suggestion = format!(
            "Make the reader and the writer use one key format: the code that reads {} and the code that writes {} \
             disagree.",
            quoted(reader.name),
            quoted(writer.name)
        );
        draft.action =
            Action::AlignKeyFormat { read_pattern: reader.name.to_string(), write_pattern: writer.name.to_string() };
        found.push((reader.id, analysis.finding(draft)));
    }
    found
}

/// The misses of a pattern never written: every read, when a model presumed its keys held (nothing the trace
/// wrote can have been found), else the misses observed.
fn reader_misses(analysis: &Analysis<'_>, p: &PatternView<'_>) -> u64 {
    if analysis.presumed_held { p.stats.reads.max(p.stats.misses) } else { p.stats.misses }
}

/// Whether the words of one pattern's name (placeholders aside, a plural `s` dropped) are all among the other's:
/// `app:msg:{hex}` and `msg:{hex}`, `orders:{hex}` and `order:{hex}`, `campaign:v2:{token}` and
/// `campaign:{token}`; not `score:{num}` and `page:{num}`.
fn words_nest(a: &str, b: &str) -> bool {
    fn words(name: &str) -> Vec<String> {
        name.split([':', '_', '-', '.', '/', '|', '#'])
            .filter(|w| !w.is_empty() && !w.starts_with('{'))
            .map(|w| {
                let w = w.to_ascii_lowercase();
                match w.strip_suffix('s') {
                    Some(stem) if stem.len() >= 3 => stem.to_string(),
                    _ => w,
                }
            })
            .collect()
    }
    let (a, b) = (words(a), words(b));
    let within = |x: &[String], y: &[String]| !x.is_empty() && x.iter().all(|w| y.contains(w));
    within(&a, &b) || within(&b, &a)
}

#[cfg(test)]
mod tests {
    use super::words_nest;

    #[test]
    fn names_nest_when_one_adds_a_word_or_a_plural() {
        for (a, b) in [
            ("app:msg:{hex}", "msg:{hex}"),
            ("orders:{hex}", "order:{hex}"),
            ("campaign:v2:{token}", "campaign:{token}"),
            ("user_profile:{num}", "user:profile:{num}"),
        ] {
            assert!(words_nest(a, b), "{a} {b}");
        }
        for (a, b) in
            [("score:{num}", "page:{num}"), ("post:{num}", "report:{num}"), ("app:msg:{hex}", "app:user:{hex}")]
        {
            assert!(!words_nest(a, b), "{a} {b}");
        }
    }
}
