//! The cleanup package of a reconcile run, `<profile>/reconcile/<run>/`: the items to delete
//! in Outlook with the reason for each (`delete-in-outlook.csv`, English columns like
//! `outlook/changes/*-removals.csv`), the missing and mismatched items to import
//! (`contacts-to-import.csv`, `tasks-to-import.csv`: rows of the Outlook CSV codec in the
//! profile's language, date format and encoding), a corrected Outlook data file that holds
//! exactly the synced set (`corrected.pst`, by `pst_write`), and `README.txt` with the steps
//! in order.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::plan::{Expected, Findings, Side};
use crate::codec::outlook_csv::{self, Codec, Encoding, Sheet, Sink};
use crate::error::{Error, Result};
use crate::model::Key;
use crate::profile::Effective;

/// The header of the delete list (smsync's own, so English, as the removals list).
pub const DELETE_HEADER: [&str; 6] = ["Type", "Key", "Name", "Reason", "File", "Where"];

pub const DELETE_FILE: &str = "delete-in-outlook.csv";
pub const CONTACTS_FILE: &str = "contacts-to-import.csv";
pub const TASKS_FILE: &str = "tasks-to-import.csv";
pub const README_FILE: &str = "README.txt";
pub const PST_FILE: &str = "corrected.pst";

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct Package {
    pub dir: PathBuf,
    /// The files, by name, in the order of the steps.
    pub files: Vec<String>,
    /// Items to delete, contacts and tasks to import.
    pub delete: usize,
    pub import_contacts: usize,
    pub import_tasks: usize,
    /// Items left out of an import sheet: a character the encoding cannot hold.
    pub left_out: Vec<String>,
}

/// A new folder for the run under `root` (`<profile>/reconcile`): `run`, or `run-2`, … when
/// a run of the same microsecond exists.
pub fn run_dir(root: &Path, run: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
    for n in 1.. {
        let dir = if n == 1 {
            root.join(run)
        } else {
            root.join(format!("{run}-{n}"))
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(&dir, e)),
        }
    }
    unreachable!("some name is free")
}

/// A cell the encoding can hold: what it cannot becomes `?` (the delete list names the
/// item by its key as well).
fn encodable(s: &str, enc: Encoding) -> String {
    s.chars()
        .map(|c| if enc.holds(c) { c } else { '?' })
        .collect()
}

fn sheet_bytes(
    header: &[&str],
    rows: &[Vec<String>],
    enc: Encoding,
    path: &Path,
) -> Result<Vec<u8>> {
    let mut sink = Sink::with_header(Vec::new(), header, enc).map_err(|e| Error::io(path, e))?;
    for r in rows {
        sink.row(r).map_err(|e| Error::io(path, e))?;
    }
    sink.finish().map_err(|e| Error::io(path, e))
}

/// Writes the package into `dir` (made by [`run_dir`]).
pub fn write(
    dir: &Path,
    profile: &str,
    findings: &Findings,
    expected: &Expected,
    eff: &Effective,
    inputs: &[String],
) -> Result<Package> {
    let enc = eff.encoding;
    let lang = eff.csv_language.parse().unwrap_or_default();
    let mut pkg = Package {
        dir: dir.to_path_buf(),
        files: Vec::new(),
        delete: 0,
        import_contacts: 0,
        import_tasks: 0,
        left_out: Vec::new(),
    };

    // Import first: the missing and mismatched items, as the database has them.
    let mut keys: Vec<Key> = findings
        .missing
        .iter()
        .chain(&findings.mismatched)
        .filter_map(|f| f.key.as_deref()?.parse().ok())
        .collect();
    keys.sort();
    keys.dedup();
    for (side, sheet, name) in [
        (Side::Contacts, Sheet::Contacts, CONTACTS_FILE),
        (Side::Tasks, Sheet::Tasks, TASKS_FILE),
    ] {
        let codec = Codec::with_language(sheet, eff.dates.clone(), lang);
        let mut rows = Vec::new();
        for k in keys.iter().filter(|k| Side::of(k.kind) == side) {
            let Some(item) = expected.items.get(k) else {
                continue;
            };
            let mut row = codec.row(item);
            if eff.csv_safe {
                outlook_csv::neutralise(&mut row);
            }
            let bad = codec.check(&row, enc);
            if bad.is_empty() {
                rows.push(row);
            } else {
                let what: Vec<String> = bad
                    .iter()
                    .map(|b| format!("'{}' (U+{:04X}) in {}", b.ch, b.ch as u32, b.column))
                    .collect();
                pkg.left_out.push(format!(
                    "{k} {}: {} cannot hold {}; enter it by hand or choose csv_encoding utf-8",
                    item.display_name(),
                    enc,
                    what.join(", ")
                ));
            }
        }
        if rows.is_empty() {
            continue;
        }
        let path = dir.join(name);
        crate::fsutil::write_atomic(&path, &sheet_bytes(codec.header(), &rows, enc, &path)?)?;
        match side {
            Side::Contacts => pkg.import_contacts = rows.len(),
            Side::Tasks => pkg.import_tasks = rows.len(),
        }
        pkg.files.push(name.to_string());
    }

    // Then delete: stale items and the extra copies.
    let mut rows = Vec::new();
    for f in findings.stale.iter().chain(&findings.duplicates) {
        let t = match f.side {
            Side::Contacts => "Contact",
            Side::Tasks => "Task",
        };
        rows.push(
            [
                t,
                f.key.as_deref().unwrap_or(""),
                &f.name,
                &f.reason,
                f.file.as_deref().unwrap_or(""),
                f.source.as_deref().unwrap_or(""),
            ]
            .iter()
            .map(|c| encodable(c, enc))
            .collect::<Vec<String>>(),
        );
    }
    if !rows.is_empty() {
        let path = dir.join(DELETE_FILE);
        crate::fsutil::write_atomic(&path, &sheet_bytes(&DELETE_HEADER, &rows, enc, &path)?)?;
        pkg.delete = rows.len();
        pkg.files.push(DELETE_FILE.to_string());
    }

    // Or in one go: a data file with exactly the synced set, in key order.
    let mut all: Vec<(&Key, &crate::codec::item::Item)> = expected.items.iter().collect();
    all.sort_by_key(|(k, _)| **k);
    crate::pst_write::write_pst(&dir.join(PST_FILE), all.into_iter().map(|(_, i)| i))?;
    pkg.files.push(PST_FILE.to_string());

    let readme = readme(profile, findings, &pkg, eff, inputs);
    crate::fsutil::write_atomic(&dir.join(README_FILE), readme.as_bytes())?;
    pkg.files.insert(0, README_FILE.to_string());
    Ok(pkg)
}

/// The steps, in order: back up, import, delete, check.
fn readme(
    profile: &str,
    f: &Findings,
    pkg: &Package,
    eff: &Effective,
    inputs: &[String],
) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "smsync reconcile of profile '{profile}'");
    let _ = writeln!(s, "Compared: {}", inputs.join(", "));
    let _ = writeln!(
        s,
        "Found: {} duplicate(s), {} stale, {} missing, {} mismatched, {} unreadable.",
        f.duplicates.len(),
        f.stale.len(),
        f.missing.len(),
        f.mismatched.len(),
        f.unreadable.len()
    );
    let _ = writeln!(
        s,
        "Sheets are in language {} and encoding {}; dates as {}.\n",
        eff.csv_language,
        eff.encoding,
        eff.dates.pattern()
    );
    let _ = writeln!(s, "Do these steps in Outlook, in this order:\n");
    let mut n = 0;
    let mut step = |s: &mut String, text: String| {
        n += 1;
        let _ = writeln!(s, "{n}. {text}\n");
    };
    step(
        &mut s,
        "Back up: File > Open & Export > Import/Export > Export to a file > Outlook Data \
         File (.pst), with the Contacts and Tasks folders."
            .into(),
    );
    for (count, file, folder) in [
        (pkg.import_contacts, CONTACTS_FILE, "Contacts"),
        (pkg.import_tasks, TASKS_FILE, "Tasks"),
    ] {
        if count > 0 {
            step(
                &mut s,
                format!(
                    "Import {file} ({count} item(s): missing, and mismatched ones with the \
                     database's values): File > Open & Export > Import/Export > Import from \
                     another program or file > Comma Separated Values; choose \"Replace \
                     duplicates with items imported\"; import into the {folder} folder."
                ),
            );
        }
    }
    if pkg.delete > 0 {
        step(
            &mut s,
            format!(
                "Delete the {} item(s) listed in {DELETE_FILE}, each for the reason given: \
                 find a contact by its key in the field User 1, a task by Billing \
                 Information (a copy without a key by its name, in the file and place \
                 named). Of a key listed as appearing several times, keep one copy.",
                pkg.delete
            ),
        );
    }
    step(
        &mut s,
        format!(
            "Or, instead of the steps above: {PST_FILE} holds exactly what the profile \
             should hold (every synced contact and open SI, with categories and keys). Open \
             it (File > Open & Export > Open Outlook Data File) and use its Contacts and \
             Tasks folders in place of the old ones. smsync writes this file itself and it \
             has not yet been opened in Outlook at smsync's tests: keep the backup."
        ),
    );
    if !f.unreadable.is_empty() {
        step(
            &mut s,
            format!(
                "{} item(s) could not be read (`smsync reconcile --json` lists them with \
                 the reader's reason): correct them in Outlook.",
                f.unreadable.len()
            ),
        );
    }
    step(
        &mut s,
        format!(
            "Export the profile's Outlook again and run `smsync reconcile --profile \
             \"{profile}\" FILE...` on it: it should find nothing."
        ),
    );
    if !pkg.left_out.is_empty() {
        let _ = writeln!(s, "Left out of the import sheets:");
        for l in &pkg.left_out {
            let _ = writeln!(s, "  {l}");
        }
    }
    s
}
