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
}

void DiscardTask(runtime::Task* task) { runtime::DiscardTask(task); }

}  // namespace gc::internal

// Instantiated here so that the clang build's thread-safety analysis,
// which runs on instantiated templates only, checks the primitives'
// locking, for a value without GC pointers and for one with.
template class gc::Channel<int>;
template class gc::Channel<gc::Root<int>>;
template class gc::Task<int>;
