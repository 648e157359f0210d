// See finalizer.h.
#include "gcrt/gc/finalizer.h"

#include <atomic>
#include <cstdio>
#include <exception>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "gcrt/alloc/heap.h"
#include "gcrt/gc/collector.h"
#include "gcrt/gc/marker.h"
#include "gcrt/gc/sweeper.h"
#include "gcrt/runtime/backtrace.h"
#include "gcrt/runtime/check.h"
#include "gcrt/runtime/list.h"
#include "gcrt/runtime/mutex.h"
#include "gcrt/runtime/safepoint.h"
#include "gcrt/runtime/stack.h"
#include "gcrt/runtime/sys_stat.h"
#include "gcrt/runtime/thread_start.h"

namespace gc::internal {

namespace {

// Guards the finalizers' registry and queue (Finalizers below) and their
// entries. Lock order: before a span's specials_lock. Never held across a
// safepoint or while waiting for the world: the collector takes it with
// the world stopped (marking, mark termination).
runtime::Mutex g_fin_mu;

// A finalizer (the kFinalizer special on its object's span), or a cleanup
// (one record of its object's CleanupSpecial, then an entry of the queue).
struct FinalizerSpecial : alloc::Special {
  GCRT_CHARGED_TO(FinalizerSpecial, kOther)
  uintptr_t object = 0;     // Immutable. 0 for a cleanup: it never sees it.
  FinalizerFn fn;           // Immutable once linked.
  uint64_t cleanup_id = 0;  // Immutable; nonzero for a cleanup.
  // Links of the registry (while the special is on its span), of its
  // object's cleanups (a cleanup not queued yet) or of the queue (after
  // mark termination, or the object's reclamation, took it off).
  FinalizerSpecial* prev GCRT_GUARDED_BY(g_fin_mu) = nullptr;
  FinalizerSpecial* next GCRT_GUARDED_BY(g_fin_mu) = nullptr;
  uint64_t seq GCRT_GUARDED_BY(g_fin_mu) = 0;  // queue order, from 1
  // A thread is running it, and which.
  bool claimed GCRT_GUARDED_BY(g_fin_mu) = false;
  std::thread::id claimer GCRT_GUARDED_BY(g_fin_mu);
  // gc::free freed the object while its finalizer ran: the queue no
  // longer roots it (its slot may be quarantined, or reused).
  bool freed GCRT_GUARDED_BY(g_fin_mu) = false;
};

using List = runtime::IntrusiveList<FinalizerSpecial>;

// An object's cleanups: its kCleanup special, holding every cleanup added
// to it and not yet stopped, in the order they were added.
struct CleanupSpecial : alloc::Special {
  List records GCRT_GUARDED_BY(g_fin_mu);
};

struct Finalizers {
  runtime::CondVar work_cv;  // the queue has an unclaimed entry (g_fin_mu)
  runtime::CondVar done_cv;  // an entry was run (g_fin_mu)
  List registry GCRT_GUARDED_BY(g_fin_mu);  // specials on their spans
  List queue GCRT_GUARDED_BY(g_fin_mu);     // unreachable, waiting to run
  uint64_t next_seq GCRT_GUARDED_BY(g_fin_mu) = 1;
  uint64_t queued GCRT_GUARDED_BY(g_fin_mu) = 0;
  uint64_t run GCRT_GUARDED_BY(g_fin_mu) = 0;
  uint64_t next_cleanup_id GCRT_GUARDED_BY(g_fin_mu) = 1;
  uint64_t cleanups_pending GCRT_GUARDED_BY(g_fin_mu) = 0;
  uint64_t cleanups_queued GCRT_GUARDED_BY(g_fin_mu) = 0;
  uint64_t cleanups_run GCRT_GUARDED_BY(g_fin_mu) = 0;
  // Claimed entries (finalizers running). Atomic: changed under g_fin_mu,
  // read relaxed by gc::free as a hint that ForgetFinalizerRoot has work.
  std::atomic<uint32_t> running{0};
};
Finalizers& g_fin = *new Finalizers;  // lives for the process

thread_local bool t_in_finalizer = false;  // Owned by the thread.

// Counts a queue entry as run (a finalizer or a cleanup).
void CountRunLocked(const FinalizerSpecial* f) GCRT_REQUIRES(g_fin_mu) {
  (f->cleanup_id != 0 ? g_fin.cleanups_run : g_fin.run)++;
}

// Runs the first unclaimed entry with seq <= limit, if any; returns
// whether it ran one. The entry stays on the queue (a root) while it runs.
// `rethrow`: a finalizer's exception goes to the caller; otherwise it is
// reported and dropped (the finalizer thread has no caller).
bool RunOne(uint64_t limit, bool rethrow) {
  FinalizerSpecial* f = nullptr;
  {
    runtime::MutexLock lock(&g_fin_mu);
    for (FinalizerSpecial* e = g_fin.queue.first(); e != nullptr; e = e->next) {
      if (e->seq > limit) break;
      if (!e->claimed) {
        f = e;
        break;
      }
    }
    if (f == nullptr) return false;
    f->claimed = true;
    f->claimer = std::this_thread::get_id();
    g_fin.running.fetch_add(1, std::memory_order_relaxed);
  }
  std::exception_ptr error;
  t_in_finalizer = true;
  try {
    f->fn(reinterpret_cast<void*>(f->object));
  } catch (...) {
    error = std::current_exception();
  }
  t_in_finalizer = false;
  {
    runtime::MutexLock lock(&g_fin_mu);
    g_fin.queue.Remove(f);
    CountRunLocked(f);
    g_fin.running.fetch_sub(1, std::memory_order_relaxed);
  }
  g_fin.done_cv.NotifyAll();
  const bool f_was_cleanup = f->cleanup_id != 0;
  delete f;  // the function's captures are destroyed here, unlocked
  if (error) {
    if (rethrow) std::rethrow_exception(error);
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      runtime::Print("a %s threw (ignored): %s",
                     f_was_cleanup ? "cleanup" : "finalizer", e.what());
    } catch (...) {
      runtime::Print("a %s threw a non-std::exception (ignored)",
                     f_was_cleanup ? "cleanup" : "finalizer");
    }
  }
  return true;
}

bool HasUnclaimed() GCRT_REQUIRES(g_fin_mu) {
  for (FinalizerSpecial* e = g_fin.queue.first(); e != nullptr; e = e->next) {
    if (!e->claimed) return true;
  }
  return false;
}

[[noreturn]] void FinalizerThread() {
  runtime::SetCurrentThreadName("gcrt-finalizer");
  alloc::AttachCurrentThread();
  for (;;) {
    // The finalizers' frames are gone, not the pointers they left below
    // this frame: the wait's frames would keep the last object finalized.
    runtime::ClearDeadStack();
    {
      // Asleep in a blocking region: the world stops without this thread.
      runtime::BlockingRegion blocking;
      runtime::MutexLock lock(&g_fin_mu);
      while (!HasUnclaimed()) g_fin.work_cv.Wait(&g_fin_mu);
    }
    while (RunOne(UINT64_MAX, /*rethrow=*/false)) {
    }
  }
}

// Whether the finalizer thread was started. Reset in the child of a fork
// (the thread is gone there).
bool g_fin_thread_started GCRT_GUARDED_BY(g_fin_mu) = false;
// Set in the child of a fork if the finalizer thread ran in the parent;
// taken by the child's first cycle. Owned by the child's single thread.
bool restart_finalizer_thread_ = false;

void StartFinalizerThread() {
  runtime::MutexLock lock(&g_fin_mu);
  if (g_fin_thread_started) return;
  // Refused (a thread limit): the finalizers wait in their queue (and
  // gc::run_finalizers runs them) until the next gc::set_finalizer or
  // gc::add_cleanup tries again.
  g_fin_thread_started = runtime::StartDetachedThread(&FinalizerThread);
}

alloc::Span* ObjectSpan(const void* object, const char* what) {
  if (runtime::InBlockingRegion()) {
    throw std::logic_error(std::string("gcrt: ") + what +
                           " inside a blocking region (gc::Blocking): leave "
                           "the region first");
  }
  // Specials change only on threads the world stops for.
  if (runtime::CurrentProcessor() == nullptr) alloc::AttachCurrentThread();
  return SpanOfLiveObject(object, what);
}

}  // namespace

void SetFinalizer(const void* object, FinalizerFn fn) {
  if (!fn) {
    throw std::invalid_argument(
        "gcrt: gc::set_finalizer with an empty function; use "
        "gc::clear_finalizer to remove one");
  }
  Collector::Get();  // registers the hook that releases specials
  alloc::Span* s = ObjectSpan(object, "gc::set_finalizer");
  StartFinalizerThread();
  auto* f = new FinalizerSpecial;
  f->kind = alloc::SpecialKind::kFinalizer;
  f->object = reinterpret_cast<uintptr_t>(object);
  f->fn = std::move(fn);
  {
    runtime::MutexLock lock(&g_fin_mu);
    if (alloc::AddSpecial(s, f->object, f)) {
      g_fin.registry.PushBack(f);
      return;
    }
  }
  delete f;
  throw std::invalid_argument(
      "gcrt: gc::set_finalizer of " +
      alloc::HexAddress(reinterpret_cast<uintptr_t>(object)) +
      ": the object has a finalizer already; clear "
      "it with gc::clear_finalizer first");
}

bool ClearFinalizer(const void* object) {
  alloc::Span* s = ObjectSpan(object, "gc::clear_finalizer");
  FinalizerSpecial* f;
  {
    runtime::MutexLock lock(&g_fin_mu);
    f = static_cast<FinalizerSpecial*>(
        alloc::RemoveSpecial(s, reinterpret_cast<uintptr_t>(object),
                             alloc::SpecialKind::kFinalizer));
    if (f == nullptr) return false;
    g_fin.registry.Remove(f);
  }
  delete f;
  return true;
}

uint64_t RunFinalizers() {
  if (t_in_finalizer) {
    throw std::logic_error(
        "gcrt: gc::run_finalizers() called from a finalizer: it would wait "
        "for itself");
  }
  if (runtime::InBlockingRegion()) {
    throw std::logic_error(
        "gcrt: gc::run_finalizers() inside a blocking region (gc::Blocking): "
        "finalizers use the GC heap; leave the region first");
  }
  uint64_t limit;
  {
    runtime::MutexLock lock(&g_fin_mu);
    limit = g_fin.next_seq - 1;
  }
  uint64_t ran = 0;
  for (;;) {
    if (RunOne(limit, /*rethrow=*/true)) {
      ran++;
      continue;
    }
    // What is left up to `limit` is running on other threads.
    runtime::BlockingRegion blocking;
    runtime::MutexLock lock(&g_fin_mu);
    FinalizerSpecial* e = g_fin.queue.first();
    if (e == nullptr || e->seq > limit) return ran;
    g_fin.done_cv.Wait(&g_fin_mu);
  }
}

void ForEachFinalizerRoot(void (*scan_contents)(void* context, uintptr_t obj),
                          void (*mark)(void* context, uintptr_t obj),
                          void* context) {
  runtime::MutexLock lock(&g_fin_mu);
  for (FinalizerSpecial* f = g_fin.registry.first(); f != nullptr;
       f = f->next) {
    scan_contents(context, f->object);
  }
  for (FinalizerSpecial* f = g_fin.queue.first(); f != nullptr; f = f->next) {
    if (!f->freed && f->cleanup_id == 0) mark(context, f->object);
  }
}

void ForgetFinalizerRoot(uintptr_t object) {
  if (g_fin.running.load(std::memory_order_relaxed) == 0) return;
  runtime::MutexLock lock(&g_fin_mu);
  for (FinalizerSpecial* f = g_fin.queue.first(); f != nullptr; f = f->next) {
    if (f->claimed && f->object == object) f->freed = true;
  }
}

uint64_t QueueFinalizers(uint64_t* queued) {
  uint64_t bytes = 0, n = 0;
  {
    runtime::MutexLock lock(&g_fin_mu);
    // Two passes: every unmarked finalizable object is queued before any is
    // marked, since marking one may mark another (two pieces of one tiny
    // block share a mark bit), which would then wait for a later cycle.
    FinalizerSpecial* last_before = g_fin.queue.last();
    for (FinalizerSpecial* f = g_fin.registry.first(); f != nullptr;) {
      FinalizerSpecial* next = f->next;
      if (!IsMarkedObject(f->object)) {
        alloc::Span* s = alloc::SpanOf(reinterpret_cast<void*>(f->object));
        GCRT_CHECK(s != nullptr &&
                   "a finalizable object is in the heap until it is finalized");
        alloc::Special* taken =
            alloc::RemoveSpecial(s, f->object, alloc::SpecialKind::kFinalizer);
        GCRT_CHECK(taken == f &&
                   "every finalizer special is on its span's list");
        g_fin.registry.Remove(f);
        f->seq = g_fin.next_seq++;
        g_fin.queue.PushBack(f);
        n++;
      }
      f = next;
    }
    for (FinalizerSpecial* f = last_before != nullptr ? last_before->next
                                                      : g_fin.queue.first();
         f != nullptr; f = f->next) {
      bytes += MarkObjectAtTermination(f->object);
    }
    g_fin.queued += n;
  }
  if (n > 0) g_fin.work_cv.NotifyAll();
  *queued = n;
  return bytes;
}

void ReleaseFinalizerSpecial(alloc::Special* s) {
  auto* f = static_cast<FinalizerSpecial*>(s);
  {
    runtime::MutexLock lock(&g_fin_mu);
    g_fin.registry.Remove(f);
  }
  delete f;
}

uint64_t AddCleanup(const void* object, std::function<void()> fn) {
  if (!fn) {
    throw std::invalid_argument("gcrt: gc::add_cleanup with an empty function");
  }
  Collector::Get();  // registers the hook that queues cleanups
  alloc::Span* s = ObjectSpan(object, "gc::add_cleanup");
  StartFinalizerThread();
  const auto p = reinterpret_cast<uintptr_t>(object);
  auto c = std::make_unique<FinalizerSpecial>();
  c->kind = alloc::SpecialKind::kCleanup;
  c->fn = [fn = std::move(fn)](void*) { fn(); };
  auto holder = std::make_unique<CleanupSpecial>();
  holder->kind = alloc::SpecialKind::kCleanup;
  // Nothing from ObjectSpan's liveness check to here reaches a safepoint,
  // so no cycle can find the object dead in between.
  runtime::MutexLock lock(&g_fin_mu);
  auto* cleanups = static_cast<CleanupSpecial*>(
      alloc::FindSpecial(s, p, alloc::SpecialKind::kCleanup));
  if (cleanups == nullptr) {
    const bool added = alloc::AddSpecial(s, p, holder.get());
    GCRT_CHECK(added && "no cleanup special was found under the lock");
    cleanups = holder.release();
  }
  c->cleanup_id = g_fin.next_cleanup_id++;
  const uint64_t id = c->cleanup_id;
  cleanups->records.PushBack(c.release());
  g_fin.cleanups_pending++;
  return id;
}

bool StopCleanup(const void* object, uint64_t id) {
  // The object may be gone, its memory reused or returned: SpanOf answers
  // for any address, and the ids of another object's cleanups differ.
  alloc::Span* s = alloc::SpanOf(object);
  if (s == nullptr || !s->Contains(reinterpret_cast<uintptr_t>(object))) {
    return false;
  }
  FinalizerSpecial* stopped = nullptr;
  {
    runtime::MutexLock lock(&g_fin_mu);
    auto* cleanups = static_cast<CleanupSpecial*>(alloc::FindSpecial(
        s, reinterpret_cast<uintptr_t>(object), alloc::SpecialKind::kCleanup));
    if (cleanups == nullptr) return false;
    for (FinalizerSpecial* c = cleanups->records.first(); c != nullptr;
         c = c->next) {
      if (c->cleanup_id == id) {
        cleanups->records.Remove(c);
        g_fin.cleanups_pending--;
        stopped = c;
        break;
      }
    }
    // An empty CleanupSpecial stays on the span until the object dies:
    // removing it here would race with an AddCleanup that found it.
  }
  if (stopped == nullptr) return false;
  delete stopped;  // the function and its argument are destroyed unlocked
  return true;
}

void QueueCleanupSpecial(alloc::Special* s) {
  auto* cleanups = static_cast<CleanupSpecial*>(s);
  uint64_t n = 0;
  {
    runtime::MutexLock lock(&g_fin_mu);
    while (FinalizerSpecial* c = cleanups->records.first()) {
      cleanups->records.Remove(c);
      c->seq = g_fin.next_seq++;
      g_fin.queue.PushBack(c);
      n++;
    }
    g_fin.cleanups_pending -= n;
    g_fin.cleanups_queued += n;
  }
  delete cleanups;
  if (n > 0) g_fin.work_cv.NotifyAll();
}

FinalizerStats ReadFinalizerStats() {
  runtime::MutexLock lock(&g_fin_mu);
  return FinalizerStats{
      g_fin.registry.size(),  g_fin.queued,          g_fin.run,
      g_fin.cleanups_pending, g_fin.cleanups_queued, g_fin.cleanups_run};
}

void LockFinalizersForFork() GCRT_ACQUIRE(g_fin_mu) { g_fin_mu.lock(); }

void UnlockFinalizersAfterFork(bool child) GCRT_RELEASE(g_fin_mu) {
  if (child) {
    g_fin.work_cv.ResetAfterFork();
    g_fin.done_cv.ResetAfterFork();
    // Finalizers other threads were running will never finish here: they
    // count as run (at most once), and their records are left alone (their
    // functions' captures may be in any state).
    const std::thread::id self = std::this_thread::get_id();
    for (FinalizerSpecial* e = g_fin.queue.first(); e != nullptr;) {
      FinalizerSpecial* next = e->next;
      if (e->claimed && e->claimer != self) {
        g_fin.queue.Remove(e);
        CountRunLocked(e);
        g_fin.running.fetch_sub(1, std::memory_order_relaxed);
      }
      e = next;
    }
    // The thread is gone: the next one is started on demand.
    restart_finalizer_thread_ = g_fin_thread_started;
    g_fin_thread_started = false;
  }
  g_fin_mu.unlock();
}

void RestartFinalizerThreadAfterFork() {
  if (restart_finalizer_thread_) {
    restart_finalizer_thread_ = false;
    StartFinalizerThread();
  }
}

}  // namespace gc::internal
