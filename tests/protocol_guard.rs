//! The write protocol's guards, driven through the library API so another
//! client can change the row between plan and apply.

mod common;

use common::{TestDb, Vendor};
use locksmith::backend::Target;
use locksmith::connector;
use locksmith::journal::{EntryKind, Journal, Outcome};
use locksmith::ops::{Action, OpError, PlanOptions, Session, apply, plan};
use locksmith::secret::Password;

async fn session(db: &TestDb) -> Session {
    let target = Target::parse(&db.url()).unwrap();
    let all = connector::load_all(None).unwrap();
    Session::open(&target, Some(db.vendor.connector()), &all)
        .await
        .unwrap()
}

fn journal(db: &TestDb) -> Journal {
    let path = db.journal();
    Journal::open(&path, &path.with_extension("key")).unwrap()
}

#[tokio::test]
async fn a_row_changed_between_plan_and_apply_is_not_written() {
    let db = TestDb::new(Vendor::RuoYi);
    let mut s = session(&db).await;
    let mut j = journal(&db);
    let plan = plan::build(
        &mut s,
        "zhangsan",
        Action::Reset,
        Some(Password::new("Fresh#2026pass".into())),
        &PlanOptions::default(),
    )
    .await
    .unwrap();
    // Another client (the vendor's own UI, say) changes the password meanwhile.
    db.exec("UPDATE sys_user SET password = MD5(CONCAT('zhangsan', 'Other#pw', salt)) WHERE user_id = 100");
    let image = db.row_image("sys_user", "user_id", "100");

    let err = apply(&mut s, &mut j, &plan, "test").await.unwrap_err();
    assert!(matches!(err, OpError::Refused(_)), "{err}");
    assert_eq!(err.exit_code(), 5);
    assert!(err.to_string().contains("matched 0 rows"), "{err}");
    assert_eq!(
        db.row_image("sys_user", "user_id", "100"),
        image,
        "nothing written"
    );

    let entries = j.list(None).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].entry.kind, EntryKind::Intent);
    assert_eq!(entries[1].entry.kind, EntryKind::Outcome);
    assert_eq!(entries[1].entry.outcome, Some(Outcome::Refused));
    assert_eq!(entries[1].entry.refers_to, Some(entries[0].id));
    assert!(j.open_intents().unwrap().is_empty());
}

#[tokio::test]
async fn a_status_change_between_plan_and_apply_is_caught_by_the_guard() {
    let db = TestDb::new(Vendor::RuoYi);
    let mut s = session(&db).await;
    let mut j = journal(&db);
    let plan = plan::build(
        &mut s,
        "lisi",
        Action::Unlock,
        None,
        &PlanOptions::default(),
    )
    .await
    .unwrap();
    db.exec("UPDATE sys_user SET login_name = 'lisi2' WHERE user_id = 101");
    let err = apply(&mut s, &mut j, &plan, "test").await.unwrap_err();
    assert!(matches!(err, OpError::Refused(_)), "{err}");
    assert_eq!(
        db.one("SELECT status FROM sys_user WHERE user_id = 101"),
        "1"
    );
}

#[tokio::test]
async fn an_intent_without_outcome_is_reconciled_from_the_row() {
    let db = TestDb::new(Vendor::RuoYi);
    let mut s = session(&db).await;
    let mut j = journal(&db);
    let plan = plan::build(
        &mut s,
        "zhangsan",
        Action::Reset,
        Some(Password::new("Fresh#2026pass".into())),
        &PlanOptions::default(),
    )
    .await
    .unwrap();
    let applied = apply(&mut s, &mut j, &plan, "test").await.unwrap();
    // Simulate a crash after commit: remove the outcome so only the intent remains.
    drop(j);
    common::forget_outcome(&db.journal(), applied.outcome_entry);
    let mut j = journal(&db);
    assert_eq!(j.open_intents().unwrap().len(), 1);
    let found = locksmith::ops::protocol::reconcile(&mut s, &mut j)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].found, "applied");
    assert!(j.open_intents().unwrap().is_empty());
}

/// restore-admin's plan has several statements in ONE transaction: when the
/// second one's "does not exist" guard fails (another client linked the role
/// meanwhile), the first one (the UPDATE) is rolled back too.
#[tokio::test]
async fn a_failed_insert_guard_rolls_back_the_whole_restore() {
    use locksmith::ops::emergency;
    let db = TestDb::new(Vendor::RuoYi);
    db.exec("UPDATE sys_user SET status = '1' WHERE user_id = 1; DELETE FROM sys_user_role WHERE user_id = 1");
    let mut s = session(&db).await;
    let mut j = journal(&db);
    let diag = emergency::locate(&mut s, None).await.unwrap();
    let plan = emergency::plan_restore(&mut s, &diag, Password::new("Fresh#2026pass".into()))
        .await
        .unwrap();
    assert_eq!(plan.statements.len(), 2);
    db.exec("INSERT INTO sys_user_role (user_id, role_id) VALUES (1, 1)");
    let image = db.row_image("sys_user", "user_id", "1");

    let err = apply(&mut s, &mut j, &plan, "test").await.unwrap_err();
    assert!(matches!(err, OpError::Refused(_)), "{err}");
    assert!(
        err.to_string().contains("affected 0 rows instead of 1"),
        "{err}"
    );
    assert_eq!(
        db.row_image("sys_user", "user_id", "1"),
        image,
        "the UPDATE was rolled back"
    );
    let entries = j.list(None).unwrap();
    assert_eq!(entries[0].entry.kind, EntryKind::BreakGlass);
    assert_eq!(entries[1].entry.outcome, Some(Outcome::Refused));
    // A refused break-glass write leaves nothing open.
    assert!(j.open_break_glass().unwrap().is_empty());
    assert!(j.open_intents().unwrap().is_empty());
}

/// The re-create INSERT is guarded by "neither the key nor the login exists".
#[tokio::test]
async fn a_row_recreated_meanwhile_is_not_inserted_twice() {
    use locksmith::ops::emergency;
    let db = TestDb::new(Vendor::Wukong11);
    db.exec("DELETE FROM wk_admin_user_role WHERE user_id = 14773; DELETE FROM wk_admin_user WHERE user_id = 14773");
    let mut s = session(&db).await;
    let mut j = journal(&db);
    let diag = emergency::locate(&mut s, Some("13800000000"))
        .await
        .unwrap();
    let plan = emergency::plan_restore(&mut s, &diag, Password::new("Fresh#2026pass".into()))
        .await
        .unwrap();
    assert!(plan.creates_row);
    // Someone else re-creates it with another key but the same login.
    db.exec("INSERT INTO wk_admin_user (user_id, username, mobile) VALUES (20000, '13800000000', '13800000000')");
    let err = apply(&mut s, &mut j, &plan, "test").await.unwrap_err();
    assert_eq!(err.exit_code(), 5, "{err}");
    assert_eq!(
        db.one("SELECT COUNT(*) FROM wk_admin_user WHERE user_id = 14773"),
        "0"
    );
    assert_eq!(
        db.one("SELECT COUNT(*) FROM wk_admin_user_role WHERE user_id = 14773"),
        "0"
    );
}
