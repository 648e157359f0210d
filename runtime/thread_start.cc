#include "gcrt/runtime/thread_start.h"

#include <pthread.h>

namespace gc::runtime {

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
