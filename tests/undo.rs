//! `smsync undo RUN` through the real binary, a real database and real files: an ingest
//! run is named by its report, reverted from the journal's old values in one transaction
//! and journaled as `undo`; a field changed after the run is kept and reported; `--dry-run`
//! changes nothing.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

use common::site::Site;

const DANA: &str = "Dana Whitfield";

impl Site {
    fn new() -> Site {
        let s = Site::sqlite();
        s.ok(&["db", "init"]);
        s.ok(&["db", "seed", "--sample"]);
        s.ok(&["export", "--all"]);
        s
    }

    /// Runs a command whose stdout is JSON, whatever its exit; the exit code and the JSON.
    fn coded(&self, args: &[&str]) -> (Option<i32>, serde_json::Value) {
        let o = self.run(args);
        let v = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&o)));
        (o.status.code(), v)
    }

    fn field(&self, key: &str, field: &str) -> serde_json::Value {
        self.coded(&["admin", "show", key, "--json"]).1[field].clone()
    }

    /// Ingests a CSV of contact edits for Dana; returns the run's name.
    fn ingest(&self, name: &str, rows: &[(&str, &str, &str)]) -> String {
        let mut csv = String::from("\"User 1\",\"Mobile Phone\",\"Job Title\",\"Categories\"\r\n");
        for (key, mobile, title) in rows {
            csv += &format!("\"{key}\",\"{mobile}\",\"{title}\",\"!Update\"\r\n");
        }
        let inbox = self.path().join("dropbox").join(DANA).join("inbox");
        fs::write(inbox.join(name), csv).unwrap();
        let (code, v) = self.coded(&["ingest", "--profile", DANA, "--json"]);
        assert_eq!(code, Some(0), "{v}");
        let run = v["run"].as_str().expect("the run's name").to_string();
        // The report is named by the run.
        let report = Path::new(v["report_file"].as_str().unwrap());
        assert_eq!(
            report.file_name().unwrap().to_string_lossy(),
            format!("{run}.json")
        );
        // `--json` printed the report the file holds.
        let file = fs::read(self.path().join(report)).unwrap();
        let file: serde_json::Value = serde_json::from_slice(&file).unwrap();
        assert_eq!(file, v);
        run
    }

    fn journal(&self) -> Vec<serde_json::Value> {
        let (_, v) = self.coded(&["journal", "--limit", "1000", "--json"]);
        v.as_array().unwrap().clone()
    }
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn undo_reverts_a_run_from_the_journal_and_journals_itself() {
    let site = Site::new();
    let before = (
        site.field("SM-U11", "mobile"),
        site.field("SM-U11", "job_title"),
        site.field("SM-U12", "mobile"),
    );
    let run = site.ingest(
        "edits.csv",
        &[
            ("SM-U11", "+1 555 0111", "Chief Plumber"),
            ("SM-U12", "+1 555 0112", ""),
        ],
    );
    assert_eq!(site.field("SM-U11", "mobile"), "+1 555 0111");
    // The journal names the run on each of its rows.
    let rows: Vec<_> = site
        .journal()
        .into_iter()
        .filter(|r| r["run"] == run.as_str())
        .collect();
    assert!(rows.len() >= 3, "{rows:?}");
    // A dry run shows the plan and changes nothing.
    let (code, plan) = site.coded(&["undo", &run, "--dry-run", "--json"]);
    assert_eq!(code, Some(0), "{plan}");
    assert_eq!(plan["dry_run"], true);
    assert!(plan["reverted"].as_array().unwrap().len() >= 3, "{plan}");
    assert_eq!(site.field("SM-U11", "mobile"), "+1 555 0111");
    // The report's file name works as well as the run's name.
    let (code, done) = site.coded(&["undo", &format!("{run}.json"), "--json"]);
    assert_eq!(code, Some(0), "{done}");
    assert_eq!(
        (
            site.field("SM-U11", "mobile"),
            site.field("SM-U11", "job_title"),
            site.field("SM-U12", "mobile"),
        ),
        before
    );
    let undo_run = done["undo_run"].as_str().unwrap();
    let undo_rows: Vec<_> = site
        .journal()
        .into_iter()
        .filter(|r| r["source"] == "undo")
        .collect();
    assert!(
        undo_rows
            .iter()
            .all(|r| r["run"] == undo_run && r["file"] == run.as_str()),
        "{undo_rows:?}"
    );
    assert!(undo_rows.len() >= 3);
    // The next export sends the reverted values to the profile.
    site.ok(&["export", "--profile", DANA]);
    let vcf = fs::read_to_string(
        site.path()
            .join("dropbox")
            .join(DANA)
            .join("contacts/SM-U11.vcf"),
    )
    .unwrap();
    assert!(!vcf.contains("555 0111"), "{vcf}");
}

#[test]
fn a_field_changed_after_the_run_is_kept_and_reported_and_the_rest_is_reverted() {
    let site = Site::new();
    let title_before = site.field("SM-U11", "job_title");
    let run = site.ingest("edits.csv", &[("SM-U11", "+1 555 0111", "Chief Plumber")]);
    // A later change: an admin sets the mobile again.
    site.ok(&["admin", "set", "SM-U11", "mobile=+1 555 0999"]);
    let (code, plan) = site.coded(&["undo", &run, "--dry-run", "--json"]);
    assert_eq!(code, Some(3), "{plan}");
    let (code, done) = site.coded(&["undo", &run, "--json"]);
    assert_eq!(code, Some(3), "{done}");
    let kept = done["kept"].as_array().unwrap();
    assert_eq!(kept.len(), 1, "{done}");
    assert_eq!(kept[0]["field"], "mobile");
    assert!(
        kept[0]["reason"]
            .as_str()
            .unwrap()
            .contains("changed later")
    );
    assert_eq!(site.field("SM-U11", "mobile"), "+1 555 0999");
    assert_eq!(site.field("SM-U11", "job_title"), title_before);
    // The kept field is journaled with the undo.
    assert!(site.journal().iter().any(|r| r["source"] == "undo"
        && r["outcome"] == "not-reverted"
        && r["field"] == "mobile"));
    // Text form names it too.
    let o = site.run(&["undo", &run, "--dry-run"]);
    let t = text(&o);
    assert!(t.contains("kept") && t.contains("mobile"), "{t}");
}

#[test]
fn an_unknown_run_is_a_usage_error_that_says_how_runs_are_named() {
    let site = Site::new();
    let o = site.run(&["undo", "ingest-19990101T000000.000000Z"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("reports/"), "{}", text(&o));
}

#[test]
fn a_field_changed_later_by_a_writer_that_keeps_no_journal_is_kept_too() {
    let site = Site::new();
    let run = site.ingest("edits.csv", &[("SM-U11", "+1 555 0111", "Chief Plumber")]);
    // Another tool's write (no journal row): only the value tells.
    let mut store = site.open();
    let def = smsync::fields::get(smsync::model::Kind::User, "mobile").unwrap();
    store
        .write(&mut |w| {
            w.set_source(None);
            w.set(
                "SM-U11".parse()?,
                &[(def, smsync::model::Value::Text("+1 555 0777".into()))],
            )
            .map(drop)
        })
        .unwrap();
    let (code, done) = site.coded(&["undo", &run, "--json"]);
    assert_eq!(code, Some(3), "{done}");
    assert_eq!(done["kept"][0]["field"], "mobile", "{done}");
    assert_eq!(site.field("SM-U11", "mobile"), "+1 555 0777");
    assert_eq!(done["reverted"][0]["field"], "job_title", "{done}");
}
