//! The console's state and its one reducer. `reduce` is the only place the
//! state changes; it does no I/O and returns the effects to run (connect,
//! look up, plan, apply, ...). Results come back as messages tagged with the
//! request id they answer; a result for any other id is stale and dropped.

#![deny(clippy::disallowed_methods)]

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use zeroize::Zeroizing;

use super::i18n::Lang;
use super::keys::{self, Command, Context};
use crate::ops::AccountState;
use crate::ops::account::PageCursor;
use crate::ops::emergency::Problem;
use crate::ops::plan::{Action, PlanView};
use crate::secret::Password;

/// Accounts per page until the terminal's size is known (then as many as the table shows).
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
    /// A read-only session: the title says so and the key bars omit write keys.
    pub read_only: bool,
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
    /// The row's place in the lookup's order: the next page starts after it.
    pub cursor: PageCursor,
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
    pub fields: Vec<crate::ops::account::FieldView>,
    pub admin: bool,
    pub state: AccountState,
    pub scheme: String,
    pub shape_ok: bool,
    pub detected: Vec<String>,
    pub notes: Vec<String>,
    /// The notes in Chinese (empty: not translated; the English ones are shown).
    pub notes_zh: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct PlanInfo {
    /// Names the plan held by the effect runner (it holds the new password).
    pub token: u64,
    pub view: PlanView,
    pub login: String,
    pub notes: Vec<String>,
    pub nothing_to_do: bool,
    /// restore-admin only: what keeps the emergency admin from working (empty: healthy).
    pub problems: Vec<Problem>,
    /// A transplant: the donor's label (its stored password value is copied; no new password).
    pub donor: Option<String>,
    /// The account is locked or disabled now.
    pub locked: bool,
    /// The plan also writes the connector's unlock values (`--unlock`).
    pub unlocks: bool,
}

/// What the last plan asked for, so it can be asked again with "also unlock".
#[derive(Debug, Clone, PartialEq)]
pub enum PlanAsk {
    Write { action: Action, reference: String },
    Transplant { reference: String, donor: String },
    FromBackup { reference: String, source: String },
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
    /// The prompt asks for a backup (a restored copy's URL or a dump file)
    /// instead of a donor: `reset --from-backup`.
    pub backup: bool,
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
    pub reason: String,
    /// The entry this one refers to (an outcome's intent).
    pub refers_to: Option<i64>,
    /// The entry's details (statements, fingerprints, error, step), one line each.
    pub details: Vec<String>,
}

/// A scrolled view. The view clamps `offset` to what it can show and keeps
/// the largest useful offset in `max` (as ratatui's stateful widgets keep
/// theirs), so End and ↑ after it behave.
#[derive(Debug, Clone, Default)]
pub struct Scroll {
    pub offset: u16,
    pub max: std::cell::Cell<u16>,
}

impl PartialEq for Scroll {
    fn eq(&self, other: &Scroll) -> bool {
        self.offset == other.offset
    }
}

impl Scroll {
    /// ↑ ↓ PgUp PgDn Home End.
    pub fn by_key(&mut self, code: KeyCode, page: u16) {
        let max = self.max.get();
        let now = self.offset.min(max);
        self.offset = match code {
            KeyCode::Up => now.saturating_sub(1),
            KeyCode::Down => now.saturating_add(1).min(max),
            KeyCode::PageUp => now.saturating_sub(page),
            KeyCode::PageDown => now.saturating_add(page).min(max),
            KeyCode::Home => 0,
            _ => max,
        };
    }
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
    /// Rows before this page (for "from–to").
    pub offset: u64,
    /// Where this page starts (after that row; none: the first page).
    pub page_start: Option<PageCursor>,
    /// The starts and offsets of the pages before, for PgUp.
    pub pages_back: Vec<(Option<PageCursor>, u64)>,
    pub rows: Vec<AccountRow>,
    pub more: bool,
    pub selected: usize,
    pub page_notes: Vec<crate::ops::account::PageNote>,
    pub detail: Option<Detail>,
    pub plan: Option<PlanInfo>,
    pub confirm: ConfirmInput,
    pub result: Option<ResultInfo>,
    pub calibrate: CalibrateInput,
    pub transplant: TransplantInput,
    pub journal: Option<JournalView>,
    pub journal_sel: usize,
    /// The selected journal entry is open (its reason, details and outcome).
    pub journal_open: bool,
    pub drill: Option<DrillView>,
    /// How far the detail, drill or journal-entry view is scrolled.
    pub scroll: Scroll,
    /// Esc was pressed once where a second Esc quits.
    pub quit_armed: bool,
    /// Accounts per page: as many as the table shows (`Msg::Resize`).
    pub page_size: u64,
    /// The request behind the plan on screen.
    pub plan_ask: Option<PlanAsk>,
    /// ` --journal PATH` when the console's journal is not the default one, so
    /// advice such as `locksmith audit close` names the journal it refers to.
    pub journal_arg: String,
    /// Where Esc on the journal / calibrate screens goes back to.
    pub back_to: Screen,
    pub quit: bool,
}

/// Messages into the reducer: keys, ticks and results of effects.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Tick,
    /// The terminal has `rows` lines now: the accounts page fills them.
    Resize {
        rows: u16,
    },
    Connected {
        req: u64,
        info: ConnInfo,
    },
    Page {
        req: u64,
        rows: Vec<AccountRow>,
        more: bool,
        notes: Vec<crate::ops::account::PageNote>,
    },
    /// The exact and prefix matches a lookup read from the indexes while
    /// its scan still runs: shown, and the lookup stays busy.
    PageHead {
        req: u64,
        rows: Vec<AccountRow>,
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
        after: Option<PageCursor>,
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
        /// Also write the connector's unlock values (reset only).
        unlock: bool,
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
        unlock: bool,
    },
    /// Plan a backup restore of `reference` from `source` (as `reset --from-backup`).
    PlanFromBackup {
        req: u64,
        reference: String,
        source: String,
        unlock: bool,
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
            page_start: None,
            pages_back: Vec::new(),
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
            journal_open: false,
            drill: None,
            scroll: Scroll::default(),
            quit_armed: false,
            journal_arg: String::new(),
            page_size: PAGE_SIZE,
            plan_ask: None,
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

    /// Back to the first page (a new search or filter).
    fn first_page(&mut self) {
        self.offset = 0;
        self.page_start = None;
        self.pages_back.clear();
    }

    fn lookup(&mut self) -> Effect {
        let req = self.start("busy.search", true);
        Effect::Lookup {
            req,
            query: self.query.clone(),
            filters: self.filters.clone(),
            after: self.page_start.clone(),
            limit: self.page_size,
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
        self.plan_ask = Some(PlanAsk::Write {
            action,
            reference: reference.clone(),
        });
        let req = self.start("busy.plan", true);
        self.confirm = ConfirmInput::default();
        vec![Effect::Plan {
            req,
            action,
            reference,
            unlock: false,
        }]
    }

    /// The plan again, also writing the unlock values (the CLI's `--unlock`).
    fn plan_with_unlock(&mut self) -> Vec<Effect> {
        let wanted = self
            .plan
            .as_ref()
            .is_some_and(|p| p.view.action == Action::Reset && !p.unlocks);
        let Some(ask) = self.plan_ask.clone().filter(|_| wanted) else {
            return vec![];
        };
        let req = self.start("busy.plan", true);
        vec![match ask {
            PlanAsk::Write { action, reference } => Effect::Plan {
                req,
                action,
                reference,
                unlock: true,
            },
            PlanAsk::Transplant { reference, donor } => Effect::PlanTransplant {
                req,
                reference,
                donor,
                unlock: true,
            },
            PlanAsk::FromBackup { reference, source } => Effect::PlanFromBackup {
                req,
                reference,
                source,
                unlock: true,
            },
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
        self.scroll = Scroll::default();
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
    fn start_transplant(&mut self, backup: bool) -> Vec<Effect> {
        let Some((reference, login)) = self.action_target() else {
            return vec![];
        };
        self.transplant = TransplantInput {
            reference,
            login,
            donor: String::new(),
            refused: None,
            backup,
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
        Context::of(self).typing()
    }
}

/// The reducer: the only place the state changes. No I/O.
/// The indexed head of a lookup still scanning: shown; the lookup stays busy.
fn on_page_head(s: &mut AppState, req: u64, rows: Vec<AccountRow>) -> Vec<Effect> {
    if s.busy.as_ref().is_some_and(|b| b.req == req) {
        s.rows = rows;
        s.more = false;
        s.selected = s.selected.min(s.rows.len().saturating_sub(1));
    }
    vec![]
}

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
        Msg::Resize { rows } => on_resize(s, rows),
        Msg::Connected { req, info } => {
            if !s.accept(req) {
                return vec![];
            }
            s.conn = Some(info);
            s.form.password = Zeroizing::new(String::new());
            s.screen = Screen::Accounts;
            s.query.clear();
            s.filters = Filters::default();
            s.first_page();
            s.selected = 0;
            // The table has the focus: keys are commands; `/` (F3) focuses the search.
            s.searching = false;
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
        Msg::PageHead { req, rows } => on_page_head(s, req, rows),
        Msg::Shown { req, detail } => {
            if s.accept(req) {
                s.detail = Some(detail);
                s.scroll = Scroll::default();
                s.screen = Screen::Detail;
            }
            vec![]
        }
        Msg::Planned { req, plan } => on_planned(s, req, plan),
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
            on_failed(s, req, error);
            vec![]
        }
    }
}

/// The terminal is `rows` high: the accounts page fills it (a taller one is
/// looked up again at once, a shorter one cut).
fn on_resize(s: &mut AppState, rows: u16) -> Vec<Effect> {
    let fits = super::view::account_rows(rows);
    let grew = fits > s.page_size;
    s.page_size = fits;
    match (grew, s.screen, &s.busy) {
        (true, Screen::Accounts, None) if s.conn.is_some() => vec![s.lookup()],
        _ => {
            // The next page starts after the last row still shown.
            s.more |= s.rows.len() > fits as usize;
            s.rows.truncate(fits as usize);
            s.selected = s.selected.min(s.rows.len().saturating_sub(1));
            vec![]
        }
    }
}

/// A plan came back: show it (dropping an older one), or drop it when nobody waits.
fn on_planned(s: &mut AppState, req: u64, plan: PlanInfo) -> Vec<Effect> {
    if !s.accept(req) {
        // Nobody waits for this plan any more: let the runner forget it (and its password).
        return vec![Effect::DropPlan { token: plan.token }];
    }
    let old = s.plan.replace(plan);
    s.scroll = Scroll::default();
    s.screen = Screen::Plan;
    match old {
        Some(old) if s.plan.as_ref().is_some_and(|p| p.token != old.token) => {
            vec![Effect::DropPlan { token: old.token }]
        }
        _ => vec![],
    }
}

/// A request failed: say so; a failed connect opens the form for that
/// profile, a failed write goes back to the accounts.
fn on_failed(s: &mut AppState, req: u64, error: String) {
    let waited = |b: &Busy| b.req == req;
    let was_write = s.busy.as_ref().is_some_and(|b| waited(b) && !b.cancellable);
    let was_connect = s
        .busy
        .as_ref()
        .is_some_and(|b| waited(b) && b.what == "busy.connect");
    if !s.accept(req) {
        return;
    }
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
        // The write did not happen (or its outcome is in the error): back to the accounts.
        s.plan = None;
        s.confirm = ConfirmInput::default();
        s.screen = Screen::Accounts;
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
    let ctx = Context::of(s);
    let command = keys::binding_for(s, ctx, &k).map(|b| b.command);
    let armed = std::mem::take(&mut s.quit_armed);
    if armed && k.code == KeyCode::Esc {
        s.quit = true;
        return vec![];
    }
    if command == Some(Command::Help) {
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
        if !(busy.cancellable && ctx == Context::Search) {
            return vec![];
        }
    }
    s.notice = None;
    if k.code != KeyCode::Enter {
        s.error = None;
    }
    match command {
        Some(command) => run(s, ctx, command, &k),
        None => vec![],
    }
}

/// Carries out a command from the key table.
fn run(s: &mut AppState, ctx: Context, command: Command, k: &KeyEvent) -> Vec<Effect> {
    match command {
        Command::Help => {
            s.help = true;
            vec![]
        }
        Command::Quit => {
            s.result = None;
            s.quit = true;
            vec![]
        }
        Command::QuitAsk => {
            // The second Esc quits (see `key`); any other key stays.
            s.quit_armed = true;
            s.notice = Some("notice.quit_again".into());
            vec![]
        }
        Command::ScrollView => {
            s.scroll.by_key(k.code, 10);
            vec![]
        }
        Command::OpenEntry => {
            let any = s.journal.as_ref().is_some_and(|j| !j.entries.is_empty());
            s.journal_open = any;
            s.scroll = Scroll::default();
            vec![]
        }
        Command::Move => {
            move_selection(s, ctx, k);
            vec![]
        }
        Command::Type | Command::Erase => edit_text(s, ctx, command, k),
        Command::Connect if ctx == Context::Form => connect_form(s),
        Command::Connect => match s.profiles.get(s.profile_sel).cloned() {
            Some(p) => connect_profile(s, p, None),
            None => vec![],
        },
        Command::NewConnection => {
            if let Some(p) = s.profiles.get(s.profile_sel) {
                s.form.url = p.target.clone();
            }
            s.form.focus = 0;
            s.screen = Screen::Form;
            vec![]
        }
        Command::Field | Command::ChangeOption => move_field(s, ctx, command, k),
        Command::Search | Command::LeaveSearch => {
            s.searching = command == Command::Search;
            vec![]
        }
        Command::Details => details(s),
        Command::Reset => s.start_action(Action::Reset),
        Command::Unlock => s.start_action(Action::Unlock),
        Command::Calibrate => s.start_calibrate(),
        Command::Emergency => s.start_emergency(),
        Command::Drill | Command::DrillAgain => s.start_drill(),
        Command::Transplant => s.start_transplant(false),
        Command::FromBackup => s.start_transplant(true),
        Command::Filter => filter(s, k),
        Command::Page => page(s, k),
        Command::Journal => s.open_journal(),
        Command::Reload => {
            let req = s.start("busy.journal", true);
            vec![Effect::LoadJournal { req }]
        }
        Command::Disconnect => disconnect(s),
        Command::Back => back(s, ctx),
        Command::PlanTransplant => plan_transplant(s),
        Command::Continue => {
            if s.plan.as_ref().is_some_and(|p| !p.nothing_to_do) {
                s.confirm = ConfirmInput::default();
                s.screen = Screen::Confirm;
            }
            vec![]
        }
        Command::Apply => apply(s),
        Command::AlsoUnlock => s.plan_with_unlock(),
        Command::Copy => copy(s),
        Command::Done => s.leave_result(),
        Command::Check => check_known(s),
    }
}

fn up_down(k: &KeyEvent, sel: &mut usize, len: usize) {
    match k.code {
        KeyCode::Up | KeyCode::Char('k') => *sel = sel.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => *sel = (*sel + 1).min(len.saturating_sub(1)),
        KeyCode::Home => *sel = 0,
        KeyCode::End => *sel = len.saturating_sub(1),
        _ => {}
    }
}

/// ↑↓ (j k Home End) in the profile list, the accounts table or the journal.
fn move_selection(s: &mut AppState, ctx: Context, k: &KeyEvent) {
    match ctx {
        Context::Connect => up_down(k, &mut s.profile_sel, s.profiles.len()),
        Context::Accounts => up_down(k, &mut s.selected, s.rows.len()),
        Context::Journal => {
            let len = s.journal.as_ref().map_or(0, |j| j.entries.len());
            up_down(k, &mut s.journal_sel, len);
        }
        _ => {}
    }
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

/// Enter on the connection form: connect with what it holds.
fn connect_form(s: &mut AppState) -> Vec<Effect> {
    let f = &s.form;
    let profile = Profile {
        name: String::new(),
        target: f.target_url(),
        connector: f.connector_name(),
        prefix: None,
        note: None,
        encoder: None,
    };
    let password = match f.password.is_empty() {
        true => None,
        false => Some(f.password.clone()),
    };
    connect_profile(s, profile, password)
}

/// Tab / Shift-Tab between fields; ←→ Space cycle the form's options (Space
/// types a space in a text field).
fn move_field(s: &mut AppState, ctx: Context, command: Command, k: &KeyEvent) -> Vec<Effect> {
    if ctx == Context::Confirm {
        s.confirm.focus = 1 - s.confirm.focus.min(1);
        return vec![];
    }
    let f = &mut s.form;
    match command {
        Command::Field if matches!(k.code, KeyCode::BackTab | KeyCode::Up) => {
            f.focus = (f.focus + FORM_FIELDS - 1) % FORM_FIELDS
        }
        Command::Field => f.focus = (f.focus + 1) % FORM_FIELDS,
        _ if !matches!(f.focus, 2 | 4 | 5) => {
            if k.code == KeyCode::Char(' ') {
                return edit_text(s, ctx, Command::Type, k);
            }
        }
        _ => {
            let back = k.code == KeyCode::Left;
            match f.focus {
                2 if back => f.tls = f.tls.next().next(),
                2 => f.tls = f.tls.next(),
                4 => f.skip_verify = !f.skip_verify,
                _ => {
                    let n = f.connectors.len() + 1;
                    f.connector = match back {
                        true => (f.connector + n - 1) % n,
                        false => (f.connector + 1) % n,
                    };
                }
            }
        }
    }
    vec![]
}

/// A character typed into (or erased from) the focused text field.
fn edit_text(s: &mut AppState, ctx: Context, command: Command, k: &KeyEvent) -> Vec<Effect> {
    let typed = match k.code {
        KeyCode::Char(c) if command == Command::Type => Some(c),
        _ => None,
    };
    let field: &mut String = match ctx {
        Context::Form => match s.form.focus {
            0 => &mut s.form.url,
            1 => &mut s.form.password,
            3 => &mut s.form.ca,
            _ => return vec![],
        },
        Context::Search => {
            let changed = match typed {
                Some(c) => {
                    s.query.push(c);
                    true
                }
                None => s.query.pop().is_some(),
            };
            if !changed {
                return vec![];
            }
            s.first_page();
            s.selected = 0;
            return vec![s.lookup()];
        }
        Context::Transplant => {
            s.transplant.refused = None;
            &mut s.transplant.donor
        }
        Context::Confirm if s.confirm.focus == 0 => &mut s.confirm.reason,
        Context::Confirm => &mut s.confirm.typed,
        Context::Calibrate => {
            if typed.is_some() {
                s.calibrate.result = None;
            }
            &mut s.calibrate.known
        }
        _ => return vec![],
    };
    match typed {
        Some(c) => field.push(c),
        None => {
            field.pop();
        }
    }
    if ctx == Context::Confirm && typed.is_some() {
        s.confirm.refused = None;
    }
    vec![]
}

fn details(s: &mut AppState) -> Vec<Effect> {
    match s.selected_row() {
        Some(r) => {
            let reference = r.reference();
            let req = s.start("busy.show", true);
            vec![Effect::Show { req, reference }]
        }
        None => vec![],
    }
}

/// a l d: toggle the admins / locked / disabled filter and search again.
fn filter(s: &mut AppState, k: &KeyEvent) -> Vec<Effect> {
    match k.code {
        KeyCode::Char('a') => s.filters.admins = !s.filters.admins,
        KeyCode::Char('l') => s.filters.locked = !s.filters.locked,
        _ => s.filters.disabled = !s.filters.disabled,
    }
    s.first_page();
    s.selected = 0;
    vec![s.lookup()]
}

/// n / PgDn the next page, p / PgUp the previous one.
fn page(s: &mut AppState, k: &KeyEvent) -> Vec<Effect> {
    let next = matches!(k.code, KeyCode::PageDown | KeyCode::Char('n'));
    match (next, s.rows.last()) {
        (true, Some(last)) if s.more => {
            let cursor = last.cursor.clone();
            s.pages_back.push((s.page_start.replace(cursor), s.offset));
            s.offset += s.rows.len() as u64;
        }
        (false, _) if !s.pages_back.is_empty() => {
            (s.page_start, s.offset) = s.pages_back.pop().unwrap_or_default();
        }
        _ => return vec![],
    }
    s.selected = 0;
    vec![s.lookup()]
}

fn disconnect(s: &mut AppState) -> Vec<Effect> {
    s.conn = None;
    s.rows.clear();
    s.screen = match s.profiles.is_empty() {
        true => Screen::Form,
        false => Screen::Connect,
    };
    vec![Effect::Disconnect]
}

/// Esc: one screen back; what it leaves is dropped (a plan, typed text).
fn back(s: &mut AppState, ctx: Context) -> Vec<Effect> {
    let to_detail = match s.detail.is_some() {
        true => Screen::Detail,
        false => Screen::Accounts,
    };
    match ctx {
        Context::Form if s.profiles.is_empty() => {
            s.quit_armed = true;
            s.notice = Some("notice.quit_again".into());
        }
        Context::JournalEntry => s.journal_open = false,
        Context::Form => s.screen = Screen::Connect,
        Context::Detail => s.screen = Screen::Accounts,
        Context::Transplant => {
            s.transplant = TransplantInput::default();
            s.screen = to_detail;
        }
        Context::Plan => {
            s.screen = to_detail;
            if let Some(p) = s.plan.take() {
                return vec![Effect::DropPlan { token: p.token }];
            }
        }
        Context::Confirm => {
            s.confirm = ConfirmInput::default();
            s.screen = Screen::Plan;
        }
        Context::Calibrate => {
            s.calibrate = CalibrateInput::default();
            s.screen = s.back_to;
        }
        Context::Drill => {
            s.drill = None;
            s.screen = s.back_to;
        }
        _ => s.screen = s.back_to,
    }
    vec![]
}

/// The donor prompt's Enter: plans the transplant (a read: cancellable, and a
/// refusal comes back as the operation's error on this prompt).
fn plan_transplant(s: &mut AppState) -> Vec<Effect> {
    let tp = &mut s.transplant;
    let donor = tp.donor.trim().to_string();
    if donor.is_empty() {
        tp.refused = Some(match tp.backup {
            true => "backup.need_source".into(),
            false => "transplant.need_donor".into(),
        });
        return vec![];
    }
    tp.refused = None;
    let reference = tp.reference.clone();
    let backup = tp.backup;
    s.plan_ask = Some(match backup {
        true => PlanAsk::FromBackup {
            reference: reference.clone(),
            source: donor.clone(),
        },
        false => PlanAsk::Transplant {
            reference: reference.clone(),
            donor: donor.clone(),
        },
    });
    let req = s.start("busy.plan", true);
    s.confirm = ConfirmInput::default();
    if backup {
        return vec![Effect::PlanFromBackup {
            req,
            reference,
            source: donor,
            unlock: false,
        }];
    }
    vec![Effect::PlanTransplant {
        req,
        reference,
        donor,
        unlock: false,
    }]
}

/// The confirm screen's Enter: a reason and the typed login, then apply.
fn apply(s: &mut AppState) -> Vec<Effect> {
    let c = &mut s.confirm;
    let Some(plan) = s.plan.as_ref() else {
        return vec![];
    };
    if c.reason.trim().is_empty() {
        c.refused = Some("confirm.need_reason".into());
        c.focus = 0;
        return vec![];
    }
    if c.focus == 0 && c.typed.is_empty() {
        // Enter after the reason goes on to the login; nothing was typed there yet.
        c.refused = None;
        c.focus = 1;
        return vec![];
    }
    if c.typed != plan.login {
        // Kept as typed, so the operator sees what differs.
        c.refused = Some("confirm.mismatch".into());
        c.focus = 1;
        return vec![];
    }
    let token = plan.token;
    let reason = c.reason.trim().to_string();
    c.refused = None;
    let req = s.start("busy.apply", false);
    vec![Effect::Apply { req, token, reason }]
}

/// y / F9 on the result: the generated password to the clipboard (OSC 52).
fn copy(s: &mut AppState) -> Vec<Effect> {
    let password = s.result.as_mut().and_then(|r| {
        r.copied = r.password.is_some();
        r.password.clone()
    });
    match password {
        Some(pw) => vec![Effect::Copy(pw)],
        None => vec![],
    }
}

/// The calibrate prompt's Enter: check the known password (then forget it here).
fn check_known(s: &mut AppState) -> Vec<Effect> {
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
