#!/usr/bin/env bash
# Installs the Debian 12 packages proxyauthd needs, and only the missing
# ones.  Usage: deploy/install-deps.sh build|test
#   build  compiler, CMake and the libraries the programs link
#   test   build, plus what the test suite runs: cmocka, libcurl,
#          apache2-utils (htpasswd), openssl, curl, redis-server,
#          postgresql-15 (server, pgcrypto, psql, pg_dump), clang with
#          libFuzzer, nginx, caddy, squid, haproxy, python3, an MIT KDC,
#          podman, buildah, runc, debootstrap, mandoc, lintian, debhelper
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libmicrohttpd-dev libcrypt-dev
            libargon2-dev libssl-dev libinih-dev libhiredis-dev curl ca-certificates)
build_pkgs+=(libpq-dev libldap-dev)
# Unicode NFKC + case folding of user names for the lockout (lib/fold.c)
build_pkgs+=(libunistring-dev)
build_pkgs+=(libcurl4-openssl-dev)  # proxyauth-check
test_pkgs=(libcmocka-dev apache2-utils openssl redis-server redis-tools)
# fuzzing (tests/fuzz): clang with libFuzzer
test_pkgs+=(clang libclang-rt-14-dev valgrind)
# proxies end to end (tests/integration/test_{nginx,caddy,squid}.py) and the deploy kit check
test_pkgs+=(nginx-light caddy squid python3 python3-yaml)
# PostgreSQL 15 server (pgcrypto ships in it) and psql/pg_dump for the tests.
test_pkgs+=(postgresql-15 postgresql-client-15)
test_pkgs+=(pgbouncer)  # a transaction-mode pooler in front of it (tests/integration/test_pgbouncer.c)
# LDAP: a private slapd and ldapadd for the tests
test_pkgs+=(slapd ldap-utils)
# Kerberos Negotiate: GSS-API to build against, and a private MIT KDC,
# kadmin.local and kinit for the tests
build_pkgs+=(libkrb5-dev)
test_pkgs+=(krb5-kdc krb5-admin-server krb5-user)
# HAProxy as a tested front proxy (deploy/haproxy, proxyauth-check)
test_pkgs+=(haproxy)
# the deploy kit run for real (tests/deploy): the container image and the
# sidecar pod with podman, the Debian package, the man pages
test_pkgs+=(podman buildah runc debootstrap uidmap mandoc lintian debhelper dpkg-dev fakeroot)
test_pkgs+=(catatonit)  # the pod's infra (pause) container, which podman builds locally from it
# systemd-analyze verify and security for the unit (tests/deploy/test_systemd.py);
# installing the package does not make systemd PID 1
test_pkgs+=(systemd)

case "${1:-}" in
  build) want=("${build_pkgs[@]}") ;;
  test)  want=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
  *) echo "usage: $0 build|test" >&2; exit 2 ;;
esac
# The Kubernetes schema check (tests/deploy/test_k8s_schema.py) runs Node.js
# and npm: the machine's own when it has them, Debian's otherwise.
if [ "$1" = test ]; then
  command -v node >/dev/null 2>&1 || want+=(nodejs)
  command -v npm >/dev/null 2>&1 || want+=(npm)
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "missing packages: ${missing[*]}; run as root or install them first" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
