#!/usr/bin/env bash
# Runs the size-class generator ($1) and checks that its output equals the
# checked-in table ($2). Regenerate with:
#   bazel run //alloc:size_classes_gen > alloc/size_classes.inc
set -euo pipefail
if ! diff -u "$2" <("$1") >&2; then
  echo "alloc/size_classes.inc is not what alloc/size_classes_gen.cc makes;" \
       "regenerate it (see the command at the top of this script)." >&2
  exit 1
fi
echo "size_classes.inc matches its generator"
