// Internal to gcrt: not part of the API, may change.
//
// The allocation glue api/make.h inlines. gc::make enters the allocator's
// fast path (the per-processor Cache, alloc/cache.h) through AllocateFor,
// which picks the size class at compile time (alloc/allocate.h);
// gc::make_array calls alloc::Allocate. The rest is out of line (api/gc.cc).
// This header makes alloc/cache.h, alloc/span.h and what they include
// visible, and nothing of the Heap, the Centrals or the PageHeap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "gcrt/alloc/allocate.h"
#include "gcrt/internal/type_info.h"
#include "gcrt/runtime/base.h"

namespace gc::internal {

// A zeroed slot for a T: the inline fast path (tiny, small or, out of
// line, large), with the class and span class folded at compile time.
template <typename T>
GCRT_ALWAYS_INLINE void* AllocateFor() {
  static_assert(!std::is_void_v<T>,
                "gc::make<void>: make the object as its own type; a "
                "gc::Root<T> converts to gc::Root<void>");
  static_assert(!std::is_array_v<T>, "use gc::make_array<T>(n)");
  static_assert(sizeof(T) < (uint64_t{1} << 32),
                "gcrt objects are smaller than 4 GiB; use gc::make_array");
  constexpr bool kPointerFree = TypeInfoHolder<T>::kPointerFree;
  return alloc::AllocateFixed<static_cast<uint32_t>(sizeof(T)),
                              static_cast<uint32_t>(alignof(T)), kPointerFree,
                              std::is_trivially_destructible_v<T>,
                              &TypeInfoHolder<T>::Get>(
      TypeInfoHolder<T>::Address());
}

// Gives back the slot of an object whose constructor threw, as gc::free
// does (gc/free.h) but running no destructor on the half-built object: a
// slot a marker may be reading waits for its cycle's end, and with `debug`
// (the caller's GCRT_DEBUG_LEVEL >= 2) or the quarantine on
// (GCRT_DEBUG=quarantine=1) the slot is poisoned and kept until a
// collection shows nothing reaches it: a constructor that stored `this`
// somewhere and then threw left a dangling pointer, which is reported
// when used rather than silently reaching the slot's next object.
void FreeUnconstructed(void* object, bool debug);

// Debug builds: the default constructor of `type`, a constant expression
// that gc::make therefore does not record as under construction, allocated
// at run time (a constexpr constructor that tests
// std::is_constant_evaluated()). Stops the program, naming the type.
[[noreturn]] GCRT_COLD void ConstantConstructorAllocated(const char* type);

// gc::make_array of n elements of element_size bytes overflows the address
// space: throws std::bad_alloc with a message.
[[noreturn]] GCRT_COLD void ThrowArrayTooLarge(size_t n, size_t element_size);

}  // namespace gc::internal
