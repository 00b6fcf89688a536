//! `smsync reconcile`: a full export of a profile's Outlook against what the profile should
//! hold ([`crate::reconcile`]); text, JSON or an HTML page of the findings.

use std::path::{Path, PathBuf};

use super::print::{Bar, exit_with, print_json};
use super::{ReconcileArgs, open, select_profiles};
use crate::error::{Error, Result};
use crate::reconcile::{self, Report};

pub(super) fn reconcile(
    db: &Path,
    drop: &Path,
    date_format: Option<&str>,
    args: &ReconcileArgs,
) -> Result<()> {
    if args.profiles.all && !args.files.is_empty() {
        return Err(Error::invalid(
            "--all reconciles the full exports in each profile's inbox; name files only \
             with --profile",
        ));
    }
    if args.profiles.profile.is_some() && args.files.is_empty() {
        return Err(Error::invalid(
            "name the full export to compare: Outlook CSV files, a PST or a vdir folder \
             (or use --all for the full exports in each inbox)",
        ));
    }
    super::print::named_files_exist(&args.files, "")?;
    let store = open(db)?;
    let chosen = select_profiles(store.as_ref(), drop, &args.profiles)?;
    let of = chosen.len();
    let mut reports: Vec<Report> = Vec::new();
    let mut errors: Vec<(String, Error)> = Vec::new();
    for (n, (profile, ready)) in chosen.into_iter().enumerate() {
        if let Err(e) = ready {
            errors.push((profile.name.clone(), e));
            continue;
        }
        let bar = Bar::new("reconcile", n, of, &profile.name);
        let opts = reconcile::Options {
            date_format: date_format.map(str::to_string),
            pst_checker: std::env::current_exe().ok(),
            progress: bar.sink(),
            no_package: false,
        };
        let r = if args.profiles.all {
            // Each inbox file is read once: the reading that finds the full exports is
            // the one reconciled.
            let full = match reconcile::full_exports(store.as_ref(), drop, &profile, &opts) {
                Ok(full) => full,
                Err(e) => {
                    errors.push((profile.name.clone(), e));
                    continue;
                }
            };
            if !args.json {
                for note in &full.notes {
                    println!("profile '{}': {note}", profile.name);
                }
            }
            if full.files.is_empty() {
                if !args.json {
                    println!("profile '{}': no full export in its inbox", profile.name);
                }
                continue;
            }
            reconcile::reconcile_read(store.as_ref(), drop, &profile, full.read, &opts)
        } else {
            reconcile::reconcile_profile(store.as_ref(), drop, &profile, &args.files, &opts)
        };
        std::mem::drop(bar);
        match r {
            Ok(r) => reports.push(r),
            Err(e) if args.profiles.all => errors.push((profile.name.clone(), e)),
            Err(e) => return Err(e),
        }
    }
    if let Some(html) = &args.html {
        for r in &reports {
            let path = if args.profiles.all {
                page_for(html, &r.profile)
            } else {
                html.clone()
            };
            crate::fsutil::write_atomic(&path, crate::report::reconcile::render(r).as_bytes())?;
            if !args.json {
                println!(
                    "wrote the findings of '{}' to {}",
                    r.profile,
                    path.display()
                );
            }
        }
    }
    if args.json {
        if args.profiles.all {
            let errs: Vec<_> = errors
                .iter()
                .map(|(p, e)| serde_json::json!({"profile": p, "error": e.to_string()}))
                .collect();
            print_json(&serde_json::json!({"profiles": reports, "errors": errs}))?;
        } else if let Some(r) = reports.first() {
            print_json(r)?;
        }
    } else {
        for r in &reports {
            print_text(r);
        }
    }
    for (p, e) in &errors {
        eprintln!("smsync: profile '{p}': {e}");
    }
    if let Some((_, e)) = errors.into_iter().next() {
        let _ = std::io::Write::flush(&mut std::io::stdout());
        std::process::exit(e.exit_code());
    }
    let code = reports.iter().map(Report::exit_code).max().unwrap_or(0);
    exit_with(code)
}

/// `report.html` for profile "Dana Whitfield": `report-Dana Whitfield.html`.
fn page_for(html: &Path, profile: &str) -> PathBuf {
    let stem = html
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "reconcile".into());
    let ext = html
        .extension()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "html".into());
    html.with_file_name(format!(
        "{stem}-{}.{ext}",
        crate::fsutil::safe_dir_name(profile)
    ))
}

fn print_text(r: &Report) {
    use std::fmt::Write as _;
    let f = &r.findings;
    let mut out = String::new();
    let _ = writeln!(out, "profile '{}': reconcile {}", r.profile, r.run);
    for i in &r.inputs {
        let _ = writeln!(out, "  read {} [{}]: {} item(s)", i.file, i.format, i.items);
        for n in &i.notes {
            let _ = writeln!(out, "    note: {n}");
        }
    }
    let sides: Vec<&str> = [
        (f.compared.contacts, "contacts"),
        (f.compared.tasks, "tasks"),
    ]
    .into_iter()
    .filter_map(|(on, s)| on.then_some(s))
    .collect();
    let _ = writeln!(
        out,
        "  compared {} against {} synced item(s): {} duplicate(s), {} stale, {} missing, {} \
         mismatched, {} unreadable; {} keyless item(s) of the user's own left alone, {} with \
         !Update left for ingest",
        sides.join(" and "),
        f.counts.expected,
        f.duplicates.len(),
        f.stale.len(),
        f.missing.len(),
        f.mismatched.len(),
        f.unreadable.len(),
        f.counts.personal,
        f.counts.updates
    );
    for (what, list) in [
        ("duplicate", &f.duplicates),
        ("stale", &f.stale),
        ("missing", &f.missing),
        ("mismatched", &f.mismatched),
    ] {
        for x in list.iter() {
            let place = match (&x.file, &x.source) {
                (Some(file), Some(src)) => format!(" ({file} {src})"),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "  {what:<10} {} {}{place}: {}",
                x.key.as_deref().unwrap_or("(no key)"),
                x.name,
                x.reason
            );
            for d in &x.fields {
                let _ = writeln!(
                    out,
                    "    {:<12} database: {:?}  Outlook: {:?}",
                    d.field, d.database, d.outlook
                );
            }
        }
    }
    for u in &f.unreadable {
        let _ = writeln!(
            out,
            "  {} {}: {}, cannot be applied",
            u.file, u.source, u.kind
        );
        for (k, v) in &u.fields {
            if let Some(v) = v.as_str().filter(|s| !s.is_empty()) {
                let _ = writeln!(out, "    {k:<12} {v}");
            }
        }
        let _ = writeln!(out, "    reason: {}", u.error);
    }
    match &r.package {
        Some(p) => {
            let _ = writeln!(
                out,
                "  cleanup package: {} ({}); follow its README.txt",
                p.dir.display(),
                p.files.join(", ")
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  Outlook holds exactly the synced set: nothing to clean up"
            );
        }
    }
    print!("{out}");
}
