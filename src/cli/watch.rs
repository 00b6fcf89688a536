//! `smsync watch`: turns the command line into [`crate::watch::Options`], makes SIGINT and
//! SIGTERM stop the watcher cleanly, and runs it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::WatchArgs;
use crate::error::{Error, Result};

/// Runs the watcher until SIGINT or SIGTERM.
pub(super) fn watch(
    db: &Path,
    drop: &Path,
    date_format: Option<&str>,
    args: &WatchArgs,
) -> Result<()> {
    let overrides = args.settings.overrides(date_format);
    crate::profile::check_overrides(&overrides)?;
    let opts = crate::watch::Options {
        profile: args.profile.clone(),
        poll: args.poll.map(Duration::from_secs_f64),
        debounce: Duration::from_millis(args.debounce_ms),
        db_interval: Duration::from_millis(args.db_interval_ms),
        overrides,
        pst_checker: std::env::current_exe().ok(),
        keep_changes: Duration::from_secs(args.keep_changes_days * 86_400),
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| Error::Other(format!("cannot handle signals: {e}")))?;
    }
    crate::watch::run(db, drop, &opts, stop)
}
