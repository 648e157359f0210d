#!/usr/bin/env bash
# Installs every Debian package gcrt's build, tests and demo need. Idempotent:
# packages already present are skipped, so running it again costs a dpkg query.
set -euo pipefail

PACKAGES=(
  bazel-bootstrap        # Bazel 4.2.3, offline with the stand-ins in third_party/
  g++
  libgtest-dev           # GoogleTest
  libgmock-dev           # GoogleMock matchers (//tests/gc:config_test)
  libbenchmark-dev       # Google Benchmark
  libboost1.81-dev       # Boost.PFR (aggregate field reflection); not the 1.74 set
  libboost-context1.81-dev
  valgrind               # callgrind instruction counts for benchmarks/README.md
  clang-format
  clang-14               # the CI's thread-safety build (bazel --config=clang)
  libclang-rt-14-dev     # clang's sanitizer runtimes (tools/consumer_cmake.sh)
  python3                # tools/gclog_plot.py, run by //tests/gc:gclog_plot_test
  cmake                  # the CMake build beside Bazel (CMakeLists.txt, tools/consumer_cmake.sh)
  pkg-config             # the pkg-config consumer (tests/consumers/pkgconfig)
  golang-go              # go tool pprof reads the heap profile (//tests/gc:heap_profile_pprof_test)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
