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
// Writes happen on the allocation path of the span's owner, with no lock:
// the Cache owns the span (see span.h). The allocation fast path only
// compares `single` with the new object's type; a mismatch (including
// kEmpty, kBytes and kWords, where `single` is null) takes Record().
// A slot's entry is meaningful only while the slot is allocated.
//
// A marker running beside the program (gc/barrier.h) reads the types of
// older objects while the owner records new ones: `single_` and the table
// pointer are atomic (a table is filled before it is published, release,
// and names its own kind), one slot's entry is never written while its
// object is scanned, and a table replaced while marking is freed only
// when marking ends (FreeRetiredTypeTables), so a reader holding the old
// one reads what it held.
#pragma once

#include <atomic>
#include <cstdint>

#include "gcrt/alloc/type_info.h"
#include "gcrt/runtime/mutex.h"

namespace gc::alloc {

enum class TypeCompression : uint8_t { kEmpty, kSingle, kBytes, kWords };

class TypeTable {
 public:
  // The type that every object of the span has, or null unless kSingle.
  // The owner's read (the allocation fast path): a plain load, which can
  // be an operand of the compare; it races with no write, as only the
  // owner writes.
  const TypeInfo* single() const { return single_; }
  // The same for a thread that does not own the span (a marker running
  // beside the owner): an atomic load.
  const TypeInfo* single_atomic() const {
    return __atomic_load_n(&single_, __ATOMIC_ACQUIRE);
  }
  TypeCompression compression() const { return compression_; }

  // Records that slot `slot` (of `nelems`) holds a `type`. Throws
  // std::bad_alloc if a table cannot be allocated; the table is unchanged.
  void Record(uint32_t slot, uint32_t nelems, const TypeInfo* type);
  // The type recorded for `slot`, null if none. Inline for the marker and
  // sweeper: one load when the span holds a single type.
  const TypeInfo* Get(uint32_t slot) const {
    if (const TypeInfo* t = single_atomic()) return t;
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
    TypeCompression kind;                 // kBytes
    const TypeInfo* types[kBytesHeader];  // types[0] unused: byte 0 = none
    uint8_t slots[];                      // one per slot
  };
  struct WordsTable {
    TypeCompression kind;     // kWords
    const TypeInfo* types[];  // one per slot
  };
  // Frees a table, or while marking runs beside the program keeps it for
  // FreeRetiredTypeTables.
  static void Retire(void* table);

  // Written by the owner (atomic stores, release); loaded plainly by the
  // owner and atomically (acquire) by Get, which markers use.
  const TypeInfo* single_ = nullptr;
  TypeCompression compression_ = TypeCompression::kEmpty;  // owner only
  // BytesTable* or WordsTable*, or null. As single_.
  std::atomic<void*> data_{nullptr};
};

// Marking has ended (world stopped): frees the tables replaced meanwhile.
void FreeRetiredTypeTables() GCRT_REQUIRES(runtime::kWorldStopped);

}  // namespace gc::alloc
