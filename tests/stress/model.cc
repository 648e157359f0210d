// See model.h.
#include "tests/stress/model.h"

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <thread>
#include <unordered_set>

namespace stress {

namespace {
std::atomic<uint8_t> g_destroyed[kMaxIds];
std::atomic<uint8_t> g_finalized[kMaxIds];
std::atomic<uint64_t> g_corrupt{0};
std::atomic<uint64_t> g_corrupt_finalized{0};
std::atomic<uint64_t> g_next_id{1};
std::atomic<uint64_t> g_nonzero{0};
std::atomic<uint64_t> g_zero_checked{0};

// A fresh blob must read zero (make_array of a trivial type leaves its
// elements to the zeroing) before it is filled with id's pattern.
gc::Root<gc::Array<uint64_t>> MakeBlob(uint64_t id, size_t len) {
  gc::Root<gc::Array<uint64_t>> b = gc::make_array<uint64_t>(len);
  for (size_t i = 0; i < len; i++) {
    if ((*b)[i] != 0) {
      g_nonzero.fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  g_zero_checked.fetch_add(1, std::memory_order_relaxed);
  for (size_t i = 0; i < len; i++) (*b)[i] = Mix(id * 7919 + i);
  return b;
}
}  // namespace

std::atomic<uint8_t>* Destroyed() { return g_destroyed; }
std::atomic<uint64_t>& CorruptAtDestruction() { return g_corrupt; }
std::atomic<uint8_t>* Finalized() { return g_finalized; }
std::atomic<uint64_t>& CorruptAtFinalization() { return g_corrupt_finalized; }
std::atomic<uint64_t>& NonzeroAtAllocation() { return g_nonzero; }
std::atomic<uint64_t>& ZeroChecked() { return g_zero_checked; }
uint64_t NewId() {
  uint64_t id = g_next_id.fetch_add(1, std::memory_order_relaxed);
  if (id >= kMaxIds) {
    std::fprintf(stderr, "stress: more than %llu objects; shorten the run\n",
                 static_cast<unsigned long long>(kMaxIds));
    std::abort();
  }
  return id;
}

Brood::Brood(uint64_t id, const std::vector<uint64_t>& kid_ids,
             const std::vector<size_t>& blob_lens, int collect_at)
    : id_(id), check_(Mix(id)) {
  for (size_t i = 0; i < kid_ids.size(); i++) {
    // Nothing but this vector (C++ heap memory the collector cannot see
    // while the Brood is half-built) holds the children.
    children_.push_back(gc::make_unrooted<Node>());
    Node* c = children_.back().get();
    c->id = kid_ids[i];
    c->check = Mix(kid_ids[i]);
    if (blob_lens[i] > 0) c->blob = MakeBlob(kid_ids[i], blob_lens[i]);
    if (static_cast<int>(i) == collect_at) gc::collect();
  }
}

Brood::~Brood() {
  if (check_ != Mix(id_) || id_ >= kMaxIds) {
    CorruptAtDestruction().fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Destroyed()[id_].fetch_add(1, std::memory_order_relaxed);
}

Model::Model(uint64_t seed, Mailbox* mailbox)
    : rng_(seed), mailbox_(mailbox), slot_roots_([this](gc::Tracer& t) {
        for (const gc::Ptr<Node>& p : slots_) t(p);
      }) {}

Model::~Model() = default;

void Model::Fill(Node* n, uint64_t id, size_t blob_len) {
  n->id = id;
  n->check = Mix(id);
  // n is reachable (rooted or linked) before this allocation.
  if (blob_len > 0) n->blob = MakeBlob(id, blob_len);
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
    const Entry& e = objs_.at(id);
    // Into a Brood's children now and then (they are linked elsewhere so).
    uint64_t next = !e.kids.empty() && Rand(4) == 0
                        ? e.kids[Rand(e.kids.size())]
                        : e.edges[Rand(kEdges)];
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
  if (auto it = weak_map_.find(id); it != weak_map_.end()) {
    stats_.weak_map_checked++;
    if (!it->second.expired()) {
      return Fail("a weak reference in the map to object " +
                  std::to_string(id) + " reads non-null after its free");
    }
  }
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
      // Made before the lock is taken: making a handle may park at a
      // safepoint, and a fork then would leave the lock held in the child.
      gc::Global<Node> g{gc::Ptr<Node>(self)};
      std::lock_guard<std::mutex> lock(box->mu);
      box->items.emplace_back(id, std::move(g));
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

bool Model::MakeBrood() {
  // A new object holding a Brood of 1-16 children, linked in place of an
  // edge of a reachable one (so the live graph does not grow much); the
  // vector's buffer moves as it grows, and every 40th Brood (the first
  // included, so even the short sanitizer runs have one) collects at a
  // random child (the others see the cycles their allocations trigger).
  const uint64_t a = Walk();
  const int k = static_cast<int>(Rand(kEdges));
  const uint64_t owner = NewId();
  {
    gc::Ptr<Node> o = gc::make_unrooted<Node>();
    objs_.at(a).ptr->edges[k] = o;  // reachable before anything allocates
    objs_.at(a).edges[k] = owner;
    Fill(o.get(), owner, 0);
    Entry oe;
    oe.origin = Origin::kChild;
    oe.ptr = o.get();
    objs_[owner] = oe;
  }
  const uint64_t brood_id = NewId();
  const size_t n = 1 + Rand(16);
  std::vector<uint64_t> kid_ids(n);
  std::vector<size_t> blob_lens(n);
  for (size_t i = 0; i < n; i++) {
    kid_ids[i] = NewId();
    blob_lens[i] = Rand(6) == 0 ? Rand(400) : 0;
  }
  const int collect_at =
      stats_.broods % 40 == 0 ? static_cast<int>(Rand(n)) : -1;
  gc::Ptr<Brood> b =
      gc::make_unrooted<Brood>(brood_id, kid_ids, blob_lens, collect_at);
  Entry& e = objs_.at(owner);
  e.ptr->brood = b;  // before anything allocates
  e.brood = brood_id;
  e.brood_ptr = b.get();
  e.kids = kid_ids;
  stats_.broods++;
  if (collect_at >= 0) stats_.brood_collects++;
  // Every child is there, intact, and was never destroyed.
  if (!b->Intact(brood_id) || b->children().size() != n) {
    return Fail("brood " + std::to_string(brood_id) +
                " is corrupt after its constructor");
  }
  for (size_t i = 0; i < n; i++) {
    const uint64_t id = kid_ids[i];
    const Node* c = b->children()[i].get();
    bool ok = c != nullptr && Destroyed()[id].load() == 0 && c->id == id &&
              c->check == Mix(id) &&
              (c->blob ? c->blob->size() : 0) == blob_lens[i];
    for (size_t k = 0; ok && k < blob_lens[i]; k++) {
      ok = (*c->blob)[k] == Mix(id * 7919 + k);
    }
    if (!ok) {
      return Fail(
          "child " + std::to_string(i) + " (object " + std::to_string(id) +
          ") of brood " + std::to_string(brood_id) +
          (collect_at >= 0
               ? ", which collected at child " + std::to_string(collect_at)
               : "") +
          ", was lost during its construction");
    }
    Entry ce;
    ce.origin = Origin::kBroodChild;
    ce.ptr = const_cast<Node*>(c);
    ce.blob_len = blob_lens[i];
    objs_[id] = std::move(ce);
  }
  return true;
}

namespace {
// A batch of Raw<N>: each checks its own zeroing; a third are kept
// (replacing a random kept one, at most 16), the rest die at once.
template <size_t N>
bool RawBatch(std::vector<gc::Root<Raw<N>>>& kept, std::mt19937_64& rng,
              uint64_t* checked) {
  for (uint64_t n = 1 + rng() % 12; n > 0; n--) {
    gc::Root<Raw<N>> r = gc::make<Raw<N>>(rng());
    (*checked)++;
    if (rng() % 3 != 0) continue;
    if (kept.size() < 16) {
      kept.push_back(std::move(r));
    } else {
      kept[rng() % kept.size()] = std::move(r);
    }
  }
  return true;
}

template <size_t N>
bool RawIntact(const std::vector<gc::Root<Raw<N>>>& kept) {
  for (const gc::Root<Raw<N>>& r : kept) {
    if (!r->Intact()) return false;
  }
  return true;
}
}  // namespace

bool Model::ZeroChurn() {
  const uint64_t before = NonzeroAtAllocation().load();
  switch (Rand(7)) {
    case 0:
      RawBatch(std::get<0>(raws_), rng_, &stats_.zero_checked);
      break;
    case 1:
      RawBatch(std::get<1>(raws_), rng_, &stats_.zero_checked);
      break;
    case 2:
      RawBatch(std::get<2>(raws_), rng_, &stats_.zero_checked);
      break;
    case 3:
      RawBatch(std::get<3>(raws_), rng_, &stats_.zero_checked);
      break;
    case 4:
      RawBatch(std::get<4>(raws_), rng_, &stats_.zero_checked);
      break;
    case 5:
      RawBatch(std::get<5>(raws_), rng_, &stats_.zero_checked);
      break;
    default:  // int32 arrays of 132 bytes to 4 KiB (n*4 > 128)
      for (uint64_t k = 1 + Rand(8); k > 0; k--) {
        const size_t n = 33 + Rand(1000);
        gc::Root<gc::Array<int32_t>> a = gc::make_array<int32_t>(n);
        stats_.zero_checked++;
        for (size_t i = 0; i < n; i++) {
          if ((*a)[i] != 0) {
            return Fail("a fresh gc::make_array<int32_t>(" + std::to_string(n) +
                        ") reads " + std::to_string((*a)[i]) + " at " +
                        std::to_string(i) + ", not zero");
          }
        }
        const int32_t tag = static_cast<int32_t>(Rand(1 << 30)) | 1;
        for (size_t i = 0; i < n; i++) (*a)[i] = tag ^ static_cast<int32_t>(i);
        if (Rand(3) != 0) continue;  // dies at once: a dirty slot
        if (ints_.size() < 16) {
          ints_.emplace_back(std::move(a), tag);
        } else {
          ints_[Rand(ints_.size())] = {std::move(a), tag};
        }
      }
      break;
  }
  if (NonzeroAtAllocation().load() != before) {
    return Fail(
        "a fresh allocation (a Raw object's bytes or a blob) did "
        "not read zero before its constructor ran");
  }
  return true;
}

void Model::WeakMapPut() {
  uint64_t t = 0;
  gc::Weak<Node> w;
  uint64_t pick = Rand(8);
  if (pick == 0) {
    // Fresh garbage: null after the next cycle, and its cell is reused.
    t = NewId();
    gc::Ptr<Node> g = gc::make_unrooted<Node>();
    g->id = t;
    g->check = Mix(t);
    Entry e;
    e.origin = Origin::kWeakGarbage;
    e.ptr = g.get();
    objs_[t] = e;
    w = gc::Weak<Node>(g);  // no allocation since make
  } else if (pick == 1 && !private_ids_.empty()) {
    // A private object: freed explicitly later, then null at once.
    size_t i = Rand(private_ids_.size());
    t = private_ids_[i];
    w = gc::Weak<Node>(privates_[i]);
  } else {
    t = Walk();  // reachable now; many die later
    if (t == 0) return;
    w = gc::Weak<Node>(gc::Ptr<Node>(objs_.at(t).ptr));
  }
  if (weak_map_.emplace(t, w).second) {
    weak_map_order_.push_back(t);
  } else {
    weak_map_[t] = w;
  }
  if (weak_map_.size() > 512) {
    weak_map_.erase(weak_map_order_.front());
    weak_map_order_.pop_front();
  }
}

bool Model::CheckWeakMap(const std::unordered_set<uint64_t>& reached) {
  for (const auto& [id, w] : weak_map_) {
    stats_.weak_map_checked++;
    const Node* got = w.get_unrooted();
    auto it = objs_.find(id);
    if (it != objs_.end() && reached.count(id)) {
      if (got == nullptr) {
        return Fail("a weak reference in the map reads null, but its target " +
                    std::to_string(id) + " is reachable");
      }
      if (got != it->second.ptr || got->id != id || got->check != Mix(id)) {
        return Fail("a weak reference in the map made for reachable object " +
                    std::to_string(id) + " reads another object");
      }
    } else if (got != nullptr) {
      // Its target died (or was freed): whatever is at `got` now, it is
      // not the object the reference was made for. Name it if the model
      // knows the address.
      std::string other = "an object the model does not know";
      for (const auto& [oid, e] : objs_) {
        if (e.ptr == got) other = "object " + std::to_string(oid);
      }
      return Fail("a weak reference in the map made for object " +
                  std::to_string(id) +
                  ", which died, reads non-null: " + other);
    }
  }
  return true;
}

bool Model::ForkAndCheck() {
#if defined(GCRT_TSAN) || defined(GCRT_ASAN)
  // Not under the sanitizers' allocators: GCC 12's ASan (like TSan) does not
  // hold its allocator's locks across fork(), as glibc's malloc does with
  // its atfork handlers, so a child forked while any other thread is inside
  // malloc (a thread starting up, one in a blocking region) deadlocks on
  // the sanitizer's own lock: seen 2 times in ~180 runs, the child's new
  // mark helpers stuck in __asan::AsanThread::Init's malloc. The default and
  // debug builds run these forks.
  return true;
#else
  std::fflush(nullptr);  // nothing buffered is written twice
  const pid_t pid = fork();
  if (pid < 0) return Fail("fork failed");
  if (pid == 0) {
    // The child: only this thread exists. Other threads' models are
    // frozen mid-operation and never looked at; the mailbox (whose lock
    // a frozen thread might hold) is not used.
    in_child_ = true;
    mailbox_ = nullptr;
    int rc = 0;
    try {
      Garbage();
      MakeBrood();
      WeakMapPut();
      Create();
      if (!ZeroChurn() || !CollectAndCheck()) rc = 1;
      for (int i = 0; rc == 0 && i < 100; i++) {
        if (!Step()) rc = 1;
      }
      if (rc == 0 && !CollectAndCheck()) rc = 1;
    } catch (const std::exception& e) {
      failure_ = std::string("threw: ") + e.what();
      rc = 2;
    }
    if (rc != 0) {
      std::fprintf(stderr, "stress: forked child failed: %s\n",
                   failure_.c_str());
    }
    std::fflush(stderr);
    _exit(rc);
  }
  int status = 0;
  bool hung = false;
  {
    gc::Blocking waiting;  // other threads may collect meanwhile
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      const pid_t r = waitpid(pid, &status, WNOHANG);
      if (r == pid) break;
      if (r < 0 || std::chrono::steady_clock::now() > deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        hung = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  if (hung) return Fail("a forked child did not finish in 60 s (killed)");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Fail("a forked child failed: " +
                (WIFEXITED(status)
                     ? "exit code " + std::to_string(WEXITSTATUS(status))
                     : "signal " + std::to_string(WTERMSIG(status))) +
                " (its message is above)");
  }
  stats_.forks++;
  return true;
#endif
}

bool Model::Step() {
  stats_.ops++;
  if (fork_every_ != 0 && !in_child_ &&
      stats_.ops % fork_every_ == fork_every_ / 2) {
    return ForkAndCheck();
  }
  uint64_t op = Rand(1132);
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
    n->blob = MakeBlob(a, len);
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
  } else if (op < 1096) {
    return MakeBrood();
  } else if (op < 1108) {
    return ZeroChurn();
  } else if (op < 1122) {
    WeakMapPut();
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
      const Entry& en = objs_.at(id);
      for (uint64_t e : en.edges) {
        if (e != 0 && !out->count(e)) stack.push_back(e);
      }
      for (uint64_t k : en.kids) {
        if (!out->count(k)) stack.push_back(k);
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
      if (e.brood != 0) {
        uint8_t bd = Destroyed()[e.brood].load(std::memory_order_relaxed);
        if (bd != 1) {
          return Fail("brood " + std::to_string(e.brood) + " of object " +
                      std::to_string(id) + " was destroyed " +
                      std::to_string(bd) + " times (want 1)");
        }
        gone.push_back(e.brood);
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
    if (n->brood.get() != e.brood_ptr) {
      return Fail("the brood of object " + std::to_string(id) + " changed");
    }
    if (e.brood != 0) {
      const Brood* b = e.brood_ptr;
      if (Destroyed()[e.brood].load(std::memory_order_relaxed) != 0 ||
          !b->Intact(e.brood) || b->children().size() != e.kids.size()) {
        return Fail("brood " + std::to_string(e.brood) + " of object " +
                    std::to_string(id) + " was destroyed or is corrupt");
      }
      for (size_t i = 0; i < e.kids.size(); i++) {
        if (b->children()[i].get() != objs_.at(e.kids[i]).ptr) {
          return Fail("child " + std::to_string(i) + " of brood " +
                      std::to_string(e.brood) + " changed");
        }
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
  if (!CheckWeakMap(reached)) return false;
  bool raws_intact = true;
  std::apply([&](const auto&... v) { raws_intact = (RawIntact(v) && ...); },
             raws_);
  if (!raws_intact) return Fail("a kept Raw object is corrupt");
  for (const auto& [a, tag] : ints_) {
    for (size_t i = 0; i < a->size(); i += 13) {
      if ((*a)[i] != (tag ^ static_cast<int32_t>(i))) {
        return Fail("a kept int32 array is corrupt at " + std::to_string(i));
      }
    }
  }
  if (NonzeroAtAllocation().load() != 0) {
    return Fail("an allocation did not read zero before its constructor ran");
  }
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
  raws_ = {};
  ints_.clear();
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
      "created",       "child",        "garbage",     "parcel",
      "private",       "weak garbage", "finalizable", "finalizable's child",
      "freed at once", "brood child"};
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
