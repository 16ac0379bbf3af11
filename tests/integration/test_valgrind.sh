#!/usr/bin/env bash
# The daemon under valgrind's memcheck (full stacks, unlike LeakSanitizer
# in libraries built without frame pointers): the backend-failure test
# (tests/integration/test_backend_failures.c) against redis-server and
# slapd, stopped and restarted under load, with every proxyauthd it starts
# wrapped in valgrind.  Fails on any invalid read or write, use of
# uninitialised memory, or memory definitely or indirectly lost.
# PostgreSQL is left out: its SCRAM login under valgrind outlasts the
# test's timeouts.  Runs on the plain build only (valgrind cannot run an
# AddressSanitizer binary); the ASan run says so and passes.
set -euo pipefail
: "${PA_DAEMON_BIN:?}"
# Not `ldd | grep -q`: grep -q leaves at the first match, ldd may then die
# of SIGPIPE, and pipefail turns the match into a miss (seen in CI).
if [[ "$(ldd "$PA_DAEMON_BIN")" == *libasan* ]]; then
  echo "AddressSanitizer build: the valgrind run belongs to the plain build"
  exit 0
fi
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
test_bin=$(dirname "$PA_DAEMON_BIN")/tests/integration_test_backend_failures
tmp=$(mktemp -d /tmp/pa-valgrind.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/proxyauthd" <<WRAP
#!/bin/sh
exec valgrind --quiet --error-exitcode=99 --leak-check=full \
  --suppressions=$(cd "$(dirname "$0")" && pwd)/valgrind.supp \
  --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
  --log-file=$tmp/vg.%p.log "$PA_DAEMON_BIN" "\$@"
WRAP
chmod 755 "$tmp/proxyauthd"
# The logs are printed whether or not the test passed: a daemon stopped
# with valgrind's exit code 99 fails the test, and the log says why.
rc=0
# Valgrind's start-up alone can pass the harness's usual 5 s when the
# other tests load the machine (seen with ctest -j2): give it 30 s.
PA_DAEMON_START_MS=30000 PA_DAEMON_BIN=$tmp/proxyauthd PA_FAILURE_BACKENDS=redis,ldap "$test_bin" || rc=$?
n=0; bad=0
for f in "$tmp"/vg.*.log; do
  n=$((n + 1))
  # --quiet: a clean run writes nothing
  if [ -s "$f" ]; then bad=1; echo "=== $f"; cat "$f"; fi
done
echo "valgrind: $n proxyauthd runs checked"
[ "$rc" -eq 0 ] && [ "$n" -gt 0 ] && [ "$bad" -eq 0 ]
