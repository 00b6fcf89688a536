//! Progress of long work as plain data: export and ingest report [`Event`]s through a
//! [`Progress`] callback they are given in their options, and know nothing of terminals.
//! The command line turns the events into a progress bar on stderr (only on a terminal);
//! everything else (tests, the watcher, the demo) passes the default, which does nothing.

use std::sync::Arc;

/// What a run has just done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// An ingest found this many input files.
    Files(u64),
    /// An ingest applied (or refused, or skipped) one more item.
    Item,
    /// An ingest finished one more file.
    File,
    /// An export wrote, removed or checked this many more records (one page).
    Records(u64),
}

/// The callback a run reports its [`Event`]s to; the default ignores them. Cheap to clone
/// and to call (one branch when unset), so runs call it per item.
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<dyn Fn(Event) + Send + Sync>>);

impl Progress {
    pub fn new(f: impl Fn(Event) + Send + Sync + 'static) -> Progress {
        Progress(Some(Arc::new(f)))
    }

    /// Reports one event.
    pub fn emit(&self, e: Event) {
        if let Some(f) = &self.0 {
            f(e);
        }
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(callback)"
        } else {
            "Progress(none)"
        })
    }
}
