"""smsync benchmarks (issue #8): export, ingest and watch, each against this machine's own
limits, measured in one run. Called by scripts/bench.sh; prints a table and writes JSON.

Usage: run.py SMSYNC FS_BASELINE WORKDIR OUT.json [--quick]
              [--only vdir,csv,ingest,watch,idle,reconcile,pst,peer] [--venv DIR]
              [--scale K] [--db postgres://... [--stats]]

With --db (issue 19) every step runs twice, on SQLite and then on PostgreSQL (a fresh
database on that server for each step), and the table has both columns side by side with
their ratio; the limits of the file system and the peer, which no engine changes, are left
out. --stats prints, after each PostgreSQL command that matters, what pg_stat_statements saw.
"""

import csv
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pgserver

SMSYNC, BASELINE, WORK, OUT = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
# The other programs sit beside fs_baseline (cargo's examples folder).
LIMIT = str(Path(BASELINE).with_name("ingest_limit"))
# The interop virtualenv, where vdirsyncer is installed pinned (scripts/bench.sh builds it).
VENV = Path(sys.argv[sys.argv.index("--venv") + 1] if "--venv" in sys.argv else ".venv-interop")
QUICK = "--quick" in sys.argv
ONLY = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else None
# --scale K divides every size by K. --quick is --scale 10, and --scale 20 with --db, so that
# both engines together take about what one does with a tenth.
SCALE = (int(sys.argv[sys.argv.index("--scale") + 1]) if "--scale" in sys.argv
         else (20 if "--db" in sys.argv else 10) if QUICK else 1)
# A PostgreSQL server: both engines, side by side.
DB = sys.argv[sys.argv.index("--db") + 1] if "--db" in sys.argv else None
COMPARE = DB is not None
STATS = "--stats" in sys.argv
SERVER = pgserver.Server(DB) if COMPARE else None
# The engine the steps run on now.
ENGINE = "sqlite"
results = {}
rows = []
# With --db: each engine's figures, and each figure's label and unit, in the order found.
figures = {"sqlite": {}, "postgres": {}}
labels = {}


def note(key, value, unit, target=""):
    """A figure of the plain run (with --db, `figure` keeps each engine's instead)."""
    if COMPARE:
        return
    results[key] = value
    rows.append((key, value, unit, target))
    print(f"  {key:<28} {value:>12} {unit:<10} {target}", flush=True)


def figure(key, value, unit, label):
    """One engine's figure for the side-by-side table (with --db only)."""
    if not COMPARE:
        return
    value = round(value, 4)
    figures[ENGINE][key] = value
    labels.setdefault(key, (label, unit))
    print(f"  {ENGINE:<8} {label:<60} {value:>10} {unit}", flush=True)


# With --db: SQLite's output folders, removed only once PostgreSQL's run of the step is over.
# A folder of 400,000 files just deleted slows every file created after it (ext4's inode
# allocator passes over recently deleted inodes), which would count against the engine
# that runs second.
later = []


def drop_dir(name):
    """A step's drop folder (one per engine with --db)."""
    return WORK / (f"drop-{name}-{ENGINE}" if COMPARE else f"drop-{name}")


def remove(drop):
    """Removes a step's drop folder at its end (see `later`)."""
    if COMPARE and ENGINE == "sqlite":
        later.append(drop)
    else:
        shutil.rmtree(drop, ignore_errors=True)


def on_postgres(db):
    return isinstance(db, str) and db.startswith(("postgres://", "postgresql://"))


def stats_start(db):
    """With --stats on PostgreSQL: starts counting the statements of the next command."""
    return STATS and on_postgres(db) and SERVER.reset_stats(db)


def stats_show(started, db, label, items):
    if started:
        SERVER.show_stats(db, label, items)


def run(db, *args, drop=None, check=True, tail=None):
    """Runs smsync; returns (stdout, or its last `tail` bytes, seconds, peak RSS in MB)."""
    cmd = [SMSYNC, "--db", str(db), "--drop", str(drop or WORK / "drop"), *args]
    # Output goes to files, not pipes: a child blocked on a full pipe would never exit.
    # Start from a clean page cache: the write-back of an earlier step (a deleted tree, a
    # seed) would otherwise land in this one's fsync.
    os.sync()
    with open(WORK / "stdout", "w+") as o, open(WORK / "stderr", "w+") as e:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=o, stderr=e)
        peak = [0]
        watcher = threading.Thread(target=watch_peak_rss, args=(p.pid, peak), daemon=True)
        watcher.start()
        _, status, usage = os.wait4(p.pid, 0)
        secs = time.perf_counter() - t
        watcher.join()
        o.seek(0, os.SEEK_END)
        o.seek(max(0, o.tell() - tail) if tail else 0)
        e.seek(0)
        out, err = o.read(), e.read()
    code = os.waitstatus_to_exitcode(status)
    if check and code not in (0, 3):
        sys.exit(f"smsync {' '.join(args)} failed ({code}): {err}")
    # ru_maxrss counts this process's own peak too: a child starts from its parent's memory
    # until it execs, so it is only an upper bound (it read 77.6 MB for a PST export whose
    # own peak was 44 MB). The sampled peak is smsync's alone.
    return out, secs, (peak[0] or usage.ru_maxrss) / 1024


def watch_peak_rss(pid, peak):
    """Samples a running child's VmHWM (the peak RSS of its program, since its exec) every
    10 ms into peak[0] (KB) until it has exited. Popen returns once the exec is done."""
    while True:
        try:
            with open(f"/proc/{pid}/status") as f:
                hwm = next((int(l.split()[1]) for l in f if l.startswith("VmHWM:")), None)
        except (OSError, ValueError):
            return
        if hwm is None:
            return  # exited: a zombie has no memory
        peak[0] = max(peak[0], hwm)
        time.sleep(0.01)


def new_db(name):
    """An empty database with smsync's schema, on the engine the steps run on now."""
    if ENGINE == "postgres":
        db = SERVER.fresh(name)
    else:
        db = WORK / f"{name}.db"
        for p in WORK.glob(f"{name}.db*"):
            p.unlink()
    run(db, "db", "init")
    return db


def fresh_db(name, contacts, sis=None, seed_figure=None):
    """A database seeded with `contacts` contacts; `seed_figure` names the seed's time in
    the side-by-side table."""
    db = new_db(name)
    args = ["db", "seed", "--scale", str(contacts)]
    if sis is not None:
        args += ["--sis", str(sis)]
    counting = stats_start(db)
    _, secs, _ = run(db, *args)
    stats_show(counting, db, f"seed of {contacts}", contacts + (sis or 0))
    if seed_figure:
        figure(seed_figure, secs, "s", " ".join(args))
    profile = json.loads(run(db, "status", "--json")[0])["profiles"][0]["profile"]
    return db, profile


def tree_stats(*dirs):
    n = size = 0
    for d in dirs:
        for e in os.scandir(d):
            if e.is_file() and not e.name.startswith("."):
                n += 1
                size += e.stat().st_size
    return n, size


def edit_users(db, count, tag):
    """Changes `count` users through the storage layer (admin set), spread over the ids."""
    users = int(json.loads(run(db, "status", "--json")[0])["records"]["user"])
    step = max(1, users // count)
    for i in range(count):
        run(db, "admin", "set", f"SM-U{1 + i * step}", f"mobile=+1 555 {tag}{i:04d}")


def bench_vdir():
    contacts, sis = 200_000 // SCALE, 20_000 // SCALE
    db, profile = fresh_db("vdir", contacts, sis, seed_figure="seed_vdir")
    drop = drop_dir("vdir")
    shutil.rmtree(drop, ignore_errors=True)
    counting = stats_start(db)
    out, secs, rss = run(db, "export", "--profile", profile, "--json", drop=drop)
    r = json.loads(out)["profiles"][0]
    items = r["contacts"]["written"] + r["tasks"]["written"]
    stats_show(counting, db, "first export", items)
    root = drop / profile
    n, size = tree_stats(root / "contacts", root / "tasks", root / "outlook-vcards")
    figure("export_vdir_s", secs, "s", f"first export, every output ({items} items, {n} files)")
    figure("export_peak_rss_mb", rss, "MB", "its peak RSS")
    note("export_vdir_items_per_s", round(items / secs), "items/s", f"{items} items, {n} files")
    note("export_peak_rss_mb", round(rss, 1), "MB", "target < 100")
    if COMPARE:
        remove(drop)
        return
    base = WORK / "baseline-files"
    shutil.rmtree(base, ignore_errors=True)
    os.sync()
    b = subprocess.run([BASELINE, "files", str(base), str(n), str(max(1, size // n))],
                       capture_output=True, text=True, check=True).stdout
    files_per_s = float(b.split("files_per_s=")[1])
    shutil.rmtree(base, ignore_errors=True)
    note("baseline_files_per_s", round(files_per_s), "files/s", "temp file + rename")
    ratio = (n / secs) / files_per_s
    note("export_vdir_ratio", round(ratio, 2), "x", "target >= 0.8")
    remove(drop)


def bench_csv_and_incremental():
    contacts = 1_000_000 // SCALE
    db, profile = fresh_db("csv", contacts, seed_figure="seed_csv")
    drop = drop_dir("csv")
    shutil.rmtree(drop, ignore_errors=True)
    counting = stats_start(db)
    out, secs, _ = run(db, "export", "--profile", profile, "--outputs", "outlook", "--json",
                       drop=drop)
    stats_show(counting, db, "Outlook CSV export", contacts)
    n, size = tree_stats(drop / profile / "outlook", drop / profile / "outlook" / "changes")
    mb = size / 1e6
    figure("export_csv_s", secs, "s", f"first export, --outputs outlook ({mb:.0f} MB)")
    if not COMPARE:
        bench_csv_baseline(mb, secs, size)
    incremental(db, profile, drop, contacts)


def bench_csv_baseline(mb, secs, size):
    note("export_csv_mb_per_s", round(mb / secs, 1), "MB/s", f"{mb:.0f} MB in {secs:.1f} s")
    # The device's flush rate varies from run to run here (a virtual disk): the median of
    # three writes of the same bytes.
    seqs = []
    for _ in range(3):
        os.sync()
        seq = subprocess.run([BASELINE, "seq", str(WORK / "seq.bin"), str(size)],
                             capture_output=True, text=True, check=True).stdout
        (WORK / "seq.bin").unlink()
        seqs.append(float(seq.split("mb_per_s=")[1]))
    seq_mb = statistics.median(seqs)
    note("baseline_seq_mb_per_s", round(seq_mb, 1), "MB/s",
         "sequential write + fsync, median of " + ", ".join(f"{x:.0f}" for x in seqs))
    note("export_csv_ratio", round((mb / secs) / seq_mb, 2), "x", "target >= 0.5")


def incremental(db, profile, drop, contacts):
    # The later runs write the same output as the first: each output keeps its own stamps,
    # so a run of every output here would be the first run of vdir and vCard 2.1.
    outlook = ("--outputs", "outlook")
    _, secs, _ = run(db, "export", "--profile", profile, *outlook, "--json", drop=drop)
    note("nochange_export_ms", round(secs * 1000, 1), "ms", f"over {contacts} contacts; target < 50")
    figure("nochange_export_ms", secs * 1000, "ms", f"export with no change, {contacts} contacts")

    def changed_100(db, profile, tags):
        """The median of three exports, each after 100 users changed (one run of tens of
        milliseconds is at the mercy of whatever else the machine does in it)."""
        times = []
        for tag in tags:
            edit_users(db, 100, tag)
            _, secs, _ = run(db, "export", "--profile", profile, *outlook, "--json", drop=drop)
            times.append(secs)
        return statistics.median(times), times

    big, bigs = changed_100(db, profile, "976")
    # The same 100 changes among a tenth of the records.
    small_db, small_profile = fresh_db("incr", contacts // 10)
    run(small_db, "export", "--profile", small_profile, "--outputs", "outlook", drop=drop)
    small, smalls = changed_100(small_db, small_profile, "854")
    ms = lambda ts: ", ".join(f"{t * 1000:.1f}" for t in ts)
    label = f"{contacts // 10 // 1000}k" if contacts // 10 >= 1000 else str(contacts // 10)
    note("incremental_100_of_100k_ms", round(small * 1000, 1), "ms",
         f"100 of {label}, median of {ms(smalls)}; target < 100")
    note("incremental_100_of_1m_ms", round(big * 1000, 1), "ms",
         f"100 of {contacts}, median of {ms(bigs)}; ratio {big / small:.2f} (target <= 1.5)")
    figure("incremental_100_of_100k_ms", small * 1000, "ms",
           f"export of 100 changed users among {contacts // 10}")
    figure("incremental_100_of_1m_ms", big * 1000, "ms",
           f"export of 100 changed users among {contacts}")
    remove(drop)


def bench_pst():
    """Writing the PST of 200,000 contacts and 20,000 tasks (`--outputs pst`), against the
    sequential write rate of the same bytes in the same run (issue #17)."""
    contacts, sis = 200_000 // SCALE, 20_000 // SCALE
    db, profile = fresh_db("pst", contacts, sis)
    drop = drop_dir("pst")
    shutil.rmtree(drop, ignore_errors=True)
    counting = stats_start(db)
    out, secs, rss = run(db, "export", "--profile", profile, "--outputs", "pst", "--json",
                         drop=drop)
    r = json.loads(out)["profiles"][0]
    items = r["contacts"]["written"] + r["tasks"]["written"]
    stats_show(counting, db, "PST export", items)
    size = (drop / profile / "outlook" / "Service Master.pst").stat().st_size
    mb = size / 1e6
    figure("pst_export_s", secs, "s", f"first export, --outputs pst ({items} items, {mb:.0f} MB)")
    figure("pst_export_peak_rss_mb", rss, "MB", "its peak RSS")
    if COMPARE:
        remove(drop)
        return
    note("pst_export_mb_per_s", round(mb / secs, 1), "MB/s",
         f"{items} items, {mb:.0f} MB in {secs:.1f} s")
    seqs = []
    for _ in range(3):
        os.sync()
        seq = subprocess.run([BASELINE, "seq", str(WORK / "seq.bin"), str(size)],
                             capture_output=True, text=True, check=True).stdout
        (WORK / "seq.bin").unlink()
        seqs.append(float(seq.split("mb_per_s=")[1]))
    seq_mb = statistics.median(seqs)
    note("pst_baseline_seq_mb_per_s", round(seq_mb, 1), "MB/s",
         "the same bytes, sequential write + fsync, median of " +
         ", ".join(f"{x:.0f}" for x in seqs))
    note("pst_export_ratio", round((mb / secs) / seq_mb, 2), "x", "goal >= 0.5")
    note("pst_export_peak_rss_mb", round(rss, 1), "MB", "goal < 100")
    remove(drop)
    # The writer's memory must not grow with the items: the same export at four times the
    # size, against the figure above. What does grow there is bounded: the export's state
    # queue (64 pages) and SQLite's page caches fill more in a longer run.
    db4, profile4 = fresh_db("pst4", 4 * contacts, 4 * sis)
    drop4 = drop_dir("pst4")
    shutil.rmtree(drop4, ignore_errors=True)
    out4, secs4, rss4 = run(db4, "export", "--profile", profile4, "--outputs", "pst", "--json",
                            drop=drop4)
    r4 = json.loads(out4)["profiles"][0]
    items4 = r4["contacts"]["written"] + r4["tasks"]["written"]
    note("pst_export_4x_peak_rss_mb", round(rss4, 1), "MB",
         f"{items4} items in {secs4:.1f} s; {rss4 / rss:.2f} x the peak at {items} items "
         "(goal < 100)")
    remove(drop4)
    for p in WORK.glob("pst4.db*"):
        p.unlink()


def in_child(fn, *args):
    """Runs fn(*args) in a forked copy of this process and returns its (JSON) result: what
    it holds meanwhile goes with the copy. A child's peak RSS (ru_maxrss) starts from this
    process's size at the fork, so work on large files here would show in every later
    step's peak RSS figure."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 0
        try:
            with os.fdopen(w, "w") as out:
                json.dump(fn(*args), out)
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        os._exit(code)
    os.close(w)
    with os.fdopen(r) as inp:
        text = inp.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{fn.__name__} failed")
    return json.loads(text)


def ingest_tally(db, profile, drop):
    """Runs an ingest with --json; returns (its tally, seconds). Only the end of the report
    is read (the tally follows the files): the whole report of 100,000 items is tens of MB
    (37 MB for the edits here), and this process's size at a fork shows in every later
    child's peak RSS."""
    out, secs, _ = run(db, "ingest", "--profile", profile, "--json", drop=drop, tail=1 << 16)
    tally = re.search(r'\n  "tally": (\{[^}]*\})', out)
    if not tally:
        sys.exit(f"no tally at the end of the ingest report: {out[-500:]}")
    return json.loads(tally.group(1)), secs


def limit(*args):
    """Runs examples/ingest_limit.rs; returns its items per second."""
    os.sync()
    out = subprocess.run([LIMIT, *map(str, args)], capture_output=True, text=True,
                         check=True).stdout
    return float(out.split("items_per_s=")[1])


def edit_sheet(root, n, edits_file):
    """The inbox sheet of the ingest step: the profile's contacts.csv with the mobile phone
    of the first n users changed and !Update added; their edits (ROWID, column, value) for
    the database limit. Streamed row by row. Returns the number of edits."""
    root = Path(root)
    edits = 0
    with open(root / "outlook" / "contacts.csv", encoding="utf-8-sig", newline="") as src, \
            open(root / "inbox" / "contacts.csv", "w", encoding="utf-8", newline="") as dst, \
            open(edits_file, "w") as tsv:
        rows_ = csv.reader(src)
        h = next(rows_)
        key, mobile, cats = h.index("User 1"), h.index("Mobile Phone"), h.index("Categories")
        dst.write("\ufeff")
        w = csv.writer(dst, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        w.writerow(h)
        for r in rows_:
            if edits < n and r[key].startswith("SM-U"):
                r[mobile] = f"+1 555 {edits:06d}"
                r[cats] += ";!Update"
                tsv.write(f"{r[key][4:]}\tmobile\t{r[mobile]}\n")
                edits += 1
            w.writerow(r)
    return edits


def edit_vcards(root, n, copies):
    """The first n users' vCards with a home phone added and !Update, into the inbox and
    into `copies` (for the file limit). Returns how many."""
    root = Path(root)
    done = 0
    for name in sorted(e.name for e in os.scandir(root / "contacts")
                       if e.name.startswith("SM-U") and e.name.endswith(".vcf")):
        if done == n:
            break
        text = (root / "contacts" / name).read_bytes().decode("utf-8")
        text = text.replace("\r\nCATEGORIES:", "\r\nTEL;TYPE=HOME,VOICE:+1 555 %06d\r\nCATEGORIES:" % done, 1)
        text = text.replace("\r\nREV:", ",!Update\r\nREV:", 1)
        (root / "inbox" / name).write_bytes(text.encode("utf-8"))
        (Path(copies) / name).write_bytes(text.encode("utf-8"))
        done += 1
    return done


def bench_ingest():
    """Ingest of 100,000 edited contacts, from one Outlook CSV and from as many .vcf files,
    each against its limit in the same run (issue 20): the same edits applied by key and
    journaled in one transaction on a copy of the database (ingest_limit db), and the same
    files read, hashed and moved with the same fsyncs (ingest_limit files)."""
    n = 100_000 // SCALE
    # Edits of more than half the profile's items would stop at the change guard.
    db, profile = fresh_db("ingest", int(n / 0.45))
    drop = drop_dir("ingest")
    shutil.rmtree(drop, ignore_errors=True)
    run(db, "export", "--profile", profile, "--outputs", "vdir,outlook", drop=drop)
    root = drop / profile
    edits = in_child(edit_sheet, str(root), n, str(WORK / "limit-edits.tsv"))
    if not COMPARE:
        # The limit works on a copy, so that smsync applies its edits to the same database.
        copy = WORK / "limit.db"
        shutil.copy(db, copy)
        for ext in ("-wal", "-shm"):
            if Path(f"{db}{ext}").exists():
                shutil.copy(f"{db}{ext}", f"{copy}{ext}")
        db_limit = limit("db", copy, "users", WORK / "limit-edits.tsv")
        for p in WORK.glob("limit.db*"):
            p.unlink()
    counting = stats_start(db)
    tally, secs = ingest_tally(db, profile, drop)
    applied = tally["applied"]
    stats_show(counting, db, "ingest of the CSV", applied)
    if applied != edits:
        sys.exit(f"ingest of the CSV applied {applied} of {edits} edits")
    figure("ingest_csv_s", secs, "s", f"ingest of an Outlook CSV, {applied} edited contacts")
    if not COMPARE:
        rate = applied / secs
        note("ingest_csv_items_per_s", round(rate), "items/s", f"{applied} items in {secs:.2f} s")
        note("ingest_csv_limit_items_per_s", round(db_limit), "items/s",
             "the same edits by key + journal, one transaction")
        note("ingest_csv_ratio", round(rate / db_limit, 2), "x", "goal >= 0.5")
    src, dest = WORK / "limit-src", WORK / "limit-dest"
    for d in (src, dest):
        shutil.rmtree(d, ignore_errors=True)
    src.mkdir()
    done = in_child(edit_vcards, str(root), n, str(src))
    if not COMPARE:
        files_limit = limit("files", src, dest, 500)
    for d in (src, dest):
        shutil.rmtree(d, ignore_errors=True)
    counting = stats_start(db)
    tally, secs = ingest_tally(db, profile, drop)
    applied = tally["applied"]
    stats_show(counting, db, "ingest of the .vcf files", applied)
    if applied != done:
        sys.exit(f"ingest of the .vcf files applied {applied} of {done} edits")
    figure("ingest_vcf_s", secs, "s", f"ingest of {applied} edited .vcf files")
    if not COMPARE:
        rate = applied / secs
        note("ingest_vcf_items_per_s", round(rate), "items/s", f"{applied} files in {secs:.2f} s")
        note("ingest_vcf_limit_items_per_s", round(files_limit), "items/s",
             "the same files read, hashed, moved; fsyncs per 500")
        note("ingest_vcf_ratio", round(rate / files_limit, 2), "x", "goal >= 0.5")
    remove(drop)


def bench_watch():
    drops = 100 // SCALE
    db, _ = fresh_db("watch", 100)
    drop = drop_dir("watch")
    shutil.rmtree(drop, ignore_errors=True)
    env = dict(os.environ, SMSYNC_DB=str(db), SMSYNC_DROP=str(drop))
    log = open(WORK / "watch.log", "w")
    proc = subprocess.Popen([SMSYNC, "watch", "--debounce-ms", "1000"], env=env, stderr=log)
    try:
        profile = json.loads(run(db, "status", "--json")[0])["profiles"][0]["profile"]
        root = drop / profile
        deadline = time.time() + 30
        while not (root / "inbox").is_dir() or not any((root / "contacts").glob("*.vcf")):
            if time.time() > deadline:
                sys.exit("watch did not start")
            time.sleep(0.05)
        lat = []
        for i in range(drops):
            name = f"drop-{i}.csv"
            tmp = root / "inbox" / f".{name}.part"
            tmp.write_text('"User 1","Mobile Phone","Categories"\r\n'
                           f'"SM-T{1 + i % 10}","+1 555 {i:04d}","!Update"\r\n')
            t = time.perf_counter()
            os.rename(tmp, root / "inbox" / name)
            while not any((d / name).exists() for d in (root / "processed").glob("*")):
                if time.perf_counter() - t > 30:
                    sys.exit(f"{name} not applied within 30 s")
                time.sleep(0.002)
            lat.append((time.perf_counter() - t) * 1000)
        lat.sort()
        p50, p95 = statistics.median(lat), lat[int(0.95 * (len(lat) - 1))]
        note("watch_p50_ms", round(p50), "ms", f"{drops} drops, debounce 1000 ms")
        note("watch_p95_ms", round(p95), "ms", "target < 1300")
        figure("watch_p50_ms", p50, "ms", f"watch, drop to applied, p50 of {drops} (1 s debounce)")
        figure("watch_p95_ms", p95, "ms", "… p95")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        remove(drop)


def bench_reconcile():
    """Reconcile of a profile of 200,000 contacts against a full CSV of it, as a ratio to an
    ingest of the same file (which reads every row and skips those without !Update)."""
    contacts = 200_000 // SCALE
    db, profile = fresh_db("reconcile", contacts, 0)
    drop = drop_dir("reconcile")
    shutil.rmtree(drop, ignore_errors=True)
    run(db, "export", "--profile", profile, "--outputs", "outlook", drop=drop)
    root = drop / profile
    sheet = WORK / "reconcile-contacts.csv"
    shutil.copy(root / "outlook" / "contacts.csv", sheet)
    counting = stats_start(db)
    out, secs, rss = run(db, "reconcile", "--profile", profile, str(sheet), "--json",
                         drop=drop, check=False)
    stats_show(counting, db, "reconcile", contacts)
    r = json.loads(out)
    found = sum(len(r[k]) for k in ("duplicates", "stale", "missing", "mismatched", "unreadable"))
    if found:
        sys.exit(f"reconcile of the profile's own full sheet found {found} item(s)")
    shutil.copy(sheet, root / "inbox" / "contacts.csv")
    _, ingest_secs, _ = run(db, "ingest", "--profile", profile, "--json", drop=drop)
    note("reconcile_s", round(secs, 2), "s", f"{r['counts']['found']} rows, peak {rss:.0f} MB")
    note("reconcile_ingest_s", round(ingest_secs, 2), "s", "ingest of the same file")
    note("reconcile_ratio", round(secs / ingest_secs, 2), "x", "limit: none set yet")
    figure("reconcile_s", secs, "s", f"reconcile of {r['counts']['found']} rows")
    figure("reconcile_ingest_s", ingest_secs, "s", "ingest of the same file (no !Update)")
    sheet.unlink()
    remove(drop)


def bench_peer():
    """vdirsyncer, the peer (issue 20): it syncs the exported vdir folder to another folder
    (filesystem storage on both sides) three times, a first sync, one with nothing changed
    and one after 100 contacts changed, while smsync does the same three jobs into the vdir
    (a first export, one with no change, one after 100 records changed). The ratios are
    vdirsyncer's seconds over smsync's, at 10,000 contacts."""
    vdirsyncer = VENV / "bin" / "vdirsyncer"
    if COMPARE:
        return peer_exports()
    if not vdirsyncer.exists():
        sys.exit(f"no vdirsyncer in {VENV}: scripts/bench.sh builds it (see scripts/interop.sh)")
    contacts = 10_000 // SCALE
    db, profile = fresh_db("peer", contacts, 0)
    drop = drop_dir("peer")
    peer = WORK / "peer"
    for d in (drop, peer, WORK / "peer-status"):
        shutil.rmtree(d, ignore_errors=True)
    peer.mkdir()
    vdir = drop / profile / "contacts"
    conf = WORK / "vdirsyncer.conf"
    conf.write_text(f"""[general]
status_path = "{WORK / 'peer-status'}/"

[pair contacts]
a = "smsync"
b = "peer"
collections = null

[storage smsync]
type = "filesystem"
path = "{vdir}/"
fileext = ".vcf"

[storage peer]
type = "filesystem"
path = "{peer}/"
fileext = ".vcf"
""")

    def sync():
        os.sync()
        t = time.perf_counter()
        subprocess.run([vdirsyncer, "-c", conf, "sync"], check=True, capture_output=True)
        return time.perf_counter() - t

    def export():
        return run(db, "export", "--profile", profile, "--outputs", "vdir", drop=drop)[1]

    first = export()
    files = len(list(vdir.glob("*.vcf")))
    # Once, before any sync (it records the pair; not timed).
    subprocess.run([vdirsyncer, "-c", conf, "discover", "contacts"], check=True,
                   capture_output=True)
    first_v = sync()
    if len(list(peer.glob("*.vcf"))) != files:
        sys.exit(f"vdirsyncer copied {len(list(peer.glob('*.vcf')))} of {files} files")
    same, same_v = export(), sync()
    edit_users(db, 100, "7")
    changed, changed_v = export(), sync()
    want = {f.name: f.read_bytes() for f in vdir.glob("*.vcf")}
    got = {f.name: f.read_bytes() for f in peer.glob("*.vcf")}
    if want != got:
        sys.exit("after the third sync the peer folder differs from the vdir")
    for label, s, v in (("first", first, first_v), ("nochange", same, same_v),
                        ("changed", changed, changed_v)):
        note(f"peer_{label}_ratio", round(v / s, 1), "x",
             f"vdirsyncer {v:.3f} s / smsync {s:.3f} s, {files} contacts")
    remove(drop)
    shutil.rmtree(peer, ignore_errors=True)


def peer_exports():
    """With --db: smsync's side of the peer step (the same three exports), on each engine."""
    contacts = 10_000 // SCALE
    db, profile = fresh_db("peer", contacts, 0)
    drop = drop_dir("peer")
    shutil.rmtree(drop, ignore_errors=True)

    def export():
        return run(db, "export", "--profile", profile, "--outputs", "vdir", drop=drop)[1]

    figure("peer_first_s", export(), "s", f"export to vdir, {contacts} contacts: first")
    figure("peer_nochange_s", export(), "s", "… with no change")
    edit_users(db, 100, "7")
    figure("peer_changed_s", export(), "s", "… after 100 changed")
    remove(drop)


def cpu_seconds(pid):
    """User + system CPU time of a process so far, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_watch_idle():
    """Idle `watch` in inotify mode: the share of one core it uses while nothing happens,
    with one profile and with 100 (issue #16: under 1% over a minute)."""
    seconds = max(5 if COMPARE else 10, 60 // SCALE)
    db = new_db("idle")
    run(db, "db", "seed", "--sample")
    profiles = json.loads(run(db, "status", "--json")[0])["profiles"]
    # A quick run of both engines leaves out the 100 profiles (adding them is 200 runs of
    # smsync on each engine).
    many = not (COMPARE and QUICK)
    for i in range(100 - len(profiles) if many else 0):
        user = json.loads(run(db, "admin", "add", "user", "kind=agent", "first_name=Idle",
                              f"last_name=Agent{i:03d}", "--json")[0])["key"]
        run(db, "admin", "add", "employee", f"user={user}")
    names = [p["profile"] for p in json.loads(run(db, "status", "--json")[0])["profiles"]]
    first = names[0]
    configs = [("1 profile", ["--profile", first]), ("100 profiles", ["--all"])]
    for label, args in configs if many else configs[:1]:
        drop = drop_dir("idle")
        shutil.rmtree(drop, ignore_errors=True)
        # A new drop folder: every profile's first export writes everything (only the first
        # profile was ever exported, by the run before).
        run(db, "reset", "--profile", first)
        env = dict(os.environ, SMSYNC_DB=str(db), SMSYNC_DROP=str(drop))
        log = open(WORK / "watch-idle.log", "w")
        proc = subprocess.Popen([SMSYNC, "watch", *args], env=env, stderr=log)
        try:
            # The first export of every profile, then a few quiet seconds.
            deadline = time.time() + 120
            want = 1 if label == "1 profile" else 100
            while sum(1 for d in drop.glob("*/contacts") if any(d.iterdir())) < want:
                if time.time() > deadline or proc.poll() is not None:
                    sys.exit(f"watch ({label}) did not start: see {WORK / 'watch-idle.log'}")
                time.sleep(0.2)
            time.sleep(3)
            cpu, t = cpu_seconds(proc.pid), time.perf_counter()
            time.sleep(seconds)
            pct = (cpu_seconds(proc.pid) - cpu) / (time.perf_counter() - t) * 100
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
            log.close()
            remove(drop)
        key = "watch_idle_cpu_pct" + ("" if want == 1 else "_100_profiles")
        note(key, round(pct, 2), "% core", f"{label}, {seconds} s idle; limit < 1")
        figure(key, pct, "% core", f"idle watch, {label}, {seconds} s")


def side_by_side():
    """The table of both engines' figures: PostgreSQL's and its ratio to SQLite's (for
    times and memory, how many times as much; above 1 PostgreSQL is slower)."""
    out = []
    print()
    print("| figure | SQLite | PostgreSQL | PostgreSQL / SQLite |")
    print("|---|---:|---:|---:|")
    for key, (label, unit) in labels.items():
        s, p = figures["sqlite"].get(key), figures["postgres"].get(key)
        if s is None or p is None:
            continue
        ratio = p / s if s else None
        digits = {"s": 2, "ms": 1, "MB": 1}.get(unit, 2)
        shown = f"{ratio:.2f}" if ratio is not None else "-"
        print(f"| {label} | {s:,.{digits}f} {unit} | {p:,.{digits}f} {unit} | {shown} |")
        out.append({"figure": key, "label": label, "unit": unit, "sqlite": s, "postgres": p,
                    "ratio": round(ratio, 2) if ratio is not None else None})
    return out


def main():
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.time()
    size = "full sizes" if SCALE == 1 else f"1/{SCALE} of the sizes"
    print(f"smsync benchmarks ({'quick, ' if QUICK else ''}{size}), "
          f"{os.cpu_count()} cores, work dir {WORK}")
    if COMPARE:
        version = pgserver.check(DB)
        print(f"SQLite and PostgreSQL {version} ({pgserver.shown(DB)}) side by side: each step "
              "on SQLite, then on a fresh PostgreSQL database")
    steps = {"vdir": bench_vdir, "csv": bench_csv_and_incremental, "ingest": bench_ingest,
             "watch": bench_watch, "idle": bench_watch_idle, "reconcile": bench_reconcile, "pst": bench_pst,
             "peer": bench_peer}
    global ENGINE
    took = {}
    try:
        for name, step in steps.items():
            if ONLY is None or name in ONLY:
                if not COMPARE:
                    step()
                    continue
                for ENGINE in ("sqlite", "postgres"):
                    t = time.time()
                    step()
                    took[f"{name} on {ENGINE}"] = round(time.time() - t, 1)
                    print(f"  ({name} on {ENGINE}: {took[f'{name} on {ENGINE}']} s)", flush=True)
                    if ENGINE == "postgres":
                        SERVER.drop_all()
                        for d in later:
                            shutil.rmtree(d, ignore_errors=True)
                        later.clear()
    finally:
        if COMPARE:
            SERVER.drop_all()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    if COMPARE:
        table = side_by_side()
        results.update({"server": f"PostgreSQL {version}", "figures": table,
                        "sqlite": figures["sqlite"], "postgres": figures["postgres"],
                        "step_seconds": took})
    results.update({
        "cores": os.cpu_count(),
        "git_commit": commit,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "quick": QUICK,
        "scale": SCALE,
        "seconds": round(time.time() - started, 1),
    })
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {OUT} in {results['seconds']} s")


main()
