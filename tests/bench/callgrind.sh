#!/usr/bin/env bash
# proxyauthd's own work per answer, in instructions (callgrind), for the
# two paths issue 17 item 4 names: an uncached LDAP direct bind (a private
# slapd, USERS distinct users, cache_size = 0) and a cached answer on the
# nginx path (GET /auth-request with the headers nginx's auth_request
# sends, one user, the cache on).  Instruction counts do not move with the
# machine's load, unlike rates and CPU time, so a change can be measured
# on a shared machine.  A benchmark, not part of the pass/fail suite.
#
# Method: the daemon runs under valgrind --tool=callgrind with the
# instrumentation off; a warm-up of 200 requests; the instrumentation on
# for N requests one after the other on one kept-alive connection (curl
# -K), then off again.  The instructions counted, over N, are the cost of
# one answer (all threads: HTTP front,
# hand-off, worker, backend library, libc), shown in total and per object
# (proxyauthd's own code, libc, libldap/liblber, libmicrohttpd, ...).
#
# Usage: tests/bench/callgrind.sh [N (2000)] [USERS (1000)]
#   PA_BENCH_KEEP=1 keeps the dumps (callgrind_annotate them);
#   PA_BENCH_TOP=1 prints the top functions of each.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-2000}; users=${2:-1000}; warm=200
cd "$root"

cmake -S . -B build/bench -DPA_TESTS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/bench -j "$(nproc)" >/dev/null
cc -O2 -o build/bench/bench_tool tests/bench/bench_tool.c -lcrypt -lcrypto -lpthread
tool=build/bench/bench_tool
pa=$root/build/bench/proxyauthd
pw=bench-password
base=ou=people,dc=bench

tmp=$(mktemp -d /tmp/pa-callgrind.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  if [ -n "${PA_BENCH_KEEP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

wait_http() {
  for _ in $(seq 600); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "no answer from $1" >&2; exit 1
}

# curl_conf FILE URL USER_FORMAT [HEADER...]: N requests for curl -K, one
# after the other on one kept-alive connection; user number i % USERS.
curl_conf() {
  local file=$1 url=$2 fmt=$3 i u; shift 3
  : > "$file"
  for ((i = 0; i < n; i++)); do
    # shellcheck disable=SC2059
    printf -v u "$fmt" $((i % users))
    printf 'url = "%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' "$url" >> "$file"
    printf 'header = "Proxy-Authorization: Basic %s"\n' "$(printf '%s:%s' "$u" "$pw" | base64 -w0)" >> "$file"
    for h in "$@"; do printf 'header = "%s"\n' "$h" >> "$file"; done
    [ "$i" -lt $((n - 1)) ] && echo next >> "$file"
  done
  return 0
}

# measure NAME CONF_BODY PATH USER_FORMAT [HEADER...]: prints the
# instructions per answer, in total and by object
measure() {
  local name=$1 conf=$2 path=$3 fmt=$4 port pid reqs bad dump; shift 4
  port=$($tool free-port)
  printf '[server]\nlisten = 127.0.0.1:%s\nmax_failures = 0\nthreads = 2\n%b\n' "$port" "$conf" \
    > "$tmp/$name.conf"
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$tmp/$name.out" \
    "$pa" -c "$tmp/$name.conf" 2>"$tmp/$name.log" &
  pid=$!; pids+=("$pid")
  wait_http "http://127.0.0.1:$port/healthz"
  n=$warm curl_conf "$tmp/$name.warm" "http://127.0.0.1:$port$path" "$fmt" "$@"
  curl_conf "$tmp/$name.curl" "http://127.0.0.1:$port$path" "$fmt" "$@"
  curl -s -K "$tmp/$name.warm" >/dev/null
  callgrind_control -i on "$pid" >/dev/null
  curl -s -K "$tmp/$name.curl" > "$tmp/$name.codes"
  callgrind_control -i off "$pid" >/dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true   # the dump, at exit
  reqs=$(grep -c . "$tmp/$name.codes" || true)
  bad=$(grep -vcE '^(200|204)$' "$tmp/$name.codes" || true)
  if [ "$reqs" -ne "$n" ] || [ "$bad" -ne 0 ]; then
    echo "$name: $reqs answers, $bad not 2xx" >&2; exit 1
  fi
  dump=$tmp/$name.out
  [ -f "$dump" ] || { echo "$name: no dump" >&2; exit 1; }
  callgrind_annotate --inclusive=no --threshold=100 "$dump" 2>/dev/null | awk -v n="$reqs" -v name="$name" '
    /PROGRAM TOTALS/ { t = $1; gsub(",", "", t); total = t; next }
    /^ *[0-9,]+ .*\[/ { c = $1; gsub(",", "", c); o = $NF; gsub(/[][]/, "", o)
                        sub(".*/", "", o); sub(/\.so.*/, "", o); obj[o] += c }
    END { printf "%-12s %8.0f instructions/answer over %d answers\n", name, total / n, n
          for (o in obj) if (obj[o] / n >= 100) printf "    %-20s %8.0f\n", o, obj[o] / n }'
  if [ -n "${PA_BENCH_TOP:-}" ]; then
    callgrind_annotate --inclusive=no "$dump" 2>/dev/null | sed -n '1,/^-- Auto/p' | head -60
  fi
}

########## cached, nginx's auth_request ##########
# One user, cached, with the headers deploy/nginx's auth_request sends.
printf 'u0:%s\n' "$($tool sha512crypt 5000 "$pw")" > "$tmp/users"
measure cached "backends = htpasswd\n[htpasswd]\nfile = $tmp/users" /auth-request u0 \
  "X-Original-URI: /index.html" "X-Original-Method: GET" "X-Forwarded-Host: app.example.org" \
  "X-Real-IP: 127.0.0.1"

########## uncached LDAP, direct bind ##########
mkdir -p "$tmp/ldap/db"
ldap_port=$($tool free-port)
ldap_uri=ldap://127.0.0.1:$ldap_port
cat > "$tmp/ldap/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile $tmp/ldap/slapd.pid
database mdb
maxsize 67108864
suffix "dc=bench"
rootdn "cn=root,dc=bench"
rootpw root-bench-pw
directory $tmp/ldap/db
index objectClass eq
index uid eq
access to attrs=userPassword by * auth
access to * by self read by * none
EOF
/usr/sbin/slapd -f "$tmp/ldap/slapd.conf" -h "$ldap_uri/" -d 0 >"$tmp/ldap/slapd.log" 2>&1 &
pids+=("$!")
for _ in $(seq 200); do
  ldapsearch -x -LLL -H "$ldap_uri" -b "" -s base 1.1 >/dev/null 2>&1 && break; sleep 0.05
done
{
  printf 'dn: dc=bench\nobjectClass: dcObject\nobjectClass: organization\ndc: bench\no: bench\n\n'
  printf 'dn: %s\nobjectClass: organizationalUnit\nou: people\n\n' "$base"
  awk -v b="$base" -v pw="$pw" -v n="$users" 'BEGIN { for (i = 0; i < n; i++)
    printf "dn: uid=u%d,%s\nobjectClass: inetOrgPerson\nuid: u%d\ncn: u%d\nsn: u%d\nuserPassword: %s\n\n", i, b, i, i, i, pw }'
} > "$tmp/ldap/users.ldif"
ldapadd -x -H "$ldap_uri" -D cn=root,dc=bench -w root-bench-pw -f "$tmp/ldap/users.ldif" >/dev/null
measure ldap_direct "backends = ldap\ncache_size = 0\n[ldap]\nuri = $ldap_uri\nuser_dn_template = uid=%u,$base\npool_size = 1" /auth 'u%d'
