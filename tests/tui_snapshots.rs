//! Every screen drawn through ratatui's TestBackend at 80×24 and 120×40, in
//! English and Chinese. Snapshots live in tests/snapshots; a mismatch fails.

mod common;

use common::tui::*;
use locksmith::tui::i18n::Lang;
use locksmith::tui::state::*;
use locksmith::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::KeyCode;

fn draw(s: &AppState, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    t.draw(|f| view::render(f, s)).expect("draw");
    format!("{}", t.backend())
}

fn each(name: &str, build: impl Fn(Lang) -> AppState) {
    for (lang, tag) in [(Lang::En, "en"), (Lang::Zh, "zh")] {
        let s = build(lang);
        for (w, h) in [(80, 24), (120, 40)] {
            insta::assert_snapshot!(format!("{name}_{tag}_{w}x{h}"), draw(&s, w, h));
        }
    }
}

#[test]
fn connect() {
    each("connect", state);
}

#[test]
fn form_with_error() {
    each("form", |l| {
        let mut s = state(l);
        s.screen = Screen::Form;
        s.form.focus = 1;
        s.form.password = zeroize::Zeroizing::new("secret".into());
        s.error = Some("cannot connect to mysql://root@10.0.0.5:3306/crm: access denied for root: check the user and the password (set LOCKSMITH_DB_PASSWORD or ~/.my.cnf [client] password)".into());
        s
    });
}

#[test]
fn accounts_with_chinese_names() {
    each("accounts", accounts);
}

#[test]
fn accounts_searching_while_busy() {
    each("accounts_busy", |l| {
        let mut s = accounts(l);
        reduce(&mut s, key(KeyCode::Char('/')));
        typed(&mut s, "张");
        s
    });
}

#[test]
fn detail() {
    each("detail", |l| {
        let mut s = accounts(l);
        s.detail = Some(common::tui::detail());
        s.screen = Screen::Detail;
        s
    });
}

#[test]
fn plan_preview() {
    each("plan", |l| {
        let mut s = accounts(l);
        s.plan = Some(plan(1));
        s.screen = Screen::Plan;
        s
    });
}

#[test]
fn emergency_plan_preview() {
    each("emergency_plan", |l| {
        let mut s = accounts(l);
        s.plan = Some(emergency_plan(1));
        s.screen = Screen::Plan;
        s
    });
}

#[test]
fn drill_finished() {
    each("drill", |l| {
        let mut s = accounts(l);
        s.drill = Some(drill_done());
        s.screen = Screen::Drill;
        s
    });
}

#[test]
fn confirm_refused() {
    each("confirm", |l| {
        let mut s = accounts(l);
        s.plan = Some(plan(1));
        s.screen = Screen::Confirm;
        s.confirm.reason = "INC-1234 admin locked out".into();
        s.confirm.focus = 1;
        s.confirm.refused = Some("confirm.mismatch".into());
        s
    });
}

#[test]
fn result_with_password() {
    each("result", |l| {
        let mut s = accounts(l);
        s.result = Some(result(Some("Xy7#Kp9@Qr2=Mn5+Vb3!")));
        s.screen = Screen::Result;
        s
    });
}

#[test]
fn calibrate() {
    each("calibrate", |l| {
        let mut s = accounts(l);
        s.screen = Screen::Calibrate;
        s.calibrate.login = "13900000001".into();
        s.calibrate.result = Some((
            "13900000001 (#14774)".into(),
            "digest:md5(login+password+'erp'+salt)".into(),
            true,
        ));
        s
    });
}

#[test]
fn journal() {
    each("journal", |l| {
        let mut s = accounts(l);
        s.screen = Screen::Journal;
        s.journal = Some(journal_view());
        s
    });
}

#[test]
fn journal_entry_open() {
    each("journal_entry", |l| {
        let mut s = accounts(l);
        s.screen = Screen::Journal;
        s.journal = Some(journal_view());
        s.journal_open = true;
        s
    });
}

#[test]
fn detail_scrolled_to_its_end() {
    each("detail_end", |l| {
        let mut s = accounts(l);
        s.detail = Some(common::tui::detail());
        s.screen = Screen::Detail;
        // Draw once so the view knows how far the detail scrolls, then End.
        draw(&s, 80, 24);
        reduce(&mut s, key(KeyCode::End));
        s
    });
}

#[test]
fn help_overlay() {
    each("help", |l| {
        let mut s = accounts(l);
        s.help = true;
        s
    });
}

/// The transplant screens are drawn at 80×24 only (the brief's smallest size).
fn each_80x24(name: &str, build: impl Fn(Lang) -> AppState) {
    for (lang, tag) in [(Lang::En, "en"), (Lang::Zh, "zh")] {
        let s = build(lang);
        insta::assert_snapshot!(format!("{name}_{tag}_80x24"), draw(&s, 80, 24));
    }
}

fn u8_detail_state(l: Lang) -> AppState {
    let mut s = accounts(l);
    s.detail = Some(u8_detail());
    s.screen = Screen::Detail;
    s
}

#[test]
fn transplant_prompt() {
    each_80x24("transplant_prompt", |l| {
        let mut s = u8_detail_state(l);
        reduce(&mut s, key(KeyCode::Char('t')));
        typed(&mut s, "demo");
        s
    });
}

#[test]
fn transplant_refused() {
    each_80x24("transplant_refused", |l| {
        let mut s = u8_detail_state(l);
        reduce(&mut s, key(KeyCode::Char('t')));
        typed(&mut s, "zhangsan");
        s.error = Some("refused: the stored values of the donor zhangsan (#zhangsan) (24 characters, base64) and of liujing (#liujing) (32 characters, hex) do not have the same shape: they may be in different formats, so the copy might not work; choose a donor whose value looks like the target's".into());
        s
    });
}

#[test]
fn transplant_plan_preview() {
    each_80x24("transplant_plan", |l| {
        let mut s = u8_detail_state(l);
        s.plan = Some(transplant_plan(1));
        s.screen = Screen::Plan;
        s
    });
}

#[test]
fn transplant_result() {
    each_80x24("transplant_result", |l| {
        let mut s = u8_detail_state(l);
        let mut r = result(None);
        r.action = locksmith::ops::plan::Action::Reset;
        r.account = "liujing (#liujing)".into();
        r.donor = Some("demo (#demo)".into());
        s.result = Some(r);
        s.screen = Screen::Result;
        s
    });
}
