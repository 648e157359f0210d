// Explicit free (Boehm's GC_FREE, cppgc's FreeUnreferencedObject): the
// program knows an object is unreachable and gives it back now rather than
// at the next cycle. The object's destructor runs on the calling thread
// (under the same rules as the sweeper's: it must not dereference gc::Ptr
// fields, allocate, or root), its weak references read null from then on,
// its finalizer is dropped unrun, its cleanups are queued (after the
// destructor), and its slot is free for reuse at once.
// See gc/collector.h for the overview.
//
// While a cycle marks beside the program (gc/barrier.h), the slot is kept
// until that cycle's mark termination and freed after it, in every build:
// a marker may be reading the object.
//
// Debug builds (the caller's GCRT_DEBUG_LEVEL >= 2) quarantine instead, as
// Boehm's GC_debug_free does: the object is destroyed and its memory poisoned
// (0xdb bytes), but its slot is not reused until a collection has shown
// that nothing reaches it. Until then, a dereference of a gc::Ptr to it,
// rooting it, or freeing it again is reported; a collection that finds it
// still reachable stops the program naming it. The next mark termination
// keeps its slot (marks it) for that cycle, and the collector frees it
// right after the world restarts.
//
// Pieces of the tiny allocator's blocks (pointer-free objects under 16
// bytes) are not freed on their own: their block is reclaimed with its
// last piece; only their specials are released.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "gcrt/runtime/base.h"
#include "gcrt/runtime/mutex.h"

namespace gc::internal {

// Frees the GC object starting at `object` (null: nothing). `destroy`
// destroys it (null for a trivially destructible type). Throws
// std::invalid_argument, before anything changes, if `object` is not the
// start of a live GC object (the span is swept first, so an object the
// last cycle found unreachable counts as dead) or (quarantine) was freed
// already; std::logic_error inside a blocking region or a destructor the
// sweeper runs. Weak references and the finalizer are released before the
// destructor runs.
void FreeObject(void* object, void (*destroy)(void*), bool quarantine);
// As FreeObject's `destroy`: destroy the object as the type its span
// recorded (gc::free through a base of a polymorphic class). Never called.
void DestroyRecordedType(void* object);

// Objects in quarantine (freed or being freed). Atomic: stored under the
// quarantine's lock, read relaxed; only a hint that the set is not empty.
extern std::atomic<uint64_t> g_quarantined;
// Whether the object containing p is in quarantine. The WorldStopped form
// takes no lock: the marker calls it with the world stopped, when the set
// cannot change (gc::free runs only on threads the world stops for).
bool IsQuarantined(const void* p);
bool IsQuarantinedWorldStopped(const void* p)
    GCRT_REQUIRES(runtime::kWorldStopped);
GCRT_ALWAYS_INLINE bool MaybeQuarantined(const void* p) {
  return GCRT_PREDICT_FALSE(g_quarantined.load(std::memory_order_relaxed) !=
                            0) &&
         IsQuarantined(p);
}
GCRT_ALWAYS_INLINE bool MaybeQuarantinedWorldStopped(const void* p)
    GCRT_REQUIRES(runtime::kWorldStopped) {
  return GCRT_PREDICT_FALSE(g_quarantined.load(std::memory_order_relaxed) !=
                            0) &&
         IsQuarantinedWorldStopped(p);
}
// Whether p's object was freed while the current cycle marked beside the
// program (destroyed: the marker skips it). World stopped, as above; the
// caller tests g_quarantined first.
bool FreedWhileMarkingWorldStopped(const void* p)
    GCRT_REQUIRES(runtime::kWorldStopped);
// Stops the program: `what` reached the quarantined object p.
[[noreturn]] void ReportUseAfterFree(const void* p, const char* what);

// Mark termination, world stopped, after marking: stops the program if a
// quarantined object was marked (reachable); otherwise marks each one so
// the sweep keeps its slot, and returns the bytes it marked (they count as
// live until freed). The objects freed since the last termination are
// handed on to be freed (FreeQuarantined) unless an earlier collector is
// still freeing its share; either way they stay in quarantine until their
// slot is freed, and every termination until then keeps them. Allocates
// nothing.
uint64_t EndQuarantine() GCRT_REQUIRES(runtime::kWorldStopped);
// With the world running, after mark termination: frees the objects handed
// on, one by one, each leaving quarantine just before its slot is freed.
// Any thread may help; each object is freed once.
void FreeQuarantined();

}  // namespace gc::internal
