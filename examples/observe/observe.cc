// Reading what the collector did: a cycle callback (gc::set_cycle_callback)
// that counts cycles as they end, the census of the heap by type
// (gc::census), and the statistics (gc::stats), printed as a summary. Run
// it with GCRT_DEBUG=gctrace=1 to see Go's one line per cycle on stderr as
// well; the test does, and checks those lines against the summary.
//
// The workload: 1000 long-lived accounts, and 300,000 short-lived
// transfers between them, each garbage as soon as it is applied.
//
// Lines that do not vary from run to run come first; the test compares
// them with expected_output.re, and matches the rest (times, byte counts)
// by pattern. The program checks its own invariants and exits 1 with a
// message if one fails.
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <string>

#include "gcrt/gc.h"

// A named namespace, so the census names the types "observe::Account"
// (types in an anonymous namespace get a compiler-specific prefix).
namespace observe {

struct Account {
  int64_t balance = 0;
  uint64_t transfers = 0;
};

struct Transfer {
  gc::Ptr<Account> from, to;
  int64_t amount = 0;
};

const gc::CensusEntry* Find(const gc::Census& census, const std::string& type) {
  for (const gc::CensusEntry& entry : census.types) {
    if (entry.type == type) return &entry;
  }
  return nullptr;
}

[[noreturn]] void Fail(const std::string& why) {
  std::fprintf(stderr, "observe: FAIL: %s\n", why.c_str());
  std::exit(1);
}

// What the cycle callback saw. The callback runs on whichever thread ran
// the cycle (this one, or the collector's background thread), hence atomics.
std::atomic<uint64_t> g_cycles_seen{0};
std::atomic<uint64_t> g_forced_seen{0};
std::atomic<uint64_t> g_largest_marked{0};

void OnCycle(const gc::CycleEvent& cycle) {
  g_cycles_seen.fetch_add(1, std::memory_order_relaxed);
  if (cycle.forced) g_forced_seen.fetch_add(1, std::memory_order_relaxed);
  uint64_t marked = g_largest_marked.load(std::memory_order_relaxed);
  while (cycle.heap_marked > marked &&
         !g_largest_marked.compare_exchange_weak(marked, cycle.heap_marked)) {
  }
}

int Run() {
  constexpr size_t kAccounts = 1000;
  constexpr int kTransfers = 300000;

  gc::set_cycle_callback(&OnCycle);
  const gc::Stats before = gc::stats();

  // One array object holding the accounts; the Root keeps all of them.
  gc::Root<gc::Array<gc::Ptr<Account>>> accounts =
      gc::make_array<gc::Ptr<Account>>(kAccounts);
  for (size_t i = 0; i < kAccounts; i++) {
    (*accounts)[i] = gc::make<Account>(Account{.balance = 1000});
  }

  // Each transfer is a GC object, dropped once applied: allocation enough
  // to trigger cycles of its own.
  uint64_t seed = 1;
  for (int i = 0; i < kTransfers; i++) {
    seed = seed * 6364136223846793005u + 1442695040888963407u;
    size_t from = (seed >> 33) % kAccounts, to = (seed >> 13) % kAccounts;
    gc::Root<Transfer> t = gc::make<Transfer>(
        (*accounts)[from], (*accounts)[to], static_cast<int64_t>(seed % 100));
    t->from->balance -= t->amount;
    t->to->balance += t->amount;
    t->from->transfers++;
  }

  // Count only what is live: a full collection first.
  gc::collect();
  const gc::Census census = gc::census();
  const gc::Stats after = gc::stats();

  // --- deterministic lines ---
  int64_t total = 0;
  uint64_t transfers = 0;
  for (const gc::Ptr<Account>& a : *accounts) {
    total += a->balance;
    transfers += a->transfers;
  }
  std::printf("accounts: %zu, balance total %" PRId64 ", transfers %" PRIu64
              "\n",
              kAccounts, total, transfers);
  const gc::CensusEntry* account = Find(census, "observe::Account");
  if (account == nullptr)
    Fail("the census has no observe::Account:\n" + census.text());
  std::printf("census: observe::Account %" PRIu64 " objects, %" PRIu64
              " bytes\n",
              account->objects, account->bytes);

  // --- lines the test matches by pattern ---
  const uint64_t cycles = after.num_gc - before.num_gc;
  const uint64_t forced = after.num_forced_gc - before.num_forced_gc;
  const gc::CensusEntry* transfer = Find(census, "observe::Transfer");
  std::printf("census: observe::Transfer %" PRIu64
              " objects left after the collection\n",
              transfer == nullptr ? 0 : transfer->objects);
  std::printf("census: %zu types, %" PRIu64 " objects, %" PRIu64
              " bytes in all\n",
              census.types.size(), census.objects, census.bytes);
  std::printf("cycles: %" PRIu64 " (%" PRIu64
              " forced), largest marked %" PRIu64 " bytes\n",
              cycles, forced, g_largest_marked.load());
  std::printf("pauses: %.3f ms in all, %.3f ms the longest\n",
              after.pause_total_ns / 1e6, after.pause_max_ns / 1e6);
  std::printf("heap: %" PRIu64 " bytes in %" PRIu64 " objects, %" PRIu64
              " allocated ever, %" PRIu64 " bytes from the OS\n",
              after.heap_alloc, after.heap_objects, after.total_alloc,
              after.sys);
  std::printf("collector cpu: %.2f%%\n", after.gc_cpu_fraction * 100);
  std::fputs(census.text(5).c_str(), stderr);  // for people: varies

  // --- invariants ---
  if (total != static_cast<int64_t>(kAccounts) * 1000) {
    Fail("money was created or lost: " + std::to_string(total));
  }
  if (cycles < 2 || cycles == forced) {
    Fail("expected cycles triggered by allocation, got " +
         std::to_string(cycles) + " (" + std::to_string(forced) + " forced)");
  }
  // The callback of a cycle runs after the cycle ends, on the thread that
  // ran it: for this thread's gc::collect(), before the call returns; for a
  // cycle the background collector ran, maybe a moment after the next
  // cycle began. So: every forced cycle seen, and no more cycles than ran.
  if (g_forced_seen.load() != forced || g_cycles_seen.load() > cycles) {
    Fail("the cycle callback saw " + std::to_string(g_cycles_seen.load()) +
         " cycles (" + std::to_string(g_forced_seen.load()) +
         " forced); stats say " + std::to_string(cycles) + " (" +
         std::to_string(forced) + ")");
  }
  uint64_t summed = 0;
  for (const gc::CensusEntry& entry : census.types) summed += entry.objects;
  if (summed != census.objects)
    Fail("the census's entries do not sum to its total");
  if (after.total_alloc - after.heap_alloc == 0) Fail("nothing was freed");
  gc::set_cycle_callback(nullptr);
  return 0;
}

}  // namespace observe

int main() { return observe::Run(); }
