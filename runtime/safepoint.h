// Safepoints and stop-the-world. The collector stops the world to mark:
// every processor held by a running thread must park at a safepoint first.
//
//   StopTheWorld(reason)   sets the polled flag, asks each running
//                          processor's owner to reach a safepoint soon
//                          (ProcessorLocal::RequestSafepoint: the allocator
//                          turns its fast path off), then waits until every
//                          processor other than the caller's is idle,
//                          parked (kStopped) or in a blocking region
//                          (kBlocked). Idle processors cannot be acquired
//                          and blocked threads cannot leave their region
//                          until the world restarts.
//   StartTheWorld()        clears the flag and wakes everyone parked.
//   Safepoint()            one relaxed load of the flag; parks if set.
//   BlockingRegion         RAII: the thread promises not to touch the heap
//                          (like Go's syscall entry), so the world can stop
//                          without it; leaving waits for a stopped world.
//
// The mutator's side (Safepoint, BlockingRegion) is declared apart, in
// runtime/safepoint_poll.h, for the headers that inline it (the allocation
// fast path, the public API) and must not see the stopper's side.
//
// A watchdog names the threads that keep the world waiting longer than the
// watchdog period (1 s by default; GCRT_STW_WATCHDOG_MS overrides): for
// each, once per stop, its processor, kernel thread id, name and stack
// (sampled with gcrt's signal, runtime/backtrace.h), then what to do about
// it (wait in a blocking region: api/thread.h); every period after, one
// line per thread still holding the stop up. Stops are serialized: a
// second stopper parks like any running thread until the first restarts
// the world.
//
// The stopped world is a capability (kWorldStopped, runtime/mutex.h) that
// StopTheWorld acquires and StartTheWorld releases: a function that needs
// the world stopped says GCRT_REQUIRES(kWorldStopped), and the analysis
// checks that its callers stopped it. A thread that works for the stopper
// while it holds the world (a mark helper) says so with
// AssertWorldStopped().
#pragma once

#include <atomic>
#include <chrono>

#include "gcrt/runtime/base.h"
#include "gcrt/runtime/check.h"
#include "gcrt/runtime/processor.h"
#include "gcrt/runtime/safepoint_poll.h"

namespace gc::runtime {

// Stops every other running processor at a safepoint. The caller must be
// attached (its own processor counts as the stopper's), and holds no lock
// of gcrt's (runtime/lock_order.h). Reason is printed by the watchdog.
void StopTheWorld(const char* reason) GCRT_ACQUIRE(kWorldStopped);
void StartTheWorld() GCRT_RELEASE(kWorldStopped);
// StopTheWorld for a reader of the stopped world (gc::stats()), from a
// thread in any state but a no-stop region: attached and running (its
// processor is the stopper's, as with StopTheWorld), inside a blocking
// region, or not attached (the world stops around it, and the world does
// not wait for it: it holds no running processor). Not from the thread
// that holds the world stopped already (WorldStoppedByCaller). The same
// thread restarts it with StartTheWorldFromAnyThread.
void StopTheWorldFromAnyThread(const char* reason) GCRT_ACQUIRE(kWorldStopped);
void StartTheWorldFromAnyThread() GCRT_RELEASE(kWorldStopped);
// Whether the calling thread, attached and running, is the one that holds
// the world stopped (a collector hook it runs, say).
bool WorldStoppedByCaller();
bool WorldStoppedForTesting();
// Tells the analysis that the world is stopped, on a thread that works for
// the thread that stopped it (a mark helper) or where the analysis cannot
// see the stop. Debug builds (GCRT_DEBUG_LEVEL >= 1) check that a stop is
// in effect (the flag safepoints poll is set), but not that it is complete
// or that the caller works for the stopper.
inline void AssertWorldStopped() GCRT_ASSERT_CAPABILITY(kWorldStopped) {
  GCRT_DCHECK(g_stop_requested.load(std::memory_order_relaxed) &&
              "the world is stopped");
}
// The watchdog period; tests shorten it.
void SetStopWatchdogForTesting(std::chrono::milliseconds period);
// The watchdog's period now (GCRT_STW_WATCHDOG_MS, or the tests' setting).
std::chrono::milliseconds StopWatchdogPeriod();
// Number of times the watchdog fired.
uint64_t StopWatchdogReports();

// Fork support (the collector's pthread_atfork handlers, gc/fork.h).
// StopTheWorldForFork stops the world from any state of the calling thread
// but a no-stop region: attached and running (it is the stopper), inside a
// blocking region, or not attached (the world stops around it).
// LockProcessorsForFork then holds the processor table's lock across the
// fork, last of the handler's locks. In the parent, ResumeAfterForkParent
// releases it and restarts the world. In the child, where only the calling
// thread exists, ResumeAfterForkChild makes the table's condition
// variable anew and forgets the parked sleepers (dead threads waited),
// hands every processor
// another thread held to ProcessorLocal::OnOwnerLost and makes it idle,
// and restarts the world.
void StopTheWorldForFork() GCRT_ACQUIRE(kWorldStopped);
void LockProcessorsForFork();
void ResumeAfterForkParent() GCRT_RELEASE(kWorldStopped);
void ResumeAfterForkChild() GCRT_RELEASE(kWorldStopped);

// RAII: while a thread is inside one, it does not park at safepoints and
// may not enter a blocking region (std::logic_error), so the world cannot
// stop before it leaves. For work that must see no collection from start
// to end: an explicit free decides from the allocation bits that its
// object is live, then destroys and frees it. Keep it short: a stopper
// waits for it. Nests.
class NoStopRegion {
 public:
  NoStopRegion();
  ~NoStopRegion();
  NoStopRegion(const NoStopRegion&) = delete;
  NoStopRegion& operator=(const NoStopRegion&) = delete;
};
bool InNoStopRegion();

}  // namespace gc::runtime
