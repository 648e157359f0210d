// The sweeper (seeds 000, 002, 003; Go's mgcsweep.go). Sweeping is lazy and
// concurrent: after mark termination the world restarts at once, and spans
// are swept as they are needed, by whoever needs them (see gc/collector.h
// for the overview):
//
//   - the owner of a Cache, for the spans it held across mark termination
//     (h+1), when it flushes on resume (Cache::ReleaseAll -> SweepCached);
//   - a Cache refilling a span class, which sweeps unswept spans of that
//     class, then spans of the walk until it finds some of that class with
//     free slots, before carving new ones (Central::Exchange -> SweepTaken,
//     SweepForRefill); the spans these sweeps empty stay with the class
//     for the refill rather than go back to the page heap;
//   - the page heap, before it grows by n pages: sweep until n pages came
//     back (Reclaim, seed 003's MHeap_Reclaim);
//   - allocation in proportion to its pace (Credit, before each refill,
//     keeping for it the refill's class's spans it empties), so that every
//     span is swept before the heap reaches the next trigger;
//   - the background sweeper thread, for the rest;
//   - the next cycle, which finishes whatever is left before it marks.
//
// A span is claimed by CAS of its sweepgen from h-2 to h-1, so exactly one
// thread sweeps it. Sweeping runs the destructors of its dead objects
// (allocated, unmarked), frees their specials, makes the mark bits the
// alloc bits (ANDed with the old ones), takes fresh mark bits, and files
// the span: partial, full, or back to the page heap when empty.
//
// Destructors run on whichever thread sweeps, with no lock held. They must
// not dereference gc::Ptr fields (the objects they point to may be dead
// already) or use the collector (allocate, collect, create handles); debug
// builds check, through InDestructor().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "gcrt/alloc/heap.h"
#include "gcrt/runtime/mutex.h"

namespace gc::internal {

// The in-use span of the live GC object starting at `object` (or of a
// tiny piece's block), swept in this cycle so its allocation bits say the
// object is live; for attaching specials (weak references, finalizers) to
// it. Throws std::invalid_argument for a pointer that is not an object's
// start, or an object already reclaimed (by the collector or gc::free);
// the latter goes unseen only in a span another thread's cache holds.
// The caller keeps `object` alive across the call (sweeping may run
// destructors, which may block and let a cycle run), and reaches no
// safepoint between the return and its use of the answer.
alloc::Span* SpanOfLiveObject(const void* object, const char* what);

class Sweeper {
 public:
  static Sweeper& Get();

  // With the world stopped, after the heap's sweepgen moved on: a new sweep
  // over every span record that exists now. Allocation of one page of
  // spans must pay for `pages_per_page` pages of sweeping (proportional
  // sweep).
  void Start(double pages_per_page) GCRT_REQUIRES(runtime::kWorldStopped);
  // Sweeps the next span of the walk if it is unswept; false once the walk
  // is over. Adds the pages it gave back to the page heap to *freed_pages.
  bool SweepOne(uint64_t* freed_pages = nullptr);
  // Sweeps everything left, and waits for sweeps in flight elsewhere.
  void Finish();
  // Returns once the in-use span s is swept in this cycle, or was freed by
  // its sweep (Go's mspan.ensureSwept): sweeps it here if nobody claimed
  // it, else waits for whoever did (a sweeper, or the owner of the cache
  // that holds it unswept, who sweeps it when it resumes). Only then do its
  // allocation bits say which objects are live. The caller reaches no
  // safepoint after it if it relies on that.
  void EnsureSwept(alloc::Span* s);
  // Whether s is swept in this cycle (or no longer in use).
  static bool Swept(const alloc::Span* s);
  // Whether the walk is over.
  bool WalkDone() const {
    return cursor_.load(std::memory_order_relaxed) >=
           limit_.load(std::memory_order_relaxed);
  }
  // Starts the background sweeper thread, unless it runs (the collector
  // calls it at the end of each cycle too, which starts a thread the
  // system refused before). `periodic`, if not null,
  // runs on it whenever it wakes: it runs the collector's forced cycle if
  // one is due, and returns when the next is due (steady_clock ns); the
  // thread sleeps until then or until Wake.
  void StartBackground(int64_t (*periodic)()) GCRT_EXCLUDES(mu_);
  // Tests: holds the background thread between sweeps (and returns once it
  // is there), or lets it go again.
  void PauseBackgroundForTesting(bool paused) GCRT_EXCLUDES(mu_);
  // Tests: called by SweepOne on the thread that took walk index `index`
  // of an in-use span, before it claims the span (null: none).
  static void SetAfterTakeHookForTesting(void (*hook)(size_t index));
  // Tests: called by the background thread in place of its yield, in the
  // same blocking region (null: yields).
  static void SetYieldHookForTesting(void (*hook)());
  // Wakes the background sweeper (a new sweep began).
  void Wake() GCRT_EXCLUDES(mu_);
  // Fork support (gc/fork.h): the background thread's lock across a fork
  // (it may hold it inside its blocking region). In the child the thread
  // is gone; StartBackground starts a new one.
  void LockForFork() GCRT_ACQUIRE(mu_) { mu_.lock(); }
  void UnlockAfterFork(bool child) GCRT_RELEASE(mu_);

  uint64_t spans_swept() const {
    return spans_swept_.load(std::memory_order_relaxed);
  }
  uint64_t objects_destroyed() const {
    return destroyed_.load(std::memory_order_relaxed);
  }

  // The allocator's hooks (alloc::Heap::CollectorHooks).
  static void SweepTaken(alloc::SweepClaim claim,
                         alloc::Central::Emptied emptied);
  static void SweepForRefill(alloc::SpanClass sc, size_t want);
  // SweepForRefill's budget: spans swept per call at most (Go's cacheSpan
  // sweeps at most 100).
  static constexpr int kRefillSweepBudget = 100;
  static uint32_t SweepCached(const alloc::SweepClaim& claim);
  static void Reclaim(uint32_t npages);
  static void Credit(alloc::SpanClass sc, size_t want);

 private:
  // Runs the destructors and frees the specials of the claimed span's dead
  // objects.
  void DestroyDead(const alloc::SweepClaim& claim);
  // DestroyDead's two halves: one dead object's destructor and specials
  // (true if a destructor ran), and the quarantine's sweep
  // (gc/quarantine.h).
  static bool DestroyOne(alloc::Span* s, uint32_t slot, bool destructors,
                         bool specials);
  void DestroyIntoQuarantine(const alloc::SweepClaim& claim, bool put_in,
                             bool destructors, bool specials);
  // A refill's sweep (SweepForRefill, Credit): up to `want` spans of its
  // class that the sweep empties stay on the Central's partial list for
  // it; `filed` counts those of its class filed partial.
  struct Refill {
    alloc::SpanClass span_class;
    size_t want;
    size_t filed = 0;
  };
  // Each ends the claim; SweepLarge returns whether the span went back to
  // the page heap.
  alloc::Central::Filed SweepTakenSmall(alloc::SweepClaim claim,
                                        alloc::Central::Emptied emptied);
  bool SweepLarge(alloc::SweepClaim claim);
  // Claims s (h-2 -> h-1) and sweeps it; false if it was not unswept.
  // Adds the pages it gave back to the page heap to *freed_pages; for a
  // refill (not null), keeps the emptied spans of its class.
  bool ClaimAndSweep(alloc::Span* s, uint64_t* freed_pages, Refill* refill);
  // SweepOne, for a refill when not null.
  bool SweepNext(uint64_t* freed_pages, Refill* refill);
  void BackgroundLoop(int64_t (*periodic)()) GCRT_EXCLUDES(mu_);

  // The walk over span records: [cursor_, limit_), and the proportional
  // sweep's ratio. limit_ and pages_per_page_ are set with the world
  // stopped (Start) and read by every sweep: on a line apart from the
  // counters below, which every sweeping thread writes per span.
  alignas(64) std::atomic<size_t> limit_{0};
  std::atomic<double> pages_per_page_{0};
  // Atomic: bumped by any sweeping thread.
  alignas(64) std::atomic<size_t> cursor_{0};
  // Sweeps in flight on any thread (claimed, not yet filed). Atomic.
  std::atomic<uint32_t> active_{0};
  // Proportional sweep: pages allocated and swept since Start. Atomic.
  std::atomic<uint64_t> alloc_pages_{0};
  std::atomic<uint64_t> swept_pages_{0};
  // Statistics. Atomic, relaxed adds.
  std::atomic<uint64_t> spans_swept_{0};
  std::atomic<uint64_t> destroyed_{0};

  // The background thread sleeps on cv_ (mu_) until Wake.
  alignas(64) runtime::Mutex mu_;
  runtime::CondVar cv_;
  uint64_t wakeups_ GCRT_GUARDED_BY(mu_) = 0;
  bool background_started_ GCRT_GUARDED_BY(mu_) = false;
  bool paused_ GCRT_GUARDED_BY(mu_) = false;           // tests
  bool background_busy_ GCRT_GUARDED_BY(mu_) = false;  // sweeping, not waiting
};

// The forced-cycle period of the background thread (2 minutes by default,
// seed 003); tests shorten it.
void SetPeriodicGcInterval(std::chrono::milliseconds period);
std::chrono::milliseconds PeriodicGcInterval();

// True while the calling thread runs destructors for the sweeper (its
// allocations and new handles are refused with std::logic_error then).
bool InDestructor();
// True while the calling thread runs the sweeper's destructors (of dead
// objects, or releasing their specials), not an explicit free's.
bool InSweepDestructor();
// Runs destroy(object) under the rules of the sweeper's destructors (an
// explicit free's destructor).
void RunDestructor(void (*destroy)(void*), void* object);

}  // namespace gc::internal
