// See quarantine.h.
#include "gc/quarantine.h"

#include <cstring>
#include <string>
#include <unordered_map>

#include "alloc/heap.h"
#include "gc/marker.h"
#include "runtime/check.h"

namespace gc::internal {

std::atomic<uint64_t> g_reclaimed{0};

namespace {

constexpr unsigned char kPoison = 0xdb;  // as gc::free's quarantine

// Atomic, relaxed: the configuration stores, sweeps load.
std::atomic<bool> g_on{kReclaimQuarantineDefault};

struct Entry {
  const alloc::TypeInfo* type;
  uint64_t cycle;
};

struct Quarantine {
  runtime::Mutex mu;
  // Object start -> what it was. Guarded by mu; read unlocked with the
  // world stopped, when no sweep runs (the next cycle's sweep termination
  // finished them all).
  std::unordered_map<uintptr_t, Entry> objects GCRT_GUARDED_BY(mu);
  // The cycle whose sweep is running. Written with the world stopped;
  // read by sweeps, which begin after the world restarts.
  uint64_t sweep_cycle = 0;
};
Quarantine& g_q = *new Quarantine;  // lives for the process

// The start of the slot of an in-use span holding p, or 0.
uintptr_t SlotStart(const void* p, alloc::Span** span) {
  alloc::Span* s = alloc::SpanOf(p);
  if (s == nullptr) return 0;
  uint32_t slot = s->SlotIndex(reinterpret_cast<uintptr_t>(p));
  if (slot >= s->nelems) return 0;
  if (span != nullptr) *span = s;
  return s->SlotAddress(slot);
}

std::optional<ReclaimedObject> Lookup(uintptr_t start)
    GCRT_NO_THREAD_SAFETY_ANALYSIS {
  auto it = g_q.objects.find(start);
  if (it == g_q.objects.end()) return std::nullopt;
  return ReclaimedObject{start, it->second.type, it->second.cycle};
}

}  // namespace

void SetReclaimQuarantine(bool on) {
  g_on.store(on, std::memory_order_relaxed);
}
bool ReclaimQuarantineOn() { return g_on.load(std::memory_order_relaxed); }

void SetSweepCycle(uint64_t cycle) { g_q.sweep_cycle = cycle; }

void QuarantineDead(const alloc::SweepClaim& claim, bool put_in,
                    std::vector<uint32_t>* in) {
  alloc::Span* s = claim.span();
  in->clear();
  runtime::MutexLock lock(&g_q.mu);
  const bool any_in = !g_q.objects.empty();
  for (uint32_t w = 0; w < s->nwords; w++) {
    uint64_t dead = s->alloc_bits[w] & ~s->mark_bits[w];
    for (; dead != 0; dead &= dead - 1) {
      const uint32_t bit = static_cast<uint32_t>(__builtin_ctzll(dead));
      const uint32_t slot = w * 64 + bit;
      const uintptr_t obj = s->SlotAddress(slot);
      if (any_in && g_q.objects.erase(obj) != 0) continue;  // its cycle is up
      in->push_back(slot);
      if (!put_in) continue;
      g_q.objects.emplace(obj, Entry{s->types.Get(slot), g_q.sweep_cycle});
      s->mark_bits[w] |= uint64_t{1} << bit;  // kept: SwapSweptBits
    }
  }
  g_reclaimed.store(g_q.objects.size(), std::memory_order_relaxed);
}

void Poison(alloc::Span* s, uint32_t slot) {
  void* obj = reinterpret_cast<void*>(s->SlotAddress(slot));
  std::memset(obj, kPoison, s->slot_bytes());
  GCRT_ASAN_POISON(obj, s->slot_bytes());
}

std::optional<ReclaimedObject> FindReclaimed(const void* p) {
  if (g_reclaimed.load(std::memory_order_relaxed) == 0) return std::nullopt;
  uintptr_t start = SlotStart(p, nullptr);
  if (start == 0) return std::nullopt;
  runtime::MutexLock lock(&g_q.mu);
  return Lookup(start);
}

std::optional<ReclaimedObject> FindReclaimedWorldStopped(const void* p) {
  uintptr_t start = SlotStart(p, nullptr);
  if (start == 0) return std::nullopt;
  return Lookup(start);
}

void ReportUseAfterReclaim(const void* p, const ReclaimedObject& r,
                           const char* what) {
  runtime::Print(
      "use after reclaim: %s %p, in the object at %#lx (type %s), which "
      "collection %lu found unreachable and reclaimed (its destructor has "
      "run). Something kept a pointer the collector does not see: a "
      "gc::Ptr or raw pointer on the stack with stack scanning off "
      "(GCRT_STACK_SCAN=off), a pointer in C++ heap memory (hold it in a "
      "gc::Global, a root set, or a GC object), or a field its type's "
      "trace() does not visit. Keep the object in a gc::Root, or reachable "
      "from one, for as long as it is used.",
      what, p, static_cast<unsigned long>(r.start),
      r.type != nullptr ? r.type->name : "?",
      static_cast<unsigned long>(r.cycle));
  GCRT_FATAL("no object the collector reclaimed is used or reachable");
}

namespace {

// Not instrumented for ThreadSanitizer: the byte belongs to the user's
// object, which another thread may be writing; a stale read only decides
// whether to look p up.
__attribute__((no_sanitize("thread"))) bool LooksPoisoned(const void* p) {
#if GCRT_ASAN
  return __asan_address_is_poisoned(p) != 0;
#else
  return *static_cast<const volatile unsigned char*>(p) == kPoison;
#endif
}

}  // namespace

// Not analysed: the lock is held across the fork, from one to the other.
void LockReclaimedForFork() GCRT_NO_THREAD_SAFETY_ANALYSIS { g_q.mu.lock(); }
void UnlockReclaimedAfterFork() GCRT_NO_THREAD_SAFETY_ANALYSIS {
  g_q.mu.unlock();
}

void CheckReclaimedUnmarked() GCRT_NO_THREAD_SAFETY_ANALYSIS {
  if (g_reclaimed.load(std::memory_order_relaxed) == 0) return;
  for (const auto& [start, e] : g_q.objects) {
    if (IsMarkedObject(start)) {
      ReportUseAfterReclaim(reinterpret_cast<const void*>(start),
                            ReclaimedObject{start, e.type, e.cycle},
                            "a root or a traced field reached");
    }
  }
}

void CheckNotReclaimed(const void* p, const char* what) {
  if (p == nullptr || !LooksPoisoned(p)) return;
  if (std::optional<ReclaimedObject> r = FindReclaimed(p)) {
    ReportUseAfterReclaim(p, *r, what);
  }
}

std::string ReclaimedNote(const void* p) {
  std::optional<ReclaimedObject> r = FindReclaimed(p);
  if (!r) return "";
  return std::string(" (the collector reclaimed the object of type ") +
         (r->type != nullptr ? r->type->name : "?") + ": collection " +
         std::to_string(r->cycle) + " found it unreachable)";
}

}  // namespace gc::internal
