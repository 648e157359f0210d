// A bounded queue of gc::Root handles between plain threads.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <utility>

#include "gcrt/gc.h"

namespace producer_consumer {

template <typename T>
class RootQueue {
 public:
  explicit RootQueue(size_t capacity) : capacity_(capacity) {}
  RootQueue(const RootQueue&) = delete;
  RootQueue& operator=(const RootQueue&) = delete;

  // Waits for room, then queues the value.
  void Push(gc::Root<T> value) {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] { return items_.size() < capacity_; });
    items_.push_back(std::move(value));
    not_empty_.notify_one();
  }

  // The oldest value, waiting for one; nullopt once the queue is closed and
  // empty.
  std::optional<gc::Root<T>> Pop() {
    std::unique_lock lock(mu_);
    not_empty_.wait(lock, [&] { return !items_.empty() || closed_; });
    if (items_.empty()) return std::nullopt;
    gc::Root<T> value = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return value;
  }

  // No more pushes; the consumers drain what is queued, then get nullopt.
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    not_empty_.notify_all();
  }

 private:
  const size_t capacity_;
  // gc::Mutex and gc::ConditionVariable, not the std ones: a thread that
  // waits here does so inside a gc::Blocking scope, so a collection that
  // another thread's allocation starts does not wait for this one to wake
  // up (it would wait forever if the one it waits for is the allocator).
  gc::Mutex mu_;
  gc::ConditionVariable not_empty_, not_full_;
  // A gc::Root is a rooted handle wherever it lives, this std::deque's C++
  // heap memory included: a queued message stays alive with no other root.
  // A Root may move to another thread and be dropped there (the drop then
  // takes a lock): the producer's handle ends on the consumer's thread.
  std::deque<gc::Root<T>> items_;
  bool closed_ = false;
};

}  // namespace producer_consumer
