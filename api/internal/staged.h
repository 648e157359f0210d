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

template <typename T>
class Staged {
 public:
  // T(args...), made in the slot once it exists: a copy of a GC container
  // made first would wait unrooted for the slot's allocation, and one made
  // in the slot is reachable while its own copies allocate.
  template <typename... Args>
  explicit Staged(std::in_place_t, Args&&... args) {
    if constexpr (kRooted) {
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
  T& get() {
    if constexpr (kRooted) {
      return (*slot_)[0];
    } else {
      return *value_;
    }
  }

 private:
  // A value whose GC pointers all sit at fixed offsets (a gc::Ptr, an
  // aggregate of them and plain data: Bitmappable) copies pointers only, as
  // does a trivially copyable one: such a copy owns nothing new.
  static constexpr bool kRooted =
      !Bitmappable<T>() && !std::is_trivially_copyable_v<T>;
  Root<Array<T>> slot_;
  std::optional<T> value_;
};

}  // namespace gc::internal
