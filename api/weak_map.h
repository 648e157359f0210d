// gc::WeakMap<K, V>: an ephemeron table (JavaScript's WeakMap, cppgc's
// EphemeronPair; see gc/ephemeron.h for how it works). Each entry keeps its
// value alive only while its key is reachable some other way:
//
//   struct Cache {
//     gc::WeakMap<Node, gc::Ptr<Layout>> layouts;   // per live node
//     void trace(gc::Tracer& t) const { t(layouts); }
//   };
//   cache->layouts.insert_or_assign(node, gc::make_unrooted<Layout>());
//   if (gc::Ptr<Layout>* l = cache->layouts.find(node)) use(*l);
//
// Keys are GC objects, compared by identity (address): a `const K*`, a
// gc::Ptr<K>, gc::Root<K> or gc::Global<K> to the start of a live object.
// An entry never keeps its key alive, not even through its own value (a
// value that points back to its key, or a cycle of such entries across any
// number of maps, dies with the key). The value of an entry whose key is
// reachable is never lost, however the key is reached: through other
// entries' values too (k1 -> v1 -> k2 -> v2 ... resolves whatever its
// length). The cycle that finds a key unreachable removes its entry and
// releases its value (assigns V{}): after a gc::collect(), size() counts
// exactly the entries whose keys are alive (a tiny key, pointer-free,
// trivially destructible and under 16 bytes, is alive while any object of
// its 16-byte block is: api/weak.h). A key's entry is gone, for
// find and contains, from that cycle's end on (and at once if the key is
// freed with gc::free; its value is then released, and size() stops
// counting it, at the next cycle). A key with a finalizer loses its entry
// when the cycle finds it unreachable, before its finalizer runs, as its
// gc::Weak references do.
//
// Values are traced as their type says: a gc::Ptr, pointer-free data, an
// aggregate of those, or a class with trace(). V must be
// default-constructible and assignable; assigning V{} to a value must not
// allocate or block (the removal of a dead key's entry does it with the
// world stopped). A value may reach its own key or any other.
//
// The map is a value type, as gc::HashMap is (api/hash_map.h): a member of
// a GC object (traced with t(map)), of a root set's structure, or a local
// (kept by the stack scan, as a gc::Ptr is). Its storage is one GC object
// that the concurrent marker reads while the program runs; its stores go
// through the write barrier. Not thread-safe: lock around concurrent use,
// as for a std::unordered_map. Lookups are a probe of an open-addressing
// table; an insertion of a key new to the map also takes a lock of the
// collector's (the key's weak cell, gc/weak.h), and growth allocates (so
// may collect). find() returns a pointer into the table, invalidated by
// any insertion. No iteration: which entries remain depends on the
// collector's timing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "gcrt/internal/ephemeron.h"
#include "gcrt/internal/staged.h"
#include "gcrt/internal/weak.h"
#include "gcrt/make.h"
#include "gcrt/ptr.h"
#include "gcrt/trace.h"

namespace gc {

template <typename K, typename V>
class WeakMap {
  using Table = internal::EphemeronTable<V>;
  using Entry = typename Table::Entry;

 public:
  // A key argument: a raw pointer or any handle to a GC object's start.
  class Key {
   public:
    Key(const K* p) : address_(reinterpret_cast<uintptr_t>(p)) {}
    Key(std::nullptr_t) {}
    template <typename H>
    requires std::is_convertible_v<decltype(std::declval<const H&>().get()),
                                   const K*>
    Key(const H& handle) : Key(static_cast<const K*>(handle.get())) {}
    uintptr_t address() const { return address_; }

   private:
    uintptr_t address_ = 0;
  };

  WeakMap() = default;
  WeakMap(const WeakMap& other) { CopyFrom(other); }
  WeakMap(WeakMap&& other) noexcept
      : table_(std::exchange(other.table_, nullptr)) {}
  WeakMap& operator=(const WeakMap& other) {
    if (this != &other) {
      WeakMap copy(other);
      *this = std::move(copy);
    }
    return *this;
  }
  WeakMap& operator=(WeakMap&& other) noexcept {
    table_ = std::exchange(other.table_, nullptr);
    return *this;
  }

  // Entries with a key, counted exactly after a collection (see above).
  size_t size() const noexcept {
    return table_ == nullptr ? 0 : static_cast<size_t>(table_->header().live);
  }
  bool empty() const noexcept { return size() == 0; }

  // The value of `key`, or null. Invalidated by any insertion.
  V* find(Key key) {
    const size_t i = Lookup(key.address());
    return i == kNone ? nullptr : std::addressof(table_->entry(i).value);
  }
  const V* find(Key key) const {
    const size_t i = Lookup(key.address());
    return i == kNone ? nullptr : std::addressof(table_->entry(i).value);
  }
  // A copy of the value of `key`, or V{} (a null gc::Ptr) if none.
  V get(Key key) const {
    const V* v = find(key);
    return v != nullptr ? *v : V{};
  }
  bool contains(Key key) const { return Lookup(key.address()) != kNone; }

  // Sets the value of `key`; returns true if the key was new. Throws
  // std::invalid_argument, changing nothing, if `key` is null or not the
  // start of a live GC object.
  bool insert_or_assign(Key key, const V& value) {
    size_t i = Lookup(key.address());
    if (i != kNone) {
      table_->entry(i).value = value;
      return false;
    }
    // `value` may live in this table, which may grow, and may be the only
    // reference to its object (gc::make_unrooted).
    auto copy = internal::Stage<V>(value);
    InsertNew(key.address(), copy.get());
    return true;
  }
  // Adds the entry if `key` has none; returns whether it did (false leaves
  // the value there). Throws as insert_or_assign.
  bool insert(Key key, const V& value) {
    if (Lookup(key.address()) != kNone) return false;
    auto copy = internal::Stage<V>(value);
    InsertNew(key.address(), copy.get());
    return true;
  }
  // Removes the entry of `key`, releasing its value; returns whether there
  // was one.
  bool erase(Key key) {
    const size_t i = Lookup(key.address());
    if (i == kNone) return false;
    Remove(i);
    return true;
  }
  void clear() {
    for (size_t i = 0; i < capacity(); i++) {
      Entry& e = table_->entry(i);
      if (e.words.key != internal::kNoKey) {
        internal::StoreKeyWords(&e.words, internal::kNoKey, nullptr, 0);
        e.value = V{};
      }
    }
    if (table_ != nullptr) table_->header().live = table_->header().used = 0;
  }

  // The table, for the tracer: one gc::Ptr; the marker reads the table as
  // ephemerons (gc/ephemeron.h).
  void trace(Tracer& t) const { t(table_); }

 private:
  static constexpr size_t kNone = ~size_t{0};

  size_t capacity() const { return table_ == nullptr ? 0 : table_->capacity(); }
  static size_t Hash(uintptr_t key) {
    uint64_t h = key >> 4;  // objects are 16-byte aligned at least mostly
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ull;
    return static_cast<size_t>(h ^ (h >> 29));
  }
  // Whether entry e's key is the object its key words name still (a key
  // freed with gc::free has its weak cell released: gc/weak.h).
  static bool Current(const Entry& e) {
    return e.words.cell != nullptr &&
           e.words.cell->generation.load(std::memory_order_relaxed) ==
               e.words.generation;
  }
  size_t Lookup(uintptr_t key) const {
    if (key == 0 || size() == 0) return kNone;
    const size_t mask = capacity() - 1;
    for (size_t i = Hash(key) & mask;; i = (i + 1) & mask) {
      const Entry& e = table_->entry(i);
      if (e.words.key == internal::kNoKey) return kNone;
      if (e.words.key == key && Current(e)) return i;
    }
  }
  void Remove(size_t i) {
    Entry& e = table_->entry(i);
    internal::StoreKeyWords(&e.words, internal::kRemovedKey, nullptr, 0);
    e.value = V{};
    table_->header().live--;
  }
  // Adds `key` (known absent) with `value`.
  // `value` stays where the caller staged it (rooted) while the table
  // grows, and is moved in only then.
  void InsertNew(uintptr_t key, V& value) {
    if (key == 0) {
      throw std::invalid_argument("gcrt: gc::WeakMap with a null key");
    }
    // Its weak cell names the key for as long as it lives (and validates
    // it: a live GC object's start).
    const internal::WeakRef ref = internal::WeakRefFor(
        reinterpret_cast<const void*>(key), "gc::WeakMap key");
    if (table_ == nullptr ||
        (table_->header().used + 1) * 10 > capacity() * 7) {
      Rehash(size() + 1);
    }
    Place(key, ref.cell, ref.generation, std::move(value));
  }
  // Puts an entry in the first reusable slot of key's probe: a free one, a
  // removed one, or one whose key was freed (released first). The table
  // has room.
  void Place(uintptr_t key, internal::WeakCell* cell, uint64_t generation,
             V&& value) {
    const size_t mask = capacity() - 1;
    size_t i = Hash(key) & mask;
    for (;; i = (i + 1) & mask) {
      const uintptr_t k = table_->entry(i).words.key;
      if (k == internal::kNoKey || k == internal::kRemovedKey ||
          !Current(table_->entry(i))) {
        break;
      }
    }
    Entry& e = table_->entry(i);
    if (e.words.key == internal::kNoKey) {
      table_->header().used++;
    } else if (e.words.key != internal::kRemovedKey) {
      Remove(i);  // a freed key's entry: its value is released now
    }
    e.value = std::move(value);
    internal::StoreKeyWords(&e.words, key, cell, generation);
    table_->header().live++;
    internal::EphemeronWritten(table_.get(), &e);
  }
  // A new table for at least `n` entries at 70%, the current ones (whose
  // keys were not freed) moved over.
  void Rehash(size_t n) {
    size_t cap = 8;
    while (n * 10 > cap * 7) cap *= 2;
    Root<Table> bigger = Table::Make(cap);
    Ptr<Table> old = table_;
    table_ = bigger;
    for (size_t i = 0; old != nullptr && i < old->capacity(); i++) {
      Entry& e = old->entry(i);
      if (e.words.key == internal::kNoKey ||
          e.words.key == internal::kRemovedKey || !Current(e)) {
        continue;
      }
      Place(e.words.key, e.words.cell, e.words.generation, std::move(e.value));
      // The old table may outlive this (a cycle marking beside the program
      // keeps what was reachable when it began): its moved entry must not
      // be taken for a second entry of the key, which that cycle would
      // purge and count again if the key died.
      internal::StoreKeyWords(&e.words, internal::kRemovedKey, nullptr, 0);
    }
  }
  // The new table is pinned (rooted with a handle) while the values'
  // copies allocate: *this may be a temporary nothing reaches (the copy
  // that copy assignment makes before it takes the table).
  void CopyFrom(const WeakMap& other) {
    if (other.empty()) return;
    internal::Pins tables;
    tables.Add(other.table_);  // it may be a temporary too
    Rehash(other.size());
    tables.Add(table_);
    for (size_t i = 0; i < other.capacity(); i++) {
      const Entry& e = other.table_->entry(i);
      if (e.words.key == internal::kNoKey ||
          e.words.key == internal::kRemovedKey || !Current(e)) {
        continue;
      }
      // Copied in a rooted slot: a value holding two GC containers would
      // lose the first one's new array while the second's copy allocates.
      auto copy = internal::Stage<V>(e.value);
      Place(e.words.key, e.words.cell, e.words.generation,
            std::move(copy.get()));
    }
  }

  Ptr<Table> table_;
};

}  // namespace gc
