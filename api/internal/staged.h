// Stage<T>(args...): a value a GC container (gc::Vector, gc::HashMap,
// gc::WeakMap) holds while it allocates: growing replaces the container's
// array, and copying an element that is itself a GC container allocates; either
// may collect. A local keeps nothing alive with stack scanning off
// (GCRT_STACK_SCAN=off), and the value may be the only reference to a new
// object (push_back(gc::make_unrooted<T>())), or a copy of a GC container
// that owns a new array nothing else reaches. So:
//   - a value whose making copies at most pointers (pointer-free, a
//     gc::Ptr, trivially constructible from the arguments, an aggregate of
//     gc::Ptr fields and plain data given all its fields) waits in place, and
//     each GC pointer it holds is rooted with a handle (Pins) until it is
//     stored (StagedValue);
//   - any other waits in a rooted one-slot gc::Array, allocated empty
//     before the value is built in it (T() never runs); the arguments' GC
//     pointers (a gc::Ptr argument, a T copied from, any argument a Tracer
//     takes, what a tuple argument refers to) are rooted across that allocation
//     (PinArgument; StagedInSlot).
// An initializer list's elements are pinned by the container before it
// allocates anything (Pins::AddEach).
#pragma once

#include <cstring>
#include <initializer_list>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "gcrt/internal/handles.h"
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
                std::is_trivially_constructible_v<T, Args...>) {
    // A trivially copyable T made by a constructor of its own (which may
    // allocate, into raw pointers even) is not: it runs on the
    // construction stack in a slot.
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

// Handles on the GC pointers of values, found by tracing them on the
// program's thread, held until destroyed. Taking and giving a handle
// allocates nothing from the GC heap (gc/roots.h), so pinning never
// collects. The words of a conservatively scanned value (a class with a
// constructor and no trace(), an aggregate with a base) are pinned as words
// that may not be pointers (kConservativeHandle): the marker takes each as
// it takes a stack word.
class Pins {
 public:
  Pins() = default;
  ~Pins() {
    for (size_t i = 0; i < count_ && i < kInline; i++) GiveHandle(inline_[i]);
    for (HandleSlot* s : more_) GiveHandle(s);
  }
  Pins(const Pins&) = delete;
  Pins& operator=(const Pins&) = delete;

  template <typename V>
  void Add(const V& value) {
    if constexpr (ContainsGcPointers<V>()) {
      Tracer tracer(&Pin, &PinWords, this);
      tracer(value);
    }
  }
  // A word that may point into a GC object, kept as a stack word is.
  void AddWord(const volatile void* word) {
    PinWord(this, reinterpret_cast<uintptr_t>(word));
  }
  // Each element of the list, before its insertion allocates: an
  // initializer list's elements wait unrooted in a stack array.
  template <typename V>
  void AddEach(std::initializer_list<V> values) {
    if constexpr (ContainsGcPointers<V>()) {
      for (const V& v : values) Add(v);
    }
  }

 private:
  static constexpr size_t kInline = 4;
  static void Pin(void* self, const void* p) {
    auto* pins = static_cast<Pins*>(self);
    HandleSlot* s = CurrentHandles()->Take(p);
    if (pins->count_ < kInline) {
      pins->inline_[pins->count_] = s;
    } else {
      try {
        pins->more_.push_back(s);
      } catch (...) {
        GiveHandle(s);
        throw;
      }
    }
    pins->count_++;
  }
  // Words that are not pointers into the heap cost a handle each, and keep
  // nothing: the marker takes only live objects' addresses. Null and small
  // integers are skipped.
  static void PinWords(void* self, const void* p, size_t bytes) {
    const uintptr_t begin =
        (reinterpret_cast<uintptr_t>(p) + sizeof(uintptr_t) - 1) &
        ~(sizeof(uintptr_t) - 1);
    const uintptr_t end = reinterpret_cast<uintptr_t>(p) + bytes;
    for (uintptr_t at = begin; at + sizeof(uintptr_t) <= end;
         at += sizeof(uintptr_t)) {
      uintptr_t w;
      std::memcpy(&w, reinterpret_cast<const void*>(at), sizeof(w));
      PinWord(self, w);
    }
  }
  static void PinWord(void* self, uintptr_t w) {
    if (w >= kSmallestPointer) {
      Pin(self, reinterpret_cast<const void*>(w | kConservativeHandle));
    }
  }
  static constexpr uintptr_t kSmallestPointer = 4096;

  HandleSlot* inline_[kInline];
  size_t count_ = 0;
  std::vector<HandleSlot*> more_;
};

// Roots the GC pointers of an argument of T(args...) across the slot's
// allocation: a gc::Ptr, a T copied or moved from, any value a Tracer
// takes (a std::pair holding a new object, a class scanned
// conservatively), and what the elements of a tuple refer to
// (std::forward_as_tuple(gc::make_unrooted<X>()) after
// std::piecewise_construct), and the object a raw pointer argument points
// to (`emplace_back(new Node{gc::make_unrooted<Leaf>()})` into a vector of
// std::unique_ptr<Node>: the Node is in C++ heap memory until the element
// owns it). Types a Tracer refuses (opaque standard library types) hold
// no GC pointer the collector could see anyway.
template <typename T, typename Arg>
void PinArgument(Pins& pins, const Arg& arg) {
  using D = std::remove_cvref_t<Arg>;
  if constexpr (IsTuple<D>::value) {
    std::apply(
        [&pins](const auto&... elements) {
          (PinArgument<T>(pins, elements), ...);
        },
        arg);
  } else if constexpr (IsPtr<D>::value || std::is_same_v<D, T>) {
    pins.Add(arg);
  } else if constexpr (std::is_class_v<D> || std::is_union_v<D>) {
    constexpr TraceKind kind = KindOf<D>();
    if constexpr (kind == TraceKind::kPrecise ||
                  kind == TraceKind::kConservative) {
      pins.Add(arg);
    }
  } else if constexpr (std::is_pointer_v<D>) {
    // The pointee itself, if it is a GC object (a raw pointer from
    // gc::make_unrooted<X>().get()), taken as a stack word is.
    pins.AddWord(arg);
    // What it points to only when T takes it over (a std::unique_ptr or
    // std::shared_ptr made from it): any other pointer may be one past the
    // end of an array, or point to memory already freed, and is not read.
    using P = std::remove_cv_t<std::remove_pointer_t<D>>;
    if constexpr ((std::is_class_v<P> || std::is_union_v<P>)&&Complete<P> &&
                  IsOwningPointer<T>::value) {
      if (arg != nullptr) PinArgument<T>(pins, *arg);
    }
  }
}

// T(args...) waiting in place, its GC pointers pinned.
template <typename T>
class StagedValue {
 public:
  template <typename... Args>
  explicit StagedValue(std::in_place_t, Args&&... args)
      : value_(std::forward<Args>(args)...) {
    pins_.Add(value_);
  }
  StagedValue(const StagedValue&) = delete;
  StagedValue& operator=(const StagedValue&) = delete;
  T& get() { return value_; }

 private:
  T value_;
  Pins pins_;
};

// T(args...) made in a rooted slot once the slot exists: a copy of a GC
// container made first would wait unrooted for the slot's allocation, and
// one made in the slot is reachable while its own copies allocate. A
// constructor that allocates runs on the thread's construction stack, as
// under gc::make (gc/roots.h): what it allocates is kept until it returns,
// before it is stored anywhere (two make_unrooted into locals).
template <typename T>
class StagedInSlot {
 public:
  template <typename... Args>
  explicit StagedInSlot(std::in_place_t, Args&&... args) {
    Pins arguments;
    (PinArgument<T>(arguments, args), ...);
    slot_ = EmptySlot();
    Array<T>* a = slot_.get();
    T* at = a->data();
    HandleArena* h = CurrentHandles();
    const size_t depth = h->BeginConstruction(at, sizeof(T));
    try {
      std::construct_at(at, std::forward<Args>(args)...);
    } catch (...) {
      h->EndConstruction(depth, at, false);
      throw;  // the slot stays empty: no element for it to destroy
    }
    a->length_ = 1;
    h->EndConstruction(depth, at, true);
  }
  StagedInSlot(const StagedInSlot&) = delete;
  StagedInSlot& operator=(const StagedInSlot&) = delete;
  T& get() { return (*slot_)[0]; }

 private:
  // A one-element array with no element yet (length 0: the marker scans
  // none of it, and its destructor destroys none). T(args...) is built
  // straight in it: T() never runs, so a type whose default constructor
  // throws, or counts, or allocates, is emplaced as std::vector would.
  static Root<Array<T>> EmptySlot() {
    void* mem = alloc::Allocate(ArrayTypeInfoHolder<T>::Get(),
                                Array<T>::kHeader + sizeof(T));
    return Root<Array<T>>(new (mem) Array<T>());
  }

  Root<Array<T>> slot_;
};

// The staged T(args...), in place or in a slot as StagedInPlace says:
//   auto made = internal::Stage<T>(std::forward<Args>(args)...);
//   ... allocate ...;
//   store(std::move(made.get()));
// (Returned as a prvalue: neither kind is copied or moved.)
template <typename T, typename... Args>
auto Stage(Args&&... args) {
  if constexpr (StagedInPlace<T, Args...>()) {
    return StagedValue<T>(std::in_place, std::forward<Args>(args)...);
  } else {
    return StagedInSlot<T>(std::in_place, std::forward<Args>(args)...);
  }
}

}  // namespace gc::internal
