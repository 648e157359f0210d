// Weak references (see gc/weak.h for how they work):
//
//   gc::Weak<T> w(root);          // does not keep the object alive
//   if (gc::Root<T> r = w.lock()) // the object, rooted, or null once the
//     use(*r);                    // collector found it unreachable
//
// A Weak is plain data (a cell in a table outside the GC heap, and the
// generation it was made in), trivially copyable and never traced, so it
// can live anywhere: a field of a GC object, the stack, a std container
// (a cache's std::unordered_map<K, gc::Weak<V>>, say). Every Weak to one
// object shares its cell. It reads null from the mark termination that
// finds its object unreachable (before the object's finalizer, if any,
// runs), or from an explicit free of the object, and stays null: a Weak
// never returns an object other than the one it was made for, however
// long it is kept. An object reachable only through weak references is
// collected at the next cycle, unless the conservative stack scan finds a
// stale copy of its address on some thread's stack or in its registers
// (api/gc.h, stack scanning), which keeps it a while longer; with stack
// scanning off (GCRT_STACK_SCAN=off), at the next cycle always. But tiny
// objects (pointer-free, trivially destructible, under 16 bytes, alignment
// at most 8) share 16-byte blocks and live and die with their block (Go's
// tiny allocator): a Weak to one reads null once nothing reaches any
// object of its block.
#pragma once

#include "gcrt/internal/weak.h"
#include "gcrt/ptr.h"

namespace gc {

template <typename T>
class Weak {
 public:
  using element_type = T;
  // Plain data: never traced (api/trace.h).
  using gc_pointer_free = Weak;

  constexpr Weak() noexcept = default;
  constexpr Weak(std::nullptr_t) noexcept {}
  // A weak reference to the object `target` points to (or null). A
  // Weak<Base> may refer to a base class at a nonzero offset (multiple
  // inheritance): made from a handle to the derived object, or from one to
  // the base if Base is polymorphic (dynamic_cast finds the object). It
  // refers to the whole object and reads its Base part. Throws
  // std::invalid_argument for a pointer that is not a live GC object's
  // start nor such a base (one the collector or gc::free reclaimed
  // included), and for a base more than 65535 bytes into its object.
  template <typename U>
  requires std::is_convertible_v<U*, T*>
  explicit Weak(const Root<U>& target) : ref_(RefFor(target.get())) {}
  template <typename U>
  requires std::is_convertible_v<U*, T*>
  explicit Weak(const Global<U>& target) : ref_(RefFor(target.get())) {}
  template <typename U>
  requires std::is_convertible_v<U*, T*>
  explicit Weak(const Ptr<U>& target) {
    if (target == nullptr) return;
    // Making the reference may sweep, and so block: the target is held in
    // a Root meanwhile (debug builds check it as a gc::Weak's first).
    Root<U> hold(internal::Checked(target.get(), "gc::Weak"));
    ref_ = RefFor(hold.get());
  }

  // The object, rooted, or a null Root once it is gone.
  Root<T> lock() const {
    if (ref_.cell == nullptr) return Root<T>();
    // The thread's handle arena first (this may attach the thread and so
    // wait out a collection); from the load to the handle nothing parks,
    // so no mark termination can clear the cell in between.
    internal::HandleArena* h = internal::CurrentHandles();
    T* p = get_unrooted();
    if (p == nullptr) return Root<T>();
    return Root<T>(p, h->Take(p));
  }
  // Whether the object is gone (a null Weak counts as gone).
  bool expired() const { return get_unrooted() == nullptr; }
  // The object's address, unrooted (null once gone): for comparison and
  // hashing, not for dereferencing across an allocation or safepoint.
  T* get_unrooted() const {
    return static_cast<T*>(internal::WeakTarget(ref_.cell, ref_.generation));
  }

  void reset() noexcept { ref_ = internal::WeakRef{nullptr, 0}; }
  // Two Weaks made for one object are equal (null ones too), whether or
  // not it is gone, and through whichever of its bases they were made.
  template <typename U>
  bool operator==(const Weak<U>& o) const noexcept {
    return ref_.cell == o.ref_.cell && ((ref_.generation ^ o.ref_.generation) &
                                        internal::kWeakGenerationMask) == 0;
  }

 private:
  template <typename U>
  friend class Weak;
  // The object's reference, reading T at its offset in the object. `u`
  // points to the object's start, or into it at a U that is a base class
  // subobject: shown by dynamic_cast for a polymorphic U (a Root<Base> of
  // a Derived's second base); any other interior pointer is refused.
  template <typename U>
  static internal::WeakRef RefFor(U* u) {
    if (u == nullptr) return internal::WeakRef{nullptr, 0};
    const uintptr_t start =
        internal::WeakObjectStart(internal::Checked(u, "gc::Weak"));
    if (reinterpret_cast<uintptr_t>(u) != start) {
      bool subobject = false;
      if constexpr (std::is_polymorphic_v<U>) {
        subobject = reinterpret_cast<uintptr_t>(
                        dynamic_cast<const volatile void*>(u)) == start;
      }
      if (!subobject) internal::ThrowNotObjectStart(u, "gc::Weak");
    }
    T* t = u;
    return internal::WeakRefAt(start, reinterpret_cast<uintptr_t>(t) - start);
  }
  internal::WeakRef ref_{nullptr, 0};
};

static_assert(sizeof(Weak<int>) == 2 * sizeof(void*));
static_assert(std::is_trivially_copyable_v<Weak<int>>);

}  // namespace gc
