//! The `smsync` binary: parses the command line, sets up logging and maps errors to exit
//! codes.

use clap::Parser;
use smsync::cli::{Cli, Command};

// Ingest and export allocate many small strings (a row's cells, a record's fields);
// mimalloc halves the time glibc's allocator spent on them (measured with perf).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    // A one-shot command whose reader went away (`smsync status | head -1`) ends quietly,
    // as Unix tools do: SIGPIPE's default action, instead of Rust's ignored SIGPIPE and a
    // panic in `println!`. The watcher keeps SIGPIPE ignored: a daemon must not die because
    // a log reader went away (its logs drop write errors).
    #[cfg(unix)]
    if !matches!(cli.command, Command::Watch(_)) {
        // SAFETY: called before any other thread exists; it only resets a disposition.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    // The watcher logs one line per action by default; other commands only warnings.
    let (default, json) = match &cli.command {
        Command::Watch(w) => ("info", w.json_logs),
        _ => ("warn", false),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SMSYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    if let Err(e) = smsync::cli::run(cli) {
        eprintln!("smsync: error: {e}");
        std::process::exit(e.exit_code());
    }
}
