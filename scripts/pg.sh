#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests and benchmarks: initdb in a temp dir (as the
# `postgres` user when run as root, since initdb refuses root), trust auth except for one
# role, smsync_pw, that must give its password; 127.0.0.1 on a free port. Installs Debian's
# `postgresql` package when its server binaries are missing.
#
# Usage: scripts/pg.sh start DIR   prints the server URL (postgres://postgres@127.0.0.1:PORT/postgres)
#        scripts/pg.sh stop DIR    stops the cluster and removes DIR
# SMSYNC_PG_OPTS adds server settings to the start (e.g. "-c shared_preload_libraries=pg_stat_statements").
set -euo pipefail

bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
    echo "installing postgresql (server binaries for the PostgreSQL tests)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends postgresql >&2
    d=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
  echo "$d"
}

# Runs a command as the cluster's owner.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# The role that logs in with a password (see start), and that password: a throwaway
# cluster's, known to tests/postgres.rs.
PW_ROLE=smsync_pw
PW_SECRET=smsync-pw-right

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case "${1:-}" in
  start)
    dir=${2:?usage: scripts/pg.sh start DIR}
    bin=$(bindir)
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
      useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
    fi
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-locale >"$dir.initdb.log" 2>&1 ||
      { cat "$dir.initdb.log" >&2; exit 1; }
    rm -f "$dir.initdb.log"
    # One role whose password the server checks (scram), so the tests can try a wrong one;
    # every other login is trusted. pg_hba.conf takes the first line that matches.
    hba="$dir/data/pg_hba.conf"
    { echo "host all $PW_ROLE 127.0.0.1/32 scram-sha-256"; cat "$hba"; } >"$hba.new"
    mv "$hba.new" "$hba"
    [ "$(id -u)" = 0 ] && chown postgres "$hba"
    for _ in 1 2 3 4 5; do
      port=$(free_port)
      if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-h 127.0.0.1 -p $port -k $dir -c max_connections=200 -c fsync=on ${SMSYNC_PG_OPTS:-}" start >/dev/null; then
        url="postgres://postgres@127.0.0.1:$port/postgres"
        "$bin/psql" -X -q -v ON_ERROR_STOP=1 "$url" \
          -c "CREATE ROLE $PW_ROLE LOGIN PASSWORD '$PW_SECRET'" >/dev/null
        echo "$url"
        exit 0
      fi
    done
    cat "$dir/server.log" >&2
    exit 1
    ;;
  stop)
    dir=${2:?usage: scripts/pg.sh stop DIR}
    bin=$(bindir)
    if [ -d "$dir/data" ]; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: scripts/pg.sh start DIR | stop DIR" >&2
    exit 2
    ;;
esac
