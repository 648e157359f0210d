// The per-cycle record (gc::set_cycle_callback, GCRT_DEBUG=gclog=path):
// one per cycle, with the figures gc::stats() has for it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <regex>
#include <string>
#include <vector>

#include "gcrt/gc.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

struct Item {
  gc::Ptr<Item> next;
  int64_t payload[6] = {};
};

class CycleEventsTest : public gc::testing::VerifiedHeapTest {
 protected:
  void TearDown() override { gc::set_cycle_callback(nullptr); }
};

TEST_F(CycleEventsTest, OneRecordPerCycleWithTheStatsFigures) {
  std::vector<gc::CycleEvent> events;
  gc::set_cycle_callback(
      [&events](const gc::CycleEvent& e) { events.push_back(e); });
  gc::Root<Item> keep = gc::make<Item>();
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 10000; i++) gc::make<Item>();  // garbage
    gc::collect();
    const gc::Stats s = gc::stats();
    ASSERT_FALSE(events.empty());
    const gc::CycleEvent& e = events.back();
    EXPECT_EQ(e.num_gc, s.num_gc);
    EXPECT_TRUE(e.forced);
    EXPECT_EQ(e.pause_ns, s.pause_ns[(s.num_gc + 255) % 256]);
    EXPECT_EQ(e.ttsp_ns, s.ttsp_ns[(s.num_gc + 255) % 256]);
    EXPECT_EQ(e.heap_marked, s.last_marked_bytes);
    EXPECT_EQ(static_cast<uint64_t>(e.next_goal), s.next_gc);
    EXPECT_GT(e.objects_marked, 0u);
    EXPECT_GE(e.heap_before, static_cast<int64_t>(e.heap_marked) / 2);
    EXPECT_GE(e.sweep_termination_ns + e.mark_ns + e.mark_termination_ns,
              static_cast<int64_t>(e.pause_ns) / 2);
    EXPECT_GT(e.start_s, 0.0);
  }
  for (size_t i = 1; i < events.size(); i++) {
    EXPECT_EQ(events[i].num_gc, events[i - 1].num_gc + 1);
    EXPECT_GE(events[i].start_s, events[i - 1].start_s);
  }
}

int64_t SumOfParts(const gc::StopTimes& t) {
  return t.ttsp_ns + t.sweep_ns + t.roots_ns + t.ttsp2_ns + t.mark_ns +
         t.weak_ns + t.flip_ns + t.flush_ns + t.pace_ns;
}

// The stops' parts cover the pause exactly, none negative, in both modes;
// a cycle that keeps the world stopped has no second stop.
TEST_F(CycleEventsTest, TheStopsPartsAddUpToThePause) {
  std::vector<gc::CycleEvent> events;
  gc::set_cycle_callback(
      [&events](const gc::CycleEvent& e) { events.push_back(e); });
  gc::Root<Item> keep = gc::make<Item>();
  Item* last = keep.get();
  for (int i = 0; i < 20000; i++) {
    last->next = gc::make<Item>();
    last = last->next.get();
  }
  for (bool concurrent : {true, false}) {
    const bool was = gc::set_concurrent_mark(concurrent);
    events.clear();
    gc::collect();
    gc::set_concurrent_mark(was);
    ASSERT_EQ(events.size(), 1u);
    const gc::CycleEvent& e = events.back();
    ASSERT_EQ(e.concurrent, concurrent);
    const gc::StopTimes& t = e.stop;
    EXPECT_EQ(SumOfParts(t), static_cast<int64_t>(e.pause_ns));
    for (int64_t part :
         {t.ttsp_ns, t.sweep_ns, t.roots_ns, t.ttsp2_ns, t.mark_ns, t.weak_ns,
          t.flip_ns, t.flush_ns, t.pace_ns}) {
      EXPECT_GE(part, 0);
    }
    EXPECT_EQ(t.ttsp_ns + t.ttsp2_ns, static_cast<int64_t>(e.ttsp_ns));
    // gctrace's first clock field: the first stop, or (the world stopped
    // throughout) its time to safepoint.
    EXPECT_EQ(concurrent ? t.ttsp_ns + t.sweep_ns + t.roots_ns : t.ttsp_ns,
              e.sweep_termination_ns);
    if (!concurrent) {
      EXPECT_EQ(t.ttsp2_ns, 0);
      EXPECT_EQ(t.mark_ns, 0);
      // 20,000 objects marked with the world stopped: a part of its own.
      EXPECT_GT(t.roots_ns, 0);
    }
  }
}

// The callback runs with no lock of gcrt held: it may allocate, read
// stats, and collect (once, here).
// gctrace's "@Ns" is when the cycle began, as Go's and as the record's
// start_s, not when it ended (it printed the end: off by the whole cycle).
TEST_F(CycleEventsTest, GctraceTimesTheCycleFromItsStart) {
  gc::Root<Item> list;
  for (int i = 0; i < 400000; i++) {  // ~25 MiB live: a cycle of many ms
    gc::Root<Item> item = gc::make<Item>();
    item->next = list;
    list = item;
  }
  double start_s = -1;
  int64_t length_ns = 0;
  uint64_t number = 0;
  gc::set_cycle_callback([&](const gc::CycleEvent& e) {
    start_s = e.start_s;
    length_ns = e.sweep_termination_ns + e.mark_ns + e.mark_termination_ns;
    number = e.num_gc;
  });
  const bool trace = gc::set_gctrace(true);
  testing::internal::CaptureStderr();
  gc::collect();
  const std::string out = testing::internal::GetCapturedStderr();
  gc::set_gctrace(trace);
  // This cycle's line: a triggered cycle the list's allocations started
  // may end, and print its own, while the output is captured.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      out, m, std::regex("gc " + std::to_string(number) + " @([0-9.]+)s")))
      << out;
  const double at = std::stod(m[1].str());
  ASSERT_GE(start_s, 0);
  EXPECT_NEAR(at, start_s, 0.0015)
      << out << "the cycle took " << length_ns << " ns";
  EXPECT_GT(length_ns, 3000000) << "too short a cycle to tell";
}

TEST_F(CycleEventsTest, TheCallbackMayAllocateAndCollect) {
  int calls = 0;
  bool nested = false;
  gc::set_cycle_callback([&](const gc::CycleEvent&) {
    calls++;
    gc::Root<Item> made = gc::make<Item>();
    (void)gc::stats();
    if (!nested) {
      nested = true;
      gc::collect();
    }
  });
  gc::collect();
  EXPECT_EQ(calls, 2);
}

// A triggered cycle marking beside the program marks with a quarter of
// the mark workers, and its record says so; a forced one uses them all.
TEST_F(CycleEventsTest, TheRecordNamesTheWorkersItsMarkingUsed) {
  const uint32_t configured = gc::stats().mark_workers;
  gc::set_mark_workers(8);
  std::mutex mu;
  std::vector<gc::CycleEvent> events;
  bool triggered = false;
  gc::set_cycle_callback([&](const gc::CycleEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(e);
    if (!e.forced) triggered = true;
  });
  gc::collect();
  auto saw_triggered = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return triggered;
  };
  for (int i = 0; i < 4000000 && !saw_triggered(); i++) gc::make<Item>();
  gc::collect();  // and the triggered cycle's callback has run
  gc::set_cycle_callback(nullptr);
  gc::set_mark_workers(configured);
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_TRUE(triggered) << "no cycle was triggered by the allocation";
  for (const gc::CycleEvent& e : events) {
    EXPECT_EQ(e.workers, !e.forced && e.concurrent ? 2u : 8u)
        << "cycle " << e.num_gc << (e.forced ? " (forced)" : " (triggered)")
        << (e.concurrent ? ", concurrent" : ", stop-the-world");
  }
}

TEST_F(CycleEventsTest, AThrowingCallbackIsReportedNotFatal) {
  gc::set_cycle_callback(
      [](const gc::CycleEvent&) { throw std::runtime_error("boom"); });
  ::testing::internal::CaptureStderr();
  EXPECT_NO_THROW(gc::collect());
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("gc::set_cycle_callback) threw: boom"), std::string::npos)
      << err;
}

TEST(CycleEventsLog, GclogWritesAJsonLinePerCycle) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const char* tmp = std::getenv("TEST_TMPDIR");
  // The same path in the child, which runs this test anew.
  const std::string path =
      std::string(tmp != nullptr ? tmp : "/tmp") + "/gclog_test.jsonl";
  std::remove(path.c_str());
  setenv("GCRT_DEBUG", ("gclog=" + path).c_str(), 1);
  EXPECT_EXIT(
      {
        for (int i = 0; i < 3; i++) gc::collect();
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "");
  unsetenv("GCRT_DEBUG");
  std::ifstream in(path);
  std::string line;
  const std::regex json(
      R"(\{"gc":(\d+),"forced":true,"concurrent":(true|false),"start_s":[0-9.]+,)"
      R"("sweep_termination_ns":\d+,"mark_ns":\d+,"mark_termination_ns":\d+,)"
      R"("pause_ns":\d+,"ttsp_ns":\d+,"heap_before":\d+,"heap_at_end":\d+,)"
      R"("heap_marked":\d+,"objects_marked":\d+,"goal":-?\d+,"next_goal":-?\d+,)"
      R"("assists":\d+,"assist_ns":\d+,"deferred_objects":\d+,"workers":\d+,)"
      R"("gc_cpu_fraction":[0-9.]+,"stop":\{"ttsp_ns":\d+,"sweep_ns":\d+,)"
      R"("roots_ns":\d+,"ttsp2_ns":\d+,"mark_ns":\d+,"weak_ns":\d+,)"
      R"("flip_ns":\d+,"flush_ns":\d+,"pace_ns":\d+\}\})");
  std::vector<int> numbers;
  while (std::getline(in, line)) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, json)) << line;
    numbers.push_back(std::stoi(m[1]));
  }
  EXPECT_EQ(numbers, (std::vector<int>{1, 2, 3}));
  std::remove(path.c_str());
}

}  // namespace
