// The allocator's statistics, for the allocator's suites.
#pragma once

#include <gtest/gtest.h>

#include "gcrt/alloc/heap.h"

namespace gc::testing {

// Figures that are exact only when no cache holds spans: this thread's
// cache is flushed first.
inline gc::alloc::HeapStats FlushedStats() {
  gc::alloc::FlushCurrentCache();
  return gc::alloc::ReadHeapStats();
}

// The identities between the heap's figures that always hold.
inline ::testing::AssertionResult PagesAddUp(const gc::alloc::HeapStats& st) {
  if (st.heap_inuse + st.heap_idle != st.heap_sys) {
    return ::testing::AssertionFailure()
           << "inuse " << st.heap_inuse << " + idle " << st.heap_idle
           << " != sys " << st.heap_sys;
  }
  if (st.heap_released > st.heap_idle) {
    return ::testing::AssertionFailure() << "released > idle";
  }
  if (st.heap_sys > st.heap_reserved) {
    return ::testing::AssertionFailure() << "sys > reserved";
  }
  if (st.objects != st.mallocs - st.frees) {
    return ::testing::AssertionFailure() << "objects != mallocs - frees";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace gc::testing
