// Concurrency: several mutator threads allocate and mutate their rooted
// structures (and share some through gc::Global) while collections run,
// explicit and allocation-triggered; threads in gc::Blocking scopes do not
// hold the world up; roots move between threads; threads attach, detach
// and exit while collections run, and processors left idle through a cycle
// do not break the next one. Everything must be clean under TSan and ASan.
//
// Every test runs with the verifier on (gc::set_verify(true)): it re-marks
// after each cycle and stops the program if a reachable object was freed.
// Objects count their destructions per id, so each test checks exactly
// which objects died: none that was reachable, every one that was not
// (after a final gc::collect()), and none twice.
//
// Every attached thread that waits does so inside a gc::Blocking scope or
// polls gc::safepoint(), so it never holds a stop-the-world up. Waits are
// bounded: a hang is reported as a failure, not as a test timeout.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gcrt/gc.h"
#include "tests/test_support/destructions.h"
#include "tests/test_support/mix.h"
#include "tests/test_support/sanitizers.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

using namespace std::chrono_literals;

// Sanitizer builds are 5-20x slower: fewer iterations, same coverage.
constexpr int kScale = gc::testing::kSanitizerSlowdown;

constexpr auto kHangLimit = 30s;

// Destructor bookkeeping: one counter per object id.
using gc::testing::CountDestroy;
using gc::testing::Destroyed;
using gc::testing::Mix;
using gc::testing::NewId;
using gc::testing::NextId;

// A list node: a class with a trace() (the trace-function path), a
// checksum over its id and salt, and an optional pointer-free payload array
// whose every element is a function of the node's id.
class Node {
 public:
  explicit Node(uint64_t salt = 0)
      : id_(NewId()), salt_(salt), check_(Check(id_, salt)) {}
  ~Node() { CountDestroy(id_); }
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  void trace(gc::Tracer& t) const { t(next, payload); }

  int id() const { return id_; }
  bool Intact() const {
    if (check_ != Check(id_, salt_)) return false;
    if (payload) {
      const gc::Array<uint64_t>& a = *payload.get();
      for (size_t i = 0; i < a.size(); i++) {
        if (a[i] != PayloadWord(i)) return false;
      }
    }
    return true;
  }
  uint64_t PayloadWord(size_t i) const {
    return Mix(static_cast<uint64_t>(id_) * 1000003ull + i);
  }
  // Gives the node a payload of n words (allocates).
  void SetPayload(size_t n) {
    gc::Root<gc::Array<uint64_t>> a = gc::make_array<uint64_t>(n);
    for (size_t i = 0; i < n; i++) (*a)[i] = PayloadWord(i);
    payload = a;
  }

  gc::Ptr<Node> next;
  gc::Ptr<gc::Array<uint64_t>> payload;

 private:
  static uint64_t Check(int id, uint64_t salt) {
    return Mix(static_cast<uint64_t>(id) ^ (salt << 32));
  }
  int id_;
  uint64_t salt_;
  uint64_t check_;
};

// The ids a list holds, head first, checked against the nodes: order,
// checksums, payloads, and that none of them was destroyed. Polls a
// safepoint as it walks (the walk does not allocate).
bool CheckChain(const Node* head, const std::deque<int>& ids,
                std::string* why) {
  size_t i = 0;
  for (const Node* n = head; n != nullptr; n = n->next.get(), i++) {
    if ((i & 63) == 0) gc::safepoint();
    if (i >= ids.size()) {
      *why = "list longer than expected (" + std::to_string(ids.size()) + ")";
      return false;
    }
    if (n->id() != ids[i]) {
      *why = "node " + std::to_string(i) + " has id " +
             std::to_string(n->id()) + ", expected " + std::to_string(ids[i]);
      return false;
    }
    if (!n->Intact()) {
      *why = "node " + std::to_string(n->id()) + " corrupted";
      return false;
    }
    if (Destroyed(n->id()) != 0) {
      *why = "reachable node " + std::to_string(n->id()) + " was destroyed " +
             std::to_string(Destroyed(n->id())) + " times";
      return false;
    }
  }
  if (i != ids.size()) {
    *why = "list has " + std::to_string(i) + " nodes, expected " +
           std::to_string(ids.size());
    return false;
  }
  return true;
}

// A list held by one thread.
struct List {
  gc::Root<Node> head;
  std::deque<int> ids;  // head first
};

// Pushes n fresh nodes on l (some with payloads).
void Push(List* l, int n, std::mt19937_64& rng) {
  for (int k = 0; k < n; k++) {
    uint64_t salt = rng();
    if (rng() % 2 == 0) {
      gc::Root<Node> node = gc::make<Node>(salt);
      switch (rng() % 8) {
        case 0:
          node->SetPayload(1 + rng() % 8);
          break;
        case 1:
          node->SetPayload(64 + rng() % 512);
          break;
        case 2:
          if (rng() % 16 == 0) node->SetPayload(5000);  // a large object
          break;
        default:
          break;
      }
      node->next = l->head;
      l->head = node;
      l->ids.push_front(node->id());
    } else {
      // Unrooted: linked before the next allocation or safepoint.
      gc::Ptr<Node> node = gc::make_unrooted<Node>(salt);
      node->next = l->head;
      l->head = node;
      l->ids.push_front(node->id());
    }
  }
}

List MakeList(int n, std::mt19937_64& rng) {
  List l;
  Push(&l, n, rng);
  return l;
}

// Locks mu from an attached thread: the wait happens in a blocking region,
// so a holder parked at a safepoint cannot deadlock with a stop-the-world.
// Every locker of such a mutex must lock it this way.
std::unique_lock<std::mutex> LockBlocking(std::mutex& mu) {
  gc::Blocking region;
  return std::unique_lock<std::mutex>(mu);
}

// Waits (bounded) until pred() holds, polling safepoints; returns whether
// it did.
template <typename Pred>
bool Eventually(Pred pred, std::chrono::seconds limit = kHangLimit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    gc::safepoint();
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Waits (bounded) until pred() holds, without polling safepoints (for a
// thread in a blocking region, or a detached one); returns whether it did.
template <typename Pred>
bool WaitFor(Pred pred, std::chrono::seconds limit = kHangLimit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Joins threads from an attached thread without holding the world.
void JoinAll(std::vector<std::thread>* threads) {
  gc::Blocking region;
  for (auto& t : *threads) t.join();
  threads->clear();
}
void Join(std::thread* t) {
  gc::Blocking region;
  t->join();
}

// A thread calling gc::collect() until stopped, sleeping a little in a
// blocking region between cycles.
class CollectorThread {
 public:
  explicit CollectorThread(std::chrono::microseconds pause = 1000us)
      : thread_([this, pause] {
          while (!stop_.load()) {
            gc::collect();
            cycles_.fetch_add(1);
            gc::Blocking region;
            std::this_thread::sleep_for(pause);
          }
        }) {}
  ~CollectorThread() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) Join(&thread_);
  }
  uint64_t cycles() const { return cycles_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> cycles_{0};
  std::thread thread_;
};

class Concurrent : public gc::testing::VerifiedHeapTest {
 protected:
  void SetUp() override {
    VerifiedHeapTest::SetUp();
    id_begin_ = NextId();
    destroyed_before_ = gc::stats().objects_destroyed;
  }
  void TearDown() override {
    gc::set_gc_percent(100);
    gc::set_mark_workers(0);
    gc::collect();
  }
  // After a final collection: every object allocated since SetUp whose id
  // is not in `alive` was destroyed exactly once, and none in `alive` was.
  void ExpectExactlyTheUnreachableDestroyed(const std::vector<int>& alive) {
    std::vector<char> is_alive(NextId() - id_begin_, 0);
    for (int id : alive) {
      ASSERT_GE(id, id_begin_);
      is_alive[id - id_begin_] = 1;
    }
    int wrong = 0, destroyed = 0;
    for (int id = id_begin_; id < NextId(); id++) {
      int want = is_alive[id - id_begin_] ? 0 : 1;
      int got = Destroyed(id);
      destroyed += got;
      if (got != want && wrong++ < 10) {
        ADD_FAILURE() << "object " << id
                      << (want ? " (unreachable)" : " (reachable)")
                      << " was destroyed " << got << " times";
      }
    }
    EXPECT_EQ(wrong, 0);
    // The collector's own count agrees (only Nodes have destructors here).
    EXPECT_EQ(gc::stats().objects_destroyed - destroyed_before_,
              static_cast<uint64_t>(destroyed));
  }

  int id_begin_ = 0;
  uint64_t destroyed_before_ = 0;
};

// ---- Mutators and collectors together. ----

// A list handed between threads through a global handle.
struct SharedSlot {
  std::mutex mu;
  gc::Global<Node> head;  // Guarded by mu (lock with LockBlocking).
  std::deque<int> ids;    // Guarded by mu.
};

TEST_F(Concurrent, MutatorsMutateRootedStructuresWhileCollectionsRun) {
  constexpr int kMutators = 4;
  constexpr int kSlots = 6;
  const int kSteps = 120000 / kScale;
  constexpr size_t kMaxLists = 12;
  constexpr size_t kMaxNodes = 1500;
  gc::set_gc_percent(10);  // many triggered cycles besides the explicit ones
  gc::set_mark_workers(2);
  const uint64_t gc_before = gc::stats().num_gc;

  SharedSlot slots[kSlots];
  std::mutex results_mu;
  std::vector<gc::Global<Node>> result_heads;  // Guarded by results_mu.
  std::vector<std::deque<int>> result_ids;     // Guarded by results_mu.
  std::atomic<int> failures{0};
  std::atomic<int> mutators_done{0};
  std::atomic<uint64_t> verified_lists{0};

  auto mutator = [&](int tid) {
    std::mt19937_64 rng(1234 + tid);
    std::vector<List> lists;
    size_t nodes = 0;
    auto fail = [&](const std::string& what) {
      if (failures.fetch_add(1) < 5)
        ADD_FAILURE() << "thread " << tid << ": " << what;
    };
    auto verify_all = [&] {
      for (const List& l : lists) {
        std::string why;
        if (!CheckChain(l.head.get(), l.ids, &why)) fail(why);
        verified_lists++;
      }
    };
    auto count = [&] {
      nodes = 0;
      for (const List& l : lists) nodes += l.ids.size();
    };
    for (int i = 0; i < 3; i++) lists.push_back(MakeList(20, rng));
    for (int step = 0; step < kSteps && failures.load() == 0; step++) {
      count();
      int op = static_cast<int>(rng() % 100);
      if (nodes > kMaxNodes) op = 50;  // drop a list
      if (lists.empty()) {
        lists.push_back(MakeList(5, rng));
        continue;
      }
      List& a = lists[rng() % lists.size()];
      List& b = lists[rng() % lists.size()];
      if (op < 35) {
        Push(&a, 1 + static_cast<int>(rng() % 4), rng);
      } else if (op < 50) {
        // Move a's head node onto b.
        if (&a == &b || !a.head) continue;
        Node* n = a.head.get();
        gc::Ptr<Node> rest = n->next;
        n->next = b.head;
        b.head = gc::Ptr<Node>(n);
        a.head = rest;
        b.ids.push_front(a.ids.front());
        a.ids.pop_front();
      } else if (op < 53) {
        // Drop a whole list: it becomes garbage.
        size_t i = rng() % lists.size();
        lists.erase(lists.begin() + static_cast<ptrdiff_t>(i));
      } else if (op < 61) {
        // Split a at k: the tail gets a root of its own.
        if (lists.size() >= kMaxLists || a.ids.size() < 2) continue;
        size_t k = 1 + rng() % (a.ids.size() - 1);
        Node* prev = a.head.get();
        for (size_t i = 1; i < k; i++) prev = prev->next.get();
        List tail;
        tail.head = prev->next;
        prev->next = nullptr;
        tail.ids.assign(a.ids.begin() + static_cast<ptrdiff_t>(k), a.ids.end());
        a.ids.resize(k);
        lists.push_back(std::move(tail));  // a and b may dangle from here
        continue;
      } else if (op < 67) {
        // Append b at a's tail; b's root goes.
        if (&a == &b || !a.head || !b.head) continue;
        Node* tail = a.head.get();
        size_t i = 0;
        while (tail->next) {
          tail = tail->next.get();
          if ((++i & 63) == 0) gc::safepoint();
        }
        tail->next = b.head;
        b.head = nullptr;
        a.ids.insert(a.ids.end(), b.ids.begin(), b.ids.end());
        b.ids.clear();
      } else if (op < 74) {
        // Garbage: a chain closed into a cycle, then dropped.
        gc::Root<Node> first = gc::make<Node>();
        gc::Root<Node> last = first;
        int n = 1 + static_cast<int>(rng() % 30);
        for (int i = 0; i < n; i++) {
          gc::Ptr<Node> x = gc::make_unrooted<Node>();
          x->next = last;
          last = x;
          if (i % 7 == 0) x->SetPayload(1 + rng() % 100);
        }
        first->next = last;  // a cycle through the whole chain
      } else if (op < 80) {
        // Trade a list with a shared slot (through gc::Global handles).
        SharedSlot& s = slots[rng() % kSlots];
        std::unique_lock<std::mutex> lock = LockBlocking(s.mu);
        gc::Root<Node> old(s.head);
        s.head = gc::Global<Node>(a.head);
        a.head = std::move(old);
        std::swap(a.ids, s.ids);
      } else if (op < 83) {
        // Truncate a at k: the tail becomes garbage.
        if (a.ids.empty()) continue;
        size_t k = rng() % a.ids.size();
        if (k == 0) {
          a.head = nullptr;
        } else {
          Node* prev = a.head.get();
          for (size_t i = 1; i < k; i++) prev = prev->next.get();
          prev->next = nullptr;
        }
        a.ids.resize(k);
      } else if (op < 95) {
        // Replace the node at k by a new one (the old one becomes garbage),
        // or give it a new payload (the old payload becomes garbage).
        if (a.ids.size() < 2) continue;
        size_t k = 1 + rng() % (a.ids.size() - 1);
        Node* prev = a.head.get();
        for (size_t i = 1; i < k; i++) prev = prev->next.get();
        if (rng() % 2 == 0) {
          gc::Root<Node> fresh = gc::make<Node>(rng());
          fresh->next = prev->next->next;
          prev->next = fresh;
          a.ids[k] = fresh->id();
        } else {
          prev->next->SetPayload(1 + rng() % 300);
        }
      } else {
        verify_all();
      }
    }
    verify_all();
    // Hand everything to the main thread through global handles, then
    // exit holding no roots.
    std::unique_lock<std::mutex> lock = LockBlocking(results_mu);
    for (List& l : lists) {
      result_heads.emplace_back(l.head);
      result_ids.push_back(std::move(l.ids));
    }
    lists.clear();
    mutators_done++;
  };

  // A thread that never allocates: it checks the shared lists, polling
  // safepoints as it walks.
  auto reader = [&] {
    gc::attach_thread();
    uint64_t rounds = 0;
    while (mutators_done.load() < kMutators || rounds == 0) {
      for (SharedSlot& s : slots) {
        std::unique_lock<std::mutex> lock = LockBlocking(s.mu);
        std::string why;
        if (!CheckChain(s.head.get(), s.ids, &why)) {
          if (failures.fetch_add(1) < 5) ADD_FAILURE() << "reader: " << why;
        }
      }
      rounds++;
      gc::safepoint();
    }
    EXPECT_GT(rounds, 0u);
  };

  std::vector<std::thread> threads;
  {
    CollectorThread collector;
    for (int t = 0; t < kMutators; t++) threads.emplace_back(mutator, t);
    threads.emplace_back(reader);
    JoinAll(&threads);
    collector.Stop();
    EXPECT_GT(collector.cycles(), 0u);
  }
  ASSERT_EQ(failures.load(), 0);
  EXPECT_GT(verified_lists.load(), 0u);

  gc::set_gc_percent(100);
  gc::collect();
  std::vector<int> alive;
  ASSERT_EQ(result_heads.size(), result_ids.size());
  for (size_t i = 0; i < result_heads.size(); i++) {
    std::string why;
    EXPECT_TRUE(CheckChain(result_heads[i].get(), result_ids[i], &why)) << why;
    alive.insert(alive.end(), result_ids[i].begin(), result_ids[i].end());
  }
  for (SharedSlot& s : slots) {
    std::string why;
    EXPECT_TRUE(CheckChain(s.head.get(), s.ids, &why)) << why;
    alive.insert(alive.end(), s.ids.begin(), s.ids.end());
  }
  EXPECT_GT(alive.size(), 0u);
  ExpectExactlyTheUnreachableDestroyed(alive);
  // Many cycles ran, explicit and triggered by allocation.
  gc::Stats st = gc::stats();
  EXPECT_GT(st.num_gc - gc_before, 3u);

  // Dropping the last handles makes everything garbage.
  result_heads.clear();
  for (SharedSlot& s : slots) s.head = nullptr;
  gc::collect();
  ExpectExactlyTheUnreachableDestroyed({});
}

// ---- Blocking regions. ----

TEST_F(Concurrent, ThreadsInBlockingRegionsDoNotHoldTheWorld) {
  // Two attached threads with rooted lists block: one on a condition
  // variable, one sleeping. Collections on other threads complete
  // meanwhile; when the blocked threads leave, their lists are intact and
  // they allocate and collect again.
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;  // Guarded by mu.
  std::atomic<bool> release_sleeper{false};
  std::atomic<int> in_region{0}, left_region{0};
  std::atomic<int> failures{0};

  auto blocker = [&](int which) {
    std::mt19937_64 rng(77 + which);
    List kept = MakeList(300, rng);
    List dropped = MakeList(100, rng);  // dropped inside the region
    {
      gc::Blocking region;
      // Giving a handle back inside the region is allowed (it goes through
      // the arena's lock); taking one is not.
      dropped.head = nullptr;
      in_region++;
      if (which == 0) {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return release; });
      } else {
        while (!release_sleeper.load()) std::this_thread::sleep_for(20ms);
      }
    }
    left_region++;
    std::string why;
    if (!CheckChain(kept.head.get(), kept.ids, &why)) {
      failures++;
      ADD_FAILURE() << "blocker " << which << " after the region: " << why;
    }
    // Allocates and collects again.
    Push(&kept, 200, rng);
    MakeList(500, rng);  // garbage
    gc::collect();
    if (!CheckChain(kept.head.get(), kept.ids, &why)) {
      failures++;
      ADD_FAILURE() << "blocker " << which << " after collecting: " << why;
    }
    // Exits holding kept: it becomes garbage.
  };

  std::vector<std::thread> blockers;
  blockers.emplace_back(blocker, 0);
  blockers.emplace_back(blocker, 1);
  ASSERT_TRUE(Eventually([&] { return in_region.load() == 2; }));

  // Collections on another thread, and on this one, complete while both
  // stay blocked.
  const uint64_t gc_before = gc::stats().num_gc;
  std::atomic<int> collected{0};
  std::thread collector([&] {
    std::mt19937_64 rng(5);
    for (int i = 0; i < 5; i++) {
      MakeList(200, rng);  // garbage
      gc::collect();
      collected++;
    }
  });
  auto release_blockers = [&] {
    {
      std::lock_guard<std::mutex> lock(mu);
      release = true;
    }
    cv.notify_all();
    release_sleeper = true;
  };
  // This thread waits in a blocking region itself: were the world stuck
  // stopping, a safepoint poll would park it for good. If the collections
  // hang, the blocked threads are released; if they still hang, there is
  // no way back, and the test stops the program with a message.
  bool completed;
  {
    gc::Blocking region;
    completed = WaitFor([&] { return collected.load() == 5; });
    if (!completed) {
      ADD_FAILURE() << "gc::collect() did not complete while other threads "
                       "were in blocking regions (completed "
                    << collected.load() << " of 5)";
      release_blockers();
      if (!WaitFor([&] { return collected.load() == 5; })) {
        std::fprintf(stderr,
                     "gc::collect() still hangs after the blocked threads "
                     "were released; aborting\n");
        std::abort();
      }
    }
  }
  if (completed) {
    gc::collect();
    EXPECT_EQ(left_region.load(), 0);
    EXPECT_GE(gc::stats().num_gc - gc_before, 6u);
  }
  release_blockers();
  Join(&collector);
  JoinAll(&blockers);
  EXPECT_EQ(left_region.load(), 2);
  EXPECT_EQ(failures.load(), 0);
  // The blockers exited; their lists are garbage now, like everything else.
  gc::collect();
  ExpectExactlyTheUnreachableDestroyed({});
}

TEST_F(Concurrent, EnteringAndLeavingBlockingRegionsRacesWithCollections) {
  // Threads go in and out of blocking regions (nested ones too) around
  // their allocations while cycles start and end, dropping handles inside
  // the regions; the world stops with them anywhere in between.
  constexpr int kThreads = 3;
  const int kRounds = 3000 / kScale;
  gc::set_gc_percent(10);
  std::atomic<int> failures{0};
  std::mutex results_mu;
  std::vector<gc::Global<Node>> heads;  // Guarded by results_mu.
  std::vector<std::deque<int>> ids;     // Guarded by results_mu.
  auto worker = [&](int tid) {
    std::mt19937_64 rng(900 + tid);
    List kept = MakeList(50, rng);
    for (int r = 0; r < kRounds && failures.load() == 0; r++) {
      List temp = MakeList(1 + static_cast<int>(rng() % 40), rng);
      {
        gc::Blocking outer;
        if (r % 3 == 0) temp.head = nullptr;  // give a handle back inside
        if (r % 2 == 0) {
          gc::Blocking inner;  // nested: leaving it keeps the outer one
          std::this_thread::yield();
        }
        if (r % 5 == 0) std::this_thread::sleep_for(200us);
      }
      Push(&kept, 1, rng);
      if (kept.ids.size() > 400) {
        kept.head = nullptr;
        kept.ids.clear();
      }
      if (r % 50 == 0) {
        std::string why;
        if (!CheckChain(kept.head.get(), kept.ids, &why)) {
          failures++;
          ADD_FAILURE() << "thread " << tid << ": " << why;
        }
      }
    }
    std::string why;
    if (!CheckChain(kept.head.get(), kept.ids, &why)) {
      failures++;
      ADD_FAILURE() << "thread " << tid << ": " << why;
    }
    std::unique_lock<std::mutex> lock = LockBlocking(results_mu);
    heads.emplace_back(kept.head);
    ids.push_back(kept.ids);
  };
  {
    CollectorThread collector(200us);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++) threads.emplace_back(worker, t);
    JoinAll(&threads);
    collector.Stop();
    EXPECT_GT(collector.cycles(), 0u);
  }
  EXPECT_EQ(failures.load(), 0);
  gc::collect();
  std::vector<int> alive;
  for (size_t i = 0; i < heads.size(); i++) {
    std::string why;
    EXPECT_TRUE(CheckChain(heads[i].get(), ids[i], &why)) << why;
    alive.insert(alive.end(), ids[i].begin(), ids[i].end());
  }
  ExpectExactlyTheUnreachableDestroyed(alive);
  heads.clear();
  gc::collect();
  ExpectExactlyTheUnreachableDestroyed({});
}

// ---- Threads that come and go. ----

TEST_F(Concurrent, ShortLivedThreadsAttachAllocateAndExitWhileCollectionsRun) {
  // Waves of threads attach (explicitly or on first allocation), allocate,
  // publish part of what they built through global handles, and exit
  // holding no roots (some detach first), while another thread collects.
  const int kWaves = 60 / kScale + 2;
  constexpr int kPerWave = 4;
  gc::set_gc_percent(10);
  std::mutex results_mu;
  std::vector<gc::Global<Node>> heads;  // Guarded by results_mu.
  std::vector<std::deque<int>> ids;     // Guarded by results_mu.
  std::atomic<int> failures{0};
  {
    CollectorThread collector(300us);
    for (int w = 0; w < kWaves; w++) {
      std::vector<std::thread> threads;
      for (int t = 0; t < kPerWave; t++) {
        threads.emplace_back([&, w, t] {
          std::mt19937_64 rng(w * 100 + t);
          if (t % 2 == 0) gc::attach_thread();
          List keep = MakeList(100 + static_cast<int>(rng() % 100), rng);
          MakeList(200, rng);  // garbage
          std::string why;
          if (!CheckChain(keep.head.get(), keep.ids, &why)) {
            failures++;
            ADD_FAILURE() << why;
          }
          if (t != 3) {
            std::unique_lock<std::mutex> lock = LockBlocking(results_mu);
            heads.emplace_back(keep.head);
            ids.push_back(keep.ids);
          }
          keep.head = nullptr;
          if (t == 1) gc::detach_thread();  // exits detached
        });
      }
      JoinAll(&threads);
    }
    collector.Stop();
  }
  EXPECT_EQ(failures.load(), 0);
  // The processors of the exited threads sat idle through cycles; two more
  // cycles check their caches were flushed.
  gc::collect();
  gc::collect();
  std::vector<int> alive;
  for (size_t i = 0; i < heads.size(); i++) {
    std::string why;
    EXPECT_TRUE(CheckChain(heads[i].get(), ids[i], &why)) << why;
    alive.insert(alive.end(), ids[i].begin(), ids[i].end());
  }
  EXPECT_EQ(heads.size(), static_cast<size_t>(kWaves * 3));
  ExpectExactlyTheUnreachableDestroyed(alive);
  heads.clear();
  gc::collect();
  ExpectExactlyTheUnreachableDestroyed({});
}

TEST_F(Concurrent, RootMovedToAnotherThreadIsDestroyedThere) {
  // A gc::Root made on one thread is moved to another and destroyed there:
  // while the origin still runs, and after it exited (its arena orphaned).
  for (bool origin_exits_first : {false, true}) {
    SCOPED_TRACE(origin_exits_first ? "origin exits first" : "origin alive");
    std::promise<List> to_receiver;
    std::future<List> received = to_receiver.get_future();
    std::atomic<bool> receiver_done{false};
    std::atomic<int> origin_list_id{-1};
    std::thread origin([&] {
      std::mt19937_64 rng(3);
      List l = MakeList(400, rng);
      origin_list_id = l.ids.front();
      to_receiver.set_value(std::move(l));
      if (!origin_exits_first) {
        // Stays alive (allocating) until the receiver dropped the root,
        // then takes new handles, reusing slots given back remotely.
        EXPECT_TRUE(Eventually([&] { return receiver_done.load(); }));
        std::vector<gc::Root<Node>> more;
        for (int i = 0; i < 2000; i++) more.push_back(gc::make<Node>());
        gc::collect();
        for (auto& r : more) EXPECT_TRUE(r->Intact());
      }
    });
    if (origin_exits_first) Join(&origin);
    gc::collect();  // the moved root keeps the list, wherever it is
    std::thread receiver([&] {
      List l = received.get();
      std::mt19937_64 rng(4);
      MakeList(300, rng);  // garbage
      gc::collect();
      std::string why;
      EXPECT_TRUE(CheckChain(l.head.get(), l.ids, &why)) << why;
      int head_id = l.ids.front();
      EXPECT_EQ(head_id, origin_list_id.load());
      l.head = nullptr;  // destroyed here, not on the origin thread
      gc::collect();
      EXPECT_EQ(Destroyed(head_id), 1);
      receiver_done = true;
    });
    Join(&receiver);
    if (!origin_exits_first) Join(&origin);
    gc::collect();
    ExpectExactlyTheUnreachableDestroyed({});
  }
}

TEST_F(Concurrent, RootsPassedAroundThreadsWhileCollecting) {
  // Three threads pass lists round a ring of queues as gc::Root values
  // (moved, copied, dropped on a thread other than the one that took the
  // slot) while collections run; each checks and extends what it gets.
  constexpr int kThreads = 3;
  const int kHops = 6000 / kScale;
  struct Queue {
    std::mutex mu;
    std::deque<List> items;  // Guarded by mu (lock with LockBlocking).
  };
  Queue queues[kThreads];
  std::atomic<int> hops{0}, failures{0};
  std::mt19937_64 seed_rng(11);
  for (int i = 0; i < kThreads * 2; i++) {
    queues[i % kThreads].items.push_back(MakeList(10, seed_rng));
  }
  auto worker = [&](int tid) {
    std::mt19937_64 rng(500 + tid);
    while (hops.load() < kHops && failures.load() == 0) {
      std::optional<List> got;
      {
        std::unique_lock<std::mutex> lock = LockBlocking(queues[tid].mu);
        if (!queues[tid].items.empty()) {
          got.emplace(std::move(queues[tid].items.front()));
          queues[tid].items.pop_front();
        }
      }
      if (!got) {
        gc::Blocking region;
        std::this_thread::sleep_for(50us);
        continue;
      }
      std::string why;
      if (!CheckChain(got->head.get(), got->ids, &why)) {
        failures++;
        ADD_FAILURE() << "thread " << tid << ": " << why;
        break;
      }
      // A copy taken here, the original dropped here.
      List mine;
      mine.head = got->head;
      mine.ids = got->ids;
      got.reset();
      Push(&mine, 1 + static_cast<int>(rng() % 3), rng);
      if (mine.ids.size() > 200) {
        mine.head = nullptr;
        mine.ids.clear();
        Push(&mine, 5, rng);
      }
      MakeList(static_cast<int>(rng() % 20), rng);  // garbage
      {
        std::unique_lock<std::mutex> lock =
            LockBlocking(queues[(tid + 1) % kThreads].mu);
        queues[(tid + 1) % kThreads].items.push_back(std::move(mine));
      }
      hops++;
    }
  };
  {
    CollectorThread collector(500us);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++) threads.emplace_back(worker, t);
    JoinAll(&threads);
    collector.Stop();
  }
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(hops.load(), kHops);
  gc::collect();
  std::vector<int> alive;
  size_t lists = 0;
  for (Queue& q : queues) {
    for (List& l : q.items) {
      std::string why;
      EXPECT_TRUE(CheckChain(l.head.get(), l.ids, &why)) << why;
      alive.insert(alive.end(), l.ids.begin(), l.ids.end());
      lists++;
    }
  }
  EXPECT_EQ(lists, static_cast<size_t>(kThreads * 2));  // none lost
  ExpectExactlyTheUnreachableDestroyed(alive);
  for (Queue& q : queues) q.items.clear();  // Roots of exited threads
  gc::collect();
  ExpectExactlyTheUnreachableDestroyed({});
}

// ---- Idle processors. ----

TEST_F(Concurrent, DetachedThreadStaysIdleThroughCyclesAndComesBack) {
  // A thread allocates (its cache holds partly used spans), detaches with
  // its roots alive, and waits detached while cycles run: its processor is
  // idle through them, which must not break the next cycle, and its roots
  // keep their objects. It then allocates again (attaching on the way),
  // collects, and detaches once more.
  std::mutex mu;
  std::condition_variable cv;
  int phase = 0;  // Guarded by mu. 1: detached, 2: go on, 3: detached again
  std::atomic<int> failures{0};
  std::vector<int> final_ids;  // read after join
  auto wait_phase = [&](int want) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, kHangLimit, [&] { return phase >= want; });
  };
  auto set_phase = [&](int p) {
    {
      std::lock_guard<std::mutex> lock(mu);
      phase = p;
    }
    cv.notify_all();
  };
  std::thread t([&] {
    std::mt19937_64 rng(21);
    List kept = MakeList(500, rng);
    MakeList(500, rng);  // garbage, in the same spans
    gc::detach_thread();
    set_phase(1);
    // Detached: not attached, so waiting cannot hold the world.
    if (!wait_phase(2)) {
      failures++;
      ADD_FAILURE() << "main thread did not come back";
    }
    std::string why;
    if (!CheckChain(kept.head.get(), kept.ids, &why)) {
      failures++;
      ADD_FAILURE() << "after idling detached: " << why;
    }
    Push(&kept, 300, rng);  // attaches again
    MakeList(300, rng);     // garbage
    gc::collect();
    if (!CheckChain(kept.head.get(), kept.ids, &why)) {
      failures++;
      ADD_FAILURE() << "after coming back: " << why;
    }
    final_ids.assign(kept.ids.begin(), kept.ids.end());
    gc::detach_thread();
    set_phase(3);
    wait_phase(4);
    // Destroying the roots re-attaches the thread for its arena, or gives
    // them back remotely: either way they go.
  });
  {
    gc::Blocking region;
    EXPECT_TRUE(wait_phase(1));
  }
  std::mt19937_64 rng(22);
  for (int i = 0; i < 3; i++) {
    MakeList(400, rng);  // garbage
    gc::collect();
  }
  set_phase(2);
  {
    gc::Blocking region;
    EXPECT_TRUE(wait_phase(3));
  }
  gc::collect();
  gc::collect();
  EXPECT_EQ(failures.load(), 0);
  // Its roots are still alive while it waits, detached.
  ExpectExactlyTheUnreachableDestroyed(final_ids);
  set_phase(4);
  Join(&t);
  gc::collect();
  ExpectExactlyTheUnreachableDestroyed({});
}

TEST_F(Concurrent, ThreadsDetachAndReattachWhileCollectionsRun) {
  // Threads keep rooted lists, and go back and forth between attached
  // (allocating) and detached (only reading their lists) while another
  // thread collects: processors go idle and are taken again, by the same
  // thread or another, at any point of a cycle.
  constexpr int kThreads = 3;
  const int kRounds = 3000 / kScale;
  std::atomic<int> failures{0};
  std::mutex results_mu;
  std::vector<gc::Global<Node>> heads;  // Guarded by results_mu.
  std::vector<std::deque<int>> ids;     // Guarded by results_mu.
  auto worker = [&](int tid) {
    std::mt19937_64 rng(700 + tid);
    List kept = MakeList(30, rng);
    for (int r = 0; r < kRounds && failures.load() == 0; r++) {
      Push(&kept, 1 + static_cast<int>(rng() % 5), rng);  // attaches
      MakeList(static_cast<int>(rng() % 30), rng);        // garbage
      if (kept.ids.size() > 300) {
        kept.head = nullptr;
        kept.ids.clear();
      }
      if (r % 2 == 0) gc::detach_thread();
      // Attached or not, the list is rooted and intact.
      std::string why;
      if (!CheckChain(kept.head.get(), kept.ids, &why)) {
        failures++;
        ADD_FAILURE() << "thread " << tid << " round " << r << ": " << why;
      }
      if (r % 7 == 0) std::this_thread::yield();
    }
    std::unique_lock<std::mutex> lock = LockBlocking(results_mu);
    heads.emplace_back(kept.head);
    ids.push_back(kept.ids);
  };
  {
    CollectorThread collector(100us);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++) threads.emplace_back(worker, t);
    JoinAll(&threads);
    collector.Stop();
  }
  EXPECT_EQ(failures.load(), 0);
  gc::collect();
  gc::collect();
  std::vector<int> alive;
  for (size_t i = 0; i < heads.size(); i++) {
    std::string why;
    EXPECT_TRUE(CheckChain(heads[i].get(), ids[i], &why)) << why;
    alive.insert(alive.end(), ids[i].begin(), ids[i].end());
  }
  ExpectExactlyTheUnreachableDestroyed(alive);
  heads.clear();
  gc::collect();
  ExpectExactlyTheUnreachableDestroyed({});
}

TEST_F(Concurrent, ProcessorsLeftIdleByExitedThreadsAreReused) {
  // Threads allocate and exit; their processors stay idle through cycles,
  // then new threads take them over and allocate at once while another
  // thread collects.
  const int kRounds = 6;
  std::atomic<int> failures{0};
  for (int round = 0; round < kRounds; round++) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++) {
      threads.emplace_back([&, t] {
        std::mt19937_64 rng(round * 10 + t);
        List l = MakeList(150, rng);
        MakeList(150, rng);
        std::string why;
        if (!CheckChain(l.head.get(), l.ids, &why)) {
          failures++;
          ADD_FAILURE() << why;
        }
      });
    }
    if (round % 2 == 1) {
      // Exiting while this thread collects.
      std::mt19937_64 rng(round);
      for (int i = 0; i < 3; i++) {
        MakeList(100, rng);
        gc::collect();
      }
    }
    JoinAll(&threads);
    gc::collect();  // every processor but this thread's is idle
  }
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(gc::stats().num_gc, static_cast<uint64_t>(kRounds));
  gc::collect();
  ExpectExactlyTheUnreachableDestroyed({});
}

TEST_F(Concurrent, RootReassignedOnAThreadThatNeverAttachedWhileCollecting) {
  // Re-pointing a root stores a new pointer into it: the thread attaches
  // first, so the store never interleaves with marking (TSan checks the
  // slot accesses; the verifier that both objects stay marked).
  CollectorThread collector(100us);
  gc::Root<Node> a = gc::make<Node>(1);
  gc::Root<Node> b = gc::make<Node>(2);
  std::vector<int> alive = {a->id(), b->id()};
  std::thread u([&, r = gc::Root<Node>(a)]() mutable {
    for (int i = 0; i < 20000 / kScale; i++) {
      r = gc::Ptr<Node>((i & 1) ? b.get() : a.get());
      if (!r->Intact()) ADD_FAILURE() << "root target damaged";
    }
  });
  Join(&u);
  collector.Stop();
  EXPECT_TRUE(a->Intact());
  EXPECT_TRUE(b->Intact());
  ExpectExactlyTheUnreachableDestroyed(alive);
}

}  // namespace
