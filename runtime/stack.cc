// See stack.h.
#include "gcrt/runtime/stack.h"

#include <pthread.h>
#include <string.h>

#include <atomic>

#include "gcrt/runtime/check.h"
#include "gcrt/runtime/env.h"

#if defined(GCRT_ASAN)
#include <sanitizer/asan_interface.h>
#endif

// The stack reads race with threads in blocking regions and cross ASan's
// redzones: the sanitizers must not instrument them.
#define GCRT_NO_SANITIZE \
  __attribute__((no_sanitize("address", "thread", "undefined")))

namespace gc::runtime {

namespace {

// Whether stacks are scanned, and whether that was decided yet (by the
// environment at first use, or by a setter). Atomic: stored by
// SetStackScanEnabled and the first StackScanEnabled on any thread
// (release; the environment's value is installed by whoever wins the CAS of
// g_stack_scan_configured), loaded (acquire) by the collector.
std::atomic<bool> g_stack_scan{true};
std::atomic<bool> g_stack_scan_configured{false};

thread_local uintptr_t t_stack_lo = 0;  // Owned by the thread.
thread_local uintptr_t t_stack_hi = 0;

void* CurrentFakeStack() {
#if defined(GCRT_ASAN)
  return __asan_get_current_fake_stack();
#else
  return nullptr;
#endif
}

}  // namespace

uintptr_t CurrentStackHi() {
  if (t_stack_hi == 0) {
    pthread_attr_t attr;
    int rc = pthread_getattr_np(pthread_self(), &attr);
    GCRT_CHECK(rc == 0 && "the thread's stack bounds are known");
    void* addr = nullptr;
    size_t size = 0;
    pthread_attr_getstack(&attr, &addr, &size);
    pthread_attr_destroy(&attr);
    t_stack_lo = reinterpret_cast<uintptr_t>(addr);
    t_stack_hi = reinterpret_cast<uintptr_t>(addr) + size;
  }
  return t_stack_hi;
}

StackBounds CurrentStackBounds() {
  const uintptr_t hi = CurrentStackHi();
  return StackBounds{t_stack_lo, hi};
}

StackBounds ExchangeStackBounds(StackBounds bounds) {
  const StackBounds old = CurrentStackBounds();
  t_stack_lo = bounds.lo;
  t_stack_hi = bounds.hi;
  return old;
}

GCRT_NOINLINE GCRT_NO_SANITIZE int FramePointerStack(void** out, int max) {
  const uintptr_t hi = CurrentStackHi();
  uintptr_t fp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  // [fp, hi) is mapped: it runs from this frame to the stack's base.
  if (fp < t_stack_lo || fp >= hi) return 0;
  int n = 0;
  while (n < max) {
    if (fp % alignof(uintptr_t) != 0 || fp > hi - 2 * sizeof(uintptr_t)) {
      break;
    }
    const auto* frame = reinterpret_cast<const uintptr_t*>(fp);
    const uintptr_t next = frame[0];
    const uintptr_t ret = frame[1];
    if (ret == 0) break;
    out[n++] = reinterpret_cast<void*>(ret);
    if (next <= fp) break;  // callers' frames are above their callees'
    fp = next;
  }
  return n;
}

GCRT_NOINLINE void ClearDeadStack() {
  unsigned char dead[kDeadStackBytes];
  explicit_bzero(dead, sizeof(dead));
  asm volatile("" : : "r"(dead) : "memory");
}

GCRT_NOINLINE uintptr_t ApproximateSp() {
  return reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
}

GCRT_NOINLINE GCRT_NO_SANITIZE void RecordStackWithRegisters(Processor* p,
                                                             uintptr_t sp) {
  // Every callee-saved register goes into this frame's prologue; the
  // frames between here and `sp` (this one and the caller's) are copied.
  __builtin_unwind_init();
  volatile uintptr_t anchor = 0;
  const uintptr_t lo = reinterpret_cast<uintptr_t>(&anchor);
  StackRecord& r = p->stack();
  GCRT_CHECK(sp > lo && sp - lo <= StackRecord::kMaxSavedBytes &&
             "a blocking region's entry frames fit its register save area");
  // Word by word, not memcpy: ASan checks memcpy's ranges, and the frames
  // have redzones.
  auto* to = reinterpret_cast<uintptr_t*>(r.saved);
  const size_t words = (sp - lo) / sizeof(uintptr_t);
  for (size_t i = 0; i < words; i++) {
    to[i] = reinterpret_cast<const volatile uintptr_t*>(lo)[i];
  }
  r.saved_bytes = words * sizeof(uintptr_t);
  r.sp = sp;
  r.hi = CurrentStackHi();
  r.lo = t_stack_lo;
  r.fake_stack = CurrentFakeStack();
}

void RecordStack(Processor* p, uintptr_t sp) {
  StackRecord& r = p->stack();
  r.saved_bytes = 0;
  r.sp = sp;
  r.hi = CurrentStackHi();
  r.lo = t_stack_lo;
  r.fake_stack = CurrentFakeStack();
}

GCRT_NO_SANITIZE void CopyStackWords(uintptr_t begin, uintptr_t end,
                                     std::vector<uintptr_t>* out) {
  begin = (begin + sizeof(uintptr_t) - 1) & ~(sizeof(uintptr_t) - 1);
  out->clear();
  for (uintptr_t a = begin; a + sizeof(uintptr_t) <= end;
       a += sizeof(uintptr_t)) {
    const uintptr_t word = *reinterpret_cast<const volatile uintptr_t*>(a);
    out->push_back(word);
  }
}

GCRT_NO_SANITIZE void ScanStackRange(
    uintptr_t begin, uintptr_t end, void* fake_stack,
    void (*visit)(void* context, uintptr_t word), void* context) {
  begin = (begin + sizeof(uintptr_t) - 1) & ~(sizeof(uintptr_t) - 1);
  for (uintptr_t a = begin; a + sizeof(uintptr_t) <= end;
       a += sizeof(uintptr_t)) {
    const uintptr_t word = *reinterpret_cast<const volatile uintptr_t*>(a);
    if (word == 0) continue;
    visit(context, word);
#if defined(GCRT_ASAN)
    // A frame ASan moved off the real stack (use-after-return detection):
    // the word points into it, and its locals are roots too.
    void* beg = nullptr;
    void* fend = nullptr;
    if (fake_stack != nullptr &&
        __asan_addr_is_in_fake_stack(fake_stack, reinterpret_cast<void*>(word),
                                     &beg, &fend) != nullptr) {
      for (uintptr_t f = reinterpret_cast<uintptr_t>(beg);
           f + sizeof(uintptr_t) <= reinterpret_cast<uintptr_t>(fend);
           f += sizeof(uintptr_t)) {
        const uintptr_t w = *reinterpret_cast<const volatile uintptr_t*>(f);
        if (w != 0) visit(context, w);
      }
    }
#else
    (void)fake_stack;
#endif
  }
}

bool StackScanEnabled() {
  if (!g_stack_scan_configured.load(std::memory_order_acquire)) {
    // First use: the environment decides, unless a setter came first.
    bool from_env = env::StackScanFromEnv();
    bool expected = false;
    if (g_stack_scan_configured.compare_exchange_strong(
            expected, true, std::memory_order_acq_rel)) {
      g_stack_scan.store(from_env, std::memory_order_release);
    }
  }
  return g_stack_scan.load(std::memory_order_acquire);
}

void SetStackScanEnabled(bool on) {
  g_stack_scan_configured.store(true, std::memory_order_release);
  g_stack_scan.store(on, std::memory_order_release);
}

}  // namespace gc::runtime
