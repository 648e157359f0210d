// See census_signal.h.
#include "gcrt/gc/census_signal.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <thread>

#include "gcrt/alloc/heap.h"
#include "gcrt/gc/census.h"
#include "gcrt/runtime/backtrace.h"
#include "gcrt/runtime/check.h"
#include "gcrt/runtime/env.h"
#include "gcrt/runtime/thread_start.h"

namespace gc::internal {

namespace {

static_assert(std::atomic<int>::is_always_lock_free,
              "the signal handler reads the pipe's end lock-free");

// The signal, 0 before StartCensusOnSignal. Written once, before the
// handler is installed and the thread started; read by both.
int g_signal = 0;
// The pipe's write end, for the handler; -1 when there is none. Atomic,
// relaxed: written by StartCensusOnSignal and, in the child of a fork, by
// ResetCensusSignalAfterFork (its only thread); read by the handler.
std::atomic<int> g_write_fd{-1};
// The pipe's read end, handed to each reading thread at its start. Written
// by StartCensusOnSignal (once) and ResetCensusSignalAfterFork (the child's
// only thread), each before the thread that reads it is started.
int g_read_fd = -1;
// Set in the child of a fork when the parent had a reading thread; taken by
// the child's first cycle (RestartCensusSignalThreadAfterFork). Atomic,
// relaxed: only the exchange matters.
std::atomic<bool> g_restart_thread{false};

void Handler(int) {
  const int saved_errno = errno;
  const int fd = g_write_fd.load(std::memory_order_relaxed);
  if (fd >= 0) {
    const char byte = 1;
    // Non-blocking: a full pipe (requests enough pending) drops this one.
    (void)!::write(fd, &byte, 1);
  }
  errno = saved_errno;
}

// A pipe whose write end does not block, both ends close-on-exec.
bool MakePipe(int* read_fd, int* write_fd) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
  if (::fcntl(fds[1], F_SETFL, O_NONBLOCK) != 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return false;
  }
  *read_fd = fds[0];
  *write_fd = fds[1];
  return true;
}

void PrintCensus(const std::string& signal_name) {
  std::string out = "gcrt census on " + signal_name + ":\n";
  try {
    out += FormatCensus(TakeCensus(), 0);
  } catch (const std::exception& e) {
    out += std::string("gcrt census: not taken: ") + e.what() + "\n";
  }
  std::fputs(out.c_str(), stderr);
  std::fflush(stderr);
}

// Not attached while it waits (a stop of the world does not wait for it):
// attached only by the census, detached right after.
void ReadingThread(int read_fd, int sig) {
  runtime::SetCurrentThreadName("gcrt-census");
  const std::string name = runtime::env::SignalName(sig);
  for (;;) {
    char byte;
    const ssize_t n = ::read(read_fd, &byte, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      runtime::Print("census on %s: the pipe cannot be read (%s); no more",
                     name.c_str(), n == 0 ? "closed" : std::strerror(errno));
      return;
    }
    PrintCensus(name);
    alloc::DetachCurrentThread();
  }
}

void StartThread() {
  std::string why;
  if (!runtime::StartDetachedThread(
          [fd = g_read_fd, sig = g_signal] { ReadingThread(fd, sig); }, &why)) {
    runtime::Print("census on signal: cannot start its thread (%s)",
                   why.c_str());
  }
}

}  // namespace

void StartCensusOnSignal(int sig) {
  GCRT_CHECK(g_signal == 0 && "the census is put on one signal, once");
  int read_fd, write_fd;
  if (!MakePipe(&read_fd, &write_fd)) {
    runtime::Print("GCRT_DEBUG census=%s: no pipe (%s); no census on it",
                   runtime::env::SignalName(sig).c_str(), std::strerror(errno));
    return;
  }
  g_signal = sig;
  g_read_fd = read_fd;
  g_write_fd.store(write_fd, std::memory_order_relaxed);
  StartThread();
  struct sigaction sa = {};
  sa.sa_handler = &Handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  GCRT_CHECK(::sigaction(sig, &sa, nullptr) == 0 &&
             "sigaction installs the census signal's handler");
}

void ResetCensusSignalAfterFork() {
  if (g_signal == 0) return;
  const int old_read = g_read_fd;
  const int old_write = g_write_fd.load(std::memory_order_relaxed);
  int read_fd = -1, write_fd = -1;
  // The new pipe first: a signal in between writes to one end or the other
  // of a pipe of the child's, never to a closed (and reused) descriptor.
  if (!MakePipe(&read_fd, &write_fd)) {
    g_write_fd.store(-1, std::memory_order_relaxed);
    g_read_fd = -1;
    runtime::Print(
        "census on %s in the child of a fork: no pipe (%s); no "
        "census on it",
        runtime::env::SignalName(g_signal).c_str(), std::strerror(errno));
  } else {
    g_read_fd = read_fd;
    g_write_fd.store(write_fd, std::memory_order_relaxed);
    g_restart_thread.store(true, std::memory_order_relaxed);
  }
  if (old_read >= 0) ::close(old_read);
  if (old_write >= 0) ::close(old_write);
}

void RestartCensusSignalThreadAfterFork() {
  if (g_restart_thread.exchange(false, std::memory_order_relaxed)) {
    StartThread();
  }
}

}  // namespace gc::internal
