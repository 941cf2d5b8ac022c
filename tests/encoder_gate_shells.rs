//! One use case, two shells: an uncalibrated external encoder is refused
//! before the operator confirms — by the CLI, and by the console on its plan
//! step (reducer + the real effect runner on MariaDB), with the same words —
//! and `drill --on-copy` connects with the operator's `--encoder`.

mod common;

use common::tui::{accounts, key};
use common::*;
use locksmith::tui::effects::Runner;
use locksmith::tui::i18n::Lang;
use locksmith::tui::state::{Effect, Msg, Profile, Screen, reduce};
use ratatui::crossterm::event::KeyCode;

/// Prints base64(sha1(password)): a stand-in for a vendor's encoder program.
const ENCODER: &str = "import sys, hashlib, base64\n\
pw = sys.stdin.buffer.read().rstrip(b'\\n')\n\
print(base64.b64encode(hashlib.sha1(pw).digest()).decode())\n";

fn encoder_script(db: &TestDb) -> String {
    let script = db.dir.path().join("enc.py");
    std::fs::write(&script, ENCODER).expect("write encoder");
    script.to_str().expect("utf-8 path").to_string()
}

fn intents(db: &TestDb) -> usize {
    let out = run_locksmith(
        &[
            "--journal",
            db.journal().to_str().unwrap(),
            "--json",
            "audit",
            "list",
        ],
        None,
    );
    json(&out)["entries"]
        .as_array()
        .map_or(0, |a| a.iter().filter(|e| e["kind"] == "intent").count())
}

/// What the CLI says, after `error: `.
fn cli_refusal(db: &TestDb, script: &str) -> String {
    let journal = db.journal();
    let out = run_locksmith(
        &[
            "--target",
            &db.url(),
            "--connector",
            "ruoyi-vue",
            "--journal",
            journal.to_str().unwrap(),
            "--encoder",
            "python3",
            "--encoder-arg",
            script,
            "reset",
            "admin",
            "--reason",
            "INC-7 encoder",
            "--yes",
        ],
        None,
    );
    assert_code(&out, 5);
    let err = stderr(&out);
    let line = err
        .lines()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or_else(|| panic!("no error line in {err}"));
    line.to_string()
}

/// Drives one effect through the real runner and returns the message that answers `req`.
async fn answer(
    runner: &mut Runner,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Msg>,
    effect: Effect,
) -> Msg {
    runner.run(effect);
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(60), rx.recv())
            .await
            .expect("the runner answers within a minute")
            .expect("runner channel open");
        if !matches!(msg, Msg::DrillStep { .. }) {
            return msg;
        }
    }
}

#[test]
fn the_console_refuses_an_uncalibrated_encoder_on_the_plan_step_with_the_clis_words() {
    let db = TestDb::new(Vendor::RuoYiVue);
    let script = encoder_script(&db);
    let before = db.row_image("sys_user", "user_name", "admin");
    let cli_words = cli_refusal(&db, &script);
    assert!(cli_words.contains("has not been calibrated"), "{cli_words}");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let console_error = local.block_on(&rt, async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let connectors = locksmith::ops::connect::connectors().unwrap();
        let mut runner = Runner::new(
            tx,
            connectors,
            (db.journal(), db.dir.path().join("journal.sqlite.key")),
        );
        let profile = Profile {
            name: "test".into(),
            target: db.url(),
            connector: Some("ruoyi-vue".into()),
            encoder: Some(vec!["python3".into(), script.clone()]),
            ..Profile::default()
        };
        let connected = answer(
            &mut runner,
            &mut rx,
            Effect::Connect {
                req: 1,
                profile,
                password: None,
            },
        )
        .await;
        assert!(matches!(connected, Msg::Connected { .. }), "{connected:?}");

        // The operator presses r on the accounts screen: the reducer asks for a plan…
        let mut s = accounts(Lang::En);
        let effect = reduce(&mut s, key(KeyCode::Char('r'))).pop();
        let Some(Effect::Plan { req, action, .. }) = effect else {
            panic!("r must ask for a plan, got {effect:?}");
        };
        // …of an account that exists on this database.
        let planned = answer(
            &mut runner,
            &mut rx,
            Effect::Plan {
                req,
                action,
                reference: "admin".into(),
                unlock: false,
            },
        )
        .await;
        let Msg::Failed {
            req: failed,
            ref error,
        } = planned
        else {
            panic!("an uncalibrated encoder must be refused while planning, got {planned:?}");
        };
        assert_eq!(failed, req);
        let error = error.clone();
        reduce(&mut s, planned);
        // Refused before any confirmation: no plan, no confirm screen, the words on screen.
        assert!(s.plan.is_none());
        assert_ne!(s.screen, Screen::Plan);
        assert_ne!(s.screen, Screen::Confirm);
        assert_eq!(s.error.as_deref(), Some(error.as_str()));
        error
    });
    assert_eq!(
        console_error, cli_words,
        "the console and the CLI say the same"
    );
    assert_eq!(db.row_image("sys_user", "user_name", "admin"), before);
    assert_eq!(intents(&db), 0, "no intent was journaled");
}

#[test]
fn drill_on_copy_connects_with_the_operators_encoder() {
    let live = TestDb::new(Vendor::RuoYiVue);
    let copy = TestDb::new(Vendor::RuoYiVue);
    let script = encoder_script(&live);
    let journal = live.journal();
    let out = run_locksmith(
        &[
            "--target",
            &live.url(),
            "--connector",
            "ruoyi-vue",
            "--journal",
            journal.to_str().unwrap(),
            "--encoder",
            "python3",
            "--encoder-arg",
            &script,
            "--json",
            "drill",
            "--on-copy",
            &copy.url(),
        ],
        None,
    );
    // The encoder replaced the scheme on the copy's session: the drill's plan
    // says so, and the uncalibrated encoder is refused there before any intent.
    assert_code(&out, 5);
    let err = format!("{}{}", stdout(&out), stderr(&out));
    assert!(err.contains("has not been calibrated"), "{err}");
    assert!(
        err.contains(&copy.name),
        "the refusal names the copy's database: {err}"
    );
    assert_eq!(intents(&live), 0);
}
