#!/usr/bin/env bash
# Timing benchmark (not part of the pass/fail suite): does the time of an
# answer tell an attacker that it is locked out?  Median latency of a
# locked answer against that of a wrong password (a full bcrypt cost-12
# verification), sent alternately on one kept-alive connection
# (bench_tool timing), with the cache off so every wrong password is
# verified.  A ratio near 1 means the two look alike; answered at once
# (PROXYAUTHD_SERVER_LOCKED_DELAY_MAX_MS=0) it is about 0.0004.
#
# Usage: tests/bench/locked_timing.sh [PAIRS (50)]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
pairs=${1:-50}
cd "$root"

cmake -S . -B build/bench -DPA_TESTS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/bench -j 2 >/dev/null
cc -O2 -o build/bench/bench_tool tests/bench/bench_tool.c -lcrypt -lpthread -lcrypto
tool=build/bench/bench_tool
pa=build/bench/proxyauthd

tmp=$(mktemp -d /tmp/pa-locked.XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

hash=$(printf 'right-password\n' | build/bench/proxyauth-passwd)
printf 'u0:%s\nlocked0:%s\n' "$hash" "$hash" > "$tmp/users"
port=$($tool free-port)
printf '[server]\nlisten = 127.0.0.1:%s\ncache_size = 0\nmax_failures = 3\nfailure_window = 600\nlockout = 3600\nlog_level = error\n[htpasswd]\nfile = %s\n' \
  "$port" "$tmp/users" > "$tmp/conf"
"$pa" -c "$tmp/conf" 2>"$tmp/log" &
pid=$!
for _ in $(seq 200); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.05
done
# Lock locked0 with three distinct wrong passwords.
for i in 1 2 3; do
  curl -s -o /dev/null -H "Proxy-Authorization: Basic $(printf 'locked0:wrong-%s' "$i" | base64)" \
    "http://127.0.0.1:$port/auth"
done
echo "median latency: wrong password for u0 (verified) vs locked0 (locked);"
echo "ratio = locked / wrong; $pairs pairs, bcrypt cost 12, $(nproc) CPUs"
"$tool" timing "$port" "$pairs" 1 wrong-password u locked
