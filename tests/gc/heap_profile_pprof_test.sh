#!/usr/bin/env bash
# The heap profile as Go's tooling reads it: `go tool pprof -top` on the
# file gc::write_heap_profile wrote and on the one GCRT_DEBUG=heapprofile
# wrote at exit, each sampled at every allocation (memprofilerate=1), so the
# figures are exact: BuildKeptTree holds 10000 objects, MakeGarbage
# none of its 20000 (208-byte slots).
set -euo pipefail
program=$1
dir=${TEST_TMPDIR:-$(mktemp -d)}
export HOME=$dir  # go's build cache, which pprof does not need anyway
export GOFLAGS=-mod=mod GOTOOLCHAIN=local

GCRT_DEBUG="memprofilerate=1,heapprofile=$dir/exit.pprof" \
  "$program" "$dir/api.pprof" >/dev/null

for f in "$dir/api.pprof" "$dir/exit.pprof"; do
  [[ -s $f ]] || { echo "FAIL: $f was not written"; exit 1; }
  # In-use space (pprof's default for a heap profile): 2080000 bytes, all
  # of them BuildKeptTree's.
  top=$(go tool pprof -top -sample_index=inuse_space -unit=B "$f" 2>&1) || {
    echo "FAIL: go tool pprof could not read $f:"; echo "$top"; exit 1; }
  echo "$top"
  echo "$top" | grep -Eq '^ *2080000B +100(\.0+)?% .*BuildKeptTree' || {
    echo "FAIL: $f: BuildKeptTree does not hold 2080000 bytes in use"; exit 1; }
  if echo "$top" | grep -q MakeGarbage; then
    echo "FAIL: $f: MakeGarbage holds memory in use"; exit 1
  fi
  # Allocated space: both sites, 2080000 + 4160000 bytes.
  top=$(go tool pprof -top -sample_index=alloc_space -unit=B "$f" 2>&1)
  echo "$top" | grep -Eq '^ *4160000B .*MakeGarbage' || {
    echo "FAIL: $f: MakeGarbage's 4160000 allocated bytes missing"; echo "$top"; exit 1; }
done
echo PASS
