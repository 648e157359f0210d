// The per-span type table (seed 000): the type of every object in a span,
// compressed by how many distinct types the span holds. See alloc/heap.h
// for the overview.
//
//   kEmpty   no object allocated since the last reset
//   kSingle  every object has the type `single` (the common case: a span is
//            usually filled by one type, and recording costs nothing)
//   kBytes   up to 7 types: a header of 8 type pointers (entry 0 unused) and
//            one byte per slot indexing it
//   kWords   one type pointer per slot
//
// Writes happen on the allocation path of the span's owner, with no lock and
// no atomic: the Cache owns the span (see span.h). The allocation fast path
// only compares `single` with the new object's type; a mismatch (including
// kEmpty, kBytes and kWords, where `single` is null) takes Record().
// A slot's entry is meaningful only while the slot is allocated.
#pragma once

#include <cstdint>

#include "alloc/type_info.h"

namespace gc::alloc {

enum class TypeCompression : uint8_t { kEmpty, kSingle, kBytes, kWords };

class TypeTable {
 public:
  // The type that every object of the span has, or null unless kSingle.
  const TypeInfo* single() const { return single_; }
  TypeCompression compression() const { return compression_; }

  // Records that slot `slot` (of `nelems`) holds a `type`. Throws
  // std::bad_alloc if a table cannot be allocated; the table is unchanged.
  void Record(uint32_t slot, uint32_t nelems, const TypeInfo* type);
  // The type recorded for `slot`, null if none. Inline for the marker and
  // sweeper: one load when the span holds a single type.
  const TypeInfo* Get(uint32_t slot) const {
    if (single_ != nullptr) return single_;
    return GetSlow(slot);
  }
  // Back to kEmpty, freeing any table.
  void Reset();
  // Number of distinct types in a kBytes table (tests).
  int BytesTypeCountForTesting() const;

 private:
  const TypeInfo* GetSlow(uint32_t slot) const;
  static constexpr int kBytesHeader = 8;
  struct BytesTable {
    const TypeInfo* types[kBytesHeader];  // types[0] unused: byte 0 = none
    uint8_t slots[];                      // one per slot
  };

  const TypeInfo* single_ = nullptr;
  TypeCompression compression_ = TypeCompression::kEmpty;
  void* data_ = nullptr;  // BytesTable* or const TypeInfo*[nelems]
};

}  // namespace gc::alloc
