// Staged<T>: a value a GC container (gc::Vector, gc::HashMap) holds while
// it allocates: growing replaces the container's array, and copying an
// element that is itself a GC container allocates; either may collect. A
// local keeps nothing alive with stack scanning off (GCRT_STACK_SCAN=off),
// and a copy of a GC container owns a new array that nothing else
// reaches, so such a value waits in a rooted one-slot gc::Array. A value
// whose copy copies at most pointers (pointer-free, a gc::Ptr, trivially
// copyable, an aggregate of gc::Ptr fields and plain data) waits in place:
// what it points to stays reachable from where it was copied.
#pragma once

#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "gcrt/make.h"
#include "gcrt/trace.h"

namespace gc::internal {

// Whether T(args...) waits in place: it holds no GC pointer, or it is a
// gc::Ptr or trivially copyable, or its GC pointers all sit at fixed
// offsets (Bitmappable) and it is a copy or move of a T, or an aggregate
// with every field given (Edge{to, weight}): then building it runs no code
// of T's that could allocate (a default member initializer
// `gc::Ptr<V> v = gc::make<V>()`, a constructor), and it copies pointers
// only: it owns nothing new.
template <typename T, typename... Args>
constexpr bool StagedInPlace() {
  if constexpr (!ContainsGcPointers<T>() || IsPtr<T>::value ||
                std::is_trivially_copyable_v<T>) {
    return true;
  } else if constexpr (!Bitmappable<T>()) {
    return false;
  } else if constexpr (sizeof...(Args) == 1 &&
                       (std::is_same_v<std::remove_cvref_t<Args>, T> && ...)) {
    return true;
  } else if constexpr (ReflectedAggregate<T>) {
    return sizeof...(Args) == reflect::kFieldCount<T>;
  } else {
    return false;
  }
}

template <typename T>
class Staged {
 public:
  // T(args...), made in the slot once it exists: a copy of a GC container
  // made first would wait unrooted for the slot's allocation, and one made
  // in the slot is reachable while its own copies allocate.
  template <typename... Args>
  explicit Staged(std::in_place_t, Args&&... args) {
    if constexpr (!StagedInPlace<T, Args...>()) {
      slot_ = make_array<T>(1);
      T* at = &(*slot_)[0];
      std::destroy_at(at);
      try {
        std::construct_at(at, std::forward<Args>(args)...);
      } catch (...) {
        std::construct_at(at);  // the array destroys its element later
        throw;
      }
    } else {
      value_.emplace(std::forward<Args>(args)...);
    }
  }
  T& get() { return slot_ ? (*slot_)[0] : *value_; }

 private:
  Root<Array<T>> slot_;
  std::optional<T> value_;
};

}  // namespace gc::internal
