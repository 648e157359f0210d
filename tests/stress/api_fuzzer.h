// The API fuzzer (tests/README.md): one byte string drives gcrt's public
// API (allocation of objects and arrays of any size, links, roots, root
// sets, globals, collections, pacing, blocking regions, threads, weak
// references, finalizers, explicit free, constructors that allocate,
// fresh memory reading zero) with the heap verifier on. Each object
// carries a checksum of its id; after every collection everything reachable
// from the fuzzer's roots is checked. Bad input the string asks for (array
// sizes that overflow, allocation inside a blocking region) must give the
// documented exception and lose nothing.
//
// The same entry point serves libFuzzer (LLVMFuzzerTestOneInput in
// api_fuzzer_main.cc, built by tests/stress/run_libfuzzer.sh with clang)
// and a seeded corpus run as a test (api_fuzz_test.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace stress {

struct FuzzStats {
  uint64_t ops = 0;
  uint64_t collections = 0;
  uint64_t objects_checked = 0;
  uint64_t bad_inputs = 0;  // refused with the documented exception
  uint64_t frees = 0;       // explicit frees
  uint64_t weak_checked = 0;
  uint64_t containers = 0;    // filled by their constructor, checked
  uint64_t zero_checked = 0;  // fresh allocations checked for zero
};

// Runs one input. Returns an empty string, or what went wrong.
std::string RunFuzzInput(const uint8_t* data, size_t size, FuzzStats* stats);

}  // namespace stress
