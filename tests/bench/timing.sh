#!/usr/bin/env bash
# Timing benchmark (not part of the pass/fail suite): does the time of an
# answer tell whether a user exists?  For each backend, the median latency
# of a wrong password for an existing user against that of an unknown
# user, sent alternately on one kept-alive connection (bench_tool timing),
# with the cache and the lockout off so every request does the full work.
# A ratio near 1 means the answer's timing does not reveal existence.
#
# Usage: tests/bench/timing.sh [PAIRS (200)] [BACKEND...]
#   backends: htpasswd redis postgres (default: every one whose server is
#   installed)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
pairs=${1:-200}
shift || true
cd "$root"

deploy/install-deps.sh build >/dev/null
cmake -S . -B build/bench -DPA_TESTS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/bench -j "$(nproc)" >/dev/null
cc -O2 -o build/bench/bench_tool tests/bench/bench_tool.c -lcrypt -lpthread -lcrypto
tool=build/bench/bench_tool
pa=build/bench/proxyauthd
users=200
pw_right=timing-right-password
pw_wrong=timing-wrong-password

tmp=$(mktemp -d /tmp/pa-timing.XXXXXX)
pids=()
. "$root/tests/bench/pg_lib.sh"
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pg_stop; sleep 0.3; rm -rf "$tmp"
}
trap cleanup EXIT

# One bcrypt hash at the default cost (12) serves every user: the hash
# work is what a dummy verify must match.
hash=$(printf '%s\n' "$pw_right" | build/bench/proxyauth-passwd)

wait_port() {
  for _ in $(seq 200); do
    curl -fs "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "proxyauthd did not come up" >&2; return 1
}

measure() {   # measure BACKEND SECTION_TEXT
  local name=$1 section=$2 port
  port=$($tool free-port)
  printf '[server]\nlisten = 127.0.0.1:%s\nbackends = %s\ncache_size = 0\nmax_failures = 0\nlog_level = error\n%b\n' \
    "$port" "$name" "$section" > "$tmp/$name.conf"
  "$pa" -c "$tmp/$name.conf" 2>"$tmp/$name.log" &
  pids+=("$!")
  wait_port "$port"
  printf '%-9s ' "$name"
  "$tool" timing "$port" "$pairs" "$users" "$pw_wrong" u x
  kill "${pids[-1]}"
}

setup_htpasswd() {
  awk -v h="$hash" -v n=$users 'BEGIN { for (i = 0; i < n; i++) print "u" i ":" h }' \
    > "$tmp/users.htpasswd"
  measure htpasswd "[htpasswd]\nfile = $tmp/users.htpasswd"
}

setup_redis() {
  local port
  port=$($tool free-port)
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$tmp" --daemonize no >"$tmp/redis.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  for i in $(seq 0 $((users - 1))); do
    printf 'HSET proxyauth:user:u%s hash %s\n' "$i" "$hash"
  done | redis-cli -p "$port" >/dev/null
  measure redis "[redis]\naddress = 127.0.0.1:$port"
}

setup_postgres() {
  pg_start "$root" "$tmp/pg" >/dev/null
  psql_su -d proxyauth -c "CREATE ROLE timing_reader LOGIN PASSWORD 'timing-reader-pw' IN ROLE proxyauth_reader"
  for i in $(seq 0 $((users - 1))); do
    printf "INSERT INTO proxyauth.users (username, password_hash) VALUES ('u%s', '%s');\n" "$i" "$hash"
  done | psql_su -d proxyauth >/dev/null
  printf 'timing-reader-pw\n' > "$tmp/pg.pw"; chmod 600 "$tmp/pg.pw"
  measure postgres "[postgres]\nconninfo = host=127.0.0.1 port=$pg_port dbname=proxyauth user=timing_reader\npassword_file = $tmp/pg.pw"
}

want=("$@")
if [ ${#want[@]} -eq 0 ]; then
  want=(htpasswd)
  command -v redis-server >/dev/null && want+=(redis)
  [ -x "$pg_bindir/postgres" ] && want+=(postgres)
fi
echo "median latency, wrong password for existing users (u*) vs unknown users (x*);"
echo "ratio = unknown / existing; $pairs pairs, bcrypt cost 12"
for b in "${want[@]}"; do
  "setup_$b"
done
