// gc::Vector<T>: a growable array whose elements live in the GC heap (see
// api/gc.h for the whole API).
//
//   struct Graph {
//     gc::Vector<gc::Ptr<Node>> nodes;
//     void trace(gc::Tracer& t) const { t(nodes); }
//   };
//   graph->nodes.push_back(gc::make<Node>());
//
// For large mutable collections inside GC objects. A std::vector<gc::Ptr<T>>
// member works too, but its buffer is C++ heap memory that changes with no
// write barrier, so a cycle that marks beside the program
// (gc::set_concurrent_mark) leaves the object holding it to its final stop,
// when the program waits (gc::Stats::deferred_objects counts those). A
// gc::Vector's buffer is a gc::Array<T> it replaces as it grows, and every
// element store is a gc::Ptr store with its write barrier: the marker reads
// it while the program runs.
//
// The interface is std::vector's: its member types, constructors (count,
// count and value, iterator range, initializer list), assign, element
// access (at, [], front, back, data), iterators (begin/end, the c and r
// forms), size, empty, max_size, capacity, reserve, shrink_to_fit, clear,
// insert and emplace at a position, erase of one or a range, push_back,
// emplace_back, pop_back, resize (with a value), swap, and comparison (==,
// <=>). Iterators are pointers, invalidated as std::vector's are, and by
// growth. A value passed in from the vector itself is copied before the
// vector grows, and what an insertion takes (a new object straight from
// gc::make_unrooted) and the copies a Vector makes for itself (of elements
// that are GC containers too) are rooted while it allocates. Elements are
// value-initialized slots of the array: T must be default-constructible and
// assignable (a removed element's slot is reset to T{}, so it keeps nothing
// alive; growth makes the new array's slots with T()). emplace and
// emplace_back build T(args...) itself, with no T() first, and move it
// into its slot; if T(args...) throws, the vector is unchanged. Copying a
// Vector copies its elements into a new array; moving takes the array. On a
// thread's stack a Vector keeps its elements alive through the conservative
// stack scan, as a gc::Ptr does; in C++ heap memory it is no root. Growth
// allocates (and so may collect): as with any allocation, hold what must
// survive in rooted or reachable places first.
#pragma once

#include <algorithm>
#include <compare>
#include <concepts>
#include <cstddef>
#include <initializer_list>
#include <iterator>
#include <stdexcept>
#include <string>
#include <utility>

#include "gcrt/internal/staged.h"
#include "gcrt/make.h"
#include "gcrt/ptr.h"
#include "gcrt/trace.h"

namespace gc {

template <typename T>
class Vector {
 public:
  using value_type = T;
  using size_type = size_t;
  using difference_type = std::ptrdiff_t;
  using reference = T&;
  using const_reference = const T&;
  using pointer = T*;
  using const_pointer = const T*;
  using iterator = T*;
  using const_iterator = const T*;
  using reverse_iterator = std::reverse_iterator<iterator>;
  using const_reverse_iterator = std::reverse_iterator<const_iterator>;

  // The constructors fill a rooted array and take it last: a vector being
  // made may be a temporary nothing reaches (a push_back argument), and
  // copying an element that is a GC container allocates.
  Vector() = default;
  Vector(std::initializer_list<T> values) { assign(values); }
  explicit Vector(size_t n) { resize(n); }
  Vector(size_t n, const T& value) { assign(n, value); }
  template <std::input_iterator It>
  Vector(It first, It last) {
    assign(first, last);
  }
  Vector(const Vector& other) { CopyFrom(other); }
  Vector(Vector&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  Vector& operator=(const Vector& other) {
    if (this != &other) CopyFrom(other);
    return *this;
  }
  Vector& operator=(Vector&& other) noexcept {
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    return *this;
  }

  Vector& operator=(std::initializer_list<T> values) {
    assign(values);
    return *this;
  }
  void assign(size_t n, const T& value) {
    // value may be an element of this vector: copied before the array is
    // replaced.
    auto copy = internal::Stage<T>(value);
    if (n <= capacity()) {
      clear();
      for (size_t i = 0; i < n; i++) (*data_)[i] = copy.get();
      size_ = n;
      return;
    }
    CheckMaxSize(n);
    Root<Array<T>> fresh = make_array<T>(n);
    for (size_t i = 0; i < n; i++) (*fresh)[i] = copy.get();
    data_ = fresh;
    size_ = n;
  }
  template <std::input_iterator It>
  void assign(It first, It last) {
    size_t n = 0;
    Root<Array<T>> staged = Stage(first, last, &n);  // it may be ours
    if (n == 0) {
      clear();
      return;
    }
    data_ = staged;
    size_ = n;
  }
  // An initializer list's elements wait in an unrooted stack array: each
  // is pinned (its GC pointers rooted) before anything allocates.
  void assign(std::initializer_list<T> values) {
    internal::Pins list;
    list.AddEach(values);
    assign(values.begin(), values.end());
  }

  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  // The elements of the largest array gcrt makes (1 TiB).
  size_t max_size() const noexcept {
    return (alloc::kMaxObjectBytes - Array<T>::kHeader) / sizeof(T);
  }
  size_t capacity() const noexcept {
    return data_ == nullptr ? 0 : data_->size();
  }

  T& operator[](size_t i) { return (*data_)[i]; }
  const T& operator[](size_t i) const { return (*data_)[i]; }
  T& at(size_t i) { return (*this)[Checked(i)]; }
  const T& at(size_t i) const { return (*this)[Checked(i)]; }
  T& front() { return (*this)[0]; }
  const T& front() const { return (*this)[0]; }
  T& back() { return (*this)[size_ - 1]; }
  const T& back() const { return (*this)[size_ - 1]; }
  T* data() noexcept { return data_ == nullptr ? nullptr : data_->data(); }
  const T* data() const noexcept {
    return data_ == nullptr ? nullptr : data_->data();
  }
  T* begin() noexcept { return data(); }
  T* end() noexcept { return data() + size_; }
  const T* begin() const noexcept { return data(); }
  const T* end() const noexcept { return data() + size_; }
  const T* cbegin() const noexcept { return begin(); }
  const T* cend() const noexcept { return end(); }
  reverse_iterator rbegin() noexcept { return reverse_iterator(end()); }
  reverse_iterator rend() noexcept { return reverse_iterator(begin()); }
  const_reverse_iterator rbegin() const noexcept {
    return const_reverse_iterator(end());
  }
  const_reverse_iterator rend() const noexcept {
    return const_reverse_iterator(begin());
  }
  const_reverse_iterator crbegin() const noexcept { return rbegin(); }
  const_reverse_iterator crend() const noexcept { return rend(); }

  void push_back(const T& value) {
    if (size_ == capacity()) {
      // value may be an element of this vector
      auto copy = internal::Stage<T>(value);
      Grow(size_ + 1);
      (*data_)[size_++] = std::move(copy.get());
      return;
    }
    (*data_)[size_++] = value;
  }
  void push_back(T&& value) {
    if (size_ == capacity()) {
      auto moved = internal::Stage<T>(std::move(value));
      Grow(size_ + 1);
      (*data_)[size_++] = std::move(moved.get());
      return;
    }
    (*data_)[size_++] = std::move(value);
  }
  template <typename... Args>
  T& emplace_back(Args&&... args) {
    auto made = internal::Stage<T>(std::forward<Args>(args)...);
    push_back(std::move(made.get()));
    return back();
  }
  void pop_back() { (*data_)[--size_] = T{}; }
  void clear() {
    while (size_ > 0) pop_back();
  }
  void resize(size_t n) {
    if (n > capacity()) Grow(n);
    while (size_ > n) pop_back();
    size_ = n;  // slots past the old size hold T{} already
  }
  void resize(size_t n, const T& value) {
    if (n <= size_) {
      resize(n);
      return;
    }
    insert(end(), n - size_, value);
  }
  void reserve(size_t n) {
    if (n > capacity()) Grow(n);
  }
  // Down to an array of size() slots (none when empty).
  void shrink_to_fit() {
    if (capacity() == size_) return;
    if (size_ == 0) {
      data_ = nullptr;
      return;
    }
    Resize(size_);
  }

  // Inserts before `pos`; returns the first inserted element's iterator.
  iterator insert(const_iterator pos, const T& value) {
    return insert(pos, size_t{1}, value);
  }
  iterator insert(const_iterator pos, T&& value) {
    const size_t at = Index(pos);
    // it may be an element of this vector
    auto moved = internal::Stage<T>(std::move(value));
    OpenGap(at, 1);
    (*data_)[at] = std::move(moved.get());
    return begin() + at;
  }
  iterator insert(const_iterator pos, size_t n, const T& value) {
    const size_t at = Index(pos);
    if (n == 0) return begin() + at;
    // it may be an element of this vector
    auto copy = internal::Stage<T>(value);
    OpenGap(at, n);
    for (size_t i = at; i < at + n; i++) (*data_)[i] = copy.get();
    return begin() + at;
  }
  template <std::input_iterator It>
  iterator insert(const_iterator pos, It first, It last) {
    const size_t at = Index(pos);
    size_t n = 0;
    Root<Array<T>> staged = Stage(first, last, &n);
    if (n == 0) return begin() + at;
    OpenGap(at, n);
    for (size_t i = 0; i < n; i++) (*data_)[at + i] = std::move((*staged)[i]);
    return begin() + at;
  }
  iterator insert(const_iterator pos, std::initializer_list<T> values) {
    internal::Pins list;
    list.AddEach(values);
    return insert(pos, values.begin(), values.end());
  }
  template <typename... Args>
  iterator emplace(const_iterator pos, Args&&... args) {
    const size_t at = Index(pos);
    auto made = internal::Stage<T>(std::forward<Args>(args)...);
    return insert(begin() + at, std::move(made.get()));
  }

  // Removes the element at `pos`, moving the later ones down.
  iterator erase(const_iterator pos) { return erase(pos, pos + 1); }
  // Removes [first, last), moving the later ones down.
  iterator erase(const_iterator first, const_iterator last) {
    const size_t at = Index(first);
    const size_t n = static_cast<size_t>(last - first);
    std::move(begin() + at + n, end(), begin() + at);
    for (size_t i = 0; i < n; i++) pop_back();
    return begin() + at;
  }

  void swap(Vector& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
  }
  friend void swap(Vector& a, Vector& b) noexcept { a.swap(b); }
  friend bool operator==(const Vector& a,
                         const Vector& b) requires std::equality_comparable<T> {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  friend auto operator<=>(
      const Vector& a, const Vector& b) requires std::three_way_comparable<T> {
    return std::lexicographical_compare_three_way(a.begin(), a.end(), b.begin(),
                                                  b.end());
  }

  // The buffer, for the tracer: one gc::Ptr, read safely while the program
  // runs; the array's elements are traced as its type says.
  void trace(Tracer& t) const { t(data_); }

 private:
  size_t Checked(size_t i) const {
    if (i >= size_) {
      throw std::out_of_range("gc::Vector::at(" + std::to_string(i) +
                              "): size is " + std::to_string(size_));
    }
    return i;
  }
  size_t Index(const_iterator pos) const {
    return static_cast<size_t>(pos - begin());
  }
  // Makes room for n elements at `at`: the later ones move up n slots.
  void OpenGap(size_t at, size_t n) {
    if (n > max_size() - size_) Grow(max_size() + 1);  // throws
    if (size_ + n > capacity()) Grow(size_ + n);
    size_ += n;
    std::move_backward(begin() + at, end() - n, end());
  }
  // The range copied out into a rooted array of at least *n slots (null if
  // empty): it may be this vector's, which growing replaces, and growing
  // and copying elements (GC containers themselves) allocate, and may
  // collect.
  template <std::input_iterator It>
  Root<Array<T>> Stage(It first, It last, size_t* n) const {
    Root<Array<T>> staged;
    *n = 0;
    if constexpr (std::forward_iterator<It>) {
      const auto count = static_cast<size_t>(std::distance(first, last));
      if (count == 0) return staged;
      CheckMaxSize(count);
      staged = make_array<T>(count);
      for (; first != last; ++first) (*staged)[(*n)++] = *first;
      return staged;
    }
    for (; first != last; ++first) {
      if (!staged || *n == staged->size()) {
        Root<Array<T>> bigger = make_array<T>(std::max<size_t>(8, 2 * *n));
        for (size_t i = 0; i < *n; i++) {
          (*bigger)[i] = std::move((*staged)[i]);
        }
        staged = bigger;
      }
      (*staged)[(*n)++] = *first;
    }
    return staged;
  }
  // Becomes a copy of `other` (not this vector): the copies are made into a
  // rooted array, since copying an element may allocate and *this may be a
  // temporary nothing reaches; so may `other` (`v = gc::Vector<P>{...}`
  // through a const reference), whose array is pinned meanwhile.
  void CopyFrom(const Vector& other) {
    if (other.size_ == 0) {
      data_ = nullptr;
      size_ = 0;
      return;
    }
    internal::Pins source;
    source.Add(other.data_);
    Root<Array<T>> fresh = make_array<T>(other.size_);
    for (size_t i = 0; i < other.size_; i++) (*fresh)[i] = other[i];
    data_ = fresh;
    size_ = other.size_;
  }
  void CheckMaxSize(size_t want) const {
    if (want > max_size()) {
      throw std::length_error("gc::Vector: " + std::to_string(want) +
                              " elements exceed max_size() " +
                              std::to_string(max_size()));
    }
  }
  // A new array of at least `want` slots, the elements moved into it.
  // As std::vector's, past max_size() growing throws std::length_error;
  // doubling stops at max_size().
  void Grow(size_t want) {
    CheckMaxSize(want);
    Resize(std::max({want, std::min(capacity() * 2, max_size()), size_t{4}}));
  }
  // A new array of n >= size() slots, the elements moved into it.
  void Resize(size_t n) {
    Root<Array<T>> bigger = make_array<T>(n);
    for (size_t i = 0; i < size_; i++) (*bigger)[i] = std::move((*data_)[i]);
    data_ = bigger;
  }

  Ptr<Array<T>> data_;
  size_t size_ = 0;
};

}  // namespace gc
