// Roots: what the marker starts from. See gc/collector.h for the overview.
// Besides thread stacks, scanned conservatively unless GCRT_STACK_SCAN=off
// (runtime/stack.h; the marker adds them as root jobs), every root is
// registered:
//
//   HandleArena       per thread: the slots of its rooted handles
//                     (gc::Root), O(1) to take and give back, and the stack
//                     of objects whose constructor is running (scanned
//                     conservatively: their memory was zeroed first) with
//                     the objects allocated meanwhile (kept until the
//                     constructor returns), so a collection inside a
//                     constructor loses nothing (Constructing below).
//   global handles    one HandleArena shared by every thread, under its
//                     lock (gc::Global).
//   RootSetRecord     a callback that traces what a user structure holds
//                     (gc::RootSet), or a range of pointers (gc::RootRange).
//
// The marker takes these as parallel jobs (RootJobs, marker.cc). Everything
// here is written by mutators while they run and read by markers with the world
// stopped; the stop-the-world handshake orders the two.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "gcrt/gc/tracer.h"
#include "gcrt/runtime/base.h"
#include "gcrt/runtime/mutex.h"
#include "gcrt/runtime/processor.h"
#include "gcrt/runtime/sys_stat.h"
#include "gcrt/runtime/task.h"

namespace gc::internal {

class HandleArena;

// The tag of a handle slot holding a conservative word (HandleSlot::ptr).
// Every handle of a GC object is at least 8-byte aligned, so the bit is
// free; a tagged word's own low bit is lost, which keeps the same object
// or the one before an unaligned interior word (garbage kept, never lost).
inline constexpr uintptr_t kConservativeHandle = 1;

struct HandleSlot {
  // The rooted object; null when the slot is free. Tagged with
  // kConservativeHandle, a word that may not be a pointer (a
  // conservatively scanned value a GC container stages:
  // api/internal/staged.h), marked as a stack word is.
  const void* ptr;
  HandleSlot* next_free;  // free-list link while free
};

// Slots come in 4 KiB chunks, aligned so a slot finds its arena.
struct alignas(4096) HandleChunk {
  static constexpr size_t kBytes = 4096;
  static constexpr size_t kSlots = (kBytes - 64) / sizeof(HandleSlot);
  HandleArena* arena;  // Immutable.
  HandleChunk* next;   // Guarded by the arena's mu_.
  alignas(64) HandleSlot slots[kSlots];

  static HandleChunk* Of(const HandleSlot* s) {
    return reinterpret_cast<HandleChunk*>(reinterpret_cast<uintptr_t>(s) &
                                          ~(kBytes - 1));
  }
};
static_assert(sizeof(HandleChunk) == HandleChunk::kBytes);

// An entry of a thread's construction stack: an object whose constructor
// is running (bytes > 0: scanned conservatively, its trace function must
// not run yet), or one built while an object below it on the stack was
// (bytes == 0: marked and traced as usual). The second kind is what keeps
// a constructor's children alive when it stores them where the marker
// cannot see yet (a std::vector member's buffer, say): every object a
// thread allocates while one of its constructors runs stays alive until
// that constructor returns.
struct Constructing {
  const void* object;
  size_t bytes;
};

class HandleArena {
 public:
  GCRT_CHARGED_TO(HandleArena, kHandle)
  // The owner's fast paths: no lock, no atomic.
  GCRT_ALWAYS_INLINE HandleSlot* Take(const void* p) {
    HandleSlot* s = free_;
    if (GCRT_PREDICT_FALSE(s == nullptr)) return TakeSlow(p);
    free_ = s->next_free;
    s->ptr = p;
    return s;
  }
  GCRT_ALWAYS_INLINE void Give(HandleSlot* s) {
    s->ptr = nullptr;
    s->next_free = free_;
    free_ = s;
  }
  // A slot of this arena given back by a thread that does not own it.
  void GiveRemote(HandleSlot* s) GCRT_EXCLUDES(mu_);
  // A slot of this arena re-pointed by such a thread.
  void SetRemote(HandleSlot* s, const void* p) GCRT_EXCLUDES(mu_);

  // The object at `object` (`bytes` long) is about to be constructed;
  // returns the depth EndConstruction takes back. Room for the entry that
  // EndConstruction may leave is made here, so that cannot fail.
  GCRT_ALWAYS_INLINE size_t BeginConstruction(const void* object,
                                              size_t bytes) {
    size_t depth = nconstructing_;
    if (GCRT_PREDICT_FALSE(depth + 2 > constructing_capacity_)) {
      GrowConstructing();
    }
    constructing_[depth] = Constructing{object, bytes};
    nconstructing_ = depth + 1;
    return depth;
  }
  // Its constructor returned (built) or threw. Whatever it allocated is
  // reachable from it now, or garbage; if another constructor is still
  // running below, the built object is kept until that one returns.
  GCRT_ALWAYS_INLINE void EndConstruction(size_t depth, const void* object,
                                          bool built) {
    nconstructing_ = depth;
    if (built && depth > 0) {
      constructing_[nconstructing_++] = Constructing{object, 0};
    }
  }
  // Entries on the construction stack (debug builds' check of constant
  // constructors, api/make.h).
  size_t construction_depth() const { return nconstructing_; }
  // An object built without a construction entry (a trivial constructor):
  // kept if a constructor of this thread is running.
  GCRT_ALWAYS_INLINE void KeepIfConstructing(const void* object) {
    if (GCRT_PREDICT_FALSE(nconstructing_ > 0)) KeepSlow(object);
  }

  // Marker side, world stopped (ForEachRoot takes the arena's lock; tests
  // call it with the world running).
  template <typename Fn>
  void ForEachRoot(Fn&& fn) GCRT_EXCLUDES(mu_);
  template <typename Fn>
  void ForEachConstructing(Fn&& fn) GCRT_REQUIRES(runtime::kWorldStopped) {
    for (size_t i = 0; i < nconstructing_; i++) fn(constructing_[i]);
  }

  // The calling thread's arena, creating (or adopting an orphaned) one and
  // attaching the thread first. Throws std::logic_error from a thread that
  // cannot attach (one that has exited).
  static HandleArena* ForCurrentThread();
  static HandleArena& Globals();
  // Every arena ever created (they are pooled, never freed).
  static std::vector<HandleArena*> All();
  // The thread has exited: the arena (and any roots it still holds, e.g.
  // handles moved to other threads) waits for the next thread.
  void Orphan();
  size_t LiveSlotsForTesting();

 private:
  HandleSlot* TakeSlow(const void* p) GCRT_EXCLUDES(mu_);
  void GrowConstructing();
  GCRT_NOINLINE void KeepSlow(const void* object);

  // Owned by the owning thread (or, for the global arena, guarded by
  // RootRegistry::globals_mu_); read by markers with the world stopped.
  HandleSlot* free_ = nullptr;
  Constructing* constructing_ = nullptr;
  size_t nconstructing_ = 0;
  size_t constructing_capacity_ = 0;

  runtime::Mutex mu_;
  HandleChunk* chunks_ GCRT_GUARDED_BY(mu_) = nullptr;
  // Slots given back by other threads; the owner takes them in TakeSlow.
  HandleSlot* remote_free_ GCRT_GUARDED_BY(mu_) = nullptr;
  // Guarded by the registry lock (roots.cc).
  bool orphaned_ = false;
  HandleArena* next_all_ = nullptr;
  HandleArena* next_orphan_ = nullptr;
  friend class RootRegistry;
  friend void LockRootsForFork();
  friend void UnlockRootsAfterFork();
};

// The calling thread's arena, or null: set when the thread takes its first
// handle. Owned by the thread.
extern thread_local constinit HandleArena* t_handles GCRT_TLS_FAST;

// The arena to use on the fast path: the thread's own, if it has one and
// holds a processor (a detached thread is not stopped by the collector and
// must attach again first).
GCRT_ALWAYS_INLINE HandleArena* CurrentHandles() {
  HandleArena* a = GCRT_TLS(t_handles);
  if (GCRT_PREDICT_FALSE(a == nullptr ||
                         GCRT_TLS(runtime::t_processor) == nullptr)) {
    return HandleArena::ForCurrentThread();
  }
  return a;
}

GCRT_ALWAYS_INLINE void GiveHandle(HandleSlot* s) {
  HandleArena* a = HandleChunk::Of(s)->arena;
  if (GCRT_PREDICT_TRUE(a == GCRT_TLS(t_handles) &&
                        GCRT_TLS(runtime::t_processor) != nullptr)) {
    a->Give(s);
  } else {
    a->GiveRemote(s);
  }
}

// Global handles (gc::Global): usable from any thread, attached or not.
HandleSlot* TakeGlobal(const void* p);
void GiveGlobal(HandleSlot* s);

// Re-points a handle slot: directly on the owning, attached thread (the
// world cannot be stopped while it runs); under the arena's lock from any
// other thread, or inside a blocking region, so the marker never reads a
// slot being written.
GCRT_ALWAYS_INLINE void SetHandle(HandleSlot* s, const void* p) {
  HandleArena* a = HandleChunk::Of(s)->arena;
  if (GCRT_PREDICT_TRUE(a == GCRT_TLS(t_handles) &&
                        GCRT_TLS(runtime::t_processor) != nullptr)) {
    s->ptr = p;
  } else {
    a->SetRemote(s, p);
  }
}

// A registered root set: a callback, or a range of pointers.
struct RootSetRecord {
  void (*trace)(void* context, Tracer& tracer);  // null for a range
  void* context;
  const void* const* range_begin;  // a range: count pointers from here
  size_t range_count;
  RootSetRecord* prev = nullptr;  // Guarded by the registry lock.
  RootSetRecord* next = nullptr;
  // What gc::why_alive calls it, if not "a gc::RootSet" (or RootRange):
  // a registration of gcrt's own (a gc::Thread's function). Set before
  // registering, never changed.
  const char* what = nullptr;
};

// Registers a root set (attaching the calling thread). Unregistering waits
// for a marking in progress to finish; doing it from inside a marking
// callback is a fatal error that says so.
void RegisterRootSet(RootSetRecord* r);
void UnregisterRootSet(RootSetRecord* r);

// One unit of root marking.
struct RootJob {
  // kFinalizers: the collector's own (gc/finalizer.h), added by the
  // marker; kStack: a thread's stack, scanned conservatively
  // (runtime/stack.h); kTaskStack: the stack of a task no worker runs now
  // (runtime/task.h), scanned the same way; kTaskClosure: a task's function
  // object and arguments when stacks are not scanned, the same way.
  enum Kind : uint8_t {
    kArena,
    kRootSet,
    kFinalizers,
    kStack,
    kTaskStack,
    kTaskClosure
  } kind;
  HandleArena* arena;
  RootSetRecord* set;
  runtime::Processor* processor = nullptr;  // kStack
  runtime::SuspendedStack task_stack{};     // kTaskStack, kTaskClosure
};

// Collector side, world stopped. Holds the registry lock (and the global
// handles' lock) from Begin to End, so root sets cannot come or go and no
// global handle changes while marking.
class RootRegistry {
 public:
  static RootRegistry& Get();
  void BeginMarking(std::vector<RootJob>* jobs,
                    std::vector<HandleArena*>* arenas)
      GCRT_REQUIRES(runtime::kWorldStopped) GCRT_ACQUIRE(globals_mu_, mu_);
  void EndMarking() GCRT_RELEASE(mu_, globals_mu_);
  bool marking() const { return marking_.load(std::memory_order_relaxed); }

 private:
  friend class HandleArena;
  friend void LockRootsForFork();
  friend void UnlockRootsAfterFork();
  friend void RegisterRootSet(RootSetRecord*);
  friend void UnregisterRootSet(RootSetRecord*);
  friend HandleSlot* TakeGlobal(const void* p);
  friend void GiveGlobal(HandleSlot* s);
  // Guards the global arena's owner fields (free list, slot writes); taken
  // before mu_.
  runtime::Mutex globals_mu_;
  runtime::Mutex mu_;
  HandleArena* arenas_ GCRT_GUARDED_BY(mu_) = nullptr;
  // The orphaned arenas (their threads or tasks ended), for the next
  // thread or task to adopt: a stack through next_orphan_.
  HandleArena* orphans_ GCRT_GUARDED_BY(mu_) = nullptr;
  RootSetRecord* sets_ GCRT_GUARDED_BY(mu_) = nullptr;
  // Atomic: stored (relaxed) by the collector under mu_, read by
  // unregistering threads to report misuse.
  std::atomic<bool> marking_{false};
};

// The calling thread enters or leaves a blocking region (an allocator
// hook): its handle fast path is turned off meanwhile, so handles cannot be
// taken there, and given back ones go through the arena's lock.
void OnBlocking(bool entering);

// Makes the handle arena (with its construction stack) follow each task
// from worker to worker (runtime/task.h's TaskLocalHook). Idempotent;
// called before the first task starts.
void InstallTaskHandles();

// Fork support (gc/fork.h): the registry, global-handle and every arena's
// lock across a fork (threads in blocking regions or not attached may take
// them). The arenas of threads that do not exist in the child keep their
// roots there: their Roots may have moved to the forking thread.
void LockRootsForFork();
void UnlockRootsAfterFork();

// True on a thread running mark work (a marker thread, or the collector
// while it marks): root set callbacks run there and must not touch the
// heap or the root registry.
bool InMarker();
void SetInMarker(bool on);

template <typename Fn>
void HandleArena::ForEachRoot(Fn&& fn) {
  runtime::MutexLock lock(&mu_);
  for (HandleChunk* c = chunks_; c != nullptr; c = c->next) {
    for (const HandleSlot& s : c->slots) {
      if (s.ptr != nullptr) fn(s.ptr);
    }
  }
}

}  // namespace gc::internal
