"""PostgreSQL for the benchmarks (scripts/bench.sh --db URL): psql found, the server checked
before anything is built, a fresh database for each step (created and dropped on that
server), and what pg_stat_statements saw of a command.

As a program: pgserver.py check URL   prints the server's version or says why it cannot be
used (exit 1).
"""

import glob
import os
import re
import shutil
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit


def shown(url):
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def psql_path():
    """psql from PATH, else the newest of Debian's server packages."""
    found = shutil.which("psql")
    if found:
        return found
    def version(p):
        m = re.search(r"/postgresql/(\d+)/", p)
        return int(m.group(1)) if m else 0
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"), key=version)
    if not found:
        sys.exit("scripts/bench.sh --db needs psql (apt-get install postgresql-client) to make "
                 "a database for each step")
    return found[-1]


PSQL = None


def psql(url, sql, check=True):
    """Runs one SQL command; returns its rows as text (unaligned, no headers)."""
    global PSQL
    PSQL = PSQL or psql_path()
    env = dict(os.environ, PGCONNECT_TIMEOUT=os.environ.get("PGCONNECT_TIMEOUT", "5"))
    p = subprocess.run([PSQL, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url,
                        "-c", sql], capture_output=True, text=True, env=env)
    if check and p.returncode != 0:
        raise RuntimeError(p.stderr.strip() or f"psql exited with {p.returncode}")
    return p.stdout


def with_database(url, name):
    """The same server and parameters, another database."""
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def check(url):
    """The server's version, or exits naming the URL (without password) and the reason."""
    if urlsplit(url).scheme not in ("postgres", "postgresql"):
        sys.exit(f"--db takes a postgres:// or postgresql:// URL, not '{shown(url)}'")
    try:
        version = psql(url, "SHOW server_version").strip()
        may = psql(url, "SELECT rolcreatedb OR rolsuper FROM pg_roles "
                        "WHERE rolname = current_user").strip()
    except RuntimeError as e:
        sys.exit(f"cannot use the PostgreSQL server at {shown(url)}: {e}")
    if may != "t":
        sys.exit(f"the role of {shown(url)} may not create databases, and the bench makes a "
                 "fresh one for each step (CREATE ROLE ... CREATEDB)")
    return version


class Server:
    """Fresh databases for the steps of one run, all dropped at its end."""

    def __init__(self, url):
        self.url = url
        self.made = []
        self.stats_note = False

    def fresh(self, name):
        db = f"smsync_bench_{os.getpid()}_{name}"
        psql(self.url, f'DROP DATABASE IF EXISTS "{db}"')
        psql(self.url, f'CREATE DATABASE "{db}"')
        if db not in self.made:
            self.made.append(db)
        return with_database(self.url, db)

    def drop_all(self):
        for db in self.made:
            psql(self.url, f'DROP DATABASE IF EXISTS "{db}"', check=False)
        self.made = []

    def reset_stats(self, url):
        """Starts pg_stat_statements afresh in `url`'s database; False when the server
        does not load it."""
        try:
            psql(url, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            psql(url, "SELECT pg_stat_statements_reset()")
            return True
        except RuntimeError as e:
            if not self.stats_note:
                print(f"    (no statement statistics: {e.splitlines()[0] if str(e) else e}; "
                      "start the server with shared_preload_libraries=pg_stat_statements)")
                self.stats_note = True
            return False

    def show_stats(self, url, label, items):
        """Prints what the server ran in `url`'s database since the reset: statements per
        item and the ones it ran most often or longest."""
        db = urlsplit(url).path.lstrip("/")
        where = f"dbid = (SELECT oid FROM pg_database WHERE datname = '{db}')"
        total = psql(url, f"SELECT sum(calls), round(sum(total_exec_time)) FROM "
                          f"pg_stat_statements WHERE {where}").strip()
        calls, ms = (total.split("|") + ["0"])[:2]
        calls = int(calls or 0)
        print(f"    {label}: {calls} statements ({calls / max(1, items):.2f} per item), "
              f"{ms or 0} ms in the server")
        rows = psql(url, "SELECT calls, round(total_exec_time), "
                         "left(regexp_replace(query, '\\s+', ' ', 'g'), 100) "
                         f"FROM pg_stat_statements WHERE {where} "
                         "ORDER BY total_exec_time DESC LIMIT 8")
        for line in rows.strip().splitlines():
            c, t, q = line.split("|", 2)
            print(f"      {c:>9} calls {t:>7} ms  {q}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "check":
        sys.exit("usage: pgserver.py check URL")
    print(f"PostgreSQL {check(sys.argv[2])} at {shown(sys.argv[2])}")
