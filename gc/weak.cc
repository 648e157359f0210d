// See weak.h.
#include "gc/weak.h"

#include <mutex>
#include <stdexcept>
#include <string>

#include "alloc/heap.h"
#include "gc/collector.h"
#include "gc/marker.h"
#include "runtime/check.h"
#include "runtime/mutex.h"

namespace gc::internal {

namespace {

struct WeakSpecial : alloc::Special {
  WeakCell* cell = nullptr;     // Immutable once linked.
  uintptr_t object = 0;         // the target; immutable
  WeakSpecial* prev = nullptr;  // Guarded by g_weak_mu.
  WeakSpecial* next = nullptr;
};

// Guards the list of live weak specials. Lock order: g_weak_mu before a
// span's specials_lock. Never held across a safepoint.
runtime::Mutex g_weak_mu;
WeakSpecial* g_weak_list GC_GUARDED_BY(g_weak_mu) = nullptr;
uint64_t g_weak_count GC_GUARDED_BY(g_weak_mu) = 0;

// The cell is pointer-free: the marker keeps it alive but never follows the
// target's address it holds.
constexpr alloc::TypeInfo kWeakCellType = {"gc::WeakCell",
                                           sizeof(WeakCell),
                                           alignof(WeakCell),
                                           true,
                                           nullptr,
                                           nullptr,
                                           0,
                                           nullptr,
                                           0};

void LinkLocked(WeakSpecial* w) GC_REQUIRES(g_weak_mu) {
  w->prev = nullptr;
  w->next = g_weak_list;
  if (g_weak_list != nullptr) g_weak_list->prev = w;
  g_weak_list = w;
  g_weak_count++;
}

void UnlinkLocked(WeakSpecial* w) GC_REQUIRES(g_weak_mu) {
  if (w->prev != nullptr) {
    w->prev->next = w->next;
  } else {
    g_weak_list = w->next;
  }
  if (w->next != nullptr) w->next->prev = w->prev;
  w->prev = w->next = nullptr;
  g_weak_count--;
}

}  // namespace

WeakCell* WeakCellFor(const void* object) {
  Collector::Get();  // registers the hook that releases specials
  auto p = reinterpret_cast<uintptr_t>(object);
  alloc::Span* s = alloc::SpanForSpecial(object, "gc::Weak");
  for (;;) {
    {
      std::lock_guard<runtime::Mutex> lock(g_weak_mu);
      if (alloc::Special* sp =
              alloc::FindSpecial(s, p, alloc::SpecialKind::kWeakHandle)) {
        return static_cast<WeakSpecial*>(sp)->cell;
      }
    }
    // The object has no cell yet: make one. The allocation may collect;
    // the caller keeps the target alive.
    // Not from the tiny allocator: a cell sharing a 16-byte block with a
    // tiny target would keep the block, and so the target, alive forever
    // (marking the cell marks its block). The tiny allocator takes only
    // pointer-free objects with trivial destructors, so the cell is
    // allocated as if its destructor were not trivial (it has none to
    // run: kWeakCellType's destroy is null), which puts it in its own slot
    // of the 8-byte pointer-free class.
    static_assert(sizeof(WeakCell) == 8);
    auto* cell = static_cast<WeakCell*>(
        alloc::AllocateFixed<sizeof(WeakCell), alignof(WeakCell),
                             /*kPointerFree=*/true,
                             /*kTrivialDtor=*/false>(&kWeakCellType));
    cell->target.store(p, std::memory_order_relaxed);
    auto* w = new WeakSpecial;
    w->kind = alloc::SpecialKind::kWeakHandle;
    w->cell = cell;
    w->object = p;
    // From here to the link there is no safepoint, so no marking can miss
    // the new cell, which only this thread's stack knows.
    std::lock_guard<runtime::Mutex> lock(g_weak_mu);
    if (alloc::AddSpecial(s, p, w)) {
      LinkLocked(w);
      return cell;
    }
    delete w;  // another thread made one first; this cell is garbage
  }
}

void ForEachWeakCell(void (*visit)(void* context, uintptr_t cell),
                     void* context) {
  std::lock_guard<runtime::Mutex> lock(g_weak_mu);
  for (WeakSpecial* w = g_weak_list; w != nullptr; w = w->next) {
    visit(context, reinterpret_cast<uintptr_t>(w->cell));
  }
}

uint64_t ClearDeadWeakRefs() {
  uint64_t cleared = 0;
  std::lock_guard<runtime::Mutex> lock(g_weak_mu);
  for (WeakSpecial* w = g_weak_list; w != nullptr;) {
    WeakSpecial* next = w->next;
    if (!IsMarkedObject(w->object)) {
      w->cell->target.store(0, std::memory_order_relaxed);
      alloc::Span* s = alloc::SpanOf(reinterpret_cast<void*>(w->object));
      GC_CHECK(s != nullptr &&
               "a weak reference's target is in the heap until it is swept");
      alloc::Special* taken =
          alloc::RemoveSpecial(s, w->object, alloc::SpecialKind::kWeakHandle);
      GC_CHECK(taken == w && "every live weak special is on its span's list");
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
  w->cell->target.store(0, std::memory_order_relaxed);
  {
    std::lock_guard<runtime::Mutex> lock(g_weak_mu);
    UnlinkLocked(w);
  }
  delete w;
}

uint64_t WeakSpecialCount() {
  std::lock_guard<runtime::Mutex> lock(g_weak_mu);
  return g_weak_count;
}

}  // namespace gc::internal
