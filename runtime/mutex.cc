// See mutex.h.
#include "gcrt/runtime/mutex.h"

#include <sched.h>

#include "gcrt/runtime/futex.h"

namespace gc::runtime {

namespace {

// Go's lock_futex.go: a few rounds of 30 pauses (a holder on another core
// is likely out within ~100 ns a round), one yield of the CPU (a holder
// the OS preempted may run), then sleep. Longer spinning costs more than it
// saves when threads outnumber cores: on 2 cores a waiter spinning 64
// rounds of up to 64 pauses each burned ~18 ms of GCBench's 310 on the
// mark helper's wake-up, with the lock's holder waiting for that core.
constexpr int kActiveSpins = 4;
constexpr int kActiveSpinPauses = 30;
constexpr int kPassiveSpins = 1;

}  // namespace

void Mutex::LockSlow() {
  // Spin while the holder is likely running on another core.
  for (int i = 0; i < kActiveSpins + kPassiveSpins; i++) {
    uint32_t expected = 0;
    while (state_.load(std::memory_order_relaxed) == 0) {
      if (state_.compare_exchange_weak(expected, 1, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return;
      }
      expected = 0;
    }
    if (i < kActiveSpins) {
      for (int k = 0; k < kActiveSpinPauses; k++) CpuRelax();
    } else {
      sched_yield();
    }
  }
  // Sleep. Marking the lock 2 makes its unlock wake a sleeper.
  while (state_.exchange(2, std::memory_order_acquire) != 0) {
    FutexWait(&state_, 2);
  }
}

void Mutex::Wake() { FutexWake(&state_, 1); }

}  // namespace gc::runtime
