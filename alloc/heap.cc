// See heap.h for the overview.
#include "gcrt/alloc/heap.h"

#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>

#include "gcrt/alloc/cache.h"
#include "gcrt/runtime/check.h"
#include "gcrt/runtime/os_mem.h"
#include "gcrt/runtime/process_claim.h"
#include "gcrt/runtime/processor.h"
#include "gcrt/runtime/safepoint.h"
#include "gcrt/runtime/sys_stat.h"

namespace gc::alloc {

namespace {

// Never freed: processors live for the process (runtime/processor.h).
runtime::ProcessorLocal* NewCache(runtime::Processor&) {
  void* mem = runtime::AllocAlignedMetadata(alignof(Cache), sizeof(Cache),
                                            runtime::SysStat::kCache,
                                            "a processor's cache");
  return new (mem) Cache();
}

// Default idle-release limits (seed 003): spans idle for 5 minutes go back
// to the OS; the scavenger looks once a minute. (Its paced work toward the
// collector's goal is woken by the collector: page_heap.h.)
constexpr auto kScavengeIdle = std::chrono::minutes(5);
constexpr auto kScavengePeriod = std::chrono::minutes(1);

}  // namespace

std::string HexAddress(uintptr_t p) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%#lx", static_cast<unsigned long>(p));
  return buf;
}

Heap::Heap() {
  for (int sc = 0; sc < kNumSpanClasses; sc++) {
    central_[sc].Init(this, static_cast<SpanClass>(sc));
  }
}

Heap& Heap::Get() {
  // Never destroyed: threads and the scavenger may use it during exit.
  alignas(Heap) static unsigned char storage[sizeof(Heap)];
  static Heap* heap = [] {
    runtime::ClaimProcess();  // stops a second copy of gcrt here
    Heap* h = new (storage) Heap();
    runtime::SetProcessorLocalFactory(&NewCache);
    h->pages_.StartScavenger(kScavengeIdle, kScavengePeriod);
    return h;
  }();
  return *heap;
}

size_t Heap::NewSmallSpans(SpanClass sc, size_t count, Span** out,
                           PageCache* pc) {
  int sizeclass = SpanClassSizeClass(sc);
  constexpr size_t kMax = 64;
  GCRT_CHECK_GT(count, 0u);
  GCRT_CHECK_LE(count, kMax);
  bool needzero[kMax];
  size_t n =
      pc != nullptr
          ? pages_.AllocSpansCached(pc, ClassToNPages(sizeclass), count, out,
                                    needzero)
          : pages_.AllocSpans(ClassToNPages(sizeclass), count, out, needzero);
  // Both bit vectors of every span of the batch in one atomic add on the
  // shared arena.
  const uint32_t nwords = (ClassToNElems(sizeclass) + 63) / 64;
  const uint32_t stride = PaddedBitWords(nwords);  // each vector on its lines
  uint64_t* bits;
  try {
    bits = gc_bits_.Allocate(static_cast<uint32_t>(2 * stride * n));
  } catch (...) {
    for (size_t j = 0; j < n; j++) pages_.FreeSpan(out[j]);  // kAllocating
    throw;
  }
  for (size_t i = 0; i < n; i++) {
    Span* s = out[i];
    s->span_class = sc;
    s->elem_size = ClassToSize(sizeclass);
    s->nelems = ClassToNElems(sizeclass);
    s->nwords = nwords;
    s->div_magic = kClassDivMagic[sizeclass];
    s->needzero = needzero[i];
    // Every slot is poisoned until handed out (runtime/base.h).
    GCRT_ASAN_POISON(s->base, size_t{s->npages} << kPageShift);
    s->in_cache = false;
    s->freebuf.store(nullptr, std::memory_order_relaxed);
    s->types.Reset();
    s->alloc_bits = bits + 2 * stride * i;
    s->mark_bits = s->alloc_bits + stride;
    s->sweepgen.InitSwept(sweepgen());
    s->ResetAllocState();
    pages_.NoteInUse(s);
    s->state.store(SpanState::kInUse, std::memory_order_release);
  }
  return n;
}

void Heap::FreeSmallSpan(Span* s) {
  GCRT_CHECK(s->alloc_count == 0 && !s->in_cache &&
             s->freebuf.load(std::memory_order_relaxed) == nullptr);
  pages_.FreeSpan(s);
}

uint64_t Heap::ReleaseKeptSpans(uint64_t pages) {
  uint64_t released = 0;
  for (int sc = 0; sc < kNumSpanClasses && released < pages; sc++) {
    released += central_[sc].ReleaseKept(pages - released);
  }
  return released;
}

bool Heap::CollectForMemory() {
  static thread_local bool collecting = false;
  const CollectorHooks* h = hooks();
  // Under a memory limit, and when the OS refuses memory (`ulimit -v`, an
  // address space full): either way the heap may hold garbage no trigger
  // has collected yet (the goal can lie beyond what the OS grants), as
  // Boehm GC collects before it reports a failed heap expansion.
  if (h == nullptr || h->collect_for_memory == nullptr || collecting) {
    return false;
  }
  collecting = true;
  struct Reset {
    ~Reset() { collecting = false; }
  } reset;
  return h->collect_for_memory();
}

bool Heap::OutOfMemory(size_t bytes) {
  static thread_local bool running = false;
  const CollectorHooks* h = hooks();
  if (h == nullptr || h->out_of_memory == nullptr || running ||
      pages_.limit() == 0) {
    return false;
  }
  running = true;
  struct Reset {
    ~Reset() { running = false; }
  } reset;
  return h->out_of_memory(bytes);
}

runtime::OutOfMemoryError Heap::AfterCollection(
    const runtime::OutOfMemoryError& e, size_t bytes) const {
  const uint64_t limit = pages_.limit();
  if (limit == 0) return e;
  std::string message = e.what();
  if (bytes > limit) {
    message += "; this request alone (" + std::to_string(bytes >> 10) +
               " KiB) is larger than the limit";
    return runtime::OutOfMemoryError(std::move(message));
  }
  const auto live = static_cast<uint64_t>(std::max<int64_t>(heap_live(), 0));
  message += "; a collection ran first and left " + std::to_string(live >> 10) +
             " KiB of live objects";
  if (live >= limit / 8 * 7) {
    message +=
        ", which fill the limit: the live set does not fit in it, and "
        "allocations that need more memory fail (each after a full "
        "collection) until the program drops objects or the limit is raised";
  }
  return runtime::OutOfMemoryError(std::move(message));
}

void Heap::TriggerGcSlow() {
  const CollectorHooks* h = hooks();
  if (h == nullptr) return;
  if (const uint64_t zeal = g_zeal.load(std::memory_order_relaxed)) {
    // Counted over every thread's allocations.
    static std::atomic<uint64_t> allocations{0};
    if ((allocations.fetch_add(1, std::memory_order_relaxed) + 1) % zeal == 0 &&
        h->zeal != nullptr) {
      h->zeal();
      return;
    }
  }
  if (PacedLive() >= trigger() && h->trigger != nullptr) h->trigger();
}

void Heap::MaybeTriggerGcForExternal() {
  // Not on a thread that is not attached: attaching it here would make a
  // thread that never allocates hold every stop up at its next wait
  // outside gc::Blocking (a std::thread waiting on a condition variable
  // hung the program). An attached thread's next allocation starts the
  // cycle instead.
  if (runtime::InBlockingRegion() || runtime::CurrentProcessor() == nullptr) {
    return;
  }
  // A safepoint, as an allocation slow path is: a thread that only
  // reports external memory in a loop would otherwise hold up the stop of
  // the very cycle it starts.
  SafepointAndCheckNotBlocking();
  MaybeTriggerGc();
}

uint32_t Heap::SwapSweptBits(const SweepClaim& claim) {
  Span* s = claim.span();
  uint64_t* fresh;
  try {
    // From the reserve the collector set aside before it marked.
    fresh = gc_bits_.NewSweptMarkBits(s->nwords);
  } catch (const std::bad_alloc& e) {
    // The span's destructors have run and it is claimed: there is no
    // state to go back to, and leaving it would hang every later sweep.
    runtime::Print(
        "out of memory for the mark bits of a span being swept (%s): the "
        "collector's reserve for the sweep ran out",
        e.what());
    GCRT_THROW("a span being swept gets fresh mark bits");
  }
  uint32_t before = s->alloc_count;
  for (uint32_t w = 0; w < s->nwords; w++) {
#if GCRT_ASAN
    for (uint64_t freed = s->alloc_bits[w] & ~s->mark_bits[w]; freed != 0;
         freed &= freed - 1) {
      GCRT_ASAN_POISON(s->SlotAddress(w * 64 + static_cast<uint32_t>(
                                                   __builtin_ctzll(freed))),
                       s->elem_size);
    }
#endif
    s->mark_bits[w] &= s->alloc_bits[w];
  }
  s->alloc_bits = s->mark_bits;
  s->mark_bits = fresh;
  s->ResetAllocState();
  GCRT_CHECK_LE(s->alloc_count, before);  // sweeping frees, never allocates
  // A freed slot keeps its dead object's bytes: the next allocation there
  // must zero it (Go's sweep sets needzero the same way). A span fresh from
  // the OS had needzero false until now.
  if (s->alloc_count < before) s->needzero = true;
  GCRT_DCHECK_EXPENSIVE(s->IsValid());
  return before - s->alloc_count;
}

void Heap::FinishSweepLarge(SweepClaim claim, bool dead) {
  Span* s = claim.span();
  if (dead) {
    // Normally none are left (the sweep's DestroyDead released them with
    // the object); any that are, are released after the lock, since
    // releasing a finalizer destroys its function's captures, and those
    // destructors may free a large object (FreeLarge takes the lock).
    Special* specials;
    {
      runtime::MutexLock lock(&large_mu_);
      specials = TakeSpecials(s, 0);
      s->alloc_count = 0;
      s->alloc_bits[0] = 0;
      large_frees_.fetch_add(1, std::memory_order_relaxed);
      large_live_bytes_.fetch_sub(int64_t{s->npages} << kPageShift,
                                  std::memory_order_relaxed);
      pages_.FreeSpan(s);
      std::move(claim).SpanFreed();
    }
    ReleaseSpecials(specials);
    return;
  }
  SwapSweptBits(claim);
  std::move(claim).Finish();
}

void Heap::EndBlackAllocationLarge(void (*visit)(void*, const BlackWord&),
                                   void* context) {
  runtime::MutexLock lock(&black_mu_);
  for (const BlackWord& w : black_large_) visit(context, w);
  black_large_.clear();
}

void* Heap::AllocateLarge(const TypeInfo* type, size_t bytes) {
  SafepointAndCheckNotBlocking();
  if (runtime::CurrentProcessor() == nullptr) AttachCurrentThread();
  MaybeTriggerGc();
  if (bytes > PageHeap::kMaxSpanBytes) {
    throw runtime::OutOfMemoryError(
        "gcrt: out of memory: cannot allocate " + std::to_string(bytes) +
        " bytes; the largest object is " +
        std::to_string(PageHeap::kMaxSpanBytes) + " bytes");
  }
  uint32_t npages =
      static_cast<uint32_t>((bytes + kPageSize - 1) >> kPageShift);
  bool needzero;
  Span* s;
  s = RetryForMemory(bytes,
                     [&] { return pages_.AllocSpan(npages, &needzero); });
  s->span_class = MakeSpanClass(0, type->pointer_free);
  s->elem_size = static_cast<uint32_t>(std::min<uint64_t>(
      uint64_t{npages} << kPageShift, std::numeric_limits<uint32_t>::max()));
  s->nelems = 1;
  s->nwords = 1;
  s->div_magic = 0;  // every offset is slot 0
  s->needzero = needzero;
  s->in_cache = false;
  s->freebuf.store(nullptr, std::memory_order_relaxed);
  s->types.Reset();
  s->sweepgen.InitSwept(sweepgen());
  try {
    s->alloc_bits = gc_bits_.NewAllocBits(1);
    s->mark_bits = gc_bits_.NewMarkBits(1);
    s->types.Record(0, 1, type);
  } catch (...) {
    pages_.FreeSpan(s);  // still kAllocating: never visible
    throw;
  }
  s->alloc_bits[0] = 1;
  s->ResetAllocState();
  // The whole span: the marker scans an array to the end of its span.
  if (needzero) {
    runtime::os::Zero(reinterpret_cast<void*>(s->base),
                      size_t{npages} << kPageShift);
  }
  if (GCRT_PREDICT_FALSE(g_allocate_black.load(std::memory_order_relaxed))) {
    s->mark_bits[0] = 1;  // not yet visible to any marker
    t_assist_debt += int64_t{npages} << kPageShift;
    if (!s->noscan()) {
      bool recorded = false;
      {
        runtime::MutexLock lock(&black_mu_);
        try {
          black_large_.push_back({s, 0, 1});
          recorded = true;
        } catch (const std::bad_alloc&) {
        }
      }
      if (!recorded) {
        pages_.FreeSpan(s);  // still kAllocating: never visible
        throw runtime::OutOfMemoryError(
            "gcrt: out of memory: cannot record a large object allocated "
            "while marking");
      }
    }
  }
  // Published last, after every field is valid (span.h).
  pages_.NoteInUse(s);
  s->state.store(SpanState::kInUse, std::memory_order_release);
  large_allocs_.fetch_add(1, std::memory_order_relaxed);
  large_alloc_bytes_.fetch_add(uint64_t{npages} << kPageShift,
                               std::memory_order_relaxed);
  large_live_bytes_.fetch_add(int64_t{npages} << kPageShift,
                              std::memory_order_relaxed);
  AddHeapLive(int64_t{npages} << kPageShift);
  if (g_mem_profile_rate.load(std::memory_order_relaxed) != 0 &&
      static_cast<Cache*>(runtime::CurrentProcessor()->local())
          ->SampleLarge(uint64_t{npages} << kPageShift)) {
    if (const CollectorHooks* h = hooks()) {
      h->profile_alloc(reinterpret_cast<void*>(s->base),
                       uint64_t{npages} << kPageShift);
    }
  }
  return reinterpret_cast<void*>(s->base);
}

void Heap::FreeLarge(Span* s, uintptr_t p) {
  runtime::MutexLock lock(&large_mu_);
  // Held when the object was unswept: the free is its sweep.
  SweepClaim claim;
  for (;;) {
    if (s->state.load(std::memory_order_acquire) != SpanState::kInUse ||
        s->alloc_count != 1) {
      throw std::invalid_argument("gcrt: double free of large object " +
                                  HexAddress(p));
    }
    if (p != s->base) {
      throw std::invalid_argument("gcrt: free of " + HexAddress(p) +
                                  ": interior pointer into a large object at " +
                                  HexAddress(s->base));
    }
    // An unswept span is claimed first, so the sweeper cannot free it too;
    // one a sweeper holds is waited for.
    uint32_t h = sweepgen();
    SweepGen::State state = s->sweepgen.Of(h);
    if (state == SweepGen::State::kSweeping) {
      lock.Unlock();
      std::this_thread::yield();
      lock.Lock();
      continue;
    }
    if (state == SweepGen::State::kUnswept) {
      claim = SweepClaim::TryAcquire(s, h);
      if (!claim) continue;
    }
    break;
  }
  Special* specials = TakeSpecials(s, 0);
  s->alloc_count = 0;
  s->alloc_bits[0] = 0;
  large_frees_.fetch_add(1, std::memory_order_relaxed);
  large_live_bytes_.fetch_sub(int64_t{s->npages} << kPageShift,
                              std::memory_order_relaxed);
  AddHeapLive(-(int64_t{s->npages} << kPageShift));
  pages_.FreeSpan(s);
  if (claim) std::move(claim).SpanFreed();
  lock.Unlock();
  ReleaseSpecials(specials);  // after the lock, as in FinishSweepLarge
}

void* Allocate(const TypeInfo* type, size_t bytes) {
  if (bytes == 0) bytes = 1;  // a distinct object, as operator new(0) gives
  if (type->align > kPageSize) {
    throw std::invalid_argument(
        std::string("gcrt: cannot allocate ") + type->name + ": alignment " +
        std::to_string(type->align) + " exceeds the page size (" +
        std::to_string(kPageSize) + "), the most gcrt guarantees");
  }
  if (bytes <= kMaxSmallSize) {
    size_t align = type->align > 0 ? type->align : 1;
    int c = align <= 8 ? SizeToClass(bytes) : SizeClassForAligned(bytes, align);
    if (c > 0) {
      return t_cache->AllocSmallSlow(MakeSpanClass(c, type->pointer_free),
                                     type);
    }
  }
  return Heap::Get().AllocateLarge(type, bytes);
}

void* AllocateArray(const TypeInfo* type, size_t count) {
  size_t bytes;
  if (__builtin_mul_overflow(count, size_t{type->size}, &bytes)) {
    throw runtime::OutOfMemoryError(
        "gcrt: array of " + std::to_string(count) + " objects of " +
        std::to_string(type->size) + " bytes (" + type->name +
        ") overflows the address space");
  }
  return Allocate(type, bytes);
}

Span* SpanOf(const void* p) {
  return Heap::Get().pages().LookupInUse(reinterpret_cast<uintptr_t>(p));
}

const TypeInfo* TypeOf(const void* p) {
  Span* s = SpanOf(p);
  if (s == nullptr) return nullptr;
  uintptr_t addr = reinterpret_cast<uintptr_t>(p);
  uint32_t slot = s->SlotIndex(addr);
  if (slot >= s->nelems || s->SlotAddress(slot) != addr ||
      !s->IsAllocated(slot)) {
    return nullptr;
  }
  return s->types.Get(slot);
}

bool SlotAllocatedAsSeen(Span* s, uint32_t slot) {
  if (s->large()) return true;  // an in-use large span is its object
  runtime::Processor* p = runtime::CurrentProcessor();
  if (p != nullptr && t_in_destructor == 0 &&
      static_cast<Cache*>(p->local())->Owns(s)) {
    return s->IsAllocated(slot);
  }
  return Heap::Get().central(s->span_class).IsAllocatedUnlessCached(s, slot);
}

size_t AllocationSize(const void* p) {
  Span* s = SpanOf(p);
  if (s == nullptr) return 0;
  return s->slot_bytes();
}

void Free(void* ptr) {
  if (ptr == nullptr) return;
  if (runtime::InBlockingRegion()) {
    throw std::logic_error(
        "gcrt: explicit free inside a blocking region: the world may be "
        "stopped while this thread runs; free before entering the region or "
        "after leaving it");
  }
  Heap& heap = Heap::Get();
  // A thread changing spans holds a processor, so a stop-the-world waits
  // for it like for any allocating thread.
  if (runtime::CurrentProcessor() == nullptr) runtime::AttachCurrentThread();
  uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
  Span* s = heap.pages().LookupInUse(p);
  if (s == nullptr) {
    throw std::invalid_argument("gcrt: free of " + HexAddress(p) +
                                ": not an object of the gcrt heap");
  }
  if (s->large()) {
    heap.FreeLarge(s, p);  // hands the object's specials back first
    return;
  }
  if (s->span_class == kTinySpanClass) return;  // reclaimed with its block
  uint32_t slot = s->SlotIndex(p);
  if (slot >= s->nelems) {
    throw std::invalid_argument("gcrt: free of " + HexAddress(p) +
                                ": points into the unused tail of a span");
  }
  if (s->SlotAddress(slot) != p) {
    throw std::invalid_argument("gcrt: free of " + HexAddress(p) +
                                ": interior pointer into the object at " +
                                HexAddress(s->SlotAddress(slot)));
  }
  // The object's finalizer or weak handle go back to their owner.
  ReleaseSpecials(TakeSpecials(s, static_cast<uint32_t>(p - s->base)));
  FreeSmallSlot(s, slot);
}

void FreeSmallSlot(Span* s, uint32_t slot) {
  // The thread's own cache, even while a stop has its fast path turned off;
  // none inside a destructor, which may run in the middle of its refill.
  Cache* c = t_in_destructor != 0
                 ? &g_unattached_cache
                 : static_cast<Cache*>(runtime::CurrentProcessor()->local());
  if (c->Owns(s)) {
    c->FreeOwned(s, slot);
  } else {
    Heap::Get().central(s->span_class).FreeObject(s, slot);
  }
}

void AttachCurrentThread() {
  Heap::Get();
  runtime::AttachCurrentThread();
}

void DetachCurrentThread() { runtime::DetachCurrentThread(); }

void FlushCurrentCache() {
  if (runtime::InBlockingRegion() || t_in_destructor != 0) return;
  if (runtime::Processor* p = runtime::CurrentProcessor()) {
    static_cast<Cache*>(p->local())->ReleaseAll();
  }
}

size_t ReleaseIdleMemory() { return Heap::Get().pages().ReleaseAll(); }

}  // namespace gc::alloc
