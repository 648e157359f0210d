// See roots.h.
#include "gcrt/gc/roots.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include "gcrt/alloc/heap.h"
#include "gcrt/gc/collector.h"
#include "gcrt/gc/sweeper.h"
#include "gcrt/runtime/check.h"
#include "gcrt/runtime/os_mem.h"
#include "gcrt/runtime/safepoint.h"
#include "gcrt/runtime/task.h"

namespace gc::internal {

thread_local constinit HandleArena* t_handles GCRT_TLS_FAST = nullptr;

namespace {

thread_local bool t_in_marker = false;  // Owned by the thread.

// Orphans the thread's arena when the thread exits, so the next thread
// reuses it (roots still in it, moved to other threads, stay valid).
struct ArenaExit {
  ~ArenaExit();
};
thread_local ArenaExit t_arena_exit;

// The thread's arena while its fast path is turned off (blocking region,
// marking). Owned by the thread.
thread_local HandleArena* t_handles_parked = nullptr;

void ParkHandles(bool park) {
  if (park) {
    if (t_handles != nullptr) t_handles_parked = t_handles;
    t_handles = nullptr;
  } else if (t_handles_parked != nullptr) {
    t_handles = t_handles_parked;
    t_handles_parked = nullptr;
  }
}

ArenaExit::~ArenaExit() {
  ParkHandles(false);
  if (HandleArena* a = t_handles) {
    t_handles = nullptr;
    a->Orphan();
  }
}

}  // namespace

bool InMarker() { return t_in_marker; }
void SetInMarker(bool on) {
  t_in_marker = on;
  ParkHandles(on);
}

void OnBlocking(bool entering) { ParkHandles(entering); }

RootRegistry& RootRegistry::Get() {
  // Never destroyed: threads give handles back during exit.
  alignas(RootRegistry) static unsigned char storage[sizeof(RootRegistry)];
  static RootRegistry* r = new (storage) RootRegistry();
  return *r;
}

HandleArena& HandleArena::Globals() {
  alignas(HandleArena) static unsigned char storage[sizeof(HandleArena)];
  static HandleArena* a = [] {
    auto* g = new (storage) HandleArena();
    RootRegistry& r = RootRegistry::Get();
    runtime::MutexLock lock(&r.mu_);
    g->next_all_ = r.arenas_;
    r.arenas_ = g;
    return g;
  }();
  return *a;
}

HandleArena* HandleArena::ForCurrentThread() {
  if (runtime::InBlockingRegion()) {
    throw std::logic_error(
        "gcrt: a gc::Root or GC object was created inside a blocking region "
        "(gc::Blocking): the world may be stopped while this thread runs; "
        "create it before entering the region or after leaving it");
  }
  if (InDestructor()) {
    throw std::logic_error(
        "gcrt: a gc::Root or GC object was created inside the destructor of a "
        "GC object run by the collector: destructors may only release non-GC "
        "resources");
  }
  if (InMarker()) {
    runtime::Print(
        "a gc::Root or GC object was created inside marking (a root set "
        "callback or a trace function): these run with the world stopped "
        "and may only visit pointers, not allocate or make handles");
    GCRT_FATAL("no handle or object is created while marking");
  }
  Collector::Get();  // the first handle of the process starts the collector
  alloc::AttachCurrentThread();  // throws after thread exit
  if (t_handles != nullptr) return t_handles;
  ArenaExit* volatile armed = &t_arena_exit;  // registers the exit hook
  (void)armed;
  if (t_handles_parked != nullptr) {
    t_handles = t_handles_parked;
    t_handles_parked = nullptr;
    return t_handles;
  }
  RootRegistry& r = RootRegistry::Get();
  HandleArena* a = nullptr;
  {
    runtime::MutexLock lock(&r.mu_);
    if (HandleArena* x = r.orphans_) {
      r.orphans_ = x->next_orphan_;
      x->next_orphan_ = nullptr;
      x->orphaned_ = false;
      a = x;
    }
    if (a == nullptr) {
      a = new HandleArena();
      a->next_all_ = r.arenas_;
      r.arenas_ = a;
    }
  }
  t_handles = a;
  return a;
}

void HandleArena::Orphan() {
  GCRT_CHECK_EQ(nconstructing_, 0u);
  RootRegistry& r = RootRegistry::Get();
  runtime::MutexLock lock(&r.mu_);
  orphaned_ = true;
  next_orphan_ = r.orphans_;
  r.orphans_ = this;
}

namespace {

// A task switches only where the thread's arena is in t_handles: outside
// blocking regions and marking (runtime/task.h refuses both).
void* ExchangeTaskHandles(void* value) {
  GCRT_CHECK(t_handles_parked == nullptr &&
             "a task switches outside blocking regions and marking");
  HandleArena* old = t_handles;
  t_handles = static_cast<HandleArena*>(value);
  return old;
}

void ReleaseTaskHandles(void* value) {
  static_cast<HandleArena*>(value)->Orphan();
}

}  // namespace

void InstallTaskHandles() {
  static const bool installed = [] {
    runtime::SetTaskLocalHook({&ExchangeTaskHandles, &ReleaseTaskHandles});
    return true;
  }();
  (void)installed;
}

std::vector<HandleArena*> HandleArena::All() {
  RootRegistry& r = RootRegistry::Get();
  runtime::MutexLock lock(&r.mu_);
  std::vector<HandleArena*> v;
  for (HandleArena* x = r.arenas_; x != nullptr; x = x->next_all_) {
    v.push_back(x);
  }
  return v;
}

HandleSlot* HandleArena::TakeSlow(const void* p) {
  {
    runtime::MutexLock lock(&mu_);
    if (remote_free_ != nullptr) {
      free_ = remote_free_;
      remote_free_ = nullptr;
    } else {
      // Handle memory is not GC memory: the marker reads it as roots.
      void* mem = runtime::AllocAlignedMetadata(
          HandleChunk::kBytes, HandleChunk::kBytes, runtime::SysStat::kHandle,
          "a chunk of handle slots (gc::Root, gc::Global)");
      std::memset(mem, 0, HandleChunk::kBytes);
      auto* c = static_cast<HandleChunk*>(mem);
      c->arena = this;
      for (size_t i = HandleChunk::kSlots; i > 0; i--) {
        c->slots[i - 1].next_free = free_;
        free_ = &c->slots[i - 1];
      }
      c->next = chunks_;
      chunks_ = c;
    }
  }
  return Take(p);
}

void HandleArena::GiveRemote(HandleSlot* s) {
  runtime::MutexLock lock(&mu_);
  s->ptr = nullptr;
  s->next_free = remote_free_;
  remote_free_ = s;
}

void HandleArena::SetRemote(HandleSlot* s, const void* p) {
  // Storing a pointer into a root must not interleave with marking (the
  // object's other roots may be dropped in between): only a thread the
  // world stops for may do it.
  if (runtime::InBlockingRegion()) {
    throw std::logic_error(
        "gcrt: a gc::Root was assigned inside a blocking region "
        "(gc::Blocking): the collector may be marking while this thread "
        "runs; assign it before entering the region or after leaving it");
  }
  alloc::AttachCurrentThread();
  runtime::MutexLock lock(&mu_);
  s->ptr = p;
}

void HandleArena::GrowConstructing() {
  size_t cap = constructing_capacity_ == 0 ? 64 : constructing_capacity_ * 2;
  // Grown by the owner while it runs; read by markers with the world
  // stopped. The old array stays valid until the new one is published.
  auto* fresh = static_cast<Constructing*>(runtime::AllocMetadata(
      cap * sizeof(Constructing), runtime::SysStat::kHandle,
      "the record of objects under construction"));
  if (nconstructing_ > 0) {
    std::memcpy(fresh, constructing_, nconstructing_ * sizeof(Constructing));
  }
  runtime::FreeMetadata(constructing_, runtime::SysStat::kHandle);
  constructing_ = fresh;
  constructing_capacity_ = cap;
}

void HandleArena::KeepSlow(const void* object) {
  if (nconstructing_ == constructing_capacity_) GrowConstructing();
  constructing_[nconstructing_++] = Constructing{object, 0};
}

size_t HandleArena::LiveSlotsForTesting() {
  size_t n = 0;
  ForEachRoot([&](const void*) { n++; });
  return n;
}

void RegisterRootSet(RootSetRecord* rec) {
  if (InMarker()) {
    runtime::Print(
        "a gc::RootSet was registered inside marking (a root set callback "
        "or a trace function): these may only visit pointers");
    GCRT_FATAL("no root set is registered while marking");
  }
  RootRegistry& r = RootRegistry::Get();
  runtime::MutexLock lock(&r.mu_);
  rec->prev = nullptr;
  rec->next = r.sets_;
  if (r.sets_ != nullptr) r.sets_->prev = rec;
  r.sets_ = rec;
}

void UnregisterRootSet(RootSetRecord* rec) {
  if (InMarker()) {
    runtime::Print(
        "a gc::RootSet was unregistered during marking, from inside a root "
        "set callback or trace function: the marker may be reading it. "
        "Destroy root sets outside of tracing.");
    GCRT_FATAL("no root set is unregistered while marking");
  }
  RootRegistry& r = RootRegistry::Get();
  // Waits for a marking in progress: the collector holds mu_ throughout.
  runtime::MutexLock lock(&r.mu_);
  if (rec->prev != nullptr) {
    rec->prev->next = rec->next;
  } else {
    GCRT_CHECK(r.sets_ == rec && "the root set is registered");
    r.sets_ = rec->next;
  }
  if (rec->next != nullptr) rec->next->prev = rec->prev;
  rec->prev = rec->next = nullptr;
}

HandleSlot* TakeGlobal(const void* p) {
  // As for a gc::Root (ForCurrentThread): a global made by a destructor the
  // collector runs could only hold the dying object (or what it reaches),
  // and would point into reused memory once it is freed.
  if (InDestructor()) {
    throw std::logic_error(
        "gcrt: a gc::Global was created inside the destructor of a GC object "
        "run by the collector: destructors may only release non-GC "
        "resources");
  }
  HandleArena& g = HandleArena::Globals();
  runtime::MutexLock lock(&RootRegistry::Get().globals_mu_);
  return g.Take(p);
}

void GiveGlobal(HandleSlot* s) {
  HandleArena& g = HandleArena::Globals();
  runtime::MutexLock lock(&RootRegistry::Get().globals_mu_);
  g.Give(s);
}

void RootRegistry::BeginMarking(std::vector<RootJob>* jobs,
                                std::vector<HandleArena*>* arenas) {
  HandleArena::Globals();  // registered before the registry lock is taken
  globals_mu_.lock();
  mu_.lock();
  marking_.store(true, std::memory_order_relaxed);
  for (HandleArena* a = arenas_; a != nullptr; a = a->next_all_) {
    arenas->push_back(a);
    jobs->push_back(RootJob{RootJob::kArena, a, nullptr});
  }
  for (RootSetRecord* s = sets_; s != nullptr; s = s->next) {
    jobs->push_back(RootJob{RootJob::kRootSet, nullptr, s});
  }
}

void RootRegistry::EndMarking() {
  marking_.store(false, std::memory_order_relaxed);
  mu_.unlock();
  globals_mu_.unlock();
}

// Not analysed: holds every arena's lock (a list of them), from here to
// UnlockRootsAfterFork. In the order BeginMarking takes them.
void LockRootsForFork() GCRT_NO_THREAD_SAFETY_ANALYSIS {
  RootRegistry& r = RootRegistry::Get();
  r.globals_mu_.lock();
  r.mu_.lock();
  for (HandleArena* a = r.arenas_; a != nullptr; a = a->next_all_) {
    a->mu_.lock();
  }
}

// Not analysed: releases what LockRootsForFork took.
void UnlockRootsAfterFork() GCRT_NO_THREAD_SAFETY_ANALYSIS {
  RootRegistry& r = RootRegistry::Get();
  for (HandleArena* a = r.arenas_; a != nullptr; a = a->next_all_) {
    a->mu_.unlock();
  }
  r.mu_.unlock();
  r.globals_mu_.unlock();
}

}  // namespace gc::internal
