// Tasks when memory runs out: gc::go fails cleanly, losing nothing, and
// tasks already started end and are joined without allocating. This binary
// replaces the global operator new and wraps malloc (linked with
// -Wl,--wrap=malloc, which reaches gcrt's metadata: its objects are linked
// statically) so that a test can make allocation fail on demand: for one
// thread after a budget of allocations, or for every thread at once.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

#include "gcrt/runtime/task.h"
#include "gcrt/runtime/task_stack.h"
#include "gcrt/task.h"

namespace {

// Every thread's operator new fails while set.
std::atomic<bool> g_refuse_new{false};
// The calling thread's operator new succeeds this many more times, then
// fails; negative: no budget.
thread_local long t_new_budget = -1;

bool NewRefused() {
  if (g_refuse_new.load(std::memory_order_relaxed)) return true;
  if (t_new_budget < 0) return false;
  if (t_new_budget == 0) return true;
  t_new_budget--;
  return false;
}

}  // namespace

extern "C" void* __real_malloc(std::size_t n);
extern "C" void* __wrap_malloc(std::size_t n) {
  return NewRefused() ? nullptr : __real_malloc(n);
}

namespace {

void* Allocate(std::size_t n) { return __wrap_malloc(n == 0 ? 1 : n); }

}  // namespace

void* operator new(std::size_t n) {
  if (void* p = Allocate(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = Allocate(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return Allocate(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return Allocate(n);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}

namespace {

// gc::go fails at each of its allocations in turn (the task's shared
// state, then the runtime's task record after its stack is taken): each failure
// throws std::bad_alloc and leaves no task started and no stack taken. A stack
// taken before a later allocation failed goes back to the pool, so the
// count of mapped stacks does not grow however often gc::go fails.
TEST(TaskMemoryTest, GoFailingAtAnyAllocationLeavesNothingBehind) {
  EXPECT_EQ(gc::go([] { return 1; }).join(), 1);  // workers, pooled stack
  const size_t mapped = gc::runtime::MappedTaskStacks();
  const uint64_t started = gc::runtime::GetSchedulerStats().tasks_started;
  long budget = 0;
  for (;; budget++) {
    ASSERT_LT(budget, 64) << "gc::go still fails with this many allocations";
    bool threw = false;
    for (int attempt = 0; attempt < 20; attempt++) {
      t_new_budget = budget;
      try {
        gc::Task<int> t = gc::go([] { return 2; });
        t_new_budget = -1;
        EXPECT_EQ(t.join(), 2);
        break;
      } catch (const std::bad_alloc&) {
        t_new_budget = -1;
        threw = true;
      }
      ASSERT_EQ(gc::runtime::MappedTaskStacks(), mapped)
          << "a gc::go that failed after " << budget
          << " allocations kept a task stack";
      ASSERT_EQ(gc::runtime::GetSchedulerStats().tasks_started, started)
          << "a gc::go that failed after " << budget
          << " allocations started a task";
    }
    if (!threw) break;
  }
  // The first allocation (the task's shared state) fails without taking a
  // stack; at least one later one (the runtime's record) comes after it.
  EXPECT_GE(budget, 2);
}

// More tasks alive at once than the system lets gcrt map stacks for get a
// clear error from gc::go (in a fresh process, under an address-space
// limit), and the tasks already started are unharmed: they end, and are
// joined, with every operator new failing, since a task that ends gives
// its stack back to the pool, which must not allocate (an allocation
// failing there, in a worker, would end the program). Not under the
// sanitizers: their own allocators fail first under such a limit.
#if !defined(GCRT_TSAN) && !defined(GCRT_ASAN)
TEST(TaskMemoryDeathTest, RunningOutOfTaskStacksIsAClearError) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        gc::Channel<int> hold;
        gc::go([] {}).join();  // the workers exist
        long pages = 0;
        FILE* f = std::fopen("/proc/self/statm", "r");
        if (f == nullptr || std::fscanf(f, "%ld", &pages) != 1) std::_Exit(3);
        std::fclose(f);
        rlimit limit{};
        limit.rlim_cur = limit.rlim_max =
            static_cast<rlim_t>(pages) * 4096 + (rlim_t{256} << 20);
        if (setrlimit(RLIMIT_AS, &limit) != 0) std::_Exit(4);
        std::vector<gc::Task<int>> waiting;
        waiting.reserve(100000);
        try {
          for (int i = 0; i < 100000; i++) {
            waiting.push_back(gc::go([&hold] { return *hold.recv(); }));
          }
        } catch (const std::bad_alloc& e) {
          std::fprintf(stderr, "%s\n", e.what());
          g_refuse_new.store(true);  // and malloc
          const size_t n = waiting.size();
          for (size_t i = 0; i < n; i++) hold.send(7);
          for (auto& t : waiting) {
            if (t.join() != 7) std::_Exit(5);
          }
          std::_Exit(n > 10 ? 0 : 6);
        }
        std::_Exit(7);
      },
      ::testing::ExitedWithCode(0),
      "gcrt: cannot map a stack for a new task .*tasks alive");
}
#endif

}  // namespace
