// See api_fuzzer.h.
#include "tests/stress/api_fuzzer.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "gcrt/gc.h"
#include "tests/test_support/mix.h"

namespace stress {
namespace {

using gc::testing::Mix;

std::atomic<uint64_t> g_next_id{1};

struct FNode {
  std::array<gc::Ptr<FNode>, 2> edges;
  gc::Ptr<gc::Array<uint32_t>> data;
  gc::Weak<FNode> weak;
  uint64_t weak_id = 0;  // the id of what `weak` was made from, or 0
  uint64_t id = 0;
  uint64_t check = 0;
};

// What the finalizers of one input did; shared with them (they may run on
// the finalizer thread after the input is over).
struct FinalizerLog {
  std::atomic<uint64_t> run{0};
  std::atomic<uint64_t> corrupt{0};
  std::atomic<uint64_t> cleared_ran{0};  // cleared finalizers that ran
  std::mutex mu;
  std::vector<gc::Global<FNode>> resurrected;  // Guarded by mu.
  std::atomic<uint64_t> cleanups_run{0};
};

// The fuzzer's ephemeron table (gc::WeakMap), in a GC object.
struct WeakMapHolder {
  gc::WeakMap<FNode, gc::Ptr<FNode>> map;
  void trace(gc::Tracer& t) const { t(map); }
};

// A class with its own trace(): a variable number of children.
class Bag {
 public:
  void trace(gc::Tracer& t) const { t(items_); }
  void Add(gc::Ptr<FNode> n) {
    if (items_.size() < 64) items_.push_back(n);
  }
  const std::vector<gc::Ptr<FNode>>& items() const { return items_; }

 private:
  std::vector<gc::Ptr<FNode>> items_;
};

// A container its constructor fills with new children, storing them only
// in the vector (api/make.h keeps what a constructor allocates until it
// returns), collecting after child `collect_at` (-1: never). ids_ records
// what each child must be (C++ memory the collector never sees).
class Litter {
 public:
  Litter(int n, int collect_at) {
    for (int i = 0; i < n; i++) {
      gc::Ptr<FNode> c = gc::make_unrooted<FNode>();
      children_.push_back(c);
      c->id = g_next_id.fetch_add(1, std::memory_order_relaxed);
      c->check = Mix(c->id);
      ids_.push_back(c->id);
      if (i == collect_at) gc::collect();
    }
  }
  void trace(gc::Tracer& t) const { t(children_); }
  // Every child is the one made for its place, intact.
  bool Intact() const {
    if (children_.size() != ids_.size()) return false;
    for (size_t i = 0; i < ids_.size(); i++) {
      const FNode* c = children_[i].get();
      if (c == nullptr || c->id != ids_[i] || c->check != Mix(ids_[i])) {
        return false;
      }
    }
    return true;
  }
  const std::vector<gc::Ptr<FNode>>& children() const { return children_; }

 private:
  std::vector<gc::Ptr<FNode>> children_;
  std::vector<uint64_t> ids_;
};

// Bytes its constructor leaves to the zeroing every allocation gets: it
// counts a failure unless they read zero (only slots over 128 bytes can
// show a reused slot left dirty), then dirties them.
std::atomic<uint64_t> g_nonzero{0};
template <size_t N>
class Raw {
 public:
  Raw() {
    for (uint8_t b : bytes_) {
      if (b != 0) {
        g_nonzero.fetch_add(1, std::memory_order_relaxed);
        break;
      }
    }
    bytes_.fill(0x5a);
  }

 private:
  std::array<uint8_t, N> bytes_;
};

gc::Root<FNode> NewNode() {
  gc::Root<FNode> n = gc::make<FNode>();
  n->id = g_next_id.fetch_add(1, std::memory_order_relaxed);
  n->check = Mix(n->id);
  return n;
}

class Reader {
 public:
  Reader(const uint8_t* d, size_t n) : d_(d), n_(n) {}
  bool done() const { return i_ >= n_; }
  uint8_t Byte() { return i_ < n_ ? d_[i_++] : 0; }
  uint64_t Bytes(int k) {
    uint64_t v = 0;
    for (int j = 0; j < k; j++) v = (v << 8) | Byte();
    return v;
  }

 private:
  const uint8_t* d_;
  size_t n_;
  size_t i_ = 0;
};

class Fuzzer {
 public:
  explicit Fuzzer(FuzzStats* stats)
      : stats_(stats), set_([this](gc::Tracer& t) { t(set_slots_); }) {}

  std::string Run(Reader& in) {
    while (!in.done() && error_.empty()) {
      stats_->ops++;
      Op(in);
    }
    if (error_.empty()) CollectAndCheck();
    return error_;
  }

 private:
  FNode* Pick(Reader& in) {
    if (roots_.empty()) return nullptr;
    return roots_[in.Byte() % roots_.size()].get();
  }

  void Op(Reader& in) {
    switch (in.Byte() % 27) {
      case 0:
      case 1:
        if (roots_.size() < 128) roots_.push_back(NewNode());
        break;
      case 2: {  // link
        FNode* a = Pick(in);
        FNode* b = Pick(in);
        if (a != nullptr) a->edges[in.Byte() % 2] = gc::Ptr<FNode>(b);
        break;
      }
      case 3:  // drop a root
        if (!roots_.empty()) {
          size_t i = in.Byte() % roots_.size();
          roots_[i] = std::move(roots_.back());
          roots_.pop_back();
        }
        break;
      case 4: {  // an array: a normal size, or an absurd one
        const bool absurd = in.Byte() < 8;
        // Absurd: past the largest object (1 TiB) or overflowing the size
        // computation; it must be refused with std::bad_alloc.
        uint64_t n = absurd ? in.Bytes(8) | (uint64_t{1} << 62) : in.Bytes(2);
        FNode* a = Pick(in);
        try {
          gc::Root<gc::Array<uint32_t>> arr = gc::make_array<uint32_t>(n);
          if (absurd) {
            error_ = "an array of " + std::to_string(n) + " elements was made";
            break;
          }
          // Fresh: all zero (a reused slot too); then dirty throughout, so
          // a slot reused unzeroed would show.
          for (uint32_t v : *arr) {
            if (v != 0) {
              error_ = "a fresh array of " + std::to_string(n) +
                       " elements does not read zero";
              break;
            }
          }
          stats_->zero_checked++;
          // Through a raw pointer: debug builds check every dereference of
          // a handle, which would make this loop the run's cost.
          uint32_t* d = arr->data();
          for (size_t k = 0; k < arr->size(); k++) {
            d[k] = static_cast<uint32_t>(k);
          }
          if (a != nullptr) a->data = arr;
        } catch (const std::bad_alloc& e) {
          if (!absurd) {
            error_ = std::string("a small array was refused: ") + e.what();
          } else if (std::string(e.what()).find("gcrt") == std::string::npos) {
            error_ = std::string("refused without gcrt's message: ") + e.what();
          }
          stats_->bad_inputs++;
        }
        break;
      }
      case 5:
        CollectAndCheck();
        break;
      case 6:  // pacing, including off
        gc::set_gc_percent(static_cast<int>(in.Byte()) * 4 - 40);
        break;
      case 7: {  // the root set's vector
        FNode* a = Pick(in);
        if (set_slots_.size() < 32 && a != nullptr) {
          set_slots_.push_back(gc::Ptr<FNode>(a));
        } else if (!set_slots_.empty()) {
          set_slots_.pop_back();
        }
        break;
      }
      case 8: {  // a global
        FNode* a = Pick(in);
        if (globals_.size() < 16 && a != nullptr) {
          globals_.emplace_back(a);
        } else if (!globals_.empty()) {
          globals_.pop_back();
        }
        break;
      }
      case 9:  // garbage
        for (int k = in.Byte(); k > 0; k--) gc::make_unrooted<FNode>();
        break;
      case 10: {  // misuse: allocation inside a blocking region
        gc::Blocking region;
        try {
          for (int k = 0; k < 300; k++) gc::make_unrooted<FNode>();
          error_ = "allocation inside a blocking region was not refused";
        } catch (const std::logic_error&) {
          stats_->bad_inputs++;
        }
        break;
      }
      case 11: {  // another thread builds a subgraph and hands it over
        gc::Global<FNode> handed;
        std::thread t([&] {
          gc::Root<FNode> n = NewNode();
          n->edges[0] = NewNode();
          handed = gc::Global<FNode>(n);
        });
        {
          gc::Blocking waiting;
          t.join();
        }
        roots_.push_back(gc::Root<FNode>(handed));
        break;
      }
      case 12: {  // a traced container
        if (bags_.size() < 8) bags_.push_back(gc::make<Bag>());
        FNode* a = Pick(in);
        if (a != nullptr)
          bags_[in.Byte() % bags_.size()]->Add(gc::Ptr<FNode>(a));
        break;
      }
      case 13:
        gc::safepoint();
        break;
      case 14: {  // stats stay consistent
        gc::Stats s = gc::stats();
        if (s.mallocs < s.frees || s.heap_inuse > s.heap_sys) {
          error_ = "inconsistent stats";
        }
        break;
      }
      case 15: {  // a child, linked before anything else allocates
        FNode* a = Pick(in);
        if (a != nullptr) a->edges[in.Byte() % 2] = NewNode();
        break;
      }
      case 16: {  // a weak reference from one object to another (or null)
        FNode* a = Pick(in);
        FNode* b = in.Byte() < 32 ? nullptr : Pick(in);
        if (a == nullptr) break;
        a->weak = b == nullptr ? gc::Weak<FNode>()
                               : gc::Weak<FNode>(gc::Ptr<FNode>(b));
        a->weak_id = b == nullptr ? 0 : b->id;
        break;
      }
      case 17: {  // root through a weak reference
        FNode* a = Pick(in);
        if (a == nullptr || roots_.size() >= 128) break;
        gc::Root<FNode> got = a->weak.lock();
        if (got == nullptr) break;
        if (got->id != a->weak_id || got->check != Mix(got->id)) {
          error_ = "a weak reference gave an object it was not made from";
        }
        roots_.push_back(std::move(got));
        break;
      }
      case 18:
        FreeOps(in);
        break;
      case 19:
        FinalizerOps(in);
        break;
      case 20: {  // adopt what finalizers resurrected
        std::lock_guard<std::mutex> lock(log_->mu);
        for (auto& g : log_->resurrected) {
          if (g->check != Mix(g->id))
            error_ = "a resurrected object is corrupt";
          if (roots_.size() < 128) roots_.push_back(gc::Root<FNode>(g));
        }
        log_->resurrected.clear();
        break;
      }
      case 21: {  // a container filled by its constructor, maybe collecting
        const int n = 1 + in.Byte() % 24;
        const uint8_t c = in.Byte();
        gc::Root<Litter> l = gc::make<Litter>(n, c < 16 ? c % n : -1);
        if (!l->Intact()) {
          error_ = "a child its constructor made was lost";
        }
        if (litters_.size() < 8) {
          litters_.push_back(std::move(l));
        } else {
          litters_[c % litters_.size()] = std::move(l);
        }
        stats_->containers++;
        break;
      }
      case 22: {  // a weak reference kept in C++ heap memory
        FNode* a = in.Byte() < 64 ? nullptr : Pick(in);
        gc::Root<FNode> g;
        if (a == nullptr) {
          g = NewNode();  // garbage: null after the next cycle
          a = g.get();
        }
        weak_map_[a->id] = gc::Weak<FNode>(gc::Ptr<FNode>(a));
        if (weak_map_.size() > 256) weak_map_.erase(weak_map_.begin());
        break;
      }
      case 23: {  // fresh memory over 128 bytes reads zero
        // Some are kept a while, so their spans are partly live when the
        // dead ones' slots are reused.
        const uint8_t what = in.Byte();
        for (int k = 1 + what % 16; k > 0; k--) {
          const size_t keep = (what + k) % 2 == 0 ? (what + k) % 16 : 16;
          switch ((what / 16 + k) % 4) {
            case 0:
              Keep(&raws136_, gc::make<Raw<136>>(), keep);
              break;
            case 1:
              Keep(&raws600_, gc::make<Raw<600>>(), keep);
              break;
            case 2:
              Keep(&raws2000_, gc::make<Raw<2000>>(), keep);
              break;
            default: {
              const size_t n = 33 + in.Byte() * 4;  // n*4 > 128
              gc::Root<gc::Array<int32_t>> a = gc::make_array<int32_t>(n);
              for (int32_t v : *a) {
                if (v != 0) error_ = "a fresh int32 array does not read zero";
              }
              std::fill(a->begin(), a->end(), -1);
              break;
            }
          }
          stats_->zero_checked++;
        }
        if (g_nonzero.load() != 0) {
          error_ = "a Raw object's bytes did not read zero in its constructor";
        }
        break;
      }
      case 25:
        WeakMapOps(in);
        break;
      case 26:
        CleanupOps(in);
        break;
      default: {  // a weak reference to fresh garbage: null after a cycle
        FNode* a = Pick(in);
        if (a == nullptr) break;
        gc::Root<FNode> g = NewNode();
        a->weak = gc::Weak<FNode>(g);
        a->weak_id = g->id;
        break;
      }
    }
  }

  // Explicit frees of objects nothing else reaches, and bad ones.
  void FreeOps(Reader& in) {
    uint8_t what = in.Byte();
    gc::Root<FNode> n = NewNode();
    if (FNode* a = Pick(in)) n->edges[0] = gc::Ptr<FNode>(a);  // out only
    if (what % 4 == 0) {
      try {  // an interior pointer is refused, and changes nothing
        gc::free(reinterpret_cast<FNode*>(&n->id));
        error_ = "gc::free of an interior pointer was accepted";
      } catch (const std::invalid_argument&) {
        stats_->bad_inputs++;
      }
      FNode on_stack;
      try {
        gc::free(&on_stack);
        error_ = "gc::free of a stack object was accepted";
      } catch (const std::invalid_argument&) {
        stats_->bad_inputs++;
      }
      try {
        gc::Blocking region;
        gc::free(n);
        error_ = "gc::free inside a blocking region was accepted";
      } catch (const std::logic_error&) {
        stats_->bad_inputs++;
      }
      if (n == nullptr || n->check != Mix(n->id)) {
        error_ = "a refused free changed the object";
      }
    }
    // A weak reference to it from a live object reads null at once.
    FNode* holder = Pick(in);
    if (holder != nullptr && what % 2 == 0) {
      holder->weak = gc::Weak<FNode>(n);
      holder->weak_id = n->id;
    }
    gc::free(n);
    if (n != nullptr) error_ = "gc::free kept the root";
    if (holder != nullptr && what % 2 == 0) {
      if (!holder->weak.expired()) error_ = "a freed object's weak survived";
      holder->weak_id = 0;
    }
    stats_->frees++;
  }

  // Finalizable garbage (some resurrect), cleared finalizers, bad calls.
  void FinalizerOps(Reader& in) {
    uint8_t what = in.Byte();
    gc::Root<FNode> n = NewNode();
    n->edges[0] = NewNode();
    const uint64_t id = n->id, child = n->edges[0]->id;
    const bool resurrect = what % 4 == 0;
    std::shared_ptr<FinalizerLog> log = log_;
    gc::set_finalizer(n, [log, id, child, resurrect](FNode* self) {
      if (self->id != id || self->check != Mix(id) ||
          self->edges[0] == nullptr || self->edges[0]->id != child ||
          self->edges[0]->check != Mix(child)) {
        log->corrupt++;
      }
      log->run++;
      if (resurrect) {
        std::lock_guard<std::mutex> lock(log->mu);
        log->resurrected.emplace_back(gc::Ptr<FNode>(self));
      }
    });
    fin_set_++;
    if (what % 8 == 1) {
      try {
        gc::set_finalizer(n, [](FNode*) {});
        error_ = "a second finalizer was accepted";
      } catch (const std::invalid_argument&) {
        stats_->bad_inputs++;
      }
    }
    if (what % 8 == 2) {
      if (!gc::clear_finalizer(n)) error_ = "clear_finalizer found none";
      fin_set_--;
    }
  }

  // An entry for a rooted key (its value sometimes pointing back at it),
  // an erasure, or an entry for a garbage key; CollectAndCheck checks that
  // every reachable key still has the value it was given last.
  void WeakMapOps(Reader& in) {
    FNode* k = Pick(in);
    if (k == nullptr) return;
    const uint8_t what = in.Byte();
    auto& m = weak_map_holder_->map;
    if (what % 4 == 0) {
      m.erase(k);
      weak_map_expected_.erase(k->id);
      return;
    }
    gc::Root<FNode> v = NewNode();
    if (what % 2 == 1) v->edges[0] = gc::Ptr<FNode>(k);  // value -> key
    m.insert_or_assign(k, v);
    weak_map_expected_[k->id] = v->id;
    if (what % 8 == 2) m.insert_or_assign(NewNode(), v);  // a garbage key
  }

  // Cleanups on garbage (some stopped): CollectAndCheck checks that each
  // one not stopped ran exactly once.
  void CleanupOps(Reader& in) {
    const uint8_t what = in.Byte();
    gc::Root<FNode> n = NewNode();
    const int count = 1 + what % 3;
    for (int i = 0; i < count; i++) {
      gc::Cleanup c = gc::add_cleanup(
          n,
          [](const std::shared_ptr<FinalizerLog>& log) { log->cleanups_run++; },
          log_);
      if (what % 5 == 0 && i == 0) {
        if (!c.stop()) error_ = "a cleanup not queued could not be stopped";
      } else {
        cleanups_set_++;
      }
    }
  }

  void CollectAndCheck() {
    gc::collect();
    // Every finalizable object was garbage from the start: after the cycle
    // and run_finalizers, each finalizer has run once, with its object and
    // child intact.
    gc::run_finalizers();
    if (log_->run.load() != fin_set_) {
      error_ = "finalizers run: " + std::to_string(log_->run.load()) +
               ", set on garbage: " + std::to_string(fin_set_);
    }
    if (log_->corrupt.load() != 0) error_ = "a finalizer saw a corrupt object";
    if (log_->cleanups_run.load() != cleanups_set_) {
      error_ = "cleanups run: " + std::to_string(log_->cleanups_run.load()) +
               ", added on garbage and not stopped: " +
               std::to_string(cleanups_set_);
    }
    stats_->collections++;
    std::unordered_set<const FNode*> seen;
    std::vector<const FNode*> stack;
    for (const auto& r : roots_) stack.push_back(r.get());
    for (const auto& p : set_slots_) stack.push_back(p.get());
    for (const auto& g : globals_) stack.push_back(g.get());
    for (const auto& b : bags_) {
      for (const auto& p : b->items()) stack.push_back(p.get());
    }
    for (const auto& l : litters_) {
      if (!l->Intact()) error_ = "a constructor-filled container lost a child";
      for (const auto& p : l->children()) stack.push_back(p.get());
    }
    {
      std::lock_guard<std::mutex> lock(log_->mu);
      for (const auto& g : log_->resurrected) stack.push_back(g.get());
    }
    while (!stack.empty() && error_.empty()) {
      const FNode* n = stack.back();
      stack.pop_back();
      if (n == nullptr || !seen.insert(n).second) continue;
      if (n->check != Mix(n->id)) error_ = "a reachable object is corrupt";
      if (n->data) {
        for (size_t k = 0; k < n->data->size(); k += 97) {
          if ((*n->data)[k] != k) error_ = "a reachable array is corrupt";
        }
      }
      for (const auto& e : n->edges) stack.push_back(e.get());
      // A reachable key keeps the value it was given last.
      if (auto it = weak_map_expected_.find(n->id);
          it != weak_map_expected_.end()) {
        const gc::Ptr<FNode>* v = weak_map_holder_->map.find(n);
        if (v == nullptr || *v == nullptr || (*v)->id != it->second) {
          error_ = "a reachable key's gc::WeakMap value was lost";
        } else {
          stack.push_back(v->get());
        }
      }
      stats_->objects_checked++;
    }
    // Weak references of reachable objects: the target if it is reachable,
    // null if it was not at this cycle; never anything else.
    // (By id: a dead target's address may hold a new object by now.)
    std::unordered_set<uint64_t> seen_ids;
    for (const FNode* n : seen) seen_ids.insert(n->id);
    for (const FNode* n : seen) {
      if (!error_.empty()) break;
      const FNode* got = n->weak.get_unrooted();
      if (n->weak_id == 0) {
        if (got != nullptr)
          error_ = "a weak reference made null reads non-null";
      } else if (seen_ids.count(n->weak_id)) {
        if (got == nullptr || got->id != n->weak_id) {
          error_ = "a weak reference lost its target";
        }
      } else if (got != nullptr) {
        error_ = "a weak reference still reads an unreachable object";
      }
      stats_->weak_checked++;
    }
    // Weak references in the map (C++ heap memory, never traced): the
    // object they were made for while it is reachable, null once it is
    // not - never another object, even after its slot and cell are
    // reused (entries outlive their targets by many cycles).
    for (const auto& [id, w] : weak_map_) {
      if (!error_.empty()) break;
      const FNode* got = w.get_unrooted();
      if (seen_ids.count(id)) {
        if (got == nullptr || got->id != id || got->check != Mix(id)) {
          error_ = "a weak reference in a map lost its reachable target";
        }
      } else if (got != nullptr) {
        error_ = "a weak reference in a map to a dead object reads non-null";
      }
      stats_->weak_checked++;
    }
  }

  // Keeps r at index i of *v (at most 16), or drops it (i == 16).
  template <typename T>
  static void Keep(std::vector<gc::Root<T>>* v, gc::Root<T> r, size_t i) {
    if (i >= 16) return;
    if (i >= v->size()) {
      v->push_back(std::move(r));
    } else {
      (*v)[i] = std::move(r);
    }
  }

  FuzzStats* stats_;
  std::vector<gc::Root<Raw<136>>> raws136_;
  std::vector<gc::Root<Raw<600>>> raws600_;
  std::vector<gc::Root<Raw<2000>>> raws2000_;
  std::vector<gc::Root<FNode>> roots_;
  std::vector<gc::Ptr<FNode>> set_slots_;
  gc::RootSet set_;
  std::vector<gc::Global<FNode>> globals_;
  std::vector<gc::Root<Bag>> bags_;
  std::vector<gc::Root<Litter>> litters_;
  std::unordered_map<uint64_t, gc::Weak<FNode>> weak_map_;
  std::shared_ptr<FinalizerLog> log_ = std::make_shared<FinalizerLog>();
  uint64_t fin_set_ = 0;       // finalizers set on garbage (and not cleared)
  uint64_t cleanups_set_ = 0;  // cleanups added on garbage, not stopped
  gc::Root<WeakMapHolder> weak_map_holder_ = gc::make<WeakMapHolder>();
  // Key id -> the id of the value it was given last (erased: none).
  std::unordered_map<uint64_t, uint64_t> weak_map_expected_;
  std::string error_;
};

}  // namespace

std::string RunFuzzInput(const uint8_t* data, size_t size, FuzzStats* stats) {
  gc::set_verify(true);
  std::string error;
  {
    Reader in(data, size);
    Fuzzer f(stats);
    error = f.Run(in);
  }
  gc::set_gc_percent(100);
  // Everything the input made is garbage now: collected, so the
  // destructors of its traced containers run (and free their memory).
  gc::collect();
  return error;
}

}  // namespace stress
