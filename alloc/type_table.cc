// See type_table.h.
#include "alloc/type_table.h"

#include <cstdlib>
#include <new>
#include <string>

#include "runtime/check.h"
#include "runtime/os_mem.h"

namespace gc::alloc {

const TypeInfo kTinyBlockType = {
    "gcrt.tiny_block", 16, 16, true, nullptr, nullptr, 0, nullptr,
};

void TypeTable::Record(uint32_t slot, uint32_t nelems, const TypeInfo* type) {
  GCRT_DCHECK(slot < nelems && type != nullptr);
  switch (compression_) {
    case TypeCompression::kEmpty:
      single_ = type;
      compression_ = TypeCompression::kSingle;
      return;
    case TypeCompression::kSingle: {
      if (single_ == type) return;
      // A second type: every slot so far (allocated or not) says "single_",
      // which is right for the allocated ones and harmless for free ones.
      auto* t =
          static_cast<BytesTable*>(std::calloc(1, sizeof(BytesTable) + nelems));
      if (t == nullptr) {
        throw runtime::OutOfMemoryError(
            "gcrt: out of memory: the type table of a span holding a second "
            "type (" +
            std::to_string(sizeof(BytesTable) + nelems) + " bytes)");
      }
      t->types[1] = single_;
      t->types[2] = type;
      for (uint32_t i = 0; i < nelems; i++) t->slots[i] = 1;
      t->slots[slot] = 2;
      data_ = t;
      single_ = nullptr;
      compression_ = TypeCompression::kBytes;
      return;
    }
    case TypeCompression::kBytes: {
      auto* t = static_cast<BytesTable*>(data_);
      for (int j = 1; j < kBytesHeader; j++) {
        if (t->types[j] == type || t->types[j] == nullptr) {
          t->types[j] = type;
          t->slots[slot] = static_cast<uint8_t>(j);
          return;
        }
      }
      // An eighth type: expand to one pointer per slot.
      auto* words = static_cast<const TypeInfo**>(
          std::malloc(sizeof(const TypeInfo*) * nelems));
      if (words == nullptr) {
        throw runtime::OutOfMemoryError(
            "gcrt: out of memory: the type table of a span holding an eighth "
            "type (" +
            std::to_string(sizeof(const TypeInfo*) * nelems) + " bytes)");
      }
      for (uint32_t i = 0; i < nelems; i++) words[i] = t->types[t->slots[i]];
      words[slot] = type;
      std::free(t);
      data_ = words;
      compression_ = TypeCompression::kWords;
      return;
    }
    case TypeCompression::kWords:
      static_cast<const TypeInfo**>(data_)[slot] = type;
      return;
  }
  GCRT_THROW("TypeTable: invalid compression kind");
}

const TypeInfo* TypeTable::GetSlow(uint32_t slot) const {
  switch (compression_) {
    case TypeCompression::kEmpty:
      return nullptr;
    case TypeCompression::kSingle:
      return single_;
    case TypeCompression::kBytes: {
      auto* t = static_cast<const BytesTable*>(data_);
      return t->types[t->slots[slot]];
    }
    case TypeCompression::kWords:
      return static_cast<const TypeInfo* const*>(data_)[slot];
  }
  GCRT_THROW("TypeTable: invalid compression kind");
}

void TypeTable::Reset() {
  std::free(data_);
  data_ = nullptr;
  single_ = nullptr;
  compression_ = TypeCompression::kEmpty;
}

int TypeTable::BytesTypeCountForTesting() const {
  if (compression_ != TypeCompression::kBytes) return 0;
  auto* t = static_cast<const BytesTable*>(data_);
  int n = 0;
  for (int j = 1; j < kBytesHeader; j++) n += t->types[j] != nullptr;
  return n;
}

}  // namespace gc::alloc
