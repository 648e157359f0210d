// See span.h.
#include "gcrt/alloc/span.h"

#include <bit>

#include "gcrt/runtime/check.h"

namespace gc::alloc {

void Span::ResetAllocState() {
  swept_stale = false;
  cache_word = nwords;
  alloc_cache = 0;
  sample_held = 0;
  cache_addr = 0;
  cache_word_free = 0;
  free_word = 0;
  uint32_t n = 0;
  for (uint32_t w = 0; w < nwords; w++) n += std::popcount(alloc_bits[w]);
  alloc_count = n;
}

std::atomic<bool> g_allocate_black{false};

void Span::WriteBackCacheWord() {
  if (cache_word >= nwords) return;
  // A sample held back in the word is given up with it: the owning cache
  // draws the next one at its next word.
  const uint64_t free = CacheWordFree();
  if (GCRT_PREDICT_FALSE(g_allocate_black.load(std::memory_order_relaxed))) {
    // Marked black when loaded; what was not handed out is free again.
    std::atomic_ref<uint64_t>(mark_bits[cache_word])
        .fetch_and(~free, std::memory_order_relaxed);
  }
  alloc_bits[cache_word] = ValidMask(cache_word) & ~free;
  alloc_count += cache_word_free - std::popcount(free);
  cache_word = nwords;
  alloc_cache = 0;
  sample_held = 0;
  cache_word_free = 0;
}

bool Span::LoadNextCacheWord() {
  WriteBackCacheWord();
  for (uint32_t w = free_word; w < nwords; w++) {
    uint64_t free = ValidMask(w) & ~alloc_bits[w];
    if (free != 0) {
      cache_word = w;
      alloc_cache = free;
      cache_word_free = std::popcount(free);
      cache_addr = base + uintptr_t{w} * 64 * elem_size;
      free_word = w;
      return true;
    }
  }
  free_word = nwords;
  return false;
}

void Span::UnmarkFreeCacheSlots() {
  // Atomic: a thread that never attached runs through the stop, and its
  // gc::Ptr stores' barrier loads mark bits (atomically) meanwhile.
  if (cache_word < nwords) {
    std::atomic_ref<uint64_t>(mark_bits[cache_word])
        .fetch_and(~CacheWordFree(), std::memory_order_relaxed);
  }
}

bool Span::IsAllocated(uint32_t slot) const {
  uint32_t w = slot / 64;
  uint64_t bit = uint64_t{1} << (slot % 64);
  if (w == cache_word) return (CacheWordFree() & bit) == 0;
  return (alloc_bits[w] & bit) != 0;
}

void Span::FreeSlot(uint32_t slot) {
  GCRT_DCHECK(slot < nelems && IsAllocated(slot));
  GCRT_ASAN_POISON(SlotAddress(slot), elem_size);
  uint32_t w = slot / 64;
  uint64_t bit = uint64_t{1} << (slot % 64);
  needzero = true;
  if (w == cache_word) {
    // Handed straight back to the fast path; the write-back accounts for it.
    alloc_cache |= bit;
    return;
  }
  alloc_bits[w] &= ~bit;
  alloc_count--;
  if (w < free_word) free_word = w;
}

uint32_t Span::CountAllocated() const {
  uint32_t n = 0;
  for (uint32_t w = 0; w < nwords; w++) {
    n += w == cache_word ? std::popcount(ValidMask(w) & ~CacheWordFree())
                         : std::popcount(alloc_bits[w]);
  }
  return n;
}

bool Span::IsValid() const {
  auto fail = [this](const char* what) {
    runtime::Print("Span::IsValid: %s (span %#lx, class %d)", what,
                   static_cast<unsigned long>(base), span_class);
    return false;
  };
  if (state.load(std::memory_order_acquire) != SpanState::kInUse) {
    return fail("not in use");
  }
  if (uint64_t{elem_size} * nelems > uint64_t{npages} * kPageSize) {
    return fail("slots overrun the span");
  }
  if (nwords != (nelems + 63) / 64) return fail("nwords");
  if (alloc_bits == nullptr || mark_bits == nullptr) return fail("no bits");
  for (uint32_t w = 0; w < nwords; w++) {
    if (alloc_bits[w] & ~ValidMask(w)) return fail("alloc bit past nelems");
    if (w < free_word && w != cache_word && alloc_bits[w] != ValidMask(w)) {
      return fail("word below free_word not full");
    }
  }
  if (cache_word < nwords) {
    if (CacheWordFree() & ~ValidMask(cache_word)) {
      return fail("cache past nelems");
    }
    if (alloc_cache & sample_held) return fail("a slot both cached and held");
    if (cache_addr != base + uintptr_t{cache_word} * 64 * elem_size) {
      return fail("cache_addr");
    }
  } else if (CacheWordFree() != 0) {
    return fail("alloc_cache without a word");
  }
  uint32_t pending = cache_word < nwords
                         ? cache_word_free - std::popcount(CacheWordFree())
                         : 0;
  if (alloc_count + pending != CountAllocated()) return fail("alloc_count");
  return true;
}

}  // namespace gc::alloc
