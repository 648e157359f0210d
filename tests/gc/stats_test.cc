// Pacing and statistics: heap-growth triggering, GCRT_GCPERCENT, the
// forced periodic cycle, exact heap figures after a full collection, the
// pause ring, gctrace.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "alloc/heap.h"
#include "api/gc.h"
#include "gc/collector.h"
#include "gc/sweeper.h"

namespace {

struct Small {
  gc::Ptr<Small> next;
  int64_t value = 0;
};
struct Medium {
  gc::Ptr<Medium> next;
  std::array<int64_t, 60> payload{};
};
struct Big {  // a large object: 64 KiB
  gc::Ptr<Small> ref;
  std::array<char, 65536 - 8> bytes{};
};

TEST(StatsTest, HeapAllocEqualsLiveBytesAfterFullCollection) {
  gc::collect();
  std::vector<gc::Root<Small>> smalls;
  std::vector<gc::Root<Medium>> mediums;
  std::vector<gc::Root<Big>> bigs;
  for (int i = 0; i < 3000; i++) {
    auto s = gc::make<Small>();
    auto m = gc::make<Medium>();
    gc::make_unrooted<Small>();  // garbage
    gc::make_unrooted<Medium>();
    if (i % 2 == 0) smalls.push_back(s);
    if (i % 3 == 0) mediums.push_back(m);
    if (i % 100 == 0) bigs.push_back(gc::make<Big>());
    if (i % 150 == 0) gc::make_unrooted<Big>();
  }
  gc::collect();
  uint64_t live = 0;
  for (auto& s : smalls) live += gc::alloc::AllocationSize(s.get());
  for (auto& m : mediums) live += gc::alloc::AllocationSize(m.get());
  for (auto& b : bigs) live += gc::alloc::AllocationSize(b.get());
  // Objects other tests or the test framework left: none are rooted, so a
  // full collection leaves exactly ours.
  gc::Stats s = gc::stats();
  EXPECT_EQ(s.heap_alloc, live);
  EXPECT_EQ(s.heap_objects, smalls.size() + mediums.size() + bigs.size());
  EXPECT_EQ(s.last_marked_bytes, live);
  EXPECT_EQ(s.mallocs - s.frees, s.heap_objects);
  EXPECT_EQ(s.next_gc,
            std::max<uint64_t>(gc::internal::kMinHeapGoal, live * 2));
  EXPECT_GE(s.heap_inuse, s.heap_alloc);
  EXPECT_GE(s.heap_sys, s.heap_inuse);
}

TEST(StatsTest, GrowthTriggersCyclesAndTheHeapStaysBounded) {
  gc::collect();
  uint64_t before = gc::stats().num_gc;
  std::vector<gc::Root<Medium>> live;
  for (int i = 0; i < 2000; i++) live.push_back(gc::make<Medium>());
  // 200 MiB of garbage with ~1 MiB live and the 4 MiB minimum goal.
  for (int i = 0; i < 200 * 1024 * 1024 / 512; i++) gc::make_unrooted<Medium>();
  gc::Stats s = gc::stats();
  EXPECT_GE(s.num_gc - before, 20u);
  EXPECT_LT(s.heap_inuse, 64u << 20) << "collections kept the heap small";
  for (auto& m : live) ASSERT_EQ(m->next, nullptr);
}

TEST(StatsTest, GcPercentOffStopsTriggeredCycles) {
  gc::collect();
  int old = gc::set_gc_percent(-1);
  EXPECT_EQ(old, 100);
  EXPECT_EQ(gc::stats().next_gc, 0u) << "no goal while collection is off";
  uint64_t before = gc::stats().num_gc;
  for (int i = 0; i < 40 * 1024 * 1024 / 512; i++) gc::make_unrooted<Medium>();
  EXPECT_EQ(gc::stats().num_gc, before);
  gc::collect();  // explicit collections still run
  EXPECT_EQ(gc::stats().num_gc, before + 1);
  EXPECT_EQ(gc::set_gc_percent(old), -1);
  EXPECT_GE(gc::stats().next_gc, uint64_t{gc::internal::kMinHeapGoal});
}

TEST(StatsTest, GcPercentScalesTheGoal) {
  std::vector<gc::Root<Medium>> live;
  for (int i = 0; i < 40000; i++) live.push_back(gc::make<Medium>());  // 20 MiB
  int old = gc::set_gc_percent(50);
  gc::collect();
  gc::Stats s = gc::stats();
  EXPECT_EQ(s.next_gc, s.last_marked_bytes + s.last_marked_bytes * 50 / 100);
  gc::set_gc_percent(old);
}

TEST(StatsTest, PauseRingAndCounters) {
  uint64_t n0 = gc::stats().num_gc;
  uint64_t forced0 = gc::stats().num_forced_gc;
  for (int i = 0; i < 3; i++) gc::collect();
  gc::Stats s = gc::stats();
  EXPECT_EQ(s.num_gc, n0 + 3);
  EXPECT_EQ(s.num_forced_gc, forced0 + 3);
  uint64_t sum = 0;
  for (uint64_t k = s.num_gc - 3; k < s.num_gc; k++) {
    uint64_t p = s.pause_ns[k % 256];
    EXPECT_GT(p, 0u);
    sum += p;
  }
  EXPECT_GE(s.pause_total_ns, sum);
  EXPECT_GT(s.last_gc_unix_ns, 0u);
  EXPECT_GT(s.gc_cpu_fraction, 0.0);
  EXPECT_LE(s.gc_cpu_fraction, 1.0);
  EXPECT_GE(s.mark_workers, 1u);
}

TEST(StatsTest, GcCpuFractionGrowsWhileTheProgramDoesNothingButCollect) {
  struct Cell {
    gc::Ptr<Cell> next;
    int64_t value;
  };
  gc::Root<Cell> list = gc::make<Cell>();
  for (int i = 0; i < 100000; i++) {  // a live list to mark, ~3 MiB
    gc::Root<Cell> c = gc::make<Cell>();
    c->next = list;
    list = c;
  }
  const double before = gc::stats().gc_cpu_fraction;
  auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start <
         std::chrono::milliseconds(300)) {
    gc::collect();
  }
  const double after = gc::stats().gc_cpu_fraction;
  EXPECT_GT(after, before) << "a program that only collects spends a growing "
                              "share of its CPU in the collector";
  EXPECT_LE(after, 1.0);
}

TEST(StatsTest, GctracePrintsOneLinePerCycle) {
  gc::set_gctrace(true);
  testing::internal::CaptureStderr();
  gc::collect();
  gc::collect();
  std::string err = testing::internal::GetCapturedStderr();
  gc::set_gctrace(false);
  std::regex line(
      R"(gcrt: gc \d+ @[0-9.]+s \d+%: [0-9.]+ ms STW \(mark [0-9.]+ ms, \d+ workers\), \d+->\d+ MB live, -?\d+ MB goal, \d+ objects, \d+ P \(forced\)\n)");
  auto begin = std::sregex_iterator(err.begin(), err.end(), line);
  EXPECT_EQ(std::distance(begin, std::sregex_iterator()), 2) << err;
}

TEST(StatsTest, PeriodicCycleRunsWhenNoneRanForAPeriod) {
  gc::collect();
  uint64_t before = gc::stats().num_forced_gc;
  gc::internal::SetPeriodicGcInterval(std::chrono::milliseconds(100));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (gc::stats().num_forced_gc == before &&
         std::chrono::steady_clock::now() < deadline) {
    gc::Blocking idle;  // let the world stop without this thread
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  gc::internal::SetPeriodicGcInterval(std::chrono::minutes(2));
  EXPECT_GT(gc::stats().num_forced_gc, before);
}

TEST(StatsTest, PeriodicCycleComesNoSoonerThanAPeriodAfterTheLastCycle) {
  using namespace std::chrono;
  const auto period = milliseconds(300);
  gc::internal::SetPeriodicGcInterval(period);
  gc::collect();
  const gc::Stats before = gc::stats();
  auto start = steady_clock::now();
  while (gc::stats().num_forced_gc == before.num_forced_gc &&
         steady_clock::now() < start + seconds(30)) {
    gc::Blocking idle;
    std::this_thread::sleep_for(milliseconds(2));
  }
  const gc::Stats after = gc::stats();
  gc::internal::SetPeriodicGcInterval(minutes(2));
  ASSERT_EQ(after.num_gc, before.num_gc + 1) << "one forced cycle";
  // Both stamps are taken at the same point of a cycle, after its pause.
  const auto gap = nanoseconds(after.last_gc_unix_ns - before.last_gc_unix_ns);
  EXPECT_GE(gap, period) << "a forced cycle only when none ran for a period";
  EXPECT_LT(gap, 100 * period);  // generous: a loaded machine under TSan
}

TEST(StatsTest, GcPercentOffStopsPeriodicCyclesToo) {
  int old = gc::set_gc_percent(-1);
  uint64_t before = gc::stats().num_gc;
  gc::internal::SetPeriodicGcInterval(std::chrono::milliseconds(20));
  for (int i = 0; i < 50; i++) {
    gc::Blocking idle;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  gc::internal::SetPeriodicGcInterval(std::chrono::minutes(2));
  EXPECT_EQ(gc::stats().num_gc, before)
      << "GOGC=off: no cycle but explicit ones";
  gc::set_gc_percent(old);
}

TEST(StatsTest, EnvironmentTurnsOnGctrace) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("GCRT_DEBUG", "verify=1,gctrace=1", 1);
        gc::collect();
        std::exit(0);
      },
      testing::ExitedWithCode(0), "gc 1 @[0-9.]+s .* STW .*MB live");
}

TEST(StatsTest, EnvironmentConfiguresGcPercent) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // A fresh process reads GCRT_GCPERCENT when the collector starts.
  EXPECT_EXIT(
      {
        setenv("GCRT_GCPERCENT", "off", 1);
        std::exit(gc::set_gc_percent(100) == -1 ? 0 : 1);
      },
      testing::ExitedWithCode(0), "");
  EXPECT_EXIT(
      {
        setenv("GCRT_GCPERCENT", "250", 1);
        std::exit(gc::set_gc_percent(100) == 250 ? 0 : 1);
      },
      testing::ExitedWithCode(0), "");
}

}  // namespace
