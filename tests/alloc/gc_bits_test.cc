// Tests of the gcBits arenas (alloc/gc_bits.h): concurrent bump allocation
// of bit vectors, epoch rotation recycling arenas through the free list, and
// the sweep's reserve, which never needs the OS.
//
// Every test uses a private GcBitsArenas. Its arenas are mapped metadata that
// is never returned to the OS (the allocator's lives as long as the process),
// so test instances are simply kept alive.
#include "gcrt/alloc/gc_bits.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <new>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gcrt/runtime/os_mem.h"
#include "gtest/gtest.h"

namespace gc::alloc {
namespace {

GcBitsArenas* NewArenas() {
  static auto* kept = new std::vector<std::unique_ptr<GcBitsArenas>>;
  kept->push_back(std::make_unique<GcBitsArenas>());
  return kept->back().get();
}

struct Vec {
  uint64_t* p;
  uint32_t nwords;
  uintptr_t begin() const { return reinterpret_cast<uintptr_t>(p); }
  // Vectors take whole cache lines (so markers on different cores never
  // share one): the next vector starts at the padded end.
  uintptr_t end() const { return begin() + size_t{PaddedBitWords(nwords)} * 8; }
};

uint64_t Pattern(int thread, size_t index, uint32_t word) {
  return (uint64_t{static_cast<uint32_t>(thread) + 1} << 48) ^
         (uint64_t{index} << 8) ^ word ^ 0x5A5A000000000000u;
}

#if defined(GCRT_TSAN) && GCRT_TSAN
constexpr int kVectorsPerThread = 2000;
#else
constexpr int kVectorsPerThread = 5000;
#endif

TEST(GcBitsArenasTest, ConcurrentVectorsAreDisjointZeroedAndInsideOneArena) {
  GcBitsArenas* arenas = NewArenas();
  constexpr int kThreads = 8;
  std::vector<std::vector<Vec>> got(kThreads);
  std::vector<std::string> errors(kThreads);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(1000 + t);
      std::vector<Vec>& mine = got[t];
      mine.reserve(kVectorsPerThread);
      // Start together, to contend on the bump pointer and the arena switch.
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      for (int i = 0; i < kVectorsPerThread; i++) {
        uint32_t n = 1 + rng() % 16;
        uint64_t* p = arenas->Allocate(n);
        if (p == nullptr) {
          errors[t] = "null vector";
          return;
        }
        if (reinterpret_cast<uintptr_t>(p) % kCacheLine != 0) {
          errors[t] = "vector not cache-line aligned";
          return;
        }
        for (uint32_t w = 0; w < n; w++) {
          if (p[w] != 0) {
            errors[t] = "vector " + std::to_string(i) + " word " +
                        std::to_string(w) + " not zero when handed out";
            return;
          }
        }
        // Write it whole, so an overlapping vector of another thread would
        // be caught by its own check above or by the check after the join.
        for (uint32_t w = 0; w < n; w++) p[w] = Pattern(t, i, w);
        mine.push_back({p, n});
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; t++) {
    ASSERT_EQ(errors[t], "") << "thread " << t;
    ASSERT_EQ(got[t].size(), size_t{kVectorsPerThread});
  }

  // Every word still holds what its owner wrote.
  for (int t = 0; t < kThreads; t++) {
    for (size_t i = 0; i < got[t].size(); i++) {
      const Vec& v = got[t][i];
      for (uint32_t w = 0; w < v.nwords; w++) {
        ASSERT_EQ(v.p[w], Pattern(t, i, w))
            << "thread " << t << " vector " << i << " word " << w
            << " was overwritten";
      }
    }
  }

  // Disjoint: sorted by address, each ends before the next begins.
  std::vector<Vec> all;
  for (auto& v : got) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end(),
            [](const Vec& a, const Vec& b) { return a.begin() < b.begin(); });
  for (size_t i = 1; i < all.size(); i++) {
    ASSERT_LE(all[i - 1].end(), all[i].begin()) << "vectors overlap";
  }

  // An arena hands out one contiguous run (a bump pointer), and arenas are
  // separated by their headers, so the maximal contiguous runs are exactly
  // the arenas: one per mapped arena, each within 64 KiB.
  size_t runs = 0;
  for (size_t i = 0; i < all.size();) {
    uintptr_t run_begin = all[i].begin();
    uintptr_t run_end = all[i].end();
    for (i++; i < all.size() && all[i].begin() == run_end; i++) {
      run_end = all[i].end();
    }
    runs++;
    EXPECT_LE(run_end - run_begin, kGcBitsArenaBytes)
        << "a run of vectors is larger than an arena";
  }
  GcBitsArenas::Stats st = arenas->ReadStats();
  // Arenas are mapped in batches; the ones not on the free list are in use.
  const size_t in_use = st.arenas_mapped - st.arenas_free;
  EXPECT_EQ(runs, in_use);
  // Nothing is wasted beyond each arena's tail: the vectors fill at least
  // all but the last 128 bytes (the largest vector) of every arena but one.
  size_t bytes = 0;
  for (const Vec& v : all) bytes += v.end() - v.begin();
  EXPECT_GT(bytes, (in_use - 1) * (kGcBitsArenaBytes - 64 - 128));
}

TEST(GcBitsArenasTest, EpochRotationRecyclesArenasZeroed) {
  GcBitsArenas* arenas = NewArenas();
  // Each epoch allocates about four arenas' worth of 8-word vectors.
  constexpr size_t kPerEpoch = 4 * kGcBitsArenaBytes / 64;
  constexpr int kEpochs = 10;
  std::vector<std::vector<uint64_t*>> epochs(kEpochs);
  std::vector<size_t> mapped(kEpochs);
  for (int e = 0; e < kEpochs; e++) {
    SCOPED_TRACE("epoch " + std::to_string(e));
    // The epochs whose arenas are recycled now are no longer referenced.
    std::set<uint64_t*> older;
    if (e >= 3) older.insert(epochs[e - 3].begin(), epochs[e - 3].end());
    size_t reused = 0;
    for (size_t i = 0; i < kPerEpoch; i++) {
      uint64_t* p = arenas->Allocate(8);
      for (int w = 0; w < 8; w++) {
        ASSERT_EQ(p[w], 0u)
            << "vector " << i << " word " << w << " not zero when handed out";
      }
      reused += older.count(p);
      // Dirty it, as mark bits are, so a recycled arena must be cleared.
      for (int w = 0; w < 8; w++) p[w] = ~uint64_t{0} - w;
      epochs[e].push_back(p);
    }
    // In use: mapped minus free (arenas are mapped in batches).
    GcBitsArenas::Stats st = arenas->ReadStats();
    mapped[e] = st.arenas_mapped - st.arenas_free;
    if (e >= 3) {
      // Three rotations later, epoch e-3's arenas came back from the free
      // list: its memory is handed out again, and no more are in use.
      EXPECT_GT(reused, kPerEpoch / 2);
      EXPECT_EQ(mapped[e], mapped[e - 1]);
    } else {
      EXPECT_GT(mapped[e], e == 0 ? 0 : mapped[e - 1]);
    }
    arenas->NextEpoch();
    if (e >= 2) {
      // free <- previous: epoch e-2's arenas are free now.
      EXPECT_GE(arenas->ReadStats().arenas_free, 4u);
    }
  }
  // Three epochs' worth (next, current, previous) stay in use: no more,
  // and the batch mapped at the start was never outgrown.
  EXPECT_LE(mapped[kEpochs - 1], 3 * 5u);
  EXPECT_LE(arenas->ReadStats().arenas_mapped, 16u);
}

TEST(GcBitsArenasTest, VectorsOfOneEpochSurviveTheNextTwoRotations) {
  GcBitsArenas* arenas = NewArenas();
  std::vector<uint64_t*> first;
  for (int i = 0; i < 3000; i++) {
    uint64_t* p = arenas->Allocate(4);
    for (int w = 0; w < 4; w++) p[w] = uint64_t{0xC0FFEE} + i * 4 + w;
    first.push_back(p);
  }
  // Two rotations: epoch 0 becomes `previous`, still referenced.
  for (int r = 0; r < 2; r++) {
    arenas->NextEpoch();
    for (int i = 0; i < 3000; i++) {
      uint64_t* p = arenas->Allocate(4);
      p[0] = p[1] = p[2] = p[3] = ~uint64_t{0};
    }
  }
  for (size_t i = 0; i < first.size(); i++) {
    for (int w = 0; w < 4; w++) {
      ASSERT_EQ(first[i][w], uint64_t{0xC0FFEE} + i * 4 + w)
          << "vector " << i << " reused while its epoch is still referenced";
    }
  }
}

// A request must either be served whole or refused; it must never be served
// with fewer words than asked. (Allocate computes the byte count as
// nwords * 8 in 32 bits.)
TEST(GcBitsArenasTest, RefusesVectorsLargerThanAnArena) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  for (uint32_t nwords :
       {uint32_t{kGcBitsArenaBytes / 8}, uint32_t{1} << 29,
        (uint32_t{1} << 29) + 1, (uint32_t{1} << 29) + 16, UINT32_MAX}) {
    SCOPED_TRACE("nwords " + std::to_string(nwords));
    EXPECT_DEATH(
        {
          GcBitsArenas* arenas = NewArenas();
          try {
            arenas->Allocate(nwords);
          } catch (const std::bad_alloc&) {
            std::abort();  // refused with an exception: also fine
          }
        },
        "");
  }
}

// The sweep's mark bits come from the reserve: with the next OS call armed
// to fail, a whole reserved sweep's worth of vectors is handed out, zeroed
// and disjoint, without any OS call (the fault is still pending after); a
// reserve the OS refuses throws std::bad_alloc.
TEST(GcBitsArenasTest, TheSweepsMarkBitsComeFromTheReserveAlone) {
  using runtime::os::FaultKind;
  GcBitsArenas* arenas = NewArenas();
  constexpr uint64_t kVectors = 5000;  // 5000 spans of 8 words (512 slots)
  arenas->ReserveForSweep(kVectors * PaddedBitWords(8), kVectors);
  const size_t reserved = arenas->ReadStats().arenas_reserved;
  EXPECT_GE(reserved, kVectors * 64 / kGcBitsArenaBytes);
  const size_t mapped = arenas->ReadStats().arenas_mapped;
  runtime::os::SetFailAfterForTesting(FaultKind::kReserve, 1);
  std::vector<Vec> vecs;
  for (uint64_t i = 0; i < kVectors; i++) {
    uint64_t* p = arenas->NewSweptMarkBits(8);
    for (int w = 0; w < 8; w++) ASSERT_EQ(p[w], 0u) << "vector " << i;
    for (int w = 0; w < 8; w++) p[w] = ~uint64_t{0};
    vecs.push_back(Vec{p, 8});
  }
  std::sort(vecs.begin(), vecs.end(),
            [](const Vec& a, const Vec& b) { return a.p < b.p; });
  for (size_t i = 1; i < vecs.size(); i++) {
    ASSERT_LE(vecs[i - 1].end(), vecs[i].begin()) << "vectors overlap";
  }
  EXPECT_EQ(arenas->ReadStats().arenas_mapped, mapped) << "nothing mapped";
  // A reserve larger than what is mapped needs the OS: the pending fault
  // fires now.
  EXPECT_THROW(arenas->ReserveForSweep(uint64_t{1} << 24, 1 << 20),
               std::bad_alloc);
  runtime::os::SetFailAfterForTesting(FaultKind::kReserve, 0);
  // The epoch's vectors survive the rotation that makes them current.
  arenas->NextEpoch();
  for (const Vec& v : vecs) ASSERT_EQ(v.p[7], ~uint64_t{0});
}

}  // namespace
}  // namespace gc::alloc
