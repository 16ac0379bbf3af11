#!/usr/bin/env bash
# Kerberos Negotiate benchmark rows (issue 15; not part of the pass/fail
# suite).  A private MIT KDC on loopback (its own krb5.conf and kdc.conf
# through KRB5_CONFIG / KRB5_KDC_PROFILE, in a temporary folder, stopped
# by PID), a keytab for HTTP/proxy.example.org and a kinit'ed user; then,
# medians over alternating rounds:
#   (e) uncached Negotiate on /auth (cache_size = 0; every request a
#       distinct token made beforehand with gss_init_sec_context) next to
#       a tight gss_accept_sec_context loop on the same keytab and tokens,
#       on as many threads as the machine has cores;
#   (f) cached Negotiate (one token repeated) next to cached Basic.
# Beside the rates (which on a small machine also measure wrk's share of
# the cores), the CPU time per answer of the daemon (from /proc, over the
# uncached runs) next to the loop's CPU time per acceptance: a ratio that
# does not depend on what else the machine runs.
# The replay cache is OFF for both the daemon (replay_cache = none) and
# the loop: the token list wraps, and a replay cache would refuse the
# second use (and cost a file write per token, see README).
#
# Usage: [NEG_WORKERS=N] tests/bench/negotiate.sh [SECONDS_PER_ROUND (10)] [ROUNDS (3)] [CONNECTIONS (8)]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-10}; rounds=${2:-3}; conns=${3:-8}
cd "$root"

cmake -S . -B build/bench -DPA_TESTS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/bench -j "$(nproc)" >/dev/null
cc -O2 -o build/bench/bench_tool tests/bench/bench_tool.c -lcrypt -lcrypto -lpthread
cc -O2 -o build/bench/bench_negotiate tests/bench/bench_negotiate.c \
  $(pkg-config --cflags --libs krb5-gssapi) -lcrypto -lpthread
tool=build/bench/bench_tool
neg=build/bench/bench_negotiate
pa=build/bench/proxyauthd

tmp=$(mktemp -d /tmp/pa-bench-neg.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5; rm -rf "$tmp"; }
trap cleanup EXIT

realm=EXAMPLE.ORG
kport=$($tool free-port)
export KRB5_CONFIG=$tmp/krb5.conf KRB5_KDC_PROFILE=$tmp/kdc.conf KRB5RCACHEDIR=$tmp
cat > "$KRB5_CONFIG" <<EOF2
[libdefaults]
 default_realm = $realm
 dns_lookup_kdc = false
 dns_lookup_realm = false
 rdns = false
 dns_canonicalize_hostname = false
 udp_preference_limit = 1
[realms]
 $realm = {
  kdc = 127.0.0.1:$kport
 }
EOF2
cat > "$KRB5_KDC_PROFILE" <<EOF2
[kdcdefaults]
 kdc_listen = 127.0.0.1:$kport
 kdc_tcp_listen = 127.0.0.1:$kport
[realms]
 $realm = {
  database_name = $tmp/principal
  key_stash_file = $tmp/stash
  acl_file = $tmp/kadm5.acl
  supported_enctypes = aes256-cts-hmac-sha1-96:normal
 }
[logging]
 kdc = FILE:$tmp/kdc.log
EOF2
: > "$tmp/kadm5.acl"
kdb5_util -r "$realm" create -s -P bench-master >/dev/null
krb5kdc -n -r "$realm" 2>/dev/null & pids+=($!)
for _ in $(seq 100); do grep -q 'commencing operation' "$tmp/kdc.log" 2>/dev/null && break; sleep 0.05; done
kadmin.local -r "$realm" -q "addprinc -randkey HTTP/proxy.example.org" >/dev/null 2>&1
kadmin.local -r "$realm" -q "ktadd -k $tmp/http.keytab HTTP/proxy.example.org" >/dev/null 2>&1
kadmin.local -r "$realm" -q "addprinc -randkey alice" >/dev/null 2>&1
kadmin.local -r "$realm" -q "ktadd -k $tmp/alice.keytab alice" >/dev/null 2>&1
chmod 600 "$tmp/http.keytab"
kinit -k -t "$tmp/alice.keytab" -c "FILE:$tmp/alice.cc" alice
$neg tokens "$tmp/alice.cc" "HTTP/proxy.example.org@$realm" 20000 > "$tmp/tokens"
head -1 "$tmp/tokens" > "$tmp/one-token"
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true   # the KDC is needed no more

printf 'cached:%s:bench\n' "$($tool sha512crypt 5000 bench-password)" > "$tmp/htpasswd"
start_pa() {   # start_pa NAME EXTRA_SERVER_LINES -> sets pa_port, pa_pid
  pa_port=$($tool free-port)
  printf '[server]\nlisten = 127.0.0.1:%s\nmax_failures = 0\n%b\n[htpasswd]\nfile = %s\n[negotiate]\nkeytab = %s\nreplay_cache = none\n' \
    "$pa_port" "$2" "$tmp/htpasswd" "$tmp/http.keytab" > "$tmp/$1.conf"
  "$pa" -c "$tmp/$1.conf" 2>/dev/null &
  pa_pid=$!; pids+=("$pa_pid")
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$pa_port/healthz" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "proxyauthd ($1) did not start" >&2; exit 1
}
wrk_run() {
  local url=$1; shift
  wrk -t2 -c"$conns" -d"${secs}s" --latency "$@" "$url" 2>&1 | awk '
    function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000;
                     if (v ~ /s$/) return v * 1000000; return v }
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = us($2) } /^ +99%/ { p99 = us($2) }
    END { printf "%.0f %.0f %.0f\n", rps, p50, p99 }'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
answers() {   # allows answered so far on /auth
  curl -s "http://127.0.0.1:$1/metrics" |
    awk '/^proxyauthd_requests_total\{profile="auth",outcome="allow"\}/ { print $2 }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
basic="Proxy-Authorization: Basic $(printf 'cached:bench-password' | base64 -w0)"

# The daemon's default, workers = 16 (NEG_WORKERS=N to try others).
# Acceptance is CPU work: sixteen workers on two cores queue and switch,
# which cost 0.66x instead of 0.8x while idle workers shared one
# condition variable (lib/workq.c now wakes one worker, off the mutex).
start_pa uncached "cache_size = 0\nworkers = ${NEG_WORKERS:-16}"; un_port=$pa_port; un_pid=$pa_pid
start_pa cached 'cache_ttl = 3600'; ca_port=$pa_port
st_un=$(curl -s -o /dev/null -w '%{http_code}' -H "Proxy-Authorization: Negotiate $(head -1 "$tmp/tokens")" "http://127.0.0.1:$un_port/auth")
st_ca=$(curl -s -o /dev/null -w '%{http_code}' -H "Proxy-Authorization: Negotiate $(cat "$tmp/one-token")" "http://127.0.0.1:$ca_port/auth")
st_ba=$(curl -s -o /dev/null -w '%{http_code}' -H "$basic" "http://127.0.0.1:$ca_port/auth")
: > "$tmp/un"; : > "$tmp/loop"; : > "$tmp/uncpu"; : > "$tmp/cn"; : > "$tmp/cb"
for r in $(seq "$rounds"); do
  echo "round $r/$rounds"
  c0=$(cpu_ticks "$un_pid"); n0=$(answers "$un_port")
  BENCH_TOKENS=$tmp/tokens wrk_run "http://127.0.0.1:$un_port/auth" -s tests/bench/negotiate.lua >> "$tmp/un"
  c1=$(cpu_ticks "$un_pid"); n1=$(answers "$un_port")
  awk -v c=$((c1 - c0)) -v n=$((n1 - n0)) -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.1f\n", c * 1e6 / hz / n }' >> "$tmp/uncpu"
  $neg accept-loop "$tmp/http.keytab" "$(nproc)" "$secs" "$tmp/tokens" >> "$tmp/loop"
  BENCH_TOKENS=$tmp/one-token wrk_run "http://127.0.0.1:$ca_port/auth" -s tests/bench/negotiate.lua >> "$tmp/cn"
  wrk_run "http://127.0.0.1:$ca_port/auth" -H "$basic" >> "$tmp/cb"
done
col() { awk -v c="$1" '{ print $c }' "$2" | median; }
un=$(col 1 "$tmp/un"); un50=$(col 2 "$tmp/un"); un99=$(col 3 "$tmp/un"); loop=$(col 1 "$tmp/loop")
loopcpu=$(col 2 "$tmp/loop"); uncpu=$(col 1 "$tmp/uncpu")
cn=$(col 1 "$tmp/cn"); cn50=$(col 2 "$tmp/cn"); cn99=$(col 3 "$tmp/cn")
cb=$(col 1 "$tmp/cb"); cb50=$(col 2 "$tmp/cb"); cb99=$(col 3 "$tmp/cb")
cat <<REPORT

Negotiate benchmark: $(nproc) cores, wrk -t2 -c$conns, ${secs}s per run, median of $rounds rounds
(replay cache off in the daemon and in the loop; 20000 distinct tokens;
 uncached daemon with workers = ${NEG_WORKERS:-16})

                                   req/s     p50 us    p99 us
(e) uncached Negotiate ($st_un)      $(printf '%9s %10s %9s' "$un" "$un50" "$un99")
    gss_accept_sec_context loop, $(nproc) threads: $loop/s
    CPU per answer: daemon $uncpu us, loop $loopcpu us per acceptance
(f) cached Negotiate   ($st_ca)      $(printf '%9s %10s %9s' "$cn" "$cn50" "$cn99")
    cached Basic       ($st_ba)      $(printf '%9s %10s %9s' "$cb" "$cb50" "$cb99")

uncached Negotiate / accept loop: $(awk -v a="$un" -v n="$loop" 'BEGIN { printf "%.2f", a / n }') x req/s (target >= 0.8); by CPU per answer $(awk -v a="$uncpu" -v n="$loopcpu" 'BEGIN { printf "%.2f", n / a }') x
cached Negotiate / cached Basic:  $(awk -v a="$cn" -v n="$cb" 'BEGIN { printf "%.2f", a / n }') x req/s
REPORT
