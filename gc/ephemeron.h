// Ephemerons (cppgc's EphemeronPair, JS WeakMap semantics): the storage of
// gc::WeakMap (api/weak_map.h), whose entries keep their value alive only
// while their key is reachable some other way. See gc/collector.h for the
// overview and docs/design.md, "Ephemerons", for the why.
//
// A table is one GC object: a header (capacity, live entries, used
// entries), then `capacity` entries, each the key's address, the key's
// weak cell and the generation it had (gc/weak.h: a key freed with gc::free
// has its cell released, so an entry whose generation is stale is dead
// even if a new object took the key's address), then the value. Its type's
// TypeInfo has an EphemeronLayout (alloc/type_info.h); the marker scans
// such an object as ephemerons and nothing else does: a key is never
// traced, a value only once its key is marked.
//
// Marking (gc/marker.cc): a worker scanning a table traces the values of
// entries whose key is marked and records the others (their entry's
// address) as discovered. After each parallel drain the collecting thread
// files them here by key (PendingEphemerons) and resolves them to a
// fixpoint on one worker: a pass over the pending keys traces the values
// of those marked since; while it drains, every object that worker marks
// is looked up here, so a chain k1 -> v1 -> k2 -> v2 ... resolves in one
// drain, in time linear in its length. A marking beside the program does
// this while the program runs (after its concurrent drain), and again in
// its final stop for what the roots, the deferred objects and the program
// changed since; the stop's share is a pass over the keys still pending.
//
// The barrier: values are stored through gc::Ptr (shaded); keys are not
// shaded (that would keep them alive). An entry the program writes while
// marking runs is logged (LogEphemeronWrite), and the log is examined as
// the tables are: the concurrent marker may have read the entry before the
// write, and a table allocated black is never scanned.
//
// Mark termination (PurgeDeadEphemerons, world stopped, before weak
// references are cleared): every entry still pending has a dead key (or a
// stale generation): it is removed (key word kRemovedKey, value assigned
// V{}, the table's live count decremented), so its value is released by
// the cycle that found the key dead, and the crosscheck and the next
// marking never read a pointer to a freed object through it.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "gcrt/alloc/type_info.h"
#include "gcrt/gc/weak.h"
#include "gcrt/runtime/base.h"
#include "gcrt/runtime/mutex.h"

namespace gc::internal {

// The words of a table before its entries. `capacity` is immutable (the
// marker reads it); `live` and `used` are the owning gc::WeakMap's, written
// by the program and by mark termination's purge (world stopped).
struct EphemeronTableHeader {
  uint64_t capacity;
  uint64_t live;  // entries with a key, dead or not yet found dead
  uint64_t used;  // entries with a key or removed (they lengthen probes)
};

// The first words of an entry, the value after them. Written by the
// program with atomic stores (gc::WeakMap), read by the marker with atomic
// loads, relaxed except the cell (release/acquire: the marker dereferences
// it, and the cell may come from a chunk another thread just made): a
// marker may read them while the program writes (a torn read is harmless:
// the write is logged and examined again, and the value it stored was
// shaded).
struct EphemeronKeyWords {
  uintptr_t key;  // kNoKey, kRemovedKey, or the key's address
  WeakCell* cell;
  uint64_t generation;
};
inline constexpr uintptr_t kNoKey = 0;
inline constexpr uintptr_t kRemovedKey = 1;

GCRT_ALWAYS_INLINE uintptr_t LoadRelaxed(const uintptr_t* w) {
  return __atomic_load_n(w, __ATOMIC_RELAXED);
}

// The key of the entry at `entry`, or 0 if it has none (free or removed).
// *dead: its key was freed (gc::free released its weak cell), so it is
// dead whatever object lives at that address now.
GCRT_ALWAYS_INLINE uintptr_t ReadEphemeronKey(uintptr_t entry, bool* dead) {
  auto* w = reinterpret_cast<const EphemeronKeyWords*>(entry);
  const uintptr_t key = LoadRelaxed(&w->key);
  if (key == kNoKey || key == kRemovedKey) return 0;
  const auto* cell = reinterpret_cast<const WeakCell*>(__atomic_load_n(
      reinterpret_cast<const uintptr_t*>(&w->cell), __ATOMIC_ACQUIRE));
  const uint64_t generation = __atomic_load_n(&w->generation, __ATOMIC_RELAXED);
  *dead = cell == nullptr ||
          cell->generation.load(std::memory_order_relaxed) != generation;
  return key;
}

// One entry of a table: its address and the table's.
struct EphemeronRef {
  uintptr_t entry;
  uintptr_t table;
};

// A table's layout, from its TypeInfo (the table is an in-use object).
const alloc::EphemeronLayout* LayoutOfTable(uintptr_t table)
    GCRT_REQUIRES(runtime::kWorldStopped);

// The ephemeron barrier (see above): whether marking runs is the write
// barrier's flag; the slow path logs the entry. Any thread.
void LogEphemeronWriteSlow(const void* table, const void* entry);
// The entries logged since the last call (the collecting thread).
std::vector<EphemeronRef> TakeEphemeronLog();

// The marking's pending ephemerons: entries found with an unmarked key,
// filed by key, and entries found dead. Used by the collecting thread
// only, from a marking's start to its mark termination.
class PendingEphemerons {
 public:
  static PendingEphemerons& Get();

  void Clear();
  void AddPending(uintptr_t key, EphemeronRef e) { by_key_[key].push_back(e); }
  void AddDead(EphemeronRef e) { dead_.push_back(e); }
  bool Waiting(uintptr_t key) const {
    return !by_key_.empty() && by_key_.count(key) != 0;
  }
  // Takes the entries filed under `key`.
  std::vector<EphemeronRef> Take(uintptr_t key);
  // Takes the entries of every key `marked(key)` says is marked now.
  template <typename Marked>
  std::vector<EphemeronRef> TakeMarked(Marked marked) {
    std::vector<EphemeronRef> out;
    for (auto it = by_key_.begin(); it != by_key_.end();) {
      if (marked(it->first)) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        it = by_key_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }
  uint64_t size() const;

  // Mark termination: removes every pending and dead entry (see above).
  // Returns how many it removed.
  uint64_t Purge() GCRT_REQUIRES(runtime::kWorldStopped);

 private:
  std::unordered_map<uintptr_t, std::vector<EphemeronRef>> by_key_;
  std::vector<EphemeronRef> dead_;
};

}  // namespace gc::internal
