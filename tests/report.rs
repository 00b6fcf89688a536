//! `smsync report` and the attention part of `smsync status`, with the real binary, files
//! and database; the HTML report is loaded in a real browser (headless Chromium), whose
//! DOM must show every profile and a known refused edit, and a profile name holding a
//! `<script>` as text, never run.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use common::site::Site;

const DANA: &str = "Dana Whitfield";
const EVIL_FIRST: &str = "<script>document.title='pwned'</script>";

impl Site {
    /// The sample company, a third profile whose name holds a script, one export of
    /// every profile, and a refused edit (a name, which Outlook may not change) in Dana's
    /// journal; a file Dana's ingest rejects, and one still waiting in the inbox.
    fn new() -> Site {
        let site = Site::sqlite();
        site.ok(&["db", "init"]);
        site.ok(&["db", "seed", "--sample"]);
        let user: serde_json::Value = serde_json::from_str(&site.ok(&[
            "admin",
            "add",
            "user",
            "kind=agent",
            &format!("first_name={EVIL_FIRST}"),
            "last_name=Evil",
            "--json",
        ]))
        .unwrap();
        let key = user["key"].as_str().unwrap();
        site.ok(&["admin", "add", "employee", &format!("user={key}")]);
        site.ok(&["export", "--all"]);
        let inbox = site.path().join("dropbox").join(DANA).join("inbox");
        fs::write(
            inbox.join("rename.csv"),
            "\"User 1\",\"First Name\",\"Categories\"\r\n\"SM-T1\",\"Renamed\",\"!Update\"\r\n",
        )
        .unwrap();
        fs::write(inbox.join("broken.vcf"), "not a card\n").unwrap();
        let out = site.cmd(&["ingest", "--profile", DANA]).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "some items refused");
        fs::write(inbox.join("waiting.csv"), "x").unwrap();
        site
    }

    fn evil_profile(&self) -> String {
        format!("{EVIL_FIRST} Evil")
    }
}

/// The DOM of `file` as headless Chromium builds it, or `None` when the browser is absent
/// and `SMSYNC_SKIP_BROWSER=1` allows skipping (CI installs it: scripts/test.sh).
fn browser_dom(file: &Path) -> Option<String> {
    let found = Command::new("chromium")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var("SMSYNC_SKIP_BROWSER").as_deref() == Ok("1") {
            eprintln!("chromium is absent and SMSYNC_SKIP_BROWSER=1: the browser check is skipped");
            return None;
        }
        panic!(
            "chromium is not installed, and the report test needs it: run scripts/test.sh \
             (it installs it), or `apt-get install -y chromium`; set SMSYNC_SKIP_BROWSER=1 \
             to skip this check"
        );
    }
    let home = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", home.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", file.display()))
        .env("HOME", home.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

/// The text of the element `tag` that follows `from` in `dom`.
fn text_of<'a>(dom: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = dom.find(&open)? + open.len();
    let end = dom[start..].find(&format!("</{tag}>"))?;
    Some(&dom[start..start + end])
}

/// Escapes text as the browser serialises it in the DOM.
fn dom_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[test]
fn the_html_report_shows_every_profile_and_a_refused_edit_in_a_real_browser() {
    let site = Site::new();
    let file = site.path().join("report.html");
    site.ok(&["report", "--html", file.to_str().unwrap(), "--days", "7"]);
    let html = fs::read_to_string(&file).unwrap();
    // Self-contained: no script, nothing fetched.
    for banned in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(banned), "the report holds {banned}");
    }
    let Some(dom) = browser_dom(&file) else {
        return;
    };
    // The script in a profile name did not run: the title is the report's.
    assert_eq!(text_of(&dom, "title"), Some("smsync report"), "{dom}");
    assert!(!dom.contains("<script"), "a script element in the DOM");
    let profiles = site.json(&["status", "--json"])["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["profile"].as_str().unwrap().to_string())
        .collect::<Vec<_>>();
    assert_eq!(profiles.len(), 3);
    assert!(profiles.contains(&site.evil_profile()));
    for p in &profiles {
        let cell = format!("<td class=\"profile-name\">{}</td>", dom_text(p));
        assert!(dom.contains(&cell), "profile {p} not in the DOM as text");
    }
    // The refused edit, with its reason.
    let row = dom
        .split("<tr class=\"refused-edit\">")
        .skip(1)
        .find(|r| r.contains("<td class=\"item\">SM-T1</td>"))
        .unwrap_or_else(|| panic!("no refused edit of SM-T1 in the DOM"));
    assert!(
        row.contains("<td class=\"outcome\">not-updatable</td>"),
        "{row}"
    );
    assert!(row.contains("first_name is not updatable"), "{row}");
    // The rejected file with its reason, and the activity chart.
    assert!(dom.contains("broken.vcf"), "the rejected file");
    assert!(dom.contains("<svg id=\"activity\""), "the chart");
}

#[test]
fn the_json_report_covers_every_profile_with_backlog_rejections_refusals_and_runs() {
    let site = Site::new();
    let r = site.json(&["report", "--json", "--days", "7"]);
    let profiles = r["profiles"].as_array().unwrap();
    assert_eq!(profiles.len(), 3);
    let dana = profiles.iter().find(|p| p["profile"] == DANA).unwrap();
    assert_eq!(dana["backlog"]["files"], 1);
    assert_eq!(dana["backlog"]["names"][0], "waiting.csv");
    let rejected = dana["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1);
    assert!(
        rejected[0]["file"]
            .as_str()
            .unwrap()
            .ends_with("/broken.vcf")
    );
    assert!(!rejected[0]["reason"].as_str().unwrap().is_empty());
    let refused = dana["refused"].as_array().unwrap();
    assert!(
        refused
            .iter()
            .any(|e| e["item"] == "SM-T1" && e["outcome"] == "not-updatable"),
        "{refused:?}"
    );
    assert_eq!(dana["last_ingest"]["outcome"], "attention");
    assert_eq!(dana["last_export"]["outcome"], "ok");
    // Every profile was exported once; the journal's activity has a day with changes.
    for p in profiles {
        let runs = p["runs"].as_array().unwrap();
        assert!(runs.iter().any(|r| r["kind"] == "export"), "{p}");
    }
    let days = r["activity"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    assert!(days.iter().any(|d| d["refused"].as_u64() > Some(0)));
}

#[test]
fn status_says_what_needs_attention_and_which_watcher_holds_the_drop_folder() {
    let site = Site::new();
    let s = site.json(&["status", "--json"]);
    let a = &s["attention"];
    assert_eq!(a["watcher_pid"], serde_json::Value::Null);
    let dana = a["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["profile"] == DANA)
        .unwrap();
    assert_eq!(dana["backlog"]["files"], 1);
    assert_eq!(dana["rejected_since_last_run"], 1);
    assert_eq!(dana["last_ingest"]["outcome"], "attention");
    let needs = dana["needs"].as_array().unwrap();
    assert_eq!(needs.len(), 3, "backlog, rejected, the ingest: {needs:?}");
    let text = site.ok(&["status"]);
    assert!(text.contains("watcher: none holds"), "{text}");
    assert!(
        text.contains("attention: 1 file(s) wait in the inbox"),
        "{text}"
    );
    // A watcher holds the drop folder: its pid shows.
    let mut w = site
        .cmd(&["watch", "--debounce-ms", "100000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = w.id().to_string();
    let t = std::time::Instant::now();
    let seen = loop {
        let a = site.json(&["status", "--json"])["attention"]["watcher_pid"].clone();
        if a != serde_json::Value::Null || t.elapsed().as_secs() > 10 {
            break a;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(seen, serde_json::Value::String(pid.clone()));
    assert!(
        site.ok(&["status"])
            .contains(&format!("watcher: pid {pid} holds"))
    );
    let _ = w.kill();
    let _ = w.wait();
}
