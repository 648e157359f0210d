// Tests of returning memory to the OS through the public API: the
// background scavenger the collector paces (retained memory kept near the
// heap goal + 10%, alloc/page_heap.h), gc::release_memory (Go's
// debug.FreeOSMemory), and that memory released and reused reads zero.
// Waits are bounded and end as soon as what they wait for happens; RSS is
// read from /proc/self/statm.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "gcrt/gc.h"
#include "gtest/gtest.h"

namespace {

constexpr uint64_t kMiB = 1 << 20;

// ThreadSanitizer's shadow of the heap (several times its size) is not
// released with it, so under TSan RSS says nothing about the heap: the RSS
// checks are skipped there (retained memory is still checked).
#if defined(GCRT_TSAN) && GCRT_TSAN
constexpr bool kRssMeaningful = false;
#else
constexpr bool kRssMeaningful = true;
#endif

uint64_t RssBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

uint64_t Retained(const gc::Stats& s) { return s.heap_sys - s.heap_released; }

// Waits (at most `limit`) until done() holds; returns whether it did.
template <typename Fn>
bool WaitFor(Fn done, std::chrono::seconds limit = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

using Bytes = gc::Root<gc::Array<unsigned char>>;

// `total` bytes in arrays of `each` bytes (the array header included), every
// byte written, so the memory is resident.
std::vector<Bytes> Touch(uint64_t total, size_t each, unsigned char fill) {
  std::vector<Bytes> v;
  const size_t n = each - gc::Array<unsigned char>::kHeader;
  for (uint64_t done = 0; done < total; done += each) {
    v.push_back(gc::make_array<unsigned char>(n));
    std::memset(v.back()->data(), fill, n);
  }
  return v;
}

// Resets GOGC when the test ends, however it ends.
struct GcPercentReset {
  int old;
  ~GcPercentReset() { gc::set_gc_percent(old); }
};

TEST(ScavengerTest, BackgroundScavengerReturnsDroppedMemoryWithNoCall) {
  gc::collect();
  const uint64_t rss_before = RssBytes();
  const uint64_t bg_before = gc::stats().background_scavenged_bytes;
  {
    std::vector<Bytes> arrays = Touch(100 * kMiB, 1 * kMiB, 0x5A);
    if (kRssMeaningful) {
      EXPECT_GE(RssBytes(), rss_before + 90 * kMiB);
    }
  }
  gc::collect();  // nothing of it is live now
  const gc::Stats after_gc = gc::stats();
  ASSERT_NE(after_gc.scavenge_goal, 0u);
  // The goal is the heap goal plus 10%.
  EXPECT_EQ(after_gc.scavenge_goal,
            after_gc.next_gc + after_gc.next_gc / 100 * 10);
  EXPECT_LT(after_gc.scavenge_goal, 16 * kMiB);
  gc::Stats st{};
  EXPECT_TRUE(WaitFor([&] {
    st = gc::stats();
    return Retained(st) <= st.scavenge_goal &&
           (!kRssMeaningful || RssBytes() < rss_before + 24 * kMiB);
  })) << "retained "
      << Retained(st) / kMiB << " MiB, goal " << st.scavenge_goal / kMiB
      << " MiB, RSS " << RssBytes() / kMiB
      << " MiB (before: " << rss_before / kMiB << " MiB)";
  EXPECT_LE(Retained(st), st.scavenge_goal);
  if (kRssMeaningful) {
    EXPECT_LT(RssBytes(), rss_before + 24 * kMiB);
  }
  EXPECT_GE(st.background_scavenged_bytes, bg_before + 80 * kMiB);
  EXPECT_LE(st.heap_released, st.heap_idle);
}

TEST(ScavengerTest, ReleaseMemoryReturnsEveryFreePageAtOnce) {
  // Collection off: the scavenger has no goal, so what goes back to the OS
  // is release_memory's doing.
  GcPercentReset reset{gc::set_gc_percent(-1)};
  gc::collect();
  const uint64_t rss_before = RssBytes();
  {
    std::vector<Bytes> arrays = Touch(64 * kMiB, 256 << 10, 0x33);
    if (kRssMeaningful) {
      EXPECT_GE(RssBytes(), rss_before + 56 * kMiB);
    }
  }
  const uint64_t scavenged_before = gc::stats().scavenged_bytes;
  const size_t released = gc::release_memory();
  const gc::Stats st = gc::stats();
  EXPECT_GE(released, 60 * kMiB);
  EXPECT_GE(st.scavenged_bytes, scavenged_before + released);
  // Every idle page is released (a window the scavenger holds may be in
  // flight: one chunk of slack).
  EXPECT_GE(st.heap_released + 2 * kMiB, st.heap_idle);
  EXPECT_LE(st.heap_released, st.heap_idle);
  if (kRssMeaningful) {
    EXPECT_LT(RssBytes(), rss_before + 8 * kMiB);
  }
  EXPECT_EQ(gc::release_memory(), 0u);  // nothing left
}

// Go's GCPhys test, ported in idea: a live heap of N MiB after touching 3N,
// fragmented (every third object kept), so the free memory lies in holes
// that share huge pages with live objects. Retained memory comes down to
// the goal (heap goal + 10%), and RSS follows.
TEST(ScavengerTest, RetainedMemoryTracksTheHeapGoalAfterAFragmentingPeak) {
  constexpr uint64_t kLive = 32 * kMiB;
  gc::collect();
  const gc::Stats st0 = gc::stats();
  // What is resident besides the heap's retained memory (code, metadata).
  const int64_t rss_other =
      static_cast<int64_t>(RssBytes()) - static_cast<int64_t>(Retained(st0));
  std::vector<Bytes> keep;
  {
    std::vector<Bytes> all = Touch(3 * kLive, 64 << 10, 0x77);
    for (size_t i = 0; i < all.size(); i += 3) keep.push_back(all[i]);
  }
  gc::collect();
  gc::Stats st = gc::stats();
  EXPECT_GE(st.heap_alloc, kLive * 9 / 10);
  EXPECT_GE(Retained(st), 2 * kLive);  // the peak is still held
  EXPECT_TRUE(WaitFor([&] {
    st = gc::stats();
    return Retained(st) <= st.scavenge_goal;
  })) << "retained "
      << Retained(st) / kMiB << " MiB, goal " << st.scavenge_goal / kMiB
      << " MiB";
  EXPECT_LE(Retained(st), st.scavenge_goal);
  // RSS within the goal, 10% and a few MiB (metadata: mark bits, spans).
  const int64_t heap_rss = static_cast<int64_t>(RssBytes()) - rss_other;
  if (kRssMeaningful) {
    EXPECT_LE(heap_rss, static_cast<int64_t>(st.scavenge_goal +
                                             st.scavenge_goal / 10 + 8 * kMiB))
        << "heap RSS " << heap_rss / int64_t{kMiB} << " MiB";
  }
  // The live objects are intact.
  for (Bytes& b : keep) {
    ASSERT_EQ(b->data()[0], 0x77);
    ASSERT_EQ(b->data()[b->size() - 1], 0x77);
  }
}

TEST(ScavengerTest, MemoryReleasedAndReusedReadsZero) {
  gc::collect();
  {
    std::vector<Bytes> big = Touch(32 * kMiB, 1 * kMiB, 0xAB);
    std::vector<Bytes> small = Touch(8 * kMiB, 4096, 0xCD);
  }
  gc::release_memory();
  // Larger and smaller objects than before, so spans are cut across the
  // released memory in new places; nothing writes them before the check.
  std::vector<Bytes> fresh;
  for (int i = 0; i < 24; i++) {
    fresh.push_back(gc::make_array<unsigned char>(3 * kMiB / 2 + 40 * i));
  }
  for (int i = 0; i < 16384; i++) {
    fresh.push_back(gc::make_array<unsigned char>(200 + (i % 7) * 300));
  }
  size_t nonzero = 0;
  for (Bytes& b : fresh) {
    for (unsigned char c : *b) nonzero += c != 0;
  }
  EXPECT_EQ(nonzero, 0u);
}

}  // namespace
