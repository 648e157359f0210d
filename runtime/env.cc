// See env.h.
#include "runtime/env.h"

#include <charconv>
#include <cstdlib>

#include "runtime/check.h"

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
     "crosscheck, quarantine, concurrent and census, "
     "each 1, 0, true, false, on or off; zeal, an integer from 0 to 2^40 "
     "(allocations between collections, 0: off); memprofilerate, an "
     "integer from 0 to 2^40 (bytes between heap profile samples, 1: every "
     "allocation, 0: off); gclog and heapprofile, a file path without "
     "commas (a JSON line per cycle appended to it; the heap profile "
     "written to it at exit)",
     "the defaults for every item (off; concurrent on; the quarantine on "
     "in debug builds)"},
    {Var::kStwWatchdog, "GCRT_STW_WATCHDOG_MS",
     "an integer from 1 to 3600000 (milliseconds)", "1000"},
    {Var::kMinHeap, "GCRT_MIN_HEAP",
     "\"off\" or a size: decimal bytes with an optional B, KiB, MiB, GiB or "
     "TiB suffix, below 2^64 bytes (the heap goal is never below it; 0 or "
     "off: the built-in 4 MiB)",
     "4 MiB"},
    {Var::kStackScan, "GCRT_STACK_SCAN",
     "1, 0, true, false, on or off (off: only registered roots)", "on"},
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
                     : name == "census"     ? &settings.census
                     : name == "scavtrace"  ? &settings.scavtrace
                                            : nullptr;
      std::string error;
      if (eq == std::string_view::npos) {
        error = "\"" + std::string(item) + "\" is not name=value";
      } else if (name == "quarantine") {
        if (std::optional<bool> on = ParseBool(item.substr(eq + 1), &error)) {
          settings.quarantine = *on;
        } else {
          error = "\"" + std::string(item) + "\": " + error;
        }
      } else if (name == "gclog" || name == "heapprofile") {
        std::string_view path = Trim(item.substr(eq + 1));
        if (path.empty()) {
          error = "\"" + std::string(item) + "\": no file path";
        } else {
          (name == "gclog" ? settings.gclog : settings.heap_profile) =
              std::string(path);
        }
      } else if (name == "memprofilerate") {
        if (std::optional<int64_t> n =
                ParseInt(item.substr(eq + 1), 0, kMaxMemProfileRate, &error)) {
          settings.mem_profile_rate = static_cast<uint64_t>(*n);
        } else {
          error = "\"" + std::string(item) + "\": " + error;
        }
      } else if (name == "zeal") {
        if (std::optional<int64_t> n =
                ParseInt(item.substr(eq + 1), 0, kMaxZeal, &error)) {
          settings.zeal = static_cast<uint64_t>(*n);
        } else {
          error = "\"" + std::string(item) + "\": " + error;
        }
      } else if (target == nullptr) {
        error = "unknown name \"" + std::string(name) + "\"";
      } else if (std::optional<bool> on =
                     ParseBool(item.substr(eq + 1), &error)) {
        *target = *on;
      } else {
        error = "\"" + std::string(item) + "\": " + error;
      }
      if (!error.empty()) {
        // Nothing half-read: one refused item refuses the variable.
        Refuse(Var::kDebug, text, error, messages);
        return DebugSettings{};
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

}  // namespace gc::runtime::env
