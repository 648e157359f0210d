// See free.h.
#include "gc/free.h"

#include <cstdio>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_set>

#include "alloc/heap.h"
#include "gc/marker.h"
#include "gc/sweeper.h"
#include "runtime/check.h"
#include "runtime/mutex.h"
#include "runtime/safepoint.h"

namespace gc::internal {

std::atomic<uint64_t> g_quarantined{0};

namespace {

constexpr unsigned char kPoison = 0xdb;

struct Quarantine {
  runtime::Mutex mu;
  // Object starts. Guarded by mu; the collector reads it with the world
  // stopped (under mu too).
  std::unordered_set<uintptr_t> objects GC_GUARDED_BY(mu);
};
Quarantine& g_quarantine = *new Quarantine;  // lives for the process

// The start of the object of span s holding p.
uintptr_t ObjectStart(const alloc::Span* s, uintptr_t p) {
  return s->SlotAddress(s->SlotIndex(p));
}

size_t ObjectBytes(const alloc::Span* s) {
  return s->large() ? size_t{s->npages} << alloc::kPageShift : s->elem_size;
}

}  // namespace

void FreeObject(void* object, void (*destroy)(void*), bool quarantine) {
  if (object == nullptr) return;
  if (runtime::InBlockingRegion()) {
    throw std::logic_error(
        "gcrt: gc::free inside a blocking region (gc::Blocking): the world "
        "may be stopped while this thread runs; free before entering the "
        "region or after leaving it");
  }
  if (runtime::CurrentProcessor() == nullptr) alloc::AttachCurrentThread();
  auto p = reinterpret_cast<uintptr_t>(object);
  alloc::Span* s = alloc::SpanOf(object);
  if (s == nullptr) {
    throw std::invalid_argument("gcrt: gc::free of " + alloc::HexAddress(p) +
                                ": not an object of the GC heap");
  }
  uint32_t slot = s->SlotIndex(p);
  if (slot >= s->nelems) {
    throw std::invalid_argument("gcrt: gc::free of " + alloc::HexAddress(p) +
                                ": points into the unused tail of a span");
  }
  const uint32_t offset = static_cast<uint32_t>(p - s->base);
  if (s->span_class == alloc::kTinySpanClass) {
    // A piece of a tiny block: its block lives while any piece may.
    alloc::ReleaseSpecials(alloc::TakeSpecials(s, offset));
    return;
  }
  if (s->SlotAddress(slot) != p) {
    throw std::invalid_argument(
        "gcrt: gc::free of " + alloc::HexAddress(p) +
        ": interior pointer into the object at " +
        alloc::HexAddress(s->SlotAddress(slot)) +
        " (free the object through the pointer gc::make returned)");
  }
  if (quarantine) {
    std::lock_guard<runtime::Mutex> lock(g_quarantine.mu);
    if (g_quarantine.objects.count(p) != 0) {
      throw std::invalid_argument("gcrt: double free of " +
                                  alloc::HexAddress(p) +
                                  ": it was freed with gc::free already");
    }
    if (!alloc::SlotAllocatedAsSeen(s, slot)) {
      throw std::invalid_argument(
          "gcrt: gc::free of " + alloc::HexAddress(p) +
          ": not a live object (freed already, or reclaimed by the collector "
          "because it was unreachable)");
    }
  }
  if (destroy != nullptr) RunDestructor(destroy, object);
  if (!quarantine) {
    alloc::Free(object);  // releases its specials too
    return;
  }
  alloc::ReleaseSpecials(alloc::TakeSpecials(s, offset));
  std::memset(object, kPoison, ObjectBytes(s));
  std::lock_guard<runtime::Mutex> lock(g_quarantine.mu);
  g_quarantine.objects.insert(p);
  g_quarantined.fetch_add(1, std::memory_order_relaxed);
}

bool IsQuarantined(const void* p) {
  alloc::Span* s = alloc::SpanOf(p);
  if (s == nullptr) return false;
  uintptr_t start = ObjectStart(s, reinterpret_cast<uintptr_t>(p));
  std::lock_guard<runtime::Mutex> lock(g_quarantine.mu);
  return g_quarantine.objects.count(start) != 0;
}

void ReportUseAfterFree(const void* p, const char* what) {
  uintptr_t start = reinterpret_cast<uintptr_t>(p);
  const char* type = "?";
  if (alloc::Span* s = alloc::SpanOf(p)) {
    start = ObjectStart(s, start);
    uint32_t slot = s->SlotIndex(start);
    if (slot < s->nelems) {
      if (const alloc::TypeInfo* t = s->types.Get(slot)) type = t->name;
    }
  }
  runtime::Print(
      "use after explicit free: %s the object at %#lx (type %s), which was "
      "freed with gc::free. Clear every reference to an object (fields, "
      "roots, root sets) before freeing it, or leave it to the collector.",
      what, static_cast<unsigned long>(start), type);
  GC_THROW("no object freed with gc::free is used or reachable afterwards");
}

void EndQuarantine(std::vector<uintptr_t>* to_free) {
  if (g_quarantined.load(std::memory_order_relaxed) == 0) return;
  std::lock_guard<runtime::Mutex> lock(g_quarantine.mu);
  for (uintptr_t p : g_quarantine.objects) {
    if (IsMarkedObject(p)) {
      ReportUseAfterFree(reinterpret_cast<void*>(p),
                         "the collector found reachable");
    }
  }
  for (uintptr_t p : g_quarantine.objects) {
    MarkObjectAtTermination(p);  // the sweep keeps the slot; freed below
    to_free->push_back(p);
  }
  g_quarantine.objects.clear();
  g_quarantined.store(0, std::memory_order_relaxed);
}

void FreeQuarantined(const std::vector<uintptr_t>& to_free) {
  for (uintptr_t p : to_free) alloc::Free(reinterpret_cast<void*>(p));
}

}  // namespace gc::internal
