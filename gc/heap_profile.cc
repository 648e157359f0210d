// See heap_profile.h.
#include "gcrt/gc/heap_profile.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <string_view>
#include <unordered_map>

#include "gcrt/alloc/cache.h"
#include "gcrt/alloc/heap.h"
#include "gcrt/alloc/special.h"
#include "gcrt/gc/pprof.h"
#include "gcrt/runtime/check.h"
#include "gcrt/runtime/mutex.h"
#include "gcrt/runtime/stack.h"
#include "gcrt/runtime/symbolize.h"
#include "gcrt/runtime/sys_stat.h"

namespace gc::internal {

namespace {

constexpr int kMaxStack = 64;
constexpr size_t kHashSize = 1 << 14;  // bucket chains

struct Bucket {
  GCRT_CHARGED_TO(Bucket, kOther)
  Bucket* next_hash;             // Immutable once linked.
  Bucket* next_all;              // Immutable once linked.
  uint64_t hash;                 // Immutable.
  std::vector<uintptr_t> stack;  // Immutable.
  MemRecord active;              // Guarded by g_profile_mu.
  MemRecord future[3];           // Guarded by g_profile_mu.
};

struct ProfileSpecial : alloc::Special {
  GCRT_CHARGED_TO(ProfileSpecial, kOther)
  Bucket* bucket;  // Immutable.
  uint64_t bytes;  // Immutable.
  uint64_t cycle;  // g_cycles when it was allocated; immutable
  double weight;   // SampleWeight at the rate it was taken at; immutable
};

// Lock order 25: a leaf. Taken by allocation slow paths (no gcrt lock held),
// by frees (under Quarantine::mu or Heap::large_mu_ at most), by mark
// termination with the world stopped, and by the fork handler last.
runtime::Mutex g_profile_mu;
Bucket** g_hash GCRT_GUARDED_BY(g_profile_mu) = nullptr;  // kHashSize heads
Bucket* g_all GCRT_GUARDED_BY(g_profile_mu) = nullptr;
// Mark terminations so far (C), and C mod 3 (the future ring only ever
// looks two ahead).
uint64_t g_cycles GCRT_GUARDED_BY(g_profile_mu) = 0;
uint32_t g_cycle GCRT_GUARDED_BY(g_profile_mu) = 0;
bool g_flushed GCRT_GUARDED_BY(g_profile_mu) = true;
uint64_t g_specials GCRT_GUARDED_BY(g_profile_mu) = 0;

uint64_t HashStack(const void* const* frames, int depth) {
  uint64_t h = 14695981039346656037ULL;  // FNV-1a over the addresses
  for (int i = 0; i < depth; i++) {
    h ^= reinterpret_cast<uintptr_t>(frames[i]);
    h *= 1099511628211ULL;
  }
  return h;
}

// The bucket of the stack, made if new; null when there is no memory for
// it.
Bucket* FindBucketLocked(void* const* frames, int depth)
    GCRT_REQUIRES(g_profile_mu) {
  if (g_hash == nullptr) {
    try {
      g_hash = static_cast<Bucket**>(runtime::AllocZeroedMetadata(
          kHashSize * sizeof(Bucket*), runtime::SysStat::kOther,
          "the heap profile's bucket table"));
    } catch (const std::bad_alloc&) {
      return nullptr;
    }
  }
  const uint64_t h = HashStack(frames, depth);
  Bucket*& head = g_hash[h % kHashSize];
  for (Bucket* b = head; b != nullptr; b = b->next_hash) {
    if (b->hash == h && b->stack.size() == static_cast<size_t>(depth) &&
        std::equal(b->stack.begin(), b->stack.end(), frames,
                   [](uintptr_t a, void* f) {
                     return a == reinterpret_cast<uintptr_t>(f);
                   })) {
      return b;
    }
  }
  auto* b = new (std::nothrow) Bucket{head, g_all, h, {}, {}, {}};
  if (b == nullptr) return nullptr;
  try {
    b->stack.reserve(depth);
    for (int i = 0; i < depth; i++) {
      b->stack.push_back(reinterpret_cast<uintptr_t>(frames[i]));
    }
  } catch (const std::bad_alloc&) {
    delete b;
    return nullptr;
  }
  head = b;
  g_all = b;
  return b;
}

}  // namespace

void ProfileAlloc(void* object, uint64_t bytes) {
  void* all[kMaxStack];
  int depth = runtime::FramePointerStack(all, kMaxStack);
  // From this function's caller on.
  void* const* frames = all;
  void* const caller = __builtin_return_address(0);
  for (int i = 0; i < depth; i++) {
    if (all[i] == caller) {
      frames = all + i;
      depth -= i;
      break;
    }
  }
  auto* special = new (std::nothrow) ProfileSpecial();
  if (special == nullptr) return;
  {
    runtime::MutexLock lock(&g_profile_mu);
    special->bucket = FindBucketLocked(frames, depth);
  }
  if (special->bucket == nullptr) {
    delete special;
    return;
  }
  special->bytes = bytes;
  special->weight = SampleWeight(
      bytes, alloc::g_mem_profile_rate.load(std::memory_order_relaxed));
  special->kind = alloc::SpecialKind::kHeapProfile;
  // The object is allocated and reachable by nobody yet: nothing frees it,
  // and no cycle ends, before it is counted below (no safepoint between).
  const auto p = reinterpret_cast<uintptr_t>(object);
  if (!alloc::AddSpecial(alloc::SpanOf(object), p, special)) {
    delete special;  // sampled already (a tiny block's second piece)
    return;
  }
  runtime::MutexLock lock(&g_profile_mu);
  special->cycle = g_cycles;
  MemRecord& r = special->bucket->future[(g_cycle + 2) % 3];
  r.allocs++;
  r.est_allocs += special->weight;
  r.est_alloc_bytes += special->weight * static_cast<double>(bytes);
  g_specials++;
}

void ReleaseProfileSpecial(alloc::Special* s) {
  GCRT_CHECK(s->kind == alloc::SpecialKind::kHeapProfile);
  auto* ps = static_cast<ProfileSpecial*>(s);
  {
    runtime::MutexLock lock(&g_profile_mu);
    // A sweep frees only objects allocated before the last mark
    // termination. An object allocated since (freed by gc::free, or a
    // constructor that threw) has its allocation still in future[C + 2]:
    // its free goes there too, so that the two are published together and
    // no site ever shows more frees than allocations.
    const uint32_t ahead = ps->cycle == g_cycles ? 2 : 1;
    MemRecord& r = ps->bucket->future[(g_cycle + ahead) % 3];
    r.frees++;
    r.est_frees += ps->weight;
    r.est_free_bytes += ps->weight * static_cast<double>(ps->bytes);
    g_specials--;
  }
  delete ps;
}

void ProfileNextCycle() {
  runtime::MutexLock lock(&g_profile_mu);
  g_cycles++;
  g_cycle = (g_cycle + 1) % 3;
  g_flushed = false;
}

void ProfileFlush() {
  runtime::MutexLock lock(&g_profile_mu);
  if (g_flushed) return;
  for (Bucket* b = g_all; b != nullptr; b = b->next_all) {
    MemRecord& r = b->future[g_cycle % 3];
    b->active.Add(r);
    r = MemRecord{};
  }
  g_flushed = true;
}

void ProfilePostSweep() {
  runtime::MutexLock lock(&g_profile_mu);
  for (Bucket* b = g_all; b != nullptr; b = b->next_all) {
    MemRecord& r = b->future[(g_cycle + 1) % 3];
    b->active.Add(r);
    r = MemRecord{};
  }
}

std::vector<ProfileRecord> ProfileRecords() {
  std::vector<ProfileRecord> out;
  runtime::MutexLock lock(&g_profile_mu);
  for (Bucket* b = g_all; b != nullptr; b = b->next_all) {
    if (b->active.allocs != 0) out.push_back({b->stack, b->active});
  }
  return out;
}

uint64_t ProfileSpecialCount() {
  runtime::MutexLock lock(&g_profile_mu);
  return g_specials;
}

void LockProfileForFork() GCRT_NO_THREAD_SAFETY_ANALYSIS {
  g_profile_mu.lock();
}
void UnlockProfileAfterFork() GCRT_NO_THREAD_SAFETY_ANALYSIS {
  g_profile_mu.unlock();
}

namespace {

// Whether a (mangled) function is gcrt's allocation machinery or gc::make:
// the frames a site's stack leaves out, up to the program's first.
bool IsGcrtAllocationFrame(std::string_view mangled) {
  for (std::string_view p : {"_ZN", "_ZNK", "_ZZN", "_ZZNK"}) {
    if (!mangled.starts_with(p)) continue;
    std::string_view rest = mangled.substr(p.size());
    for (std::string_view ns : {"2gc8internal", "2gc5alloc", "2gc7runtime",
                                "2gc4makeI", "2gc10make_arrayI"}) {
      if (rest.starts_with(ns)) return true;
    }
  }
  return false;
}

}  // namespace

double SampleWeight(uint64_t bytes, uint64_t rate) {
  if (rate <= 1 || bytes == 0) return 1;
  return 1 / (1 - std::exp(-static_cast<double>(bytes) /
                           static_cast<double>(rate)));
}

std::vector<HeapProfileSite> HeapProfileSites() {
  const std::vector<ProfileRecord> records = ProfileRecords();
  runtime::Symbolizer symbolizer;
  std::unordered_map<uintptr_t, runtime::SymbolizedFrame> frames;
  auto frame = [&](uintptr_t pc) -> const runtime::SymbolizedFrame& {
    auto [it, added] = frames.try_emplace(pc);
    if (added) symbolizer.Symbolize(pc, /*exact=*/false, &it->second);
    return it->second;
  };
  // Trimmed stacks that agree (a site reached through gc::make and
  // gc::make_array, say) are one site.
  std::map<std::vector<uintptr_t>, MemRecord> merged;
  for (const ProfileRecord& r : records) {
    size_t first = 0;
    while (first < r.stack.size() &&
           IsGcrtAllocationFrame(frame(r.stack[first]).mangled)) {
      first++;
    }
    std::vector<uintptr_t> stack(r.stack.begin() + first, r.stack.end());
    merged[stack].Add(r.active);
  }
  std::vector<HeapProfileSite> sites;
  sites.reserve(merged.size());
  for (const auto& [stack, m] : merged) {
    HeapProfileSite s;
    s.stack = stack;
    for (uintptr_t pc : stack) s.functions.push_back(frame(pc).function);
    // Rounded: at rate 1 every weight is 1 and the sums are exact.
    const auto estimate = [](double x) {
      return x <= 0 ? uint64_t{0} : static_cast<uint64_t>(std::llround(x));
    };
    s.alloc_objects = estimate(m.est_allocs);
    s.alloc_bytes = estimate(m.est_alloc_bytes);
    s.inuse_objects = estimate(m.est_allocs - m.est_frees);
    s.inuse_bytes = estimate(m.est_alloc_bytes - m.est_free_bytes);
    s.samples = m.allocs;
    sites.push_back(std::move(s));
  }
  std::sort(sites.begin(), sites.end(),
            [](const HeapProfileSite& a, const HeapProfileSite& b) {
              if (a.inuse_bytes != b.inuse_bytes) {
                return a.inuse_bytes > b.inuse_bytes;
              }
              return a.alloc_bytes > b.alloc_bytes;
            });
  return sites;
}

std::string FormatHeapProfile(const std::vector<HeapProfileSite>& sites,
                              size_t top) {
  uint64_t inuse_bytes = 0, inuse_objects = 0, alloc_bytes = 0;
  for (const HeapProfileSite& s : sites) {
    inuse_bytes += s.inuse_bytes;
    inuse_objects += s.inuse_objects;
    alloc_bytes += s.alloc_bytes;
  }
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line,
                "heap profile: %zu sites, %lu bytes in %lu objects in use, "
                "%lu bytes allocated\n",
                sites.size(), static_cast<unsigned long>(inuse_bytes),
                static_cast<unsigned long>(inuse_objects),
                static_cast<unsigned long>(alloc_bytes));
  out += line;
  std::snprintf(line, sizeof line, "%14s %10s %14s %10s  %s\n", "inuse_bytes",
                "objects", "alloc_bytes", "objects", "site");
  out += line;
  size_t n = top > 0 ? std::min(top, sites.size()) : sites.size();
  for (size_t i = 0; i < n; i++) {
    const HeapProfileSite& s = sites[i];
    std::string where = s.functions.empty()      ? std::string("?")
                        : s.functions[0].empty() ? std::string("?")
                                                 : s.functions[0];
    std::snprintf(line, sizeof line, "%14lu %10lu %14lu %10lu  ",
                  static_cast<unsigned long>(s.inuse_bytes),
                  static_cast<unsigned long>(s.inuse_objects),
                  static_cast<unsigned long>(s.alloc_bytes),
                  static_cast<unsigned long>(s.alloc_objects));
    out += line;
    out += where;
    out += '\n';
  }
  return out;
}

std::string HeapProfilePprof() {
  const uint64_t rate =
      alloc::g_mem_profile_rate.load(std::memory_order_relaxed);
  return EncodeHeapProfile(
      HeapProfileSites(), rate,
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
}

namespace {

std::string* g_exit_profile_path = nullptr;  // set once, before atexit

void WriteHeapProfileNow() {
  const std::string bytes = HeapProfilePprof();
  FILE* f = std::fopen(g_exit_profile_path->c_str(), "wb");
  if (f == nullptr ||
      std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() ||
      std::fclose(f) != 0) {
    runtime::Print("GCRT_DEBUG heapprofile=%s: cannot write the file (%s)",
                   g_exit_profile_path->c_str(), std::strerror(errno));
  }
}

}  // namespace

void WriteHeapProfileAtExit(const std::string& path) {
  if (g_exit_profile_path != nullptr) return;
  g_exit_profile_path = new std::string(path);
  std::atexit(&WriteHeapProfileNow);
}

}  // namespace gc::internal
