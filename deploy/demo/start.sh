#!/usr/bin/env bash
# Builds proxyauthd and starts it on 127.0.0.1:9180 with a demo htpasswd
# file (user "demo", password "demo-password", group "demo"), then prints
# the curl lines to try.  Run it again to restart; stop it with the kill
# line it prints.  Everything it makes lives under build/demo.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

deploy/install-deps.sh build
cmake -S "$root" -B build/demo -DPA_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/demo -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

run="$root/build/demo/run"
mkdir -p "$run"
if [ -f "$run/proxyauthd.pid" ] && kill "$(cat "$run/proxyauthd.pid")" 2>/dev/null; then
  sleep 1        # the previous demo drains and exits
fi
rm -f "$run/users.htpasswd"
printf 'demo-password\n' | build/demo/proxyauth-passwd -f "$run/users.htpasswd" demo demo
sed "s|@HTPASSWD@|$run/users.htpasswd|" deploy/demo/proxyauthd.conf > "$run/proxyauthd.conf"
chmod 755 "$run"; chmod 644 "$run/users.htpasswd" "$run/proxyauthd.conf"

# Not as root: a daemon that checks passwords needs no privileges.
as=()
[ "$(id -u)" -eq 0 ] && as=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
: > "$run/proxyauthd.log"
nohup "${as[@]}" build/demo/proxyauthd -c "$run/proxyauthd.conf" \
  >>"$run/proxyauthd.log" 2>&1 </dev/null &
echo $! > "$run/proxyauthd.pid"
for _ in $(seq 50); do
  grep -q 'listening on' "$run/proxyauthd.log" && break
  kill -0 "$(cat "$run/proxyauthd.pid")" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q 'listening on' "$run/proxyauthd.log"; then
  echo "proxyauthd did not start:" >&2; cat "$run/proxyauthd.log" >&2; exit 1
fi
token=$(printf 'demo:demo-password' | base64)
cat <<MSG

proxyauthd is running on 127.0.0.1:9180 (log: $run/proxyauthd.log)

Without credentials (407 + Proxy-Authenticate):
  curl -i http://127.0.0.1:9180/auth

With the demo user's credentials (204 + X-Auth-User: demo):
  curl -i -H 'Proxy-Authorization: Basic $token' http://127.0.0.1:9180/auth

Stop it:
  kill \$(cat $run/proxyauthd.pid)
MSG
