// Internal to gcrt: not part of the API, may change.
//
// The registry GCRT_FIELD_NAMES (api/field_names.h) fills and why_alive
// reads. Apart from the macro's header so that why_alive.cc, which names
// types through gc/census.h, need not include api/internal/type_info.h.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#include "gcrt/alloc/type_info.h"

namespace gc::internal {

struct FieldNameList;

// One named field of a type.
struct NamedField {
  const char* name;
  uint32_t offset;        // offsetof
  uint32_t size;          // sizeof the member
  uint32_t element_size;  // an array member: its element's size; else 0
  // The names of the member's type (its element's, for an array), if it
  // has them: where FieldNames<Member>::list is set.
  const FieldNameList* const* nested;
};

// The names GCRT_FIELD_NAMES gave a type: a node of a list built at static
// initialization, read by why_alive.
struct FieldNameList {
  const alloc::TypeInfo* (*type)();  // TypeInfoOf<T>, resolved when read
  const char* type_name;             // as the macro spelled it
  const NamedField* fields;
  size_t count;
  const FieldNameList* next;  // written once, before the node is published
};

// T's names, null if it has none. Written by T's GCRT_FIELD_NAMES at static
// initialization (once: a second is refused); read by why_alive.
template <typename T>
struct FieldNames {
  static inline constinit const FieldNameList* list = nullptr;
};

// Publishes `list` (for T) once: T's FieldNames (`slot`), and the head of
// the list why_alive searches. Called by each file's registration of T
// with its `fields`: stops the program if they differ from list's.
void PublishFieldNames(FieldNameList* list, const FieldNameList** slot,
                       const NamedField* fields, size_t count);

// The element type of a C array or std::array member; void otherwise.
template <typename M>
struct ArrayElement {
  using type = void;
};
template <typename E, size_t N>
struct ArrayElement<E[N]> {
  using type = E;
};
template <typename E, size_t N>
struct ArrayElement<std::array<E, N>> {
  using type = E;
};

template <typename T, typename Member>
constexpr NamedField MakeNamedField(const char* name, size_t offset) {
  using M = std::remove_cv_t<Member>;
  using E = typename ArrayElement<M>::type;
  constexpr bool kArray = !std::is_void_v<E>;
  using Named = std::remove_cv_t<std::conditional_t<kArray, E, M>>;
  return NamedField{name, static_cast<uint32_t>(offset),
                    static_cast<uint32_t>(sizeof(M)),
                    kArray ? static_cast<uint32_t>(sizeof(Named)) : 0,
                    &FieldNames<Named>::list};
}

// The field of an object of type `holder` at byte `offset` (of the object,
// a gc::Array's header included): "left", "kids[2].left", "[3].left" (a
// gc::Array's element); empty if no names say. Reads the list only.
std::string FieldNameAt(const alloc::TypeInfo* holder, int64_t offset);

}  // namespace gc::internal
