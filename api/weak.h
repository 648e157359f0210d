// Weak references (see gc/weak.h for how they work):
//
//   gc::Weak<T> w(root);          // does not keep the object alive
//   if (gc::Root<T> r = w.lock()) // the object, rooted, or null once the
//     use(*r);                    // collector found it unreachable
//
// A Weak is one traced word (a pointer to the object's weak cell), so it
// can be a field of a GC object (aggregates included: it is part of their
// pointer bitmap), sit in a root set, or live in C++ memory; it is
// trivially copyable, and every Weak to one object shares one cell. It
// reads null from the mark termination that finds its object unreachable
// (before the object's finalizer, if any, runs), or from an explicit free
// of the object. An object reachable only through weak references is
// collected at the next cycle.
//
// A Weak outside the GC heap (on the stack, in a std::vector) does not keep
// its cell alive: hold it in a GC object or a root set, or hold a
// gc::Root to its target, across collections. A gc::Root<gc::Weak<T>> is
// not a thing; put Weak fields in GC objects.
#pragma once

#include "api/ptr.h"
#include "gc/weak.h"

namespace gc {

template <typename T>
class Weak {
 public:
  using element_type = T;

  constexpr Weak() noexcept = default;
  constexpr Weak(std::nullptr_t) noexcept {}
  // A weak reference to the object `target` points to (a GC object's
  // start, or null). The caller keeps it alive meanwhile: making the first
  // weak reference to an object allocates its cell. Throws
  // std::invalid_argument for a pointer that is not a GC object's start.
  template <typename U>
  requires std::is_convertible_v<U*, T*>
  explicit Weak(const Root<U>& target) : cell_(CellFor(target.get())) {}
  template <typename U>
  requires std::is_convertible_v<U*, T*>
  explicit Weak(const Ptr<U>& target) {
    if (target == nullptr) return;
    Root<T> hold(target);  // the cell's allocation may collect
    cell_ = CellFor(hold.get());
  }

  // The object, rooted, or a null Root once it is gone.
  Root<T> lock() const {
    if (cell_ == nullptr) return Root<T>();
    // The thread's handle arena first (this may attach the thread and so
    // wait out a collection); from the load to the handle nothing parks,
    // so no mark termination can clear the cell in between.
    internal::HandleArena* h = internal::CurrentHandles();
    T* p = static_cast<T*>(internal::WeakTarget(cell_));
    if (p == nullptr) return Root<T>();
    return Root<T>(p, h->Take(p));
  }
  // Whether the object is gone (a null Weak counts as gone).
  bool expired() const { return internal::WeakTarget(cell_) == nullptr; }
  // The object's address, unrooted (null once gone): for comparison and
  // hashing, not for dereferencing across an allocation or safepoint.
  T* get_unrooted() const {
    return static_cast<T*>(internal::WeakTarget(cell_));
  }

  void reset() noexcept { cell_ = nullptr; }
  // Two Weaks to one object share a cell.
  template <typename U>
  bool operator==(const Weak<U>& o) const noexcept {
    return cell_ == o.internal_cell();
  }
  // Internal: the cell, which the marker traces.
  const void* internal_cell() const noexcept { return cell_; }

 private:
  static internal::WeakCell* CellFor(T* p) {
    if (p == nullptr) return nullptr;
    return internal::WeakCellFor(internal::Checked(p, "gc::Weak"));
  }
  internal::WeakCell* cell_ = nullptr;
};

static_assert(sizeof(Weak<int>) == sizeof(void*));
static_assert(std::is_trivially_copyable_v<Weak<int>>);

}  // namespace gc
