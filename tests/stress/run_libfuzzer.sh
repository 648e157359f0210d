#!/usr/bin/env bash
# libFuzzer over the API fuzzer (tests/stress/api_fuzzer.h). Bazel's
# toolchain here is gcc, which has no libFuzzer, so this builds the runtime,
# allocator, collector and API sources with the fuzzer and its entry point
# straight with clang, under AddressSanitizer and UBSan, and runs it.
#
#   bash tests/stress/run_libfuzzer.sh [seconds=60] [libFuzzer flags...]
#
# A crash leaves its input in the current directory (crash-*); replay it
# with the printed binary path and the file as its argument.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
shift || true
bash tools/setup.sh >/dev/null
for p in clang-14 libclang-rt-14-dev; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    SUDO=""
    if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev
    break
  fi
done
out=${GCRT_FUZZ_OUT:-/tmp/gcrt-libfuzzer}
mkdir -p "$out/corpus"
srcs=()
for f in runtime/*.cc alloc/*.cc gc/*.cc api/*.cc; do
  [[ $f == alloc/size_classes_gen.cc ]] || srcs+=("$f")
done
srcs+=(tests/stress/api_fuzzer.cc tests/stress/api_fuzzer_main.cc)
echo "libfuzzer: building $out/api_fuzzer (${#srcs[@]} files)"
clang++-14 -std=c++20 -O1 -g -mpopcnt -I. -DGCRT_ASAN=1 \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  "${srcs[@]}" -o "$out/api_fuzzer" -lpthread
echo "libfuzzer: running for ${seconds}s, corpus $out/corpus"
"$out/api_fuzzer" -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=4096 \
  -print_final_stats=1 "$@" "$out/corpus"
