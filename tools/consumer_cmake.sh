#!/usr/bin/env bash
# gcrt through CMake and pkg-config: builds the library with CMake
# (CMakeLists.txt; the static and shared libraries only, since the Bazel
# legs run the test suites), installs it into a temporary prefix, and builds
# and runs the consumer program (tests/consumers/bazel/hello.cc, the one
# every route builds) against that install four ways:
# find_package with the static and with the shared library, and pkg-config
# (tests/consumers/pkgconfig) with each. Ends with "consumer_cmake: ok" or
# exits nonzero saying which use failed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"

fail() { echo "consumer_cmake: FAILED: $*"; exit 1; }

echo "consumer_cmake: building the library"
cmake -S . -B "$work/build" -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null ||
  fail "cmake configure"
cmake --build "$work/build" -j2 --target gcrt_static gcrt_shared >/dev/null ||
  fail "cmake build of libgcrt"
cmake --install "$work/build" >/dev/null || fail "cmake --install"

expected="gcrt $(sed -n 's/^#define GCRT_VERSION_STRING "\(.*\)"$/\1/p' \
  api/version.h): 2047 nodes kept"
check_run() {  # check_run <what> <command...>
  local what=$1 out
  shift
  out=$("$@") || fail "$what: the program failed"
  [[ $out == "$expected"* ]] || fail "$what: printed \"$out\""
  echo "consumer_cmake: $what: $out"
}

consumer=tests/consumers/cmake
for shared in OFF ON; do
  cmake -S "$consumer" -B "$work/consumer-$shared" \
    -DCMAKE_PREFIX_PATH="$prefix" -DGCRT_CONSUMER_SHARED=$shared >/dev/null &&
    cmake --build "$work/consumer-$shared" >/dev/null ||
    fail "find_package consumer (shared=$shared) did not build"
  check_run "find_package, shared=$shared" "$work/consumer-$shared/app"
done

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
(cd tests/consumers/bazel &&
  g++ -I. hello.cc -o "$work/pc-shared" $(pkg-config --cflags --libs gcrt)) ||
  fail "pkg-config consumer (shared) did not build"
check_run "pkg-config, shared" env LD_LIBRARY_PATH="$prefix/lib" \
  "$work/pc-shared"
(cd tests/consumers/bazel &&
  g++ -I. hello.cc -o "$work/pc-static" $(pkg-config --cflags gcrt) \
    -L"$prefix/lib" -Wl,-Bstatic -lgcrt -Wl,-Bdynamic \
    $(pkg-config --libs-only-l --static gcrt | sed 's/-lgcrt//')) ||
  fail "pkg-config consumer (static) did not build"
check_run "pkg-config, static" "$work/pc-static"
cd "$root"
echo "consumer_cmake: ok"
