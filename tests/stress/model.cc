// See model.h.
#include "tests/stress/model.h"

#include <algorithm>
#include <unordered_set>

namespace stress {

namespace {
std::atomic<uint8_t> g_destroyed[kMaxIds];
std::atomic<uint8_t> g_finalized[kMaxIds];
std::atomic<uint64_t> g_corrupt{0};
std::atomic<uint64_t> g_corrupt_finalized{0};
std::atomic<uint64_t> g_next_id{1};
}  // namespace

std::atomic<uint8_t>* Destroyed() { return g_destroyed; }
std::atomic<uint64_t>& CorruptAtDestruction() { return g_corrupt; }
std::atomic<uint8_t>* Finalized() { return g_finalized; }
std::atomic<uint64_t>& CorruptAtFinalization() { return g_corrupt_finalized; }
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
  e.origin = Origin::kCreated;
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
    e.origin = Origin::kGarbage;
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
  re.origin = Origin::kParcel;
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
    ce.origin = Origin::kParcel;
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
  if (Rand(3) == 0) {
    // Made on another thread, freed here: its children become garbage.
    gc::free(p.root);
    Freed(p.root_id);
    return;
  }
  roots_.push_back(gc::Root<Node>(p.root));
  root_ids_.push_back(p.root_id);
}

bool Model::Freed(uint64_t id) {
  stats_.freed++;
  uint8_t d = Destroyed()[id].load(std::memory_order_relaxed);
  Forget(id);
  if (d != 1) {
    return Fail("object " + std::to_string(id) +
                " was freed explicitly but destroyed " + std::to_string(d) +
                " times (want 1)");
  }
  return true;
}

void Model::Forget(uint64_t id) {
  objs_.erase(id);
  constexpr size_t kSample = 1 << 16;
  if (dead_ids_.size() < kSample) {
    dead_ids_.push_back(id);
  } else if (uint64_t j = Rand(dead_seen_ + 1); j < kSample) {
    dead_ids_[j] = id;
  }
  dead_seen_++;
}

void Model::MakePrivate() {
  uint64_t id = NewId();
  gc::Root<Node> r = gc::make<Node>();
  Fill(r.get(), id, Rand(4) == 0 ? Rand(3000) : 0);
  Entry e;
  e.origin = Origin::kPrivate;
  e.ptr = r.get();
  e.blob_len = r->blob ? r->blob->size() : 0;
  // Edges out to reachable objects; nothing points to it.
  for (int k = 0; k < kEdges; k++) {
    if (Rand(2) == 0) continue;
    uint64_t to = Walk();
    if (to == 0) continue;
    r->edges[k] = gc::Ptr<Node>(objs_.at(to).ptr);
    e.edges[k] = to;
  }
  objs_[id] = e;
  privates_.push_back(std::move(r));
  private_ids_.push_back(id);
}

bool Model::FreePrivate() {
  if (privates_.empty()) return true;
  size_t i = Rand(privates_.size());
  std::swap(privates_[i], privates_.back());
  std::swap(private_ids_[i], private_ids_.back());
  uint64_t id = private_ids_.back();
  gc::free(privates_.back());
  if (privates_.back() != nullptr) return Fail("gc::free kept the root");
  privates_.pop_back();
  private_ids_.pop_back();
  return Freed(id);
}

void Model::SetWeak() {
  uint64_t a = Walk();
  if (a == 0) return;
  uint64_t t = Rand(4) == 0 ? 0 : Walk();
  if (Rand(8) == 0) {
    // A weak reference to fresh garbage: null after the next cycle.
    t = NewId();
    gc::Ptr<Node> g = gc::make_unrooted<Node>();
    g->id = t;
    g->check = Mix(t);
    Entry e;
    e.origin = Origin::kWeakGarbage;
    e.ptr = g.get();
    objs_[t] = e;
    objs_.at(a).ptr->weak = gc::Weak<Node>(g);  // no allocation since make
    objs_.at(a).weak = t;
    return;
  }
  Node* n = objs_.at(a).ptr;
  n->weak = t == 0 ? gc::Weak<Node>()
                   : gc::Weak<Node>(gc::Ptr<Node>(objs_.at(t).ptr));
  objs_.at(a).weak = t;
}

bool Model::RootViaWeak() {
  uint64_t a = Walk();
  if (a == 0) return true;
  Entry& e = objs_.at(a);
  if (e.weak == 0) return true;
  gc::Root<Node> got = e.ptr->weak.lock();
  stats_.weak_checked++;
  if (got == nullptr) {
    // Cleared: its target was unreachable at some cycle since (and the
    // model will find it destroyed at its next check).
    return true;
  }
  const uint64_t t = e.weak;
  auto it = objs_.find(t);
  if (it == objs_.end() || got.get() != it->second.ptr || got->id != t ||
      got->check != Mix(t) ||
      Destroyed()[t].load(std::memory_order_relaxed) != 0) {
    return Fail("weak reference of object " + std::to_string(a) +
                " gave an object that is not its live target " +
                std::to_string(t));
  }
  // Reachable again, rooted: a weak reference gives what is still there.
  roots_.push_back(std::move(got));
  root_ids_.push_back(t);
  return true;
}

void Model::FinalizableGarbage() {
  // An unreachable object with a finalizer and a child only it reaches.
  uint64_t id = NewId(), child_id = NewId();
  gc::Root<Node> r = gc::make<Node>();
  Fill(r.get(), id, 0);
  gc::Ptr<Node> c = gc::make_unrooted<Node>();
  r->edges[0] = c;
  size_t blob_len = Rand(2) == 0 ? Rand(400) : 0;
  Fill(c.get(), child_id, blob_len);
  const bool resurrect = Rand(4) == 0;
  std::shared_ptr<ResurrectBox> box = box_;
  gc::set_finalizer(r, [id, child_id, blob_len, resurrect, box](Node* self) {
    const Node* child = self->edges[0].get();
    bool ok = self->id == id && self->check == Mix(id) && child != nullptr &&
              child->id == child_id && child->check == Mix(child_id) &&
              (child->blob ? child->blob->size() : 0) == blob_len;
    for (size_t i = 0; ok && i < blob_len; i++) {
      ok = (*child->blob)[i] == Mix(child_id * 7919 + i);
    }
    if (!ok) CorruptAtFinalization().fetch_add(1, std::memory_order_relaxed);
    Finalized()[id].fetch_add(1, std::memory_order_relaxed);
    if (resurrect) {
      std::lock_guard<std::mutex> lock(box->mu);
      box->items.emplace_back(id, gc::Global<Node>(gc::Ptr<Node>(self)));
    }
  });
  Entry e;
  e.origin = Origin::kFinalizable;
  e.ptr = r.get();
  e.edges[0] = child_id;
  e.fin = 1;
  objs_[id] = e;
  Entry ce;
  ce.origin = Origin::kFinalizableChild;
  ce.ptr = c.get();
  ce.blob_len = blob_len;
  objs_[child_id] = ce;
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
  uint64_t op = Rand(1100);
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
    e.origin = Origin::kChild;
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
  } else if (op < 1000) {
    gc::safepoint();
  } else if (op < 1020) {
    if (privates_.size() < 64) MakePrivate();
  } else if (op < 1040) {
    return FreePrivate();
  } else if (op < 1065) {
    SetWeak();
  } else if (op < 1075) {
    return RootViaWeak();
  } else if (op < 1090) {
    FinalizableGarbage();
  } else {
    // Make, link, unlink and free at once: the slot is reused soon.
    uint64_t a = Walk();
    int k = static_cast<int>(Rand(kEdges));
    uint64_t id = NewId();
    gc::Ptr<Node> c = gc::make_unrooted<Node>();
    c->id = id;
    c->check = Mix(id);
    gc::Ptr<Node> old = objs_.at(a).ptr->edges[k];
    objs_.at(a).ptr->edges[k] = c;
    objs_.at(a).ptr->edges[k] = old;
    Entry e;
    e.origin = Origin::kFreedAtOnce;
    e.ptr = c.get();
    objs_[id] = e;
    gc::free(c);
    return Freed(id);
  }
  return true;
}

bool Model::CollectAndCheck() {
  gc::collect();
  const uint64_t cycles = gc::stats().num_gc;
  // Every finalizer the cycle queued has run when this returns. It may
  // wait (in a blocking region) for the finalizer thread, and meanwhile
  // other threads' cycles may start reclaiming, lazily, objects that this
  // cycle kept for their finalizers: those are then checked only for
  // being destroyed at most once.
  gc::run_finalizers();
  stats_.collections++;
  return Check(/*kept_stable=*/gc::stats().num_gc == cycles);
}

bool Model::Check(bool kept_stable) {
  // Objects their finalizer resurrected were rooted (by the box) when the
  // cycle marked: they are roots now (or, while dropping, kept once).
  std::vector<uint64_t> kept_roots;
  {
    std::vector<std::pair<uint64_t, gc::Global<Node>>> items;
    {
      std::lock_guard<std::mutex> lock(box_->mu);
      items.swap(box_->items);
    }
    for (auto& [id, g] : items) {
      auto it = objs_.find(id);
      if (it == objs_.end() || it->second.fin == 0 ||
          it->second.ptr != g.get()) {
        return Fail("a finalizer resurrected object " + std::to_string(id) +
                    ", which the model does not know as finalizable");
      }
      it->second.fin = 2;
      stats_.resurrected++;
      if (dropping_) {
        kept_roots.push_back(id);
      } else {
        roots_.push_back(gc::Root<Node>(g));
        root_ids_.push_back(id);
      }
    }
  }
  // Reachability in the model, from the handles and the root set.
  auto walk = [this](std::vector<uint64_t> stack,
                     std::unordered_set<uint64_t>* out,
                     const std::unordered_set<uint64_t>* skip) {
    while (!stack.empty()) {
      uint64_t id = stack.back();
      stack.pop_back();
      if ((skip != nullptr && skip->count(id)) || !out->insert(id).second) {
        continue;
      }
      for (uint64_t e : objs_.at(id).edges) {
        if (e != 0 && !out->count(e)) stack.push_back(e);
      }
    }
  };
  std::unordered_set<uint64_t> reached;
  std::vector<uint64_t> roots(root_ids_.begin(), root_ids_.end());
  roots.insert(roots.end(), slot_ids_.begin(), slot_ids_.end());
  roots.insert(roots.end(), private_ids_.begin(), private_ids_.end());
  walk(std::move(roots), &reached, nullptr);
  // Unreachable finalizable objects: each finalizer has run; an object it
  // ran for in this cycle is kept with what it reaches until the next.
  for (auto& [id, e] : objs_) {
    if (e.fin == 0 || reached.count(id)) {
      if (e.fin == 0 && Finalized()[id].load(std::memory_order_relaxed)) {
        return Fail("object " + std::to_string(id) +
                    " has no finalizer but one ran for it");
      }
      continue;
    }
    uint8_t f = Finalized()[id].load(std::memory_order_relaxed);
    if (e.fin == 1 && f != 1) {
      return Fail("the finalizer of unreachable object " + std::to_string(id) +
                  " ran " + std::to_string(f) + " times (want 1)");
    }
    if (e.fin == 1) stats_.finalized++;
    // Destroyed already: queued by an earlier cycle, reclaimed by this one
    // with all it reached. Unless another cycle ran since this one (then it
    // may be this cycle's, reclaimed since, its reach only partly swept).
    if (e.fin == 1 && (!kept_stable ||
                       Destroyed()[id].load(std::memory_order_relaxed) == 0)) {
      kept_roots.push_back(id);
    }
  }
  std::unordered_set<uint64_t> kept;
  walk(std::move(kept_roots), &kept, &reached);
  std::vector<uint64_t> gone;
  for (auto& [id, e] : objs_) {
    uint8_t destroyed = Destroyed()[id].load(std::memory_order_relaxed);
    if (kept.count(id)) {
      if (e.fin == 1) e.fin = 2;
      if (!kept_stable) {
        if (destroyed > 1) {
          return Fail("object " + std::to_string(id) + " was destroyed " +
                      std::to_string(destroyed) + " times");
        }
        if (destroyed == 1) gone.push_back(id);
        continue;
      }
      if (destroyed != 0) {
        return Fail("object " + std::to_string(id) +
                    ", kept for a finalizer, was destroyed");
      }
      const Node* n = e.ptr;
      if (n->id != id || n->check != Mix(id)) {
        return Fail("object " + std::to_string(id) +
                    ", kept for a finalizer, is corrupt");
      }
      continue;
    }
    if (!reached.count(id)) {
      if (destroyed != 1) {
        return Fail("object " + std::to_string(id) +
                    " was unreachable at the last cycle but its destructor "
                    "ran " +
                    std::to_string(destroyed) + " times (want 1); " +
                    Describe(id));
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
    if (e.weak != 0) {
      stats_.weak_checked++;
      const Node* got = n->weak.get_unrooted();
      if (reached.count(e.weak)) {
        if (got != objs_.at(e.weak).ptr) {
          return Fail("the weak reference of object " + std::to_string(id) +
                      " lost its reachable target " + std::to_string(e.weak));
        }
      } else if (got != nullptr) {
        return Fail("the weak reference of object " + std::to_string(id) +
                    " still reads its unreachable target " +
                    std::to_string(e.weak));
      } else {
        e.weak = 0;  // cleared, as it must be
      }
    }
    stats_.objects_checked++;
  }
  for (uint64_t id : gone) Forget(id);
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
  if (CorruptAtFinalization().load() != 0) {
    return Fail("a finalizer saw its object or its child corrupt");
  }
  return true;
}

bool Model::DropAllAndCheck() {
  roots_.clear();
  root_ids_.clear();
  slots_.clear();
  slot_ids_.clear();
  privates_.clear();
  private_ids_.clear();
  dropping_ = true;
  // Finalizable objects outlive one cycle (and a resurrected one another).
  for (int i = 0; i < 4; i++) {
    if (!CollectAndCheck()) return false;
    if (objs_.empty()) break;
  }
  if (!objs_.empty()) return Fail("objects left after dropping every root");
  for (uint64_t id : dead_ids_) {
    if (Destroyed()[id].load(std::memory_order_relaxed) != 1) {
      return Fail("object " + std::to_string(id) + " was destroyed again");
    }
  }
  return true;
}

std::string Model::Describe(uint64_t id) const {
  static const char* const kOrigins[] = {
      "created",      "child",        "garbage",     "parcel",
      "private",      "weak garbage", "finalizable", "finalizable's child",
      "freed at once"};
  const Entry& e = objs_.at(id);
  std::string s =
      std::string("made as ") + kOrigins[static_cast<int>(e.origin)] +
      ", fin=" + std::to_string(e.fin) +
      ", finalized=" + std::to_string(Finalized()[id].load()) + ", edges";
  for (uint64_t to : e.edges) s += " " + std::to_string(to);
  // Who in the model points to it.
  for (const auto& [from, f] : objs_) {
    for (uint64_t to : f.edges) {
      if (to == id) {
        s += ", pointed to by " + std::to_string(from) + " (" +
             kOrigins[static_cast<int>(f.origin)] +
             ", fin=" + std::to_string(f.fin) +
             ", destroyed=" + std::to_string(Destroyed()[from].load()) + ")";
      }
    }
  }
  return s;
}

bool Model::Fail(std::string what) {
  failure_ = std::move(what);
  return false;
}

}  // namespace stress
