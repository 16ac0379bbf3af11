#!/usr/bin/env bash
# Command-line tests (SPEC section 6): proxyauthd -v and -t, the
# PROXYAUTHD_<SECTION>_<KEY> overrides as -t sees them, and
# proxyauth-passwd (hashes, htpasswd file edits).  Files written by
# proxyauth-passwd and by Apache's htpasswd are checked with -t and also by
# a real daemon on a loopback port answering curl, so a hash that parses
# but does not verify fails here too.
#
# Every check runs even after one fails; the last line is
# "N passed, M failed" and the exit status is non-zero on any failure.
set -euo pipefail

: "${PA_DAEMON_BIN:?run through ctest}" "${PROXYAUTH_PASSWD_BIN:?run through ctest}"
DAEMON=$PA_DAEMON_BIN
PASSWD=$PROXYAUTH_PASSWD_BIN
# ctest's own PA_DAEMON_BIN would be read by the daemon as an override of
# a section "bin" and rightly refused; the programs must not see it.
unset PA_DAEMON_BIN

T=$(mktemp -d "${TMPDIR:-/tmp}/pa-cli.XXXXXX")
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
	rm -rf "$T"
}
trap cleanup EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() {
	failed=$((failed + 1))
	echo "not ok - $1"
	shift
	local l
	for l in "$@"; do printf '    %s\n' "$l"; done
}
# check NAME COMMAND...: passes when COMMAND succeeds.
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}

# run PROGRAM ARGS...: sets rc, out (stdout) and err (stderr); never fails.
run() {
	rc=0
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	out=$(cat "$T/out")
	err=$(cat "$T/err")
}

# report NAME TEXT [PROBLEM...]: passes when there is no PROBLEM.
report() {
	local name=$1 text=$2
	shift 2
	if [ $# -eq 0 ]; then ok "$name"; else not_ok "$name" "$@" "got:" "$text"; fi
}

# expect_prefixes NAME TEXT PREFIX...: each PREFIX starts some line.
expect_prefixes() {
	local name=$1 text=$2 p missing=()
	shift 2
	for p in "$@"; do
		grep -qxF -- "$p" <<<"$(cut -c1-${#p} <<<"$text")" || missing+=("no line starting: $p")
	done
	report "$name" "$text" ${missing[@]+"${missing[@]}"}
}

b64() { printf '%s' "$1" | base64 -w0; }

# hash PASSWORD ARGS...: proxyauth-passwd's output for PASSWORD on stdin.
hash() {
	local pw=$1
	shift
	printf '%s\n' "$pw" | "$PASSWD" "$@"
}

# ---- proxyauthd -v ----

run "$DAEMON" -v
check "-v exits 0" test "$rc" -eq 0
check "-v prints a version" grep -qE '^proxyauthd [0-9]+\.[0-9]+\.[0-9]+' <<<"$out"

# ---- proxyauthd -t on a good configuration ----

hash good-pw -C 4 >"$T/hash.good"
printf 'alice:%s:admins\n' "$(cat "$T/hash.good")" >"$T/good.htpasswd"
cat >"$T/good.conf" <<EOF
# a good configuration
[server]
listen = 127.0.0.1:0
threads = 2
realm = test realm
log_format = json

[htpasswd]
file = $T/good.htpasswd
EOF
run "$DAEMON" -t -c "$T/good.conf"
check "-t good: exit 0" test "$rc" -eq 0
check "-t good: prints 'configuration OK'" test "$out" = "configuration OK"
check "-t good: nothing on stderr" test -z "$err"

# ---- proxyauthd -t: one problem each, with its line ----

# t_one NAME LINE_PREFIX... < config: -t fails and names each line.
t_one() {
	local name=$1
	shift
	cat >"$T/one.conf"
	run "$DAEMON" -t -c "$T/one.conf"
	check "-t $name: exit non-zero" test "$rc" -ne 0
	check "-t $name: no 'configuration OK'" test "$out" != "configuration OK"
	expect_prefixes "-t $name: file:line" "$err" "$@"
}

t_one "unknown key" "$T/one.conf:3: " <<EOF
[server]
listen = 127.0.0.1:0
bogus_key = 1
[htpasswd]
file = $T/good.htpasswd
EOF
check "-t unknown key: names the key" grep -q "bogus_key" <<<"$err"

# The HTTP front keeps at most four credentials headers: -t must say so
# rather than pass a configuration the daemon then refuses to start with.
t_one "five credentials headers" "$T/one.conf:2: " <<EOF
[server]
credentials_header = A, B, C, D, E
[htpasswd]
file = $T/good.htpasswd
EOF
t_one "empty credentials_header" "$T/one.conf:2: " <<EOF
[server]
credentials_header =
[htpasswd]
file = $T/good.htpasswd
EOF

t_one "threads out of range" "$T/one.conf:4: " <<EOF
[server]
listen = 127.0.0.1:0

threads = 100000
[htpasswd]
file = $T/good.htpasswd
EOF
check "-t threads out of range: names threads" grep -q "threads" <<<"$err"

t_one "bad bool" "$T/one.conf:2: " <<EOF
[server]
allow_weak_hashes = maybe
[htpasswd]
file = $T/good.htpasswd
EOF
check "-t bad bool: names the key" grep -q "allow_weak_hashes" <<<"$err"

# The unknown section is reported at its header or at its key: both lines
# point into it.
cat >"$T/one.conf" <<EOF
[server]
listen = 127.0.0.1:0
[htpaswd]
file = $T/good.htpasswd
[htpasswd]
file = $T/good.htpasswd
EOF
run "$DAEMON" -t -c "$T/one.conf"
check "-t unknown section: exit non-zero" test "$rc" -ne 0
check "-t unknown section: reported at line 3 or 4" \
	grep -qE "^$T/one.conf:(3|4): .*htpaswd" <<<"$err"

t_one "missing htpasswd file" "$T/one.conf:5: " <<EOF
[server]
listen = 127.0.0.1:0

[htpasswd]
file = $T/does-not-exist
EOF
check "-t missing htpasswd file: names the file" grep -q "$T/does-not-exist" <<<"$err"

# An htpasswd file with two broken lines and a duplicate: all of them.
{
	echo "# users"
	printf 'alice:%s\n' "$(cat "$T/hash.good")"
	echo "a line without a colon"
	echo "bob:plaintext-password"
	echo ""
	printf 'alice:%s\n' "$(cat "$T/hash.good")"
	printf 'carol:%s:ops\n' "$(cat "$T/hash.good")"
} >"$T/broken.htpasswd"
t_one "broken htpasswd lines" "$T/broken.htpasswd:3: " "$T/broken.htpasswd:4: " \
	"$T/broken.htpasswd:6: " <<EOF
[server]
listen = 127.0.0.1:0
[htpasswd]
file = $T/broken.htpasswd
EOF
check "-t broken htpasswd: never prints a password" \
	bash -c '! grep -q "plaintext-password" <<<"$1"' _ "$err"
check "-t broken htpasswd: carol's good line is not blamed" \
	bash -c '! grep -q "broken.htpasswd:7:" <<<"$1"' _ "$err"

# ---- every problem at once ----

cat >"$T/all.conf" <<EOF
[server]
listen = 127.0.0.1:0
threads = 999
bogus = 1
fallthrough_unavailable = maybe
log_format = yaml

[htpasswd]
file = $T/broken.htpasswd
EOF
run "$DAEMON" -t -c "$T/all.conf"
check "-t all problems: exit non-zero" test "$rc" -ne 0
check "-t all problems: no 'configuration OK'" test "$out" != "configuration OK"
expect_prefixes "-t all problems: every one reported" "$err" \
	"$T/all.conf:3: " "$T/all.conf:4: " "$T/all.conf:5: " "$T/all.conf:6: " \
	"$T/broken.htpasswd:3: " "$T/broken.htpasswd:4: " "$T/broken.htpasswd:6: "
check "-t all problems: one line per problem" test "$(grep -c . <<<"$err")" -eq 7

cat >"$T/all2.conf" <<EOF
[server]
listen = 127.0.0.1:0
threads = -1
bogus = 1
[nosuch]
key = 1
[htpasswd]
file = $T/does-not-exist
EOF
run "$DAEMON" -t -c "$T/all2.conf"
check "-t config and missing file: exit non-zero" test "$rc" -ne 0
expect_prefixes "-t config and missing file: both reported" "$err" \
	"$T/all2.conf:3: " "$T/all2.conf:4: " "$T/all2.conf:8: "
check "-t config and missing file: unknown section too" grep -q "nosuch" <<<"$err"

run "$DAEMON" -t -c "$T/no-such.conf"
check "-t missing config file: exit non-zero" test "$rc" -ne 0
check "-t missing config file: names it" grep -q "$T/no-such.conf" <<<"$err"
check "-t missing config file: one line" test "$(grep -c . <<<"$err")" -eq 1

# ---- environment overrides ----

rc=0
out=$(PROXYAUTHD_SERVER_THREADS=0x "$DAEMON" -t -c "$T/good.conf" 2>"$T/err") || rc=$?
err=$(cat "$T/err")
check "PROXYAUTHD_SERVER_THREADS=0x: exit non-zero" test "$rc" -ne 0
check "PROXYAUTHD_SERVER_THREADS=0x: reported as the environment's" \
	grep -q "^environment: PROXYAUTHD_SERVER_THREADS" <<<"$err"

rc=0
out=$(PROXYAUTHD_SERVER_THREADS=3 "$DAEMON" -t -c "$T/good.conf" 2>"$T/err") || rc=$?
check "PROXYAUTHD_SERVER_THREADS=3: accepted" test "$rc" -eq 0 -a "$out" = "configuration OK"

rc=0
out=$(PROXYAUTHD_SERVER_BOGUS=1 "$DAEMON" -t -c "$T/good.conf" 2>"$T/err") || rc=$?
err=$(cat "$T/err")
check "PROXYAUTHD_SERVER_BOGUS: an unknown key is an error" \
	test "$rc" -ne 0 -a -n "$(grep "PROXYAUTHD_SERVER_BOGUS" <<<"$err")"

sed "s|^file = .*|file = $T/does-not-exist|" "$T/good.conf" >"$T/env.conf"
rc=0
out=$(PROXYAUTHD_HTPASSWD_FILE="$T/good.htpasswd" "$DAEMON" -t -c "$T/env.conf" 2>"$T/err") ||
	rc=$?
check "PROXYAUTHD_HTPASSWD_FILE: a good file overrides a missing one" \
	test "$rc" -eq 0 -a "$out" = "configuration OK"
rc=0
out=$(PROXYAUTHD_HTPASSWD_FILE="$T/broken.htpasswd" "$DAEMON" -t -c "$T/good.conf" 2>"$T/err") ||
	rc=$?
err=$(cat "$T/err")
check "PROXYAUTHD_HTPASSWD_FILE: a broken file is checked" test "$rc" -ne 0
expect_prefixes "PROXYAUTHD_HTPASSWD_FILE: its lines reported" "$err" \
	"$T/broken.htpasswd:3: " "$T/broken.htpasswd:4: "
rc=0
out=$(PROXYAUTHD_HTPASSWD_FILE="$T/nope" "$DAEMON" -t -c "$T/good.conf" 2>"$T/err") || rc=$?
err=$(cat "$T/err")
check "PROXYAUTHD_HTPASSWD_FILE: a missing file names the variable" \
	test "$rc" -ne 0 -a -n "$(grep "PROXYAUTHD_HTPASSWD_FILE" <<<"$err")"

# ---- proxyauth-passwd: hashes ----

run hash 'some password' 
check "passwd default: exit 0" test "$rc" -eq 0
check "passwd default: bcrypt cost 12" grep -qxE '\$2b\$12\$[./A-Za-z0-9]{53}' <<<"$out"
run hash 'some password' -a bcrypt -C 5
check "passwd -a bcrypt -C 5" grep -qxE '\$2b\$05\$[./A-Za-z0-9]{53}' <<<"$out"
run hash 'some password' -a yescrypt
check "passwd -a yescrypt" grep -qxE '\$y\$[^:[:space:]]+' <<<"$out"
run hash 'some password' -a argon2id
check "passwd -a argon2id" \
	grep -qxE '\$argon2id\$v=19\$m=[0-9]+,t=[0-9]+,p=[0-9]+\$[^:[:space:]]+' <<<"$out"
run hash 'some password' -a md5
check "passwd -a md5: refused" test "$rc" -ne 0 -a -z "$out"
a=$(hash same-pw -C 4)
b=$(hash same-pw -C 4)
check "passwd: a fresh salt each time" test "$a" != "$b"

rc=0
printf '\n' | "$PASSWD" >"$T/out" 2>"$T/err" || rc=$?
check "passwd: empty password refused" test "$rc" -ne 0 -a ! -s "$T/out"
check "passwd: empty password says so" grep -qi "empty" "$T/err"
rc=0
"$PASSWD" </dev/null >"$T/out" 2>"$T/err" || rc=$?
check "passwd: no input refused" test "$rc" -ne 0 -a ! -s "$T/out"
rc=0
printf '\n' | "$PASSWD" -f "$T/empty.htpasswd" alice >/dev/null 2>&1 || rc=$?
check "passwd -f: empty password refused, no file made" test "$rc" -ne 0 -a ! -e "$T/empty.htpasswd"
rc=0
printf 'tab\there\n' | "$PASSWD" -C 4 >"$T/out" 2>"$T/err" || rc=$?
check "passwd: control character refused (the daemon would call it malformed)" \
	test "$rc" -ne 0 -a ! -s "$T/out"
long=$(printf 'x%.0s' $(seq 73))
rc=0
printf '%s\n' "$long" | "$PASSWD" -C 4 >"$T/out" 2>"$T/err" || rc=$?
check "passwd: bcrypt refuses a password past 72 bytes" test "$rc" -ne 0 -a ! -s "$T/out"
check "passwd: bcrypt's 72-byte limit is explained" grep -q "72" "$T/err"
out=$(printf '%s\n' "$long" | "$PASSWD" -a yescrypt) || true
check "passwd: yescrypt takes a long password" grep -q '^\$y\$' <<<"$out"

# ---- proxyauth-passwd -f: round trip ----

F=$T/users.htpasswd
printf '# managed by proxyauth-passwd\n' >"$F"
run hash alice-pw-1 -C 4 -f "$F" alice admins,dev
check "passwd -f add alice: exit 0" test "$rc" -eq 0
run hash bob-pw-1 -C 4 -f "$F" bob
check "passwd -f add bob: exit 0" test "$rc" -eq 0
check "passwd -f: comment kept" grep -qx '# managed by proxyauth-passwd' "$F"
check "passwd -f: alice with groups" grep -qxE 'alice:\$2b\$04\$[./A-Za-z0-9]{53}:admins,dev' "$F"
check "passwd -f: bob without groups" grep -qxE 'bob:\$2b\$04\$[./A-Za-z0-9]{53}' "$F"
alice1=$(grep '^alice:' "$F")
run hash alice-pw-2 -C 4 -f "$F" alice
alice2=$(grep '^alice:' "$F")
check "passwd -f update: hash changed" test "$alice1" != "$alice2"
check "passwd -f update without GROUPS: groups kept" grep -qxE 'alice:\$2b\$04\$[^:]{53}:admins,dev' "$F"
check "passwd -f update: still one alice" test "$(grep -c '^alice:' "$F")" -eq 1
run hash alice-pw-2 -C 4 -f "$F" alice ops
check "passwd -f update with GROUPS: replaced" grep -qxE 'alice:\$2b\$04\$[^:]{53}:ops' "$F"
before=$(grep '^alice:' "$F")
run "$PASSWD" -f "$F" --disable alice
check "passwd --disable: exit 0" test "$rc" -eq 0
check "passwd --disable: '!' before the hash" grep -qxF "alice:!${before#alice:}" "$F"
run "$PASSWD" -f "$F" --enable alice
check "passwd --enable: back as before" grep -qxF "$before" "$F"
run "$PASSWD" -f "$F" --delete bob
check "passwd --delete: exit 0" test "$rc" -eq 0
check "passwd --delete: bob gone" bash -c '! grep -q "^bob:" "$1"' _ "$F"
check "passwd --delete: alice stays" grep -qxF "$before" "$F"
run "$PASSWD" -f "$F" --delete nobody
check "passwd --delete of an unknown user fails" test "$rc" -ne 0
run hash x -C 4 -f "$F" 'bad:name'
check "passwd -f: ':' in a user name refused" test "$rc" -ne 0
check "passwd -f: nothing left behind" test "$(ls "$T" | grep -c '^users.htpasswd')" -eq 1
run "$PASSWD" -f "$F" --disable
check "passwd --disable without a user: usage error" test "$rc" -ne 0

# ---- proxyauth-passwd -f: a file the daemon would refuse is not written ----

# Apache's htpasswd -m writes $apr1$, which the daemon refuses (without
# allow_weak_hashes), keeping its old table: deleting alice there would
# leave her allowed.  proxyauth-passwd checks the new file with the
# daemon's own parser and refuses, naming file:line, unless --force.
R=$T/refuse.htpasswd
hash alice-pw -C 4 -f "$R" alice >/dev/null
hash bob-pw -C 4 -f "$R" bob >/dev/null
htpasswd -bm "$R" legacy legacy-pw 2>/dev/null
check "htpasswd -m wrote an \$apr1\$ line" grep -qE '^legacy:\$apr1\$' "$R"
cp "$R" "$T/refuse.before"
run "$PASSWD" -f "$R" --delete alice
check "passwd --delete on a file the daemon refuses: exit non-zero" test "$rc" -ne 0
check "passwd: names file:line and why" grep -qF "$R:2: user 'legacy': weak hash" <<<"$err"
check "passwd: says nothing was written" grep -q "nothing was written" <<<"$err"
check "passwd: the file is left as it was" cmp -s "$R" "$T/refuse.before"
check "passwd: no temporary file left" test "$(ls "$T" | grep -c '^refuse.htpasswd')" -eq 1
run hash carol-pw -C 4 -f "$R" carol
check "passwd: an add to it is refused too" test "$rc" -ne 0 -a "$(grep -c '^carol:' "$R")" -eq 0
printf '[server]\nallow_weak_hashes = true\n[htpasswd]\nfile = %s\n' "$R" >"$T/weak.conf"
run "$PASSWD" -c "$T/weak.conf" --delete alice
check "passwd -c: the daemon's allow_weak_hashes and file are used" \
	test "$rc" -eq 0 -a "$(grep -c '^alice:' "$R")" -eq 0
run "$PASSWD" -f "$R" --force --delete bob
check "passwd --force writes it anyway" test "$rc" -eq 0 -a "$(grep -c '^bob:' "$R")" -eq 0
check "passwd --force still names the line" grep -qF "$R:1: user 'legacy'" <<<"$err"

# ---- proxyauth-passwd -f: symbolic links, owner, group and mode ----

mkdir "$T/real"
hash alice-pw -C 4 -f "$T/real/users" alice >/dev/null
ln -s real/users "$T/link.htpasswd"
run hash bob-pw -C 4 -f "$T/link.htpasswd" bob
check "passwd through a symlink: exit 0" test "$rc" -eq 0
check "passwd through a symlink: the link stays a link" test -L "$T/link.htpasswd"
check "passwd through a symlink: the target changed" grep -q '^bob:' "$T/real/users"
check "passwd through a symlink: alice kept in the target" grep -q '^alice:' "$T/real/users"
check "passwd through a symlink: no temporary file left" \
	test "$(ls "$T/real" | wc -l)" -eq 1 -a "$(ls "$T" | grep -c '^link.htpasswd')" -eq 1
ln -s real/missing "$T/dangling.htpasswd"
run hash x-pw -C 4 -f "$T/dangling.htpasswd" x
check "passwd through a dangling symlink: refused, the link stays" \
	test "$rc" -ne 0 -a -L "$T/dangling.htpasswd"

if [ "$(id -u)" -eq 0 ]; then
	O=$T/owned.htpasswd
	hash alice-pw -C 4 -f "$O" alice >/dev/null
	chown nobody:nogroup "$O"
	chmod 0660 "$O"
	run hash bob-pw -C 4 -f "$O" bob
	check "passwd: owner, group and mode kept" \
		test "$(stat -c '%U:%G %a' "$O")" = "nobody:nogroup 660"
	chown nobody:nogroup "$T/real/users"
	chmod 0604 "$T/real/users"
	run hash carol-pw -C 4 -f "$T/link.htpasswd" carol
	check "passwd through a symlink: the target's owner and mode kept" \
		test "$(stat -c '%U:%G %a' "$T/real/users")" = "nobody:nogroup 604"
	run hash alice-pw -C 4 -f "$T/new-g.htpasswd" -g nogroup alice
	check "passwd: a new file with -g: 0640 in that group" \
		test "$(stat -c '%U:%G %a' "$T/new-g.htpasswd")" = "root:nogroup 640"
	mkdir "$T/gdir"
	chgrp nogroup "$T/gdir"
	run hash alice-pw -C 4 -f "$T/gdir/users" alice
	check "passwd: a new file: 0640 in its folder's group" \
		test "$(stat -c '%U:%G %a' "$T/gdir/users")" = "root:nogroup 640"
	run hash alice-pw -C 4 -f "$T/new-bad.htpasswd" -g no-such-group-here alice
	check "passwd: an unknown -g group is refused" \
		test "$rc" -ne 0 -a ! -e "$T/new-bad.htpasswd"
else
	ok "owner and group tests need root: skipped"
fi

# ---- the daemon takes files written by proxyauth-passwd and htpasswd ----

W=$T/written.htpasswd
hash alg-bcrypt -C 4 -f "$W" u-bcrypt g1 >/dev/null
hash alg-yescrypt -a yescrypt -f "$W" u-yescrypt >/dev/null
hash alg-argon2id -a argon2id -f "$W" u-argon2id >/dev/null
hash disabled-pw -C 4 -f "$W" u-disabled >/dev/null
"$PASSWD" -f "$W" --disable u-disabled
htpasswd -bB -C 4 "$W" u-apache apache-pw 2>/dev/null
check "htpasswd -B wrote a \$2y\$ line" grep -qE '^u-apache:\$2y\$04\$' "$W"
cat >"$T/written.conf" <<EOF
[server]
listen = 127.0.0.1:0
threads = 2
[htpasswd]
file = $W
EOF
run "$DAEMON" -t -c "$T/written.conf"
check "-t accepts proxyauth-passwd and htpasswd -B lines" \
	test "$rc" -eq 0 -a "$out" = "configuration OK"

htpasswd -nbm u-md5 md5-pw >"$T/md5.htpasswd" 2>/dev/null
sed "s|^file = .*|file = $T/md5.htpasswd|" "$T/written.conf" >"$T/md5.conf"
run "$DAEMON" -t -c "$T/md5.conf"
check "-t refuses an \$apr1\$ line" test "$rc" -ne 0
check "-t says why for \$apr1\$" grep -q "allow_weak_hashes" <<<"$err"
sed 's|^threads = 2|threads = 2\nallow_weak_hashes = true|' "$T/md5.conf" >"$T/md5-weak.conf"
run "$DAEMON" -t -c "$T/md5-weak.conf"
check "-t takes \$apr1\$ with allow_weak_hashes" test "$rc" -eq 0

# Start the daemon for real and ask it.
"$DAEMON" -c "$T/written.conf" 2>"$T/daemon.log" &
dpid=$!
PIDS+=("$dpid")
port=
for _ in $(seq 1 500); do
	port=$(grep -so 'listening on 127.0.0.1:[0-9]*' "$T/daemon.log" | head -1 | cut -d: -f2 || true)
	[ -n "$port" ] && break
	kill -0 "$dpid" 2>/dev/null || break
	sleep 0.01
done
if [ -z "$port" ]; then
	not_ok "daemon came up" "$(cat "$T/daemon.log")"
else
	ok "daemon came up on port $port"
	status() {
		curl -s -o /dev/null -w '%{http_code}' --noproxy '*' \
			--max-time 10 -H "Proxy-Authorization: Basic $(b64 "$1:$2")" \
			"http://127.0.0.1:$port/auth"
	}
	check "daemon: bcrypt from proxyauth-passwd" test "$(status u-bcrypt alg-bcrypt)" = 204
	check "daemon: yescrypt from proxyauth-passwd" test "$(status u-yescrypt alg-yescrypt)" = 204
	check "daemon: argon2id from proxyauth-passwd" test "$(status u-argon2id alg-argon2id)" = 204
	check "daemon: \$2y\$ from htpasswd -B" test "$(status u-apache apache-pw)" = 204
	check "daemon: disabled user denied" test "$(status u-disabled disabled-pw)" = 407
	check "daemon: wrong password denied" test "$(status u-bcrypt alg-yescrypt)" = 407
	users=$(curl -s -D - -o /dev/null --noproxy '*' --max-time 10 \
		-H "Proxy-Authorization: Basic $(b64 u-bcrypt:alg-bcrypt)" \
		"http://127.0.0.1:$port/auth" | tr -d '\r')
	check "daemon: groups from the file" grep -qx 'X-Auth-Groups: g1' <<<"$users"
fi
kill -TERM "$dpid" 2>/dev/null || true
drc=0
wait "$dpid" || drc=$?
check "daemon: exits 0 on SIGTERM" test "$drc" -eq 0


# ---- threads = 0: one event loop per CPU the daemon may run on ----

# tasks CONF: the daemon's thread count once it listens, started on the
# first CPU this shell may use, alone (taskset: the affinity a cpuset or
# CPUAffinity= would give), or "none" when it does not come up.
cpu0=$(taskset -pc $$ | sed 's/.*: *//; s/[,-].*//')
tasks() {
	local pid n=none
	taskset -c "$cpu0" "$DAEMON" -c "$1" 2>"$T/tasks.log" &
	pid=$!
	PIDS+=("$pid")
	for _ in $(seq 1 500); do
		if grep -q 'listening on' "$T/tasks.log"; then
			sleep 0.2
			n=$(find "/proc/$pid/task" -mindepth 1 -maxdepth 1 | wc -l)
			break
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.01
	done
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	echo "$n"
}
for n in 0 1 2; do
	sed "s|^threads = 2|threads = $n|" "$T/written.conf" >"$T/threads$n.conf"
done
if [ "$(nproc)" -lt 2 ]; then
	# With one CPU, one loop per online CPU is one loop too: nothing to tell.
	echo "SKIPPED: threads = 0 under taskset needs two CPUs (nproc: $(nproc))"
else
	t0=$(tasks "$T/threads0.conf")
	t1=$(tasks "$T/threads1.conf")
	t2=$(tasks "$T/threads2.conf")
	check "threads = 0 on one allowed CPU starts one event loop ($t0 threads, $t1 with threads = 1, $t2 with 2)" \
		test "$t0" != none -a "$t0" = "$t1" -a "$t2" != "$t1"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
