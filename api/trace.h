// Tracing: how the collector finds the gc::Ptr values an object holds.
//
//   - An aggregate (a plain struct) needs nothing: its fields are found at
//     compile time (api/internal/reflect.h). If every field is a gc::Ptr,
//     pointer-free, or such an aggregate itself (or a std::array of one),
//     the type gets a pointer bitmap (api/internal/type_info.h) and the marker
//     scans it like Go scans a typed object, with no call at all. Otherwise
//     (say, a std::vector of gc::Ptr among its fields) it gets a generated
//     trace function that visits the fields.
//   - A class with constructors or private fields writes
//     `void trace(gc::Tracer& t) const { t(field1, field2, ...); }`.
//   - A type that holds no gc::Ptr (decided at compile time) is
//     pointer-free: it lives in noscan spans and is never scanned.
//
// The Tracer accepts gc::Ptr / Root / Global, std ranges (vector, list,
// map, unordered_map, set, deque, array, ...), the adaptors std::queue,
// std::stack and std::priority_queue, pairs, tuples, optionals, variants,
// std::unique_ptr and std::shared_ptr (what they point to is traced, as
// its static type: one to a polymorphic class with no trace() is a compile
// error, OwnsPolymorphicUnseen), aggregates and objects with a trace()
// member, nested arbitrarily. A range not of the standard library (begin()
// and end(), no trace()) is traced by what it yields and by its own bytes,
// conservatively; one that yields no GC pointers is a class as any other.
// A trace member counts only when it can be taken as
// `void (T::*)(Tracer&) const` (HasTrace): a logger's template is not one.
// Anything else handed to a Tracer is a compile error naming the type (a
// raw pointer, whatever it points to; an opaque standard type such as
// std::function), never a silent no-op: hold GC objects in gc::Ptr. A
// class without trace() handed to a Tracer is scanned conservatively, as
// everywhere (below).
//
// A std::unique_ptr or std::shared_ptr to a type that is incomplete where
// the holder's type information is made (a pimpl) is a compile error: what
// it holds cannot be known there, and taking it as pointer-free in one file
// and traced in another would give the holder two layouts. Complete the
// hidden type before gc::make of the holder, or declare the holder
// gc::PointerFree if nothing in it holds GC pointers.
//
// A trace() that gcrt cannot call as `void trace(gc::Tracer&) const` but
// is plainly meant for it (not const, or taking a Tracer*) is a compile
// error, not a trace() ignored (MisdeclaredTrace). A private trace() cannot
// be seen from outside the class: the class is taken as having none.
//
// A class that inherits its trace() from a base class (declares none of
// its own) is traced by the base's, which cannot see the derived class's
// own fields (unless it reaches them itself, as a CRTP base's may): one
// that adds GC pointers declares its own trace(), calling the base's
// (`Base::trace(t); t(field);`). Debug builds (GCRT_DEBUG_LEVEL >= 2) stop
// the program, naming both classes, when such a class's own bytes hold a
// pointer to another GC object that the inherited trace did not visit and
// the cycle had not marked otherwise (a gc::Root or gc::Global member is
// fine) (InheritsTrace).
//
// A raw pointer to a type that holds gc::Ptr (`Node*` where Node has a
// gc::Ptr field) is a compile error wherever gcrt takes a type apart (an
// aggregate's fields, a container's elements, a pair, ...; a field of a
// class with its own trace() is not seen, and not traced):
// the marker cannot follow it; use gc::Ptr<Node>.
//
// A class that is not an aggregate and has no trace() member (a class with
// constructors or private members) cannot be seen into: it is scanned
// conservatively, every aligned word of its own bytes taken as a possible
// pointer, whether it is allocated itself, a field of an aggregate, an
// element of a container or handed to a Tracer. Nothing its bytes hold is
// lost; what it keeps in C++ heap memory (a std::vector<gc::Ptr<T>> member)
// is not seen: give such a class a trace(). The cost: its objects live in
// scanned spans and are read word by word at every cycle, and an integer
// that happens to look like a heap address keeps an object alive. Opt out
// with gc::PointerFree (below) for a class known to hold no GC pointer, or
// give it a trace() to be scanned precisely. Classes too small or too
// loosely aligned to hold a pointer, and the standard library's opaque
// types (mutexes, atomics, std::function, chrono and locale types, ...)
// are taken to hold no gc::Ptr; those standard types are a compile error
// when handed to a Tracer. A class declared pointer-free (gc::PointerFree
// below; gc::Weak is one) is accepted by a Tracer too.
//
// A union is scanned whole, conservatively, if it is trivially destructible
// (which member is live is unknown; it owns nothing outside its bytes);
// otherwise it is a compile error.
// An aggregate that is also a range is traced by its fields.
//
// Aggregates that cannot be taken apart at compile time (a base class, an
// anonymous union member, a reference member, more than 64 fields, a C
// array member beside a field that {} cannot initialize: reflect.h):
// if the type is trivially destructible, it owns nothing outside its own
// bytes, so every GC pointer it can hold is in them, and it is scanned
// conservatively (every word a possible pointer: nothing is lost, garbage may
// be retained); otherwise it is a compile error that says what to change
// (std::array for C arrays, members instead of bases, or a trace() member).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <ranges>
#include <span>
#include <stack>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "gcrt/internal/reflect.h"
#include "gcrt/internal/tracer.h"
#include "gcrt/ptr.h"

namespace gc {

namespace internal {
// The member marker names the class itself, so that a class derived from a
// pointer-free one (and inheriting its marker) is not taken as pointer-free
// too: it may add gc::Ptr fields of its own. `void`, the older spelling,
// still declares the class, and every class derived from it, pointer-free.
template <typename T>
constexpr bool DeclaresPointerFree() {
  if constexpr (requires { typename T::gc_pointer_free; }) {
    return std::is_void_v<typename T::gc_pointer_free> ||
           std::is_same_v<typename T::gc_pointer_free, T>;
  } else {
    return false;
  }
}
}  // namespace internal

// Declares a class pointer-free: it holds no GC pointer, so the collector
// never scans it and a Tracer accepts it (and ignores it). Give the class a
// member `using gc_pointer_free = ClassName;` (the class itself: a derived
// class inherits the member but is not pointer-free by it; `= void` is
// inherited with its meaning), or specialize this as true.
template <typename T>
struct PointerFree : std::bool_constant<internal::DeclaresPointerFree<T>()> {};

namespace internal {

template <typename T>
struct IsGcPointer : std::false_type {};
template <typename T>
struct IsGcPointer<Ptr<T>> : std::true_type {};
template <typename T>
struct IsGcPointer<Root<T>> : std::true_type {};
template <typename T>
struct IsGcPointer<Global<T>> : std::true_type {};
template <typename T>
struct IsPtr : std::false_type {};
template <typename T>
struct IsPtr<Ptr<T>> : std::true_type {};

// The class that declares the `void trace(gc::Tracer&) const` a class
// has: the class itself, or the base class it inherits it from (the type
// of &T::trace names the declaring class). As a type_identity: an
// abstract class, or one whose destructor is not public, cannot be
// returned by value, and the deduction would fail without a word.
template <typename C>
std::type_identity<C> TraceDeclaringClass(void (C::*)(Tracer&) const);
template <typename C>
std::type_identity<C> TraceDeclaringClass(void (C::*)(Tracer&) const noexcept);
template <typename T>
using TraceDeclaringClassOf =
    typename decltype(TraceDeclaringClass(&T::trace))::type;

// The cast picks gcrt's trace out of an overload set (a logger's trace
// beside it); the declaring class covers one inherited from a virtual
// base, or a private base through a using-declaration, which no pointer
// to a member of T converts from.
template <typename T>
concept HasTrace = requires(const T& value, Tracer& tracer) {
  value.trace(tracer);
}
&&(
    requires { static_cast<void (T::*)(Tracer&) const>(&T::trace); } ||
    requires { static_cast<void (T::*)(Tracer&) const noexcept>(&T::trace); } ||
    requires {
      typename TraceDeclaringClassOf<T>;
      requires std::is_base_of_v<TraceDeclaringClassOf<T>, T>;
    });

// The bytes of a Base subobject that a class derived from it cannot reuse
// for its own fields (the Itanium ABI's "data size"): sizeof(Base) less the
// tail padding, where a derived class's first field may be placed (a Base
// that is not POD for the purpose of layout, such as one with a virtual
// function, followed by a field of smaller alignment). A field declared
// right after Base in a class derived from it lands there; an empty Base
// has none.
template <typename Base>
struct TailPaddingProbe : Base {
  char gcrt_tail_padding_probe_;
};
template <typename Base>
constexpr size_t BaseDataSize() {
  if constexpr (std::is_empty_v<Base>) {
    return 0;
  } else {
    // offsetof in a class that is not standard-layout is conditionally
    // supported; GCC and Clang compute it for a direct member.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
    return __builtin_offsetof(TailPaddingProbe<Base>, gcrt_tail_padding_probe_);
#pragma GCC diagnostic pop
  }
}

// T's trace() is a base class's, and T has bytes of its own, which that
// trace cannot see into: beyond the base's, or in the base's tail padding
// (a sizeof(T) equal to the base's may still hold a field of T's).
// (A base T cannot convert to, a private one, is not checked: the check
// could not find it in T.)
template <typename T>
concept InheritsTrace = HasTrace<T> && requires {
  typename TraceDeclaringClassOf<T>;
} && !std::is_same_v<TraceDeclaringClassOf<T>, T> &&
    std::is_convertible_v<const T*, const TraceDeclaringClassOf<T>*> &&
    sizeof(T) > BaseDataSize<TraceDeclaringClassOf<T>>();

// For a T that InheritsTrace: the bytes [*begin, *end) of the base whose
// trace() it inherits, in the live object `object` (a virtual base's
// offset is read from it), up to its data size: its tail padding may hold
// T's fields. The debug check of inherited traces and the
// crosscheck's report (alloc::TypeInfo::trace_base_bytes) use it.
template <typename T>
void InheritedTraceBaseBytes(const void* object, size_t* begin, size_t* end) {
  using Base = TraceDeclaringClassOf<T>;
  const T* o = static_cast<const T*>(object);
  *begin = static_cast<size_t>(
      reinterpret_cast<const unsigned char*>(static_cast<const Base*>(o)) -
      reinterpret_cast<const unsigned char*>(o));
  *end = *begin + BaseDataSize<Base>();
}

// Debug builds: runs `trace` (an object of `type` whose trace() is
// inherited from `base`, which lies at [base_begin, base_end) in it) with
// `tracer`, and stops the program if a word of the object's own bytes
// outside the base points into a live, unmarked GC object other than the
// one it is in, that the trace neither visited nor scanned: a field the
// inherited trace cannot see. The world is stopped (api/gc.cc).
void TraceCheckingOwnBytes(Tracer& tracer, const void* object, size_t size,
                           size_t base_begin, size_t base_end,
                           std::string_view type, std::string_view base,
                           void (*trace)(const void* object, Tracer& tracer));

// A trace() meant for gcrt that gcrt cannot call as `void trace(gc::Tracer&)
// const`, which would otherwise be ignored without a word: one that is not
// const, or takes a gc::Tracer*. A trace member that takes anything (a
// logger's template) is not one; nor is a private trace, which C++ cannot
// see from outside the class (object-model.md says so).
struct UnrelatedToTrace {};
template <typename T>
concept MisdeclaredTrace =
    !HasTrace<T> &&
    ((
         requires(T & value, Tracer& tracer) { value.trace(tracer); } &&
         !requires(T & value, UnrelatedToTrace& other) {
           value.trace(other);
         }) ||
     (
         requires(T & value, Tracer* tracer) { value.trace(tracer); } &&
         !requires(T & value, UnrelatedToTrace* other) {
           value.trace(other);
         }) ||
     requires { static_cast<void (T::*)(Tracer) const>(&T::trace); } ||
     requires { static_cast<void (T::*)(Tracer)>(&T::trace); });

template <typename T>
struct IsPair : std::false_type {};
template <typename A, typename B>
struct IsPair<std::pair<A, B>> : std::true_type {};
template <typename T>
struct IsTuple : std::false_type {};
template <typename... Ts>
struct IsTuple<std::tuple<Ts...>> : std::true_type {};
template <typename T>
struct IsVariant : std::false_type {};
template <typename... Ts>
struct IsVariant<std::variant<Ts...>> : std::true_type {};
template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <typename T>
struct IsStdArray : std::false_type {};
template <typename T, size_t N>
struct IsStdArray<std::array<T, N>> : std::true_type {};
// std::unique_ptr and std::shared_ptr: owners of what they point to.
// `kArray`: of an array (T[]), whose length they do not know.
template <typename T>
struct IsOwningPointer : std::false_type {};
template <typename T, typename D>
struct IsOwningPointer<std::unique_ptr<T, D>> : std::true_type {
  static constexpr bool kArray = std::is_array_v<T>;
};
template <typename T>
struct IsOwningPointer<std::shared_ptr<T>> : std::true_type {
  static constexpr bool kArray = std::is_array_v<T>;
};
// Standard types that hold a raw pointer without owning what it points
// to: std::atomic<T*>, std::reference_wrapper<T> and std::span<T>. The
// marker follows none, so each is classified as the raw pointer it holds
// (`Pointer`): a compile error when its target may hold gc::Ptr, which
// would be reclaimed while the view still reached it.
template <typename T>
struct ViewsRawPointer : std::false_type {};
template <typename T>
struct ViewsRawPointer<std::atomic<T>>
    : std::bool_constant<std::is_pointer_v<T>> {
  using Pointer = T;
};
template <typename T>
struct ViewsRawPointer<std::reference_wrapper<T>> : std::true_type {
  using Pointer = T*;
};
template <typename T, size_t N>
struct ViewsRawPointer<std::span<T, N>> : std::true_type {
  using Pointer = T*;
};
// A reference member of an aggregate (reflect::FieldType keeps it): a
// pointer the program cannot reseat, followed no more than one.
template <typename T>
requires std::is_reference_v<T>
struct ViewsRawPointer<T> : std::true_type {
  using Pointer = std::add_pointer_t<std::remove_reference_t<T>>;
};
template <typename T>
concept ViewOfRawPointer = ViewsRawPointer<T>::value;

// Container adaptors: traced through their underlying container.
template <typename T>
struct IsAdaptor : std::false_type {};
template <typename T, typename C>
struct IsAdaptor<std::queue<T, C>> : std::true_type {};
template <typename T, typename C>
struct IsAdaptor<std::stack<T, C>> : std::true_type {};
template <typename T, typename C, typename Cmp>
struct IsAdaptor<std::priority_queue<T, C, Cmp>> : std::true_type {};

// The adaptors' container is their protected member `c`.
template <typename A>
const typename A::container_type& AdaptedContainer(const A& a) {
  struct Access : A {
    static const typename A::container_type& Get(const A& x) {
      return x.*(&Access::c);
    }
  };
  return Access::Get(a);
}

// Aggregates that reflect.h can take apart: not arrays, not unions, not
// std::array.
template <typename T>
concept PlainAggregate =
    std::is_aggregate_v<T> && std::is_class_v<T> && !std::is_union_v<T> &&
    !IsStdArray<T>::value;
template <typename T>
concept ReflectedAggregate = PlainAggregate<T> && reflect::LimitOf<T>()
== reflect::Limit::kNone;
template <typename T>
concept UnreflectedAggregate = PlainAggregate<T> && !ReflectedAggregate<T>;

// "Node" from the compiler's signature of TypeNameView<Node>.
template <typename T>
constexpr std::string_view TypeNameView() {
  std::string_view f = __PRETTY_FUNCTION__;
  size_t start = f.find("T = ") + 4;
  size_t end = f.find_first_of(";]", start);
  return f.substr(start, end - start);
}

// Whether T is a type of the standard library (its name starts "std::").
template <typename T>
constexpr bool InStd() {
  return TypeNameView<T>().starts_with("std::");
}

// What the collector can know of a type at compile time.
enum class TraceKind {
  kPointerFree,   // holds no GC pointer
  kPrecise,       // holds GC pointers, all of them found
  kConservative,  // an unreflected trivially destructible aggregate, or a
                  // class without trace() that is not an aggregate
  kOpaque,        // an opaque standard library type (pointer-free as a
                  // field; a compile error when handed to a Tracer)
  kError,         // a raw pointer to a traced type, or an unreflected
                  // aggregate that is not trivially destructible
};

// Whether a value of kind k may hold a GC pointer.
constexpr bool HoldsGcPointers(TraceKind k) {
  return k == TraceKind::kPrecise || k == TraceKind::kConservative;
}

constexpr TraceKind Combine(TraceKind a, TraceKind b) {
  auto rank = [](TraceKind k) {
    switch (k) {
      case TraceKind::kPointerFree:
        return 0;
      case TraceKind::kOpaque:
        return 1;
      case TraceKind::kPrecise:
        return 2;
      case TraceKind::kConservative:
        return 3;
      case TraceKind::kError:
        return 4;
    }
    return 4;
  };
  return rank(a) >= rank(b) ? a : b;
}

// The types a kind is being found for, outermost first: a type met again
// inside itself (struct Tree { std::vector<Tree> kids; }) adds nothing to
// the kind the rest of it has, so it counts as pointer-free there, and the
// evaluation ends (a kind is the greatest of its parts' kinds).
template <typename... Ts>
struct TypeList {};
template <typename T, typename List>
struct InTypeList;
template <typename T, typename... Ts>
struct InTypeList<T, TypeList<Ts...>>
    : std::bool_constant<(std::is_same_v<T, Ts> || ...)> {};
template <typename T, typename List>
struct PushType;
template <typename T, typename... Ts>
struct PushType<T, TypeList<Ts...>> {
  using type = TypeList<Ts..., T>;
};

// kFollowRaw: whether a raw pointer's pointee is looked into, to refuse a
// raw pointer to a type that holds GC pointers. Inside a pointee it is not
// (a raw pointer there is taken as pointer-free), so that a type with a raw
// pointer to itself (`Node* parent`) gets that refusal, not an evaluation
// of its own kind that recurses. Seen: the enclosing types (TypeList).
template <typename T, bool kFollowRaw = true, typename Seen = TypeList<>>
constexpr TraceKind KindOf();

// The pointee type E of a std::unique_ptr or std::shared_ptr is a
// polymorphic class of the program's with no trace() and no pointer-free
// marker: the object may be of a derived class whose fields scanning E's
// bytes would miss, so it cannot be traced.
template <typename E>
constexpr bool OwnsPolymorphicUnseen() {
  if constexpr (std::is_polymorphic_v<E> && !std::is_final_v<E>) {
    return !HasTrace<E> && !PointerFree<E>::value && !InStd<E>();
  } else {
    return false;
  }
}

// A class the tracer cannot see into (see the rule at the top).
template <typename T>
constexpr TraceKind UnseenClassKind() {
  if constexpr (sizeof(T) < sizeof(void*) || alignof(T) < alignof(void*)) {
    return TraceKind::kPointerFree;  // no room for an aligned gc::Ptr
  } else if constexpr (InStd<T>()) {
    return TraceKind::kOpaque;
  } else {
    return TraceKind::kConservative;
  }
}

// Whether T is a complete type here. A raw pointer to an incomplete type
// is pointer-free (raw pointers are never traced; a file where the type is
// complete and traced refuses it); a smart pointer to one is an error.
template <typename T>
concept Complete = requires {
  sizeof(T);
};

// An aggregate gcrt cannot take apart that may be packed with a gc::Ptr
// inside: aligned to less than a pointer's size (no aligned gc::Ptr fits),
// yet large enough for one, with a member that is not trivially copyable,
// as gc::Ptr is not. Its conservative scan, which reads aligned words
// only, would miss such a pointer.
template <typename T>
constexpr bool MaybePackedUnseen() {
  return alignof(T) < alignof(void*) && sizeof(T) >= sizeof(void*) &&
         !std::is_trivially_copyable_v<T>;
}

// A member or element of kind k, seen from the value holding it: opaque
// members are taken as pointer-free (the documented rule), a conservative
// member (a base, an anonymous union) makes its holder precise only through the
// holder's trace function, which scans that member conservatively.
constexpr TraceKind AsMember(TraceKind k) {
  if (k == TraceKind::kOpaque) return TraceKind::kPointerFree;
  if (k == TraceKind::kConservative) return TraceKind::kPrecise;
  return k;
}

template <typename T, bool kFollowRaw, typename Seen, size_t... I>
constexpr TraceKind FieldsKind(std::index_sequence<I...>) {
  TraceKind k = TraceKind::kPointerFree;
  ((k = Combine(
        k, AsMember(KindOf<reflect::FieldType<T, I>, kFollowRaw, Seen>()))),
   ...);
  return k;
}
template <bool kFollowRaw, typename Seen, typename... Ts>
constexpr TraceKind ElementsKind() {
  TraceKind k = TraceKind::kPointerFree;
  ((k = Combine(k, AsMember(KindOf<std::remove_cv_t<Ts>, kFollowRaw, Seen>()))),
   ...);
  return k;
}
template <typename T, bool kFollowRaw, typename Seen, size_t... I>
constexpr TraceKind TupleKind(std::index_sequence<I...>) {
  return ElementsKind<kFollowRaw, Seen, std::tuple_element_t<I, T>...>();
}
template <typename T, bool kFollowRaw, typename Seen>
struct VariantKind;
template <bool kFollowRaw, typename Seen, typename... Ts>
struct VariantKind<std::variant<Ts...>, kFollowRaw, Seen> {
  static constexpr TraceKind kValue = ElementsKind<kFollowRaw, Seen, Ts...>();
};

template <typename T, bool kFollowRaw, typename Seen>
constexpr TraceKind KindOf() {
  using Inner = typename PushType<T, Seen>::type;
  if constexpr (InTypeList<T, Seen>::value) {
    return TraceKind::kPointerFree;  // met again inside itself: see TypeList
  } else if constexpr (ViewOfRawPointer<T>) {
    return KindOf<typename ViewsRawPointer<T>::Pointer, kFollowRaw, Seen>();
  } else if constexpr (IsGcPointer<T>::value || HasTrace<T>) {
    return TraceKind::kPrecise;
  } else if constexpr (PointerFree<T>::value) {
    return TraceKind::kPointerFree;
  } else if constexpr (MisdeclaredTrace<T>) {
    return TraceKind::kError;
  } else if constexpr (std::is_pointer_v<T>) {
    using Pointee = std::remove_cv_t<std::remove_pointer_t<T>>;
    if constexpr (kFollowRaw && std::is_object_v<Pointee> &&
                  !std::is_array_v<Pointee> && Complete<Pointee>) {
      constexpr TraceKind k = KindOf<Pointee, false>();
      return HoldsGcPointers(k) || MisdeclaredTrace<Pointee>
                 ? TraceKind::kError
                 : TraceKind::kPointerFree;
    } else {
      return TraceKind::kPointerFree;
    }
  } else if constexpr (std::is_scalar_v<T>) {
    return TraceKind::kPointerFree;
  } else if constexpr (std::is_array_v<T>) {
    return AsMember(
        KindOf<std::remove_cv_t<std::remove_extent_t<T>>, kFollowRaw, Inner>());
  } else if constexpr (IsPair<T>::value || IsTuple<T>::value) {
    return TupleKind<T, kFollowRaw, Inner>(
        std::make_index_sequence<std::tuple_size_v<T>>());
  } else if constexpr (IsVariant<T>::value) {
    return VariantKind<T, kFollowRaw, Inner>::kValue;
  } else if constexpr (IsOptional<T>::value) {
    return AsMember(
        KindOf<std::remove_cv_t<typename T::value_type>, kFollowRaw, Inner>());
  } else if constexpr (IsOwningPointer<T>::value) {
    using E = std::remove_cv_t<typename T::element_type>;
    if constexpr (std::is_void_v<E>) {
      return TraceKind::kOpaque;  // type-erased, as std::any
    } else if constexpr (!Complete<E>) {
      return TraceKind::kError;
    } else if constexpr (OwnsPolymorphicUnseen<E>()) {
      return TraceKind::kError;
    } else {
      constexpr TraceKind k = AsMember(KindOf<E, kFollowRaw, Inner>());
      if constexpr (IsOwningPointer<T>::kArray) {
        // The length is not known: tracing it is impossible.
        return k == TraceKind::kPointerFree ? k : TraceKind::kError;
      } else {
        return k;
      }
    }
  } else if constexpr (IsAdaptor<T>::value) {
    return KindOf<typename T::container_type, kFollowRaw, Inner>();
  } else if constexpr (ReflectedAggregate<T>) {
    // Before ranges: an aggregate with begin() and end() is traced by its
    // fields, which hold whatever its range yields and more. Packed, with a
    // GC pointer: an error (PackedWithGcPointer), wherever it is.
    constexpr TraceKind k = FieldsKind<T, kFollowRaw, Inner>(
        std::make_index_sequence<reflect::kFieldCount<T>>());
    if constexpr (alignof(T) < alignof(void*) && HoldsGcPointers(k)) {
      return TraceKind::kError;
    } else {
      return k;
    }
  } else if constexpr (UnreflectedAggregate<T>) {
    return std::is_trivially_destructible_v<T> && !MaybePackedUnseen<T>()
               ? TraceKind::kConservative
               : TraceKind::kError;
  } else if constexpr (std::is_union_v<T>) {
    // Which member is live is unknown: scanned whole if that is safe (and
    // it can hold a pointer at all).
    if constexpr (sizeof(T) < sizeof(void*) || alignof(T) < alignof(void*)) {
      return TraceKind::kPointerFree;
    } else {
      return std::is_trivially_destructible_v<T> ? TraceKind::kConservative
                                                 : TraceKind::kError;
    }
  } else if constexpr (std::ranges::range<T>) {
    using E = std::remove_cv_t<std::ranges::range_value_t<T>>;
    if constexpr (std::is_same_v<E, T>) {
      return TraceKind::kOpaque;  // its own element (std::filesystem::path)
    } else if constexpr (InStd<T>()) {
      return AsMember(KindOf<E, kFollowRaw, Inner>());
    } else {
      // A range of the program's or a library's, with no trace(): its own
      // bytes may hold GC pointers besides what it yields (a GC string's
      // gc::Ptr to its characters, a class derived from a std::vector). A
      // range of GC pointers is traced by its elements and its own bytes
      // conservatively (TraceValue); any other is a class like the rest.
      constexpr TraceKind k = AsMember(KindOf<E, kFollowRaw, Inner>());
      if constexpr (k == TraceKind::kError) {
        return k;
      } else if constexpr (HoldsGcPointers(k)) {
        return TraceKind::kPrecise;
      } else {
        return UnseenClassKind<T>();
      }
    }
  } else if constexpr (std::is_class_v<T>) {
    return UnseenClassKind<T>();
  } else {
    return TraceKind::kPointerFree;
  }
}

// Whether a T can hold a GC pointer, decided at compile time.
template <typename T>
constexpr bool ContainsGcPointers() {
  return HoldsGcPointers(KindOf<T>());
}

template <typename T>
constexpr bool OwnsArray() {
  if constexpr (IsOwningPointer<T>::value) {
    return IsOwningPointer<T>::kArray;
  } else {
    return false;
  }
}

template <typename T>
constexpr bool OwnsPolymorphicUnseenMember() {
  if constexpr (IsOwningPointer<T>::value) {
    using E = std::remove_cv_t<typename T::element_type>;
    if constexpr (Complete<E>) {
      return OwnsPolymorphicUnseen<E>();
    } else {
      return false;
    }
  } else {
    return false;
  }
}

template <typename T>
constexpr bool OwnsIncomplete() {
  if constexpr (IsOwningPointer<T>::value) {
    using E = std::remove_cv_t<typename T::element_type>;
    return !std::is_void_v<E> && !Complete<E>;
  } else {
    return false;
  }
}

// A raw pointer to a type that may hold GC pointers (itself, not inside
// another type).
template <typename T>
concept RawPointerToTraced = std::is_pointer_v<T> && KindOf<T>()
== TraceKind::kError;

template <typename T, typename Seen = TypeList<>>
constexpr bool HoldsRawPointerToTraced();
template <typename Seen, typename... Ts>
constexpr bool AnyHoldsRawPointerToTraced() {
  return (HoldsRawPointerToTraced<std::remove_cv_t<Ts>, Seen>() || ...);
}
template <typename T, typename Seen, size_t... I>
constexpr bool FieldsHoldRawPointerToTraced(std::index_sequence<I...>) {
  return AnyHoldsRawPointerToTraced<Seen, reflect::FieldType<T, I>...>();
}
template <typename T, typename Seen, size_t... I>
constexpr bool ElementsHoldRawPointerToTraced(std::index_sequence<I...>) {
  return AnyHoldsRawPointerToTraced<Seen, std::tuple_element_t<I, T>...>();
}
template <typename T, typename Seen>
struct VariantHoldsRawPointerToTraced;
template <typename Seen, typename... Ts>
struct VariantHoldsRawPointerToTraced<std::variant<Ts...>, Seen> {
  static constexpr bool kValue = AnyHoldsRawPointerToTraced<Seen, Ts...>();
};

// What gc::Channel and a task's result refuse: a raw pointer to a type that
// may hold GC pointers, itself or anywhere the tracer can see into a value
// (std::vector<Node*>, std::pair<Node*, int>, an aggregate with a Node*
// field). Such a value waits in a buffer or a result box that is a root
// only for what the tracer follows, so the pointee would be reclaimed. Only
// this reason: a payload the tracer cannot take apart for another reason
// (an aggregate with a base class and a std::string, a pimpl's unique_ptr to
// an incomplete type) is not a GC type there and still travels. Seen: the
// enclosing types, as for KindOf.
template <typename T, typename Seen>
constexpr bool HoldsRawPointerToTraced() {
  using Inner = typename PushType<T, Seen>::type;
  if constexpr (ViewOfRawPointer<T>) {
    return RawPointerToTraced<typename ViewsRawPointer<T>::Pointer>;
  } else if constexpr (InTypeList<T, Seen>::value || IsGcPointer<T>::value ||
                       HasTrace<T> || PointerFree<T>::value) {
    return false;  // met again, or the class's own trace decides
  } else if constexpr (std::is_pointer_v<T>) {
    return RawPointerToTraced<T>;
  } else if constexpr (std::is_scalar_v<T>) {
    return false;
  } else if constexpr (std::is_array_v<T>) {
    return HoldsRawPointerToTraced<std::remove_cv_t<std::remove_extent_t<T>>,
                                   Inner>();
  } else if constexpr (IsPair<T>::value || IsTuple<T>::value) {
    return ElementsHoldRawPointerToTraced<T, Inner>(
        std::make_index_sequence<std::tuple_size_v<T>>());
  } else if constexpr (IsVariant<T>::value) {
    return VariantHoldsRawPointerToTraced<T, Inner>::kValue;
  } else if constexpr (IsOptional<T>::value) {
    return HoldsRawPointerToTraced<std::remove_cv_t<typename T::value_type>,
                                   Inner>();
  } else if constexpr (IsOwningPointer<T>::value) {
    using E = std::remove_cv_t<typename T::element_type>;
    if constexpr (Complete<E> && !IsOwningPointer<T>::kArray) {
      return HoldsRawPointerToTraced<E, Inner>();
    } else {
      return false;
    }
  } else if constexpr (IsAdaptor<T>::value) {
    return HoldsRawPointerToTraced<typename T::container_type, Inner>();
  } else if constexpr (ReflectedAggregate<T>) {
    return FieldsHoldRawPointerToTraced<T, Inner>(
        std::make_index_sequence<reflect::kFieldCount<T>>());
  } else if constexpr (std::ranges::range<T>) {
    using E = std::remove_cv_t<std::ranges::range_value_t<T>>;
    if constexpr (std::is_same_v<E, T>) {
      return false;
    } else {
      return HoldsRawPointerToTraced<E, Inner>();
    }
  } else {
    return false;
  }
}

// The compile errors. Each is a template of its own so the error names the
// type: "In instantiation of 'gc::internal::CannotTrace<T>' ...".
template <typename T>
constexpr bool CheckTraceable();

// A reference member of an aggregate is checked as the pointer it is;
// visiting the fields gives what it refers to, a value like any other.
template <typename F>
constexpr bool CheckReferenceField() {
  if constexpr (std::is_reference_v<F>) {
    return CheckTraceable<F>();
  } else {
    return true;
  }
}
template <typename T, size_t... I>
constexpr bool CheckReferenceFields(std::index_sequence<I...>) {
  return (CheckReferenceField<reflect::FieldType<T, I>>() && ...);
}
template <typename T>
constexpr bool CheckReferenceFieldsOf() {
  if constexpr (ReflectedAggregate<T>) {
    return CheckReferenceFields<T>(
        std::make_index_sequence<reflect::kFieldCount<T>>());
  } else {
    return true;
  }
}

#if defined(__cpp_aggregate_paren_init)
inline constexpr bool kParenAggregateInit = true;
#else
inline constexpr bool kParenAggregateInit = false;
#endif

// A packed aggregate (#pragma pack, __attribute__((packed))) holding GC
// pointers, taken apart: its gc::Ptr fields may lie at offsets that are not
// multiples of a pointer's size, where the marker, which reads GC pointers
// only from aligned words, never looks (in a bitmap, the offset rounds down
// to the word before). Nested in an aligned aggregate too.
template <typename T>
constexpr bool PackedWithGcPointer() {
  if constexpr (ReflectedAggregate<T> && alignof(T) < alignof(void*)) {
    return HoldsGcPointers(FieldsKind<T, true, TypeList<T>>(
        std::make_index_sequence<reflect::kFieldCount<T>>()));
  } else {
    return false;
  }
}

template <typename T>
struct CannotTrace {
  static_assert(!PackedWithGcPointer<T>(),
                "gcrt: this aggregate holds a gc::Ptr but is aligned to less "
                "than a pointer's size: it is packed (#pragma pack, "
                "__attribute__((packed))), and the collector reads GC "
                "pointers only from aligned words. Remove the packing");
  static_assert(!UnreflectedAggregate<T> ||
                    !std::is_trivially_destructible_v<T> ||
                    !MaybePackedUnseen<T>(),
                "gcrt: this aggregate, which gcrt cannot take apart (with "
                "clang before 16, any of two or more fields), is aligned to "
                "less than a pointer's size and has a member that is not "
                "trivially copyable, as gc::Ptr is not: if that member is a "
                "gc::Ptr, the aggregate is packed, and the collector, which "
                "reads GC pointers only from aligned words, would not find "
                "it. Remove the packing; if it holds no gc::Ptr, declare it "
                "pointer-free (`using gc_pointer_free = T;`)");
  static_assert(!ViewOfRawPointer<T>,
                "gcrt: a std::atomic<T*>, std::reference_wrapper<T>, "
                "std::span<T> or reference member, with T a type that may "
                "hold gc::Ptr, holds a raw pointer, which the marker does "
                "not follow: its target would be reclaimed while still "
                "pointed to. Hold a gc::Ptr<T> instead (for a span, a "
                "gc::Ptr<gc::Array<T>> or a gc::Vector<T> and the bounds; "
                "for an atomic, a gc::Ptr<T> under a mutex)");
  static_assert(CheckReferenceFieldsOf<T>());
  static_assert(!MisdeclaredTrace<T>,
                "gcrt: this class has a trace member that gcrt cannot call "
                "as `void trace(gc::Tracer& t) const` (it is not const, or "
                "takes a gc::Tracer* or a gc::Tracer by value), so its "
                "fields would not be traced: declare it exactly so, public");
  static_assert(!std::is_pointer_v<T>,
                "gcrt: a raw pointer to a type that may hold gc::Ptr (traced, "
                "or scanned conservatively) cannot be traced: hold GC "
                "objects in gc::Ptr<T> (the marker follows only gc::Ptr, "
                "gc::Root and gc::Global)");
#if !defined(__cpp_aggregate_paren_init)
  static_assert(!UnreflectedAggregate<T> ||
                    std::is_trivially_destructible_v<T> ||
                    reflect::LimitOf<T>() != reflect::Limit::kCArray,
                "gcrt: this compiler lacks C++20's parenthesized aggregate "
                "initialization (clang before 16), without which gcrt "
                "cannot take an aggregate of two or more fields apart; this "
                "one is not trivially destructible, so it cannot be scanned "
                "whole either: give it a `void trace(gc::Tracer&) const` "
                "member, or build with g++ 10 or later or clang 16 or later");
#endif
  static_assert(!UnreflectedAggregate<T> ||
                    std::is_trivially_destructible_v<T> ||
                    (!kParenAggregateInit &&
                     reflect::LimitOf<T>() == reflect::Limit::kCArray),
                "gcrt: this aggregate cannot be taken apart at compile time "
                "and is not trivially destructible, so it cannot be scanned "
                "safely: replace each C array member `T x[N]` with "
                "`std::array<T, N> x`, make base classes members, hold "
                "references as pointers, name each anonymous union (`union "
                "U { ... } u;`), keep it to 64 fields or fewer, or give it "
                "a `void trace(gc::Tracer&) const` member");
  static_assert(!std::is_union_v<T>,
                "gcrt: a union that is not trivially destructible cannot be "
                "traced (which member is live is unknown): give the type "
                "holding it a `void trace(gc::Tracer&) const` member that "
                "traces the live member, or use std::variant");
  static_assert(!OwnsIncomplete<T>(),
                "gcrt: a std::unique_ptr / std::shared_ptr to a type that is "
                "incomplete here (a pimpl) cannot be traced: complete the "
                "type before gc::make of its holder, or declare the holder "
                "gc::PointerFree if nothing in it holds GC pointers");
  static_assert(!OwnsPolymorphicUnseenMember<T>(),
                "gcrt: a std::unique_ptr / std::shared_ptr to a polymorphic "
                "class with no trace(): the object may be of a derived "
                "class, whose fields gcrt cannot see by scanning the base's "
                "bytes. Give the base `virtual void trace(gc::Tracer& t) "
                "const` (a derived class with GC pointers overrides it), or, "
                "if no class derived from it holds GC pointers, declare the "
                "base pointer-free (`using gc_pointer_free = Base;`)");
  static_assert(!IsOwningPointer<T>::value || OwnsIncomplete<T>() ||
                    !OwnsArray<T>(),
                "gcrt: a std::unique_ptr / std::shared_ptr to an array of "
                "traced elements cannot be traced (its length is unknown): "
                "use a std::vector, or a gc::Array");
  static constexpr bool kValue = true;
};
template <typename T>
struct CannotTraceOpaque {
  static_assert(sizeof(T) == 0,
                "gcrt: gc::Tracer was handed an opaque standard library type "
                "(such as std::function or std::mutex) it cannot see into: "
                "do not hand it to the tracer (it is taken to hold no GC "
                "pointer); if it does hold GC objects, keep them in gc::Ptr "
                "members the trace() visits");
  static constexpr bool kValue = true;
};
template <typename T>
struct CannotTraceRawPointer {
  static_assert(sizeof(T) == 0,
                "gcrt: gc::Tracer was handed a raw pointer: the marker "
                "follows only gc::Ptr, gc::Root and gc::Global, so what it "
                "points to would not be kept alive. Hold GC objects in "
                "gc::Ptr<T>; a raw pointer to memory outside the GC heap "
                "needs no tracing: leave it out of trace()");
  static constexpr bool kValue = true;
};

// The kind T must have to be traced: errors are reported here.
template <typename T>
constexpr bool CheckTraceable() {
  constexpr TraceKind k = KindOf<T>();
  if constexpr (k == TraceKind::kError) {
    return CannotTrace<T>::kValue;
  } else {
    return true;
  }
}

template <typename T>
void TraceValue(Tracer& tracer, const T& value) {
  constexpr TraceKind kind = KindOf<T>();
  static_assert(kind != TraceKind::kError || CheckTraceable<T>());
  if constexpr (kind == TraceKind::kPointerFree || kind == TraceKind::kOpaque) {
    // Nothing to visit (opaque members are pointer-free by the rule above).
  } else if constexpr (kind == TraceKind::kConservative) {
    if (tracer.DeferIfConcurrent()) return;  // raw words: no barrier
    tracer.VisitConservative(std::addressof(value), sizeof(T));
  } else if constexpr (IsPtr<T>::value) {
    tracer.Visit(PtrAccess::LoadRelaxed(value));
  } else if constexpr (IsGcPointer<T>::value) {
    // A Root or Global member is a root of its own: its handle slot is
    // scanned again at the final stop, so the concurrent marker need not
    // read a member the program may be changing.
    if (!tracer.concurrent()) tracer.Visit(value.get());
  } else if constexpr (HasTrace<T>) {
#if GCRT_DEBUG_LEVEL >= 2
    if constexpr (InheritsTrace<T>) {
      // Read word by word: at the final stop, not beside the program.
      if (tracer.DeferIfConcurrent()) return;
      using Base = TraceDeclaringClassOf<T>;
      size_t base_begin, base_end;
      InheritedTraceBaseBytes<T>(std::addressof(value), &base_begin, &base_end);
      TraceCheckingOwnBytes(
          tracer, std::addressof(value), sizeof(T), base_begin, base_end,
          TypeNameView<T>(), TypeNameView<Base>(),
          [](const void* o, Tracer& t) { static_cast<const T*>(o)->trace(t); });
      return;
    }
#endif
    value.trace(tracer);
  } else if constexpr (std::is_array_v<T>) {
    for (const auto& e : value) TraceValue(tracer, e);
  } else if constexpr (IsPair<T>::value) {
    TraceValue(tracer, value.first);
    TraceValue(tracer, value.second);
  } else if constexpr (IsTuple<T>::value) {
    std::apply([&](const auto&... e) { (TraceValue(tracer, e), ...); }, value);
  } else if constexpr (IsVariant<T>::value) {
    if (tracer.DeferIfConcurrent()) return;
    if (!value.valueless_by_exception()) {
      std::visit([&](const auto& e) { TraceValue(tracer, e); }, value);
    }
  } else if constexpr (IsOptional<T>::value) {
    if (tracer.DeferIfConcurrent()) return;
    if (value.has_value()) TraceValue(tracer, *value);
  } else if constexpr (IsOwningPointer<T>::value) {
    if (tracer.DeferIfConcurrent()) return;
    if (value != nullptr) TraceValue(tracer, *value);
  } else if constexpr (IsAdaptor<T>::value) {
    if (tracer.DeferIfConcurrent()) return;
    TraceValue(tracer, AdaptedContainer(value));
  } else if constexpr (ReflectedAggregate<T>) {
    reflect::ForEachField(
        value, [&](const auto& field) { TraceValue(tracer, field); });
  } else if constexpr (std::ranges::range<T>) {
    if (tracer.DeferIfConcurrent()) return;
    // A range not of the standard library: its own bytes too (KindOf).
    if constexpr (!InStd<T>()) {
      tracer.VisitConservative(std::addressof(value), sizeof(T));
    }
    for (const auto& e : value) TraceValue(tracer, e);
  }
}

// A value handed to a Tracer directly: an opaque type is an error there.
template <typename T>
void TraceArgument(Tracer& tracer, const T& value) {
  if constexpr (std::is_pointer_v<T>) {
    static_assert(CannotTraceRawPointer<T>::kValue);
  } else if constexpr (KindOf<T>() == TraceKind::kOpaque) {
    static_assert(CannotTraceOpaque<T>::kValue);
  } else {
    TraceValue(tracer, value);
  }
}

}  // namespace internal

template <typename... Ts>
void Tracer::operator()(const Ts&... values) {
  (internal::TraceArgument(*this, values), ...);
}

}  // namespace gc
