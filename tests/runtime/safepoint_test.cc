// Stop-the-world at safepoints (runtime/safepoint.h): running threads park,
// blocking regions do not hold the world, the watchdog names a straggler,
// and stops are serialized.
#include "gcrt/runtime/safepoint.h"

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

#include "gcrt/runtime/processor.h"
#include "gtest/gtest.h"
#include "tests/test_support/eventually.h"

namespace gc::runtime {
namespace {

using namespace std::chrono_literals;

// Counts resumes per processor; a resume must run on the thread holding the
// processor while it is running.
std::atomic<uint64_t> g_resumes{0};
std::atomic<uint64_t> g_bad_resumes{0};

class NullLocal final : public ProcessorLocal {
 public:
  void OnAcquire(Processor&) override {}
  void OnRelease(Processor&) override {}
  void OnResume(Processor& p) override {
    if (CurrentProcessor() != &p || p.status() != ProcessorStatus::kRunning) {
      g_bad_resumes++;
    }
    g_resumes++;
  }
};

ProcessorLocal* NewNullLocal(Processor&) { return new NullLocal(); }

class SafepointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetProcessorLocalFactory(&NewNullLocal);
    AttachCurrentThread();
  }
};

using gc::testing::Eventually;

TEST_F(SafepointTest, RunningThreadsParkUntilTheWorldRestarts) {
  constexpr int kThreads = 3;
  std::atomic<bool> done{false};
  std::atomic<uint64_t> counters[kThreads] = {};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; i++) {
    threads.emplace_back([&, i] {
      AttachCurrentThread();
      while (!done.load(std::memory_order_relaxed)) {
        counters[i].fetch_add(1, std::memory_order_relaxed);
        Safepoint();
      }
      DetachCurrentThread();
    });
  }
  ASSERT_TRUE(Eventually([&] {
    for (auto& c : counters) {
      if (c.load() == 0) return false;
    }
    return true;
  }));
  StopTheWorld("test");
  EXPECT_TRUE(WorldStoppedForTesting());
  uint64_t frozen[kThreads];
  for (int i = 0; i < kThreads; i++) frozen[i] = counters[i].load();
  std::this_thread::sleep_for(50ms);
  for (int i = 0; i < kThreads; i++) {
    EXPECT_EQ(counters[i].load(), frozen[i]) << "thread " << i << " ran";
  }
  StartTheWorld();
  EXPECT_TRUE(Eventually([&] {
    for (int i = 0; i < kThreads; i++) {
      if (counters[i].load() == frozen[i]) return false;
    }
    return true;
  }));
  done = true;
  for (auto& t : threads) t.join();
}

TEST_F(SafepointTest, ParkedThreadResumesEvenWhenTheNextStopFollowsAtOnce) {
  // A thread parked through a restart runs OnResume before it parks for the
  // next stop, however quickly that stop comes: the next stopper waits for
  // it (seed 002: a processor catches up on resume, before the next cycle).
  std::atomic<bool> done{false};
  std::atomic<uint64_t> spins{0};
  std::thread t([&] {
    AttachCurrentThread();
    while (!done.load(std::memory_order_relaxed)) {
      spins.fetch_add(1, std::memory_order_relaxed);
      Safepoint();
    }
    DetachCurrentThread();
  });
  ASSERT_TRUE(Eventually([&] { return spins.load() > 0; }));
  uint64_t before = g_resumes.load();
  constexpr int kStops = 50;
  for (int i = 0; i < kStops; i++) {
    StopTheWorld("test");
    StartTheWorld();
  }
  StopTheWorld("test");
  // Every restart but the first woke the parked thread, which resumed
  // before parking again for the following stop.
  EXPECT_GE(g_resumes.load() - before, uint64_t{kStops} - 1);
  StartTheWorld();
  done = true;
  t.join();
  EXPECT_EQ(g_bad_resumes.load(), 0u);
}

TEST_F(SafepointTest, BlockingRegionDoesNotHoldTheWorldAndWaitsToLeave) {
  std::atomic<bool> in_region{false}, may_leave{false}, left{false};
  std::thread blocker([&] {
    AttachCurrentThread();
    {
      BlockingRegion region;
      EXPECT_TRUE(InBlockingRegion());
      in_region = true;
      while (!may_leave.load()) std::this_thread::sleep_for(1ms);
    }
    left = true;
    DetachCurrentThread();
  });
  ASSERT_TRUE(Eventually([&] { return in_region.load(); }));
  StopTheWorld("test");  // returns although the blocker never polls
  may_leave = true;
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(left.load()) << "left a blocking region while stopped";
  StartTheWorld();
  blocker.join();
  EXPECT_TRUE(left.load());
}

TEST_F(SafepointTest, AttachWaitsForAStoppedWorld) {
  StopTheWorld("test");
  std::atomic<bool> attached{false};
  std::thread late([&] {
    AttachCurrentThread();
    attached = true;
    DetachCurrentThread();
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(attached.load());
  StartTheWorld();
  late.join();
  EXPECT_TRUE(attached.load());
}

TEST_F(SafepointTest, WatchdogNamesTheThreadThatKeepsTheWorldWaiting) {
  SetStopWatchdogForTesting(20ms);
  uint64_t reports_before = StopWatchdogReports();
  std::atomic<bool> spinning{false}, may_poll{false}, done{false};
  std::atomic<long> straggler_tid{0};
  std::thread straggler([&] {
    AttachCurrentThread();
    straggler_tid = syscall(SYS_gettid);
    spinning = true;
    while (!may_poll.load()) {
    }
    while (!done.load()) Safepoint();
    DetachCurrentThread();
  });
  ASSERT_TRUE(Eventually([&] { return spinning.load(); }));
  ::testing::internal::CaptureStderr();
  // This thread is attached too: it must not hold the world itself.
  std::optional<BlockingRegion> region(std::in_place);
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    AttachCurrentThread();
    StopTheWorld("watchdog test");
    stopped = true;
    StartTheWorld();
    DetachCurrentThread();
  });
  // The first report has the stack, the next two a line each.
  ASSERT_TRUE(
      Eventually([&] { return StopWatchdogReports() >= reports_before + 3; }));
  EXPECT_FALSE(stopped.load());
  may_poll = true;
  stopper.join();
  region.reset();
  std::string err = ::testing::internal::GetCapturedStderr();
  done = true;
  straggler.join();
  SetStopWatchdogForTesting(1000ms);
  EXPECT_TRUE(stopped.load());
  EXPECT_NE(err.find("watchdog test"), std::string::npos) << err;
  EXPECT_NE(err.find("has not reached a safepoint"), std::string::npos) << err;
  EXPECT_NE(err.find("held by thread " + std::to_string(straggler_tid.load()) +
                     " \""),
            std::string::npos)
      << "names the straggler's kernel thread id: " << err;
  auto count = [&](const std::string& what) {
    size_t n = 0;
    for (size_t at = err.find(what); at != std::string::npos;
         at = err.find(what, at + 1)) {
      n++;
    }
    return n;
  };
  // One full report: the stack (the straggler's loop is in this test's
  // lambda), or why there is none. ThreadSanitizer holds the signal of a
  // thread that spins without calling into libc until it does.
#if GCRT_TSAN
  EXPECT_EQ(count("Its stack:") + count("(no stack: "), 1u) << err;
#else
  EXPECT_EQ(count("Its stack:"), 1u) << err;
  EXPECT_NE(err.find("WatchdogNamesTheThreadThatKeepsTheWorldWaiting_Test::"
                     "TestBody()::{lambda()#1}"),
            std::string::npos)
      << err;
#endif
  EXPECT_EQ(count("must wait inside a gc::Blocking scope"), 1u) << err;
  EXPECT_GE(count("(reported above)"), 2u) << err;
  // A spinning thread is told apart from one asleep in the kernel.
  EXPECT_NE(err.find("thread " + std::to_string(straggler_tid.load()) +
                     " is running or runnable (state R)"),
            std::string::npos)
      << err;
}

TEST_F(SafepointTest, ConcurrentStopsAreSerialized) {
  std::atomic<int> holders{0}, max_holders{0}, stops{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; i++) {
    threads.emplace_back([&] {
      AttachCurrentThread();
      for (int k = 0; k < 50; k++) {
        StopTheWorld("serialized");
        int h = ++holders;
        int m = max_holders.load();
        while (h > m && !max_holders.compare_exchange_weak(m, h)) {
        }
        stops++;
        --holders;
        StartTheWorld();
        Safepoint();
      }
      DetachCurrentThread();
    });
  }
  {
    BlockingRegion region;  // joining must not hold the others' stops
    for (auto& t : threads) t.join();
  }
  EXPECT_EQ(stops.load(), 200);
  EXPECT_EQ(max_holders.load(), 1);
}

// A thread parks at a safepoint without the processor table's lock: with
// more threads than cores, threads parking at once queued on it, and one
// woken onto a busy core held a stop up for milliseconds. Here the lock is
// held while the stop waits, and the running thread must park all the same.
TEST_F(SafepointTest, AThreadParksWithoutTheProcessorTablesLock) {
  std::atomic<bool> ready{false}, may_poll{false}, done{false};
  std::atomic<Processor*> runner{nullptr};
  std::thread running([&] {
    runner = AttachCurrentThread();
    ready = true;
    while (!may_poll.load()) {
    }
    while (!done.load()) Safepoint();
    DetachCurrentThread();
  });
  ASSERT_TRUE(Eventually([&] { return ready.load(); }));
  // This thread is attached too: it must not hold the world itself.
  std::optional<BlockingRegion> region(std::in_place);
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    AttachCurrentThread();
    StopTheWorld("lock-free park test");
    stopped = true;
    StartTheWorld();
    DetachCurrentThread();
  });
  // The stop has begun (and waits for `running`, which has not polled).
  ASSERT_TRUE(Eventually(
      [&] { return g_stop_requested.load(std::memory_order_acquire); }));
  bool parked;
  {
    MutexLock lock(&ProcessorTable::Get().mu());
    may_poll = true;
    parked = Eventually(
        [&] { return runner.load()->status() == ProcessorStatus::kStopped; });
  }
  stopper.join();
  done = true;
  running.join();
  region.reset();
  EXPECT_TRUE(parked) << "the thread waited for the lock to park";
  EXPECT_TRUE(stopped.load());
}

// Threads park, block, leave blocking regions, detach and attach again while
// stops come one after another: every stop must wait for each running
// processor (a count too small lets a stop finish with one running; too
// large, it never finishes), and never for another.
TEST_F(SafepointTest, EveryStopWaitsForExactlyTheRunningProcessors) {
  constexpr int kThreads = 4;
  constexpr int kStops = 300;
  std::atomic<bool> done{false};
  std::atomic<uint64_t> steps[kThreads] = {};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; i++) {
    threads.emplace_back([&, i] {
      AttachCurrentThread();
      for (uint32_t k = 0; !done.load(std::memory_order_relaxed); k++) {
        steps[i].fetch_add(1, std::memory_order_relaxed);
        switch (k % 4) {
          case 0:
          case 1:
            Safepoint();
            break;
          case 2: {
            BlockingRegion region;
            std::this_thread::yield();
            break;
          }
          case 3:
            if (k % 64 == 3) {
              DetachCurrentThread();
              AttachCurrentThread();
            }
            break;
        }
      }
      DetachCurrentThread();
    });
  }
  // Each stop comes once every thread has taken a step since the last: the
  // stops find the threads in every state.
  auto all_moved = [&](const uint64_t* since) {
    for (int i = 0; i < kThreads; i++) {
      if (steps[i].load() <= since[i]) return false;
    }
    return true;
  };
  uint64_t seen[kThreads] = {};
  int running_in_stop = 0;
  for (int s = 0; s < kStops; s++) {
    {
      BlockingRegion region;  // while the others run
      ASSERT_TRUE(Eventually([&] { return all_moved(seen); }));
    }
    StopTheWorld("count test");
    for (int i = 0; i < kThreads; i++) seen[i] = steps[i].load();
    for (Processor* p = ProcessorTable::Get().all(); p != nullptr;
         p = p->next_all()) {
      running_in_stop +=
          p != CurrentProcessor() && p->status() == ProcessorStatus::kRunning;
    }
    StartTheWorld();
  }
  done = true;
  {
    BlockingRegion region;
    for (auto& t : threads) t.join();
  }
  EXPECT_EQ(running_in_stop, 0);
}

}  // namespace
}  // namespace gc::runtime

namespace gc::runtime {
namespace {

TEST_F(SafepointTest, TheStopperMayEnterABlockingRegionWhileTheWorldIsStopped) {
  StopTheWorld("stopper blocking test");
  {
    BlockingRegion region;  // e.g. waiting for mark workers
    EXPECT_TRUE(InBlockingRegion());
  }  // must not wait for itself to restart the world
  EXPECT_TRUE(WorldStoppedForTesting());
  StartTheWorld();
  EXPECT_FALSE(WorldStoppedForTesting());
}

TEST_F(SafepointTest, StoppingTwiceFromTheStopperIsReported) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        AttachCurrentThread();
        StopTheWorld("first");
        StopTheWorld("second");
      },
      "is not stopped again by the thread that stopped it");
}

}  // namespace
}  // namespace gc::runtime
