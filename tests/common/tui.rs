//! Console fixtures: states built by hand, so screens and flows are tested
//! without a terminal or a database.

use locksmith::ops::AccountState;
use locksmith::ops::emergency::Problem;
use locksmith::ops::plan::{Action, ChangeView, PlanView, StatementView};
use locksmith::secret::Password;
use locksmith::tui::i18n::Lang;
use locksmith::tui::state::*;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn typed(s: &mut AppState, text: &str) -> Vec<Effect> {
    let mut out = Vec::new();
    for c in text.chars() {
        out.extend(reduce(s, key(KeyCode::Char(c))));
    }
    out
}

pub fn ok_state() -> AccountState {
    AccountState {
        enabled: Some(true),
        deleted: false,
        locked: None,
    }
}

pub fn rows() -> Vec<AccountRow> {
    let r = |id: &str, login: &str, name: &str, admin: bool, state: AccountState| AccountRow {
        id: id.into(),
        login: login.into(),
        name: name.into(),
        email: format!("{login}@wukong.example.cn"),
        phone: "13900000000".into(),
        admin,
        state,
        shape_ok: true,
        cursor: locksmith::ops::account::PageCursor {
            tier: 0,
            id: locksmith::backend::Value::Text(id.into()),
        },
    };
    vec![
        r("14773", "13800000000", "超级管理员", true, ok_state()),
        r("14774", "13900000001", "张三", false, ok_state()),
        r(
            "14775",
            "13900000002",
            "李四",
            false,
            AccountState {
                enabled: Some(false),
                ..ok_state()
            },
        ),
        r(
            "14776",
            "13900000003",
            "欧阳娜娜（华东大区销售总监兼华南区域负责人）",
            false,
            AccountState {
                deleted: true,
                ..ok_state()
            },
        ),
        r(
            "14777",
            "emily.chen",
            "Emily Chen",
            false,
            AccountState {
                locked: Some(true),
                ..ok_state()
            },
        ),
    ]
}

pub fn conn() -> ConnInfo {
    ConnInfo {
        target: "mysql://root@127.0.0.1:3306/crm".into(),
        connector: "wukong11".into(),
        title: "WukongCRM 11.0 Java (悟空CRM)".into(),
        scheme: "digest:md5(login+password+'erp'+salt)".into(),
        can_hash: true,
        notes: vec!["Failed-login lockout lives in Redis.".into()],
        warnings: vec![],
        read_only: false,
    }
}

pub fn profiles() -> Vec<Profile> {
    vec![
        Profile {
            name: "CRM production".into(),
            target: "mysql://locksmith@10.0.0.5:3306/crm?tls=required".into(),
            connector: Some("wukong11".into()),
            prefix: None,
            note: None,
            encoder: None,
        },
        Profile {
            name: "Demo · Yonyou U8 (用友U8)".into(),
            target: "sqlite:///tmp/demo.sqlite".into(),
            connector: Some("u8-demo".into()),
            prefix: None,
            note: Some("lookup, show and unlock only".into()),
            encoder: None,
        },
    ]
}

pub fn connectors() -> Vec<String> {
    vec!["jeecg".into(), "ruoyi".into(), "wukong11".into()]
}

pub fn state(lang: Lang) -> AppState {
    let mut s = AppState::new(lang, profiles(), connectors());
    s.color = false;
    s
}

/// A connected state showing one page of accounts.
pub fn accounts(lang: Lang) -> AppState {
    let mut s = state(lang);
    let req = match reduce(&mut s, key(KeyCode::Enter)).pop() {
        Some(Effect::Connect { req, .. }) => req,
        other => panic!("expected Connect, got {other:?}"),
    };
    let lookup = reduce(&mut s, Msg::Connected { req, info: conn() });
    let Some(Effect::Lookup { req, .. }) = lookup.into_iter().next() else {
        panic!("connecting must start a lookup")
    };
    reduce(
        &mut s,
        Msg::Page {
            req,
            rows: rows(),
            more: true,
            notes: vec![],
        },
    );
    // Connected: the table has the focus (`/` would focus the search).
    assert!(
        !s.searching,
        "the accounts screen opens with the table focused"
    );
    s
}

pub fn detail() -> Detail {
    Detail {
        reference: "#14774".into(),
        label: "13900000001 (#14774)".into(),
        login: "13900000001".into(),
        fields: vec![
            field("id", "user_id", "14774"),
            field("login", "username", "13900000001"),
            field("display", "realname", "张三"),
            field("status", "status", "1"),
            secret("password", "password", 32),
            secret("salt", "salt", 32),
        ],
        admin: false,
        state: ok_state(),
        scheme: "digest:md5(login+password+'erp'+salt)".into(),
        shape_ok: true,
        detected: vec!["digest".into()],
        // The connector's own notes, all four: the longest detail at 80×24 (it scrolls).
        notes: vec![
            "Failed-login lockout (3 errors, 2-3 minutes) lives in Redis (PASSWORD_ERROR_CACHE_KEY + username); the database cannot clear it.".into(),
            "The hash includes the username (usually the mobile number): renaming an account invalidates its password.".into(),
            "status 2 means 'not activated'; the application activates the account at its first successful login.".into(),
            "The super admin is user_id 14773 (hard-coded in UserUtil.getSuperUser) or any member of role 180162.".into(),
        ],
        notes_zh: vec![
            "登录失败锁定（3 次错误，2-3 分钟）保存在 Redis（PASSWORD_ERROR_CACHE_KEY + 用户名）中；数据库无法解除。".into(),
            "哈希包含用户名（通常是手机号）：重命名账号会使其密码失效。".into(),
            "status 2 表示“未激活”；应用会在首次成功登录时激活该账号。".into(),
            "超级管理员是 user_id 14773（在 UserUtil.getSuperUser 中写死）或角色 180162 的任意成员。".into(),
        ],
    }
}

pub fn plan(token: u64) -> PlanInfo {
    PlanInfo {
        token,
        view: PlanView {
            action: Action::Reset,
            account: "13900000001 (#14774)".into(),
            table: "wk_admin_user".into(),
            sql: "UPDATE `wk_admin_user` SET `password` = ?, `salt` = ? WHERE `user_id` = ? AND `username` <=> ? AND `password` <=> ? AND `salt` <=> ?".into(),
            changes: vec![
                ChangeView {
                    column: "password".into(),
                    before: "hmac-sha256:1111".into(),
                    after: "hmac-sha256:2222".into(),
                },
                ChangeView {
                    column: "salt".into(),
                    before: "hmac-sha256:3333".into(),
                    after: "hmac-sha256:4444".into(),
                },
            ],
            guarded: vec!["username".into(), "password".into(), "salt".into()],
            warnings: vec![],
            scheme: "digest:md5(login+password+'erp'+salt)".into(),
            transactional: true,
            statements: vec![StatementView {
                purpose: "update 13900000001 (#14774)".into(),
                table: "wk_admin_user".into(),
                sql: "UPDATE `wk_admin_user` SET `password` = ?, `salt` = ? WHERE `user_id` = ? AND `username` <=> ? AND `password` <=> ? AND `salt` <=> ?".into(),
            }],
            creates_row: false,
        },
        login: "13900000001".into(),
        notes: vec![],
        nothing_to_do: false,
        problems: vec![],
        donor: None,
        locked: false,
        unlocks: false,
    }
}

/// A restore-admin plan for WukongCRM's emergency admin: disabled, soft-deleted
/// and unlinked from the admin role; two statements in one transaction.
pub fn emergency_plan(token: u64) -> PlanInfo {
    let update = "UPDATE `wk_admin_user` SET `password` = ?, `salt` = ?, `status` = ?, `is_del` = ? WHERE `user_id` = ? AND `username` <=> ? AND `password` <=> ? AND `salt` <=> ? AND `status` <=> ? AND `is_del` <=> ?";
    let link = "INSERT INTO `wk_admin_user_role` (`user_id`, `role_id`) SELECT ?, ? FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM `wk_admin_user_role` WHERE `user_id` = ? AND `role_id` = ?)";
    let change = |column: &str, before: &str, after: &str| ChangeView {
        column: column.into(),
        before: before.into(),
        after: after.into(),
    };
    PlanInfo {
        token,
        view: PlanView {
            action: Action::RestoreAdmin,
            account: "13800000000 (#14773)".into(),
            table: "wk_admin_user".into(),
            sql: update.into(),
            changes: vec![
                change("password", "hmac-sha256:1111", "hmac-sha256:2222"),
                change("salt", "hmac-sha256:3333", "hmac-sha256:4444"),
                change("status", "0", "1"),
                change("is_del", "1", "0"),
            ],
            guarded: vec![
                "username".into(),
                "password".into(),
                "salt".into(),
                "status".into(),
                "is_del".into(),
            ],
            warnings: vec![],
            scheme: "digest:md5(login+password+'erp'+salt)".into(),
            transactional: true,
            statements: vec![
                StatementView {
                    purpose: "update 13800000000 (#14773)".into(),
                    table: "wk_admin_user".into(),
                    sql: update.into(),
                },
                StatementView {
                    purpose: "link the account to the admin role `180162` in `wk_admin_user_role`"
                        .into(),
                    table: "wk_admin_user_role".into(),
                    sql: link.into(),
                },
            ],
            creates_row: false,
        },
        login: "13800000000".into(),
        notes: vec![],
        nothing_to_do: false,
        problems: vec![
            Problem {
                code: "deleted",
                message: "soft-deleted (is_del = 1)".into(),
            },
            Problem {
                code: "disabled",
                message: "disabled (status = 0)".into(),
            },
            Problem {
                code: "role_link_missing",
                message: "not linked to the admin role `180162` in `wk_admin_user_role`".into(),
            },
        ],
        donor: None,
        locked: false,
        unlocks: true,
    }
}

pub fn result(password: Option<&str>) -> ResultInfo {
    ResultInfo {
        action: if password.is_some() {
            Action::Reset
        } else {
            Action::Unlock
        },
        account: "13900000001 (#14774)".into(),
        intent_entry: 7,
        outcome_entry: 8,
        password: password.map(|p| Password::new(p.into())),
        copied: false,
        donor: None,
    }
}

/// The detail screen of a Yonyou U8 account (closed password format: the
/// console can only transplant a value into it).
pub fn u8_detail() -> Detail {
    Detail {
        reference: "#liujing".into(),
        label: "liujing (#liujing)".into(),
        login: "liujing".into(),
        fields: vec![
            field("id", "cUser_Id", "liujing"),
            field("login", "cUser_Id", "liujing"),
            field("display", "cUser_Name", "刘静"),
            secret("password", "cPassword", 24),
            field("status", "nState", "0"),
        ],
        admin: false,
        state: ok_state(),
        scheme: "opaque".into(),
        shape_ok: true,
        detected: vec![],
        notes: vec!["Names from third-party code, unverified.".into()],
        notes_zh: vec!["表名和列名来自第三方代码，未经验证。".into()],
    }
}

/// A transplant plan on Yonyou U8: liujing gets the stored value of demo.
pub fn transplant_plan(token: u64) -> PlanInfo {
    let sql = "UPDATE [UA_User] SET [cPassword] = @P1, [dPasswordDate] = @P2 WHERE [cUser_Id] = @P3 AND ([cPassword] = @P4 OR ([cPassword] IS NULL AND @P4 IS NULL)) AND ([dPasswordDate] = @P5 OR ([dPasswordDate] IS NULL AND @P5 IS NULL))";
    PlanInfo {
        token,
        view: PlanView {
            action: Action::Reset,
            account: "liujing (#liujing)".into(),
            table: "UA_User".into(),
            sql: sql.into(),
            changes: vec![
                ChangeView {
                    column: "cPassword".into(),
                    before: "hmac-sha256:5555".into(),
                    after: "hmac-sha256:6666".into(),
                },
                ChangeView {
                    column: "dPasswordDate".into(),
                    before: "2025-01-06 09:12:00 (hmac-sha256:7777)".into(),
                    after: "2026-03-01 02:14:08 (hmac-sha256:8888)".into(),
                },
            ],
            guarded: vec!["cPassword".into(), "dPasswordDate".into()],
            warnings: vec![
                "after this, account liujing (#liujing) accepts the password of account demo (#demo)".into(),
                "opaque cannot verify this format: after the write Locksmith checks that the copied values equal the donor's; log in as liujing with the donor's password to confirm".into(),
            ],
            scheme: "opaque".into(),
            transactional: true,
            statements: vec![StatementView {
                purpose: "update liujing (#liujing)".into(),
                table: "UA_User".into(),
                sql: sql.into(),
            }],
            creates_row: false,
        },
        login: "liujing".into(),
        notes: vec![],
        nothing_to_do: false,
        problems: vec![],
        donor: Some("demo (#demo)".into()),
        // liujing is locked in the U8 fixture: the plan offers "also unlock".
        locked: true,
        unlocks: false,
    }
}

/// A finished drill of WukongCRM's emergency admin.
pub fn drill_done() -> DrillView {
    let step = |step: &str, millis: f64| DrillStep {
        step: step.into(),
        millis,
    };
    DrillView {
        steps: vec![
            step("locate the emergency admin", 4.2),
            step("plan the restore", 11.8),
            step("journal intent", 3.1),
            step("update and verify", 9.6),
            step("rollback", 1.4),
            step("journal outcome", 2.9),
        ],
        done: Some(DrillDone {
            account: "13800000000 (#14773)".into(),
            time_to_recover_ms: 28.7,
            total_ms: 33.0,
            rolled_back: true,
            intent_entry: 12,
            outcome_entry: 13,
            chain_ok: true,
            posture_ok: false,
            report: "/home/dba/.local/state/locksmith/drill-2026-03-01T02-14-08Z.md".into(),
        }),
    }
}

/// A journal of one reset: its intent and its outcome (newest first).
pub fn journal_view() -> JournalView {
    let row = |id: i64, at: &str, kind: &str, outcome: &str, refers_to: Option<i64>| {
        JournalRow {
        id,
        at: at.into(),
        kind: kind.into(),
        action: "reset".into(),
        account: "张三 (#14774)".into(),
        outcome: outcome.into(),
        reason: "INC-2026-0301 张三 locked out of the CRM after a password change".into(),
        refers_to,
        details: vec![
            "{".into(),
            "  \"sql\": \"UPDATE `wk_admin_user` SET `password` = ?, `salt` = ? WHERE `user_id` = ? AND `username` <=> ? AND `password` <=> ? AND `salt` <=> ?\",".into(),
            "  \"step\": \"commit\",".into(),
            "  \"verified\": true".into(),
            "}".into(),
        ],
    }
    };
    JournalView {
        path: "/home/dba/.local/state/locksmith/journal.sqlite".into(),
        entries: vec![
            row(2, "2026-03-01 02:14:09", "outcome", "committed", Some(1)),
            row(1, "2026-03-01 02:14:08", "intent", "", None),
        ],
        chain: Chain::Intact { entries: 2 },
    }
}

/// A mapped field as the detail screen gets it.
pub fn field(role: &str, column: &str, value: &str) -> locksmith::ops::account::FieldView {
    locksmith::ops::account::FieldView {
        role: role.into(),
        column: column.into(),
        value: value.into(),
        secret_chars: None,
    }
}

/// The stored hash or salt: its length only.
pub fn secret(role: &str, column: &str, chars: usize) -> locksmith::ops::account::FieldView {
    locksmith::ops::account::FieldView {
        secret_chars: Some(chars),
        ..field(role, column, &format!("<{chars} characters>"))
    }
}
