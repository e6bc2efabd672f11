//! A fixed part of the accuracy corpus, as a test: the engine's attribution and findings against the
//! simulator's truth on the first sixteen seeds (the whole corpus runs in `bench/accuracy.sh`, figures in
//! BENCHMARKS.md). A failure lists each wrong case with the command that replays it.

use cachescope_accuracy::{Source, measure_corpus, render};

#[test]
fn the_first_scenarios_of_the_corpus_are_diagnosed_right() {
    let seeds: Vec<u64> = (0..16).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let summaries = measure_corpus(&seeds, &[Source::Outcomes, Source::Model], 0, threads, &|_| {});
    let (outcomes, model) = (&summaries[0], &summaries[1]);
    let report = format!(
        "{}\n{}\n{}\n{}",
        render::attribution(outcomes),
        render::findings(outcomes),
        render::failures(outcomes, 50),
        render::attribution(model)
    );
    assert!(outcomes.attribution() >= 0.99, "{report}");
    assert!(model.attribution() >= 0.95, "{report}");
    let all = outcomes.all;
    assert!(all.recall().unwrap() >= 0.95 && all.precision().unwrap() >= 0.95, "{report}");
    for (cause, counts) in &outcomes.by_cause {
        assert!(counts.missed + counts.invented <= 1, "{}: {counts:?}\n{report}", cause.as_str());
    }
    assert_eq!(outcomes.findings_on_healthy, 0, "{report}");
    // Requests only, joining a running cache: the model presumes held what the trace never wrote, and invents
    // no broken fill paths, stampedes or mismatches from it.
    let warm = model.warm_model;
    assert!(model.warm_model_scenarios >= 4, "{}", model.warm_model_scenarios);
    assert!(warm.precision().unwrap() >= 0.95, "{warm:?}\n{}", render::findings(model));
}
