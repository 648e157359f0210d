// See task_stack.h.
#include "gcrt/runtime/task_stack.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "gcrt/runtime/check.h"

#if defined(GCRT_ASAN)
#include <sanitizer/asan_interface.h>
#endif
#include "gcrt/runtime/mutex.h"
#include "gcrt/runtime/os_mem.h"

namespace gc::runtime {

namespace {

struct StackPool {
  // Room for every stack the pool keeps: giving a stack back allocates
  // nothing. It runs where an allocation could not fail cleanly (a task's
  // end, in Boost.Context's noexcept deallocate, on a worker), and when
  // memory is short, since tasks ending is how a program recovers.
  StackPool() { free.reserve(kMaxPooledStacks); }

  Mutex mu;  // lock rank 30: a leaf
  std::vector<TaskStack> free GCRT_GUARDED_BY(mu);
};

StackPool& Pool() {
  static StackPool* pool = new StackPool();  // never destroyed
  return *pool;
}

// Atomic: relaxed counts, for tests.
std::atomic<size_t> g_mapped{0};

[[noreturn]] void ThrowNoStack(size_t bytes, int error) {
  throw OutOfMemoryError(
      "gcrt: cannot map a stack for a new task (" + std::to_string(bytes) +
      " bytes and a guard region): " + std::strerror(error) + "; tasks alive " +
      "or pooled: " + std::to_string(g_mapped.load(std::memory_order_relaxed)) +
      ". Each task's stack is two mappings of its own, so the system's "
      "limits (vm.max_map_count, RLIMIT_AS, memory) bound how many tasks "
      "exist at once: start fewer at a time (from tasks that wait for "
      "them), or make stacks smaller (GCRT_TASK_STACK_KB)");
}

}  // namespace

TaskStack AcquireTaskStack(size_t bytes) {
  StackPool& pool = Pool();
  {
    MutexLock lock(&pool.mu);
    for (size_t i = pool.free.size(); i-- > 0;) {
      if (pool.free[i].bytes() == bytes) {
        TaskStack s = pool.free[i];
        pool.free[i] = pool.free.back();
        pool.free.pop_back();
#if defined(GCRT_ASAN)
        // Frames a task left behind (it ended without returning from
        // them) leave their redzones poisoned.
        __asan_unpoison_memory_region(reinterpret_cast<void*>(s.lo), s.bytes());
#endif
        return s;
      }
    }
  }
  const size_t guard = kTaskStackGuardBytes;
  void* p = mmap(nullptr, bytes + guard, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) ThrowNoStack(bytes, errno);
  if (mprotect(p, guard, PROT_NONE) != 0) {
    const int error = errno;
    munmap(p, bytes + guard);
    ThrowNoStack(bytes, error);
  }
  g_mapped.fetch_add(1, std::memory_order_relaxed);
  const auto lo = reinterpret_cast<uintptr_t>(p) + guard;
  return TaskStack{lo, lo + bytes};
}

void ReleaseTaskStack(TaskStack s) {
  StackPool& pool = Pool();
  {
    MutexLock lock(&pool.mu);
    if (pool.free.size() < kMaxPooledStacks) {
      pool.free.push_back(s);
      return;
    }
  }
  const size_t guard = kTaskStackGuardBytes;
  GCRT_CHECK(munmap(reinterpret_cast<void*>(s.lo - guard), s.bytes() + guard) ==
             0);
  g_mapped.fetch_sub(1, std::memory_order_relaxed);
}

size_t MappedTaskStacks() { return g_mapped.load(std::memory_order_relaxed); }

}  // namespace gc::runtime
