//! The console's flows through the reducer alone: no terminal, no database.

mod common;

use common::tui::*;
use locksmith::ops::plan::Action;
use locksmith::tui::i18n::Lang;
use locksmith::tui::state::*;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[test]
fn search_select_reset_confirm_result_and_the_password_is_cleared_on_leave() {
    let mut s = accounts(Lang::En);
    // Incremental search: every key starts a lookup; the older ones are superseded.
    reduce(&mut s, key(KeyCode::Char('/')));
    let first = typed(&mut s, "张");
    let second = typed(&mut s, "三");
    let (
        Some(Effect::Lookup { req: old, .. }),
        Some(Effect::Lookup {
            req, query, after, ..
        }),
    ) = (first.into_iter().next(), second.into_iter().next())
    else {
        panic!("typing must look up")
    };
    assert_eq!((query.as_str(), after), ("张三", None));
    // A stale page arrives late: dropped.
    reduce(
        &mut s,
        Msg::Page {
            req: old,
            rows: vec![],
            more: false,
            notes: vec![],
        },
    );
    assert_eq!(s.rows.len(), 5);
    reduce(
        &mut s,
        Msg::Page {
            req,
            rows: rows()[1..2].to_vec(),
            more: false,
            notes: vec![],
        },
    );
    assert_eq!(s.rows[0].name, "张三");
    reduce(&mut s, key(KeyCode::Enter)); // to the table
    let fx = reduce(&mut s, key(KeyCode::Char('r')));
    let Some(Effect::Plan {
        req,
        action: Action::Reset,
        reference,
        unlock: false,
    }) = fx.into_iter().next()
    else {
        panic!("r plans a reset")
    };
    assert_eq!(reference, "#14774");
    reduce(
        &mut s,
        Msg::Planned {
            req,
            plan: plan(41),
        },
    );
    assert_eq!(s.screen, Screen::Plan);
    reduce(&mut s, key(KeyCode::Enter));
    assert_eq!(s.screen, Screen::Confirm);
    typed(&mut s, "INC-1 admin locked out");
    reduce(&mut s, key(KeyCode::Tab));
    typed(&mut s, "13900000001");
    let fx = reduce(&mut s, key(KeyCode::Enter));
    let Some(Effect::Apply {
        req,
        token: 41,
        reason,
    }) = fx.into_iter().next()
    else {
        panic!("a matching login applies the plan")
    };
    assert_eq!(reason, "INC-1 admin locked out");
    // Esc cannot interrupt a write.
    assert!(reduce(&mut s, key(KeyCode::Esc)).is_empty());
    assert!(s.busy.is_some());
    reduce(
        &mut s,
        Msg::Applied {
            req,
            result: result(Some("Xy7#Kp9@Qr2=Mn5+Vb3!")),
        },
    );
    assert_eq!(s.screen, Screen::Result);
    let fx = reduce(&mut s, key(KeyCode::Char('y')));
    assert!(matches!(fx.as_slice(), [Effect::Copy(p)] if p.expose() == "Xy7#Kp9@Qr2=Mn5+Vb3!"));
    let fx = reduce(&mut s, key(KeyCode::Esc));
    assert!(
        s.result.is_none(),
        "leaving the result screen clears the password"
    );
    assert_eq!(s.screen, Screen::Accounts);
    assert!(
        matches!(fx.as_slice(), [Effect::Lookup { .. }]),
        "the table is refreshed"
    );
}

#[test]
fn emergency_key_plans_restore_admin_confirm_apply_and_the_password_is_shown_once() {
    let mut s = accounts(Lang::En);
    // F4 (or e) from the accounts screen plans restore-admin; the runner
    // prefers the connector's emergency admin, the selected row is the fallback.
    let fx = reduce(&mut s, key(KeyCode::F(4)));
    let Some(Effect::PlanRestore { req, account }) = fx.into_iter().next() else {
        panic!("F4 plans restore-admin")
    };
    assert_eq!(account.as_deref(), Some("#14773"));
    assert_eq!(s.busy.as_ref().map(|b| b.what), Some("busy.emergency"));
    reduce(
        &mut s,
        Msg::Planned {
            req,
            plan: emergency_plan(77),
        },
    );
    assert_eq!(s.screen, Screen::Plan);
    let p = s.plan.as_ref().expect("the plan is shown");
    assert_eq!(p.view.action, Action::RestoreAdmin);
    assert_eq!(p.problems.len(), 3);
    assert_eq!(p.view.statements.len(), 2);
    reduce(&mut s, key(KeyCode::Enter));
    assert_eq!(s.screen, Screen::Confirm);
    // No reason: refused, nothing applied.
    reduce(&mut s, key(KeyCode::Tab));
    typed(&mut s, "13800000000");
    assert!(reduce(&mut s, key(KeyCode::Enter)).is_empty());
    assert_eq!(s.confirm.refused.as_deref(), Some("confirm.need_reason"));
    typed(&mut s, "INC-9 super admin deleted");
    reduce(&mut s, key(KeyCode::Tab));
    // A wrong login: refused, and kept as typed so the operator sees what differs.
    erase(&mut s, 11);
    typed(&mut s, "13800000001");
    assert!(reduce(&mut s, key(KeyCode::Enter)).is_empty());
    assert_eq!(s.confirm.refused.as_deref(), Some("confirm.mismatch"));
    assert_eq!(s.confirm.typed, "13800000001");
    erase(&mut s, 11);
    typed(&mut s, "13800000000");
    let fx = reduce(&mut s, key(KeyCode::Enter));
    let Some(Effect::Apply {
        req,
        token: 77,
        reason,
    }) = fx.into_iter().next()
    else {
        panic!("a matching login applies the restore plan")
    };
    assert_eq!(reason, "INC-9 super admin deleted");
    assert!(
        reduce(&mut s, key(KeyCode::Esc)).is_empty(),
        "not cancellable"
    );
    let mut r = result(Some("Xy7#Kp9@Qr2=Mn5+Vb3!"));
    r.action = Action::RestoreAdmin;
    r.account = "13800000000 (#14773)".into();
    reduce(&mut s, Msg::Applied { req, result: r });
    assert_eq!(s.screen, Screen::Result);
    assert!(s.plan.is_none(), "the plan is gone once applied");
    assert_eq!(
        s.result
            .as_ref()
            .and_then(|r| r.password.as_ref())
            .map(|p| p.expose().to_string())
            .as_deref(),
        Some("Xy7#Kp9@Qr2=Mn5+Vb3!")
    );
    let fx = reduce(&mut s, key(KeyCode::Enter));
    assert!(s.result.is_none(), "leaving clears the password");
    assert_eq!(s.screen, Screen::Accounts);
    assert!(matches!(fx.as_slice(), [Effect::Lookup { .. }]));
}

#[test]
fn emergency_works_on_an_empty_table_and_from_the_detail_screen() {
    let mut s = accounts(Lang::En);
    s.rows.clear();
    let fx = reduce(&mut s, key(KeyCode::Char('e')));
    assert!(
        matches!(fx.as_slice(), [Effect::PlanRestore { account: None, .. }]),
        "the emergency admin's row may be the missing one: {fx:?}"
    );
    // Esc cancels the plan request like any read.
    reduce(&mut s, key(KeyCode::Esc));
    assert!(s.busy.is_none());
    let mut s = accounts(Lang::En);
    s.detail = Some(detail());
    s.screen = Screen::Detail;
    let fx = reduce(&mut s, key(KeyCode::F(4)));
    assert!(matches!(
        fx.as_slice(),
        [Effect::PlanRestore { account: Some(a), .. }] if a == "#14774"
    ));
}

#[test]
fn drill_shows_each_step_live_then_the_report_path() {
    let mut s = accounts(Lang::En);
    let fx = reduce(&mut s, key(KeyCode::F(12)));
    let Some(Effect::Drill { req, account }) = fx.into_iter().next() else {
        panic!("F12 starts a drill")
    };
    assert_eq!(account.as_deref(), Some("#14773"));
    assert_eq!(s.screen, Screen::Drill);
    // A drill writes (then rolls back) and journals: it cannot be cancelled half-way.
    assert!(reduce(&mut s, key(KeyCode::Esc)).is_empty());
    assert_eq!(s.screen, Screen::Drill);
    let expected = drill_done();
    for (i, st) in expected.steps.iter().enumerate() {
        reduce(
            &mut s,
            Msg::DrillStep {
                req,
                step: st.clone(),
            },
        );
        assert_eq!(s.drill.as_ref().map(|d| d.steps.len()), Some(i + 1));
        assert!(s.busy.is_some(), "the drill goes on after each step");
    }
    // A step of another request is not this drill's.
    reduce(
        &mut s,
        Msg::DrillStep {
            req: req + 100,
            step: expected.steps[0].clone(),
        },
    );
    assert_eq!(
        s.drill.as_ref().map(|d| d.steps.len()),
        Some(expected.steps.len())
    );
    reduce(
        &mut s,
        Msg::DrillDone {
            req,
            done: expected.done.clone().expect("fixture"),
        },
    );
    assert!(s.busy.is_none());
    assert_eq!(s.drill.as_ref(), Some(&expected));
    // x runs it again from scratch; Esc goes back to where it started.
    let fx = reduce(&mut s, key(KeyCode::Char('x')));
    assert!(matches!(fx.as_slice(), [Effect::Drill { .. }]));
    assert_eq!(s.drill.as_ref().map(|d| d.steps.len()), Some(0));
    let Some(req) = s.busy.as_ref().map(|b| b.req) else {
        panic!("busy")
    };
    reduce(
        &mut s,
        Msg::Failed {
            req,
            error: "the emergency admin is missing".into(),
        },
    );
    assert_eq!(
        s.screen,
        Screen::Drill,
        "a failed drill stays on its screen"
    );
    assert!(s.error.is_some());
    reduce(&mut s, key(KeyCode::Esc));
    assert_eq!(s.screen, Screen::Accounts);
    assert!(s.drill.is_none());
}

#[test]
fn unlock_from_the_detail_screen() {
    let mut s = accounts(Lang::En);
    reduce(&mut s, key(KeyCode::Down));
    let fx = reduce(&mut s, key(KeyCode::Enter));
    let Some(Effect::Show { req, reference }) = fx.into_iter().next() else {
        panic!("Enter shows the account")
    };
    assert_eq!(reference, "#14774");
    reduce(
        &mut s,
        Msg::Shown {
            req,
            detail: detail(),
        },
    );
    assert_eq!(s.screen, Screen::Detail);
    let fx = reduce(&mut s, key(KeyCode::F(6)));
    let Some(Effect::Plan {
        req,
        action: Action::Unlock,
        ..
    }) = fx.into_iter().next()
    else {
        panic!("F6 plans an unlock")
    };
    let mut p = plan(5);
    p.view.action = Action::Unlock;
    reduce(&mut s, Msg::Planned { req, plan: p });
    reduce(&mut s, key(KeyCode::Enter));
    typed(&mut s, "ticket 9");
    reduce(&mut s, key(KeyCode::Tab));
    typed(&mut s, "13900000001");
    let fx = reduce(&mut s, key(KeyCode::Enter));
    let Some(Effect::Apply { req, token: 5, .. }) = fx.into_iter().next() else {
        panic!("unlock applies")
    };
    reduce(
        &mut s,
        Msg::Applied {
            req,
            result: result(None),
        },
    );
    assert_eq!(s.screen, Screen::Result);
    assert!(s.result.as_ref().is_some_and(|r| r.password.is_none()));
}

#[test]
fn a_wrong_confirmation_writes_nothing_and_asks_again() {
    let mut s = accounts(Lang::Zh);
    let Some(Effect::Plan { req, .. }) = reduce(&mut s, key(KeyCode::F(5))).pop() else {
        panic!("F5 plans a reset")
    };
    reduce(&mut s, Msg::Planned { req, plan: plan(3) });
    reduce(&mut s, key(KeyCode::Enter));
    // No reason yet: refused.
    typed(&mut s, "\u{0}");
    reduce(&mut s, key(KeyCode::Backspace));
    assert!(reduce(&mut s, key(KeyCode::Enter)).is_empty());
    assert_eq!(s.confirm.refused.as_deref(), Some("confirm.need_reason"));
    typed(&mut s, "why");
    reduce(&mut s, key(KeyCode::Tab));
    typed(&mut s, "13900000002");
    assert!(
        reduce(&mut s, key(KeyCode::Enter)).is_empty(),
        "wrong login: no Apply"
    );
    assert_eq!(s.confirm.refused.as_deref(), Some("confirm.mismatch"));
    assert_eq!(s.confirm.typed, "13900000002", "kept as typed");
    assert_eq!(s.screen, Screen::Confirm);
    // Esc back to the plan, Esc again drops the plan in the runner.
    reduce(&mut s, key(KeyCode::Esc));
    let fx = reduce(&mut s, key(KeyCode::Esc));
    assert!(matches!(fx.as_slice(), [Effect::DropPlan { token: 3 }]));
}

#[test]
fn esc_cancels_a_running_query_and_its_late_result_is_dropped() {
    let mut s = accounts(Lang::En);
    let Some(Effect::Lookup { req, .. }) = reduce(&mut s, key(KeyCode::Char('a'))).pop() else {
        panic!("a toggles the admin filter and looks up")
    };
    assert!(s.filters.admins && s.busy.is_some());
    reduce(&mut s, Msg::Tick);
    assert_eq!(s.spinner, 1);
    let fx = reduce(&mut s, key(KeyCode::Esc));
    assert!(matches!(fx.as_slice(), [Effect::Cancel { req: r }] if *r == req));
    assert!(s.busy.is_none());
    reduce(
        &mut s,
        Msg::Page {
            req,
            rows: vec![],
            more: false,
            notes: vec![],
        },
    );
    assert_eq!(s.rows.len(), 5, "the cancelled query's rows are ignored");
    // A cancelled plan is dropped in the runner when it arrives.
    let Some(Effect::Plan { req, .. }) = reduce(&mut s, key(KeyCode::Char('r'))).pop() else {
        panic!()
    };
    reduce(&mut s, key(KeyCode::Esc));
    let fx = reduce(&mut s, Msg::Planned { req, plan: plan(9) });
    assert!(matches!(fx.as_slice(), [Effect::DropPlan { token: 9 }]));
    assert_eq!(s.screen, Screen::Accounts);
}

#[test]
fn a_failed_connection_opens_the_form_with_the_error() {
    let mut s = state(Lang::En);
    let Some(Effect::Connect {
        req,
        profile,
        password,
    }) = reduce(&mut s, key(KeyCode::Enter)).pop()
    else {
        panic!()
    };
    assert!(password.is_none() && profile.connector.as_deref() == Some("wukong11"));
    reduce(
        &mut s,
        Msg::Failed {
            req,
            error: "cannot connect to mysql://…: access denied".into(),
        },
    );
    assert_eq!(s.screen, Screen::Form);
    assert_eq!(s.form.focus, 1, "the password field is focused");
    assert_eq!(s.form.connector_name().as_deref(), Some("wukong11"));
    typed(&mut s, "s3cret");
    let Some(Effect::Connect { password, .. }) = reduce(&mut s, key(KeyCode::Enter)).pop() else {
        panic!()
    };
    assert_eq!(password.as_deref().map(|p| p.as_str()), Some("s3cret"));
}

#[test]
fn paging_starts_after_the_last_row_and_goes_back_and_ctrl_c_quits_anywhere() {
    let mut s = accounts(Lang::En);
    let last = s.rows.last().expect("a page").cursor.clone();
    let Some(Effect::Lookup {
        req, after, limit, ..
    }) = reduce(&mut s, key(KeyCode::PageDown)).pop()
    else {
        panic!()
    };
    // Keyset paging: the next page starts after the last row shown, not at an offset.
    assert_eq!((after, limit), (Some(last), PAGE_SIZE));
    let shown = s.rows.len() as u64;
    reduce(
        &mut s,
        Msg::Page {
            req,
            rows: common::tui::rows(),
            more: false,
            notes: vec![],
        },
    );
    assert_eq!(s.offset, shown, "the second page says where it starts");
    // No more pages: PgDn does nothing; PgUp goes back to the first page.
    assert!(reduce(&mut s, key(KeyCode::PageDown)).is_empty());
    let Some(Effect::Lookup { after, .. }) = reduce(&mut s, key(KeyCode::PageUp)).pop() else {
        panic!()
    };
    assert_eq!((after, s.offset), (None, 0));
    s = accounts(Lang::En);
    reduce(
        &mut s,
        Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    );
    assert!(s.quit);
}

#[test]
fn help_opens_with_question_mark_but_not_while_typing() {
    let mut s = accounts(Lang::En);
    reduce(&mut s, key(KeyCode::Char('?')));
    assert!(s.help);
    reduce(&mut s, key(KeyCode::Char('x')));
    assert!(!s.help);
    reduce(&mut s, key(KeyCode::Char('/')));
    typed(&mut s, "?");
    assert!(!s.help && s.query == "?");
}

/// The detail screen of a Yonyou U8 account, reached through the reducer.
fn u8_detail_screen() -> AppState {
    let mut s = accounts(Lang::En);
    let Some(Effect::Show { req, .. }) = reduce(&mut s, key(KeyCode::Enter)).pop() else {
        panic!("Enter shows the account")
    };
    reduce(
        &mut s,
        Msg::Shown {
            req,
            detail: u8_detail(),
        },
    );
    assert_eq!(s.screen, Screen::Detail);
    s
}

#[test]
fn transplant_prompt_plans_with_the_donor_confirms_and_applies_without_a_password() {
    let mut s = u8_detail_screen();
    // t opens the prompt; nothing is read or written yet.
    assert!(reduce(&mut s, key(KeyCode::Char('t'))).is_empty());
    assert_eq!(s.screen, Screen::Transplant);
    assert_eq!(s.transplant.reference, "#liujing");
    assert!(s.typing(), "the prompt is a text field");
    // Enter with no donor: refused on the prompt, no effect.
    assert!(reduce(&mut s, key(KeyCode::Enter)).is_empty());
    assert_eq!(
        s.transplant.refused.as_deref(),
        Some("transplant.need_donor")
    );
    // Keys that act elsewhere type here ('?' 'q' 'r' included).
    typed(&mut s, "dem?q");
    reduce(&mut s, key(KeyCode::Backspace));
    reduce(&mut s, key(KeyCode::Backspace));
    typed(&mut s, "o");
    assert!(!s.help && !s.quit);
    assert_eq!(s.transplant.donor, "demo");
    assert_eq!(s.transplant.refused, None);
    let fx = reduce(&mut s, key(KeyCode::Enter));
    let Some(Effect::PlanTransplant {
        req,
        reference,
        donor,
        unlock: false,
    }) = fx.into_iter().next()
    else {
        panic!("Enter plans the transplant")
    };
    assert_eq!((reference.as_str(), donor.as_str()), ("#liujing", "demo"));
    assert_eq!(s.busy.as_ref().map(|b| b.what), Some("busy.plan"));
    reduce(
        &mut s,
        Msg::Planned {
            req,
            plan: transplant_plan(51),
        },
    );
    assert_eq!(s.screen, Screen::Plan);
    let p = s.plan.as_ref().expect("the plan is shown");
    assert_eq!(p.donor.as_deref(), Some("demo (#demo)"));
    assert!(
        p.view.warnings[0]
            .to_string()
            .contains("accepts the password of account demo")
    );
    // The same type-the-login confirm, with a reason.
    reduce(&mut s, key(KeyCode::Enter));
    assert_eq!(s.screen, Screen::Confirm);
    typed(&mut s, "INC-77 liujing locked out of U8");
    reduce(&mut s, key(KeyCode::Tab));
    typed(&mut s, "demo");
    assert!(
        reduce(&mut s, key(KeyCode::Enter)).is_empty(),
        "the donor's login does not confirm the target"
    );
    assert_eq!(s.confirm.refused.as_deref(), Some("confirm.mismatch"));
    let wrong = s.confirm.typed.chars().count();
    erase(&mut s, wrong);
    typed(&mut s, "liujing");
    let fx = reduce(&mut s, key(KeyCode::Enter));
    let Some(Effect::Apply {
        req,
        token: 51,
        reason,
    }) = fx.into_iter().next()
    else {
        panic!("a matching login applies the transplant plan")
    };
    assert_eq!(reason, "INC-77 liujing locked out of U8");
    assert!(reduce(&mut s, key(KeyCode::Esc)).is_empty(), "a write");
    let mut r = result(None);
    r.action = Action::Reset;
    r.account = "liujing (#liujing)".into();
    r.donor = Some("demo (#demo)".into());
    reduce(&mut s, Msg::Applied { req, result: r });
    assert_eq!(s.screen, Screen::Result);
    let r = s.result.as_ref().expect("result");
    assert!(r.password.is_none(), "a transplant generates no password");
    assert_eq!(r.donor.as_deref(), Some("demo (#demo)"));
    assert!(
        reduce(&mut s, key(KeyCode::Char('y'))).is_empty(),
        "nothing to copy"
    );
    let fx = reduce(&mut s, key(KeyCode::Enter));
    assert_eq!(s.screen, Screen::Accounts);
    assert!(matches!(fx.as_slice(), [Effect::Lookup { .. }]));
}

#[test]
fn esc_backs_out_of_the_transplant_prompt_and_cancels_its_plan() {
    let mut s = u8_detail_screen();
    reduce(&mut s, key(KeyCode::F(11)));
    assert_eq!(s.screen, Screen::Transplant);
    typed(&mut s, "zhangsan");
    assert!(reduce(&mut s, key(KeyCode::Esc)).is_empty());
    assert_eq!(s.screen, Screen::Detail);
    assert_eq!(s.transplant, TransplantInput::default());
    // A plan being built: Esc cancels the read, the late plan is dropped in the runner.
    reduce(&mut s, key(KeyCode::Char('t')));
    typed(&mut s, "#zhangsan");
    let Some(Effect::PlanTransplant { req, .. }) = reduce(&mut s, key(KeyCode::Enter)).pop() else {
        panic!("Enter plans")
    };
    let fx = reduce(&mut s, key(KeyCode::Esc));
    assert!(matches!(fx.as_slice(), [Effect::Cancel { req: r }] if *r == req));
    assert_eq!(s.screen, Screen::Transplant);
    let fx = reduce(
        &mut s,
        Msg::Planned {
            req,
            plan: transplant_plan(8),
        },
    );
    assert!(matches!(fx.as_slice(), [Effect::DropPlan { token: 8 }]));
    assert_eq!(s.screen, Screen::Transplant);
    // Esc from the plan screen of a transplant goes back to the account.
    reduce(&mut s, key(KeyCode::Esc));
    assert_eq!(s.screen, Screen::Detail);
}

#[test]
fn a_refused_transplant_shows_the_operations_error_on_the_prompt() {
    let mut s = u8_detail_screen();
    reduce(&mut s, key(KeyCode::Char('t')));
    typed(&mut s, "liujing");
    let Some(Effect::PlanTransplant { req, .. }) = reduce(&mut s, key(KeyCode::Enter)).pop() else {
        panic!("Enter plans")
    };
    let refusal =
        "refused: --from names liujing (#liujing) itself: the donor must be another account";
    let fx = reduce(
        &mut s,
        Msg::Failed {
            req,
            error: refusal.into(),
        },
    );
    assert!(fx.is_empty(), "nothing to apply");
    assert_eq!(
        s.screen,
        Screen::Transplant,
        "the prompt stays for another donor"
    );
    assert_eq!(s.error.as_deref(), Some(refusal));
    assert!(s.plan.is_none() && s.busy.is_none());
    // Editing the donor clears the error; a new Enter plans again.
    reduce(&mut s, key(KeyCode::Backspace));
    assert!(s.error.is_none());
    assert_eq!(s.transplant.donor, "liujin");
}

/// Backspace `n` times in the focused field.
fn erase(s: &mut AppState, n: usize) {
    for _ in 0..n {
        reduce(s, key(KeyCode::Backspace));
    }
}

#[test]
fn the_accounts_screen_opens_with_the_table_focused_and_letters_never_edit_the_search() {
    let mut s = accounts(Lang::En);
    assert!(!s.searching, "the table has the focus after connecting");
    // Letters are commands or nothing: the search stays empty.
    for c in ['x', 'z', 'k', 'j', '9'] {
        let mut t = accounts(Lang::En);
        reduce(&mut t, key(KeyCode::Char(c)));
        assert!(t.query.is_empty(), "{c} must not reach the search");
    }
    // `/` focuses the search; then letters type and search.
    reduce(&mut s, key(KeyCode::Char('/')));
    assert!(s.searching);
    let fx = typed(&mut s, "li");
    assert!(matches!(fx.last(), Some(Effect::Lookup { query, .. }) if query == "li"));
    assert_eq!(s.query, "li");
}

#[test]
fn enter_in_a_filled_reason_goes_to_the_login_without_a_mismatch() {
    let mut s = accounts(Lang::En);
    let Some(Effect::Plan { req, .. }) = reduce(&mut s, key(KeyCode::Char('r'))).pop() else {
        panic!("r plans a reset")
    };
    reduce(&mut s, Msg::Planned { req, plan: plan(3) });
    reduce(&mut s, key(KeyCode::Enter));
    assert_eq!(s.screen, Screen::Confirm);
    typed(&mut s, "INC-1 why");
    assert!(reduce(&mut s, key(KeyCode::Enter)).is_empty());
    assert_eq!(
        s.confirm.refused, None,
        "nothing was typed in the login yet"
    );
    assert_eq!(s.confirm.focus, 1, "the login field has the focus");
}

#[test]
fn esc_on_the_picker_asks_before_quitting() {
    let mut s = state(Lang::En);
    assert_eq!(s.screen, Screen::Connect);
    reduce(&mut s, key(KeyCode::Esc));
    assert!(!s.quit, "the first Esc asks");
    assert_eq!(s.notice.as_deref(), Some("notice.quit_again"));
    // Any other key stays.
    reduce(&mut s, key(KeyCode::Down));
    reduce(&mut s, key(KeyCode::Esc));
    assert!(!s.quit);
    reduce(&mut s, key(KeyCode::Esc));
    assert!(s.quit, "the second Esc quits");
}

#[test]
fn enter_on_a_journal_entry_opens_it_and_esc_closes_it() {
    let mut s = accounts(Lang::En);
    reduce(&mut s, key(KeyCode::Char('g')));
    assert_eq!(s.screen, Screen::Journal);
    s.busy = None;
    s.journal = Some(journal_view());
    reduce(&mut s, key(KeyCode::Down));
    reduce(&mut s, key(KeyCode::Enter));
    assert!(s.journal_open);
    assert_eq!(s.journal_sel, 1);
    reduce(&mut s, key(KeyCode::Esc));
    assert!(!s.journal_open);
    assert_eq!(s.screen, Screen::Journal);
}

#[test]
fn the_accounts_page_fills_the_terminal() {
    let mut s = state(Lang::En);
    reduce(&mut s, Msg::Resize { rows: 24 });
    assert_eq!(
        s.page_size, 14,
        "80×24: 14 rows of accounts, no blank lines"
    );
    let mut s = accounts(Lang::En);
    // A taller terminal asks for a fuller page at once.
    let fx = reduce(&mut s, Msg::Resize { rows: 40 });
    assert!(
        matches!(fx.as_slice(), [Effect::Lookup { limit: 30, .. }]),
        "{fx:?}"
    );
    // A shorter one cuts what is shown.
    reduce(&mut s, Msg::Resize { rows: 16 });
    assert_eq!(s.page_size, 6);
}

#[test]
fn a_locked_account_can_be_planned_again_with_its_unlock() {
    let mut s = accounts(Lang::En);
    s.detail = Some(u8_detail());
    s.screen = Screen::Detail;
    reduce(&mut s, key(KeyCode::Char('t')));
    typed(&mut s, "demo");
    let Some(Effect::PlanTransplant { req, .. }) = reduce(&mut s, key(KeyCode::Enter)).pop() else {
        panic!("Enter plans the transplant")
    };
    reduce(
        &mut s,
        Msg::Planned {
            req,
            plan: transplant_plan(51),
        },
    );
    // u asks for the same transplant with the unlock writes; the old plan is dropped when it arrives.
    let fx = reduce(&mut s, key(KeyCode::Char('u')));
    let Some(Effect::PlanTransplant {
        req,
        donor,
        unlock: true,
        ..
    }) = fx.into_iter().next()
    else {
        panic!("u plans the transplant again with its unlock")
    };
    assert_eq!(donor, "demo");
    let mut again = transplant_plan(52);
    again.unlocks = true;
    let fx = reduce(&mut s, Msg::Planned { req, plan: again });
    assert!(matches!(fx.as_slice(), [Effect::DropPlan { token: 51 }]));
    // Already unlocking: u does nothing more.
    assert!(reduce(&mut s, key(KeyCode::Char('u'))).is_empty());
}

/// Keystrokes from the accounts screen to a verified reset of a known account
/// by an operator who types the search, a 10-character reason and the login.
/// Only six are not the operator's own text: `/`, Enter (to the table), `r`,
/// Enter (plan → confirm), Enter (reason → login), Enter (apply).
#[test]
fn a_reset_takes_six_keystrokes_besides_the_operators_own_text() {
    let mut s = accounts(Lang::En);
    let mut count = 0;
    let mut press = |s: &mut AppState, code: KeyCode| {
        count += 1;
        reduce(s, key(code))
    };
    press(&mut s, KeyCode::Char('/'));
    let mut last = Vec::new();
    for c in "张三".chars() {
        last = press(&mut s, KeyCode::Char(c));
    }
    let Some(Effect::Lookup { req, .. }) = last.pop() else {
        panic!("typing searches")
    };
    reduce(
        &mut s,
        Msg::Page {
            req,
            rows: rows()[1..2].to_vec(),
            more: false,
            notes: vec![],
        },
    );
    press(&mut s, KeyCode::Enter);
    let Some(Effect::Plan { req, .. }) = press(&mut s, KeyCode::Char('r')).pop() else {
        panic!("r plans the reset of the only match")
    };
    reduce(&mut s, Msg::Planned { req, plan: plan(9) });
    press(&mut s, KeyCode::Enter);
    for c in "INC-000042".chars() {
        press(&mut s, KeyCode::Char(c));
    }
    press(&mut s, KeyCode::Enter);
    for c in "13900000001".chars() {
        press(&mut s, KeyCode::Char(c));
    }
    let fx = press(&mut s, KeyCode::Enter);
    assert!(
        matches!(fx.as_slice(), [Effect::Apply { token: 9, .. }]),
        "{fx:?}"
    );
    let own_text = "张三".chars().count() + "INC-000042".len() + "13900000001".len();
    assert_eq!(count, own_text + 6, "keystrokes: {count}");
    assert_eq!(count, 29);
}
