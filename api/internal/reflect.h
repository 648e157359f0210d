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
// A C array member lets each of its elements take an initializer (brace
// elision), so the count is off. That is found because T(x1, ..., xN) -
// the parenthesized form, which never elides braces - does not compile,
// and the fields are then counted with empty braces, each of which
// initializes one whole field (BracedFieldCount), a count used only once
// proved.
//
// Not every aggregate can be taken apart, and each case is found at
// compile time rather than guessed:
//   - a C array member beside a field that {} cannot initialize (no
//     default constructor, or an explicit one), or with a compiler that
//     lacks parenthesized aggregate initialization.
//   - a base class: it takes the first initializer. Found by a first
//     initializer that converts only to T's bases, and which a first field
//     that takes anything (std::any) would take too: one that also takes
//     an unrelated type is such a field, not a base.
//   - more than kMaxFields fields (each element of a C array counts, unless
//     the fields are counted with braces).
//   - no initializer list fits at all (a reference member).
//   - an anonymous union (or GNU anonymous struct) member, which a
//     structured binding refuses (a hard error, not a substitution
//     failure). Found, with g++, because T{y1, ..., yN} does not compile
//     with yi converting to anything but an unnamed union or struct, to
//     which its conversion is deleted: g++ then does not elide braces into
//     the member. clang does elide them, so it is not found there (clang
//     before 16 takes no aggregate of two or more fields apart anyway: no
//     parenthesized aggregate initialization).
#pragma once

#include <cstddef>
#include <string_view>
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
// Converts only to a proper base class of T.
template <typename T>
struct AnyBaseOf {
  template <typename U>
  requires(std::is_base_of_v<U, T> && !std::is_same_v<U, std::remove_cv_t<T>>)
  operator U() const noexcept;
};

template <size_t>
using AnyFieldAt = AnyField;

// Whether U is a union or struct with no name: the type of an anonymous
// union member (or of a GNU anonymous struct, or of a member declared
// `union { ... } u;`, which is taken for one).
template <typename U>
constexpr bool UnnamedClass() {
  if constexpr (!std::is_class_v<U> && !std::is_union_v<U>) {
    return false;
  } else {
    constexpr std::string_view f = __PRETTY_FUNCTION__;
    return f.find("<unnamed union>") != std::string_view::npos ||
           f.find("<unnamed struct>") != std::string_view::npos ||
           f.find("(anonymous union") != std::string_view::npos ||
           f.find("(anonymous struct") != std::string_view::npos ||
           f.find("(unnamed union") != std::string_view::npos ||
           f.find("(unnamed struct") != std::string_view::npos;
  }
}
// Converts to any type but an unnamed union or struct (deleted there).
struct AnyButUnnamedClass {
  template <typename U>
  requires(!UnnamedClass<U>()) operator U() const noexcept;
  template <typename U>
  requires(UnnamedClass<U>()) operator U() const noexcept = delete;
};
template <size_t>
using AnyButUnnamedClassAt = AnyButUnnamedClass;

template <typename T, size_t... I>
constexpr bool BraceInitializable(std::index_sequence<I...>) {
  return requires { T{AnyFieldAt<I>{}...}; };
}
template <typename T, size_t... I>
constexpr bool ParenInitializable(std::index_sequence<I...>) {
  return requires { T(AnyFieldAt<I>{}...); };
}
template <typename T, size_t... I>
constexpr bool NoUnnamedClassField(std::index_sequence<I...>) {
  return requires { T{AnyButUnnamedClassAt<I>{}...}; };
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

#if defined(__cpp_aggregate_paren_init)
inline constexpr bool kBracedCount = true;
#else
// Without parenthesized aggregate initialization no aggregate of two or
// more fields is taken apart (ParenInitializable is false), and an
// anonymous union member is not found either (clang elides braces into
// it): the count by braces is not used, so such an aggregate stays
// scanned whole rather than refused by a structured binding.
inline constexpr bool kBracedCount = false;
#endif

// Converts to any lvalue reference (a reference member's initializer).
struct AnyLvalueRef {
  template <typename U>
  operator U&() const noexcept;
};

// The last M in [Lo, Hi) with T{{}, ..., {}} (M of them) valid, if that
// holds from Lo up to some M and fails after it; T{{} x Lo} is valid.
template <typename T, size_t Lo, size_t Hi>
constexpr size_t LastBraced() {
  if constexpr (Hi - Lo <= 1) {
    return Lo;
  } else if constexpr (BracedInitializable<(Lo + Hi) / 2, T>()) {
    return LastBraced<T, (Lo + Hi) / 2, Hi>();
  } else {
    return LastBraced<T, Lo, (Lo + Hi) / 2>();
  }
}

// The number of fields of an aggregate whose initializer lists do not
// count them (C arrays, whose elements take an initializer each by brace
// elision; more than kMaxFields of those), counted with empty braces,
// each of which initializes one whole field, an array too: M, the last
// count of them that T{{}, ..., {}} takes (a binary search, which assumes
// every field takes {}). Used only once proved, 0 otherwise: no field
// follows the M-th, as no initializer fits after M braces - not {}, not x
// converting to anything (a scalar, an array's first element, a class),
// not an lvalue reference, not {x} (a class whose constructor takes
// anything). A field that {} cannot initialize (no default constructor,
// or an explicit one) leaves it unproved, and so does one that none of
// those fit (a reference member with a default member initializer, after
// fields {} does not fit), which is then scanned whole.
template <typename T>
constexpr size_t BracedFieldCount() {
  if constexpr (!BracedInitializable<1, T>()) {
    return 0;
  } else {
    constexpr size_t m = LastBraced<T, 1, kMaxFields + 1>();
    if constexpr (m >= kMaxFields) {
      return 0;
    } else if constexpr (BracedInitializable<m + 1, T>() ||
                         BracedInitializable<m, T, AnyField>() ||
                         BracedInitializable<m, T, AnyLvalueRef>() ||
                         BracedThenListInitializable<m, T, AnyField>()) {
      return 0;
    } else {
      return m;
    }
  }
}
// Whether no field I of an aggregate whose fields were counted with
// braces is of an unnamed union or struct (found with g++ only, as by
// NoUnnamedClassField).
template <typename T, size_t... I>
constexpr bool BracedNoUnnamedClassField(std::index_sequence<I...>) {
  return (BracedInitializable<I, T, AnyButUnnamedClass>() && ...);
}

// Why an aggregate cannot be reflected, if it cannot.
enum class Limit {
  kNone,
  kTooManyFields,
  kCArray,
  kBaseClass,
  kUncountable,
  kAnonymousMember
};

// Whether T's initializer lists count its fields: no C array member, and
// at most kMaxFields fields (BraceCount > 0).
template <typename T>
constexpr bool BraceCountIsFieldCount() {
  constexpr size_t n = BraceCount<T>();
  return n <= kMaxFields &&
         (n < 2 || ParenInitializable<T>(std::make_index_sequence<n>()));
}

template <typename T>
constexpr Limit AggregateLimitOf() {
  constexpr size_t n = BraceCount<T>();
  if constexpr (n == 0) {
    // No initializer list fits a non-empty aggregate: a member no
    // conversion reaches (a reference), so its fields are unknown.
    return std::is_empty_v<T> ? Limit::kNone : Limit::kUncountable;
  } else if constexpr (FirstIsBase<T>(std::make_index_sequence<n - 1>())) {
    return Limit::kBaseClass;
  } else if constexpr (BraceCountIsFieldCount<T>()) {
    return NoUnnamedClassField<T>(std::make_index_sequence<n>())
               ? Limit::kNone
               : Limit::kAnonymousMember;
  } else if constexpr (!kBracedCount) {
    return n > kMaxFields ? Limit::kTooManyFields : Limit::kCArray;
  } else if constexpr (BracedFieldCount<T>() == 0) {
    return n > kMaxFields ? Limit::kTooManyFields : Limit::kCArray;
  } else {
    return BracedNoUnnamedClassField<T>(
               std::make_index_sequence<BracedFieldCount<T>()>())
               ? Limit::kNone
               : Limit::kAnonymousMember;
  }
}

template <typename T>
constexpr Limit LimitOf() {
  if constexpr (!std::is_aggregate_v<T> || !std::is_class_v<T>) {
    return Limit::kNone;  // not a question for it (api/trace.h asks anyway)
  } else {
    return AggregateLimitOf<T>();
  }
}

// Number of fields of an aggregate T with LimitOf<T>() == kNone.
template <typename T>
inline constexpr size_t kFieldCount = [] {
  if constexpr (BraceCountIsFieldCount<T>()) {
    return BraceCount<T>();
  } else if constexpr (kBracedCount) {
    return BracedFieldCount<T>();
  } else {
    return size_t{0};
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
