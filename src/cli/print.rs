//! Output helpers shared by the commands: pretty JSON on stdout, ending the process with a
//! command's exit code once its output is flushed, and the progress bar of long work.

use std::io::Write;

use crate::error::{Error, Result};

pub(super) fn print_json<T: serde::Serialize + ?Sized>(v: &T) -> Result<()> {
    // Buffered: stdout is line-buffered, and a report of 10,000 items is 100,000 lines.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, v).map_err(|e| Error::Other(e.to_string()))?;
    writeln!(out).map_err(|e| Error::io("stdout", e))?;
    out.flush().map_err(|e| Error::io("stdout", e))
}

/// Prints a file of JSON already written out (as [`print_json`] would print it);
/// `Ok(false)`, with nothing printed, when the file cannot be opened.
pub(super) fn print_file(path: &std::path::Path) -> Result<bool> {
    let Ok(mut f) = std::fs::File::open(path) else {
        return Ok(false);
    };
    let mut out = std::io::stdout().lock();
    // A failure reading the file or writing stdout: both are named.
    let to = format!("{} to stdout", path.display());
    std::io::copy(&mut f, &mut out)
        .and_then(|_| writeln!(out))
        .and_then(|()| out.flush())
        .map_err(|e| Error::io(&to, e))?;
    Ok(true)
}

/// Ends the process with `code` when it is not 0 (after output is flushed).
pub(super) fn exit_with(code: i32) -> Result<()> {
    if code != 0 {
        let _ = std::io::stdout().flush();
        std::process::exit(code);
    }
    Ok(())
}

/// A progress bar on stderr for one profile's export or ingest: items done and their rate,
/// and "profile n of m". Hidden when stderr is not a terminal and with `--quiet`; the run
/// itself only sees the plain [`crate::progress::Progress`] callback of [`Bar::sink`].
pub(super) struct Bar {
    bar: indicatif::ProgressBar,
}

impl Bar {
    /// `what` ("export", "ingest") of profile `n` (from 0) of `of`.
    pub(super) fn new(what: &str, n: usize, of: usize, profile: &str) -> Bar {
        use std::io::IsTerminal;
        let shown = std::io::stderr().is_terminal() && !crate::summary::quiet();
        let bar = if shown {
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr())
        } else {
            indicatif::ProgressBar::hidden()
        };
        let style = indicatif::ProgressStyle::with_template(
            "{prefix} {spinner} {human_pos} items ({rate}, {elapsed}) {msg}",
        )
        .expect("a valid template")
        .with_key(
            "rate",
            |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", s.per_sec());
            },
        );
        bar.set_style(style);
        let who = if of > 1 {
            format!("profile {} of {of} ({profile})", n + 1)
        } else {
            format!("'{profile}'")
        };
        bar.set_prefix(format!("{what} {who}:"));
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Bar { bar }
    }

    /// The callback to give the run.
    pub(super) fn sink(&self) -> crate::progress::Progress {
        use crate::progress::Event;
        use std::sync::atomic::{AtomicU64, Ordering};
        let bar = self.bar.clone();
        let files = AtomicU64::new(0);
        let done = AtomicU64::new(0);
        crate::progress::Progress::new(move |e| match e {
            Event::Item => bar.inc(1),
            Event::Records(n) => bar.inc(n),
            Event::Files(n) => {
                files.store(n, Ordering::Relaxed);
                bar.set_message(format!("0 of {n} file(s)"));
            }
            Event::File => {
                let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                bar.set_message(format!("{d} of {} file(s)", files.load(Ordering::Relaxed)));
            }
        })
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// Files named on the command line must exist: a mistyped path is a usage error (exit 2)
/// before anything is read. `hint` ends the message (what else the user may do).
pub(super) fn named_files_exist(files: &[std::path::PathBuf], hint: &str) -> Result<()> {
    let missing: Vec<String> = files
        .iter()
        .filter(|f| std::fs::symlink_metadata(f).is_err())
        .map(|f| f.display().to_string())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "no such file: {}; check the path{hint}",
        missing.join(", ")
    )))
}
