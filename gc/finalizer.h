// Finalizers (Go's runtime.SetFinalizer): a function that runs, on the
// finalizer thread, once its object has become unreachable, and before the
// object is reclaimed. Unlike a destructor (run by the sweeper, which may
// already have reclaimed what the object points to) a finalizer sees its
// object and everything the object reaches intact, and may allocate,
// collect, or store the object somewhere again (resurrect it).
// See gc/collector.h for the overview.
//
// Each object with a finalizer has a kFinalizer special (alloc/special.h).
// Marking treats every such special as a root for what its object points
// to, but not for the object itself (Go's markrootSpans): the object stays
// unmarked unless something else reaches it, while everything it reaches
// is kept. A consequence, as in Go: an object with a finalizer that lies on
// a cycle is reachable from itself and is never finalized or collected;
// of two finalizable objects where one reaches the other, the reaching one
// is finalized first.
//
// At mark termination (world stopped, after weak references were cleared)
// each finalizable object still unmarked is marked now, its special is
// taken off its span and put on the finalizer queue; the queue is a root
// until the finalizer has run. The finalizer thread (a mutator that sleeps
// in a blocking region) runs the queue in order; gc::run_finalizers() runs
// it on the calling thread. Once a finalizer ran, its object is an
// ordinary object again: collected by a later cycle if unreachable, and
// only then destroyed.
//
// An explicit free drops the object's finalizer without running it.
//
// Cleanups (Go 1.24's runtime.AddCleanup) share the queue and the thread:
// any number per object, each a function that does not take the object.
// An object's cleanups hang off one kCleanup special. Marking ignores them
// (they are no roots), so the object dies as any other: the sweep that
// reclaims it (or gc::free) hands its kCleanup special to the special-free
// hook, which queues the cleanups, in the order they were added, after the
// destructor ran. An object with a finalizer too is resurrected for it
// first (mark termination marks it), so its cleanups wait until a later
// cycle reclaims it (Go's order). A cleanup's id names it for
// StopCleanup; ids are never reused, so a stale id stops nothing.
#pragma once

#include <cstdint>
#include <functional>

#include "gcrt/alloc/special.h"
#include "gcrt/runtime/mutex.h"

namespace gc::internal {

using FinalizerFn = std::function<void(void*)>;

// Gives the GC object starting at `object` a finalizer. Throws
// std::invalid_argument if `object` is not the start of a GC object, or if
// it has a finalizer already (clear it first), and loses nothing then.
void SetFinalizer(const void* object, FinalizerFn fn);
// Removes the object's finalizer (not yet queued); false if it had none.
bool ClearFinalizer(const void* object);
// Runs queued finalizers and cleanups on the calling thread, and waits for
// those another thread is running, until every one queued before the call
// has run.
// Returns the number this thread ran. A finalizer's exception reaches the
// caller (the rest of the queue stays queued). Throws std::logic_error from
// inside a finalizer or a blocking region.
uint64_t RunFinalizers();

// Marker, world stopped: scan_contents(context, object) for every object
// with a finalizer (its pointers are roots, it is not), and
// mark(context, object) for every object on the queue.
void ForEachFinalizerRoot(void (*scan_contents)(void* context, uintptr_t obj),
                          void (*mark)(void* context, uintptr_t obj),
                          void* context) GCRT_REQUIRES(runtime::kWorldStopped);
// Mark termination, world stopped, after ClearDeadWeakRefs: queues the
// finalizers of unmarked objects and marks those objects. Returns the
// bytes it marked; *queued gets the number queued.
uint64_t QueueFinalizers(uint64_t* queued)
    GCRT_REQUIRES(runtime::kWorldStopped);
// gc::free of `object`: if its finalizer is running, the queue stops rooting
// it (the object is gone; its slot may be quarantined or reused).
void ForgetFinalizerRoot(uintptr_t object);
// The special-free hook's part for kFinalizer: drops it unrun.
void ReleaseFinalizerSpecial(alloc::Special* s);

// Gives the GC object starting at `object` one more cleanup, `fn`, to run
// on the finalizer thread once the object is reclaimed; returns its id.
// Throws std::invalid_argument if `object` is not the start of a live GC
// object or fn is empty, and std::logic_error inside a blocking region;
// nothing changes then.
uint64_t AddCleanup(const void* object, std::function<void()> fn);
// Cancels the cleanup `id` of `object` if it is not queued yet; false if
// it was queued (its object was reclaimed or freed), ran, or was stopped.
// Safe whatever became of the object.
bool StopCleanup(const void* object, uint64_t id);
// The special-free hook's part for kCleanup (the sweep reclaimed the
// object, or gc::free freed it): queues its cleanups.
void QueueCleanupSpecial(alloc::Special* s);

struct FinalizerStats {
  uint64_t pending;           // objects with a finalizer not yet queued
  uint64_t queued;            // finalizers queued, ever
  uint64_t run;               // finalizers run (returned or threw), ever
  uint64_t cleanups_pending;  // added, not queued or stopped yet
  uint64_t cleanups_queued;   // ever
  uint64_t cleanups_run;      // ever (returned or threw)
};
FinalizerStats ReadFinalizerStats();

// Fork support (gc/fork.h): the finalizers' lock across a fork. In the
// child, finalizers other threads were running count as run, and the
// finalizer thread, if it ran, is started again by
// RestartFinalizerThreadAfterFork (the child's first cycle).
void LockFinalizersForFork();
void UnlockFinalizersAfterFork(bool child);
void RestartFinalizerThreadAfterFork();

}  // namespace gc::internal
