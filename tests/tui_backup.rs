//! The console's restore-from-backup action (`b` / F9 on an account's detail)
//! through the reducer alone: the prompt asks for a source and Enter plans
//! the same request as `reset --from-backup`.

mod common;

use common::tui::*;
use locksmith::tui::i18n::Lang;
use locksmith::tui::state::*;
use ratatui::crossterm::event::KeyCode;

fn detail_screen() -> AppState {
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
fn b_opens_the_source_prompt_and_enter_plans_a_backup_restore() {
    let mut s = detail_screen();
    assert!(reduce(&mut s, key(KeyCode::Char('b'))).is_empty());
    assert_eq!(s.screen, Screen::Transplant);
    assert!(s.transplant.backup, "the prompt asks for a backup");
    assert_eq!(s.transplant.reference, "#liujing");
    assert!(reduce(&mut s, key(KeyCode::Enter)).is_empty());
    assert_eq!(s.transplant.refused.as_deref(), Some("backup.need_source"));
    typed(&mut s, "/srv/backup/nightly.sql.gz");
    let Some(Effect::PlanFromBackup {
        reference, source, ..
    }) = reduce(&mut s, key(KeyCode::Enter)).into_iter().next()
    else {
        panic!("Enter plans the backup restore")
    };
    assert_eq!(reference, "#liujing");
    assert_eq!(source, "/srv/backup/nightly.sql.gz");
    // F9 opens the same prompt; t still opens the donor prompt.
    let mut s = detail_screen();
    reduce(&mut s, key(KeyCode::F(9)));
    assert!(s.screen == Screen::Transplant && s.transplant.backup);
    let mut s = detail_screen();
    reduce(&mut s, key(KeyCode::Char('t')));
    assert!(s.screen == Screen::Transplant && !s.transplant.backup);
}
