// A span's sweep generation, and the claim that owns a span's sweep (after
// Go's mspan.sweepgen and sweepLocker/sweepLocked, mgcsweep.go). See
// alloc/heap.h for the allocator's overview and docs/design.md for the
// sweep protocol.
//
// The heap's generation h (Heap::sweepgen()) moves on by 2 at every mark
// termination, with the world stopped. A span's generation, read against h:
//
//   sg     state           meaning
//   h-2    kUnswept        marked by the last cycle, not yet swept
//   h-1    kSweeping       a sweeper holds a SweepClaim on it
//   h      kSwept          swept, on its Central's lists (or just carved)
//   h+1    kCachedUnswept  a Cache took it before the last mark termination;
//                          its owner sweeps it when it gives it back
//   h+3    kCachedSwept    swept, then taken by a Cache
//
// The flip (h += 2) turns kSwept into kUnswept and kCachedSwept into
// kCachedUnswept: nothing is written to any span. Every write is one of the
// named transitions below; each checks the state it starts from and stops
// the program naming both generations if the protocol was broken.
//
// Sweeping a span means running its dead objects' destructors and swapping
// its bits; only the holder of a SweepClaim may do it (the functions that
// sweep take one), so two threads can never sweep one span, and a sweep
// cannot forget to publish its result: a claim must end in Finish() or
// SpanFreed(), or its destructor stops the program.
#pragma once

#include <atomic>
#include <cstdint>

#include "gcrt/runtime/base.h"

namespace gc::alloc {

struct Span;
class SweepClaim;

class SweepGen {
 public:
  enum class State : uint8_t {
    kUnswept,
    kSweeping,
    kSwept,
    kCachedUnswept,
    kCachedSwept,
    // Any other value: a span record not in use (0), or a broken protocol.
    kInvalid,
  };
  static constexpr State StateOf(uint32_t sg, uint32_t h) {
    if (sg == h - 2) return State::kUnswept;
    if (sg == h - 1) return State::kSweeping;
    if (sg == h) return State::kSwept;
    if (sg == h + 1) return State::kCachedUnswept;
    if (sg == h + 3) return State::kCachedSwept;
    return State::kInvalid;
  }
  static const char* StateName(State state);

  // Loads acquire: a span seen swept has its sweep's writes visible.
  uint32_t Load() const { return gen_.load(std::memory_order_acquire); }
  State Of(uint32_t h) const { return StateOf(Load(), h); }
  // Swept, whether on a Central's lists or in a Cache.
  bool Swept(uint32_t h) const {
    State s = Of(h);
    return s == State::kSwept || s == State::kCachedSwept;
  }

  // ---- Transitions. h is the heap's generation, read by the caller. ----
  // A span just carved (small or large), before it is published: swept.
  void InitSwept(uint32_t h) { gen_.store(h, std::memory_order_relaxed); }
  // A span record going back to the page heap: no claim can succeed on it.
  void Clear() { gen_.store(0, std::memory_order_relaxed); }
  // kSwept -> kCachedSwept: a Cache takes it (under its Central lock).
  void Cache(uint32_t h) { Transition("Cache", h, State::kSwept, h + 3); }
  // kCachedSwept -> kSwept: given back by its Cache (under the Central lock).
  void UncacheSwept(uint32_t h) {
    Transition("UncacheSwept", h, State::kCachedSwept, h);
  }
  // kCachedUnswept -> kSwept: given back unswept with nothing allocated in
  // it, so there is nothing to sweep (its bits are a cycle old: the caller
  // frees it).
  void UncacheStaleEmpty(uint32_t h) {
    Transition("UncacheStaleEmpty", h, State::kCachedUnswept, h);
  }
  // kCachedUnswept -> kUnswept: given back unswept (an idle processor's
  // cache flushed by the collector); a sweeper will claim it.
  void UncacheStaleUnswept(uint32_t h) {
    Transition("UncacheStaleUnswept", h, State::kCachedUnswept, h - 2);
  }

 private:
  friend class SweepClaim;
  // Checks the current generation is `from` (relative to h), then stores
  // `to` (release).
  void Transition(const char* name, uint32_t h, State from, uint32_t to);
  [[noreturn]] static void BadTransition(const char* name, uint32_t sg,
                                         uint32_t h, State expected);

  // Atomic: kUnswept -> kSweeping only by CAS (SweepClaim::TryAcquire);
  // every other store by the span's current owner (its Cache, the holder of
  // its Central lock, the claim holder, or the page heap), release.
  std::atomic<uint32_t> gen_{0};
};

// Ownership of one span's sweep. Move-only; obtained only from TryAcquire
// (kUnswept -> kSweeping) or AcquireCachedStale (the owning Cache of a
// kCachedUnswept span, which keeps that state while it sweeps).
class SweepClaim {
 public:
  SweepClaim() = default;
  SweepClaim(SweepClaim&& other) noexcept
      : span_(other.span_), h_(other.h_), cached_(other.cached_) {
    other.span_ = nullptr;
  }
  SweepClaim& operator=(SweepClaim&& other) noexcept;
  SweepClaim(const SweepClaim&) = delete;
  SweepClaim& operator=(const SweepClaim&) = delete;
  ~SweepClaim() {
    if (GCRT_PREDICT_FALSE(span_ != nullptr)) Dropped();
  }

  // Claims s's sweep if it is kUnswept at generation h (CAS, acq_rel: the
  // winner sees the last cycle's mark bits). Empty if another thread has it
  // or it is not kUnswept.
  static SweepClaim TryAcquire(Span* s, uint32_t h);
  // The calling thread's Cache holds s, kCachedUnswept, and is giving it
  // back: only it can sweep s, and no CAS is needed.
  static SweepClaim AcquireCachedStale(Span* s, uint32_t h);

  explicit operator bool() const { return span_ != nullptr; }
  Span* span() const { return span_; }
  // The heap generation the claim was taken at.
  uint32_t heap_gen() const { return h_; }

  // The sweep is done and the span stays in use: kSweeping -> kSwept, or
  // for a cached claim kCachedUnswept -> kCachedSwept (release: whoever
  // sees the new state sees the swept bits).
  void Finish() &&;
  // The sweep freed the span (its record went back to the page heap, which
  // cleared the generation): the claim ends without a store.
  void SpanFreed() &&;

  // Claims taken by TryAcquire and not yet ended (Go's sweep.active): the
  // collector waits for none to be left before the heap's generation
  // moves (Sweeper::Finish), without a walk of the span records. Atomic:
  // incremented by every claimant before its CAS (a loser takes its count
  // back), decremented (release) after the claim's last store.
  static uint64_t InFlight() {
    return in_flight_.n.load(std::memory_order_acquire);
  }

 private:
  SweepClaim(Span* s, uint32_t h, bool cached)
      : span_(s), h_(h), cached_(cached) {}
  [[noreturn]] GCRT_NOINLINE void Dropped();

  Span* span_ = nullptr;
  uint32_t h_ = 0;
  bool cached_ = false;
  // Alone on its cache line: every sweeping thread writes it twice per
  // span, and the variables the linker placed beside it (the heap's
  // guard, g_allocate_black) are read on every allocation slow path; the
  // shared line cost about 8% of a two-thread allocation loop's CPU.
  struct alignas(64) Counter {
    std::atomic<uint64_t> n{0};
  };
  static Counter in_flight_;
};

}  // namespace gc::alloc
