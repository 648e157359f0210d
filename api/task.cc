// See task.h.
#include "gcrt/task.h"

#include "gcrt/alloc/heap.h"
#include "gcrt/gc/collector.h"
#include "gcrt/gc/roots.h"

namespace gc::internal {

void PrepareTasks() {
  static const bool prepared = [] {
    Collector::Get();
    InstallTaskHandles();
    return true;
  }();
  (void)prepared;
  alloc::AttachCurrentThread();
  // gc::go is a safepoint: a loop that starts tasks (and does nothing else
  // on this thread: the tasks allocate on the workers) must let the world
  // stop. Before anything of the new task exists.
  runtime::Safepoint();
}

void DiscardTask(runtime::Task* task) { runtime::DiscardTask(task); }

}  // namespace gc::internal

// Instantiated here so that the clang build's thread-safety analysis,
// which runs on instantiated templates only, checks the primitives'
// locking, for a value without GC pointers and for one with.
template class gc::Channel<int>;
template class gc::Channel<gc::Root<int>>;
template class gc::Task<int>;
