//! The key table tells the truth: on every screen, every key that does
//! anything (changes what is drawn, asks for an effect, quits or opens the
//! help) is a binding of that screen in `tui::keys`, and every binding is
//! listed in the screen's key bar or its help.

mod common;

use common::tui::*;
use locksmith::tui::i18n::Lang;
use locksmith::tui::keys::{self, Context};
use locksmith::tui::state::*;
use locksmith::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn draw(s: &AppState) -> String {
    let mut t = Terminal::new(TestBackend::new(120, 40)).expect("test terminal");
    t.draw(|f| view::render(f, s)).expect("draw");
    format!("{}", t.backend())
}

/// A state showing each context, built from the console fixtures.
fn state_in(ctx: Context) -> AppState {
    let mut s = accounts(Lang::En);
    let mut to = |screen: Screen| s.screen = screen;
    match ctx {
        Context::Connect => return state(Lang::En),
        Context::Form => {
            let mut s = state(Lang::En);
            s.screen = Screen::Form;
            return s;
        }
        Context::Accounts => {}
        Context::Search => s.searching = true,
        Context::Detail => {
            s.detail = Some(detail());
            to(Screen::Detail);
        }
        Context::Transplant => {
            s.detail = Some(detail());
            s.transplant.reference = "#14774".into();
            s.transplant.login = "13900000001".into();
            s.transplant.donor = "admin".into();
            s.screen = Screen::Transplant;
        }
        Context::Plan => {
            s.plan = Some(plan(7));
            to(Screen::Plan);
        }
        Context::Confirm => {
            s.plan = Some(plan(7));
            s.confirm.reason = "INC-1".into();
            to(Screen::Confirm);
        }
        Context::Result => {
            s.result = Some(result(Some("Xy7-secret-once")));
            to(Screen::Result);
        }
        Context::ResultPlain => {
            s.result = Some(result(None));
            to(Screen::Result);
        }
        Context::Calibrate => {
            s.calibrate.reference = "#14774".into();
            s.calibrate.login = "13900000001".into();
            s.screen = Screen::Calibrate;
        }
        Context::Journal => {
            s.back_to = Screen::Accounts;
            s.journal = Some(journal_view());
            s.screen = Screen::Journal;
        }
        Context::JournalEntry => {
            s.back_to = Screen::Accounts;
            s.journal = Some(journal_view());
            s.journal_open = true;
            s.screen = Screen::Journal;
        }
        Context::Drill => {
            s.back_to = Screen::Accounts;
            s.drill = Some(drill_done());
            s.screen = Screen::Drill;
        }
    }
    s
}

/// Every key an operator can press without a chord.
fn candidate_keys() -> Vec<KeyCode> {
    let mut codes: Vec<KeyCode> = (0x20u8..0x7f).map(|b| KeyCode::Char(b as char)).collect();
    codes.extend((1..=12).map(KeyCode::F));
    codes.extend([
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Backspace,
        KeyCode::Delete,
        KeyCode::Insert,
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::Left,
        KeyCode::Right,
        KeyCode::Home,
        KeyCode::End,
        KeyCode::PageUp,
        KeyCode::PageDown,
    ]);
    codes
}

#[test]
fn every_key_that_acts_is_a_binding_of_its_screen() {
    let mut unlisted = Vec::new();
    for ctx in Context::ALL {
        let before_state = state_in(ctx);
        assert_eq!(Context::of(&before_state), ctx, "fixture for {ctx:?}");
        let before = draw(&before_state);
        for code in candidate_keys() {
            let mut s = state_in(ctx);
            let event = KeyEvent::new(code, KeyModifiers::NONE);
            let effects = reduce(&mut s, Msg::Key(event));
            let acted = !effects.is_empty() || s.quit || s.help || draw(&s) != before;
            if acted && keys::binding(ctx, &event).is_none() {
                unlisted.push(format!("{ctx:?}: {code:?}"));
            }
        }
    }
    assert!(
        unlisted.is_empty(),
        "keys that act but are not in the key table: {unlisted:?}"
    );
}

#[test]
fn every_binding_is_shown_in_the_key_bar_or_the_help() {
    for ctx in Context::ALL {
        let s = state_in(ctx);
        let bar = view::keys(&s);
        let help = view::help_keys(&s);
        for b in keys::bindings(ctx) {
            let entry = (b.label, b.what);
            assert!(
                help.contains(&entry),
                "{ctx:?}: {} ({}) is not in the help",
                b.label,
                b.what
            );
            if b.bar {
                assert!(
                    bar.contains(&entry),
                    "{ctx:?}: {} is marked for the key bar but not drawn there",
                    b.label
                );
            }
        }
        assert!(
            bar.iter().any(|(_, what)| *what == "key.help"),
            "{ctx:?}: the key bar must offer the help"
        );
    }
}

#[test]
fn a_bound_key_that_does_nothing_is_not_in_the_table_by_mistake() {
    // F10 quits wherever the table says so, and only there.
    for ctx in Context::ALL {
        let mut s = state_in(ctx);
        let event = KeyEvent::new(KeyCode::F(10), KeyModifiers::NONE);
        reduce(&mut s, Msg::Key(event));
        let bound = keys::binding(ctx, &event).is_some_and(|b| b.command == keys::Command::Quit);
        assert_eq!(
            s.quit, bound,
            "{ctx:?}: F10 quits = {} but table says {bound}",
            s.quit
        );
    }
}
