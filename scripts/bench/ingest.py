"""Ingest throughput: N edited contacts from one Outlook CSV, and from N .vcf files.

Usage: python3 scripts/bench/ingest.py path/to/smsync N workdir
Prints one line per figure: name, items, seconds, items/s.
"""

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

smsync, n, work = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])


def run(db, *args):
    out = subprocess.run([smsync, "--db", str(db), "--drop", str(work / "drop"), *args],
                         capture_output=True, text=True)
    if out.returncode not in (0, 3):
        sys.exit(f"smsync {args}: {out.stderr}")
    return out.stdout


def prepare(name):
    db = work / f"{name}.db"
    for p in [db, Path(f"{db}-wal"), Path(f"{db}-shm")]:
        p.unlink(missing_ok=True)
    shutil.rmtree(work / "drop", ignore_errors=True)
    run(db, "db", "init")
    # Enough users for n edits: users are 60 % of the contacts.
    run(db, "db", "seed", "--scale", str(int(n / 0.55) + 10))
    profile = json.loads(run(db, "status", "--json"))["profiles"][0]["profile"]
    run(db, "export", "--profile", profile)
    return db, profile, work / "drop" / profile


def timed(db, profile):
    t = time.perf_counter()
    out = json.loads(run(db, "ingest", "--profile", profile, "--json"))
    return time.perf_counter() - t, out["tally"]


work.mkdir(parents=True, exist_ok=True)

# One CSV with n edited contacts.
db, profile, root = prepare("csv")
rows = list(csv.reader(open(root / "outlook" / "contacts.csv", encoding="utf-8-sig", newline="")))
h = rows[0]
edited = 0
buf = io.StringIO()
w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
w.writerow(h)
for r in rows[1:]:
    if edited < n and r[h.index("User 1")].startswith("SM-U"):
        r[h.index("Mobile Phone")] = f"+1 555 {edited:06d}"
        r[h.index("Categories")] += ";!Update"
        edited += 1
    w.writerow(r)
(root / "inbox" / "contacts.csv").write_text("\ufeff" + buf.getvalue(), encoding="utf-8")
secs, tally = timed(db, profile)
print(f"ingest_csv {tally['applied']} items {secs:.3f} s {tally['applied'] / secs:.0f} items/s")

# n .vcf files, one edited contact each.
db, profile, root = prepare("vcf")
done = 0
for f in sorted((root / "contacts").glob("SM-U*.vcf")):
    if done == n:
        break
    text = f.read_bytes().decode("utf-8")
    text = text.replace("\r\nCATEGORIES:", "\r\nTEL;TYPE=CELL,VOICE:+1 555 %06d\r\nCATEGORIES:" % done, 1)
    text = text.replace("\r\nREV:", ",!Update\r\nREV:", 1) if "CATEGORIES" in text else text
    (root / "inbox" / f.name).write_bytes(text.encode("utf-8"))
    done += 1
secs, tally = timed(db, profile)
print(f"ingest_vcf {tally['applied']} items {secs:.3f} s {tally['applied'] / secs:.0f} items/s")
