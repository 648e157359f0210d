// See futex.h.
#include "gcrt/runtime/futex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace gc::runtime {

// The kernel reads the word as a plain uint32_t; std::atomic<uint32_t> has
// its layout (checked below), and the kernel's compare is atomic.
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));

void FutexWait(const std::atomic<uint32_t>* word, uint32_t expected,
               const std::chrono::nanoseconds* timeout) {
  timespec ts;
  if (timeout != nullptr) {
    const int64_t ns = timeout->count() > 0 ? timeout->count() : 0;
    ts.tv_sec = static_cast<time_t>(ns / 1000000000);
    ts.tv_nsec = static_cast<long>(ns % 1000000000);
  }
  ::syscall(SYS_futex, reinterpret_cast<const uint32_t*>(word),
            FUTEX_WAIT_PRIVATE, expected, timeout != nullptr ? &ts : nullptr,
            nullptr, 0);
}

void FutexWake(const std::atomic<uint32_t>* word, int n) {
  ::syscall(SYS_futex, reinterpret_cast<const uint32_t*>(word),
            FUTEX_WAKE_PRIVATE, n, nullptr, nullptr, 0);
}

}  // namespace gc::runtime
