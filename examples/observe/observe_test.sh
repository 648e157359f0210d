#!/bin/bash
# Runs the observe example with gctrace on and checks:
#  - its standard output, line by line, against expected_output.re: each
#    line there is an extended regular expression the whole output line
#    must match (literal text for what is deterministic, patterns for
#    times and byte counts);
#  - its gctrace lines on stderr: Go's format, numbered 1, 2, ... with no
#    gap, as many as the cycles the program's summary reports.
set -uo pipefail
program="$1"
expected="$2"
out="${TEST_TMPDIR:-/tmp}/observe.out"
err="${TEST_TMPDIR:-/tmp}/observe.err"

fail() {
  echo "FAIL: $*"
  echo "--- stdout:"
  cat "$out"
  echo "--- stderr:"
  cat "$err"
  exit 1
}

GCRT_DEBUG=gctrace=1 "$program" > "$out" 2> "$err" || fail "the program exited with status $?"

mapfile -t patterns < "$expected"
mapfile -t lines < "$out"
[ "${#lines[@]}" -eq "${#patterns[@]}" ] ||
  fail "${#lines[@]} output lines, expected ${#patterns[@]}"
for i in "${!patterns[@]}"; do
  [[ "${lines[$i]}" =~ ^${patterns[$i]}$ ]] ||
    fail "output line $((i + 1)): '${lines[$i]}' does not match '${patterns[$i]}'"
done

# gc N @T.TTTs P%: a+b+c ms clock, d+e/f/g+h ms cpu, A->B->C MB, G MB goal,
# 0 MB stacks, 0 MB globals, N P[ (forced)]; gcrt: ... (docs/design.md).
n='[0-9]+'
f='[0-9]+(\.[0-9]+)?'
trace_re="^gc ($n) @$f""s $n%: $f\+$f\+$f ms clock, $f\+$f/$f/$f\+$f ms cpu, $n->$n->$n MB, $n MB goal, $n MB stacks, $n MB globals, $n P( \(forced\))?; gcrt: .+$"
expected_number=1
while IFS= read -r line; do
  [[ "$line" == "gc "* ]] || continue
  [[ "$line" =~ $trace_re ]] || fail "not a gctrace line: $line"
  [ "${BASH_REMATCH[1]}" -eq "$expected_number" ] ||
    fail "gctrace line numbered ${BASH_REMATCH[1]}, expected $expected_number"
  expected_number=$((expected_number + 1))
done < "$err"
traced=$((expected_number - 1))

cycles=$(sed -n 's/^cycles: \([0-9]*\) .*/\1/p' "$out")
[ "$traced" -eq "$cycles" ] ||
  fail "$traced gctrace lines, but the summary says $cycles cycles"
echo "PASS: $traced cycles traced and summarized"
