#include "gcrt/runtime/thread_start.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>

#include "gcrt/runtime/backtrace.h"

namespace gc::runtime {

namespace {
std::atomic<bool> g_refuse_thread_starts{false};
}  // namespace

void RefuseThreadStartsForTesting(bool refuse) {
  g_refuse_thread_starts.store(refuse, std::memory_order_relaxed);
}

bool ThreadStartsRefusedForTesting() {
  return g_refuse_thread_starts.load(std::memory_order_relaxed);
}

InternalThreadSignalMask::InternalThreadSignalMask() {
  sigset_t blocked;
  sigfillset(&blocked);
  for (int sig :
       {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT, SIGPROF}) {
    sigdelset(&blocked, sig);
  }
  // gcrt's own stack-sampling signal (runtime/backtrace.h): the stop
  // watchdog samples the thread that holds a stop up, and a task worker,
  // the finalizer thread or the sweeper run the program's code (a task, a
  // finalizer, a destructor) that may be the one.
  sigdelset(&blocked, BacktraceSignal());
  pthread_sigmask(SIG_BLOCK, &blocked, &saved_);
}

InternalThreadSignalMask::~InternalThreadSignalMask() {
  pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
}

}  // namespace gc::runtime
