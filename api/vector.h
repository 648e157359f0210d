// gc::Vector<T>: a growable array whose elements live in the GC heap (see
// api/gc.h for the whole API).
//
//   struct Graph {
//     gc::Vector<gc::Ptr<Node>> nodes;
//     void trace(gc::Tracer& t) const { t(nodes); }
//   };
//   graph->nodes.push_back(gc::make_unrooted<Node>());
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
// The interface is std::vector's in the main. Elements are value-initialized
// slots of the array: T must be default-constructible and assignable (a
// removed element's slot is reset to T{}, so it keeps nothing alive).
// Copying a Vector copies its elements into a new array; moving takes the
// array. On a thread's stack a Vector keeps its elements alive through the
// conservative stack scan, as a gc::Ptr does; in C++ heap memory it is no
// root. Growth allocates (and so may collect): as with any allocation,
// hold what must survive in rooted or reachable places first.
#pragma once

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>

#include "gcrt/make.h"
#include "gcrt/ptr.h"
#include "gcrt/trace.h"

namespace gc {

template <typename T>
class Vector {
 public:
  using value_type = T;
  using size_type = size_t;
  using iterator = T*;
  using const_iterator = const T*;

  Vector() = default;
  Vector(std::initializer_list<T> values) {
    reserve(values.size());
    for (const T& v : values) push_back(v);
  }
  explicit Vector(size_t n) { resize(n); }
  Vector(const Vector& other) {
    reserve(other.size_);
    for (const T& v : other) push_back(v);
  }
  Vector(Vector&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  Vector& operator=(const Vector& other) {
    if (this != &other) {
      Vector copy(other);
      *this = std::move(copy);
    }
    return *this;
  }
  Vector& operator=(Vector&& other) noexcept {
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    return *this;
  }

  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
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

  void push_back(const T& value) {
    if (size_ == capacity()) {
      T copy = value;  // value may be an element of this vector
      Grow(size_ + 1);
      (*data_)[size_++] = std::move(copy);
      return;
    }
    (*data_)[size_++] = value;
  }
  void push_back(T&& value) {
    if (size_ == capacity()) {
      T moved = std::move(value);
      Grow(size_ + 1);
      (*data_)[size_++] = std::move(moved);
      return;
    }
    (*data_)[size_++] = std::move(value);
  }
  template <typename... Args>
  T& emplace_back(Args&&... args) {
    push_back(T(std::forward<Args>(args)...));
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
  void reserve(size_t n) {
    if (n > capacity()) Grow(n);
  }
  // Removes the element at `pos`, moving the later ones down.
  T* erase(T* pos) {
    std::move(pos + 1, end(), pos);
    pop_back();
    return pos;
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
  // A new array of at least `want` slots, the elements moved into it.
  void Grow(size_t want) {
    const size_t n = std::max({want, capacity() * 2, size_t{4}});
    Root<Array<T>> bigger = make_array<T>(n);
    for (size_t i = 0; i < size_; i++) (*bigger)[i] = std::move((*data_)[i]);
    data_ = bigger;
  }

  Ptr<Array<T>> data_;
  size_t size_ = 0;
};

}  // namespace gc
