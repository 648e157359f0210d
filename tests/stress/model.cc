// See model.h.
#include "tests/stress/model.h"

#include <algorithm>
#include <unordered_set>

namespace stress {

namespace {
std::atomic<uint8_t> g_destroyed[kMaxIds];
std::atomic<uint64_t> g_corrupt{0};
std::atomic<uint64_t> g_next_id{1};
}  // namespace

std::atomic<uint8_t>* Destroyed() { return g_destroyed; }
std::atomic<uint64_t>& CorruptAtDestruction() { return g_corrupt; }
uint64_t NewId() {
  uint64_t id = g_next_id.fetch_add(1, std::memory_order_relaxed);
  if (id >= kMaxIds) {
    std::fprintf(stderr, "stress: more than %llu objects; shorten the run\n",
                 static_cast<unsigned long long>(kMaxIds));
    std::abort();
  }
  return id;
}

Model::Model(uint64_t seed, Mailbox* mailbox)
    : rng_(seed), mailbox_(mailbox), slot_roots_([this](gc::Tracer& t) {
        for (const gc::Ptr<Node>& p : slots_) t(p);
      }) {}

Model::~Model() = default;

void Model::Fill(Node* n, uint64_t id, size_t blob_len) {
  n->id = id;
  n->check = Mix(id);
  if (blob_len > 0) {
    // n is reachable (rooted or linked) before this allocation.
    gc::Root<gc::Array<uint64_t>> b = gc::make_array<uint64_t>(blob_len);
    for (size_t i = 0; i < blob_len; i++) (*b)[i] = Mix(id * 7919 + i);
    n->blob = b;
  }
}

uint64_t Model::Create() {
  uint64_t id = NewId();
  // One in eight has a blob, some past 32 KiB (large objects).
  size_t blob_len = Rand(8) == 0 ? Rand(6000) : 0;
  gc::Root<Node> r = gc::make<Node>();
  Fill(r.get(), id, blob_len);
  Entry e;
  e.ptr = r.get();
  e.blob_len = blob_len;
  objs_[id] = e;
  roots_.push_back(std::move(r));
  root_ids_.push_back(id);
  return id;
}

uint64_t Model::Walk() {
  size_t n = root_ids_.size() + slot_ids_.size();
  if (n == 0) return 0;
  size_t i = Rand(n);
  uint64_t id =
      i < root_ids_.size() ? root_ids_[i] : slot_ids_[i - root_ids_.size()];
  for (uint64_t steps = Rand(6); steps > 0; steps--) {
    uint64_t next = objs_.at(id).edges[Rand(kEdges)];
    if (next == 0) break;
    id = next;
  }
  return id;
}

void Model::SetEdge(uint64_t from, int k, uint64_t to) {
  Entry& f = objs_.at(from);
  f.ptr->edges[k] = to == 0 ? gc::Ptr<Node>() : gc::Ptr<Node>(objs_.at(to).ptr);
  f.edges[k] = to;
}

void Model::Garbage() {
  // Objects that are never linked: each must be gone after the next cycle.
  for (uint64_t n = 1 + Rand(64); n > 0; n--) {
    uint64_t id = NewId();
    size_t blob_len = Rand(16) == 0 ? Rand(5000) : 0;
    gc::Root<gc::Array<uint64_t>> blob;
    if (blob_len > 0) blob = gc::make_array<uint64_t>(blob_len);
    // No allocation from here on while the node is unrooted.
    gc::Ptr<Node> node = gc::make_unrooted<Node>();
    node->id = id;
    node->check = Mix(id);
    node->blob = blob;
    Entry e;
    e.ptr = node.get();
    objs_[id] = e;  // unreachable from the start
  }
}

void Model::SendParcel() {
  // A fresh tree of 1-7 nodes no object of this model points to.
  Parcel p;
  gc::Root<Node> root = gc::make<Node>();
  p.root_id = NewId();
  Fill(root.get(), p.root_id, 0);
  Entry re;
  re.ptr = root.get();
  std::vector<std::pair<uint64_t, Entry>> entries;
  entries.push_back({p.root_id, re});
  for (uint64_t n = Rand(7); n > 0; n--) {
    size_t parent = Rand(entries.size());
    int k = static_cast<int>(Rand(kEdges));
    if (entries[parent].second.edges[k] != 0) continue;
    uint64_t id = NewId();
    gc::Ptr<Node> child = gc::make_unrooted<Node>();
    entries[parent].second.ptr->edges[k] = child;  // reachable at once
    entries[parent].second.edges[k] = id;
    Fill(child.get(), id, Rand(4) == 0 ? Rand(300) : 0);
    Entry ce;
    ce.ptr = child.get();
    ce.blob_len = child->blob ? child->blob->size() : 0;
    entries.push_back({id, ce});
  }
  p.root = gc::Global<Node>(root);
  p.entries = std::move(entries);
  mailbox_->Put(std::move(p));
  stats_.handed_over++;
}

void Model::ReceiveParcel() {
  Parcel p;
  if (!mailbox_->Take(&p)) return;
  for (auto& [id, e] : p.entries) objs_[id] = e;
  roots_.push_back(gc::Root<Node>(p.root));
  root_ids_.push_back(p.root_id);
}

void Model::ReceiveAll() {
  Parcel p;
  while (mailbox_->Take(&p)) {
    for (auto& [id, e] : p.entries) objs_[id] = e;
    roots_.push_back(gc::Root<Node>(p.root));
    root_ids_.push_back(p.root_id);
  }
}

bool Model::Step() {
  stats_.ops++;
  uint64_t op = Rand(1000);
  if (root_ids_.empty() || (op < 150 && roots_.size() < 256)) {
    Create();
  } else if (op < 400) {  // link two reachable objects (cycles too)
    uint64_t a = Walk(), b = Walk();
    SetEdge(a, static_cast<int>(Rand(kEdges)), b);
  } else if (op < 500) {  // unlink
    SetEdge(Walk(), static_cast<int>(Rand(kEdges)), 0);
  } else if (op < 600) {  // drop a root
    size_t i = Rand(roots_.size());
    std::swap(roots_[i], roots_.back());
    std::swap(root_ids_[i], root_ids_.back());
    roots_.pop_back();
    root_ids_.pop_back();
  } else if (op < 650) {  // root something reachable again
    uint64_t x = Walk();
    roots_.push_back(gc::Root<Node>(objs_.at(x).ptr));
    root_ids_.push_back(x);
  } else if (op < 700) {  // a back edge to a root: a cycle through it
    SetEdge(Walk(), static_cast<int>(Rand(kEdges)),
            root_ids_[Rand(root_ids_.size())]);
  } else if (op < 750) {  // the root set's vector
    if (slots_.size() < 32 || Rand(2) == 0) {
      uint64_t x = Walk();
      slots_.push_back(gc::Ptr<Node>(objs_.at(x).ptr));
      slot_ids_.push_back(x);
    } else {
      size_t i = Rand(slots_.size());
      std::swap(slots_[i], slots_.back());
      std::swap(slot_ids_[i], slot_ids_.back());
      slots_.pop_back();
      slot_ids_.pop_back();
    }
  } else if (op < 820) {  // a new child, linked before anything allocates
    uint64_t a = Walk();
    int k = static_cast<int>(Rand(kEdges));
    uint64_t id = NewId();
    gc::Ptr<Node> c = gc::make_unrooted<Node>();
    objs_.at(a).ptr->edges[k] = c;
    objs_.at(a).edges[k] = id;
    size_t blob_len = Rand(8) == 0 ? Rand(2000) : 0;
    Entry e;
    e.ptr = c.get();
    e.blob_len = blob_len;
    objs_[id] = e;
    Fill(c.get(), id, blob_len);
  } else if (op < 900) {
    Garbage();
  } else if (op < 930) {  // a new blob for a reachable object
    uint64_t a = Walk();
    size_t len = Rand(3000);
    Node* n = objs_.at(a).ptr;
    gc::Root<gc::Array<uint64_t>> b = gc::make_array<uint64_t>(len);
    for (size_t i = 0; i < len; i++) (*b)[i] = Mix(a * 7919 + i);
    n->blob = b;
    objs_.at(a).blob_len = len;
  } else if (op < 975) {  // hand a fresh subgraph over, or take one
    if (mailbox_ == nullptr) {
      gc::safepoint();
    } else if (op < 950) {
      SendParcel();
    } else {
      ReceiveParcel();
    }
  } else if (op < 978) {
    return CollectAndCheck();
  } else {
    gc::safepoint();
  }
  return true;
}

bool Model::CollectAndCheck() {
  gc::collect();
  stats_.collections++;
  return Check();
}

bool Model::Check() {
  // Reachability in the model, from the handles and the root set.
  std::unordered_set<uint64_t> reached;
  std::vector<uint64_t> stack(root_ids_.begin(), root_ids_.end());
  stack.insert(stack.end(), slot_ids_.begin(), slot_ids_.end());
  while (!stack.empty()) {
    uint64_t id = stack.back();
    stack.pop_back();
    if (!reached.insert(id).second) continue;
    for (uint64_t e : objs_.at(id).edges) {
      if (e != 0 && !reached.count(e)) stack.push_back(e);
    }
  }
  std::vector<uint64_t> gone;
  for (auto& [id, e] : objs_) {
    uint8_t destroyed = Destroyed()[id].load(std::memory_order_relaxed);
    if (!reached.count(id)) {
      if (destroyed != 1) {
        return Fail("object " + std::to_string(id) +
                    " was unreachable at the last cycle but its destructor "
                    "ran " +
                    std::to_string(destroyed) + " times (want 1)");
      }
      gone.push_back(id);
      continue;
    }
    if (destroyed != 0) {
      return Fail("reachable object " + std::to_string(id) + " was destroyed");
    }
    const Node* n = e.ptr;
    if (n->id != id || n->check != Mix(id)) {
      return Fail("reachable object " + std::to_string(id) + " is corrupt");
    }
    for (int k = 0; k < kEdges; k++) {
      const Node* want = e.edges[k] == 0 ? nullptr : objs_.at(e.edges[k]).ptr;
      if (n->edges[k].get() != want) {
        return Fail("edge " + std::to_string(k) + " of object " +
                    std::to_string(id) + " changed");
      }
    }
    size_t len = n->blob ? n->blob->size() : 0;
    if (len != e.blob_len) {
      return Fail("the blob of object " + std::to_string(id) +
                  " has the wrong length");
    }
    for (size_t i = 0; i < len; i += 1 + len / 8) {
      if ((*n->blob)[i] != Mix(id * 7919 + i)) {
        return Fail("the blob of object " + std::to_string(id) +
                    " is corrupt at " + std::to_string(i));
      }
    }
    stats_.objects_checked++;
  }
  for (uint64_t id : gone) {
    objs_.erase(id);
    constexpr size_t kSample = 1 << 16;
    if (dead_ids_.size() < kSample) {
      dead_ids_.push_back(id);
    } else if (uint64_t j = Rand(dead_seen_ + 1); j < kSample) {
      dead_ids_[j] = id;
    }
    dead_seen_++;
  }
  stats_.reclaimed_checked += gone.size();
  // A sample of the long dead: destroyed once, never again.
  for (int i = 0; i < 64 && !dead_ids_.empty(); i++) {
    uint64_t id = dead_ids_[Rand(dead_ids_.size())];
    if (Destroyed()[id].load(std::memory_order_relaxed) != 1) {
      return Fail("object " + std::to_string(id) + " was destroyed again");
    }
  }
  if (CorruptAtDestruction().load() != 0) {
    return Fail("a destructor ran on a corrupt (reused) object");
  }
  return true;
}

bool Model::DropAllAndCheck() {
  roots_.clear();
  root_ids_.clear();
  slots_.clear();
  slot_ids_.clear();
  if (!CollectAndCheck()) return false;
  if (!objs_.empty()) return Fail("objects left after dropping every root");
  for (uint64_t id : dead_ids_) {
    if (Destroyed()[id].load(std::memory_order_relaxed) != 1) {
      return Fail("object " + std::to_string(id) + " was destroyed again");
    }
  }
  return true;
}

bool Model::Fail(std::string what) {
  failure_ = std::move(what);
  return false;
}

}  // namespace stress
