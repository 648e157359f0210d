// See mutex.h.
#include "runtime/mutex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace gc::runtime {

namespace {

constexpr int kActiveSpins = 64;

void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

void Mutex::LockSlow() {
  // Spin while the holder is likely running on another core.
  for (int i = 0; i < kActiveSpins; i++) {
    uint32_t s = state_.load(std::memory_order_relaxed);
    if (s == 0) {
      uint32_t expected = 0;
      if (state_.compare_exchange_weak(expected, 1, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return;
      }
    }
    for (int k = 0; k < (1 << (i < 6 ? i : 6)); k++) CpuRelax();
  }
  // Sleep. Marking the lock 2 makes its unlock wake a sleeper.
  while (state_.exchange(2, std::memory_order_acquire) != 0) {
    ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&state_),
              FUTEX_WAIT_PRIVATE, 2, nullptr, nullptr, 0);
  }
}

void Mutex::Wake() {
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&state_), FUTEX_WAKE_PRIVATE,
            1, nullptr, nullptr, 0);
}

}  // namespace gc::runtime
