#!/usr/bin/env bash
# Instructions per allocation on the fast path, by callgrind (repeatable on
# a shared machine, unlike times). Prints Ir per object for each loop,
# including the amortized slow paths (refills), and the empty loop's cost;
# then the same through the public API (gc::make_unrooted, gc::make) and a
# gc::Root taken and dropped (the handle fast path), and a gc::Ptr field
# stored (the write barrier's fast path) beside a raw pointer stored.
set -euo pipefail
cd "$(dirname "$0")/.."
bazel build -c opt //benchmarks:fastpath_count >/dev/null 2>&1
bin=bazel-bin/benchmarks/fastpath_count
n=$((1 << 20))
for fn in EmptyLoop AllocLoopMalloc8 AllocLoopMallocTypeInfo8 AllocLoopMallocTypeInfo16 \
  MakeUnrootedNode8 MakeUnrootedPod16 MakeRootedNode8 RootHandle8 PtrStore8 PlainStore8; do
  out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" \
    --toggle-collect="*${fn}*" "$bin" >/dev/null 2>&1
  ir=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  rm -f "$out"
  awk -v fn="$fn" -v ir="$ir" -v n="$n" \
    'BEGIN { printf "%-28s %12d Ir  %6.2f Ir/object\n", fn, ir, ir / n }'
done
