// See ephemeron.h.
#include "gcrt/gc/ephemeron.h"

#include <utility>

#include "gcrt/alloc/heap.h"
#include "gcrt/gc/marker.h"
#include "gcrt/runtime/check.h"

namespace gc::internal {

namespace {

// Entries the program wrote while a cycle marked beside it (the ephemeron
// barrier). A leaf lock (runtime/lock_order.h), taken from gc::WeakMap
// stores under whatever the program holds, only while the barrier is on.
struct EphemeronLog {
  runtime::Mutex mu;
  std::vector<EphemeronRef> entries GCRT_GUARDED_BY(mu);
};
EphemeronLog& g_log = *new EphemeronLog;  // lives for the process

}  // namespace

const alloc::EphemeronLayout* LayoutOfTable(uintptr_t table) {
  alloc::Span* s = alloc::SpanOf(reinterpret_cast<void*>(table));
  GCRT_CHECK(s != nullptr && "an ephemeron table is in the heap while marked");
  const alloc::TypeInfo* t = s->types.Get(s->SlotIndex(table));
  GCRT_CHECK(t != nullptr && t->ephemeron != nullptr &&
             "an ephemeron entry lies in a table of an ephemeron type");
  return t->ephemeron;
}

void LogEphemeronWriteSlow(const void* table, const void* entry) {
  runtime::MutexLock lock(&g_log.mu);
  g_log.entries.push_back(EphemeronRef{reinterpret_cast<uintptr_t>(entry),
                                       reinterpret_cast<uintptr_t>(table)});
}

std::vector<EphemeronRef> TakeEphemeronLog() {
  runtime::MutexLock lock(&g_log.mu);
  return std::exchange(g_log.entries, {});
}

PendingEphemerons& PendingEphemerons::Get() {
  static PendingEphemerons* p = new PendingEphemerons;  // lives for the process
  return *p;
}

void PendingEphemerons::Clear() {
  by_key_.clear();
  dead_.clear();
}

std::vector<EphemeronRef> PendingEphemerons::Take(uintptr_t key) {
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return {};
  std::vector<EphemeronRef> out = std::move(it->second);
  by_key_.erase(it);
  return out;
}

uint64_t PendingEphemerons::size() const {
  uint64_t n = dead_.size();
  for (const auto& [key, refs] : by_key_) n += refs.size();
  return n;
}

uint64_t PendingEphemerons::Purge() {
  uint64_t removed = 0;
  auto purge =
      [&removed](const EphemeronRef& e) GCRT_REQUIRES(runtime::kWorldStopped) {
        bool dead = false;
        const uintptr_t key = ReadEphemeronKey(e.entry, &dead);
        // Removed since it was filed (by the program, or by this purge: an
        // entry may be filed twice), or live: its key was marked after it was
        // filed here under another key, and its value traced through the log.
        if (key == 0 || (!dead && IsMarkedObject(key))) return;
        const alloc::EphemeronLayout* layout = LayoutOfTable(e.table);
        auto* words = reinterpret_cast<EphemeronKeyWords*>(e.entry);
        words->key = kRemovedKey;
        words->cell = nullptr;
        words->generation = 0;
        layout->clear_value(
            reinterpret_cast<void*>(e.entry + layout->value_offset));
        auto* header = reinterpret_cast<EphemeronTableHeader*>(e.table);
        GCRT_CHECK_GT(header->live, 0u);
        header->live--;
        removed++;
      };
  for (const EphemeronRef& e : dead_) purge(e);
  for (const auto& [key, refs] : by_key_) {
    for (const EphemeronRef& e : refs) purge(e);
  }
  Clear();
  return removed;
}

}  // namespace gc::internal
