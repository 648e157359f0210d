// The heap profile (Go's memory profile, runtime/mprof.go): allocations the
// allocator samples, about one in every g_mem_profile_rate bytes
// (alloc/cache.h: Cache::ChargeSampler, without a count on the fast path),
// grouped by the stack that made them, one bucket per stack, with the
// objects and bytes each stack allocated and how many of them have been
// freed. The API is gc::heap_profile and gc::write_heap_profile
// (api/heap_profile.h); the pprof encoding is gc/pprof.h.
//
// A sampled object carries a kHeapProfile special naming its bucket; its
// free (the sweeper reclaiming it, gc::free, a throwing constructor's
// slot) counts in the bucket through the special-free hook.
//
// What is published is the heap as of the last mark termination, as Go's
// profile is: not the frees some sweep has got to so far, nor the
// allocations no cycle has yet had the chance to find dead. Figures go to
// one of three future slots of their bucket, by cycle (C, the cycles
// completed at mark termination, mod 3), and a slot joins the published
// figures (active) once nothing more can come to it:
//
//   an allocation during cycle C   -> future[(C + 2) % 3]
//   a free found by C's sweep      -> future[(C + 1) % 3]
//   C's sweep is done (PostSweep)  publishes future[(C + 1) % 3]: C's frees,
//                                  and the allocations made before C's mark
//                                  termination, which C's sweep has judged
//   mark termination (NextCycle)   C becomes C + 1; Flush (the world
//                                  running again) publishes future[(C+1)%3]
//                                  as well: frees that came in after the
//                                  sweep was declared done.
//
// Locking: g_profile_mu (gc/heap_profile.cc; lock order 25, a leaf) guards
// the buckets, their figures and the cycle. Stacks are taken and
// symbolized outside it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gcrt/alloc/special.h"
#include "gcrt/runtime/base.h"
#include "gcrt/runtime/safepoint.h"

namespace gc::internal {

// One slot of a bucket's figures: the raw samples, and the estimates of
// every allocation they stand for, each sample scaled at the rate it was
// taken at (SampleWeight), so that a change of rate leaves the estimates of
// what was sampled before it as they were.
struct MemRecord {
  uint64_t allocs = 0;
  uint64_t frees = 0;
  double est_allocs = 0;
  double est_frees = 0;
  double est_alloc_bytes = 0;
  double est_free_bytes = 0;
  void Add(const MemRecord& o) {
    allocs += o.allocs;
    frees += o.frees;
    est_allocs += o.est_allocs;
    est_frees += o.est_frees;
    est_alloc_bytes += o.est_alloc_bytes;
    est_free_bytes += o.est_free_bytes;
  }
};

// Go's scaleHeapSample for one sample: an allocation of `bytes` sampled at
// `rate` stands for 1 / (1 - e^(-bytes / rate)) allocations (1 at rate 1).
double SampleWeight(uint64_t bytes, uint64_t rate);

// The collector's hook (alloc::Heap::CollectorHooks::profile_alloc): takes
// the calling thread's stack, counts the allocation in its bucket and
// attaches a kHeapProfile special to `object`. A sample that finds no
// memory for its bucket or special is dropped; nothing throws.
void ProfileAlloc(void* object, uint64_t bytes);

// The special-free hook's part for kHeapProfile: counts the free and
// deletes the special.
void ReleaseProfileSpecial(alloc::Special* s);

// Mark termination (world stopped): the next profile cycle.
void ProfileNextCycle() GCRT_REQUIRES(runtime::kWorldStopped);
// After mark termination, the world running: see above.
void ProfileFlush();
// The cycle's sweep is done: see above.
void ProfilePostSweep();

// A bucket's published figures and its stack (return addresses, the
// sampling code's own frames included: HeapProfileSites trims them).
struct ProfileRecord {
  std::vector<uintptr_t> stack;
  MemRecord active;
};
// Every bucket with a published allocation.
std::vector<ProfileRecord> ProfileRecords();

// Sampled objects not yet freed (their specials), for tests.
uint64_t ProfileSpecialCount();

// One allocation site of the report: a stack with gcrt's own frames
// trimmed, and its figures scaled to estimates of every allocation, as Go's
// pprof writer scales them (each sample stands for 1 / (1 - e^(-size/rate))
// allocations of its size, at the rate it was taken at).
struct HeapProfileSite {
  std::vector<uintptr_t> stack;        // innermost first
  std::vector<std::string> functions;  // demangled; "" where unknown
  uint64_t alloc_objects = 0;
  uint64_t alloc_bytes = 0;
  uint64_t inuse_objects = 0;
  uint64_t inuse_bytes = 0;
  uint64_t samples = 0;  // raw sampled allocations behind the figures
};

// The published buckets, symbolized, trimmed of the leading frames inside
// gcrt (gc::make's and the allocator's), merged where trimmed stacks agree,
// most in-use bytes first.
std::vector<HeapProfileSite> HeapProfileSites();

// The sites as a table, pprof -top's columns: in-use bytes and objects,
// allocated bytes and objects, and the innermost function (with `top` > 0,
// only the first `top` sites).
std::string FormatHeapProfile(const std::vector<HeapProfileSite>& sites,
                              size_t top);

// The profile of the published figures in pprof's format (gc/pprof.h),
// scaled at the current rate.
std::string HeapProfilePprof();

// GCRT_DEBUG=heapprofile=path: registers (atexit) the writing of
// HeapProfilePprof() to `path` at exit; a file that cannot be written is
// reported on stderr.
void WriteHeapProfileAtExit(const std::string& path);

// The fork handler (gc/fork.cc) holds g_profile_mu across fork().
void LockProfileForFork();
void UnlockProfileAfterFork();

}  // namespace gc::internal
