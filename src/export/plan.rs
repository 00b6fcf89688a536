//! The export plan: pure decisions, no I/O. For one record and one output, what the output
//! must do ([`decide`], [`decide_dirty`]); what the export state becomes afterwards
//! ([`next_state`]); whether an output's full-set sheet is rewritten ([`full_sheet`]), and
//! whether a whole-file output (the PST, both sides in one file) is ([`whole_file`]); where
//! a side's stamp goes ([`next_stamp`]); whether a run would remove so much of the profile
//! that it must stop first ([`removal_guard`], over [`RemovalFacts`] the store counts,
//! with a [`Threshold`] that ingest's guard shares). The run (`export::mod`) gathers the facts, asks
//! here, and has the outputs carry the actions out.
//!
//! Each output keeps its own state inside one export-state row: `held` is the set of outputs
//! that hold a copy of the item (of any version), `current` the set whose copy is the version
//! the row describes (hash, status, values). A run of some outputs moves only their bits, so
//! it never hides a change from an output it left out.

use serde::Serialize;

use crate::model::{Key, Kind, SiStatus};
use crate::store::Exported;
pub use crate::store::RemovalFacts;

/// What one output does with one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Write the item; `in_set`: it belongs to the synced set (and so to a full-set sheet
    /// being written), else it is a closed SI going out once more as Completed.
    Write { in_set: bool },
    /// The output already holds this version.
    Unchanged,
    /// The item left the synced set: delete the output's copy and list it for deletion.
    Remove,
    /// Nothing to do: the output never had the item and it is not in the set.
    Nothing,
}

/// What is known of one record when it is decided.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// In the synced set now.
    pub in_set: bool,
    /// An SI whose status is Closed.
    pub closed: bool,
    /// The hash of the item as it would be written now.
    pub hash: u64,
    /// What the profile was last given of it.
    pub prev: Option<&'a Exported>,
}

/// How an output runs this side: `rewrite` ignores the state's hashes (first run, reset,
/// recovery); `recovering` also removes what the state does not know (an interrupted run may
/// have forgotten an item before its removal list was written).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mode {
    pub rewrite: bool,
    pub recovering: bool,
}

fn holds(prev: Option<&Exported>, bit: u32) -> bool {
    prev.is_some_and(|p| p.held & bit != 0)
}

fn is_current(prev: Option<&Exported>, bit: u32) -> bool {
    prev.is_some_and(|p| p.current & bit != 0)
}

/// What output `bit` does with a record read from the change pages.
pub fn decide(f: &Facts, bit: u32, mode: Mode) -> Action {
    let current = is_current(f.prev, bit);
    if f.in_set {
        if !mode.rewrite && current && f.prev.is_some_and(|p| p.hash == f.hash) {
            Action::Unchanged
        } else {
            Action::Write { in_set: true }
        }
    } else if f.closed {
        // A closed SI goes out once more, as Completed, to an output that had it.
        let sent_closed = current
            && f.prev
                .is_some_and(|p| p.status.as_deref() == Some(SiStatus::Closed.as_str()));
        if !holds(f.prev, bit) {
            Action::Nothing
        } else if !sent_closed || mode.recovering {
            Action::Write { in_set: false }
        } else {
            Action::Unchanged
        }
    } else if holds(f.prev, bit) || mode.recovering {
        Action::Remove
    } else {
        Action::Nothing
    }
}

/// What output `bit` does with an item whose copy an ingest marked stale (the change pages
/// need not hold it): rewrite it where the output's copy is not current, remove it where it
/// left the set. A record that no longer exists is [`Action::Nothing`] (its state is dropped).
pub fn decide_dirty(f: &Facts, bit: u32) -> Action {
    if f.in_set || f.closed {
        if is_current(f.prev, bit) {
            Action::Unchanged
        } else {
            // Not into a full sheet being written: the pages may have written it.
            Action::Write { in_set: false }
        }
    } else if holds(f.prev, bit) {
        Action::Remove
    } else {
        Action::Nothing
    }
}

/// The state change after the outputs acted on one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateChange {
    /// Record this state.
    Put(Exported),
    /// No output holds the item any more: forget it.
    Delete,
    /// Leave the state as it is.
    Keep,
}

/// The export state after an item was written to the outputs `written` (`now` is the item's
/// state as written) or removed from the outputs `removed`, and refused by the outputs
/// `refused` (a value their encoding cannot hold). A refused output still owes the item: it
/// counts as holding a copy that is not current, so each of its runs tries again
/// ([`decide_dirty`]) until the value can be written.
pub fn next_state(
    prev: Option<&Exported>,
    now: impl FnOnce() -> Exported,
    written: u32,
    removed: u32,
    refused: u32,
) -> StateChange {
    let mut e = if written != 0 {
        let mut e = now();
        let (held, current) = match prev {
            // The same version: the outputs that were current stay so.
            Some(p) if p.hash == e.hash && p.status == e.status => (p.held, p.current),
            Some(p) => (p.held, 0),
            None => (0, 0),
        };
        e.held = held | written;
        e.current = current | written;
        e
    } else if removed != 0 || refused != 0 {
        match prev {
            Some(p) => p.clone(),
            // Refused by every output it went to: remember that they owe it.
            None if refused != 0 => Exported {
                held: 0,
                current: 0,
                ..now()
            },
            None => return StateChange::Keep,
        }
    } else {
        return StateChange::Keep;
    };
    e.held &= !removed;
    e.current &= !removed;
    e.held |= refused;
    e.current &= !refused;
    if e.held == 0 {
        StateChange::Delete
    } else {
        StateChange::Put(e)
    }
}

/// What becomes of a full-set sheet after a run (`outlook/contacts.csv`, `tasks.csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FullSheet {
    /// Rewritten with the full current set.
    Rewritten,
    /// Nothing changed; it is current.
    Current,
    /// The set is larger than `full_sheet_limit`: only full runs rewrite it, the run's
    /// change files carry this run's changes.
    Stale,
}

/// The facts of one side that decide its full-set sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SheetFacts {
    /// The output's stamp for this side is unset (first run or reset).
    pub side_full: bool,
    pub recovering: bool,
    /// The sheet is on disk.
    pub exists: bool,
    /// The run wrote or removed something of this side for this output.
    pub changed: bool,
}

/// Whether a full-set sheet is rewritten. `None` means "by size": rewrite it only if the
/// profile holds at most `full_sheet_limit` items of the side ([`by_size`]), which the run
/// then counts; counting is skipped whenever the answer does not depend on it.
pub fn full_sheet(f: SheetFacts) -> Option<FullSheet> {
    if f.side_full || f.recovering || !f.exists {
        Some(FullSheet::Rewritten)
    } else if !f.changed {
        Some(FullSheet::Current)
    } else {
        None
    }
}

/// Whether a whole-file output (one file holding both sides, the PST) is rewritten, from
/// the facts of each side: whenever either side's copy is written whole (first run, reset,
/// recovery), the file is missing, or either side changed for it. Unlike a full-set sheet
/// it has no size limit (it is the output's only copy, so it is never left stale), and it
/// is never rewritten when nothing changed (the same database gives the same file anyway).
pub fn whole_file(sides: [SheetFacts; 2]) -> FullSheet {
    if sides
        .iter()
        .any(|f| f.side_full || f.recovering || !f.exists || f.changed)
    {
        FullSheet::Rewritten
    } else {
        FullSheet::Current
    }
}

/// [`full_sheet`]'s answer when it depends on the size of the set.
pub fn by_size(held: u64, limit: u64) -> FullSheet {
    if held <= limit {
        FullSheet::Rewritten
    } else {
        FullSheet::Stale
    }
}

/// An output's stamp for one side after a run that read every change up to `upto`: it
/// moves only when the run changed something on that side (a run that changed nothing
/// writes nothing to the database).
pub fn next_stamp(old: Option<i64>, upto: i64, side_changed: bool) -> Option<i64> {
    if side_changed { Some(upto) } else { old }
}

/// A guard's threshold: a count trips it when it is at least `min` and more than
/// `percent` % of the profile's items (both must hold, so a small profile is not stopped
/// by a few changes, and a large one not by many that are still a small part of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Threshold {
    pub percent: u64,
    pub min: u64,
}

impl Threshold {
    /// Whether `count` of `of` items trips the threshold.
    pub fn exceeded(&self, count: u64, of: u64) -> bool {
        count >= self.min && u128::from(count) * 100 > u128::from(self.percent) * u128::from(of)
    }
}

/// Why an item a profile holds would be removed by a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum RemovalCause {
    /// Its client was made inactive (the cascade takes its locations and client users).
    ClientInactive { client: Key },
    /// The record itself was made inactive (a location, a user).
    RecordInactive { record: Kind },
    /// An SI moved to a status that is not synced (and not Closed).
    SiStatus { status: SiStatus },
}

impl std::fmt::Display for RemovalCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemovalCause::ClientInactive { client } => write!(f, "client {client} made inactive"),
            RemovalCause::RecordInactive { record } => {
                write!(f, "{} made inactive", plural(*record))
            }
            RemovalCause::SiStatus { status } => {
                write!(f, "SI status changed to {}", status.as_str())
            }
        }
    }
}

fn plural(k: Kind) -> &'static str {
    match k {
        Kind::Location => "locations",
        Kind::User => "users",
        Kind::Tech => "tech entries",
        Kind::Si => "SIs",
        Kind::Client => "clients",
        Kind::Employee => "employees",
    }
}

/// The main reason an item leaves the set: an inactive client first (its cascade made its
/// users inactive too), then the record's own flag, then an SI's status.
pub fn removal_cause(f: &RemovalFacts) -> RemovalCause {
    match (f.client, f.active, f.status) {
        (Some((client, false)), _, _) if f.key.kind != Kind::Si => {
            RemovalCause::ClientInactive { client }
        }
        (_, _, Some(status)) => RemovalCause::SiStatus { status },
        _ => RemovalCause::RecordInactive { record: f.key.kind },
    }
}

/// One group of removals with one cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CauseCount {
    pub cause: RemovalCause,
    /// The cause as text, e.g. "client SM-C4 made inactive".
    pub text: String,
    pub contacts: u64,
    pub tasks: u64,
}

impl std::fmt::Display for CauseCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if self.contacts > 0 {
            parts.push(format!(
                "{} contact{}",
                self.contacts,
                if self.contacts == 1 { "" } else { "s" }
            ));
        }
        if self.tasks > 0 {
            parts.push(format!(
                "{} task{}",
                self.tasks,
                if self.tasks == 1 { "" } else { "s" }
            ));
        }
        write!(f, "{}: {}", self.text, parts.join(", "))
    }
}

/// Why an export stopped before writing anything: it would remove `removals` of the
/// `held` contacts (or tasks: `side`) the profile holds, more than its threshold allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemovalGuard {
    /// `contacts` or `tasks`: the side whose removals exceed the threshold.
    pub side: &'static str,
    pub removals: u64,
    pub held: u64,
    pub threshold: Threshold,
    /// The removals by cause, the main one first.
    pub causes: Vec<CauseCount>,
}

impl std::fmt::Display for RemovalGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let causes: Vec<String> = self.causes.iter().map(|c| c.to_string()).collect();
        write!(
            f,
            "the export would remove {} of the profile's {} {} (more than {}% and at least \
             {}): {}",
            self.removals,
            self.held,
            self.side,
            self.threshold.percent,
            self.threshold.min,
            causes.join("; ")
        )
    }
}

/// The removals of a run grouped by cause, most first (then by cause, for a stable order).
pub fn removal_causes(removals: &[RemovalFacts]) -> Vec<CauseCount> {
    let mut groups: std::collections::BTreeMap<RemovalCause, (u64, u64)> = Default::default();
    for r in removals {
        let g = groups.entry(removal_cause(r)).or_default();
        if r.key.kind == Kind::Si {
            g.1 += 1;
        } else {
            g.0 += 1;
        }
    }
    let mut out: Vec<CauseCount> = groups
        .into_iter()
        .map(|(cause, (contacts, tasks))| CauseCount {
            cause,
            text: cause.to_string(),
            contacts,
            tasks,
        })
        .collect();
    out.sort_by_key(|c| std::cmp::Reverse(c.contacts + c.tasks));
    out
}

/// Whether a run that would make `removals` of a profile holding `held` (contacts, tasks)
/// must stop first: `Some` with the count and its causes when the removals of either side
/// exceed the threshold for that side (contacts first).
pub fn removal_guard(
    removals: &[RemovalFacts],
    held: (u64, u64),
    threshold: Threshold,
) -> Option<RemovalGuard> {
    let tasks = removals.iter().filter(|r| r.key.kind == Kind::Si).count() as u64;
    let contacts = removals.len() as u64 - tasks;
    [("contacts", contacts, held.0), ("tasks", tasks, held.1)]
        .into_iter()
        .find(|&(_, n, of)| threshold.exceeded(n, of))
        .map(|(side, n, of)| RemovalGuard {
            side,
            removals: n,
            held: of,
            threshold,
            causes: removal_causes(removals),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VDIR: u32 = 1;
    const CSV: u32 = 2;

    fn state(hash: u64, status: Option<&str>, held: u32, current: u32) -> Exported {
        Exported {
            hash,
            status: status.map(str::to_string),
            values: format!("v{hash}"),
            updated_at: 1,
            held,
            current,
        }
    }

    const RUN: Mode = Mode {
        rewrite: false,
        recovering: false,
    };
    const REWRITE: Mode = Mode {
        rewrite: true,
        recovering: false,
    };
    const RECOVER: Mode = Mode {
        rewrite: true,
        recovering: true,
    };

    #[test]
    fn decide_covers_every_case() {
        let cur = state(7, None, VDIR | CSV, VDIR | CSV);
        let stale_csv = state(7, None, VDIR | CSV, VDIR);
        let closed_sent = state(9, Some("Closed"), VDIR | CSV, VDIR | CSV);
        let open_sent = state(8, Some("In Progress"), VDIR | CSV, VDIR | CSV);
        let only_vdir = state(7, None, VDIR, VDIR);
        let w = Action::Write { in_set: true };
        let closed_w = Action::Write { in_set: false };
        // (in_set, closed, hash, prev, output, mode) → action
        type Row<'a> = (bool, bool, u64, Option<&'a Exported>, u32, Mode, Action);
        let table: &[Row] = &[
            // In the set.
            (true, false, 7, None, VDIR, RUN, w),
            (true, false, 7, Some(&cur), VDIR, RUN, Action::Unchanged),
            (true, false, 8, Some(&cur), VDIR, RUN, w),
            (true, false, 7, Some(&cur), VDIR, REWRITE, w),
            (true, false, 7, Some(&stale_csv), CSV, RUN, w),
            (
                true,
                false,
                7,
                Some(&stale_csv),
                VDIR,
                RUN,
                Action::Unchanged,
            ),
            (true, false, 7, Some(&only_vdir), CSV, RUN, w),
            // A closed SI: once more to each output that had it.
            (false, true, 9, Some(&open_sent), VDIR, RUN, closed_w),
            (
                false,
                true,
                9,
                Some(&closed_sent),
                VDIR,
                RUN,
                Action::Unchanged,
            ),
            (false, true, 9, Some(&closed_sent), VDIR, RECOVER, closed_w),
            (false, true, 9, None, VDIR, RUN, Action::Nothing),
            (false, true, 9, None, VDIR, RECOVER, Action::Nothing),
            (false, true, 9, Some(&only_vdir), CSV, RUN, Action::Nothing),
            // Left the set.
            (false, false, 7, Some(&cur), CSV, RUN, Action::Remove),
            (false, false, 7, Some(&only_vdir), CSV, RUN, Action::Nothing),
            (false, false, 7, None, VDIR, RUN, Action::Nothing),
            (false, false, 7, None, VDIR, RECOVER, Action::Remove),
        ];
        for (i, &(in_set, closed, hash, prev, bit, mode, want)) in table.iter().enumerate() {
            let f = Facts {
                in_set,
                closed,
                hash,
                prev,
            };
            assert_eq!(decide(&f, bit, mode), want, "row {i}: {f:?} output {bit}");
        }
    }

    #[test]
    fn a_stale_copy_is_rewritten_by_the_dirty_pass_and_a_current_one_is_not() {
        let marked = state(7, None, VDIR | CSV, 0);
        let half = state(7, None, VDIR | CSV, VDIR);
        let facts = |prev, in_set| Facts {
            in_set,
            closed: false,
            hash: 7,
            prev,
        };
        let w = Action::Write { in_set: false };
        assert_eq!(decide_dirty(&facts(Some(&marked), true), VDIR), w);
        assert_eq!(decide_dirty(&facts(Some(&marked), true), CSV), w);
        assert_eq!(
            decide_dirty(&facts(Some(&half), true), VDIR),
            Action::Unchanged
        );
        assert_eq!(decide_dirty(&facts(Some(&half), true), CSV), w);
        assert_eq!(
            decide_dirty(&facts(Some(&marked), false), CSV),
            Action::Remove
        );
        assert_eq!(decide_dirty(&facts(None, false), CSV), Action::Nothing);
    }

    #[test]
    fn the_state_keeps_each_outputs_bits() {
        let now = || state(8, None, 0, 0);
        // New item to two outputs.
        assert_eq!(
            next_state(None, now, VDIR | CSV, 0, 0),
            StateChange::Put(state(8, None, VDIR | CSV, VDIR | CSV))
        );
        // A new version written to vdir only: the CSV copy becomes stale, still held.
        let prev = state(7, None, VDIR | CSV, VDIR | CSV);
        assert_eq!(
            next_state(Some(&prev), now, VDIR, 0, 0),
            StateChange::Put(state(8, None, VDIR | CSV, VDIR))
        );
        // The same version written to the stale output: both current again.
        let half = state(8, None, VDIR | CSV, VDIR);
        assert_eq!(
            next_state(Some(&half), now, CSV, 0, 0),
            StateChange::Put(state(8, None, VDIR | CSV, VDIR | CSV))
        );
        // Removed from one output: the other still holds it.
        assert_eq!(
            next_state(Some(&prev), now, 0, CSV, 0),
            StateChange::Put(state(7, None, VDIR, VDIR))
        );
        // Removed from the last output: forgotten.
        assert_eq!(
            next_state(Some(&prev), now, 0, VDIR | CSV, 0),
            StateChange::Delete
        );
        assert_eq!(next_state(None, now, 0, VDIR, 0), StateChange::Keep);
        // Refused by the CSV, written to vdir: the CSV owes it (held, not current).
        assert_eq!(
            next_state(Some(&prev), now, VDIR, 0, CSV),
            StateChange::Put(state(8, None, VDIR | CSV, VDIR))
        );
        // Refused by its only output, new: a row remembers that the CSV owes it.
        assert_eq!(
            next_state(None, now, 0, 0, CSV),
            StateChange::Put(state(8, None, CSV, 0))
        );
        // A removal the CSV refused stays owed; vdir's went through.
        assert_eq!(
            next_state(Some(&prev), now, 0, VDIR, CSV),
            StateChange::Put(state(7, None, CSV, 0))
        );
        assert_eq!(next_state(Some(&prev), now, 0, 0, 0), StateChange::Keep);
    }

    #[test]
    fn whole_file_is_rewritten_when_either_side_is_full_or_changed_or_it_is_missing() {
        let f = |side_full, recovering, exists, changed| SheetFacts {
            side_full,
            recovering,
            exists,
            changed,
        };
        let quiet = f(false, false, true, false);
        assert_eq!(whole_file([quiet, quiet]), FullSheet::Current);
        for one in [
            f(true, false, true, false),
            f(false, true, true, false),
            f(false, false, false, false),
            f(false, false, true, true),
        ] {
            assert_eq!(whole_file([one, quiet]), FullSheet::Rewritten, "{one:?}");
            assert_eq!(whole_file([quiet, one]), FullSheet::Rewritten, "{one:?}");
        }
    }

    #[test]
    fn full_sheet_is_rewritten_when_full_missing_or_small_enough() {
        let f = |side_full, recovering, exists, changed| SheetFacts {
            side_full,
            recovering,
            exists,
            changed,
        };
        assert_eq!(
            full_sheet(f(true, false, true, false)),
            Some(FullSheet::Rewritten)
        );
        assert_eq!(
            full_sheet(f(false, true, true, false)),
            Some(FullSheet::Rewritten)
        );
        assert_eq!(
            full_sheet(f(false, false, false, false)),
            Some(FullSheet::Rewritten)
        );
        assert_eq!(
            full_sheet(f(false, false, true, false)),
            Some(FullSheet::Current)
        );
        assert_eq!(full_sheet(f(false, false, true, true)), None);
        assert_eq!(by_size(20_000, 20_000), FullSheet::Rewritten);
        assert_eq!(by_size(20_001, 20_000), FullSheet::Stale);
    }

    #[test]
    fn stamps_move_only_when_the_side_changed() {
        assert_eq!(next_stamp(Some(5), 9, true), Some(9));
        assert_eq!(next_stamp(Some(5), 9, false), Some(5));
        assert_eq!(next_stamp(None, 9, false), None);
    }

    #[test]
    fn a_threshold_needs_both_its_share_and_its_minimum() {
        let t = Threshold {
            percent: 50,
            min: 20,
        };
        assert!(t.exceeded(21, 40), "52% and 21");
        assert!(!t.exceeded(20, 40), "50% is not more than half");
        assert!(!t.exceeded(19, 20), "95% but under 20");
        assert!(t.exceeded(20, 20));
        assert!(!t.exceeded(0, 0));
        assert!(t.exceeded(u64::MAX, u64::MAX), "no overflow");
    }

    fn gone(
        key: Key,
        active: Option<bool>,
        client: Option<(i64, bool)>,
        status: Option<SiStatus>,
    ) -> RemovalFacts {
        RemovalFacts {
            key,
            active,
            client: client.map(|(c, a)| (Key::new(Kind::Client, c), a)),
            status,
        }
    }

    #[test]
    fn removals_are_grouped_by_their_main_cause_most_first() {
        let l = |id| Key::new(Kind::Location, id);
        let u = |id| Key::new(Kind::User, id);
        let si = |n| Key::new(Kind::Si, n);
        let mut removals = vec![
            // A client user made inactive by the client's cascade: the client is the cause.
            gone(u(1), Some(false), Some((4, false)), None),
            gone(u(2), Some(false), Some((4, false)), None),
            gone(l(1), Some(true), Some((4, false)), None),
            // A location made inactive itself.
            gone(l(2), Some(false), Some((1, true)), None),
            // An agent made inactive.
            gone(u(3), Some(false), None, None),
            // An SI put on hold, even at an inactive client.
            gone(si(1001), None, Some((4, false)), Some(SiStatus::OnHold)),
        ];
        let causes = removal_causes(&removals);
        let shown: Vec<String> = causes.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            shown,
            [
                "client SM-C4 made inactive: 3 contacts",
                "locations made inactive: 1 contact",
                "users made inactive: 1 contact",
                "SI status changed to On Hold: 1 task",
            ]
        );
        // 5 of 9 contacts is more than half, but under the minimum of 20.
        let t = Threshold {
            percent: 50,
            min: 5,
        };
        let g = removal_guard(&removals, (9, 10), t).expect("stopped");
        assert_eq!((g.side, g.removals, g.held), ("contacts", 5, 9));
        assert!(
            g.to_string()
                .contains("remove 5 of the profile's 9 contacts"),
            "{g}"
        );
        assert_eq!(
            removal_guard(&removals, (10, 10), t),
            None,
            "exactly half goes on"
        );
        // Tasks are weighed against the profile's tasks.
        removals.retain(|r| r.key.kind == Kind::Si);
        let t1 = Threshold {
            percent: 50,
            min: 1,
        };
        assert_eq!(
            removal_guard(&removals, (100, 1), t1).map(|g| g.side),
            Some("tasks")
        );
        assert_eq!(removal_guard(&removals, (100, 2), t1), None);
    }
}
