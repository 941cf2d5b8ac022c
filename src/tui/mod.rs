//! The console (TUI): a thin shell over the same operations as the CLI.
//!
//! - `state`: the state and its one reducer (no I/O), effects as data;
//! - `effects`: the runner that executes effects as tokio tasks (ops/, journal);
//! - `view`: drawing, a pure function of the state;
//! - `i18n`: English and Simplified Chinese catalogs; `text`: CJK cell widths.

pub mod effects;
/// The catalogs live at the crate's top (the operations' messages use them too).
pub use crate::i18n;
pub mod keys;
pub mod profiles;
pub mod state;
pub mod text;
pub mod view;

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ratatui::crossterm::event::{self, Event};
use tokio::sync::mpsc;

use crate::connector::Connector;
use effects::Runner;
use i18n::Lang;
use state::{AppState, Effect, Msg, Profile, reduce};

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("the console needs a terminal: {0}")]
    Terminal(String),
}

pub struct ConsoleOptions {
    pub lang: Lang,
    pub profiles: Vec<Profile>,
    /// Connect to this one right away (`--target`, or the only demo profile).
    pub start: Option<Profile>,
    pub connectors: Vec<Connector>,
    pub journal: (PathBuf, PathBuf),
    /// `--forward URL` and `--config FILE`: where the journal's entries go
    /// (else `[journal] forward` of the usual config files).
    pub forward: JournalForward,
    pub demo: bool,
}

/// How the console's journal forwards (`--forward`, `--config`).
#[derive(Debug, Clone, Default)]
pub struct JournalForward {
    pub url: Option<String>,
    pub config: Option<PathBuf>,
}

/// Set while ssh may ask on the terminal (`?ssh=`): keys are not read and nothing is drawn.
static STEPPED_ASIDE: AtomicBool = AtomicBool::new(false);
/// Set when the console is back: the next frame is drawn on a cleared screen.
static BACK: AtomicBool = AtomicBool::new(false);
/// The console's language, for the line shown while ssh asks.
static ZH: AtomicBool = AtomicBool::new(false);

/// `ConnectSpec::around_ssh` for the console: leaves the alternate screen
/// and raw mode while ssh may ask for a password (`true`), comes back after (`false`).
pub fn step_aside_for_ssh(aside: bool) {
    use ratatui::crossterm::{execute, terminal};
    if aside {
        STEPPED_ASIDE.store(true, Ordering::SeqCst);
        // The key reader polls in 200 ms steps: it stops before ssh reads the terminal.
        std::thread::sleep(Duration::from_millis(250));
        ratatui::restore();
        let lang = if ZH.load(Ordering::SeqCst) {
            Lang::Zh
        } else {
            Lang::En
        };
        let _ = writeln!(std::io::stderr(), "{}", i18n::t(lang, "ssh_step_aside"));
    } else {
        let _ = terminal::enable_raw_mode();
        let _ = execute!(std::io::stdout(), terminal::EnterAlternateScreen);
        BACK.store(true, Ordering::SeqCst);
        STEPPED_ASIDE.store(false, Ordering::SeqCst);
    }
}

/// Sends keys and resizes as messages until the console stops listening.
fn read_keys(tx: mpsc::UnboundedSender<Msg>) {
    std::thread::spawn(move || {
        loop {
            if STEPPED_ASIDE.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
                if tx.is_closed() {
                    break;
                }
                continue;
            }
            match event::poll(Duration::from_millis(200)) {
                Ok(true) => match event::read() {
                    Ok(Event::Key(k)) => {
                        if tx.send(Msg::Key(k)).is_err() {
                            break;
                        }
                    }
                    Ok(Event::Resize(_, rows)) => {
                        if tx.send(Msg::Resize { rows }).is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                },
                Ok(false) => {
                    if tx.is_closed() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    });
}

/// NO_COLOR (any non-empty value) turns colours off; bold and reverse remain.
pub fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// OSC 52: the terminal (and tmux / SSH clients that allow it) sets the clipboard.
fn osc52(text: &str) -> String {
    use base64::Engine;
    format!(
        "\x1b]52;c;{}\x07",
        base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
    )
}

/// Restores the terminal when dropped: normal exit, `?` errors and unwinding.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

pub async fn run(opts: ConsoleOptions) -> Result<(), TuiError> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(TuiError::Terminal(
            "stdin and stdout must be a terminal; use the subcommands (`locksmith --help`) in scripts".into(),
        ));
    }
    let names: Vec<String> = opts.connectors.iter().map(|c| c.name.clone()).collect();
    let mut s = AppState::new(opts.lang, opts.profiles.clone(), names);
    s.color = color_enabled();
    ZH.store(opts.lang == Lang::Zh, Ordering::SeqCst);
    s.demo = opts.demo;
    let default_journal = crate::journal::Journal::default_paths().ok().map(|p| p.0);
    if default_journal.as_ref() != Some(&opts.journal.0) {
        s.journal_arg = format!(" --journal {}", opts.journal.0.display());
    }

    // ratatui::try_init: raw mode, alternate screen, and a panic hook that restores
    // the terminal before the panic message. No mouse capture: text selection works.
    let mut terminal = ratatui::try_init().map_err(|e| TuiError::Terminal(e.to_string()))?;
    let _restore = Restore;

    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    // The first page fills the terminal it starts in.
    if let Ok(size) = terminal.size() {
        reduce(&mut s, Msg::Resize { rows: size.height });
    }
    // Keys come from a plain thread: reading the terminal never waits on the database.
    read_keys(tx.clone());

    let local = tokio::task::LocalSet::new();
    let journal = opts.journal.clone();
    let forward = opts.forward.clone();
    let connectors = opts.connectors.clone();
    let start = opts.start.clone();
    local
        .run_until(async move {
            let mut runner = Runner::new(tx.clone(), connectors, journal)
                .with_lang(s.lang)
                .with_forward(forward);
            let mut pending: Vec<Effect> = Vec::new();
            if let Some(p) = start {
                let i = match s.profiles.iter().position(|x| *x == p) {
                    Some(i) => i,
                    None => {
                        s.profiles.push(p);
                        s.profiles.len() - 1
                    }
                };
                s.profile_sel = i;
                s.screen = state::Screen::Connect;
                pending.extend(reduce(
                    &mut s,
                    Msg::Key(event::KeyEvent::from(event::KeyCode::Enter)),
                ));
            }
            let mut tick = tokio::time::interval(Duration::from_millis(120));
            loop {
                for e in pending.drain(..) {
                    match e {
                        Effect::Copy(pw) => {
                            let mut out = std::io::stdout();
                            let _ = out.write_all(osc52(pw.expose()).as_bytes());
                            let _ = out.flush();
                        }
                        other => runner.run(other),
                    }
                }
                if s.quit {
                    break;
                }
                if BACK.swap(false, Ordering::SeqCst) {
                    let _ = terminal.clear();
                }
                let aside = STEPPED_ASIDE.load(Ordering::SeqCst);
                if !aside && terminal.draw(|f| view::render(f, &s)).is_err() {
                    break;
                }
                let msg = tokio::select! {
                    m = rx.recv() => match m { Some(m) => m, None => break },
                    _ = tick.tick(), if s.busy.is_some() => Msg::Tick,
                };
                pending = reduce(&mut s, msg);
            }
            // Leaving: the result screen's password (if any) is dropped with the state.
            drop(s);
            runner.run(Effect::Disconnect);
            tokio::task::yield_now().await;
        })
        .await;
    Ok(())
}

pub use profiles::load_profiles;
