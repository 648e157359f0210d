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
