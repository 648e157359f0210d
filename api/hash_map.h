// gc::HashMap<K, V>: a hash table whose entries live in the GC heap (see
// api/gc.h for the whole API).
//
//   struct Interner {
//     gc::HashMap<std::string, gc::Ptr<Symbol>> symbols;
//     void trace(gc::Tracer& t) const { t(symbols); }
//   };
//   interner->symbols["car"] = gc::make_unrooted<Symbol>();
//
// What gc::Vector (api/vector.h) is to std::vector, for std::unordered_map:
// its slots are gc::Arrays and its stores gc::Ptr stores, so a cycle that
// marks beside the program reads it while the program runs, where a
// std::unordered_map member would make the object holding it wait for the
// final stop. Keys and values may be gc::Ptr (a gc::Ptr key is hashed and
// compared by address and keeps its object alive), pointer-free types, or
// aggregates of those; K needs std::hash<K> and ==, K and V must be
// default-constructible and assignable (a free slot holds K{} and V{}, so a
// removed entry keeps nothing alive).
//
// Open addressing with linear probing over a power-of-two table, grown
// (every entry moved into new arrays) past 70% full counting removed
// slots. Iteration visits the entries in table order as `first` / `second`
// (structured bindings work); find() returns a pointer to the value or
// null. Pointers and iterators are invalidated by any insertion, as
// std::unordered_map's iterators are by a rehash. Growth allocates, and
// so may collect.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <utility>

#include "gcrt/make.h"
#include "gcrt/ptr.h"
#include "gcrt/trace.h"

namespace gc {

template <typename K, typename V, typename Hash = std::hash<K>>
class HashMap {
 public:
  struct Entry {
    K first;
    V second;
  };

  template <typename E>
  class Iterator {
   public:
    E& operator*() const { return map_->entries()[i_]; }
    E* operator->() const { return &map_->entries()[i_]; }
    Iterator& operator++() {
      i_ = map_->NextFull(i_ + 1);
      return *this;
    }
    bool operator==(const Iterator& o) const { return i_ == o.i_; }

   private:
    friend class HashMap;
    using Map = std::conditional_t<std::is_const_v<E>, const HashMap, HashMap>;
    Iterator(Map* map, size_t i) : map_(map), i_(i) {}
    Map* map_;
    size_t i_;
  };
  using iterator = Iterator<Entry>;
  using const_iterator = Iterator<const Entry>;

  HashMap() = default;
  HashMap(const HashMap& other) {
    for (const Entry& e : other) insert_or_assign(e.first, e.second);
  }
  HashMap(HashMap&& other) noexcept
      : entries_(std::exchange(other.entries_, nullptr)),
        states_(std::exchange(other.states_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        used_(std::exchange(other.used_, 0)) {}
  HashMap& operator=(const HashMap& other) {
    if (this != &other) {
      HashMap copy(other);
      *this = std::move(copy);
    }
    return *this;
  }
  HashMap& operator=(HashMap&& other) noexcept {
    entries_ = std::exchange(other.entries_, nullptr);
    states_ = std::exchange(other.states_, nullptr);
    size_ = std::exchange(other.size_, 0);
    used_ = std::exchange(other.used_, 0);
    return *this;
  }

  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  V* find(const K& key) {
    const size_t i = Lookup(key);
    return i == kNone ? nullptr : &entries()[i].second;
  }
  const V* find(const K& key) const {
    const size_t i = Lookup(key);
    return i == kNone ? nullptr : &entries()[i].second;
  }
  bool contains(const K& key) const { return Lookup(key) != kNone; }
  V& at(const K& key) {
    if (V* v = find(key)) return *v;
    throw std::out_of_range("gc::HashMap::at: no such key");
  }
  const V& at(const K& key) const {
    if (const V* v = find(key)) return *v;
    throw std::out_of_range("gc::HashMap::at: no such key");
  }
  // The value of `key`, inserted as V{} if absent.
  V& operator[](const K& key) {
    const size_t i = Lookup(key);
    if (i != kNone) return entries()[i].second;
    const size_t j = Insert(key);  // first: it may replace the arrays
    return entries()[j].second;
  }
  // Returns true if the key was new.
  bool insert_or_assign(const K& key, const V& value) {
    size_t i = Lookup(key);
    const bool fresh = i == kNone;
    if (fresh) i = Insert(key);
    entries()[i].second = value;
    return fresh;
  }
  // Returns true if the key was there.
  bool erase(const K& key) {
    const size_t i = Lookup(key);
    if (i == kNone) return false;
    entries()[i] = Entry{};
    states()[i] = kRemoved;
    size_--;
    return true;
  }
  void clear() {
    for (size_t i = 0; i < capacity(); i++) {
      if (states()[i] != kFree) {
        entries()[i] = Entry{};
        states()[i] = kFree;
      }
    }
    size_ = used_ = 0;
  }
  void reserve(size_t n) {
    if (n * 10 > capacity() * 7) Rehash(n);
  }

  iterator begin() { return iterator(this, NextFull(0)); }
  iterator end() { return iterator(this, capacity()); }
  const_iterator begin() const { return const_iterator(this, NextFull(0)); }
  const_iterator end() const { return const_iterator(this, capacity()); }

  // Two gc::Ptrs, read safely while the program runs; the entries are
  // traced as their type says.
  void trace(Tracer& t) const { t(entries_, states_); }

 private:
  static constexpr size_t kNone = ~size_t{0};
  static constexpr uint8_t kFree = 0, kFull = 1, kRemoved = 2;

  size_t capacity() const { return entries_ == nullptr ? 0 : entries_->size(); }
  Entry* entries() const { return const_cast<Entry*>(entries_->data()); }
  uint8_t* states() const { return const_cast<uint8_t*>(states_->data()); }
  size_t NextFull(size_t i) const {
    while (i < capacity() && states()[i] != kFull) i++;
    return i;
  }
  size_t Lookup(const K& key) const {
    if (size_ == 0) return kNone;
    const size_t mask = capacity() - 1;
    for (size_t i = Hash{}(key)&mask;; i = (i + 1) & mask) {
      if (states()[i] == kFree) return kNone;
      if (states()[i] == kFull && entries()[i].first == key) return i;
    }
  }
  // Takes a slot for `key` (known absent), growing first if needed.
  size_t Insert(const K& key) {
    if ((used_ + 1) * 10 > capacity() * 7) Rehash(size_ + 1);
    const size_t mask = capacity() - 1;
    size_t i = Hash{}(key)&mask;
    while (states()[i] == kFull) i = (i + 1) & mask;
    if (states()[i] == kFree) used_++;
    states()[i] = kFull;
    entries()[i].first = key;
    size_++;
    return i;
  }
  // New arrays for at least `n` entries at 70%, the entries moved over.
  void Rehash(size_t n) {
    size_t cap = 8;
    while (n * 10 > cap * 7) cap *= 2;
    Root<Array<Entry>> entries = make_array<Entry>(cap);
    Root<Array<uint8_t>> states = make_array<uint8_t>(cap);
    for (size_t i = 0; i < capacity(); i++) {
      if (this->states()[i] != kFull) continue;
      size_t j = Hash{}(this->entries()[i].first) & (cap - 1);
      while ((*states)[j] == kFull) j = (j + 1) & (cap - 1);
      (*states)[j] = kFull;
      (*entries)[j] = std::move(this->entries()[i]);
    }
    entries_ = entries;
    states_ = states;
    used_ = size_;
  }

  Ptr<Array<Entry>> entries_;
  Ptr<Array<uint8_t>> states_;
  size_t size_ = 0;  // full slots
  size_t used_ = 0;  // full and removed slots
};

}  // namespace gc
