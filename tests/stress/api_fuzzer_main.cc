// libFuzzer's entry point for the API fuzzer (api_fuzzer.h), built with
// clang by tests/stress/run_libfuzzer.sh. Not part of the Bazel build.
#include <cstdio>
#include <cstdlib>

#include "tests/stress/api_fuzzer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  stress::FuzzStats stats;
  std::string error = stress::RunFuzzInput(data, size, &stats);
  if (!error.empty()) {
    std::fprintf(stderr, "api fuzzer: %s\n", error.c_str());
    std::abort();
  }
  return 0;
}
