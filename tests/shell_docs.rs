//! `locksmith completions` and `locksmith man`, exercised by the tools that
//! consume them: bash completes a partial command with the generated script,
//! and man-db renders the generated page.

// clippy.toml's disallowed methods guard the console reducer; a test does I/O and waits.
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::process::{Command, Output};

fn locksmith(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_locksmith"))
        .args(args)
        .output()
        .expect("run locksmith")
}

fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

/// What bash's programmable completion offers for `words`, the cursor on the last word.
fn bash_complete(script: &Path, words: &[&str]) -> Vec<String> {
    let cword = words.len() - 1;
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={cword}\nCOMP_LINE='{}'\nCOMP_POINT=${{#COMP_LINE}}\n\
         _locksmith locksmith '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" "),
        words.join(" "),
        words[cword],
        words[cword.saturating_sub(1)],
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completes_res_to_the_commands_that_start_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("locksmith.bash");
    std::fs::write(&script, stdout_of(&locksmith(&["completions", "bash"]))).unwrap();

    let mut offered = bash_complete(&script, &["locksmith", "res"]);
    offered.sort();
    assert_eq!(offered, ["reset", "restore-admin"]);

    // A subcommand's own flags, and the shells `completions` takes.
    let flags = bash_complete(&script, &["locksmith", "reset", "admin", "--re"]);
    assert!(flags.contains(&"--reason".to_owned()), "{flags:?}");
    let shells = bash_complete(&script, &["locksmith", "completions", "f"]);
    assert_eq!(shells, ["fish"]);
}

#[test]
fn every_shell_gets_a_script_and_an_unknown_shell_is_a_usage_error() {
    for (shell, marker) in [
        ("bash", "complete -F _locksmith"),
        ("zsh", "#compdef locksmith"),
        ("fish", "complete -c locksmith"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let script = stdout_of(&locksmith(&["completions", shell]));
        assert!(script.contains(marker), "{shell}: no `{marker}`");
        assert!(
            script.contains("restore-admin"),
            "{shell}: commands missing"
        );
    }
    let out = locksmith(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tcsh"));
}

#[test]
fn man_renders_the_page_with_the_commands_and_global_flags() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("locksmith.1");
    let roff = stdout_of(&locksmith(&["man"]));
    assert!(
        roff.starts_with(".ie") || roff.contains(".TH locksmith"),
        "{roff:.200}"
    );
    std::fs::write(&page, roff).unwrap();

    let out = Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .env("LANG", "C.UTF-8")
        .output()
        .expect("man-db is installed by scripts/ensure-services");
    assert!(
        out.status.success(),
        "man -l: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // Rendered text, not roff: no requests left, the sections and commands present.
    assert!(!text.contains(".TH"), "{text:.300}");
    for expected in [
        "NAME",
        "SYNOPSIS",
        "--target",
        "reset",
        "restore-admin",
        "completions",
    ] {
        assert!(text.contains(expected), "no `{expected}` in:\n{text}");
    }
}
