//! Output helpers shared by the commands: pretty JSON on stdout, and ending the process
//! with a command's exit code once its output is flushed.

use std::io::Write;

use crate::error::{Error, Result};

pub(super) fn print_json<T: serde::Serialize + ?Sized>(v: &T) -> Result<()> {
    // Buffered: stdout is line-buffered, and a report of 10,000 items is 100,000 lines.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, v).map_err(|e| Error::Other(e.to_string()))?;
    writeln!(out).map_err(|e| Error::io("stdout", e))?;
    out.flush().map_err(|e| Error::io("stdout", e))
}

/// Ends the process with `code` when it is not 0 (after output is flushed).
pub(super) fn exit_with(code: i32) -> Result<()> {
    if code != 0 {
        let _ = std::io::stdout().flush();
        std::process::exit(code);
    }
    Ok(())
}
