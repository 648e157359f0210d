#include "gcrt/gc/census.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "gcrt/alloc/heap.h"
#include "gcrt/alloc/span.h"
#include "gcrt/gc/collector.h"
#include "gcrt/gc/quarantine.h"
#include "gcrt/runtime/backtrace.h"
#include "gcrt/runtime/safepoint.h"
#include "gcrt/runtime/thread_start.h"

namespace gc::internal {

namespace {

// Whether the slot at `address` of s was given back by gc::free to the
// freebuf of a span a Cache held (folded into its alloc bits only when the
// Cache lets the span go).
bool InFreebuf(const alloc::Span* s, uintptr_t address) {
  for (const alloc::FreeLink* v = s->freebuf.load(std::memory_order_relaxed);
       v != nullptr; v = v->next) {
    if (reinterpret_cast<uintptr_t>(v) == address) return true;
  }
  return false;
}

}  // namespace

std::vector<TypeCount> CountObjectsByType() {
  const alloc::PageHeap& pages = alloc::Heap::Get().pages();
  std::unordered_map<const alloc::TypeInfo*, TypeCount> counts;
  for (size_t i = 0, n = pages.SpanRecordCount(); i < n; i++) {
    const alloc::Span* s = pages.SpanRecord(i);
    if (s->state.load(std::memory_order_acquire) != alloc::SpanState::kInUse) {
      continue;
    }
    const bool freebuf = s->freebuf.load(std::memory_order_relaxed) != nullptr;
    for (uint32_t slot = 0; slot < s->nelems; slot++) {
      if (!s->IsAllocated(slot)) continue;
      if (freebuf && InFreebuf(s, s->SlotAddress(slot))) continue;
      // Reclaimed, its slot kept a cycle more by the debug quarantine.
      if (MaybeReclaimedWorldStopped(
              reinterpret_cast<const void*>(s->SlotAddress(slot)))) {
        continue;
      }
      const alloc::TypeInfo* t = s->types.Get(slot);
      TypeCount& c = counts.try_emplace(t, TypeCount{t, 0, 0}).first->second;
      c.objects++;
      c.bytes += s->slot_bytes();
    }
  }
  std::vector<TypeCount> out;
  out.reserve(counts.size());
  for (const auto& [type, c] : counts) out.push_back(c);
  return out;
}

std::vector<CensusRow> TakeCensus() {
  std::vector<TypeCount> counts;
  Collector::Get().RunWithHeapSwept("heap census", "gc::census()", [&counts] {
    runtime::AssertWorldStopped();
    counts = CountObjectsByType();
  });
  std::map<std::string, CensusRow> by_name;
  for (const TypeCount& c : counts) {
    std::string name = alloc::TypeName(c.type);
    CensusRow& row =
        by_name.try_emplace(name, CensusRow{name, 0, 0}).first->second;
    row.objects += c.objects;
    row.bytes += c.bytes;
  }
  std::vector<CensusRow> rows;
  rows.reserve(by_name.size());
  for (auto& [name, row] : by_name) rows.push_back(std::move(row));
  std::stable_sort(
      rows.begin(), rows.end(),
      [](const CensusRow& a, const CensusRow& b) { return a.bytes > b.bytes; });
  return rows;
}

std::string FormatCensus(const std::vector<CensusRow>& rows, size_t top) {
  uint64_t objects = 0, bytes = 0;
  for (const CensusRow& r : rows) {
    objects += r.objects;
    bytes += r.bytes;
  }
  std::string out;
  char line[160];
  std::snprintf(line, sizeof line,
                "gcrt census: %" PRIu64 " objects, %" PRIu64
                " bytes, %zu types\n%14s %12s %6s  type\n",
                objects, bytes, rows.size(), "bytes", "objects", "%");
  out += line;
  auto row = [&](uint64_t b, uint64_t n, const std::string& name) {
    std::snprintf(line, sizeof line, "%14" PRIu64 " %12" PRIu64 " %5.1f%%  ", b,
                  n, bytes == 0 ? 0.0 : 100.0 * b / bytes);
    out += line;
    out += name;
    out += '\n';
  };
  const size_t shown = top == 0 ? rows.size() : std::min(top, rows.size());
  for (size_t i = 0; i < shown; i++) {
    row(rows[i].bytes, rows[i].objects, rows[i].type);
  }
  if (shown < rows.size()) {
    uint64_t b = 0, n = 0;
    for (size_t i = shown; i < rows.size(); i++) {
      b += rows[i].bytes;
      n += rows[i].objects;
    }
    // Appended, not "(" + ... + ")": g++ 12 at -O2 warns (-Wrestrict, a
    // false positive) on that concatenation.
    std::string more = "(";
    more += std::to_string(rows.size() - shown);
    more += " more types)";
    row(b, n, more);
  }
  return out;
}

void PrintCensusAtExit() {
  // On a thread of its own: the exiting thread has let its processor go
  // already (its thread_local destructors ran before the atexit handlers).
  std::thread census;
  try {
    runtime::InternalThreadSignalMask mask;
    census = std::thread([] {
      runtime::SetCurrentThreadName("gcrt-census");
      try {
        std::fputs(FormatCensus(TakeCensus(), 0).c_str(), stderr);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "gcrt census at exit: not taken: %s\n", e.what());
      }
    });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gcrt census at exit: not taken: no thread (%s)\n",
                 e.what());
    return;
  }
  census.join();
}

}  // namespace gc::internal
