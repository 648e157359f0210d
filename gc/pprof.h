// The heap profile in pprof's format (github.com/google/pprof's
// profile.proto), as Go's runtime/pprof writes a heap profile, so that
// `go tool pprof` and `pprof` read it: the sample types alloc_objects,
// alloc_space, inuse_objects and inuse_space (pprof shows the last by
// default), the period type space/bytes with the sampling rate as the
// period, and a sample per site. Locations carry their function names
// (mappings say has_functions), so no binary is needed to read it; the
// mappings name the program's files and build ids all the same.
// Written uncompressed: pprof takes a profile with or without gzip.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gcrt/gc/heap_profile.h"

namespace gc::internal {

std::string EncodeHeapProfile(const std::vector<HeapProfileSite>& sites,
                              uint64_t rate, int64_t time_unix_ns);

}  // namespace gc::internal
