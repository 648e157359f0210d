// Internal to gcrt: not part of the API, may change.
//
// The glue api/task.h's templates inline: the scheduler's untyped side
// (runtime/task.h: tasks, their shared state, waiters, the mutex the
// primitives lock), without stop-the-world or the heap.
#pragma once

#include "gcrt/runtime/list.h"
#include "gcrt/runtime/mutex.h"
#include "gcrt/runtime/task.h"

namespace gc::internal {

// A FIFO of waiters, under the primitive's lock.
class WaitQueue : public runtime::IntrusiveList<runtime::Waiter> {
 public:
  void Push(runtime::Waiter* w) { PushBack(w); }
  runtime::Waiter* Pop() {
    runtime::Waiter* w = first();
    if (w != nullptr) Remove(w);
    return w;
  }
};

// Starts the heap and the collector and makes handle arenas follow tasks
// (gc/roots.h), once, before the first task; attaches the calling thread.
void PrepareTasks();

// A task's closure could not be built (its copy threw): gives back the
// task NewTask made, which never ran.
void DiscardTask(runtime::Task* task);

}  // namespace gc::internal
