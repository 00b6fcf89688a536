//! The command line: argument definitions (clap derive) and a short dispatch of each
//! command to its handler. Each command group has a file of its own below; the work lives
//! in the library modules, the human summaries of export and ingest in [`crate::summary`].

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::error::{Error, Result};
use crate::store::Store;

mod admin;
mod db;
mod export;
mod fields;
mod ingest;
mod print;
mod reconcile;
mod report;
mod undo;
mod watch;

#[derive(Debug, Parser)]
#[command(
    name = "smsync",
    version,
    about = "Offline file bridge between the Service Master database and Outlook",
    after_help = crate::error::exit::HELP
)]
pub struct Cli {
    /// The Service Master database: an SQLite file (a path, or sqlite:PATH) or a
    /// PostgreSQL database (postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE).
    #[arg(
        long,
        global = true,
        env = "SMSYNC_DB",
        default_value = "servicemaster.db"
    )]
    pub db: PathBuf,
    /// The drop folder that holds one folder per profile.
    #[arg(long, global = true, env = "SMSYNC_DROP", default_value = "dropbox")]
    pub drop: PathBuf,
    /// Outlook's short-date format for CSV dates: M/D/YYYY (en-US), DD.MM.YYYY, …;
    /// overrides the profile's date_format setting for this run (default M/D/YYYY).
    #[arg(long, global = true, env = "SMSYNC_DATE_FORMAT")]
    pub date_format: Option<String>,
    /// Print only the summary: no per-file detail and no progress bar.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, migrate or fill the database.
    #[command(subcommand)]
    Db(DbCommand),
    /// Add, change, show and list Service Master records.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Write what changed since a profile's stamps to its drop folder.
    Export(ExportArgs),
    /// Apply the files in a profile's inbox (or the files named) to the database.
    Ingest(IngestArgs),
    /// Ingest, then export: one sync of one profile or all.
    Sync(SyncArgs),
    /// Show the journal: every change and every refused or conflicting edit.
    Journal {
        #[arg(long)]
        profile: Option<String>,
        /// How many rows, newest first.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Show what smsync reads from an input file (items, keys, categories, fields)
    /// without applying anything.
    Inspect {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Run continuously: ingest dropped files, export database changes.
    Watch(WatchArgs),
    /// Take an ingest run back: revert its database changes from the journal's old values
    /// (a field changed later is kept and reported).
    Undo(UndoArgs),
    /// Internal: reads a PST file and exits 0 unless the reader crashes. Ingest runs it in
    /// a child process before reading a PST itself.
    #[command(name = "check-pst", hide = true)]
    CheckPst { file: PathBuf },
    /// Reset Outlook Sync Dates: the profile's next export rewrites everything.
    Reset {
        /// The profile: the employee's first and last name, exactly.
        #[arg(long)]
        profile: String,
    },
    /// Print the field mapping (the "Outlook Field Mapping").
    Fields {
        /// Only this kind (client, location, user, tech, si, employee).
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Profiles, their stamps, and what they would sync.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// The admin report of every profile: stamps, pending counts, backlog, rejected files,
    /// refused edits and conflicts, recent runs, and sync activity over time.
    Report(ReportArgs),
    /// Compare a full export of a profile's Outlook (CSV, PST or vdir folder) with what
    /// the profile should hold: duplicates, stale, missing and mismatched items, and a
    /// cleanup package in <profile>/reconcile/<run>/. Changes no record and no stamp.
    Reconcile(ReconcileArgs),
    /// Build the sample company in DIR and run the main job end to end.
    Demo {
        /// Where to build it; it is created, and must be empty or a previous demo.
        #[arg(default_value = "smsync-demo")]
        dir: PathBuf,
    },
}

/// Which profiles a command works on.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Profiles {
    /// One profile: the employee's first and last name, exactly.
    #[arg(long)]
    pub profile: Option<String>,
    /// Every employee's profile.
    #[arg(long)]
    pub all: bool,
}

/// The per-profile settings given on the command line: each overrides the profile's own
/// setting (`smsync admin set SM-E<id> NAME=VALUE`) for this run.
#[derive(Debug, Args, Default)]
pub struct SettingsArgs {
    /// vCard version of the vdir contacts: 3.0 or 4.0 (Outlook's files are always 2.1).
    /// Default: the profile's vcard_version, else 3.0.
    #[arg(long, value_parser = ["3.0", "4.0"])]
    pub vcard_version: Option<String>,
    /// Encoding of the Outlook CSV files, e.g. utf-8 (with a BOM) or windows-1252.
    /// Default: the profile's csv_encoding, else utf-8.
    #[arg(long)]
    pub csv_encoding: Option<String>,
    /// Language of the Outlook CSV headers: en, de, fr, es, it, nl, pt-BR, pl, sv, ja.
    /// Default: the profile's csv_language, else en.
    #[arg(long)]
    pub csv_language: Option<String>,
    /// Up to this many items, a run that changed something rewrites outlook/contacts.csv
    /// and tasks.csv in full; above it only a full run (first run, after reset) does.
    /// Default: the profile's full_csv_limit, else 20000.
    #[arg(long)]
    pub full_csv_limit: Option<u64>,
    /// Which outputs to write: a comma-separated list of vdir, outlook, outlook-vcards, pst.
    /// Default: the profile's outputs, else all.
    #[arg(long)]
    pub outputs: Option<String>,
    /// Neutralise spreadsheet formulas in the CSV files (a leading ' before =, +, -, @):
    /// for CSV meant for a spreadsheet, not for Outlook's import. `--csv-safe=false` turns
    /// a profile's csv_safe off for this run.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub csv_safe: Option<bool>,
}

impl SettingsArgs {
    /// The overrides of this run, with the global `--date-format`.
    pub fn overrides(&self, date_format: Option<&str>) -> crate::profile::Overrides {
        crate::profile::Overrides {
            date_format: date_format.map(str::to_string),
            csv_language: self.csv_language.clone(),
            csv_encoding: self.csv_encoding.clone(),
            vcard_version: self.vcard_version.clone(),
            outputs: self.outputs.clone(),
            full_csv_limit: self.full_csv_limit,
            csv_safe: self.csv_safe,
        }
    }
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub profiles: Profiles,
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Keep the change files of outlook/changes/ this many days after a later full sheet
    /// replaced them (a run not yet replaced is always kept).
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub keep_changes_days: u64,
    /// Print what each output would write and remove, and write nothing (no file, no
    /// stamp).
    #[arg(long)]
    pub dry_run: bool,
    /// Proceed even when the run would remove more of a profile's items than its
    /// removal_guard_percent and removal_guard_min allow.
    #[arg(long)]
    pub allow_mass_removal: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Write the report as one self-contained HTML file.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "json",
        conflicts_with = "json"
    )]
    pub html: Option<PathBuf>,
    /// Print the report as JSON instead.
    #[arg(long)]
    pub json: bool,
    /// How many days of the journal (refused edits, conflicts, activity) to cover.
    #[arg(long, value_name = "N", default_value_t = 14)]
    pub days: u32,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub profiles: Profiles,
    /// The full export: Outlook CSV files (contacts, tasks; any language the readers
    /// know), a PST, or a vdir folder (with contacts/ and/or tasks/). With --all, each
    /// profile's inbox is searched for full exports instead.
    pub files: Vec<PathBuf>,
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write the findings as one self-contained HTML page (with --all, one page per
    /// profile: FILE's name with the profile's name added).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The profile: the employee's first and last name, exactly.
    #[arg(long)]
    pub profile: String,
    /// Files to ingest instead of the inbox (they are copied to processed/ or rejected/,
    /// not moved).
    pub files: Vec<PathBuf>,
    /// Print the exact plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Proceed even when the run would change more of the profile's items than its
    /// change_guard_percent and change_guard_min allow, or blank more fields than its
    /// blank_guard_max.
    #[arg(long)]
    pub allow_mass_change: bool,
    /// Refuse files larger than this many MB.
    #[arg(long, default_value_t = 100)]
    pub max_size_mb: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UndoArgs {
    /// The run: its report's name in <profile>/reports/ (ingest-<time>, with or without
    /// .json), as `ingest` prints it and `journal` shows it.
    pub run: String,
    /// Show what would be reverted and kept, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Only this profile (default: every employee's).
    #[arg(long)]
    pub profile: Option<String>,
    /// Every employee's profile (the default).
    #[arg(long, conflicts_with = "profile")]
    pub all: bool,
    /// Poll the inboxes every SECONDS instead of file-system events (network shares).
    #[arg(long, value_name = "SECONDS")]
    pub poll: Option<f64>,
    /// A dropped file is read once its size and time are unchanged this long.
    #[arg(long, default_value_t = 1000)]
    pub debounce_ms: u64,
    /// How often the database is checked for changes.
    #[arg(long, default_value_t = 500)]
    pub db_interval_ms: u64,
    /// Log one JSON object per line instead of text.
    #[arg(long)]
    pub json_logs: bool,
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Keep the change files of outlook/changes/ this many days after a later full sheet
    /// replaced them (a run not yet replaced is always kept).
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub keep_changes_days: u64,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub profiles: Profiles,
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// As `ingest --allow-mass-change`.
    #[arg(long)]
    pub allow_mass_change: bool,
    /// As `export --allow-mass-removal`.
    #[arg(long)]
    pub allow_mass_removal: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create the database, or migrate it to this version's schema.
    Init,
    /// Fill an empty database with sample or synthetic data.
    Seed(SeedArgs),
    /// Copy a whole SQLite database into an empty PostgreSQL database, then check that
    /// every table holds as many rows in both.
    Copy(CopyArgs),
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The SQLite database to copy (a path, or sqlite:PATH); it is only read.
    #[arg(long)]
    pub from: PathBuf,
    /// The PostgreSQL database to fill (postgres://…); it must exist and be empty.
    #[arg(long)]
    pub to: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// A small, realistic company: 5 clients, their locations and users, 4 agents
    /// (2 of them employees who sync), 10 tech entries and 20 SIs.
    #[arg(long, conflicts_with = "scale", required_unless_present = "scale")]
    pub sample: bool,
    /// N synthetic contacts in the sample's shape, plus N/10 SIs; deterministic per seed.
    #[arg(long, value_name = "N")]
    pub scale: Option<u64>,
    /// The seed of --scale.
    #[arg(long, default_value_t = 1, requires = "scale")]
    pub seed: u64,
    /// The number of SIs of --scale (default N/10).
    #[arg(long, requires = "scale")]
    pub sis: Option<u64>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Add a record: admin add KIND field=value...
    Add {
        /// client, location, user, tech, si or employee
        kind: String,
        /// field=value pairs; `smsync fields --kind KIND` lists the fields
        values: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Change a record: admin set KEY field=value...
    Set {
        key: String,
        values: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one record.
    Show {
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// List the records of a kind.
    List {
        kind: String,
        #[arg(long)]
        json: bool,
    },
}

/// Opens the database every command works on (the one place that does).
pub fn open(db: &Path) -> Result<Box<dyn Store>> {
    crate::store::open(db)
}

/// Runs a parsed command line; the error carries the exit code.
pub fn run(cli: Cli) -> Result<()> {
    let Cli {
        db,
        drop,
        date_format,
        quiet,
        command,
    } = cli;
    crate::summary::set_quiet(quiet);
    let dates = date_format.as_deref();
    let result = match command {
        Command::Db(DbCommand::Init) => db::init(&db),
        Command::Db(DbCommand::Seed(args)) => db::seed(&db, &args),
        Command::Db(DbCommand::Copy(args)) => db::copy(&args),
        Command::Admin(cmd) => admin::run(&db, cmd),
        Command::Export(args) => export::export(&db, &drop, dates, &args),
        Command::Ingest(args) => ingest::ingest(&db, &drop, dates, &args),
        Command::Sync(args) => export::sync(&db, &drop, dates, &args),
        Command::Journal {
            profile,
            limit,
            json,
        } => ingest::journal(&db, profile.as_deref(), limit, json),
        Command::Inspect { file, json } => ingest::inspect(&db, &file, dates, json),
        Command::CheckPst { file } => ingest::check_pst(&file),
        Command::Watch(args) => watch::watch(&db, &drop, dates, &args),
        Command::Undo(args) => undo::undo(&db, &args),
        Command::Reset { profile } => export::reset(&db, &profile),
        Command::Fields { kind, json } => fields::fields(kind.as_deref(), json),
        Command::Status { json } => export::status(&db, &drop, json),
        Command::Report(args) => report::report(&db, &drop, &args),
        Command::Reconcile(args) => reconcile::reconcile(&db, &drop, dates, &args),
        Command::Demo { dir } => return crate::demo::run(&dir),
    };
    result.map_err(|e| db::explain(&db, e))
}

/// The profiles named by `--profile` or `--all`: one profile (an error when it is
/// inactive or shares its folder), or every active one, with an error for each profile
/// that shares its folder with another employee's (the others go on). Inactive ones are
/// passed over, each with a note in its folder.
pub fn select_profiles(
    store: &dyn Store,
    drop: &Path,
    sel: &Profiles,
) -> Result<Vec<(crate::store::Profile, Result<()>)>> {
    use crate::profile::{PassedOver, clash_error, note_inactive, select_all};
    match &sel.profile {
        Some(name) => Ok(vec![(crate::profile::one(store, name)?, Ok(()))]),
        None => {
            let all = store.profiles()?;
            if all.is_empty() {
                return Err(Error::invalid(
                    "no employees sync yet: add one with `smsync admin add employee user=SM-U<id>`",
                ));
            }
            let chosen = select_all(all);
            let mut out: Vec<_> = chosen.run.into_iter().map(|p| (p, Ok(()))).collect();
            for (p, why) in chosen.passed {
                match why {
                    PassedOver::Inactive => {
                        if let Err(e) = note_inactive(drop, &p) {
                            eprintln!("smsync: warning: profile '{}': {e}", p.name);
                        }
                    }
                    PassedOver::Clash { with } => {
                        let e = clash_error(&p, &with);
                        out.push((p, Err(e)));
                    }
                }
            }
            out.sort_by_key(|(p, _)| p.employee.id);
            Ok(out)
        }
    }
}
