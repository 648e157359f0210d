// Tests of processors (runtime/processor.h): attach, detach, reuse, thread
// exit, enumeration, and exclusive ownership under concurrent churn.
//
// This binary links only //runtime (no allocator), so it registers its own
// ProcessorLocal factory, once, before any test runs. The test local counts
// OnAcquire/OnRelease per processor and keeps an "owner" word that must go
// from free to the acquiring thread and back, so two threads holding one
// processor at once is caught.
#include "gcrt/runtime/processor.h"

#include <atomic>
#include <barrier>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace gc::runtime {
namespace {

std::atomic<uint64_t> g_next_thread_token{1};
// A token unique to the calling thread for the life of the process.
uint64_t ThreadToken() {
  thread_local uint64_t token = g_next_thread_token.fetch_add(1);
  return token;
}

std::atomic<uint64_t> g_violations{0};

class CountingLocal final : public ProcessorLocal {
 public:
  explicit CountingLocal(uint32_t id) : id_(id) {}

  void OnAcquire(Processor& p) override {
    if (p.id() != id_ || p.local() != this) g_violations++;
    uint64_t expected = 0;
    if (!owner_.compare_exchange_strong(expected, ThreadToken(),
                                        std::memory_order_acq_rel)) {
      g_violations++;  // someone else holds this processor
    }
    // Acquire runs after the processor is marked running.
    if (p.status() != ProcessorStatus::kRunning) g_violations++;
    last_acquirer_.store(ThreadToken(), std::memory_order_relaxed);
    acquires_.fetch_add(1, std::memory_order_relaxed);
  }

  void OnRelease(Processor& p) override {
    if (p.status() != ProcessorStatus::kRunning) g_violations++;
    uint64_t expected = ThreadToken();
    if (!owner_.compare_exchange_strong(expected, 0,
                                        std::memory_order_acq_rel)) {
      g_violations++;  // released by a thread that does not hold it
    }
    last_releaser_.store(ThreadToken(), std::memory_order_relaxed);
    releases_.fetch_add(1, std::memory_order_relaxed);
  }

  void OnResume(Processor&) override {}

  uint64_t acquires() const { return acquires_.load(); }
  uint64_t releases() const { return releases_.load(); }
  uint64_t owner() const { return owner_.load(); }
  uint64_t last_acquirer() const { return last_acquirer_.load(); }
  uint64_t last_releaser() const { return last_releaser_.load(); }

 private:
  const uint32_t id_;
  std::atomic<uint64_t> owner_{0};
  std::atomic<uint64_t> acquires_{0};
  std::atomic<uint64_t> releases_{0};
  std::atomic<uint64_t> last_acquirer_{0};
  std::atomic<uint64_t> last_releaser_{0};
};

std::mutex g_locals_mu;
std::vector<CountingLocal*> g_locals;  // by processor id; never freed
std::atomic<int> g_factory_calls{0};

ProcessorLocal* NewCountingLocal(Processor& p) {
  g_factory_calls++;
  auto* local = new CountingLocal(p.id());
  std::lock_guard<std::mutex> lock(g_locals_mu);
  if (g_locals.size() <= p.id()) g_locals.resize(p.id() + 1, nullptr);
  if (g_locals[p.id()] != nullptr) g_violations++;  // id handed out twice
  g_locals[p.id()] = local;
  return local;
}

CountingLocal* LocalOf(Processor* p) {
  return static_cast<CountingLocal*>(p->local());
}

// Registers the factory once for the whole binary, before any test.
class FactoryEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { SetProcessorLocalFactory(&NewCountingLocal); }
};
const auto* const g_env =
    ::testing::AddGlobalTestEnvironment(new FactoryEnvironment);

// Every test ends with the violation counter still at zero.
class ProcessorTest : public ::testing::Test {
 protected:
  void TearDown() override { EXPECT_EQ(g_violations.load(), 0u); }
};

// Runs fn on a new thread and waits for it (and its thread-exit work).
template <typename Fn>
void RunOnThread(Fn fn) {
  std::thread t(fn);
  t.join();
}

TEST_F(ProcessorTest, SettingTheSameFactoryAgainIsANoOp) {
  RunOnThread([] { AttachCurrentThread(); });  // processors exist now
  SetProcessorLocalFactory(&NewCountingLocal);
  EXPECT_GE(ProcessorCount(), 1u);
}

TEST_F(ProcessorTest, AttachIsIdempotent) {
  RunOnThread([] {
    EXPECT_EQ(CurrentProcessor(), nullptr);
    Processor* p = AttachCurrentThread();
    ASSERT_NE(p, nullptr);
    CountingLocal* local = LocalOf(p);
    uint64_t acquires = local->acquires();
    EXPECT_EQ(AttachCurrentThread(), p);
    EXPECT_EQ(AttachCurrentThread(), p);
    EXPECT_EQ(CurrentProcessor(), p);
    EXPECT_EQ(local->acquires(), acquires) << "OnAcquire ran again";
    EXPECT_EQ(p->status(), ProcessorStatus::kRunning);
    EXPECT_EQ(local->owner(), ThreadToken());
    EXPECT_EQ(local->last_acquirer(), ThreadToken())
        << "OnAcquire ran on another thread";
    DetachCurrentThread();
  });
}

TEST_F(ProcessorTest, DetachCallsOnReleaseAndReturnsTheProcessorToTheIdlePool) {
  RunOnThread([] {
    Processor* p = AttachCurrentThread();
    CountingLocal* local = LocalOf(p);
    uint64_t releases = local->releases();
    DetachCurrentThread();
    EXPECT_EQ(local->releases(), releases + 1);
    EXPECT_EQ(local->last_releaser(), ThreadToken());
    EXPECT_EQ(local->owner(), 0u);
    EXPECT_EQ(p->status(), ProcessorStatus::kIdle);
    EXPECT_EQ(CurrentProcessor(), nullptr);
    // Detaching an unattached thread does nothing.
    DetachCurrentThread();
    EXPECT_EQ(local->releases(), releases + 1);
    // The idle processor is the next one handed out: the same thread gets
    // it back, and no processor is created.
    uint32_t count = ProcessorCount();
    EXPECT_EQ(AttachCurrentThread(), p);
    EXPECT_EQ(ProcessorCount(), count);
    DetachCurrentThread();
  });
}

TEST_F(ProcessorTest, ASecondThreadGetsTheSameProcessorBack) {
  Processor* first = nullptr;
  RunOnThread([&] {
    first = AttachCurrentThread();
    DetachCurrentThread();
  });
  ASSERT_NE(first, nullptr);
  uint32_t count = ProcessorCount();
  uint64_t acquires = LocalOf(first)->acquires();
  Processor* second = nullptr;
  RunOnThread([&] {
    second = AttachCurrentThread();
    EXPECT_EQ(LocalOf(second)->owner(), ThreadToken());
    DetachCurrentThread();
  });
  EXPECT_EQ(second, first);
  EXPECT_EQ(ProcessorCount(), count);
  EXPECT_EQ(LocalOf(first)->acquires(), acquires + 1);
}

TEST_F(ProcessorTest, ThreadExitDetachesAutomatically) {
  Processor* p = nullptr;
  uint64_t token = 0;
  uint64_t releases = 0;
  RunOnThread([&] {
    p = AttachCurrentThread();
    token = ThreadToken();
    releases = LocalOf(p)->releases();
    // No DetachCurrentThread: thread exit must do it.
  });
  ASSERT_NE(p, nullptr);
  CountingLocal* local = LocalOf(p);
  EXPECT_EQ(local->releases(), releases + 1);
  EXPECT_EQ(local->last_releaser(), token) << "OnRelease ran on another thread";
  EXPECT_EQ(local->owner(), 0u);
  EXPECT_EQ(p->status(), ProcessorStatus::kIdle);
  // And it is reusable.
  uint32_t count = ProcessorCount();
  Processor* again = nullptr;
  RunOnThread([&] { again = AttachCurrentThread(); });
  EXPECT_EQ(again, p);
  EXPECT_EQ(ProcessorCount(), count);
}

TEST_F(ProcessorTest, ThreadsComingAndGoingOneAtATimeShareOneProcessor) {
  RunOnThread([] { AttachCurrentThread(); });
  uint32_t count = ProcessorCount();
  std::set<Processor*> seen;
  for (int i = 0; i < 20; i++) {
    RunOnThread([&] { seen.insert(AttachCurrentThread()); });
  }
  EXPECT_EQ(seen.size(), 1u);
  EXPECT_EQ(ProcessorCount(), count);
}

TEST_F(ProcessorTest, ForEachProcessorVisitsEveryProcessorOnce) {
  constexpr int kThreads = 6;
  // Hold kThreads processors at once so at least that many exist.
  std::barrier attached(kThreads + 1);
  std::barrier done(kThreads + 1);
  std::vector<Processor*> held(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; i++) {
    threads.emplace_back([&, i] {
      held[i] = AttachCurrentThread();
      attached.arrive_and_wait();
      done.arrive_and_wait();
    });
  }
  attached.arrive_and_wait();

  uint32_t count = ProcessorCount();
  EXPECT_GE(count, static_cast<uint32_t>(kThreads));
  std::set<uint32_t> ids;
  std::set<Processor*> running;
  int visits = 0;
  ForEachProcessor([&](Processor& p) {
    visits++;
    ids.insert(p.id());
    EXPECT_EQ(LocalOf(&p), g_locals[p.id()]);
    if (p.status() == ProcessorStatus::kRunning) running.insert(&p);
  });
  EXPECT_EQ(visits, static_cast<int>(count));
  ASSERT_EQ(ids.size(), count);
  EXPECT_EQ(*ids.begin(), 0u);
  EXPECT_EQ(*ids.rbegin(), count - 1);  // ids are 0..count-1
  // The held processors are distinct and all seen running.
  std::set<Processor*> distinct(held.begin(), held.end());
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kThreads));
  for (Processor* p : held) EXPECT_EQ(running.count(p), 1u);
  EXPECT_EQ(g_factory_calls.load(), static_cast<int>(count));

  done.arrive_and_wait();
  for (auto& t : threads) t.join();
  for (Processor* p : held) EXPECT_EQ(p->status(), ProcessorStatus::kIdle);
}

TEST_F(ProcessorTest, ConcurrentAttachDetachNeverSharesAProcessor) {
  constexpr int kThreads = 8;
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  constexpr int kIterations = 10000;
#else
  constexpr int kIterations = 50000;
#endif
  uint32_t count_before = ProcessorCount();
  uint64_t acquires_before = 0, releases_before = 0;
  ForEachProcessor([&](Processor& p) {
    acquires_before += LocalOf(&p)->acquires();
    releases_before += LocalOf(&p)->releases();
  });
  std::atomic<int> mismatches{0};
  std::barrier start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kIterations; i++) {
        Processor* p = AttachCurrentThread();
        if (CurrentProcessor() != p || LocalOf(p)->owner() != ThreadToken() ||
            p->status() != ProcessorStatus::kRunning) {
          mismatches++;
        }
        if (i % 7 == 0) std::this_thread::yield();
        if (LocalOf(p)->owner() != ThreadToken()) mismatches++;
        // Leave the last iteration attached on some threads: thread exit
        // detaches them.
        if (i + 1 < kIterations || t % 2 == 0) DetachCurrentThread();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(g_violations.load(), 0u);
  EXPECT_LE(ProcessorCount(), count_before + kThreads);
  uint64_t acquires = 0, releases = 0;
  ForEachProcessor([&](Processor& p) {
    acquires += LocalOf(&p)->acquires();
    releases += LocalOf(&p)->releases();
    EXPECT_EQ(p.status(), ProcessorStatus::kIdle);
    EXPECT_EQ(LocalOf(&p)->owner(), 0u);
  });
  EXPECT_EQ(acquires - acquires_before, uint64_t{kThreads} * kIterations);
  EXPECT_EQ(releases - releases_before, uint64_t{kThreads} * kIterations);
}

}  // namespace
}  // namespace gc::runtime

namespace gc::runtime {
namespace {

// A thread_local constructed before the thread first attached is destroyed
// after the thread's exit hook detached it; using the heap from its
// destructor must give a clear error, not re-attach a processor that would
// never be given back.
struct LateUser {
  std::atomic<int>* outcome;
  ~LateUser() {
    try {
      AttachCurrentThread();
      outcome->store(1);  // attached after exit: wrong
    } catch (const std::logic_error& e) {
      outcome->store(std::string(e.what()).find("thread_local destructor") !=
                             std::string::npos
                         ? 2
                         : 3);
    }
  }
};

// On the main thread, static destructors run after its thread_local ones,
// so after its exit hook too: a static that uses the heap in its destructor
// is told that main has returned, not about thread_local destructors.
struct LateStatic {
  ~LateStatic() {
    try {
      AttachCurrentThread();
      std::fprintf(stderr, "attached after exit\n");
    } catch (const std::logic_error& e) {
      std::fprintf(stderr, "refused: %s\n", e.what());
    }
  }
};

TEST(ProcessorExitDeathTest, HeapUseFromAStaticDestructorNamesMainsReturn) {
  EXPECT_EXIT(
      {
        AttachCurrentThread();
        static LateStatic late;
        std::exit(0);
      },
      ::testing::ExitedWithCode(0),
      "refused: gcrt: the GC heap was used after main returned \\(from a "
      "static or thread_local destructor, or an atexit handler\\)");
}

TEST(ProcessorExitTest, HeapUseFromALaterThreadLocalDestructorIsAClearError) {
  std::atomic<int> outcome{0};
  uint32_t before = ProcessorCount();
  std::thread t([&] {
    thread_local LateUser late{nullptr};
    late.outcome = &outcome;  // constructed before the first attach
    AttachCurrentThread();
  });
  t.join();
  EXPECT_EQ(outcome.load(), 2);
  // No processor stays held by the dead thread.
  int running = 0;
  ForEachProcessor([&](Processor& p) {
    running += p.status() == ProcessorStatus::kRunning;
  });
  EXPECT_LE(ProcessorCount(), before + 1);
  EXPECT_EQ(running, CurrentProcessor() != nullptr ? 1 : 0);
}

}  // namespace
}  // namespace gc::runtime
