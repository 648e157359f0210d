// The stress harnesses' shadow model (tests/README.md): a random mutator
// keeps, beside the real GC graph, its own record of every object it made,
// the edges it stored and the roots it holds. After every gc::collect() it
// computes reachability in the model and checks the real heap against it:
//
//   - every reachable object is intact: its id, its checksum, each edge
//     pointing at the model's target, its pointer-free blob's contents;
//   - every object unreachable when the cycle marked has been destroyed,
//     exactly once (its destructor counts per id), and no reachable one has;
//   - an object destroyed earlier is never destroyed again;
//   - an object freed explicitly (gc::free) was destroyed at once, exactly
//     once, and the sweeper never destroys it again;
//   - every weak reference of a reachable object reads its target if the
//     target is reachable, and null if not (never a dead object);
//   - every finalizable object that became unreachable had its finalizer
//     run once (gc::run_finalizers() after the collection) with it and
//     its child intact, was kept with its child until then, and is
//     destroyed by the next cycle unless the finalizer resurrected it
//     (some do: they hand the object back to the model, which roots it).
//
// A Model belongs to one thread, which alone mutates its objects; the
// destructor counts are global (the sweeper runs destructors anywhere).
// Threads hand whole fresh subgraphs to each other through a Mailbox.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "api/gc.h"
#include "tests/stress/mix.h"

namespace stress {

inline constexpr int kEdges = 3;
// Ids index a table of destructor counts (a byte each, in untouched BSS
// until used): enough for runs of tens of minutes.
inline constexpr uint64_t kMaxIds = uint64_t{1} << 28;

// Destructor runs per object id, and corrupted objects destructors saw.
std::atomic<uint8_t>* Destroyed();
std::atomic<uint64_t>& CorruptAtDestruction();
// Finalizer runs per object id, and finalizers that saw a corrupt object.
std::atomic<uint8_t>* Finalized();
std::atomic<uint64_t>& CorruptAtFinalization();
uint64_t NewId();  // global, from an atomic counter

struct Node {
  std::array<gc::Ptr<Node>, kEdges> edges;
  gc::Ptr<gc::Array<uint64_t>> blob;  // pointer-free, may be a large object
  gc::Weak<Node> weak;
  uint64_t id = 0;
  uint64_t check = 0;
  ~Node() {
    // The contract: no gc::Ptr is dereferenced here. The plain fields must
    // be intact, or the slot was reused before its destructor ran.
    if (check != Mix(id) || id >= kMaxIds) {
      CorruptAtDestruction().fetch_add(1, std::memory_order_relaxed);
      return;
    }
    Destroyed()[id].fetch_add(1, std::memory_order_relaxed);
  }
};

struct Stats {
  uint64_t ops = 0;
  uint64_t collections = 0;      // gc::collect() calls that were checked
  uint64_t objects_checked = 0;  // reachable objects verified intact
  uint64_t reclaimed_checked = 0;
  uint64_t handed_over = 0;
  uint64_t freed = 0;         // explicit frees checked
  uint64_t weak_checked = 0;  // weak references checked
  uint64_t finalized = 0;     // finalizer runs checked
  uint64_t resurrected = 0;   // by their finalizer
  void Add(const Stats& o) {
    freed += o.freed;
    weak_checked += o.weak_checked;
    finalized += o.finalized;
    resurrected += o.resurrected;
    ops += o.ops;
    collections += o.collections;
    objects_checked += o.objects_checked;
    reclaimed_checked += o.reclaimed_checked;
    handed_over += o.handed_over;
  }
};

// How an object came to be (for failure messages).
enum class Origin : uint8_t {
  kCreated,
  kChild,
  kGarbage,
  kParcel,
  kPrivate,
  kWeakGarbage,
  kFinalizable,
  kFinalizableChild,
  kFreedAtOnce,
};

// What a model knows of one object.
struct Entry {
  Node* ptr = nullptr;                   // valid while the object is reachable
  std::array<uint64_t, kEdges> edges{};  // ids; 0 = null (ids start at 1)
  size_t blob_len = 0;
  bool dead = false;  // destroyed and checked so
  uint64_t weak = 0;  // the id the object's weak reference names, or 0
  // 0: no finalizer; 1: one is set; 2: it ran (checked).
  uint8_t fin = 0;
  Origin origin = Origin::kCreated;
};

// Objects finalizers resurrected, handed back to their model. Shared with
// the finalizers, which may run on any thread after the model is gone.
struct ResurrectBox {
  std::mutex mu;
  std::vector<std::pair<uint64_t, gc::Global<Node>>> items;  // Guarded by mu.
};

// A fresh subgraph in transit between threads: rooted by a Global while
// no model owns it, with the model entries of its objects.
struct Parcel {
  gc::Global<Node> root;
  uint64_t root_id = 0;
  std::vector<std::pair<uint64_t, Entry>> entries;
};

class Mailbox {
 public:
  void Put(Parcel p) {
    std::lock_guard<std::mutex> lock(mu_);
    parcels_.push_back(std::move(p));
  }
  bool Take(Parcel* out) {
    std::lock_guard<std::mutex> lock(mu_);
    if (parcels_.empty()) return false;
    *out = std::move(parcels_.front());
    parcels_.pop_front();
    return true;
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    parcels_.clear();
  }

 private:
  std::mutex mu_;
  std::deque<Parcel> parcels_;  // Guarded by mu_.
};

// A failure: printed with the seed, so the run can be repeated.
struct Failure {
  std::string what;
};

class Model {
 public:
  Model(uint64_t seed, Mailbox* mailbox);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // One random operation. Returns false on a detected failure (failure()).
  bool Step();
  // gc::collect(), then the full check.
  bool CollectAndCheck();
  // Drops every root (the objects become garbage) and checks they go.
  bool DropAllAndCheck();
  // Adopts every parcel left in the mailbox (when no thread sends any more).
  void ReceiveAll();

  const Stats& stats() const { return stats_; }
  const std::string& failure() const { return failure_; }
  size_t live_roots() const { return roots_.size() + slot_ids_.size(); }

 private:
  uint64_t Rand(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  uint64_t Create();  // a new object, rooted; returns its id
  void Fill(Node* n, uint64_t id, size_t blob_len);
  uint64_t Walk();  // a reachable object, by a random walk from a root
  void SetEdge(uint64_t from, int k, uint64_t to);
  void Garbage();
  void SendParcel();
  void ReceiveParcel();
  void MakePrivate();
  bool FreePrivate();
  void SetWeak();
  bool RootViaWeak();
  void FinalizableGarbage();
  bool Freed(uint64_t id);   // checks an explicit free destroyed id once
  void Forget(uint64_t id);  // a destroyed id leaves the model
  // kept_stable: no other cycle ran since the collection (see
  // CollectAndCheck).
  bool Check(bool kept_stable);
  bool Fail(std::string what);
  std::string Describe(uint64_t id) const;

  std::mt19937_64 rng_;
  Mailbox* mailbox_;
  std::unordered_map<uint64_t, Entry> objs_;
  std::vector<gc::Root<Node>> roots_;
  std::vector<uint64_t> root_ids_;  // parallel to roots_
  // A root set over a plain vector of gc::Ptr (as an interpreter's stack).
  std::vector<gc::Ptr<Node>> slots_;
  std::vector<uint64_t> slot_ids_;  // parallel to slots_
  gc::RootSet slot_roots_;
  // Objects nothing points to, each held by one root: freed explicitly.
  std::vector<gc::Root<Node>> privates_;
  std::vector<uint64_t> private_ids_;  // parallel to privates_
  std::shared_ptr<ResurrectBox> box_ = std::make_shared<ResurrectBox>();
  bool dropping_ = false;  // DropAllAndCheck: resurrected objects are dropped
  // A reservoir sample of destroyed ids, rechecked later: destroyed once,
  // never again.
  std::vector<uint64_t> dead_ids_;
  uint64_t dead_seen_ = 0;
  Stats stats_;
  std::string failure_;
};

}  // namespace stress
