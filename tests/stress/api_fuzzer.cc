// See api_fuzzer.h.
#include "tests/stress/api_fuzzer.h"

#include <array>
#include <atomic>
#include <new>
#include <stdexcept>
#include <thread>
#include <unordered_set>
#include <vector>

#include "api/gc.h"
#include "tests/stress/mix.h"

namespace stress {
namespace {

std::atomic<uint64_t> g_next_id{1};

struct FNode {
  std::array<gc::Ptr<FNode>, 2> edges;
  gc::Ptr<gc::Array<uint32_t>> data;
  uint64_t id = 0;
  uint64_t check = 0;
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
    switch (in.Byte() % 16) {
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
          for (size_t k = 0; k < arr->size(); k += 97) {
            (*arr)[k] = static_cast<uint32_t>(k);
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
      default: {  // a child, linked before anything else allocates
        FNode* a = Pick(in);
        if (a != nullptr) a->edges[in.Byte() % 2] = NewNode();
        break;
      }
    }
  }

  void CollectAndCheck() {
    gc::collect();
    stats_->collections++;
    std::unordered_set<const FNode*> seen;
    std::vector<const FNode*> stack;
    for (const auto& r : roots_) stack.push_back(r.get());
    for (const auto& p : set_slots_) stack.push_back(p.get());
    for (const auto& g : globals_) stack.push_back(g.get());
    for (const auto& b : bags_) {
      for (const auto& p : b->items()) stack.push_back(p.get());
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
      stats_->objects_checked++;
    }
  }

  FuzzStats* stats_;
  std::vector<gc::Root<FNode>> roots_;
  std::vector<gc::Ptr<FNode>> set_slots_;
  gc::RootSet set_;
  std::vector<gc::Global<FNode>> globals_;
  std::vector<gc::Root<Bag>> bags_;
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
