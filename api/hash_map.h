// gc::HashMap<K, V>: a hash table whose entries live in the GC heap (see
// api/gc.h for the whole API).
//
//   struct Interner {
//     gc::HashMap<std::string, gc::Ptr<Symbol>> symbols;
//     void trace(gc::Tracer& t) const { t(symbols); }
//   };
//   interner->symbols.insert_or_assign("car", gc::make_unrooted<Symbol>());
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
// null. Unlike std::unordered_map's, references, pointers and iterators to
// entries are invalidated by any insertion (as absl::flat_hash_map's): in
// `m[k2] = m[k1]` the right side's reference may dangle once the left side
// inserts; use `m.insert_or_assign(k2, m.at(k1))`. A key or value passed to
// an insertion may itself live in the map: it is copied before the table
// grows. What an insertion takes (a new object straight from
// gc::make_unrooted, as a value or a gc::Ptr key) and the copies the map
// makes for itself (a value that is a GC container owns a new array) are
// rooted while it allocates. `m[k] = gc::make_unrooted<V>()` is not: `m[k]`
// grows the map before the store, and with stack scanning off nothing
// keeps the new object meanwhile; use insert_or_assign. Erasing never moves
// other entries. Growth allocates, and so may collect.
//
// The members are std::unordered_map's where they exist there (find aside,
// which returns a pointer): size, empty, count, contains, at, operator[],
// insert, emplace, try_emplace, insert_or_assign (returning only whether
// the key was new), erase by key and by iterator, clear, reserve, swap,
// begin/end/cbegin/cend, ==, and construction from an initializer list;
// the iterators are forward iterators, so std:: and std::ranges
// algorithms take the map.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "gcrt/internal/staged.h"
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
  using key_type = K;
  using mapped_type = V;
  using value_type = Entry;
  using size_type = size_t;
  using difference_type = std::ptrdiff_t;
  using hasher = Hash;
  using reference = Entry&;
  using const_reference = const Entry&;

  template <typename E>
  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Entry;
    using difference_type = std::ptrdiff_t;
    using pointer = E*;
    using reference = E&;

    Iterator() = default;
    // iterator -> const_iterator.
    template <typename F>
    requires(std::is_const_v<E> && !std::is_const_v<F>)
        Iterator(const Iterator<F>& o)
        : map_(o.map_), i_(o.i_) {}
    E& operator*() const { return map_->entries()[i_]; }
    E* operator->() const { return &map_->entries()[i_]; }
    Iterator& operator++() {
      i_ = map_->NextFull(i_ + 1);
      return *this;
    }
    Iterator operator++(int) {
      Iterator before = *this;
      ++*this;
      return before;
    }
    bool operator==(const Iterator& o) const { return i_ == o.i_; }

   private:
    friend class HashMap;
    template <typename F>
    friend class Iterator;
    using Map = std::conditional_t<std::is_const_v<E>, const HashMap, HashMap>;
    Iterator(Map* map, size_t i) : map_(map), i_(i) {}
    Map* map_ = nullptr;
    size_t i_ = 0;
  };
  using iterator = Iterator<Entry>;
  using const_iterator = Iterator<const Entry>;

  // The constructors size the arrays first and pin them (root them with
  // handles) while they fill them: a map being made may be a temporary
  // nothing reaches (an insertion's argument), and copying a value that
  // is a GC container allocates. An initializer list's entries wait in an
  // unrooted stack array: pinned before anything allocates.
  HashMap() = default;
  HashMap(std::initializer_list<Entry> entries) {
    internal::Pins list;
    list.AddEach(entries);
    reserve(entries.size());
    internal::Pins arrays;
    arrays.Add(*this);
    for (const Entry& e : entries) insert(e);
  }
  HashMap(const HashMap& other) {
    internal::Pins arrays;
    arrays.Add(other);  // it may be a temporary too
    reserve(other.size());
    arrays.Add(*this);
    for (const Entry& e : other) insert_or_assign(e.first, e.second);
  }
  HashMap(HashMap&& other) noexcept
      : entries_(std::exchange(other.entries_, nullptr)),
        states_(std::exchange(other.states_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        used_(std::exchange(other.used_, 0)) {}
  HashMap& operator=(const HashMap& other) {
    if (this != &other) {
      // Copied whole before this map changes: `other` may be reached only
      // through this map's values (m = m.at(k).children).
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
    return i == kNone ? nullptr : std::addressof(entries()[i].second);
  }
  const V* find(const K& key) const {
    const size_t i = Lookup(key);
    return i == kNone ? nullptr : std::addressof(entries()[i].second);
  }
  bool contains(const K& key) const { return Lookup(key) != kNone; }
  size_t count(const K& key) const { return contains(key) ? 1 : 0; }
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
    const size_t i = Lookup(key);
    if (i != kNone) {
      entries()[i].second = value;
      return false;
    }
    return try_emplace(key, value).second;
  }
  // Inserts `key` with V(args...) if absent; the entry, and whether it was
  // inserted.
  template <typename... Args>
  std::pair<iterator, bool> try_emplace(const K& key, Args&&... args) {
    const size_t i = Lookup(key);
    if (i != kNone) return {iterator(this, i), false};
    // Before: args may be entries. The key (a gc::Ptr made unrooted) is
    // pinned first, across the value's allocations too.
    internal::Pins key_pins;
    key_pins.Add(key);
    auto value = internal::Stage<V>(std::forward<Args>(args)...);
    const size_t j = Insert(key);
    entries()[j].second = std::move(value.get());
    return {iterator(this, j), true};
  }
  std::pair<iterator, bool> insert(const Entry& entry) {
    return try_emplace(entry.first, entry.second);
  }
  std::pair<iterator, bool> emplace(const K& key, const V& value) {
    return try_emplace(key, value);
  }
  // Returns the number of entries removed (0 or 1), as std's.
  size_t erase(const K& key) {
    const size_t i = Lookup(key);
    if (i == kNone) return 0;
    RemoveAt(i);
    return 1;
  }
  // Removes the entry at `pos`; returns the next one's iterator.
  iterator erase(const_iterator pos) {
    RemoveAt(pos.i_);
    return iterator(this, NextFull(pos.i_ + 1));
  }
  iterator erase(iterator pos) { return erase(const_iterator(pos)); }
  void swap(HashMap& other) noexcept {
    std::swap(entries_, other.entries_);
    std::swap(states_, other.states_);
    std::swap(size_, other.size_);
    std::swap(used_, other.used_);
  }
  friend void swap(HashMap& a, HashMap& b) noexcept { a.swap(b); }
  // Equal sizes, and every key of one in the other with an equal value.
  friend bool operator==(const HashMap& a, const HashMap& b) {
    if (a.size() != b.size()) return false;
    for (const Entry& e : a) {
      const V* v = b.find(e.first);
      if (v == nullptr || !(*v == e.second)) return false;
    }
    return true;
  }
  void clear() {
    for (size_t i = 0; i < capacity(); i++) {
      if (states()[i] != kFree) {
        entries()[i] = Entry{K(), V()};  // explicit default constructors too
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
  const_iterator cbegin() const { return begin(); }
  const_iterator cend() const { return end(); }

  // Two gc::Ptrs, read safely while the program runs; the entries are
  // traced as their type says.
  void trace(Tracer& t) const { t(entries_, states_); }

 private:
  static constexpr size_t kNone = ~size_t{0};
  static constexpr uint8_t kFree = 0, kFull = 1, kRemoved = 2;

  size_t capacity() const { return entries_ == nullptr ? 0 : entries_->size(); }
  Entry* entries() const { return const_cast<Entry*>(entries_->data()); }
  uint8_t* states() const { return const_cast<uint8_t*>(states_->data()); }
  void RemoveAt(size_t i) {
    entries()[i] = Entry{K(), V()};
    states()[i] = kRemoved;
    size_--;
  }
  bool WillGrow() const { return (used_ + 1) * 10 > capacity() * 7; }
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
    if (WillGrow()) {
      // Growing moves the entry `key` may be part of, and may collect the
      // object it names (a gc::Ptr key made unrooted).
      auto copy = internal::Stage<K>(key);
      Rehash(size_ + 1);
      return Place(copy.get());
    }
    return Place(key);
  }
  size_t Place(const K& key) {
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
