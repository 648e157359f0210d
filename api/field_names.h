// Field names for gc::why_alive() (api/why_alive.h). C++20 cannot reflect a
// member's name (aggregate reflection, api/internal/reflect.h, gives types
// only), so a type's names are given once, at namespace scope, beside it:
//
//   struct Node {
//     int64_t key;
//     gc::Ptr<Node> left, right;
//   };
//   GCRT_FIELD_NAMES(Node, key, left, right);
//
// and a retention path then says "at Node.left" where it would say "at
// offset 8 of the Node". Opt-in, per type, and any subset of its fields:
// a step through a field not listed (or of a type with no names) keeps its
// offset. The macro records each field's offsetof and size at static
// initialization in a list of constant nodes (no allocation, no lock); it
// costs nothing more unless why_alive runs, which looks the holder's type
// up there.
//
//   - Type must be standard-layout (offsetof), named as at namespace
//     scope; each field a data member of it (a typo does not compile).
//   - A member that is itself an aggregate with names (its own
//     GCRT_FIELD_NAMES) is named through: "Outer.inner.left"; one without
//     names stops at the member: "Outer.inner".
//   - A C array or std::array member names the element: "Node.kids[2]"
//     (one dimension; and through it,
//     "Node.kids[2].left", if the element type has names).
//   - A gc::Array<T> (gc::make_array) names the element as well:
//     "gc::Array<Node>[3]", "gc::Array<Node>[3].left" if T has names.
//   - One list per type. The macro may sit in a header several files
//     include; two different lists for one type stop the program at static
//     initialization, naming the type.
#pragma once

#include <cstddef>
#include <type_traits>

#include "gcrt/internal/field_names.h"
#include "gcrt/internal/type_info.h"

namespace gc::internal {

// `fields` has static storage (the macro's array).
template <typename T, size_t N>
bool RegisterFieldNames(const char* type_name, const NamedField (&fields)[N]) {
  static_assert(std::is_standard_layout_v<T>,
                "GCRT_FIELD_NAMES: the type must be standard-layout "
                "(offsetof)");
  // One node per T, whichever file registers it first (the macro may sit
  // in a header): the other files' registrations must list the same.
  static FieldNameList list{&TypeInfoOf<T>, type_name, fields, N, nullptr};
  PublishFieldNames(&list, &FieldNames<T>::list, fields, N);
  return true;
}

}  // namespace gc::internal

// A for-each over up to 256 macro arguments (C++20 __VA_OPT__).
#define GCRT_FN_PARENS ()
#define GCRT_FN_EXPAND(...) \
  GCRT_FN_EXPAND3(          \
      GCRT_FN_EXPAND3(GCRT_FN_EXPAND3(GCRT_FN_EXPAND3(__VA_ARGS__))))
#define GCRT_FN_EXPAND3(...) \
  GCRT_FN_EXPAND2(           \
      GCRT_FN_EXPAND2(GCRT_FN_EXPAND2(GCRT_FN_EXPAND2(__VA_ARGS__))))
#define GCRT_FN_EXPAND2(...) \
  GCRT_FN_EXPAND1(           \
      GCRT_FN_EXPAND1(GCRT_FN_EXPAND1(GCRT_FN_EXPAND1(__VA_ARGS__))))
#define GCRT_FN_EXPAND1(...) __VA_ARGS__
#define GCRT_FN_FOR_EACH(Type, ...) \
  __VA_OPT__(GCRT_FN_EXPAND(GCRT_FN_FOR_EACH_STEP(Type, __VA_ARGS__)))
#define GCRT_FN_FOR_EACH_STEP(Type, field, ...)                \
  ::gc::internal::MakeNamedField<Type, decltype(Type::field)>( \
      #field, offsetof(Type, field)),                          \
      __VA_OPT__(GCRT_FN_FOR_EACH_AGAIN GCRT_FN_PARENS(Type, __VA_ARGS__))
#define GCRT_FN_FOR_EACH_AGAIN() GCRT_FN_FOR_EACH_STEP
#define GCRT_FN_CONCAT2(a, b) a##b
#define GCRT_FN_CONCAT(a, b) GCRT_FN_CONCAT2(a, b)

// Names fields of Type for gc::why_alive (above). At namespace scope.
#define GCRT_FIELD_NAMES(Type, ...) \
  GCRT_FN_DEFINE(__COUNTER__, Type, __VA_ARGS__)
#define GCRT_FN_DEFINE(id, Type, ...) GCRT_FN_DEFINE2(id, Type, __VA_ARGS__)
#define GCRT_FN_DEFINE2(id, Type, ...)                                       \
  static constexpr ::gc::internal::NamedField GCRT_FN_CONCAT(                \
      gcrt_named_fields_, id)[] = {GCRT_FN_FOR_EACH(Type, __VA_ARGS__)};     \
  [[maybe_unused]] static const bool GCRT_FN_CONCAT(gcrt_field_names_, id) = \
      ::gc::internal::RegisterFieldNames<Type>(                              \
          #Type, GCRT_FN_CONCAT(gcrt_named_fields_, id))
