// Starting gcrt's own threads: the background collector, the sweeper, the
// scavenger, the finalizer thread, mark helpers, task workers and their
// monitor.
//
// They start with every asynchronous signal blocked (Boehm GC's marker
// threads do the same), so a signal sent to the process (SIGALRM of a
// timer, SIGINT, SIGCHLD, SIGUSR1) runs the program's handler on one of
// the program's own threads, never on one of gcrt's, which a handler does
// not expect and whose locks it could not know about. Left unblocked: the
// signals a fault raises in the thread itself (SIGSEGV, SIGBUS, SIGFPE,
// SIGILL, SIGTRAP, SIGSYS, SIGABRT), and SIGPROF, so that a sampling
// profiler still sees the collector's time.
//
// A system that refuses a thread (EAGAIN: a thread or address-space limit,
// `ulimit -v`) or the memory for one does not throw from here: each caller
// decides what to do without it (run the cycle on the allocating thread,
// mark with fewer helpers, try again at the next cycle), since an
// exception out of a collection's slow path would leave the state that
// started the thread half set.
#pragma once

#include <signal.h>

#include <exception>
#include <new>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

namespace gc::runtime {

// Blocks the asynchronous signals in the calling thread for its lifetime,
// restoring its mask after: a thread started meanwhile inherits the mask.
class InternalThreadSignalMask {
 public:
  InternalThreadSignalMask();
  ~InternalThreadSignalMask();
  InternalThreadSignalMask(const InternalThreadSignalMask&) = delete;
  InternalThreadSignalMask& operator=(const InternalThreadSignalMask&) = delete;

 private:
  sigset_t saved_;
};

// Tests: while set, StartDetachedThread refuses every thread, as a system
// at its thread limit does.
void RefuseThreadStartsForTesting(bool refuse);
bool ThreadStartsRefusedForTesting();

// Starts a detached thread running fn(), with the asynchronous signals
// blocked. Returns whether it started; if not, and `why` is not null, *why
// says what the system answered.
template <typename Fn>
bool StartDetachedThread(Fn&& fn, std::string* why = nullptr) noexcept {
  if (ThreadStartsRefusedForTesting()) {
    if (why != nullptr) *why = "refused by RefuseThreadStartsForTesting";
    return false;
  }
  InternalThreadSignalMask mask;
  try {
    std::thread(std::forward<Fn>(fn)).detach();
    return true;
  } catch (const std::system_error& e) {
    if (why != nullptr) *why = e.what();
  } catch (const std::bad_alloc&) {
    if (why != nullptr) *why = "out of memory";
  }
  return false;
}

}  // namespace gc::runtime
