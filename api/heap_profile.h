// The heap profile (Go's runtime.MemProfile and its pprof heap profile):
// where the heap's memory was allocated, by call stack. Included by
// api/gc.h.
//
//   gc::collect();                          // the live heap, as of now
//   gc::write_heap_profile("heap.pprof");   // go tool pprof -top heap.pprof
//   gc::HeapProfile p = gc::heap_profile();
//   std::fputs(p.text(10).c_str(), stderr);
//
// Sampling. The allocator samples about one allocation in every
// set_mem_profile_rate() bytes allocated (512 KiB by default, Go's
// MemProfileRate; GCRT_DEBUG=memprofilerate=N): the bytes between two
// samples are drawn from an exponential distribution with that mean, so an
// allocation of n bytes is sampled with probability 1 - e^(-n / rate), and
// the figures are scaled back by that probability to estimates of all
// allocations, as Go's pprof writer does, each sample at the rate it was
// taken at (so a change of rate leaves the estimates of earlier samples as
// they were; Go scales them all at the current rate). With a rate of 1
// every allocation is sampled and the figures are exact; 0 turns sampling
// off (what was sampled stays, with its estimates). The allocation fast path
// counts nothing: the sampler charges a 64-slot word of a span at a time, and
// holds the sampled slot back so that the fast path runs out just before it.
// Pointer-free objects under 16 bytes share 16-byte blocks (api/gc.h,
// Stats): a block is sampled as a whole, in the name of the allocation
// that started it.
//
// What it shows: the heap as of the last cycle whose sweep has finished, as
// Go's (which says its profile may be two cycles old). In-use figures count
// the sampled objects allocated before that cycle's mark and not found dead
// by it (nor freed by gc::free); an allocation made since shows up once a
// later cycle has run and been swept. gc::collect() returns with its
// cycle swept, so after it in-use is what is live now; a cycle the
// allocator triggered is swept lazily and by the background sweeper, and
// until that sweep is done the profile still shows the cycle before.
// Allocated figures count every sampled allocation the program made, up
// to the same cycle.
//
// Stacks: up to 64 frames, innermost first, taken at the sampled
// allocation by walking the frame pointer chain (a few instructions a
// frame, where glibc's backtrace() reads unwind tables), gcrt's own frames
// (gc::make, gc::make_array, the allocator) left out. So the program keeps
// frame pointers: gcrt's CMake package and gcrt.pc add
// -fno-omit-frame-pointer to its flags, and Bazel's default toolchain
// compiles with it. A stack ends early (its callers missing) at a function
// compiled without them (-fomit-frame-pointer, the default of g++ -O1 and
// up otherwise). Functions are named from the binary's ELF
// symbol table, demangled (a function inlined into its caller shows as the
// caller; a stripped binary gives addresses, which pprof resolves with the
// binary at hand). Stacks that allocated are kept for the life of the
// process, as Go keeps them.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace gc {

// Sets the heap profile's sampling rate in bytes (see above; 1: every
// allocation, 0: off) and returns the previous one. Each thread goes on
// with the interval it drew at the old rate until its next sample or the
// next cycle, whichever comes first (gc::collect() makes it take effect
// everywhere). Throws std::invalid_argument past 2^40, as GCRT_DEBUG=
// memprofilerate refuses it.
uint64_t set_mem_profile_rate(uint64_t bytes);

// One allocation site: a stack, and the estimates of what it allocated.
struct HeapProfileSite {
  // Return addresses, innermost first: stack[0] is in the function that
  // called gc::make (or the container that allocated for it).
  std::vector<uintptr_t> stack;
  // The functions of stack, demangled ("" where no symbol covers one).
  std::vector<std::string> functions;
  uint64_t inuse_objects = 0;  // allocated here, not dead at the last cycle
  uint64_t inuse_bytes = 0;    // slot bytes, as Stats::heap_alloc counts
  uint64_t alloc_objects = 0;  // allocated here, ever
  uint64_t alloc_bytes = 0;
  uint64_t samples = 0;  // the sampled allocations behind the estimates
};

struct HeapProfile {
  // The sampling rate when the profile was taken (pprof's period); each
  // sample was scaled at the rate in force when it was taken.
  uint64_t rate = 0;
  // Every site with a sampled allocation, most in-use bytes first.
  std::vector<HeapProfileSite> sites;

  // A table: a header line with the totals, then in-use bytes and objects,
  // allocated bytes and objects and the allocating function per site; with
  // `top` > 0, only the first `top` sites.
  std::string text(size_t top = 0) const;
  // The profile in pprof's format (profile.proto, uncompressed, which
  // pprof reads as it reads a gzipped one): Go's heap profile sample types
  // (alloc_objects, alloc_space, inuse_objects, inuse_space; pprof shows
  // inuse_space unless told otherwise), the rate as its period, function
  // names in the file (no binary needed to read it).
  std::string pprof() const;
};

// The heap profile now (see above). Takes a lock the allocator's sampled
// allocations take, and symbolizes each new stack: milliseconds, not a
// stop of the world.
HeapProfile heap_profile();

// heap_profile().pprof() written to `out`, or to the file at `path`
// (created or truncated). Throws std::runtime_error, naming the file and
// the reason, if it cannot be written.
void write_heap_profile(std::ostream& out);
void write_heap_profile(const std::string& path);

}  // namespace gc
