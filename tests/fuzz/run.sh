#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, AddressSanitizer, UBSan) into
# build/fuzz and runs each for a bounded time, starting from the seed
# corpus in tests/fuzz/corpus/<target>/ (read-only; new inputs go to
# build/fuzz/corpus/<target>/).  A crash, a sanitizer report or a broken
# invariant fails the run and leaves the reproducer in
# build/fuzz/artifacts/ (replay it with: build/fuzz/tests/fuzz/<target> FILE).
# Usage: tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]   (default 30)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-30}
shift || true
out="$root/build/fuzz"

CC=clang cmake -S "$root" -B "$out" -DPA_FUZZ=ON -DPA_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$out" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for src in "$root"/tests/fuzz/fuzz_*.c; do
    targets+=("$(basename "$src" .c)")
  done
fi

mkdir -p "$out/artifacts"
status=0
for t in "${targets[@]}"; do
  bin="$out/tests/fuzz/$t"
  seeds="$root/tests/fuzz/corpus/$t"
  work="$out/corpus/$t"
  mkdir -p "$work"
  log="$out/$t.log"
  # -rss_limit_mb bounds memory; -timeout flags an input that hangs.
  if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$out/artifacts/$t-" "$work" "$seeds" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    printf '%-20s ok   %10s executions in %ss, coverage %s edges\n' "$t" "${runs:-?}" \
      "$secs" "${cov:-?}"
  else
    echo "$t FAILED; the reproducer and its report:"
    ls -1 "$out/artifacts/$t-"* 2>/dev/null || true
    grep -E 'ERROR|SUMMARY|runtime error|deadly signal|timeout' "$log" | head -20 || true
    status=1
  fi
done
exit $status
