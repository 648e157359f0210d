// Threads that wait for each other without holding the collector up.
//
// A thread that blocks - joins another, waits on a mutex or a condition
// variable, sleeps, reads a socket - outside a gc::Blocking scope holds
// every stop of the world up until it wakes: the program hangs if what it
// waits for needs a collection (a worker that allocates while main joins
// it). These do the waiting inside a Blocking scope:
//
//   gc::Thread t([] { ... allocate ... });  // std::thread, and its join
//   t.join();                               // lets the world stop
//   gc::blocking([&] { cv.wait(lock); });   // any blocking call
//
// Inside the scope the thread must not touch the GC heap (api/gc.h);
// what it held before stays alive (stack scanning, registered roots).
#pragma once

#include <thread>
#include <type_traits>
#include <utility>

#include "api/internal/safepoint.h"

namespace gc {

// Runs f() inside a gc::Blocking scope and returns what it returns.
template <typename F>
decltype(auto) blocking(F&& f) {
  runtime::BlockingRegion region;
  return std::forward<F>(f)();
}

// A std::thread whose join (and destructor, which joins a joinable thread
// rather than terminating the program) waits inside a blocking region.
class Thread {
 public:
  Thread() noexcept = default;
  template <typename F, typename... Args>
  requires(!std::is_same_v<std::remove_cvref_t<F>, Thread>) explicit Thread(
      F&& f, Args&&... args)
      : thread_(std::forward<F>(f), std::forward<Args>(args)...) {}
  Thread(Thread&&) noexcept = default;
  Thread& operator=(Thread&& other) noexcept {
    if (thread_.joinable()) join();
    thread_ = std::move(other.thread_);
    return *this;
  }
  ~Thread() {
    if (thread_.joinable()) join();
  }

  void join() {
    blocking([&] { thread_.join(); });
  }
  void detach() { thread_.detach(); }
  bool joinable() const noexcept { return thread_.joinable(); }
  std::thread::id get_id() const noexcept { return thread_.get_id(); }
  std::thread& native() noexcept { return thread_; }

 private:
  std::thread thread_;
};

}  // namespace gc
