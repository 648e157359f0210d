// A cache that does not keep its values alive: computed values are keyed by
// string and held through gc::Weak, so an entry lasts exactly as long as
// some part of the program holds its value. Once the last holder drops it
// and a collection runs, the entry reads empty and the next lookup computes
// the value again.
//
// The output is deterministic (the test compares it with
// expected_output.txt); the program also checks every value it gets back
// and exits nonzero if one is wrong.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

#include "gcrt/gc.h"

namespace {

// A value that is costly to compute; here a digest of the key.
struct Computed {
  std::string key;
  uint64_t digest = 0;
};

uint64_t Digest(const std::string& key) {
  uint64_t h = 14695981039346656037u;  // FNV-1a, iterated to take some time
  for (int round = 0; round < 1000; round++) {
    for (char c : key) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211u;
  }
  return h;
}

class WeakCache {
 public:
  // The value for `key`: the cached one if some holder still keeps it alive
  // (a hit), else a new one (a miss). The gc::Root returned is what keeps it
  // alive; the cache itself never does.
  gc::Root<Computed> Get(const std::string& key) {
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      // lock() roots the object if the collector has not found it
      // unreachable; a null Root means it is gone (and stays gone).
      if (gc::Root<Computed> value = it->second.lock()) {
        hits_++;
        return value;
      }
    }
    misses_++;
    gc::Root<Computed> value = gc::make<Computed>(key, Digest(key));
    // A gc::Weak is plain data: it can live in this std::unordered_map (C++
    // heap memory the collector never scans) and costs the collector
    // nothing to keep.
    entries_.insert_or_assign(key, gc::Weak<Computed>(value));
    return value;
  }

  // Drops the entries whose values are gone; returns how many it dropped.
  // (Without this the map keeps one small, empty entry per dead key.)
  size_t Prune() {
    return std::erase_if(
        entries_, [](const auto& entry) { return entry.second.expired(); });
  }

  size_t size() const { return entries_.size(); }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  std::unordered_map<std::string, gc::Weak<Computed>> entries_;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

// Every value the cache hands out must be the one for its key.
void Check(const gc::Root<Computed>& value, const std::string& key) {
  if (!value || value->key != key || value->digest != Digest(key)) {
    std::fprintf(stderr, "weak_cache: FAIL: a wrong value for key %s\n",
                 key.c_str());
    std::exit(1);
  }
}

const char* HitOrMiss(const WeakCache& cache, uint64_t misses_before) {
  return cache.misses() == misses_before ? "hit" : "miss (computed)";
}

}  // namespace

int main() {
  // Conservative stack scanning (on by default) may keep a dropped object
  // one cycle longer when a stale copy of its address is left on the stack.
  // This program prints whether each lookup hits, so it wants exact
  // reclamation: with scanning off, only registered roots (gc::Root here)
  // keep objects alive. A real cache needs no such setting; it just sees an
  // occasional later miss.
  gc::set_stack_scan(false);

  WeakCache cache;
  uint64_t misses = cache.misses();

  std::printf("-- one value, held and then dropped\n");
  gc::Root<Computed> holder = cache.Get("alpha");
  Check(holder, "alpha");
  std::printf("get alpha: %s\n", HitOrMiss(cache, misses));

  misses = cache.misses();
  gc::Root<Computed> again = cache.Get("alpha");
  Check(again, "alpha");
  std::printf("get alpha: %s, the same object: %s\n", HitOrMiss(cache, misses),
              again == holder ? "yes" : "no");
  again = nullptr;

  // The holder keeps the value alive through a collection: the weak
  // reference does not count, the gc::Root does.
  gc::collect();
  misses = cache.misses();
  Check(cache.Get("alpha"), "alpha");
  std::printf("after a collection, still held: get alpha: %s\n",
              HitOrMiss(cache, misses));

  // Dropping the last holder leaves the value reachable only through the
  // cache's weak reference; the next collection clears that reference.
  holder = nullptr;
  gc::collect();
  misses = cache.misses();
  Check(cache.Get("alpha"), "alpha");
  std::printf("after the holder dropped it and a collection: get alpha: %s\n",
              HitOrMiss(cache, misses));

  std::printf("-- 1000 values, every tenth one held\n");
  constexpr int kKeys = 1000;
  std::vector<gc::Root<Computed>> holders;  // each a root, wherever it lives
  for (int i = 0; i < kKeys; i++) {
    std::string key = "key-" + std::to_string(i);
    gc::Root<Computed> value = cache.Get(key);
    Check(value, key);
    if (i % 10 == 0) holders.push_back(std::move(value));
  }
  gc::collect();
  misses = cache.misses();
  int hits = 0;
  for (int i = 0; i < kKeys; i++) {
    std::string key = "key-" + std::to_string(i);
    uint64_t before = cache.misses();
    gc::Root<Computed> value = cache.Get(key);
    Check(value, key);
    bool hit = cache.misses() == before;
    if (hit != (i % 10 == 0)) {
      std::fprintf(stderr, "weak_cache: FAIL: key %s was a %s\n", key.c_str(),
                   hit ? "hit, but nothing held it" : "miss, but it was held");
      return 1;
    }
    hits += hit;
  }
  std::printf("after a collection: %d hits, %" PRIu64 " misses\n", hits,
              cache.misses() - misses);

  // The second pass recomputed the 900 dropped values, and dropped them
  // again; a collection clears their entries, and Prune removes them.
  gc::collect();
  size_t pruned = cache.Prune();
  std::printf("pruned %zu entries whose values were collected; %zu left\n",
              pruned, cache.size());

  std::printf("-- in all: %" PRIu64 " hits, %" PRIu64 " misses\n", cache.hits(),
              cache.misses());
  return 0;
}
