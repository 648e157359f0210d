// See gc_bits.h.
#include "gcrt/alloc/gc_bits.h"

#include <cstring>

#include "gcrt/runtime/check.h"
#include "gcrt/runtime/os_mem.h"

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

template <typename Refill>
uint64_t* GcBitsArenas::AllocateFrom(std::atomic<Arena*>& head,
                                     Arena* GcBitsArenas::*tail,
                                     uint32_t nwords, Refill refill) {
  // Spans need at most 16 words; anything near an arena is a caller bug.
  GCRT_CHECK_GT(nwords, 0u);
  GCRT_CHECK_LE(nwords, Arena::kCapacity / 8);
  // Whole cache lines: markers on different cores set bits of different
  // spans at once, and two spans' mark words on one line made two markers
  // slower than one (the line bounced on every atomic OR).
  uint32_t bytes = PaddedBitWords(nwords) * 8;
  Arena* a = head.load(std::memory_order_acquire);
  if (a != nullptr) {
    if (uint64_t* p = a->TryAllocate(bytes)) return p;
  }
  runtime::MutexLock lock(&mu_);
  // Another thread may have linked a fresh arena while we waited.
  a = head.load(std::memory_order_relaxed);
  if (a != nullptr) {
    if (uint64_t* p = a->TryAllocate(bytes)) return p;
  }
  Arena* fresh = refill();
  uint64_t* p = fresh->TryAllocate(bytes);
  GCRT_CHECK(p != nullptr);
  fresh->next = a;
  if (a == nullptr) this->*tail = fresh;
  head.store(fresh, std::memory_order_release);
  return p;
}

uint64_t* GcBitsArenas::Allocate(uint32_t nwords) {
  return AllocateFrom(next_, &GcBitsArenas::next_tail_, nwords,
                      [this]() GCRT_REQUIRES(mu_) { return NewArenaLocked(); });
}

uint64_t* GcBitsArenas::NewSweptMarkBits(uint32_t nwords) {
  return AllocateFrom(
      sweep_next_, &GcBitsArenas::sweep_next_tail_, nwords,
      [this]() GCRT_REQUIRES(mu_) {
        if (Arena* a = reserve_) {
          reserve_ = a->next;
          nreserve_--;
          a->next = nullptr;
          return a;
        }
        return NewArenaLocked();  // only if the collector reserved too little
      });
}

void GcBitsArenas::ReserveForSweep(uint64_t words, uint64_t vectors) {
  // Each arena may waste up to one largest vector at its end, and the
  // sweep's head arena (if any) is not counted.
  constexpr uint64_t kUsable = Arena::kCapacity - PaddedBitWords(16) * 8;
  const uint64_t bytes = words * 8;
  const size_t want =
      static_cast<size_t>((bytes + kUsable - 1) / kUsable) + (vectors > 0);
  runtime::MutexLock lock(&mu_);
  while (nreserve_ < want) {
    Arena* a = NewArenaLocked();  // may throw: the reserve so far stays
    a->next = reserve_;
    reserve_ = a;
    nreserve_++;
  }
  // A heap that shrank leaves spare arenas: back to the free list.
  while (nreserve_ > want + 16) {
    Arena* a = reserve_;
    reserve_ = a->next;
    nreserve_--;
    a->next = free_;
    free_ = a;
  }
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

namespace {
template <typename A>
A* LastOf(A* list) {
  while (list != nullptr && list->next != nullptr) list = list->next;
  return list;
}
}  // namespace

void GcBitsArenas::NextEpoch() {
  runtime::MutexLock lock(&mu_);
  GCRT_DCHECK_EXPENSIVE(
      LastOf(previous_) == previous_tail_ &&
      LastOf(current_) == current_tail_ &&
      LastOf(next_.load(std::memory_order_relaxed)) == next_tail_ &&
      LastOf(sweep_next_.load(std::memory_order_relaxed)) == sweep_next_tail_);
  if (previous_ != nullptr) {
    previous_tail_->next = free_;
    free_ = previous_;
  }
  previous_ = current_;
  previous_tail_ = current_tail_;
  // The epoch's bits: new spans' and the last sweep's, in one list.
  Arena* next = next_.load(std::memory_order_relaxed);
  Arena* swept = sweep_next_.load(std::memory_order_relaxed);
  if (next == nullptr) {
    current_ = swept;
    current_tail_ = sweep_next_tail_;
  } else {
    current_ = next;
    current_tail_ = next_tail_;
    if (swept != nullptr) {
      next_tail_->next = swept;
      current_tail_ = sweep_next_tail_;
    }
  }
  next_.store(nullptr, std::memory_order_release);
  sweep_next_.store(nullptr, std::memory_order_release);
  next_tail_ = sweep_next_tail_ = nullptr;
}

GcBitsArenas::Stats GcBitsArenas::ReadStats() {
  runtime::MutexLock lock(&mu_);
  size_t nfree = 0;
  for (Arena* a = free_; a != nullptr; a = a->next) nfree++;
  for (Arena* a = fresh_; a != nullptr; a = a->next) nfree++;
  return Stats{mapped_, nfree, nreserve_};
}

}  // namespace gc::alloc
