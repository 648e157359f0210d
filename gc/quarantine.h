// The quarantine of reclaimed objects: a debug detector for pointers the
// collector could not see (a gc::Ptr local with stack scanning off, a raw
// pointer kept past its object's last root, a field a trace function
// missed). See gc/collector.h for the overview.
//
// When it is on (GCRT_DEBUG=quarantine=1, or zeal; on by default in debug
// builds, GCRT_DEBUG_LEVEL >= 2), the sweep that finds an object dead runs
// its destructor and releases its specials as always, but then poisons its
// slot (0xdb bytes, and for AddressSanitizer) and keeps the slot allocated
// (it sets the slot's mark bit) for one more cycle, recording the object's
// type and the cycle that found it unreachable. Until the next cycle's
// sweep frees the slot:
//   - a dereference through a gc::Ptr or handle (debug builds), rooting it,
//     a weak reference or finalizer for it, or gc::free of it, is reported
//     with its type and that cycle;
//   - a cycle that reaches it through a precise reference (a root or a
//     traced field set from a dangling pointer) stops the program naming
//     it; a conservative reference (a stack word) is ignored, as for a free
//     slot.
// Memory cost: dead objects occupy their slots for one cycle more (and the
// pacer does not count them: the heap grows past its goal by them). Time:
// the poison's memset per dead object, and a lock and a hash-table update
// per span swept (a bit per slot, one cycle number per span: a span is
// swept once per cycle).
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gcrt/alloc/sweepgen.h"
#include "gcrt/alloc/type_info.h"
#include "gcrt/runtime/base.h"
#include "gcrt/runtime/mutex.h"

namespace gc::internal {

// Whether sweeps quarantine what they reclaim. Atomic, relaxed: set by the
// configuration (any thread); a sweep reads it once per span.
void SetReclaimQuarantine(bool on);
bool ReclaimQuarantineOn();
// The build's default: on in debug builds of the library.
constexpr bool kReclaimQuarantineDefault = GCRT_DEBUG_LEVEL >= 2;

// Objects in the quarantine. Atomic: stored under its lock, read relaxed;
// only a hint that it is not empty.
extern std::atomic<uint64_t> g_reclaimed;
// Whether a sweep ever poisoned a reclaimed object's slot: from then on,
// debug builds' dereferences look for poison (CheckNotReclaimed), which a
// freed slot keeps until an allocation reuses it. Atomic, relaxed: set
// once, by a sweep.
extern std::atomic<bool> g_poisoned;

struct ReclaimedObject {
  uintptr_t start;              // the object's address
  const alloc::TypeInfo* type;  // null: untyped (a tiny block)
  uint64_t cycle;               // the cycle (gc::Stats::num_gc) that found it
};

// Mark termination, world stopped: the sweep that follows belongs to cycle
// number `cycle` (counted from 1, as gctrace's "gc N").
void SetSweepCycle(uint64_t cycle) GCRT_REQUIRES(runtime::kWorldStopped);

// The sweep of the claimed span, between its marking and SwapSweptBits,
// when the quarantine is on or not empty: for its dead slots (allocated,
// unmarked), takes those quarantined by an earlier cycle out of the
// quarantine (they stay unmarked: SwapSweptBits frees them; their
// destructors ran) and returns the others in *dead, for the caller to
// destroy; if `put_in`, it puts those in the quarantine, marking them so
// their slots are kept, and the caller Poisons each once destroyed.
// Allocates.
void QuarantineDead(const alloc::SweepClaim& claim, bool put_in,
                    std::vector<uint32_t>* dead);
// Fills a destroyed object's slot with poison.
void Poison(alloc::Span* s, uint32_t slot);

// The quarantined object containing p, if any (takes the lock).
std::optional<ReclaimedObject> FindReclaimed(const void* p);
// The same, unlocked, with the world stopped (no sweep runs then).
std::optional<ReclaimedObject> FindReclaimedWorldStopped(const void* p)
    GCRT_REQUIRES(runtime::kWorldStopped);
GCRT_ALWAYS_INLINE bool MaybeReclaimedWorldStopped(const void* p)
    GCRT_REQUIRES(runtime::kWorldStopped) {
  return GCRT_PREDICT_FALSE(g_reclaimed.load(std::memory_order_relaxed) != 0) &&
         FindReclaimedWorldStopped(p).has_value();
}

// Fork support (gc/fork.h): the quarantine's lock across a fork (a sweep
// on a thread the world does not stop may hold it).
void LockReclaimedForFork();
void UnlockReclaimedAfterFork();

// Mark termination, world stopped, after marking: stops the program if a
// quarantined object was marked (a precise reference reached it; a
// conservative one never marks it).
void CheckReclaimedUnmarked() GCRT_REQUIRES(runtime::kWorldStopped);

// Debug builds' dereference check: stops the program (ReportUseAfterReclaim)
// if p points into a quarantined object, or into a free slot that still
// holds the poison of the object reclaimed there (past its cycle in the
// quarantine, until an allocation reuses the slot). Only objects whose
// first byte at p reads as poison (for AddressSanitizer: is poisoned) are
// looked up.
void CheckNotReclaimed(const void* p, const char* what);

// Stops the program: `what` (e.g. "dereferenced") reached the reclaimed
// object r through the pointer p.
[[noreturn]] void ReportUseAfterReclaim(const void* p, const ReclaimedObject& r,
                                        const char* what);
// " (the collector reclaimed it: found unreachable by cycle N)" for an
// error message, or "" if p is not in the quarantine.
std::string ReclaimedNote(const void* p);

}  // namespace gc::internal
