//! Drawing: a pure function of the state. Every string comes from the
//! catalogs (or from the data / operations themselves).

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};

use super::i18n::{t, tf};
use super::keys;
use super::state::{AppState, Chain, PlanInfo, Screen, TlsChoice};
use super::text::{fit, truncate, width};
use crate::ops::plan::Action;

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

#[derive(Clone, Copy)]
enum Tone {
    Title,
    Key,
    Muted,
    Ok,
    Warn,
    Danger,
    Focus,
    Badge,
}

/// Semantic styles on the terminal's own colours; with NO_COLOR only bold/reverse remain.
fn style(s: &AppState, tone: Tone) -> Style {
    let base = Style::default();
    if !s.color {
        return match tone {
            Tone::Title | Tone::Key | Tone::Danger | Tone::Badge => {
                base.add_modifier(Modifier::BOLD)
            }
            Tone::Focus => base.add_modifier(Modifier::REVERSED),
            _ => base,
        };
    }
    match tone {
        Tone::Title => base.add_modifier(Modifier::BOLD),
        Tone::Key => base.fg(Color::Cyan).add_modifier(Modifier::BOLD),
        Tone::Muted => base.add_modifier(Modifier::DIM),
        Tone::Ok => base.fg(Color::Green),
        Tone::Warn => base.fg(Color::Yellow),
        Tone::Danger => base.fg(Color::Red).add_modifier(Modifier::BOLD),
        Tone::Focus => base.add_modifier(Modifier::REVERSED),
        Tone::Badge => base.fg(Color::Magenta).add_modifier(Modifier::BOLD),
    }
}

/// (key label, catalog key of what it does) for the key bar: the key table's
/// bindings of the current screen that it marks for the bar.
pub fn keys(s: &AppState) -> Vec<(&'static str, &'static str)> {
    keys::bindings_for(s)
        .filter(|b| b.bar)
        .map(|b| (b.label, b.what))
        .collect()
}

/// Every binding of the current screen, for the help.
pub fn help_keys(s: &AppState) -> Vec<(&'static str, &'static str)> {
    keys::bindings_for(s).map(|b| (b.label, b.what)).collect()
}

/// The key bar in `rows` lines of `width` cells: bindings in the table's
/// order (its priority), each whole on one line, those that do not fit left
/// out, and the help binding always on the last line.
fn key_lines(s: &AppState, cols: u16, rows: u16) -> Vec<Line<'static>> {
    if let Some(b) = &s.busy {
        let mut spans = vec![
            Span::styled(
                format!("{} ", SPINNER[s.spinner % SPINNER.len()]),
                style(s, Tone::Warn),
            ),
            Span::raw(t(s.lang, b.what)),
        ];
        if b.cancellable {
            spans.push(Span::raw("  "));
            spans.push(Span::styled("Esc", style(s, Tone::Key)));
            spans.push(Span::raw(format!(" {}", t(s.lang, "key.cancel"))));
        }
        return vec![Line::from(spans)];
    }
    let item = |(label, what): (&str, &str)| (key_label(s, label), t(s.lang, what));
    let cells = |(k, w): &(String, String)| width(k) + 1 + width(w);
    let (help, items): (Vec<_>, Vec<_>) = keys(s)
        .into_iter()
        .partition(|(_, what)| *what == "key.help");
    let help: Vec<(String, String)> = help.into_iter().map(item).collect();
    let help_w = help.iter().map(|h| cells(h) + 2).sum::<usize>();
    let cols = cols as usize;
    let mut lines: Vec<Vec<(String, String)>> = vec![Vec::new(); rows.max(1) as usize];
    let mut used = vec![0usize; lines.len()];
    for it in items.into_iter().map(item) {
        let w = cells(&it);
        let last = lines.len() - 1;
        let fits = |row: usize, used: usize| {
            let sep = if used == 0 { 0 } else { 2 };
            let reserve = if row == last { help_w } else { 0 };
            used + sep + w + reserve <= cols
        };
        if let Some(row) =
            (0..lines.len()).find(|&r| fits(r, used[r]) && lines[r + 1..].iter().all(Vec::is_empty))
        {
            used[row] += if used[row] == 0 { w } else { w + 2 };
            lines[row].push(it);
        }
    }
    let last = lines.len() - 1;
    lines[last].extend(help);
    lines
        .into_iter()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut spans = Vec::new();
            for (i, (label, what)) in l.into_iter().enumerate() {
                if i > 0 {
                    spans.push(Span::raw("  "));
                }
                spans.push(Span::styled(label, style(s, Tone::Key)));
                spans.push(Span::raw(format!(" {what}")));
            }
            Line::from(spans)
        })
        .collect()
}

/// Key names stay as printed on the keyboard; "type" (any text) is a word, so it is translated.
fn key_label(s: &AppState, label: &str) -> String {
    if label == "type" {
        t(s.lang, "key.label_typing")
    } else {
        label.to_string()
    }
}

/// Rows of the accounts table on a terminal `rows` lines high: the frame's
/// header, message and key bar, the search line, the table's borders and
/// header, and the footer take the rest.
pub fn account_rows(rows: u16) -> u64 {
    let chrome = 1 + 2 + 2 + 1 + 3 + 1;
    u64::from(rows.saturating_sub(chrome)).max(1)
}

pub fn render(f: &mut Frame, s: &AppState) {
    let area = f.area();
    if area.width < 60 || area.height < 16 {
        let p = Paragraph::new(tf(
            s.lang,
            "too_small",
            &[
                ("w", &area.width.to_string()),
                ("h", &area.height.to_string()),
            ],
        ))
        .wrap(Wrap { trim: true });
        f.render_widget(p, area);
        return;
    }
    let [header, body, message, bar] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(5),
        Constraint::Length(2),
        Constraint::Length(2),
    ])
    .areas(area);
    render_header(f, s, header);
    match s.screen {
        Screen::Connect => render_connect(f, s, body),
        Screen::Form => render_form(f, s, body),
        Screen::Accounts => render_accounts(f, s, body),
        Screen::Detail => render_detail(f, s, body),
        Screen::Plan => render_plan(f, s, body),
        Screen::Confirm => render_confirm(f, s, body),
        Screen::Result => render_result(f, s, body),
        Screen::Calibrate => render_calibrate(f, s, body),
        Screen::Journal => render_journal(f, s, body),
        Screen::Drill => render_drill(f, s, body),
        Screen::Transplant => render_transplant(f, s, body),
    }
    // The transplant prompt shows a refusal in full inside its box.
    let msg = if let Some(e) = s.error.as_ref().filter(|_| s.screen != Screen::Transplant) {
        Line::from(vec![
            Span::styled(format!("{} ", t(s.lang, "error")), style(s, Tone::Danger)),
            Span::raw(e.clone()),
        ])
    } else if let Some(n) = &s.notice {
        Line::styled(t(s.lang, n), style(s, Tone::Warn))
    } else {
        Line::raw("")
    };
    f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), message);
    f.render_widget(
        Paragraph::new(key_lines(s, bar.width, bar.height)).wrap(Wrap { trim: true }),
        bar,
    );
    if s.help {
        render_help(f, s, area);
    }
}

fn render_header(f: &mut Frame, s: &AppState, area: Rect) {
    let mut spans = vec![Span::styled(" Locksmith ", style(s, Tone::Focus))];
    if s.demo {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(t(s.lang, "demo_badge"), style(s, Tone::Badge)));
    }
    let title = match s.screen {
        Screen::Connect | Screen::Form => t(s.lang, "title.connect"),
        Screen::Accounts => t(s.lang, "title.accounts"),
        Screen::Detail => t(s.lang, "title.detail"),
        Screen::Plan if emergency(s) => t(s.lang, "title.emergency"),
        Screen::Plan => t(s.lang, "title.plan"),
        Screen::Confirm => t(s.lang, "title.confirm"),
        Screen::Result => t(s.lang, "title.result"),
        Screen::Calibrate => t(s.lang, "title.calibrate"),
        Screen::Journal => t(s.lang, "title.journal"),
        Screen::Drill => t(s.lang, "title.drill"),
        Screen::Transplant => t(s.lang, "title.transplant"),
    };
    spans.push(Span::styled(format!(" {title}"), style(s, Tone::Title)));
    if s.conn.as_ref().is_some_and(|c| c.read_only) {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(
            t(s.lang, "read_only_badge"),
            style(s, Tone::Badge),
        ));
    }
    if let Some(c) = &s.conn {
        let used: usize = spans.iter().map(|sp| width(&sp.content)).sum();
        let rest = (area.width as usize).saturating_sub(used + 3);
        spans.push(Span::styled(
            format!(
                " · {}",
                truncate(&format!("{} · {}", c.target, c.title), rest)
            ),
            style(s, Tone::Muted),
        ));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The plan on screen is a restore-admin plan (the Emergency screen).
fn emergency(s: &AppState) -> bool {
    s.plan
        .as_ref()
        .is_some_and(|p| p.view.action == Action::RestoreAdmin)
}

/// The action's name on the plan, confirm and result screens: a reset that
/// copies a donor's stored value is a transplant.
fn action_label(s: &AppState, action: Action, transplant: bool) -> String {
    if transplant {
        t(s.lang, "action.transplant")
    } else {
        t(s.lang, &format!("action.{}", action.name()))
    }
}

fn block(s: &AppState, title_key: &str) -> Block<'static> {
    Block::default().borders(Borders::ALL).title(Span::styled(
        format!(" {} ", t(s.lang, title_key)),
        style(s, Tone::Title),
    ))
}

fn render_connect(f: &mut Frame, s: &AppState, area: Rect) {
    let inner_w = area.width.saturating_sub(4) as usize;
    let mut lines = Vec::new();
    for (i, p) in s.profiles.iter().enumerate() {
        let sel = i == s.profile_sel;
        let marker = if sel { "› " } else { "  " };
        let name_style = if sel {
            style(s, Tone::Focus)
        } else {
            style(s, Tone::Title)
        };
        lines.push(Line::from(vec![
            Span::raw(marker),
            Span::styled(truncate(&p.name, inner_w.saturating_sub(2)), name_style),
        ]));
        let mut sub = p.target.clone();
        if let Some(c) = &p.connector {
            sub.push_str(&format!("  [{c}]"));
        }
        lines.push(Line::styled(
            format!("    {}", truncate(&sub, inner_w.saturating_sub(4))),
            style(s, Tone::Muted),
        ));
        if let Some(n) = &p.note {
            lines.push(Line::raw(format!(
                "    {}",
                truncate(n, inner_w.saturating_sub(4))
            )));
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        t(s.lang, "connect.hint"),
        style(s, Tone::Muted),
    ));
    // Profile lines are fitted above; the hint wraps instead of being cut.
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(s, "connect.profiles")),
        area,
    );
}

fn render_form(f: &mut Frame, s: &AppState, area: Rect) {
    let fm = &s.form;
    let label_w = 18;
    let field = |i: usize, label: &str, value: String| {
        let focused = fm.focus == i;
        let mut spans = vec![
            Span::raw(if focused { "› " } else { "  " }),
            Span::styled(fit(&t(s.lang, label), label_w), style(s, Tone::Title)),
        ];
        spans.push(Span::styled(
            value,
            if focused {
                style(s, Tone::Focus)
            } else {
                Style::default()
            },
        ));
        Line::from(spans)
    };
    let max_v = (area.width as usize).saturating_sub(label_w + 6);
    let cursor = |v: &str, i: usize| {
        if fm.focus == i {
            format!("{}▏", truncate_left(v, max_v.saturating_sub(1)))
        } else {
            truncate(v, max_v)
        }
    };
    let tls = match fm.tls {
        TlsChoice::Preferred => t(s.lang, "form.tls_preferred"),
        TlsChoice::Required => t(s.lang, "form.tls_required"),
        TlsChoice::Disabled => t(s.lang, "form.tls_disabled"),
    };
    let connector = fm
        .connector_name()
        .unwrap_or_else(|| t(s.lang, "form.auto_detect"));
    let mut lines = vec![
        field(0, "form.url", cursor(&fm.url, 0)),
        field(
            1,
            "form.password",
            if fm.focus == 1 {
                format!("{}▏", t(s.lang, "form.no_echo"))
            } else {
                t(s.lang, "form.no_echo")
            },
        ),
        field(2, "form.tls", format!("◂ {tls} ▸")),
        field(3, "form.ca", cursor(&fm.ca, 3)),
        field(
            4,
            "form.skip_verify",
            format!("[{}]", if fm.skip_verify { "x" } else { " " }),
        ),
        field(5, "form.connector", format!("◂ {connector} ▸")),
        Line::raw(""),
        Line::styled(t(s.lang, "form.hint"), style(s, Tone::Muted)),
    ];
    if let Some(e) = &s.error {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            t(s.lang, "form.failed"),
            style(s, Tone::Danger),
        ));
        lines.push(Line::raw(e.clone()));
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(s, "form.title")),
        area,
    );
}

fn truncate_left(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    let rev: String = s.chars().rev().collect();
    let cut = truncate(&rev, max);
    cut.chars().rev().collect()
}

fn badges(s: &AppState, r: &super::state::AccountRow) -> Vec<Span<'static>> {
    let mut out = Vec::new();
    if r.state.deleted {
        out.push(Span::styled(
            t(s.lang, "badge.deleted"),
            style(s, Tone::Danger),
        ));
    } else if r.state.locked == Some(true) {
        out.push(Span::styled(
            t(s.lang, "badge.locked"),
            style(s, Tone::Danger),
        ));
    } else if r.state.enabled == Some(false) {
        out.push(Span::styled(
            t(s.lang, "badge.disabled"),
            style(s, Tone::Warn),
        ));
    } else {
        out.push(Span::styled(t(s.lang, "badge.ok"), style(s, Tone::Ok)));
    }
    if r.admin {
        out.push(Span::raw(" "));
        out.push(Span::styled(
            t(s.lang, "badge.admin"),
            style(s, Tone::Badge),
        ));
    }
    if !r.shape_ok {
        out.push(Span::raw(" "));
        out.push(Span::styled(
            t(s.lang, "badge.other_format"),
            style(s, Tone::Warn),
        ));
    }
    out
}

fn render_accounts(f: &mut Frame, s: &AppState, area: Rect) {
    let [search, table, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    render_search_bar(f, s, search);
    render_account_table(f, s, table);
    render_accounts_foot(f, s, foot);
}

/// The search box and the filter checkboxes.
fn render_search_bar(f: &mut Frame, s: &AppState, search: Rect) {
    let check = |on: bool| if on { "■" } else { "□" };
    let mut spans = vec![
        Span::styled(
            format!("{} ", t(s.lang, "accounts.search")),
            style(s, Tone::Title),
        ),
        Span::styled(
            format!("{}{}", s.query, if s.searching { "▏" } else { "" }),
            if s.searching {
                style(s, Tone::Focus)
            } else {
                Style::default()
            },
        ),
        Span::raw("   "),
    ];
    for (on, key) in [
        (s.filters.admins, "accounts.f_admins"),
        (s.filters.locked, "accounts.f_locked"),
        (s.filters.disabled, "accounts.f_disabled"),
    ] {
        spans.push(Span::raw(format!("{} {}  ", check(on), t(s.lang, key))));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), search);
}

/// One page of accounts; an email column when the terminal is wide.
fn render_account_table(f: &mut Frame, s: &AppState, table: Rect) {
    let w = table.width.saturating_sub(2) as usize;
    let wide = w >= 100;
    let id_w = 8;
    let status_w = 22;
    let login_w = if wide { 18 } else { 14 };
    let email_w = if wide { 30 } else { 0 };
    let name_w = w.saturating_sub(id_w + login_w + status_w + email_w + if wide { 5 } else { 4 });
    let mut header = vec![
        Cell::from(t(s.lang, "col.id")),
        Cell::from(t(s.lang, "col.login")),
        Cell::from(t(s.lang, "col.name")),
    ];
    if wide {
        header.push(Cell::from(t(s.lang, "col.email")));
    }
    header.push(Cell::from(t(s.lang, "col.status")));
    let rows: Vec<Row> = s
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut cells = vec![
                Cell::from(fit(&r.id, id_w)),
                Cell::from(fit(&r.login, login_w)),
                Cell::from(fit(&r.name, name_w)),
            ];
            if wide {
                cells.push(Cell::from(fit(&r.email, email_w)));
            }
            cells.push(Cell::from(Line::from(badges(s, r))));
            let row = Row::new(cells);
            if i == s.selected && !s.searching {
                row.style(style(s, Tone::Focus))
            } else {
                row
            }
        })
        .collect();
    let mut widths = vec![
        Constraint::Length(id_w as u16),
        Constraint::Length(login_w as u16),
        Constraint::Length(name_w as u16),
    ];
    if wide {
        widths.push(Constraint::Length(email_w as u16));
    }
    widths.push(Constraint::Length(status_w as u16));
    let title = match &s.conn {
        Some(c) => format!(" {} ", c.title),
        None => String::new(),
    };
    let tbl = Table::new(rows, widths)
        .header(Row::new(header).style(style(s, Tone::Title)))
        .block(Block::default().borders(Borders::ALL).title(title));
    f.render_widget(tbl, table);
}

/// Which rows are shown, whether there are more, and the page's notes.
fn render_accounts_foot(f: &mut Frame, s: &AppState, foot: Rect) {
    let mut foot_text = if s.rows.is_empty() {
        t(s.lang, "accounts.none")
    } else {
        tf(
            s.lang,
            "accounts.range",
            &[
                ("from", &(s.offset + 1).to_string()),
                ("to", &(s.offset + s.rows.len() as u64).to_string()),
            ],
        )
    };
    if s.more {
        foot_text.push_str(&format!("  {}", t(s.lang, "accounts.more")));
    }
    for n in &s.page_notes {
        let note = tf(s.lang, &format!("note.{}", n.code), &[("title", &n.title)]);
        foot_text.push_str(&format!("  · {note}"));
    }
    f.render_widget(
        Paragraph::new(Line::styled(
            truncate(&foot_text, foot.width as usize),
            style(s, Tone::Muted),
        )),
        foot,
    );
}

fn state_words(s: &AppState, st: &crate::ops::AccountState) -> String {
    let yes_no = |b: bool| t(s.lang, if b { "yes" } else { "no" });
    format!(
        "{}: {}   {}: {}   {}: {}",
        t(s.lang, "detail.enabled"),
        st.enabled.map_or_else(|| t(s.lang, "n_a"), yes_no),
        t(s.lang, "detail.deleted"),
        yes_no(st.deleted),
        t(s.lang, "detail.locked"),
        st.locked
            .map_or_else(|| t(s.lang, "detail.locked_outside"), yes_no),
    )
}

fn render_detail(f: &mut Frame, s: &AppState, area: Rect) {
    let Some(d) = &s.detail else {
        return;
    };
    let w = area.width.saturating_sub(4) as usize;
    let mut lines = vec![Line::styled(d.label.clone(), style(s, Tone::Title))];
    for field in &d.fields {
        let role = super::i18n::t_or(s.lang, &format!("role.{}", field.role), &field.role);
        let value = match field.secret_chars {
            Some(n) => tf(s.lang, "detail.secret_len", &[("n", &n.to_string())]),
            None => field.value.clone(),
        };
        lines.push(Line::from(vec![
            Span::styled(fit(&role, 17), style(s, Tone::Muted)),
            Span::raw(fit(&field.column, 20)),
            Span::raw(truncate(&value, w.saturating_sub(37))),
        ]));
    }
    lines.push(Line::from(vec![
        Span::styled(
            format!(
                "{}: {}   ",
                t(s.lang, "detail.admin"),
                t(s.lang, if d.admin { "yes" } else { "no" })
            ),
            if d.admin {
                style(s, Tone::Badge)
            } else {
                Style::default()
            },
        ),
        Span::raw(state_words(s, &d.state)),
    ]));
    lines.push(Line::from(vec![
        Span::raw(format!("{}: {} ", t(s.lang, "detail.scheme"), d.scheme)),
        if d.shape_ok {
            Span::styled(t(s.lang, "detail.shape_ok"), style(s, Tone::Ok))
        } else {
            Span::styled(t(s.lang, "detail.shape_bad"), style(s, Tone::Warn))
        },
    ]));
    lines.push(Line::raw(format!(
        "{}: {}",
        t(s.lang, "detail.looks_like"),
        if d.detected.is_empty() {
            t(s.lang, "detail.unknown")
        } else {
            d.detected.join(", ")
        }
    )));
    let notes = match s.lang == super::i18n::Lang::Zh && !d.notes_zh.is_empty() {
        true => &d.notes_zh,
        false => &d.notes,
    };
    for n in notes {
        lines.push(Line::styled(format!("• {n}"), style(s, Tone::Muted)));
    }
    render_scrolled(f, s, lines, block(s, "title.detail"), area);
}

/// A view that may be longer than its frame: scrolled by `s.scroll`
/// (↑↓ PgUp PgDn Home End); the bottom border says when more follows.
fn render_scrolled(
    f: &mut Frame,
    s: &AppState,
    lines: Vec<Line<'static>>,
    outer: Block<'static>,
    area: Rect,
) {
    let inner = outer.inner(area);
    let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false });
    let total = u16::try_from(paragraph.line_count(inner.width)).unwrap_or(u16::MAX);
    let max = total.saturating_sub(inner.height);
    s.scroll.max.set(max);
    let offset = s.scroll.offset.min(max);
    let outer = match offset < max {
        true => outer.title_bottom(Line::styled(
            format!(" {} ", t(s.lang, "scroll.more")),
            style(s, Tone::Warn),
        )),
        false => outer,
    };
    f.render_widget(paragraph.scroll((offset, 0)).block(outer), area);
}

fn render_plan(f: &mut Frame, s: &AppState, area: Rect) {
    let Some(p) = &s.plan else {
        return;
    };
    if emergency(s) {
        return render_emergency_plan(f, s, p, area);
    }
    let v = &p.view;
    let action = action_label(s, v.action, p.donor.is_some());
    let mut lines = vec![
        Line::styled(
            tf(
                s.lang,
                "plan.headline",
                &[
                    ("action", &action),
                    ("account", &v.account),
                    ("table", &v.table),
                ],
            ),
            style(s, Tone::Title),
        ),
        Line::raw(format!("{}: {}", t(s.lang, "plan.scheme"), v.scheme)),
    ];
    if let Some(donor) = &p.donor {
        lines.push(Line::styled(
            tf(s.lang, "transplant.plan_note", &[("donor", donor)]),
            style(s, Tone::Warn),
        ));
    }
    lines.extend([
        Line::styled(t(s.lang, "plan.sql"), style(s, Tone::Muted)),
        Line::raw(v.sql.clone()),
        Line::styled(t(s.lang, "plan.changes"), style(s, Tone::Muted)),
    ]);
    push_changes(s, v, &mut lines);
    if p.locked && !p.unlocks && v.action == Action::Reset {
        lines.push(Line::styled(
            t(s.lang, "plan.also_unlock"),
            style(s, Tone::Warn),
        ));
    }
    if p.nothing_to_do {
        lines.push(Line::styled(
            t(s.lang, "plan.nothing"),
            style(s, Tone::Warn),
        ));
    }
    let warnings = v.warnings.iter().map(|w| w.console_text(s.lang));
    for w in warnings.chain(p.notes.iter().cloned()) {
        lines.push(Line::styled(format!("! {w}"), style(s, Tone::Warn)));
    }
    render_scrolled(f, s, lines, block(s, "title.plan"), area);
}

/// The Emergency screen: what is wrong with the emergency admin, then every
/// statement of the one plan that fixes it all.
fn render_emergency_plan(f: &mut Frame, s: &AppState, p: &PlanInfo, area: Rect) {
    let v = &p.view;
    let action = t(s.lang, &format!("action.{}", v.action.name()));
    let mut lines = vec![Line::styled(
        tf(
            s.lang,
            "plan.headline",
            &[
                ("action", &action),
                ("account", &v.account),
                ("table", &v.table),
            ],
        ),
        style(s, Tone::Title),
    )];
    lines.push(Line::styled(
        t(s.lang, "plan.problems"),
        style(s, Tone::Muted),
    ));
    if p.problems.is_empty() {
        // A directory scheme (Dynamics) has no password here to reset.
        let key = match p.view.scheme.as_str() {
            "directory" => "plan.healthy_directory",
            _ => "plan.healthy",
        };
        lines.push(Line::raw(format!("  {}", t(s.lang, key))));
    }
    for pr in &p.problems {
        lines.push(Line::from(vec![
            Span::styled(
                format!("  ✗ {}", t(s.lang, &format!("problem.{}", pr.code))),
                style(s, Tone::Danger),
            ),
            Span::raw(format!(" — {}", pr.message)),
        ]));
    }
    lines.push(Line::raw(format!(
        "{}: {}",
        t(s.lang, "plan.scheme"),
        v.scheme
    )));
    lines.push(Line::styled(
        t(
            s.lang,
            if v.transactional {
                "plan.statements_tx"
            } else {
                "plan.statements"
            },
        ),
        style(s, Tone::Muted),
    ));
    for (i, st) in v.statements.iter().enumerate() {
        lines.push(Line::styled(
            format!("  {}. {}", i + 1, st.purpose.console_text(s.lang)),
            style(s, Tone::Title),
        ));
        lines.push(Line::raw(format!("     {}", st.sql)));
    }
    if v.creates_row {
        lines.push(Line::styled(
            t(s.lang, "plan.creates_row"),
            style(s, Tone::Warn),
        ));
    }
    lines.push(Line::styled(
        t(s.lang, "plan.changes"),
        style(s, Tone::Muted),
    ));
    push_changes(s, v, &mut lines);
    let warnings = v.warnings.iter().map(|w| w.console_text(s.lang));
    for w in warnings.chain(p.notes.iter().cloned()) {
        lines.push(Line::styled(format!("! {w}"), style(s, Tone::Warn)));
    }
    lines.push(Line::styled(
        tf(s.lang, "plan.break_glass", &[("journal", &s.journal_arg)]),
        style(s, Tone::Muted),
    ));
    render_scrolled(f, s, lines, block(s, "title.emergency"), area);
}

fn render_confirm(f: &mut Frame, s: &AppState, area: Rect) {
    let Some(p) = &s.plan else {
        return;
    };
    let c = &s.confirm;
    let action = action_label(s, p.view.action, p.donor.is_some());
    let input = |focused: bool, label: &str, value: &str| {
        Line::from(vec![
            Span::raw(if focused { "› " } else { "  " }),
            Span::styled(fit(&t(s.lang, label), 16), style(s, Tone::Title)),
            Span::styled(
                format!("{}{}", value, if focused { "▏" } else { "" }),
                if focused {
                    style(s, Tone::Focus)
                } else {
                    Style::default()
                },
            ),
        ])
    };
    let mut lines = vec![
        Line::styled(
            tf(
                s.lang,
                "confirm.headline",
                &[("action", &action), ("account", &p.view.account)],
            ),
            style(s, Tone::Title),
        ),
        Line::raw(""),
        input(c.focus == 0, "confirm.reason", &c.reason),
        Line::raw(""),
        Line::raw(tf(s.lang, "confirm.type_login", &[("login", &p.login)])),
        input(c.focus == 1, "confirm.login", &c.typed),
        Line::raw(""),
        Line::styled(t(s.lang, "confirm.journal_note"), style(s, Tone::Muted)),
    ];
    if let Some(r) = &c.refused {
        lines.push(Line::raw(""));
        lines.push(Line::styled(t(s.lang, r), style(s, Tone::Danger)));
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(s, "title.confirm")),
        area,
    );
}

fn render_result(f: &mut Frame, s: &AppState, area: Rect) {
    let Some(r) = &s.result else {
        return;
    };
    let outer = block(s, "title.result");
    let inner = outer.inner(area);
    f.render_widget(outer, area);
    let action = action_label(s, r.action, r.donor.is_some());
    let done = Paragraph::new(vec![
        Line::styled(
            tf(
                s.lang,
                "result.done",
                &[("action", &action), ("account", &r.account)],
            ),
            style(s, Tone::Ok),
        ),
        Line::styled(
            tf(
                s.lang,
                "result.entries",
                &[
                    ("intent", &r.intent_entry.to_string()),
                    ("outcome", &r.outcome_entry.to_string()),
                ],
            ),
            style(s, Tone::Muted),
        ),
    ])
    .wrap(Wrap { trim: false });
    let [top, pw, bottom] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(5),
        Constraint::Min(1),
    ])
    .areas(inner);
    f.render_widget(done, top);
    if let Some(p) = &r.password {
        render_password(f, s, r, p, pw, bottom);
    } else if let Some(donor) = &r.donor {
        // A transplant: nothing was generated, so there is no password to show.
        let rest = Rect::new(pw.x, pw.y, pw.width, pw.height + bottom.height);
        f.render_widget(
            Paragraph::new(vec![
                Line::styled(
                    tf(
                        s.lang,
                        "result.transplanted",
                        &[("account", &r.account), ("donor", donor)],
                    ),
                    style(s, Tone::Title),
                ),
                Line::raw(""),
                Line::raw(t(s.lang, "result.no_new_password")),
            ])
            .wrap(Wrap { trim: false }),
            rest,
        );
    } else {
        f.render_widget(
            Paragraph::new(Line::raw(t(s.lang, "result.no_password"))).wrap(Wrap { trim: false }),
            pw,
        );
    }
}

/// The generated password, large and once, with what to do with it.
fn render_password(
    f: &mut Frame,
    s: &AppState,
    r: &super::state::ResultInfo,
    p: &crate::secret::Password,
    pw: Rect,
    bottom: Rect,
) {
    let text = p.expose();
    let title_w = width(&t(s.lang, "result.password")) as u16 + 4;
    let box_w = (width(text) as u16 + 8).max(title_w).min(pw.width);
    let x = pw.x + (pw.width.saturating_sub(box_w)) / 2;
    let rect = Rect::new(x, pw.y, box_w, 5.min(pw.height));
    let pw_block = Block::default().borders(Borders::ALL).title(Span::styled(
        format!(" {} ", t(s.lang, "result.password")),
        style(s, Tone::Title),
    ));
    f.render_widget(
        Paragraph::new(vec![
            Line::raw(""),
            Line::styled(text.to_string(), style(s, Tone::Title)),
        ])
        .alignment(Alignment::Center)
        .block(pw_block),
        rect,
    );
    let mut hints = vec![
        Line::raw(t(s.lang, "result.once")),
        Line::raw(t(s.lang, "result.alphabet")),
    ];
    if r.action == Action::RestoreAdmin {
        hints.push(Line::styled(
            tf(
                s.lang,
                "result.break_glass",
                &[
                    ("entry", &r.intent_entry.to_string()),
                    ("journal", &s.journal_arg),
                ],
            ),
            style(s, Tone::Warn),
        ));
    }
    if r.copied {
        hints.push(Line::styled(t(s.lang, "result.copied"), style(s, Tone::Ok)));
    } else {
        hints.push(Line::styled(
            t(s.lang, "result.copy_hint"),
            style(s, Tone::Muted),
        ));
    }
    f.render_widget(Paragraph::new(hints).wrap(Wrap { trim: false }), bottom);
}

/// Rows `lines` take when wrapped to `w` cells (an estimate: words wrap a little earlier).
fn wrapped_rows(lines: &[Line], w: usize) -> u16 {
    lines
        .iter()
        .map(|l| {
            let cells: usize = l.spans.iter().map(|sp| width(&sp.content)).sum();
            cells.max(1).div_ceil(w.max(1)) as u16
        })
        .sum()
}

/// The transplant prompt: a small box over the account's detail asking for
/// the donor; a refused plan's error is shown in it (nothing was written).
fn render_transplant(f: &mut Frame, s: &AppState, area: Rect) {
    render_detail(f, s, area);
    let tp = &s.transplant;
    // The same prompt asks for a backup source (`b`) or a donor (`t`).
    let k = |key: &str| match tp.backup {
        true => format!("backup.{key}"),
        false => format!("transplant.{key}"),
    };
    let w = area.width.saturating_sub(6).min(76);
    let inner_w = w.saturating_sub(2) as usize;
    let mut lines = vec![
        Line::styled(
            tf(
                s.lang,
                &k("headline"),
                &[("account", &format!("{} ({})", tp.login, tp.reference))],
            ),
            style(s, Tone::Title),
        ),
        Line::raw(t(s.lang, &k("question"))),
        Line::raw(""),
        Line::from(vec![
            Span::styled(
                format!("› {} ", t(s.lang, &k("donor"))),
                style(s, Tone::Title),
            ),
            Span::styled(
                format!("{}▏", truncate_left(&tp.donor, inner_w.saturating_sub(12))),
                style(s, Tone::Focus),
            ),
        ]),
        Line::raw(""),
        Line::styled(t(s.lang, &k("explain")), style(s, Tone::Muted)),
    ];
    if let Some(r) = &tp.refused {
        lines.push(Line::raw(""));
        lines.push(Line::styled(t(s.lang, r), style(s, Tone::Danger)));
    }
    if let Some(e) = &s.error {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            t(s.lang, &k("refused")),
            style(s, Tone::Danger),
        ));
        lines.push(Line::raw(e.clone()));
    }
    let h = (wrapped_rows(&lines, inner_w) + 3).min(area.height);
    let rect = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(
                s,
                if tp.backup {
                    "title.backup"
                } else {
                    "title.transplant"
                },
            )),
        rect,
    );
}

fn render_calibrate(f: &mut Frame, s: &AppState, area: Rect) {
    let c = &s.calibrate;
    let mut lines = vec![
        Line::styled(
            tf(s.lang, "calibrate.headline", &[("account", &c.login)]),
            style(s, Tone::Title),
        ),
        Line::raw(t(s.lang, "calibrate.explain")),
        Line::raw(""),
        Line::from(vec![
            Span::styled(
                format!("{} ", t(s.lang, "calibrate.known")),
                style(s, Tone::Title),
            ),
            Span::styled(
                format!("{}▏", t(s.lang, "form.no_echo")),
                style(s, Tone::Focus),
            ),
        ]),
    ];
    if let Some(conn) = &s.conn
        && !conn.can_hash
    {
        lines.push(Line::raw(""));
        lines.push(Line::styled(t(s.lang, "opaque.note"), style(s, Tone::Warn)));
    }
    if let Some((account, scheme, matches)) = &c.result {
        lines.push(Line::raw(""));
        let (key, tone) = if *matches {
            ("calibrate.yes", Tone::Ok)
        } else {
            ("calibrate.no", Tone::Danger)
        };
        lines.push(Line::styled(
            tf(s.lang, key, &[("account", account), ("scheme", scheme)]),
            style(s, tone),
        ));
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(s, "title.calibrate")),
        area,
    );
}

fn render_journal(f: &mut Frame, s: &AppState, area: Rect) {
    let [status, table] = Layout::vertical([Constraint::Length(2), Constraint::Min(3)]).areas(area);
    let Some(j) = &s.journal else {
        return;
    };
    let chain = match &j.chain {
        Chain::Intact { entries } => Line::styled(
            tf(s.lang, "journal.intact", &[("n", &entries.to_string())]),
            style(s, Tone::Ok),
        ),
        Chain::Broken { entry, message } => Line::styled(
            tf(
                s.lang,
                "journal.broken",
                &[("entry", &entry.to_string()), ("message", message)],
            ),
            style(s, Tone::Danger),
        ),
    };
    f.render_widget(
        Paragraph::new(vec![
            chain,
            Line::styled(
                truncate(&j.path, status.width as usize),
                style(s, Tone::Muted),
            ),
        ]),
        status,
    );
    if s.journal_open
        && let Some(e) = j.entries.get(s.journal_sel)
    {
        render_journal_entry(f, s, e, table);
        return;
    }
    let w = table.width.saturating_sub(2) as usize;
    let wide = w >= 100;
    // Narrow: minutes are enough to tell entries apart; the full time is in the entry.
    let at_w = if wide { 19 } else { 16 };
    let (kind_w, action_w, outcome_w) = (11, 13, 11);
    let acct_w = w.saturating_sub(5 + at_w + kind_w + action_w + outcome_w + 5);
    let rows: Vec<Row> = j
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let row = Row::new(vec![
                Cell::from(fit(&e.id.to_string(), 5)),
                Cell::from(e.at.chars().take(at_w).collect::<String>()),
                Cell::from(fit(&word(s, "kind", &e.kind), kind_w)),
                Cell::from(fit(&word(s, "action", &e.action), action_w)),
                Cell::from(fit(&e.account, acct_w)),
                Cell::from(fit(&word(s, "outcome", &e.outcome), outcome_w)),
            ]);
            if i == s.journal_sel {
                row.style(style(s, Tone::Focus))
            } else {
                row
            }
        })
        .collect();
    let tbl = Table::new(
        rows,
        [
            Constraint::Length(5),
            Constraint::Length(at_w as u16),
            Constraint::Length(kind_w as u16),
            Constraint::Length(action_w as u16),
            Constraint::Length(acct_w as u16),
            Constraint::Length(outcome_w as u16),
        ],
    )
    .header(
        Row::new(vec![
            t(s.lang, "col.entry"),
            t(s.lang, "col.at"),
            t(s.lang, "col.kind"),
            t(s.lang, "col.action"),
            t(s.lang, "col.account"),
            t(s.lang, "col.outcome"),
        ])
        .style(style(s, Tone::Title)),
    )
    .block(Block::default().borders(Borders::ALL));
    f.render_widget(tbl, table);
}

/// A word the operations name (a journal kind, an outcome, a drill step) in
/// the operator's language; as it is when the catalog has no entry.
fn word(s: &AppState, family: &str, name: &str) -> String {
    if name.is_empty() {
        return String::new();
    }
    super::i18n::t_or(s.lang, &format!("{family}.{name}"), name)
}

/// One journal entry in full: when, what, on whom, why, its outcome and details.
fn render_journal_entry(f: &mut Frame, s: &AppState, e: &super::state::JournalRow, area: Rect) {
    let field = |label: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("{label}: "), style(s, Tone::Muted)),
            Span::raw(value),
        ])
    };
    let mut lines = vec![
        Line::styled(
            format!(
                "#{}  {}  {}  {}",
                e.id,
                e.at,
                word(s, "kind", &e.kind),
                word(s, "action", &e.action)
            ),
            style(s, Tone::Title),
        ),
        field(&t(s.lang, "col.account"), e.account.clone()),
        field(&t(s.lang, "col.outcome"), word(s, "outcome", &e.outcome)),
        field(&t(s.lang, "journal.reason"), e.reason.clone()),
    ];
    if let Some(r) = e.refers_to {
        lines.push(field(&t(s.lang, "journal.refers_to"), format!("#{r}")));
    }
    lines.push(Line::raw(""));
    lines.extend(e.details.iter().map(|d| Line::raw(d.clone())));
    render_scrolled(f, s, lines, block(s, "journal.entry_title"), area);
}

/// The Drill screen: each step with its time as it completes, then the
/// time to recover and the report's path.
fn render_drill(f: &mut Frame, s: &AppState, area: Rect) {
    let Some(d) = &s.drill else {
        return;
    };
    let mut lines = vec![
        Line::styled(t(s.lang, "drill.headline"), style(s, Tone::Title)),
        Line::raw(""),
    ];
    let name_w = d
        .steps
        .iter()
        .map(|st| width(&word(s, "step", &st.step)))
        .max()
        .unwrap_or(0)
        .min(44);
    for st in &d.steps {
        lines.push(Line::from(vec![
            Span::styled("  ✓ ", style(s, Tone::Ok)),
            Span::raw(format!(
                "{} {:>10.1} ms",
                fit(&word(s, "step", &st.step), name_w),
                st.millis
            )),
        ]));
    }
    if s.busy.is_some() {
        lines.push(Line::styled(
            format!(
                "  {} {}",
                SPINNER[s.spinner % SPINNER.len()],
                t(s.lang, "drill.running")
            ),
            style(s, Tone::Warn),
        ));
    }
    if let Some(done) = &d.done {
        push_drill_done(s, done, &mut lines);
    }
    render_scrolled(f, s, lines, block(s, "title.drill"), area);
}

/// What a finished drill found: time to recover, report, rollback, journal, posture.
fn push_drill_done(s: &AppState, done: &super::state::DrillDone, lines: &mut Vec<Line<'static>>) {
    let yes_no = |b: bool| t(s.lang, if b { "yes" } else { "no" });
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        tf(
            s.lang,
            "drill.done",
            &[
                ("account", &done.account),
                ("ttr", &format!("{:.1}", done.time_to_recover_ms)),
                ("total", &format!("{:.1}", done.total_ms)),
            ],
        ),
        style(s, Tone::Ok),
    ));
    lines.push(Line::from(vec![
        Span::styled(
            format!("{} ", t(s.lang, "drill.report")),
            style(s, Tone::Muted),
        ),
        Span::styled(done.report.clone(), style(s, Tone::Title)),
    ]));
    lines.push(Line::styled(
        tf(
            s.lang,
            "drill.rolled_back",
            &[("answer", &yes_no(done.rolled_back))],
        ),
        style(
            s,
            if done.rolled_back {
                Tone::Ok
            } else {
                Tone::Warn
            },
        ),
    ));
    lines.push(Line::raw(tf(
        s.lang,
        "drill.entries",
        &[
            ("intent", &done.intent_entry.to_string()),
            ("outcome", &done.outcome_entry.to_string()),
        ],
    )));
    lines.push(Line::styled(
        t(
            s.lang,
            if done.chain_ok {
                "drill.chain_ok"
            } else {
                "drill.chain_broken"
            },
        ),
        style(
            s,
            if done.chain_ok {
                Tone::Ok
            } else {
                Tone::Danger
            },
        ),
    ));
    lines.push(Line::styled(
        t(
            s.lang,
            if done.posture_ok {
                "drill.posture_ok"
            } else {
                "drill.posture_failed"
            },
        ),
        style(
            s,
            if done.posture_ok {
                Tone::Ok
            } else {
                Tone::Warn
            },
        ),
    ));
}

/// A plan's written columns (before → after, secrets as fingerprints) and its guard.
fn push_changes(s: &AppState, v: &crate::ops::plan::PlanView, lines: &mut Vec<Line<'static>>) {
    for c in &v.changes {
        lines.push(Line::raw(format!("  {}: {}", c.column, c.before)));
        lines.push(Line::raw(format!(
            "  {}  → {}",
            " ".repeat(width(&c.column)),
            c.after
        )));
    }
    lines.push(Line::raw(format!(
        "{}: {}",
        t(s.lang, "plan.guarded"),
        v.guarded.join(", ")
    )));
}

fn render_help(f: &mut Frame, s: &AppState, area: Rect) {
    let ks = help_keys(s);
    let w = area.width.min(72);
    let label_w = ks
        .iter()
        .map(|(l, _)| width(&key_label(s, l)))
        .max()
        .unwrap_or(0)
        + 2;
    let mut lines: Vec<Line> = ks
        .iter()
        .map(|(label, what)| {
            Line::from(vec![
                Span::styled(fit(&key_label(s, label), label_w), style(s, Tone::Key)),
                Span::raw(t(s.lang, what)),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        t(s.lang, "help.plain_keys"),
        style(s, Tone::Muted),
    ));
    lines.push(Line::styled(t(s.lang, "help.guide"), style(s, Tone::Muted)));
    lines.push(Line::styled(t(s.lang, "help.close"), style(s, Tone::Muted)));
    let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false });
    let rows = u16::try_from(paragraph.line_count(w.saturating_sub(2))).unwrap_or(u16::MAX);
    let h = (rows + 2).min(area.height);
    let rect = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    f.render_widget(Clear, rect);
    f.render_widget(paragraph.block(block(s, "help.title")), rect);
}
