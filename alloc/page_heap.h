// The page heap (seed 003, gccgo's mheap.c): 8 KiB pages in large reserved
// arenas, handed out as Spans. See alloc/heap.h for the overview.
//
//   AllocSpan(n)  free_[n] for n < kMaxSmallPages, else best fit (fewest
//                 pages, then lowest address) among large_; if none fits, ask
//                 the reclaim hook (the collector's sweeper) to free pages,
//                 then grow by at least 64 KiB; split off the rest.
//   FreeSpan(s)   coalesce with both neighbours (found through the page map)
//                 and put the result on its free list.
//   Scavenging    pages of free spans are returned to the OS (madvise) one
//                 chunk at a time, with mu_ released during the madvise.
//                 Three callers: the background scavenger paces itself
//                 toward a retained-memory goal the collector sets after
//                 each cycle (below); the same thread returns pages idle
//                 for five minutes; ReleaseAll() returns every free page.
//
// Released pages (Go's scavenged bitmap): the page map keeps one bit per
// page, set iff the page is free and returned to the OS (it reads zero when
// next touched). Span::npreleased counts the set bits of a free span, and
// released_pages_ those of all free spans, so heap_released is exact: a
// span carved from partly released memory takes its share of bits out of
// the count, and its needzero is false only if all of its pages were
// released (or the whole span was clean). Memory fresh from growth is
// counted as released, as in Go: it is not resident until touched.
//
// The background scavenger (Go 1.19's bgscavenge, mgcscavenge.go):
//   goal      retained = sys_bytes - released_bytes is kept at or below
//             SetScavengeGoal's figure: the collector's heap goal (less
//             the external memory it counts) plus 10%,
//             or under a memory limit 95% of it if that is lower.
//   chunks    at most one 2 MiB-aligned window (a huge page) at a time,
//             taken off the free lists as a kScavenging span, released with
//             mu_ dropped, and filed back; mu_ is held only to find and
//             split it.
//   order     huge-page aware: first whole 2 MiB windows inside free spans
//             (a huge page no in-use memory shares), from the free span with
//             the most unreleased pages (ties: the oldest), highest window
//             first (allocation is lowest-address first); only when none is
//             left, the parts of windows a free span shares with other
//             memory, which splits a huge page the kernel may have built.
//   pacing    about 1% of one CPU: it works in batches of at least 1 ms and
//             then sleeps 99 times as long as the batch took.
//   recency   only pages free for kScavengeMinIdleNs (1 s) are released,
//             unless retained memory is past 95% of the memory limit:
//             memory a steady workload frees and reuses every cycle stays.
//   waking    WakeScavenger (the collector, at the end of each cycle). When
//             it is above its goal with nothing free to release, it sleeps
//             until a span is freed (FreeSpanLocked wakes it), the next
//             wake, or (when pages are free but too recently) 1 s.
//
// Locking: every field is guarded by mu_ unless it says otherwise. No lock
// is taken under mu_ (runtime/lock_order.h: Central::mu_ and
// Heap::large_mu_ may be held when taking it, never the reverse); no
// callback runs with it held.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <thread>

#include "gcrt/alloc/page_cache.h"
#include "gcrt/alloc/page_map.h"
#include "gcrt/alloc/span.h"
#include "gcrt/runtime/base.h"
#include "gcrt/runtime/mutex.h"
#include "gcrt/runtime/sys_stat.h"

namespace gc::alloc {

class PageHeap {
 public:
  static constexpr uint32_t kMaxSmallPages = 128;
  static constexpr size_t kArenaBytes = size_t{64} << 20;
  // The page below an arena is reserved and never used, so no other
  // mapping ends at an arena's base. The address one past the end of a
  // mapping is a word programs hold (a thread's stack bounds, on that
  // stack and in its thread library's records, and a thread's stack is
  // often mapped right below the latest arena), and a conservative scan
  // took it for a pointer to the arena's first object, keeping it and all
  // it reaches (a new user's dropped scene of 40,001 objects, kept by an
  // idle task worker's stack in 3 runs of 12).
  static constexpr size_t kArenaGuardBytes = kPageSize;
  static constexpr size_t kMinGrowBytes = 64 << 10;
  static constexpr size_t kOsCommitBytes = 4 << 20;
  // Largest span the heap will try to reserve; beyond it AllocSpan throws.
  static constexpr size_t kMaxSpanBytes = kMaxObjectBytes;

  PageHeap();

  // A span of `npages` in state kAllocating with base/npages set; the
  // caller fills the rest and publishes it by storing kInUse. *needzero says
  // whether its memory may be dirty. Throws OutOfMemoryError (a std::bad_alloc)
  // with a message.
  Span* AllocSpan(uint32_t npages, bool* needzero) {
    return AllocSpanOrNull(npages, needzero, 0);
  }
  // The same, except that it returns null instead of growing the heap when
  // free spans hold at least `enough` pages between them (nonzero): a
  // caller that can use pieces takes those rather than new memory.
  Span* AllocSpanOrNull(uint32_t npages, bool* needzero, uint64_t enough)
      GCRT_EXCLUDES(mu_);
  // Up to `count` spans of `npages` each (at least one), carved under one
  // lock acquisition; only the first may grow the heap. Returns how many
  // were stored in out[], with needzero[i] for each.
  size_t AllocSpans(uint32_t npages, size_t count, Span** out, bool* needzero)
      GCRT_EXCLUDES(mu_);
  // As AllocSpans, cutting the spans from `pc` (refilled from the heap
  // with one lock acquisition when it runs short).
  size_t AllocSpansCached(PageCache* pc, uint32_t npages, size_t count,
                          Span** out, bool* needzero) GCRT_EXCLUDES(mu_);
  // Gives the rest of pc's run and its spare records back to the heap.
  void ReleasePageCache(PageCache* pc) GCRT_EXCLUDES(mu_);
  // Returns an in-use span's pages to the heap.
  void FreeSpan(Span* s) GCRT_EXCLUDES(mu_);
  // The free pages (idle, released or not) as of a moment ago, without the
  // lock: a hint (a refill deciding whether a fresh carve would have to
  // reclaim pages by sweeping first).
  uint64_t FreePagesHint() const {
    return free_pages_hint_.load(std::memory_order_relaxed);
  }
  // The spans published in use (the Heap notes each as it publishes it;
  // FreeSpan takes back one that was), and the padded bit words of one
  // vector of each: what the next sweep's mark bits need
  // (Collector::ReserveSweepBits), without a walk of the span records.
  // Atomic, relaxed adds; exact with the world stopped.
  void NoteInUse(const Span* s);
  uint64_t inuse_spans() const {
    return inuse_spans_.load(std::memory_order_relaxed);
  }
  uint64_t inuse_bit_words() const {
    return inuse_bit_words_.load(std::memory_order_relaxed);
  }

  Span* Lookup(uintptr_t addr) const { return map_.Lookup(addr); }
  // The in-use span covering addr, or null.
  Span* LookupInUse(uintptr_t addr) const {
    Span* s = map_.Lookup(addr);
    if (s == nullptr ||
        s->state.load(std::memory_order_acquire) != SpanState::kInUse ||
        !s->Contains(addr)) {
      return nullptr;
    }
    return s;
  }

  // Every Span record ever mapped, in a stable order (Go's allspans): the
  // sweeper walks them all and claims those in use and unswept. Records are
  // never unmapped; a record may be in any state when read.
  static constexpr size_t kSpansPerChunk = (64 << 10) / sizeof(Span);
  size_t SpanRecordCount() const {
    return span_chunks_count_.load(std::memory_order_acquire) * kSpansPerChunk;
  }
  // Record i < SpanRecordCount().
  Span* SpanRecord(size_t i) const {
    return span_chunks_[i / kSpansPerChunk].load(std::memory_order_acquire) +
           i % kSpansPerChunk;
  }

  // The collector registers a function that sweeps until at least `npages`
  // pages are freed (seed 003's MHeap_Reclaim); it runs before growing.
  using ReclaimHook = void (*)(uint32_t npages);
  // The heap's limit (bytes of span memory from the OS, sys_bytes); 0 is
  // none. Growth past it throws OutOfMemoryError instead, after the
  // reclaim hook has swept what it could.
  void SetLimit(uint64_t bytes) {
    limit_bytes_.store(bytes, std::memory_order_relaxed);
  }
  uint64_t limit() const {
    return limit_bytes_.load(std::memory_order_relaxed);
  }
  void SetReclaimHook(ReclaimHook hook) {
    reclaim_hook_.store(hook, std::memory_order_release);
  }

  // The scavenger's unit: one huge page (see the overview).
  static constexpr size_t kScavengeChunkBytes = size_t{2} << 20;
  static constexpr uint32_t kScavengeChunkPages =
      static_cast<uint32_t>(kScavengeChunkBytes >> kPageShift);
  // The background scavenger's share of one CPU, in percent, and the least
  // work it does per wake-up before it sleeps (Go's minScavWorkTime).
  static constexpr int64_t kScavengePercent = 1;
  static constexpr int64_t kScavengeBatchNs = 1000000;
  // The paced scavenger releases only pages free for at least this long
  // (Go 1.21's scavenger likewise skips memory used in the last cycle): a
  // program that frees and reuses memory every cycle keeps it resident
  // instead of faulting it back in. Near the memory limit it takes any.
  static constexpr int64_t kScavengeMinIdleNs = 1000000000;
  static constexpr uint64_t kNoScavengeGoal = UINT64_MAX;

  // Returns to the OS the pages of free spans unused for at least `idle`.
  // Returns the bytes released by this call.
  size_t Scavenge(std::chrono::nanoseconds idle) GCRT_EXCLUDES(mu_);
  // Every free page (gc::release_memory); with the scavenge trace on,
  // prints its line, marked "(forced)".
  size_t ReleaseAll() GCRT_EXCLUDES(mu_);

  // The scavenge trace (GCRT_DEBUG=scavtrace=1, Go's GODEBUG=scavtrace=1):
  // a line on stderr in Go's format once per cycle and for each forced
  // release,
  //   scav <work> KiB work, <released> KiB total, <util>% util[ (forced)]
  // work: what the background scavenger returned to the OS since the last
  // line (a forced line: what the release returned); total: what is
  // returned now (heap_released); util: in-use span bytes over retained
  // bytes (heap_sys - heap_released), in percent. Go 1.19 marks a reset of
  // its scavenger's rate controller " [controller reset]"; gcrt's
  // scavenger paces itself by CPU time and has none. Atomic, relaxed:
  // stored by the configuration, loaded where lines are printed.
  bool SetScavTrace(bool on) {
    return scavtrace_.exchange(on, std::memory_order_relaxed);
  }
  // The collector, once per cycle (as Go's last sweeper does).
  void PrintScavTraceForCycle() GCRT_EXCLUDES(mu_);
  // Releases free pages, whole huge pages first, until retained memory
  // (sys_bytes - released_bytes) is at or below `goal` or `max_bytes` were
  // released (it stops after the chunk that passes it), or nothing free is
  // left to release. Returns the bytes released. The background scavenger's
  // step; tests call it directly.
  size_t ScavengeToGoal(uint64_t goal, size_t max_bytes) GCRT_EXCLUDES(mu_);
  // Starts (once) the background scavenger: it works toward the goal when
  // woken, and every `period` it scavenges spans idle for `idle`. Calling
  // again changes the limits.
  // Fork support (Heap::LockForFork): holds mu_ across a fork, once no
  // window is being released (its pages are off the free lists meanwhile).
  // In the child the scavenger thread is gone: RestartScavengerAfterFork
  // starts a new one if one ran.
  void LockForFork() GCRT_ACQUIRE(mu_);
  void UnlockAfterFork(bool child) GCRT_RELEASE(mu_);
  void RestartScavengerAfterFork() GCRT_EXCLUDES(mu_);
  void StartScavenger(std::chrono::nanoseconds idle,
                      std::chrono::nanoseconds period) GCRT_EXCLUDES(mu_);
  // The retained-memory goal (bytes; kNoScavengeGoal: none, the default).
  // Any thread; takes effect at the scavenger's next wake-up.
  void SetScavengeGoal(uint64_t retained_bytes) {
    scavenge_goal_.store(retained_bytes, std::memory_order_relaxed);
  }
  uint64_t scavenge_goal() const {
    return scavenge_goal_.load(std::memory_order_relaxed);
  }
  // Wakes the background scavenger to work toward the goal (the collector
  // calls it at the end of each cycle), starting its thread again if the
  // system refused it before. Takes mu_.
  void WakeScavenger() GCRT_EXCLUDES(mu_);

  struct Stats {
    uint64_t sys_bytes;       // committed from the OS for spans
    uint64_t inuse_bytes;     // in in-use spans
    uint64_t idle_bytes;      // in free spans (released or not)
    uint64_t released_bytes;  // of idle_bytes, returned to the OS
    uint64_t reserved_bytes;  // address space reserved for arenas
    uint64_t scavenge_runs;   // idle and explicit scavenges (Scavenge)
    // Bytes returned to the OS, ever, by every path (idle, paced, all).
    uint64_t scavenged_bytes;
    // Of scavenged_bytes, those the background scavenger released pacing
    // itself toward the goal.
    uint64_t paced_scavenged_bytes;
    // CPU time the background scavenger's thread spent on paced work.
    uint64_t scavenger_cpu_ns;
    uint64_t scavenge_goal;  // kNoScavengeGoal: none
    // What the heap and its own metadata took from the OS, for gc::Stats::
    // sys (runtime/sys_stat.h): arena memory committed (sys_bytes, and the
    // rest of the last kOsCommitBytes step, committed ahead of use), span
    // records and their table, the page map (root and leaves). None of it
    // is ever given back. (The tables are mapped whole and resident only
    // where touched: counted whole, as gc::Stats::sys says.)
    uint64_t committed_bytes;
    uint64_t span_record_bytes;
    uint64_t page_map_bytes;
  };
  Stats ReadStats() GCRT_EXCLUDES(mu_);

  // Walks every structure and checks the invariants (tests, gcdebug):
  // every page of the committed arenas is covered by exactly one in-use or
  // free span, spans do not overlap, no two free spans are adjacent, every
  // free span is on the list its size says, and the accounting adds up.
  // Returns false (after printing why) on the first violation.
  bool Verify() GCRT_EXCLUDES(mu_);

 private:
  // Guarded by mu_, every field.
  struct Arena {
    GCRT_CHARGED_TO(Arena, kOther)
    uintptr_t base;
    uintptr_t committed_end;  // [base, committed_end) belongs to the heap
    // [base, os_committed_end) is read-write at the OS. Committed ahead in
    // kOsCommitBytes chunks: every mprotect in a multi-threaded process
    // costs a TLB shootdown on the other cores, so it must be rare.
    uintptr_t os_committed_end;
    uintptr_t end;
    Arena* next;
  };

  // Maps Span records so at least n are spare; may throw.
  void ReserveSpanObjectsLocked(size_t n = 2) GCRT_REQUIRES(mu_);
  // Takes a spare record; never fails after ReserveSpanObjectsLocked.
  Span* NewSpanObjectLocked() GCRT_REQUIRES(mu_);
  void FreeSpanObjectLocked(Span* s) GCRT_REQUIRES(mu_);
  Span* FindFreeLocked(uint32_t npages) GCRT_REQUIRES(mu_);
  // Takes free span s off its list and splits off what npages leaves.
  Span* CarveLocked(Span* s, uint32_t npages, bool* needzero)
      GCRT_REQUIRES(mu_);
  void GrowLocked(uint32_t npages) GCRT_REQUIRES(mu_);
  void InsertFreeLocked(Span* s) GCRT_REQUIRES(mu_);
  void RemoveFreeLocked(Span* s) GCRT_REQUIRES(mu_);
  // Merges the free span t, adjacent to s (whose base the caller has set),
  // into s; t's record goes back to the pool.
  void AbsorbFreeLocked(Span* s, Span* t) GCRT_REQUIRES(mu_);
  // unused_since_ns < 0: now.
  void FreeSpanLocked(Span* s, bool was_in_use, int64_t unused_since_ns = -1)
      GCRT_REQUIRES(mu_);
  void SetFreeEndsLocked(Span* s) GCRT_REQUIRES(mu_);
  // Sets s's npreleased and needzero for its range from the released
  // bitmap, given the needzero of the span it was cut from.
  void RecountReleasedLocked(Span* s, bool was_released, bool parent_needzero)
      GCRT_REQUIRES(mu_);
  // Finds a window of unreleased pages in a free span freed at or before
  // `freed_before_ns` (see the overview for the order): the span and
  // [*base, *base + *npages pages). `whole` asks for whole 2 MiB windows.
  bool FindScavengeRangeLocked(int64_t freed_before_ns, bool whole, Span** span,
                               uintptr_t* base, uint32_t* npages)
      GCRT_REQUIRES(mu_);
  // Releases one window (FindScavengeRangeLocked, whole windows first),
  // dropping the lock around the madvise. Returns the bytes newly released;
  // *progress is false if nothing was found or the OS refused.
  size_t ReleaseOneLocked(int64_t freed_before_ns, bool* progress)
      GCRT_REQUIRES(mu_);
  // Formats the scavenge trace line (SetScavTrace) into `line`;
  // `released`: the bytes it reports as work.
  void FormatScavTraceLocked(uint64_t released, bool forced, char* line,
                             size_t size) GCRT_REQUIRES(mu_);
  size_t ScavengeLocked(std::chrono::nanoseconds idle) GCRT_REQUIRES(mu_);
  uint64_t RetainedBytesLocked() const GCRT_REQUIRES(mu_) {
    return sys_bytes_ - (released_pages_ << kPageShift);
  }
  void ScavengerLoop() GCRT_EXCLUDES(mu_);
  static int64_t NowNs();

  runtime::Mutex mu_;
  PageMap map_;  // Written under mu_, read by anyone (see page_map.h).
  SpanList free_[kMaxSmallPages] GCRT_GUARDED_BY(mu_);
  SpanList large_ GCRT_GUARDED_BY(mu_);
  // Bit n set iff free_[n] is not empty.
  uint64_t nonempty_[kMaxSmallPages / 64] GCRT_GUARDED_BY(mu_) = {};
  Arena* arenas_ GCRT_GUARDED_BY(mu_) GCRT_PT_GUARDED_BY(mu_) = nullptr;
  // Dead Span objects.
  Span* span_pool_ GCRT_GUARDED_BY(mu_) GCRT_PT_GUARDED_BY(mu_) = nullptr;
  size_t span_pool_count_ GCRT_GUARDED_BY(mu_) = 0;
  // What growing by npages asks of the OS (whole growth steps), and
  // whether that passes the limit.
  static size_t GrowBytes(uint32_t npages) {
    return ((size_t{npages} << kPageShift) + kMinGrowBytes - 1) &
           ~(kMinGrowBytes - 1);
  }
  bool GrowthPassesLimitLocked(uint32_t npages) const GCRT_REQUIRES(mu_);

  uint64_t sys_bytes_ GCRT_GUARDED_BY(mu_) = 0;
  std::atomic<bool> scavtrace_{false};  // SetScavTrace
  // scavenged_pages_ as of the last trace line, forced releases added.
  uint64_t traced_scavenged_pages_ GCRT_GUARDED_BY(mu_) = 0;
  // Arena bytes committed at the OS (Arena::os_committed_end), >= sys_bytes_.
  uint64_t committed_bytes_ GCRT_GUARDED_BY(mu_) = 0;
  // Atomic: set by the collector's configuration, read (relaxed) under mu_
  // when growing.
  std::atomic<uint64_t> limit_bytes_{0};
  uint64_t inuse_pages_ GCRT_GUARDED_BY(mu_) = 0;
  std::atomic<uint64_t> inuse_spans_{0};      // NoteInUse
  std::atomic<uint64_t> inuse_bit_words_{0};  // NoteInUse
  uint64_t free_pages_ GCRT_GUARDED_BY(mu_) = 0;
  // free_pages_ as of its last change, for FreePagesHint. Atomic: stored
  // (relaxed) under mu_, loaded (relaxed) by anyone.
  std::atomic<uint64_t> free_pages_hint_{0};
  void AddFreePagesLocked(int64_t pages) GCRT_REQUIRES(mu_) {
    free_pages_ += pages;
    free_pages_hint_.store(free_pages_, std::memory_order_relaxed);
  }
  uint64_t released_pages_ GCRT_GUARDED_BY(mu_) = 0;
  uint64_t reserved_bytes_ GCRT_GUARDED_BY(mu_) = 0;
  uint64_t scavenge_runs_ GCRT_GUARDED_BY(mu_) = 0;
  uint64_t scavenged_pages_ GCRT_GUARDED_BY(mu_) = 0;
  uint64_t paced_scavenged_pages_ GCRT_GUARDED_BY(mu_) = 0;
  uint64_t scavenger_cpu_ns_ GCRT_GUARDED_BY(mu_) = 0;
  // Pages in kScavenging spans (off the free lists, counted in free_pages_
  // and their released pages in released_pages_). An allocation that would
  // pass the limit waits on scavenge_done_cv_ (with mu_) for them to return.
  uint64_t scavenging_pages_ GCRT_GUARDED_BY(mu_) = 0;
  runtime::CondVar scavenge_done_cv_;
  // The span record table: chunks appended under mu_ (store release, then
  // the count, release), read by anyone (acquire). 2^16 chunks of 341
  // records: 22 M spans, 170 GiB of one-page spans; exceeding it is fatal.
  static constexpr size_t kMaxSpanChunks = size_t{1} << 16;
  // kMaxSpanChunks pointers, mapped unpopulated: resident only in the
  // pages chunks have been published in (a 512 KiB table of which a heap
  // under 4 GiB uses one page). Immutable after construction (the
  // pointer).
  std::atomic<Span*>* const span_chunks_;
  std::atomic<size_t> span_chunks_count_{0};
  // Atomic: stored once by the collector (release), loaded before growing.
  std::atomic<ReclaimHook> reclaim_hook_{nullptr};

  // Background scavenger: its limits are guarded by mu_, and it waits on
  // scavenger_cv_ with mu_.
  runtime::CondVar scavenger_cv_;
  bool scavenger_started_ GCRT_GUARDED_BY(mu_) = false;
  // Set in the child of a fork if the scavenger ran in the parent.
  bool scavenger_restart_ GCRT_GUARDED_BY(mu_) = false;
  std::chrono::nanoseconds scavenger_idle_ GCRT_GUARDED_BY(mu_){0};
  std::chrono::nanoseconds scavenger_period_ GCRT_GUARDED_BY(mu_){0};
  // Bumped by every wake-up (WakeScavenger, a free while starved, a change
  // of limits); the scavenger waits for it to change.
  uint64_t scavenger_wakeups_ GCRT_GUARDED_BY(mu_) = 0;
  // Set by the scavenger when it is above its goal with nothing free to
  // release; the next FreeSpanLocked (or wake-up) clears it and wakes it.
  bool scavenger_starved_ GCRT_GUARDED_BY(mu_) = false;
  // Atomic: stored (relaxed) by the collector at the end of a cycle or a
  // change of configuration; loaded (relaxed) by the scavenger.
  std::atomic<uint64_t> scavenge_goal_{kNoScavengeGoal};
};

}  // namespace gc::alloc
