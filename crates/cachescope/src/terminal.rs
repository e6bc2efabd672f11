//! The terminal: whether to colour, how wide, and progress bars that appear only where someone watches.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::ColorChoice;

/// Whether stdout gets colour: `--color`, then NO_COLOR (any non-empty value), then whether it is a terminal.
pub fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var("TERM").map_or(true, |t| t != "dumb")
                && std::io::stdout().is_terminal()
        }
    }
}

/// Columns for text output: the terminal's width, or 100 when not a terminal (files, pipes, tests).
pub fn width() -> usize {
    if std::io::stdout().is_terminal() { textwrap::termwidth().clamp(60, 160) } else { 100 }
}

/// A progress bar on stderr of `total` steps, hidden when stderr is not a terminal or with --quiet.
pub fn progress_bar(total: u64, unit: &str, quiet: bool) -> ProgressBar {
    let target = if quiet || !std::io::stderr().is_terminal() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr_with_hz(10)
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    let template = format!("{{spinner}} {{msg}} [{{bar:30}}] {{percent:>3}}% {unit} · {{elapsed}} (eta {{eta}})");
    bar.set_style(ProgressStyle::with_template(&template).expect("valid template").progress_chars("=> "));
    bar
}

/// A bar for reading a file, measured in its bytes: how far, how fast, and how long still.
pub fn file_progress_bar(total_bytes: u64, quiet: bool) -> ProgressBar {
    let bar = progress_bar(total_bytes.max(1), "", quiet);
    let template =
        "{spinner} {msg} [{bar:30}] {percent:>3}% of {total_bytes} · {binary_bytes_per_sec} · {elapsed} (eta {eta})";
    bar.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
    bar
}
