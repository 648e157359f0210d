// gc::census(): what the heap holds, by type (Go's heap profile by type,
// V8's heap snapshot summary). Included by api/gc.h.
//
//   gc::collect();                      // live objects only
//   gc::Census c = gc::census();
//   std::fputs(c.text(10).c_str(), stderr);
//
// GCRT_DEBUG=census=1 prints the census of the heap at exit (to stderr).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gc {

struct CensusEntry {
  // The C++ type, as the compiler names it ("Node", "gc::Array<Node>");
  // "gcrt.tiny_block" for the 16-byte blocks that pack pointer-free
  // objects under 16 bytes (their pieces have no type of their own).
  std::string type;
  uint64_t objects;
  uint64_t bytes;  // slot bytes, as Stats::heap_alloc counts them
};

struct Census {
  // Every type with an object in the heap, most bytes first (then by
  // name).
  std::vector<CensusEntry> types;
  // Their sums: Stats::heap_objects and Stats::heap_alloc at the moment
  // of the census, but for the objects the quarantine keeps (debug builds,
  // GCRT_DEBUG=quarantine=1): Stats counts them until the next cycle frees
  // their slots, the census does not.
  uint64_t objects = 0;
  uint64_t bytes = 0;

  // A table: a header line with the totals, then one line per type
  // (bytes, objects, percent of bytes, type); with `top` > 0 only the
  // first `top` types and a line summing the rest.
  std::string text(size_t top = 0) const;
};

// Counts the objects the heap holds by type, with the world stopped for
// the count (a walk of every span: milliseconds for a heap of hundreds of
// MiB) and the last cycle's sweep finished first: the objects live at the
// last collection plus those allocated since (call gc::collect() first to
// count only live ones). Costs nothing when not called. Any attached or
// unattached thread; throws std::logic_error where gc::collect() would
// (inside a gc::Blocking scope, or from a destructor the collector runs).
Census census();

}  // namespace gc
