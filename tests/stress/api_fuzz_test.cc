// The API fuzzer's seeded corpus, run as a test (api_fuzzer.h): random
// byte strings from a seeded generator, each a program over the public
// API, with the verifier on. GCRT_FUZZ_SEED repeats a run; GCRT_FUZZ_INPUTS
// sets how many inputs (the long run).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "gcrt/gc.h"
#include "gcrt/thread.h"
#include "tests/stress/api_fuzzer.h"

namespace stress {
namespace {

#if defined(GCRT_TSAN) || defined(GCRT_ASAN)
constexpr int kInputs = 60;
#else
constexpr int kInputs = 300;
#endif

// Runs the seeded corpus and checks its counters; `label` names the run.
void RunCorpus(const char* label, int inputs) {
  uint64_t seed = std::chrono::steady_clock::now().time_since_epoch().count();
  if (const char* s = std::getenv("GCRT_FUZZ_SEED")) {
    seed = std::strtoull(s, nullptr, 10);
  }
  if (const char* s = std::getenv("GCRT_FUZZ_INPUTS")) inputs = std::atoi(s);
  std::printf("api fuzz%s: seed %llu (repeat with GCRT_FUZZ_SEED=%llu)\n",
              label, static_cast<unsigned long long>(seed),
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

TEST(ApiFuzzTest, SeededInputsRunCleanly) { RunCorpus("", kInputs); }

// The same corpus while another thread collects without pause: its cycles
// mark beside the fuzzer's operations (the default), so every link, root,
// free and weak lock the inputs make may land in the middle of a marking,
// and the verifier checks each of those cycles as well as the fuzzer's.
TEST(ApiFuzzTest, SeededInputsRunCleanlyMarkingBesideTheProgram) {
  const uint64_t concurrent_before = gc::stats().concurrent_cycles;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> cycles{0};
  gc::Thread collector([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      gc::collect();
      cycles.fetch_add(1, std::memory_order_relaxed);
      gc::Blocking idle;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  RunCorpus(" beside a collecting thread", kInputs / 2);
  stop.store(true);
  collector.join();
  std::printf("api fuzz: %llu cycles of the collecting thread\n",
              static_cast<unsigned long long>(cycles.load()));
  EXPECT_GT(cycles.load(), 10u);
  EXPECT_GT(gc::stats().concurrent_cycles, concurrent_before + 10);
}

}  // namespace
}  // namespace stress
