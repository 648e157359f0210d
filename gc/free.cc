// See free.h.
#include "gcrt/gc/free.h"

#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_set>

#include "gcrt/alloc/heap.h"
#include "gcrt/gc/barrier.h"
#include "gcrt/gc/finalizer.h"
#include "gcrt/gc/marker.h"
#include "gcrt/gc/quarantine.h"
#include "gcrt/gc/sweeper.h"
#include "gcrt/runtime/check.h"
#include "gcrt/runtime/mutex.h"
#include "gcrt/runtime/safepoint.h"

namespace gc::internal {

std::atomic<uint64_t> g_quarantined{0};

namespace {

constexpr unsigned char kPoison = 0xdb;

struct Quarantine {
  runtime::Mutex mu;
  // Object starts, guarded by mu (the marker reads them unlocked with the
  // world stopped, when no thread can change them).
  // objects: freed since the last mark termination.
  // ending: kept by a mark termination and handed on to be freed
  //   (FreeQuarantined) with the world running; each stays quarantined
  //   until its slot is freed, and every termination until then keeps it.
  // marking: freed while a cycle marked beside the program (in every
  //   build): destroyed, their slots kept (a marker may be reading them)
  //   until that cycle's termination puts them with `objects`. The marker
  //   may have marked them before they were freed: not reported.
  std::unordered_set<uintptr_t> objects GCRT_GUARDED_BY(mu);
  std::unordered_set<uintptr_t> ending GCRT_GUARDED_BY(mu);
  std::unordered_set<uintptr_t> marking GCRT_GUARDED_BY(mu);

  bool Contains(uintptr_t p) const GCRT_REQUIRES(mu) {
    return objects.count(p) != 0 || ending.count(p) != 0 ||
           marking.count(p) != 0;
  }
  void Count() GCRT_REQUIRES(mu) {
    g_quarantined.store(objects.size() + ending.size() + marking.size(),
                        std::memory_order_relaxed);
  }
};
Quarantine& g_quarantine = *new Quarantine;  // lives for the process

// The in-use span holding p, validated as the start of one of its objects;
// throws std::invalid_argument otherwise. A piece of a tiny block is
// returned as it is (its block is the slot).
[[noreturn]] void ThrowNotLive(uintptr_t p);

alloc::Span* ObjectSpan(uintptr_t p, uint32_t* slot) {
  alloc::Span* s = alloc::SpanOf(reinterpret_cast<void*>(p));
  if (s == nullptr) {
    // Heap pages no in-use span covers held objects once: the collector
    // or a free gave their span back.
    if (alloc::Heap::Get().pages().Lookup(p) != nullptr) ThrowNotLive(p);
    throw std::invalid_argument("gcrt: gc::free of " + alloc::HexAddress(p) +
                                ": not an object of the GC heap");
  }
  *slot = s->SlotIndex(p);
  if (*slot >= s->nelems) {
    throw std::invalid_argument("gcrt: gc::free of " + alloc::HexAddress(p) +
                                ": points into the unused tail of a span");
  }
  if (s->span_class == alloc::kTinySpanClass) return s;
  if (s->SlotAddress(*slot) != p) {
    throw std::invalid_argument(
        "gcrt: gc::free of " + alloc::HexAddress(p) +
        ": interior pointer into the object at " +
        alloc::HexAddress(s->SlotAddress(*slot)) +
        " (free the object through the pointer gc::make returned)");
  }
  return s;
}

[[noreturn]] void ThrowNotLive(uintptr_t p) {
  throw std::invalid_argument(
      "gcrt: gc::free of " + alloc::HexAddress(p) +
      ": not a live object (freed already, or reclaimed by the collector "
      "because it was unreachable)" +
      ReclaimedNote(reinterpret_cast<const void*>(p)));
}

}  // namespace

void DestroyRecordedType(void*) {
  GCRT_THROW("DestroyRecordedType is a marker, never called");
}

void FreeObject(void* object, void (*destroy)(void*), bool quarantine) {
  if (object == nullptr) return;
  if (runtime::InBlockingRegion()) {
    throw std::logic_error(
        "gcrt: gc::free inside a blocking region (gc::Blocking): the world "
        "may be stopped while this thread runs; free before entering the "
        "region or after leaving it");
  }
  if (InSweepDestructor()) {
    // What a dead object refers to is dead too (the same sweep destroys
    // it), or referred to from elsewhere (freeing it is a use after free).
    throw std::logic_error(
        "gcrt: gc::free inside a destructor the collector runs (a dead "
        "object's, or a finalizer's captures being released): an object "
        "only the dead object refers to is reclaimed by the collector "
        "anyway; free nothing from there");
  }
  if (runtime::CurrentProcessor() == nullptr) alloc::AttachCurrentThread();
  auto p = reinterpret_cast<uintptr_t>(object);
  uint32_t slot;
  alloc::Span* s = ObjectSpan(p, &slot);
  const uint32_t offset = static_cast<uint32_t>(p - s->base);
  if (s->span_class == alloc::kTinySpanClass) {
    // A piece of a tiny block: its block lives while any piece may.
    alloc::ReleaseSpecials(alloc::TakeSpecials(s, offset));
    return;
  }
  // Swept first (Go's ensureSwept), so the allocation bits tell whether the
  // object is live: in an unswept span a dead object still reads allocated,
  // and its sweep would destroy it a second time. From the check to the
  // end the world cannot stop (a no-stop region: the destructor may not
  // block, and reaches no safepoint), so no cycle changes what it found.
  std::optional<runtime::NoStopRegion> no_stop;
  bool swept_here = false;
  for (;;) {
    no_stop.emplace();
    if (Sweeper::Swept(s)) break;
    // Sweeping may run destructors that stop (they may block), so outside
    // the region, and checked again inside it.
    no_stop.reset();
    Sweeper::Get().EnsureSwept(s);
    swept_here = true;
  }
  // A sweep here may have freed the span, whose record may serve another
  // span since; a span swept before holds its live objects in place.
  if ((swept_here && alloc::SpanOf(object) != s) ||
      s->state.load(std::memory_order_acquire) != alloc::SpanState::kInUse ||
      !alloc::SlotAllocatedAsSeen(s, slot)) {
    ThrowNotLive(p);  // the sweep freed it (and maybe its span)
  }
  // Kept allocated, destroyed, by the quarantine of reclaimed objects.
  if (FindReclaimed(object)) ThrowNotLive(p);
  // A cycle marking beside the program may be reading the object: its slot
  // is kept until that cycle's termination (the no-stop region keeps the
  // cycle from ending meanwhile), and not poisoned.
  const bool marking = g_write_barrier.load(std::memory_order_relaxed);
  const bool poison = quarantine && !marking;
  quarantine |= marking;
  if (quarantine) {
    // In quarantine before its destructor runs: a second gc::free of it,
    // on any thread, is a double free from here on. Checked again under the
    // lock, which FreeQuarantined holds while it frees a slot.
    runtime::MutexLock lock(&g_quarantine.mu);
    if (g_quarantine.Contains(p)) {
      throw std::invalid_argument("gcrt: double free of " +
                                  alloc::HexAddress(p) +
                                  ": it was freed with gc::free already");
    }
    if (!alloc::SlotAllocatedAsSeen(s, slot)) ThrowNotLive(p);
    (marking ? g_quarantine.marking : g_quarantine.objects).insert(p);
    g_quarantine.Count();
  }
  // Its weak references read null before the destructor runs, so no other
  // thread reaches it through them midway. Its finalizer is dropped now
  // too, but released (its function's captures destroyed: they may do
  // anything, collect included) only once the free is complete; its
  // cleanups are queued then, after the destructor, as the sweep queues
  // those of an object it reclaims (gc/finalizer.h).
  alloc::Special* after_free = nullptr;
  for (alloc::Special* sp = alloc::TakeSpecials(s, offset); sp != nullptr;) {
    alloc::Special* next = sp->next;
    sp->next = nullptr;
    if (sp->kind == alloc::SpecialKind::kFinalizer ||
        sp->kind == alloc::SpecialKind::kCleanup) {
      sp->next = after_free;
      after_free = sp;
    } else {
      alloc::ReleaseSpecials(sp);
    }
    sp = next;
  }
  ForgetFinalizerRoot(p);
  if (destroy == &DestroyRecordedType) {
    const alloc::TypeInfo* t = s->types.Get(slot);
    destroy = t != nullptr ? t->destroy : nullptr;
  }
  if (destroy != nullptr) RunDestructor(destroy, object);
  if (quarantine) {
    if (poison) {
      std::memset(object, kPoison, s->slot_bytes());
      GCRT_ASAN_POISON(object, s->slot_bytes());
    }
  } else if (s->large()) {
    alloc::Free(object);
  } else {
    alloc::FreeSmallSlot(s, slot);  // validated above, specials taken
  }
  no_stop.reset();
  alloc::ReleaseSpecials(after_free);
}

bool IsQuarantined(const void* p) {
  alloc::Span* s = alloc::SpanOf(p);
  if (s == nullptr) return false;
  uintptr_t start = s->SlotStart(reinterpret_cast<uintptr_t>(p));
  runtime::MutexLock lock(&g_quarantine.mu);
  return g_quarantine.Contains(start);
}

// Not analysed: reads the sets without their lock, which their writers
// (gc::free in its no-stop region, FreeQuarantined) hold on threads the
// world stops for and never across a safepoint.
bool IsQuarantinedWorldStopped(const void* p) GCRT_NO_THREAD_SAFETY_ANALYSIS {
  alloc::Span* s = alloc::SpanOf(p);
  if (s == nullptr) return false;
  const uintptr_t start = s->SlotStart(reinterpret_cast<uintptr_t>(p));
  return g_quarantine.objects.count(start) != 0 ||
         g_quarantine.ending.count(start) != 0;
}

// Not analysed: as IsQuarantinedWorldStopped.
bool FreedWhileMarkingWorldStopped(const void* p)
    GCRT_NO_THREAD_SAFETY_ANALYSIS {
  alloc::Span* s = alloc::SpanOf(p);
  if (s == nullptr) return false;
  return g_quarantine.marking.count(
             s->SlotStart(reinterpret_cast<uintptr_t>(p))) != 0;
}

void ReportUseAfterFree(const void* p, const char* what) {
  uintptr_t start = reinterpret_cast<uintptr_t>(p);
  const char* type = "?";
  if (alloc::Span* s = alloc::SpanOf(p)) {
    start = s->SlotStart(start);
    uint32_t slot = s->SlotIndex(start);
    if (slot < s->nelems) {
      if (const alloc::TypeInfo* t = s->types.Get(slot)) type = t->name;
    }
  }
  runtime::Print(
      "use after explicit free: %s the object at %#lx (type %s), which was "
      "freed with gc::free, or whose constructor threw in gc::make after "
      "storing `this` somewhere. Clear every reference to an object "
      "(fields, roots, root sets) before freeing it, or leave it to the "
      "collector; a constructor publishes `this` only once nothing after "
      "can throw.",
      what, static_cast<unsigned long>(start), type);
  GCRT_FATAL("no object freed with gc::free is used or reachable afterwards");
}

uint64_t EndQuarantine() {
  if (g_quarantined.load(std::memory_order_relaxed) == 0) return 0;
  runtime::MutexLock lock(&g_quarantine.mu);
  for (const auto* set : {&g_quarantine.objects, &g_quarantine.ending}) {
    for (uintptr_t p : *set) {
      if (IsMarkedObject(p)) {
        ReportUseAfterFree(reinterpret_cast<void*>(p),
                           "the collector found reachable");
      }
    }
  }
  // Every one is kept by this sweep: those an earlier collector has not
  // freed yet too (it frees them after this cycle, into swept spans).
  uint64_t bytes = 0;
  for (const auto* set :
       {&g_quarantine.objects, &g_quarantine.ending, &g_quarantine.marking}) {
    for (uintptr_t p : *set) bytes += MarkObjectAtTermination(p);
  }
  // Freed while this cycle marked: from now on as any freed object.
  g_quarantine.objects.merge(g_quarantine.marking);
  if (g_quarantine.ending.empty()) {
    g_quarantine.ending.swap(g_quarantine.objects);  // no allocation
  }
  return bytes;
}

void FreeQuarantined() {
  if (g_quarantined.load(std::memory_order_relaxed) == 0) return;
  for (;;) {
    uintptr_t p;
    {
      runtime::MutexLock lock(&g_quarantine.mu);
      if (g_quarantine.ending.empty()) return;
      p = *g_quarantine.ending.begin();
    }
    // Swept first, so freeing under the lock runs no sweep (no destructor).
    alloc::Span* s = alloc::SpanOf(reinterpret_cast<void*>(p));
    GCRT_CHECK(s != nullptr && "a quarantined object's span is in use");
    Sweeper::Get().EnsureSwept(s);
    // Out of quarantine and freed under the lock a second gc::free checks
    // under: it finds the object either quarantined or free, never neither.
    runtime::MutexLock lock(&g_quarantine.mu);
    if (g_quarantine.ending.count(p) == 0) continue;  // another thread did
    if (!Sweeper::Swept(s)) continue;  // a cycle came in between: again
    g_quarantine.ending.erase(p);
    g_quarantine.Count();
    try {
      alloc::Free(reinterpret_cast<void*>(p));
    } catch (const std::exception& e) {
      runtime::Print("freeing quarantined object %#lx failed: %s",
                     static_cast<unsigned long>(p), e.what());
      GCRT_THROW("a quarantined object is live until its collector frees it");
    }
  }
}

}  // namespace gc::internal
