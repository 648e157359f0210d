// The stress harness (tests/README.md): random mutators with a shadow model
// (model.h), the heap verifier on, a full check after every gc::collect().
//
//   single-threaded   one mutator
//   threads/N         N mutators (2, 4, 8) handing fresh subgraphs to each
//                     other, each collecting at random, under TSan in CI;
//                     cycles mark beside the program (the default), so the
//                     others rewire the graph while one thread's cycle
//                     marks: the test asserts that steps ran during marking
//   tasks/8           the same with 8 tasks (gc::go) on the scheduler's
//                     workers
//
// Both fork now and then (not under TSan or ASan: model.cc says why): the
// child checks the forking thread's model after collecting and allocating
// (model.h).
//
// Seeded and reproducible: each run prints its seed. Environment:
//   GCRT_STRESS_SEED=n      the seed (default: from the clock)
//   GCRT_STRESS_SECONDS=s   run each test this long (the long run, e.g.
//                           300); default: a short fixed number of steps
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "gcrt/gc.h"
#include "gcrt/gc/barrier.h"
#include "gcrt/task.h"
#include "tests/stress/model.h"
#include "tests/test_support/verified_heap_test.h"

namespace stress {
namespace {

#if defined(GCRT_TSAN) || defined(GCRT_ASAN)
constexpr uint64_t kShortSteps = 6000;
#else
constexpr uint64_t kShortSteps = 40000;
#endif

uint64_t Seed() {
  if (const char* s = std::getenv("GCRT_STRESS_SEED")) {
    return std::strtoull(s, nullptr, 10);
  }
  return static_cast<uint64_t>(
      std::chrono::steady_clock::now().time_since_epoch().count());
}

// Forks: ten in the single-threaded run, two per threaded run (from
// thread 0, while the others mutate); rarer in the long runs.
uint64_t ForkEvery(double seconds, uint64_t short_ops, int forks) {
  return seconds > 0 ? 100000 : short_ops / forks;
}

double Seconds() {
  const char* s = std::getenv("GCRT_STRESS_SECONDS");
  return s == nullptr ? 0 : std::atof(s);
}

// Runs `model` for the short number of steps, or for GCRT_STRESS_SECONDS.
bool RunModel(Model& model, double seconds) {
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (uint64_t i = 0;; i++) {
    if (seconds > 0
            ? (i % 256 == 0 && std::chrono::steady_clock::now() >= deadline)
            : i >= kShortSteps) {
      break;
    }
    if (!model.Step()) return false;
    if (i % 2000 == 1999 && !model.CollectAndCheck()) return false;
  }
  return model.DropAllAndCheck();
}

void Report(const char* name, uint64_t seed, const Stats& s) {
  std::printf(
      "stress %s: seed=%llu ops=%llu collections=%llu objects_checked=%llu "
      "reclaimed_checked=%llu handed_over=%llu freed=%llu weak_checked=%llu "
      "finalized=%llu resurrected=%llu broods=%llu (collected inside %llu) "
      "weak_map_checked=%llu zero_checked=%llu forks=%llu num_gc=%llu\n",
      name, static_cast<unsigned long long>(seed),
      static_cast<unsigned long long>(s.ops),
      static_cast<unsigned long long>(s.collections),
      static_cast<unsigned long long>(s.objects_checked),
      static_cast<unsigned long long>(s.reclaimed_checked),
      static_cast<unsigned long long>(s.handed_over),
      static_cast<unsigned long long>(s.freed),
      static_cast<unsigned long long>(s.weak_checked),
      static_cast<unsigned long long>(s.finalized),
      static_cast<unsigned long long>(s.resurrected),
      static_cast<unsigned long long>(s.broods),
      static_cast<unsigned long long>(s.brood_collects),
      static_cast<unsigned long long>(s.weak_map_checked),
      static_cast<unsigned long long>(s.zero_checked),
      static_cast<unsigned long long>(s.forks),
      static_cast<unsigned long long>(gc::stats().num_gc));
}

// Holds each concurrent marking open (gc/marker.h's worker hook) until a
// mutator step has run while the barrier was on, or 200 ms have passed
// (the mutators may all be waiting for the cycle: in collect(), or at the
// heap goal). The coverage check "some step overlapped a marking" then
// does not depend on timing: without the hold a small marking could end
// before any mutator step landed inside it (seen under TSan, once the
// marking stopped waiting for its helper to wake).
class MarkingHeldOpen {
 public:
  MarkingHeldOpen() {
    gc::internal::SetConcurrentWorkerHookForTesting(&Hold, this);
  }
  ~MarkingHeldOpen() {
    // A cycle a mutator triggered may still be marking: collect() waits
    // for it (and runs one more), so no worker reads the hook below.
    gc::collect();
    gc::internal::SetConcurrentWorkerHookForTesting(nullptr, nullptr);
  }
  MarkingHeldOpen(const MarkingHeldOpen&) = delete;
  MarkingHeldOpen& operator=(const MarkingHeldOpen&) = delete;

  // Called by a mutator after each step.
  void Stepped() {
    if (!overlapped_.load(std::memory_order_relaxed) &&
        gc::internal::WriteBarrierOn()) {
      overlapped_.store(true, std::memory_order_relaxed);
    }
  }

 private:
  static void Hold(void* self) {
    auto* held = static_cast<MarkingHeldOpen*>(self);
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
    while (!held->overlapped_.load(std::memory_order_relaxed) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
  }

  std::atomic<bool> overlapped_{false};
};

// Steps a model for `seconds` (the long runs) or `steps`, until a check
// fails; yields every `yield_every` steps (0: never), and counts the steps
// that ran while a cycle marked. Returns whether every step passed.
bool RunSteps(Model& m, double seconds, uint64_t steps, uint64_t yield_every,
              uint64_t* marking_steps, MarkingHeldOpen* held) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (uint64_t i = 0;; i++) {
    if (seconds > 0
            ? (i % 256 == 0 && std::chrono::steady_clock::now() >= deadline)
            : i >= steps) {
      return true;
    }
    if (!m.Step()) return false;
    if (gc::internal::WriteBarrierOn()) (*marking_steps)++;
    held->Stepped();
    if (yield_every != 0 && i % yield_every == 0) gc::yield();
  }
}

class StressTest : public gc::testing::VerifiedHeapTest {
 protected:
  void SetUp() override {
    gc::set_gc_percent(100);
    VerifiedHeapTest::SetUp();
  }
};

TEST_F(StressTest, SingleThreadedShadowModel) {
  const uint64_t seed = Seed();
  std::printf("stress: seed %llu (repeat with GCRT_STRESS_SEED=%llu)\n",
              static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(seed));
  Model model(seed, nullptr);
  model.set_fork_every(ForkEvery(Seconds(), kShortSteps, 10));
  ASSERT_TRUE(RunModel(model, Seconds()))
      << model.failure() << " (seed " << seed << ")";
  Report("single-threaded", seed, model.stats());
  EXPECT_GT(model.stats().reclaimed_checked, 0u);
  EXPECT_GT(model.stats().objects_checked, 0u);
  EXPECT_GT(model.stats().freed, 0u);
  EXPECT_GT(model.stats().weak_checked, 0u);
  EXPECT_GT(model.stats().finalized, 0u);
  EXPECT_GT(model.stats().broods, 0u);
  EXPECT_GT(model.stats().brood_collects, 0u);
  EXPECT_GT(model.stats().weak_map_checked, 0u);
  EXPECT_GT(model.stats().zero_checked, 0u);
#if !defined(GCRT_TSAN) && !defined(GCRT_ASAN)
  EXPECT_GT(model.stats().forks, 0u);
#endif
  EXPECT_EQ(NonzeroAtAllocation().load(), 0u);
  EXPECT_EQ(CorruptAtDestruction().load(), 0u);
  EXPECT_EQ(CorruptAtFinalization().load(), 0u);
}

class StressThreadsTest : public StressTest,
                          public ::testing::WithParamInterface<int> {};

TEST_P(StressThreadsTest, MutatorsHandOverSubgraphsAndCollect) {
  const int threads = GetParam();
  const uint64_t seed = Seed();
  std::printf(
      "stress: seed %llu, %d threads (repeat with "
      "GCRT_STRESS_SEED=%llu; thread interleavings differ)\n",
      static_cast<unsigned long long>(seed), threads,
      static_cast<unsigned long long>(seed));
  Mailbox mailbox;
  std::vector<std::unique_ptr<Model>> models(threads);
  std::vector<uint8_t> ok(threads, 0);  // not vector<bool>: threads write apart
  std::vector<std::string> failures(threads);
  std::vector<Stats> stats(threads);
  // Steps each thread ran while a cycle was marking beside it.
  std::vector<uint64_t> marking_steps(threads, 0);
  const uint64_t concurrent_before = gc::stats().concurrent_cycles;
  MarkingHeldOpen held;
  std::barrier done(threads);
  const double seconds = Seconds();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; t++) {
    workers.emplace_back([&, t] {
      models[t] = std::make_unique<Model>(seed + t, &mailbox);
      Model& m = *models[t];
      if (t == 0) m.set_fork_every(ForkEvery(seconds, kShortSteps / 2, 2));
      bool good =
          RunSteps(m, seconds, kShortSteps / 2, 0, &marking_steps[t], &held);
      {
        gc::Blocking waiting;  // the others may collect meanwhile
        done.arrive_and_wait();
      }
      // Parcels still in transit are taken by somebody and checked.
      for (int k = 0; good && k < 1000; k++) good = m.Step();
      {
        gc::Blocking waiting;
        done.arrive_and_wait();
      }
      if (t == 0) m.ReceiveAll();  // nobody sends now: adopt what is left
      {
        gc::Blocking waiting;
        done.arrive_and_wait();
      }
      ok[t] = good && m.DropAllAndCheck();
      failures[t] = m.failure();
      stats[t] = m.stats();
      {
        gc::Blocking waiting;
        done.arrive_and_wait();
      }
      models[t].reset();  // its root set goes before the thread does
    });
  }
  {
    gc::Blocking waiting;
    for (std::thread& w : workers) w.join();
  }
  Stats total;
  for (int t = 0; t < threads; t++) {
    EXPECT_TRUE(ok[t]) << "thread " << t << ": " << failures[t] << " (seed "
                       << seed << ")";
    total.Add(stats[t]);
  }
  Report(("threads/" + std::to_string(threads)).c_str(), seed, total);
  uint64_t steps_while_marking = 0;
  for (uint64_t n : marking_steps) steps_while_marking += n;
  std::printf("stress threads/%d: %llu steps ran while a cycle marked\n",
              threads, static_cast<unsigned long long>(steps_while_marking));
  EXPECT_GT(gc::stats().concurrent_cycles, concurrent_before);
  EXPECT_GT(steps_while_marking, 0u)
      << "no mutator step overlapped a concurrent marking";
  EXPECT_GT(total.handed_over, 0u);
  EXPECT_GT(total.reclaimed_checked, 0u);
  EXPECT_GT(total.freed, 0u);
  EXPECT_GT(total.finalized, 0u);
  EXPECT_GT(total.broods, 0u);
  EXPECT_GT(total.weak_map_checked, 0u);
  EXPECT_GT(total.zero_checked, 0u);
#if !defined(GCRT_TSAN) && !defined(GCRT_ASAN)
  EXPECT_GT(total.forks, 0u);
#endif
  EXPECT_EQ(NonzeroAtAllocation().load(), 0u);
  EXPECT_EQ(CorruptAtDestruction().load(), 0u);
  EXPECT_EQ(CorruptAtFinalization().load(), 0u);
}

// The threaded harness with the mutators as tasks (api/task.h): 8 tasks on
// the scheduler's workers hand subgraphs to each other and collect while
// cycles mark beside them; each task's roots (its model's root set and
// gc::Roots) follow it from worker to worker. No forks: a forked child
// would run on a task's stack with the other workers gone.
TEST_F(StressTest, MutatorsAsTasksHandOverSubgraphsAndCollect) {
  constexpr int kTasks = 8;
  const uint64_t seed = Seed();
  std::printf(
      "stress: seed %llu, %d tasks on %u workers (repeat with "
      "GCRT_STRESS_SEED=%llu)\n",
      static_cast<unsigned long long>(seed), kTasks, gc::task_procs(),
      static_cast<unsigned long long>(seed));
  Mailbox mailbox;
  std::vector<std::unique_ptr<Model>> models(kTasks);
  std::vector<uint8_t> ok(kTasks, 0);
  std::vector<std::string> failures(kTasks);
  std::vector<Stats> stats(kTasks);
  std::vector<uint64_t> marking_steps(kTasks, 0);
  MarkingHeldOpen held;
  const double seconds = Seconds();
  // The phases' barriers: every task arrives, then waits for the others.
  gc::WaitGroup phase[4];
  for (gc::WaitGroup& p : phase) p.add(kTasks);
  auto barrier = [&](int i) {
    phase[i].done();
    phase[i].wait();
  };
  std::vector<gc::Task<void>> tasks;
  for (int t = 0; t < kTasks; t++) {
    tasks.push_back(gc::go([&, t] {
      models[t] = std::make_unique<Model>(seed + t, &mailbox);
      Model& m = *models[t];
      // Yielding every 16 steps: the tasks migrate and interleave.
      bool good =
          RunSteps(m, seconds, kShortSteps / 4, 16, &marking_steps[t], &held);
      barrier(0);
      for (int k = 0; good && k < 1000; k++) good = m.Step();
      barrier(1);
      if (t == 0) m.ReceiveAll();
      barrier(2);
      ok[t] = good && m.DropAllAndCheck();
      failures[t] = m.failure();
      stats[t] = m.stats();
      barrier(3);
      models[t].reset();
    }));
  }
  for (gc::Task<void>& t : tasks) t.join();
  Stats total;
  for (int t = 0; t < kTasks; t++) {
    EXPECT_TRUE(ok[t]) << "task " << t << ": " << failures[t] << " (seed "
                       << seed << ")";
    total.Add(stats[t]);
  }
  Report("tasks/8", seed, total);
  uint64_t steps_while_marking = 0;
  for (uint64_t n : marking_steps) steps_while_marking += n;
  EXPECT_GT(steps_while_marking, 0u)
      << "no mutator step overlapped a concurrent marking";
  EXPECT_GT(total.handed_over, 0u);
  EXPECT_GT(total.reclaimed_checked, 0u);
  EXPECT_GT(total.freed, 0u);
  EXPECT_EQ(NonzeroAtAllocation().load(), 0u);
  EXPECT_EQ(CorruptAtDestruction().load(), 0u);
  EXPECT_EQ(CorruptAtFinalization().load(), 0u);
}

// The threaded harness with the write barrier off (a test-only switch,
// gc/barrier.h): mutators that rewire the graph while a cycle marks make
// it lose objects, and the verifier (or a model check after the cycle)
// stops the run. Shows that the harness above can fail for want of the
// barrier. The child steps until that happens, at most 50 times
// kShortSteps per thread (in practice within the first 20000 steps).
[[noreturn]] void StepWithoutBarrier(int threads, uint64_t seed) {
  gc::set_verify(true);
  gc::set_gc_percent(100);
  gc::internal::SetWriteBarrierDisabledForTesting(true);
  Mailbox mailbox;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; t++) {
    workers.emplace_back([&, t] {
      auto m = std::make_unique<Model>(seed + t, &mailbox);
      for (uint64_t i = 0; i < 50 * kShortSteps; i++) {
        if (!m->Step()) {
          std::fprintf(stderr, "model check failed after %llu steps: %s\n",
                       static_cast<unsigned long long>(i),
                       m->failure().c_str());
          std::abort();
        }
      }
      gc::Blocking waiting;
      (void)m.release();  // the process exits below
    });
  }
  {
    gc::Blocking waiting;
    for (std::thread& w : workers) w.join();
  }
  std::_Exit(0);
}

TEST(StressWithoutBarrierDeathTest, RewiringWhileMarkingLosesObjects) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const uint64_t seed = Seed();
  std::printf("stress without barrier: seed %llu\n",
              static_cast<unsigned long long>(seed));
  EXPECT_DEATH(StepWithoutBarrier(4, seed),
               "is reachable but was|model check failed")
      << "seed " << seed;
}

INSTANTIATE_TEST_SUITE_P(Threads, StressThreadsTest, ::testing::Values(2, 4, 8),
                         [](const auto& info) {
                           return std::to_string(info.param) + "_threads";
                         });

}  // namespace
}  // namespace stress
