// Specials (seed 003): per-object records the collector attaches to a span,
// kept on the span's list sorted by (offset, kind) — finalizers, weak
// handles and cleanups, as in Go. The allocator owns the list and its lock; the
// record memory belongs to the layer that adds it, which registers a hook to
// get records back when their object is freed explicitly. See alloc/heap.h for
// the overview.
//
// Locking: Span::specials is guarded by Span::specials_lock. Its readers
// outside the lock are the collector's, with the world stopped.
#pragma once

#include <cstdint>

namespace gc::alloc {

struct Span;

enum class SpecialKind : uint8_t {
  kFinalizer = 1,
  kWeakHandle = 2,
  // One per object that has cleanups (gc::add_cleanup): the record holds
  // all of them, since AddSpecial keeps one special of a kind per object.
  kCleanup = 3,
  kHeapProfile = 4,  // a sampled allocation (gc/heap_profile.h)
};

struct Special {
  Special* next = nullptr;  // Guarded by the span's specials_lock.
  uint32_t offset = 0;      // of the object from the span base
  SpecialKind kind = SpecialKind::kFinalizer;
};

// Adds `s` for the object starting at `object` in span `span`. Returns false
// (and leaves the list unchanged) if the object already has a special of
// that kind. `object` must be live (the collector's callers guarantee it;
// it is not checked). Throws std::invalid_argument if `object` is not the start
// of an object of `span`. In the tiny span class any offset inside a block
// is an object (the tiny allocator packs several into one block, which
// lives and dies as one).
bool AddSpecial(Span* span, uintptr_t object, Special* s);

// The in-use span of the object starting at `object`, for adding or
// finding its specials. Throws std::invalid_argument, naming `what` (the
// API call), if `object` is not in the GC heap or not the start of an
// object.
Span* SpanForSpecial(const void* object, const char* what);

// The special of `kind` for `object`, or null (left on the list).
Special* FindSpecial(Span* span, uintptr_t object, SpecialKind kind);

// Unlinks and returns the special of `kind` for `object`, or null.
Special* RemoveSpecial(Span* span, uintptr_t object, SpecialKind kind);

// Unlinks and returns (as a list through next) every special at an offset
// in [offset, offset + size): those of the object at `offset` when it dies
// (size = its slot, so a tiny block's pieces go with it) or is freed
// (size 1).
Special* TakeSpecials(Span* span, uint32_t offset, uint32_t size = 1);

// Unlinks and returns (as a list through next) every special whose object
// is dead: allocated and unmarked in the span's bits. For the sweeper, which
// holds the span's claim, on a span whose dead objects need no destructor:
// one pass over the specials instead of a TakeSpecials per dead slot (Go's
// sweep walks the specials the same way).
Special* TakeSpecialsOfDead(Span* span);

// Called with specials taken from an explicitly freed object; registered
// by the layer that owns the records.
using SpecialFreeHook = void (*)(Special* list);
// Returns the hook it replaces.
SpecialFreeHook SetSpecialFreeHook(SpecialFreeHook hook);
void ReleaseSpecials(Special* list);

}  // namespace gc::alloc
