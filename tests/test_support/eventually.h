// Bounded waits for tests of concurrent behaviour: a test that waits for
// another thread fails after a limit instead of hanging CI.
#pragma once

#include <chrono>
#include <thread>

namespace gc::testing {

// Waits until pred() holds, polling every millisecond; returns false if it
// did not within `limit`.
template <typename Pred>
bool Eventually(Pred pred,
                std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace gc::testing
