// Explicit free (see gc/free.h for the details):
//
//   gc::free(root);   // destroys the object now and frees its slot; root
//                     // becomes null
//
// For an object the program knows nothing reaches any more (Boehm's
// GC_FREE): a tree node just unlinked, a temporary buffer. Its destructor
// runs now, on this thread (the rules of destructors apply: no gc::Ptr
// dereference, no allocation); weak references to it read null; its
// finalizer, if any, is dropped unrun. Through a pointer to any base of a
// polymorphic class (as with delete), the whole object is freed and
// destroyed as the type gc::make made. gc::free of null does nothing, as
// delete of null. Any reference still
// held is a use after free: release builds may reuse the memory at once;
// debug builds (GCRT_DEBUG_LEVEL=2) keep it poisoned until the next collection
// and stop the program, naming the object, when it is dereferenced or
// found reachable by the collector, and throw std::invalid_argument when it
// is rooted or freed again.
//
// Errors, before anything changes: std::invalid_argument for a pointer that
// is not the start of a live GC object (one the collector found
// unreachable counts as dead, even before its sweep; in debug builds a
// double free too); std::logic_error inside a gc::Blocking scope. From a
// destructor the collector runs, gc::free throws std::logic_error, which
// stops the program (destructors are noexcept): what a dead object refers
// to is dead too. The destructor gc::free runs may not block (gc::Blocking
// stops the program the same way): no collection may start mid-free. Release
// builds catch a double free before the destructor runs while the slot is still
// free; once another thread's cache holds its span, only when that cache gives
// it back, and not at all once the slot is reused. Pieces of tiny objects
// (pointer-free, under 16 bytes) are not freed on their own.
#pragma once

#include <type_traits>

#include "gcrt/internal/checks.h"
#include "gcrt/internal/type_info.h"
#include "gcrt/make.h"
#include "gcrt/ptr.h"

namespace gc {

namespace internal {

template <typename T>
struct Destroyer {
  static void (*Get())(void*) {
    if constexpr (std::is_trivially_destructible_v<T>) {
      return nullptr;
    } else {
      return &DestroyOne<T>;
    }
  }
};
template <typename T>
struct Destroyer<Array<T>> {
  static void (*Get())(void*) { return ArrayTypeInfoHolder<T>::Get()->destroy; }
};

template <typename T>
void FreeRaw(T* p) {
  if constexpr (std::is_void_v<T>) {
    // A gc::Ptr<void>: destroyed as the type its span recorded; a pointer
    // into an object (a base at an offset) is refused, as any interior one.
    FreeObject(const_cast<void*>(p), &DestroyRecordedType,
               GCRT_DEBUG_LEVEL >= 2);
  } else if constexpr (std::is_polymorphic_v<T>) {
    // As delete through a base: the whole object, whichever base p is
    // (dynamic_cast<void*> finds its start), destroyed as the type it was
    // made as (the type its span recorded).
    if (p != nullptr) {
      FreeObject(const_cast<void*>(dynamic_cast<const volatile void*>(p)),
                 &DestroyRecordedType, GCRT_DEBUG_LEVEL >= 2);
    }
  } else {
    FreeObject(const_cast<void*>(static_cast<const void*>(p)),
               Destroyer<std::remove_cv_t<T>>::Get(), GCRT_DEBUG_LEVEL >= 2);
  }
}

}  // namespace internal

template <typename T>
void free(T* p) {
  internal::FreeRaw(p);
}
template <typename T>
void free(const Ptr<T>& p) {
  internal::FreeRaw(p.get());
}
// Frees the object and nulls the handle (which keeps it until the free
// succeeded, so a refused free loses nothing).
template <typename T>
void free(Root<T>& root) {
  internal::FreeRaw(root.get());
  root = nullptr;
}
template <typename T>
void free(Global<T>& global) {
  internal::FreeRaw(global.get());
  global = Global<T>();
}

}  // namespace gc
