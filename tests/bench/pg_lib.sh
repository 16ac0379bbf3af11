# Sourced by the benchmarks: a private PostgreSQL 15 in a folder, as nobody
# when run as root (PostgreSQL refuses root), with deploy/sql/schema.sql
# applied to database proxyauth.
#   pg_start ROOT TMPDIR   sets pg_port, pg_pid; defines psql_su
#   pg_stop                fast shutdown
pg_bindir=${PA_PG_BINDIR:-/usr/lib/postgresql/15/bin}
pg_pid=

pg_start() {
  local root=$1 dir=$2 as_pg=()
  mkdir -p "$dir"; chmod 755 "$dir"
  chmod o+x "$(dirname "$dir")"   # nobody must reach it
  if [ "$(id -u)" -eq 0 ]; then
    chown nobody:nogroup "$dir"
    as_pg=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
  fi
  pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  pg_dir=$dir
  "${as_pg[@]}" "$pg_bindir/initdb" -D "$dir/data" -U postgres --locale=C -E UTF8 \
    --auth-local=trust --auth-host=scram-sha-256 -N >/dev/null
  "${as_pg[@]}" "$pg_bindir/postgres" -D "$dir/data" -p "$pg_port" -k "$dir" \
    -c listen_addresses=127.0.0.1 -c fsync=off >"$dir/pg.log" 2>&1 &
  pg_pid=$!
  for _ in $(seq 200); do psql_su -d postgres -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.05; done
  psql_su -d postgres -c 'CREATE DATABASE proxyauth'
  psql_su -d proxyauth -f "$root/deploy/sql/schema.sql"
}

psql_su() { "$pg_bindir/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$pg_dir" -p "$pg_port" -U postgres "$@"; }

pg_stop() {
  [ -n "$pg_pid" ] || return 0
  kill -INT "$pg_pid" 2>/dev/null || true
  wait "$pg_pid" 2>/dev/null || true
  pg_pid=
}
