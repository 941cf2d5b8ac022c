//! The console's one key table. Each binding is declared once: where it
//! works, its keys, the command it issues and its catalog label. The reducer
//! (`state`) turns a key into a command through it, and the view draws the
//! key bar and the help from it, so what is shown is what works.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::state::{AppState, Screen};

/// Where a binding works: a screen, or a screen in a mode that changes its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Connect,
    Form,
    Accounts,
    /// The accounts screen with the search box focused: letters type.
    Search,
    Detail,
    Transplant,
    Plan,
    Confirm,
    /// The result of a write that generated a password (copy, then done).
    Result,
    /// The result of a write with no password to show.
    ResultPlain,
    Calibrate,
    Journal,
    /// The journal with one entry open.
    JournalEntry,
    Drill,
}

impl Context {
    pub const ALL: [Context; 14] = [
        Context::Connect,
        Context::Form,
        Context::Accounts,
        Context::Search,
        Context::Detail,
        Context::Transplant,
        Context::Plan,
        Context::Confirm,
        Context::Result,
        Context::ResultPlain,
        Context::Calibrate,
        Context::Journal,
        Context::JournalEntry,
        Context::Drill,
    ];

    pub fn of(s: &AppState) -> Context {
        match s.screen {
            Screen::Connect => Context::Connect,
            Screen::Form => Context::Form,
            Screen::Accounts if s.searching => Context::Search,
            Screen::Accounts => Context::Accounts,
            Screen::Detail => Context::Detail,
            Screen::Transplant => Context::Transplant,
            Screen::Plan => Context::Plan,
            Screen::Confirm => Context::Confirm,
            Screen::Result if s.result.as_ref().is_some_and(|r| r.password.is_none()) => {
                Context::ResultPlain
            }
            Screen::Result => Context::Result,
            Screen::Calibrate => Context::Calibrate,
            Screen::Journal if s.journal_open => Context::JournalEntry,
            Screen::Journal => Context::Journal,
            Screen::Drill => Context::Drill,
        }
    }

    /// A text field has the focus: printable keys type instead of acting.
    pub fn typing(self) -> bool {
        TEXT.contains(&self)
    }
}

/// What a key asks for. Commands that move or page read the key itself
/// (↑ or ↓, n or p) in the reducer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Help,
    Quit,
    /// Esc where it quits: the first press asks, the second quits.
    QuitAsk,
    /// ↑ ↓ PgUp PgDn Home End in a view longer than the screen.
    ScrollView,
    /// Enter on a journal entry.
    OpenEntry,
    /// Up, Down, j, k, Home, End in a list.
    Move,
    Connect,
    NewConnection,
    /// Tab / ↓ the next field, Shift-Tab / ↑ the previous one.
    Field,
    /// Cycle the focused option of the connection form (←, →, Space).
    ChangeOption,
    /// A printable character into the focused text field.
    Type,
    /// Backspace in the focused text field.
    Erase,
    Search,
    LeaveSearch,
    Details,
    Reset,
    Unlock,
    Calibrate,
    Emergency,
    Drill,
    Transplant,
    /// Restore from a backup: the transplant prompt asking for a source.
    FromBackup,
    /// a, l, d: the admins / locked / disabled filters.
    Filter,
    /// n, p, PgDn, PgUp.
    Page,
    Journal,
    Disconnect,
    Back,
    /// Plan a transplant from the donor prompt.
    PlanTransplant,
    Continue,
    /// Plan the reset again, also unlocking the account.
    AlsoUnlock,
    Apply,
    Copy,
    Done,
    Check,
    Reload,
    DrillAgain,
}

impl Command {
    /// Commands that lead to a write on the target (or a drill): a read-only
    /// session neither shows nor obeys them.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Command::Reset
                | Command::Unlock
                | Command::Transplant
                | Command::PlanTransplant
                | Command::Emergency
                | Command::Drill
                | Command::DrillAgain
                | Command::Continue
                | Command::Apply
        )
    }
}

/// A key as the table names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Code(KeyCode),
    /// Any printable character without Ctrl or Alt.
    AnyChar,
}

/// One binding: where, which keys, what it does, how it is labelled.
#[derive(Debug)]
pub struct Binding {
    pub contexts: &'static [Context],
    pub keys: &'static [Key],
    /// As printed on the keyboard ("r/F5"); "type" is a word and is translated.
    pub label: &'static str,
    pub command: Command,
    /// Catalog key of what it does.
    pub what: &'static str,
    /// Shown in the key bar (else in the help only).
    pub bar: bool,
}

use Context as X;
use KeyCode as K;

const fn c(ch: char) -> Key {
    Key::Code(K::Char(ch))
}

const fn f(n: u8) -> Key {
    Key::Code(K::F(n))
}

const fn k(code: KeyCode) -> Key {
    Key::Code(code)
}

/// The contexts with a focused text field.
const TEXT: &[Context] = &[X::Form, X::Search, X::Transplant, X::Confirm, X::Calibrate];
/// Lists where ↑↓ select.
const LISTS: &[Context] = &[X::Connect, X::Accounts, X::Journal];
/// Where q and F10 quit.
const QUIT: &[Context] = &[
    X::Connect,
    X::Accounts,
    X::Detail,
    X::Result,
    X::ResultPlain,
    X::Journal,
    X::JournalEntry,
    X::Drill,
];
/// Views that can be longer than the screen.
const SCROLLED: &[Context] = &[X::Detail, X::Plan, X::Drill, X::JournalEntry];
/// The account actions of the accounts and detail screens.
const ACCOUNT: &[Context] = &[X::Accounts, X::Detail];

const fn bind(
    contexts: &'static [Context],
    keys: &'static [Key],
    label: &'static str,
    command: Command,
    what: &'static str,
    bar: bool,
) -> Binding {
    Binding {
        contexts,
        keys,
        label,
        command,
        what,
        bar,
    }
}

/// The table. Order is the key bar's order, and the first match wins: a
/// context's specific keys come before its "type" binding.
#[rustfmt::skip]
pub static BINDINGS: &[Binding] = &[
    // Search box focused: leave it first, then type.
    bind(&[X::Search], &[k(K::Enter), k(K::Down), k(K::Tab)], "Enter/↓", Command::LeaveSearch, "key.to_table", true),
    bind(&[X::Search], &[k(K::Esc)], "Esc", Command::LeaveSearch, "key.to_table", true),
    bind(&[X::Search], &[Key::AnyChar], "type", Command::Type, "key.search_type", true),
    // Lists.
    bind(&[X::Accounts], &[c('/'), f(3)], "/ F3", Command::Search, "key.search", true),
    bind(LISTS, &[k(K::Up), k(K::Down)], "↑↓", Command::Move, "key.select", true),
    bind(LISTS, &[c('k'), c('j'), k(K::Home), k(K::End)], "j k Home End", Command::Move, "key.select", false),
    bind(&[X::Connect], &[k(K::Enter)], "Enter", Command::Connect, "key.connect", true),
    bind(&[X::Connect], &[c('n'), f(2)], "n/F2", Command::NewConnection, "key.new_connection", true),
    bind(&[X::Connect], &[k(K::Esc)], "Esc Esc", Command::QuitAsk, "key.quit", false),
    // The connection form.
    bind(&[X::Form], &[k(K::Tab), k(K::Down), k(K::BackTab), k(K::Up)], "Tab/↑↓", Command::Field, "key.field", true),
    bind(&[X::Form], &[k(K::Left), k(K::Right), c(' ')], "←→/Space", Command::ChangeOption, "key.change", true),
    bind(&[X::Form], &[k(K::Enter)], "Enter", Command::Connect, "key.connect", true),
    bind(&[X::Form], &[k(K::Esc)], "Esc", Command::Back, "key.back", true),
    bind(&[X::Form], &[f(10)], "F10", Command::Quit, "key.quit", false),
    // Accounts and detail.
    bind(&[X::Accounts], &[k(K::Enter)], "Enter", Command::Details, "key.details", true),
    bind(ACCOUNT, &[c('r'), f(5)], "r/F5", Command::Reset, "key.reset", true),
    bind(ACCOUNT, &[c('u'), f(6)], "u/F6", Command::Unlock, "key.unlock", true),
    bind(&[X::Detail], &[c('t'), f(11)], "t/F11", Command::Transplant, "key.transplant", true),
    bind(&[X::Detail], &[c('b'), f(9)], "b/F9", Command::FromBackup, "key.from_backup", false),
    bind(ACCOUNT, &[c('c'), f(7)], "c/F7", Command::Calibrate, "key.calibrate", true),
    bind(ACCOUNT, &[c('e'), f(4)], "e/F4", Command::Emergency, "key.emergency", true),
    bind(ACCOUNT, &[c('x'), f(12)], "x/F12", Command::Drill, "key.drill", true),
    bind(&[X::Accounts], &[c('a'), c('l'), c('d')], "a l d", Command::Filter, "key.filters", true),
    bind(&[X::Accounts], &[c('n'), c('p')], "n p", Command::Page, "key.page", true),
    bind(&[X::Accounts], &[k(K::PageDown), k(K::PageUp)], "PgDn PgUp", Command::Page, "key.page", false),
    bind(ACCOUNT, &[c('g'), f(8)], "g/F8", Command::Journal, "key.journal", true),
    bind(&[X::Accounts], &[k(K::Esc)], "Esc", Command::Disconnect, "key.disconnect", true),
    bind(&[X::Detail], &[k(K::Esc), k(K::Backspace)], "Esc", Command::Back, "key.back", true),
    // The donor prompt.
    bind(&[X::Transplant], &[Key::AnyChar], "type", Command::Type, "key.donor_type", true),
    bind(&[X::Transplant], &[k(K::Enter)], "Enter", Command::PlanTransplant, "key.plan", true),
    bind(&[X::Transplant], &[k(K::Esc)], "Esc", Command::Back, "key.back", true),
    // Plan and confirm.
    bind(&[X::Plan], &[k(K::Enter)], "Enter", Command::Continue, "key.continue", true),
    bind(&[X::Plan], &[c('u'), f(6)], "u/F6", Command::AlsoUnlock, "key.also_unlock", true),
    bind(&[X::Plan], &[k(K::Esc)], "Esc", Command::Back, "key.cancel", true),
    bind(&[X::Confirm], &[k(K::Tab), k(K::BackTab), k(K::Up), k(K::Down)], "Tab", Command::Field, "key.field", true),
    bind(&[X::Confirm], &[k(K::Enter)], "Enter", Command::Apply, "key.apply", true),
    bind(&[X::Confirm], &[k(K::Esc)], "Esc", Command::Back, "key.back", true),
    // Results.
    bind(&[X::Result], &[c('y'), f(9)], "y/F9", Command::Copy, "key.copy", true),
    bind(&[X::Result], &[k(K::Enter), k(K::Esc)], "Enter/Esc", Command::Done, "key.done", true),
    bind(&[X::ResultPlain], &[k(K::Enter), k(K::Esc)], "Enter/Esc", Command::Done, "key.done_plain", true),
    // Calibrate, journal, drill.
    bind(&[X::Calibrate], &[k(K::Enter)], "Enter", Command::Check, "key.check", true),
    bind(&[X::Calibrate], &[k(K::Esc)], "Esc", Command::Back, "key.back", true),
    bind(&[X::Journal], &[c('g'), f(8)], "g/F8", Command::Reload, "key.reload", true),
    bind(&[X::Journal], &[k(K::Enter)], "Enter", Command::OpenEntry, "key.open_entry", true),
    bind(&[X::Journal, X::JournalEntry], &[k(K::Esc)], "Esc", Command::Back, "key.back", true),
    bind(&[X::Drill], &[c('x'), f(12)], "x/F12", Command::DrillAgain, "key.drill_again", true),
    bind(&[X::Drill], &[k(K::Esc)], "Esc", Command::Back, "key.back", true),
    // Everywhere it applies.
    bind(SCROLLED, &[k(K::Up), k(K::Down), k(K::PageUp), k(K::PageDown), k(K::Home), k(K::End)], "↑↓ PgUp PgDn", Command::ScrollView, "key.scroll", true),
    bind(QUIT, &[c('q'), f(10)], "q/F10", Command::Quit, "key.quit", true),
    bind(TEXT, &[k(K::Backspace)], "Backspace", Command::Erase, "key.erase", false),
    bind(&[X::Form, X::Confirm, X::Calibrate], &[Key::AnyChar], "type", Command::Type, "key.type_field", false),
    bind(&Context::ALL, &[f(1)], "?/F1", Command::Help, "key.help", true),
];

/// `?` opens the help where it is not text; listed under the F1 binding.
const HELP_CHAR: char = '?';

fn is_plain_char(e: &KeyEvent) -> Option<char> {
    match e.code {
        K::Char(ch)
            if !e.modifiers.contains(KeyModifiers::CONTROL)
                && !e.modifiers.contains(KeyModifiers::ALT) =>
        {
            Some(ch)
        }
        _ => None,
    }
}

impl Key {
    fn matches(self, e: &KeyEvent) -> bool {
        match self {
            Key::AnyChar => is_plain_char(e).is_some(),
            Key::Code(K::Char(ch)) => is_plain_char(e) == Some(ch),
            Key::Code(code) => e.code == code,
        }
    }
}

/// The binding a key hits in this context, if any.
pub fn binding(ctx: Context, e: &KeyEvent) -> Option<&'static Binding> {
    if !ctx.typing() && is_plain_char(e) == Some(HELP_CHAR) {
        return BINDINGS.iter().find(|b| b.command == Command::Help);
    }
    BINDINGS
        .iter()
        .filter(|b| b.contexts.contains(&ctx))
        .find(|b| b.keys.iter().any(|key| key.matches(e)))
}

/// Hides the write bindings when the session is read-only.
fn allowed(s: &AppState, b: &Binding) -> bool {
    !(s.conn.as_ref().is_some_and(|c| c.read_only) && b.command.writes())
}

/// `binding`, except that a read-only session has no write keys: they do nothing.
pub fn binding_for(s: &AppState, ctx: Context, e: &KeyEvent) -> Option<&'static Binding> {
    binding(ctx, e).filter(|b| allowed(s, b))
}

/// The bindings of the current screen that work in this session (key bar, help).
pub fn bindings_for(s: &AppState) -> impl Iterator<Item = &'static Binding> {
    bindings(Context::of(s)).filter(move |b| allowed(s, b))
}

/// Every binding of a context, in table order (the help lists them all).
pub fn bindings(ctx: Context) -> impl Iterator<Item = &'static Binding> {
    BINDINGS.iter().filter(move |b| b.contexts.contains(&ctx))
}
