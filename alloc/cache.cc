// See cache.h.
#include "gcrt/alloc/cache.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <new>
#include <stdexcept>

#include "gcrt/alloc/heap.h"
#include "gcrt/runtime/check.h"
#include "gcrt/runtime/os_mem.h"
#include "gcrt/runtime/safepoint.h"

namespace gc::alloc {

constinit Span g_empty_span;
constinit Cache g_unattached_cache;
thread_local constinit CacheSlot t_cache GCRT_TLS_FAST{&g_unattached_cache};

void InstallCache(Cache* c) {
  t_cache.StoreSeqCst(c);
  // Pairs with StopTheWorld's seq_cst store of the flag before its
  // requests: either this load sees the flag, or the request's store comes
  // after ours and wins.
  if (runtime::g_stop_requested.load(std::memory_order_seq_cst) ||
      g_zeal.load(std::memory_order_relaxed) != 0) {
    t_cache = &g_unattached_cache;
  }
}

std::atomic<uint64_t> g_zeal{0};

std::atomic<uint64_t> g_mem_profile_rate{kDefaultMemProfileRate};

uint64_t SetMemProfileRate(uint64_t bytes) {
  return g_mem_profile_rate.exchange(bytes, std::memory_order_relaxed);
}

void SetZeal(uint64_t n) {
  g_zeal.store(n, std::memory_order_relaxed);
  Heap::Get().RefreshPoll();
  if (n == 0) return;
  // Every running thread's fast path off now, as a stop's request does:
  // each allocation from here on reaches the slow path, which counts it.
  runtime::ProcessorTable& t = runtime::ProcessorTable::Get();
  runtime::MutexLock lock(&t.mu());
  for (runtime::Processor* p = t.all(); p != nullptr; p = p->next_all()) {
    if (p->status() == runtime::ProcessorStatus::kRunning) {
      p->local()->RequestSafepoint();
    }
  }
}

thread_local constinit int t_in_destructor = 0;
thread_local constinit int64_t t_assist_debt = 0;

void ThrowAllocationRefused() {
  if (t_in_destructor != 0) {
    throw std::logic_error(
        "gcrt: heap allocation inside the destructor of a GC object run by "
        "the collector: destructors may only release non-GC resources "
        "(allocate, create handles and collect elsewhere)");
  }
  throw std::logic_error(
      "gcrt: heap allocation inside a blocking region (gc::Blocking / "
      "runtime::BlockingRegion): the world may be stopped while this thread "
      "runs; allocate before entering the region or after leaving it");
}

namespace {

// Attaches the calling thread (creating the heap on first use), or finds
// it attached but redirected by a stop it has just polled for: returns its
// own cache and turns its fast path back on.
Cache* AttachSlow() {
  Heap::Get();
  auto* own = static_cast<Cache*>(runtime::AttachCurrentThread()->local());
  if (t_cache != own) InstallCache(own);
  return own;
}

}  // namespace

void CheckHandedOutZeroed(const void* p, size_t bytes) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < bytes; i++) {
    if (b[i] != 0) {
      runtime::Print(
          "allocation at %p (%zu-byte slot) was handed out without zeroing "
          "(its span's needzero is false) but byte %zu is 0x%02x",
          p, bytes, i, b[i]);
      GCRT_THROW("a slot handed out without zeroing reads zero (needzero)");
    }
  }
}

void Cache::OnAcquire(runtime::Processor&) {
  owner_slot_.store(&t_cache, std::memory_order_release);
  InstallCache(this);
  PrepareForSweep();
}

void Cache::RequestSafepoint() {
  if (CacheSlot* slot = owner_slot_.load(std::memory_order_acquire)) {
    slot->StoreSeqCst(&g_unattached_cache);
  }
}

void Cache::OnResume(runtime::Processor&) {
  // The stop turned the fast path off (RequestSafepoint); on again, unless
  // the thread parked inside a destructor, where it stays off.
  if (t_in_destructor == 0) InstallCache(this);
  PrepareForSweep();
}

void Cache::OnBlockingEnter(runtime::Processor&) {
  t_cache = &g_unattached_cache;
  if (const Heap::CollectorHooks* h = Heap::Get().hooks()) h->blocking(true);
}

void Cache::OnBlockingExit(runtime::Processor&) {
  InstallCache(this);
  if (const Heap::CollectorHooks* h = Heap::Get().hooks()) h->blocking(false);
}

void Cache::PrepareForSweep() {
  if (flush_gen() != Heap::Get().sweepgen()) ReleaseAll();
}

void Cache::SweepStale(Span* s) {
  Heap& heap = Heap::Get();
  // Objects other threads freed into the span are free already: fold them
  // first, so the sweep does not take them for dead objects to destroy.
  if (s->freebuf.load(std::memory_order_acquire) != nullptr) {
    FreeLink* v = heap.central(s->span_class).TakeFreebuf(s);
    while (v != nullptr) {
      FreeLink* next = v->next;
      uintptr_t addr = reinterpret_cast<uintptr_t>(v);
      uint32_t slot = s->Contains(addr) ? s->SlotIndex(addr) : s->nelems;
      if (slot >= s->nelems || s->SlotAddress(slot) != addr ||
          !s->IsAllocated(slot)) {
        runtime::Print("double free of %p (found folding a freebuf)",
                       static_cast<void*>(v));
        GCRT_FATAL("no object is freed twice (detected folding a freebuf)");
      }
      s->FreeSlot(slot);
      local_frees_[s->span_class]++;
      v = next;
    }
  }
  SweepClaim claim = SweepClaim::AcquireCachedStale(s, heap.sweepgen());
  local_frees_[s->span_class] += heap.hooks()->sweep_cached(claim);
  std::move(claim).Finish();
  s->swept_stale = true;
}

void Cache::OnOwnerLost(runtime::Processor&) {
  // The world is stopped and the owner is gone (the child of a fork): its
  // spans go back as they would at its exit, swept if stale.
  ReleaseAll();
  owner_slot_.store(nullptr, std::memory_order_release);
}

void Cache::OnRelease(runtime::Processor&) {
  ReleaseAll();
  owner_slot_.store(nullptr, std::memory_order_release);
  t_cache = &g_unattached_cache;
}

Span* Cache::Refill(SpanClass sc) {
  Span* old = alloc_[sc];
  alloc_[sc] = &g_empty_span;  // on a throw below it stays empty
  if (old != &g_empty_span) {
    // Finished with: keep it until the next trip to the Central, so one
    // lock acquisition takes back a batch and hands out the next.
    old->WriteBackCacheWord();
    old->next = retired_[sc];
    retired_[sc] = old;  // still owned: frees into it stay lock-free
  }
  Span* s = stash_[sc];
  if (s == nullptr) {
    size_t want = std::max<size_t>(
        1, Central::kMaxBatch / ClassToNPages(SpanClassSizeClass(sc)));
    // Before the retired spans and local frees leave the cache: the
    // sweeping may run destructors that park, and gc::stats() counts what
    // a parked thread's cache holds (AddUnflushed).
    if (const Heap::CollectorHooks* hooks = Heap::Get().hooks()) {
      hooks->sweep_credit(sc, want);
    }
    Span* retired = retired_[sc];
    uint64_t frees = local_frees_[sc];
    retired_[sc] = nullptr;
    local_frees_[sc] = 0;
    for (Span* r = retired; r != nullptr; r = r->next) {
      r->owner.store(nullptr, std::memory_order_relaxed);
    }
    s = Heap::Get().central(sc).Exchange(retired, frees, want, &page_cache_);
    for (Span* t = s; t != nullptr; t = t->next) {
      t->owner.store(this, std::memory_order_relaxed);
    }
  }
  stash_[sc] = s->next;
  s->next = nullptr;
  if (sc == kTinySpanClass && s->types.single() != &kTinyBlockType) {
    // Tiny spans hold only tiny blocks: one Single record covers every slot,
    // so the inline block refill in AllocTiny never records a type.
    GCRT_CHECK(s->types.compression() == TypeCompression::kEmpty);
    s->types.Record(0, s->nelems, &kTinyBlockType);
  }
  bool loaded = LoadWord(s);
  GCRT_CHECK(loaded && "Central::Exchange handed out a full span");
  alloc_[sc] = s;
  return s;
}

Span* Cache::RefillOrCollect(SpanClass sc) {
  // Refill leaves this cache consistent when it throws (the class's span
  // empty). A cycle flushes it; the refill then starts over.
  return Heap::Get().RetryForMemory(ClassToSize(SpanClassSizeClass(sc)),
                                    [&] { return Refill(sc); });
}

bool Cache::LoadWordBlack(Span* s) {
  const bool record = BlackMayNeedRescan(s);
  // Room first (doubling: a reserve of one more would copy the vector at
  // every word): a throw leaves nothing loaded and unrecorded.
  if (record && black_words_.size() == black_words_.capacity()) {
    black_words_.reserve(2 * black_words_.size() + 64);
  }
  if (!s->LoadNextCacheWord()) return false;
  // Markers set bits of this word meanwhile (atomic OR).
  std::atomic_ref<uint64_t>(s->mark_bits[s->cache_word])
      .fetch_or(s->alloc_cache, std::memory_order_relaxed);
  if (record) black_words_.push_back({s, s->cache_word, s->alloc_cache});
  t_assist_debt += int64_t{__builtin_popcountll(s->alloc_cache)} * s->elem_size;
  return true;
}

void Cache::NoteBlackTypeChange(Span* s, uint32_t slot, const TypeInfo* type) {
  if (type->pointer_bitmap != nullptr || BlackMayNeedRescan(s) || s->noscan()) {
    return;
  }
  // The word's slots allocated before this one hold objects of the span's
  // bitmap type (or none): only this slot and those still free can hold
  // objects of another type.
  black_words_.push_back(
      {s, s->cache_word, s->CacheWordFree() | uint64_t{1} << (slot % 64)});
}

void Cache::BeginBlackAllocation() {
  try {
    black_words_.reserve(black_words_.size() + kNumSpanClasses);
  } catch (const std::bad_alloc&) {
    return;
  }
  for (Span* s : alloc_) {
    if (s == &g_empty_span || s->cache_word >= s->nwords) continue;
    s->mark_bits[s->cache_word] |= s->CacheWordFree();
    if (BlackMayNeedRescan(s)) {
      black_words_.push_back({s, s->cache_word, s->CacheWordFree()});
    }
  }
}

void Cache::EndBlackAllocation(void (*visit)(void*, const BlackWord&),
                               void* context) {
  for (Span* s : alloc_) {
    if (s != &g_empty_span) s->UnmarkFreeCacheSlots();
  }
  for (const BlackWord& w : black_words_) visit(context, w);
  black_words_.clear();
}

void* Cache::AllocSmallSlow(SpanClass sc, const TypeInfo* type) {
  // The allocation path's safepoint: here, at most every 64 allocations of
  // a class, so the fast path stays free of it (seed 004). Checked before
  // attaching, so a refused thread does not end up holding a processor.
  SafepointAndCheckNotBlocking();
  if (this == &g_unattached_cache) {
    return AttachSlow()->AllocSmallSlow(sc, type);
  }
  // May run a whole cycle, after which this cache has been flushed.
  Heap::Get().MaybeTriggerGc();
  Span* s = alloc_[sc];
  if (s->CacheWordFree() == 0) {
    if (s == &g_empty_span || !LoadWord(s)) s = RefillOrCollect(sc);
  }
  // The fast path ran out at a slot held back for the heap profile: this
  // allocation is the sample.
  const bool sampled = TakeHeldSample(s);
  uint64_t free = s->alloc_cache;
  uint32_t bit = static_cast<uint32_t>(__builtin_ctzll(free));
  s->alloc_cache = free & (free - 1);
  uint32_t slot = s->cache_word * 64 + bit;
  if (s->types.single() != type) {
    try {
      if (GCRT_PREDICT_FALSE(
              g_allocate_black.load(std::memory_order_relaxed))) {
        NoteBlackTypeChange(s, slot, type);
      }
      s->types.Record(slot, s->nelems, type);
    } catch (...) {
      s->alloc_cache |= uint64_t{1} << bit;  // give the slot back
      throw;
    }
  }
  void* p =
      reinterpret_cast<void*>(s->cache_addr + uintptr_t{bit} * s->elem_size);
  GCRT_ASAN_UNPOISON(p, s->elem_size);
  if (s->elem_size <= kAlwaysZeroBytes || s->needzero) {
    std::memset(p, 0, s->elem_size);
  } else {
#if GCRT_DEBUG_LEVEL >= 2
    CheckHandedOutZeroed(p, s->elem_size);
#endif
  }
  if (GCRT_PREDICT_FALSE(sampled)) Sampled(s, p, s->elem_size);
  return p;
}

void* Cache::AllocTinySlow(uint32_t size) {
  SafepointAndCheckNotBlocking();
  if (this == &g_unattached_cache) return AttachSlow()->AllocTinySlow(size);
  Heap::Get().MaybeTriggerGc();
  Span* s = alloc_[kTinySpanClass];
  if (s->CacheWordFree() == 0) {
    if (s == &g_empty_span || !LoadWord(s)) {
      s = RefillOrCollect(kTinySpanClass);
    }
  }
  // A block held back for the heap profile: this allocation starts it and
  // is the sample (the block's other pieces live and die with it).
  const bool sampled = TakeHeldSample(s);
  tiny_allocs_++;  // only once the allocation cannot fail
  void* block = TakeTinyBlock(s, s->alloc_cache, size);
  if (tiny_allocs_ >= 4096) {
    Heap::Get().AddTinyAllocs(tiny_allocs_);
    tiny_allocs_ = 0;
  }
  if (GCRT_PREDICT_FALSE(sampled)) Sampled(s, block, kTinySize);
  return block;
}

void Cache::ChargeSampler(Span* s) {
  const uint64_t rate = g_mem_profile_rate.load(std::memory_order_relaxed);
  if (rate == 0) return;
  if (next_sample_ == 0) next_sample_ = NextSampleBytes(rate);
  GCRT_DCHECK(s->sample_held == 0);
  uint64_t free = s->alloc_cache;
  const uint64_t bytes = uint64_t{s->elem_size} * std::popcount(free);
  if (next_sample_ > bytes) {
    next_sample_ -= bytes;
    return;
  }
  // The sample is the k-th free slot (from 1) of the word: the fast path
  // keeps the k - 1 below it.
  uint64_t below = 0;
  for (uint64_t k = (next_sample_ + s->elem_size - 1) / s->elem_size; k > 1;
       k--) {
    below |= free & -free;
    free &= free - 1;
  }
  s->alloc_cache = below;
  s->sample_held = free;
  next_sample_ = 0;
}

void Cache::Sampled(Span* s, void* p, uint64_t bytes) {
  ChargeSampler(s);
  if (g_mem_profile_rate.load(std::memory_order_relaxed) == 0) return;
  if (const Heap::CollectorHooks* hooks = Heap::Get().hooks()) {
    hooks->profile_alloc(p, bytes);
  }
}

bool Cache::SampleLarge(uint64_t bytes) {
  const uint64_t rate = g_mem_profile_rate.load(std::memory_order_relaxed);
  if (rate == 0) return false;
  if (next_sample_ == 0) next_sample_ = NextSampleBytes(rate);
  if (next_sample_ > bytes) {
    next_sample_ -= bytes;
    return false;
  }
  next_sample_ = 0;
  return true;
}

uint64_t Cache::NextSampleBytes(uint64_t rate) {
  if (rate == 1) return 1;
  if (sample_rng_ == 0) {
    // Any nonzero seed; distinct per cache, so that caches do not sample
    // in step.
    sample_rng_ =
        reinterpret_cast<uintptr_t>(this) ^ 0x9e3779b97f4a7c15ULL ^
        static_cast<uint64_t>(
            std::chrono::steady_clock::now().time_since_epoch().count());
    if (sample_rng_ == 0) sample_rng_ = 1;
  }
  // xorshift64*; the top 53 bits as a uniform in (0, 1].
  sample_rng_ ^= sample_rng_ >> 12;
  sample_rng_ ^= sample_rng_ << 25;
  sample_rng_ ^= sample_rng_ >> 27;
  const uint64_t r = (sample_rng_ * 0x2545f4914f6cdd1dULL) >> 11;
  const double u = (static_cast<double>(r) + 1.0) / 9007199254740992.0;
  // Go caps the interval (0x7000000 bytes at its default rate): so does
  // this, at 2^40 bytes, far above any rate's mean.
  const double x = -std::log(u) * static_cast<double>(rate);
  return std::clamp<uint64_t>(static_cast<uint64_t>(x), 1, uint64_t{1} << 40);
}

void Cache::FreeOwned(Span* s, uint32_t slot) {
  GCRT_DCHECK(Owns(s));
  if (GCRT_PREDICT_FALSE(s->freebuf.load(std::memory_order_acquire) !=
                         nullptr) &&
      Heap::Get().central(s->span_class).InFreebuf(s, s->SlotAddress(slot))) {
    throw std::invalid_argument("gcrt: double free of object " +
                                std::to_string(s->SlotAddress(slot)) +
                                " (another thread already freed it)");
  }
  if (!s->IsAllocated(slot)) {
    throw std::invalid_argument(
        "gcrt: double free (or free of a never-allocated slot) at address " +
        std::to_string(s->SlotAddress(slot)));
  }
  s->FreeSlot(slot);
  local_frees_[s->span_class]++;
}

void Cache::ReleaseAll(bool sweep_stale) {
  next_sample_ = 0;  // a fresh interval, at the rate of the time
  Heap& heap = Heap::Get();
  const uint32_t h = heap.sweepgen();
  for (int sc = 0; sc < kNumSpanClasses; sc++) {
    Span* list = retired_[sc];
    retired_[sc] = nullptr;
    Span* s = alloc_[sc];
    if (s != &g_empty_span) {
      alloc_[sc] = &g_empty_span;
      s->WriteBackCacheWord();
      s->next = list;
      list = s;
    }
    while (Span* spare = stash_[sc]) {
      stash_[sc] = spare->next;
      spare->next = list;
      list = spare;
    }
    for (Span* t = list; t != nullptr; t = t->next) {
      if (sweep_stale && t->sweepgen.Of(h) == SweepGen::State::kCachedUnswept) {
        SweepStale(t);
      }
      t->owner.store(nullptr, std::memory_order_relaxed);
    }
    if (list != nullptr || local_frees_[sc] != 0) {
      heap.central(static_cast<SpanClass>(sc)).Release(list, local_frees_[sc]);
      local_frees_[sc] = 0;
    }
  }
  heap.pages().ReleasePageCache(&page_cache_);
  // The tiny block's span went back with the rest; forget the block.
  tiny_ = 0;
  tiny_offset_ = kTinySize;
  heap.AddTinyAllocs(tiny_allocs_);
  tiny_allocs_ = 0;
  flush_gen_.store(heap.sweepgen(), std::memory_order_release);
}

}  // namespace gc::alloc
