#!/usr/bin/env bash
# Latency of one uncached PostgreSQL-backed answer (a benchmark, not a
# pass/fail test).
#
# Starts a private PostgreSQL 15 (initdb in a temporary folder, as nobody
# when run as root, since PostgreSQL refuses root), applies
# deploy/sql/schema.sql, adds N users with proxyauth.add_user (bcrypt cost
# 12 made by pgcrypto, what operators get) and N users whose hash is then
# replaced by a cost-4 one with a direct UPDATE (to show what the backend
# itself costs next to bcrypt), starts proxyauthd with cache_ttl = 60 and
# asks for each user once, one request at a time, so every answer is
# uncached.  Reports the median and p90 of curl's total time and of the
# daemon's own latency_us, for both kinds of hash, plus a cached answer.
#
# Usage: tests/bench/pg_latency.sh [N (20)] [PROXYAUTHD (build/plain/proxyauthd)]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-20}
pa=${2:-$root/build/plain/proxyauthd}
[ -x "$pa" ] || { echo "no $pa: build first (cmake -S . -B build/plain && cmake --build build/plain)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/pa-pgbench.XXXXXX)
. "$root/tests/bench/pg_lib.sh"
pa_pid=
cleanup() {
  [ -n "$pa_pid" ] && kill "$pa_pid" 2>/dev/null || true
  pg_stop
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pg_start "$root" "$tmp/pg"
port=$pg_port
psql_su -d proxyauth -c "CREATE ROLE bench_reader LOGIN PASSWORD 'bench-reader-pw' IN ROLE proxyauth_reader"
echo "adding $n cost-12 users with add_user and $n cost-4 users ..."
for i in $(seq "$n"); do
  psql_su -d proxyauth -c "SELECT proxyauth.add_user('c12u$i', 'bench-pw-$i'); SELECT proxyauth.grant_group('c12u$i', 'bench')" >/dev/null
  psql_su -d proxyauth -c "SELECT proxyauth.add_user('c4u$i', 'bench-pw-$i')" >/dev/null
  psql_su -d proxyauth -c "UPDATE proxyauth.users SET password_hash = proxyauth_crypto.crypt('bench-pw-$i', proxyauth_crypto.gen_salt('bf', 4)) WHERE username = 'c4u$i'" >/dev/null
done

printf 'bench-reader-pw\n' > "$tmp/pw"; chmod 600 "$tmp/pw"
pa_port=$(free_port)
cat > "$tmp/pa.conf" <<EOF
[server]
listen = 127.0.0.1:$pa_port
backends = postgres
cache_ttl = 60
max_failures = 0
[postgres]
conninfo = host=127.0.0.1 port=$port dbname=proxyauth user=bench_reader
password_file = $tmp/pw
pool_size = 4
EOF
"$pa" -c "$tmp/pa.conf" 2>"$tmp/pa.log" &
pa_pid=$!
for _ in $(seq 100); do grep -q 'listening on proxyauth_changed' "$tmp/pa.log" 2>/dev/null && break; sleep 0.05; done

ask() {  # ask USER PASSWORD -> prints "status seconds"
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' \
    -H "Proxy-Authorization: Basic $(printf '%s:%s' "$1" "$2" | base64 -w0)" \
    "http://127.0.0.1:$pa_port/auth"
}
stats() {  # reads numbers (ms), prints "median X ms, p90 Y ms (n=Z)"
  sort -n | awk '{ v[NR] = $1 } END { m = v[int((NR + 1) / 2)]; p = v[int(NR * 0.9 + 0.5)];
    printf "median %.2f ms, p90 %.2f ms (n=%d)", m, p, NR }'
}
# The first lookup opens a pool connection: not part of the figures.
ask c12u1 bench-pw-1 >/dev/null
for kind in c12u c4u; do
  : > "$tmp/$kind.curl"
  for i in $(seq 2 "$n"); do
    read -r code secs < <(ask "$kind$i" "bench-pw-$i")
    [ "$code" = 204 ] || { echo "unexpected $code for $kind$i" >&2; exit 1; }
    awk -v s="$secs" 'BEGIN { printf "%.3f\n", s * 1000 }' >> "$tmp/$kind.curl"
  done
done
: > "$tmp/cached.curl"
for i in $(seq 2 "$n"); do
  read -r code secs < <(ask "c4u$i" "bench-pw-$i")
  awk -v s="$secs" 'BEGIN { printf "%.3f\n", s * 1000 }' >> "$tmp/cached.curl"
done
daemon_ms() {  # the daemon's latency_us of uncached allows for users matching $1
  grep 'outcome=allow' "$tmp/pa.log" | grep 'cache=miss' | grep "user=$1" | grep -v 'user=c12u1 ' |
    sed -n 's/.*latency_us=\([0-9]*\).*/\1/p' | awk '{ printf "%.3f\n", $1 / 1000 }'
}
echo "uncached, bcrypt cost 12 (pgcrypto, add_user): curl $(stats < "$tmp/c12u.curl"); daemon $(daemon_ms c12u | stats)"
echo "uncached, bcrypt cost 4 (direct UPDATE):       curl $(stats < "$tmp/c4u.curl"); daemon $(daemon_ms c4u | stats)"
echo "cached:                                        curl $(stats < "$tmp/cached.curl")"
