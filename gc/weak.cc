// See weak.h.
#include "gcrt/gc/weak.h"

#include <new>
#include <stdexcept>
#include <string>

#include "gcrt/alloc/heap.h"
#include "gcrt/gc/collector.h"
#include "gcrt/gc/marker.h"
#include "gcrt/gc/sweeper.h"
#include "gcrt/runtime/check.h"
#include "gcrt/runtime/list.h"
#include "gcrt/runtime/mutex.h"
#include "gcrt/runtime/os_mem.h"
#include "gcrt/runtime/sys_stat.h"

namespace gc::internal {

namespace {

// Guards the list of live weak specials and the cell table's free list.
// Lock order: g_weak_mu before a span's specials_lock. Never held across a
// safepoint.
runtime::Mutex g_weak_mu;

struct WeakSpecial : alloc::Special {
  GCRT_CHARGED_TO(WeakSpecial, kOther)
  WeakCell* cell = nullptr;  // Immutable once linked.
  uintptr_t object = 0;      // the target; immutable
  WeakSpecial* prev GCRT_GUARDED_BY(g_weak_mu) = nullptr;
  WeakSpecial* next GCRT_GUARDED_BY(g_weak_mu) = nullptr;
};

runtime::IntrusiveList<WeakSpecial> g_weak_list GCRT_GUARDED_BY(g_weak_mu);

// Cells come in chunks that are never freed: a stale gc::Weak may read its
// cell at any time, so a cell's memory is a cell's forever.
constexpr size_t kCellsPerChunk = 4096 / sizeof(WeakCell);
WeakCell* g_free_cells GCRT_GUARDED_BY(g_weak_mu) = nullptr;
uint64_t g_cells_made GCRT_GUARDED_BY(g_weak_mu) = 0;

WeakCell* TakeCellLocked() GCRT_REQUIRES(g_weak_mu) {
  if (g_free_cells == nullptr) {
    auto* chunk = new (std::nothrow) WeakCell[kCellsPerChunk];
    if (chunk == nullptr) {
      throw runtime::OutOfMemoryError(
          "gcrt: out of memory: a chunk of weak reference cells (" +
          std::to_string(sizeof(WeakCell) * kCellsPerChunk) + " bytes)");
    }
    for (size_t i = kCellsPerChunk; i > 0; i--) {
      chunk[i - 1].next_free = g_free_cells;
      g_free_cells = &chunk[i - 1];
    }
    g_cells_made += kCellsPerChunk;
  }
  WeakCell* c = g_free_cells;
  g_free_cells = c->next_free;
  c->next_free = nullptr;
  return c;
}

// The generation moves on before the target is cleared (weak.h:
// WeakTarget's seqlock), and the cell goes back to the free list, unless
// its generation would reach the bits a Weak keeps its offset in: then it
// retires (2^48 releases of one cell: never, in practice).
void ReleaseCellLocked(WeakCell* c) GCRT_REQUIRES(g_weak_mu) {
  const uint64_t next = c->generation.load(std::memory_order_relaxed) + 1;
  c->generation.store(next, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  c->target.store(0, std::memory_order_relaxed);
  if (next >= kWeakGenerationMask) return;
  c->next_free = g_free_cells;
  g_free_cells = c;
}

void LinkLocked(WeakSpecial* w) GCRT_REQUIRES(g_weak_mu) {
  g_weak_list.PushFront(w);
}

void UnlinkLocked(WeakSpecial* w) GCRT_REQUIRES(g_weak_mu) {
  g_weak_list.Remove(w);
}

}  // namespace

WeakRef WeakRefFor(const void* object, const char* what) {
  Collector::Get();  // registers the hook that releases specials
  auto p = reinterpret_cast<uintptr_t>(object);
  // Nothing from here to the link reaches a safepoint, so no mark
  // termination can run between the liveness check and the special.
  alloc::Span* s = SpanOfLiveObject(object, what);
  auto w = std::make_unique<WeakSpecial>();
  runtime::MutexLock lock(&g_weak_mu);
  if (alloc::Special* sp =
          alloc::FindSpecial(s, p, alloc::SpecialKind::kWeakHandle)) {
    WeakCell* c = static_cast<WeakSpecial*>(sp)->cell;
    return WeakRef{c, c->generation.load(std::memory_order_relaxed)};
  }
  WeakCell* c = TakeCellLocked();
  c->target.store(p, std::memory_order_release);
  w->kind = alloc::SpecialKind::kWeakHandle;
  w->cell = c;
  w->object = p;
  bool added = alloc::AddSpecial(s, p, w.get());
  GCRT_CHECK(added && "no weak special was found under the weak lock");
  LinkLocked(w.release());
  return WeakRef{c, c->generation.load(std::memory_order_relaxed)};
}

uintptr_t WeakObjectStart(const void* p, const char* what) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  const alloc::Span* s = alloc::SpanOf(p);
  if (s == nullptr) {
    SpanOfLiveObject(p, what);  // throws: outside the heap, or reclaimed
    GCRT_FATAL("a pointer into no span is refused");
  }
  // A tiny block holds several objects, each its own start; past the last
  // slot is no object (SpanOfLiveObject refuses it).
  const uintptr_t start =
      s->span_class == alloc::kTinySpanClass || s->SlotIndex(a) >= s->nelems
          ? a
          : s->SlotStart(a);
  // Live, before api/weak.h reads its vtable (dynamic_cast); WeakRefFor
  // checks again where no cycle can intervene.
  SpanOfLiveObject(reinterpret_cast<const void*>(start), what);
  return start;
}

void ThrowNotObjectStart(const void* p, const char* what) {
  alloc::SpanForSpecial(p, what);  // throws for a pointer into an object
  GCRT_FATAL("a pointer that is not an object's start is refused");
}

WeakRef WeakRefAt(uintptr_t start, uint64_t offset, const char* what) {
  if (offset > kMaxWeakOffset) {
    throw std::invalid_argument(
        std::string("gcrt: ") + what + " of " +
        alloc::HexAddress(start + offset) + ": a base class " +
        std::to_string(offset) + " bytes into the object at " +
        alloc::HexAddress(start) + ", past the " +
        std::to_string(kMaxWeakOffset) +
        " a weak reference can hold: make it to the object itself");
  }
  WeakRef ref = WeakRefFor(reinterpret_cast<const void*>(start), what);
  ref.generation |= offset << kWeakOffsetShift;
  return ref;
}

uint64_t ClearDeadWeakRefs() {
  uint64_t cleared = 0;
  runtime::MutexLock lock(&g_weak_mu);
  for (WeakSpecial* w = g_weak_list.first(); w != nullptr;) {
    WeakSpecial* next = w->next;
    if (!IsMarkedObject(w->object)) {
      ReleaseCellLocked(w->cell);
      alloc::Span* s = alloc::SpanOf(reinterpret_cast<void*>(w->object));
      GCRT_CHECK(s != nullptr &&
                 "a weak reference's target is in the heap until it is swept");
      alloc::Special* taken =
          alloc::RemoveSpecial(s, w->object, alloc::SpecialKind::kWeakHandle);
      GCRT_CHECK(taken == w && "every live weak special is on its span's list");
      UnlinkLocked(w);
      delete w;
      cleared++;
    }
    w = next;
  }
  return cleared;
}

void ReleaseWeakSpecial(alloc::Special* s) {
  auto* w = static_cast<WeakSpecial*>(s);
  {
    runtime::MutexLock lock(&g_weak_mu);
    ReleaseCellLocked(w->cell);
    UnlinkLocked(w);
  }
  delete w;
}

uint64_t WeakSpecialCount() {
  runtime::MutexLock lock(&g_weak_mu);
  return g_weak_list.size();
}

uint64_t WeakCellCountForTesting() {
  runtime::MutexLock lock(&g_weak_mu);
  return g_cells_made;
}

void LockWeakForFork() GCRT_ACQUIRE(g_weak_mu) { g_weak_mu.lock(); }
void UnlockWeakAfterFork() GCRT_RELEASE(g_weak_mu) { g_weak_mu.unlock(); }

}  // namespace gc::internal
