// The GCRT_* environment variables: one parser, one rule. api/gc.h lists
// the variables for users; the table in env.cc holds the same facts for
// the messages.
//
// The rule: a value is accepted whole or not at all. Whitespace around a
// value (and around each item and each side of `=` in GCRT_DEBUG) is
// ignored; anything else that is not accepted prints one message with
// runtime::Print naming the variable, the text, what is accepted and what
// is used instead (the default), and the program goes on. Nothing is
// clamped silently: a number out of range is refused like one that is not
// a number.
//
//   booleans  1 0 true false on off (exactly these)
//   integers  optional '-', decimal digits; checked against a range
//   sizes     decimal bytes, optionally followed by B, KiB, MiB, GiB or TiB;
//             refused when the product does not fit in 64 bits
//
// The ranges below are shared with the setters (gc::set_mark_workers and
// friends) so that a setting means the same from either side. Parsing is
// split from getenv so tests need no setenv: Parse* take the text (null:
// unset) and collect messages; *FromEnv read the variable and print them.
#pragma once

#include <climits>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gc::runtime::env {

// gc::set_mark_workers and GCRT_MARK_WORKERS: 0 (one per hardware thread)
// to this many.
inline constexpr int64_t kMaxMarkWorkers = 256;
// Memory limits at or above this are no limit: the pacer and heap figures
// are int64, and a limit they cannot represent is one the heap cannot
// reach (Go's GOMEMLIMIT default is math.MaxInt64 for the same reason).
inline constexpr uint64_t kNoMemoryLimitFrom = INT64_MAX;
// GCRT_STW_WATCHDOG_MS: 1 ms to one hour (longer periods would overflow
// the steady_clock arithmetic long before they would be useful).
inline constexpr int64_t kMaxStwWatchdogMs = 3'600'000;
inline constexpr int64_t kDefaultStwWatchdogMs = 1000;

// A memory limit as the collector keeps it: 0 for none, which is what
// anything from kNoMemoryLimitFrom on means as well.
constexpr uint64_t NormalizeMemoryLimit(uint64_t bytes) {
  return bytes >= kNoMemoryLimitFrom ? 0 : bytes;
}

// ---- Value parsers. Each returns the value, or nullopt with *error
// ---- saying what is wrong with the text (not what is accepted).

std::optional<bool> ParseBool(std::string_view text, std::string* error);
std::optional<int64_t> ParseInt(std::string_view text, int64_t min, int64_t max,
                                std::string* error);
std::optional<uint64_t> ParseSize(std::string_view text, std::string* error);

// A signal GCRT_DEBUG=census=SIGNAL may print the census on: "SIGUSR2",
// "USR2" or its number. Refused: signals no handler can catch (KILL,
// STOP), those a fault or abort() raises (SEGV, BUS, FPE, ILL, TRAP, ABRT:
// crash reporting keeps them), the real-time signals glibc keeps for
// itself (below SIGRTMIN) and gcrt's own stack-sampling signal
// (runtime/backtrace.h).
std::optional<int> ParseCensusSignal(std::string_view text, std::string* error);

// How a census header names signal `sig`: "SIGUSR2"; "SIGRTMIN+3" for a
// real-time one; "signal N" for one with no name.
std::string SignalName(int sig);

// ---- The variables.

enum class Var {
  kGcPercent,
  kMemoryLimit,
  kMarkWorkers,
  kDebug,
  kStwWatchdog,
  kStackScan,
  kMinHeap,
  kProcs,
  kTaskStack,
};

struct VarInfo {
  Var var;
  const char* name;      // "GCRT_MARK_WORKERS"
  const char* accepted;  // for messages: what the variable takes
  const char* fallback;  // for messages: what is used when it is refused
};

// Every known variable, in the order of api/gc.h's list.
std::span<const VarInfo> Vars();
const VarInfo& Info(Var var);

using Messages = std::vector<std::string>;

// zeal=N: a full collection every N allocations, up to this.
inline constexpr int64_t kMaxZeal = int64_t{1} << 40;
// memprofilerate=N: bytes between samples on average, up to this.
inline constexpr int64_t kMaxMemProfileRate = int64_t{1} << 40;

struct DebugSettings {
  bool gctrace = false;
  bool verify = false;
  bool crosscheck = false;
  bool concurrent = true;  // mark beside the program (gc/barrier.h)
  bool census = false;     // census=bool: gc::census() at exit (gc/census.h)
  // census=SIGNAL: gc::census() printed on each delivery of that signal
  // (gc/census_signal.h); 0: none. A census item sets both: the last wins.
  int census_signal = 0;
  bool scavtrace = false;  // a scavenger line per cycle (alloc/page_heap.h)
  std::string gclog;       // a JSON line per cycle to this file; empty: none
  // memprofilerate=N: the heap profile's sampling rate (Go's GODEBUG
  // memprofilerate); unset: the built-in 512 KiB.
  std::optional<uint64_t> mem_profile_rate;
  std::string heap_profile;  // heapprofile=path: written at exit; empty: none
  // Unset: the build's default (on in debug builds, gc/quarantine.h).
  std::optional<bool> quarantine;
  uint64_t zeal = 0;  // 0: off
};

// Each takes the variable's text (null: unset) and returns the setting to
// use: the default when the text is refused, with a message added.
int ParseGcPercent(const char* text, Messages* messages);         // -1: off
uint64_t ParseMemoryLimit(const char* text, Messages* messages);  // 0: none
uint64_t ParseMinHeap(const char* text, Messages* messages);      // 0: built-in
uint32_t ParseMarkWorkers(const char* text, Messages* messages);  // 0: auto
DebugSettings ParseDebug(const char* text, Messages* messages);
int64_t ParseStwWatchdogMs(const char* text, Messages* messages);
bool ParseStackScan(const char* text, Messages* messages);  // default on
// GCRT_PROCS: the scheduler's slots (runtime/task.h); 0: hardware threads.
inline constexpr int64_t kMaxProcs = 256;
uint32_t ParseProcs(const char* text, Messages* messages);
// GCRT_TASK_STACK_KB: a task's stack in KiB; 0: the built-in 256 KiB.
inline constexpr int64_t kMinTaskStackKb = 16;
inline constexpr int64_t kMaxTaskStackKb = int64_t{1} << 20;  // 1 GiB
uint64_t ParseTaskStackKb(const char* text, Messages* messages);

// The same, from the environment, each message printed with Print.
int GcPercentFromEnv();
uint64_t MemoryLimitFromEnv();
uint64_t MinHeapFromEnv();
uint32_t MarkWorkersFromEnv();
DebugSettings DebugFromEnv();
int64_t StwWatchdogMsFromEnv();
bool StackScanFromEnv();
uint32_t ProcsFromEnv();
uint64_t TaskStackKbFromEnv();

}  // namespace gc::runtime::env
