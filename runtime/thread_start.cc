#include "gcrt/runtime/thread_start.h"

#include <pthread.h>

#include <atomic>

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
  pthread_sigmask(SIG_BLOCK, &blocked, &saved_);
}

InternalThreadSignalMask::~InternalThreadSignalMask() {
  pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
}

}  // namespace gc::runtime
