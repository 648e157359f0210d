// Internal to gcrt: not part of the API, may change.
//
// The debug checks the API's handles and gc::free inline (api/ptr.h,
// api/free.h). Release builds compile them to nothing but the calls that
// happen anyway; debug builds (GCRT_DEBUG_LEVEL >= 2) check every
// dereference against the quarantine of explicitly freed objects
// (gc/free.h, which also declares FreeObject, gc::free's entry) and every
// handle made from a raw pointer against the heap.
#pragma once

#include "gcrt/gc/free.h"
#include "gcrt/gc/quarantine.h"
#include "gcrt/runtime/base.h"

namespace gc::internal {

// Debug builds (GCRT_DEBUG_LEVEL >= 2) stop the program when a pointer or
// handle to an object freed with gc::free is dereferenced (the object is in
// quarantine until a collection: gc/free.h), or to one the collector
// reclaimed, while it is in the quarantine of reclaimed objects
// (gc/quarantine.h: one cycle; on by default in debug builds) or its free
// slot still holds the quarantine's poison (until an allocation reuses it).
GCRT_ALWAYS_INLINE void CheckNotFreed(const void* p) {
#if GCRT_DEBUG_LEVEL >= 2
  if (MaybeQuarantined(p)) ReportUseAfterFree(p, "dereferenced");
  if (GCRT_PREDICT_FALSE(g_poisoned.load(std::memory_order_relaxed))) {
    CheckNotReclaimed(p, "dereferenced");
  }
#else
  (void)p;
#endif
}

// Stops the program if the calling thread is inside a gc::Blocking scope,
// where the heap is off limits (a collection may be running). Out of line
// (api/gc.cc): debug builds only.
void CheckNotBlocking();

// Stops the program if the calling thread may not dereference a gc::Ptr:
// it is running destructors for the sweeper (gc/sweeper.h: InDestructor),
// or CheckNotBlocking. Out of line (api/gc.cc): debug builds only.
void CheckDereferencingThread();

// Stops the program if the calling thread stores to a gc::Ptr inside a GC
// object while the world does not stop it: not attached (the store can
// race with a cycle's first stop, miss the barrier and lose the object it
// stores), or inside a blocking region (where the heap is off limits).
// Stores to a gc::Ptr outside the heap (locals, C++ heap structures) pass.
// Out of line (api/gc.cc): debug builds only, from gc::Ptr's stores.
void CheckStoringThread(const void* slot);

// Stops the program: a gc::Ptr at `slot` is not aligned to a pointer's
// size (a #pragma pack or packed attribute on the class holding it), and
// the marker reads GC pointers only from aligned words, so its object
// would be reclaimed. Out of line (api/gc.cc): debug builds only.
[[noreturn]] void ReportMisalignedPtr(const void* slot);

// Debug builds (GCRT_DEBUG_LEVEL >= 2) stop a destructor the sweeper runs from
// dereferencing a gc::Ptr (its target may already be dead), a dereference
// inside a gc::Blocking scope, and any dereference of a freed object.
// The destructor check first: in a destructor, the target usually died
// in the same cycle, and the rule broken is the destructor's, not a
// missing root.
GCRT_ALWAYS_INLINE void CheckDereference(const void* p) {
#if GCRT_DEBUG_LEVEL >= 2
  CheckDereferencingThread();
#endif
  CheckNotFreed(p);
}

// A handle's dereference (gc::Root, gc::Global): debug builds stop one
// inside a gc::Blocking scope, and one of a freed object.
GCRT_ALWAYS_INLINE void CheckHandleDereference(const void* p) {
#if GCRT_DEBUG_LEVEL >= 2
  CheckNotBlocking();
#endif
  CheckNotFreed(p);
}

// Debug builds (GCRT_DEBUG_LEVEL >= 2) refuse to root a raw pointer that does
// not point into a live GC object (a stack or malloc address, a freed slot):
// std::invalid_argument, before anything changes. Interior pointers are
// fine, as the marker resolves them. Release builds do not check handles:
// the check costs a span lookup, and a Central lock when no cache of the
// thread holds the span, on every Root or Global made from a raw pointer or
// gc::Ptr. A handle to a reclaimed object roots nothing the heap still
// counts (a free slot stays free when marked) and reads whatever is
// allocated there next. Weak references and finalizers, whose records
// would pass to the slot's next object, are checked in every build
// (gc/sweeper.h: SpanOfLiveObject).
void CheckHeapPointer(const void* p, const char* what);
template <typename T>
GCRT_ALWAYS_INLINE T* Checked(T* p, const char* what) {
#if GCRT_DEBUG_LEVEL >= 2
  CheckHeapPointer(p, what);
#else
  // Not even the quarantine's one-load test: it cost the handle fast path
  // 6 of its 34 instructions (benchmarks/count_fastpath.sh, RootHandle8).
  (void)what;
#endif
  return p;
}

}  // namespace gc::internal
