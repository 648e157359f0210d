// Internal to gcrt: not part of the API, may change.
//
// The ephemeron glue gc::WeakMap inlines (api/weak_map.h): its storage, a
// table object of the collector's layout (gc/ephemeron.h) with a type of
// its own (an EphemeronLayout in its TypeInfo, so the marker scans it as
// ephemerons), and the ephemeron barrier's fast path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>

#include "gcrt/alloc/allocate.h"
#include "gcrt/gc/ephemeron.h"
#include "gcrt/internal/barrier.h"
#include "gcrt/internal/handles.h"
#include "gcrt/internal/type_info.h"
#include "gcrt/ptr.h"

namespace gc::internal {

template <typename V>
struct EphemeronEntry {
  EphemeronKeyWords words;
  V value;
};

// An entry's key words, stored as the marker reads them (atomic stores: a
// marker may be reading them). The cell is stored with release, paired with
// the marker's acquire load, so a cell fresh from a new chunk is seen
// initialised by a marker that dereferences it.
GCRT_ALWAYS_INLINE void StoreKeyWords(EphemeronKeyWords* w, uintptr_t key,
                                      WeakCell* cell, uint64_t generation) {
  __atomic_store_n(&w->cell, cell, __ATOMIC_RELEASE);
  __atomic_store_n(&w->generation, generation, __ATOMIC_RELAXED);
  __atomic_store_n(&w->key, key, __ATOMIC_RELAXED);
}

// The ephemeron barrier (gc/ephemeron.h): while a cycle marks beside the
// program, an entry just written is logged for the marker.
GCRT_ALWAYS_INLINE void EphemeronWritten(const void* table, const void* entry) {
  if (WriteBarrierOn()) LogEphemeronWriteSlow(table, entry);
}

// A gc::WeakMap's table: the header, then `capacity` entries.
template <typename V>
class EphemeronTable {
 public:
  using Entry = EphemeronEntry<V>;
  static constexpr size_t kEntriesOffset =
      (sizeof(EphemeronTableHeader) + alignof(Entry) - 1) / alignof(Entry) *
      alignof(Entry);

  EphemeronTable(const EphemeronTable&) = delete;
  EphemeronTable& operator=(const EphemeronTable&) = delete;

  EphemeronTableHeader& header() { return header_; }
  const EphemeronTableHeader& header() const { return header_; }
  size_t capacity() const { return static_cast<size_t>(header_.capacity); }
  Entry& entry(size_t i) {
    return reinterpret_cast<Entry*>(reinterpret_cast<unsigned char*>(this) +
                                    kEntriesOffset)[i];
  }
  const Entry& entry(size_t i) const {
    return const_cast<EphemeronTable*>(this)->entry(i);
  }

  // A table of `capacity` free entries (values V{}), rooted.
  static Root<EphemeronTable> Make(size_t capacity) {
    HandleArena* h = CurrentHandles();
    const size_t bytes = kEntriesOffset + capacity * sizeof(Entry);
    void* mem = alloc::Allocate(Type(), bytes);  // zeroed: every key kNoKey
    auto* t = new (mem) EphemeronTable();
    if constexpr (!std::is_trivially_default_constructible_v<V>) {
      const size_t depth = h->BeginConstruction(mem, bytes);
      for (size_t i = 0; i < capacity; i++) {
        new (std::addressof(t->entry(i).value)) V();
        t->header_.capacity = i + 1;  // destroyed if a later one throws
      }
      h->EndConstruction(depth, mem, true);
    } else {
      h->KeepIfConstructing(mem);
    }
    t->header_.capacity = capacity;
    return Root<EphemeronTable>(t);
  }

 private:
  EphemeronTable() = default;

  static void Destroy(void* object) {
    auto* t = static_cast<EphemeronTable*>(object);
    for (size_t i = t->capacity(); i > 0; i--) t->entry(i - 1).value.~V();
  }
  static void ClearValue(void* value) { *static_cast<V*>(value) = V{}; }

  static const alloc::TypeInfo* Type() {
    static const alloc::EphemeronLayout layout{
        static_cast<uint32_t>(kEntriesOffset),
        static_cast<uint32_t>(sizeof(Entry)),
        static_cast<uint32_t>(offsetof(Entry, value)),
        TypeInfoOf<V>(),
        &ClearValue,
    };
    static const alloc::TypeInfo info{
        TypeName<EphemeronTable>::Get(),
        static_cast<uint32_t>(sizeof(Entry)),
        static_cast<uint32_t>(alignof(Entry)),
        /*pointer_free=*/false,  // scanned, as ephemerons, whatever V is
        std::is_trivially_destructible_v<V> ? nullptr : &Destroy,
        /*pointer_bitmap=*/nullptr,
        0,
        /*trace=*/nullptr,
        /*array_header=*/0,  // the layout says where the entries are
        &layout,
    };
    return &info;
  }

  EphemeronTableHeader header_{};
};

}  // namespace gc::internal
