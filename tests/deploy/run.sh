#!/usr/bin/env bash
# The deploy tests (issue 13), run once per suite run, not once per build
# variant: tests/run-all.sh calls
#   tests/deploy/run.sh BUILD_DIR
# after the plain and ASan stages, with the plain build.  Each test prints
# its checks, its last line "N passed, M failed" and its wall time; this
# script prints one line per test and fails when any test failed.
# Needs root (chroot, podman's root storage, tmpfs mounts) and Debian's
# mirror (debootstrap, apt in the containers and the chroot, npm).  Caches
# live under build/deploy-cache; podman keeps its layer cache.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -ne 1 ] || [ ! -x "$1/proxyauthd" ]; then
  echo "usage: $0 BUILD_DIR (a build with proxyauthd in it)" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "tests/deploy needs root: chroot, podman's storage, tmpfs mounts" >&2
  exit 1
fi
build=$(cd "$1" && pwd)
export PA_BUILD_DIR="$build" PA_DAEMON_BIN="$build/proxyauthd" \
  PROXYAUTH_PASSWD_BIN="$build/proxyauth-passwd" PA_SQUID_BIN="$build/proxyauth-squid"

tests=(test_manpages test_systemd test_k8s_schema test_package test_image test_pod)
summary=() failed=0 t0=$SECONDS
for t in "${tests[@]}"; do
  echo "--- deploy/$t"
  start=$SECONDS
  timeout --kill-after=30 1800 python3 "$here/$t.py"
  rc=$?
  line=$(printf '%-18s %s  %4d s' "$t" "$([ $rc -eq 0 ] && echo pass || echo "FAIL ($rc)")" \
    $((SECONDS - start)))
  echo "--- deploy/$line"
  summary+=("$line")
  [ $rc -eq 0 ] || failed=$((failed + 1))
done
echo "=== deploy tests, $((SECONDS - t0)) s in all:"
printf '  %s\n' "${summary[@]}"
echo "deploy: $(( ${#tests[@]} - failed )) passed, $failed failed"
[ "$failed" -eq 0 ]
