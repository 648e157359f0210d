// The API fuzzer's seeded corpus, run as a test (api_fuzzer.h): random
// byte strings from a seeded generator, each a program over the public
// API, with the verifier on. GCRT_FUZZ_SEED repeats a run; GCRT_FUZZ_INPUTS
// sets how many inputs (the long run).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <vector>

#include "tests/stress/api_fuzzer.h"

namespace stress {
namespace {

#if defined(GCRT_TSAN) || defined(GCRT_ASAN)
constexpr int kInputs = 60;
#else
constexpr int kInputs = 300;
#endif

TEST(ApiFuzzTest, SeededInputsRunCleanly) {
  uint64_t seed = std::chrono::steady_clock::now().time_since_epoch().count();
  if (const char* s = std::getenv("GCRT_FUZZ_SEED")) {
    seed = std::strtoull(s, nullptr, 10);
  }
  int inputs = kInputs;
  if (const char* s = std::getenv("GCRT_FUZZ_INPUTS")) inputs = std::atoi(s);
  std::printf("api fuzz: seed %llu (repeat with GCRT_FUZZ_SEED=%llu)\n",
              static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  FuzzStats stats;
  for (int i = 0; i < inputs; i++) {
    std::vector<uint8_t> bytes(64 + rng() % 3000);
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
    std::string error = RunFuzzInput(bytes.data(), bytes.size(), &stats);
    ASSERT_EQ(error, "") << "input " << i << " of seed " << seed;
  }
  std::printf(
      "api fuzz: inputs=%d ops=%llu collections=%llu objects_checked=%llu "
      "bad_inputs=%llu frees=%llu weak_checked=%llu containers=%llu "
      "zero_checked=%llu\n",
      inputs, static_cast<unsigned long long>(stats.ops),
      static_cast<unsigned long long>(stats.collections),
      static_cast<unsigned long long>(stats.objects_checked),
      static_cast<unsigned long long>(stats.bad_inputs),
      static_cast<unsigned long long>(stats.frees),
      static_cast<unsigned long long>(stats.weak_checked),
      static_cast<unsigned long long>(stats.containers),
      static_cast<unsigned long long>(stats.zero_checked));
  EXPECT_GT(stats.collections, 0u);
  EXPECT_GT(stats.bad_inputs, 0u);
  EXPECT_GT(stats.frees, 0u);
  EXPECT_GT(stats.weak_checked, 0u);
  EXPECT_GT(stats.containers, 0u);
  EXPECT_GT(stats.zero_checked, 0u);
}

}  // namespace
}  // namespace stress
