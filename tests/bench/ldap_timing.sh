#!/usr/bin/env bash
# LDAP timing (a benchmark, not part of the pass/fail suite): one uncached
# LDAP-backed /auth answer next to one raw simple bind on the same private
# slapd.  See tests/bench/ldap_timing.c.
# Usage: tests/bench/ldap_timing.sh [ROUNDS (400)]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
deploy/install-deps.sh test
cmake -S . -B build/bench-ldap -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/bench-ldap -j "$(nproc)" --target bench_ldap_timing proxyauthd proxyauth-passwd >/dev/null
PA_DAEMON_BIN=$root/build/bench-ldap/proxyauthd \
PROXYAUTH_PASSWD_BIN=$root/build/bench-ldap/proxyauth-passwd \
PA_TESTS_DIR=$root/tests \
  build/bench-ldap/tests/bench_ldap_timing "${1:-400}"
