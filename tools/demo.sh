#!/usr/bin/env bash
# The README's demo command: set up, then run the demo workload.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bazel run -c opt //benchmarks:demo -- "$@"
