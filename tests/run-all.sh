#!/usr/bin/env bash
# The one test command: installs missing Debian packages, builds twice
# (plain, and with AddressSanitizer + UndefinedBehaviorSanitizer) and runs
# every test on both builds.  Exits non-zero on the first failing build.
# Build trees go to build/plain and build/asan under the checkout.
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
