// See gc_bits.h.
#include "alloc/gc_bits.h"

#include <cstring>

#include "runtime/check.h"
#include "runtime/os_mem.h"

namespace gc::alloc {

uint64_t* GcBitsArenas::Arena::TryAllocate(uint32_t bytes) {
  // Cheap pre-check keeps a full arena's offset from growing without bound.
  if (free_offset.load(std::memory_order_relaxed) + bytes > kCapacity) {
    return nullptr;
  }
  uint32_t end =
      free_offset.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  if (end > kCapacity) return nullptr;
  return reinterpret_cast<uint64_t*>(bits + (end - bytes));
}

uint64_t* GcBitsArenas::Allocate(uint32_t nwords) {
  // Spans need at most 16 words; anything near an arena is a caller bug.
  GC_CHECK(nwords > 0 && nwords <= Arena::kCapacity / 8);
  // Whole cache lines: markers on different cores set bits of different
  // spans at once, and two spans' mark words on one line made two markers
  // slower than one (the line bounced on every atomic OR).
  uint32_t bytes = (nwords * 8 + kCacheLine - 1) & ~(kCacheLine - 1);
  Arena* a = next_.load(std::memory_order_acquire);
  if (a != nullptr) {
    if (uint64_t* p = a->TryAllocate(bytes)) return p;
  }
  std::lock_guard<runtime::Mutex> lock(mu_);
  // Another thread may have linked a fresh arena while we waited.
  a = next_.load(std::memory_order_relaxed);
  if (a != nullptr) {
    if (uint64_t* p = a->TryAllocate(bytes)) return p;
  }
  Arena* fresh = NewArenaLocked();
  uint64_t* p = fresh->TryAllocate(bytes);
  GC_CHECK(p != nullptr);
  fresh->next = a;
  next_.store(fresh, std::memory_order_release);
  return p;
}

GcBitsArenas::Arena* GcBitsArenas::NewArenaLocked() {
  Arena* a = free_;
  if (a != nullptr) {
    free_ = a->next;
    std::memset(a->bits, 0, sizeof(a->bits));  // recycled: clear it
  } else if ((a = fresh_) != nullptr) {
    fresh_ = a->next;  // never used: still zero
  } else {
    // Map a batch at once: fewer system calls while the heap grows.
    constexpr size_t kBatch = 16;
    void* mem =
        runtime::os::MapMetadata(kGcBitsArenaBytes * kBatch, "gcBits arenas");
    auto* batch = static_cast<Arena*>(mem);  // fresh mapping: already zero
    for (size_t i = 1; i < kBatch; i++) {
      batch[i].next = fresh_;
      fresh_ = &batch[i];
    }
    a = &batch[0];
    mapped_ += kBatch;
  }
  a->free_offset.store(0, std::memory_order_relaxed);
  a->next = nullptr;
  return a;
}

void GcBitsArenas::NextEpoch() {
  std::lock_guard<runtime::Mutex> lock(mu_);
  if (previous_ != nullptr) {
    Arena* tail = previous_;
    while (tail->next != nullptr) tail = tail->next;
    tail->next = free_;
    free_ = previous_;
  }
  previous_ = current_;
  current_ = next_.load(std::memory_order_relaxed);
  next_.store(nullptr, std::memory_order_release);
}

GcBitsArenas::Stats GcBitsArenas::ReadStats() {
  std::lock_guard<runtime::Mutex> lock(mu_);
  size_t nfree = 0;
  for (Arena* a = free_; a != nullptr; a = a->next) nfree++;
  for (Arena* a = fresh_; a != nullptr; a = a->next) nfree++;
  return Stats{mapped_, nfree};
}

}  // namespace gc::alloc
