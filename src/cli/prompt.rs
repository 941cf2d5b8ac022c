//! The terminal prompts of the CLI: a no-echo secret, the type-the-login
//! confirmation, a drill's live progress. The one place in the library that
//! writes to the terminal itself (`main` prints everything else).
#![allow(clippy::print_stderr)]

use crate::i18n::Said;
use std::io::{BufRead, IsTerminal, Write};

use crate::ops::OpError;
use crate::ops::posture::SurveyProgress;
use crate::ops::protocol::StepTime;
use crate::secret::Password;

/// Both ends are a terminal: the operator can confirm by typing.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// One line from stdin, without its line ending. Never echoed anywhere.
pub fn read_secret_line(what: &str) -> Result<Password, OpError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let pw = rpassword::prompt_password(format!("{what} (not echoed): "))
            .map_err(|e| OpError::Usage(format!("cannot read {what}: {e}").into()))?;
        return Ok(Password::new(pw));
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| OpError::Usage(format!("cannot read {what} from stdin: {e}").into()))?;
    let trimmed = line.trim_end_matches(['\n', '\r']).to_string();
    zeroize::Zeroize::zeroize(&mut line);
    if trimmed.is_empty() {
        return Err(OpError::Usage(Said::key(
            "said.stdin_empty",
            &[("what", &what)],
        )));
    }
    Ok(Password::new(trimmed))
}

/// Shows the plan on stderr and asks the operator to type the login.
pub fn confirm(plan_text: &str, login: &str) -> Result<(), OpError> {
    eprint!("{plan_text}");
    eprint!("Type the login `{login}` to apply this plan: ");
    let _ = std::io::stderr().flush();
    let mut typed = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut typed)
        .map_err(|e| OpError::Usage(format!("cannot read the confirmation: {e}").into()))?;
    if typed.trim_end_matches(['\n', '\r']) == login {
        Ok(())
    } else {
        Err(OpError::Refused(Said::key("said.login_mismatch", &[])))
    }
}

/// Shows a batch's summary on stderr and asks the operator to type how
/// many accounts it writes (`count`): one confirmation for the batch.
pub fn confirm_count(summary: &str, count: usize, lang: crate::i18n::Lang) -> Result<(), OpError> {
    eprint!("{summary}");
    let n = count.to_string();
    eprint!(
        "{}",
        crate::i18n::tf(lang, "offboard.type_count", &[("count", &n)])
    );
    let _ = std::io::stderr().flush();
    let mut typed = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut typed)
        .map_err(|e| OpError::Usage(format!("cannot read the confirmation: {e}").into()))?;
    if typed.trim() == n {
        Ok(())
    } else {
        Err(OpError::Refused(Said::key("said.count_mismatch", &[])))
    }
}

/// A batch's progress on a terminal (accounts written so far).
pub fn batch_progress(done: usize, total: usize) {
    if !std::io::stderr().is_terminal() || total == 0 {
        return;
    }
    let filled = done * 30 / total;
    eprint!(
        "\r[{}{}] {done}/{total}",
        "#".repeat(filled),
        " ".repeat(30 - filled)
    );
    if done >= total {
        eprintln!();
    }
}

/// A drill step as it ends (long runs show progress).
pub fn drill_step(t: &StepTime) {
    eprintln!("drill: {:<48} {:>9.1} ms", t.step, t.millis);
}

/// The default-password survey of `check`: the estimate before it starts,
/// then a progress bar on a terminal (nothing more when stderr is a file).
pub fn survey_progress(p: SurveyProgress) {
    match p {
        // A handful of admins takes no time worth announcing.
        SurveyProgress::Estimate {
            accounts,
            threads,
            seconds,
        } if accounts > 100 || seconds >= 1.0 => eprintln!(
            "check: trying the default passwords on {accounts} account(s) with {threads} thread(s), about {seconds:.0} s"
        ),
        SurveyProgress::Checked { done, total } if std::io::stderr().is_terminal() => {
            // About a hundred redraws whatever the count.
            if done % (total / 100).max(1) == 0 || done == total {
                let filled = done * 30 / total.max(1);
                eprint!(
                    "\r[{}{}] {done}/{total}",
                    "#".repeat(filled),
                    " ".repeat(30 - filled)
                );
                if done == total {
                    eprintln!();
                }
            }
        }
        SurveyProgress::Estimate { .. } | SurveyProgress::Checked { .. } => {}
    }
}

/// A fleet run's progress line, redrawn in place on a terminal; nothing
/// when stderr is not one (cron, CI, a pipe).
pub fn fleet_progress(line: &str, last: bool) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    // \x1b[K clears what a longer earlier line left.
    eprint!("\r{line}\x1b[K");
    if last {
        eprintln!();
    }
    let _ = std::io::stderr().flush();
}
