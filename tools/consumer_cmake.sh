#!/usr/bin/env bash
# gcrt through CMake and pkg-config. Configures the CMake build
# (CMakeLists.txt) and checks that it builds what the Bazel build defines
# (tools/cmake_drift_check.py, which runs `bazel query`); builds everything
# (both libraries, the test suites, the demo) and runs the suites under
# CTest; installs into a temporary prefix, and builds and runs the consumer
# program (tests/consumers/bazel/hello.cc, the one every route builds)
# against that install four ways: find_package with the static and with the
# shared library, and pkg-config (tests/consumers/pkgconfig) with each;
# that a program built with a sanitizer does not link against it; then a
# debug build of the libraries (-DGCRT_DEBUG_LEVEL=2), installed to
# a prefix of its own, and a program built against it both ways.
# Ends with "consumer_cmake: ok" or exits nonzero saying what failed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"

fail() { echo "consumer_cmake: FAILED: $*"; exit 1; }

echo "consumer_cmake: configuring"
cmake -S . -B "$work/build" -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null ||
  fail "cmake configure"
python3 tools/cmake_drift_check.py "$work/build/gcrt_bazel_manifest.txt" ||
  fail "the CMake build's targets differ from the Bazel build's"
echo "consumer_cmake: building the libraries, the tests and the demo"
cmake --build "$work/build" -j2 >"$work/build.log" 2>&1 || {
  tail -50 "$work/build.log"
  fail "cmake build"
}
echo "consumer_cmake: running the tests under CTest"
ctest --test-dir "$work/build" -j2 --output-on-failure ||
  fail "ctest: some of the test suites failed"
"$work/build/demo" >/dev/null || fail "the demo failed"
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

# The heap profile walks frame pointers (api/heap_profile.h): both routes
# give the program's code -fno-omit-frame-pointer.
grep -q -- -fno-omit-frame-pointer "$prefix"/lib/cmake/gcrt/gcrtTargets.cmake ||
  fail "the CMake package does not add -fno-omit-frame-pointer"
# A task's frame larger than its stack's guard region probes each page
# (runtime/task_stack.h): both routes add -fstack-clash-protection.
grep -q -- -fstack-clash-protection "$prefix"/lib/cmake/gcrt/gcrtTargets.cmake ||
  fail "the CMake package does not add -fstack-clash-protection"

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
[[ $(pkg-config --cflags gcrt) == *-fno-omit-frame-pointer* ]] ||
  fail "gcrt.pc's Cflags lack -fno-omit-frame-pointer"
[[ $(pkg-config --cflags gcrt) == *-fstack-clash-protection* ]] ||
  fail "gcrt.pc's Cflags lack -fstack-clash-protection"
# The command of docs/getting-started.md, rpath included.
(cd tests/consumers/bazel &&
  g++ -I. hello.cc -o "$work/pc-shared" $(pkg-config --cflags --libs gcrt) \
    -Wl,-rpath,$(pkg-config --variable=libdir gcrt)) ||
  fail "pkg-config consumer (shared) did not build"
check_run "pkg-config, shared" "$work/pc-shared"
(cd tests/consumers/bazel &&
  g++ -I. hello.cc -o "$work/pc-static" $(pkg-config --cflags gcrt) \
    -L"$prefix/lib" -Wl,-Bstatic -lgcrt -Wl,-Bdynamic \
    $(pkg-config --libs-only-l --static gcrt | sed 's/-lgcrt//')) ||
  fail "pkg-config consumer (static) did not build"
check_run "pkg-config, static" "$work/pc-static"

# A program built with a sanitizer needs a gcrt built with the same one
# (docs/debugging.md): against this install, built without, it fails to
# link, naming the symbol it lacks (runtime/base.h). Both compilers: clang
# before 16 tells the sanitizer only through __has_feature.
for cxx in g++ clang++-14; do
  for sanitizer in address thread; do
    if out=$(cd tests/consumers/bazel && "$cxx" -fsanitize=$sanitizer -I. \
      hello.cc -o "$work/pc-$sanitizer" $(pkg-config --cflags --libs gcrt) 2>&1); then
      fail "$cxx -fsanitize=$sanitizer linked against a gcrt built without it"
    fi
    [[ $out == *"undefined reference to \`gcrt_library_built_with_${sanitizer}_sanitizer'"* ]] ||
      fail "$cxx -fsanitize=$sanitizer against a gcrt built without it: $out"
    echo "consumer_cmake: $cxx -fsanitize=$sanitizer against it: refused at link"
  done
done

# A relative --prefix is taken from the working directory, and gcrt.pc names
# it absolutely, so that it works from anywhere.
(cd "$work" && cmake --install build --prefix relative-prefix >/dev/null) ||
  fail "cmake --install --prefix relative-prefix"
[[ $(PKG_CONFIG_PATH="$work/relative-prefix/lib/pkgconfig" \
  pkg-config --variable=prefix gcrt) == "$(realpath "$work")/relative-prefix" ]] ||
  fail "gcrt.pc of a relative --prefix does not name it absolutely"
cd "$root"

# A debug build (docs/debugging.md): configured with -DGCRT_DEBUG_LEVEL=2,
# the libraries alone, installed to a prefix of its own. A program built
# with only what the package or gcrt.pc gives it must be at level 2 too
# (tests/consumers/debug/use_after_reclaim.cc) and report its use of a
# reclaimed object.
debug_prefix="$work/debug-prefix"
echo "consumer_cmake: building and installing a debug build"
cmake -S . -B "$work/build-debug" -DGCRT_BUILD_TESTS=OFF \
  -DGCRT_DEBUG_LEVEL=2 -DCMAKE_INSTALL_PREFIX="$debug_prefix" >/dev/null &&
  cmake --build "$work/build-debug" -j2 --target gcrt_static gcrt_shared \
    >"$work/build-debug.log" 2>&1 &&
  cmake --install "$work/build-debug" >/dev/null || {
  tail -50 "$work/build-debug.log"
  fail "the debug build"
}
check_reported() {  # check_reported <what> <program>
  local out
  if out=$(GCRT_STACK_SCAN=off "$2" 2>&1); then
    fail "$2: $1: exited 0: $out"
  fi
  [[ $out == *"use after reclaim"*"(type Node)"* ]] ||
    fail "$1: the use after reclaim was not reported: $out"
  echo "consumer_cmake: $1: reported"
}
debug_src=tests/consumers/debug
cmake -S "$debug_src" -B "$work/consumer-debug" \
  -DCMAKE_PREFIX_PATH="$debug_prefix" >/dev/null &&
  cmake --build "$work/consumer-debug" >/dev/null ||
  fail "find_package consumer of the debug build did not build"
check_reported "debug build, find_package" "$work/consumer-debug/use_after_reclaim"
g++ "$debug_src/use_after_reclaim.cc" -o "$work/pc-debug" \
  $(PKG_CONFIG_PATH="$debug_prefix/lib/pkgconfig" pkg-config --cflags --libs gcrt) \
  -Wl,-rpath,"$debug_prefix/lib" ||
  fail "pkg-config consumer of the debug build did not build"
check_reported "debug build, pkg-config" "$work/pc-debug"
echo "consumer_cmake: ok"
