// See backtrace.h. One sample at a time goes through one slot:
//
//   the sampler (SampleThreadStack)           the target's handler
//   busy: false -> true (CAS)
//   tid = target; phase = kRequested
//   rt_tgsigqueueinfo(target, SI_QUEUE, &g_slot)
//                                              ours? (SI_QUEUE, cookie)
//                                              phase kRequested and tid is
//                                              mine: CAS -> kWriting
//                                              frames, depth, skip
//                                              phase = kDone (release)
//   waits for kDone (acquire), copies out
//   or, at the timeout, CAS kRequested -> kIdle
//   busy = false
//
// A signal that arrives late (the thread had it blocked, or TSan held it)
// finds no request for its thread and does nothing; so the sampler may send
// it again while it waits (kResendPeriod), in case one was lost. A handler that
// claimed the slot and never finished (an unwinder that deadlocked) leaves it
// kWriting and the sampler busy for good: no later sample reuses frames it
// might still write.
#include "gcrt/runtime/backtrace.h"

#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "gcrt/runtime/check.h"
#include "gcrt/runtime/symbolize.h"

namespace gc::runtime {

namespace {

enum Phase : uint32_t { kIdle, kRequested, kWriting, kDone };

struct Slot {
  // Atomic: the sampler stores kRequested (release) and CASes kRequested
  // -> kIdle; the handler CASes kRequested -> kWriting (acquire) and stores
  // kDone (release); the sampler loads (acquire).
  std::atomic<uint32_t> phase{kIdle};
  // Atomic: stored by the sampler before phase = kRequested, loaded by the
  // handler after it saw kRequested.
  std::atomic<int> tid{0};
  // Written by the handler while phase == kWriting, read by the sampler
  // after it saw kDone.
  int depth = 0;
  int skip = 0;
  bool first_exact = false;
  void* frames[Backtrace::kMaxFrames + 8];
};
static_assert(std::atomic<uint32_t>::is_always_lock_free &&
              std::atomic<int>::is_always_lock_free);

Slot g_slot;
// Atomic: CAS false -> true by the sampler that takes the slot, stored
// false when it is done with it.
std::atomic<bool> g_busy{false};

// Written once, by the thread that installs the handler (under the
// std::call_once), before any signal gcrt sends; read by the handler.
struct sigaction g_previous;

uintptr_t InterruptedPc(void* ucontext) {
  auto* uc = static_cast<ucontext_t*>(ucontext);
  if (uc == nullptr) return 0;
#if defined(__x86_64__)
  return static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
  return static_cast<uintptr_t>(uc->uc_mcontext.pc);
#else
  return 0;
#endif
}

bool SentByGcrt(const siginfo_t* info) {
  return info != nullptr && info->si_code == SI_QUEUE &&
         info->si_pid == ::getpid() && info->si_value.sival_ptr == &g_slot;
}

// Hands a signal gcrt did not send to what the program had before.
void Chain(int sig, siginfo_t* info, void* ucontext) {
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction != nullptr) {
      g_previous.sa_sigaction(sig, info, ucontext);
    }
    return;
  }
  if (g_previous.sa_handler == SIG_IGN) return;
  if (g_previous.sa_handler == SIG_DFL) {
    // The default action of a real-time signal ends the process: take it.
    struct sigaction dfl = {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(sig, &dfl, nullptr);
    ::syscall(SYS_tgkill, ::getpid(), ::gettid(), sig);
    return;
  }
  g_previous.sa_handler(sig);
}

void Handler(int sig, siginfo_t* info, void* ucontext) {
  int saved_errno = errno;
  if (!SentByGcrt(info)) {
    Chain(sig, info, ucontext);
    errno = saved_errno;
    return;
  }
  uint32_t requested = kRequested;
  if (g_slot.tid.load(std::memory_order_relaxed) == ::gettid() &&
      g_slot.phase.compare_exchange_strong(requested, kWriting,
                                           std::memory_order_acquire,
                                           std::memory_order_relaxed)) {
    int depth = ::backtrace(g_slot.frames, Backtrace::kMaxFrames + 8);
    // Leave out this handler and the signal trampoline: the interrupted
    // instruction's frame comes first (the unwinder reports its exact pc).
    uintptr_t pc = InterruptedPc(ucontext);
    int skip = depth > 1 ? 1 : 0;
    bool exact = false;
    for (int i = 0; i < depth; i++) {
      if (reinterpret_cast<uintptr_t>(g_slot.frames[i]) == pc) {
        skip = i;
        exact = true;
        break;
      }
    }
    g_slot.depth = depth;
    g_slot.skip = skip;
    g_slot.first_exact = exact;
    g_slot.phase.store(kDone, std::memory_order_release);
  }
  errno = saved_errno;
}

// How long a sampler waits for an answer before it sends the signal again.
constexpr std::chrono::milliseconds kResendPeriod{100};

std::once_flag g_install_once;

void Install() {
  // Loads libgcc's unwinder now, outside any handler.
  void* warm[4];
  ::backtrace(warm, 4);
  struct sigaction sa = {};
  sa.sa_sigaction = &Handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  GCRT_CHECK(::sigaction(BacktraceSignal(), &sa, &g_previous) == 0);
}

bool HandlerInstalled() {
  struct sigaction now = {};
  if (::sigaction(BacktraceSignal(), nullptr, &now) != 0) return false;
  return (now.sa_flags & SA_SIGINFO) && now.sa_sigaction == &Handler;
}

}  // namespace

int BacktraceSignal() { return SIGRTMIN + kBacktraceSignalOffset; }

SampleResult SampleThreadStack(int tid, std::chrono::milliseconds timeout,
                               Backtrace* out) {
  out->depth = 0;
  bool expected = false;
  if (!g_busy.compare_exchange_strong(expected, true,
                                      std::memory_order_acquire)) {
    return SampleResult::kBusy;
  }
  std::call_once(g_install_once, Install);
  if (!HandlerInstalled()) {
    g_busy.store(false, std::memory_order_release);
    return SampleResult::kNoHandler;
  }
  g_slot.tid.store(tid, std::memory_order_relaxed);
  g_slot.phase.store(kRequested, std::memory_order_release);
  siginfo_t info = {};
  info.si_signo = BacktraceSignal();
  info.si_code = SI_QUEUE;
  info.si_pid = ::getpid();
  info.si_uid = ::getuid();
  info.si_value.sival_ptr = &g_slot;
  if (::syscall(SYS_rt_tgsigqueueinfo, ::getpid(), tid, BacktraceSignal(),
                &info) != 0) {
    g_slot.phase.store(kIdle, std::memory_order_relaxed);
    g_busy.store(false, std::memory_order_release);
    return SampleResult::kNoThread;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  // A handler that has claimed the slot gets a second, longer wait before
  // the slot is given up for good.
  auto writing_deadline = deadline + std::chrono::seconds(2);
  // The signal again while no handler has answered: one held and dropped
  // on the way (ThreadSanitizer keeps one pending signal per number and
  // thread; a CI run saw a sleeping thread never answer in 5 s) is sent
  // anew. Extra ones find no request, or this one answered, and do
  // nothing (the top).
  auto resend = std::chrono::steady_clock::now() + kResendPeriod;
  for (int spins = 0;; spins++) {
    uint32_t phase = g_slot.phase.load(std::memory_order_acquire);
    if (phase == kDone) break;
    auto now = std::chrono::steady_clock::now();
    if (phase == kRequested && now >= resend && now < deadline) {
      ::syscall(SYS_rt_tgsigqueueinfo, ::getpid(), tid, BacktraceSignal(),
                &info);
      resend = now + kResendPeriod;
    }
    if (phase == kRequested && now >= deadline) {
      uint32_t requested = kRequested;
      if (g_slot.phase.compare_exchange_strong(requested, kIdle,
                                               std::memory_order_acquire)) {
        g_busy.store(false, std::memory_order_release);
        return SampleResult::kNoAnswer;
      }
      continue;  // the handler claimed it meanwhile
    }
    if (phase == kWriting && now >= writing_deadline) {
      return SampleResult::kNoAnswer;  // g_busy stays set: see the top
    }
    if (spins < 100) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  int n = g_slot.depth - g_slot.skip;
  if (n > Backtrace::kMaxFrames) n = Backtrace::kMaxFrames;
  if (n < 0) n = 0;
  for (int i = 0; i < n; i++) out->frames[i] = g_slot.frames[g_slot.skip + i];
  out->depth = n;
  out->first_exact = g_slot.first_exact;
  g_slot.phase.store(kIdle, std::memory_order_relaxed);
  g_busy.store(false, std::memory_order_release);
  return SampleResult::kOk;
}

const char* SampleResultText(SampleResult r) {
  switch (r) {
    case SampleResult::kOk:
      return "answered";
    case SampleResult::kNoHandler:
      return "cannot be asked: the program installed its own handler for "
             "gcrt's signal";
    case SampleResult::kNoAnswer:
      return "did not answer gcrt's signal in time: it blocks the signal, "
             "or ThreadSanitizer holds the signal back until the thread "
             "returns from or makes a libc call";
    case SampleResult::kNoThread:
      return "has exited";
    case SampleResult::kBusy:
      return "cannot be asked: another stack sample is in progress";
  }
  return "?";
}

void PrintBacktrace(const Backtrace& bt) {
  Symbolizer symbolizer;
  for (int i = 0; i < bt.depth; i++) {
    const uintptr_t pc = reinterpret_cast<uintptr_t>(bt.frames[i]);
    SymbolizedFrame f;
    if (!symbolizer.Symbolize(pc, /*exact=*/i == 0 && bt.first_exact, &f)) {
      Print("  #%-2d 0x%lx", i, static_cast<unsigned long>(pc));
      continue;
    }
    const char* base = std::strrchr(f.module.c_str(), '/');
    base = base != nullptr ? base + 1 : f.module.c_str();
    if (f.function.empty()) {
      Print("  #%-2d ??  [%s+0x%lx]", i, base,
            static_cast<unsigned long>(f.module_offset));
    } else {
      Print("  #%-2d %s+0x%lx  [%s+0x%lx]", i, f.function.c_str(),
            static_cast<unsigned long>(f.function_offset), base,
            static_cast<unsigned long>(f.module_offset));
    }
  }
}

void SetCurrentThreadName(const char* name) {
  char truncated[16];
  std::snprintf(truncated, sizeof(truncated), "%s", name);
  pthread_setname_np(pthread_self(), truncated);
}

void ThreadName(int tid, char* buf, size_t size) {
  if (size == 0) return;
  buf[0] = '\0';
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tid);
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = ::read(fd, buf, size - 1);
  ::close(fd);
  if (n <= 0) n = 0;
  buf[n] = '\0';
  if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = '\0';
}

char ThreadState(int tid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return '?';
  char buf[512];
  ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0) return '?';
  buf[n] = '\0';
  // "tid (comm) S ...": the name may hold spaces and parentheses, so the
  // state follows the last ')'.
  const char* close = std::strrchr(buf, ')');
  if (close == nullptr || close[1] != ' ' || close[2] == '\0') return '?';
  return close[2];
}

}  // namespace gc::runtime
