// See marker.h.
#include "gcrt/gc/marker.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "gcrt/alloc/heap.h"
#include "gcrt/gc/barrier.h"
#include "gcrt/gc/ephemeron.h"
#include "gcrt/gc/finalizer.h"
#include "gcrt/gc/free.h"
#include "gcrt/gc/quarantine.h"
#include "gcrt/gc/weak.h"
#include "gcrt/runtime/backtrace.h"
#include "gcrt/runtime/check.h"
#include "gcrt/runtime/processor.h"
#include "gcrt/runtime/safepoint.h"
#include "gcrt/runtime/stack.h"
#include "gcrt/runtime/sys_stat.h"
#include "gcrt/runtime/thread_start.h"

namespace gc::internal {

namespace {

#if GCRT_ASAN
constexpr bool kAsanBuild = true;
#else
constexpr bool kAsanBuild = false;
#endif

using alloc::Span;
using alloc::TypeInfo;
using runtime::kWorldStopped;

// ---- Work buffers (Go's workbufs): 4 KiB, from the C++ heap. ----

// Objects the concurrent marker leaves to the final stop: charged to
// gc_sys, and mapped from the OS when large (runtime/sys_stat.h).
using DeferredList =
    std::vector<uintptr_t,
                runtime::MetadataAllocator<uintptr_t, runtime::SysStat::kGc>>;

constexpr size_t kWorkBufObjs = 510;
struct WorkBuf {
  GCRT_CHARGED_TO(WorkBuf, kGc)
  WorkBuf* next;
  uint64_t n;
  uintptr_t objs[kWorkBufObjs];
};
static_assert(sizeof(WorkBuf) == 4096);

// Work that makes helpers worth waking (WorkPool::OfferHelpers): full
// buffers queued in the pool, or objects one worker marked. Either is
// about 2,000 objects, 10-20 us of marking for one worker, against 40-100
// us for waking a thread and waiting for it on a VM.
constexpr uint32_t kOfferFullBuffers = 4;
constexpr uint64_t kOfferObjects = 2048;

// The shared pool of full and empty buffers of one marking. Worker 0, the
// thread that runs the marking, is in from the start; the others join
// (Join) if they come before the marking ends, so that an end found by
// worker 0 alone is not held up waiting for threads that are still waking
// (MarkThreads::Run).
class WorkPool {
 public:
  explicit WorkPool(uint32_t workers) : workers_(workers) {}
  ~WorkPool() {
    GCRT_CHECK(full_ == nullptr && "marking ended with work left");
    while (empty_ != nullptr) {
      WorkBuf* b = empty_;
      empty_ = b->next;
      delete b;
    }
  }

  WorkBuf* GetEmpty() GCRT_EXCLUDES(mu_) {
    {
      runtime::MutexLock lock(&mu_);
      if (WorkBuf* b = empty_) {
        empty_ = b->next;
        b->n = 0;
        return b;
      }
    }
    // The work list never overflows: it grows as far as the C++ heap does.
    auto* b = new WorkBuf;
    b->next = nullptr;
    b->n = 0;
    return b;
  }
  void PutEmpty(WorkBuf* b) GCRT_EXCLUDES(mu_) {
    runtime::MutexLock lock(&mu_);
    b->next = empty_;
    empty_ = b;
  }
  void PutFull(WorkBuf* b) GCRT_EXCLUDES(mu_) {
    uint32_t full;
    {
      runtime::MutexLock lock(&mu_);
      b->next = full_;
      full_ = b;
      full = nfull_.fetch_add(1, std::memory_order_relaxed) + 1;
      if (nwaiting_.load(std::memory_order_relaxed) > 0) cv_.NotifyOne();
    }
    if (full >= kOfferFullBuffers) OfferHelpers();
  }
  // `fn(context)` runs once, on the first OfferHelpers from now on
  // (outside the lock); null: none. An assist may call OfferHelpers while
  // this is set (the pool is published before MarkThreads::Run sets it):
  // the context is stored first, the function last (release), and read
  // in the other order (acquire).
  void SetOnWork(void (*fn)(void*), void* context) {
    on_work_context_.store(context, std::memory_order_relaxed);
    on_work_.store(fn, std::memory_order_release);
  }
  // The marking has more work than one worker soon finishes: kOfferFull
  // buffers queued (PutFull), or kOfferObjects marked by a worker that
  // keeps its work in its own buffer (a deep, narrow graph). Helpers are
  // then worth waking (MarkThreads::Run).
  void OfferHelpers() {
    if (offered_.load(std::memory_order_relaxed)) return;
    void (*fn)(void*) = on_work_.load(std::memory_order_acquire);
    if (fn != nullptr && !offered_.exchange(true, std::memory_order_relaxed)) {
      fn(on_work_context_.load(std::memory_order_relaxed));
    }
  }
  bool offered() const { return offered_.load(std::memory_order_relaxed); }
  uint32_t joined() GCRT_EXCLUDES(mu_) {
    runtime::MutexLock lock(&mu_);
    return joined_;
  }
  // A full buffer if there is one, without waiting.
  WorkBuf* TakeFull() GCRT_EXCLUDES(mu_) {
    runtime::MutexLock lock(&mu_);
    WorkBuf* b = full_;
    if (b != nullptr) {
      full_ = b->next;
      nfull_.fetch_sub(1, std::memory_order_relaxed);
    }
    return b;
  }
  // A full buffer, or null once every worker is out of work.
  WorkBuf* GetFullOrWait() GCRT_EXCLUDES(mu_) {
    runtime::MutexLock lock(&mu_);
    for (;;) {
      if (WorkBuf* b = full_) {
        full_ = b->next;
        nfull_.fetch_sub(1, std::memory_order_relaxed);
        return b;
      }
      if (done_) return nullptr;
      uint32_t waiting = nwaiting_.fetch_add(1, std::memory_order_relaxed) + 1;
      if (waiting == joined_ && assists_ == 0) {
        done_ = true;
        nwaiting_.fetch_sub(1, std::memory_order_relaxed);
        cv_.NotifyAll();
        return nullptr;
      }
      cv_.Wait(&mu_);
      nwaiting_.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  // Worker `id` (> 0) joins before it takes any work: false once the
  // marking has ended, and then it must take none.
  bool Join(uint32_t id) GCRT_EXCLUDES(mu_) {
    runtime::MutexLock lock(&mu_);
    GCRT_CHECK_LT(id, workers_);
    GCRT_CHECK_LT(joined_, workers_);
    if (done_) return false;
    joined_++;
    return true;
  }
  // A mark assist (AssistMarking) joins the marking: false once it has
  // ended. While one is in, the marking does not end: it may hold objects
  // no worker can see, which it gives back (PutFull) before EndAssist.
  bool BeginAssist() GCRT_EXCLUDES(mu_) {
    runtime::MutexLock lock(&mu_);
    if (done_) return false;
    assists_++;
    return true;
  }
  // The assist leaves; if it was the last thing the waiting workers were
  // waiting for, the marking ends.
  void EndAssist() GCRT_EXCLUDES(mu_) {
    runtime::MutexLock lock(&mu_);
    GCRT_CHECK_GT(assists_, 0u);
    if (--assists_ == 0 && full_ == nullptr &&
        nwaiting_.load(std::memory_order_relaxed) == joined_) {
      done_ = true;
      cv_.NotifyAll();
    }
  }
  // Whether some worker waits for work while the pool has none.
  bool Hungry() const {
    return nwaiting_.load(std::memory_order_relaxed) > 0 &&
           nfull_.load(std::memory_order_relaxed) == 0;
  }
  // Whether the pool has no full buffer, and how many it has (hints:
  // relaxed).
  bool Empty() const { return nfull_.load(std::memory_order_relaxed) == 0; }
  uint32_t Full() const { return nfull_.load(std::memory_order_relaxed); }

 private:
  const uint32_t workers_;
  runtime::Mutex mu_;
  runtime::CondVar cv_;
  uint32_t joined_ GCRT_GUARDED_BY(mu_) = 1;  // worker 0 and those joined
  // SetOnWork's (see there).
  std::atomic<void (*)(void*)> on_work_{nullptr};
  std::atomic<void*> on_work_context_{nullptr};
  std::atomic<bool> offered_{false};  // on_work_ ran (or is running)
  WorkBuf* full_ GCRT_GUARDED_BY(mu_) = nullptr;
  WorkBuf* empty_ GCRT_GUARDED_BY(mu_) = nullptr;
  bool done_ GCRT_GUARDED_BY(mu_) = false;
  uint32_t assists_ GCRT_GUARDED_BY(mu_) = 0;  // in, between Begin and End
  // Atomic: changed under mu_, read relaxed by workers deciding to share.
  std::atomic<uint32_t> nwaiting_{0};
  std::atomic<uint32_t> nfull_{0};
};

// The heap's page map, looked up once: the marker's inner loop must not
// pay for Heap::Get()'s initialization guard. Stored with the world
// stopped before any marker or write barrier can read it, and the same
// every time (the heap is never replaced).
const alloc::PageHeap* g_pages = nullptr;

// Sets g_pages to the heap's page heap: written only when it differs (the
// first marking), since a thread that never attached runs through a stop
// and its gc::Ptr stores' barrier reads g_pages meanwhile.
void SetPages() {
  const alloc::PageHeap* pages = &alloc::Heap::Get().pages();
  if (g_pages != pages) g_pages = pages;
}

// The span holding p and p's slot in it, if p points into an in-use span.
// With the world stopped nothing changes under the marker; while marking
// runs beside the program, spans are published (kInUse, release) but none
// is freed or changes identity (the sweep has finished; gc::free keeps its
// objects until mark termination).
GCRT_ALWAYS_INLINE Span* FindSlot(uintptr_t p, uint32_t* slot) {
  Span* s = g_pages->Lookup(p);
  if (s == nullptr) return nullptr;
  if (s->state.load(std::memory_order_acquire) != alloc::SpanState::kInUse ||
      !s->Contains(p)) {
    return nullptr;
  }
  uint32_t i = s->SlotIndex(p);
  if (i >= s->nelems) return nullptr;
  *slot = i;
  return s;
}

// ---- The write barrier's queue (gc/barrier.h). ----

// Objects the barrier shaded (marked) while the program runs, waiting to
// be scanned: taken by concurrent workers that run out of work, and by
// the final stop.
struct ShadedQueue {
  runtime::Mutex mu;
  WorkBuf* partial GCRT_GUARDED_BY(mu) = nullptr;
  WorkBuf* full GCRT_GUARDED_BY(mu) = nullptr;  // linked through next
  // Marked by the barrier. Atomic: relaxed adds by mutators; read with
  // the world stopped.
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> objects{0};

  void Push(uintptr_t obj) GCRT_EXCLUDES(mu) {
    runtime::MutexLock lock(&mu);
    if (partial == nullptr) {
      partial = new WorkBuf;  // the C++ heap: the queue never overflows
      partial->next = nullptr;
      partial->n = 0;
    }
    partial->objs[partial->n++] = obj;
    if (partial->n == kWorkBufObjs) {
      partial->next = full;
      full = partial;
      partial = nullptr;
    }
  }
  void PutFull(WorkBuf* b) GCRT_EXCLUDES(mu) {
    runtime::MutexLock lock(&mu);
    b->next = full;
    full = b;
  }
  // A buffer of shaded objects (a full one first), or null.
  WorkBuf* Take() GCRT_EXCLUDES(mu) {
    runtime::MutexLock lock(&mu);
    if (WorkBuf* b = full) {
      full = b->next;
      b->next = nullptr;
      return b;
    }
    return std::exchange(partial, nullptr);
  }
};
ShadedQueue& g_shaded = *new ShadedQueue;  // lives for the process

WorkBuf* TakeShaded() { return g_shaded.Take(); }

// Bytes marked so far by the marking running beside the program, its
// workers and assists together, published every few dozen objects
// (MarkWorker::PublishWork). Atomic, relaxed: a progress figure for the
// pacer; reset with the world stopped when a marking starts.
std::atomic<int64_t> g_mark_work{0};

// Scan work the background workers did that no assist has claimed yet
// (Go's bgScanCredit): an allocating thread in debt takes from it before
// it assists, so assists happen only when the background workers fall
// behind the pace the goal asks for. Atomic, relaxed: added to by the
// workers as they publish, taken (compare-and-swap) by assists; reset
// with the world stopped when a marking starts.
std::atomic<int64_t> g_background_credit{0};

// A word of an object the program may be storing to (the concurrent
// marker): a relaxed atomic load, a plain load on every machine gcrt
// runs on.
GCRT_ALWAYS_INLINE uintptr_t LoadWord(const uintptr_t* w) {
  return __atomic_load_n(w, __ATOMIC_RELAXED);
}

// Scans the object at `obj` (a slot start of span s) for V, which has
// Visit(p) for a precise pointer and VisitConservative(p) for a word that
// may or may not be one.
template <typename V>
void ScanConservativeRange(V& v, uintptr_t begin, size_t bytes)
    GCRT_REQUIRES(kWorldStopped) {
  auto* w = reinterpret_cast<const uintptr_t*>(begin);
  for (size_t i = 0; i < bytes / sizeof(uintptr_t); i++) {
    const uintptr_t word = LoadWord(&w[i]);
    if (word != 0) v.VisitConservative(word);
  }
}

// The elements of the object at obj (n of type t from base). The
// concurrent marker reads pointer bitmaps only; an object whose trace
// function reaches what it cannot read, or that is scanned
// conservatively, is deferred to the final stop (v.Defer).
template <typename V>
void ScanElements(V& v, const TypeInfo* t, uintptr_t obj, uintptr_t base,
                  uint64_t n) GCRT_REQUIRES(kWorldStopped) {
  if (const uint64_t* bitmap = t->pointer_bitmap) {
    const uint32_t nwords = t->pointer_bitmap_words;
    for (uint64_t e = 0; e < n; e++) {
      auto* words = reinterpret_cast<const uintptr_t*>(base + e * t->size);
      for (uint32_t w = 0; w < nwords; w++) {
        for (uint64_t bits = bitmap[w]; bits != 0; bits &= bits - 1) {
          uintptr_t p = LoadWord(
              &words[w * 64 + static_cast<uint32_t>(__builtin_ctzll(bits))]);
          if (p != 0) v.Visit(p);
        }
      }
    }
  } else if (t->trace != nullptr) {
    Tracer tracer(&V::VisitFromTracer, &V::VisitRangeFromTracer, &v,
                  v.concurrent());
    for (uint64_t e = 0; e < n && !tracer.deferred(); e++) {
      t->trace(reinterpret_cast<const void*>(base + e * t->size), tracer);
    }
    if (tracer.deferred()) v.Defer(obj);
  } else if (v.concurrent()) {
    v.Defer(obj);  // raw words: stored with no barrier
  } else {
    ScanConservativeRange(v, base, n * t->size);
  }
}

// The value of an ephemeron entry whose key V found reached: traced as its
// type says (a deferral defers the whole table).
template <typename V>
void ScanEphemeronValue(V& v, const EphemeronRef& e,
                        const alloc::EphemeronLayout* l)
    GCRT_REQUIRES(kWorldStopped) {
  if (l->value->pointer_free) return;
  ScanElements(v, l->value, e.table, e.entry + l->value_offset, 1);
}

// An ephemeron table (gc/ephemeron.h): each entry goes to
// v.Ephemeron(entry, layout), which traces its value if its key is reached
// and records it otherwise. Keys are never visited.
template <typename V>
void ScanEphemeronTable(V& v, Span* s, uintptr_t table,
                        const alloc::EphemeronLayout* l)
    GCRT_REQUIRES(kWorldStopped) {
  const uint64_t n = LoadWord(reinterpret_cast<const uintptr_t*>(table));
  const uint64_t fits = (s->slot_bytes() - l->entries_offset) / l->entry_size;
  for (uint64_t i = 0; i < std::min(n, fits); i++) {
    v.Ephemeron(
        EphemeronRef{table + l->entries_offset + i * l->entry_size, table}, l);
  }
}

template <typename V>
void ScanObject(V& v, Span* s, uint32_t slot) GCRT_REQUIRES(kWorldStopped) {
  uintptr_t obj = s->SlotAddress(slot);
#if GCRT_ASAN
  // AddressSanitizer builds poison quarantined and freed objects, which a
  // dangling pointer may have queued: the concurrent marker leaves a
  // poisoned object to the final stop, whose checks below report it (or
  // skip one freed while marking) instead of reading its words.
  if (v.concurrent() && __asan_region_is_poisoned(reinterpret_cast<void*>(obj),
                                                  s->slot_bytes()) != nullptr) {
    v.Defer(obj);
    return;
  }
#endif
  // The quarantines change while the program runs: checked with the world
  // stopped only.
  if (!v.concurrent()) {
    // Both tests only while gc::free's quarantine holds anything: one
    // relaxed load per object otherwise.
    if (GCRT_PREDICT_FALSE(g_quarantined.load(std::memory_order_relaxed) !=
                           0)) {
      const auto* p = reinterpret_cast<const void*>(obj);
      // Freed while this cycle marked beside the program: destroyed, its
      // slot kept; a marker that queued it before the free skips it.
      if (FreedWhileMarkingWorldStopped(p)) return;
      // Debug builds' explicitly freed objects are destroyed and poisoned:
      // a trace function must not run on one (pointer bitmaps read poison
      // words, which point nowhere, and mark termination reports it).
      if (IsQuarantinedWorldStopped(p)) {
        ReportUseAfterFree(p, "the collector reached");
      }
    }
    // So are reclaimed objects in their quarantine: a precise reference to
    // one was made from a pointer kept past its reclamation.
    if (GCRT_PREDICT_FALSE(g_reclaimed.load(std::memory_order_relaxed) != 0)) {
      if (auto r =
              FindReclaimedWorldStopped(reinterpret_cast<const void*>(obj))) {
        ReportUseAfterReclaim(reinterpret_cast<const void*>(obj), *r,
                              "a root or a traced field reached");
      }
    }
  }
  const TypeInfo* t = s->types.Get(slot);
  size_t bytes = s->slot_bytes();
  if (GCRT_PREDICT_FALSE(t != nullptr && t->ephemeron != nullptr)) {
    ScanEphemeronTable(v, s, obj, t->ephemeron);
  } else if (t == nullptr) {
    if (v.concurrent()) {
      v.Defer(obj);
    } else {
      ScanConservativeRange(v, obj, bytes);
    }
  } else if (t->array_header != 0) {
    uint64_t n = LoadWord(reinterpret_cast<const uintptr_t*>(obj));
    uint64_t fits = (bytes - t->array_header) / t->size;
    ScanElements(v, t, obj, obj + t->array_header, std::min(n, fits));
  } else {
    ScanElements(v, t, obj, obj, 1);
  }
}

// ---- One mark worker. ----

// Cache-line aligned: its fields are written on every object marked, and two
// workers' fields on one line made two workers three times slower than one.
// Whether a word a conservative scan found (a stack word, a word of an
// object under construction or of an unreflected aggregate, a kept entry)
// names a live object: an allocated slot that is neither an explicitly
// freed object waiting in another cache's freebuf (its allocation bit is
// still set until that cache gives the span back: marking it would run a
// trace function on a destroyed object) nor one in the debug quarantine.
// World stopped: no freebuf changes meanwhile.
bool LiveForConservativeScan(Span* s, uint32_t slot)
    GCRT_REQUIRES(kWorldStopped) {
  if (!s->IsAllocated(slot)) return false;
  const uintptr_t obj = s->SlotAddress(slot);
  for (const alloc::FreeLink* v = s->freebuf.load(std::memory_order_acquire);
       v != nullptr; v = v->next) {
    if (reinterpret_cast<uintptr_t>(v) == obj) return false;
  }
  return !MaybeQuarantinedWorldStopped(reinterpret_cast<const void*>(obj)) &&
         !MaybeReclaimedWorldStopped(reinterpret_cast<const void*>(obj));
}

// SetStackSnapshot's: written and read with the world stopped.
runtime::Processor* g_snapshot_processor = nullptr;
const std::vector<uintptr_t>* g_snapshot_words = nullptr;

// A thread's stack and saved registers (runtime/stack.h), word by word.
void ScanStack(runtime::Processor* p,
               void (*visit)(void* context, uintptr_t word), void* context)
    GCRT_REQUIRES(kWorldStopped) {
  const runtime::StackRecord& r = p->stack();
  if (r.sp == 0 || r.hi == 0) return;
  if (r.sp < r.lo || r.sp >= r.hi) {
    // A thread running on a stack of its own making (a fiber, an
    // alternate signal stack): its bounds are not known.
    runtime::Print(
        "conservative stack scan: processor %u's thread stopped at %#lx, "
        "outside its thread stack [%#lx, %#lx); threads that switch stacks "
        "(fibers, coroutines on their own stacks) need GCRT_STACK_SCAN=off "
        "and registered roots",
        p->id(), static_cast<unsigned long>(r.sp),
        static_cast<unsigned long>(r.lo), static_cast<unsigned long>(r.hi));
    GCRT_FATAL("a stopped thread's stack pointer is within its thread stack");
  }
  if (p == g_snapshot_processor && g_snapshot_words != nullptr) {
    const auto begin = reinterpret_cast<uintptr_t>(g_snapshot_words->data());
    runtime::ScanStackRange(
        begin, begin + g_snapshot_words->size() * sizeof(uintptr_t),
        r.fake_stack, visit, context);
  } else {
    runtime::ScanStackRange(r.sp, r.hi, r.fake_stack, visit, context);
  }
  const auto saved = reinterpret_cast<uintptr_t>(r.saved);
  runtime::ScanStackRange(saved, saved + r.saved_bytes, r.fake_stack, visit,
                          context);
}

// ---- Ephemerons (gc/ephemeron.h): helpers of the visitors. ----

// The span and slot of an ephemeron's key (a tiny piece's block), or null
// if it is dead: freed with gc::free (its generation moved on), or in no
// in-use span. Keys are read, never visited.
GCRT_ALWAYS_INLINE Span* EphemeronKeySlot(const EphemeronRef& e, uint32_t* slot,
                                          bool* no_key) {
  bool dead = false;
  const uintptr_t key = ReadEphemeronKey(e.entry, &dead);
  *no_key = key == 0;
  if (key == 0 || dead) return nullptr;
  return FindSlot(key, slot);
}

GCRT_ALWAYS_INLINE bool SlotMarked(const Span* s, uint32_t slot) {
  std::atomic_ref<uint64_t> word(
      const_cast<uint64_t&>(s->mark_bits[slot / 64]));
  return ((word.load(std::memory_order_relaxed) >> (slot % 64)) & 1) != 0;
}

// Whether the object starting at `obj` is marked (an ephemeron's key).
bool ObjectMarked(uintptr_t obj) {
  uint32_t slot;
  const Span* s = FindSlot(obj, &slot);
  return s != nullptr && SlotMarked(s, slot);
}

// The layout of the ephemeron table at `table` (an in-use object).
const alloc::EphemeronLayout* LayoutAt(uintptr_t table) {
  uint32_t slot;
  Span* s = FindSlot(table, &slot);
  GCRT_CHECK(s != nullptr && "an ephemeron table is in the heap while marked");
  const TypeInfo* t = s->types.Get(slot);
  GCRT_CHECK(t != nullptr && t->ephemeron != nullptr &&
             "an ephemeron entry lies in a table of an ephemeron type");
  return t->ephemeron;
}

// For the visitors that decide reachability on their own, on one thread
// (the verifier, why_alive): the entries waiting for their key, by the
// key's slot, and those whose key was reached since (ready to be traced).
class EphemeronWaitList {
 public:
  struct Waiting {
    EphemeronRef ref;
    const alloc::EphemeronLayout* layout;
  };
  void Wait(uintptr_t key, const EphemeronRef& e,
            const alloc::EphemeronLayout* l) {
    waiting_[key].push_back(Waiting{e, l});
  }
  // `obj` was reached for the first time.
  void Reached(uintptr_t obj) {
    if (waiting_.empty()) return;
    auto it = waiting_.find(obj);
    if (it == waiting_.end()) return;
    ready_.insert(ready_.end(), it->second.begin(), it->second.end());
    waiting_.erase(it);
  }
  bool HasReady() const { return !ready_.empty(); }
  std::vector<Waiting> TakeReady() { return std::exchange(ready_, {}); }

 private:
  std::unordered_map<uintptr_t, std::vector<Waiting>> waiting_;
  std::vector<Waiting> ready_;
};

// What the marker and the verifier share: resolving a pointer, or a word
// that may be one, to an object, and the Tracer's callbacks. Derived takes
// what is found in Reached(span, slot, pointer).
template <typename Derived>
class SlotVisitor {
 public:
  // A pointer from a gc::Ptr, a handle or a root set: exact or interior.
  GCRT_ALWAYS_INLINE void Visit(uintptr_t p) GCRT_REQUIRES(kWorldStopped) {
    uint32_t slot;
    if (Span* s = FindSlot(p, &slot)) self().Reached(s, slot, p);
  }
  // A word that may not be a pointer (a stack word, a conservatively
  // scanned object): only live objects are taken.
  void VisitConservative(uintptr_t p) GCRT_REQUIRES(kWorldStopped) {
    uint32_t slot;
    Span* s = FindSlot(p, &slot);
    if (s != nullptr && LiveForConservativeScan(s, slot)) {
      self().Reached(s, slot, p);
    }
  }
  static void VisitFromTracer(void* self, const void* p)
      GCRT_REQUIRES(kWorldStopped) {
    static_cast<Derived*>(self)->Visit(reinterpret_cast<uintptr_t>(p));
  }
  static void VisitRangeFromTracer(void* self, const void* p, size_t bytes)
      GCRT_REQUIRES(kWorldStopped) {
    ScanConservativeRange(*static_cast<Derived*>(self),
                          reinterpret_cast<uintptr_t>(p), bytes);
  }
  // The concurrent marker (MarkWorker) overrides these: ScanObject leaves
  // what it cannot read while the program runs to the final stop.
  bool concurrent() const { return false; }
  void Defer(uintptr_t) {}
  // The pointers of an object that is not itself a root (a finalizable
  // object: finalizer.h).
  void ScanContents(uintptr_t p) GCRT_REQUIRES(kWorldStopped) {
    uint32_t slot;
    Span* s = FindSlot(p, &slot);
    if (s != nullptr && !s->noscan()) ScanObject(self(), s, slot);
  }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
};

// A cycle's roots as jobs, built in one place for the marker and the
// verifier (world stopped): the root registry's handle arenas and root sets,
// the finalizer queue, and, when stacks are scanned, the stack of every
// thread holding a processor. Holds the registry's locks (BeginMarking)
// while it lives.
class RootJobs {
 public:
  RootJobs() GCRT_REQUIRES(kWorldStopped) {
    RootRegistry::Get().BeginMarking(&jobs_, &arenas_);
    jobs_.push_back(RootJob{RootJob::kFinalizers, nullptr, nullptr});
    if (runtime::StackScanEnabled()) {
      for (runtime::Processor* p = runtime::ProcessorTable::Get().all();
           p != nullptr; p = p->next_all()) {
        if (p->status() != runtime::ProcessorStatus::kIdle) {
          jobs_.push_back(RootJob{RootJob::kStack, nullptr, nullptr, p});
        }
      }
      runtime::ForEachSuspendedTaskStack(
          [this](const runtime::SuspendedStack& s) {
            RootJob job{RootJob::kTaskStack, nullptr, nullptr};
            job.task_stack = s;
            jobs_.push_back(job);
          });
    } else {
      // What gc::go copied onto each task's stack keeps its objects until
      // the task's function returns, as a gc::Thread's closure does
      // (api/thread.h): scanned on its own when stacks are not.
      runtime::ForEachTaskClosure([this](uintptr_t lo, uintptr_t hi) {
        RootJob job{RootJob::kTaskClosure, nullptr, nullptr};
        job.task_stack = runtime::SuspendedStack{lo, hi, nullptr};
        jobs_.push_back(job);
      });
    }
  }
  ~RootJobs() { RootRegistry::Get().EndMarking(); }
  RootJobs(const RootJobs&) = delete;
  RootJobs& operator=(const RootJobs&) = delete;

  const std::vector<RootJob>& jobs() const { return jobs_; }

  // Objects under construction (roots.h: Constructing), for V with
  // Constructing(c, scan) and VisitConservative(p): every one is marked
  // before any is scanned (one may already point to another: a constructor
  // that links `this` into its parent, which must not be pushed as an
  // ordinary object whose trace function would run); then what their
  // constructors allocated (entries of 0 bytes), conservatively, so a
  // freed one is never resurrected.
  template <typename V>
  void VisitConstructing(V& v) const GCRT_REQUIRES(kWorldStopped) {
    for (bool scan : {false, true}) {
      for (HandleArena* a : arenas_) {
        a->ForEachConstructing([&](const Constructing& c)
                                   GCRT_REQUIRES(kWorldStopped) {
                                     if (c.bytes > 0) v.Constructing(c, scan);
                                   });
      }
    }
    for (HandleArena* a : arenas_) {
      a->ForEachConstructing(
          [&](const Constructing& c) GCRT_REQUIRES(kWorldStopped) {
            if (c.bytes == 0) {
              v.VisitConservative(reinterpret_cast<uintptr_t>(c.object));
            }
          });
    }
  }

 private:
  std::vector<RootJob> jobs_;
  std::vector<HandleArena*> arenas_;
};

// Runs one root job for V (the MarkWorker or the Verifier): Visit(p) for a
// precise pointer, VisitConservative(p) for a stack word, ScanContents(p)
// for an object whose pointers are roots but which is not itself one (a
// finalizable object: finalizer.h), and the Tracer's two callbacks.
template <typename V>
void RunRootJob(const RootJob& job, V& v) GCRT_REQUIRES(kWorldStopped) {
  switch (job.kind) {
    case RootJob::kStack:
      // A stack word may point at an object gc::free quarantined (debug
      // builds): VisitConservative takes no use of it.
      ScanStack(
          job.processor,
          [](void* self, uintptr_t w) GCRT_REQUIRES(kWorldStopped) {
            static_cast<V*>(self)->VisitConservative(w);
          },
          &v);
      return;
    case RootJob::kTaskStack:
    case RootJob::kTaskClosure:
      runtime::ScanStackRange(
          job.task_stack.sp, job.task_stack.hi, job.task_stack.fake_stack,
          [](void* self, uintptr_t w) GCRT_REQUIRES(kWorldStopped) {
            static_cast<V*>(self)->VisitConservative(w);
          },
          &v);
      return;
    case RootJob::kArena:
      job.arena->ForEachRoot([&v](const void* p) {
        runtime::AssertWorldStopped();  // ForEachRoot does not say so
        const auto w = reinterpret_cast<uintptr_t>(p);
        if (GCRT_PREDICT_FALSE((w & kConservativeHandle) != 0)) {
          v.VisitConservative(w & ~kConservativeHandle);
        } else {
          v.Visit(w);
        }
      });
      return;
    case RootJob::kFinalizers:
      ForEachFinalizerRoot(
          [](void* self, uintptr_t p) GCRT_REQUIRES(kWorldStopped) {
            static_cast<V*>(self)->ScanContents(p);
          },
          [](void* self, uintptr_t p)
              GCRT_REQUIRES(kWorldStopped) { static_cast<V*>(self)->Visit(p); },
          &v);
      return;
    case RootJob::kRootSet:
      if (job.set->trace != nullptr) {
        Tracer tracer(&V::VisitFromTracer, &V::VisitRangeFromTracer, &v);
        job.set->trace(job.set->context, tracer);
      } else {
        for (size_t i = 0; i < job.set->range_count; i++) {
          auto p = reinterpret_cast<uintptr_t>(job.set->range_begin[i]);
          if (p != 0) v.Visit(p);
        }
      }
      return;
  }
}

// An ephemeron entry a worker found with its key unmarked: the key's slot
// (0: the key is dead), and the entry.
struct DiscoveredEphemeron {
  uintptr_t key;
  EphemeronRef ref;
};

class alignas(64) MarkWorker : public SlotVisitor<MarkWorker> {
 public:
  // `concurrent`: marking beside the program (gc/barrier.h): object words
  // are read atomically and what cannot be read safely is deferred.
  MarkWorker(WorkPool* pool, bool shared_marks, bool concurrent = false)
      : pool_(pool),
        buf_(pool->GetEmpty()),
        shared_marks_(shared_marks),
        concurrent_(concurrent) {}
  ~MarkWorker() { pool_->PutEmpty(buf_); }

  bool concurrent() const { return concurrent_; }
  WorkPool* pool() const { return pool_; }
  // An object left for the final stop (marked already).
  void Defer(uintptr_t obj) { deferred_.push_back(obj); }
  DeferredList& deferred() { return deferred_; }

  // An ephemeron entry (ScanEphemeronTable, and ResolveEphemerons examining
  // one again): its value is traced if its key is marked; otherwise it is
  // recorded as discovered, under its key's slot (0: its key is dead).
  void Ephemeron(const EphemeronRef& e, const alloc::EphemeronLayout* l)
      GCRT_REQUIRES(kWorldStopped) {
    uint32_t slot;
    bool no_key;
    Span* ks = EphemeronKeySlot(e, &slot, &no_key);
    if (no_key) return;
    if (ks != nullptr && SlotMarked(ks, slot)) {
      ScanEphemeronValue(*this, e, l);
      return;
    }
    discovered_.push_back(
        DiscoveredEphemeron{ks != nullptr ? ks->SlotAddress(slot) : 0, e});
  }
  std::vector<DiscoveredEphemeron>& discovered() { return discovered_; }
  // While `pending` is set (ResolveEphemerons, on one worker), every object
  // this worker marks that an entry of `pending` waits for is noted in
  // ready(): a chain of ephemerons resolves in one drain.
  void SetResolving(PendingEphemerons* pending) { resolving_ = pending; }
  std::vector<uintptr_t>& ready() { return ready_; }
  // Queues a marked object for scanning (deferred and black objects at the
  // final stop).
  void Rescan(uintptr_t obj) { Push(obj); }
  // Hands this worker's queued objects to the pool (as a full buffer).
  void Flush() {
    if (buf_->n == 0) return;
    pool_->PutFull(buf_);
    buf_ = pool_->GetEmpty();
  }

  // What a visit found (SlotVisitor): marked, and queued if it has
  // pointers.
  GCRT_ALWAYS_INLINE void Reached(Span* s, uint32_t slot, uintptr_t)
      GCRT_REQUIRES(kWorldStopped) {
    MarkSlot(s, slot);
  }

  // An object whose constructor is running: marked (`scan` false), then
  // scanned conservatively (`scan` true; its trace function must not run
  // yet). Every such object is marked before any is scanned: one may
  // already point to another (a constructor that links `this` into its
  // parent), which must not be pushed as an ordinary object.
  void Constructing(const internal::Constructing& c, bool scan)
      GCRT_REQUIRES(kWorldStopped) {
    uint32_t slot;
    uintptr_t p = reinterpret_cast<uintptr_t>(c.object);
    Span* s = FindSlot(p, &slot);
    GCRT_CHECK(s != nullptr && "an object under construction is in the heap");
    if (!scan) {
      if (SetMark(s, slot)) Count(s);
    } else {
      ScanConservativeRange(*this, s->SlotAddress(slot), s->slot_bytes());
    }
  }

  void Drain() GCRT_REQUIRES(kWorldStopped) {
    ScanUntil</*kBackground=*/true>(INT64_MAX, [this] {
      // The write barrier's queue first: while the program runs, the
      // objects it shaded are work too (the rest waits for the stop).
      WorkBuf* full = concurrent_ ? TakeShaded() : nullptr;
      return full != nullptr ? full : pool_->GetFullOrWait();
    });
    if (concurrent_) PublishWork(/*background=*/true);
  }

  // A mark assist's share (AssistMarking): scans queued objects, its own
  // then the pool's then the barrier's, until `budget` bytes of them are
  // scanned or none is left, then gives back what it queued. Never waits.
  // Returns the bytes scanned.
  int64_t DrainFor(int64_t budget) GCRT_REQUIRES(kWorldStopped) {
    const int64_t scanned = ScanUntil</*kBackground=*/false>(budget, [this] {
      WorkBuf* full = pool_->TakeFull();
      return full != nullptr ? full : TakeShaded();
    });
    Flush();
    PublishWork(/*background=*/false);
    return scanned;
  }
  // Adds the bytes marked since the last call to the marking's total (the
  // pacer's measure of its progress: MarkWorkDone) and, for a background
  // worker, to the credit assists draw on (TakeBackgroundCredit).
  void PublishWork(bool background) {
    const auto work = static_cast<int64_t>(bytes_ - published_);
    g_mark_work.fetch_add(work, std::memory_order_relaxed);
    if (background) {
      g_background_credit.fetch_add(work, std::memory_order_relaxed);
    }
    published_ = bytes_;
  }

  uint64_t bytes() const { return bytes_; }
  uint64_t objects() const { return objects_; }

 private:
  // Scans queued objects until `budget` bytes are scanned or `refill`
  // (called with this worker's buffer empty) finds no full buffer; returns
  // the bytes scanned. Objects leave the buffer through a ring of kRing,
  // prefetched on the way in, so the scan of one overlaps the cache misses
  // of the next; what the ring holds when the budget runs out goes back to
  // the buffer. A background worker balances every 64 objects.
  template <bool kBackground, typename Refill>
  GCRT_ALWAYS_INLINE int64_t ScanUntil(int64_t budget, Refill refill)
      GCRT_REQUIRES(kWorldStopped) {
    constexpr unsigned kRing = 8;
    uintptr_t ring[kRing];
    unsigned head = 0, count = 0, since_balance = 0;
    int64_t scanned = 0;
    while (scanned < budget) {
      uintptr_t obj;
      if (buf_->n > 0) {
        uintptr_t popped = buf_->objs[--buf_->n];
        __builtin_prefetch(reinterpret_cast<const void*>(popped));
        if (count < kRing) {
          ring[(head + count) % kRing] = popped;
          count++;
          continue;
        }
        obj = ring[head];
        ring[head] = popped;
        head = (head + 1) % kRing;
      } else if (count > 0) {
        obj = ring[head];
        head = (head + 1) % kRing;
        count--;
      } else {
        WorkBuf* full = refill();
        if (full == nullptr) break;
        pool_->PutEmpty(buf_);
        buf_ = full;
        continue;
      }
      scanned += ScanQueued(obj);
      if (kBackground && ++since_balance == 64) {
        since_balance = 0;
        Balance();
        if (concurrent_) PublishWork(/*background=*/true);
      }
    }
    for (; count > 0; count--, head = (head + 1) % kRing) Push(ring[head]);
    return scanned;
  }

  // Sets the mark bit; true if this call set it. With several workers the
  // bit is set with an atomic OR (two workers may set bits of one word at
  // once); a lone worker owns every mark word and needs no locked
  // instruction, whose full fence would also stall the prefetches.
  GCRT_ALWAYS_INLINE bool SetMark(Span* s, uint32_t slot) {
    std::atomic_ref<uint64_t> word(s->mark_bits[slot / 64]);
    uint64_t bit = uint64_t{1} << (slot % 64);
    uint64_t old = word.load(std::memory_order_relaxed);
    if (old & bit) return false;
    if (!shared_marks_) {
      word.store(old | bit, std::memory_order_relaxed);
      return true;
    }
    return (word.fetch_or(bit, std::memory_order_relaxed) & bit) == 0;
  }
  GCRT_ALWAYS_INLINE void Count(const Span* s) {
    objects_++;
    bytes_ += s->elem_size;  // a large object over 4 GiB counts 4 GiB
  }
  // Scans an object taken from the work list (a slot start of an in-use
  // span). The common case, an object of a span's single type with a
  // one-word pointer bitmap, is inline: no call, no loop over elements.
  // Returns the object's bytes (the pacer's unit of scan work).
  GCRT_ALWAYS_INLINE int64_t ScanQueued(uintptr_t obj)
      GCRT_REQUIRES(kWorldStopped) {
    Span* s = g_pages->Lookup(obj);
    const TypeInfo* t = s->types.single_atomic();
    // AddressSanitizer builds take the checked path (ScanObject), which
    // reports a quarantined object before reading its poisoned words;
    // other builds report it at mark termination (CheckReclaimedUnmarked,
    // EndQuarantine).
    if (GCRT_PREDICT_TRUE(!kAsanBuild && t != nullptr &&
                          t->pointer_bitmap_words == 1 &&
                          t->array_header == 0)) {
      auto* words = reinterpret_cast<const uintptr_t*>(obj);
      for (uint64_t bits = t->pointer_bitmap[0]; bits != 0; bits &= bits - 1) {
        uintptr_t p = LoadWord(&words[__builtin_ctzll(bits)]);
        if (p != 0) Visit(p);
      }
      return s->elem_size;
    }
    ScanObject(*this, s, s->SlotIndex(obj));
    return s->elem_size;
  }
  GCRT_ALWAYS_INLINE void MarkSlot(Span* s, uint32_t slot)
      GCRT_REQUIRES(kWorldStopped) {
    if (!SetMark(s, slot)) return;
    Count(s);
    if (GCRT_PREDICT_FALSE(resolving_ != nullptr) &&
        resolving_->Waiting(s->SlotAddress(slot))) {
      ready_.push_back(s->SlotAddress(slot));
    }
    if (!s->noscan()) Push(s->SlotAddress(slot));
  }
  GCRT_ALWAYS_INLINE void Push(uintptr_t obj) {
    if (GCRT_PREDICT_FALSE(buf_->n == kWorkBufObjs)) {
      pool_->PutFull(buf_);
      buf_ = pool_->GetEmpty();
    }
    buf_->objs[buf_->n++] = obj;
  }
  // Gives half of this worker's buffer to the pool when others starve (a
  // narrow, deep graph keeps its work in one buffer otherwise).
  // Splitting a short buffer hands over objects next to the ones this
  // worker is scanning: both then set bits in the same mark words, and the
  // atomic ORs bounce the line between cores.
  static constexpr uint64_t kMinSplit = 16;
  // While the program runs, the pool is kept from running dry (Go's
  // gcDrain balances whenever the global list is empty): a thread that
  // owes an assist can take work at once, even when this worker is not
  // running when it asks.
  void Balance() {
    if (GCRT_PREDICT_FALSE(objects_ >= kOfferObjects) && !pool_->offered()) {
      pool_->OfferHelpers();
    }
    if (buf_->n < kMinSplit ||
        !(concurrent_ ? pool_->Empty() : pool_->Hungry())) {
      return;
    }
    WorkBuf* half = pool_->GetEmpty();
    uint64_t k = buf_->n / 2;
    std::copy(buf_->objs, buf_->objs + k, half->objs);
    std::copy(buf_->objs + k, buf_->objs + buf_->n, buf_->objs);
    half->n = k;
    buf_->n -= k;
    pool_->PutFull(half);
  }

  WorkPool* pool_;
  WorkBuf* buf_;
  const bool shared_marks_;  // more than one worker
  const bool concurrent_;
  uint64_t bytes_ = 0;
  uint64_t objects_ = 0;
  uint64_t published_ = 0;  // of bytes_, to g_mark_work
  DeferredList deferred_;
  std::vector<DiscoveredEphemeron> discovered_;
  PendingEphemerons* resolving_ = nullptr;
  std::vector<uintptr_t> ready_;  // keys marked while resolving_
};

// ---- Helper threads: N-1 of them join the collector's thread. ----

class MarkThreads {
 public:
  static MarkThreads& Get() {
    static MarkThreads* t = new MarkThreads();  // lives for the process
    return *t;
  }

  // Starts helpers until n - 1 run (StartMarkThreads).
  void Start(uint32_t n) GCRT_EXCLUDES(mu_) {
    runtime::MutexLock lock(&mu_);
    StartLocked(n);
  }
  uint32_t StartedForTesting() GCRT_EXCLUDES(mu_) {
    runtime::MutexLock lock(&mu_);
    return started_;
  }

  // Runs work(0) here and offers work(1..n-1) to helpers once `pool` holds
  // a full buffer (at once if it does already): a helper that wakes before
  // work(0) has returned runs its part, one that wakes later skips it.
  // Returns once work(0) and every part begun have returned. So the parts
  // must share what there is to do (RootJobs' counter, the WorkPool, which
  // a helper joins before it takes anything). A marking with less than a
  // buffer of work at a time is then done by this thread alone, not held
  // up by waking helpers, which on a VM cost 40-100 us a stop (GCBench's
  // two stops: 26 and 24 us of marking with two workers offered lazily,
  // 10 and 9 with one, 42 and 57 with both always started).
  void Run(uint32_t n, WorkPool* pool,
           const std::function<void(uint32_t)>& work) GCRT_EXCLUDES(mu_) {
    {
      runtime::MutexLock lock(&mu_);
      StartLocked(n);
      n = std::min(n, started_ + 1);
      work_ = &work;
      helpers_ = n - 1;
      closed_ = n == 1;
      run_++;
    }
    if (n > 1) {
      pool->SetOnWork(&MarkThreads::OfferThunk, this);
      if (pool->Full() >= kOfferFullBuffers) pool->OfferHelpers();
    }
    work(0);
    {
      runtime::MutexLock lock(&mu_);
      closed_ = true;
      while (running_ != 0) done_cv_.Wait(&mu_);
      work_ = nullptr;
    }
    // The caller may go on with the pool alone (ResolveEphemerons): no
    // offer from now on, and helpers_offered says what this Run did.
    pool->SetOnWork(nullptr, nullptr);
  }

  // Wakes the helpers for the running work, once (the pool's on-work
  // callback: any thread that puts a full buffer, an assist's included).
  void Offer() GCRT_EXCLUDES(mu_) {
    runtime::MutexLock lock(&mu_);
    if (closed_) return;
    offered_run_ = run_;
    generation_++;
    cv_.NotifyAll();
  }
  static void OfferThunk(void* self) {
    static_cast<MarkThreads*>(self)->Offer();
  }

  // Fork support (LockMarkThreadsForFork): the lock across a fork.
  void LockForFork() GCRT_ACQUIRE(mu_) { mu_.lock(); }
  void UnlockAfterFork(bool child) GCRT_RELEASE(mu_) {
    if (child) {
      // The helpers are gone (no cycle ran: they were waiting for work);
      // Run starts new ones when a cycle needs them.
      started_ = 0;
      cv_.ResetAfterFork();
      done_cv_.ResetAfterFork();
      work_ = nullptr;
      helpers_ = 0;
      running_ = 0;
      closed_ = true;
    }
    mu_.unlock();
  }

 private:
  void StartLocked(uint32_t n) GCRT_REQUIRES(mu_) {
    // A helper the system refuses (a thread limit) leaves its part to the
    // ones that run (Run: helpers_); the next Run tries again.
    while (started_ + 1 < n) {
      const uint32_t id = started_ + 1;
      if (!runtime::StartDetachedThread([this, id] { Loop(id); })) break;
      started_ = id;
    }
  }
  void Loop(uint32_t id) GCRT_EXCLUDES(mu_) {
    char name[16];
    std::snprintf(name, sizeof(name), "gcrt-mark-%u", id);
    runtime::SetCurrentThreadName(name);
    uint64_t seen = 0, ran = 0;
    runtime::MutexLock lock(&mu_);
    for (;;) {
      while (generation_ == seen) cv_.Wait(&mu_);
      seen = generation_;
      // Each part runs once per Run, and only in a Run that offered it:
      // a helper that wakes late for an earlier Run's offer, or a new one
      // (its `seen` is 0), takes no share of a Run that has not.
      if (id > helpers_ || closed_ || ran == run_ || offered_run_ != run_) {
        continue;
      }
      ran = run_;
      const std::function<void(uint32_t)>* work = work_;
      running_++;
      lock.Unlock();
      (*work)(id);
      lock.Lock();
      if (--running_ == 0) done_cv_.NotifyAll();
    }
  }

  // (For their annotations, which name mu_.)
  friend void gc::internal::LockMarkThreadsForFork();
  friend void gc::internal::UnlockMarkThreadsAfterFork(bool child);
  runtime::Mutex mu_;
  runtime::CondVar cv_;       // a new generation of work (mu_)
  runtime::CondVar done_cv_;  // no helper runs its part any more (mu_)
  uint32_t started_ GCRT_GUARDED_BY(mu_) = 0;  // helpers, ids 1..started_
  const std::function<void(uint32_t)>* work_ GCRT_GUARDED_BY(mu_) = nullptr;
  uint32_t helpers_ GCRT_GUARDED_BY(mu_) = 0;
  uint32_t running_ GCRT_GUARDED_BY(mu_) = 0;      // helpers in their part
  bool closed_ GCRT_GUARDED_BY(mu_) = true;        // work(0) has returned
  uint64_t run_ GCRT_GUARDED_BY(mu_) = 0;          // Runs so far
  uint64_t offered_run_ GCRT_GUARDED_BY(mu_) = 0;  // the last Run offered
  uint64_t generation_ GCRT_GUARDED_BY(mu_) = 0;
};

// ---- The verifier (Go's checkmark). ----

class Verifier : public SlotVisitor<Verifier> {
 public:
  void Reached(Span* s, uint32_t slot, uintptr_t via)
      GCRT_REQUIRES(kWorldStopped) {
    Reach(s, slot, via);
  }
  // As MarkWorker::Constructing: all seen first, then all scanned.
  void Constructing(const internal::Constructing& c, bool scan)
      GCRT_REQUIRES(kWorldStopped) {
    uint32_t slot;
    Span* s = FindSlot(reinterpret_cast<uintptr_t>(c.object), &slot);
    if (s == nullptr) return;
    if (!scan) {
      if (seen_.insert(s->SlotAddress(slot)).second) {
        waits_.Reached(s->SlotAddress(slot));
      }
      Check(s, slot, s->SlotAddress(slot));
    } else {
      ScanConservativeRange(*this, s->SlotAddress(slot), s->slot_bytes());
    }
  }
  // An ephemeron's value is reachable once its key is (the verifier's own
  // fixpoint, independent of the marker's): traced now, or when the key is
  // first reached.
  void Ephemeron(const EphemeronRef& e, const alloc::EphemeronLayout* l)
      GCRT_REQUIRES(kWorldStopped) {
    uint32_t slot;
    bool no_key;
    Span* ks = EphemeronKeySlot(e, &slot, &no_key);
    if (ks == nullptr) return;
    const uintptr_t key = ks->SlotAddress(slot);
    if (seen_.count(key) != 0) {
      ScanEphemeronValue(*this, e, l);
    } else {
      waits_.Wait(key, e, l);
    }
  }
  void Drain() GCRT_REQUIRES(kWorldStopped) {
    while (!stack_.empty() || waits_.HasReady()) {
      if (stack_.empty()) {
        for (const auto& w : waits_.TakeReady()) {
          ScanEphemeronValue(*this, w.ref, w.layout);
        }
        continue;
      }
      uintptr_t obj = stack_.back();
      stack_.pop_back();
      uint32_t slot = 0;
      Span* s = FindSlot(obj, &slot);
      ScanObject(*this, s, slot);
    }
  }
  uint64_t checked() const { return seen_.size(); }

 private:
  void Reach(Span* s, uint32_t slot, uintptr_t via) {
    uintptr_t obj = s->SlotAddress(slot);
    if (!seen_.insert(obj).second) return;
    waits_.Reached(obj);
    Check(s, slot, via);
    if (!s->noscan()) stack_.push_back(obj);
  }
  void Check(Span* s, uint32_t slot, uintptr_t via) {
    uintptr_t obj = s->SlotAddress(slot);
    const TypeInfo* t = s->types.Get(slot);
    const std::string type = alloc::TypeName(t);
    const char* name = type.c_str();
    if (!s->IsAllocated(slot)) {
      // Freed by an earlier cycle (or gc::free) and reachable now: most
      // often the program kept a pointer the collector does not see, and
      // stored it back.
      runtime::Print(
          "verifier: object %#lx (type %s, reached through %#lx) is reachable "
          "but was freed. Most often the program kept a pointer the "
          "collector does not see (a gc::Ptr or raw pointer on the stack "
          "with stack scanning off, in C++ heap memory, in a global, or a "
          "field a trace() skips) across the collection that freed it, then "
          "stored it where the collector looks: a debug build, or "
          "GCRT_DEBUG=quarantine=1, stops at that use and names the "
          "collection. Otherwise it is a gcrt bug",
          static_cast<unsigned long>(obj), name,
          static_cast<unsigned long>(via));
      // Reported as the program's rule, which it most often is.
      GCRT_FATAL(
          "no pointer to a freed object is stored where the collector "
          "looks (verifier: a reachable object was freed)");
    }
    std::atomic_ref<uint64_t> word(s->mark_bits[slot / 64]);
    if ((word.load(std::memory_order_relaxed) & (uint64_t{1} << (slot % 64))) ==
        0) {
      runtime::Print(
          "verifier: object %#lx (type %s) is reachable but was not marked",
          static_cast<unsigned long>(obj), name);
      GCRT_THROW("every reachable object is marked (verifier)");
    }
  }

  std::unordered_set<uintptr_t> seen_;
  std::vector<uintptr_t> stack_;
  EphemeronWaitList waits_;
};

// ---- Why alive (FindRetentionPath): a breadth-first walk from the roots,
//      each object reached recording what reached it. ----

class PathFinder : public SlotVisitor<PathFinder> {
 public:
  explicit PathFinder(uintptr_t target) : target_(target) {}

  // What reaches the objects visited next: an object, or a root as
  // RootId(i) (objects are at least 8-byte aligned, root ids odd).
  static uintptr_t RootId(size_t i) { return (uintptr_t{i} << 1) | 1; }
  static bool IsRoot(uintptr_t from) { return (from & 1) != 0; }
  static size_t RootIndex(uintptr_t from) { return from >> 1; }
  void From(uintptr_t from) { from_ = from; }

  void Reached(Span* s, uint32_t slot, uintptr_t) GCRT_REQUIRES(kWorldStopped) {
    Seen(s, slot, /*scan=*/!s->noscan());
  }
  // A finalizable object not yet queued: the marker scans what it reaches
  // (SlotVisitor::ScanContents), and the next mark termination keeps it for
  // its finalizer. Here it is the first object of its paths, so that a
  // path shows it, and it is kept itself.
  void ScanContents(uintptr_t p) GCRT_REQUIRES(kWorldStopped) {
    uint32_t slot;
    if (Span* s = FindSlot(p, &slot)) Seen(s, slot, /*scan=*/!s->noscan());
  }
  // Objects under construction are roots; their trace functions must not
  // run yet, so their words are scanned conservatively, as the marker does.
  void Constructing(const internal::Constructing& c, bool scan)
      GCRT_REQUIRES(kWorldStopped) {
    uint32_t slot;
    Span* s = FindSlot(reinterpret_cast<uintptr_t>(c.object), &slot);
    if (s == nullptr) return;
    if (!scan) {
      Seen(s, slot, /*scan=*/false);
    } else if (!found_) {
      const uintptr_t from = from_;
      From(s->SlotAddress(slot));
      ScanConservativeRange(*this, s->SlotAddress(slot), s->slot_bytes());
      From(from);
    }
  }
  // Scans the objects reached at the last level, making the next one;
  // false once there is none or the target was found.
  // As the verifier's: an entry's value once its key was reached, through
  // the table (the path shows the table, not the key).
  void Ephemeron(const EphemeronRef& e, const alloc::EphemeronLayout* l)
      GCRT_REQUIRES(kWorldStopped) {
    uint32_t slot;
    bool no_key;
    Span* ks = EphemeronKeySlot(e, &slot, &no_key);
    if (ks == nullptr) return;
    if (FromTable(ks)[slot] != 0) {
      ScanEphemeronValue(*this, e, l);
    } else {
      waits_.Wait(ks->SlotAddress(slot), e, l);
    }
  }
  bool NextLevel() GCRT_REQUIRES(kWorldStopped) {
    // Values whose keys the last level reached join the next one.
    while (!found_ && waits_.HasReady()) {
      for (const auto& w : waits_.TakeReady()) {
        From(w.ref.table);
        ScanEphemeronValue(*this, w.ref, w.layout);
      }
    }
    if (found_ || next_.empty()) return false;
    std::vector<uintptr_t> level;
    level.swap(next_);
    for (uintptr_t obj : level) {
      uint32_t slot = 0;
      Span* s = FindSlot(obj, &slot);
      From(obj);
      ScanObject(*this, s, slot);
      if (found_) break;
    }
    return !found_;
  }
  bool found() const { return found_; }
  // The objects from the root's to the target, and the root's index.
  std::vector<uintptr_t> Path(size_t* root) GCRT_REQUIRES(kWorldStopped) {
    std::vector<uintptr_t> path;
    uintptr_t at = target_;
    for (;;) {
      path.push_back(at);
      uint32_t slot = 0;
      Span* s = FindSlot(at, &slot);
      const uintptr_t from = FromTable(s)[slot];
      GCRT_CHECK(from != 0 && "every object on the path was reached");
      if (IsRoot(from)) {
        *root = RootIndex(from);
        break;
      }
      at = from;
    }
    std::reverse(path.begin(), path.end());
    return path;
  }

 private:
  void Seen(Span* s, uint32_t slot, bool scan) {
    uintptr_t& from = FromTable(s)[slot];
    if (from != 0) return;  // reached already
    from = from_;
    const uintptr_t obj = s->SlotAddress(slot);
    waits_.Reached(obj);
    if (obj == target_) found_ = true;
    if (scan) next_.push_back(obj);
  }
  // What reached each slot of s (0: not reached yet), one word a slot,
  // made on first use. A side table per span, not a map per object: the
  // walk visits millions of objects (a map of them cost ~650 ns an object,
  // 11 s with the world stopped for 16 M objects).
  uintptr_t* FromTable(const Span* s) {
    if (s == last_span_) return last_table_;
    std::unique_ptr<uintptr_t[]>& t = tables_[s];
    if (t == nullptr) t = std::make_unique<uintptr_t[]>(s->nelems);  // zeroed
    last_span_ = s;
    last_table_ = t.get();
    return last_table_;
  }

  const uintptr_t target_;
  uintptr_t from_ = RootId(0);
  bool found_ = false;
  std::unordered_map<const Span*, std::unique_ptr<uintptr_t[]>> tables_;
  EphemeronWaitList waits_;
  const Span* last_span_ = nullptr;
  uintptr_t* last_table_ = nullptr;
  std::vector<uintptr_t> next_;
};

}  // namespace

void SetStackSnapshot(runtime::Processor* p,
                      const std::vector<uintptr_t>* words) {
  g_snapshot_processor = words != nullptr ? p : nullptr;
  g_snapshot_words = words;
}

bool IsMarkedObject(uintptr_t p) {
  SetPages();
  uint32_t slot;
  Span* s = FindSlot(p, &slot);
  if (s == nullptr) return false;
  return (s->mark_bits[slot / 64] >> (slot % 64)) & 1;
}

uintptr_t UnmarkedLiveObject(uintptr_t p) {
  SetPages();
  uint32_t slot;
  Span* s = FindSlot(p, &slot);
  if (s == nullptr || ((s->mark_bits[slot / 64] >> (slot % 64)) & 1) != 0 ||
      !LiveForConservativeScan(s, slot)) {
    return 0;
  }
  return s->SlotAddress(slot);
}

uint64_t MarkObjectAtTermination(uintptr_t p) {
  SetPages();
  uint32_t slot;
  Span* s = FindSlot(p, &slot);
  GCRT_CHECK(s != nullptr && "an object marked at termination is in the heap");
  uint64_t bit = uint64_t{1} << (slot % 64);
  if (s->mark_bits[slot / 64] & bit) return 0;
  s->mark_bits[slot / 64] |= bit;
  return s->elem_size;
}

namespace {

using Workers = std::vector<std::unique_ptr<MarkWorker>>;

Workers MakeWorkers(WorkPool* pool, uint32_t n, bool concurrent) {
  Workers ws;
  for (uint32_t i = 0; i < n; i++) {
    // Mutators set mark bits too while marking runs beside them.
    ws.push_back(
        std::make_unique<MarkWorker>(pool, n > 1 || concurrent, concurrent));
  }
  return ws;
}

// Runs the root jobs on the workers (the collector's thread and helpers,
// world stopped); then each drains its work, or with `drain` false hands
// it to the pool for a marking beside the program.
void RunRootJobs(const Workers& ws, const std::vector<RootJob>& jobs,
                 bool drain) GCRT_REQUIRES(kWorldStopped) {
  std::atomic<size_t> next_job{0};
  std::function<void(uint32_t)> work = [&](uint32_t id) {
    // A mark helper works for the thread that stopped the world.
    runtime::AssertWorldStopped();
    MarkWorker& w = *ws[id];
    if (id != 0 && !w.pool()->Join(id)) return;  // the marking has ended
    SetInMarker(true);
    for (;;) {
      size_t i = next_job.fetch_add(1, std::memory_order_relaxed);
      if (i >= jobs.size()) break;
      RunRootJob(jobs[i], w);
      if (w.objects() >= kOfferObjects) w.pool()->OfferHelpers();
    }
    if (drain) {
      w.Drain();
    } else {
      w.Flush();
    }
    SetInMarker(false);
  };
  MarkThreads::Get().Run(static_cast<uint32_t>(ws.size()), ws[0]->pool(), work);
}

// Passes over the pending keys while the program runs (ResolveEphemerons):
// the write barrier marks keys no worker sees, so each pass may find more;
// the rest is left to the final stop, which needs one.
constexpr int kConcurrentEphemeronPasses = 8;

// Resolves the marking's ephemerons (gc/ephemeron.h) on one worker, the
// collecting thread's, after a drain: files what the workers discovered
// (`discovered`), examines the entries the program wrote (the log), and
// makes passes over the pending keys, each tracing the values of keys
// marked since their entries were filed, then draining with w noting every
// key it marks, until a pass finds nothing or `max_passes` ran. With the
// world stopped one pass is the fixpoint: after it, every key marked was
// marked by w (noted) or found marked when its entries were filed.
void ResolveEphemerons(MarkWorker& w, std::vector<DiscoveredEphemeron> found,
                       int max_passes) GCRT_REQUIRES(kWorldStopped) {
  PendingEphemerons& pending = PendingEphemerons::Get();
  w.SetResolving(&pending);
  for (int pass = 0; pass < max_passes; pass++) {
    std::vector<EphemeronRef> examine = TakeEphemeronLog();
    const bool logged = !examine.empty();
    std::vector<EphemeronRef> marked = pending.TakeMarked(&ObjectMarked);
    examine.insert(examine.end(), marked.begin(), marked.end());
    for (const EphemeronRef& e : examine) w.Ephemeron(e, LayoutAt(e.table));
    for (;;) {
      w.Drain();
      found.insert(found.end(), w.discovered().begin(), w.discovered().end());
      w.discovered().clear();
      std::vector<uintptr_t> ready = std::exchange(w.ready(), {});
      if (found.empty() && ready.empty()) break;
      for (const DiscoveredEphemeron& d : found) {
        if (d.key == 0) {
          pending.AddDead(d.ref);
        } else if (ObjectMarked(d.key)) {
          w.Ephemeron(d.ref, LayoutAt(d.ref.table));  // marked meanwhile
        } else {
          pending.AddPending(d.key, d.ref);
        }
      }
      found.clear();
      for (uintptr_t key : ready) {
        for (const EphemeronRef& e : pending.Take(key)) {
          w.Ephemeron(e, LayoutAt(e.table));
        }
      }
    }
    if (!logged && marked.empty()) break;
  }
  w.SetResolving(nullptr);
}

// Every worker's discovered ephemerons, handed to the resolving one.
std::vector<DiscoveredEphemeron> TakeDiscovered(const Workers& ws) {
  std::vector<DiscoveredEphemeron> all;
  for (const auto& w : ws) {
    all.insert(all.end(), w->discovered().begin(), w->discovered().end());
    w->discovered().clear();
  }
  return all;
}

}  // namespace

MarkResult MarkHeap(uint32_t workers) {
  GCRT_CHECK_GE(workers, 1u);
  SetPages();
  RootJobs roots;
  const std::vector<RootJob>& jobs = roots.jobs();
  MarkResult result{0, 0, workers};
  WorkPool pool(workers);
  Workers ws = MakeWorkers(&pool, workers, /*concurrent=*/false);
  SetInMarker(true);
  PendingEphemerons::Get().Clear();
  // First, so that no other root makes the marker run their trace functions.
  roots.VisitConstructing(*ws[0]);
  RunRootJobs(ws, jobs, /*drain=*/true);
  SetInMarker(true);
  ResolveEphemerons(*ws[0], TakeDiscovered(ws), /*max_passes=*/1);
  SetInMarker(false);
  for (const auto& w : ws) {
    result.bytes_marked += w->bytes();
    result.objects_marked += w->objects();
  }
  result.helpers_offered = pool.offered();
  result.workers_joined = pool.joined();
  return result;
}

// ---- Marking beside the program (gc/barrier.h). ----

std::atomic<bool> g_write_barrier{false};

namespace {
// SetWriteBarrierDisabledForTesting's switch (relaxed: tests set it while
// no cycle marks).
std::atomic<bool> g_barrier_disabled_for_testing{false};
}  // namespace

void SetWriteBarrierDisabledForTesting(bool disabled) {
  g_barrier_disabled_for_testing.store(disabled, std::memory_order_relaxed);
}

namespace {

// Threads shading beside the world right now (ShadeBesideTheWorld): each
// such thread adds 1 and takes it back; FinishMarking reads it (a fork's
// child zeroes it, alone). Atomic, sequentially consistent: with
// g_write_barrier's stores, a Dekker handshake.
std::atomic<uint32_t> g_shades_beside_the_world{0};

// SetShadeBesideTheWorldHookForTesting's: written by a test while no
// marking runs.
std::atomic<void (*)(bool)> g_shade_beside_hook{nullptr};

void Shade(const void* p) {
  uint32_t slot;
  Span* s = FindSlot(reinterpret_cast<uintptr_t>(p), &slot);
  if (s == nullptr) return;
  std::atomic_ref<uint64_t> word(s->mark_bits[slot / 64]);
  const uint64_t bit = uint64_t{1} << (slot % 64);
  if ((word.load(std::memory_order_relaxed) & bit) != 0 ||
      (word.fetch_or(bit, std::memory_order_relaxed) & bit) != 0) {
    return;  // marked already (by a marker, the barrier, or allocated black)
  }
  g_shaded.bytes.fetch_add(s->elem_size, std::memory_order_relaxed);
  g_shaded.objects.fetch_add(1, std::memory_order_relaxed);
  if (!s->noscan()) g_shaded.Push(s->SlotAddress(slot));
}

// A thread the world does not stop (not attached, or inside a blocking
// region) read g_write_barrier without the stops' ordering: the marking it
// saw may have ended, and a bit set now, while a sweep swaps the bitmaps
// or in the next cycle's fresh bitmap, would pass an unscanned object off
// as marked. So it announces itself and reads the flag again, both
// sequentially consistent; FinishMarking turns the flag off the same way
// and waits until no thread is announced (WaitForShadesBesideTheWorld).
// Either this thread sees the flag off, or the final stop waits for its
// shade and scans what it queued.
GCRT_NOINLINE void ShadeBesideTheWorld(const void* p) {
  g_shades_beside_the_world.fetch_add(1, std::memory_order_seq_cst);
  const bool marking = g_write_barrier.load(std::memory_order_seq_cst);
  if (auto hook = g_shade_beside_hook.load(std::memory_order_relaxed)) {
    hook(marking);
  }
  if (marking) Shade(p);
  g_shades_beside_the_world.fetch_sub(1, std::memory_order_release);
}

// The other half of the handshake, after g_write_barrier's seq_cst store
// of false: no thread beside the world shades from here on.
void WaitForShadesBesideTheWorld() {
  while (g_shades_beside_the_world.load(std::memory_order_acquire) != 0) {
    sched_yield();  // a shade is a few loads and stores
  }
}

}  // namespace

void SetShadeBesideTheWorldHookForTesting(void (*hook)(bool)) {
  g_shade_beside_hook.store(hook, std::memory_order_relaxed);
}

void ShadeSlow(const void* p) {
  if (p == nullptr) return;
  if (GCRT_PREDICT_FALSE(
          g_barrier_disabled_for_testing.load(std::memory_order_relaxed))) {
    return;
  }
  // Only the stops order a thread's load of g_write_barrier, and only for
  // the threads they stop.
  if (GCRT_PREDICT_FALSE(!runtime::WorldStopsCurrentThread())) {
    ShadeBesideTheWorld(p);
    return;
  }
  Shade(p);
}

namespace {

// Tells the analysis what the marker's functions require of a stopped
// world, on a concurrent mark worker: spans that keep their identity, mark
// bits that only gain bits. While marking runs beside the program the
// collector keeps both without the stop (no sweep runs, no span is freed,
// gc::free keeps its objects until mark termination: free.h).
void AssertConcurrentMarking() GCRT_ASSERT_CAPABILITY(kWorldStopped) {
  GCRT_DCHECK(g_write_barrier.load(std::memory_order_relaxed) &&
              "the concurrent marker runs while the write barrier is on");
}

// One marking's state from StartMarking to FinishMarking. Owned by the
// collecting thread; workers add theirs after they have joined.
struct ConcurrentMarking {
  uint32_t workers = 1;
  uint64_t bytes = 0;
  uint64_t objects = 0;
  int64_t heap_live_at_start = 0;
  DeferredList deferred;  // objects left for the final stop
  // Ephemerons the workers found with unmarked keys, not yet filed.
  std::vector<DiscoveredEphemeron> discovered;
};
ConcurrentMarking& g_marking = *new ConcurrentMarking;  // lives for the process

// Moves `from`'s objects to the end of `to`, leaving `from` empty with no
// capacity: a cycle that deferred millions of objects (every one of a
// conservatively scanned type) held their lists, tens of MiB, for good.
void AppendDeferred(DeferredList* to, DeferredList* from) {
  if (to->empty()) {
    to->swap(*from);
  } else {
    to->insert(to->end(), from->begin(), from->end());
  }
  DeferredList().swap(*from);
}

void AddWorkerResults(const Workers& ws) {
  for (const auto& w : ws) {
    g_marking.bytes += w->bytes();
    g_marking.objects += w->objects();
    AppendDeferred(&g_marking.deferred, &w->deferred());
  }
  std::vector<DiscoveredEphemeron> found = TakeDiscovered(ws);
  g_marking.discovered.insert(g_marking.discovered.end(), found.begin(),
                              found.end());
}

// An object allocated black whose type the write barrier cannot vouch for
// (a trace function or a conservative scan: its containers and raw words
// took pointers without a barrier) is scanned at the final stop.
void RescanBlackWord(void* worker, const alloc::BlackWord& w)
    GCRT_REQUIRES(kWorldStopped) {
  Span* s = w.span;
  const TypeInfo* single = s->types.single();
  if (single != nullptr && single->pointer_bitmap != nullptr) return;
  for (uint64_t bits = w.slots; bits != 0; bits &= bits - 1) {
    const uint32_t slot =
        w.word * 64 + static_cast<uint32_t>(__builtin_ctzll(bits));
    if (!s->IsAllocated(slot)) continue;
    const TypeInfo* t = s->types.Get(slot);
    if (t != nullptr && t->pointer_bitmap != nullptr) continue;
    // An ephemeron table's entries were all written through its barrier,
    // which logged them for ResolveEphemerons.
    if (t != nullptr && t->ephemeron != nullptr) continue;
    static_cast<MarkWorker*>(worker)->Rescan(s->SlotAddress(slot));
  }
}

}  // namespace

// Mark assists (AssistMarking): the concurrent marking's pool, published
// while its workers run, and the assists' results, gathered for the final
// stop. A leaf lock (runtime/lock_order.h).
struct Assists {
  // Set (release) by MarkConcurrently before its workers start, cleared
  // after they end; an assist counts itself in `entering` before loading
  // it, and MarkConcurrently waits for `entering` to drop to zero before
  // the pool goes (both sequentially consistent: an assist either sees
  // null or is waited for).
  std::atomic<WorkPool*> pool{nullptr};
  std::atomic<uint32_t> entering{0};
  runtime::Mutex mu;
  uint64_t bytes GCRT_GUARDED_BY(mu) = 0;
  uint64_t objects GCRT_GUARDED_BY(mu) = 0;
  DeferredList deferred GCRT_GUARDED_BY(mu);
  std::vector<DiscoveredEphemeron> discovered GCRT_GUARDED_BY(mu);
};
Assists& g_assists = *new Assists;  // lives for the process

void StartMarkThreads(uint32_t workers) { MarkThreads::Get().Start(workers); }

uint32_t MarkThreadsStartedForTesting() {
  return MarkThreads::Get().StartedForTesting();
}

void StartMarking(uint32_t workers) {
  GCRT_CHECK_GE(workers, 1u);
  g_mark_work.store(0, std::memory_order_relaxed);
  g_background_credit.store(0, std::memory_order_relaxed);
  SetPages();
  g_marking.workers = workers;
  g_marking.bytes = g_marking.objects = 0;
  g_marking.deferred.clear();
  g_marking.discovered.clear();
  PendingEphemerons::Get().Clear();
  TakeEphemeronLog();  // none: the barrier was off
  g_marking.heap_live_at_start = alloc::Heap::Get().heap_live();
  RootJobs roots;
  const std::vector<RootJob>& jobs = roots.jobs();
  WorkPool pool(workers);
  auto ws = MakeWorkers(&pool, workers, /*concurrent=*/false);
  SetInMarker(true);
  roots.VisitConstructing(*ws[0]);
  // The roots are marked and queued here; their objects are scanned
  // beside the program (MarkConcurrently).
  RunRootJobs(ws, jobs, /*drain=*/false);
  while (WorkBuf* b = pool.TakeFull()) g_shaded.PutFull(b);
  AddWorkerResults(ws);
  // What the stop marked is done: the pacer's expected work (the last
  // cycle's marked bytes) counts it too. Left out, a large pointer-free
  // object a root holds (GCBench's 4 MiB array) stayed in the work left
  // for the whole marking, and the assists were charged twice the rate.
  g_mark_work.store(static_cast<int64_t>(g_marking.bytes),
                    std::memory_order_relaxed);
  for (runtime::Processor* p = runtime::ProcessorTable::Get().all();
       p != nullptr; p = p->next_all()) {
    static_cast<alloc::Cache*>(p->local())->BeginBlackAllocation();
  }
  // Sequentially consistent for the threads beside the world
  // (ShadeBesideTheWorld), which see the first stop's writes with it.
  g_write_barrier.store(true, std::memory_order_seq_cst);
  alloc::g_allocate_black.store(true, std::memory_order_relaxed);
}

namespace {
// SetConcurrentWorkerHookForTesting's: written by a test while no marking
// runs, read by the workers (published by MarkThreads::Run's hand-off).
void (*g_worker_hook)(void*) = nullptr;
void* g_worker_hook_context = nullptr;
}  // namespace

void SetConcurrentWorkerHookForTesting(void (*fn)(void*), void* context) {
  g_worker_hook = fn;
  g_worker_hook_context = context;
}

void MarkConcurrently(uint32_t workers) {
  GCRT_CHECK_GE(workers, 1u);
  WorkPool pool(workers);
  while (WorkBuf* b = g_shaded.Take()) pool.PutFull(b);
  auto ws = MakeWorkers(&pool, workers, /*concurrent=*/true);
  std::function<void(uint32_t)> work = [&](uint32_t id) {
    if (g_worker_hook != nullptr) g_worker_hook(g_worker_hook_context);
    if (id != 0 && !pool.Join(id)) return;  // the marking has ended
    AssertConcurrentMarking();
    SetInMarker(true);
    ws[id]->Drain();
    SetInMarker(false);
  };
  g_assists.pool.store(&pool, std::memory_order_seq_cst);
  MarkThreads::Get().Run(workers, &pool, work);
  // The workers end only when no assist is in (WorkPool::EndAssist); any
  // assist still entering finds the marking done.
  g_assists.pool.store(nullptr, std::memory_order_seq_cst);
  while (g_assists.entering.load(std::memory_order_seq_cst) != 0) {
    std::this_thread::yield();
  }
  AddWorkerResults(ws);
  // The ephemerons, as far as they resolve while the program runs, on this
  // thread (no assist joins: the pool above is gone).
  std::vector<DiscoveredEphemeron> found =
      std::exchange(g_marking.discovered, {});
  {
    runtime::MutexLock lock(&g_assists.mu);
    found.insert(found.end(), g_assists.discovered.begin(),
                 g_assists.discovered.end());
    g_assists.discovered.clear();
  }
  WorkPool resolve_pool(1);
  Workers resolver = MakeWorkers(&resolve_pool, 1, /*concurrent=*/true);
  AssertConcurrentMarking();
  SetInMarker(true);
  ResolveEphemerons(*resolver[0], std::move(found), kConcurrentEphemeronPasses);
  SetInMarker(false);
  AddWorkerResults(resolver);
}

int64_t AssistMarking(int64_t budget) {
  if (InMarker()) return 0;  // a trace function's allocation: no nesting
  g_assists.entering.fetch_add(1, std::memory_order_seq_cst);
  struct Leave {
    ~Leave() { g_assists.entering.fetch_sub(1, std::memory_order_seq_cst); }
  } leave;
  WorkPool* pool = g_assists.pool.load(std::memory_order_seq_cst);
  if (pool == nullptr || !pool->BeginAssist()) return 0;
  // The pool lives until EndAssist and this thread's `entering` count ends.
  AssertConcurrentMarking();
  int64_t scanned;
  {
    MarkWorker w(pool, /*shared_marks=*/true, /*concurrent=*/true);
    SetInMarker(true);
    scanned = w.DrainFor(budget);
    SetInMarker(false);
    runtime::MutexLock lock(&g_assists.mu);
    g_assists.bytes += w.bytes();
    g_assists.objects += w.objects();
    AppendDeferred(&g_assists.deferred, &w.deferred());
    g_assists.discovered.insert(g_assists.discovered.end(),
                                w.discovered().begin(), w.discovered().end());
  }
  pool->EndAssist();
  return scanned;
}

int64_t MarkWorkDone() { return g_mark_work.load(std::memory_order_relaxed); }

int64_t TakeBackgroundCredit(int64_t want) {
  int64_t credit = g_background_credit.load(std::memory_order_relaxed);
  int64_t take;
  do {
    if (credit <= 0) return 0;
    take = std::min(credit, want);
  } while (!g_background_credit.compare_exchange_weak(
      credit, credit - take, std::memory_order_relaxed));
  return take;
}

MarkResult FinishMarking(DeferredObjects* deferred) {
  alloc::Heap& heap = alloc::Heap::Get();
  // Nothing stores or allocates until the world restarts, but threads the
  // world does not stop may be shading: the handshake waits for them.
  g_write_barrier.store(false, std::memory_order_seq_cst);
  WaitForShadesBesideTheWorld();
  alloc::g_allocate_black.store(false, std::memory_order_relaxed);
  alloc::FreeRetiredTypeTables();
  const uint32_t workers = g_marking.workers;
  RootJobs roots;
  const std::vector<RootJob>& jobs = roots.jobs();
  WorkPool pool(workers);
  while (WorkBuf* b = g_shaded.Take()) pool.PutFull(b);
  auto ws = MakeWorkers(&pool, workers, /*concurrent=*/false);
  SetInMarker(true);
  // Everything without a barrier is scanned again: the roots (below), the
  // objects the concurrent marker deferred, and the objects allocated black
  // whose types hold pointers the barrier does not see.
  roots.VisitConstructing(*ws[0]);
  {
    runtime::MutexLock lock(&g_assists.mu);
    g_marking.bytes += std::exchange(g_assists.bytes, 0);
    g_marking.objects += std::exchange(g_assists.objects, 0);
    AppendDeferred(&g_marking.deferred, &g_assists.deferred);
    g_marking.discovered.insert(g_marking.discovered.end(),
                                g_assists.discovered.begin(),
                                g_assists.discovered.end());
    g_assists.discovered.clear();
  }
  *deferred = {g_marking.deferred.size(), 0};
  for (uintptr_t obj : g_marking.deferred) {
    deferred->bytes += g_pages->Lookup(obj)->slot_bytes();
    ws[0]->Rescan(obj);
  }
  DeferredList().swap(g_marking.deferred);
  for (runtime::Processor* p = runtime::ProcessorTable::Get().all();
       p != nullptr; p = p->next_all()) {
    static_cast<alloc::Cache*>(p->local())
        ->EndBlackAllocation(&RescanBlackWord, ws[0].get());
  }
  heap.EndBlackAllocationLarge(&RescanBlackWord, ws[0].get());
  ws[0]->Flush();
  RunRootJobs(ws, jobs, /*drain=*/true);
  // The ephemerons left: the roots', the deferred objects' and what the
  // program wrote since the concurrent passes (one pass: gc/ephemeron.h).
  std::vector<DiscoveredEphemeron> found = TakeDiscovered(ws);
  found.insert(found.end(), g_marking.discovered.begin(),
               g_marking.discovered.end());
  g_marking.discovered.clear();
  SetInMarker(true);
  ResolveEphemerons(*ws[0], std::move(found), /*max_passes=*/1);
  SetInMarker(false);
  AddWorkerResults(ws);
  // Objects allocated black count as marked: heap_live's growth since the
  // start (it counts a cached span's free slots as allocated, as it does
  // everywhere).
  const int64_t black =
      std::max<int64_t>(0, heap.heap_live() - g_marking.heap_live_at_start);
  MarkResult result{g_marking.bytes +
                        g_shaded.bytes.exchange(0, std::memory_order_relaxed) +
                        static_cast<uint64_t>(black),
                    g_marking.objects +
                        g_shaded.objects.exchange(0, std::memory_order_relaxed),
                    workers, static_cast<uint64_t>(black)};
  result.helpers_offered = pool.offered();
  result.workers_joined = pool.joined();
  return result;
}

uint64_t VerifyMarking() {
  SetPages();
  RootJobs roots;
  SetInMarker(true);
  Verifier v;
  roots.VisitConstructing(v);
  for (const RootJob& job : roots.jobs()) {
    RunRootJob(job, v);
    v.Drain();
  }
  SetInMarker(false);
  return v.checked();
}

RetentionPath FindRetentionPath(uintptr_t target) {
  SetPages();
  RetentionPath out;
  uint32_t slot;
  Span* s = FindSlot(target, &slot);
  if (s == nullptr || !s->IsAllocated(slot)) return out;
  out.object = s->SlotAddress(slot);
  out.object_type = s->types.Get(slot);
  RootJobs roots;
  const std::vector<RootJob>& jobs = roots.jobs();
  SetInMarker(true);  // trace functions run; none may allocate or collect
  PathFinder f(out.object);
  // Root 0: the objects under construction; root i + 1: jobs[i].
  f.From(PathFinder::RootId(0));
  roots.VisitConstructing(f);
  for (size_t i = 0; i < jobs.size() && !f.found(); i++) {
    if (jobs[i].kind == RootJob::kStack &&
        jobs[i].processor == runtime::CurrentProcessor()) {
      continue;
    }
    f.From(PathFinder::RootId(i + 1));
    RunRootJob(jobs[i], f);
  }
  while (f.NextLevel()) {
  }
  SetInMarker(false);
  if (!f.found()) return out;
  out.reachable = true;
  size_t root = 0;
  out.objects = f.Path(&root);
  for (size_t i = 0; i < out.objects.size(); i++) {
    uint32_t at = 0;
    Span* os = FindSlot(out.objects[i], &at);
    out.types.push_back(os->types.Get(at));
    int64_t offset = -1;
    if (i > 0) {
      const auto* words =
          reinterpret_cast<const uintptr_t*>(out.objects[i - 1]);
      const size_t n =
          FindSlot(out.objects[i - 1], &at)->slot_bytes() / sizeof(uintptr_t);
      for (size_t w = 0; w < n; w++) {
        if (words[w] >= out.objects[i] &&
            words[w] - out.objects[i] < os->slot_bytes()) {
          offset = static_cast<int64_t>(w * sizeof(uintptr_t));
          break;
        }
      }
    }
    out.offsets.push_back(offset);
  }
  if (root == 0) {
    out.root_is_constructing = true;
    return out;
  }
  const RootJob& job = jobs[root - 1];
  out.root_kind = job.kind;
  out.root_is_range =
      job.kind == RootJob::kRootSet && job.set->trace == nullptr;
  if (job.kind == RootJob::kRootSet) out.root_set_what = job.set->what;
  out.root_is_global =
      job.kind == RootJob::kArena && job.arena == &HandleArena::Globals();
  if (job.kind == RootJob::kStack) out.root_processor = job.processor->id();
  return out;
}

void LockMarkThreadsForFork() GCRT_ACQUIRE(MarkThreads::Get().mu_) {
  MarkThreads::Get().LockForFork();
}

void UnlockMarkThreadsAfterFork(bool child)
    GCRT_RELEASE(MarkThreads::Get().mu_) {
  MarkThreads::Get().UnlockAfterFork(child);
  // A thread counted in by the barrier's handshake when another forked
  // (it saw the flag off: no cycle marks across a fork) is not in the
  // child, and would hold the child's first final stop forever.
  if (child) g_shades_beside_the_world.store(0, std::memory_order_relaxed);
}

}  // namespace gc::internal
