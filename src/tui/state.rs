//! The console's state and its one reducer. `reduce` is the only place the
//! state changes; it does no I/O and returns the effects to run (connect,
//! look up, plan, apply, ...). Results come back as messages tagged with the
//! request id they answer; a result for any other id is stale and dropped.

#![deny(clippy::disallowed_methods)]

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use zeroize::Zeroizing;

use super::i18n::Lang;
use crate::ops::AccountState;
use crate::ops::emergency::Problem;
use crate::ops::plan::{Action, PlanView};
use crate::secret::Password;

/// Accounts per page: small enough for an 80×24 table, paged with LIMIT/OFFSET.
pub const PAGE_SIZE: u64 = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Connect,
    Form,
    Accounts,
    Detail,
    Plan,
    Confirm,
    Result,
    Calibrate,
    Journal,
    Drill,
    /// The transplant prompt over the detail screen: which account's stored password to copy.
    Transplant,
}

/// A saved connection: never a password.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Profile {
    pub name: String,
    pub target: String,
    pub connector: Option<String>,
    pub prefix: Option<String>,
    /// Shown under the name (demo profiles say what they contain).
    pub note: Option<String>,
    /// An external encoder (program and arguments) that replaces the connector's scheme.
    pub encoder: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsChoice {
    Preferred,
    Required,
    Disabled,
}

impl TlsChoice {
    pub fn next(self) -> TlsChoice {
        match self {
            TlsChoice::Preferred => TlsChoice::Required,
            TlsChoice::Required => TlsChoice::Disabled,
            TlsChoice::Disabled => TlsChoice::Preferred,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            TlsChoice::Preferred => "preferred",
            TlsChoice::Required => "required",
            TlsChoice::Disabled => "disabled",
        }
    }
}

/// The new-connection form. The password is held zeroizing and never drawn.
#[derive(Debug, Clone)]
pub struct Form {
    pub url: String,
    pub password: Zeroizing<String>,
    pub tls: TlsChoice,
    pub ca: String,
    pub skip_verify: bool,
    /// Index into `connectors` (0 = auto-detect).
    pub connector: usize,
    pub connectors: Vec<String>,
    pub focus: usize,
}

pub const FORM_FIELDS: usize = 6;

impl Form {
    pub fn new(connectors: Vec<String>) -> Form {
        Form {
            url: "mysql://root@127.0.0.1:3306/".into(),
            password: Zeroizing::new(String::new()),
            tls: TlsChoice::Preferred,
            ca: String::new(),
            skip_verify: false,
            connector: 0,
            connectors,
            focus: 0,
        }
    }

    /// The URL with the TLS options of the form folded into its query.
    pub fn target_url(&self) -> String {
        let url = self.url.trim();
        if url.starts_with("sqlite:") {
            return url.to_string();
        }
        let mut opts = Vec::new();
        if self.tls != TlsChoice::Preferred {
            opts.push(format!("tls={}", self.tls.as_str()));
        }
        if !self.ca.trim().is_empty() {
            opts.push(format!("ca={}", self.ca.trim()));
        }
        if self.skip_verify {
            opts.push("skip-verify=true".into());
        }
        if opts.is_empty() {
            url.to_string()
        } else {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}{}", opts.join("&"))
        }
    }

    pub fn connector_name(&self) -> Option<String> {
        if self.connector == 0 {
            None
        } else {
            self.connectors.get(self.connector - 1).cloned()
        }
    }
}

/// What the console knows about the open session.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConnInfo {
    pub target: String,
    pub connector: String,
    pub title: String,
    pub scheme: String,
    /// false for opaque schemes: reset and calibrate cannot work.
    pub can_hash: bool,
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
}

/// One table row of the accounts screen.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountRow {
    pub id: String,
    pub login: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub admin: bool,
    pub state: AccountState,
    pub shape_ok: bool,
}

impl AccountRow {
    /// `#id`: how the console names an account to the operations (exact, unique).
    pub fn reference(&self) -> String {
        format!("#{}", self.id)
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filters {
    pub admins: bool,
    pub locked: bool,
    pub disabled: bool,
}

/// Everything `locksmith show` prints, secrets reduced to `<N characters>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    pub reference: String,
    pub label: String,
    pub login: String,
    /// (role, column, shown value)
    pub fields: Vec<(String, String, String)>,
    pub admin: bool,
    pub state: AccountState,
    pub scheme: String,
    pub shape_ok: bool,
    pub detected: Vec<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct PlanInfo {
    /// Names the plan held by the effect runner (it holds the new password).
    pub token: u64,
    pub view: PlanView,
    pub login: String,
    pub notes: Vec<String>,
    pub nothing_to_do: bool,
    pub scroll: u16,
    /// restore-admin only: what keeps the emergency admin from working (empty: healthy).
    pub problems: Vec<Problem>,
    /// A transplant: the donor's label (its stored password value is copied; no new password).
    pub donor: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ConfirmInput {
    pub reason: String,
    pub typed: String,
    /// 0 = reason, 1 = login
    pub focus: usize,
    /// A catalog key explaining why the last Enter was refused.
    pub refused: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ResultInfo {
    pub action: Action,
    pub account: String,
    pub intent_entry: i64,
    pub outcome_entry: i64,
    /// A generated password: shown once, dropped (zeroized) when the screen is left.
    pub password: Option<Password>,
    pub copied: bool,
    /// A transplant: the donor's label; the account now accepts the donor's password.
    pub donor: Option<String>,
}

/// The transplant prompt: the account written and the donor typed so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransplantInput {
    /// `#id` of the account that receives the donor's stored value.
    pub reference: String,
    pub login: String,
    /// The donor as typed: a login or `#ID` (resolved by the operation).
    pub donor: String,
    /// A catalog key explaining why the last Enter was refused.
    pub refused: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct CalibrateInput {
    pub reference: String,
    pub login: String,
    pub known: Zeroizing<String>,
    /// Some((account, scheme, matches)) after a run.
    pub result: Option<(String, String, bool)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JournalRow {
    pub id: i64,
    pub at: String,
    pub kind: String,
    pub action: String,
    pub account: String,
    pub outcome: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Chain {
    Intact { entries: u64 },
    Broken { entry: i64, message: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct JournalView {
    pub path: String,
    pub entries: Vec<JournalRow>,
    pub chain: Chain,
}

/// One step of a drill, reported as it ends.
#[derive(Debug, Clone, PartialEq)]
pub struct DrillStep {
    pub step: String,
    pub millis: f64,
}

/// A finished drill: its timings and where its report was written.
#[derive(Debug, Clone, PartialEq)]
pub struct DrillDone {
    pub account: String,
    pub time_to_recover_ms: f64,
    pub total_ms: f64,
    pub rolled_back: bool,
    pub intent_entry: i64,
    pub outcome_entry: i64,
    pub chain_ok: bool,
    pub posture_ok: bool,
    /// The Markdown report's path.
    pub report: String,
}

/// The Drill screen: steps appear as they complete.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DrillView {
    pub steps: Vec<DrillStep>,
    pub done: Option<DrillDone>,
}

/// Which request the console is waiting for, and what to say meanwhile.
#[derive(Debug, Clone, PartialEq)]
pub struct Busy {
    pub req: u64,
    /// Catalog key: "busy.connect", "busy.search", ...
    pub what: &'static str,
    /// Writes cannot be cancelled half-way.
    pub cancellable: bool,
}

pub struct AppState {
    pub lang: Lang,
    pub color: bool,
    pub demo: bool,
    pub screen: Screen,
    pub help: bool,
    pub busy: Option<Busy>,
    pub spinner: usize,
    next_req: u64,
    /// Plain-words error of the last failed request (shown until the next key).
    pub error: Option<String>,
    /// A catalog key for a short status message.
    pub notice: Option<String>,
    pub profiles: Vec<Profile>,
    pub profile_sel: usize,
    pub form: Form,
    pub conn: Option<ConnInfo>,
    pub query: String,
    pub searching: bool,
    pub filters: Filters,
    pub offset: u64,
    pub rows: Vec<AccountRow>,
    pub more: bool,
    pub selected: usize,
    pub page_notes: Vec<String>,
    pub detail: Option<Detail>,
    pub plan: Option<PlanInfo>,
    pub confirm: ConfirmInput,
    pub result: Option<ResultInfo>,
    pub calibrate: CalibrateInput,
    pub transplant: TransplantInput,
    pub journal: Option<JournalView>,
    pub journal_sel: usize,
    pub drill: Option<DrillView>,
    /// Where Esc on the journal / calibrate screens goes back to.
    pub back_to: Screen,
    pub quit: bool,
}

/// Messages into the reducer: keys, ticks and results of effects.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Tick,
    Resize,
    Connected {
        req: u64,
        info: ConnInfo,
    },
    Page {
        req: u64,
        rows: Vec<AccountRow>,
        more: bool,
        notes: Vec<String>,
    },
    Shown {
        req: u64,
        detail: Detail,
    },
    Planned {
        req: u64,
        plan: PlanInfo,
    },
    Applied {
        req: u64,
        result: ResultInfo,
    },
    Calibrated {
        req: u64,
        account: String,
        scheme: String,
        matches: bool,
    },
    JournalLoaded {
        req: u64,
        view: JournalView,
    },
    /// A drill step ended (the drill goes on).
    DrillStep {
        req: u64,
        step: DrillStep,
    },
    DrillDone {
        req: u64,
        done: DrillDone,
    },
    Failed {
        req: u64,
        error: String,
    },
}

/// Work for the effect runner. None of it happens inside `reduce`.
#[derive(Debug)]
pub enum Effect {
    Connect {
        req: u64,
        profile: Profile,
        password: Option<Zeroizing<String>>,
    },
    Lookup {
        req: u64,
        query: String,
        filters: Filters,
        offset: u64,
        limit: u64,
    },
    Show {
        req: u64,
        reference: String,
    },
    Plan {
        req: u64,
        action: Action,
        reference: String,
    },
    /// Plan restore-admin (the Emergency screen): the connector's declared
    /// emergency admin, or `account` (the selected row) when it declares none.
    PlanRestore {
        req: u64,
        account: Option<String>,
    },
    /// Plan a transplant: reset `reference` by copying the stored password
    /// value of `donor` (`plan::build` with `PlanOptions::donor`, as `reset --from`).
    PlanTransplant {
        req: u64,
        reference: String,
        donor: String,
    },
    Apply {
        req: u64,
        token: u64,
        reason: String,
    },
    DropPlan {
        token: u64,
    },
    Calibrate {
        req: u64,
        reference: String,
        known: Password,
    },
    LoadJournal {
        req: u64,
    },
    /// Rehearse the restore of the emergency admin (the connector's, else
    /// `account`): apply, verify, ROLL BACK; steps come back as `Msg::DrillStep`.
    Drill {
        req: u64,
        account: Option<String>,
    },
    /// The request was cancelled: its task may be aborted, its result is dropped anyway.
    Cancel {
        req: u64,
    },
    Disconnect,
    /// OSC 52: put the text on the operator's clipboard through the terminal.
    Copy(Password),
}

fn is_char(k: &KeyEvent, c: char) -> bool {
    k.code == KeyCode::Char(c) && !k.modifiers.contains(KeyModifiers::CONTROL)
}

fn typed_char(k: &KeyEvent) -> Option<char> {
    match k.code {
        KeyCode::Char(c)
            if !k.modifiers.contains(KeyModifiers::CONTROL)
                && !k.modifiers.contains(KeyModifiers::ALT) =>
        {
            Some(c)
        }
        _ => None,
    }
}

impl AppState {
    pub fn new(lang: Lang, profiles: Vec<Profile>, connectors: Vec<String>) -> AppState {
        AppState {
            lang,
            color: true,
            demo: false,
            screen: if profiles.is_empty() {
                Screen::Form
            } else {
                Screen::Connect
            },
            help: false,
            busy: None,
            spinner: 0,
            next_req: 1,
            error: None,
            notice: None,
            profiles,
            profile_sel: 0,
            form: Form::new(connectors),
            conn: None,
            query: String::new(),
            searching: false,
            filters: Filters::default(),
            offset: 0,
            rows: Vec::new(),
            more: false,
            selected: 0,
            page_notes: Vec::new(),
            detail: None,
            plan: None,
            confirm: ConfirmInput::default(),
            result: None,
            calibrate: CalibrateInput::default(),
            transplant: TransplantInput::default(),
            journal: None,
            journal_sel: 0,
            drill: None,
            back_to: Screen::Accounts,
            quit: false,
        }
    }

    fn start(&mut self, what: &'static str, cancellable: bool) -> u64 {
        let req = self.next_req;
        self.next_req += 1;
        self.busy = Some(Busy {
            req,
            what,
            cancellable,
        });
        self.error = None;
        req
    }

    /// Takes the busy marker if `req` is the request being waited for.
    fn accept(&mut self, req: u64) -> bool {
        if self.busy.as_ref().is_some_and(|b| b.req == req) {
            self.busy = None;
            true
        } else {
            false
        }
    }

    pub fn selected_row(&self) -> Option<&AccountRow> {
        self.rows.get(self.selected)
    }

    fn lookup(&mut self) -> Effect {
        let req = self.start("busy.search", true);
        Effect::Lookup {
            req,
            query: self.query.clone(),
            filters: self.filters.clone(),
            offset: self.offset,
            limit: PAGE_SIZE,
        }
    }

    /// Leaves the result screen: the generated password is dropped (zeroized) here.
    fn leave_result(&mut self) -> Vec<Effect> {
        self.result = None;
        self.screen = Screen::Accounts;
        vec![self.lookup()]
    }

    /// The account an action applies to: the open detail or the selected row.
    fn action_target(&self) -> Option<(String, String)> {
        match self.screen {
            Screen::Detail => self
                .detail
                .as_ref()
                .map(|d| (d.reference.clone(), d.login.clone())),
            _ => self
                .selected_row()
                .map(|r| (r.reference(), r.login.clone())),
        }
    }

    fn start_action(&mut self, action: Action) -> Vec<Effect> {
        let Some((reference, _)) = self.action_target() else {
            return vec![];
        };
        let req = self.start("busy.plan", true);
        self.confirm = ConfirmInput::default();
        vec![Effect::Plan {
            req,
            action,
            reference,
        }]
    }

    /// The Emergency key: plan restore-admin. Works with no row selected
    /// (the emergency admin's row may be the one that is missing).
    fn start_emergency(&mut self) -> Vec<Effect> {
        let account = self.action_target().map(|(reference, _)| reference);
        let req = self.start("busy.emergency", true);
        self.confirm = ConfirmInput::default();
        vec![Effect::PlanRestore { req, account }]
    }

    /// The Drill key: a rehearsal journaled as a drill; not cancellable half-way.
    fn start_drill(&mut self) -> Vec<Effect> {
        let account = self.action_target().map(|(reference, _)| reference);
        if self.screen != Screen::Drill {
            self.back_to = self.screen;
        }
        self.screen = Screen::Drill;
        self.drill = Some(DrillView::default());
        let req = self.start("busy.drill", false);
        vec![Effect::Drill { req, account }]
    }

    fn start_calibrate(&mut self) -> Vec<Effect> {
        let Some((reference, login)) = self.action_target() else {
            return vec![];
        };
        self.back_to = self.screen;
        self.calibrate = CalibrateInput {
            reference,
            login,
            known: Zeroizing::new(String::new()),
            result: None,
        };
        self.screen = Screen::Calibrate;
        vec![]
    }

    /// The transplant key (detail screen): opens the donor prompt; nothing is read yet.
    fn start_transplant(&mut self) -> Vec<Effect> {
        let Some((reference, login)) = self.action_target() else {
            return vec![];
        };
        self.transplant = TransplantInput {
            reference,
            login,
            donor: String::new(),
            refused: None,
        };
        self.screen = Screen::Transplant;
        vec![]
    }

    fn open_journal(&mut self) -> Vec<Effect> {
        self.back_to = self.screen;
        self.screen = Screen::Journal;
        self.journal_sel = 0;
        let req = self.start("busy.journal", true);
        vec![Effect::LoadJournal { req }]
    }

    /// A text field is focused: printable keys type instead of acting.
    pub fn typing(&self) -> bool {
        match self.screen {
            Screen::Form | Screen::Confirm | Screen::Calibrate | Screen::Transplant => true,
            Screen::Accounts => self.searching,
            _ => false,
        }
    }
}

/// The reducer: the only place the state changes. No I/O.
pub fn reduce(s: &mut AppState, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(k) => {
            if k.kind != KeyEventKind::Press {
                return vec![];
            }
            key(s, k)
        }
        Msg::Tick => {
            if s.busy.is_some() {
                s.spinner = s.spinner.wrapping_add(1);
            }
            vec![]
        }
        Msg::Resize => vec![],
        Msg::Connected { req, info } => {
            if !s.accept(req) {
                return vec![];
            }
            s.conn = Some(info);
            s.form.password = Zeroizing::new(String::new());
            s.screen = Screen::Accounts;
            s.query.clear();
            s.filters = Filters::default();
            s.offset = 0;
            s.selected = 0;
            s.searching = true;
            vec![s.lookup()]
        }
        Msg::Page {
            req,
            rows,
            more,
            notes,
        } => {
            if s.accept(req) {
                s.rows = rows;
                s.more = more;
                s.page_notes = notes;
                s.selected = s.selected.min(s.rows.len().saturating_sub(1));
            }
            vec![]
        }
        Msg::Shown { req, detail } => {
            if s.accept(req) {
                s.detail = Some(detail);
                s.screen = Screen::Detail;
            }
            vec![]
        }
        Msg::Planned { req, plan } => {
            if s.accept(req) {
                if let Some(old) = s.plan.take()
                    && old.token != plan.token
                {
                    s.plan = Some(plan);
                    s.screen = Screen::Plan;
                    return vec![Effect::DropPlan { token: old.token }];
                }
                s.plan = Some(plan);
                s.screen = Screen::Plan;
                vec![]
            } else {
                // Nobody waits for this plan any more: let the runner forget it (and its password).
                vec![Effect::DropPlan { token: plan.token }]
            }
        }
        Msg::Applied { req, result } => {
            // A write result is never dropped: the operator must see what happened.
            s.accept(req);
            s.busy = None;
            s.plan = None;
            s.confirm = ConfirmInput::default();
            s.result = Some(result);
            s.screen = Screen::Result;
            vec![]
        }
        Msg::Calibrated {
            req,
            account,
            scheme,
            matches,
        } => {
            if s.accept(req) {
                s.calibrate.known = Zeroizing::new(String::new());
                s.calibrate.result = Some((account, scheme, matches));
            }
            vec![]
        }
        Msg::JournalLoaded { req, view } => {
            if s.accept(req) {
                s.journal = Some(view);
            }
            vec![]
        }
        Msg::DrillStep { req, step } => {
            if s.busy.as_ref().is_some_and(|b| b.req == req)
                && let Some(d) = s.drill.as_mut()
            {
                d.steps.push(step);
            }
            vec![]
        }
        Msg::DrillDone { req, done } => {
            // Like a write result, never dropped.
            s.accept(req);
            s.busy = None;
            let d = s.drill.get_or_insert_with(DrillView::default);
            d.done = Some(done);
            s.screen = Screen::Drill;
            vec![]
        }
        Msg::Failed { req, error } => {
            let was_write = s
                .busy
                .as_ref()
                .is_some_and(|b| !b.cancellable && b.req == req);
            let was_connect = s
                .busy
                .as_ref()
                .is_some_and(|b| b.what == "busy.connect" && b.req == req);
            if s.accept(req) {
                if was_connect && s.screen == Screen::Connect {
                    // Show the form for this profile, so a password or TLS option can be added.
                    if let Some(p) = s.profiles.get(s.profile_sel) {
                        s.form.url = p.target.clone();
                        s.form.connector = p
                            .connector
                            .as_ref()
                            .and_then(|c| s.form.connectors.iter().position(|n| n == c))
                            .map_or(0, |i| i + 1);
                    }
                    s.form.focus = 1;
                    s.screen = Screen::Form;
                }
                s.error = Some(error);
                if was_write && s.screen != Screen::Drill {
                    // The write did not happen (or its outcome is in the error): back to the plan.
                    s.plan = None;
                    s.confirm = ConfirmInput::default();
                    s.screen = Screen::Accounts;
                }
            }
            vec![]
        }
    }
}

fn key(s: &mut AppState, k: KeyEvent) -> Vec<Effect> {
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(k.code, KeyCode::Char('c') | KeyCode::Char('C')) {
        s.quit = true;
        s.result = None;
        return vec![];
    }
    if s.help {
        s.help = false;
        return vec![];
    }
    if k.code == KeyCode::F(1) || (is_char(&k, '?') && !s.typing()) {
        s.help = true;
        return vec![];
    }
    if let Some(busy) = s.busy.clone() {
        if k.code == KeyCode::Esc {
            if busy.cancellable {
                s.busy = None;
                s.notice = Some("notice.cancelled".into());
                return vec![Effect::Cancel { req: busy.req }];
            }
            s.notice = Some("notice.write_not_cancellable".into());
            return vec![];
        }
        // While a write runs nothing else may start; reads may be superseded by typing.
        if !(busy.cancellable && s.screen == Screen::Accounts && s.searching) {
            return vec![];
        }
    }
    s.notice = None;
    if k.code != KeyCode::Enter {
        s.error = None;
    }
    match s.screen {
        Screen::Connect => connect_key(s, k),
        Screen::Form => form_key(s, k),
        Screen::Accounts => accounts_key(s, k),
        Screen::Detail => detail_key(s, k),
        Screen::Plan => plan_key(s, k),
        Screen::Confirm => confirm_key(s, k),
        Screen::Result => result_key(s, k),
        Screen::Calibrate => calibrate_key(s, k),
        Screen::Journal => journal_key(s, k),
        Screen::Drill => drill_key(s, k),
        Screen::Transplant => transplant_key(s, k),
    }
}

fn up_down(k: &KeyEvent, sel: &mut usize, len: usize) -> bool {
    match k.code {
        KeyCode::Up => *sel = sel.saturating_sub(1),
        KeyCode::Char('k') if !k.modifiers.contains(KeyModifiers::CONTROL) => {
            *sel = sel.saturating_sub(1)
        }
        KeyCode::Down => *sel = (*sel + 1).min(len.saturating_sub(1)),
        KeyCode::Char('j') if !k.modifiers.contains(KeyModifiers::CONTROL) => {
            *sel = (*sel + 1).min(len.saturating_sub(1))
        }
        KeyCode::Home => *sel = 0,
        KeyCode::End => *sel = len.saturating_sub(1),
        _ => return false,
    }
    true
}

fn connect_profile(
    s: &mut AppState,
    profile: Profile,
    password: Option<Zeroizing<String>>,
) -> Vec<Effect> {
    let req = s.start("busy.connect", true);
    vec![Effect::Connect {
        req,
        profile,
        password,
    }]
}

fn connect_key(s: &mut AppState, k: KeyEvent) -> Vec<Effect> {
    let len = s.profiles.len();
    if up_down(&k, &mut s.profile_sel, len) {
        return vec![];
    }
    match k.code {
        KeyCode::Enter => match s.profiles.get(s.profile_sel).cloned() {
            Some(p) => connect_profile(s, p, None),
            None => vec![],
        },
        KeyCode::Char('n') | KeyCode::F(2) => {
            if let Some(p) = s.profiles.get(s.profile_sel) {
                s.form.url = p.target.clone();
            }
            s.form.focus = 0;
            s.screen = Screen::Form;
            vec![]
        }
        KeyCode::Char('q') | KeyCode::Esc | KeyCode::F(10) => {
            s.quit = true;
            vec![]
        }
        _ => vec![],
    }
}

fn form_key(s: &mut AppState, k: KeyEvent) -> Vec<Effect> {
    let f = &mut s.form;
    match k.code {
        KeyCode::Esc => {
            if s.profiles.is_empty() {
                s.quit = true;
            } else {
                s.screen = Screen::Connect;
            }
            vec![]
        }
        KeyCode::F(10) => {
            s.quit = true;
            vec![]
        }
        KeyCode::Tab | KeyCode::Down => {
            f.focus = (f.focus + 1) % FORM_FIELDS;
            vec![]
        }
        KeyCode::BackTab | KeyCode::Up => {
            f.focus = (f.focus + FORM_FIELDS - 1) % FORM_FIELDS;
            vec![]
        }
        KeyCode::Enter => {
            let profile = Profile {
                name: String::new(),
                target: f.target_url(),
                connector: f.connector_name(),
                prefix: None,
                note: None,
                encoder: None,
            };
            let password = if f.password.is_empty() {
                None
            } else {
                Some(f.password.clone())
            };
            connect_profile(s, profile, password)
        }
        KeyCode::Left | KeyCode::Right | KeyCode::Char(' ') if matches!(f.focus, 2 | 4 | 5) => {
            let back = k.code == KeyCode::Left;
            match f.focus {
                2 => {
                    f.tls = if back {
                        f.tls.next().next()
                    } else {
                        f.tls.next()
                    };
                }
                4 => f.skip_verify = !f.skip_verify,
                _ => {
                    let n = f.connectors.len() + 1;
                    f.connector = if back {
                        (f.connector + n - 1) % n
                    } else {
                        (f.connector + 1) % n
                    };
                }
            }
            vec![]
        }
        KeyCode::Backspace => {
            match f.focus {
                0 => {
                    f.url.pop();
                }
                1 => {
                    f.password.pop();
                }
                3 => {
                    f.ca.pop();
                }
                _ => {}
            }
            vec![]
        }
        _ => {
            if let Some(c) = typed_char(&k) {
                match f.focus {
                    0 => f.url.push(c),
                    1 => f.password.push(c),
                    3 => f.ca.push(c),
                    _ => {}
                }
            }
            vec![]
        }
    }
}

fn accounts_key(s: &mut AppState, k: KeyEvent) -> Vec<Effect> {
    if s.searching {
        return match k.code {
            KeyCode::Enter | KeyCode::Down | KeyCode::Tab => {
                s.searching = false;
                vec![]
            }
            KeyCode::Esc => {
                s.searching = false;
                vec![]
            }
            KeyCode::Backspace => {
                if s.query.pop().is_some() {
                    s.offset = 0;
                    s.selected = 0;
                    vec![s.lookup()]
                } else {
                    vec![]
                }
            }
            _ => match typed_char(&k) {
                Some(c) => {
                    s.query.push(c);
                    s.offset = 0;
                    s.selected = 0;
                    vec![s.lookup()]
                }
                None => vec![],
            },
        };
    }
    let len = s.rows.len();
    if up_down(&k, &mut s.selected, len) {
        return vec![];
    }
    match k.code {
        KeyCode::Char('/') | KeyCode::F(3) => {
            s.searching = true;
            vec![]
        }
        KeyCode::Enter => match s.selected_row() {
            Some(r) => {
                let reference = r.reference();
                let req = s.start("busy.show", true);
                vec![Effect::Show { req, reference }]
            }
            None => vec![],
        },
        KeyCode::Char('a') | KeyCode::Char('l') | KeyCode::Char('d') => {
            match k.code {
                KeyCode::Char('a') => s.filters.admins = !s.filters.admins,
                KeyCode::Char('l') => s.filters.locked = !s.filters.locked,
                _ => s.filters.disabled = !s.filters.disabled,
            }
            s.offset = 0;
            s.selected = 0;
            vec![s.lookup()]
        }
        KeyCode::PageDown | KeyCode::Char('n') => {
            if s.more {
                s.offset += PAGE_SIZE;
                s.selected = 0;
                vec![s.lookup()]
            } else {
                vec![]
            }
        }
        KeyCode::PageUp | KeyCode::Char('p') => {
            if s.offset > 0 {
                s.offset = s.offset.saturating_sub(PAGE_SIZE);
                s.selected = 0;
                vec![s.lookup()]
            } else {
                vec![]
            }
        }
        KeyCode::Char('r') | KeyCode::F(5) => s.start_action(Action::Reset),
        KeyCode::Char('u') | KeyCode::F(6) => s.start_action(Action::Unlock),
        KeyCode::Char('c') | KeyCode::F(7) => s.start_calibrate(),
        KeyCode::Char('e') | KeyCode::F(4) => s.start_emergency(),
        KeyCode::Char('x') | KeyCode::F(12) => s.start_drill(),
        KeyCode::Char('g') | KeyCode::F(8) => s.open_journal(),
        KeyCode::Esc => {
            s.conn = None;
            s.rows.clear();
            s.screen = if s.profiles.is_empty() {
                Screen::Form
            } else {
                Screen::Connect
            };
            vec![Effect::Disconnect]
        }
        KeyCode::Char('q') | KeyCode::F(10) => {
            s.quit = true;
            vec![]
        }
        _ => vec![],
    }
}

fn detail_key(s: &mut AppState, k: KeyEvent) -> Vec<Effect> {
    match k.code {
        KeyCode::Esc | KeyCode::Backspace => {
            s.screen = Screen::Accounts;
            vec![]
        }
        KeyCode::Char('r') | KeyCode::F(5) => s.start_action(Action::Reset),
        KeyCode::Char('u') | KeyCode::F(6) => s.start_action(Action::Unlock),
        KeyCode::Char('t') | KeyCode::F(11) => s.start_transplant(),
        KeyCode::Char('c') | KeyCode::F(7) => s.start_calibrate(),
        KeyCode::Char('e') | KeyCode::F(4) => s.start_emergency(),
        KeyCode::Char('x') | KeyCode::F(12) => s.start_drill(),
        KeyCode::Char('g') | KeyCode::F(8) => s.open_journal(),
        KeyCode::Char('q') | KeyCode::F(10) => {
            s.quit = true;
            vec![]
        }
        _ => vec![],
    }
}

/// The donor prompt: Enter plans the transplant (a read: cancellable, and a
/// refusal comes back as the operation's error on this prompt), Esc backs out.
fn transplant_key(s: &mut AppState, k: KeyEvent) -> Vec<Effect> {
    let tp = &mut s.transplant;
    match k.code {
        KeyCode::Esc => {
            s.transplant = TransplantInput::default();
            s.screen = if s.detail.is_some() {
                Screen::Detail
            } else {
                Screen::Accounts
            };
            vec![]
        }
        KeyCode::Backspace => {
            tp.donor.pop();
            tp.refused = None;
            vec![]
        }
        KeyCode::Enter => {
            let donor = tp.donor.trim().to_string();
            if donor.is_empty() {
                tp.refused = Some("transplant.need_donor".into());
                return vec![];
            }
            tp.refused = None;
            let reference = tp.reference.clone();
            let req = s.start("busy.plan", true);
            s.confirm = ConfirmInput::default();
            vec![Effect::PlanTransplant {
                req,
                reference,
                donor,
            }]
        }
        _ => {
            if let Some(c) = typed_char(&k) {
                tp.donor.push(c);
                tp.refused = None;
            }
            vec![]
        }
    }
}

fn plan_key(s: &mut AppState, k: KeyEvent) -> Vec<Effect> {
    match k.code {
        KeyCode::Esc => {
            s.screen = if s.detail.is_some() {
                Screen::Detail
            } else {
                Screen::Accounts
            };
            match s.plan.take() {
                Some(p) => vec![Effect::DropPlan { token: p.token }],
                None => vec![],
            }
        }
        KeyCode::Up => {
            if let Some(p) = s.plan.as_mut() {
                p.scroll = p.scroll.saturating_sub(1);
            }
            vec![]
        }
        KeyCode::Down => {
            if let Some(p) = s.plan.as_mut() {
                p.scroll = p.scroll.saturating_add(1);
            }
            vec![]
        }
        KeyCode::Enter => {
            if s.plan.as_ref().is_some_and(|p| !p.nothing_to_do) {
                s.confirm = ConfirmInput::default();
                s.screen = Screen::Confirm;
            }
            vec![]
        }
        _ => vec![],
    }
}

fn confirm_key(s: &mut AppState, k: KeyEvent) -> Vec<Effect> {
    let c = &mut s.confirm;
    match k.code {
        KeyCode::Esc => {
            s.confirm = ConfirmInput::default();
            s.screen = Screen::Plan;
            vec![]
        }
        KeyCode::Tab | KeyCode::BackTab | KeyCode::Up | KeyCode::Down => {
            c.focus = 1 - c.focus.min(1);
            vec![]
        }
        KeyCode::Backspace => {
            if c.focus == 0 {
                c.reason.pop();
            } else {
                c.typed.pop();
            }
            vec![]
        }
        KeyCode::Enter => {
            let Some(plan) = s.plan.as_ref() else {
                return vec![];
            };
            if c.reason.trim().is_empty() {
                c.refused = Some("confirm.need_reason".into());
                c.focus = 0;
                return vec![];
            }
            if c.typed != plan.login {
                c.refused = Some("confirm.mismatch".into());
                c.typed.clear();
                c.focus = 1;
                return vec![];
            }
            let token = plan.token;
            let reason = c.reason.trim().to_string();
            c.refused = None;
            let req = s.start("busy.apply", false);
            vec![Effect::Apply { req, token, reason }]
        }
        _ => {
            if let Some(ch) = typed_char(&k) {
                c.refused = None;
                if c.focus == 0 {
                    c.reason.push(ch);
                } else {
                    c.typed.push(ch);
                }
            }
            vec![]
        }
    }
}

fn result_key(s: &mut AppState, k: KeyEvent) -> Vec<Effect> {
    match k.code {
        KeyCode::Char('y') | KeyCode::F(9) => {
            match s.result.as_mut().and_then(|r| {
                r.copied = r.password.is_some();
                r.password.clone()
            }) {
                Some(pw) => vec![Effect::Copy(pw)],
                None => vec![],
            }
        }
        KeyCode::Enter | KeyCode::Esc => s.leave_result(),
        KeyCode::Char('q') | KeyCode::F(10) => {
            s.result = None;
            s.quit = true;
            vec![]
        }
        _ => vec![],
    }
}

fn calibrate_key(s: &mut AppState, k: KeyEvent) -> Vec<Effect> {
    match k.code {
        KeyCode::Esc => {
            s.calibrate = CalibrateInput::default();
            s.screen = s.back_to;
            vec![]
        }
        KeyCode::Backspace => {
            s.calibrate.known.pop();
            vec![]
        }
        KeyCode::Enter => {
            if s.calibrate.known.is_empty() {
                return vec![];
            }
            let known = Password::new(s.calibrate.known.to_string());
            s.calibrate.known = Zeroizing::new(String::new());
            let reference = s.calibrate.reference.clone();
            let req = s.start("busy.calibrate", true);
            vec![Effect::Calibrate {
                req,
                reference,
                known,
            }]
        }
        _ => {
            if let Some(c) = typed_char(&k) {
                s.calibrate.known.push(c);
                s.calibrate.result = None;
            }
            vec![]
        }
    }
}

fn journal_key(s: &mut AppState, k: KeyEvent) -> Vec<Effect> {
    let len = s.journal.as_ref().map_or(0, |j| j.entries.len());
    if up_down(&k, &mut s.journal_sel, len) {
        return vec![];
    }
    match k.code {
        KeyCode::Esc => {
            s.screen = s.back_to;
            vec![]
        }
        KeyCode::Char('g') | KeyCode::F(8) => {
            let req = s.start("busy.journal", true);
            vec![Effect::LoadJournal { req }]
        }
        KeyCode::Char('q') | KeyCode::F(10) => {
            s.quit = true;
            vec![]
        }
        _ => vec![],
    }
}

fn drill_key(s: &mut AppState, k: KeyEvent) -> Vec<Effect> {
    match k.code {
        KeyCode::Esc => {
            s.drill = None;
            s.screen = s.back_to;
            vec![]
        }
        KeyCode::Char('x') | KeyCode::F(12) => s.start_drill(),
        KeyCode::Char('q') | KeyCode::F(10) => {
            s.quit = true;
            vec![]
        }
        _ => vec![],
    }
}
