#!/bin/bash
# Runs an example and compares its standard output with a golden file.
#
#   golden_test.sh EXPECTED_OUTPUT PROGRAM [ARGS...]
#
# The program checks what cannot be golden (collections that happened,
# figures that vary from run to run) itself, and exits nonzero with a
# message on stderr when a check fails; that fails the test too.
set -uo pipefail
expected="$1"
shift
actual="${TEST_TMPDIR:-/tmp}/actual_output.txt"
"$@" > "$actual"
status=$?
if [ "$status" -ne 0 ]; then
  echo "FAIL: $* exited with status $status"
  exit 1
fi
if ! diff -u "$expected" "$actual"; then
  echo "FAIL: the output of $1 differs from $expected (diff above: - expected, + actual)"
  exit 1
fi
echo "PASS: $1"
