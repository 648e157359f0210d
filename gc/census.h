// The heap census: the objects the heap holds, counted by type from the
// per-span type tables (alloc/type_table.h), as Go's heap profile counts
// them by allocation site and V8's heap snapshot by constructor. The API
// is gc::census() (api/census.h); GCRT_DEBUG=census=1 prints one at exit.
//
// Counted with the world stopped, no cycle running and the last sweep
// finished (Collector::RunWithHeapSwept), so every allocated slot is an
// object the program allocated and the collector has not reclaimed: the
// objects live at the last cycle plus those allocated since (after a
// gc::collect(), the live ones). The totals are the allocator's own
// figures at that moment (heap_objects, heap_alloc); objects gc::free gave
// back to a span another thread caches (its freebuf) are not counted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gcrt/alloc/type_info.h"
#include "gcrt/runtime/base.h"
#include "gcrt/runtime/safepoint.h"

namespace gc::internal {

struct TypeCount {
  const alloc::TypeInfo* type;
  uint64_t objects;
  uint64_t bytes;  // slot bytes (a large object: its whole span)
};

// Every allocated object of every in-use span, by TypeInfo, in no
// particular order. The 16-byte blocks of the tiny allocator count as
// objects of alloc::kTinyBlockType, as in heap_objects. Not the objects the
// quarantine keeps (gc/quarantine.h): they are reclaimed.
std::vector<TypeCount> CountObjectsByType()
    GCRT_REQUIRES(runtime::kWorldStopped);

struct CensusRow {
  std::string type;  // alloc::TypeName
  uint64_t objects;
  uint64_t bytes;
};

// A census: one row per type name (TypeInfos of one name, say a type with
// internal linkage allocated from two files, are summed), most bytes
// first, then by name. Stops the world (RunWithHeapSwept).
std::vector<CensusRow> TakeCensus();

// The census as a table: the totals, then bytes, objects, percent of the
// bytes and type per row; with `top` > 0 the first `top` rows and one
// summing the rest.
std::string FormatCensus(const std::vector<CensusRow>& rows, size_t top);

// Registered (atexit) by the Collector with GCRT_DEBUG=census=1: prints
// the census to stderr when the program exits.
void PrintCensusAtExit();

}  // namespace gc::internal
