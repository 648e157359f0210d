// See quarantine.h.
#include "gcrt/gc/quarantine.h"

#include <bit>
#include <cstring>
#include <string>
#include <unordered_map>

#include "gcrt/alloc/heap.h"
#include "gcrt/gc/marker.h"
#include "gcrt/runtime/check.h"

namespace gc::internal {

std::atomic<uint64_t> g_reclaimed{0};
std::atomic<bool> g_poisoned{false};

namespace {

constexpr unsigned char kPoison = 0xdb;  // as gc::free's quarantine
constexpr uintptr_t kPoisonWord = 0xdbdbdbdbdbdbdbdbULL;  // kPoison bytes

// Atomic, relaxed: the configuration stores, sweeps load.
std::atomic<bool> g_on{kReclaimQuarantineDefault};

// One span's quarantined objects: all from one cycle, since a span is
// swept once per cycle and each sweep replaces the last one's.
struct SpanEntry {
  uint64_t cycle;
  std::vector<uint64_t> slots;  // a bit per slot
  uint32_t count;               // bits set
};

struct Quarantine {
  runtime::Mutex mu;
  // In-use span -> its quarantined objects. Guarded by mu; read unlocked
  // with the world stopped, when no sweep runs (the next cycle's sweep
  // termination finished them all). A span with an entry holds allocated
  // slots, so it is not freed (nor its record reused) before a sweep
  // erases the entry.
  std::unordered_map<const alloc::Span*, SpanEntry> spans GCRT_GUARDED_BY(mu);
  uint64_t objects GCRT_GUARDED_BY(mu) = 0;
  // The cycle whose sweep is running. Written with the world stopped;
  // read by sweeps, which begin after the world restarts.
  uint64_t sweep_cycle = 0;
};
Quarantine& g_q = *new Quarantine;  // lives for the process

// The quarantined object containing p, if any. Not analysed: callers hold
// mu, or have the world stopped.
std::optional<ReclaimedObject> Lookup(const void* p)
    GCRT_NO_THREAD_SAFETY_ANALYSIS {
  alloc::Span* s = alloc::SpanOf(p);
  if (s == nullptr) return std::nullopt;
  const uint32_t slot = s->SlotIndex(reinterpret_cast<uintptr_t>(p));
  if (slot >= s->nelems) return std::nullopt;
  auto it = g_q.spans.find(s);
  if (it == g_q.spans.end() ||
      (it->second.slots[slot / 64] & (uint64_t{1} << (slot % 64))) == 0) {
    return std::nullopt;
  }
  return ReclaimedObject{s->SlotAddress(slot), s->types.Get(slot),
                         it->second.cycle};
}

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

void SetReclaimQuarantine(bool on) {
  g_on.store(on, std::memory_order_relaxed);
}
bool ReclaimQuarantineOn() { return g_on.load(std::memory_order_relaxed); }

void SetSweepCycle(uint64_t cycle) { g_q.sweep_cycle = cycle; }

void QuarantineDead(const alloc::SweepClaim& claim, bool put_in,
                    std::vector<uint32_t>* dead) {
  alloc::Span* s = claim.span();
  dead->clear();
  SpanEntry fresh{0, {}, 0};
  runtime::MutexLock lock(&g_q.mu);
  auto it = g_q.spans.find(s);
  const SpanEntry* last = it != g_q.spans.end() ? &it->second : nullptr;
  for (uint32_t w = 0; w < s->nwords; w++) {
    uint64_t dying = s->alloc_bits[w] & ~s->mark_bits[w];
    // Those of the last cycle leave: destroyed then, freed now.
    if (last != nullptr) dying &= ~last->slots[w];
    if (dying == 0) continue;
    for (uint64_t d = dying; d != 0; d &= d - 1) {
      dead->push_back(w * 64 + static_cast<uint32_t>(__builtin_ctzll(d)));
    }
    if (!put_in) continue;
    if (fresh.slots.empty()) fresh.slots.assign(s->nwords, 0);
    fresh.slots[w] = dying;
    fresh.count += static_cast<uint32_t>(std::popcount(dying));
    s->mark_bits[w] |= dying;  // kept: SwapSweptBits
  }
  if (last != nullptr) {
    g_q.objects -= last->count;
    g_q.spans.erase(it);
  }
  if (fresh.count != 0) {
    fresh.cycle = g_q.sweep_cycle;
    g_q.objects += fresh.count;
    g_q.spans.emplace(s, std::move(fresh));
  }
  g_reclaimed.store(g_q.objects, std::memory_order_relaxed);
}

void Poison(alloc::Span* s, uint32_t slot) {
  void* obj = reinterpret_cast<void*>(s->SlotAddress(slot));
  std::memset(obj, kPoison, s->slot_bytes());
  GCRT_ASAN_POISON(obj, s->slot_bytes());
  if (!g_poisoned.load(std::memory_order_relaxed)) {
    g_poisoned.store(true, std::memory_order_relaxed);
  }
}

std::optional<ReclaimedObject> FindReclaimed(const void* p) {
  if (g_reclaimed.load(std::memory_order_relaxed) == 0) return std::nullopt;
  runtime::MutexLock lock(&g_q.mu);
  return Lookup(p);
}

std::optional<ReclaimedObject> FindReclaimedWorldStopped(const void* p) {
  return Lookup(p);
}

// Not analysed: the lock is held across the fork, from one to the other.
void LockReclaimedForFork() GCRT_NO_THREAD_SAFETY_ANALYSIS { g_q.mu.lock(); }
void UnlockReclaimedAfterFork() GCRT_NO_THREAD_SAFETY_ANALYSIS {
  g_q.mu.unlock();
}

void CheckReclaimedUnmarked() GCRT_NO_THREAD_SAFETY_ANALYSIS {
  if (g_reclaimed.load(std::memory_order_relaxed) == 0) return;
  for (const auto& [s, e] : g_q.spans) {
    for (uint32_t w = 0; w < e.slots.size(); w++) {
      for (uint64_t b = e.slots[w] & s->mark_bits[w]; b != 0; b &= b - 1) {
        const uint32_t slot =
            w * 64 + static_cast<uint32_t>(__builtin_ctzll(b));
        const uintptr_t start = s->SlotAddress(slot);
        ReportUseAfterReclaim(
            reinterpret_cast<const void*>(start),
            ReclaimedObject{start, s->types.Get(slot), e.cycle},
            "a root or a traced field reached");
      }
    }
  }
}

// The causes a use after reclaim has, for its messages.
constexpr const char* kUnseenPointer =
    "Something kept a pointer the collector does not see: a gc::Ptr or raw "
    "pointer on the stack with stack scanning off (GCRT_STACK_SCAN=off), a "
    "pointer in C++ heap memory (hold it in a gc::Global, a root set, or a "
    "GC object), a gc::Ptr in a global or static variable (make it a "
    "gc::Global) or captured by a lambda kept in a std::function, or a "
    "field its type's trace() does not visit. Keep the object in a "
    "gc::Root, or reachable from one, for as long as it is used.";

void ReportUseAfterReclaim(const void* p, const ReclaimedObject& r,
                           const char* what) {
  runtime::Print(
      "use after reclaim: %s %p, in the object at %#lx (type %s), which "
      "collection %lu found unreachable and reclaimed (its destructor has "
      "run). %s",
      what, p, static_cast<unsigned long>(r.start),
      alloc::TypeName(r.type).c_str(), static_cast<unsigned long>(r.cycle),
      kUnseenPointer);
  GCRT_FATAL("no object the collector reclaimed is used or reachable");
}

void CheckNotReclaimed(const void* p, const char* what) {
  if (p == nullptr) return;
  // A pointer read out of a poisoned object is the poison itself, an
  // address no process maps: reading through it to look for poison would
  // fault before the report.
  if (reinterpret_cast<uintptr_t>(p) == kPoisonWord) {
    runtime::Print(
        "use after reclaim: %s %p, a pointer read from an object the "
        "collector reclaimed (or gc::free freed): the address is the "
        "poison its memory was filled with, so the object holding this "
        "pointer was itself used after its reclamation. %s",
        what, p, kUnseenPointer);
    GCRT_FATAL("no object the collector reclaimed is used or reachable");
  }
  if (!LooksPoisoned(p)) return;
  if (std::optional<ReclaimedObject> r = FindReclaimed(p)) {
    ReportUseAfterReclaim(p, *r, what);
  }
  // Past its cycle in the quarantine: a free slot, or pages no span holds
  // any more, still poisoned. A slot another thread's cache may be reusing
  // reads as allocated: no report.
  const auto a = reinterpret_cast<uintptr_t>(p);
  const alloc::TypeInfo* type = nullptr;
  if (alloc::Span* s = alloc::SpanOf(p)) {
    const uint32_t slot = s->SlotIndex(a);
    if (slot >= s->nelems || alloc::SlotAllocatedAsSeen(s, slot)) return;
    type = s->types.Get(slot);
  } else if (alloc::Heap::Get().pages().Lookup(a) == nullptr) {
    return;  // not heap memory: not gcrt's poison
  }
  // The slot's type record outlives its object only in some spans.
  const std::string of_type =
      type != nullptr ? " (type " + alloc::TypeName(type) + ")" : "";
  runtime::Print(
      "use after reclaim: %s %p, in free GC heap memory that still holds "
      "the poison of an object reclaimed there%s by a collection before the "
      "last, or freed with gc::free; once an allocation reuses it, such a "
      "pointer reads the new object and nothing reports it. %s",
      what, p, of_type.c_str(), kUnseenPointer);
  GCRT_FATAL("no object the collector reclaimed is used or reachable");
}

std::string ReclaimedNote(const void* p) {
  std::optional<ReclaimedObject> r = FindReclaimed(p);
  if (!r) return "";
  return std::string(" (the collector reclaimed the object of type ") +
         alloc::TypeName(r->type) + ": collection " + std::to_string(r->cycle) +
         " found it unreachable)";
}

}  // namespace gc::internal
