//! The `smsync` binary as a user runs it: exit codes, messages and JSON output.

use std::path::Path;
use std::process::{Command, Output};

fn smsync(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smsync"))
        .current_dir(dir)
        .env_remove("SMSYNC_DB")
        .env_remove("SMSYNC_DROP")
        .args(args)
        .output()
        .expect("run smsync")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = smsync(dir, args);
    assert!(
        out.status.success(),
        "smsync {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(dir: &Path, args: &[&str], code: i32) -> String {
    let out = smsync(dir, args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "smsync {args:?}: stdout {} stderr {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stderr).unwrap()
}

fn seeded() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["db", "init"]);
    ok(d.path(), &["db", "seed", "--sample"]);
    d
}

#[test]
fn init_creates_then_reports_up_to_date() {
    let d = tempfile::tempdir().unwrap();
    let first = ok(d.path(), &["db", "init"]);
    assert!(first.contains("schema version 0 -> "), "{first}");
    assert!(d.path().join("servicemaster.db").exists(), "default --db");
    let again = ok(d.path(), &["db", "init"]);
    assert!(again.contains("up to date"), "{again}");
}

#[test]
fn a_missing_database_is_named_with_the_fix() {
    let d = tempfile::tempdir().unwrap();
    let err = fails(d.path(), &["--db", "nope.db", "status"], 2);
    assert!(
        err.contains("nope.db") && err.contains("smsync db init"),
        "{err}"
    );
}

#[test]
fn db_and_drop_come_from_the_environment() {
    let d = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_smsync"))
        .current_dir(d.path())
        .env("SMSYNC_DB", "from-env.db")
        .args(["db", "init"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(d.path().join("from-env.db").exists());
}

#[test]
fn admin_add_set_show_list_round_trip() {
    let d = seeded();
    let p = d.path();
    let out = ok(
        p,
        &[
            "admin",
            "add",
            "location",
            "client=Café Müller GmbH",
            "name=Lager Düsseldorf",
            "city=Düsseldorf",
            "--json",
        ],
    );
    let rec: serde_json::Value = serde_json::from_str(&out).unwrap();
    let key = rec["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("SM-L"));
    assert_eq!(rec["category"], "Café Müller GmbH");
    assert_eq!(rec["main"], false);

    ok(p, &["admin", "set", &key, "phone=+49 211 555", "main=true"]);
    let shown: serde_json::Value =
        serde_json::from_str(&ok(p, &["admin", "show", &key, "--json"])).unwrap();
    assert_eq!(shown["phone"], "+49 211 555");
    assert_eq!(shown["main"], true);

    let list: serde_json::Value =
        serde_json::from_str(&ok(p, &["admin", "list", "location", "--json"])).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 15);
    let client = shown["client"].as_str().unwrap();
    let mains = list
        .iter()
        .filter(|l| l["client"] == client && l["main"] == true)
        .count();
    assert_eq!(mains, 1);

    let text = ok(p, &["admin", "list", "client"]);
    assert_eq!(text.lines().count(), 5);
    assert!(text.contains("SM-C2\tCafé Müller GmbH"), "{text}");
}

#[test]
fn admin_refuses_unknown_fields_and_bad_values_with_exit_2() {
    let d = seeded();
    let p = d.path();
    let err = fails(p, &["admin", "add", "client", "name=X", "colour=red"], 2);
    assert!(
        err.contains("unknown field 'colour'") && err.contains("valid fields: name, active"),
        "{err}"
    );

    let err = fails(p, &["admin", "set", "SM-C1", "active=maybe"], 2);
    assert!(err.contains("'maybe' is not true or false"), "{err}");

    let err = fails(p, &["admin", "set", "SI-1001", "status=Done"], 2);
    assert!(err.contains("In Progress, Completion Requested"), "{err}");

    let err = fails(p, &["admin", "set", "SI-1001", "due=31/12/2026"], 2);
    assert!(err.contains("YYYY-MM-DD"), "{err}");

    let err = fails(p, &["admin", "set", "SI-1001", "client=SM-C2"], 2);
    assert!(err.contains("fixed"), "{err}");

    let err = fails(p, &["admin", "set", "SM-U1", "updated_at=0"], 2);
    assert!(err.contains("kept by smsync"), "{err}");

    let err = fails(
        p,
        &["admin", "add", "location", "client=SM-U1", "name=X"],
        2,
    );
    assert!(err.contains("SM-U1 is a user key"), "{err}");

    let err = fails(
        p,
        &[
            "admin",
            "add",
            "location",
            "client=No Such Client",
            "name=X",
        ],
        2,
    );
    assert!(err.contains("no client is named 'No Such Client'"), "{err}");

    let err = fails(p, &["admin", "add", "gizmo", "a=b"], 2);
    assert!(
        err.contains("valid kinds: client, location, user, tech, si, employee"),
        "{err}"
    );

    let err = fails(p, &["admin", "set", "SM-C1", "justtext"], 2);
    assert!(err.contains("not field=value"), "{err}");

    let err = fails(p, &["admin", "show", "SM-C99"], 2);
    assert!(err.contains("SM-C99 does not exist"), "{err}");

    let err = fails(p, &["admin", "show", "C99"], 2);
    assert!(err.contains("is not a key"), "{err}");

    let err = fails(
        p,
        &[
            "admin",
            "add",
            "user",
            "kind=client",
            "first_name=A",
            "last_name=B",
        ],
        2,
    );
    assert!(err.contains("needs client="), "{err}");

    // Nothing was written by any of the refused commands.
    let clients = ok(p, &["admin", "list", "client"]);
    assert_eq!(clients.lines().count(), 5);
}

#[test]
fn usage_errors_exit_2() {
    let d = tempfile::tempdir().unwrap();
    fails(d.path(), &["db", "seed"], 2);
    fails(d.path(), &["db", "seed", "--sample", "--scale", "3"], 2);
    fails(d.path(), &["no-such-command"], 2);
}

#[test]
fn reset_and_status_name_profiles() {
    let d = seeded();
    let p = d.path();
    let out = ok(p, &["reset", "--profile", "Dana Whitfield"]);
    assert!(out.contains("Dana Whitfield"), "{out}");
    let err = fails(p, &["reset", "--profile", "Dana"], 2);
    assert!(
        err.contains("no employee has the profile name 'Dana'"),
        "{err}"
    );
    assert!(err.contains("Dana Whitfield, Marco Rossi"), "{err}");

    let status: serde_json::Value = serde_json::from_str(&ok(p, &["status", "--json"])).unwrap();
    let profiles = status["profiles"].as_array().unwrap();
    assert_eq!(profiles.len(), 2);
    assert_eq!(profiles[0]["profile"], "Dana Whitfield");
    assert!(profiles[0]["contacts_stamp"].is_null());
    let c = &profiles[0]["counts"];
    assert_eq!(c["contacts"], c["contacts_pending"]);
    assert_eq!(status["records"]["si"], 20);
}

#[test]
fn fields_prints_the_mapping_table() {
    let d = tempfile::tempdir().unwrap();
    let rows: serde_json::Value =
        serde_json::from_str(&ok(d.path(), &["fields", "--json"])).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), smsync::fields::all().count());
    let key = rows
        .iter()
        .find(|r| r["kind"] == "si" && r["field"] == "key")
        .unwrap();
    assert_eq!(key["csv"], "Billing Information");
    let text = ok(d.path(), &["fields", "--kind", "user"]);
    assert!(
        text.contains("User 1") && text.contains("PidLidContactUserField1"),
        "{text}"
    );
}

#[test]
fn seed_scale_reports_counts() {
    let d = tempfile::tempdir().unwrap();
    ok(d.path(), &["db", "init"]);
    let out = ok(
        d.path(),
        &["db", "seed", "--scale", "1000", "--seed", "3", "--json"],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["contacts"], 1000);
    assert_eq!(v["seeded"]["sis"], 100);
}

#[test]
fn demo_runs_end_to_end_and_can_run_again() {
    let d = tempfile::tempdir().unwrap();
    let out = ok(d.path(), &["demo", "demo-here"]);
    assert!(out.contains("seed the sample company"), "{out}");
    assert!(out.contains("done in"), "{out}");
    ok(d.path(), &["demo", "demo-here"]);
    std::fs::create_dir(d.path().join("precious")).unwrap();
    std::fs::write(d.path().join("precious/file"), "x").unwrap();
    let err = fails(d.path(), &["demo", "precious"], 2);
    assert!(err.contains("not made by `smsync demo`"), "{err}");
    assert!(d.path().join("precious/file").exists());
}

#[test]
fn ingest_exit_codes_sync_and_journal() {
    let d = seeded();
    let p = d.path();
    ok(p, &["export", "--all"]);
    let inbox = p.join("dropbox/Dana Whitfield/inbox");
    // All applied: exit 0.
    std::fs::write(
        inbox.join("ok.csv"),
        "\"User 1\",\"Mobile Phone\",\"Categories\"\r\n\"SM-T1\",\"+1 555 1234\",\"Tech Database;!Update\"\r\n",
    )
    .unwrap();
    let out = ok(p, &["ingest", "--profile", "Dana Whitfield", "--json"]);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["tally"]["applied"], 1);
    // Some refused: exit 3, with the reason on stdout and in the .error.txt.
    std::fs::write(
        inbox.join("bad.csv"),
        "\"User 1\",\"Mobile Phone\",\"Categories\"\r\n\"SM-T1\",\"+1 555 9\",\"!Update\"\r\n\"\",\"+1\",\"!Update\"\r\n",
    )
    .unwrap();
    let out = smsync(p, &["ingest", "--profile", "Dana Whitfield"]);
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("new contacts cannot be created"), "{text}");
    // A dry run changes nothing and exits as the real run would.
    std::fs::write(
        inbox.join("dry.csv"),
        "\"User 1\",\"Mobile Phone\",\"Categories\"\r\n\"SM-T2\",\"+1 555 0\",\"!Update\"\r\n",
    )
    .unwrap();
    ok(p, &["ingest", "--profile", "Dana Whitfield", "--dry-run"]);
    assert!(inbox.join("dry.csv").exists());
    // sync = ingest + export.
    let out = ok(p, &["sync", "--all", "--json"]);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["profiles"][0]["ingest"]["tally"]["applied"], 1);
    assert!(
        r["profiles"][0]["export"]["contacts"]["written"]
            .as_u64()
            .unwrap()
            >= 1
    );
    // The journal shows where each change came from.
    let j: serde_json::Value = serde_json::from_str(&ok(
        p,
        &["journal", "--profile", "Dana Whitfield", "--json"],
    ))
    .unwrap();
    let rows = j.as_array().unwrap();
    assert!(rows.iter().any(|e| e["item"] == "SM-T2"
        && e["field"] == "mobile"
        && e["new_value"] == "+1 555 0"
        && e["file"] == "dry.csv"));
    let text = ok(p, &["journal", "--limit", "5"]);
    assert!(text.lines().count() <= 5 && !text.is_empty());
}

#[test]
fn admin_changes_are_journaled_with_old_values() {
    let d = seeded();
    let p = d.path();
    ok(p, &["admin", "set", "SM-C4", "active=false"]);
    let j: serde_json::Value =
        serde_json::from_str(&ok(p, &["journal", "--json", "--limit", "20"])).unwrap();
    let rows = j.as_array().unwrap();
    assert!(rows.iter().any(|e| e["item"] == "SM-C4"
        && e["field"] == "active"
        && e["old_value"] == "true"
        && e["new_value"] == "false"
        && e["source"] == "admin"));
    // The cascade is journaled too.
    assert!(rows.iter().any(|e| e["field"] == "active"
        && e["item"].as_str().unwrap().starts_with("SM-U")
        && e["reason"].as_str().unwrap_or("").contains("SM-C4")));
}

#[test]
fn inspect_lists_what_a_file_holds_without_applying_it() {
    let d = seeded();
    let p = d.path();
    ok(p, &["export", "--profile", "Dana Whitfield"]);
    let vcf = p.join("dropbox/Dana Whitfield/contacts/SM-U1.vcf");
    let out = ok(p, &["inspect", vcf.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["format"], "vcard");
    assert_eq!(v["items"][0]["key"], "SM-U1");
    assert_eq!(v["items"][0]["fields"]["first_name"], "Laura");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    let out = ok(
        p,
        &[
            "inspect",
            corpus
                .join("aspose-net__Exchange_task.msg")
                .to_str()
                .unwrap(),
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["format"], "msg");
    assert_eq!(v["items"][0]["fields"]["description"], "TASK-34759");
    let text = ok(
        p,
        &[
            "inspect",
            corpus.join("aspose-net__MapiTask.msg").to_str().unwrap(),
        ],
    );
    assert!(text.contains("not a Service Master key"), "{text}");
    // Nothing was applied.
    let j: serde_json::Value = serde_json::from_str(&ok(p, &["journal", "--json"])).unwrap();
    assert!(
        j.as_array()
            .unwrap()
            .iter()
            .all(|e| e["source"] != "ingest")
    );
    let err = fails(p, &["inspect", "missing.csv"], 2);
    assert!(err.contains("missing.csv"), "{err}");
}

#[test]
fn a_pst_that_crashes_the_pst_reader_is_refused_and_the_batch_goes_on() {
    // Found by the fuzzer: its block B-tree points back at itself, and outlook-pst
    // recurses until the stack overflows, which aborts the process that reads it.
    let crashing =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/pst/cyclic-block-btree.pst");
    let d = seeded();
    let p = d.path();
    ok(p, &["export", "--all"]);
    let inbox = p.join("dropbox/Dana Whitfield/inbox");
    std::fs::copy(&crashing, inbox.join("damaged.pst")).unwrap();
    std::fs::write(
        inbox.join("edit.csv"),
        "\"User 1\",\"Mobile Phone\",\"Categories\"\r\n\"SM-T1\",\"+1 555 7777\",\"!Update\"\r\n",
    )
    .unwrap();
    let out = smsync(p, &["ingest", "--profile", "Dana Whitfield", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = r["files"].as_array().unwrap();
    let pst = files
        .iter()
        .find(|f| f["file"].as_str().unwrap().ends_with("damaged.pst"))
        .unwrap();
    assert_eq!(pst["outcome"], "rejected");
    let error = pst["error"].as_str().unwrap();
    assert!(error.contains("PST reader crashed"), "{error}");
    assert!(error.contains("scanpst"), "the fix is named: {error}");
    assert_eq!(
        r["tally"]["applied"], 1,
        "the CSV in the same batch applied"
    );
    let moved = pst["moved_to"].as_str().unwrap();
    assert!(moved.contains("rejected") && p.join(moved).exists());
    // `inspect` says the same instead of crashing.
    let err = fails(p, &["inspect", moved], 2);
    assert!(err.contains("PST reader crashed"), "{err}");
}

/// Runs smsync with stdout a pipe whose reading end is already closed.
fn smsync_into_closed_pipe(dir: &Path, args: &[&str]) -> Output {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: a fresh pipe; the read end is closed at once, the write end given away.
    let write = unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        libc::close(fds[0]);
        std::os::fd::OwnedFd::from_raw_fd(fds[1])
    };
    Command::new(env!("CARGO_BIN_EXE_smsync"))
        .current_dir(dir)
        .env_remove("SMSYNC_DB")
        .env_remove("SMSYNC_DROP")
        .args(args)
        .stdout(std::process::Stdio::from(write))
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run smsync")
}

#[test]
fn a_closed_pipe_ends_one_shot_commands_quietly() {
    let d = seeded();
    let p = d.path();
    ok(p, &["admin", "set", "SM-C1", "active=true", "name=Renamed"]);
    let vcf = {
        ok(p, &["export", "--profile", "Dana Whitfield"]);
        p.join("dropbox/Dana Whitfield/contacts/SM-U1.vcf")
    };
    ok(p, &["reset", "--profile", "Dana Whitfield"]);
    let cases: [&[&str]; 7] = [
        &["status"],
        &["status", "--json"],
        &["fields"],
        &["journal"],
        &["inspect", vcf.to_str().unwrap()],
        &["export", "--all"],
        &["admin", "list", "user"],
    ];
    for args in cases {
        let out = smsync_into_closed_pipe(p, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "smsync {args:?}: {err}"
        );
        assert_ne!(out.status.code(), Some(101), "smsync {args:?}: {err}");
        assert!(!out.status.success(), "smsync {args:?} saw the pipe close");
    }
}

#[test]
fn every_exit_code_is_the_documented_one() {
    let d = seeded();
    let p = d.path();
    // The scheme is in --help.
    let help = ok(p, &["--help"]);
    for line in [
        "0  success",
        "1  failure",
        "2  usage",
        "3  some items",
        "4  attention",
    ] {
        assert!(help.contains(line), "{line}: {help}");
    }
    // 0: success.
    ok(p, &["export", "--all"]);
    // 1: a failure (a file that cannot be read: a folder).
    fails(p, &["inspect", p.to_str().unwrap()], 1);
    // 2: usage: a mistyped path (ingest, inspect, reconcile), a report into a folder that
    // does not exist, an unknown profile in the journal.
    for args in [
        &["inspect", "missing.csv"][..],
        &["reconcile", "--profile", "Dana Whitfield", "missing.csv"],
    ] {
        let err = fails(p, args, 2);
        assert!(err.contains("no such file: missing.csv"), "{err}");
    }
    // 3: a file rejected; the run changed nothing, so no undo is offered.
    let bad = p.join("bad.csv");
    std::fs::write(&bad, "garbage\n").unwrap();
    let out = smsync(
        p,
        &[
            "ingest",
            "--profile",
            "Dana Whitfield",
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("rejected") && !text.contains("smsync undo"),
        "{text}"
    );
    let err = fails(p, &["report", "--html", "no-folder/r.html"], 2);
    assert!(
        err.contains("the folder no-folder does not exist") && !err.contains("smsync-tmp"),
        "{err}"
    );
    let err = fails(
        p,
        &["ingest", "--profile", "Dana Whitfield", "no-such-file.csv"],
        2,
    );
    assert!(
        err.contains("no such file: no-such-file.csv") && !err.contains("vanished"),
        "{err}"
    );
    let err = fails(p, &["journal", "--profile", "Nobody"], 2);
    assert!(
        err.contains("'Nobody'") && err.contains("Dana Whitfield"),
        "{err}"
    );
    ok(p, &["journal", "--profile", "Marco Rossi"]);
    // 4: all applied, but a field Outlook may not change was edited.
    let inbox = p.join("dropbox/Dana Whitfield/inbox");
    std::fs::write(
        inbox.join("name.csv"),
        "\"User 1\",\"First Name\",\"Job Title\",\"Categories\"\r\n\
         \"SM-U1\",\"Lara\",\"Chief\",\"!Update\"\r\n",
    )
    .unwrap();
    let out = smsync(p, &["ingest", "--profile", "Dana Whitfield", "--json"]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["tally"]["not_updatable"], 1);
    assert_eq!(r["tally"]["applied"], 1);
    // 4: an edit that conflicted with a database change (sync: the worst profile's code).
    ok(p, &["admin", "set", "SM-T1", "mobile=+1 555 0001"]);
    std::fs::write(
        inbox.join("conflict.csv"),
        "\"User 1\",\"Mobile Phone\",\"Categories\"\r\n\"SM-T1\",\"+1 555 0002\",\"!Update\"\r\n",
    )
    .unwrap();
    let out = smsync(p, &["sync", "--all", "--json"]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["profiles"][0]["ingest"]["tally"]["conflicts"], 1);
    // 3 beats 4: a refused item in the same run as a conflict.
    ok(p, &["admin", "set", "SM-T1", "mobile=+1 555 0003"]);
    std::fs::write(
        inbox.join("both.csv"),
        "\"User 1\",\"Mobile Phone\",\"Categories\"\r\n\"SM-T1\",\"+1 555 0004\",\"!Update\"\r\n\
         \"SM-T999\",\"+1\",\"!Update\"\r\n",
    )
    .unwrap();
    let out = smsync(p, &["sync", "--all"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
}

#[test]
fn the_journal_holds_every_refused_item_and_rejected_file() {
    let d = seeded();
    let p = d.path();
    ok(p, &["export", "--all"]);
    let inbox = p.join("dropbox/Dana Whitfield/inbox");
    // A vCard without UID, a CSV row with a bad date, an unknown key, a binary file.
    std::fs::write(
        inbox.join("new.vcf"),
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Nora New\r\nN:New;Nora;;;\r\nCATEGORIES:!Update\r\nEND:VCARD\r\n",
    )
    .unwrap();
    std::fs::write(
        inbox.join("dates.csv"),
        "\"Subject\",\"Due Date\",\"Billing Information\",\"Categories\"\r\n\
         \"Fix it\",\"31/31/2026\",\"SI-1001\",\"!Update\"\r\n",
    )
    .unwrap();
    std::fs::write(
        inbox.join("unknown.csv"),
        "\"User 1\",\"Mobile Phone\",\"Categories\"\r\n\"SM-T999\",\"+1\",\"!Update\"\r\n",
    )
    .unwrap();
    std::fs::write(inbox.join("blob.csv"), b"\x00\x01\x02binary").unwrap();
    let out = smsync(p, &["ingest", "--profile", "Dana Whitfield", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let j: serde_json::Value = serde_json::from_str(&ok(
        p,
        &["journal", "--profile", "Dana Whitfield", "--json"],
    ))
    .unwrap();
    let rows = j.as_array().unwrap();
    // Every refused item of the report has its journal row, with the same reason.
    let mut refused = 0;
    for f in r["files"].as_array().unwrap() {
        let file = Path::new(f["file"].as_str().unwrap()).file_name().unwrap();
        for i in f["items"].as_array().unwrap() {
            if i["outcome"] != "refused" {
                continue;
            }
            refused += 1;
            assert!(
                rows.iter().any(|e| e["outcome"] == "refused"
                    && e["file"] == file.to_str().unwrap()
                    && e["reason"] == i["reason"]),
                "{i} is not in the journal: {j:#}"
            );
        }
    }
    assert_eq!(refused, 3, "{r:#}");
    let reasons: Vec<&str> = rows.iter().filter_map(|e| e["reason"].as_str()).collect();
    assert!(reasons.iter().any(|r| r.contains("no UID")), "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("31/31/2026")),
        "{reasons:?}"
    );
    assert!(
        rows.iter()
            .any(|e| e["file"] == "blob.csv" && e["outcome"] == "rejected"),
        "{j:#}"
    );
}

#[test]
fn a_database_in_a_read_only_folder_names_the_folder_and_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let d = seeded();
    let p = d.path();
    let root = unsafe { libc::geteuid() } == 0;
    // Root writes anywhere: run as nobody in a folder root owns; otherwise make it read-only.
    let mode = if root { 0o755 } else { 0o555 };
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_smsync"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_smsync"))
    };
    let out = cmd
        .current_dir(p)
        .env_remove("SMSYNC_DB")
        .arg("status")
        .output()
        .unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let folder = std::fs::canonicalize(p).unwrap();
    assert!(
        err.contains(&format!("its folder {} is read-only", folder.display()))
            && err.contains("servicemaster.db-shm")
            && err.contains("WAL")
            && err.contains("let this user write to"),
        "{err}"
    );
}

#[test]
fn db_naming_a_folder_says_so_with_the_fix() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("data")).unwrap();
    for args in [
        &["--db", "data", "status"][..],
        &["--db", "data", "db", "init"],
    ] {
        let err = fails(d.path(), args, 2);
        assert!(
            err.contains("--db data is a folder, not a database file")
                && err.contains("--db data/servicemaster.db"),
            "{err}"
        );
    }
}

#[test]
fn an_unknown_admin_field_suggests_the_closest_name() {
    let d = seeded();
    let err = fails(d.path(), &["admin", "set", "SM-U1", "mobil=+1 555"], 2);
    assert!(
        err.contains("unknown field 'mobil' for user (did you mean 'mobile'?)"),
        "{err}"
    );
    let err = fails(d.path(), &["admin", "set", "SM-U1", "colour=red"], 2);
    assert!(!err.contains("did you mean"), "{err}");
}

#[test]
fn skipped_rows_are_summarised_by_reason_and_quiet_prints_only_the_summary() {
    let d = seeded();
    let p = d.path();
    // Not a terminal: no progress on stderr, whatever the command.
    for args in [&["export", "--all"][..], &["sync", "--all"]] {
        let out = smsync(p, args);
        assert!(out.status.success());
        assert!(out.stderr.is_empty(), "{args:?}: {out:?}");
    }
    let inbox = p.join("dropbox/Dana Whitfield/inbox");
    let sheet = "\"User 1\",\"Mobile Phone\",\"Categories\"\r\n\
                 \"SM-T1\",\"+1 1\",\"Tech Database\"\r\n\
                 \"SM-T2\",\"+1 2\",\"\"\r\n\
                 \"SM-T3\",\"+1 3\",\"\"\r\n\
                 \"SM-T4\",\"+1 555 4\",\"!Update\"\r\n";
    std::fs::write(inbox.join("full.csv"), sheet).unwrap();
    for dry in [true, false] {
        let mut args = vec!["ingest", "--profile", "Dana Whitfield"];
        if dry {
            args.push("--dry-run");
        }
        let out = ok(p, &args);
        let skipped: Vec<&str> = out.lines().filter(|l| l.contains("skipped")).collect();
        assert_eq!(
            skipped[1..],
            ["    skipped 3: no !Update category"],
            "dry run {dry}: {out}"
        );
        assert!(!out.contains("row 2"), "dry run {dry}: {out}");
        assert!(out.contains("row 5 SM-T4 applied"), "dry run {dry}: {out}");
    }
    // The JSON counts them by reason too.
    std::fs::write(inbox.join("again.csv"), sheet.replace("+1 1", "+1 9")).unwrap();
    let out = smsync(
        p,
        &["ingest", "--profile", "Dana Whitfield", "--json", "--quiet"],
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["files"][0]["skipped"][0]["count"], 3);
    // --quiet: the summary line only, on ingest, export and sync.
    std::fs::write(inbox.join("third.csv"), sheet.replace("+1 2", "+1 8")).unwrap();
    let out = smsync(p, &["ingest", "--profile", "Dana Whitfield", "--quiet"]);
    assert!(out.stderr.is_empty(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with("Dana Whitfield: ingested 1 file(s): 0 applied"),
        "{text}"
    );
    ok(p, &["admin", "set", "SM-T1", "mobile=+1 555 42"]);
    let text = ok(p, &["export", "--all", "-q"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    for (line, who) in lines.iter().zip(["Dana Whitfield", "Marco Rossi"]) {
        assert!(
            line.starts_with(&format!("{who}: contacts "))
                && line.contains(" written, 0 removed, 0 unchanged; tasks 0 written"),
            "{text}"
        );
    }
    let text = ok(p, &["sync", "--all", "--quiet"]);
    assert_eq!(text.lines().count(), 4, "{text}");
}

#[test]
fn inspect_shows_what_it_read_even_when_it_cannot_be_applied() {
    let d = seeded();
    let p = d.path();
    let inspect = |file: &Path| -> serde_json::Value {
        serde_json::from_str(&ok(p, &["inspect", file.to_str().unwrap(), "--json"])).unwrap()
    };
    // A contact without a key: its kind and fields, then the reason.
    let vcf = p.join("new.vcf");
    std::fs::write(
        &vcf,
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Nora New\r\nN:New;Nora;;;\r\nTEL;TYPE=CELL:+1 555\r\n \
         0100\r\nEND:VCARD\r\n",
    )
    .unwrap();
    let text = ok(p, &["inspect", vcf.to_str().unwrap()]);
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let at = |l: &str| {
        lines
            .iter()
            .position(|x| x.starts_with(l))
            .unwrap_or(usize::MAX)
    };
    assert!(
        text.contains("card 1: contact, cannot be applied"),
        "{text}"
    );
    assert!(
        at("FN") < at("reason: no UID"),
        "fields, then the reason: {text}"
    );
    assert!(text.contains("TEL          +1 5550100"), "unfolded: {text}");
    // A .msg contact dragged out of Outlook without a key: what the MAPI reader saw of it.
    let msg =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus/aspose-net__Contact.msg");
    let v = inspect(&msg);
    let item = &v["items"][0];
    assert_eq!(item["kind"], "contact", "{v}");
    assert_eq!(item["fields"]["first_name"], "FirstName", "{v}");
    assert_eq!(item["fields"]["email"], "user@domain.com", "{v}");
    assert!(item["error"].as_str().unwrap().contains("no key"), "{v}");
    let v = inspect(&vcf);
    assert_eq!(v["items"][0]["kind"], "contact");
    assert_eq!(v["items"][0]["fields"]["FN"], "Nora New");
    let csv = p.join("new.csv");
    std::fs::write(
        &csv,
        "\"User 1\",\"First Name\",\"Last Name\",\"Categories\"\r\n\"\",\"Nora\",\"New\",\"!Update\"\r\n",
    )
    .unwrap();
    let v = inspect(&csv);
    assert_eq!(v["items"][0]["kind"], "contact");
    assert_eq!(v["items"][0]["fields"]["First Name"], "Nora");
    assert!(v["items"][0]["error"].as_str().unwrap().contains("no key"));
    // Every item has its kind, whatever its format; passed-over items are counted by class.
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    for f in ["aspose-net__Outlook.pst", "aspose-net__SampleContacts.pst"] {
        let v = inspect(&corpus.join(f));
        for i in v["items"].as_array().unwrap() {
            assert!(i["kind"].is_string(), "{f}: {i}");
        }
    }
    let v = inspect(&corpus.join("aspose-net__Outlook.pst"));
    let notes = v["notes"].to_string();
    assert!(
        notes.contains("passed over (neither contacts nor tasks): 14 IPM.Note, 1 IPM.Appointment"),
        "{notes}"
    );
    // A bare VTODO is iCalendar, not CSV.
    let ics = p.join("bare.ics");
    std::fs::write(
        &ics,
        "BEGIN:VTODO\r\nUID:bare-1\r\nSUMMARY:Bare task\r\nEND:VTODO\r\n",
    )
    .unwrap();
    let v = inspect(&ics);
    assert_eq!(v["format"], "icalendar");
    assert_eq!(v["items"][0]["kind"], "si");
    assert_eq!(v["items"][0]["fields"]["description"], "Bare task");
    // Outlook's tasks sheet: one Contacts column, read apart into location and people.
    ok(p, &["export", "--profile", "Dana Whitfield"]);
    let v = inspect(&p.join("dropbox/Dana Whitfield/outlook/tasks.csv"));
    let si = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == "SI-1001")
        .unwrap();
    assert_eq!(si["fields"]["location"], "Head Office", "{si}");
    let people = si["fields"]["people"].as_str().unwrap();
    assert!(
        people.contains("Laura Kowalski") && !people.contains("Head Office"),
        "{si}"
    );
}

#[test]
fn a_profile_another_smsync_holds_is_given_up_after_the_wait_naming_it() {
    let d = seeded();
    let p = d.path();
    let folder = p.join("dropbox").join("Dana Whitfield");
    std::fs::create_dir_all(&folder).unwrap();
    // This test process stands for the other smsync: it holds the profile's lock file.
    let held = smsync::fsutil::PidLock::try_acquire(&folder.join(".smsync.lock"))
        .unwrap()
        .unwrap();
    let export = || {
        Command::new(env!("CARGO_BIN_EXE_smsync"))
            .current_dir(p)
            .env_remove("SMSYNC_DB")
            .env_remove("SMSYNC_DROP")
            .env("SMSYNC_LOCK_WAIT", "1")
            .args(["export", "--profile", "Dana Whitfield"])
            .output()
            .unwrap()
    };
    let out = export();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "profile 'Dana Whitfield' in dropbox/Dana Whitfield: another smsync (pid {}) has \
             been working on it for 1 s; try again when it is done",
            std::process::id()
        )),
        "{err}"
    );
    assert!(
        !folder.join("contacts").exists()
            || folder.join("contacts").read_dir().unwrap().next().is_none()
    );
    drop(held);
    let out = export();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(folder.join("contacts").read_dir().unwrap().next().is_some());
}
