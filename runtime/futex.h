// Linux futexes on a 32-bit atomic word, for the runtime's own waits (the
// Mutex, the stop protocol's park, the task scheduler's idle workers).
// Private to the process (FUTEX_*_PRIVATE): gcrt's words are never shared
// with another process.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace gc::runtime {

// Sleeps while *word == expected, until FutexWake or `timeout` (none: no
// limit). May return early (a signal, a spurious wake-up, the word changed
// before the sleep): callers wait in a loop on the condition they need.
void FutexWait(const std::atomic<uint32_t>* word, uint32_t expected,
               const std::chrono::nanoseconds* timeout = nullptr);

// Wakes up to `n` threads sleeping on `word`.
void FutexWake(const std::atomic<uint32_t>* word, int n);

}  // namespace gc::runtime
