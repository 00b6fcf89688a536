//! The command line: argument definitions (clap derive) and the dispatch of each command
//! to the library. Output formatting lives here; the work lives in the library modules.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::admin;
use crate::error::{Error, Result};
use crate::fields::{self, FieldRow};
use crate::model::{Key, Kind};
use crate::seed;
use crate::store::{SqliteStore, Store};

#[derive(Debug, Parser)]
#[command(
    name = "smsync",
    version,
    about = "Offline file bridge between the Service Master database and Outlook",
    after_help = "Exit codes: 0 success, 1 failure, 2 usage error (unknown field, bad value, \
                  unknown key or profile), 3 some items refused."
)]
pub struct Cli {
    /// The Service Master database (SQLite file).
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
    /// Outlook's short-date format for CSV dates: M/D/YYYY (en-US), DD.MM.YYYY, …
    #[arg(
        long,
        global = true,
        env = "SMSYNC_DATE_FORMAT",
        default_value = "M/D/YYYY"
    )]
    pub date_format: String,
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

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub profiles: Profiles,
    /// vCard version of the vdir contacts: 3.0 or 4.0 (Outlook's files are always 2.1).
    #[arg(long, default_value = "3.0", value_parser = ["3.0", "4.0"])]
    pub vcard_version: String,
    /// Encoding of the Outlook CSV files: utf-8 (with a BOM) or windows-1252.
    #[arg(long, default_value = "utf-8", value_parser = ["utf-8", "windows-1252"])]
    pub csv_encoding: String,
    /// Up to this many items, a run that changed something rewrites outlook/contacts.csv
    /// and tasks.csv in full; above it only a full run (first run, after reset) does.
    #[arg(long, default_value_t = 20_000)]
    pub full_csv_limit: u64,
    /// Which outputs to write: a comma-separated list of vdir, outlook, outlook-vcards.
    #[arg(long, default_value = "vdir,outlook,outlook-vcards")]
    pub outputs: String,
    /// Neutralise spreadsheet formulas in the CSV files (a leading ' before =, +, -, @):
    /// for CSV meant for a spreadsheet, not for Outlook's import.
    #[arg(long)]
    pub csv_safe: bool,
    #[arg(long)]
    pub json: bool,
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
    /// Refuse files larger than this many MB.
    #[arg(long, default_value_t = 100)]
    pub max_size_mb: u64,
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
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub profiles: Profiles,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create the database, or migrate it to this version's schema.
    Init,
    /// Fill an empty database with sample or synthetic data.
    Seed(SeedArgs),
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

fn print_json<T: serde::Serialize + ?Sized>(v: &T) -> Result<()> {
    // Buffered: stdout is line-buffered, and a report of 10,000 items is 100,000 lines.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, v).map_err(|e| Error::Other(e.to_string()))?;
    writeln!(out).map_err(|e| Error::io("stdout", e))?;
    out.flush().map_err(|e| Error::io("stdout", e))
}

pub fn open(db: &Path) -> Result<SqliteStore> {
    SqliteStore::open(db)
}

/// Runs a parsed command line; the error carries the exit code.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Db(DbCommand::Init) => {
            let (_, before, after) = SqliteStore::create(&cli.db)?;
            if before == after {
                println!("{}: schema version {after}, up to date", cli.db.display());
            } else {
                println!("{}: schema version {before} -> {after}", cli.db.display());
            }
            Ok(())
        }
        Command::Db(DbCommand::Seed(args)) => {
            let mut store = open(&cli.db)?;
            let started = std::time::Instant::now();
            let seeded = if args.sample {
                seed::sample(&mut store)?
            } else {
                let n = args.scale.expect("clap requires --sample or --scale");
                seed::scale(
                    &mut store,
                    n,
                    args.sis,
                    args.seed,
                    std::io::stderr().is_terminal(),
                )?
            };
            let secs = started.elapsed().as_secs_f64();
            if args.json {
                print_json(
                    &json!({"seeded": seeded, "contacts": seeded.contacts(), "seconds": secs}),
                )
            } else {
                println!(
                    "seeded {} clients, {} locations, {} users, {} tech entries, {} SIs, \
                     {} employees ({} contacts) in {secs:.1} s",
                    seeded.clients,
                    seeded.locations,
                    seeded.users,
                    seeded.tech,
                    seeded.sis,
                    seeded.employees,
                    seeded.contacts()
                );
                Ok(())
            }
        }
        Command::Admin(cmd) => run_admin(&cli.db, cmd),
        Command::Export(args) => {
            let mut store = open(&cli.db)?;
            let opts = crate::export::Options {
                vcard: crate::codec::vcard::Version::parse(&args.vcard_version)
                    .expect("clap checked"),
                encoding: crate::codec::outlook_csv::Encoding::parse(&args.csv_encoding)
                    .expect("clap checked"),
                dates: crate::codec::text::DateFormat::parse(&cli.date_format)?,
                full_sheet_limit: args.full_csv_limit,
                outputs: crate::export::Outputs::parse(&args.outputs)?,
                csv_safe: args.csv_safe,
                ..Default::default()
            };
            let profiles = select_profiles(&store, &args.profiles)?;
            let mut reports = Vec::new();
            for p in &profiles {
                let r = crate::export::export_profile(&mut store, p, &cli.drop, &opts, &mut || {})?;
                if !args.json {
                    print_export(&r);
                }
                reports.push(r);
            }
            if args.json {
                return print_json(&json!({ "profiles": reports }));
            }
            Ok(())
        }
        Command::Ingest(args) => {
            let mut store = open(&cli.db)?;
            let profile = store.profile(&args.profile)?;
            let opts = crate::ingest::Options {
                dates: crate::codec::text::DateFormat::parse(&cli.date_format)?,
                dry_run: args.dry_run,
                max_size: args.max_size_mb * 1024 * 1024,
                pst_checker: std::env::current_exe().ok(),
                ..Default::default()
            };
            let r = crate::ingest::ingest(&mut store, &profile, &cli.drop, &args.files, &opts)?;
            if args.json {
                print_json(&r)?;
            } else {
                print_ingest(&r);
            }
            exit_with(r.exit_code())
        }
        Command::Sync(args) => {
            let mut store = open(&cli.db)?;
            let dates = crate::codec::text::DateFormat::parse(&cli.date_format)?;
            let profiles = select_profiles(&store, &args.profiles)?;
            let mut code = 0;
            let mut out = Vec::new();
            for p in &profiles {
                let iopts = crate::ingest::Options {
                    dates: dates.clone(),
                    pst_checker: std::env::current_exe().ok(),
                    ..Default::default()
                };
                let ing = crate::ingest::ingest(&mut store, p, &cli.drop, &[], &iopts)?;
                code = code.max(ing.exit_code());
                let p = store.profile(&p.name)?;
                let eopts = crate::export::Options {
                    dates: dates.clone(),
                    ..Default::default()
                };
                let exp =
                    crate::export::export_profile(&mut store, &p, &cli.drop, &eopts, &mut || {})?;
                if !args.json {
                    print_ingest(&ing);
                    print_export(&exp);
                }
                out.push(json!({"ingest": ing, "export": exp}));
            }
            if args.json {
                print_json(&json!({ "profiles": out }))?;
            }
            exit_with(code)
        }
        Command::Journal {
            profile,
            limit,
            json,
        } => {
            let store = open(&cli.db)?;
            let mut rows = Vec::new();
            store.journal_entries(profile.as_deref(), limit, &mut |e| {
                rows.push(e);
                Ok(())
            })?;
            if json {
                let list: Vec<_> = rows
                    .iter()
                    .map(|e| {
                        let mut v = serde_json::to_value(e).expect("entry");
                        v["at"] = crate::clock::format_micros(e.at).into();
                        v
                    })
                    .collect();
                return print_json(&serde_json::Value::Array(list));
            }
            for e in rows.iter().rev() {
                let opt = |o: &Option<String>| o.clone().unwrap_or_default();
                println!(
                    "{} {:<8} {:<16} {:<8} {:<12} {:<24} {} -> {}{}",
                    crate::clock::format_micros(e.at),
                    e.source,
                    opt(&e.profile),
                    opt(&e.item),
                    opt(&e.field),
                    e.outcome,
                    opt(&e.old_value),
                    opt(&e.new_value),
                    e.reason
                        .as_ref()
                        .map(|r| format!("  ({r})"))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
        Command::Inspect { file, json } => inspect(&file, &cli.date_format, json),
        Command::CheckPst { file } => {
            // A reader error is a clean refusal; only a crash or a hang is the caller's news.
            let _ = crate::codec::pst::read(&file);
            Ok(())
        }
        Command::Watch(args) => {
            let opts = crate::watch::Options {
                profile: args.profile.clone(),
                poll: args.poll.map(std::time::Duration::from_secs_f64),
                debounce: std::time::Duration::from_millis(args.debounce_ms),
                db_interval: std::time::Duration::from_millis(args.db_interval_ms),
                dates: crate::codec::text::DateFormat::parse(&cli.date_format)?,
                pst_checker: std::env::current_exe().ok(),
            };
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                signal_hook::flag::register(sig, stop.clone())
                    .map_err(|e| Error::Other(format!("cannot handle signals: {e}")))?;
            }
            crate::watch::run(&cli.db, &cli.drop, &opts, stop)
        }
        Command::Reset { profile } => {
            let mut store = open(&cli.db)?;
            let p = store.profile(&profile)?;
            store.reset(&p)?;
            println!(
                "reset the sync stamps of '{}' ({}): the next export rewrites everything",
                p.name, p.employee
            );
            Ok(())
        }
        Command::Fields { kind, json } => {
            let kinds: Vec<Kind> = match kind {
                Some(k) => vec![k.parse()?],
                None => Kind::ALL.to_vec(),
            };
            let rows: Vec<FieldRow> = kinds
                .iter()
                .flat_map(|&k| fields::of(k).iter().map(FieldRow::from))
                .collect();
            if json {
                return print_json(&rows);
            }
            print_fields(&rows);
            Ok(())
        }
        Command::Status { json } => {
            let store = open(&cli.db)?;
            let mut profiles = Vec::new();
            for p in store.profiles()? {
                let counts = store.sync_counts(&p)?;
                profiles.push((p, counts));
            }
            if json {
                let list: Vec<_> = profiles
                    .iter()
                    .map(|(p, c)| {
                        json!({
                            "profile": p.name,
                            "employee": p.employee,
                            "user": p.user,
                            "contacts_stamp": p.contacts_stamp.map(crate::clock::format_micros),
                            "tasks_stamp": p.tasks_stamp.map(crate::clock::format_micros),
                            "drop": cli.drop.join(&p.name),
                            "counts": c,
                        })
                    })
                    .collect();
                let mut records = serde_json::Map::new();
                for k in Kind::ALL {
                    records.insert(k.name().into(), store.count(k)?.into());
                }
                return print_json(&json!({
                    "database": cli.db,
                    "records": records,
                    "profiles": list,
                }));
            }
            println!("database {}", cli.db.display());
            let counts: Vec<String> = Kind::ALL
                .iter()
                .map(|&k| Ok(format!("{} {}", store.count(k)?, k.name())))
                .collect::<Result<_>>()?;
            println!("records: {}", counts.join(", "));
            if profiles.is_empty() {
                println!("no profiles: add one with `smsync admin add employee user=SM-U<id>`");
            }
            for (p, c) in &profiles {
                let stamp = |s: Option<i64>| {
                    s.map(crate::clock::format_micros)
                        .unwrap_or_else(|| "never (full export next)".into())
                };
                println!("profile '{}' ({}, user {})", p.name, p.employee, p.user);
                println!(
                    "  contacts: {} synced, {} changed since {}",
                    c.contacts,
                    c.contacts_pending,
                    stamp(p.contacts_stamp)
                );
                println!(
                    "  tasks:    {} synced, {} changed since {}",
                    c.tasks,
                    c.tasks_pending,
                    stamp(p.tasks_stamp)
                );
            }
            Ok(())
        }
        Command::Demo { dir } => crate::demo::run(&dir),
    }
}

/// The profiles named by `--profile` or `--all`.
pub fn select_profiles(store: &dyn Store, sel: &Profiles) -> Result<Vec<crate::store::Profile>> {
    match &sel.profile {
        Some(name) => Ok(vec![store.profile(name)?]),
        None => {
            let all = store.profiles()?;
            if all.is_empty() {
                return Err(Error::invalid(
                    "no employees sync yet: add one with `smsync admin add employee user=SM-U<id>`",
                ));
            }
            Ok(all)
        }
    }
}

pub fn print_export(r: &crate::export::Report) {
    let side = |c: &crate::export::Counts| {
        format!(
            "{} written, {} removed, {} unchanged",
            c.written, c.removed, c.unchanged
        )
    };
    let how = match (r.recovered, r.full) {
        (true, _) => " (recovered an interrupted export)",
        (false, true) => " (full)",
        _ => "",
    };
    println!("{}{how} -> {}", r.profile, r.folder.display());
    println!("  contacts: {}", side(&r.contacts));
    println!("  tasks:    {}", side(&r.tasks));
    for f in &r.change_files {
        println!("  for Outlook: {}", f.display());
    }
    for (name, state) in [
        ("contacts.csv", r.contacts_sheet),
        ("tasks.csv", r.tasks_sheet),
    ] {
        if state == crate::export::FullSheet::Stale {
            println!(
                "  outlook/{name} keeps the set of the last full run (over --full-csv-limit); \
                 this run's changes are in the files above"
            );
        }
    }
}

/// `smsync inspect`: the items of one input file as smsync reads them.
fn inspect(file: &Path, date_format: &str, json: bool) -> Result<()> {
    let bytes = std::fs::read(file).map_err(|e| Error::io(file, e))?;
    let format = crate::ingest::sniff(&bytes);
    let opts = crate::ingest::Options {
        dates: crate::codec::text::DateFormat::parse(date_format)?,
        pst_checker: std::env::current_exe().ok(),
        ..Default::default()
    };
    let mut notes = Vec::new();
    let items = crate::ingest::read_items(file, &bytes, format, &opts, &mut notes)
        .map_err(|e| Error::invalid(format!("{}: {e}", file.display())))?;
    let list: Vec<serde_json::Value> = items
        .iter()
        .map(|inc| match &inc.item {
            Ok(it) => {
                let fields: serde_json::Map<String, serde_json::Value> = it
                    .values
                    .iter()
                    .filter(|(f, _)| f.name != "category")
                    .map(|(f, v)| (f.name.to_string(), v.to_text().into()))
                    .collect();
                json!({
                    "source": inc.source,
                    "kind": it.kind,
                    "key": it.key,
                    "uid": it.uid,
                    "categories": it.categories(),
                    "update": it.has_update(),
                    "modified": it.modified.map(crate::clock::format_micros),
                    "fields": fields,
                })
            }
            Err(e) => json!({"source": inc.source, "error": e}),
        })
        .collect();
    if json {
        return print_json(&json!({
            "file": file, "format": format, "notes": notes, "items": list
        }));
    }
    println!("{} [{format}]: {} item(s)", file.display(), list.len());
    for n in &notes {
        println!("  note: {n}");
    }
    for (inc, v) in items.iter().zip(&list) {
        match &inc.item {
            Err(e) => println!("  {}: cannot be applied: {e}", inc.source),
            Ok(it) => {
                println!(
                    "  {}: {} {} categories [{}]{}",
                    inc.source,
                    it.kind,
                    it.label(),
                    it.categories().join(", "),
                    if it.has_update() { " (!Update)" } else { "" }
                );
                if let Some(fields) = v["fields"].as_object() {
                    for (k, val) in fields {
                        if val.as_str().is_some_and(|s| !s.is_empty()) {
                            println!("    {k:<12} {}", val.as_str().unwrap_or_default());
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Ends the process with `code` when it is not 0 (after output is flushed).
fn exit_with(code: i32) -> Result<()> {
    if code != 0 {
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        std::process::exit(code);
    }
    Ok(())
}

/// The human summary of an ingest, written in one piece (thousands of lines are common).
pub fn print_ingest(r: &crate::ingest::Report) {
    use std::fmt::Write as _;
    let mut out = String::new();
    let t = &r.tally;
    let dry = if r.dry_run {
        " (dry run: nothing changed)"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "{}: ingested {} file(s){dry}: {} applied, {} created, {} unchanged, {} skipped, \
         {} refused, {} conflicts",
        r.profile,
        r.files.len(),
        t.applied,
        t.created,
        t.unchanged,
        t.skipped,
        t.refused,
        t.conflicts
    );
    for f in &r.files {
        let to = f
            .moved_to
            .as_ref()
            .map(|p| format!(" -> {}", p.display()))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} [{}, {}]{to}",
            f.file.display(),
            f.format,
            f.outcome
        );
        if let Some(e) = &f.error {
            let _ = writeln!(out, "    error: {e}");
        }
        for n in &f.notes {
            let _ = writeln!(out, "    note: {n}");
        }
        for i in &f.items {
            if i.outcome == crate::ingest::ItemOutcome::Skipped && !r.dry_run {
                continue;
            }
            let key = i.key.clone().unwrap_or_default();
            let why = i
                .reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            let _ = writeln!(out, "    {} {key} {}{why}", i.source, i.outcome);
            for c in &i.fields {
                let _ = writeln!(
                    out,
                    "      {} {:?} -> {:?}: {:?}{}",
                    c.field,
                    c.database,
                    c.incoming,
                    c.decision,
                    if c.reason.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", c.reason)
                    }
                );
            }
        }
    }
    if let Some(p) = &r.report_file {
        let _ = writeln!(out, "  report: {}", p.display());
    }
    print!("{out}");
}

fn print_fields(rows: &[FieldRow]) {
    let dash = |o: Option<&str>| o.unwrap_or("-").to_string();
    let table: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                format!("{}.{}", r.kind, r.field),
                r.ty.clone(),
                r.admin.to_string(),
                dash(r.csv),
                dash(r.property),
                r.mapi.clone().unwrap_or_else(|| "-".into()),
                if r.updatable { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect();
    let head = [
        "field",
        "type",
        "admin",
        "Outlook CSV",
        "vCard/iCalendar",
        "MAPI",
        "updatable",
    ];
    let mut widths = head.map(str::len);
    for row in &table {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(&head.map(String::from));
    for row in &table {
        line(row);
    }
}

fn run_admin(db: &Path, cmd: AdminCommand) -> Result<()> {
    let mut store = open(db)?;
    match cmd {
        AdminCommand::Add { kind, values, json } => {
            let kind: Kind = kind.parse()?;
            let assignments = admin::parse_assignments(&store, kind, &values, true)?;
            let key = store.add(kind, &assignments)?;
            let rec = store.get(key)?;
            if json {
                return print_json(&rec.to_json());
            }
            println!("added {key}  {}", admin::label(&rec));
            Ok(())
        }
        AdminCommand::Set { key, values, json } => {
            let key: Key = key.parse()?;
            if values.is_empty() {
                return Err(Error::invalid(format!(
                    "nothing to set; give field=value pairs, valid fields for {}: {}",
                    key.kind,
                    fields::settable_names(key.kind, false).join(", ")
                )));
            }
            let assignments = admin::parse_assignments(&store, key.kind, &values, false)?;
            // Check the key before reporting field errors about it.
            store.get(key)?;
            let outcome = store.set(key, &assignments)?;
            let rec = store.get(key)?;
            if json {
                return print_json(&json!({"outcome": outcome, "record": rec.to_json()}));
            }
            let verb = match outcome {
                crate::store::Outcome::Unchanged => "unchanged",
                _ => "changed",
            };
            println!("{verb} {key}  {}", admin::label(&rec));
            Ok(())
        }
        AdminCommand::Show { key, json } => {
            let key: Key = key.parse()?;
            let rec = store.get(key)?;
            if json {
                return print_json(&rec.to_json());
            }
            print!("{}", admin::show(&rec));
            Ok(())
        }
        AdminCommand::List { kind, json } => {
            let kind: Kind = kind.parse()?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let io = |e| Error::io("stdout", e);
            if json {
                // A JSON array written as it streams, so memory stays flat.
                write!(out, "[").map_err(io)?;
                let mut first = true;
                store.for_each(kind, &mut |r| {
                    let sep = if first { "\n  " } else { ",\n  " };
                    first = false;
                    write!(out, "{sep}{}", r.to_json()).map_err(io)
                })?;
                writeln!(out, "{}]", if first { "" } else { "\n" }).map_err(io)?;
            } else {
                store.for_each(kind, &mut |r| {
                    writeln!(out, "{}\t{}", r.key, admin::label(&r)).map_err(io)
                })?;
            }
            out.flush().map_err(io)
        }
    }
}
