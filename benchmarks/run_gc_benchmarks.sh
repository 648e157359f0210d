#!/usr/bin/env bash
# The collector's figures for benchmarks/README.md: binary-trees (depth 21)
# and GCBench against the same programs with new/delete (glibc), interleaved
# runs in one session (medians), then mark throughput and pause for live
# heaps. The programs are the peer comparison's (benchmarks/peers/), which
# compares against every peer; this is the quick gcrt-only check.
#
#   bash benchmarks/run_gc_benchmarks.sh [runs=3] [depth=21]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
depth=${2:-21}
bazel build -c opt //benchmarks/peers/gcrt:gcrt_workloads \
  //benchmarks/peers/malloc:newdelete_glibc //benchmarks:mark_benchmark \
  >/dev/null 2>&1
bin=$(bazel info -c opt bazel-bin 2>/dev/null)/benchmarks
gcrt=$bin/peers/gcrt/gcrt_workloads
newdelete=$bin/peers/malloc/newdelete_glibc

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
wall() {  # prints "seconds max_rss_kb" of a command
  /usr/bin/time -f "%e %M" "$@" 2>&1 >/dev/null | tail -1
}
tmp=$(mktemp -d)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
for prog in "binary-trees:$depth" "gcbench:"; do
  name=${prog%%:*}
  arg=${prog#*:}
  : >"$tmp/gcrt.$name"
  : >"$tmp/nd.$name"
  for ((i = 0; i < runs; i++)); do
    wall "$gcrt" "$name" $arg >>"$tmp/gcrt.$name"
    wall "$newdelete" "$name" $arg >>"$tmp/nd.$name"
  done
  g=$(cut -d' ' -f1 "$tmp/gcrt.$name" | median)
  n=$(cut -d' ' -f1 "$tmp/nd.$name" | median)
  grss=$(cut -d' ' -f2 "$tmp/gcrt.$name" | median)
  nrss=$(cut -d' ' -f2 "$tmp/nd.$name" | median)
  printf "%-14s gcrt %6.2f s (%d MiB)   new/delete %6.2f s (%d MiB)   ratio %.2f   runs: gcrt [%s] new/delete [%s]\n" \
    "$name $arg" "$g" $((grss / 1024)) "$n" $((nrss / 1024)) \
    "$(awk -v a="$g" -v b="$n" 'BEGIN {print a / b}')" \
    "$(cut -d' ' -f1 "$tmp/gcrt.$name" | xargs)" \
    "$(cut -d' ' -f1 "$tmp/nd.$name" | xargs)"
  "$gcrt" "$name" $arg | grep '^gc:'
done
"$bin/mark_benchmark" 64 256 1024
rm -rf "$tmp"
