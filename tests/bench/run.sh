#!/usr/bin/env bash
# proxyauthd benchmark (not part of the pass/fail suite).
#
# Starts proxyauthd and a bare nginx (`location = /auth { return 204; }`,
# one worker) on loopback and loads both with wrk in the same run: same
# connections, same duration, rounds alternating.  Reports requests per
# second and p50/p99 latency (medians over the rounds) for
#   (a) cached allows on /auth, and the ratio to bare nginx,
#   (b) cached denials,
#   (c) uncached allows with a $6$ hash and with bcrypt cost 12, next to
#       what the machine's cores do in a tight crypt_rn loop,
# and proxyauthd's resident memory idle and with 100,000 cached entries.
#
# Usage: tests/bench/run.sh [SECONDS_PER_ROUND (10)] [ROUNDS (3)] [CONNECTIONS (32)]
#        tests/bench/run.sh --uncached [SECONDS (10)] [CONNS (4)] [USERS (1000)] [ROUNDS (5)]
#   the second runs tests/bench/uncached.sh instead: uncached LDAP, Redis
#   and PostgreSQL next to the servers' raw rates, and nginx auth_request
#   to proxyauthd next to auth_request to a bare location.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ "${1:-}" = --uncached ]; then shift; exec "$root/tests/bench/uncached.sh" "$@"; fi
secs=${1:-10}; rounds=${2:-3}; conns=${3:-32}
cd "$root"

deploy/install-deps.sh build
for p in nginx-light wrk; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' && continue
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$p" >/dev/null
done
cmake -S . -B build/bench -DPA_TESTS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/bench -j "$(nproc)" >/dev/null
cc -O2 -o build/bench/bench_tool tests/bench/bench_tool.c -lcrypt -lcrypto -lpthread
tool=build/bench/bench_tool
pa=build/bench/proxyauthd

tmp=$(mktemp -d /tmp/pa-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5; rm -rf "$tmp"; }
trap cleanup EXIT

# Users: one bcrypt-12 user for the cached rounds; u0..u999 with $6$
# (5000 rounds, the default) and u0..u999 with bcrypt 12 in two files for
# the uncached rounds; u0..u99999 with a cheap $6$ (1000 rounds) to fill
# the cache for the memory figure.
bc12=$(printf 'bench-password\n' | build/bench/proxyauth-passwd)
sha=$($tool sha512crypt 5000 bench-password)
cheap=$($tool sha512crypt 1000 bench-password)
echo "cached:$bc12:bench" > "$tmp/cached.htpasswd"
awk -v h="$sha" 'BEGIN { for (i = 0; i < 1000; i++) print "u" i ":" h }' > "$tmp/sha.htpasswd"
awk -v h="$bc12" 'BEGIN { for (i = 0; i < 1000; i++) print "u" i ":" h }' > "$tmp/bcrypt.htpasswd"
awk -v h="$cheap" 'BEGIN { for (i = 0; i < 100000; i++) print "u" i ":" h }' > "$tmp/fill.htpasswd"

start_pa() {   # start_pa NAME HTPASSWD EXTRA_SERVER_LINES -> sets pa_port, pa_pid
  local name=$1 file=$2 extra=$3
  pa_port=$($tool free-port)
  printf '[server]\nlisten = 127.0.0.1:%s\nmax_failures = 0\n%b\n[htpasswd]\nfile = %s\n' \
    "$pa_port" "$extra" "$file" > "$tmp/$name.conf"
  # Decisions are logged as in production (info), to /dev/null: the
  # write(2) per request is measured, a disk is not.
  "$pa" -c "$tmp/$name.conf" 2>/dev/null &
  pa_pid=$!; pids+=("$pa_pid")
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$pa_port/healthz" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "proxyauthd ($name) did not start" >&2; exit 1
}
stop_pa() { kill "$1"; wait "$1" 2>/dev/null || true; }

ng_port=$($tool free-port)
mkdir -p "$tmp/nginx"
cat > "$tmp/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  client_body_temp_path $tmp/nginx; proxy_temp_path $tmp/nginx; fastcgi_temp_path $tmp/nginx;
  uwsgi_temp_path $tmp/nginx; scgi_temp_path $tmp/nginx;
  server { listen 127.0.0.1:$ng_port; location = /auth { return 204; } }
}
NGINX
nginx -p "$tmp/nginx" -c "$tmp/nginx.conf" -e "$tmp/nginx/error.log" &
ng_pid=$!; pids+=("$ng_pid")
sleep 0.5

# wrk_run URL [wrk args...] -> "rps p50_us p99_us"
wrk_run() {
  local url=$1; shift
  wrk -t2 -c"$conns" -d"${secs}s" --latency "$@" "$url" 2>&1 | awk '
    function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000;
                     if (v ~ /s$/) return v * 1000000; return v }
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = us($2) } /^ +99%/ { p99 = us($2) }
    END { printf "%.0f %.0f %.0f\n", rps, p50, p99 }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
auth_hdr() { printf 'Proxy-Authorization: Basic %s' "$(printf '%s' "$1" | base64 -w0)"; }

echo "warming up..."
start_pa cached "$tmp/cached.htpasswd" 'cache_ttl = 3600\nnegative_ttl = 3600'
sleep 1
rss_idle=$(awk '/VmRSS/ { print $2 }' "/proc/$pa_pid/status")
curl -s -o /dev/null -H "$(auth_hdr cached:bench-password)" "http://127.0.0.1:$pa_port/auth"
curl -s -o /dev/null -H "$(auth_hdr cached:wrong)" "http://127.0.0.1:$pa_port/auth"
wrk -t2 -c"$conns" -d2s "http://127.0.0.1:$ng_port/auth" >/dev/null

: > "$tmp/ng"; : > "$tmp/allow"; : > "$tmp/deny"
for r in $(seq "$rounds"); do
  echo "round $r/$rounds"
  wrk_run "http://127.0.0.1:$ng_port/auth" >> "$tmp/ng"
  wrk_run "http://127.0.0.1:$pa_port/auth" -H "$(auth_hdr cached:bench-password)" >> "$tmp/allow"
  wrk_run "http://127.0.0.1:$pa_port/auth" -H "$(auth_hdr cached:wrong)" >> "$tmp/deny"
done
status_allow=$(curl -s -o /dev/null -w '%{http_code}' -H "$(auth_hdr cached:bench-password)" "http://127.0.0.1:$pa_port/auth")
status_deny=$(curl -s -o /dev/null -w '%{http_code}' -H "$(auth_hdr cached:wrong)" "http://127.0.0.1:$pa_port/auth")
stop_pa "$pa_pid"

echo "uncached rounds..."
start_pa sha "$tmp/sha.htpasswd" 'cache_size = 0'
uncached_sha=$(BENCH_USERS=1000 wrk_run "http://127.0.0.1:$pa_port/auth" -s tests/bench/users.lua)
stop_pa "$pa_pid"
start_pa bcrypt "$tmp/bcrypt.htpasswd" 'cache_size = 0'
# A bcrypt-12 lookup takes a few hundred milliseconds: fewer connections,
# a longer run and a long timeout, so that latencies are measured at all.
uncached_bc=$(BENCH_USERS=1000 conns=4 secs=$((secs * 3)) \
  wrk_run "http://127.0.0.1:$pa_port/auth" -s tests/bench/users.lua --timeout 60s)
stop_pa "$pa_pid"
loop_sha=$($tool crypt-loop "$(nproc)" 5 "$sha" bench-password)
loop_bc=$($tool crypt-loop "$(nproc)" 5 "$bc12" bench-password)

echo "memory..."
start_pa fill "$tmp/fill.htpasswd" 'cache_ttl = 3600'
sleep 1
rss_table=$(awk '/VmRSS/ { print $2 }' "/proc/$pa_pid/status")
BENCH_USERS=100000 wrk -t2 -c"$conns" -d300s -s tests/bench/users.lua "http://127.0.0.1:$pa_port/auth" >/dev/null 2>&1 &
wrk_pid=$!; pids+=("$wrk_pid")
entries=0
for _ in $(seq 600); do
  entries=$(curl -s "http://127.0.0.1:$pa_port/metrics" | awk '/^proxyauthd_cache_entries / { print $2 }')
  [ "${entries:-0}" -ge 100000 ] && break
  sleep 0.5
done
kill "$wrk_pid" 2>/dev/null || true; wait "$wrk_pid" 2>/dev/null || true
sleep 0.5
rss_full=$(awk '/VmRSS/ { print $2 }' "/proc/$pa_pid/status")
stop_pa "$pa_pid"

col() { awk -v c="$1" '{ print $c }' "$2" | median; }
ng_rps=$(col 1 "$tmp/ng"); ng_p50=$(col 2 "$tmp/ng"); ng_p99=$(col 3 "$tmp/ng")
al_rps=$(col 1 "$tmp/allow"); al_p50=$(col 2 "$tmp/allow"); al_p99=$(col 3 "$tmp/allow")
de_rps=$(col 1 "$tmp/deny"); de_p50=$(col 2 "$tmp/deny"); de_p99=$(col 3 "$tmp/deny")
read -r sha_rps sha_p50 sha_p99 <<<"$uncached_sha"
read -r bc_rps bc_p50 bc_p99 <<<"$uncached_bc"

cat <<REPORT

proxyauthd benchmark: $(nproc) cores, wrk -t2 -c$conns, ${secs}s per run, median of $rounds rounds
(nginx: one worker; proxyauthd: default threads; both on 127.0.0.1, alternating)

                              req/s     p50 us    p99 us
bare nginx return 204      $(printf '%9s %10s %9s' "$ng_rps" "$ng_p50" "$ng_p99")
(a) cached allow  ($status_allow)   $(printf '%9s %10s %9s' "$al_rps" "$al_p50" "$al_p99")
(b) cached deny   ($status_deny)   $(printf '%9s %10s %9s' "$de_rps" "$de_p50" "$de_p99")
(c) uncached \$6\$ (5000 rds) $(printf '%9s %10s %9s' "$sha_rps" "$sha_p50" "$sha_p99")   crypt_rn loop, $(nproc) threads: $loop_sha/s
(c) uncached bcrypt 12     $(printf '%9s %10s %9s' "$bc_rps" "$bc_p50" "$bc_p99")   crypt_rn loop, $(nproc) threads: $loop_bc/s

(d) cached allow / bare nginx: $(awk -v a="$al_rps" -v n="$ng_rps" 'BEGIN { printf "%.2f", a / n }') x req/s, p99 $(awk -v a="$al_p99" -v n="$ng_p99" 'BEGIN { printf "%.2f", a / n }') x
    cached deny / cached allow: $(awk -v a="$de_rps" -v n="$al_rps" 'BEGIN { printf "%.2f", a / n }') x req/s
    uncached \$6\$ / crypt loop:  $(awk -v a="$sha_rps" -v n="$loop_sha" 'BEGIN { printf "%.2f", a / n }') x
    uncached bcrypt / loop:     $(awk -v a="$bc_rps" -v n="$loop_bc" 'BEGIN { printf "%.2f", a / n }') x
memory (RSS): idle $((rss_idle / 1024)) MiB (one user); with a 100,000-user htpasswd file $((rss_table / 1024)) MiB,
              and ${entries:-0} cached entries on top $((rss_full / 1024)) MiB (cache: $(( (rss_full - rss_table) / 1024 )) MiB)
REPORT
