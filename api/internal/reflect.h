// Internal to gcrt: not part of the API, may change.
//
// Compile-time reflection of aggregates, for tracing (api/trace.h): how
// many fields a plain struct has, their types, and a visit of each.
//
// The field count is the largest N for which T{x1, ..., xN} compiles, with
// xi convertible to anything; fields are then named by a structured
// binding of that many names (reflect_fields.inc). Every step is bounded
// by kMaxFields, whatever the size of T's members, so a member such as
// std::array<char, 1 << 20> costs the compiler nothing (the count of a
// search up to sizeof(T) * 8 fields is what exhausted it before).
//
// Not every aggregate can be taken apart this way, and each case is found
// at compile time rather than guessed:
//   - a C array member: brace elision lets each element take an
//     initializer, so the count is off. Found because T(x1, ..., xN) - the
//     parenthesized form, which never elides braces - does not compile.
//     Such a T is counted again with empty braces, T{{}, ..., {}}, one per
//     direct member, which brace elision never splits; the count stands if
//     nothing initializes a member after it (a member that takes no {} - a
//     class with an explicit default constructor - stops the count short,
//     and this check finds it). Otherwise the C array is the limit.
//   - a base class: it takes the first initializer. Found by a first
//     initializer that converts only to T's bases, and which a first field
//     that takes anything (std::any) would take too: one that also takes
//     an unrelated type is such a field, not a base.
//   - more than kMaxFields fields (counting each element of a C array).
//   - no initializer list fits at all (a reference member).
#pragma once

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include "gcrt/runtime/base.h"

namespace gc::internal::reflect {

inline constexpr size_t kMaxFields = 64;

// Converts to any type (only in unevaluated operands: declared, never
// defined, and not constexpr, which would make it inline and have GCC
// warn that an inline function is used but never defined).
struct AnyField {
  template <typename U>
  operator U() const noexcept;
};
// Converts to an lvalue of any type: what a reference member binds to.
struct AnyLvalue {
  template <typename U>
  operator U&() const noexcept;
};
// Converts only to a proper base class of T.
template <typename T>
struct AnyBaseOf {
  template <typename U>
  requires(std::is_base_of_v<U, T> && !std::is_same_v<U, std::remove_cv_t<T>>)
  operator U() const noexcept;
};

template <size_t>
using AnyFieldAt = AnyField;

template <typename T, size_t... I>
constexpr bool BraceInitializable(std::index_sequence<I...>) {
  return requires { T{AnyFieldAt<I>{}...}; };
}
template <typename T, size_t... I>
constexpr bool ParenInitializable(std::index_sequence<I...>) {
  return requires { T(AnyFieldAt<I>{}...); };
}
// A type no field is initialized from, unless that field takes anything
// (std::any, a class with an unconstrained template constructor).
struct NotABase {};
template <typename T, size_t... I>
constexpr bool FirstIsBase(std::index_sequence<I...>) {
  return requires { T{AnyBaseOf<T>{}, AnyFieldAt<I>{}...}; }
  &&!requires { T{NotABase{}, AnyFieldAt<I>{}...}; };
}

// The largest N <= kMaxFields + 1 with T{x1, ..., xN} valid (kMaxFields + 1
// meaning "more than kMaxFields").
template <typename T>
constexpr size_t BraceCount() {
  return []<size_t... N>(std::index_sequence<N...>) {
    size_t count = 0;
    ((BraceInitializable<T>(std::make_index_sequence<N>()) ? count = N : 0),
     ...);
    return count;
  }
  (std::make_index_sequence<kMaxFields + 2>());
}

// f(field), unless the field is a reference member (`Declared`, its
// declared type, is a reference): what it refers to is not part of the
// object, and api/trace.h classifies the reference itself as the pointer
// it is.
template <typename Declared, typename Field, typename F>
GCRT_ALWAYS_INLINE void VisitField(Field& field, F& f) {
  if constexpr (!std::is_reference_v<Declared>) f(field);
}

#include "gcrt/internal/reflect_fields.inc"

// The direct members of an aggregate with a C array member, counted with
// empty braces, or 0 if that count cannot be trusted (see above).
template <typename T>
constexpr size_t DirectCount() {
  constexpr size_t m = []<size_t... N>(std::index_sequence<N...>) {
    size_t count = 0;
    ((EmptyBracesFit<T, N + 1>() ? count = N + 1 : 0), ...);
    return count;
  }
  (std::make_index_sequence<kMaxFields>());
  if constexpr (m == 0 || m == kMaxFields) {
    return 0;
  } else if constexpr (EmptyBracesThen<T, m, AnyField>() ||
                       EmptyBracesThen<T, m, AnyLvalue>()) {
    return 0;  // a member after the m-th took no {}
  } else {
    return m;
  }
}

// Why an aggregate cannot be reflected, if it cannot.
enum class Limit { kNone, kTooManyFields, kCArray, kBaseClass, kUncountable };

// Whether T's brace count may be off because of a C array member: its
// fields are then its direct members, counted by DirectCount. (Past
// kMaxFields the elements of a C array may be what overflowed it.)
template <typename T>
constexpr bool CountsArrayElements() {
  constexpr size_t n = BraceCount<T>();
  if constexpr (n > kMaxFields) {
    return true;
  } else if constexpr (n >= 2) {
    return !ParenInitializable<T>(std::make_index_sequence<n>());
  } else {
    return false;
  }
}

template <typename T>
constexpr Limit LimitOf() {
  constexpr size_t n = BraceCount<T>();
  if constexpr (n == 0) {
    // No initializer list fits a non-empty aggregate: a member no
    // conversion reaches (a reference), so its fields are unknown.
    return std::is_empty_v<T> ? Limit::kNone : Limit::kUncountable;
  } else if constexpr (n > kMaxFields) {
    return FirstIsBase<T>(std::make_index_sequence<0>()) ||
                   DirectCount<T>() == 0
               ? Limit::kTooManyFields
               : Limit::kNone;
  } else if constexpr (FirstIsBase<T>(std::make_index_sequence<n - 1>())) {
    return Limit::kBaseClass;
  } else if constexpr (CountsArrayElements<T>()) {
    return DirectCount<T>() != 0 ? Limit::kNone : Limit::kCArray;
  } else {
    return Limit::kNone;
  }
}

// Number of fields of an aggregate T with LimitOf<T>() == kNone.
template <typename T>
inline constexpr size_t kFieldCount = [] {
  if constexpr (CountsArrayElements<T>()) {
    return DirectCount<T>();
  } else {
    return BraceCount<T>();
  }
}();

// The type of field I of T, cv-qualifiers removed; a reference member
// stays a reference (api/trace.h classifies it as the pointer it is).
template <typename T, size_t I>
using FieldType = std::remove_cv_t<typename std::tuple_element_t<
    I, decltype(FieldTypes<kFieldCount<T>>(std::declval<T&>()))>::type>;

// Calls f(field) for each field of t that is not a reference member, in
// declaration order.
template <typename T, typename F>
GCRT_ALWAYS_INLINE void ForEachField(T& t, F&& f) {
  constexpr size_t n = kFieldCount<std::remove_cv_t<T>>;
  if constexpr (n > 0) VisitFields<n>(t, f);
}

}  // namespace gc::internal::reflect
