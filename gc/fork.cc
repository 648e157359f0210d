// See fork.h.
#include "gcrt/gc/fork.h"

#include <pthread.h>

#include <mutex>

#include "gcrt/alloc/heap.h"
#include "gcrt/gc/census_signal.h"
#include "gcrt/gc/collector.h"
#include "gcrt/gc/finalizer.h"
#include "gcrt/gc/heap_profile.h"
#include "gcrt/gc/marker.h"
#include "gcrt/gc/quarantine.h"
#include "gcrt/gc/roots.h"
#include "gcrt/gc/sweeper.h"
#include "gcrt/gc/weak.h"
#include "gcrt/runtime/check.h"
#include "gcrt/runtime/safepoint.h"

namespace gc::internal {

namespace {

// Whether prepare took the world and the locks: per thread, since two
// threads may fork at once (one from a state prepare refuses). Owned by
// the forking thread from prepare to its parent's or child's handler.
thread_local bool g_prepared = false;

// Prepare, UnlockAll, Parent and Child are not analysed: prepare takes the
// stopped world and every lock (in lock order, runtime/lock_order.h), and
// the parent's or child's handler gives them back, across functions
// (pthread_atfork) and only if prepare took them (g_prepared).
void Prepare() GCRT_NO_THREAD_SAFETY_ANALYSIS {
  if (runtime::InNoStopRegion() || InMarker() || InDestructor() ||
      Collector::CollectingOnThisThread()) {
    runtime::Print(
        "fork() called from inside gcrt (a destructor the collector runs, "
        "a trace function or root set callback, or gc::free): the child "
        "cannot use the GC heap");
    g_prepared = false;
    return;
  }
  // A cycle marking beside the program needs the world restarted and
  // stopped again: it finishes first.
  Collector::Get().WaitForCycleAndLockForFork();
  runtime::StopTheWorldForFork();
  Collector::Get().LockForFork();
  Sweeper::Get().LockForFork();
  LockRootsForFork();
  LockMarkThreadsForFork();
  LockFinalizersForFork();
  LockWeakForFork();
  alloc::Heap::Get().LockForFork();
  LockReclaimedForFork();
  runtime::LockProcessorsForFork();
  LockProfileForFork();
  g_prepared = true;
}

void UnlockAll(bool child) GCRT_NO_THREAD_SAFETY_ANALYSIS {
  UnlockProfileAfterFork();
  UnlockReclaimedAfterFork();
  alloc::Heap::Get().UnlockAfterFork(child);
  UnlockWeakAfterFork();
  UnlockFinalizersAfterFork(child);
  UnlockMarkThreadsAfterFork(child);
  UnlockRootsAfterFork();
  Sweeper::Get().UnlockAfterFork(child);
  Collector::Get().UnlockAfterFork(child);
}

void Parent() GCRT_NO_THREAD_SAFETY_ANALYSIS {
  if (!g_prepared) return;
  g_prepared = false;
  UnlockAll(/*child=*/false);
  runtime::ResumeAfterForkParent();
}

void Child() GCRT_NO_THREAD_SAFETY_ANALYSIS {
  // Before anything else: a census signal the child receives is its own.
  ResetCensusSignalAfterFork();
  if (!g_prepared) {
    Collector::Get().RefuseCyclesAfterBadFork();
    return;
  }
  g_prepared = false;
  UnlockAll(/*child=*/true);
  // Last: giving back the dead threads' processors takes the locks above.
  runtime::ResumeAfterForkChild();
  Collector::Get().RestartThreadsAfterForkAtNextCycle();
}

}  // namespace

void InstallForkHandlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    int rc = pthread_atfork(&Prepare, &Parent, &Child);
    GCRT_CHECK(rc == 0 && "pthread_atfork registers gcrt's fork handlers");
  });
}

}  // namespace gc::internal
