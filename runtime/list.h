// An intrusive doubly linked list: the elements carry the links (T::next
// and T::prev by default), so pushing and removing allocate nothing and
// take O(1). Spans on the page heap's and the Centrals' lists, finalizer
// records and weak references all live on one.
//
// Not synchronized: whoever guards the list guards its elements' links.
// An element is on at most one list (through one pair of links) at a time;
// off every list its links are null.
#pragma once

#include <cstddef>
#include <utility>

#include "gcrt/runtime/check.h"

namespace gc::runtime {

template <typename T, T* T::*kNext = &T::next, T* T::*kPrev = &T::prev>
class IntrusiveList {
 public:
  IntrusiveList() = default;
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;
  // Moving takes the elements; the source is left empty.
  IntrusiveList(IntrusiveList&& other) noexcept { *this = std::move(other); }
  IntrusiveList& operator=(IntrusiveList&& other) noexcept {
    first_ = other.first_;
    last_ = other.last_;
    size_ = other.size_;
    other.first_ = other.last_ = nullptr;
    other.size_ = 0;
    return *this;
  }
  friend void swap(IntrusiveList& a, IntrusiveList& b) noexcept {
    IntrusiveList t = std::move(a);
    a = std::move(b);
    b = std::move(t);
  }

  bool empty() const { return first_ == nullptr; }
  T* first() const { return first_; }
  T* last() const { return last_; }
  size_t size() const { return size_; }

  void PushFront(T* x) {
    GCRT_DCHECK(x->*kNext == nullptr && x->*kPrev == nullptr);
    x->*kNext = first_;
    (first_ != nullptr ? first_->*kPrev : last_) = x;
    first_ = x;
    size_++;
  }
  void PushBack(T* x) {
    GCRT_DCHECK(x->*kNext == nullptr && x->*kPrev == nullptr);
    x->*kPrev = last_;
    (last_ != nullptr ? last_->*kNext : first_) = x;
    last_ = x;
    size_++;
  }
  // x must be on this list.
  void Remove(T* x) {
    if (x->*kPrev != nullptr) {
      x->*kPrev->*kNext = x->*kNext;
    } else {
      GCRT_CHECK_EQ(first_, x);
      first_ = x->*kNext;
    }
    if (x->*kNext != nullptr) {
      x->*kNext->*kPrev = x->*kPrev;
    } else {
      GCRT_CHECK_EQ(last_, x);
      last_ = x->*kPrev;
    }
    x->*kNext = nullptr;
    x->*kPrev = nullptr;
    GCRT_DCHECK_GT(size_, 0u);
    size_--;
  }

  // Moves every element of `other` to the back of this list, in O(1).
  void Splice(IntrusiveList& other) {
    if (other.empty()) return;
    if (empty()) {
      *this = std::move(other);
      return;
    }
    last_->*kNext = other.first_;
    other.first_->*kPrev = last_;
    last_ = other.last_;
    size_ += other.size_;
    other.first_ = other.last_ = nullptr;
    other.size_ = 0;
  }

  // Walks the links (consistency checks compare it with size()).
  size_t CountByWalking() const {
    size_t n = 0;
    for (const T* x = first_; x != nullptr; x = x->*kNext) n++;
    return n;
  }

 private:
  T* first_ = nullptr;
  T* last_ = nullptr;
  size_t size_ = 0;
};

}  // namespace gc::runtime
