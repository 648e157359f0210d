// A processor's page cache, apart from the page heap (alloc/page_heap.h)
// so that alloc/cache.h, which holds one and is inlined by the public API,
// does not make the PageHeap visible. See alloc/heap.h for the overview.
#pragma once

#include <cstdint>

namespace gc::alloc {

struct Span;

// A processor's private run of free pages (Go 1.19's pageCache): its
// Cache's refills cut spans from the run without the heap lock, so threads
// refilling at once meet in the page heap once per run (512 KiB), not once
// per batch of spans. Owned by one Cache (no sync); the run is an in-use
// span in state kAllocating, so nothing else coalesces with it.
struct PageCache {
  static constexpr uint32_t kPages = 64;
  static constexpr uint32_t kMaxRecords = 64;
  Span* run = nullptr;              // the uncut rest, or null
  Span* records[kMaxRecords] = {};  // spare Span records for cut spans
  uint32_t nrecords = 0;
};

}  // namespace gc::alloc
