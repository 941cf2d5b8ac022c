//! The executing TDS test endpoint (tests/tds) started by hand, so the SQL
//! Server connectors (u8, dynamics-crm, …) can be tried without a SQL Server:
//!
//! ```text
//! cargo run --release --example tds-endpoint -- --db /tmp/u8.sqlite \
//!     --listen 127.0.0.1:14330 --load fixtures/u8.sql [--tls] [--database UFSystem]
//! ```
//!
//! It prints the `mssql://` URL (and the password to export) and serves
//! until Ctrl-C. A TEST TOOL, not a server: one SQL login, SQLite underneath,
//! T-SQL as far as the test suites need it (tests/tds/mod.rs lists what it
//! models). The same endpoint code the tests run in-process, included here.

#[path = "../tests/tds/mod.rs"]
mod tds;

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "tds-endpoint",
    about = "The Locksmith TDS test endpoint (a test tool, not a SQL Server): SQLite behind the SQL Server wire protocol"
)]
struct Args {
    /// The SQLite file that holds the database (created when missing, kept afterwards).
    #[arg(long, value_name = "FILE.sqlite")]
    db: PathBuf,
    /// host:port to listen on (port 0: any free port).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:14330")]
    listen: String,
    /// Offer TLS with a generated test certificate (its CA is passed in the URL as ca=…).
    #[arg(long)]
    tls: bool,
    /// A T-SQL file to run first (batches separated by GO), e.g. fixtures/u8.sql.
    #[arg(long, value_name = "FILE.sql")]
    load: Option<PathBuf>,
    /// The database name clients log in to (UFSystem for u8, <Org>_MSCRM for dynamics-crm).
    #[arg(long, default_value = "UFSystem")]
    database: String,
    /// The password of the one SQL login `sa`.
    #[arg(long, default_value = "Locksmith-Test-1")]
    password: String,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("tds-endpoint: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let opts = tds::EndpointOptions {
        database: args.database.clone(),
        password: args.password.clone(),
        encryption: if args.tls {
            tds::ServerEncryption::On
        } else {
            tds::ServerEncryption::NotSupported
        },
        ..Default::default()
    };
    let endpoint = tds::Endpoint::start_at(opts, Some(args.db.clone()), &args.listen)?;
    if let Some(file) = &args.load {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        endpoint
            .load(&tds::split_go_batches(&text))
            .map_err(|e| format!("{}: {e}", file.display()))?;
    }
    let host = args.listen.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
    let options = if args.tls {
        format!("?ca={}", endpoint.ca_pem().display())
    } else {
        "?tls=legacy".to_string()
    };
    // A reader that stopped reading must not end the endpoint: write errors are ignored.
    use std::io::Write as _;
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "mssql://sa@{host}:{}/{}{options}",
        endpoint.port(),
        args.database
    );
    let _ = writeln!(out, "export LOCKSMITH_DB_PASSWORD={}", args.password);
    let _ = writeln!(
        out,
        "# Locksmith TDS test endpoint on {} (a test tool, not a server); Ctrl-C stops it",
        args.db.display()
    );
    let _ = out.flush();
    // The endpoint serves on its own threads; this one only keeps the process alive.
    loop {
        std::thread::park();
    }
}
