#!/usr/bin/env bash
# Start a throwaway PostgreSQL for the tests on 127.0.0.1 and print its URL on stdout (nothing else).
#
#   export TIDINGS_TEST_PG_URL=$(scripts/pg_test_server.sh)      # start (or reuse) and get the URL
#   scripts/pg_test_server.sh --stop                             # stop it and delete its files
#
# Installs Debian's PostgreSQL with apt-get when no server binaries are found (needs root). The cluster
# lives in a temporary directory, listens on 127.0.0.1 only, has one password-protected role, and runs
# with fsync off: it is for tests, never for data. Set TIDINGS_PG_DURABLE=1 to keep fsync on (benchmarks).
# Environment: TIDINGS_PG_PORT (default 54329), TIDINGS_PG_DIR (default /tmp/tidings-pg-$PORT).
set -euo pipefail

PORT=${TIDINGS_PG_PORT:-54329}
DIR=${TIDINGS_PG_DIR:-/tmp/tidings-pg-$PORT}
DB=tidings_test
ROLE=tidings

log() { echo "pg_test_server: $*" >&2; }

find_bin() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$bin" ] && command -v pg_ctl >/dev/null 2>&1; then
    bin=$(dirname "$(command -v pg_ctl)")
  fi
  echo "$bin"
}

# Run a command as the cluster owner: initdb and postgres refuse to run as root.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

BIN=$(find_bin)

if [ "${1:-}" = "--stop" ]; then
  if [ -n "$BIN" ] && [ -f "$DIR/data/PG_VERSION" ]; then
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >&2 || true
  fi
  rm -rf "$DIR"
  exit 0
fi

if [ -z "$BIN" ]; then
  if [ "$(id -u)" != 0 ]; then
    log "PostgreSQL is not installed and this is not root: apt-get install -y postgresql"
    exit 1
  fi
  log "installing PostgreSQL (apt-get install -y postgresql) ..."
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 \
    || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2; }
  BIN=$(find_bin)
fi

mkdir -p "$DIR"
if [ "$(id -u)" = 0 ]; then
  chown postgres:postgres "$DIR"
fi
chmod 700 "$DIR"

if [ ! -f "$DIR/password" ]; then
  as_owner sh -c "umask 077; head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > '$DIR/password'"
fi
PASSWORD=$(cat "$DIR/password")

if [ ! -f "$DIR/data/PG_VERSION" ]; then
  log "initdb in $DIR/data"
  as_owner "$BIN/initdb" -D "$DIR/data" -U "$ROLE" --pwfile="$DIR/password" --auth=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >&2
fi

if ! as_owner "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
  FSYNC="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  if [ "${TIDINGS_PG_DURABLE:-0}" = 1 ]; then
    FSYNC=""
  fi
  as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$DIR -c max_connections=100 $FSYNC" >&2
fi

export PGPASSWORD=$PASSWORD
if ! "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U "$ROLE" -d postgres -tAc \
     "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
  "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U "$ROLE" "$DB" >&2
fi

echo "postgresql://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB"
