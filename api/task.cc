// See task.h.
#include "api/task.h"

#include "alloc/heap.h"
#include "gc/collector.h"
#include "gc/roots.h"

namespace gc::internal {

void PrepareTasks() {
  static const bool prepared = [] {
    Collector::Get();
    InstallTaskHandles();
    return true;
  }();
  (void)prepared;
  alloc::AttachCurrentThread();
}

void DiscardTask(runtime::Task* task) { runtime::DiscardTask(task); }

}  // namespace gc::internal

// Instantiated here so that the clang build's thread-safety analysis,
// which runs on instantiated templates only, checks the primitives'
// locking, for a value without GC pointers and for one with.
template class gc::Channel<int>;
template class gc::Channel<gc::Root<int>>;
template class gc::Task<int>;
