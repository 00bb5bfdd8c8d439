#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the job store tests (tests/server/jobs).
#
#   bash deploy/postgres-test.sh start    # init (first time) and start; idempotent
#   bash deploy/postgres-test.sh url      # prints the connection URL
#   bash deploy/postgres-test.sh status   # exit 0 when running
#   bash deploy/postgres-test.sh stop     # stop and delete the cluster; idempotent
#
# The cluster lives in FRINGE_PG_DIR (default /tmp/fringe-pg), listens on 127.0.0.1 only, port
# FRINGE_PG_PORT (default 55432), with trust authentication and without fsync: it is for tests,
# never for data. initdb and pg_ctl refuse to run as root, so as root they run as the `postgres`
# user (created by Debian's postgresql package). Everything but `url` writes only to stderr.
set -euo pipefail

PG_DIR=${FRINGE_PG_DIR:-/tmp/fringe-pg}
PG_PORT=${FRINGE_PG_PORT:-55432}
DATA="$PG_DIR/data"
LOG="$PG_DIR/postgres.log"

log() { echo "postgres-test: $*" >&2; }

find_bin() {
  if [ -n "${FRINGE_PG_BIN:-}" ]; then echo "$FRINGE_PG_BIN"; return; fi
  if [ -x /usr/lib/postgresql/15/bin/pg_ctl ]; then echo /usr/lib/postgresql/15/bin; return; fi
  # Another Debian release: the newest installed server.
  local newest
  newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$newest" ]; then
    log "no PostgreSQL server found (apt-get install postgresql, or set FRINGE_PG_BIN)"
    exit 1
  fi
  echo "$newest"
}

# Runs a PostgreSQL server tool as a user it accepts.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

running() {
  [ -f "$DATA/PG_VERSION" ] && as_pg "$(find_bin)/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

url() { echo "postgresql://postgres@127.0.0.1:$PG_PORT/postgres"; }

start() {
  if running; then
    log "already running on 127.0.0.1:$PG_PORT ($DATA)"
    return 0
  fi
  local bin
  bin=$(find_bin)
  mkdir -p "$PG_DIR"
  if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
      log "running as root needs the 'postgres' user (apt-get install postgresql)"
      exit 1
    fi
    chown postgres: "$PG_DIR"
  fi
  if [ ! -f "$DATA/PG_VERSION" ]; then
    rm -rf "$DATA"
    log "initialising a cluster in $DATA"
    as_pg "$bin/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --no-sync >"$LOG.initdb" 2>&1 || {
      cat "$LOG.initdb" >&2
      exit 1
    }
  fi
  # The socket goes into our directory too: the default one (/var/run/postgresql) may not exist
  # or belong to the system cluster.
  if ! as_pg "$bin/pg_ctl" start -D "$DATA" -l "$LOG" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      >&2; then
    log "failed to start; its log:"
    tail -n 30 "$LOG" >&2 || true
    exit 1
  fi
  log "running on 127.0.0.1:$PG_PORT ($DATA)"
}

stop() {
  if running; then
    as_pg "$(find_bin)/pg_ctl" stop -D "$DATA" -m fast -w >&2
  fi
  rm -rf "$PG_DIR"
  log "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) url ;;
  status) running ;;
  *)
    echo "usage: $0 start|stop|url|status" >&2
    exit 2
    ;;
esac
