//! cachescope's command line: parses arguments, runs a command, turns the outcome into an exit code.
//! Everything it does lives in the library crates; this binary only wires sources, engine and sinks.

mod cli;
mod commands;
mod config;
mod contracts;
mod exit;
mod logging;
mod parallel_whatif;
mod pattern_batches;
mod redis_url;
mod shares;
mod shutdown;
mod simulated_gains;
mod sinks;
mod sources;
mod terminal;

use std::process::ExitCode;

/// mimalloc rather than the system's allocator: the proxy allocates a few small buffers a command on one thread
/// and frees them on the engine's, which glibc's allocator does slowly (a fifth of the proxy's CPU, measured).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

use cli::{Cli, Command};
use exit::Exit;

/// mimalloc's `purge_delay` option, by its number in its header (`mi_option_e` in mimalloc.h, version 3, which
/// libmimalloc-sys 0.1 builds); a test checks it still holds the documented default.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc keeps freed memory for a second by default before it returns it, which raised `mrc`'s peak memory by
/// a fifth to a half (10 M keys: 622 -> 762 MiB for the exact curve, 22 -> 54 MiB sampled at 1%). Returned at
/// once, the peaks are 672 and 35 MiB.
fn tune_allocator() {
    // SAFETY: set on the main thread before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) };
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() { Exit::Usage as u8 } else { 0 };
            let _ = error.print();
            return ExitCode::from(code);
        }
    };
    logging::init(cli.verbose, cli.log_format);
    let color = terminal::use_color(cli.color);
    let result = match &cli.command {
        Command::Demo(args) => commands::demo::run(args, color, cli.quiet),
        Command::Analyze(args) => commands::analyze::run(args, color, cli.quiet),
        Command::Merge(args) => commands::merge::run(args, color),
        Command::Convert(args) => commands::convert::run(args, cli.quiet),
        Command::Proxy(args) => commands::proxy::run(args, color),
        Command::Doctor(args) => commands::doctor::run(args, color, cli.quiet),
        Command::Watch(args) => commands::watch::run(args, color),
        Command::Capture(args) => commands::capture::run(args, color),
        Command::Mrc(args) => commands::mrc::run(args, color, cli.quiet),
        Command::Whatif(args) => commands::whatif::run(args, color, cli.quiet),
        Command::Mark(args) => commands::mark::run(args),
        Command::Top(args) => commands::top::run(args, color),
    };
    match result {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(error) if exit::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            let usage = error.downcast_ref::<commands::demo::UnknownScenario>().is_some()
                || error.downcast_ref::<redis_url::BadUrl>().is_some()
                || error.downcast_ref::<commands::whatif::NoChange>().is_some();
            let code = if usage { Exit::Usage } else { Exit::for_error(&error) };
            logging::error(&format!("{error:#}"));
            ExitCode::from(code as u8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allocator_options_are_the_ones_meant() {
        // SAFETY: reading an option; the tests set none.
        let delay = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        assert_eq!(delay, 1000, "mimalloc's default purge_delay, in milliseconds");
    }
}
