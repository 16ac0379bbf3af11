#!/usr/bin/env bash
# The one test command: installs missing Debian packages, builds twice
# (plain, and with AddressSanitizer + UndefinedBehaviorSanitizer) and runs
# every test on both builds, builds once more without the network backends
# (PA_WITH_*=OFF) and runs its unit tests, then runs every libFuzzer target
# for a bounded time (PA_FUZZ_SECONDS each, default 30; 0 skips them).
# Exits non-zero on the first failure.  Build trees go to build/plain,
# build/asan, build/nobackends and build/fuzz under the checkout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

deploy/install-deps.sh test

jobs=$(nproc 2>/dev/null || echo 2)
for variant in plain asan; do
  dir="$root/build/$variant"
  opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
  [ "$variant" = asan ] && opts+=(-DPA_SANITIZE=ON)
  echo "=== $variant build ==="
  cmake -S "$root" -B "$dir" "${opts[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs"
  echo "=== $variant tests ==="
  ctest --test-dir "$dir" --output-on-failure --no-tests=error -j "$jobs"
done

# The deploy kit (image, pod, package, man pages, systemd), once per run on
# the plain build.
echo "=== deploy tests ==="
tests/deploy/run.sh "$root/build/plain"

# The per-backend build options: a build without the network backends
# compiles, and its unit tests pass.
echo "=== build without the network backends ==="
dir="$root/build/nobackends"
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPA_WITH_LDAP=OFF \
  -DPA_WITH_POSTGRES=OFF -DPA_WITH_REDIS=OFF >/dev/null
cmake --build "$dir" -j "$jobs"
# ... and needs no hiredis: no source includes it, no program links or
# calls it (grep without -q: it reads all, so pipefail sees no SIGPIPE).
for b in proxyauthd proxyauth-passwd proxyauth-squid; do
  if ldd "$dir/$b" | grep hiredis >/dev/null || nm -u "$dir/$b" | grep -E ' redis[A-Z]' >/dev/null; then
    echo "$b still needs hiredis in the build without Redis" >&2
    exit 1
  fi
done
if grep -rl --include='*.d' hiredis "$dir/CMakeFiles" >/dev/null; then
  echo "a source still includes hiredis in the build without Redis" >&2
  exit 1
fi
ctest --test-dir "$dir" --output-on-failure --no-tests=error -R '^unit/' -j "$jobs"

fuzz_secs=${PA_FUZZ_SECONDS:-30}
if [ "$fuzz_secs" -gt 0 ]; then
  echo "=== fuzzing, ${fuzz_secs}s per target ==="
  tests/fuzz/run.sh "$fuzz_secs"
fi
