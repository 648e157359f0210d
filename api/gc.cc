// See gc.h.
#include "gcrt/gc.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gcrt/alloc/heap.h"
#include "gcrt/gc/collector.h"
#include "gcrt/gc/finalizer.h"
#include "gcrt/gc/free.h"
#include "gcrt/gc/quarantine.h"
#include "gcrt/gc/roots.h"
#include "gcrt/gc/sweeper.h"
#include "gcrt/internal/allocate.h"
#include "gcrt/internal/checks.h"
#include "gcrt/internal/finalizer.h"
#include "gcrt/runtime/check.h"
#include "gcrt/runtime/env.h"
#include "gcrt/runtime/os_mem.h"
#include "gcrt/runtime/safepoint.h"
#include "gcrt/runtime/stack.h"
#include "gcrt/runtime/sys_stat.h"
#include "gcrt/runtime/task.h"

namespace gc {

const char* version() { return GCRT_VERSION_STRING; }

static_assert(kNumSizeClasses == alloc::kNumSizeClasses,
              "gc::kNumSizeClasses follows alloc/size_classes.h");

// The out-of-line half of the glue api/internal/ declares.
namespace internal {

void FreeUnconstructed(void* object, bool debug) {
  FreeObject(object, nullptr, debug || ReclaimQuarantineOn());
}

void ThrowArrayTooLarge(size_t n, size_t element_size) {
  throw runtime::OutOfMemoryError(
      "gcrt: gc::make_array of " + std::to_string(n) + " elements of " +
      std::to_string(element_size) + " bytes overflows the address space");
}

void ConstantConstructorAllocated(const char* type) {
  runtime::Print(
      "gc::make<%s>: its default constructor is a constant expression, so "
      "gc::make does not record the object as under construction, yet at "
      "run time it allocated GC objects (a constexpr constructor that "
      "tests std::is_constant_evaluated()). A collection there could trace "
      "the object half-built. Make the constructor not constexpr, or "
      "allocate after gc::make returns.",
      type);
  GCRT_FATAL(
      "a default constructor that is a constant expression allocates "
      "nothing at run time");
}

void CheckNotBlocking() {
  // The marker runs trace functions and root set callbacks in a blocking
  // region of its own (Collector::MarkConcurrently's caller): not the
  // program's.
  if (GCRT_PREDICT_FALSE(runtime::InBlockingRegion() && !InMarker())) {
    runtime::Print(
        "a gc::Ptr or handle was dereferenced inside a gc::Blocking scope, "
        "where the thread must not touch the GC heap (a collection may be "
        "running). Read what the blocking call needs before entering the "
        "scope, or after leaving it.");
    GCRT_FATAL("no GC object is dereferenced inside a blocking region");
  }
}

void CheckDereferencingThread() {
  if (GCRT_PREDICT_FALSE(InDestructor())) {
    runtime::Print(
        "a gc::Ptr was dereferenced inside the destructor of a GC object; "
        "the object it points to may already have been destroyed. Move that "
        "work to a finalizer or a cleanup, and release only non-GC "
        "resources in destructors (run by the sweeper, or by gc::free).");
    GCRT_FATAL("no gc::Ptr is dereferenced in the destructor of a GC object");
  }
  CheckNotBlocking();
}

void CheckStoringThread(const void* slot) {
  if (runtime::WorldStopsCurrentThread()) return;
  if (alloc::SpanOf(slot) == nullptr) return;  // not a field of a GC object
  if (runtime::InBlockingRegion()) {
    runtime::Print(
        "a gc::Ptr field of a GC object was stored to inside a gc::Blocking "
        "scope, where the thread must not touch the GC heap (a collection "
        "may be running). Store before entering the scope or after leaving "
        "it.");
    GCRT_FATAL("no gc::Ptr in the heap is stored to inside a blocking region");
  }
  runtime::Print(
      "a gc::Ptr field of a GC object was stored to from a thread that is "
      "not attached to the heap (it has not allocated, held a handle or "
      "called gc::attach_thread()). The collector does not stop such a "
      "thread, so its store can race with a collection and lose the object "
      "it stores. Call gc::attach_thread() before the thread touches the "
      "heap.");
  GCRT_FATAL("a gc::Ptr in the heap is stored to only by attached threads");
}

void ReportMisalignedPtr(const void* slot) {
  runtime::Print(
      "a gc::Ptr at %p is not aligned to %zu bytes: the class holding it "
      "is packed (#pragma pack, __attribute__((packed))). The collector "
      "reads GC pointers only from aligned words, so the object this one "
      "points to would be reclaimed. Remove the packing from classes that "
      "hold gc::Ptr.",
      slot, alignof(void*));
  GCRT_FATAL("a gc::Ptr is aligned to a pointer's size");
}

void SetFinalizerOf(const void* object, std::function<void(void*)> fn) {
  SetFinalizer(object, std::move(fn));
}

bool ClearFinalizerOf(const void* object) { return ClearFinalizer(object); }

uint64_t AddCleanupOf(const void* object, std::function<void()> fn) {
  return AddCleanup(object, std::move(fn));
}

bool StopCleanupOf(const void* object, uint64_t id) {
  return StopCleanup(object, id);
}

void CheckCleanupArg(const void* object, const void* arg) {
  if (arg == nullptr) return;
  const alloc::Span* s = alloc::SpanOf(object);
  const auto begin = reinterpret_cast<uintptr_t>(object);
  const auto a = reinterpret_cast<uintptr_t>(arg);
  if (s != nullptr && a >= begin && a - begin < s->slot_bytes()) {
    throw std::invalid_argument(
        "gcrt: gc::add_cleanup of " + alloc::HexAddress(begin) +
        ": the argument points into the object itself; the cleanup runs "
        "after the object is reclaimed, and an argument that reaches it "
        "would keep it alive forever: pass what the cleanup needs (a file "
        "descriptor, a handle), not the object");
  }
}

void CheckHeapPointer(const void* p, const char* what) {
  if (p == nullptr) return;
  alloc::Span* s = alloc::SpanOf(p);
  bool freed = false;
  if (s != nullptr) {
    uint32_t slot = s->SlotIndex(reinterpret_cast<uintptr_t>(p));
    freed = IsQuarantined(p);
    if (slot < s->nelems && alloc::SlotAllocatedAsSeen(s, slot) && !freed &&
        !FindReclaimed(p)) {
      return;
    }
  }
  char hex[32];
  std::snprintf(hex, sizeof hex, "%p", p);
  // Heap pages no in-use span covers held objects once (or never did).
  const bool in_heap =
      s != nullptr || alloc::Heap::Get().pages().Lookup(
                          reinterpret_cast<uintptr_t>(p)) != nullptr;
  if (!in_heap) {
    throw std::invalid_argument(std::string("gcrt: ") + what + " of " + hex +
                                ": not a pointer into the GC heap; only "
                                "objects gc::make returned (or pointers into "
                                "them) can be rooted");
  }
  // The same words as the checks every build makes (SpanOfLiveObject).
  throw std::invalid_argument(
      std::string("gcrt: ") + what + " of " + hex +
      (freed ? ": points to an object freed with gc::free"
             : ": not a live object (the collector or gc::free reclaimed it)" +
                   ReclaimedNote(p)) +
      "; keep an object in a gc::Root, or reachable from one, while raw "
      "pointers to it are in use");
}

namespace {

// What a trace visited: pointer values, and ranges scanned conservatively.
// The visits go on to the real tracer.
struct RecordedVisits {
  Tracer* inner;
  std::vector<const void*> pointers;
  std::vector<std::pair<uintptr_t, uintptr_t>> ranges;
  static void Visit(void* self, const void* p) {
    auto* r = static_cast<RecordedVisits*>(self);
    r->pointers.push_back(p);
    r->inner->Visit(p);
  }
  static void VisitRange(void* self, const void* begin, size_t bytes) {
    auto* r = static_cast<RecordedVisits*>(self);
    const auto b = reinterpret_cast<uintptr_t>(begin);
    r->ranges.emplace_back(b, b + bytes);
    r->inner->VisitConservative(begin, bytes);
  }
  bool Covers(uintptr_t slot, const void* value) const {
    if (std::find(pointers.begin(), pointers.end(), value) != pointers.end()) {
      return true;
    }
    for (const auto& [b, e] : ranges) {
      if (slot >= b && slot < e) return true;
    }
    return false;
  }
};

}  // namespace

void TraceCheckingOwnBytes(Tracer& tracer, const void* object, size_t size,
                           size_t base_begin, size_t base_end,
                           std::string_view type, std::string_view base,
                           void (*trace)(const void*, Tracer&)) {
  RecordedVisits visits{&tracer, {}, {}};
  Tracer recording(&RecordedVisits::Visit, &RecordedVisits::VisitRange,
                   &visits);
  trace(object, recording);
  const auto start = reinterpret_cast<uintptr_t>(object);
  // A pointer into the GC object that holds this one (or into this one,
  // outside the heap) is no loss: that object is being traced. Members
  // point into themselves: a std::string's short buffer, an empty
  // std::map's or std::list's header.
  uintptr_t self_begin = start, self_end = start + size;
  if (const alloc::Span* own = alloc::SpanOf(object)) {
    self_begin = own->SlotStart(start);
    self_end = self_begin + own->slot_bytes();
  }
  for (size_t offset = 0; offset + sizeof(void*) <= size;
       offset += sizeof(void*)) {
    if (offset + sizeof(void*) > base_begin && offset < base_end) continue;
    uintptr_t word;
    std::memcpy(&word, reinterpret_cast<const void*>(start + offset),
                sizeof word);
    if (word >= self_begin && word < self_end) continue;
    alloc::Span* s = alloc::SpanOf(reinterpret_cast<const void*>(word));
    if (s == nullptr) continue;
    const uint32_t slot = s->SlotIndex(word);
    if (slot >= s->nelems || !alloc::SlotAllocatedAsSeen(s, slot)) continue;
    if (visits.Covers(start + offset, reinterpret_cast<const void*>(word))) {
      continue;
    }
    // Marked already: kept by something else, which loses nothing this
    // cycle (a gc::Root or gc::Global member is a root of its own). The
    // mark workers set bits meanwhile: an atomic read.
    if ((__atomic_load_n(&s->mark_bits[slot / 64], __ATOMIC_RELAXED) >>
         (slot % 64)) &
        1) {
      continue;
    }
    const std::string at = alloc::HexAddress(start);
    const std::string to = alloc::HexAddress(word);
    const int t = static_cast<int>(type.size());
    const int b = static_cast<int>(base.size());
    runtime::Print(
        "%.*s (the GC object at %s) inherits its trace() from %.*s, which "
        "did not visit %.*s's own byte %zu, yet it holds a pointer to a GC "
        "object (%s): the collector does not follow it, and reclaims that "
        "object once nothing else reaches it. Give %.*s its own "
        "`void trace(gc::Tracer& t) const` that calls %.*s::trace(t) and "
        "traces its fields; if that word is not a GC pointer %.*s needs "
        "traced (a raw pointer to an object kept alive otherwise), a trace() "
        "that calls only %.*s::trace(t) says so.",
        t, type.data(), at.c_str(), b, base.data(), t, type.data(), offset,
        to.c_str(), t, type.data(), b, base.data(), t, type.data(), b,
        base.data());
    GCRT_FATAL(
        "a class that inherits trace() holds no GC pointer the trace does "
        "not visit");
  }
}

}  // namespace internal

using internal::Collector;

uint64_t run_finalizers() { return internal::RunFinalizers(); }

void collect() { Collector::Get().Collect(internal::GcReason::kExplicit); }

int64_t add_external_memory(int64_t delta) {
  Collector::Get();  // its hooks first: the trigger below may collect
  alloc::Heap& heap = alloc::Heap::Get();
  const int64_t total = heap.AddExternalBytes(delta);
  if (total < 0) {
    static std::atomic<bool> told{false};
    if (!told.exchange(true, std::memory_order_relaxed)) {
      runtime::Print(
          "gc::add_external_memory: more was removed than added (the total "
          "is %lld bytes); pair every addition with one removal (counted as "
          "0 meanwhile)",
          static_cast<long long>(total));
    }
  }
  if (total == INT64_MAX && delta > 0) {
    static std::atomic<bool> told{false};
    if (!told.exchange(true, std::memory_order_relaxed)) {
      runtime::Print(
          "gc::add_external_memory: the total reached INT64_MAX bytes and "
          "stays there (is a size computed wrongly?)");
    }
  }
  // Not where this thread may not collect: a destructor a sweep or
  // gc::free runs, the marker, or a cycle's own callbacks.
  if (delta > 0 && !internal::InMarker() && !runtime::InNoStopRegion() &&
      !Collector::CollectingOnThisThread() && !internal::InSweepDestructor()) {
    heap.MaybeTriggerGcForExternal();
  }
  return total;
}

void ExternalMemory::TooLarge(size_t bytes) {
  throw std::length_error("gc::ExternalMemory::set(" + std::to_string(bytes) +
                          "): more than INT64_MAX bytes");
}

size_t release_memory() {
  if (runtime::InBlockingRegion()) {
    throw std::logic_error(
        "gcrt: gc::release_memory() inside a blocking region (gc::Blocking): "
        "leave the region first");
  }
  collect();
  return alloc::ReleaseIdleMemory();
}

uint64_t set_memory_limit(uint64_t bytes) {
  return Collector::Get().SetMemoryLimit(bytes);
}

int set_gc_percent(int percent) {
  Collector& c = Collector::Get();
  int old = c.gc_percent();
  c.SetGcPercent(percent);
  return old;
}

void set_cycle_callback(std::function<void(const CycleEvent&)> callback) {
  if (!callback) {
    Collector::Get().SetCycleCallback(nullptr);
    return;
  }
  Collector::Get().SetCycleCallback(
      [callback = std::move(callback)](const internal::CycleRecord& r) {
        callback(CycleEvent{
            r.num_gc,
            r.forced,
            r.concurrent,
            r.start_s,
            r.sweep_termination_ns,
            r.mark_ns,
            r.mark_termination_ns,
            r.pause_ns,
            r.ttsp_ns,
            r.heap_before,
            r.heap_at_end,
            r.heap_marked,
            r.objects_marked,
            r.goal == INT64_MAX ? -1 : r.goal,
            r.next_goal == INT64_MAX ? -1 : r.next_goal,
            r.assists,
            r.assist_ns,
            r.deferred_objects,
            r.workers,
            r.gc_cpu_fraction,
            StopTimes{r.stop.ttsp_ns, r.stop.sweep_ns, r.stop.roots_ns,
                      r.stop.ttsp2_ns, r.stop.mark_ns, r.stop.weak_ns,
                      r.stop.flip_ns, r.stop.flush_ns, r.stop.pace_ns}});
      });
}

uint64_t set_min_heap(uint64_t bytes) {
  return Collector::Get().SetMinHeap(bytes);
}

void set_out_of_memory_callback(
    std::function<void(const OutOfMemoryInfo&)> callback) {
  if (!callback) {
    Collector::Get().SetOutOfMemoryCallback(nullptr);
    return;
  }
  Collector::Get().SetOutOfMemoryCallback(
      [callback = std::move(callback)](size_t bytes, uint64_t limit,
                                       uint64_t live) {
        callback(OutOfMemoryInfo{bytes, limit, live});
      });
}

namespace {

// The figures from the heap's (h) and the collector's counters.
Stats MakeStats(const alloc::HeapStats& h) {
  Collector& c = Collector::Get();
  internal::CollectorStats cs = c.ReadStats();
  Stats s{};
  s.heap_alloc = h.heap_alloc;
  s.total_alloc = h.total_alloc;
  s.heap_sys = h.heap_sys;
  s.heap_ahead_sys = h.heap_committed - h.heap_sys;
  s.span_sys = h.span_record_bytes;
  s.cache_sys = runtime::ChargedSys(runtime::SysStat::kCache);
  s.gc_sys = h.page_map_bytes + h.gc_bits_bytes +
             runtime::ChargedSys(runtime::SysStat::kGc);
  s.handle_sys = runtime::ChargedSys(runtime::SysStat::kHandle);
  s.other_sys = runtime::ChargedSys(runtime::SysStat::kOther);
  s.sys = s.heap_sys + s.heap_ahead_sys + s.span_sys + s.cache_sys + s.gc_sys +
          s.handle_sys + s.other_sys;
  s.heap_idle = h.heap_idle;
  s.heap_inuse = h.heap_inuse;
  s.heap_released = h.heap_released;
  s.heap_objects = h.objects;
  s.mallocs = h.mallocs;
  s.frees = h.frees;
  s.num_gc = cs.num_gc;
  s.num_forced_gc = cs.num_forced_gc;
  s.next_gc = cs.next_gc == INT64_MAX ? 0 : static_cast<uint64_t>(cs.next_gc);
  s.heap_live = cs.heap_live > 0 ? static_cast<uint64_t>(cs.heap_live) : 0;
  s.external_bytes = static_cast<uint64_t>(alloc::Heap::Get().external_bytes());
  s.pause_total_ns = cs.pause_total_ns;
  s.pause_ns = cs.pause_ns;
  s.pause_end = cs.pause_end_unix_ns;
  s.pause_max_ns = cs.pause_max_ns;
  s.ttsp_ns = cs.ttsp_ns;
  s.ttsp_total_ns = cs.ttsp_total_ns;
  s.ttsp_max_ns = cs.ttsp_max_ns;
  s.last_gc_unix_ns = cs.last_gc_unix_ns;
  s.gc_cpu_fraction = cs.gc_cpu_fraction;
  s.last_marked_bytes = cs.last_marked_bytes;
  s.objects_destroyed = cs.objects_destroyed;
  s.weak_refs_cleared = cs.weak_refs_cleared;
  s.weak_map_entries_removed = cs.weak_map_entries_removed;
  internal::FinalizerStats fs = internal::ReadFinalizerStats();
  s.finalizers_pending = fs.pending;
  s.finalizers_queued = fs.queued;
  s.concurrent_cycles = cs.concurrent_cycles;
  s.deferred_objects = cs.deferred_objects;
  s.deferred_bytes = cs.deferred_bytes;
  s.mark_assists = cs.mark_assists;
  s.mark_assist_ns = cs.mark_assist_ns;
  s.finalizers_run = fs.run;
  s.cleanups_pending = fs.cleanups_pending;
  s.cleanups_queued = fs.cleanups_queued;
  s.cleanups_run = fs.cleanups_run;
  s.mark_workers = cs.mark_workers;
  s.scavenged_bytes = h.scavenged_bytes;
  s.background_scavenged_bytes = h.paced_scavenged_bytes;
  s.scavenger_cpu_ns = h.scavenger_cpu_ns;
  s.scavenge_goal =
      h.scavenge_goal == alloc::PageHeap::kNoScavengeGoal ? 0 : h.scavenge_goal;
  for (int i = 0; i < kNumSizeClasses; i++) {
    s.by_size[i] = SizeClassStats{h.by_size[i].size, h.by_size[i].mallocs,
                                  h.by_size[i].frees};
  }
  return s;
}

}  // namespace

Stats stats() {
  Collector::Get();  // its hooks and configuration first
  if (internal::InMarker()) {
    runtime::Print(
        "gc::stats() was called while marking (from a root set callback or "
        "a trace function): the collector holds the world stopped");
    GCRT_FATAL("gc::stats() does not stop the world while marking");
  }
  if (runtime::InNoStopRegion()) {
    throw std::logic_error(
        "gcrt: gc::stats() inside the destructor gc::free runs: the world "
        "may not stop there; read the statistics before or after the free");
  }
  if (internal::InSweepDestructor()) {
    // A sweep is in flight on this thread (it holds its span's claim): a
    // stop would wait for a collecting thread that waits for this sweep,
    // or let a cycle begin with it unfinished. Read without one.
    return MakeStats(alloc::ReadHeapStats());
  }
  alloc::HeapStats h;
  if (runtime::WorldStoppedByCaller()) {
    runtime::AssertWorldStopped();  // a collector hook (tests)
    h = alloc::ReadHeapStatsExact();
  } else {
    runtime::StopTheWorldFromAnyThread("gc::stats");
    h = alloc::ReadHeapStatsExact();
    runtime::StartTheWorldFromAnyThread();
  }
  return MakeStats(h);
}

Stats stats_unstopped() {
  Collector::Get();
  return MakeStats(alloc::ReadHeapStats());
}

void attach_thread() {
  Collector::Get();
  alloc::AttachCurrentThread();
}

void detach_thread() { alloc::DetachCurrentThread(); }

ThreadScope::ThreadScope() : attached_(nullptr) {
  if (runtime::InBlockingRegion()) {
    throw std::logic_error(
        "gcrt: gc::ThreadScope inside a gc::Blocking scope: the code it "
        "guards uses the GC heap, which the blocking region forbids; call "
        "it outside the region");
  }
  if (runtime::CurrentProcessor() == nullptr) {
    attach_thread();
    attached_ = runtime::CurrentProcessor();
  }
}

ThreadScope::~ThreadScope() {
  if (attached_ == nullptr) return;
  GCRT_CHECK(runtime::CurrentProcessor() == attached_ &&
             "a gc::ThreadScope ends on the thread that began it");
  detach_thread();
}

void set_mark_workers(uint32_t n) { Collector::Get().SetMarkWorkers(n); }
void set_task_stack_size(size_t bytes) { runtime::SetTaskStackBytes(bytes); }
bool set_verify(bool on) { return Collector::Get().SetVerify(on); }

bool set_stack_scan(bool on) {
  bool old = runtime::StackScanEnabled();
  runtime::SetStackScanEnabled(on);
  return old;
}
bool set_gctrace(bool on) { return Collector::Get().SetTrace(on); }
bool set_scavtrace(bool on) {
  Collector::Get();  // its configuration from GCRT_DEBUG first
  return alloc::Heap::Get().pages().SetScavTrace(on);
}
bool set_crosscheck(bool on) { return Collector::Get().SetCrossCheck(on); }

bool set_concurrent_mark(bool on) { return Collector::Get().SetConcurrent(on); }

bool set_quarantine(bool on) {
  Collector::Get();  // its configuration from GCRT_DEBUG first
  bool old = internal::ReclaimQuarantineOn();
  internal::SetReclaimQuarantine(on);
  return old;
}

uint64_t set_zeal(uint64_t n) {
  // The range GCRT_DEBUG=zeal accepts: refused, not clamped.
  if (n > static_cast<uint64_t>(runtime::env::kMaxZeal)) {
    throw std::invalid_argument("gcrt: gc::set_zeal(" + std::to_string(n) +
                                "): accepted: 0 (off) to 2^40 allocations");
  }
  Collector::Get();
  uint64_t old = alloc::g_zeal.load(std::memory_order_relaxed);
  if (n != 0) internal::SetReclaimQuarantine(true);
  alloc::SetZeal(n);
  // This thread's next allocation takes the slow path, which keeps it
  // there while zeal is on (alloc::InstallCache).
  if (n != 0 && alloc::t_in_destructor == 0 &&
      runtime::CurrentProcessor() != nullptr) {
    alloc::t_cache = &alloc::g_unattached_cache;
  }
  return old;
}

}  // namespace gc
