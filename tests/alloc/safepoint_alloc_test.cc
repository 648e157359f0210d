// The allocator's slow paths are safepoints: a thread that only allocates
// (no explicit gc safepoint calls) still lets the world stop.
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gcrt/alloc/heap.h"
#include "gcrt/runtime/processor.h"
#include "gcrt/runtime/safepoint.h"
#include "gtest/gtest.h"

namespace gc::alloc {
namespace {

using namespace std::chrono_literals;

constexpr TypeInfo kPair = {"Pair", 16, 8, false, nullptr, nullptr, 0, nullptr};
constexpr TypeInfo kByte = {"char", 1, 1, true, nullptr, nullptr, 0, nullptr};

template <typename Alloc>
void ExpectAllocatingThreadParks(Alloc alloc) {
  AttachCurrentThread();
  std::atomic<bool> done{false};
  std::atomic<uint64_t> count{0};
  std::thread worker([&] {
    while (!done.load(std::memory_order_relaxed)) {
      alloc();
      count.fetch_add(1, std::memory_order_relaxed);
    }
    FlushCurrentCache();
  });
  while (count.load() < 100000) std::this_thread::yield();
  runtime::StopTheWorld("allocating thread test");
  uint64_t frozen = count.load();
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(count.load(), frozen) << "the allocating thread kept running";
  runtime::StartTheWorld();
  done = true;
  {
    runtime::BlockingRegion region;  // do not hold the worker's exit
    worker.join();
  }
}

TEST(SafepointAllocTest, SmallAllocationSlowPathParksTheThread) {
  // No frees (a freed slot would be reused on the fast path forever): the
  // objects are left for the process, a few MiB; the loop stops soon after.
  ExpectAllocatingThreadParks(
      [] { AllocateFixed<16, 8, false, true>(&kPair); });
}

TEST(SafepointAllocTest, TinyAllocationSlowPathParksTheThread) {
  ExpectAllocatingThreadParks([] { AllocateFixed<1, 1, true, true>(&kByte); });
}

// The stopper turns each running thread's fast path off, so a thread parks
// at its very next allocation, even one its current word could serve.
TEST(SafepointAllocTest, TheNextAllocationAfterAStopRequestParks) {
  AttachCurrentThread();
  std::atomic<bool> ready{false}, allocated{false}, allocated_at_stop{true};
  std::atomic<bool> stopped{false}, redirected{false};
  std::thread worker([&] {
    AttachCurrentThread();
    // The current word of its span now has free slots: the next allocation
    // of the class would be served by the fast path.
    AllocateFixed<16, 8, false, true>(&kPair);
    ready = true;
    // Spins without a safepoint until its fast path is turned off.
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (t_cache != &g_unattached_cache &&
           std::chrono::steady_clock::now() < deadline) {
    }
    redirected = t_cache == &g_unattached_cache;
    AllocateFixed<16, 8, false, true>(&kPair);  // parks here
    allocated = true;
    deadline = std::chrono::steady_clock::now() + 30s;
    while (!stopped.load() && std::chrono::steady_clock::now() < deadline) {
    }
  });
  while (!ready.load()) std::this_thread::yield();
  std::thread stopper([&] {
    AttachCurrentThread();
    runtime::StopTheWorld("next allocation test");
    allocated_at_stop = allocated.load();
    stopped = true;
    runtime::StartTheWorld();
    DetachCurrentThread();
  });
  {
    runtime::BlockingRegion region;  // this thread must not hold the world
    stopper.join();
    worker.join();
  }
  EXPECT_TRUE(redirected.load()) << "the stop turned the fast path off";
  EXPECT_FALSE(allocated_at_stop.load())
      << "the world stopped with the worker parked inside its allocation";
  EXPECT_TRUE(allocated.load());
  EXPECT_TRUE(t_cache != &g_unattached_cache)
      << "this thread's fast path is back";
}

}  // namespace
}  // namespace gc::alloc

namespace gc::alloc {
namespace {

TEST(BlockingRegionAllocTest, AllocationInsideABlockingRegionIsRefused) {
  std::thread t([] {
    AttachCurrentThread();
    void* before = AllocateFixed<16, 8, false, true>(&kPair);
    {
      runtime::BlockingRegion region;
      // Refused at the first slow path: within a word of 64 slots.
      bool refused = false;
      std::string what;
      try {
        for (int i = 0; i < 200; i++) {
          AllocateFixed<16, 8, false, true>(&kPair);
        }
      } catch (const std::logic_error& e) {
        refused = true;
        what = e.what();
      }
      EXPECT_TRUE(refused);
      EXPECT_NE(what.find("blocking region"), std::string::npos) << what;
      EXPECT_THROW(Allocate(&kByte, 1 << 20), std::logic_error);  // large
    }
    // After the region the heap works again.
    void* after = AllocateFixed<16, 8, false, true>(&kPair);
    EXPECT_NE(after, nullptr);
    Free(before);
    Free(after);
  });
  t.join();
}

TEST(BlockingRegionAllocTest, AnUnattachedThreadIsRefusedWithoutAttaching) {
  std::thread t([] {
    runtime::BlockingRegion region;
    EXPECT_THROW((AllocateFixed<1, 1, true, true>(&kByte)), std::logic_error);
    EXPECT_EQ(runtime::CurrentProcessor(), nullptr);
  });
  t.join();
}

}  // namespace
}  // namespace gc::alloc
