"""Watch latency: drop-to-applied time over N drops, median and p95.

Usage: python3 scripts/bench/watch.py path/to/smsync N workdir [debounce_ms]
A drop is a one-row Outlook CSV renamed into the inbox; it counts as applied when it
appears in processed/ (ingest moves a file only after its transaction committed).
"""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

smsync, n, work = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
debounce = sys.argv[4] if len(sys.argv) > 4 else "1000"
shutil.rmtree(work, ignore_errors=True)
work.mkdir(parents=True)
env = dict(os.environ, SMSYNC_DB=str(work / "sm.db"), SMSYNC_DROP=str(work / "drop"))
for args in (["db", "init"], ["db", "seed", "--sample"]):
    subprocess.run([smsync, *args], env=env, check=True, capture_output=True)
log = open(work / "watch.log", "w")
proc = subprocess.Popen([smsync, "watch", "--debounce-ms", debounce], env=env, stderr=log)
try:
    profile = work / "drop" / "Dana Whitfield"
    while not (profile / "contacts" / "SM-U1.vcf").exists():
        time.sleep(0.05)
    inbox = profile / "inbox"
    processed = profile / "processed"
    lat = []
    for i in range(n):
        name = f"drop-{i}.csv"
        tmp = inbox / f".{name}.part"
        tmp.write_text('"User 1","Mobile Phone","Categories"\r\n'
                       f'"SM-T{1 + i % 10}","+1 555 {i:04d}","!Update"\r\n')
        t = time.perf_counter()
        os.rename(tmp, inbox / name)
        while not any((d / name).exists() for d in processed.glob("*")):
            if time.perf_counter() - t > 30:
                sys.exit(f"{name} not applied within 30 s")
            time.sleep(0.002)
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    p95 = lat[int(0.95 * (len(lat) - 1))]
    print(f"watch drops={n} debounce_ms={debounce} p50_ms={statistics.median(lat):.0f} "
          f"p95_ms={p95:.0f} max_ms={lat[-1]:.0f}")
finally:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
