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
//     (some do: they hand the object back to the model, which roots it);
//   - every allocation read zero before its constructor ran (api/make.h),
//     reused slots included: Raw objects (over 128 bytes, whose
//     constructor leaves its bytes to the zeroing and checks them), int32
//     arrays and blobs are checked before they are filled;
//   - a Brood (a constructor that allocates its children into a
//     std::vector member, collecting sometimes meanwhile) kept every
//     child through its construction, and keeps them after;
//   - weak references kept in a std::unordered_map (C++ heap, never
//     traced) read exactly the object they were made for while the model
//     reaches it, and null once it died or was freed - never another
//     object, however long they are kept after its slot and weak cell are
//     reused;
//   - a forked child (not under TSan) collects, allocates and passes the
//     same check of what the forking thread owns.
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
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "gcrt/gc.h"
#include "tests/test_support/mix.h"

namespace stress {

using gc::testing::Mix;

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
// Allocations that did not read zero before their constructor ran.
std::atomic<uint64_t>& NonzeroAtAllocation();
// Allocations checked for zero.
std::atomic<uint64_t>& ZeroChecked();
uint64_t NewId();  // global, from an atomic counter

struct Node;

// A container its constructor fills (api/make.h: everything a thread
// allocates while one of its constructors runs is kept until it returns).
// The constructor makes one child per id (with a blob of blob_lens[i]
// elements), storing each only in the vector, and collects once at child
// collect_at (-1: never) besides the cycles the allocations trigger.
class Brood {
 public:
  Brood(uint64_t id, const std::vector<uint64_t>& kid_ids,
        const std::vector<size_t>& blob_lens, int collect_at);
  ~Brood();
  void trace(gc::Tracer& t) const;
  const std::vector<gc::Ptr<Node>>& children() const { return children_; }
  bool Intact(uint64_t id) const { return id_ == id && check_ == Mix(id); }

 private:
  uint64_t id_;
  uint64_t check_;
  std::vector<gc::Ptr<Node>> children_;
};

struct Node {
  std::array<gc::Ptr<Node>, kEdges> edges;
  gc::Ptr<gc::Array<uint64_t>> blob;  // pointer-free, may be a large object
  gc::Weak<Node> weak;
  gc::Ptr<Brood> brood;  // set on some created objects, never changed
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

inline void Brood::trace(gc::Tracer& t) const { t(children_); }

// Memory a constructor does not initialize: Raw leaves bytes_ to the
// zeroing every allocation gets (api/make.h), checks at the top of its
// constructor that it did read zero (the fast path zeroes slots of up to
// 128 bytes unconditionally, so only bigger ones can show a slot reused
// unzeroed), then fills it with a pattern of its tag, so that a dead
// Raw's slot is dirty when it is reused. link_ makes it a scanned object
// (the other checked allocations, arrays and blobs, are pointer-free).
template <size_t N>
class Raw {
 public:
  explicit Raw(uint64_t tag) {
    static_assert(N > 128);
    for (uint8_t b : bytes_) {
      if (b != 0) {
        NonzeroAtAllocation().fetch_add(1, std::memory_order_relaxed);
        break;
      }
    }
    ZeroChecked().fetch_add(1, std::memory_order_relaxed);
    tag_ = tag;
    for (size_t i = 0; i < N; i++) bytes_[i] = Pattern(tag, i);
  }
  void trace(gc::Tracer& t) const { t(link_); }
  bool Intact() const {
    for (size_t i = 0; i < N; i += 7) {
      if (bytes_[i] != Pattern(tag_, i)) return false;
    }
    return true;
  }
  void Link(gc::Ptr<Node> n) { link_ = n; }

 private:
  static uint8_t Pattern(uint64_t tag, size_t i) {
    return static_cast<uint8_t>((tag * 131 + i) | 1);  // never zero
  }
  uint64_t tag_;
  std::array<uint8_t, N> bytes_;
  gc::Ptr<Node> link_;
};

struct Stats {
  uint64_t ops = 0;
  uint64_t collections = 0;      // gc::collect() calls that were checked
  uint64_t objects_checked = 0;  // reachable objects verified intact
  uint64_t reclaimed_checked = 0;
  uint64_t handed_over = 0;
  uint64_t freed = 0;             // explicit frees checked
  uint64_t weak_checked = 0;      // weak references checked
  uint64_t finalized = 0;         // finalizer runs checked
  uint64_t resurrected = 0;       // by their finalizer
  uint64_t broods = 0;            // constructor-filled containers checked
  uint64_t brood_collects = 0;    // of which collected inside
  uint64_t weak_map_checked = 0;  // weak references in the map checked
  uint64_t zero_checked = 0;      // allocations checked for zero here
  uint64_t forks = 0;             // forked children that passed
  void Add(const Stats& o) {
    broods += o.broods;
    brood_collects += o.brood_collects;
    weak_map_checked += o.weak_map_checked;
    zero_checked += o.zero_checked;
    forks += o.forks;
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
  kBroodChild,
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
  // A Brood the object holds: its id (0: none), address and children's
  // ids, in order.
  uint64_t brood = 0;
  const Brood* brood_ptr = nullptr;
  std::vector<uint64_t> kids;
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
  // Forks every `ops` operations (0: never; always never under TSan, whose
  // runtime cannot run a multi-threaded process's forked child). The
  // child checks only this model: other threads' models are frozen in it.
  void set_fork_every(uint64_t ops) { fork_every_ = ops; }

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
  bool MakeBrood();
  bool ZeroChurn();
  void WeakMapPut();
  bool CheckWeakMap(const std::unordered_set<uint64_t>& reached);
  bool ForkAndCheck();
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
  // Raw objects (kept a while, so their spans are partly live when their
  // dead neighbours' slots are reused) and int32 arrays with their tags.
  std::tuple<std::vector<gc::Root<Raw<136>>>, std::vector<gc::Root<Raw<240>>>,
             std::vector<gc::Root<Raw<488>>>, std::vector<gc::Root<Raw<1000>>>,
             std::vector<gc::Root<Raw<2040>>>, std::vector<gc::Root<Raw<3800>>>>
      raws_;
  std::vector<std::pair<gc::Root<gc::Array<int32_t>>, int32_t>> ints_;
  // Weak references in C++ heap memory, by the id of their target: kept
  // past its death (the oldest go first), so cells are reused meanwhile.
  std::unordered_map<uint64_t, gc::Weak<Node>> weak_map_;
  std::deque<uint64_t> weak_map_order_;
  uint64_t fork_every_ = 0;
  bool in_child_ = false;
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
