//! The `smsync` binary: parses the command line and maps errors to exit codes.

use clap::Parser;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SMSYNC_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = smsync::cli::Cli::parse();
    if let Err(e) = smsync::cli::run(cli) {
        eprintln!("smsync: error: {e}");
        std::process::exit(e.exit_code());
    }
}
