#!/bin/bash
# tools/gclog_plot.py on a real cycle log: a program run with
# GCRT_DEBUG=gclog=path, then the script's data files checked (no plots:
# gnuplot is not a test dependency).
set -euo pipefail
demo="$1"
script="$2"
out="${TEST_TMPDIR:-/tmp}/gclog_plot_test"
rm -rf "$out"
mkdir -p "$out"
GCRT_DEBUG="gclog=$out/gc.jsonl" "$demo" > /dev/null 2>&1
cycles=$(wc -l < "$out/gc.jsonl")
[ "$cycles" -ge 3 ] || { echo "FAIL: $cycles cycles logged"; exit 1; }
summary=$(python3 "$script" "$out/gc.jsonl" "$out/plots" --no-plot)
echo "$summary"
[[ "$summary" == "cycles $cycles, pause p50 "* ]] || { echo "FAIL: summary"; exit 1; }
for part in ttsp sweep roots ttsp2 mark weak flip flush pace; do
  grep -Eq "^  $part +[0-9.]+ / [0-9.]+ / [0-9.]+$" <<< "$summary" ||
    { echo "FAIL: no stop part $part"; exit 1; }
done
for f in pauses.dat heap.dat histogram.dat gclog.gp; do
  [ -s "$out/plots/$f" ] || { echo "FAIL: no $f"; exit 1; }
done
[ "$(grep -vc '^#' "$out/plots/pauses.dat")" -eq "$cycles" ] || { echo "FAIL: pauses.dat"; exit 1; }
[ "$(grep -vc '^#' "$out/plots/heap.dat")" -eq "$cycles" ] || { echo "FAIL: heap.dat"; exit 1; }
echo "$out/plots" > /dev/null
echo PASS
