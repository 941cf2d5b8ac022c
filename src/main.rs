//! `locksmith`: the one reporter. Everything else returns errors.

use std::io::Write;

use clap::Parser;
use locksmith::cli::{self, Cli};

fn main() {
    // Diagnostics go to stderr only when asked for (LOCKSMITH_LOG=debug|trace).
    // They carry SQL text and step names, never bound values or secrets.
    if let Ok(level) = std::env::var("LOCKSMITH_LOG") {
        // A level for locksmith's own events only: driver crates log whole
        // result rows at trace (tiberius prints TokenRow values, stored hashes
        // included), so they stay at warn whatever is asked for.
        let level = level
            .trim()
            .parse::<tracing_subscriber::filter::LevelFilter>()
            .unwrap_or(tracing_subscriber::filter::LevelFilter::DEBUG);
        let filter = format!("warn,locksmith={level}");
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
    let cli = Cli::parse();
    let json = cli.json;
    let lang = locksmith::tui::i18n::Lang::detect(cli.lang.as_deref());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(cli::run(cli)) {
        Ok(report) => {
            let mut out = std::io::stdout().lock();
            let written = if json && report.code != -1 {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&report.json).unwrap_or_default()
                )
            } else {
                write!(out, "{}", report.text)
            };
            if written.is_err() {
                1
            } else {
                report.code.max(0)
            }
        }
        Err(e) => {
            let code = e.exit_code();
            if json {
                let mut doc = serde_json::json!({ "error": e.to_string(), "exit_code": code });
                if let locksmith::ops::OpError::Ambiguous { candidates, .. } = &e {
                    doc["candidates"] = serde_json::json!(candidates);
                }
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            } else {
                let message = e.localized(lang);
                eprintln!("error: {message}");
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    // A cause the message already quotes is not said twice.
                    let cause = s.to_string();
                    if !message.contains(&cause) {
                        eprintln!("  caused by: {cause}");
                    }
                    source = s.source();
                }
            }
            code
        }
    };
    std::process::exit(code);
}
