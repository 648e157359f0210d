// Other threads' stacks, for the stop-the-world watchdog (safepoint.cc),
// taken the way Boehm GC and the JVM take a thread dump: the watchdog sends
// the thread gcrt's signal, the thread's handler records its own stack with
// glibc's backtrace() into one shared slot, and the watchdog symbolizes and
// prints it outside the handler (dladdr, the ELF symbol table, demangling).
//
// The signal: SIGRTMIN + kBacktraceSignalOffset (SIGRTMIN + 6, signal 40
// with glibc). gcrt installs its handler the first time it wants a stack,
// so a program whose stops never wait past the watchdog period never sees
// it, and keeps it installed (a signal that arrives late, once the thread
// unblocks it, must still find it; it then does nothing). The handler:
//   - is installed with SA_RESTART | SA_SIGINFO. A thread blocked in a call
//     the kernel restarts (futex waits: pthread_join, std::mutex,
//     std::condition_variable; read and write on pipes and sockets without
//     timeouts) goes on waiting as if nothing happened. A few calls return
//     EINTR whatever SA_RESTART says (nanosleep, poll, select, epoll_wait,
//     sem_timedwait, ...): std::this_thread::sleep_for sleeps the rest of
//     its time, raw calls see EINTR as they would for any signal;
//   - acts only on signals gcrt sent (SI_QUEUE with gcrt's cookie) and
//     passes any other to the handler the program had installed before
//     (SIG_DFL: the default action, SIG_IGN: nothing);
//   - calls only async-signal-safe functions: gettid and backtrace(), which
//     gcrt calls once when it installs the handler so that libgcc's
//     unwinder is loaded before any signal comes.
// A program that installs its own handler for the signal later takes it
// back: gcrt sees that and stops sending it. A thread that blocks the
// signal, or that ThreadSanitizer holds it for (TSan delivers signals to
// a thread blocked in pthread_mutex_lock, or running without calling into
// libc, only when it next calls an intercepted function), does not answer
// in time, and the watchdog says so instead of printing a stack.
#pragma once

#include <chrono>
#include <cstddef>

namespace gc::runtime {

inline constexpr int kBacktraceSignalOffset = 6;
// SIGRTMIN + kBacktraceSignalOffset (SIGRTMIN is a function call in glibc).
int BacktraceSignal();

struct Backtrace {
  static constexpr int kMaxFrames = 64;
  int depth = 0;  // frames[0, depth): innermost first
  // frames[0] is the interrupted instruction itself, not a return address.
  bool first_exact = false;
  void* frames[kMaxFrames];
};

enum class SampleResult {
  kOk,         // *out holds the thread's stack
  kNoHandler,  // the program replaced gcrt's handler for the signal
  kNoAnswer,   // the thread did not run the handler in time
  kNoThread,   // no thread `tid` in this process
  kBusy,       // another sample is in progress (or one never finished)
};

// Samples the stack of thread `tid` (a kernel thread id of this process):
// installs the handler if needed, signals the thread and waits up to
// `timeout` for its handler to record. The frames start at the interrupted
// instruction (the handler's own frames are left out). Does not allocate.
// The caller keeps `tid` alive (the watchdog holds the processor table's
// lock, which a thread takes to detach before it exits).
SampleResult SampleThreadStack(int tid, std::chrono::milliseconds timeout,
                               Backtrace* out);

// Why a sample failed, as the tail of a sentence ("the thread did not ...").
const char* SampleResultText(SampleResult r);

// Prints one line per frame through Print ("gcrt:   #3  Foo::Bar()+0x1c
// [binary+0x1d4e5]"): the function's demangled name where the binary's
// symbol table has it (static functions and executables not linked with
// -rdynamic included: the ELF .symtab is read from the file), and the
// module with the address's offset in it (what addr2line -e module
// takes). Allocates and opens files: never from a signal handler.
void PrintBacktrace(const Backtrace& bt);

// The name of thread `tid` (what pthread_getname_np returns for it: the
// kernel's comm, at most 15 characters), or "" if it cannot be read.
void ThreadName(int tid, char* buf, size_t size);
// The scheduler state of thread `tid` of this process, from
// /proc/self/task/<tid>/stat: 'R' running or runnable, 'S' asleep, 'D'
// in uninterruptible wait, ...; '?' if it cannot be read.
char ThreadState(int tid);

// Names the calling thread (truncated to the kernel's 15 characters), so
// the stop watchdog's reports, debuggers and profilers tell gcrt's own
// threads ("gcrt-sweep", "gcrt-mark-1", ...) from the program's.
void SetCurrentThreadName(const char* name);

}  // namespace gc::runtime
