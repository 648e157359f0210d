// Cleanups (gc::add_cleanup, api/cleanup.h): each runs exactly once, after
// the cycle that found its object unreachable reclaimed it (its destructor
// ran first, and the object is not resurrected); several per object;
// stop() cancels; a finalizer runs first, the
// cleanups when a later cycle reclaims the object; gc::free queues them;
// the errors; many threads adding, stopping and collecting at once.
//
// Every test runs with the verifier on.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gcrt/gc.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

struct Res {
  gc::Ptr<Res> next;
  int64_t id = 0;
  std::string name;  // a destructor that runs
  ~Res() { destroyed.fetch_add(1, std::memory_order_relaxed); }
  static inline std::atomic<int64_t> destroyed{0};
};

// What the cleanups saw, in the order they ran.
struct Log {
  std::mutex mu;
  std::vector<int64_t> ran;
  // Res::destroyed when each ran: the destructor came first.
  std::vector<int64_t> destroyed_then;
};
Log& log() {
  static Log* l = new Log;
  return *l;
}
void Record(int64_t tag) {
  std::lock_guard<std::mutex> lock(log().mu);
  log().ran.push_back(tag);
  log().destroyed_then.push_back(Res::destroyed.load());
}
std::vector<int64_t> Ran() {
  std::lock_guard<std::mutex> lock(log().mu);
  return log().ran;
}

class CleanupTest : public gc::testing::VerifiedHeapTest {
 protected:
  void SetUp() override {
    VerifiedHeapTest::SetUp();
    gc::run_finalizers();
    std::lock_guard<std::mutex> lock(log().mu);
    log().ran.clear();
    log().destroyed_then.clear();
  }
};

TEST_F(CleanupTest, RunsOnceAfterTheObjectIsReclaimedNotBefore) {
  const gc::Stats before = gc::stats();
  const int64_t destroyed_before = Res::destroyed.load();
  gc::Root<Res> r = gc::make<Res>();
  gc::add_cleanup(r, &Record, int64_t{7});
  EXPECT_EQ(gc::stats().cleanups_pending, before.cleanups_pending + 1);
  gc::collect();
  gc::run_finalizers();
  EXPECT_TRUE(Ran().empty()) << "a reachable object's cleanup ran";
  r = nullptr;
  gc::collect();  // reclaims it and queues the cleanup
  EXPECT_EQ(Res::destroyed.load(), destroyed_before + 1)
      << "the cycle that found it unreachable reclaimed it (no resurrection)";
  gc::run_finalizers();
  ASSERT_EQ(Ran(), std::vector<int64_t>{7});
  EXPECT_EQ(log().destroyed_then[0], destroyed_before + 1)
      << "the destructor ran before the cleanup";
  for (int i = 0; i < 3; i++) gc::collect();
  gc::run_finalizers();
  EXPECT_EQ(Ran().size(), 1u) << "a cleanup runs exactly once";
  const gc::Stats after = gc::stats();
  EXPECT_EQ(after.cleanups_queued, before.cleanups_queued + 1);
  EXPECT_EQ(after.cleanups_run, before.cleanups_run + 1);
  EXPECT_EQ(after.cleanups_pending, before.cleanups_pending);
}

// Queued in the order added; the finalizer thread and run_finalizers may
// run two of them at once, so only the set is checked.
TEST_F(CleanupTest, SeveralPerObjectEachRunOnce) {
  {
    gc::Root<Res> r = gc::make<Res>();
    for (int64_t i = 0; i < 5; i++) gc::add_cleanup(r, &Record, i);
  }
  gc::collect();
  gc::run_finalizers();
  std::vector<int64_t> ran = Ran();
  std::sort(ran.begin(), ran.end());
  EXPECT_EQ(ran, (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST_F(CleanupTest, StopCancelsOnlyThatCleanup) {
  gc::Cleanup stopped;
  gc::Cleanup kept;
  {
    gc::Root<Res> r = gc::make<Res>();
    gc::add_cleanup(r, &Record, int64_t{1});
    stopped = gc::add_cleanup(r, &Record, int64_t{2});
    kept = gc::add_cleanup(r, &Record, int64_t{3});
    EXPECT_TRUE(stopped.stop());
    EXPECT_FALSE(stopped.stop()) << "a second stop does nothing";
  }
  gc::collect();
  gc::run_finalizers();
  std::vector<int64_t> ran = Ran();
  std::sort(ran.begin(), ran.end());
  EXPECT_EQ(ran, (std::vector<int64_t>{1, 3}));
  EXPECT_FALSE(kept.stop()) << "a cleanup that ran cannot be stopped";
  EXPECT_FALSE(gc::Cleanup().stop());
}

TEST_F(CleanupTest, StopAfterTheObjectsSlotWasReusedStopsNothingElse) {
  gc::Cleanup old;
  const void* address;
  {
    gc::Root<Res> r = gc::make<Res>();
    address = r.get();
    old = gc::add_cleanup(r, &Record, int64_t{1});
  }
  gc::collect();
  // A new object, likely in the same slot, with a cleanup of its own.
  std::vector<gc::Root<Res>> fresh;
  for (int i = 0; i < 64; i++) {
    fresh.push_back(gc::make<Res>());
    gc::add_cleanup(fresh.back(), &Record, int64_t{100 + i});
  }
  EXPECT_FALSE(old.stop());
  fresh.clear();
  gc::collect();
  gc::run_finalizers();
  EXPECT_EQ(Ran().size(), 65u) << "every fresh cleanup still ran";
  (void)address;
}

TEST_F(CleanupTest, MoveOnlyArgumentAndNoArgumentForms) {
  static std::atomic<int> closed{0};
  {
    gc::Root<Res> r = gc::make<Res>();
    gc::add_cleanup(
        r, [](std::unique_ptr<int> p) { closed.fetch_add(*p); },
        std::make_unique<int>(5));
    gc::add_cleanup(r, [] { closed.fetch_add(10); });
  }
  gc::collect();
  gc::run_finalizers();
  EXPECT_EQ(closed.load(), 15);
}

TEST_F(CleanupTest, FinalizerFirstThenCleanupsWhenALaterCycleReclaims) {
  static std::atomic<int> finalized{0};
  const int64_t destroyed_before = Res::destroyed.load();
  {
    gc::Root<Res> r = gc::make<Res>();
    gc::add_cleanup(r, &Record, int64_t{1});
    gc::set_finalizer(r, [](Res* o) {
      finalized.fetch_add(1);
      EXPECT_TRUE(Ran().empty()) << "a cleanup ran before the finalizer";
      EXPECT_EQ(o->name, "");
    });
  }
  gc::collect();  // queues the finalizer, resurrecting the object
  gc::run_finalizers();
  EXPECT_EQ(finalized.load(), 1);
  EXPECT_TRUE(Ran().empty());
  EXPECT_EQ(Res::destroyed.load(), destroyed_before);
  gc::collect();  // now reclaimed: the cleanup is queued
  gc::run_finalizers();
  EXPECT_EQ(Res::destroyed.load(), destroyed_before + 1);
  EXPECT_EQ(Ran(), std::vector<int64_t>{1});
}

TEST_F(CleanupTest, FreeQueuesTheCleanupsAfterTheDestructor) {
  const int64_t destroyed_before = Res::destroyed.load();
  gc::Root<Res> r = gc::make<Res>();
  gc::add_cleanup(r, &Record, int64_t{4});
  gc::add_cleanup(r, &Record, int64_t{5});
  gc::free(r);
  gc::run_finalizers();
  std::vector<int64_t> ran = Ran();
  std::sort(ran.begin(), ran.end());
  EXPECT_EQ(ran, (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(log().destroyed_then[0], destroyed_before + 1);
  EXPECT_EQ(log().destroyed_then[1], destroyed_before + 1);
  gc::collect();
  gc::run_finalizers();
  EXPECT_EQ(Ran().size(), 2u) << "freed, then collected: still once each";
}

TEST_F(CleanupTest, RefusesBadInputChangingNothing) {
  gc::Root<Res> r = gc::make<Res>();
  const uint64_t pending = gc::stats().cleanups_pending;
  EXPECT_THROW(gc::add_cleanup(gc::Ptr<Res>(), &Record, int64_t{1}),
               std::invalid_argument);
  EXPECT_THROW(gc::add_cleanup(
                   r, [](Res*) {}, r.get()),
               std::invalid_argument);
  EXPECT_THROW(gc::add_cleanup(
                   r, [](const int64_t*) {}, &r->id),
               std::invalid_argument)
      << "an interior pointer to the object";
  gc::Global<Res> global(r);
  EXPECT_THROW(gc::add_cleanup(
                   r, [](const gc::Global<Res>&) {}, global),
               std::invalid_argument);
  try {
    gc::add_cleanup(
        r, [](Res*) {}, r.get());
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("gc::add_cleanup"), std::string::npos)
        << e.what();
  }
  int on_stack = 0;
  EXPECT_THROW(gc::add_cleanup(gc::Ptr<int>(&on_stack), [] {}),
               std::invalid_argument);
  EXPECT_EQ(gc::stats().cleanups_pending, pending);
}

TEST_F(CleanupTest, ManyThreadsAddStopAndCollect) {
  constexpr int kThreads = 4, kObjects = 300;
  static std::atomic<int64_t> runs{0};
  const int64_t runs_before = runs.load();
  std::atomic<int64_t> kept{0};
  std::vector<gc::Thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&kept, t] {
      for (int i = 0; i < kObjects; i++) {
        gc::Root<Res> r = gc::make<Res>();
        gc::add_cleanup(
            r, [](int) { runs.fetch_add(1); }, i);
        gc::Cleanup b = gc::add_cleanup(
            r, [](int) { runs.fetch_add(1); }, i);
        if ((i + t) % 3 == 0) {
          EXPECT_TRUE(b.stop());
          kept.fetch_add(1);
        } else {
          kept.fetch_add(2);
        }
        if (i % 50 == 0) gc::collect();
      }
    });
  }
  for (gc::Thread& th : threads) th.join();
  gc::collect();
  gc::run_finalizers();
  EXPECT_EQ(runs.load() - runs_before, kept.load())
      << "every cleanup not stopped ran exactly once";
}

}  // namespace
