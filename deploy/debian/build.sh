#!/bin/sh
# Builds proxyauthd_<version>_<arch>.deb from the checkout with debhelper:
#   deploy/debian/build.sh [OUTDIR]      (default: build/deb)
# The sources the package needs and this folder are copied into a
# temporary tree (as debian/), so the checkout keeps its layout and stays
# clean; the .deb and its .buildinfo/.changes land in OUTDIR.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/build/deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)
version=$(sed -n 's/^project(proxyauthd VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
[ -n "$version" ] || { echo "build.sh: no version in CMakeLists.txt" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
src=$tmp/proxyauthd-$version
mkdir -p "$src"
(cd "$root" && cp -a CMakeLists.txt README.md lib backends cmd "$src/")
mkdir -p "$src/deploy"
(cd "$root/deploy" && cp -a proxyauthd.conf man sql nginx caddy squid haproxy envoy traefik \
	k8s docker systemd "$src/deploy/")
cp -a "$root/deploy/debian" "$src/debian"
rm -f "$src/debian/build.sh"
# The unit of deploy/systemd, with the paths of the package.
sed -e 's|/usr/local/bin/|/usr/bin/|g' \
    -e 's|^Documentation=.*|Documentation=man:proxyauthd(8) man:proxyauthd.conf(5)|' \
    "$root/deploy/systemd/proxyauthd.service" > "$src/debian/proxyauthd.service"
# debian/changelog: the version of CMakeLists.txt, dated by the last commit
# (or now outside git), so that two builds of one commit are the same.
date=$(cd "$root" && git log -1 --format=%cD 2>/dev/null || date -R)
cat > "$src/debian/changelog" <<EOT
proxyauthd ($version) unstable; urgency=medium

  * Built from the checkout by deploy/debian/build.sh.

 -- proxyauthd maintainers <maintainers@users.noreply.h-seed-ca73ae9b.example>  $date
EOT
(cd "$src" && dpkg-buildpackage -b -us -uc -j"$(nproc)" >"$tmp/build.log" 2>&1) || {
	tail -n 60 "$tmp/build.log" >&2
	exit 1
}
for f in "$tmp"/proxyauthd_"$version"_*; do
	case $f in *-dbgsym_*) continue ;; esac
	cp "$f" "$out/"
done
ls "$out"/proxyauthd_"$version"_*.deb
