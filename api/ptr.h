// Pointers to GC objects (see api/gc.h for the whole API):
//
//   gc::Ptr<T>     a field of a GC object (or of a root set's structure):
//                  a pointer the marker traces precisely, whose stores go
//                  through the write barrier (gc/barrier.h). Not a root of
//                  its own: on a thread's stack it keeps its object alive
//                  through the conservative stack scan (on by default:
//                  gc::set_stack_scan), and not at all with that off.
//   gc::Root<T>    a rooted handle held by one thread: keeps its object
//                  alive while it exists. O(1) to create and drop (a slot of
//                  the thread's handle arena), movable, returnable; may be
//                  dropped on another thread (slower, under a lock).
//   gc::Global<T>  a rooted handle usable from any thread (a global table
//                  under a lock), for long-lived roots.
//
// All three convert to each other; all compare by address. Of void (and
// gc::Weak<void>), they hold any GC object, as void* does, and keep it
// alive as their typed forms do; gc::static_pointer_cast gets the type
// back, and gc::free destroys it as the type it was made as. A
// gc::Weak<void> (or gc::free) of one that points at a base class at a
// nonzero offset is refused (std::invalid_argument): void says nothing of
// bases; make it from the typed handle.
#pragma once

#include <compare>
#include <cstddef>
#include <functional>
#include <type_traits>
#include <utility>

#include "gcrt/internal/barrier.h"
#include "gcrt/internal/checks.h"
#include "gcrt/internal/handles.h"
#include "gcrt/runtime/base.h"

namespace gc {

template <typename T>
class Root;
template <typename T>
class Global;
template <typename T>
class Weak;
template <typename T>
class Array;
namespace internal {
struct PtrAccess;
// gc::make_unrooted's Ptr to the object it just made: no barrier.
struct NewObject {};
inline constexpr NewObject kNewObject{};
}  // namespace internal
// api/make.h; declared here to befriend them.
template <typename T, typename... Args>
GCRT_ALWAYS_INLINE Root<T> make(Args&&... args);
template <typename T>
Root<Array<T>> make_array(size_t n);

template <typename T>
class Ptr {
 public:
  using element_type = T;

  constexpr Ptr() noexcept { CheckAligned(); }
  constexpr Ptr(std::nullptr_t) noexcept { CheckAligned(); }
  // From a raw pointer to a GC object (or null); the caller keeps it alive.
  explicit constexpr Ptr(T* raw) noexcept : ptr_(raw) { Shade(raw); }
  constexpr Ptr(const Ptr& other) noexcept : ptr_(other.ptr_) { Shade(ptr_); }
  constexpr Ptr(T* made, internal::NewObject) noexcept : ptr_(made) {
    CheckAligned();
  }
  template <typename U>
  requires std::is_convertible_v<U*, T*>
  constexpr Ptr(const Ptr<U>& other) noexcept : ptr_(other.get()) {
    Shade(ptr_);
  }
  template <typename U>
  requires std::is_convertible_v<U*, T*> Ptr(const Root<U>& root)
  noexcept : ptr_(root.get()) { Shade(ptr_); }
  template <typename U>
  requires std::is_convertible_v<U*, T*> Ptr(const Global<U>& global)
  noexcept : ptr_(global.get()) { Shade(ptr_); }

  // Stores go through the write barrier (gc/barrier.h); while it is on
  // they are relaxed atomic stores, as a marker may be reading this Ptr.
  Ptr& operator=(const Ptr& other) noexcept {
    Store(other.ptr_);
    return *this;
  }
  Ptr& operator=(std::nullptr_t) noexcept {
    Store(nullptr);
    return *this;
  }

  T* get() const noexcept { return ptr_; }
  T* operator->() const noexcept {
    internal::CheckDereference(ptr_);
    return ptr_;
  }
  std::add_lvalue_reference_t<T> operator*() const noexcept
      requires(!std::is_void_v<T>) {
    internal::CheckDereference(ptr_);
    return *ptr_;
  }
  explicit operator bool() const noexcept { return ptr_ != nullptr; }
  bool operator==(std::nullptr_t) const noexcept { return ptr_ == nullptr; }
  // p[i] for a gc::Ptr<gc::Array<E>> (or any T with operator[]).
  template <typename I, typename U = T>
  requires requires(U& u, I i) { u[i]; }
  decltype(auto) operator[](I i) const { return (**this)[i]; }

 private:
  friend struct internal::PtrAccess;
  // Every constructor either checks or shades, and Shade checks: a Ptr in
  // a packed class is found in debug builds when it is made.
  GCRT_ALWAYS_INLINE constexpr void Shade(T* p) noexcept {
    CheckAligned();
    if (!std::is_constant_evaluated()) internal::WriteBarrier(p);
  }
  GCRT_ALWAYS_INLINE constexpr void CheckAligned() const noexcept {
#if GCRT_DEBUG_LEVEL >= 2
    if (!std::is_constant_evaluated() &&
        GCRT_PREDICT_FALSE(reinterpret_cast<uintptr_t>(&ptr_) % alignof(T*) !=
                           0)) {
      internal::ReportMisalignedPtr(&ptr_);
    }
#endif
  }
  // With the barrier off no marker runs beside this thread (the barrier
  // turns on only while the world is stopped, and nothing here reaches a
  // safepoint): a plain store, which a Ptr local can keep in a register.
  GCRT_ALWAYS_INLINE void Store(T* p) noexcept {
#if GCRT_DEBUG_LEVEL >= 2
    CheckAligned();
    internal::CheckStoringThread(&ptr_);
#endif
    if (internal::WriteBarrierOn()) {
      internal::ShadeSlow(p);
      __atomic_store_n(&ptr_, p, __ATOMIC_RELAXED);
    } else {
      ptr_ = p;
    }
  }

  T* ptr_ = nullptr;
};

static_assert(sizeof(Ptr<int>) == sizeof(void*));
static_assert(std::is_trivially_destructible_v<Ptr<int>>);

namespace internal {

// The marker's read of a gc::Ptr that a mutator may be storing to (a
// relaxed atomic load: a plain load on every machine gcrt runs on).
struct PtrAccess {
  template <typename T>
  static T* LoadRelaxed(const Ptr<T>& p) noexcept {
    return __atomic_load_n(&p.ptr_, __ATOMIC_RELAXED);
  }
};

}  // namespace internal

namespace internal {

// What the owning handles (Root, Global) offer besides ownership: access to
// the object, checked in debug builds against gc::free. Handle has get().
template <typename Handle, typename T>
class HandleAccess {
 public:
  T* operator->() const noexcept {
    T* p = self().get();
    CheckHandleDereference(p);
    return p;
  }
  std::add_lvalue_reference_t<T> operator*() const noexcept
      requires(!std::is_void_v<T>) {
    T* p = self().get();
    CheckHandleDereference(p);
    return *p;
  }
  explicit operator bool() const noexcept { return self().get() != nullptr; }
  bool operator==(std::nullptr_t) const noexcept {
    return self().get() == nullptr;
  }
  template <typename I, typename U = T>
  requires requires(U& u, I i) { u[i]; }
  decltype(auto) operator[](I i) const { return (**this)[i]; }

 private:
  const Handle& self() const { return static_cast<const Handle&>(*this); }
};

}  // namespace internal

template <typename T>
class Root : public internal::HandleAccess<Root<T>, T> {
 public:
  using element_type = T;

  Root() noexcept = default;
  Root(std::nullptr_t) noexcept {}
  // Roots the object p points to (a GC object, or null).
  explicit Root(T* p)
      : ptr_(internal::Checked(p, "gc::Root")), slot_(Take(p)) {}
  template <typename U>
  requires std::is_convertible_v<U*, T*> Root(const Ptr<U>& p)
      : Root(static_cast<T*>(p.get())) {}
  template <typename U>
  requires std::is_convertible_v<U*, T*> Root(const Global<U>& g)
      : Root(static_cast<T*>(g.get())) {}
  Root(const Root& other) : Root(other.ptr_) {}
  template <typename U>
  requires std::is_convertible_v<U*, T*> Root(const Root<U>& other)
      : Root(static_cast<T*>(other.get())) {}
  Root(Root&& other) noexcept
      : ptr_(std::exchange(other.ptr_, nullptr)),
        slot_(std::exchange(other.slot_, nullptr)) {}
  template <typename U>
  requires std::is_convertible_v<U*, T*> Root(Root<U>&& other)
  noexcept : ptr_(other.get()), slot_(other.ReleaseSlot()) {
    if (slot_ != nullptr) internal::SetHandle(slot_, ptr_);
  }
  ~Root() {
    if (slot_ != nullptr) internal::GiveHandle(slot_);
    // The handle's own copy of the pointer is cleared, in a store the
    // compiler may not drop as dead (volatile: one store, where an asm
    // barrier would keep the whole handle in memory): a Root left on the
    // stack would keep its object, and all it reaches, through the
    // conservative stack scan for as long as the frame lives (a dead
    // 128 MiB tree in binary-trees).
    *const_cast<T* volatile*>(&ptr_) = nullptr;
  }

  Root& operator=(const Root& other) {
    Set(other.ptr_);
    return *this;
  }
  Root& operator=(Root&& other) noexcept {
    if (this != &other) {
      if (slot_ != nullptr) internal::GiveHandle(slot_);
      ptr_ = std::exchange(other.ptr_, nullptr);
      slot_ = std::exchange(other.slot_, nullptr);
    }
    return *this;
  }
  template <typename U>
  requires std::is_convertible_v<U*, T*> Root& operator=(const Ptr<U>& p) {
    Set(p.get());
    return *this;
  }
  Root& operator=(std::nullptr_t) {
    Set(nullptr);
    return *this;
  }

  T* get() const noexcept { return ptr_; }

 private:
  template <typename U>
  friend class Root;
  template <typename U>
  friend class Weak;
  template <typename U, typename... Args>
  friend Root<U> make(Args&&... args);
  template <typename U>
  friend Root<Array<U>> make_array(size_t n);

  // Adopts a slot already holding p (gc::make, gc::Weak::lock).
  Root(T* p, internal::HandleSlot* slot) noexcept : ptr_(p), slot_(slot) {}
  // Gives up the slot, still holding the object, to another Root.
  internal::HandleSlot* ReleaseSlot() noexcept {
    ptr_ = nullptr;
    return std::exchange(slot_, nullptr);
  }
  static internal::HandleSlot* Take(T* p) {
    return p == nullptr ? nullptr : internal::CurrentHandles()->Take(p);
  }
  void Set(T* p) {
    if (slot_ != nullptr && p != nullptr) {
      internal::SetHandle(slot_, p);  // the slot stays with this handle
    } else if (p != nullptr) {
      slot_ = Take(p);
    } else if (slot_ != nullptr) {
      internal::GiveHandle(std::exchange(slot_, nullptr));
    }
    ptr_ = p;
  }

  T* ptr_ = nullptr;
  internal::HandleSlot* slot_ = nullptr;
};

template <typename T>
class Global : public internal::HandleAccess<Global<T>, T> {
 public:
  using element_type = T;

  Global() noexcept = default;
  Global(std::nullptr_t) noexcept {}
  explicit Global(T* p)
      : ptr_(internal::Checked(p, "gc::Global")), slot_(Take(p)) {}
  template <typename U>
  requires std::is_convertible_v<U*, T*> Global(const Ptr<U>& p)
      : Global(static_cast<T*>(p.get())) {}
  template <typename U>
  requires std::is_convertible_v<U*, T*> Global(const Root<U>& r)
      : Global(static_cast<T*>(r.get())) {}
  Global(const Global& other) : Global(other.ptr_) {}
  Global(Global&& other) noexcept
      : ptr_(std::exchange(other.ptr_, nullptr)),
        slot_(std::exchange(other.slot_, nullptr)) {}
  ~Global() {
    if (slot_ != nullptr) internal::GiveGlobal(slot_);
    // As ~Root: not left behind for the conservative stack scan.
    *const_cast<T* volatile*>(&ptr_) = nullptr;
  }
  Global& operator=(Global other) noexcept {
    std::swap(ptr_, other.ptr_);
    std::swap(slot_, other.slot_);
    return *this;
  }

  T* get() const noexcept { return ptr_; }

 private:
  static internal::HandleSlot* Take(T* p) {
    return p == nullptr ? nullptr : internal::TakeGlobal(p);
  }
  T* ptr_ = nullptr;
  internal::HandleSlot* slot_ = nullptr;
};

namespace internal {
template <typename P>
struct IsHandle : std::false_type {};
template <typename T>
struct IsHandle<Ptr<T>> : std::true_type {};
template <typename T>
struct IsHandle<Root<T>> : std::true_type {};
template <typename T>
struct IsHandle<Global<T>> : std::true_type {};
template <typename P>
concept Handle = IsHandle<std::remove_cv_t<P>>::value;
}  // namespace internal

// Ptr, Root and Global compare and order by address, with each other. Two
// handles of related types compare as pointers of the common type, as ==
// does: a handle to a base at a nonzero offset in an object is equal to
// one to the object, and ordered neither before nor after it.
template <internal::Handle A, internal::Handle B>
bool operator==(const A& a, const B& b) noexcept {
  return a.get() == b.get();
}
template <internal::Handle A, internal::Handle B>
std::strong_ordering operator<=>(const A& a, const B& b) noexcept {
  using Common = std::common_type_t<decltype(a.get()), decltype(b.get())>;
  return std::compare_three_way{}(static_cast<Common>(a.get()),
                                  static_cast<Common>(b.get()));
}

// std::static_pointer_cast and friends, for GC pointers: a Ptr gives a Ptr,
// a Root a new Root (the original keeps its own).
template <typename T, typename U>
Ptr<T> static_pointer_cast(const Ptr<U>& p) noexcept {
  return Ptr<T>(static_cast<T*>(p.get()));
}
template <typename T, typename U>
Root<T> static_pointer_cast(const Root<U>& p) {
  return Root<T>(static_cast<T*>(p.get()));
}
template <typename T, typename U>
Ptr<T> dynamic_pointer_cast(const Ptr<U>& p) noexcept {
  return Ptr<T>(dynamic_cast<T*>(p.get()));
}
template <typename T, typename U>
Root<T> dynamic_pointer_cast(const Root<U>& p) {
  return Root<T>(dynamic_cast<T*>(p.get()));
}
template <typename T, typename U>
Ptr<T> const_pointer_cast(const Ptr<U>& p) noexcept {
  return Ptr<T>(const_cast<T*>(p.get()));
}
template <typename T, typename U>
Root<T> const_pointer_cast(const Root<U>& p) {
  return Root<T>(const_cast<T*>(p.get()));
}

}  // namespace gc

// Hashing by address, so GC pointers key std::unordered_map and
// std::unordered_set (a Root or Global key keeps its object alive; a Ptr
// key does not).
template <typename T>
struct std::hash<gc::Ptr<T>> {
  size_t operator()(const gc::Ptr<T>& p) const noexcept {
    return std::hash<const void*>{}(p.get());
  }
};
template <typename T>
struct std::hash<gc::Root<T>> {
  size_t operator()(const gc::Root<T>& p) const noexcept {
    return std::hash<const void*>{}(p.get());
  }
};
template <typename T>
struct std::hash<gc::Global<T>> {
  size_t operator()(const gc::Global<T>& p) const noexcept {
    return std::hash<const void*>{}(p.get());
  }
};
