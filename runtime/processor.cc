// See processor.h.
#include "gcrt/runtime/processor.h"

#include <unistd.h>

#include <algorithm>
#include <new>
#include <stdexcept>
#include <thread>

#include "gcrt/runtime/check.h"

namespace gc::runtime {

thread_local constinit Processor* t_processor GCRT_TLS_FAST = nullptr;

namespace {

// Whether the thread is exiting. A plain thread-local (no destructor of its
// own), so it stays valid while the thread's other thread_local objects are
// destroyed, like t_processor. Owned by the thread.
thread_local bool t_exited = false;

// Detaches the thread when it exits, so its processor (and the cache it owns)
// goes back to the pool instead of leaking with the thread.
struct ThreadExit {
  ~ThreadExit() {
    t_exited = true;
    if (Processor* p = t_processor) {
      t_processor = nullptr;
      ProcessorTable::Get().Release(p);
    }
  }
};

thread_local ThreadExit t_exit;

bool CurrentThreadIsMain() { return gettid() == getpid(); }

}  // namespace

ProcessorTable& ProcessorTable::Get() {
  // Never destroyed: threads may detach during static destruction.
  alignas(ProcessorTable) static unsigned char storage[sizeof(ProcessorTable)];
  static ProcessorTable* table = new (storage) ProcessorTable();
  return *table;
}

void ProcessorTable::SetFactory(ProcessorLocalFactory f) {
  MutexLock lock(&mu_);
  if (factory_ == f) return;
  GCRT_CHECK(factory_ == nullptr && count_.load() == 0 &&
             "processor-local factory set after processors exist");
  factory_ = f;
}

Processor* ProcessorTable::Acquire() {
  Processor* p;
  {
    MutexLock lock(&mu_);
    // A thread may not start touching the heap while the world is stopped.
    while (world_stopped_) world_cv_.Wait(&mu_);
    p = idle_;
    if (p != nullptr) {
      idle_ = p->next_idle_;
      p->next_idle_ = nullptr;
    } else {
      GCRT_CHECK(factory_ != nullptr);
      uint32_t id = count_.load(std::memory_order_relaxed);
      // Processors live forever, so they come from the C++ heap once each.
      p = new Processor(id, nullptr);
      p->local_ = factory_(*p);
      p->next_all_ = all_.load(std::memory_order_relaxed);
      all_.store(p, std::memory_order_release);
      count_.store(id + 1, std::memory_order_release);
    }
    GCRT_CHECK(p->status() == ProcessorStatus::kIdle);
    p->status_.store(ProcessorStatus::kRunning, std::memory_order_release);
    p->owner_tid_ = static_cast<int>(::gettid());
  }
  p->local_->OnAcquire(*p);
  return p;
}

void ProcessorTable::Release(Processor* p) {
  GCRT_CHECK(p->status() == ProcessorStatus::kRunning);
  p->local_->OnRelease(*p);
  MutexLock lock(&mu_);
  p->status_.store(ProcessorStatus::kIdle, std::memory_order_release);
  p->owner_tid_ = 0;
  // A stopper may be waiting for this processor to stop running.
  LeaveRunningLocked(p);
  p->next_idle_ = idle_;
  idle_ = p;
}

uint32_t HardwareThreads() {
  static const uint32_t n = std::max(1u, std::thread::hardware_concurrency());
  return n;
}

void SetProcessorLocalFactory(ProcessorLocalFactory factory) {
  ProcessorTable::Get().SetFactory(factory);
}

Processor* AttachCurrentThread() {
  if (t_processor == nullptr) {
    if (t_exited) {
      // A thread_local destructor running after the thread detached (on
      // the main thread, static destructors and atexit handlers too, which
      // run after its thread_local ones): a processor taken now would never
      // be given back.
      if (CurrentThreadIsMain()) {
        throw std::logic_error(
            "gcrt: the GC heap was used after main returned (from a static "
            "or thread_local destructor, or an atexit handler), when the "
            "main thread had detached from it; destroy what uses the GC "
            "heap before main returns (reading or resetting a gc::Global "
            "is fine)");
      }
      throw std::logic_error(
          "gcrt: the GC heap was used from a thread_local destructor after "
          "the thread detached at exit; destroy GC users before thread exit");
    }
    // Touch t_exit: its construction registers the exit hook for this thread.
    ThreadExit* volatile armed = &t_exit;
    (void)armed;
    t_processor = ProcessorTable::Get().Acquire();
  }
  return t_processor;
}

void DetachCurrentThread() {
  Processor* p = t_processor;
  if (p == nullptr) return;
  t_processor = nullptr;
  ProcessorTable::Get().Release(p);
}

uint32_t ProcessorCount() { return ProcessorTable::Get().count(); }

}  // namespace gc::runtime
