// gcrt's lock, after Go's lock_futex.go: spin a little with a CPU pause,
// then sleep on a futex. Made for the allocator's short critical sections
// (Central lists, the page heap, gcBits arenas): std::mutex goes to sleep
// at once on contention, and a sleep/wake pair costs microseconds, far more
// than these sections hold the lock; two threads refilling at the same time
// then spend their time in the kernel.
//
// State: 0 unlocked, 1 locked, 2 locked with possible sleepers (Drepper's
// "Futexes are tricky", mutex 2).
//
// Every lock of gcrt is a Mutex, a capability for Clang's -Wthread-safety
// (runtime/base.h): take it with a MutexLock (or lock()/unlock() where a
// lock outlives a scope, as across fork), wait with a CondVar, and mark
// what it guards with GCRT_GUARDED_BY. runtime/lock_order.h lists every
// lock and the order in which they nest. The stopped world is a capability
// too (kWorldStopped, below). Mutex satisfies Lockable (for
// std::condition_variable_any, under CondVar); std::lock_guard and
// std::unique_lock work too, but the analysis cannot see what they hold.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <new>

#include "gcrt/runtime/base.h"
#include "gcrt/runtime/check.h"

namespace gc::runtime {

// One round of a spin-wait: tells the core that this thread is waiting, so
// that it yields to its sibling hyperthread and leaves the loop cheaply.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

class GCRT_CAPABILITY("mutex") Mutex {
 public:
  constexpr Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() GCRT_ACQUIRE() {
    uint32_t expected = 0;
    if (GCRT_PREDICT_TRUE(state_.compare_exchange_strong(
            expected, 1, std::memory_order_acquire,
            std::memory_order_relaxed))) {
      return;
    }
    LockSlow();
  }
  bool try_lock() GCRT_TRY_ACQUIRE(true) {
    uint32_t expected = 0;
    return state_.compare_exchange_strong(
        expected, 1, std::memory_order_acquire, std::memory_order_relaxed);
  }
  void unlock() GCRT_RELEASE() {
    if (GCRT_PREDICT_FALSE(state_.exchange(0, std::memory_order_release) ==
                           2)) {
      Wake();
    }
  }

  // Tells the analysis that the caller holds the lock where it cannot see
  // the acquisition (a callback run under the lock). Debug builds
  // (GCRT_DEBUG_LEVEL >= 1) check that the lock is held, but not by whom:
  // the lock records no owner (that would cost its fast paths a
  // thread-id store), so a caller that does not hold it while another
  // thread does goes unseen.
  void AssertHeld() const GCRT_ASSERT_CAPABILITY(this) {
    GCRT_DCHECK(state_.load(std::memory_order_relaxed) != 0 &&
                "the mutex is held");
  }

 private:
  GCRT_NOINLINE void LockSlow();
  GCRT_NOINLINE void Wake();

  // Atomic: acquired by CAS/exchange (acquire), released by exchange
  // (release); see the state table above.
  std::atomic<uint32_t> state_{0};
};

// The stopped world (runtime/safepoint.h) as a capability: a token with no
// state, which StopTheWorld acquires and StartTheWorld releases. Functions
// that need the world stopped say GCRT_REQUIRES(kWorldStopped): the
// collector's marking and mark termination, and what they call. Not a
// lock: nothing waits for it, but only one thread at a time holds it (stops
// are serialized), and it comes before every lock (runtime/lock_order.h).
class GCRT_CAPABILITY("stopped world") WorldStopped {};
inline constexpr WorldStopped kWorldStopped{};

// Holds a Mutex for its scope (Abseil's MutexLock). Unlock() and Lock()
// release and retake it within the scope, as std::unique_lock does; the
// destructor releases it only if held.
class GCRT_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) GCRT_ACQUIRE(mu) : mu_(mu) { mu_->lock(); }
  ~MutexLock() GCRT_RELEASE() {
    if (locked_) mu_->unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Lock() GCRT_ACQUIRE() {
    mu_->lock();
    locked_ = true;
  }
  void Unlock() GCRT_RELEASE() {
    locked_ = false;
    mu_->unlock();
  }

 private:
  Mutex* const mu_;
  bool locked_ = true;  // Owned by the holding thread.
};

// Releases a held Mutex for its scope and takes it back at the end, also
// when an exception leaves the scope: for calls out of a `*Locked`
// function that must not run under the lock (Chromium's AutoUnlock).
class GCRT_SCOPED_CAPABILITY MutexUnlock {
 public:
  explicit MutexUnlock(Mutex* mu) GCRT_RELEASE(mu) : mu_(mu) { mu_->unlock(); }
  ~MutexUnlock() GCRT_RELEASE() { mu_->lock(); }
  MutexUnlock(const MutexUnlock&) = delete;
  MutexUnlock& operator=(const MutexUnlock&) = delete;

 private:
  Mutex* const mu_;
};

// A condition variable for a Mutex (std::condition_variable_any). Waits
// need the lock held; they release it while asleep and hold it again when
// they return. Wake-ups may be spurious, so wait in a loop on the
// condition, written out at the call site where the analysis sees the
// guarded fields it reads under the lock:
//   while (!ready_) cv_.Wait(&mu_);
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  void Wait(Mutex* mu) GCRT_REQUIRES(mu) { cv_.wait(*mu); }
  // False if it returned because `deadline` passed.
  template <typename Clock, typename Duration>
  bool WaitUntil(Mutex* mu,
                 const std::chrono::time_point<Clock, Duration>& deadline)
      GCRT_REQUIRES(mu) {
    return cv_.wait_until(*mu, deadline) == std::cv_status::no_timeout;
  }
  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

  // In the child of a fork: threads that waited here in the parent do not
  // exist, and may have left the variable's internal state taken. Makes it
  // anew; the old state is leaked (its lock may be held for ever).
  void ResetAfterFork() { new (&cv_) std::condition_variable_any(); }

 private:
  std::condition_variable_any cv_;
};

}  // namespace gc::runtime
