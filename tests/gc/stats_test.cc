// gc::stats() (api/gc.h): figures that add up, exact when read.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gcrt/alloc/heap.h"
#include "gcrt/gc.h"
#include "gcrt/gc/free.h"
#include "gcrt/runtime/os_mem.h"
#include "gcrt/runtime/processor.h"
#include "gcrt/runtime/safepoint.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

struct StatsNode {
  gc::Ptr<StatsNode> next;
  int64_t payload[3] = {};  // 32 bytes in all: the 32-byte class
};

struct StatsBlob {
  char bytes[200] = {};  // the 208-byte class
};

struct StatsLarge {
  char bytes[100 << 10] = {};  // a large object: 13 pages
};

// gc::free without debug builds' quarantine of the slot (gc/free.h), so
// the free counts at once in every build.
void FreeNow(StatsNode* n) {
  gc::internal::FreeObject(n, gc::internal::Destroyer<StatsNode>::Get(),
                           /*quarantine=*/false);
}

uint64_t SumOfParts(const gc::Stats& s) {
  return s.heap_sys + s.heap_ahead_sys + s.span_sys + s.cache_sys + s.gc_sys +
         s.handle_sys + s.other_sys;
}

void ExpectConsistent(const gc::Stats& s) {
  EXPECT_EQ(s.mallocs - s.frees, s.heap_objects);
  uint64_t mallocs = 0, frees = 0;
  for (const gc::SizeClassStats& b : s.by_size) {
    mallocs += b.mallocs;
    frees += b.frees;
  }
  // Tiny pieces count in mallocs and frees at once, outside by_size.
  EXPECT_EQ(s.mallocs - mallocs, s.frees - frees);
  EXPECT_GE(s.total_alloc, s.heap_alloc);
  EXPECT_EQ(s.sys, SumOfParts(s));
}

class StatsTest : public gc::testing::VerifiedHeapTest {
 protected:
  void SetUp() override {
    gc_percent_ = gc::set_gc_percent(-1);  // no cycle but the tests' own
    VerifiedHeapTest::SetUp();
  }
  void TearDown() override { gc::set_gc_percent(gc_percent_); }

 private:
  int gc_percent_ = 100;
};

// A destructor the collector runs may read the stats (api/gc.h). A sweep
// is in flight there, so gc::stats() does not stop the world: stopping
// waited for a gc::collect() that waited for that sweep (a new user's
// program hung so in 6 of 6 runs), or let a cycle begin with the sweep
// unfinished.
struct ReadsStatsWhenDestroyed {
  std::string text = "a string with a destructor of its own to run";
  ~ReadsStatsWhenDestroyed() {
    if (gc::stats().num_gc > 0) reads.fetch_add(1, std::memory_order_relaxed);
  }
  static inline std::atomic<int64_t> reads{0};
};

TEST_F(StatsTest, ADestructorTheCollectorRunsMayReadTheStats) {
  const int64_t before = ReadsStatsWhenDestroyed::reads.load();
  for (int round = 0; round < 20; round++) {
    for (int i = 0; i < 20000; i++) gc::make<ReadsStatsWhenDestroyed>();
    gc::collect();
  }
  gc::collect();
  EXPECT_GE(ReadsStatsWhenDestroyed::reads.load() - before, 19 * 20000);
}

TEST_F(StatsTest, SysIsTheSumOfItsParts) {
  gc::Root<StatsNode> first = gc::make<StatsNode>();
  gc::Stats s = gc::stats();
  EXPECT_EQ(s.sys, SumOfParts(s));
  EXPECT_GT(s.heap_sys, 0u);
  EXPECT_GT(s.span_sys, 0u);
  EXPECT_GT(s.cache_sys, 0u);  // this thread's processor and cache
  EXPECT_GT(s.gc_sys, 0u);     // the page map, the bits
  std::vector<gc::Root<StatsNode>> roots;
  for (int i = 0; i < 20000; i++) roots.push_back(gc::make<StatsNode>());
  gc::Root<StatsLarge> large = gc::make<StatsLarge>();
  gc::Stats t = gc::stats();
  EXPECT_EQ(t.sys, SumOfParts(t));
  EXPECT_GE(t.heap_sys, s.heap_sys);
  EXPECT_GT(t.handle_sys, 0u);  // the roots' chunks
}

// The mapped parts of sys, as their owners count them, are every byte the
// runtime committed at the OS, as os_mem counts it at the system call.
TEST_F(StatsTest, MappedPartsOfSysMatchTheOsCounter) {
  auto mapped = [] {
    gc::internal::Collector::Get();
    gc::runtime::StopTheWorld("test");
    gc::alloc::HeapStats h = gc::alloc::ReadHeapStatsExact();
    gc::runtime::os::OsStats os = gc::runtime::os::ReadOsStats();
    gc::runtime::StartTheWorld();
    return std::pair{h.heap_committed + h.span_record_bytes + h.page_map_bytes +
                         h.gc_bits_bytes,
                     os.committed};
  };
  auto [before, os_before] = mapped();
  EXPECT_EQ(before, os_before);
  // Grow the heap well past its arena's committed step.
  std::vector<gc::Root<StatsLarge>> larges;
  for (int i = 0; i < 100; i++) larges.push_back(gc::make<StatsLarge>());
  auto [after, os_after] = mapped();
  EXPECT_EQ(after, os_after);
  EXPECT_GT(after, before);
  gc::Stats s = gc::stats();
  EXPECT_EQ(s.heap_sys + s.heap_ahead_sys + s.span_sys, [] {
    gc::alloc::HeapStats h = gc::alloc::ReadHeapStats();
    return h.heap_committed + h.span_record_bytes;
  }());
}

TEST_F(StatsTest, HeapAllocIsTheSlotSizesOfTheLiveObjects) {
  gc::collect();
  gc::Stats base = gc::stats();
  ExpectConsistent(base);
  std::vector<gc::Root<StatsNode>> nodes;
  std::vector<gc::Root<StatsBlob>> blobs;
  gc::Root<StatsLarge> large = gc::make<StatsLarge>();
  uint64_t live_bytes = gc::alloc::AllocationSize(large.get());
  for (int i = 0; i < 777; i++) {
    nodes.push_back(gc::make<StatsNode>());
    live_bytes += gc::alloc::AllocationSize(nodes.back().get());
    gc::make<StatsNode>();  // garbage
    if (i % 3 == 0) {
      blobs.push_back(gc::make<StatsBlob>());
      live_bytes += gc::alloc::AllocationSize(blobs.back().get());
    }
  }
  EXPECT_EQ(gc::alloc::AllocationSize(nodes[0].get()), 32u);
  EXPECT_EQ(gc::alloc::AllocationSize(blobs[0].get()), 208u);
  gc::collect();  // the garbage goes; no cache is flushed by the read
  gc::Stats s = gc::stats();
  ExpectConsistent(s);
  EXPECT_EQ(s.heap_alloc - base.heap_alloc, live_bytes);
  EXPECT_EQ(s.heap_objects - base.heap_objects, 1u + 777 + 259);
}

TEST_F(StatsTest, TotalAllocGrowsByExactlyWhatWasAllocated) {
  gc::Stats before = gc::stats();
  uint64_t allocated = 0;
  {
    gc::Root<StatsNode> keep;
    for (int i = 0; i < 1000; i++) {
      gc::Root<StatsNode> n = gc::make<StatsNode>();
      allocated += 32;
      if (i % 10 == 0) keep = n;
    }
    for (int i = 0; i < 50; i++) {
      gc::make<StatsBlob>();
      allocated += 208;
    }
    gc::make<StatsLarge>();
    allocated += 13 * gc::alloc::kPageSize;
  }
  // Read without a collection and with every span still cached.
  gc::Stats after = gc::stats();
  ExpectConsistent(after);
  EXPECT_EQ(after.total_alloc - before.total_alloc, allocated);
  EXPECT_EQ(after.mallocs - before.mallocs, 1051u);
  EXPECT_EQ(after.heap_alloc - before.heap_alloc, allocated);
  gc::collect();
  gc::Stats collected = gc::stats();
  EXPECT_EQ(collected.total_alloc, after.total_alloc);  // nothing allocated
  EXPECT_EQ(collected.mallocs, after.mallocs);
  // Every object was dropped: the cycle freed all that was allocated.
  EXPECT_EQ((collected.total_alloc - collected.heap_alloc) -
                (before.total_alloc - before.heap_alloc),
            allocated);
}

// The heap profiler holds back the free slots of a loaded word from the
// sampled one on (Span::sample_held): they are free, not handed out, and an
// exact read counts them so. At a rate of one sample per 2 KiB a sample
// falls inside a loaded word of the 208-byte class every ten allocations or
// so; a read after each allocation meets held slots many times.
TEST_F(StatsTest, SlotsHeldBackForTheHeapProfilerAreNotAllocated) {
  struct RestoreRate {
    uint64_t rate = gc::set_mem_profile_rate(2048);
    ~RestoreRate() { gc::set_mem_profile_rate(rate); }
  } restore;
  std::vector<gc::Root<StatsBlob>> blobs;
  const gc::Stats before = gc::stats();
  for (uint64_t i = 1; i <= 200; i++) {
    blobs.push_back(gc::make<StatsBlob>());
    const gc::Stats now = gc::stats();
    ASSERT_EQ(now.mallocs - before.mallocs, i) << "after allocation " << i;
    ASSERT_EQ(now.heap_alloc - before.heap_alloc, i * 208)
        << "after allocation " << i;
  }
}

TEST_F(StatsTest, MallocsMinusFreesIsHeapObjectsThroughFreesAndCycles) {
  gc::Stats s0 = gc::stats();
  std::vector<StatsNode*> raw;
  std::vector<gc::Root<StatsNode>> roots;
  for (int i = 0; i < 500; i++) {
    roots.push_back(gc::make<StatsNode>());
    raw.push_back(roots.back().get());
  }
  gc::Stats s1 = gc::stats();
  ExpectConsistent(s1);
  EXPECT_EQ(s1.heap_objects - s0.heap_objects, 500u);
  // Explicit frees into the span this thread's cache holds (local frees).
  for (int i = 0; i < 200; i++) {
    roots[i] = nullptr;
    FreeNow(raw[i]);
  }
  gc::Stats s2 = gc::stats();
  ExpectConsistent(s2);
  EXPECT_EQ(s2.heap_objects - s0.heap_objects, 300u);
  EXPECT_EQ(s2.frees - s1.frees, 200u);
  EXPECT_EQ(s2.mallocs, s1.mallocs);
  roots.clear();
  gc::collect();
  gc::Stats s3 = gc::stats();
  ExpectConsistent(s3);
  EXPECT_EQ(s3.heap_objects, s0.heap_objects);
}

// Several threads allocate and keep their spans cached (parked, not
// exited): the read counts their objects exactly with no collection and
// no flush, and objects one thread frees into spans another holds (their
// freebufs) count as freed at once.
TEST_F(StatsTest, ExactWithSeveralThreadsHoldingCachedSpans) {
  constexpr int kThreads = 4, kEach = 3001;
  gc::Stats before = gc::stats();
  std::atomic<int> ready{0};
  std::atomic<bool> freed{false}, done{false};
  std::vector<std::vector<StatsNode*>> made(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      std::vector<gc::Root<StatsNode>> keep;
      for (int i = 0; i < kEach; i++) {
        keep.push_back(gc::make<StatsNode>());
        made[t].push_back(keep.back().get());
        gc::make<StatsBlob>();  // garbage, still allocated: no cycle runs
      }
      ready.fetch_add(1);
      // Spin at safepoints: the processor stays running, its cache full.
      while (!freed.load()) gc::safepoint();
      keep.erase(keep.begin(), keep.begin() + 100);
      ready.fetch_add(1);
      while (!done.load()) gc::safepoint();
    });
  }
  while (ready.load() < kThreads) std::this_thread::yield();
  gc::Stats s = gc::stats();
  ExpectConsistent(s);
  EXPECT_EQ(s.heap_objects - before.heap_objects, 2u * kThreads * kEach);
  EXPECT_EQ(s.mallocs - before.mallocs, 2u * kThreads * kEach);
  EXPECT_EQ(s.heap_alloc - before.heap_alloc,
            uint64_t{kThreads} * kEach * (32 + 208));
  EXPECT_EQ(s.total_alloc - before.total_alloc,
            uint64_t{kThreads} * kEach * (32 + 208));
  // The threads drop their roots of their first 100 nodes; this thread
  // frees those: into spans their caches hold (their freebufs), or, where
  // a span went back already, through its Central.
  freed.store(true);
  while (ready.load() < 2 * kThreads) std::this_thread::yield();
  for (int t = 0; t < kThreads; t++) {
    for (int i = 0; i < 100; i++) FreeNow(made[t][i]);
  }
  gc::Stats f = gc::stats();
  ExpectConsistent(f);
  EXPECT_EQ(f.frees - s.frees, 100u * kThreads);
  EXPECT_EQ(s.heap_objects - f.heap_objects, 100u * kThreads);
  EXPECT_EQ(s.heap_alloc - f.heap_alloc, 100u * kThreads * 32);
  // The span walk (for spans a parked thread holds off its lists) agrees.
  {
    gc::runtime::StopTheWorld("test");
    gc::alloc::HeapStats by_caches =
        gc::alloc::Heap::Get().ReadStatsExact(false);
    gc::alloc::HeapStats by_spans = gc::alloc::Heap::Get().ReadStatsExact(true);
    gc::runtime::StartTheWorld();
    EXPECT_EQ(by_caches.heap_alloc, by_spans.heap_alloc);
    EXPECT_EQ(by_caches.objects, by_spans.objects);
    EXPECT_EQ(by_caches.mallocs, by_spans.mallocs);
    EXPECT_EQ(by_caches.frees, by_spans.frees);
    EXPECT_EQ(by_caches.objects, f.heap_objects);
  }
  // The unstopped read counts every free slot of a cached span as
  // allocated: ahead of the exact figures while the threads hold theirs.
  gc::Stats u = gc::stats_unstopped();
  EXPECT_GT(u.heap_objects, f.heap_objects);
  EXPECT_GT(u.heap_alloc, f.heap_alloc);
  done.store(true);
  for (std::thread& t : threads) t.join();
  // Their exit gave the spans back, and this thread gives its own: both
  // reads agree.
  gc::alloc::FlushCurrentCache();
  gc::Stats e = gc::stats();
  gc::Stats eu = gc::stats_unstopped();
  EXPECT_EQ(e.heap_objects, eu.heap_objects);
  EXPECT_EQ(e.heap_alloc, eu.heap_alloc);
  EXPECT_EQ(e.mallocs, eu.mallocs);
}

// Threads allocate and free all along; every read's figures add up.
TEST_F(StatsTest, AddsUpWhileThreadsAllocate) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; t++) {
    threads.emplace_back([&] {
      std::vector<StatsNode*> mine;
      while (!stop.load(std::memory_order_relaxed)) {
        StatsNode* n = gc::make<StatsNode>().get();
        gc::make<StatsBlob>();
        mine.push_back(n);
        if (mine.size() == 64) {
          for (StatsNode* m : mine) gc::free(m);
          mine.clear();
        }
      }
    });
  }
  uint64_t last_mallocs = 0;
  for (int i = 0; i < 50; i++) {
    gc::Stats s = gc::stats();
    ExpectConsistent(s);
    EXPECT_GE(s.mallocs, last_mallocs);
    last_mallocs = s.mallocs;
  }
  stop.store(true);
  for (std::thread& t : threads) t.join();
}

TEST_F(StatsTest, ReadFromAnUnattachedThreadLeavesItUnattached) {
  gc::Root<StatsNode> n = gc::make<StatsNode>();
  std::thread reader([] {
    gc::Stats s = gc::stats();
    ExpectConsistent(s);
    EXPECT_EQ(gc::runtime::CurrentProcessor(), nullptr);
  });
  {
    gc::Blocking joining;  // the reader stops the world: not for this wait
    reader.join();
  }
  gc::Blocking blocking;
  gc::Stats s = gc::stats();  // inside a blocking region too
  ExpectConsistent(s);
}

struct StatsReader {
  ~StatsReader() {
    try {
      gc::stats();
    } catch (const std::logic_error& e) {
      message = e.what();
    }
  }
  inline static std::string message;
};

TEST_F(StatsTest, RefusedInTheDestructorGcFreeRuns) {
  StatsReader::message.clear();
  gc::free(gc::make<StatsReader>().get());
  EXPECT_NE(StatsReader::message.find("gc::stats() inside the destructor "
                                      "gc::free runs"),
            std::string::npos)
      << StatsReader::message;
}

// pause_end: each pause's end, indexed as pause_ns, in cycle order, the
// newest last_gc_unix_ns; pause_max_ns over every cycle, the ring's 256
// and the ones before.
TEST_F(StatsTest, PauseEndsAreOrderedAndTheMaxCoversEveryCycle) {
  uint64_t max_pause = 0;
  gc::set_cycle_callback([&max_pause](const gc::CycleEvent& e) {
    max_pause = std::max(max_pause, e.pause_ns);
  });
  gc::Stats before = gc::stats();
  const auto unix_now = [] {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::chrono::system_clock::now().time_since_epoch())
            .count());
  };
  const uint64_t t0 = unix_now();
  for (int i = 0; i < 300; i++) gc::collect();
  const uint64_t t1 = unix_now();
  gc::set_cycle_callback(nullptr);
  gc::Stats s = gc::stats();
  ASSERT_EQ(s.num_gc - before.num_gc, 300u);
  EXPECT_EQ(s.pause_end[(s.num_gc + 255) % 256], s.last_gc_unix_ns);
  for (uint64_t k = 1; k < 256; k++) {
    const uint64_t cur = s.pause_end[(s.num_gc - k + 256) % 256];
    const uint64_t prev = s.pause_end[(s.num_gc - k - 1 + 256) % 256];
    EXPECT_GT(cur, prev) << "cycle " << s.num_gc - k;
    // A pause began after the one before it ended. The ends are steady
    // clock times turned into Unix times at each cycle's end, so a step of
    // the system clock between two cycles (the VM's clock sync: 40 us was
    // seen once in CI) moves one end against the other: allow 1 ms.
    constexpr uint64_t kClockStepNs = 1000000;
    EXPECT_GE(cur - s.pause_ns[(s.num_gc - k + 256) % 256] + kClockStepNs,
              prev);
    EXPECT_GE(prev, t0);
    EXPECT_LE(cur, t1);
  }
  EXPECT_GE(s.pause_max_ns, before.pause_max_ns);
  EXPECT_EQ(s.pause_max_ns, std::max(before.pause_max_ns, max_pause));
  for (uint64_t p : s.pause_ns) EXPECT_LE(p, s.pause_max_ns);
}

}  // namespace
