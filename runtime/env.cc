// See env.h.
#include "gcrt/runtime/env.h"

#include <charconv>
#include <csignal>
#include <cstdlib>

#include "gcrt/runtime/backtrace.h"
#include "gcrt/runtime/check.h"

namespace gc::runtime::env {

namespace {

// Constant-initialized: the stop-the-world watchdog reads its variable
// during static initialization, possibly before this file's dynamic
// initializers have run.
constexpr VarInfo kVars[] = {
    {Var::kGcPercent, "GCRT_GCPERCENT",
     "\"off\" or an integer from -2147483648 to 2147483647 (negative: off)",
     "100"},
    {Var::kMemoryLimit, "GCRT_MEMORY_LIMIT",
     "\"off\" or a size: decimal bytes with an optional B, KiB, MiB, GiB or "
     "TiB suffix, below 2^64 bytes (0, or 2^63-1 and more: no limit)",
     "no limit"},
    {Var::kMarkWorkers, "GCRT_MARK_WORKERS",
     "an integer from 0 to 256 (0: one per hardware thread)",
     "one per hardware thread"},
    {Var::kDebug, "GCRT_DEBUG",
     "comma-separated name=value items: gctrace, scavtrace, verify, "
     "crosscheck, quarantine and concurrent, "
     "each 1, 0, true, false, on or off; census, one of those (printed at "
     "exit) or a signal to print it on: a name (SIGUSR2 or USR2) or a "
     "number (1 and 0 are the booleans), not KILL, STOP, SEGV, BUS, FPE, ILL, "
     "TRAP, ABRT, glibc's "
     "reserved real-time signals or gcrt's SIGRTMIN+6; zeal, an integer from 0 "
     "to 2^40 "
     "(allocations between collections, 0: off); memprofilerate, an "
     "integer from 0 to 2^40 (bytes between heap profile samples, 1: every "
     "allocation, 0: off); gclog and heapprofile, a file path without "
     "commas (a JSON line per cycle appended to it; the heap profile "
     "written to it at exit)",
     "the other items (this one ignored)"},
    {Var::kStwWatchdog, "GCRT_STW_WATCHDOG_MS",
     "an integer from 1 to 3600000 (milliseconds)", "1000"},
    {Var::kMinHeap, "GCRT_MIN_HEAP",
     "\"off\" or a size: decimal bytes with an optional B, KiB, MiB, GiB or "
     "TiB suffix, below 2^64 bytes (the heap goal is never below it; 0 or "
     "off: the built-in 4 MiB)",
     "4 MiB"},
    {Var::kStackScan, "GCRT_STACK_SCAN",
     "1, 0, true, false, on or off (off: only registered roots)", "on"},
    {Var::kProcs, "GCRT_PROCS",
     "an integer from 0 to 256 (workers running tasks at a time; 0: one per "
     "hardware thread)",
     "one per hardware thread"},
    {Var::kTaskStack, "GCRT_TASK_STACK_KB",
     "an integer from 16 to 1048576 (a task's stack in KiB), or 0 for the "
     "built-in size",
     "256"},
};

constexpr std::string_view kSpace = " \t\n\r\f\v";

std::string_view Trim(std::string_view s) {
  size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  size_t end = s.find_last_not_of(kSpace);
  return s.substr(begin, end - begin + 1);
}

void Refuse(Var var, std::string_view text, const std::string& why,
            Messages* messages) {
  const VarInfo& v = Info(var);
  messages->push_back(std::string(v.name) + "=\"" + std::string(text) +
                      "\": " + why + "; accepted: " + v.accepted + "; using " +
                      v.fallback);
}

template <typename T>
T FromEnv(Var var, T (*parse)(const char*, Messages*)) {
  Messages messages;
  T value = parse(std::getenv(Info(var).name), &messages);
  for (const std::string& m : messages) Print("%s", m.c_str());
  return value;
}

}  // namespace

std::optional<bool> ParseBool(std::string_view text, std::string* error) {
  text = Trim(text);
  if (text == "1" || text == "true" || text == "on") return true;
  if (text == "0" || text == "false" || text == "off") return false;
  *error = text.empty() ? "empty" : "not a boolean";
  return std::nullopt;
}

namespace {

// The leading number of `text` (trimmed, not empty) into *v; *rest is what
// follows it. Sets *error to `too_large` or `not_a_number` on failure.
template <typename T>
bool ParseLeadingNumber(std::string_view text, T* v, std::string_view* rest,
                        const char* too_large, const char* not_a_number,
                        std::string* error) {
  if (text.empty()) {
    *error = "empty";
    return false;
  }
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *v);
  if (ec == std::errc::result_out_of_range) {
    *error = too_large;
    return false;
  }
  if (ec != std::errc()) {
    *error = not_a_number;
    return false;
  }
  *rest = text.substr(static_cast<size_t>(end - text.data()));
  return true;
}

}  // namespace

std::optional<int64_t> ParseInt(std::string_view text, int64_t min, int64_t max,
                                std::string* error) {
  int64_t v = 0;
  std::string_view rest;
  if (!ParseLeadingNumber(Trim(text), &v, &rest, "out of range",
                          "not an integer", error)) {
    return std::nullopt;
  }
  if (!rest.empty()) {
    *error = "not an integer";
    return std::nullopt;
  }
  if (v < min || v > max) {
    *error = "out of range";
    return std::nullopt;
  }
  return v;
}

std::optional<uint64_t> ParseSize(std::string_view text, std::string* error) {
  uint64_t v = 0;
  std::string_view rest;
  // Unsigned from_chars takes no sign: "-1" is not a size (strtoull would
  // have made it 2^64-1).
  if (!ParseLeadingNumber(Trim(text), &v, &rest,
                          "too large (2^64 bytes or more)", "not a size",
                          error)) {
    return std::nullopt;
  }
  std::string_view unit = Trim(rest);
  unsigned shift;
  if (unit.empty() || unit == "B") {
    shift = 0;
  } else if (unit == "KiB") {
    shift = 10;
  } else if (unit == "MiB") {
    shift = 20;
  } else if (unit == "GiB") {
    shift = 30;
  } else if (unit == "TiB") {
    shift = 40;
  } else {
    *error = "not a size (unknown unit \"" + std::string(unit) + "\")";
    return std::nullopt;
  }
  if (shift != 0 && v > (UINT64_MAX >> shift)) {
    *error = "too large (2^64 bytes or more)";
    return std::nullopt;
  }
  return v << shift;
}

namespace {

struct NamedSignal {
  const char* name;  // without "SIG"
  int sig;
};

// The signals census=NAME takes by name (ParseCensusSignal): those a
// program may send for a report. Others are taken by number.
constexpr NamedSignal kNamedSignals[] = {
    {"HUP", SIGHUP},     {"INT", SIGINT},       {"QUIT", SIGQUIT},
    {"USR1", SIGUSR1},   {"USR2", SIGUSR2},     {"PIPE", SIGPIPE},
    {"ALRM", SIGALRM},   {"TERM", SIGTERM},     {"CHLD", SIGCHLD},
    {"CONT", SIGCONT},   {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU},   {"URG", SIGURG},       {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ},   {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
    {"WINCH", SIGWINCH}, {"IO", SIGIO},         {"PWR", SIGPWR},
    {"SYS", SIGSYS},
};

// Why signal `sig` cannot print the census; null if it can.
const char* CensusSignalRefusal(int sig) {
  switch (sig) {
    case SIGKILL:
    case SIGSTOP:
      return "a signal no handler can catch";
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGTRAP:
    case SIGABRT:
      return "a signal a fault or abort() raises";
    default:
      break;
  }
  if (sig < 1 || sig > SIGRTMAX) return "not a signal number";
  if (sig > SIGSYS && sig < SIGRTMIN) {
    return "a real-time signal glibc keeps for itself";
  }
  if (sig == BacktraceSignal()) return "gcrt's stack-sampling signal";
  return nullptr;
}

// "item", in quotes, for messages. Built by appending: g++ 12 at -O2 warns
// (-Wrestrict, a false positive) on "\"" + std::string(item).
std::string Quoted(std::string_view item) {
  std::string quoted;
  quoted.reserve(item.size() + 2);
  quoted += '"';
  quoted += item;
  quoted += '"';
  return quoted;
}

}  // namespace

std::optional<int> ParseCensusSignal(std::string_view text,
                                     std::string* error) {
  text = Trim(text);
  if (text.empty()) {
    *error = "empty";
    return std::nullopt;
  }
  int sig = 0;
  if (!text.empty() && text.front() >= '0' && text.front() <= '9') {
    std::optional<int64_t> n = ParseInt(text, 1, SIGRTMAX, error);
    if (!n) {
      *error = "not a signal number (1 to " + std::to_string(SIGRTMAX) + ")";
      return std::nullopt;
    }
    sig = static_cast<int>(*n);
  } else {
    std::string_view name = text;
    if (name.substr(0, 3) == "SIG") name.remove_prefix(3);
    for (const NamedSignal& s : kNamedSignals) {
      if (name == s.name) sig = s.sig;
    }
    if (sig == 0) {
      bool known = name == "KILL" || name == "STOP" || name == "SEGV" ||
                   name == "BUS" || name == "FPE" || name == "ILL" ||
                   name == "TRAP" || name == "ABRT";
      *error = known ? "a signal that cannot print the census"
                     : "not a boolean or a signal name";
      return std::nullopt;
    }
  }
  if (const char* why = CensusSignalRefusal(sig)) {
    *error = why;
    return std::nullopt;
  }
  return sig;
}

std::string SignalName(int sig) {
  for (const NamedSignal& s : kNamedSignals) {
    if (s.sig == sig) return std::string("SIG") + s.name;
  }
  if (sig >= SIGRTMIN && sig <= SIGRTMAX) {
    return "SIGRTMIN+" + std::to_string(sig - SIGRTMIN);
  }
  return "signal " + std::to_string(sig);
}

std::span<const VarInfo> Vars() { return kVars; }

const VarInfo& Info(Var var) {
  for (const VarInfo& v : kVars) {
    if (v.var == var) return v;
  }
  GCRT_THROW("every Var has an entry in kVars");
}

int ParseGcPercent(const char* text, Messages* messages) {
  if (text == nullptr) return 100;
  if (Trim(text) == "off") return -1;
  std::string error;
  std::optional<int64_t> v = ParseInt(text, INT_MIN, INT_MAX, &error);
  if (!v) {
    Refuse(Var::kGcPercent, text, error, messages);
    return 100;
  }
  return *v < 0 ? -1 : static_cast<int>(*v);
}

uint64_t ParseMemoryLimit(const char* text, Messages* messages) {
  if (text == nullptr || Trim(text) == "off") return 0;
  std::string error;
  std::optional<uint64_t> v = ParseSize(text, &error);
  if (!v) {
    Refuse(Var::kMemoryLimit, text, error, messages);
    return 0;
  }
  return NormalizeMemoryLimit(*v);
}

uint64_t ParseMinHeap(const char* text, Messages* messages) {
  if (text == nullptr || Trim(text) == "off") return 0;
  std::string error;
  std::optional<uint64_t> v = ParseSize(text, &error);
  if (!v) {
    Refuse(Var::kMinHeap, text, error, messages);
    return 0;
  }
  return *v;
}

uint32_t ParseMarkWorkers(const char* text, Messages* messages) {
  if (text == nullptr) return 0;
  std::string error;
  std::optional<int64_t> v = ParseInt(text, 0, kMaxMarkWorkers, &error);
  if (!v) {
    Refuse(Var::kMarkWorkers, text, error, messages);
    return 0;
  }
  return static_cast<uint32_t>(*v);
}

DebugSettings ParseDebug(const char* text, Messages* messages) {
  DebugSettings settings;
  if (text == nullptr) return settings;
  std::string_view rest = text;
  // As Go's GODEBUG: name=value items, the last of a name winning; empty
  // items (a trailing comma) are nothing to refuse.
  while (true) {
    size_t comma = rest.find(',');
    std::string_view item = Trim(rest.substr(0, comma));
    if (!item.empty()) {
      size_t eq = item.find('=');
      std::string_view name = Trim(item.substr(0, eq));
      bool* target = name == "gctrace"      ? &settings.gctrace
                     : name == "verify"     ? &settings.verify
                     : name == "crosscheck" ? &settings.crosscheck
                     : name == "concurrent" ? &settings.concurrent
                     : name == "scavtrace"  ? &settings.scavtrace
                                            : nullptr;
      std::string error;
      if (eq == std::string_view::npos) {
        error = Quoted(item) + " is not name=value";
      } else if (name == "quarantine") {
        if (std::optional<bool> on = ParseBool(item.substr(eq + 1), &error)) {
          settings.quarantine = *on;
        } else {
          error = Quoted(item) + ": " + error;
        }
      } else if (name == "gclog" || name == "heapprofile") {
        std::string_view path = Trim(item.substr(eq + 1));
        if (path.empty()) {
          error = Quoted(item) + ": no file path";
        } else {
          (name == "gclog" ? settings.gclog : settings.heap_profile) =
              std::string(path);
        }
      } else if (name == "memprofilerate") {
        if (std::optional<int64_t> n =
                ParseInt(item.substr(eq + 1), 0, kMaxMemProfileRate, &error)) {
          settings.mem_profile_rate = static_cast<uint64_t>(*n);
        } else {
          error = Quoted(item) + ": " + error;
        }
      } else if (name == "census") {
        std::string_view value = item.substr(eq + 1);
        std::string bool_error;
        if (std::optional<bool> on = ParseBool(value, &bool_error)) {
          settings.census = *on;
          settings.census_signal = 0;
        } else if (std::optional<int> sig = ParseCensusSignal(value, &error)) {
          settings.census = false;
          settings.census_signal = *sig;
        } else {
          error = Quoted(item) + ": " + error;
        }
      } else if (name == "zeal") {
        if (std::optional<int64_t> n =
                ParseInt(item.substr(eq + 1), 0, kMaxZeal, &error)) {
          settings.zeal = static_cast<uint64_t>(*n);
        } else {
          error = Quoted(item) + ": " + error;
        }
      } else if (target == nullptr) {
        error = "unknown name \"" + std::string(name) + "\"";
      } else if (std::optional<bool> on =
                     ParseBool(item.substr(eq + 1), &error)) {
        *target = *on;
      } else {
        error = Quoted(item) + ": " + error;
      }
      if (!error.empty()) {
        // As GODEBUG, one item's mistake does not cost the others: a
        // program run with gctrace=1 and a misspelt second item still
        // traces. The refused item changes nothing and is named.
        Refuse(Var::kDebug, text, error, messages);
      }
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return settings;
}

int64_t ParseStwWatchdogMs(const char* text, Messages* messages) {
  if (text == nullptr) return kDefaultStwWatchdogMs;
  std::string error;
  std::optional<int64_t> v = ParseInt(text, 1, kMaxStwWatchdogMs, &error);
  if (!v) {
    Refuse(Var::kStwWatchdog, text, error, messages);
    return kDefaultStwWatchdogMs;
  }
  return *v;
}

bool ParseStackScan(const char* text, Messages* messages) {
  if (text == nullptr) return true;
  std::string error;
  std::optional<bool> v = ParseBool(text, &error);
  if (!v) {
    Refuse(Var::kStackScan, text, error, messages);
    return true;
  }
  return *v;
}

uint32_t ParseProcs(const char* text, Messages* messages) {
  if (text == nullptr) return 0;
  std::string error;
  std::optional<int64_t> v = ParseInt(text, 0, kMaxProcs, &error);
  if (!v) {
    Refuse(Var::kProcs, text, error, messages);
    return 0;
  }
  return static_cast<uint32_t>(*v);
}

uint64_t ParseTaskStackKb(const char* text, Messages* messages) {
  if (text == nullptr) return 0;
  std::string error;
  std::optional<int64_t> v = ParseInt(text, 0, kMaxTaskStackKb, &error);
  if (v && *v != 0 && *v < kMinTaskStackKb) {
    v.reset();
    error = "below the minimum of 16 KiB";
  }
  if (!v) {
    Refuse(Var::kTaskStack, text, error, messages);
    return 0;
  }
  return static_cast<uint64_t>(*v);
}

int GcPercentFromEnv() { return FromEnv(Var::kGcPercent, &ParseGcPercent); }
uint64_t MemoryLimitFromEnv() {
  return FromEnv(Var::kMemoryLimit, &ParseMemoryLimit);
}
uint64_t MinHeapFromEnv() { return FromEnv(Var::kMinHeap, &ParseMinHeap); }
uint32_t MarkWorkersFromEnv() {
  return FromEnv(Var::kMarkWorkers, &ParseMarkWorkers);
}
DebugSettings DebugFromEnv() { return FromEnv(Var::kDebug, &ParseDebug); }
int64_t StwWatchdogMsFromEnv() {
  return FromEnv(Var::kStwWatchdog, &ParseStwWatchdogMs);
}
bool StackScanFromEnv() { return FromEnv(Var::kStackScan, &ParseStackScan); }
uint32_t ProcsFromEnv() { return FromEnv(Var::kProcs, &ParseProcs); }
uint64_t TaskStackKbFromEnv() {
  return FromEnv(Var::kTaskStack, &ParseTaskStackKb);
}

}  // namespace gc::runtime::env
