// A small lock for the allocator's short critical sections (Central lists,
// the page heap, gcBits arenas), after Go's lock_futex.go: spin a little
// with a CPU pause, then sleep on a futex. std::mutex goes to sleep at once
// on contention, and a sleep/wake pair costs microseconds, far more than
// these sections hold the lock; two threads refilling at the same time then
// spend their time in the kernel.
//
// State: 0 unlocked, 1 locked, 2 locked with possible sleepers (Drepper's
// "Futexes are tricky", mutex 2). Satisfies Lockable, so std::lock_guard,
// std::unique_lock and std::condition_variable_any work with it.
#pragma once

#include <atomic>
#include <cstdint>

#include "runtime/base.h"

namespace gc::runtime {

class Mutex {
 public:
  constexpr Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() {
    uint32_t expected = 0;
    if (GCRT_PREDICT_TRUE(state_.compare_exchange_strong(
            expected, 1, std::memory_order_acquire,
            std::memory_order_relaxed))) {
      return;
    }
    LockSlow();
  }
  bool try_lock() {
    uint32_t expected = 0;
    return state_.compare_exchange_strong(
        expected, 1, std::memory_order_acquire, std::memory_order_relaxed);
  }
  void unlock() {
    if (GCRT_PREDICT_FALSE(state_.exchange(0, std::memory_order_release) ==
                           2)) {
      Wake();
    }
  }

 private:
  GCRT_NOINLINE void LockSlow();
  GCRT_NOINLINE void Wake();

  // Atomic: acquired by CAS/exchange (acquire), released by exchange
  // (release); see the state table above.
  std::atomic<uint32_t> state_{0};
};

}  // namespace gc::runtime
