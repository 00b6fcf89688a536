//! `smsync demo`: builds the sample company in a folder of its own and runs the main job
//! end to end, printing each step, so a new user sees what smsync does in seconds.

use std::fs;
use std::path::Path;

use crate::admin;
use crate::error::{Error, Result};
use crate::export;
use crate::model::{Key, Kind, Value};
use crate::seed;
use crate::store::{Lookup, Profile, SqliteStore, Store};

/// Marks a folder as made by the demo, so that a re-run may clear it.
const MARKER: &str = ".smsync-demo";

fn prepare(dir: &Path) -> Result<()> {
    if dir.exists() {
        let mut entries = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        let empty = entries.next().is_none();
        if !empty && !dir.join(MARKER).exists() {
            return Err(Error::invalid(format!(
                "{} is not empty and was not made by `smsync demo`; give an empty or new folder",
                dir.display()
            )));
        }
        for name in [
            "servicemaster.db",
            "servicemaster.db-wal",
            "servicemaster.db-shm",
        ] {
            let p = dir.join(name);
            if p.exists() {
                fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            }
        }
        let drop = dir.join("dropbox");
        if drop.exists() {
            fs::remove_dir_all(&drop).map_err(|e| Error::io(&drop, e))?;
        }
    }
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    fs::write(dir.join(MARKER), "made by smsync demo; safe to delete\n")
        .map_err(|e| Error::io(dir.join(MARKER), e))
}

/// A row edit: gets the column index by name and the row's cells.
type RowEdit<'a> = dyn FnMut(&dyn Fn(&str) -> usize, &mut Vec<String>) + 'a;

/// Reads an exported Outlook CSV, lets `edit` change rows (by column name), and returns
/// the bytes as Outlook would write them: what a user's re-export looks like.
fn outlook_edit(path: &Path, edit: &mut RowEdit) -> Result<Vec<u8>> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut rd = csv::Reader::from_reader(bytes.as_slice());
    let header = rd
        .headers()
        .map_err(|e| Error::Other(format!("{}: {e}", path.display())))?
        .clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap_or(0);
    let mut out = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .terminator(csv::Terminator::CRLF)
        .from_writer(b"\xEF\xBB\xBF".to_vec());
    let io = |e: csv::Error| Error::Other(format!("{}: {e}", path.display()));
    out.write_record(&header).map_err(io)?;
    for rec in rd.records() {
        let mut row: Vec<String> = rec.map_err(io)?.iter().map(str::to_string).collect();
        edit(&col, &mut row);
        out.write_record(&row).map_err(io)?;
    }
    out.into_inner()
        .map_err(|e| Error::Other(format!("{}: {e}", path.display())))
}

fn write_demo_file(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::fsutil::write_atomic(path, bytes)?;
    println!("  dropped {}", path.display());
    Ok(())
}

fn step(n: u32, what: &str) {
    println!("\n== {n}. {what}");
}

/// Builds the sample company in `dir` and walks through the main job, step by step.
pub fn run(dir: &Path) -> Result<()> {
    let started = std::time::Instant::now();
    prepare(dir)?;
    let db = dir.join("servicemaster.db");
    let drop = dir.join("dropbox");
    let mut store = create_and_seed(&db)?;
    let profiles = show_profiles(&store)?;
    let opts = export::Options::default();
    let dana = export_all(&mut store, &profiles, &drop, &opts)?;
    let layout = export::Layout::new(&drop, &dana.name);
    change_records(&mut store, &dana, &drop, &opts)?;
    edit_in_outlook(&layout)?;

    step(
        7,
        "ingest the inbox: rules, timestamps, journal; files move to processed/",
    );
    let dates = crate::codec::text::DateFormat::default();
    let iopts = crate::ingest::Options {
        dates,
        ..Default::default()
    };
    let ir = crate::ingest::ingest(&mut store, &dana, &drop, &[], &iopts)?;
    crate::summary::print_ingest(&ir);

    export_again(&mut store, &dana, &layout, &drop, &opts)?;

    step(9, "a profile name must match an employee exactly");
    match store.profile("dana whitfield") {
        Err(e) => println!("  'dana whitfield': {e}"),
        Ok(p) => println!("  unexpectedly matched {}", p.employee),
    }

    println!(
        "\ndone in {:.2} s; the database is {}, the drop folder {}\n\
         (try: smsync --db {} --drop {} status)",
        started.elapsed().as_secs_f64(),
        db.display(),
        drop.display(),
        db.display(),
        drop.display()
    );
    Ok(())
}

/// Steps 1 and 2: the database, and the sample company in it.
fn create_and_seed(db: &Path) -> Result<SqliteStore> {
    step(1, "create the Service Master database");
    let (mut store, _, version) = SqliteStore::create(db)?;
    println!("{} at schema version {version}", db.display());

    step(2, "seed the sample company");
    let s = seed::sample(&mut store)?;
    println!(
        "{} clients, {} locations, {} users, {} tech entries, {} SIs, {} employees who sync",
        s.clients, s.locations, s.users, s.tech, s.sis, s.employees
    );
    store.for_each(Kind::Client, &mut |r| {
        println!("  {}  {}", r.key, admin::label(&r));
        Ok(())
    })?;
    Ok(store)
}

/// Step 3: the profiles and what each would sync.
fn show_profiles(store: &SqliteStore) -> Result<Vec<Profile>> {
    step(3, "profiles and what each would sync");
    let profiles = store.profiles()?;
    for p in &profiles {
        let c = store.sync_counts(p)?;
        println!(
            "  '{}': {} contacts and {} tasks to export",
            p.name, c.contacts, c.tasks
        );
    }
    Ok(profiles)
}

/// Step 4: the first export of every profile, and one of its task files. Returns the
/// first profile (Dana's) as it stands after its export.
fn export_all(
    store: &mut SqliteStore,
    profiles: &[Profile],
    drop: &Path,
    opts: &export::Options,
) -> Result<Profile> {
    step(
        4,
        "export every profile: vdir vCards and VTODOs, Outlook CSV, vCard 2.1",
    );
    for p in profiles {
        let r = export::export_profile(store, p, drop, opts, &mut || {})?;
        crate::summary::print_export(&r);
    }
    let dana = store.profile(&profiles[0].name)?;
    let layout = export::Layout::new(drop, &dana.name);
    let sample = layout.tasks.join("SI-1005.ics");
    if let Ok(text) = std::fs::read_to_string(&sample) {
        println!("\n  {}:", sample.display());
        for line in text.lines() {
            println!("    {line}");
        }
    }
    Ok(dana)
}

/// Step 5: changes in Service Master, then an incremental export.
fn change_records(
    store: &mut SqliteStore,
    dana: &Profile,
    drop: &Path,
    opts: &export::Options,
) -> Result<()> {
    step(
        5,
        "deactivate a client and close an SI, then export again (incremental)",
    );
    let client = store
        .client_by_name("Blue Harbor Dental")?
        .ok_or_else(|| Error::Other("sample client missing".into()))?;
    let active = crate::fields::get(Kind::Client, "active").expect("field");
    store.set(client, &[(active, Value::Bool(false))])?;
    let status = crate::fields::get(Kind::Si, "status").expect("field");
    let closing = Key::new(Kind::Si, 1005);
    store.set(
        closing,
        &[(
            status,
            Value::Text(crate::model::SiStatus::Closed.as_str().into()),
        )],
    )?;
    println!("  {client} inactive (its client users too); {closing} closed");
    let r = export::export_profile(store, dana, drop, opts, &mut || {})?;
    crate::summary::print_export(&r);
    Ok(())
}

/// Step 6: what a user does in Outlook, dropped in the inbox as Outlook's CSV export.
fn edit_in_outlook(layout: &export::Layout) -> Result<()> {
    step(
        6,
        "in Outlook: edit a contact (+ !Update), complete a task, add a task; export CSV",
    );
    let inbox = layout.inbox.clone();
    let contacts = outlook_edit(&layout.outlook.join("contacts.csv"), &mut |h, row| {
        if row[h("User 1")] == "SM-U1" {
            row[h("Mobile Phone")] = "+1 312 555 0199".into();
            row[h("Categories")].push_str(";!Update");
            println!(
                "  SM-U1 ({} {}): new mobile phone, !Update",
                row[h("First Name")],
                row[h("Last Name")]
            );
        }
    })?;
    write_demo_file(&inbox.join("Outlook contacts.csv"), &contacts)?;
    let mut closed = None;
    let mut tasks = outlook_edit(&layout.outlook.join("tasks.csv"), &mut |h, row| {
        if closed.is_none() && row[h("Status")] == "Waiting on someone else" {
            row[h("Status")] = "Completed".into();
            closed = Some(row[h("Billing Information")].clone());
        }
    })?;
    if let Some(k) = &closed {
        println!("  {k}: marked Completed (it was Waiting on someone else)");
    }
    // A new task: a subject, the client's category and a location as a contact.
    let new_row = "\"Rack the new NAS\",\"0/0/00\",\"12/18/2026\",\"False\",\"0/0/00\",\"\",\
                   \"0/0/00\",\"0%\",\"0\",\"0\",\"\",\"Northwind Traders\",\"\",\
                   \"Tacoma Depot; Janet Leverling\",\"\",\"\",\"High\",\"False\",\"\",\"\",\
                   \"Normal\",\"Not Started\"\r\n";
    tasks.extend_from_slice(new_row.as_bytes());
    println!("  new task 'Rack the new NAS' for Northwind Traders at Tacoma Depot");
    write_demo_file(&inbox.join("Outlook tasks.csv"), &tasks)
}

/// Step 8: the export after the ingest, and the edited contact's vCard lines.
fn export_again(
    store: &mut SqliteStore,
    dana: &Profile,
    layout: &export::Layout,
    drop: &Path,
    opts: &export::Options,
) -> Result<()> {
    step(
        8,
        "export again: the edits go back to Outlook without !Update",
    );
    let dana = store.profile(&dana.name)?;
    let r = export::export_profile(store, &dana, drop, opts, &mut || {})?;
    crate::summary::print_export(&r);
    let vcf = std::fs::read_to_string(layout.contacts.join("SM-U1.vcf")).unwrap_or_default();
    for line in vcf
        .lines()
        .filter(|l| l.starts_with("TEL") || l.starts_with("CATEGORIES"))
    {
        println!("    SM-U1.vcf: {line}");
    }
    Ok(())
}
