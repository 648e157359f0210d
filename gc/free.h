// Explicit free (Boehm's GC_FREE, cppgc's FreeUnreferencedObject): the
// program knows an object is unreachable and gives it back now rather than
// at the next cycle. The object's destructor runs on the calling thread
// (under the same rules as the sweeper's: it must not dereference gc::Ptr
// fields, allocate, or root), its weak references read null from then on,
// its finalizer is dropped unrun, and its slot is free for reuse at once.
//
// Debug builds (the caller's GC_DEBUG >= 2) quarantine instead, as Boehm's
// GC_debug_free does: the object is destroyed and its memory poisoned
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

#include "runtime/base.h"

namespace gc::internal {

// Frees the GC object starting at `object` (null: nothing). `destroy`
// destroys it (null for a trivially destructible type). Throws
// std::invalid_argument, before anything changes, if `object` is not the
// start of a GC object or (quarantine) was freed already; std::logic_error
// inside a blocking region.
void FreeObject(void* object, void (*destroy)(void*), bool quarantine);

// Objects in quarantine. Atomic: relaxed; only a hint that the set is not
// empty (the set itself is under its lock).
extern std::atomic<uint64_t> g_quarantined;
// Whether the object containing p is in quarantine.
bool IsQuarantined(const void* p);
GC_ALWAYS_INLINE bool MaybeQuarantined(const void* p) {
  return GC_PREDICT_FALSE(g_quarantined.load(std::memory_order_relaxed) != 0) &&
         IsQuarantined(p);
}
// Stops the program: `what` reached the quarantined object p.
[[noreturn]] void ReportUseAfterFree(const void* p, const char* what);

// Mark termination, world stopped, after marking: stops the program if a
// quarantined object was marked (reachable); otherwise marks each one so
// the sweep keeps its slot, and moves them to *to_free, emptying the
// quarantine. The collector frees them (FreeQuarantined) once the world
// runs again.
void EndQuarantine(std::vector<uintptr_t>* to_free);
void FreeQuarantined(const std::vector<uintptr_t>& to_free);

}  // namespace gc::internal
