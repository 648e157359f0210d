// See type_table.h.
#include "gcrt/alloc/type_table.h"

#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "gcrt/alloc/span.h"
#include "gcrt/runtime/check.h"
#include "gcrt/runtime/os_mem.h"
#include "gcrt/runtime/sys_stat.h"

namespace gc::alloc {

std::string TypeName(const TypeInfo* t) {
  if (t == nullptr) return "(untyped)";
  if (t->array_header != 0) return std::string("gc::Array<") + t->name + ">";
  return t->name;
}

const TypeInfo kTinyBlockType = {
    "gcrt.tiny_block", 16, 16, true, nullptr, nullptr, 0, nullptr,
};

namespace {

// Tables replaced while marking ran beside the program (Retire).
struct RetiredTables {
  runtime::Mutex mu;
  std::vector<void*> tables GCRT_GUARDED_BY(mu);
};
RetiredTables& g_retired = *new RetiredTables;  // lives for the process

}  // namespace

void TypeTable::Retire(void* table) {
  if (table == nullptr) return;
  if (g_allocate_black.load(std::memory_order_relaxed)) {
    runtime::MutexLock lock(&g_retired.mu);
    try {
      g_retired.tables.push_back(table);
      return;
    } catch (const std::bad_alloc&) {
      // Leaked rather than freed under a reader: a table is small.
      return;
    }
  }
  runtime::FreeMetadata(table, runtime::SysStat::kGc);
}

void FreeRetiredTypeTables() {
  runtime::MutexLock lock(&g_retired.mu);
  for (void* t : g_retired.tables) {
    runtime::FreeMetadata(t, runtime::SysStat::kGc);
  }
  g_retired.tables.clear();
}

void TypeTable::Record(uint32_t slot, uint32_t nelems, const TypeInfo* type) {
  GCRT_DCHECK(slot < nelems && type != nullptr);
  switch (compression_) {
    case TypeCompression::kEmpty:
      compression_ = TypeCompression::kSingle;
      __atomic_store_n(&single_, type, __ATOMIC_RELEASE);
      return;
    case TypeCompression::kSingle: {
      const TypeInfo* single = single_;
      if (single == type) return;
      // A second type: every slot so far (allocated or not) says "single",
      // which is right for the allocated ones and harmless for free ones.
      auto* t = static_cast<BytesTable*>(runtime::AllocZeroedMetadata(
          sizeof(BytesTable) + nelems, runtime::SysStat::kGc,
          "the type table of a span holding a second type"));
      t->kind = TypeCompression::kBytes;
      t->types[1] = single;
      t->types[2] = type;
      for (uint32_t i = 0; i < nelems; i++) t->slots[i] = 1;
      t->slots[slot] = 2;
      compression_ = TypeCompression::kBytes;
      // The table first: a reader that sees single_ null finds it.
      data_.store(t, std::memory_order_release);
      __atomic_store_n(&single_, nullptr, __ATOMIC_RELEASE);
      return;
    }
    case TypeCompression::kBytes: {
      auto* t = static_cast<BytesTable*>(data_.load(std::memory_order_relaxed));
      for (int j = 1; j < kBytesHeader; j++) {
        if (t->types[j] == type || t->types[j] == nullptr) {
          // Relaxed stores: a marker may read the header meanwhile (never
          // this slot's byte: its object is being allocated).
          __atomic_store_n(&t->types[j], type, __ATOMIC_RELAXED);
          __atomic_store_n(&t->slots[slot], static_cast<uint8_t>(j),
                           __ATOMIC_RELAXED);
          return;
        }
      }
      // An eighth type: expand to one pointer per slot.
      auto* words = static_cast<WordsTable*>(runtime::AllocMetadata(
          sizeof(WordsTable) + sizeof(const TypeInfo*) * nelems,
          runtime::SysStat::kGc,
          "the type table of a span holding an eighth type"));
      words->kind = TypeCompression::kWords;
      for (uint32_t i = 0; i < nelems; i++) {
        words->types[i] = t->types[t->slots[i]];
      }
      words->types[slot] = type;
      compression_ = TypeCompression::kWords;
      data_.store(words, std::memory_order_release);
      Retire(t);
      return;
    }
    case TypeCompression::kWords: {
      auto* t = static_cast<WordsTable*>(data_.load(std::memory_order_relaxed));
      __atomic_store_n(&t->types[slot], type, __ATOMIC_RELAXED);
      return;
    }
  }
  GCRT_THROW("TypeTable: invalid compression kind");
}

const TypeInfo* TypeTable::GetSlow(uint32_t slot) const {
  const void* d = data_.load(std::memory_order_acquire);
  if (d == nullptr) {
    // kEmpty, or kSingle (whose type Get found unless it changed since).
    return __atomic_load_n(&single_, __ATOMIC_ACQUIRE);
  }
  switch (*static_cast<const TypeCompression*>(d)) {
    case TypeCompression::kBytes: {
      auto* t = static_cast<const BytesTable*>(d);
      return __atomic_load_n(
          &t->types[__atomic_load_n(&t->slots[slot], __ATOMIC_RELAXED)],
          __ATOMIC_RELAXED);
    }
    case TypeCompression::kWords:
      return __atomic_load_n(&static_cast<const WordsTable*>(d)->types[slot],
                             __ATOMIC_RELAXED);
    default:
      break;
  }
  GCRT_THROW("TypeTable: invalid compression kind");
}

void TypeTable::Reset() {
  runtime::FreeMetadata(data_.load(std::memory_order_relaxed),
                        runtime::SysStat::kGc);
  data_.store(nullptr, std::memory_order_relaxed);
  __atomic_store_n(&single_, nullptr, __ATOMIC_RELAXED);
  compression_ = TypeCompression::kEmpty;
}

int TypeTable::BytesTypeCountForTesting() const {
  if (compression_ != TypeCompression::kBytes) return 0;
  auto* t = static_cast<const BytesTable*>(data_.load());
  int n = 0;
  for (int j = 1; j < kBytesHeader; j++) n += t->types[j] != nullptr;
  return n;
}

}  // namespace gc::alloc
