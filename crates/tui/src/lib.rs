//! `cachescope top`: a terminal dashboard of the live layer, in the spirit of htop. [`app`] is its state and keys,
//! [`ui`] draws a frame, [`feed`] brings the data (a running instance's HTTP API, or a live layer in the same
//! process), [`run`] owns the terminal: raw mode and the alternate screen, restored on exit, on Ctrl-C and on a
//! panic. [`render`] draws one frame as text, for tests, screenshots and `--dump`.

pub mod app;
pub mod feed;
pub mod screen;
pub mod ui;

use std::io;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{self, Event, KeyEventKind};

pub use app::App;
pub use feed::{Feed, HttpFeed, Keeper, LocalFeed};
pub use screen::Screen;
pub use ui::Theme;

/// How often the data is fetched again.
pub const REFRESH: Duration = Duration::from_secs(1);

/// Runs the dashboard until the user quits.
pub fn run(feed: &mut dyn Feed, theme: Theme) -> io::Result<()> {
    // ratatui::init installs a panic hook that restores the terminal, then enters raw mode and the alternate
    // screen; ratatui::restore undoes both.
    let mut terminal = ratatui::init();
    let result = event_loop(&mut terminal, feed, theme);
    ratatui::restore();
    result
}

fn event_loop(terminal: &mut ratatui::DefaultTerminal, feed: &mut dyn Feed, theme: Theme) -> io::Result<()> {
    let mut app = App::default();
    let mut keeper = Keeper::default();
    let mut fetched: Option<Instant> = None;
    loop {
        if !app.paused && fetched.is_none_or(|at| at.elapsed() >= REFRESH) {
            keeper.refresh(feed);
            fetched = Some(Instant::now());
        }
        let shown = app.rows(&keeper.screen).len();
        app.selected = app.selected.min(shown.saturating_sub(1));
        terminal.draw(|frame| ui::draw(frame, &app, &keeper.screen, theme))?;
        if event::poll(Duration::from_millis(200))?
            && let Event::Key(key) = event::read()?
            && key.kind != KeyEventKind::Release
        {
            app.key(key, shown);
        }
        if app.quit {
            return Ok(());
        }
    }
}

/// One frame of `screen` as `app` shows it, `width` x `height` cells, as text (one line a row).
pub fn render(app: &App, screen: &Screen, width: u16, height: u16, theme: Theme) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test backend never fails");
    terminal.draw(|frame| ui::draw(frame, app, screen, theme)).expect("drawing into memory");
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buffer.area.height {
        let line: String = (0..buffer.area.width).map(|x| buffer[(x, y)].symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::screen::tests::example;

    const PLAIN: Theme = Theme { color: false };

    fn after(keys: &[KeyCode]) -> App {
        let mut app = App::default();
        for &code in keys {
            app.key(KeyEvent::new(code, KeyModifiers::NONE), 3);
        }
        app
    }

    // Golden frames: what an operator sees, at the sizes terminals have.
    #[test]
    fn the_dashboard_in_80_by_24() {
        insta::assert_snapshot!(render(&App::default(), &example(), 80, 24, PLAIN));
    }

    #[test]
    fn the_dashboard_in_160_by_45() {
        insta::assert_snapshot!(render(&App::default(), &example(), 160, 45, PLAIN));
    }

    #[test]
    fn a_pattern_in_detail() {
        insta::assert_snapshot!(render(&after(&[KeyCode::Enter]), &example(), 120, 36, PLAIN));
    }

    #[test]
    fn the_help() {
        insta::assert_snapshot!(render(&after(&[KeyCode::Char('?')]), &example(), 100, 30, PLAIN));
    }

    #[test]
    fn filtered_sorted_stale_and_paused() {
        let mut screen = example();
        screen.stale = Some("cannot reach http://127.0.0.1:9180 (since 14:59:00, retrying)".into());
        let mut app = after(&[KeyCode::Char('s'), KeyCode::Char('p')]);
        app.filter = "o".into();
        insta::assert_snapshot!(render(&app, &screen, 120, 30, PLAIN));
    }

    #[test]
    fn colour_is_only_a_second_channel() {
        // The same text with and without colour: nothing is said by colour alone.
        let screen = example();
        assert_eq!(
            render(&App::default(), &screen, 120, 30, Theme { color: true }),
            render(&App::default(), &screen, 120, 30, PLAIN)
        );
    }

    #[test]
    fn tiny_terminals_do_not_panic() {
        for (width, height) in [(1, 1), (10, 5), (40, 10), (80, 8)] {
            render(&after(&[KeyCode::Enter]), &example(), width, height, PLAIN);
            render(&after(&[KeyCode::Char('?')]), &example(), width, height, PLAIN);
        }
    }
}
