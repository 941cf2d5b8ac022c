//! Console benchmark (no harness): account-list frame time at 200×60, bytes
//! written to the terminal per list-navigation keypress. Prints JSON lines.
//! The first-frame figure is measured from outside in scripts/bench.py (tmux).

#[path = "../tests/common/tui.rs"]
#[allow(dead_code)]
mod fixture;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use locksmith::tui::i18n::Lang;
use locksmith::tui::state::reduce;
use locksmith::tui::view;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::KeyCode;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use serde_json::json;

/// Counts what the console would send to the terminal.
#[derive(Clone, Default)]
struct Counter(Arc<Mutex<usize>>);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        *self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))? += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let counter = Counter::default();
    let backend = CrosstermBackend::new(counter.clone());
    let mut terminal = Terminal::with_options(
        backend,
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, 200, 60)),
        },
    )?;
    let mut state = fixture::accounts(Lang::Zh);

    // Frame time: redraw the account list (full render + diff) many times.
    let frames = 2000;
    let mut times = Vec::with_capacity(frames);
    for i in 0..frames {
        // Alternate the selection so every frame has something to diff.
        let _ = reduce(
            &mut state,
            fixture::key(if i % 2 == 0 {
                KeyCode::Down
            } else {
                KeyCode::Up
            }),
        );
        let start = Instant::now();
        terminal.draw(|f| view::render(f, &state))?;
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let median = times[frames / 2];
    let p99 = times[frames * 99 / 100];
    println!(
        "{}",
        json!({ "figure": "console_frame_ms_200x60", "value": median, "p99": p99, "target": "<= 2 ms" })
    );

    // Bytes per keypress: what one ↓ in the list sends after the first full frame.
    let presses = 50;
    let before = *counter.0.lock().map_err(|_| "poisoned")?;
    for _ in 0..presses {
        let _ = reduce(&mut state, fixture::key(KeyCode::Down));
        terminal.draw(|f| view::render(f, &state))?;
    }
    let after = *counter.0.lock().map_err(|_| "poisoned")?;
    println!(
        "{}",
        json!({ "figure": "console_bytes_per_keypress", "value": (after - before) as f64 / presses as f64, "target": "<= 2048" })
    );
    Ok(())
}
