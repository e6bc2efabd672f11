//! What `deploy/` ships holds up: every metric the Grafana dashboard and the Prometheus rules query is one the
//! binary exports (`metrics::NAMES`, itself checked against a rendered scrape), and the rules pass promtool's
//! checks and unit tests.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use cachescope_web::metrics::NAMES;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// The `cachescope_…` metric names a file mentions (recording rules, `cachescope:…`, are not metrics).
fn metric_names(path: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut names = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("cachescope_") {
        let preceded = rest[..at].chars().last().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
        let name: String =
            rest[at..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
        if !preceded {
            names.insert(name.clone());
        }
        rest = &rest[at + name.len()..];
    }
    names
}

#[test]
fn every_metric_the_dashboard_and_the_rules_query_is_exported() {
    let exported: BTreeSet<&str> = NAMES.iter().copied().collect();
    let files = ["grafana/cachescope-dashboard.json", "prometheus/cachescope-rules.yml", "prometheus/scrape.yml"];
    let mut queried = BTreeSet::new();
    for file in files {
        let names = metric_names(&deploy().join(file));
        for name in &names {
            assert!(exported.contains(name.as_str()), "{file} queries {name}, which cachescope does not export");
        }
        queried.extend(names);
    }
    for needed in ["cachescope_hits_total", "cachescope_misses_by_cause_total", "cachescope_markers_total"] {
        assert!(queried.contains(needed), "deploy/ does not use {needed}: {queried:?}");
    }
}

#[test]
fn the_dashboard_is_json_grafana_imports() {
    let text = std::fs::read_to_string(deploy().join("grafana/cachescope-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert!(dashboard["panels"].as_array().is_some_and(|p| p.len() >= 5), "panels");
    assert!(dashboard["annotations"]["list"].as_array().is_some_and(|a| !a.is_empty()), "annotations");
    assert_eq!(dashboard["__inputs"][0]["pluginId"], "prometheus");
}

#[test]
fn the_alert_rules_pass_promtool() {
    if Command::new("promtool").arg("--version").output().is_err() {
        cachescope_testkit::skip(
            "the_alert_rules_pass_promtool",
            "install promtool (Debian: apt-get install prometheus), or run scripts/test --all",
        );
        return;
    }
    let rules = deploy().join("prometheus");
    for args in [["check", "rules", "cachescope-rules.yml"], ["test", "rules", "cachescope-rules.test.yml"]] {
        let output = Command::new("promtool").args(args).current_dir(&rules).output().unwrap();
        assert!(
            output.status.success(),
            "promtool {}:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
