//! `fleet check|status|drill`: the arguments to `ops::fleet`, the progress
//! line (on a terminal only), the summary table (80 columns, CJK-aware) and
//! the metrics file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use super::commands::{all_connectors, journal_paths};
use super::{Cli, FleetArgs, FleetCommand, Report, prompt};
use crate::i18n::{Lang, Said, t, tf};
use crate::ops::fleet::{self, FleetOptions, FleetProgress, FleetRun, Outcome, TargetRun};
use crate::ops::{OpError, drill, metrics};
use crate::tui::text::{fit, width};

/// Column widths of the table: 10 + 20 + 11 + 8 + 20 + 6 cells and five
/// separating spaces make 80.
const COLUMNS: [usize; 6] = [10, 20, 11, 8, 20, 6];

pub async fn run(cli: &Cli, command: &FleetCommand) -> Result<Report, OpError> {
    let lang = Lang::detect(cli.lang.as_deref());
    let journal = journal_paths(cli)?;
    let (args, cmd, prom_file) = match command {
        FleetCommand::Check {
            run,
            dormant_days,
            all_accounts,
            prom_file,
        } => (
            run,
            fleet::FleetCommand::Check {
                dormant_days: *dormant_days,
                all_accounts: *all_accounts,
            },
            prom_file.as_deref(),
        ),
        FleetCommand::Status {
            run,
            max_open_hours,
            prom_file,
        } => (
            run,
            fleet::FleetCommand::Status {
                max_open_hours: *max_open_hours,
            },
            prom_file.as_deref(),
        ),
        FleetCommand::Drill {
            run,
            report_dir,
            format,
            dormant_days,
        } => {
            drill::check_report_format(format)?;
            let report_dir = report_dir
                .clone()
                .unwrap_or_else(|| default_report_dir(&journal.0));
            let cmd = fleet::FleetCommand::Drill {
                dormant_days: *dormant_days,
                report_dir,
                format: format.clone(),
            };
            (run, cmd, None)
        }
    };
    let profiles = inventory(args)?;
    let opts = FleetOptions {
        command: cmd,
        parallel: usize::from(args.parallel),
        timeout: timeout(args.timeout)?,
        connectors: all_connectors(cli)?,
        journal,
        config: cli.config.clone(),
        read_only: cli.read_only,
    };
    let name = opts.command.name();
    let progress = |p: &FleetProgress| {
        let done = p.done.to_string();
        let total = p.total.to_string();
        let failing = p.failing.to_string();
        let line = tf(
            lang,
            "cli.fleet_progress",
            &[
                ("command", name),
                ("done", &done),
                ("total", &total),
                ("failing", &failing),
            ],
        );
        prompt::fleet_progress(&line, p.done == p.total);
    };
    let r = fleet::run(profiles, opts, &progress).await?;
    if let Some(path) = prom_file {
        write_metrics(&r, path)?;
    }
    Ok(report(&r, lang))
}

/// The selected profiles of the inventory.
fn inventory(args: &FleetArgs) -> Result<Vec<crate::profiles::Inventory>, OpError> {
    let all = crate::profiles::load(args.profiles.as_deref())
        .map_err(|e| OpError::Usage(e.to_string().into()))?;
    fleet::select(all, &args.tags)
}

fn timeout(seconds: f64) -> Result<Duration, OpError> {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            OpError::Usage(Said::key(
                "said.fleet_bad_timeout",
                &[("seconds", &seconds)],
            ))
        })
}

/// `fleet-drill-<UTC time>/` next to the journal.
fn default_report_dir(journal: &Path) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    journal.with_file_name(format!("fleet-drill-{stamp}"))
}

fn write_metrics(r: &FleetRun, path: &Path) -> Result<(), OpError> {
    let now = chrono::Utc::now().timestamp();
    let mut samples = Vec::new();
    for tr in &r.targets {
        let labels = tr.labels();
        match r.command {
            "status" => samples.extend(metrics::status_samples(&labels, tr.status.as_ref(), true)),
            _ => samples.extend(metrics::posture_samples(
                &labels,
                tr.posture.as_ref(),
                tr.seconds,
                now,
            )),
        }
    }
    if r.command == "status" {
        samples.push(metrics::status_run_sample(now));
    }
    metrics::write_atomic(path, &metrics::render(&samples))
}

fn result_word(o: Outcome, lang: Lang) -> String {
    t(
        lang,
        match o {
            Outcome::Ok => "cli.fleet_ok",
            Outcome::Failed => "cli.fleet_failed",
            Outcome::Error => "cli.fleet_error",
            Outcome::Timeout => "cli.fleet_timeout",
        },
    )
}

/// One table line: every cell cut and padded to its column.
fn line(cells: [&str; 6]) -> String {
    let parts: Vec<String> = cells.iter().zip(COLUMNS).map(|(c, w)| fit(c, w)).collect();
    format!("{}\n", parts.join(" ").trim_end())
}

fn row(r: &TargetRun, lang: Lang) -> String {
    let failing = match r.result {
        Outcome::Error | Outcome::Timeout => "-".to_string(),
        _ if r.failing.is_empty() => "-".to_string(),
        _ => r.failing.join(", "),
    };
    line([
        r.site.as_deref().unwrap_or("-"),
        &r.profile,
        r.connector.as_deref().unwrap_or("?"),
        &result_word(r.result, lang),
        &failing,
        &format!("{:.1}s", r.seconds),
    ])
}

/// The summary table, then why each target that did not run did not.
pub fn table(r: &FleetRun, lang: Lang) -> String {
    let head = [
        "cli.fleet_col_site",
        "cli.fleet_col_target",
        "cli.fleet_col_connector",
        "cli.fleet_col_result",
        "cli.fleet_col_failing",
        "cli.fleet_col_time",
    ]
    .map(|k| t(lang, k));
    let mut text = line([&head[0], &head[1], &head[2], &head[3], &head[4], &head[5]]);
    for tr in &r.targets {
        text.push_str(&row(tr, lang));
    }
    for tr in &r.targets {
        if tr.result == Outcome::Failed && !tr.failing.is_empty() {
            text.push_str(&tf(
                lang,
                "cli.fleet_failing",
                &[("profile", &tr.profile), ("checks", &tr.failing.join(", "))],
            ));
            text.push('\n');
        }
        if let Some(said) = &tr.error_said {
            text.push_str(&format!("{}: {}\n", tr.profile, said.text(lang)));
        }
        if let Some(d) = &tr.drill {
            text.push_str(&tf(
                lang,
                "cli.fleet_drill_report",
                &[
                    ("profile", &tr.profile),
                    ("ms", &format!("{:.1}", d.time_to_recover_ms)),
                    ("path", &d.report.display().to_string()),
                ],
            ));
            text.push('\n');
        }
    }
    text
}

fn count(r: &FleetRun, o: Outcome) -> String {
    r.targets
        .iter()
        .filter(|t| t.result == o)
        .count()
        .to_string()
}

fn report(r: &FleetRun, lang: Lang) -> Report {
    let mut text = table(r, lang);
    if let Some(index) = &r.index {
        text.push_str(&tf(
            lang,
            "cli.fleet_index",
            &[("path", &index.display().to_string())],
        ));
        text.push('\n');
    }
    text.push_str(&tf(
        lang,
        "cli.fleet_summary",
        &[
            ("total", &r.targets.len().to_string()),
            ("ok", &count(r, Outcome::Ok)),
            ("failed", &count(r, Outcome::Failed)),
            ("error", &count(r, Outcome::Error)),
            ("timeout", &count(r, Outcome::Timeout)),
            ("seconds", &format!("{:.1}", r.seconds)),
            ("code", &r.exit_code.to_string()),
        ],
    ));
    text.push('\n');
    debug_assert!(
        text.lines()
            .take(1 + r.targets.len())
            .all(|l| width(l) <= 80)
    );
    Report {
        text,
        json: json!(r),
        code: r.exit_code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(profile: &str, site: &str, result: Outcome, failing: &[&str]) -> TargetRun {
        TargetRun {
            profile: profile.into(),
            site: Some(site.into()),
            tags: Vec::new(),
            target: "db:3306/crm".into(),
            connector: Some("wukong-php".into()),
            result,
            exit_code: 0,
            failing: failing.iter().map(|s| s.to_string()).collect(),
            seconds: 123.4,
            error: None,
            warnings: Vec::new(),
            error_said: None,
            posture: None,
            status: None,
            drill: None,
        }
    }

    #[test]
    fn the_table_fits_80_columns_in_chinese_and_english() {
        let r = FleetRun {
            command: "check",
            targets: vec![
                target(
                    "北京分公司客户关系管理系统生产库",
                    "北京海淀区中关村",
                    Outcome::Failed,
                    &["admins", "default_passwords", "emergency_admin"],
                ),
                target("sh", "上海", Outcome::Timeout, &[]),
                target("gz", "广州", Outcome::Ok, &[]),
            ],
            exit_code: 8,
            parallel: 4,
            timeout_seconds: 5.0,
            seconds: 1.0,
            index: None,
        };
        for lang in [Lang::Zh, Lang::En] {
            let text = table(&r, lang);
            assert_eq!(text.lines().count(), 5, "{text}");
            let table: Vec<&str> = text.lines().take(4).collect();
            for l in &table {
                assert!(width(l) <= 80, "{} cells: {l}", width(l));
            }
        }
        let zh = table(&r, Lang::Zh);
        assert!(zh.contains(&t(Lang::Zh, "cli.fleet_timeout")), "{zh}");
    }
}
