// Destructor bookkeeping for the collector's suites: every counted object
// takes an id, and its destructor adds one to that id's counter, so a test
// checks exactly which objects died: none that was reachable, every one
// that was not (after a collection), and none twice.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "gcrt/gc.h"
#include "tests/test_support/mix.h"

namespace gc::testing {

// Ids a test binary may take: 16 MiB of counters in .bss, of which only the
// pages of ids taken are touched.
inline constexpr int kMaxIds = 1 << 22;

// One counter per id, never freed: a destructor may run on any thread that
// sweeps, after its test has returned.
inline std::atomic<int> g_destroyed[kMaxIds];
inline std::atomic<int> g_next_id{0};

inline int NewId() {
  int id = g_next_id.fetch_add(1, std::memory_order_relaxed);
  if (id >= kMaxIds) std::abort();  // raise kMaxIds
  return id;
}
// The id NewId() hands out next: every id from here on is an object made
// after this call.
inline int NextId() { return g_next_id.load(std::memory_order_relaxed); }
// Ids outside [0, kMaxIds) (an object that took none) are not counted.
inline void CountDestroy(int64_t id) {
  if (id >= 0 && id < kMaxIds) {
    g_destroyed[id].fetch_add(1, std::memory_order_relaxed);
  }
}
inline int Destroyed(int id) {
  return g_destroyed[id].load(std::memory_order_relaxed);
}
// How many of `ids` were not destroyed exactly `times` times.
inline int CountWrong(const std::vector<int>& ids, int times) {
  int wrong = 0;
  for (int id : ids) wrong += Destroyed(id) != times;
  return wrong;
}

// A pointer-free class (constructor, private fields, no trace()) with a
// destructor, so never tiny-allocated, that counts its destruction and
// keeps a checksum of its id.
class Leaf {
 public:
  // Not an aggregate and no trace(): declared pointer-free, so it lives in
  // noscan spans (without this it would be scanned conservatively).
  using gc_pointer_free = Leaf;
  Leaf() : Leaf(NewId()) {}
  explicit Leaf(int id) : id_(id), check_(Mix(static_cast<uint64_t>(id))) {}
  ~Leaf() { CountDestroy(id_); }
  Leaf(const Leaf&) = delete;
  Leaf& operator=(const Leaf&) = delete;
  int id() const { return id_; }
  bool Intact() const { return check_ == Mix(static_cast<uint64_t>(id_)); }

 private:
  int id_;
  uint64_t check_;
};

// An unrooted leaf, its id recorded.
inline gc::Ptr<Leaf> NewLeaf(std::vector<int>* ids) {
  gc::Ptr<Leaf> p = gc::make_unrooted<Leaf>();
  ids->push_back(p->id());
  return p;
}

}  // namespace gc::testing
