//! `completions SHELL` and `man`: generated from the clap definitions, so they
//! never drift from the flags the binary accepts. Both go to stdout through
//! the `Report` (the tarball and packages ship what these print).

use clap::CommandFactory;
use clap_complete::Shell;
use serde_json::json;

use super::{Cli, Report};
use crate::ops::OpError;

fn utf8(bytes: Vec<u8>, what: &str) -> Result<String, OpError> {
    String::from_utf8(bytes).map_err(|_| OpError::Usage(format!("{what} is not UTF-8").into()))
}

/// The completion script for `shell` (bash, zsh, fish, powershell, elvish).
pub(super) fn completions(shell: Shell) -> Result<Report, OpError> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "locksmith", &mut out);
    let script = utf8(out, "the completion script")?;
    let doc = json!({ "shell": shell.to_string(), "script": script });
    Ok(Report::ok(script, doc))
}

/// The manual page, roff (`locksmith man | man -l -`).
pub(super) fn man() -> Result<Report, OpError> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|e| OpError::Usage(format!("cannot render the manual page: {e}").into()))?;
    let page = utf8(out, "the manual page")?;
    let doc = json!({ "roff": page });
    Ok(Report::ok(page, doc))
}
