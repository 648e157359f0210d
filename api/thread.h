// Threads that wait for each other without holding the collector up.
//
// The rule: a thread attached to the heap (it allocated, held a handle, or
// called gc::attach_thread) that blocks - joins another thread, locks a
// mutex someone else holds, waits on a condition variable, sleeps, reads a
// socket - must block inside a gc::Blocking scope. Every collection stops
// the world first, and waits for each attached thread to reach a safepoint
// (an allocation, gc::safepoint()) or a Blocking scope; a thread blocked
// outside one holds every collection up until it wakes, and the program
// hangs if what it waits for needs a collection (main joins a worker that
// allocates; a thread waits for a lock held by a thread that allocates).
// These do the waiting inside a Blocking scope:
//
//   gc::Thread t([] { ... allocate ... });  // a std::thread whose join
//   t.join();                               //   lets the world stop
//   gc::Mutex mu;                           // a std::mutex whose lock()
//   std::unique_lock lock(mu);              //   waits in a Blocking scope
//   gc::ConditionVariable cv;               // waits in one; the predicate
//   cv.wait(lock, [&] { return ready; });   //   runs outside it
//   gc::blocking([&] { read(fd, buf, n); });  // any other blocking call
//
// Inside a Blocking scope the thread must not touch the GC heap: no
// allocation (std::logic_error), no dereference of a gc::Ptr, gc::Root or
// raw pointer to a GC object (the collector may be running). What it held
// before stays alive (stack scanning, registered roots), and on leaving the
// scope the thread waits for a collection in progress to end. A thread in
// a long loop that neither allocates nor blocks calls gc::safepoint(). A
// thread that stores gc::Ptrs into GC objects must be attached
// (gc::attach_thread(), if it has not allocated or held a handle): the
// world does not stop other threads, so their stores can miss the write
// barrier of a marking (debug builds stop the program at such a store).
//
// What the watchdog prints. When a stop of the world has waited longer than
// GCRT_STW_WATCHDOG_MS (1 s by default) for a thread, gcrt names the thread
// on stderr: once per stop with its stack (sampled with a signal gcrt
// reserves, SIGRTMIN + 6: see runtime/backtrace.h), then one line per
// period while it still holds the stop up. A main that joins a worker with
// a plain std::thread::join(), while the worker collects:
//
//   gcrt: stop-the-world (garbage collection) has waited 1000 ms for
//         processor 0, held by thread 8516 "server": it has not reached a
//         safepoint. Its stack:
//   gcrt:   #0  ??  [libc.so.6+0x85f14]
//   gcrt:   #1  ??  [libc.so.6+0x8ace3]
//   gcrt:   #2  std::thread::join()+0x17  [libstdc++.so.6+0xd4517]
//   gcrt:   #3  RunWorkers(std::thread&)+0x9  [server+0x162d9]
//   gcrt:   #4  main+0x7e  [server+0x1664e]
//   gcrt: a thread that waits (a join, a lock, a condition variable, a
//         sleep, I/O) must wait inside a gc::Blocking scope, ...
//   gcrt: stop-the-world (garbage collection) has waited 2000 ms for
//         processor 0, held by thread 8516 "server": it has not reached a
//         safepoint (reported above)
//
// (One line each; wrapped here.) Names come from the binary's symbol
// table, -rdynamic or not; "??" is a function of a stripped library, and
// [module+0xoffset] is what `addr2line -f -C -e module 0xoffset` takes. The
// first frame of the program's own code (#3 here) is the wait to wrap: a
// join in gc::Thread, a lock in gc::Mutex, a wait in gc::ConditionVariable,
// anything else in gc::blocking. Name threads (gc::ThreadName, or
// pthread_setname_np) to tell them apart in the report.
#pragma once

#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>

#include "gcrt/internal/handles.h"
#include "gcrt/internal/safepoint.h"
#include "gcrt/runtime/base.h"

namespace gc {

// Runs f() inside a gc::Blocking scope and returns what it returns.
template <typename F>
decltype(auto) blocking(F&& f) {
  runtime::BlockingRegion region;
  return std::forward<F>(f)();
}

// A name for a gc::Thread: the new thread sets it (pthread_setname_np) before
// it runs its function. Names longer than 15 characters are cut.
struct ThreadName {
  const char* name;
};

// A std::thread whose join (and destructor, which joins a joinable thread
// rather than terminating the program) waits inside a blocking region.
class Thread {
 public:
  Thread() noexcept = default;
  // A gc::Ptr (or raw pointer) f captures by value, or that is an
  // argument, keeps its object until f returns, although std::thread keeps
  // the callable in C++ heap memory: a root set scans the closure and the
  // arguments conservatively (not what a captured container holds), when
  // the creating thread is attached (one that is not cannot hold a
  // gc::Ptr safely anyway).
  template <typename F, typename... Args>
  requires(!std::is_same_v<std::remove_cvref_t<F>, Thread> &&
           !std::is_same_v<std::remove_cvref_t<F>,
                           ThreadName>) explicit Thread(F&& f, Args&&... args)
      : Thread(ThreadName{nullptr}, std::forward<F>(f),
               std::forward<Args>(args)...) {}
  // The same, with a name the thread gives itself first (the watchdog
  // prints it).
  template <typename F, typename... Args>
  explicit Thread(ThreadName name, F&& f, Args&&... args) {
    using Start = ThreadStart<std::decay_t<F>, std::decay_t<Args>...>;
    auto start = std::make_unique<Start>(std::forward<F>(f),
                                         std::forward<Args>(args)...);
    thread_ = std::thread(
        [name = Truncate(name.name), start = std::move(start)]() mutable {
          if (name.chars[0] != '\0') {
            pthread_setname_np(pthread_self(), name.chars);
          }
          start->Run();
          start.reset();  // captures die on this thread, as std::thread's
        });
  }
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
  struct ShortName {
    char chars[16];
  };
  static ShortName Truncate(const char* name) {
    ShortName s{};
    if (name != nullptr) std::memcpy(s.chars, name, strnlen(name, 15));
    return s;
  }

  // A gc::Thread's callable and arguments, in C++ heap memory from before
  // the thread starts until its function returns, registered as a root set
  // that scans them conservatively (only words that point into live GC
  // objects count). Never copied or moved: the registry holds its address.
  template <typename F, typename... Args>
  class ThreadStart {
   public:
    template <typename G, typename... A>
    explicit ThreadStart(G&& f, A&&... args)
        : f_(std::forward<G>(f)), args_(std::forward<A>(args)...) {
      if (runtime::CurrentProcessor() != nullptr) {
        record_.trace = &Trace;
        record_.context = this;
        record_.what =
            "the function object or arguments of a gc::Thread (scanned "
            "conservatively until the function returns)";
        internal::RegisterRootSet(&record_);
      }
    }
    ~ThreadStart() {
      if (record_.trace != nullptr) internal::UnregisterRootSet(&record_);
    }
    ThreadStart(const ThreadStart&) = delete;
    ThreadStart& operator=(const ThreadStart&) = delete;

    void Run() {
      std::apply(
          [this](Args&... args) {
            std::invoke(std::move(f_), std::move(args)...);
          },
          args_);
    }

   private:
    static void Trace(void* self, Tracer& tracer) {
      auto* start = static_cast<ThreadStart*>(self);
      tracer.VisitConservative(&start->f_, sizeof(F));
      tracer.VisitConservative(&start->args_, sizeof(args_));
    }

    internal::RootSetRecord record_{};
    F f_;
    std::tuple<Args...> args_;
  };

  std::thread thread_;
};

// A std::mutex whose lock() waits inside a blocking region when the mutex is
// taken: a thread waiting for it does not hold collections up, so the
// holder may allocate (and collect) while it holds it. The uncontended
// path is std::mutex's try_lock and nothing else. Lockable: use it with
// std::unique_lock, std::lock_guard, std::scoped_lock and
// gc::ConditionVariable.
//
// A lock() that has to wait returns, like any Blocking scope, only once a
// collection in progress has ended (it then holds the mutex meanwhile).
// Inside the destructor gc::free runs, where the world may not stop, a
// lock() that has to wait throws std::logic_error, as gc::Blocking does.
class GCRT_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() GCRT_ACQUIRE() {
    if (GCRT_PREDICT_FALSE(!mu_.try_lock())) LockSlow();
  }
  bool try_lock() GCRT_TRY_ACQUIRE(true) { return mu_.try_lock(); }
  void unlock() GCRT_RELEASE() { mu_.unlock(); }
  // The mutex itself (for std::condition_variable and the like, whose waits
  // are then the caller's to put inside gc::blocking).
  std::mutex& native() noexcept { return mu_; }

 private:
  GCRT_NOINLINE void LockSlow() GCRT_NO_THREAD_SAFETY_ANALYSIS {
    blocking([&] { mu_.lock(); });
  }

  std::mutex mu_;
};

// A condition variable for std::unique_lock<gc::Mutex> whose waits block
// inside a blocking region (a std::condition_variable on the gc::Mutex's
// std::mutex: one futex, and the wake-up re-locks the mutex inside the
// region too, so contention there does not hold collections up either).
// The predicate versions run the predicate outside the region, with the
// lock held, so it may read GC objects: each turn leaves the region, tests
// the predicate, and enters the region again to wait.
class ConditionVariable {
 public:
  ConditionVariable() = default;
  ConditionVariable(const ConditionVariable&) = delete;
  ConditionVariable& operator=(const ConditionVariable&) = delete;

  void notify_one() noexcept { cv_.notify_one(); }
  void notify_all() noexcept { cv_.notify_all(); }

  void wait(std::unique_lock<Mutex>& lock) {
    Adopted native(lock);
    blocking([&] { cv_.wait(native.lock); });
  }
  template <typename Predicate>
  void wait(std::unique_lock<Mutex>& lock, Predicate pred) {
    while (!pred()) wait(lock);
  }

  template <typename Clock, typename Duration>
  std::cv_status wait_until(
      std::unique_lock<Mutex>& lock,
      const std::chrono::time_point<Clock, Duration>& deadline) {
    Adopted native(lock);
    return blocking([&] { return cv_.wait_until(native.lock, deadline); });
  }
  template <typename Clock, typename Duration, typename Predicate>
  bool wait_until(std::unique_lock<Mutex>& lock,
                  const std::chrono::time_point<Clock, Duration>& deadline,
                  Predicate pred) {
    while (!pred()) {
      if (wait_until(lock, deadline) == std::cv_status::timeout) return pred();
    }
    return true;
  }

  template <typename Rep, typename Period>
  std::cv_status wait_for(std::unique_lock<Mutex>& lock,
                          const std::chrono::duration<Rep, Period>& timeout) {
    return wait_until(lock, Deadline(timeout));
  }
  template <typename Rep, typename Period, typename Predicate>
  bool wait_for(std::unique_lock<Mutex>& lock,
                const std::chrono::duration<Rep, Period>& timeout,
                Predicate pred) {
    return wait_until(lock, Deadline(timeout), std::move(pred));
  }

 private:
  // The std::mutex of a held unique_lock<gc::Mutex>, as the
  // std::unique_lock<std::mutex> that std::condition_variable waits with;
  // it gives the mutex back to `lock` (held) when it goes.
  struct Adopted {
    explicit Adopted(std::unique_lock<Mutex>& held) {
      if (!held.owns_lock()) {
        throw std::system_error(
            std::make_error_code(std::errc::operation_not_permitted),
            "gc::ConditionVariable: wait without holding the lock");
      }
      lock =
          std::unique_lock<std::mutex>(held.mutex()->native(), std::adopt_lock);
    }
    ~Adopted() { lock.release(); }
    std::unique_lock<std::mutex> lock;
  };

  // A timeout from now, on the steady clock (as libstdc++'s wait_for).
  template <typename Rep, typename Period>
  static std::chrono::steady_clock::time_point Deadline(
      const std::chrono::duration<Rep, Period>& timeout) {
    return std::chrono::steady_clock::now() +
           std::chrono::ceil<std::chrono::steady_clock::duration>(timeout);
  }

  std::condition_variable cv_;
};

}  // namespace gc
