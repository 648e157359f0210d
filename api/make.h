// Allocating GC objects.
//
//   gc::make<T>(args...)           constructs a T in the GC heap; returns a
//                                  gc::Root<T> that keeps it alive.
//   gc::make_unrooted<T>(args...)  the same, returning a gc::Ptr<T>: the
//                                  fast path for hot loops. Nothing keeps
//                                  the object alive: store it into a traced
//                                  field or a root before the next
//                                  allocation or safepoint.
//   gc::make_array<T>(n)           n value-initialized T in one object, a
//                                  gc::Array<T>; returns a Root.
//
// The memory is zeroed before T's constructor runs, and while it runs the
// object is on the thread's construction stack: a collection started
// inside a constructor (say, one that allocates its children) keeps the
// object (its own bytes are scanned conservatively: its trace function
// cannot run on a half-built object) and every GC object the thread
// allocated since the constructor began, wherever the constructor stored
// it (a std::vector member's buffer included), until the constructor
// returns. An object allocated elsewhere and stored by the constructor
// only into such a buffer must stay reachable some other way (a root, an
// argument held by a gc::Root) until then.
// A constructor that throws leaves nothing behind: no destructor runs and
// the slot is freed at once, as gc::free frees (api/free.h). A constructor
// that stored `this` somewhere and then threw leaves a dangling pointer
// there, as with new: debug builds (and GCRT_DEBUG=quarantine=1) keep the
// slot poisoned until a collection shows nothing reaches it, and report
// its use. Allocation errors are std::bad_alloc with a message.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

#include "gcrt/internal/allocate.h"
#include "gcrt/internal/handles.h"
#include "gcrt/internal/type_info.h"
#include "gcrt/ptr.h"
#include "gcrt/runtime/base.h"

namespace gc {

namespace internal {

// T, value-initialized inside a union that never destroys it. The union is
// a literal type only if T's destructor is trivial or constexpr: for any
// other T the concept below is false and T is recorded as usual (safe,
// only slower).
template <typename T>
union ConstantBuilt {
  T object;
  constexpr ConstantBuilt() : object() {}
  constexpr ~ConstantBuilt() {}
};

// T() is a constant expression and cannot throw: it runs no code that could
// allocate, reach a safepoint or throw (as `struct Node { gc::Ptr<Node>
// left, right; int value = 0; };`), so no collection can see the object
// half-built. The one way around it is a constexpr constructor that does
// something else at run time (std::is_constant_evaluated()): one that
// allocates there stops debug builds (ConstantConstructorAllocated).
template <typename T>
concept ConstantDefaultConstructible =
    std::is_nothrow_default_constructible_v<T> && requires {
  typename std::bool_constant<(ConstantBuilt<T>(), true)>;
};

// Whether make<T>(Args...) records T as under construction while its
// constructor runs (HandleArena::BeginConstruction): not for a trivial
// constructor, nor for a default constructor that is a constant expression.
// Those cost two stores and a test instead of a push and a pop of the
// thread's construction stack.
template <typename T, typename... Args>
inline constexpr bool kTrackConstruction =
    !std::is_trivially_constructible_v<T, Args...> &&
    !(sizeof...(Args) == 0 && ConstantDefaultConstructible<T>);

template <typename T, typename... Args>
GCRT_ALWAYS_INLINE T* Construct(HandleArena* h, void* mem, Args&&... args) {
  if constexpr (kTrackConstruction<T, Args...>) {
    size_t depth = h->BeginConstruction(mem, sizeof(T));
    T* obj;
    try {
      if constexpr (std::is_constructible_v<T, Args...>) {
        obj = new (mem) T(std::forward<Args>(args)...);
      } else {
        obj = new (mem) T{std::forward<Args>(args)...};
      }
    } catch (...) {
      h->EndConstruction(depth, mem, false);
      // No destructor runs on a half-built object.
      FreeUnconstructed(mem, GCRT_DEBUG_LEVEL >= 2);
      throw;
    }
    h->EndConstruction(depth, mem, true);
    return obj;
  } else if constexpr (GCRT_DEBUG_LEVEL >= 2 &&
                       !std::is_trivially_constructible_v<T, Args...>) {
    // Debug builds hold a constant default constructor to its promise: it
    // is recorded as any other, and must have allocated nothing (anything
    // it allocated left an entry above its own).
    size_t depth = h->BeginConstruction(mem, sizeof(T));
    T* obj = new (mem) T();
    if (h->construction_depth() != depth + 1) {
      ConstantConstructorAllocated(TypeName<T>::Get());
    }
    h->EndConstruction(depth, mem, true);
    return obj;
  } else {
    T* obj = new (mem) T(std::forward<Args>(args)...);
    h->KeepIfConstructing(obj);
    return obj;
  }
}

}  // namespace internal

template <typename T, typename... Args>
GCRT_ALWAYS_INLINE Root<T> make(Args&&... args) {
  internal::HandleArena* h = internal::CurrentHandles();
  void* mem = internal::AllocateFor<T>();
  T* obj = internal::Construct<T>(h, mem, std::forward<Args>(args)...);
  return Root<T>(obj, h->Take(obj));
}

template <typename T, typename... Args>
GCRT_ALWAYS_INLINE Ptr<T> make_unrooted(Args&&... args) {
  internal::HandleArena* h = internal::CurrentHandles();
  void* mem = internal::AllocateFor<T>();
  // A new object needs no shading (gc/barrier.h): allocated while a cycle
  // marks, it is born marked; if a cycle started during its constructor,
  // that cycle marked it as an object under construction.
  return Ptr<T>(internal::Construct<T>(h, mem, std::forward<Args>(args)...),
                internal::kNewObject);
}

namespace internal {
template <typename T>
struct ArrayTypeInfoHolder;
template <typename T>
class StagedInSlot;
}  // namespace internal

// A GC array of T: a length and the elements, in one object.
template <typename T>
class Array {
 public:
  static constexpr size_t kHeader = std::max(sizeof(uint64_t), alignof(T));

  size_t size() const { return static_cast<size_t>(length_); }
  T* data() {
    return reinterpret_cast<T*>(reinterpret_cast<unsigned char*>(this) +
                                kHeader);
  }
  const T* data() const {
    return reinterpret_cast<const T*>(
        reinterpret_cast<const unsigned char*>(this) + kHeader);
  }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  T* begin() { return data(); }
  T* end() { return data() + size(); }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size(); }

  Array(const Array&) = delete;
  Array& operator=(const Array&) = delete;

 private:
  template <typename U>
  friend Root<Array<U>> make_array(size_t n);
  template <typename U>
  friend struct internal::ArrayTypeInfoHolder;
  friend class internal::StagedInSlot<T>;  // builds its one element in place
  Array() = default;
  static void Destroy(void* object) {
    auto* a = static_cast<Array*>(object);
    for (size_t i = a->size(); i > 0; i--) a->data()[i - 1].~T();
  }
  uint64_t length_ = 0;  // elements constructed
};

namespace internal {

template <typename T>
struct ArrayTypeInfoHolder {
  static const alloc::TypeInfo* Get() {
    static const alloc::TypeInfo info = [] {
      alloc::TypeInfo t = *TypeInfoOf<T>();
      t.destroy =
          std::is_trivially_destructible_v<T> ? nullptr : &Array<T>::Destroy;
      t.array_header = static_cast<uint32_t>(Array<T>::kHeader);
      return t;
    }();
    return &info;
  }
};

}  // namespace internal

// n value-initialized elements. Throws std::bad_alloc with a message if the
// size overflows or memory runs out.
template <typename T>
Root<Array<T>> make_array(size_t n) {
  static_assert(alignof(T) <= alloc::kPageSize,
                "gcrt aligns objects to at most a page (8 KiB)");
  internal::HandleArena* h = internal::CurrentHandles();
  size_t bytes;
  if (__builtin_mul_overflow(n, sizeof(T), &bytes) ||
      __builtin_add_overflow(bytes, Array<T>::kHeader, &bytes)) {
    internal::ThrowArrayTooLarge(n, sizeof(T));
  }
  void* mem = alloc::Allocate(internal::ArrayTypeInfoHolder<T>::Get(), bytes);
  auto* a = new (mem) Array<T>();
  if constexpr (!std::is_trivially_default_constructible_v<T> ||
                !std::is_trivially_destructible_v<T>) {
    size_t depth = h->BeginConstruction(mem, bytes);
    try {
      for (size_t i = 0; i < n; i++) {
        new (a->data() + i) T();
        a->length_ = i + 1;
      }
    } catch (...) {
      h->EndConstruction(depth, mem, false);
      Array<T>::Destroy(a);
      internal::FreeUnconstructed(mem, GCRT_DEBUG_LEVEL >= 2);
      throw;
    }
    h->EndConstruction(depth, mem, true);
  } else {
    h->KeepIfConstructing(mem);
  }
  a->length_ = n;
  return Root<Array<T>>(a, h->Take(a));
}

}  // namespace gc
