//! `smsync watch` as it runs at a site: the real binary, real files, a real database of each
//! engine (SQLite and PostgreSQL: `both!`), and the faults it must survive. Each wait is bounded (3 s for the results the issue names).

mod common;

use common::Watch;
use common::site::Site;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DANA: &str = "Dana Whitfield";

impl Site {
    /// The sample company in the site's database.
    fn init(&self) {
        self.ok(&["db", "init"]);
        self.ok(&["db", "seed", "--sample"]);
    }

    fn inbox(&self) -> PathBuf {
        self.path().join("dropbox").join(DANA).join("inbox")
    }

    fn processed(&self) -> Vec<String> {
        let mut out = Vec::new();
        for d in ["processed", "rejected"] {
            let root = self.path().join("dropbox").join(DANA).join(d);
            for day in fs::read_dir(root).into_iter().flatten().flatten() {
                for f in fs::read_dir(day.path()).into_iter().flatten().flatten() {
                    out.push(f.file_name().to_string_lossy().into_owned());
                }
            }
        }
        out
    }

    /// Starts the watcher and waits until it has exported (it exports at start).
    fn watch(&self, extra: &[&str]) -> Watch {
        let log = self.path().join(format!("watch-{}.log", extra.len()));
        let mut c = self.cmd(&["watch", "--debounce-ms", "300", "--db-interval-ms", "200"]);
        c.args(extra).stderr(fs::File::create(&log).unwrap());
        let child = c.spawn().unwrap();
        let w = Watch { child, log };
        let vcf = self
            .path()
            .join("dropbox")
            .join(DANA)
            .join("contacts/SM-U1.vcf");
        wait_until(Duration::from_secs(10), || vcf.exists(), "the first export");
        w
    }

    fn show(&self, key: &str) -> serde_json::Value {
        let out = self
            .cmd(&["admin", "show", key, "--json"])
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool, what: &str) -> Duration {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    t.elapsed()
}

fn edit_csv(key: &str, phone: &str) -> String {
    format!("\"User 1\",\"Mobile Phone\",\"Categories\"\r\n\"{key}\",\"{phone}\",\"!Update\"\r\n")
}

/// Drops a file the way a copy does: written under a temp name, then renamed.
fn drop_file(inbox: &Path, name: &str, text: &str) {
    let tmp = inbox.join(format!("{name}.part"));
    fs::write(&tmp, text).unwrap();
    fs::rename(&tmp, inbox.join(name)).unwrap();
}

both!(drops_and_database_changes_are_seen_within_3_seconds_and_sigterm_exits_0);
fn drops_and_database_changes_are_seen_within_3_seconds_and_sigterm_exits_0(site: Site) {
    site.init();
    let w = site.watch(&[]);
    // Temp and lock names are never read.
    for junk in ["~$locked.csv", "upload.tmp", "big.part", ".~lock.x.csv#"] {
        fs::write(site.inbox().join(junk), edit_csv("SM-T1", "+1 JUNK")).unwrap();
    }
    drop_file(&site.inbox(), "edit.csv", &edit_csv("SM-T1", "+1 555 0001"));
    wait_until(
        Duration::from_secs(3),
        || site.show("SM-T1")["mobile"] == "+1 555 0001",
        "a dropped file applied",
    );
    wait_until(
        Duration::from_secs(3),
        || site.processed().contains(&"edit.csv".into()),
        "filed",
    );
    // The database changes: the vdir follows.
    assert!(
        site.cmd(&["admin", "set", "SM-T2", "notes=changed by admin"])
            .status()
            .unwrap()
            .success()
    );
    let vcf = site
        .path()
        .join("dropbox")
        .join(DANA)
        .join("contacts/SM-T2.vcf");
    wait_until(
        Duration::from_secs(3),
        || {
            fs::read_to_string(&vcf)
                .unwrap_or_default()
                .contains("changed by admin")
        },
        "a database change exported",
    );
    for junk in ["~$locked.csv", "upload.tmp", "big.part", ".~lock.x.csv#"] {
        assert!(site.inbox().join(junk).exists(), "{junk} was touched");
    }
    let log = w.log();
    assert!(log.contains("ingest") && log.contains("export"), "{log}");
    let (status, took) = w.stop();
    assert_eq!(status.code(), Some(0));
    assert!(took < Duration::from_secs(2), "{took:?}");
}

both!(a_file_is_read_only_once_complete);
fn a_file_is_read_only_once_complete(site: Site) {
    site.init();
    let w = site.watch(&[]);
    let path = site.inbox().join("slow.csv");
    let text = edit_csv("SM-T3", "+1 555 0003");
    let (head, tail) = text.split_at(text.len() / 2);
    fs::write(&path, head).unwrap();
    // Still being written: within the debounce nothing is read.
    std::thread::sleep(Duration::from_millis(150));
    use std::io::Write;
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(tail.as_bytes())
        .unwrap();
    wait_until(
        Duration::from_secs(3),
        || site.show("SM-T3")["mobile"] == "+1 555 0003",
        "the completed file applied",
    );
    assert!(
        !site.processed().iter().any(|f| f.ends_with(".error.txt")),
        "{:?}",
        site.processed()
    );
    // A file that vanishes before it is read is no error.
    fs::write(site.inbox().join("gone.csv"), "x").unwrap();
    fs::remove_file(site.inbox().join("gone.csv")).unwrap();
    drop_file(
        &site.inbox(),
        "after.csv",
        &edit_csv("SM-T9", "+1 555 0009"),
    );
    wait_until(
        Duration::from_secs(3),
        || site.show("SM-T9")["mobile"] == "+1 555 0009",
        "a file after a vanished one applied",
    );
    assert!(!site.processed().iter().any(|f| f.starts_with("gone")));
    drop(w);
}

both!(the_inbox_deleted_and_recreated_is_watched_again);
fn the_inbox_deleted_and_recreated_is_watched_again(site: Site) {
    site.init();
    let _w = site.watch(&[]);
    fs::remove_dir_all(site.inbox()).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    fs::create_dir_all(site.inbox()).unwrap();
    drop_file(
        &site.inbox(),
        "after.csv",
        &edit_csv("SM-T4", "+1 555 0004"),
    );
    wait_until(
        Duration::from_secs(3),
        || site.show("SM-T4")["mobile"] == "+1 555 0004",
        "a file in the recreated inbox applied",
    );
}

both!(a_locked_database_is_waited_for);
fn a_locked_database_is_waited_for(site: Site) {
    site.init();
    let _w = site.watch(&[]);
    // Another writer holds the database: a write transaction left open for a while.
    let db = site.db_arg();
    let (held, is_held) = std::sync::mpsc::channel();
    let writer = std::thread::spawn(move || {
        let mut store = smsync::store::open(db).unwrap();
        store
            .write(&mut |_| {
                held.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(1500));
                Ok(())
            })
            .unwrap();
    });
    is_held.recv().unwrap();
    drop_file(
        &site.inbox(),
        "locked.csv",
        &edit_csv("SM-T5", "+1 555 0005"),
    );
    writer.join().unwrap();
    wait_until(
        Duration::from_secs(12),
        || site.show("SM-T5")["mobile"] == "+1 555 0005",
        "the file applied after the lock",
    );
}

both!(one_watcher_per_drop_folder_and_a_stale_lock_is_taken_over);
fn one_watcher_per_drop_folder_and_a_stale_lock_is_taken_over(site: Site) {
    site.init();
    // A lock file left by a crashed watcher (nobody holds it).
    fs::create_dir_all(site.path().join("dropbox")).unwrap();
    fs::write(site.path().join("dropbox/.smsync-watch.lock"), "999999\n").unwrap();
    let w = site.watch(&[]);
    let out = site
        .cmd(&["watch"])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("pid {}", w.child.id())), "{err}");
    w.stop();
}

both!(an_unreadable_file_is_retried_and_the_others_go_on);
fn an_unreadable_file_is_retried_and_the_others_go_on(mut site: Site) {
    use std::os::unix::fs::PermissionsExt;
    site.init();
    // Root reads any file: run every command as an unprivileged user to get a real EACCES.
    if unsafe { libc::geteuid() } == 0 {
        let status = Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(site.path())
            .status()
            .unwrap();
        assert!(status.success());
        site.as_user = Some(65534);
    }
    let w = site.watch(&[]);
    let locked = site.inbox().join("locked.csv");
    fs::write(&locked, edit_csv("SM-T6", "+1 555 0006")).unwrap();
    if site.as_user.is_some() {
        Command::new("chown")
            .arg("65534:65534")
            .arg(&locked)
            .status()
            .unwrap();
    }
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    drop_file(&site.inbox(), "fine.csv", &edit_csv("SM-T7", "+1 555 0007"));
    if site.as_user.is_some() {
        Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(site.inbox())
            .status()
            .unwrap();
    }
    wait_until(
        Duration::from_secs(3),
        || site.show("SM-T7")["mobile"] == "+1 555 0007",
        "the readable file applied",
    );
    wait_until(
        Duration::from_secs(3),
        || w.log().contains("retrying later"),
        "the unreadable file logged",
    );
    assert!(locked.exists(), "the unreadable file stays in the inbox");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o644)).unwrap();
    wait_until(
        Duration::from_secs(5),
        || site.show("SM-T6")["mobile"] == "+1 555 0006",
        "the file applied once readable",
    );
    let (status, _) = w.stop();
    assert_eq!(status.code(), Some(0));
}

both!(polling_mode_json_logs_and_a_replaced_file);
fn polling_mode_json_logs_and_a_replaced_file(site: Site) {
    site.init();
    let w = site.watch(&["--poll", "0.2", "--json-logs"]);
    // A file replaced before it settles: the settled content is what applies.
    let path = site.inbox().join("replaced.csv");
    fs::write(&path, edit_csv("SM-T8", "+1 555 FIRST")).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop_file(
        &site.inbox(),
        "replaced.csv",
        &edit_csv("SM-T8", "+1 555 SECOND"),
    );
    wait_until(
        Duration::from_secs(3),
        || site.show("SM-T8")["mobile"] == "+1 555 SECOND",
        "the replacement applied",
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_ne!(site.show("SM-T8")["mobile"], "+1 555 FIRST");
    let filed: Vec<String> = site
        .processed()
        .into_iter()
        .filter(|f| f.starts_with("replaced"))
        .collect();
    assert_eq!(
        filed,
        vec!["replaced.csv".to_string()],
        "the first version was never read"
    );
    let log = w.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["fields"]["message"] == "ingest"),
        "{log}"
    );
    let (status, _) = w.stop();
    assert_eq!(status.code(), Some(0));
}

/// The CPU time (user + system) a process has used so far, from `/proc/<pid>/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_micros(ticks * 1_000_000 / per_second)
}

/// The share of one core the watcher used over `period` of idling.
fn idle_cpu_share(w: &Watch, period: Duration) -> f64 {
    let (cpu0, t0) = (cpu_time(w.child.id()), Instant::now());
    std::thread::sleep(period);
    let (cpu1, wall) = (cpu_time(w.child.id()), t0.elapsed());
    (cpu1 - cpu0).as_secs_f64() / wall.as_secs_f64()
}

both!(an_idle_watcher_sleeps);
/// A busy-loop catcher, not a timing test: an idle watcher sleeps between its rounds, so
/// over a few seconds it uses a small fraction of a core (the bench holds it to 1%; this
/// bound is ten times that, for a loaded test machine).
fn an_idle_watcher_sleeps(site: Site) {
    site.init();
    let w = site.watch(&[]);
    // Let the first export and its scans settle, then do nothing.
    std::thread::sleep(Duration::from_millis(500));
    let share = idle_cpu_share(&w, Duration::from_secs(4));
    assert!(
        share < 0.10,
        "the idle watcher used {:.0}% of a core: {}",
        share * 100.0,
        w.log()
    );
    // It still sees a drop after idling.
    drop_file(&site.inbox(), "late.csv", &edit_csv("SM-T3", "+1 555 0303"));
    wait_until(
        Duration::from_secs(3),
        || site.show("SM-T3")["mobile"] == "+1 555 0303",
        "a file dropped after idling applied",
    );
}

both!(an_edit_dropped_in_one_inbox_reaches_every_other_profile);
/// Every database change reaches every watched profile, whatever the timing: an edit
/// ingested from Dana's inbox (whose export runs at once and sees it) reaches Marco's
/// files too. The database is checked rarely, so the round of the ingest has no check.
fn an_edit_dropped_in_one_inbox_reaches_every_other_profile(site: Site) {
    const MARCO: &str = "Marco Rossi";
    site.init();
    let log = site.path().join("watch-two.log");
    let mut c = site.cmd(&["watch", "--debounce-ms", "300", "--db-interval-ms", "1500"]);
    c.stderr(fs::File::create(&log).unwrap());
    let w = Watch {
        child: c.spawn().unwrap(),
        log,
    };
    let vcf = |profile: &str| {
        site.path()
            .join("dropbox")
            .join(profile)
            .join("contacts/SM-T1.vcf")
    };
    wait_until(
        Duration::from_secs(10),
        || vcf(DANA).exists() && vcf(MARCO).exists(),
        "the first export of both profiles",
    );
    drop_file(&site.inbox(), "edit.csv", &edit_csv("SM-T1", "+1 555 0111"));
    let has = |profile: &str| {
        fs::read_to_string(vcf(profile))
            .unwrap_or_default()
            .contains("+1 555 0111")
    };
    wait_until(
        Duration::from_secs(5),
        || has(DANA),
        "Dana's copy refreshed",
    );
    wait_until(
        Duration::from_secs(6),
        || has(MARCO),
        "the edit reached Marco's files",
    );
    let (status, _) = w.stop();
    assert_eq!(status.code(), Some(0));
}

both!(an_employee_added_or_reset_while_watching_is_exported);
/// The watcher sees employees change, not only records: a new employee's profile is
/// exported, and a profile whose sync dates are reset is written again, without a restart.
fn an_employee_added_or_reset_while_watching_is_exported(site: Site) {
    site.init();
    let w = site.watch(&[]);
    site.ok(&["admin", "add", "employee", "user=SM-U15"]);
    let priya = site
        .path()
        .join("dropbox")
        .join("Priya Natarajan")
        .join("contacts/SM-U1.vcf");
    wait_until(
        Duration::from_secs(3),
        || priya.exists(),
        "the new employee's profile exported",
    );
    // A file removed by hand comes back only from a full export: the reset's.
    let dana = site
        .path()
        .join("dropbox")
        .join(DANA)
        .join("contacts/SM-U1.vcf");
    fs::remove_file(&dana).unwrap();
    site.ok(&["reset", "--profile", DANA]);
    wait_until(
        Duration::from_secs(3),
        || dana.exists(),
        "the reset profile exported again",
    );
    let (status, _) = w.stop();
    assert_eq!(status.code(), Some(0));
}
