// See sweeper.h.
#include "gcrt/gc/sweeper.h"

#include <chrono>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gcrt/gc/heap_profile.h"
#include "gcrt/gc/quarantine.h"
#include "gcrt/gc/roots.h"
#include "gcrt/runtime/backtrace.h"
#include "gcrt/runtime/check.h"
#include "gcrt/runtime/safepoint.h"
#include "gcrt/runtime/stack.h"
#include "gcrt/runtime/thread_start.h"

namespace gc::internal {

namespace {

using alloc::Heap;
using alloc::Span;
using alloc::TypeInfo;

// Atomic: tests store, the background thread loads (relaxed).
std::atomic<int64_t> g_periodic_ms{2 * 60 * 1000};

// Depth of the sweeper's destructor runs on this thread (DestroyDead), as
// opposed to an explicit free's. Owned by the thread.
thread_local int t_sweep_destructors = 0;

// While the thread runs destructors, its allocation and handle fast paths
// are off (as in a blocking region), so a destructor that allocates or
// roots something reaches a slow path, which refuses it with an error
// instead of re-entering the refill that is sweeping.

struct DestructorScope {
  explicit DestructorScope(bool sweep) : sweep(sweep) {
    t_sweep_destructors += sweep;
    if (alloc::t_in_destructor++ > 0) return;
    saved_cache = alloc::t_cache;
    alloc::t_cache = &alloc::g_unattached_cache;
    OnBlocking(true);
  }
  ~DestructorScope() {
    t_sweep_destructors -= sweep;
    if (--alloc::t_in_destructor > 0) return;
    OnBlocking(false);
    alloc::InstallCache(saved_cache);
  }
  const bool sweep;
  alloc::Cache* saved_cache = nullptr;
};

}  // namespace

bool InDestructor() { return alloc::t_in_destructor > 0; }
bool InSweepDestructor() { return t_sweep_destructors > 0; }

void RunDestructor(void (*destroy)(void*), void* object) {
  DestructorScope scope(/*sweep=*/false);
  destroy(object);
}

void SetPeriodicGcInterval(std::chrono::milliseconds period) {
  g_periodic_ms.store(period.count(), std::memory_order_relaxed);
  Sweeper::Get().Wake();
}

std::chrono::milliseconds PeriodicGcInterval() {
  return std::chrono::milliseconds(
      g_periodic_ms.load(std::memory_order_relaxed));
}

Sweeper& Sweeper::Get() {
  alignas(Sweeper) static unsigned char storage[sizeof(Sweeper)];
  static Sweeper* s = new (storage) Sweeper();  // never destroyed
  return *s;
}

void Sweeper::Start(double pages_per_page) {
  GCRT_CHECK(active_.load() == 0 &&
             "no sweep is in flight at mark termination");
  alloc_pages_.store(0, std::memory_order_relaxed);
  swept_pages_.store(0, std::memory_order_relaxed);
  pages_per_page_.store(pages_per_page, std::memory_order_relaxed);
  limit_.store(Heap::Get().pages().SpanRecordCount(),
               std::memory_order_relaxed);
  cursor_.store(0, std::memory_order_relaxed);
}

void Sweeper::DestroyDead(const alloc::SweepClaim& claim) {
  Span* s = claim.span();
  const TypeInfo* single = s->types.single();
  bool destructors = !(single != nullptr && single->destroy == nullptr) &&
                     s->types.compression() != alloc::TypeCompression::kEmpty;
  bool specials = s->specials.load(std::memory_order_acquire) != nullptr;
  // Read once: the mode may change meanwhile. Objects quarantined before
  // it was turned off still leave the quarantine, undestroyed.
  if (const bool on = ReclaimQuarantineOn();
      on || g_reclaimed.load(std::memory_order_relaxed) != 0) {
    DestroyIntoQuarantine(claim, on, destructors, specials);
    return;
  }
  if (!destructors) {
    // Only specials to release (a sampled allocation's, say): one walk of
    // the span's specials, not a lock per dead slot.
    if (specials) {
      DestructorScope scope(/*sweep=*/true);
      alloc::ReleaseSpecials(alloc::TakeSpecialsOfDead(s));
    }
    return;
  }
  DestructorScope scope(/*sweep=*/true);
  uint64_t destroyed = 0;
  for (uint32_t w = 0; w < s->nwords; w++) {
    uint64_t dead = s->alloc_bits[w] & ~s->mark_bits[w];
    for (; dead != 0; dead &= dead - 1) {
      uint32_t slot = w * 64 + static_cast<uint32_t>(__builtin_ctzll(dead));
      destroyed += DestroyOne(s, slot, destructors, specials);
    }
  }
  destroyed_.fetch_add(destroyed, std::memory_order_relaxed);
}

bool Sweeper::DestroyOne(Span* s, uint32_t slot, bool destructors,
                         bool specials) {
  uintptr_t obj = s->SlotAddress(slot);
  bool destroyed = false;
  if (destructors) {
    const TypeInfo* t = s->types.Get(slot);
    if (t != nullptr && t->destroy != nullptr) {
      t->destroy(reinterpret_cast<void*>(obj));
      destroyed = true;
    }
  }
  if (specials) {
    alloc::ReleaseSpecials(alloc::TakeSpecials(
        s, static_cast<uint32_t>(obj - s->base), s->elem_size));
  }
  return destroyed;
}

void Sweeper::DestroyIntoQuarantine(const alloc::SweepClaim& claim, bool put_in,
                                    bool destructors, bool specials) {
  // Those quarantined by the last cycle leave (destroyed then, their slots
  // freed now); the newly dead are destroyed, and, if `put_in`, go in:
  // kept one cycle, poisoned (gc/quarantine.h).
  Span* s = claim.span();
  std::vector<uint32_t> dead;
  QuarantineDead(claim, put_in, &dead);
  if (dead.empty()) return;
  DestructorScope scope(/*sweep=*/true);
  uint64_t destroyed = 0;
  for (uint32_t slot : dead) {
    destroyed += DestroyOne(s, slot, destructors, specials);
    if (put_in) Poison(s, slot);
  }
  destroyed_.fetch_add(destroyed, std::memory_order_relaxed);
}

alloc::Central::Filed Sweeper::SweepTakenSmall(
    alloc::SweepClaim claim, alloc::Central::Emptied emptied) {
  Heap& heap = Heap::Get();
  Span* s = claim.span();
  DestroyDead(claim);
  uint32_t freed = heap.SwapSweptBits(claim);
  spans_swept_.fetch_add(1, std::memory_order_relaxed);
  return heap.central(s->span_class)
      .FinishSweep(std::move(claim), freed, emptied);
}

bool Sweeper::SweepLarge(alloc::SweepClaim claim) {
  bool dead = (claim.span()->mark_bits[0] & 1) == 0;
  if (dead) {
    DestroyDead(claim);
    // The quarantine keeps a newly dead object one cycle more.
    dead = (claim.span()->mark_bits[0] & 1) == 0;
  }
  spans_swept_.fetch_add(1, std::memory_order_relaxed);
  Heap::Get().FinishSweepLarge(std::move(claim), dead);
  return dead;
}

void Sweeper::SweepTaken(alloc::SweepClaim claim,
                         alloc::Central::Emptied emptied) {
  Sweeper& self = Get();
  self.active_.fetch_add(1, std::memory_order_relaxed);
  self.SweepTakenSmall(std::move(claim), emptied);
  self.active_.fetch_sub(1, std::memory_order_release);
}

void Sweeper::SweepForRefill(alloc::SpanClass sc, size_t want) {
  Sweeper& self = Get();
  Refill refill{sc, want};
  for (int budget = kRefillSweepBudget; budget > 0 && refill.filed < want;
       budget--) {
    if (!self.SweepNext(nullptr, &refill)) break;
  }
}

uint32_t Sweeper::SweepCached(const alloc::SweepClaim& claim) {
  Sweeper& self = Get();
  self.DestroyDead(claim);
  self.spans_swept_.fetch_add(1, std::memory_order_relaxed);
  return Heap::Get().SwapSweptBits(claim);
}

bool Sweeper::ClaimAndSweep(Span* s, uint64_t* freed_pages, Refill* refill) {
  Heap& heap = Heap::Get();
  active_.fetch_add(1, std::memory_order_relaxed);
  alloc::SweepClaim claim = alloc::SweepClaim::TryAcquire(s, heap.sweepgen());
  if (!claim) {
    active_.fetch_sub(1, std::memory_order_release);
    return false;
  }
  uint32_t npages = s->npages;
  bool freed;
  if (s->large()) {
    freed = SweepLarge(std::move(claim));
  } else {
    const bool for_refill =
        refill != nullptr && s->span_class == refill->span_class;
    heap.central(s->span_class).TakeForSweep(claim);
    // Kept for the refill that sweeps; freed for a reclaim, which wants
    // pages; otherwise kept while the class's reuse budget lasts.
    using Emptied = alloc::Central::Emptied;
    const Emptied emptied = for_refill && refill->filed < refill->want
                                ? Emptied::kKeep
                            : freed_pages != nullptr ? Emptied::kFree
                                                     : Emptied::kKeepIfDue;
    alloc::Central::Filed filed = SweepTakenSmall(std::move(claim), emptied);
    freed = filed == alloc::Central::Filed::kFreed;
    if (for_refill && filed == alloc::Central::Filed::kPartial) {
      refill->filed++;
    }
  }
  swept_pages_.fetch_add(npages, std::memory_order_relaxed);
  if (freed && freed_pages != nullptr) *freed_pages += npages;
  active_.fetch_sub(1, std::memory_order_release);
  return true;
}

namespace {
// Tests' hooks. Atomic: a test stores (relaxed), with no sweep of the hook's
// concern in flight; sweeping threads load (relaxed) and call.
std::atomic<void (*)(size_t)> g_after_take_for_testing{nullptr};
std::atomic<void (*)()> g_yield_for_testing{nullptr};
}  // namespace

void Sweeper::SetAfterTakeHookForTesting(void (*hook)(size_t index)) {
  g_after_take_for_testing.store(hook, std::memory_order_relaxed);
}

void Sweeper::SetYieldHookForTesting(void (*hook)()) {
  g_yield_for_testing.store(hook, std::memory_order_relaxed);
}

bool Sweeper::SweepOne(uint64_t* freed_pages) {
  return SweepNext(freed_pages, nullptr);
}

bool Sweeper::SweepNext(uint64_t* freed_pages, Refill* refill) {
  // Counted in active_ before the index is taken, and the index taken with
  // acq_rel: Finish, once its own take finds the walk done, has synchronized
  // with every take before it (one release sequence of RMWs on cursor_), so
  // it sees the count of a thread that took the last indices and has not yet
  // claimed its span. Counted after the take, that thread could claim and
  // sweep after Finish saw active_ at 0: gc::collect() returned while a
  // span's destructors had still to run (a TSan run once saw 120 dead
  // objects of one span not yet destroyed).
  active_.fetch_add(1, std::memory_order_relaxed);
  struct Done {
    std::atomic<uint32_t>& active;
    ~Done() { active.fetch_sub(1, std::memory_order_release); }
  } done{active_};
  size_t i = cursor_.fetch_add(1, std::memory_order_acq_rel);
  if (i >= limit_.load(std::memory_order_relaxed)) return false;
  Span* s = Heap::Get().pages().SpanRecord(i);
  if (s->state.load(std::memory_order_acquire) == alloc::SpanState::kInUse) {
    if (auto hook = g_after_take_for_testing.load(std::memory_order_relaxed)) {
      hook(i);
    }
    ClaimAndSweep(s, freed_pages, refill);
  }
  return true;
}

bool Sweeper::Swept(const Span* s) {
  if (s->state.load(std::memory_order_acquire) != alloc::SpanState::kInUse) {
    return true;
  }
  return s->sweepgen.Swept(Heap::Get().sweepgen());
}

void Sweeper::EnsureSwept(Span* s) {
  runtime::Processor* self = runtime::CurrentProcessor();
  while (!Swept(s) && !ClaimAndSweep(s, nullptr, nullptr)) {
    // h-1: a sweeper has it; h+1: a cache holds it from before the last
    // mark termination, and its owner sweeps it when it resumes (never this
    // thread, which has resumed).
    GCRT_CHECK(!(self != nullptr &&
                 static_cast<alloc::Cache*>(self->local())->Owns(s) &&
                 s->sweepgen.Of(Heap::Get().sweepgen()) ==
                     alloc::SweepGen::State::kCachedUnswept) &&
               "a running thread's cache holds no unswept span");
    std::this_thread::yield();
  }
}

alloc::Span* SpanOfLiveObject(const void* object, const char* what) {
  auto p = reinterpret_cast<uintptr_t>(object);
  auto not_live = [&] {
    return std::invalid_argument(
        std::string("gcrt: ") + what + " of " + alloc::HexAddress(p) +
        ": not a live object (the collector or gc::free reclaimed it); keep "
        "an object in a gc::Root, or reachable from one, while raw pointers "
        "to it are in use");
  };
  Span* s;
  for (;;) {
    // Heap pages no in-use span covers held objects once (or never did):
    // either way nothing live is there.
    if (alloc::SpanOf(object) == nullptr &&
        Heap::Get().pages().Lookup(p) != nullptr) {
      throw not_live();
    }
    s = alloc::SpanForSpecial(object, what);
    if (Sweeper::Swept(s)) break;
    // Unswept, a dead object still reads allocated: sweep it first (Go's
    // ensureSwept). Its destructors may let a cycle run: check again.
    Sweeper::Get().EnsureSwept(s);
    if (alloc::SpanOf(object) == nullptr) throw not_live();
  }
  if (!s->large() && !alloc::SlotAllocatedAsSeen(s, s->SlotIndex(p))) {
    throw not_live();
  }
  if (FindReclaimed(object)) {
    throw std::invalid_argument(not_live().what() + ReclaimedNote(object));
  }
  return s;
}

void Sweeper::Finish() {
  while (SweepOne()) {
  }
  // Sweeps other threads claimed (on demand, through the walk) finish on
  // those threads; wait for every claim still in flight. The walkers
  // first: once active_ reads 0 this thread has synchronized with every
  // take of a walk index and every claim attempt after it, and so with any
  // claim made on demand that beat a walker to its span (its InFlight count
  // comes before its claim, SweepClaim::TryAcquire).
  while (active_.load(std::memory_order_acquire) != 0) {
    std::this_thread::yield();
  }
  while (alloc::SweepClaim::InFlight() != 0) std::this_thread::yield();
}

void Sweeper::Reclaim(uint32_t npages) {
  Sweeper& self = Get();
  uint64_t freed = 0;
  while (freed < npages && self.SweepOne(&freed)) {
  }
  // Then the spans sweeps kept empty for their classes' refills: the heap
  // does not grow past them.
  if (freed < npages) Heap::Get().ReleaseKeptSpans(npages - freed);
}

void Sweeper::Credit(alloc::SpanClass sc, size_t want) {
  Sweeper& self = Get();
  if (self.WalkDone()) return;
  const uint64_t npages =
      want * alloc::ClassToNPages(alloc::SpanClassSizeClass(sc));
  uint64_t allocated =
      self.alloc_pages_.fetch_add(npages, std::memory_order_relaxed) + npages;
  double target = static_cast<double>(allocated) *
                  self.pages_per_page_.load(std::memory_order_relaxed);
  Refill refill{sc, want};
  while (static_cast<double>(
             self.swept_pages_.load(std::memory_order_relaxed)) < target) {
    if (!self.SweepNext(nullptr, &refill)) break;
  }
}

void Sweeper::Wake() {
  runtime::MutexLock lock(&mu_);
  wakeups_++;
  cv_.NotifyAll();
}

void Sweeper::PauseBackgroundForTesting(bool paused) {
  runtime::MutexLock lock(&mu_);
  paused_ = paused;
  wakeups_++;
  cv_.NotifyAll();
  // Returns once the background thread is between sweeps.
  while (paused && background_busy_) cv_.Wait(&mu_);
}

void Sweeper::UnlockAfterFork(bool child) {
  if (child) {
    cv_.ResetAfterFork();
    background_started_ = false;
    background_busy_ = false;
    paused_ = false;
  }
  mu_.unlock();
}

void Sweeper::StartBackground(int64_t (*periodic)()) {
  runtime::MutexLock lock(&mu_);
  if (background_started_) return;
  // Without it the allocating threads sweep what they need (Credit) and
  // the next cycle's sweep termination the rest, but no periodic cycle
  // runs until a later call (the collector's at the end of each cycle)
  // starts it.
  background_started_ = runtime::StartDetachedThread(
      [this, periodic] { BackgroundLoop(periodic); });
}

void Sweeper::BackgroundLoop(int64_t (*periodic)()) {
  // A processor of its own: sweeping touches spans, so the world must stop
  // for it too. It waits in a blocking region so it never holds a stop up.
  runtime::SetCurrentThreadName("gcrt-sweep");
  alloc::AttachCurrentThread();
  using Clock = std::chrono::steady_clock;
  uint64_t seen = 0;
  // When the next forced cycle is due (steady_clock nanoseconds).
  int64_t due = periodic != nullptr ? periodic() : INT64_MAX;
  for (;;) {
    runtime::ClearDeadStack();  // the destructors' pointers (stack.h)
    {
      runtime::BlockingRegion idle;
      runtime::MutexLock lock(&mu_);
      background_busy_ = false;
      cv_.NotifyAll();
      auto deadline = Clock::time_point(std::chrono::nanoseconds(
          std::min<int64_t>(due, Clock::now().time_since_epoch().count() +
                                     int64_t{3600} * 1000000000)));
      while (wakeups_ == seen || paused_) {
        if (!cv_.WaitUntil(&mu_, deadline)) break;
      }
      while (paused_) cv_.Wait(&mu_);
      seen = wakeups_;
      background_busy_ = true;
    }
    // Low priority, as Go's bgsweep: a span at a time, yielding the core
    // between batches, and a safepoint between spans. It yields in a
    // blocking region: a thread that gave its core away may wait for one
    // for a whole time slice of the kernel's, and a stop must not wait for
    // it meanwhile (on long-lived, a gc::stats() stop once waited 2 ms for
    // this thread in sched_yield).
    int n = 0;
    while (SweepOne()) {
      runtime::Safepoint();
      if (++n % 16 == 0) {
        runtime::BlockingRegion yielding;
        if (auto hook = g_yield_for_testing.load(std::memory_order_relaxed)) {
          hook();
        } else {
          std::this_thread::yield();
        }
      }
    }
    // The walk is done (sweeps other threads claimed may still be running:
    // their frees reach the profile at the next mark termination).
    if (n > 0) ProfilePostSweep();
    // Runs a forced cycle if none ran for a whole period, and learns when
    // the next one is due (seed 003).
    if (periodic != nullptr) due = periodic();
  }
}

}  // namespace gc::internal
